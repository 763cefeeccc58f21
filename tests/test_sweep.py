"""`pulsetrain sweep`: grid expansion, local pool and Dask runs, resume, faults, the table."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from conftest import errorbar_series
from pulsetrain import sweep as sw
from pulsetrain.algorithms import AnalogSGD, DigitalSGD
from pulsetrain.cli import main
from pulsetrain.config import dumps_json, dumps_toml, loads_toml
from pulsetrain.errors import MissingExtraError, ParameterError
from pulsetrain.experiment import AlgorithmEntry, Experiment
from pulsetrain.problems import LeastSquares

pa = pytest.importorskip("pyarrow")

DEVICE = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3)
PROBLEM = LeastSquares(in_size=4, out_size=2, n_samples=10, batch_size=5, noise_std=0.05)
ENTRIES = (
    AlgorithmEntry(label="Digital SGD", algorithm=DigitalSGD(lr=0.05)),
    AlgorithmEntry(
        label="Analog SGD",
        algorithm=AnalogSGD(device=DEVICE, lr=0.05, update=pt.PulseCountUpdate()),
    ),
)
BASE = Experiment(name="t", problem=PROBLEM, algorithms=ENTRIES, steps=30, replicas=3, seed=5)


def small_sweep(**kw: Any) -> sw.Sweep:
    """2 algorithms × 2 learning rates × 2 seeds, 3 replicas split 2 + 1: 16 cells."""
    args: dict[str, Any] = {
        "name": "t",
        "base": BASE,
        "grid": {"algorithm.lr": (0.05, 0.1)},
        "seeds": (1, 2),
        "replicas_per_cell": 2,
    }
    args.update(kw)
    return sw.Sweep(**args)


def direct(cell: sw.Cell) -> pt.TrainResult:
    """The cell's run as a plain pulsetrain.run call, from the sweep's own parameters."""
    algorithm: Any = next(e.algorithm for e in ENTRIES if e.label == cell.label)
    lr = cell.point["algorithm.lr"]
    return pt.run(
        PROBLEM,
        dataclasses.replace(algorithm, lr=lr),
        steps=BASE.steps,
        replicas=cell.replicas,
        rng=cell.config["seed"],
        replica_offset=cell.replica_offset,
        n_threads=1,
        progress=False,
    )


def table_dict(table: Any) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = table.to_pydict()
    data.pop("wall_time")
    return data


# --------------------------------------------------------------------------- grid expansion


def test_cross_grid_expands_algorithms_points_seeds_and_replica_ranges() -> None:
    s = small_sweep(grid={"algorithm.lr": (0.05, 0.1), "problem.noise_std": (0.0, 0.2)})
    cells = s.cells()
    # 2 entries × (2 × 2 points) × 2 seeds × 2 replica ranges ([0, 2), [2, 3))
    assert len(cells) == 2 * 4 * 2 * 2
    first = cells[:8]
    assert [c.label for c in first] == ["Digital SGD"] * 8
    assert [(c.point["algorithm.lr"], c.point["problem.noise_std"]) for c in first[::4]] == [
        (0.05, 0.0),
        (0.05, 0.2),
    ]
    assert [(c.config["seed"], c.replica_offset, c.replicas) for c in first[:4]] == [
        (1, 0, 2),
        (1, 2, 1),
        (2, 0, 2),
        (2, 2, 1),
    ]
    c = cells[-1]
    assert c.label == "Analog SGD"
    assert c.config["algorithm"]["lr"] == 0.1
    assert c.config["problem"]["noise_std"] == 0.2
    assert c.config["algorithm"]["device"] == DEVICE.to_dict()  # the rest is the base's
    assert len({x.name for x in cells}) == len(cells)
    # Same config, other replica range: same hash, other name.
    assert cells[0].config_hash == cells[1].config_hash
    assert cells[0].name.endswith("-r0-2")
    assert cells[1].name.endswith("-r2-3")


def test_zip_grid_pairs_values_and_needs_equal_lengths() -> None:
    grid = {"algorithm.lr": (0.05, 0.1), "steps": (10, 20)}
    s = small_sweep(grid=grid, mode="zip", seeds=(), replicas_per_cell=None)
    pts = [(c.point["algorithm.lr"], c.config["steps"]) for c in s.cells()]
    assert pts == [(0.05, 10), (0.1, 20)] * 2  # per entry; one seed (the base's), one range
    assert {c.config["seed"] for c in s.cells()} == {5}
    assert s.mode is sw.GridMode.ZIP
    with pytest.raises(ParameterError, match=r"^The 'grid' parameter of Sweep must be value lists"):
        small_sweep(grid={"algorithm.lr": (0.05, 0.1), "steps": (10,)}, mode="zip")


def test_dotted_keys_reach_nested_configs() -> None:
    analog = Experiment(name="a", problem=PROBLEM, algorithms=ENTRIES[1:], steps=10, replicas=1)
    s = sw.Sweep(base=analog, grid={"algorithm.device.response.c_lin": (0.1, 0.2)})
    got = [c.config["algorithm"]["device"]["response"] for c in s.cells()]
    assert got == [
        {"kind": "skew_linear", "tau": 1.0, "c_lin": 0.1},
        {"kind": "skew_linear", "tau": 1.0, "c_lin": 0.2},
    ]
    # A whole config as a grid value replaces the subtree.
    s2 = sw.Sweep(base=analog, grid={"algorithm.device.response": (pt.ALD(tau=0.5),)})
    assert s2.cells()[0].config["algorithm"]["device"]["response"] == pt.ALD(tau=0.5).to_dict()
    assert sw.sweep_from_dict(loads_toml(dumps_toml(s2))) == s2  # read back as a config
    doc = loads_toml(dumps_toml(s2))
    doc["grid"]["algorithm.device.response"][0]["tau"] = -1.0
    msg = r"^The 'grid.algorithm.device.response\[0\].tau' parameter of ALD"
    with pytest.raises(ParameterError, match=msg):
        sw.sweep_from_dict(doc)


@pytest.mark.parametrize(
    ("key", "where"),
    [
        ("algorithm.lrr", "'lrr' is not a field of 'digital_sgd' at base.algorithms[0].algorithm"),
        ("algorithm.device.tau", "'device' is not a field of 'digital_sgd'"),
        ("problem.size.x", "'size' is not a field of 'least_squares' at base.problem"),
        ("problem.kind", "'kind' is not a field"),
        ("seed", "starting with one of"),
        ("algorithm", "starting with one of"),
    ],
)
def test_bad_grid_keys_are_parameter_errors_naming_the_key_path(key: str, where: str) -> None:
    with pytest.raises(ParameterError) as info:
        small_sweep(grid={key: (1.0,)})
    msg = str(info.value)
    assert msg.startswith(f"The 'grid.{key}' parameter of Sweep must be a dotted key path")
    assert where in msg


def test_bad_grid_values_name_their_path_in_the_base() -> None:
    with pytest.raises(
        ParameterError, match=r"^The 'base.algorithms\[0\].algorithm.lr' parameter of DigitalSGD"
    ):
        small_sweep(grid={"algorithm.lr": (0.05, -1.0)})
    with pytest.raises(ParameterError, match=r"^The 'grid' parameter of Sweep must be a table"):
        small_sweep(grid={"algorithm.lr": ()})
    with pytest.raises(ParameterError, match=r"^The 'seeds' parameter of Sweep"):
        small_sweep(seeds=(1, 1))


def test_sweep_round_trips_through_toml_and_json(tmp_path: Path) -> None:
    s = small_sweep(grid={"algorithm.lr": (0.05, 0.1), "steps": (10, 20)}, mode="zip")
    assert sw.sweep_from_dict(loads_toml(dumps_toml(s))) == s
    for suffix, text in ((".toml", dumps_toml(s)), (".json", dumps_json(s))):
        path = tmp_path / f"s{suffix}"
        path.write_text(text)
        assert sw.load_sweep(path) == s
    with pytest.raises(ParameterError, match="'FILE' parameter of pulsetrain sweep"):
        sw.load_sweep(tmp_path / "missing.toml")
    doc = loads_toml(dumps_toml(s))
    doc["base"]["algorithms"][1]["algorithm"]["device"]["dw_min"] = -1.0
    with pytest.raises(
        ParameterError, match=r"^The 'base.algorithms\[1\].algorithm.device.dw_min' parameter"
    ):
        sw.sweep_from_dict(doc)


# --------------------------------------------------------------------------- local pool


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[sw.Sweep, sw.SweepResult]:
    """The small sweep run once on a 2-process pool."""
    out = tmp_path_factory.mktemp("sweep") / "out"
    s = small_sweep()
    return s, sw.run_sweep(s, out, workers=2, threads=1, progress=False)


def test_local_pool_gives_the_numbers_of_direct_runs(
    done: tuple[sw.Sweep, sw.SweepResult],
) -> None:
    s, res = done
    cells = s.cells()
    assert sorted(res.computed) == sorted(c.name for c in cells)
    assert (res.skipped, res.failed, res.interrupted, res.pool_restarts) == ([], {}, False, 0)
    table = sw.load(res.out_dir)
    rows = {r["cell"]: r for r in table.to_pylist()}
    for cell in cells:
        saved = pt.TrainResult.load(res.out_dir / "runs" / cell.name)
        ref = direct(cell)
        assert saved.equals(ref), cell
        row = rows[cell.name]
        assert row["error_mean"] == ref.summary()["error_mean"]
        assert row["loss_std"] == ref.summary()["loss_std"]
        assert row["error_curve"] == ref.error.tolist()
        assert row["record_steps"] == ref.record_steps.tolist()
        assert row["algorithm.lr"] == cell.point["algorithm.lr"]
    # A cell of replicas [2, 3) holds replica 2 of the whole run (replica_offset contract).
    whole = dataclasses.replace(cells[0], replica_offset=0, replicas=3)
    np.testing.assert_array_equal(direct(cells[1]).error, direct(whole).error[2:])


def test_table_columns_and_rows(done: tuple[sw.Sweep, sw.SweepResult]) -> None:
    s, res = done
    table = sw.load(res.out_dir)
    assert table.num_rows == len(s.cells()) == 16
    names = table.column_names
    assert tuple(names[: len(sw.FIXED_COLUMNS)]) == sw.FIXED_COLUMNS
    dotted = names[len(sw.FIXED_COLUMNS) :]
    assert dotted == sorted(dotted)
    assert {"algorithm.kind", "algorithm.lr", "problem.in_size", "problem.noise_std"} <= set(dotted)
    assert "algorithm.device.response.c_lin" in dotted  # Analog SGD's; null for Digital SGD
    schema = table.schema
    assert schema.field("error_curve").type == pa.list_(pa.list_(pa.float64()))
    assert schema.field("record_steps").type == pa.list_(pa.int64())
    assert schema.field("algorithm.lr").type == pa.float64()
    assert schema.field("problem.in_size").type == pa.int64()
    rows = table.to_pylist()
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["rng_scheme"] for r in rows} == {pt.rng_scheme}
    assert {r["pulsetrain_version"] for r in rows} == {pt.__version__}
    assert sorted({r["seed_entropy"] for r in rows}) == [1, 2]
    c_lin = [r["algorithm.device.response.c_lin"] for r in rows]
    assert c_lin.count(None) == 8
    assert c_lin.count(0.3) == 8
    digital = [r for r in rows if r["label"] == "Digital SGD"]
    assert all(r["pulses_total"] == 0.0 for r in digital)
    analog = [r for r in rows if r["label"] == "Analog SGD"]
    assert all(r["pulses_update"] > 0 for r in analog)
    # Rebuilt from the runs when table.parquet is gone: the same table.
    rebuilt = sw.build_table(res.out_dir)
    assert rebuilt.equals(table)


def test_rerun_recomputes_only_the_missing_result(
    done: tuple[sw.Sweep, sw.SweepResult], tmp_path: Path
) -> None:
    s, res = done
    out = tmp_path / "copy"
    shutil.copytree(res.out_dir, out)
    gone = s.cells()[5].name
    for suffix in (".json", ".npz"):
        (out / "runs" / f"{gone}{suffix}").unlink()
    again = sw.run_sweep(s, out, workers=1, threads=1, progress=False)
    assert again.computed == [gone]
    assert len(again.skipped) == 15
    assert table_dict(sw.load(out)) == table_dict(sw.load(res.out_dir))


def test_load_needs_a_sweep_folder(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="'out_dir' parameter of load"):
        sw.load(tmp_path)


# --------------------------------------------------------------------------- faults


def test_deterministic_failure_is_recorded_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # steps = 2**40 recorded at every step needs terabytes: pulsetrain.run refuses it at run
    # time (a valid config that fails deterministically); the 10-step runs succeed.
    base = dataclasses.replace(BASE, algorithms=ENTRIES[:1], replicas=1, record_every=1)
    s = sw.Sweep(name="f", base=base, grid={"steps": (10, 1 << 40)}, seeds=(1, 2))
    path = tmp_path / "f.toml"
    path.write_text(dumps_toml(s))
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--out", str(out), "--workers", "1", "--no-progress"]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "4 runs: 2 computed, 0 already done, 2 failed" in text
    rows = sw.load(out).to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    failed = rows[2]
    assert "The 'record_every' parameter of run must be" in failed["error"]
    assert failed["error_mean"] is None
    assert failed["steps"] == 1 << 40
    assert (out / "runs" / f"{failed['cell']}.error.txt").is_file()
    # A rerun retries the failed runs only, and counts them again.
    assert main(argv) == 1
    assert "4 runs: 0 computed, 2 already done, 2 failed" in capsys.readouterr().out


def test_a_killed_worker_loses_no_run(
    done: tuple[sw.Sweep, sw.SweepResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, res = done
    marker = tmp_path / "kill-once"
    marker.touch()
    monkeypatch.setenv(sw.TEST_KILL_ENV, str(marker))  # the first worker to take it exits
    out = tmp_path / "out"
    again = sw.run_sweep(s, out, workers=2, threads=1, progress=False)
    assert not marker.exists()
    assert again.pool_restarts == 1
    assert again.failed == {}
    assert sorted(again.computed) == sorted(c.name for c in s.cells())
    assert table_dict(sw.load(out)) == table_dict(sw.load(res.out_dir))


def test_a_worker_death_beyond_the_retries_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = small_sweep(grid={}, seeds=(1,), replicas_per_cell=None, retries=0)
    s = dataclasses.replace(s, base=dataclasses.replace(BASE, algorithms=ENTRIES[:1]))
    marker = tmp_path / "kill-once"
    marker.touch()
    monkeypatch.setenv(sw.TEST_KILL_ENV, str(marker))
    res = sw.run_sweep(s, tmp_path / "out", workers=1, threads=1, progress=False)
    assert res.pool_restarts == 1
    assert list(res.failed.values()) == ["its worker died 1 times (BrokenProcessPool)"]
    assert [r["status"] for r in sw.load(tmp_path / "out").to_pylist()] == ["failed"]


# --------------------------------------------------------------------------- options, CLI


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    s = small_sweep()
    cores = sw._cores()
    with pytest.raises(ParameterError, match="'workers' parameter of run_sweep"):
        sw.run_sweep(s, tmp_path, workers=cores + 1)
    with pytest.raises(ParameterError, match="'threads' parameter of run_sweep"):
        sw.run_sweep(s, tmp_path, workers=1, threads=cores + 1)
    assert not (tmp_path / "runs").exists()  # a usage error is found before any work
    with pytest.raises(ParameterError, match="'scheduler' parameter of run_sweep"):
        sw.run_sweep(s, tmp_path, scheduler="tcp://x:1", dask_local=1)
    path = tmp_path / "s.toml"
    path.write_text(dumps_toml(s))
    assert main(["sweep", str(tmp_path / "nope.toml")]) == 2
    assert main(["sweep", str(path), "--threads", str(cores + 1), "--workers", "1"]) == 2
    assert main(["sweep", str(path), "--scheduler", "x", "--dask-local", "1"]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text(dumps_toml(s).replace('"algorithm.lr"', '"algorithm.lrr"'))
    assert main(["sweep", str(bad)]) == 2


def test_missing_dask_is_a_missing_extra_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"pulsetrain\[dask\]"):
        sw.run_sweep(small_sweep(), tmp_path, dask_local=1, progress=False)


@pytest.mark.slow  # about 10 s: starting a LocalCluster of two processes, and one restart
def test_dask_local_cluster_gives_the_local_pool_table_despite_a_killed_worker(
    done: tuple[sw.Sweep, sw.SweepResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    s, res = done
    marker = tmp_path / "kill-once"
    marker.touch()
    monkeypatch.setenv(sw.TEST_KILL_ENV, str(marker))  # the nanny restarts the worker
    again = sw.run_sweep(s, tmp_path / "dask", dask_local=2, threads=1, progress=False)
    assert not marker.exists()
    assert again.failed == {}
    assert len(again.computed) == 16
    assert table_dict(sw.load(tmp_path / "dask")) == table_dict(sw.load(res.out_dir))


def test_example_sweep_configs_load() -> None:
    paths = sorted((Path(__file__).parents[1] / "examples" / "configs").glob("sweep_*.toml"))
    assert paths
    for path in paths:
        s = sw.load_sweep(path)
        assert len(s.cells()) > 1
    h1 = sw.load_sweep(paths[0].with_name("sweep_h1_lr.toml"))
    assert len(h1.cells()) == 2 * 4 * 4  # algorithms × lr × seeds


def test_ctrl_c_saves_no_partial_run_and_stops_the_workers(tmp_path: Path) -> None:
    base = dataclasses.replace(BASE, algorithms=ENTRIES[:1], replicas=1, record_every=None)
    s = sw.Sweep(name="c", base=base, grid={"steps": (20, 1 << 30)}, seeds=(1, 2))
    path = tmp_path / "c.toml"
    path.write_text(dumps_toml(s))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(pt.__file__).parents[1])}
    cmd = [sys.executable, "-m", "pulsetrain", "sweep", str(path), "--out", str(out)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--threads", "1", "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches the whole group, as from a terminal
        # A shell without job control starts background jobs with SIGINT ignored: undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        for _ in range(600):  # until both short runs are written (at most about 60 s)
            if len(list((out / "runs").glob("*.json"))) >= 2:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # both workers are inside their 2**30-step runs now
        os.killpg(proc.pid, signal.SIGINT)
        stdout, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 1
    assert "4 runs: 2 computed, 0 already done, 0 failed" in stdout.decode()
    assert "Interrupted" in stdout.decode()
    rows = sw.load(out).to_pylist()
    assert [(r["steps"], r["status"]) for r in rows] == [(20, "ok"), (20, "ok")]
    assert not list((out / "runs").glob("*.error.txt"))
    for cell in s.cells()[:2]:
        assert not pt.TrainResult.load(out / "runs" / cell.name).interrupted


def test_a_sweep_table_plots_final_errors_by_swept_value(
    done: tuple[sw.Sweep, sw.SweepResult],
) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    from pulsetrain.plots import plot_sweep

    _, res = done
    table = sw.load(res.out_dir)
    ax = plot_sweep(table, x="algorithm.lr")
    lines = {k: c.lines[0] for k, c in errorbar_series(ax).items()}
    assert sorted(lines) == ["Analog SGD", "Digital SGD"]
    rows = table.to_pylist()
    for label, line in lines.items():
        np.testing.assert_array_equal(line.get_xdata(orig=False), [0.05, 0.1])
        # Each point pools the final error of all 3 replicas of both seeds (2 cells per seed).
        for lr, y in zip((0.05, 0.1), line.get_ydata(orig=False), strict=True):
            finals = [
                curve[-1]
                for r in rows
                if r["label"] == label and r["algorithm.lr"] == lr
                for curve in r["error_curve"]
            ]
            assert len(finals) == 6
            assert y == pytest.approx(np.mean(finals), rel=1e-12)
