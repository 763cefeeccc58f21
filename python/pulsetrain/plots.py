"""Paper-ready matplotlib figures of results and devices (needs the ``plot`` extra).

matplotlib is imported inside the functions, so ``import pulsetrain`` never imports it; without
it every function raises :class:`MissingExtraError` naming ``pulsetrain[plot]``. Figures are
built as :class:`matplotlib.figure.Figure` objects without pyplot (no global state, no GUI
backend needed); pass ``ax=`` to draw into your own axes instead.

* :func:`plot_curves`: error or loss against steps, mean ± std band over replicas;
* :func:`plot_error_vs_pulses`: mean error against mean cumulative pulses (all phases);
* :func:`plot_pulses`: pulses per replica by phase (update / transfer / calibration), stacked;
* :func:`plot_response`: a device's q₊, q₋, F, G over its range with the symmetric point;
* :func:`plot_sweep`: a metric of a sweep table (``pulsetrain.sweep.load``) against a swept
  value, one line per group, mean ± standard error over every replica of every seed;
* :func:`plot_experiment` and :func:`plot_device`: the figures ``pulsetrain run`` and
  ``pulsetrain devices show`` save.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from pulsetrain._validation import parameter_error
from pulsetrain.devices import Device, Ideal
from pulsetrain.errors import MissingExtraError
from pulsetrain.results import TrainResult
from pulsetrain.updates import Phase

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_curves",
    "plot_device",
    "plot_error_vs_pulses",
    "plot_experiment",
    "plot_pulses",
    "plot_response",
    "plot_sweep",
]

PHASE_COLOURS = {"update": "#4c72b0", "transfer": "#dd8452", "calibration": "#55a868"}
_METRICS = ("error", "loss")


def _matplotlib() -> Any:
    """Import matplotlib, or raise :class:`MissingExtraError` naming the extra."""
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError:
        raise MissingExtraError("plot", "matplotlib", "Plotting") from None
    return matplotlib


def _new_figure(figsize: tuple[float, float]) -> Figure:
    mpl = _matplotlib()
    return cast("Figure", mpl.figure.Figure(figsize=figsize, layout="constrained"))


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 3.6)) -> Axes:
    _matplotlib()
    if ax is not None:
        return ax
    return _new_figure(figsize).add_subplot()


def _colours(labels: list[str]) -> dict[str, Any]:
    mpl = _matplotlib()
    cmap = mpl.colormaps["tab10"]
    out: dict[str, Any] = {}
    k = 0
    for label in labels:
        if label.lower().startswith("digital"):
            out[label] = "black"
        else:
            out[label] = cmap(k % 10)
            k += 1
    return out


def _check_results(results: object, owner: str) -> dict[str, TrainResult]:
    if (
        not isinstance(results, Mapping)
        or not results
        or not all(isinstance(k, str) and isinstance(v, TrainResult) for k, v in results.items())
    ):
        raise parameter_error(
            "results", owner, "a non-empty dict of label -> TrainResult", type(results).__name__
        )
    return dict(results)


def plot_curves(
    results: Mapping[str, TrainResult],
    *,
    metric: str = "error",
    ax: Axes | None = None,
    log: bool = True,
    band: bool = True,
) -> Axes:
    """Draw a metric against steps for each run: the mean over replicas with a ± std band.

    Parameters
    ----------
    results : dict of str -> TrainResult
        Runs by label (e.g. :attr:`ExperimentResult.results`).
    metric : {"error", "loss"}, optional
        ``error`` is ‖W̄ − W*‖²; ``loss`` the objective.
    ax : matplotlib Axes or None, optional
        Where to draw; None makes a new figure.
    log : bool, optional
        Log y axis (default). The band's lower edge is then kept above a tenth of the mean, so a
        std larger than the mean does not run off the axis.
    band : bool, optional
        Shade mean ± std over replicas (sample std; none for a single replica).

    Returns
    -------
    matplotlib Axes
        The axes, with one line (and band) per run, labelled for a legend.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``results`` or ``metric``.
    """
    runs = _check_results(results, "plot_curves")
    if metric not in _METRICS:
        raise parameter_error("metric", "plot_curves", "one of 'error', 'loss'", metric)
    ax = _new_axes(ax)
    colours = _colours(list(runs))
    for label, res in runs.items():
        y = np.asarray(res.error if metric == "error" else res.loss)
        mean = y.mean(axis=0)
        x = np.asarray(res.record_steps)
        dashed = label.lower().startswith("digital")
        ax.plot(x, mean, label=label, color=colours[label], lw=1.6, ls="--" if dashed else "-")
        if band and y.shape[0] > 1:
            std = y.std(axis=0, ddof=1)
            lo = np.maximum(mean - std, mean / 10.0) if log else mean - std
            ax.fill_between(x, lo, mean + std, color=colours[label], alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖W̄ − W*‖²" if metric == "error" else "loss f(W̄)")
    ax.grid(visible=True, which="major", alpha=0.3)
    return ax


def plot_error_vs_pulses(
    results: Mapping[str, TrainResult], *, ax: Axes | None = None, metric: str = "error"
) -> Axes:
    """Draw the mean error against the mean cumulative pulses (every phase) of each run.

    Runs that fire no pulses (Digital SGD) are drawn as a dashed horizontal line at their final
    value. Calibration pulses fired before training appear as the curve's starting offset.

    Parameters
    ----------
    results : dict of str -> TrainResult
        Runs by label.
    ax : matplotlib Axes or None, optional
        Where to draw; None makes a new figure.
    metric : {"error", "loss"}, optional
        The y quantity.

    Returns
    -------
    matplotlib Axes
        Log-log axes with one line per run.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``results`` or ``metric``.
    """
    runs = _check_results(results, "plot_error_vs_pulses")
    if metric not in _METRICS:
        raise parameter_error("metric", "plot_error_vs_pulses", "one of 'error', 'loss'", metric)
    ax = _new_axes(ax)
    colours = _colours(list(runs))
    for label, res in runs.items():
        y = np.asarray(res.error if metric == "error" else res.loss).mean(axis=0)
        pulses = sum((np.asarray(v) for v in res.pulses.values()), np.zeros_like(y)).mean(axis=0)
        if not np.any(pulses > 0):
            ax.axhline(y[-1], color=colours[label], ls="--", lw=1.2, label=f"{label} (no pulses)")
            continue
        keep = pulses > 0
        ax.plot(pulses[keep], y[keep], color=colours[label], lw=1.6, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pulses per replica (cumulative, all phases)")
    ax.set_ylabel("‖W̄ − W*‖²" if metric == "error" else "loss f(W̄)")
    ax.grid(visible=True, which="major", alpha=0.3)
    return ax


def plot_pulses(results: Mapping[str, TrainResult], *, ax: Axes | None = None) -> Axes:
    """Draw the pulses per replica of each run as bars stacked by phase, with ± std whiskers.

    Parameters
    ----------
    results : dict of str -> TrainResult
        Runs by label.
    ax : matplotlib Axes or None, optional
        Where to draw; None makes a new figure.

    Returns
    -------
    matplotlib Axes
        One bar per run; one labelled bar container per phase.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``results``.
    """
    runs = _check_results(results, "plot_pulses")
    ax = _new_axes(ax)
    labels = list(runs)
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for phase in (p.value for p in Phase):
        h = np.array([float(np.mean(r.total_pulses.get(phase, 0.0))) for r in runs.values()])
        ax.bar(
            x,
            h,
            bottom=bottom,
            color=PHASE_COLOURS.get(phase),
            label=phase,
            width=0.7,
        )
        bottom = bottom + h
    totals = [sum(np.asarray(v) for v in r.total_pulses.values()) for r in runs.values()]
    std = np.array([float(np.std(t, ddof=1)) if np.size(t) > 1 else 0.0 for t in totals])
    ax.errorbar(x, bottom, yerr=std, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.set_xticks(x, labels, rotation=35, ha="right")
    ax.set_ylabel("pulses per replica")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.grid(visible=True, axis="y", alpha=0.3)
    return ax


def plot_response(
    device: Device, *, ax: Axes | None = None, n_points: int = 401, mark_sp: bool = True
) -> Axes:
    """Draw a device's nominal q₊, q₋, F = (q₋ + q₊)/2 and G = (q₋ − q₊)/2, with its SP.

    The x axis is the physical state over the nominal bounds (no device-to-device spread). The
    symmetric point, where G = 0 (shared/theory.md §1.3), is a dotted vertical line labelled with
    its value (an ideal device has none: every point is symmetric).

    Parameters
    ----------
    device : Device
        The device (e.g. a preset from :mod:`pulsetrain.presets`).
    ax : matplotlib Axes or None, optional
        Where to draw; None makes a new figure.
    n_points : int, optional
        Points on the curve, at least 2.
    mark_sp : bool, optional
        Mark the symmetric point.

    Returns
    -------
    matplotlib Axes
        Lines labelled ``q+``, ``q-``, ``F``, ``G`` (and ``SP = …``).

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``device`` or ``n_points``.
    """
    if not isinstance(device, Device):
        raise parameter_error("device", "plot_response", "a Device", device)
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 2:
        raise parameter_error("n_points", "plot_response", "an int of at least 2", n_points)
    ax = _new_axes(ax)
    lo, hi = device.bounds()
    w = np.linspace(lo, hi, n_points)
    ax.plot(w, device.q_plus(w), label="q+", color="#c44e52", lw=1.6)
    ax.plot(w, device.q_minus(w), label="q-", color="#4c72b0", lw=1.6)
    ax.plot(w, device.F(w), label="F", color="#55a868", lw=1.4, ls="--")
    ax.plot(w, device.G(w), label="G", color="#8172b3", lw=1.4, ls="-.")
    ax.axhline(0.0, color="0.6", lw=0.8)
    sp = device.symmetric_point()
    if mark_sp and math.isfinite(sp) and not isinstance(device.response, Ideal):
        ax.axvline(sp, color="black", ls=":", lw=1.2, label=f"SP = {sp:.4g}")
        ax.plot([sp], [0.0], "o", color="black", ms=4)
    ax.set_xlabel("physical state w")
    ax.set_ylabel("response (units of Δw_min)")
    ax.set_xlim(lo, hi)
    ax.grid(visible=True, alpha=0.3)
    return ax


def plot_experiment(results: Mapping[str, TrainResult], *, title: str | None = None) -> Figure:
    """Draw the three-panel figure of an experiment (what ``pulsetrain run`` saves).

    Panels: (a) error against steps, mean ± std over replicas (:func:`plot_curves`); (b) error
    against cumulative pulses (:func:`plot_error_vs_pulses`); (c) pulses by phase
    (:func:`plot_pulses`). One legend, below the panels.

    Parameters
    ----------
    results : dict of str -> TrainResult
        Runs by label, in legend order.
    title : str or None, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (13 × 4.6 in); save it with ``fig.savefig("figure.png", dpi=150)``.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``results``.
    """
    runs = _check_results(results, "plot_experiment")
    fig = _new_figure((13.0, 4.8))
    ax_curves, ax_pulses, ax_bars = fig.subplots(1, 3, width_ratios=(1.15, 1.0, 0.95))
    plot_curves(runs, ax=ax_curves)
    ax_curves.set_title("(a) error during training", loc="left", fontsize=10)
    plot_error_vs_pulses(runs, ax=ax_pulses)
    ax_pulses.set_title("(b) error against pulses fired", loc="left", fontsize=10)
    plot_pulses(runs, ax=ax_bars)
    ax_bars.set_title("(c) pulses by phase", loc="left", fontsize=10)
    ax_bars.legend(fontsize=8, loc="upper left")
    handles, labels = ax_curves.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 8), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_device(device: Device, *, title: str | None = None) -> Figure:
    """Draw one device's response curves with its symmetric point (``pulsetrain devices show``).

    Parameters
    ----------
    device : Device
        The device.
    title : str or None, optional
        Figure title; None uses the response family and Δw_min.

    Returns
    -------
    matplotlib.figure.Figure
        A one-panel figure with a legend.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad ``device``.
    """
    fig = _new_figure((5.5, 3.8))
    ax = fig.add_subplot()
    plot_response(device, ax=ax)
    ax.legend(fontsize=8)
    if title is None:
        title = f"{type(device.response).__name__}, Δw_min = {device.dw_min:g}"
    # Long titles (a preset's name and source) wrap instead of running off the figure.
    fig.suptitle(textwrap.fill(title, width=60), fontsize=10)
    return fig


def _sweep_columns(table: object) -> dict[str, list[Any]]:
    """Return the columns of a sweep table (pyarrow Table, pandas DataFrame or dict of lists)."""
    data: object
    if hasattr(table, "to_pydict"):
        data = table.to_pydict()
    elif hasattr(table, "to_dict") and hasattr(table, "columns"):
        data = table.to_dict(orient="list")
    else:
        data = table
    if not isinstance(data, Mapping) or not all(isinstance(k, str) for k in data):
        raise parameter_error(
            "table",
            "plot_sweep",
            "a sweep table (pulsetrain.sweep.load) or a dict of columns",
            table,
        )
    cols = {k: list(v) for k, v in data.items()}
    lengths = {len(v) for v in cols.values()}
    if len(lengths) > 1:
        raise parameter_error("table", "plot_sweep", "columns of equal length", sorted(lengths))
    return cols


def _sort_key(value: object) -> tuple[int, float, str]:
    if isinstance(value, bool) or value is None:
        return (1, 0.0, str(value))
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def plot_sweep(
    table: object,
    *,
    x: str,
    y: str = "error",
    hue: str | None = "label",
    ax: Axes | None = None,
    logx: bool | None = None,
    logy: bool = True,
) -> Axes:
    """Draw a metric of a sweep against one swept value, one line per group.

    Rows whose ``status`` is not ``"ok"`` are left out. For ``y`` = ``"error"`` or ``"loss"`` the
    points are the final value of every replica of every cell at that (group, x), seeds and
    replica ranges pooled: the line is their mean, the bars ± one standard error (sample std /
    √n). Any other numeric column (e.g. ``pulses_total``, ``sp_error_mean``) is averaged over the
    cells weighted by their replicas, without bars.

    Parameters
    ----------
    table : pyarrow.Table, pandas.DataFrame or dict of lists
        A sweep table, e.g. ``pulsetrain.sweep.load(DIR)``.
    x : str
        The column on the x axis, e.g. ``"algorithm.lr"``. Numbers are placed by value, anything
        else by category in sorted order.
    y : str, optional
        ``"error"`` (default: ‖W̄ − W*‖² at the last step), ``"loss"``, or a numeric column.
    hue : str or None, optional
        The column that separates the lines (default ``"label"``, the algorithm entry); None
        draws one line.
    ax : matplotlib Axes or None, optional
        Where to draw; None makes a new figure.
    logx : bool or None, optional
        Log x axis; None chooses it for positive numbers spanning a factor of 20 or more.
    logy : bool, optional
        Log y axis (default).

    Returns
    -------
    matplotlib Axes
        The axes, one labelled line per group.

    Raises
    ------
    MissingExtraError
        If matplotlib is not installed.
    ParameterError
        For a bad table, a column it lacks or a non-numeric ``y``.
    """
    cols = _sweep_columns(table)
    for name, value in (("x", x), ("hue", hue)):
        if value is not None and value not in cols:
            raise parameter_error(
                name, "plot_sweep", f"a column of the table {sorted(cols)}", value
            )
    curve = {"error": "error_curve", "loss": "loss_curve"}.get(y)
    if curve is None and y not in cols:
        raise parameter_error(
            "y", "plot_sweep", f"'error', 'loss' or a numeric column {sorted(cols)}", y
        )
    needed = [curve] if curve else [y, "replicas"]
    for name in needed:
        if name not in cols:
            raise parameter_error(
                "table", "plot_sweep", f"a sweep table with a {name!r} column", sorted(cols)
            )
    n_rows = len(cols[x])
    ok = [s == "ok" for s in cols.get("status", ["ok"] * n_rows)]
    points: dict[object, dict[object, list[tuple[float, float]]]] = {}
    for i in range(n_rows):
        if not ok[i]:
            continue
        group = cols[hue][i] if hue is not None else y
        at = points.setdefault(group, {}).setdefault(cols[x][i], [])
        if curve is not None:
            per_replica = cols[curve][i]
            at.extend((float(r[-1]), 1.0) for r in per_replica if r)
        else:
            value = cols[y][i]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise parameter_error("y", "plot_sweep", "a numeric column", f"{y} = {value!r}")
            at.append((float(value), float(cols["replicas"][i])))
    if not points:
        raise parameter_error("table", "plot_sweep", "at least one row with status 'ok'", n_rows)
    xs_all = sorted({v for g in points.values() for v in g}, key=_sort_key)
    numeric = all(_sort_key(v)[0] == 0 for v in xs_all)
    position = {v: float(cast("float", v)) if numeric else float(k) for k, v in enumerate(xs_all)}
    ax = _new_axes(ax)
    colours = _colours([str(g) for g in points])
    for group in sorted(points, key=_sort_key):
        by_x = points[group]
        xv = sorted(by_x, key=_sort_key)
        pos = np.array([position[v] for v in xv])
        mean, err = [], []
        for v in xv:
            vals = np.array([p[0] for p in by_x[v]])
            weights = np.array([p[1] for p in by_x[v]])
            mean.append(float(np.average(vals, weights=weights)))
            if curve is not None and vals.size > 1:
                err.append(float(vals.std(ddof=1) / math.sqrt(vals.size)))
            else:
                err.append(0.0)
        ax.errorbar(
            pos, mean, yerr=err if curve is not None else None, label=str(group),
            color=colours[str(group)], marker="o", ms=4, lw=1.6, capsize=3,
        )  # fmt: skip
    if logx is None:
        lo, hi = (min(position.values()), max(position.values()))
        logx = numeric and lo > 0 and hi / lo >= 20.0
    if logx:
        ax.set_xscale("log")
    if not numeric:
        ax.set_xticks([position[v] for v in xs_all], [str(v) for v in xs_all])
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel({"error": "final ‖W̄ − W*‖²", "loss": "final loss f(W̄)"}.get(y, y))
    ax.grid(visible=True, which="major", alpha=0.3)
    return ax
