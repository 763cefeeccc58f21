"""Checkpoints (issue 17 item 4): tile state, algorithm state, and ``run(checkpoint=...)``.

Every check here is exact: a state saved and loaded into a freshly built object, then run on,
must give the same bits as the object that was never interrupted.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from conftest import algorithm_examples
from pulsetrain.algorithms import ERIDER, RIDER, AnalogSGD, MultiTile, TTv2
from pulsetrain.algorithms.base import Algorithm, AlgorithmState
from pulsetrain.checkpoint import RunCheckpoint, RunFile
from pulsetrain.cli import main as cli_main
from pulsetrain.config import dumps_toml
from pulsetrain.errors import NonFiniteError, ParameterError, ResultFileError, ShapeError
from pulsetrain.experiment import Experiment, slug
from pulsetrain.problems import Classifier, LeastSquares
from pulsetrain.problems.base import Instance
from pulsetrain.results import TrainResult
from pulsetrain.rng import as_seed_sequence
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import ExpectedUpdate, PulseCountUpdate, Rounding, StochasticPulseUpdate

BACKENDS = ("rust", "twin")

# A noisy device: cycle-to-cycle noise (drawn from the pulse streams) and device-to-device
# variation (drawn from the key at construction), so a wrong tick or key changes the numbers.
NOISY = pt.Device(
    response=pt.SkewLinear(tau=1.0, c_lin=0.3),
    dw_min=1e-2,
    dw_min_std=0.3,
    dw_min_dtod=0.2,
    up_down_dtod=0.05,
    reference_std=0.05,
)
MODES = (
    ExpectedUpdate(),
    PulseCountUpdate(max_bl=8, rounding=Rounding.STOCHASTIC),
    StochasticPulseUpdate(),
)


def _drive(tile: AnalogTile, k: int) -> None:
    """One step of mixed calls on `tile`: an update (every mode) and exact transfer pulses."""
    g = np.random.default_rng(1000 + k)
    r, o, i = tile.shape
    tile.update(g.normal(size=(r, 3, i)), g.normal(size=(r, 3, o)), lr=0.05)
    tile.apply_pulses(g.integers(-2, 3, size=(r, o, i)), phase="transfer")


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, np.ndarray):
            if not (va.dtype == vb.dtype and np.array_equal(va, vb)):
                return False
        elif va != vb:
            return False
    return True


@pytest.mark.parametrize("mode", MODES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize(("save_on", "load_on"), [(a, b) for a in BACKENDS for b in BACKENDS])
def test_tile_state_round_trip_continues_bit_identically(
    mode: Any, save_on: str, load_on: str
) -> None:
    """Save after 3 steps, load into a fresh tile (either backend), run 3 more: same bits."""
    make = {
        be: (lambda be=be: AnalogTile(3, 4, NOISY, replicas=2, update=mode, rng=7, backend=be))
        for be in BACKENDS
    }
    ref, saved = make[save_on](), make[save_on]()
    for k in range(3):
        _drive(ref, k)
        _drive(saved, k)
    state = saved.state_dict()
    assert all(isinstance(v, np.ndarray | int | str) for v in state.values())
    resumed = make[load_on]()
    resumed.load_state_dict(state)
    assert _same_state(resumed.state_dict(), state)
    assert resumed.tick == 6
    for k in range(3, 6):
        _drive(ref, k)
        _drive(resumed, k)
    assert np.array_equal(ref.weights, resumed.weights)
    assert _same_state(ref.state_dict(), resumed.state_dict())


def test_tile_maps_are_derived_from_the_key() -> None:
    """The maps are not saved: two tiles of one seed and index have the same maps bit for bit,
    and a state records the key that makes them (another seed gives other maps)."""
    a = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=1)
    b = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=1, backend="twin")
    c = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=2)
    for name, arr in a.maps().items():
        np.testing.assert_array_equal(arr, b.maps()[name], err_msg=name)
    assert not np.array_equal(a.maps()["step_up"], c.maps()["step_up"])
    assert a.key == b.key != c.key
    assert list(a.state_dict()["key"]) == list(a.key)


def _bad_states(tile: AnalogTile) -> list[tuple[str, dict[str, Any], type[Exception]]]:
    good = tile.state_dict()

    def edit(**changes: Any) -> dict[str, Any]:
        out = dict(good)
        out.update(changes)
        return out

    missing = dict(good)
    del missing["tick"]
    shape = (2, 3, 4)
    other_dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-2)
    return [
        ("missing key", missing, ParameterError),
        ("unknown key", edit(extra=1), ParameterError),
        ("format", edit(format="other/1"), ParameterError),
        ("key", edit(key=np.array([1, 2], dtype=np.uint64)), ParameterError),
        ("replica_offset", edit(replica_offset=1), ParameterError),
        ("replicas", edit(replicas=3), ShapeError),
        (
            "device",
            edit(device=AnalogTile(3, 4, other_dev, replicas=2).state_dict()["device"]),
            ParameterError,
        ),
        ("tick", edit(tick=-1), ParameterError),
        ("tick type", edit(tick=1.5), ParameterError),
        ("weights shape", edit(physical_weights=np.zeros((2, 3, 3))), ShapeError),
        ("weights dtype", edit(physical_weights=np.zeros(shape, np.float32)), ShapeError),
        ("reference NaN", edit(reference=np.full(shape, np.nan)), NonFiniteError),
        ("counts shape", edit(**{"pulse_counts.update": np.zeros((2, 3), np.uint64)}), ShapeError),
        ("counts dtype", edit(**{"pulse_counts.transfer": np.zeros(shape)}), ShapeError),
        ("counts < 0", edit(**{"pulse_counts.update": np.full(shape, -1)}), ParameterError),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_tile_load_rejects_a_bad_state_and_leaves_the_tile_unchanged(backend: str) -> None:
    tile = AnalogTile(3, 4, NOISY, replicas=2, rng=7, backend=backend)
    _drive(tile, 0)
    before = tile.state_dict()
    # A good state of the same tile at another point, which must not be half-applied.
    other = AnalogTile(3, 4, NOISY, replicas=2, rng=7, backend=backend)
    for k in range(3):
        _drive(other, k)
    for label, bad, exc in _bad_states(other):
        with pytest.raises(exc):
            tile.load_state_dict(bad)
        assert _same_state(tile.state_dict(), before), label
    with pytest.raises(ParameterError, match="'state'"):
        tile.load_state_dict([1, 2])  # type: ignore[arg-type]


def test_tile_load_accepts_int64_counters_and_0d_ints() -> None:
    """What a torch state dict holds (int64 tensors as arrays, 0-d ints) loads the same."""
    tile = AnalogTile(3, 4, NOISY, replicas=2, rng=7)
    _drive(tile, 0)
    state = tile.state_dict()
    loose = {
        k: (v.astype(np.int64) if k.startswith("pulse_counts") or k == "key" else v)
        for k, v in state.items()
    }
    loose["tick"] = np.asarray(state["tick"])
    fresh = AnalogTile(3, 4, NOISY, replicas=2, rng=7)
    fresh.load_state_dict(loose)
    assert _same_state(fresh.state_dict(), state)


# ----------------------------------------------------------------------------- algorithm state


def _noisy(algorithm: Algorithm) -> Algorithm:
    """The algorithm with every device field set to the noisy device."""
    devices = {
        f.name: NOISY
        for f in dataclasses.fields(algorithm)  # type: ignore[arg-type]
        if f.name.startswith("device") and getattr(algorithm, f.name) is not None
    }
    return dataclasses.replace(algorithm, **devices)  # type: ignore[type-var]


def _registry() -> list[Algorithm]:
    """Every registered algorithm's example on the noisy device, and MultiTile's warm start
    (LossPlateau histories and switches) with a short plateau test."""
    algos = [_noisy(a) for a in algorithm_examples()]
    warm = dataclasses.replace(
        MultiTile.example(), device=NOISY, warm_start=True, plateau_every=2, plateau_window=2
    )
    return [*algos, warm]


LS = LeastSquares(in_size=4, out_size=3, n_samples=10, batch_size=5, noise_std=0.05)


def _started(algorithm: Algorithm, backend: str) -> tuple[Instance, AlgorithmState]:
    root = as_seed_sequence(3)
    be = Backend(backend)
    instance = LS.setup(2, root, backend=be)
    return instance, algorithm.start(instance, root, backend=be)


def _advance(instance: Instance, state: AlgorithmState, steps: range) -> None:
    """What run() does each step, including the loss a warm start observes."""
    observe = getattr(state, "observe_loss", None)
    for k in steps:
        instance.advance(state, k)
        if observe is not None:
            observe(k, instance.loss(state.effective_weights()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("algorithm", _registry(), ids=lambda a: a.kind)
def test_algorithm_state_round_trip_continues_bit_identically(
    algorithm: Algorithm, backend: str
) -> None:
    """Every registered algorithm × a noisy device: save after 7 steps, load into a freshly
    started state, run 8 more: every array, pulse count and saved value equals the
    uninterrupted run's; a fresh state that is not loaded differs (the check can fail)."""
    inst_ref, ref = _started(algorithm, backend)
    inst_a, a = _started(algorithm, backend)
    _advance(inst_ref, ref, range(7))
    _advance(inst_a, a, range(7))
    saved = a.state_dict()
    assert all(isinstance(k, str) for k in saved)
    inst_b, b = _started(algorithm, backend)
    inst_c, c = _started(algorithm, backend)  # not loaded: the control
    b.load_state_dict(saved)
    assert _same_state(b.state_dict(), saved)
    _advance(inst_ref, ref, range(7, 15))
    _advance(inst_b, b, range(7, 15))
    _advance(inst_c, c, range(7, 15))
    for name, arr in ref.arrays().items():
        assert np.array_equal(arr, b.arrays()[name]), name
    for p, v in ref.pulse_totals().items():
        assert np.array_equal(v, b.pulse_totals()[p]), p
    assert _same_state(ref.state_dict(), b.state_dict())
    assert not _same_state(ref.state_dict(), c.state_dict())


