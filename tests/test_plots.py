"""pulsetrain.plots: the figure objects (axes, lines, labels) on the Agg backend.

Skipped only when matplotlib (the 'plot' extra) is absent; the missing-extra error is tested
either way.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from conftest import errorbar_series
from pulsetrain import plots
from pulsetrain.algorithms import AnalogSGD, DigitalSGD, TwoStage
from pulsetrain.errors import MissingExtraError, ParameterError, PulsetrainError
from pulsetrain.problems import LeastSquares

DEVICE = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3)
PROBLEM = LeastSquares(in_size=3, out_size=2, n_samples=8, batch_size=4, noise_std=0.02)
UPDATE = pt.PulseCountUpdate(max_bl=8)


@pytest.fixture(scope="module")
def results() -> dict[str, pt.TrainResult]:
    kw: dict[str, Any] = {"steps": 30, "replicas": 3, "rng": 3, "progress": False}
    return {
        "Digital SGD": pt.run(PROBLEM, DigitalSGD(lr=0.05), **kw),
        "Analog SGD": pt.run(PROBLEM, AnalogSGD(device=DEVICE, update=UPDATE), **kw),
        "ZS + RL": pt.run(PROBLEM, TwoStage(device=DEVICE, update=UPDATE, zs_pulses=20), **kw),
    }


@pytest.fixture
def mpl() -> Any:
    matplotlib = pytest.importorskip(
        "matplotlib", reason="matplotlib (the 'plot' extra, pulsetrain[plot]) is not installed"
    )
    matplotlib.use("Agg")
    return matplotlib


def test_import_pulsetrain_does_not_import_matplotlib() -> None:
    code = "import sys, pulsetrain, pulsetrain.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, results: dict[str, pt.TrainResult]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'pulsetrain\[plot\]'") as info:
        plots.plot_curves(results)
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value, PulsetrainError)
    with pytest.raises(MissingExtraError):
        plots.plot_response(DEVICE)


def test_curves_have_a_line_and_band_per_run(mpl: Any, results: dict[str, pt.TrainResult]) -> None:
    ax = plots.plot_curves(results)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == list(results)
    assert len(ax.collections) == len(results)  # one ± std band each
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "step"
    analog = ax.get_lines()[1]
    res = results["Analog SGD"]
    np.testing.assert_array_equal(analog.get_xdata(orig=False), res.record_steps)
    y = np.asarray(analog.get_ydata(orig=False), dtype=np.float64)
    np.testing.assert_array_equal(y, res.error.mean(axis=0))
    assert ax.get_lines()[0].get_linestyle() == "--"  # digital reference is dashed
    loss = plots.plot_curves(results, metric="loss", log=False, band=False)
    assert loss.get_yscale() == "linear"
    assert len(loss.collections) == 0
    assert "loss" in loss.get_ylabel()


def test_band_is_mean_plus_minus_std(mpl: Any, results: dict[str, pt.TrainResult]) -> None:
    one = {"Analog SGD": results["Analog SGD"]}
    ax = plots.plot_curves(one, log=False)
    verts = np.asarray(ax.collections[0].get_paths()[0].vertices, dtype=np.float64)
    y = results["Analog SGD"].error
    hi = y.mean(axis=0) + y.std(axis=0, ddof=1)
    assert np.isclose(verts[:, 1].max(), hi.max())


def test_error_vs_pulses_draws_digital_as_a_reference(
    mpl: Any, results: dict[str, pt.TrainResult]
) -> None:
    ax = plots.plot_error_vs_pulses(results)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["Digital SGD (no pulses)", "Analog SGD", "ZS + RL"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    zs = ax.get_lines()[2]
    res = results["ZS + RL"]
    total = np.sum([v for v in res.pulses.values()], axis=0).mean(axis=0)
    x = np.asarray(zs.get_xdata(orig=False), dtype=np.float64)
    np.testing.assert_array_equal(x, total[total > 0])
    assert x[0] >= 20 * 6  # starts after the 20 calibration pulses per element


def test_pulse_bars_stack_by_phase(mpl: Any, results: dict[str, pt.TrainResult]) -> None:
    ax = plots.plot_pulses(results)
    containers = [
        c for c in ax.containers if c.get_label() in ("update", "transfer", "calibration")
    ]
    assert [c.get_label() for c in containers] == ["update", "transfer", "calibration"]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(results)
    calib = [bar.get_height() for bar in containers[2]]
    assert calib == [0.0, 0.0, 20 * 6]  # ZS + RL: 20 pulses on each of the 2×3 elements
    update = [bar.get_height() for bar in containers[0]]
    assert update[1] == pytest.approx(float(results["Analog SGD"].total_pulses["update"].mean()))


@pytest.mark.parametrize("name", ["skew_linear", "rram_hfo2", "power_step"])
def test_response_curves_mark_the_sp(mpl: Any, name: str) -> None:
    device = pt.presets.get(name)
    ax = plots.plot_response(device, n_points=101)
    labels = [line.get_label() for line in ax.get_lines()]
    sp = device.symmetric_point()
    assert labels[:4] == ["q+", "q-", "F", "G"]
    assert f"SP = {sp:.4g}" in labels
    q_plus = ax.get_lines()[0]
    w = np.asarray(q_plus.get_xdata(orig=False), dtype=np.float64)
    assert (w[0], w[-1]) == device.bounds()
    np.testing.assert_allclose(
        np.asarray(q_plus.get_ydata(orig=False), dtype=np.float64), device.q_plus(w)
    )
    g = np.asarray(ax.get_lines()[3].get_ydata(orig=False), dtype=np.float64)
    np.testing.assert_allclose(np.interp(sp, w, g), 0.0, atol=1e-2)  # G crosses 0 at the SP


def test_ideal_device_has_no_sp_line(mpl: Any) -> None:
    ax = plots.plot_response(pt.Device(response=pt.Ideal()))
    assert not any(str(line.get_label()).startswith("SP") for line in ax.get_lines())


def test_experiment_and_device_figures(mpl: Any, results: dict[str, pt.TrainResult]) -> None:
    fig = plots.plot_experiment(results, title="t")
    assert len(fig.axes) == 3
    assert fig.get_suptitle() == "t"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(results)
    assert fig.axes[0].get_title(loc="left").startswith("(a)")
    dev = plots.plot_device(pt.presets.ald())
    assert len(dev.axes) == 1
    assert "ALD" in dev.get_suptitle()


def test_plots_reject_bad_input(mpl: Any, results: dict[str, pt.TrainResult]) -> None:
    with pytest.raises(ParameterError, match=r"^The 'results' parameter of plot_curves"):
        plots.plot_curves({})
    with pytest.raises(ParameterError, match=r"^The 'metric' parameter of plot_curves"):
        plots.plot_curves(results, metric="accuracy")
    with pytest.raises(ParameterError, match=r"^The 'device' parameter of plot_response"):
        plots.plot_response("ald")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^The 'n_points' parameter of plot_response"):
        plots.plot_response(DEVICE, n_points=1)


# --------------------------------------------------------------------------- plot_sweep
def _sweep_table() -> dict[str, list[Any]]:
    """Hand-made sweep rows: two labels × lr 0.01/0.1, two seeds (cells), one failed cell."""
    return {
        "label": ["A", "A", "A", "A", "B", "B", "B"],
        "algorithm.lr": [0.01, 0.01, 0.1, 0.1, 0.01, 0.1, 0.1],
        "status": ["ok", "ok", "ok", "ok", "ok", "ok", "failed"],
        "replicas": [2, 1, 2, 1, 1, 1, 1],
        # final values per replica: A@0.01 → 1, 3, 5; A@0.1 → 2, 2, 8; B@0.01 → 4; B@0.1 → 6
        "error_curve": [
            [[9, 1], [9, 3]],
            [[9, 5]],
            [[9, 2], [9, 2]],
            [[9, 8]],
            [[9, 4]],
            [[9, 6]],
            [],
        ],
        "loss_curve": [
            [[1, 1], [1, 1]],
            [[1, 1]],
            [[1, 1], [1, 1]],
            [[1, 1]],
            [[1, 1]],
            [[1, 1]],
            [],
        ],
        "pulses_total": [10.0, 40.0, 20.0, 20.0, 5.0, 7.0, None],
    }


def test_plot_sweep_pools_every_replica_of_every_seed(mpl: Any) -> None:
    ax = plots.plot_sweep(_sweep_table(), x="algorithm.lr")
    lines = {k: c.lines[0] for k, c in errorbar_series(ax).items()}
    assert sorted(lines) == ["A", "B"]
    np.testing.assert_array_equal(lines["A"].get_xdata(orig=False), [0.01, 0.1])
    np.testing.assert_allclose(lines["A"].get_ydata(orig=False), [3.0, 4.0])
    np.testing.assert_allclose(
        lines["B"].get_ydata(orig=False), [4.0, 6.0]
    )  # the failed cell left out
    # The bars: sample std / √n over the pooled replicas, by hand: A@0.01 → 2/√3, A@0.1 → √12/√3.
    bars = errorbar_series(ax)["A"]
    segments = bars.lines[2][0].get_segments()
    half = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments]
    np.testing.assert_allclose(half, [2 / np.sqrt(3), np.sqrt(12) / np.sqrt(3)])
    assert ax.get_xscale() == "linear"  # 0.01 → 0.1 spans less than 20×
    assert ax.get_yscale() == "log"


def test_plot_sweep_other_columns_are_replica_weighted_means(mpl: Any) -> None:
    ax = plots.plot_sweep(_sweep_table(), x="algorithm.lr", y="pulses_total", logy=False)
    ys = {k: c.lines[0].get_ydata(orig=False) for k, c in errorbar_series(ax).items()}
    np.testing.assert_allclose(ys["A"], [(2 * 10 + 40) / 3, 20.0])
    np.testing.assert_allclose(ys["B"], [5.0, 7.0])


def test_plot_sweep_categories_and_one_line(mpl: Any) -> None:
    table = _sweep_table()
    table["algorithm.lr"] = ["low", "low", "high", "high", "low", "high", "high"]
    ax = plots.plot_sweep(table, x="algorithm.lr", hue=None)
    ((label, line),) = [(k, c.lines[0]) for k, c in errorbar_series(ax).items()]
    assert label == "error"
    np.testing.assert_array_equal(line.get_xdata(orig=False), [0.0, 1.0])  # "high", "low" sorted
    np.testing.assert_allclose(
        line.get_ydata(orig=False), [(2 + 2 + 8 + 6) / 4, (1 + 3 + 5 + 4) / 4]
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["high", "low"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"x": "nope"}, "x"),
        ({"x": "algorithm.lr", "hue": "nope"}, "hue"),
        ({"x": "algorithm.lr", "y": "nope"}, "y"),
        ({"x": "algorithm.lr", "y": "label"}, "y"),
    ],
)
def test_plot_sweep_bad_arguments_name_the_parameter(
    mpl: Any, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ParameterError, match=name):
        plots.plot_sweep(_sweep_table(), **kwargs)
    with pytest.raises(ParameterError, match="table"):
        plots.plot_sweep({"a": [1, 2], "b": [1]}, x="a")
