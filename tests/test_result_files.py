"""Saved results: names keep their dots, nothing is overwritten silently, damage is reported.

Every damaged or tampered file must raise :class:`pulsetrain.ResultFileError` (one class, naming
the file), never a foreign exception and never a silently wrong result (issue 16, items 7–8).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD
from pulsetrain.problems import LeastSquares

PROBLEM = LeastSquares(in_size=4, out_size=2, n_samples=8, batch_size=4)
DEVICE = pt.Device(response=pt.ALD(tau=1.0))


def _run(lr: float = 0.05) -> pt.TrainResult:
    algo = AnalogSGD(device=DEVICE, lr=lr, update=pt.ExpectedUpdate())
    return pt.run(PROBLEM, algo, steps=6, replicas=2, rng=1, progress=False, record_every=3)


@pytest.fixture(scope="module")
def result() -> pt.TrainResult:
    return _run()


def test_dots_in_names_are_kept(tmp_path: Path) -> None:
    a, b = _run(0.05), _run(0.01)
    a.save(tmp_path / "lr0.05")
    b.save(tmp_path / "lr0.01")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "lr0.01.json",
        "lr0.01.npz",
        "lr0.05.json",
        "lr0.05.npz",
    ]
    assert pt.TrainResult.load(tmp_path / "lr0.05").equals(a)
    assert pt.TrainResult.load(tmp_path / "lr0.01").equals(b)
    # Only a .json / .npz suffix is a suffix.
    jp, npz = a.save(tmp_path / "c.json")
    assert (jp.name, npz.name) == ("c.json", "c.npz")
    assert pt.TrainResult.load(tmp_path / "c.npz").equals(a)


def test_an_existing_result_is_not_overwritten_unless_asked(
    tmp_path: Path, result: pt.TrainResult
) -> None:
    result.save(tmp_path / "r")
    other = _run(0.02)
    with pytest.raises(pt.ParameterError, match="overwrite=True") as info:
        other.save(tmp_path / "r")
    assert info.value.name == "path"
    assert pt.TrainResult.load(tmp_path / "r").equals(result)
    other.save(tmp_path / "r", overwrite=True)
    assert pt.TrainResult.load(tmp_path / "r").equals(other)
    assert not list(tmp_path.glob("*.tmp"))


def test_saved_json_is_strict_even_with_non_finite_summaries(
    tmp_path: Path, result: pt.TrainResult
) -> None:
    # A diverged run: its loss curve holds inf and NaN.
    loss = result.loss.copy()
    loss[:, -1] = [np.inf, np.nan]
    res = dataclasses.replace(result, loss=loss)
    assert not np.isfinite(res.summary()["loss_mean"])
    jp, _ = res.save(tmp_path / "net")

    def refuse(token: str) -> None:
        raise AssertionError(token)

    meta = json.loads(jp.read_text(), parse_constant=refuse)
    assert meta["summary"]["loss_mean"] is None
    assert pt.TrainResult.load(tmp_path / "net").equals(res)


def _edit_json(path: Path, key: str, value: object) -> None:
    meta = json.loads(path.read_text())
    meta[key] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("interrupted", "no"),
        ("interrupted", 0),
        ("steps", "6"),
        ("steps", -1),
        ("steps", 7),  # disagrees with record_steps
        ("replicas", 0),
        ("replicas", True),
        ("format", 99),
        ("seed_entropy", "1"),
        ("seed_entropy", []),
        ("n_threads", 1.5),
        ("wall_time", "fast"),
        ("pulse_phases", ["update", "update"]),
        ("pulse_phases", ["nope"]),
        ("array_names", "W"),
        ("memory", {"digital_bytes": "8"}),
        ("config", []),
        ("provenance", None),
    ],
)
def test_tampered_json_fields_are_refused(
    tmp_path: Path, result: pt.TrainResult, key: str, value: object
) -> None:
    jp, _ = result.save(tmp_path / "r")
    _edit_json(jp, key, value)
    with pytest.raises(pt.ResultFileError) as info:
        pt.TrainResult.load(tmp_path / "r")
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("missing", ["steps", "config", "average_names", "interrupted"])
def test_missing_json_fields_are_refused(
    tmp_path: Path, result: pt.TrainResult, missing: str
) -> None:
    jp, _ = result.save(tmp_path / "r")
    meta = json.loads(jp.read_text())
    del meta[missing]
    jp.write_text(json.dumps(meta))
    with pytest.raises(pt.ResultFileError, match=missing):
        pt.TrainResult.load(tmp_path / "r")


@pytest.mark.parametrize(
    "text", ["", "{", "[1, 2]", '{"format": NaN}', '{"format": Infinity}', "\xff\xfe"]
)
def test_unreadable_json_is_refused(tmp_path: Path, result: pt.TrainResult, text: str) -> None:
    jp, _ = result.save(tmp_path / "r")
    jp.write_bytes(text.encode("latin-1"))
    with pytest.raises(pt.ResultFileError):
        pt.TrainResult.load(tmp_path / "r")


def _rewrite_npz(path: Path, **changes: object) -> None:
    with np.load(path) as z:
        data: dict[str, object] = {k: z[k] for k in z.files}
    data.update(changes)
    for k in [k for k, v in data.items() if v is None]:
        del data[k]
    with path.open("wb") as fh:
        np.savez(fh, **data)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"loss": None},
        {"loss": np.zeros((2, 1))},
        {"loss": np.zeros((2, 3), dtype=np.float32)},
        {"weights": np.zeros((3, 2, 4))},
        {"record_steps": np.array([0, 3, 6], dtype=np.float64)},
        {"record_steps": np.array([0, 6, 3], dtype=np.int64)},
        {"pulses.update": None},
        {"arrays.W": np.zeros(2)},
        {"arrays.W": np.zeros((3, 2, 4))},
        {"loss": np.array([object()] * 6, dtype=object).reshape(2, 3)},
    ],
    ids=lambda c: ",".join(c),
)
def test_damaged_npz_arrays_are_refused(
    tmp_path: Path, result: pt.TrainResult, changes: dict[str, object]
) -> None:
    _, npz = result.save(tmp_path / "r")
    _rewrite_npz(npz, **changes)
    with pytest.raises(pt.ResultFileError):
        pt.TrainResult.load(tmp_path / "r")


def test_truncated_or_missing_files_are_refused(tmp_path: Path, result: pt.TrainResult) -> None:
    _, npz = result.save(tmp_path / "r")
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(pt.ResultFileError, match="NPZ"):
        pt.TrainResult.load(tmp_path / "r")
    npz.unlink()
    with pytest.raises(pt.ResultFileError, match="no such result file"):
        pt.TrainResult.load(tmp_path / "r")
    assert isinstance(pt.ResultFileError("f", "p"), ValueError)
    assert zipfile.is_zipfile(result.save(tmp_path / "s")[1])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_damage_never_escapes_as_a_foreign_exception(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    res = _run()
    jp, npz = res.save(d / "r")
    target = data.draw(st.sampled_from([jp, npz]))
    raw = bytearray(target.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        # A position as a fraction: the files' lengths vary with the recorded wall time.
        i = int(data.draw(st.floats(0.0, 1.0)) * (len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    target.write_bytes(bytes(raw))
    try:
        loaded = pt.TrainResult.load(d / "r")
    except pt.ResultFileError:
        return
    # A change that keeps the file valid must still give arrays of the declared shapes.
    assert loaded.loss.shape == res.loss.shape
    assert loaded.weights.shape == res.weights.shape