def test_warm_start_state_holds_loss_plateau_histories() -> None:
    """The warm-start variant above really saves LossPlateau state (histories, counters)."""
    warm = _registry()[-1]
    inst, state = _started(warm, "rust")
    _advance(inst, state, range(7))
    saved = state.state_dict()
    assert any(len(h) > 0 for h in saved["attr.history"])
    assert saved["attr._loss_count"] == 1
    assert saved["attr.k"].dtype.kind == "i"


def test_algorithm_load_rejects_another_state_and_changes_nothing() -> None:
    algorithm = _noisy(TTv2.example())
    inst, state = _started(algorithm, "rust")
    _advance(inst, state, range(3))
    before = state.state_dict()
    inst2, other = _started(algorithm, "rust")
    _advance(inst2, other, range(6))
    good = other.state_dict()
    missing = {k: v for k, v in good.items() if k != "attr.transfer.pointer"}
    h = "attr.transfer.buffer.h"
    bad_shape = {**good, h: np.zeros((1, 1, 1))}
    bad_type = {**good, "attr.transfer.pointer": "3"}
    # The tiles are loaded before the attributes: a bad last tile must undo the first.
    bad_tile = {**good, "tiles.W.tick": -1}
    other_algo = _noisy(AnalogSGD.example())
    for bad, exc in (
        (missing, ParameterError),
        ({**good, "attr.nope": 1}, ParameterError),
        (bad_shape, ShapeError),
        (bad_type, ParameterError),
        (bad_tile, ParameterError),
        (_started(other_algo, "rust")[1].state_dict(), ParameterError),
    ):
        with pytest.raises(exc):
            state.load_state_dict(bad)
        assert _same_state(state.state_dict(), before)


