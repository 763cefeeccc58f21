"""Config files that include other files: ``device = {include = "FILE"}`` (issue 20 item 2).

``pulsetrain fit`` writes a device file; an experiment or sweep config names it instead of
pasting it in. Includes resolve relative to the including file, may nest, and are embedded in
the config written as run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import pulsetrain as pt
from pulsetrain.cli import main
from pulsetrain.config import dumps_toml, loads_toml, resolve_includes, to_dict
from pulsetrain.errors import ParameterError
from pulsetrain.experiment import default_experiment, load_experiment
from pulsetrain.sweep import load_sweep

DEVICE = pt.Device(response=pt.SoftBounds(w_max=0.9, w_min=-1.1), dw_min=0.002, dw_min_std=0.1)


def _experiment_with_include(folder: Path, include: str, *, steps: int = 20) -> Path:
    """The default experiment, cut to Analog SGD, its device replaced by an include."""
    data = to_dict(default_experiment())
    entry = next(e for e in data["algorithms"] if e["algorithm"]["kind"] == "analog_sgd")
    entry["algorithm"]["device"] = {"include": include}
    data["algorithms"] = [entry]
    data["steps"], data["replicas"] = steps, 2
    path = folder / "exp.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _analog_sgd_device(exp: pt.experiment.Experiment) -> object:
    return exp.algorithms[0].algorithm.device  # type: ignore[attr-defined]


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_device_file_is_included_relative_to_the_config(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "devices").mkdir()
    text = dumps_toml(DEVICE) if suffix == ".toml" else json.dumps(to_dict(DEVICE))
    (tmp_path / "devices" / f"dev{suffix}").write_text(text, encoding="utf-8")
    cfg = _experiment_with_include(tmp_path, f"devices/dev{suffix}")
    # Read from another working directory: the path is the config file's, not the cwd's.
    cwd = Path.cwd()
    os.chdir(tmp_path / "devices")
    try:
        exp = load_experiment(cfg)
    finally:
        os.chdir(cwd)
    assert _analog_sgd_device(exp) == DEVICE


def test_includes_nest_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    dev = to_dict(DEVICE)
    response = dev.pop("response")
    (tmp_path / "a" / "b" / "response.json").write_text(json.dumps(response), encoding="utf-8")
    dev["response"] = {"include": "b/response.json"}
    (tmp_path / "a" / "dev.json").write_text(json.dumps(dev), encoding="utf-8")
    exp = load_experiment(_experiment_with_include(tmp_path, "a/dev.json"))
    assert _analog_sgd_device(exp) == DEVICE


def test_an_absolute_include_path_is_taken_as_given(tmp_path: Path) -> None:
    dev = tmp_path / "elsewhere" / "dev.toml"
    dev.parent.mkdir()
    dev.write_text(dumps_toml(DEVICE), encoding="utf-8")
    (tmp_path / "cfg").mkdir()
    exp = load_experiment(_experiment_with_include(tmp_path / "cfg", str(dev)))
    assert _analog_sgd_device(exp) == DEVICE


@pytest.mark.parametrize(
    ("setup", "allowed"),
    [
        ("missing", "an existing .toml or .json file"),
        ("yaml", "a .toml or .json file"),
        ("not-toml", "a valid TOML file"),
        ("list", "a file holding one table"),
        ("self", "a file that does not include itself"),
        ("number", "the path of a .toml or .json file"),
    ],
)
def test_bad_includes_name_the_key_and_the_file(tmp_path: Path, setup: str, allowed: str) -> None:
    include: object = "dev.toml"
    if setup == "yaml":
        include = "dev.yaml"
    elif setup == "not-toml":
        (tmp_path / "dev.toml").write_text("kind = = 1\n", encoding="utf-8")
    elif setup == "list":
        include = "dev.json"
        (tmp_path / "dev.json").write_text("[1, 2]", encoding="utf-8")
    elif setup == "self":
        (tmp_path / "dev.toml").write_text('include = "dev.toml"\n', encoding="utf-8")
    elif setup == "number":
        include = 3
    cfg = _experiment_with_include(tmp_path, "placeholder")
    data = json.loads(cfg.read_text(encoding="utf-8"))
    data["algorithms"][0]["algorithm"]["device"] = {"include": include}
    cfg.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ParameterError) as info:
        load_experiment(cfg)
    message = str(info.value)
    assert "'algorithms[0].algorithm.device.include'" in message
    assert allowed in message
    # The CLI reports it as a usage error (exit code 2) before any work.
    assert main(["run", str(cfg), "--no-progress", "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_include_chains_are_bounded(tmp_path: Path) -> None:
    # A chain of 20 distinct files, each including the next: refused past 16 levels.
    for k in range(20):
        (tmp_path / f"f{k}.toml").write_text(f'include = "f{k + 1}.toml"\n', encoding="utf-8")
    (tmp_path / "f20.toml").write_text(dumps_toml(DEVICE), encoding="utf-8")
    with pytest.raises(ParameterError, match="nested at most 16 files deep"):
        resolve_includes({"device": {"include": "f0.toml"}}, tmp_path)
    # Sixteen levels are fine.
    got = resolve_includes({"device": {"include": "f5.toml"}}, tmp_path)
    assert got == {"device": to_dict_plain(DEVICE)}


def to_dict_plain(obj: object) -> object:
    """The plain data a TOML file of ``obj`` reads back as."""
    return loads_toml(dumps_toml(obj))


def test_a_table_with_other_keys_beside_include_is_left_alone(tmp_path: Path) -> None:
    data = {"a": {"include": "x.toml", "other": 1}, "b": [{"c": 2}]}
    assert resolve_includes(data, tmp_path) == data


def test_a_sweep_config_resolves_includes_too(tmp_path: Path) -> None:
    (tmp_path / "dev.toml").write_text(dumps_toml(DEVICE), encoding="utf-8")
    base = to_dict(default_experiment())
    entry = next(e for e in base["algorithms"] if e["algorithm"]["kind"] == "analog_sgd")
    entry["algorithm"]["device"] = {"include": "dev.toml"}
    base["algorithms"] = [entry]
    sweep = {
        "kind": "sweep",
        "name": "inc",
        "base": base,
        "grid": {"algorithm.lr": [0.01, 0.02]},
    }
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(sweep), encoding="utf-8")
    loaded = load_sweep(path)
    assert loaded.base.algorithms[0].algorithm.device == DEVICE  # type: ignore[attr-defined]


def test_fit_then_run_with_the_fitted_device_included(tmp_path: Path) -> None:
    # End to end: `pulsetrain fit` writes the device file that the run config includes; the
    # config written as run embeds it, and rerunning that config gives the same table.
    pytest.importorskip("scipy", reason="needs the 'fit' extra (scipy)")
    from pulsetrain.fitting import load_device, save_traces, simulate_traces

    truth = pt.Device(response=pt.ALD(tau=0.8, sp=0.1), dw_min=0.01, dw_min_std=0.2)
    traces = simulate_traces(truth, n_devices=3, n_pulses=80, n_cycles=1)
    csv_path = save_traces(traces, tmp_path / "traces.csv")
    fitted = tmp_path / "fit" / "fitted.toml"
    assert main(["fit", str(csv_path), "--family", "ald", "--out", str(fitted)]) == 0
    cfg = _experiment_with_include(tmp_path, "fit/fitted.toml")
    assert _analog_sgd_device(load_experiment(cfg)) == load_device(fitted)
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--no-progress", "--out", str(out)]) == 0
    written = (out / "config.toml").read_text(encoding="utf-8")
    assert "include" not in written
    assert _analog_sgd_device(load_experiment(out / "config.toml")) == load_device(fitted)
    fitted.unlink()  # the written config no longer needs the device file
    again = tmp_path / "rerun"
    assert main(["run", str(out / "config.toml"), "--no-progress", "--out", str(again)]) == 0

    def table(folder: Path) -> list[str]:
        # Everything but the wall-time column.
        rows = [r.split(",") for r in (folder / "table.csv").read_text().splitlines()]
        drop = rows[0].index("wall_time") if "wall_time" in rows[0] else None
        return [",".join(v for j, v in enumerate(r) if j != drop) for r in rows]

    assert table(again) == table(out)
