"""The ``pulsetrain`` command, run as a subprocess: exit codes, files, configs, exact numbers.

Exit codes (pulsetrain/cli.py): 0 success, 1 failure while working, 2 usage error, which
includes a missing or invalid config (found before any work is done).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import ERIDER, AnalogSGD, DigitalSGD, TwoStage
from pulsetrain.config import dumps_json, dumps_toml, loads_toml, to_dict
from pulsetrain.devices.presets import PRESETS
from pulsetrain.errors import ParameterError
from pulsetrain.experiment import (
    TABLE_COLUMNS,
    AlgorithmEntry,
    Experiment,
    default_experiment,
    experiment_from_dict,
    load_experiment,
    slug,
)
from pulsetrain.problems import LeastSquares

HAS_MPL = importlib.util.find_spec("matplotlib") is not None
HAS_ARROW = importlib.util.find_spec("pyarrow") is not None
DEVICE = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3)
UPDATE = pt.PulseCountUpdate(max_bl=8, rounding=pt.Rounding.STOCHASTIC)
SMALL = Experiment(
    name="small",
    problem=LeastSquares(in_size=4, out_size=2, n_samples=10, batch_size=5, noise_std=0.02),
    algorithms=(
        AlgorithmEntry(label="Digital SGD", algorithm=DigitalSGD(lr=0.05)),
        AlgorithmEntry(label="Analog SGD", algorithm=AnalogSGD(device=DEVICE, update=UPDATE)),
        AlgorithmEntry(
            label="ZS + RL", algorithm=TwoStage(device=DEVICE, update=UPDATE, zs_pulses=50)
        ),
        AlgorithmEntry(label="E-RIDER", algorithm=ERIDER(device=DEVICE, update=UPDATE)),
    ),
    steps=60,
    replicas=3,
    seed=7,
    n_threads=1,
    record_every=10,
)
TINY = dataclasses.replace(SMALL, algorithms=SMALL.algorithms[:2], steps=20, replicas=2)


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, "-m", "pulsetrain", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def write_config(exp: Experiment, path: Path) -> Path:
    path.write_text(dumps_toml(exp) if path.suffix == ".toml" else dumps_json(exp))
    return path


# --------------------------------------------------------------------------- help and usage


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["devices", "--help"],
        ["devices", "list", "--help"],
        ["devices", "show", "--help"],
        ["demo", "--help"],
    ],
    ids=" ".join,
)
def test_help_everywhere(args: list[str]) -> None:
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("usage: pulsetrain")


def test_run_help_documents_outputs_and_exit_codes() -> None:
    text = cli("run", "--help").stdout
    for word in ("table.csv", "table.parquet", "figure.png", "config.toml", "--print-config"):
        assert word in text
    assert "2  usage error" in text


def test_python_m_is_the_same_program_as_the_script() -> None:
    script = Path(sys.executable).parent / "pulsetrain"
    if not script.exists():
        pytest.skip("the 'pulsetrain' console script is not installed next to this Python")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for args in (["--help"], ["run", "--help"], ["devices", "list"]):
        a = subprocess.run(
            [str(script), *args], capture_output=True, text=True, env=env, check=False
        )
        b = cli(*args)
        assert (a.returncode, a.stdout) == (b.returncode, b.stdout)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ([], "usage: pulsetrain"),
        (["frobnicate"], "invalid choice"),
        (["run", "--steps", "0"], "--steps: must be at least 1"),
        (["run", "--threads", "two"], "--threads: invalid int value"),
        (["run", "--bogus"], "unrecognized arguments"),
        (["run", "a.toml", "b.toml"], "unrecognized arguments"),
        (["devices", "show"], "the following arguments are required: NAME"),
        (["devices", "show", "nope"], "The 'NAME' parameter of pulsetrain devices show"),
        (["run", "--threads", "2000"], "The 'n_threads' parameter of Experiment must be"),
    ],
)
def test_usage_errors_exit_2(args: list[str], pattern: str, tmp_path: Path) -> None:
    res = cli(*args, cwd=tmp_path)
    assert res.returncode == 2
    assert pattern in res.stderr
    assert res.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing was run or written


# --------------------------------------------------------------------------- run


def _api_results(exp: Experiment) -> dict[str, pt.TrainResult]:
    return {
        e.label: pt.run(
            exp.problem,
            e.algorithm,
            steps=exp.steps,
            replicas=exp.replicas,
            rng=exp.seed,
            record_every=exp.record_every,
            progress=False,
        )
        for e in exp.algorithms
    }


def _read_table(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_run_writes_everything_and_matches_the_python_api(tmp_path: Path) -> None:
    config = write_config(SMALL, tmp_path / "small.toml")
    out = tmp_path / "out"
    res = cli("run", config, "--out", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # --no-progress: nothing on stderr
    lines = res.stdout.splitlines()
    assert lines[-1] == f"Results in {out}"
    assert "final error (mean ± std, 3 seeds)" in lines[0]

    # The files.
    assert load_experiment(out / "config.toml") == SMALL
    assert (out / "config.toml").read_text() == config.read_text()
    for label in SMALL.labels:
        for suffix in (".json", ".npz"):
            assert (out / "runs" / f"{slug(label)}{suffix}").is_file()
    assert (out / "table.parquet").exists() == HAS_ARROW
    assert ("table.parquet not written: pyarrow is not installed" in res.stdout) != HAS_ARROW
    for name in ("figure.png", "figure.pdf"):
        assert (out / name).exists() == HAS_MPL
    if HAS_MPL:
        assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / "figure.pdf").read_bytes()[:5] == b"%PDF-"

    # The table's numbers are exactly the Python API's for the same config and seed.
    rows = _read_table(out / "table.csv")
    assert list(rows[0]) == list(TABLE_COLUMNS)
    assert [r["label"] for r in rows] == list(SMALL.labels)
    api = _api_results(SMALL)
    for row in rows:
        result = api[row["label"]]
        summary = result.summary()
        for key in ("error_mean", "error_std", "loss_mean", "loss_std"):
            assert float(row[key]) == summary[key], key
        for phase, total in result.total_pulses.items():
            assert float(row[f"pulses_{phase}"]) == float(total.mean())
        if result.sp_error is None:
            assert row["sp_error_mean"] == ""
        else:
            assert float(row["sp_error_mean"]) == float(result.sp_error.mean())
        assert (int(row["steps"]), int(row["replicas"]), int(row["seed"])) == (60, 3, 7)
        # Each saved TrainResult equals the API's run.
        saved = pt.TrainResult.load(out / "runs" / slug(row["label"]))
        assert saved.equals(result)
    if HAS_ARROW:
        import pyarrow.parquet as pq

        table = pq.read_table(out / "table.parquet")
        assert table.column_names == list(TABLE_COLUMNS)
        for row, prow in zip(rows, table.to_pylist(), strict=True):
            assert prow["label"] == row["label"]
            assert prow["error_mean"] == float(row["error_mean"])
            assert prow["sp_error_mean"] == (
                None if row["sp_error_mean"] == "" else float(row["sp_error_mean"])
            )
    # The calibration pulses of ZS + RL show in the table: 50 per element of the 2×4 array P.
    zs = next(r for r in rows if r["label"] == "ZS + RL")
    assert float(zs["pulses_calibration"]) == 50 * 8


def test_run_progress_goes_to_stderr_and_json_configs_work(tmp_path: Path) -> None:
    config = write_config(TINY, tmp_path / "tiny.json")
    res = cli("run", config, "--out", tmp_path / "o", "--steps", "10")
    assert res.returncode == 0, res.stderr
    assert "[1/2] Digital SGD" in res.stderr
    assert "[2/2] Analog SGD" in res.stderr
    assert "[1/2]" not in res.stdout
    assert load_experiment(tmp_path / "o" / "config.toml") == dataclasses.replace(TINY, steps=10)


def test_run_default_out_folder_is_named_on_the_last_line(tmp_path: Path) -> None:
    write_config(TINY, tmp_path / "tiny.toml")
    first = cli("run", "tiny.toml", "--no-progress", cwd=tmp_path)
    second = cli("run", "tiny.toml", "--no-progress", cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert first.stdout.splitlines()[-1] == "Results in pulsetrain-out/small"
    assert second.stdout.splitlines()[-1] == "Results in pulsetrain-out/small-2"
    assert (tmp_path / "pulsetrain-out" / "small-2" / "table.csv").is_file()


def test_run_without_optional_extras_notes_what_it_skipped(tmp_path: Path) -> None:
    config = write_config(TINY, tmp_path / "tiny.toml")
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['pyarrow'] = None\n"
        "from pulsetrain.cli import main\n"
        f"sys.exit(main(['run', {str(config)!r}, '--out', {str(tmp_path / 'o')!r},"
        " '--no-progress']))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "figure.png/figure.pdf not drawn: matplotlib is not installed" in res.stdout
    assert "pip install 'pulsetrain[plot]'" in res.stdout
    assert "pip install 'pulsetrain[sweep]'" in res.stdout
    assert (tmp_path / "o" / "table.csv").is_file()
    assert not (tmp_path / "o" / "figure.png").exists()


def test_failure_while_working_exits_1(tmp_path: Path) -> None:
    config = write_config(TINY, tmp_path / "tiny.toml")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = cli("run", config, "--out", blocker / "out", "--no-progress")
    assert res.returncode == 1
    assert "pulsetrain run: error: cannot write the results" in res.stderr


# --------------------------------------------------------------------------- configs


def test_print_config_round_trips(tmp_path: Path) -> None:
    res = cli("run", "--print-config")
    assert res.returncode == 0, res.stderr
    text = res.stdout
    assert experiment_from_dict(loads_toml(text)) == default_experiment()
    assert text == dumps_toml(default_experiment())
    assert "[[algorithms]]" in text  # arrays of tables, not one long inline table
    (tmp_path / "default.toml").write_text(text)
    again = cli("run", tmp_path / "default.toml", "--print-config")
    assert again.returncode == 0
    assert again.stdout == text
    (tmp_path / "default.json").write_text(dumps_json(default_experiment()))
    from_json = cli("run", tmp_path / "default.json", "--print-config")
    assert from_json.stdout == text


def test_print_config_applies_the_overrides() -> None:
    res = cli("run", "--print-config", "--steps", "7", "--replicas", "2", "--threads", "1")
    exp = experiment_from_dict(loads_toml(res.stdout))
    assert exp == dataclasses.replace(default_experiment(), steps=7, replicas=2, n_threads=1)


def _mutated(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(to_dict(SMALL))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


BAD_CONFIGS = [
    (
        ["algorithms", 2, "algorithm", "lr"],
        -1.0,
        r"The 'algorithms[2].algorithm.lr' parameter of TwoStage must be a float in the range "
        r"[0, inf). Got -1.0 instead.",
    ),
    (
        ["algorithms", 1, "algorithm", "device", "response", "c_lin"],
        1.5,
        r"The 'algorithms[1].algorithm.device.response.c_lin' parameter of SkewLinear must be "
        r"a float in the range (-1, 1). Got 1.5 instead.",
    ),
    (
        ["algorithms", 3, "algorithm", "update", "rounding"],
        "floor",
        r"The 'algorithms[3].algorithm.update.rounding' parameter of PulseCountUpdate must be "
        r"one of 'ceil', 'stochastic'. Got 'floor' instead.",
    ),
    (
        ["algorithms", 0, "algorithm", "learning_rate"],
        0.1,
        r"The 'algorithms[0].algorithm.learning_rate' parameter of DigitalSGD must be a known "
        r"key (one of 'kind', 'lr'). Got 'learning_rate' instead.",
    ),
    (
        ["problem", "in_size"],
        0,
        r"The 'problem.in_size' parameter of LeastSquares must be an int in the range "
        r"[1, 1048576]. Got 0 instead.",
    ),
    (
        ["steps"],
        "many",
        r"The 'steps' parameter of Experiment must be an int in the range [1, 1099511627776]. "
        r"Got 'many' instead.",
    ),
    (
        ["algorithms", 1, "label"],
        "Digital-SGD",
        r"The 'algorithms' parameter of Experiment must be entries whose labels give distinct "
        r"file names (slugs).",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_CONFIGS, ids=lambda x: str(x)[:40])
def test_bad_config_fails_before_any_work(
    path: list[Any], value: Any, message: str, tmp_path: Path
) -> None:
    data = _mutated(path, value)
    with pytest.raises(ParameterError) as info:
        experiment_from_dict(data)
    assert str(info.value).startswith(message)
    config = tmp_path / "bad.toml"
    config.write_text(dumps_toml(data))
    res = cli("run", config, "--out", tmp_path / "out")
    assert res.returncode == 2
    assert res.stderr == f"pulsetrain run: error: {info.value}\n"
    assert res.stdout == ""
    assert not (tmp_path / "out").exists()  # failed before any work


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("missing.toml", None, "The 'CONFIG' parameter of pulsetrain run must be an existing file"),
        ("exp.yaml", "a: 1", "must be a .toml or .json file. Got"),
        ("broken.toml", "steps = ", "The 'text' parameter of loads_toml must be valid TOML"),
        ("broken.json", "{", "The 'text' parameter of loads_json must be valid JSON"),
        ("list.json", "[1, 2]", "The 'config' parameter of Experiment must be a table"),
        ("kind.toml", 'kind = "device"\n', "The 'kind' parameter of Experiment must be"),
        ("empty.toml", "", "The 'problem' parameter of Experiment must be given"),
    ],
)
def test_unreadable_configs_are_usage_errors(
    name: str, text: str | None, pattern: str, tmp_path: Path
) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    res = cli("run", name, cwd=tmp_path)
    assert res.returncode == 2
    assert pattern in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if text is None else [name])


def test_experiment_configs_round_trip_exactly() -> None:
    for exp in (default_experiment(), SMALL, Experiment.example()):
        data = to_dict(exp)
        assert experiment_from_dict(data) == exp
        assert experiment_from_dict(loads_toml(dumps_toml(exp))) == exp
        assert dumps_toml(experiment_from_dict(loads_toml(dumps_toml(exp)))) == dumps_toml(exp)
        assert pt.config.from_dict(pt.config.loads_json(dumps_json(exp))) == exp


def test_experiment_accepts_lists_and_rejects_bad_fields() -> None:
    exp = dataclasses.replace(SMALL, algorithms=list(SMALL.algorithms))  # type: ignore[arg-type]
    assert exp == SMALL
    with pytest.raises(ParameterError, match=r"^The 'record_every' parameter of Experiment"):
        dataclasses.replace(SMALL, record_every=0)
    with pytest.raises(ParameterError, match=r"^The 'label' parameter of AlgorithmEntry"):
        AlgorithmEntry(label=" padded", algorithm=DigitalSGD())
    assert [slug(x) for x in ("ZS + RL", "E-RIDER", "***")] == ["zs-rl", "e-rider", "run"]


# --------------------------------------------------------------------------- devices and demo


def test_devices_list_names_every_preset_with_its_source() -> None:
    for args in (["devices"], ["devices", "list"]):
        res = cli(*args)
        assert res.returncode == 0, res.stderr
        for name, preset in PRESETS.items():
            line = next(x for x in res.stdout.splitlines() if x.startswith(name + " "))
            assert preset.source in line


def test_devices_show_prints_the_sp_and_plots(tmp_path: Path) -> None:
    res = cli("devices", "show", "skew_linear", "--out", tmp_path / "sk.png")
    assert "symmetric point (nominal, physical state): 1.05" in res.stdout
    assert 'kind = "skew_linear"' in res.stdout
    if HAS_MPL:
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[-1] == f"Figure in {tmp_path / 'sk.png'}"
        assert (tmp_path / "sk.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert res.returncode == 1
        assert "pulsetrain[plot]" in res.stderr


def test_devices_show_reports_the_readout_sp_spread(tmp_path: Path) -> None:
    res = cli("devices", "show", "rram_hfo2", "--out", tmp_path / "r.pdf")
    assert "read-out = physical - reference): 0" in res.stdout
    # reference_std 0.05: over 1024 elements the sample std is 0.05 within a few percent.
    line = next(x for x in res.stdout.splitlines() if "32x32 tile" in x)
    std = float(line.split("std ")[1].split(",")[0])
    assert abs(std - 0.05) < 5 * 0.05 / np.sqrt(2 * 1024)


def test_demo_still_works() -> None:
    res = cli("demo", "--steps", "20", "--replicas", "4")
    assert res.returncode == 0, res.stderr
    assert "digital SGD" in res.stdout


@pytest.mark.parametrize(
    "path",
    [  # sweep_*.toml are `pulsetrain sweep` configs (tests/test_sweep.py reads them)
        p
        for p in sorted((Path(__file__).parent.parent / "examples" / "configs").glob("*.toml"))
        if not p.name.startswith("sweep_")
    ],
    ids=lambda p: p.name,
)
def test_example_configs_load_and_round_trip(path: Path) -> None:
    """The shipped `pulsetrain run CONFIG` examples are valid experiments (read, not run)."""
    exp = load_experiment(path)
    assert experiment_from_dict(loads_toml(dumps_toml(exp))) == exp
    assert exp.algorithms