# ----------------------------------------------------------------------------- run(checkpoint=)

CLASSIFIER = Classifier.example()


def _results_equal(a: TrainResult, b: TrainResult) -> None:
    """Every number of two results is the same, bit for bit (wall time aside)."""
    assert a.steps == b.steps
    assert a.interrupted == b.interrupted
    for name in ("record_steps", "loss", "error", "weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for opt in ("trajectory", "average_weights", "sp_error"):
        x, y = getattr(a, opt), getattr(b, opt)
        assert (x is None) == (y is None), opt
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=opt)
    for group in ("pulses", "arrays", "average_arrays"):
        x, y = getattr(a, group), getattr(b, group)
        assert x.keys() == y.keys(), group
        for k in x:
            np.testing.assert_array_equal(x[k], y[k], err_msg=f"{group}.{k}")
    assert a.average_steps == b.average_steps
    assert a.memory == b.memory


def _snapshots(monkeypatch: pytest.MonkeyPatch, where: Path) -> dict[int, Path]:
    """Keep a copy of the checkpoint file after every write, by the step it holds."""
    snaps: dict[int, Path] = {}
    original = RunFile.save

    def save(self: RunFile, state: Any, done: int, *args: Any) -> None:
        original(self, state, done, *args)
        snaps[done] = where / f"snap{done}.npz"
        shutil.copyfile(self.path, snaps[done])

    monkeypatch.setattr(RunFile, "save", save)
    return snaps


