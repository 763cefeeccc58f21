"""Regression tests of issue 16's findings: every bad input gets pulsetrain's own exception.

Each case once escaped as a foreign exception (OverflowError, TypeError, a plain ValueError) or was
silently accepted (strings, Decimal, masked arrays read as numbers); each must now raise a
ParameterError or ShapeError that names the argument and its owner, and leave the tile unchanged.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from conftest import constrained_fields
from pulsetrain.algorithms import AnalogSGD
from pulsetrain.cli import main
from pulsetrain.config import from_dict, to_dict
from pulsetrain.zero_shift import zero_shift

HUGE = 10**400  # beyond the float range: float(HUGE) raises OverflowError
DEV = pt.Device(response=pt.ALD(tau=1.0))
# A masked array's mask would be silently dropped by a float conversion.
MASKED = np.ma.masked_array(np.ones((1, 4)), mask=[[True, False, False, False]])
DATES = np.full((1, 4), np.datetime64(1, "s"))


def _tile() -> pt.AnalogTile:
    return pt.AnalogTile(3, 4, DEV, replicas=1, rng=0)


CALLS: list[tuple[str, Callable[[pt.AnalogTile], object], type[Exception], str, str]] = [
    ("lr huge", lambda t: t.update(np.ones((1, 4)), np.ones((1, 3)), lr=HUGE),
     pt.ParameterError, "lr", "AnalogTile.update"),
    ("read noise huge", lambda t: t.read(noise_std=HUGE),
     pt.ParameterError, "noise_std", "AnalogTile.read"),
    ("read uint64 max", lambda t: t.read(np.array([2**64 - 1], dtype=np.uint64)),
     pt.ParameterError, "cols", "AnalogTile.read"),
    ("read negative col", lambda t: t.read([-1]),
     pt.ParameterError, "cols", "AnalogTile.read"),
    ("ragged update", lambda t: t.update([[1, 2], [1]], [[1, 2, 3]], lr=0.1),
     pt.ShapeError, "x", "AnalogTile.update"),
    ("ragged forward", lambda t: t.forward([[1, 2], [1]]),
     pt.ShapeError, "x", "AnalogTile.forward"),
    ("masked forward", lambda t: t.forward(MASKED),
     pt.ShapeError, "x", "AnalogTile.forward"),
    ("string forward", lambda t: t.forward(np.array([["1", "2", "3", "4"]])),
     pt.ShapeError, "x", "AnalogTile.forward"),
    ("Decimal forward", lambda t: t.forward([[decimal.Decimal(1)] * 4]),  # type: ignore[arg-type]
     pt.ShapeError, "x", "AnalogTile.forward"),
    ("datetime update", lambda t: t.update(DATES, np.ones((1, 3)), lr=0.1),
     pt.ShapeError, "x", "AnalogTile.update"),
    ("wrong width backward", lambda t: t.backward(np.ones((1, 5))),
     pt.ShapeError, "d", "AnalogTile.backward"),
    ("string weights", lambda t: t.set_weights(np.full((3, 4), "0.1")),
     pt.ShapeError, "weights", "AnalogTile.set_weights"),
    ("zero_shift n_pulses huge", lambda t: zero_shift(t, n_pulses=HUGE),
     pt.ParameterError, "n_pulses", "zero_shift"),
    ("zero_shift n_threads huge", lambda t: zero_shift(t, n_pulses=10, n_threads=2**70),
     pt.ParameterError, "n_threads", "zero_shift"),
    ("zero_shift average_last > n_pulses", lambda t: zero_shift(t, n_pulses=10, average_last=11),
     pt.ParameterError, "average_last", "zero_shift"),
    ("zero_shift n_pulses float", lambda t: zero_shift(t, n_pulses=10.0),  # type: ignore[arg-type]
     pt.ParameterError, "n_pulses", "zero_shift"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "call", "exc", "name", "owner"), CALLS, ids=[c[0] for c in CALLS]
)
def test_bad_calls_raise_pulsetrains_errors_and_leave_the_tile(
    label: str,
    call: Callable[[pt.AnalogTile], object],
    exc: type[Exception],
    name: str,
    owner: str,
) -> None:
    tile = _tile()
    before = (tile.weights.copy(), tile.pulse_counts("update").copy())
    with pytest.raises(exc) as info:
        call(tile)
    message = str(info.value)
    assert f"'{name}'" in message
    assert owner in message
    np.testing.assert_array_equal(tile.weights, before[0])
    np.testing.assert_array_equal(tile.pulse_counts("update"), before[1])


def _numeric_fields() -> list[tuple[type, str]]:
    out = []
    for cls, name in constrained_fields():
        constraint = next(
            f.metadata["constraint"] for f in dataclasses.fields(cls) if f.name == name
        )
        if constraint.accepts(1.0) or constraint.accepts(1) or constraint.accepts(0.5):
            out.append((cls, name))
    return out


@pytest.mark.parametrize(
    ("cls", "name"), _numeric_fields(), ids=lambda v: v if isinstance(v, str) else v.__name__
)
def test_numbers_beyond_the_float_range_are_parameter_errors(cls: type, name: str) -> None:
    data = to_dict(cls.example())  # type: ignore[attr-defined]
    data[name] = HUGE
    with pytest.raises(pt.ParameterError) as info:
        from_dict(data)
    assert info.value.name is not None
    assert name in info.value.name


def test_run_rejects_steps_beyond_any_range() -> None:
    algo = AnalogSGD(device=DEV, update=pt.ExpectedUpdate())
    with pytest.raises(pt.ParameterError, match="'steps'"):
        pt.run(pt.problems.Quadratic(), algo, steps=HUGE)


@pytest.mark.parametrize(
    ("suffix", "text"),
    [
        (".json", '{"steps": ' + "9" * 5000 + "}"),  # over Python's 4,300-digit int limit
        (".json", "[" * 100_000 + "]" * 100_000),  # deeper than the parser's recursion
        (".toml", "steps = " + "9" * 5000 + "\n"),
        (".json", json.dumps({"steps": 1e308}).replace("1e+308", "1e400")),
    ],
    ids=["json-digits", "json-depth", "toml-digits", "json-float-overflow"],
)
def test_cli_exits_2_on_unreadable_configs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, text: str
) -> None:
    cfg = tmp_path / f"c{suffix}"
    cfg.write_text(text)
    assert main(["run", str(cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "pulsetrain run: error:" in err


def test_config_int_fields_reject_huge_values(tmp_path: Path) -> None:
    data: dict[str, Any] = {
        "problem": {"kind": "quadratic"},
        "algorithms": [{"label": "a", "algorithm": {"kind": "digital_sgd", "lr": 0.1}}],
        "steps": 2**80,
    }
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(data))
    assert main(["run", str(cfg), "--no-progress", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize(
    ("problem", "kw", "name"),
    [
        (pt.problems.Quadratic(), {"steps": 2**40, "record_every": 1}, "record_every"),
        (
            pt.problems.LeastSquares(in_size=1 << 16, out_size=1 << 16, n_samples=1 << 16),
            {"steps": 10},
            "replicas",
        ),
        (
            pt.problems.LeastSquares(in_size=1 << 10, out_size=1 << 10, n_samples=8),
            {"steps": 1 << 20, "record_every": 1, "record_weights": True},
            "record_weights",
        ),
    ],
    ids=["curves", "problem", "trajectory"],
)
def test_runs_that_cannot_fit_in_memory_are_refused_up_front(
    problem: pt.problems.Problem, kw: dict[str, Any], name: str
) -> None:
    # Each needs far more than any machine this runs on has (≥ 4 TiB); nothing is allocated.
    algo = AnalogSGD(device=DEV, update=pt.ExpectedUpdate())
    with pytest.raises(pt.ParameterError, match="fits in memory") as info:
        pt.run(problem, algo, progress=False, **kw)
    assert info.value.name == name


def test_a_tile_shared_between_threads_is_read_consistently() -> None:
    # A kernel releases the GIL; another thread's reads wait for it and see whole calls only.
    dev = pt.Device(response=pt.Ideal(w_min=-100.0, w_max=100.0), dw_min=1e-3)
    tile = pt.AnalogTile(256, 256, dev, rng=0, n_threads=1)
    counts = np.ones((256, 256), dtype=np.int64) * 50
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(40):
                tile.apply_pulses(counts)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    th = threading.Thread(target=writer)
    th.start()
    seen = set()
    while not done.is_set():
        w = tile.weights
        repr(tile)
        calls = w / (50 * 1e-3)
        # Every element has seen the same whole number of calls.
        assert np.allclose(calls, np.round(calls.flat[0]), atol=1e-6)
        seen.add(round(float(calls.flat[0])))
    th.join()
    assert not errors
    assert tile.pulse_counts().max() == 40 * 50
    assert max(seen, default=0) <= 40


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--steps", "1"],
        ["demo", "--steps", str(10**12)],
        ["demo", "--replicas", str(10**12)],
        ["demo", "--replicas", "1"],
    ],
)
def test_demo_refuses_sizes_up_front(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "'steps'" in err or "'replicas'" in err