CASES = [
    pytest.param(LS, _noisy(ERIDER.example()), True, id="least_squares"),
    pytest.param(CLASSIFIER, _noisy(TTv2.example()), False, id="classifier"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("problem", "algorithm", "weights"), CASES)
def test_resumed_run_is_bit_identical(
    problem: Any,
    algorithm: Algorithm,
    weights: bool,  # noqa: FBT001
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Checkpoints every 3 steps with records every 7 (so most fall mid record interval) and
    averages from step 10: resuming from each of them gives the uninterrupted result."""
    kw: dict[str, Any] = {
        "steps": 24,
        "replicas": 2,
        "rng": 11,
        "record_every": 7,
        "record_weights": weights,
        "average_from": 10,
        "progress": False,
        "backend": backend,
    }
    ref = pt.run(problem, algorithm, **kw)
    snaps = _snapshots(monkeypatch, tmp_path)
    written = pt.run(problem, algorithm, **kw, checkpoint=tmp_path / "run.ckpt", checkpoint_every=3)
    _results_equal(ref, written)
    assert sorted(snaps) == [3, 6, 9, 12, 15, 18, 21, 24]
    monkeypatch.undo()
    for done in (3, 9, 15, 21, 24):  # before averaging, mid interval, at the end
        path = tmp_path / f"resume{done}.ckpt"
        shutil.copyfile(snaps[done], path)
        resumed = pt.run(problem, algorithm, **kw, checkpoint=path)
        _results_equal(ref, resumed)


def test_stopped_run_resumes_and_checkpoint_is_written_atomically(tmp_path: Path) -> None:
    """A callback's stop writes the checkpoint; resuming with ``rng=None`` takes its seed, and
    with another thread count gives the same numbers (replica offset 2 here)."""
    algorithm = _noisy(RIDER.example())
    kw: dict[str, Any] = {"steps": 20, "replicas": 2, "record_every": 4, "progress": False}
    kw["replica_offset"] = 2
    ref = pt.run(LS, algorithm, rng=5, n_threads=2, **kw)
    path = tmp_path / "sub" / "stop.ckpt"
    stop = [lambda k, s: k >= 8]
    part = pt.run(LS, algorithm, rng=5, n_threads=2, **kw, checkpoint=path, callbacks=stop)
    assert part.steps == 8
    assert sorted(p.name for p in path.parent.iterdir()) == ["stop.ckpt"]  # no temporary left
    _results_equal(ref, pt.run(LS, algorithm, rng=None, n_threads=1, **kw, checkpoint=path))


def _checkpointed(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    kw: dict[str, Any] = {"steps": 6, "replicas": 2, "rng": 1, "progress": False}
    path = tmp_path / "a.ckpt"
    pt.run(LS, AnalogSGD.example(), **kw, checkpoint=path, callbacks=[lambda k, s: k >= 3])
    return path, kw


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"rng": 2}, "seed"),
        ({"replicas": 3}, "replicas"),
        ({"replica_offset": 1}, "replica_offset"),
        ({"backend": "twin"}, "backend"),
        ({"steps": 7}, "steps"),
        ({"record_every": 2}, "record_every"),
        ({"average_from": 2}, "average_from"),
        ({"record_weights": True}, "record_weights"),
        ({"problem": LeastSquares(in_size=4, out_size=3, n_samples=11)}, "problem"),
        ({"algorithm": dataclasses.replace(AnalogSGD.example(), lr=0.07)}, "algorithm"),
    ],
)
def test_resume_refuses_a_checkpoint_of_another_run(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    path, kw = _checkpointed(tmp_path)
    args = {"problem": LS, "algorithm": AnalogSGD.example(), **kw, **change}
    problem, algorithm = args.pop("problem"), args.pop("algorithm")
    with pytest.raises(ParameterError, match=rf"its {named} \(checkpoint"):
        pt.run(problem, algorithm, **args, checkpoint=path)


def test_resume_refuses_another_version_or_rng_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, kw = _checkpointed(tmp_path)
    monkeypatch.setattr(pt, "__version__", "0.0.0+other")
    with pytest.raises(ParameterError, match=r"its pulsetrain \(checkpoint"):
        pt.run(LS, AnalogSGD.example(), **kw, checkpoint=path)
    monkeypatch.undo()
    monkeypatch.setattr(pt._core, "rng_scheme", pt._core.rng_scheme + 1, raising=False)
    with pytest.raises(ParameterError, match=r"its rng_scheme \(checkpoint"):
        pt.run(LS, AnalogSGD.example(), **kw, checkpoint=path)


def _damaged(path: Path, tmp_path: Path) -> list[tuple[str, Path]]:
    data = path.read_bytes()
    out = []
    for label, blob in (
        ("truncated", data[: len(data) // 2]),
        ("garbage", b"not a checkpoint at all"),
        ("flipped", data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]),
        ("empty", b""),
    ):
        p = tmp_path / f"{label}.ckpt"
        p.write_bytes(blob)
        out.append((label, p))
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    out.append(("no manifest", other))
    bad_json = tmp_path / "badjson.npz"
    np.savez(bad_json, manifest=np.frombuffer(b"{not json", dtype=np.uint8))
    out.append(("bad manifest", bad_json))
    cut = tmp_path / "cut.npz"
    with np.load(path, allow_pickle=False) as z:
        members = {k: z[k] for k in z.files if not k.startswith("curves/")}
    np.savez(cut, **members)
    out.append(("missing arrays", cut))
    return out


def test_damaged_checkpoint_raises_result_file_error(tmp_path: Path) -> None:
    path, kw = _checkpointed(tmp_path)
    for label, bad in _damaged(path, tmp_path):
        with pytest.raises(ResultFileError, match=str(bad.name)):
            pt.run(LS, AnalogSGD.example(), **kw, checkpoint=bad)
        assert label


def test_checkpoint_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="'checkpoint_every'"):
        pt.run(LS, AnalogSGD.example(), steps=3, checkpoint_every=2, progress=False)
    with pytest.raises(ParameterError, match="'checkpoint_every'"):
        pt.run(LS, AnalogSGD.example(), steps=3, checkpoint=tmp_path / "x", checkpoint_every=0)
    with pytest.raises(ParameterError, match="'checkpoint'"):
        pt.run(LS, AnalogSGD.example(), steps=3, checkpoint=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="'checkpoint'"):
        pt.run(LS, AnalogSGD.example(), steps=3, checkpoint=3, progress=False)  # type: ignore[arg-type]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery needs POSIX signals")
def test_ctrl_c_writes_the_checkpoint_and_the_run_resumes(tmp_path: Path) -> None:
    """The first Ctrl-C (here sent at step 8) stops the run before the next step and writes
    the checkpoint; resuming it gives the uninterrupted result."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("the test runner handles SIGINT itself")
    algorithm = _noisy(TTv2.example())
    kw: dict[str, Any] = {"steps": 20, "replicas": 2, "rng": 5, "record_every": 4}
    kw.update(progress=False, average_from=5)
    ref = pt.run(LS, algorithm, **kw)
    path = tmp_path / "int.ckpt"

    def interrupt(step: int, state: Any) -> bool:
        if step == 8:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    part = pt.run(LS, algorithm, **kw, checkpoint=path, callbacks=[interrupt])
    assert part.interrupted
    assert RunCheckpoint.load(path).done == part.steps
    _results_equal(ref, pt.run(LS, algorithm, **kw, checkpoint=path))


def test_cli_run_checkpoint_resumes_each_algorithm(tmp_path: Path) -> None:
    """``pulsetrain run CONFIG --checkpoint DIR`` resumes a run stopped half-way (its checkpoint
    made here with the experiment's exact arguments) and writes the uninterrupted results."""
    exp = Experiment.example()
    config = tmp_path / "exp.toml"
    config.write_text(dumps_toml(exp), encoding="utf-8")
    kw: dict[str, Any] = {
        "steps": exp.steps,
        "replicas": exp.replicas,
        "rng": exp.seed,
        "n_threads": exp.n_threads,
        "record_every": exp.record_every,
        "progress": False,
    }
    entry = exp.algorithms[1]
    ref = pt.run(exp.problem, entry.algorithm, **kw)
    ckdir = tmp_path / "ck"
    stopped = pt.run(
        exp.problem,
        entry.algorithm,
        **kw,
        checkpoint=ckdir / f"{slug(entry.label)}.ckpt",
        callbacks=[lambda k, s: k >= exp.steps // 2],
    )
    assert stopped.steps == exp.steps // 2
    out = tmp_path / "out"
    argv = ["run", str(config), "--out", str(out), "--checkpoint", str(ckdir), "--no-progress"]
    assert cli_main(argv) == 0
    got = TrainResult.load(out / "runs" / slug(entry.label))
    for name in ("record_steps", "loss", "error", "weights"):
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)
    for p, v in ref.pulses.items():
        np.testing.assert_array_equal(got.pulses[p], v, err_msg=p)
    assert sorted(p.name for p in ckdir.iterdir()) == sorted(
        f"{slug(e.label)}.ckpt" for e in exp.algorithms
    )
