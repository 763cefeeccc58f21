"""Fit device models to measured up/down pulse traces (``pulsetrain fit``; needs the ``fit`` extra).

Trace format
------------
A CSV file with a header and one row per pulse per device::

    device,pulse,direction,w
    d0,0,0,0.0012
    d0,1,1,0.0113
    d0,2,1,0.0209
    ...

``device``
    Any label (text); rows of one device may be interleaved with other devices' rows.
``pulse``
    Integer index of the pulse within its device, starting at 1 and increasing by 1 (rows may
    come in any order; gaps or repeats are errors). An optional row ``pulse = 0`` with
    ``direction = 0`` gives the state read before the first pulse; without it, the first
    pulse's step is unknown and only its end state is used.
``direction``
    ``+1`` (potentiation, up) or ``-1`` (depression, down); ``0`` only on the ``pulse = 0`` row.
``w``
    The state read after the pulse, in weight units, or in conductance units mapped to
    weights by ``w = -1 + 2 (g - g_min)/(g_max - g_min)`` when ``g_min``/``g_max`` are given
    (``--g-min``/``--g-max`` of ``pulsetrain fit``).

The usual measurement protocol (alternating blocks of ``n`` up then ``n`` down pulses on several
devices) is what :func:`simulate_traces` writes; any sequence of ±1 pulses can be fitted.

Model and method
----------------
A pulse of sign s on element e moves it by ``s·a_s,e·(q_s(w) + noise)`` and clips it to the
element's bounds (shared/theory.md §1.1), with ``a_+,e = dw_min(g_e + r_e)`` and
``a_-,e = dw_min(g_e - r_e)``. :func:`fit` estimates, by :func:`scipy.optimize.least_squares`
on the observed steps ``w_after - w_before``:

* the family's shape parameters (shared by all devices, e.g. ``sp``, ``gamma_res``) and either
  shared bounds, or one pair of bounds per device (``bound_spread``);
* per device, the up and down step sizes ``a_±,e``;
* the cycle-to-cycle noise ``sigma_c`` by maximum likelihood, additive (step sd ``a_s sigma_c``)
  or multiplicative (``a_s q_s sigma_c``); each mode is fitted by weighted least squares with
  these sds as weights and the mode of higher likelihood is kept (unless ``c2c_mode`` is given);
* the device-to-device spreads by moments of the per-device estimates minus their estimation
  variance: ``dw_min_dtod`` (gain g), ``up_down_dtod`` (imbalance r), ``w_max_dtod`` and
  ``w_min_dtod`` (relative bound spread about the family's shape origin, the SP for linear
  families and 0 otherwise).

Steps that end on a device's extreme observed state (clipped) are left out, and so are steps
whose fitted mean ± 3 noise sds could reach it (the clipping would bias them).

Standard errors: of shared parameters, from the Jacobian (``s² (JᵀJ)⁻¹`` of the weighted
residuals, delta method for derived ones); of quantities that vary from device to device
(``dw_min``, SkewLinear's ``c_lin``, SoftBounds' slopes, bounds with ``bound_spread``), the
spread of the per-device values over the square root of the number of devices, since the
nominal value is their population mean.

Goodness of fit: R² and RMSE of the step magnitudes, the reduced χ² of the weighted residuals
against a model-free noise level (half the mean square of successive step differences,
von Neumann), the log-likelihood and AIC (to rank families, :func:`fit_all`).

:func:`fit_piecewise` fits the non-parametric :class:`pulsetrain.devices.Piecewise` device:
``q_±`` on N equally spaced nodes, linear in the node values, solved by linear least squares
on the hat-function basis (a binned mean step that respects the interpolation).

Some families describe the same per-device curves: with per-device bounds, ALD equals
LinearStep and SkewLinear equals SoftBounds (they differ only in the nominal symmetry of the
bounds), so they tie; :func:`fit_all` breaks ties by the smaller number of parameters.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import parameter_error, shape_error
from pulsetrain.config import dumps_json, dumps_toml, loads_json, loads_toml
from pulsetrain.devices import (
    ALD,
    RESPONSE_FAMILIES,
    C2CMode,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    Piecewise,
    Power,
    PowerStep,
    SkewLinear,
    SoftBounds,
    spec_q_minus,
    spec_q_plus,
)
from pulsetrain.devices._base import family_spec
from pulsetrain.errors import MissingExtraError, ParameterError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FAMILIES",
    "FitResult",
    "Traces",
    "fit",
    "fit_all",
    "fit_piecewise",
    "format_table",
    "load_device",
    "load_traces",
    "plot_fit",
    "save_traces",
    "simulate_traces",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TRACE_COLUMNS: Final = ("device", "pulse", "direction", "w")
"""The required columns of a trace CSV, in the order :func:`save_traces` writes them."""

FAMILIES: Final[tuple[str, ...]] = (
    *(k for k in RESPONSE_FAMILIES if k != "piecewise"),
    "piecewise",
)
"""Every family :func:`fit` accepts: the registered response families and ``piecewise``."""

_OWNER: Final = "pulsetrain.fitting"
_GUARD: Final = 1.5
_Q_FLOOR: Final = 0.02


# ------------------------------------------------------------------------------------ traces
@dataclass(frozen=True, eq=False)
class Traces:
    """Pulse traces of several devices (see the module docstring for the CSV format).

    Parameters
    ----------
    names : tuple of str
        Device labels.
    states : tuple of ndarray
        Per device, the states ``w_0, w_1, …, w_n``: the state before the first pulse, then the
        state after each pulse (weight units).
    directions : tuple of ndarray
        Per device, the signs ``±1`` of the n pulses.
    """

    names: tuple[str, ...]
    states: tuple[FloatArray, ...]
    directions: tuple[IntArray, ...]

    def __post_init__(self) -> None:
        """Check that the three tuples match and each device has at least one step."""
        if not (len(self.names) == len(self.states) == len(self.directions)) or not self.names:
            raise parameter_error(
                "traces", "Traces", "one or more devices with names, states and directions", None
            )
        for name, w, d in zip(self.names, self.states, self.directions, strict=True):
            if w.ndim != 1 or d.ndim != 1 or w.size != d.size + 1 or d.size < 1:
                raise shape_error(
                    "states", "Traces", "n + 1 states for n >= 1 pulses", f"device {name!r}"
                )
            if not np.all(np.isfinite(w)):
                raise parameter_error("w", "Traces", "finite", f"device {name!r}")
            if not np.all(np.abs(d) == 1):
                raise parameter_error("direction", "Traces", "+1 or -1", f"device {name!r}")

    @property
    def n_devices(self) -> int:
        """Number of devices."""
        return len(self.names)

    @property
    def n_pulses(self) -> int:
        """Total number of pulses with a known step (over all devices)."""
        return sum(int(d.size) for d in self.directions)

    def steps(self) -> tuple[IntArray, FloatArray, FloatArray, IntArray]:
        """Return every step, stacked over devices.

        Returns
        -------
        tuple of ndarray
            ``(device index, w_before, w_after, direction)``, one entry per pulse.
        """
        dev = np.concatenate([np.full(d.size, k, np.int64) for k, d in enumerate(self.directions)])
        before = np.concatenate([w[:-1] for w in self.states])
        after = np.concatenate([w[1:] for w in self.states])
        sign = np.concatenate(self.directions).astype(np.int64)
        return dev, before, after, sign


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise parameter_error("TRACES", _OWNER, f"a readable CSV file ({exc})", str(path)) from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise shape_error("TRACES", _OWNER, "a CSV file with a header row", "an empty file")
    header = [c.strip().lower() for c in rows[0]]
    missing = [c for c in TRACE_COLUMNS if c not in header]
    if missing:
        raise shape_error(
            missing[0], _OWNER, f"a column of the CSV header {TRACE_COLUMNS}", f"header {header}"
        )
    return header, rows[1:]


def load_traces(
    path: str | Path, *, g_min: float | None = None, g_max: float | None = None
) -> Traces:
    """Read a trace CSV (format in the module docstring).

    Parameters
    ----------
    path : str or pathlib.Path
        The CSV file.
    g_min, g_max : float, optional
        Conductance range mapped to weights ``[-1, 1]``; both or neither.

    Returns
    -------
    Traces
        The devices in order of first appearance.

    Raises
    ------
    ShapeError
        A missing column, a short row, or a device whose pulse indices are not 1, 2, …, n.
    ParameterError
        A value that is not a number, a direction other than ±1 (0 on pulse 0), a bad
        ``g_min``/``g_max``, or an unreadable file; the message names the column and the row.
    """
    if (g_min is None) != (g_max is None):
        raise parameter_error("g_max", _OWNER, "given together with g_min", g_max)
    if g_min is not None and g_max is not None:
        if not (math.isfinite(g_min) and math.isfinite(g_max) and g_max > g_min):
            raise parameter_error("g_max", _OWNER, f"finite and greater than g_min={g_min}", g_max)
    p = Path(path)
    if not p.is_file():
        raise parameter_error("TRACES", _OWNER, "an existing file", str(p))
    header, rows = _read_rows(p)
    col = {name: header.index(name) for name in TRACE_COLUMNS}
    per: dict[str, list[tuple[int, int, float]]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) < len(header):
            raise shape_error("row", _OWNER, f"{len(header)} fields", f"{len(row)} on line {line}")
        label = row[col["device"]].strip()
        try:
            pulse = int(row[col["pulse"]])
        except ValueError:
            raise parameter_error(
                "pulse", _OWNER, f"an integer >= 0 (line {line})", row[col["pulse"]]
            ) from None
        try:
            d_value = float(row[col["direction"]])
        except ValueError:
            d_value = math.nan
        if d_value not in (-1.0, 0.0, 1.0):
            raise parameter_error(
                "direction", _OWNER, f"+1 or -1 (line {line})", row[col["direction"]]
            )
        direction = int(d_value)
        try:
            w = float(row[col["w"]])
        except ValueError:
            w = math.nan
        if not math.isfinite(w):
            raise parameter_error("w", _OWNER, f"a finite number (line {line})", row[col["w"]])
        if pulse < 0 or (direction == 0) != (pulse == 0):
            raise parameter_error(
                "direction" if pulse >= 0 else "pulse",
                _OWNER,
                f"0 exactly on the pulse-0 row, which holds the initial state (line {line})",
                f"pulse {pulse}, direction {direction}",
            )
        per.setdefault(label, []).append((pulse, direction, w))
    if not per:
        raise shape_error("TRACES", _OWNER, "at least one data row", "only a header")
    names, states, dirs = [], [], []
    for label, items in per.items():
        items.sort()
        idx = np.array([i for i, _, _ in items])
        start = int(idx[0])
        if start not in (0, 1) or not np.array_equal(idx, np.arange(start, start + idx.size)):
            raise shape_error(
                "pulse",
                _OWNER,
                "consecutive indices 1, 2, …, n (after an optional 0) per device",
                f"device {label!r}: indices {idx[:8].tolist()}…",
            )
        w_arr = np.array([x for _, _, x in items], dtype=np.float64)
        d = np.array([s for _, s, _ in items], dtype=np.int64)
        # Pulse 0 is the initial read; without it the first pulse's step is unknown. Either way
        # the first row's direction is not a step's.
        d = d[1:]
        if d.size < 1:
            raise shape_error("pulse", _OWNER, "at least two rows per device", f"device {label!r}")
        if g_min is not None and g_max is not None:
            w_arr = -1.0 + 2.0 * (w_arr - g_min) / (g_max - g_min)
        names.append(label)
        states.append(w_arr)
        dirs.append(d)
    return Traces(tuple(names), tuple(states), tuple(dirs))


def save_traces(traces: Traces, path: str | Path) -> Path:
    """Write traces as CSV (with the pulse-0 row of the initial state).

    Parameters
    ----------
    traces : Traces
        The traces.
    path : str or pathlib.Path
        The file to write; its folder is created.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(TRACE_COLUMNS)
        for name, w, d in zip(traces.names, traces.states, traces.directions, strict=True):
            out.writerow((name, 0, 0, repr(float(w[0]))))
            for k in range(d.size):
                out.writerow((name, k + 1, int(d[k]), repr(float(w[k + 1]))))
    return p


def protocol(n_pulses: int, n_cycles: int) -> IntArray:
    """Return the usual protocol: ``n_cycles`` times ``n_pulses`` up then ``n_pulses`` down.

    Parameters
    ----------
    n_pulses : int
        Pulses per block, at least 1.
    n_cycles : int
        Up/down cycles, at least 1.

    Returns
    -------
    ndarray of int64
        The ±1 signs, length ``2 n_pulses n_cycles``.
    """
    for name, value in (("n_pulses", n_pulses), ("n_cycles", n_cycles)):
        if not isinstance(value, int) or value < 1:
            raise parameter_error(name, "protocol", "an int >= 1", value)
    block = np.concatenate([np.ones(n_pulses, np.int64), -np.ones(n_pulses, np.int64)])
    return np.tile(block, n_cycles)


def simulate_traces(
    device: Device,
    *,
    n_devices: int = 8,
    directions: npt.ArrayLike | None = None,
    n_pulses: int = 100,
    n_cycles: int = 3,
    w0: float | None = None,
    rng: int = 0,
    backend: str | None = None,
) -> Traces:
    """Fire a pulse protocol at ``n_devices`` elements of a tile and record their states.

    Parameters
    ----------
    device : Device
        The device (with its noise and device-to-device spread).
    n_devices : int, optional
        Elements (one row of a tile). Default 8.
    directions : array_like of ±1, optional
        The pulse signs; default :func:`protocol` ``(n_pulses, n_cycles)``.
    n_pulses, n_cycles : int, optional
        The default protocol's block length and cycles.
    w0 : float, optional
        Initial physical state (clipped to each element's bounds); default the tile's initial
        state (its reference).
    rng : int, optional
        Seed of the tile. Default 0.
    backend : str, optional
        ``"rust"`` or ``"twin"`` (same numbers); default Rust, or the twin for a family the
        built Rust core does not know.

    Returns
    -------
    Traces
        Devices ``d0``, ``d1``, …, states in physical (conductance) weight units.
    """
    from pulsetrain.tile import AnalogTile

    if not isinstance(n_devices, int) or n_devices < 1:
        raise parameter_error("n_devices", "simulate_traces", "an int >= 1", n_devices)
    signs = protocol(n_pulses, n_cycles) if directions is None else np.asarray(directions)
    if signs.ndim != 1 or signs.size < 1 or not np.all(np.abs(signs) == 1):
        raise parameter_error("directions", "simulate_traces", "a sequence of +1/-1", directions)
    if backend is None:
        try:
            tile = AnalogTile(1, n_devices, device, rng=rng, n_threads=1)
        except ParameterError:  # e.g. a core built before the family existed
            tile = AnalogTile(1, n_devices, device, rng=rng, n_threads=1, backend="twin")
    else:
        tile = AnalogTile(1, n_devices, device, rng=rng, n_threads=1, backend=backend)
    if w0 is not None:
        tile.set_physical_weights(np.full((1, n_devices), float(w0)))
    out = np.empty((signs.size + 1, n_devices))
    out[0] = tile.physical_weights[0, 0]
    ones = np.ones((1, n_devices), dtype=np.int64)
    for k, s in enumerate(signs.astype(np.int64)):
        tile.apply_pulses(ones * int(s))
        out[k + 1] = tile.physical_weights[0, 0]
    names = tuple(f"d{j}" for j in range(n_devices))
    return Traces(
        names,
        tuple(np.ascontiguousarray(out[:, j]) for j in range(n_devices)),
        tuple(signs.astype(np.int64).copy() for _ in range(n_devices)),
    )


# ------------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class _Model:
    """How one response family is parametrised for fitting (spec-level, KERNEL_SPEC §2)."""

    kind: str
    spec_family: str
    shape: tuple[str, ...]
    """Shared shape parameters (spec keys or ``gamma`` for tied exponents)."""
    symmetric: bool
    """Bounds ``s ± tau`` about the shape origin (one parameter) instead of ``lo``, ``hi``."""
    slopes: Literal["none", "skew", "soft", "linear"] = "none"
    """Whether the up/down step imbalance is part of the family (SkewLinear ``c``, slopes)."""
    fit_bounds: bool = True
    """False for Ideal: q does not depend on the bounds (they come from the extremes)."""


_MODELS: Final[dict[str, _Model]] = {
    "ideal": _Model("ideal", "ideal", (), symmetric=False, fit_bounds=False),
    "ald": _Model("ald", "linear_step", ("sp",), symmetric=True),
    "skew_linear": _Model("skew_linear", "skew_linear", (), symmetric=True, slopes="skew"),
    "linear_step": _Model("linear_step", "soft_bounds", (), symmetric=False, slopes="linear"),
    "soft_bounds": _Model("soft_bounds", "soft_bounds", (), symmetric=False, slopes="soft"),
    "power": _Model("power", "power", ("gamma",), symmetric=True),
    "exponential": _Model("exponential", "exponential", ("gamma",), symmetric=True),
    "power_step": _Model("power_step", "power_step", ("gamma_up", "gamma_down"), symmetric=False),
    "exp_step": _Model("exp_step", "exp_step", ("gamma_up", "gamma_down"), symmetric=False),
}

_SHAPE_BOX: Final = {
    "gamma": (1e-2, 60.0),
    "gamma_up": (1e-2, 60.0),
    "gamma_down": (1e-2, 60.0),
}
# ExpStep tends to the linear family as its rates go to 0, where the steps diverge; 0.1 keeps
# the fit away from that flat valley (a linear device is fitted by the linear families).
_EXP_STEP_MIN_GAMMA: Final = 0.1
_SHAPE_START: Final = {"gamma": 1.0, "gamma_up": 1.5, "gamma_down": 1.5}


def _spec(model: _Model, shape: Mapping[str, float], lo: float, hi: float) -> dict[str, Any]:
    g = shape.get("gamma")
    return family_spec(
        model.spec_family,
        lo,
        hi,
        sp=shape.get("sp", 0.0),
        gamma_up=shape.get("gamma_up", g if g is not None else 1.0),
        gamma_down=shape.get("gamma_down", g if g is not None else 1.0),
    )


def _q(
    model: _Model,
    shape: Mapping[str, float],
    w: FloatArray,
    up: npt.NDArray[np.bool_],
    lo: Any,
    hi: Any,
) -> FloatArray:
    spec = _spec(model, shape, -1.0, 1.0)
    lo_a = np.broadcast_to(np.asarray(lo, dtype=np.float64), w.shape)
    hi_a = np.broadcast_to(np.asarray(hi, dtype=np.float64), w.shape)
    q = np.empty_like(w)
    q[up] = spec_q_plus(spec, w[up], lo=lo_a[up], hi=hi_a[up])
    dn = ~up
    q[dn] = spec_q_minus(spec, w[dn], lo=lo_a[dn], hi=hi_a[dn])
    return q


def _origin(model: _Model, shape: Mapping[str, float]) -> float:
    """Return the point the d2d bound spread scales about: the SP for linear_step, else 0."""
    return shape.get("sp", 0.0) if model.spec_family == "linear_step" else 0.0


@dataclass
class _Layout:
    """Where each parameter sits in the least-squares vector."""

    model: _Model
    n_dev: int
    spread: bool
    names: list[str] = field(default_factory=list)

    def build(self) -> None:
        m = self.model
        self.names = list(m.shape)
        if m.fit_bounds and not self.spread:
            self.names += ["tau"] if m.symmetric else ["lo", "hi"]
        for e in range(self.n_dev):
            self.names += [f"a_up[{e}]", f"a_dn[{e}]"]
            if m.fit_bounds and self.spread:
                self.names += [f"lo[{e}]", f"hi[{e}]"]

    def unpack(
        self, x: FloatArray, extremes: tuple[FloatArray, FloatArray]
    ) -> tuple[dict[str, float], FloatArray, FloatArray, FloatArray, FloatArray]:
        """Return ``(shape, a_up, a_dn, lo, hi)`` per device from the vector ``x``."""
        m = self.model
        k = len(m.shape)
        shape = {n: float(x[i]) for i, n in enumerate(m.shape)}
        per = 4 if (m.fit_bounds and self.spread) else 2
        n_shared = len(self.names) - per * self.n_dev
        dev = x[n_shared:].reshape(self.n_dev, per)
        a_up, a_dn = dev[:, 0], dev[:, 1]
        if not m.fit_bounds:
            lo = np.full(self.n_dev, float(extremes[0].min()))
            hi = np.full(self.n_dev, float(extremes[1].max()))
        elif self.spread:
            lo, hi = dev[:, 2], dev[:, 3]
        elif m.symmetric:
            s = _origin(m, shape)
            tau = float(x[k])
            lo, hi = np.full(self.n_dev, s - tau), np.full(self.n_dev, s + tau)
        else:
            lo, hi = np.full(self.n_dev, float(x[k])), np.full(self.n_dev, float(x[k + 1]))
        return shape, a_up, a_dn, lo, hi


# ------------------------------------------------------------------------------------ result
@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted device model: estimates with standard errors, spreads and goodness of fit.

    Attributes
    ----------
    family : str
        The response family (a key of :data:`FAMILIES`).
    params : dict of str to float
        The family's fields and ``dw_min`` (the nominal device).
    se : dict of str to float
        Standard errors of ``params`` (and of ``dw_min_std``, ``up_down``).
    c2c_mode : C2CMode
        The cycle-to-cycle noise model (chosen by likelihood unless given).
    dw_min_std : float
        Cycle-to-cycle noise sigma_c in units of the element's step.
    dtod : dict of str to float
        ``dw_min_dtod``, ``up_down_dtod``, ``w_max_dtod``, ``w_min_dtod``, and ``up_down``, the
        mean up/down imbalance r of the families that cannot express one themselves (0 for
        those that can: SkewLinear's ``c``, the soft-bounds slopes), written to the device as
        ``Device.up_down``.
    per_device : tuple of dict
        Per device: ``a_up``, ``a_dn`` (steps at q = 1), ``lo``, ``hi`` and their standard errors.
    bound_spread : bool
        Whether each device had its own bounds.
    n_obs, n_params : int
        Steps used and parameters fitted (including the noise level).
    log_likelihood, aic, r2, rmse, chi2_red : float
        Goodness of fit (module docstring).
    response : object
        The fitted response family instance.
    at_limit : tuple of str
        Shared parameters that ended on the limit of their search range (e.g. an exponent at
        its floor, or a bound on the extreme state seen): the data do not pin them down, and
        their standard errors mean little.
    """

    family: str
    params: dict[str, float]
    se: dict[str, float]
    c2c_mode: C2CMode
    dw_min_std: float
    dtod: dict[str, float]
    per_device: tuple[dict[str, float], ...]
    bound_spread: bool
    n_obs: int
    n_params: int
    log_likelihood: float
    aic: float
    r2: float
    rmse: float
    chi2_red: float
    response: Any
    at_limit: tuple[str, ...] = ()

    def device(self) -> Device:
        """Return the fitted device, usable in :class:`pulsetrain.AnalogTile` and ``run`` configs.

        Returns
        -------
        Device
            The nominal response, ``dw_min``, the noise and the spreads.
        """
        return Device(
            response=self.response,
            dw_min=self.params["dw_min"],
            dw_min_std=self.dw_min_std,
            c2c_mode=self.c2c_mode,
            dw_min_dtod=self.dtod["dw_min_dtod"],
            up_down=self.dtod.get("up_down", 0.0),
            up_down_dtod=self.dtod["up_down_dtod"],
            w_max_dtod=self.dtod["w_max_dtod"],
            w_min_dtod=self.dtod["w_min_dtod"],
        )

    def save(self, path: str | Path) -> Path:
        """Write :meth:`device` as a config (``.toml`` or ``.json``, by the suffix).

        The file is a ``Device`` table (``kind = "device"``); paste it under an algorithm's
        ``device`` key of a ``pulsetrain run`` config, or read it with :func:`load_device`.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        ParameterError
            If the suffix is neither ``.toml`` nor ``.json``.
        """
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in (".toml", ".json"):
            raise parameter_error("path", "FitResult.save", "a .toml or .json file", str(p))
        dev = self.device()
        head = (
            f"# pulsetrain fit: family {self.family}, {self.n_obs} steps, "
            f"AIC {self.aic:.6g}, R2 {self.r2:.4f}\n"
        )
        text = head + dumps_toml(dev) if suffix == ".toml" else dumps_json(dev) + "\n"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def estimates(self) -> list[tuple[str, float, float]]:
        """Return ``(name, value, standard error)`` of every reported parameter.

        Returns
        -------
        list of tuple
            Family fields and ``dw_min``, then ``dw_min_std``, the spreads and the mean
            imbalance ``up_down``. A spread's SE is the delta method's (NaN when the spread is
            not resolved, i.e. estimated as 0).
        """
        rows = [(k, v, self.se.get(k, math.nan)) for k, v in self.params.items()]
        rows.append(("dw_min_std", self.dw_min_std, self.se.get("dw_min_std", math.nan)))
        rows += [(k, v, self.se.get(k, math.nan)) for k, v in self.dtod.items()]
        return rows


def load_device(path: str | Path) -> Device:
    """Read a device config written by :meth:`FitResult.save`.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.toml`` or ``.json`` device file.

    Returns
    -------
    Device
        The device.
    """
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data = loads_toml(text) if p.suffix.lower() == ".toml" else loads_json(text)
    return Device.from_dict(data)


# ------------------------------------------------------------------------------------ fitting
def _require_scipy() -> Any:
    try:
        import scipy.optimize
    except ImportError:
        raise MissingExtraError("fit", "scipy", "Fitting") from None
    return scipy


@dataclass
class _Data:
    dev: IntArray
    w: FloatArray
    dw: FloatArray
    up: npt.NDArray[np.bool_]
    extremes: tuple[FloatArray, FloatArray]
    n_dev: int
    vn_noise: dict[str, FloatArray]


def _prepare(traces: Traces) -> _Data:
    dev, before, after, sign = traces.steps()
    lo_obs = np.array([w.min() for w in traces.states])
    hi_obs = np.array([w.max() for w in traces.states])
    # Censoring guard (model-free, the same for every family so likelihoods compare): drop
    # steps that end on a device's extreme (clipped), and steps that start within 1.5 times
    # the 90th percentile of that device's step size (per direction) of the extreme they
    # move towards, where the clipping of the noise would bias the mean step.
    up = sign > 0
    mag = np.abs(after - before)
    guard = np.zeros(before.size)
    for e in range(traces.n_devices):
        for s in (True, False):
            sel = (dev == e) & (up == s)
            if sel.any():
                guard[sel] = _GUARD * float(np.percentile(mag[sel], 90))
    keep = (after > lo_obs[dev]) & (after < hi_obs[dev])
    keep &= np.where(up, before + guard < hi_obs[dev], before - guard > lo_obs[dev])
    # Model-free step noise per device and direction (von Neumann: successive same-sign steps).
    vn: dict[str, FloatArray] = {
        "up": np.full(traces.n_devices, np.nan),
        "dn": np.full(traces.n_devices, np.nan),
    }
    for e, (w, d) in enumerate(zip(traces.states, traces.directions, strict=True)):
        steps = np.diff(w)
        ok = (w[1:] > lo_obs[e]) & (w[1:] < hi_obs[e])
        for key, sgn in (("up", 1), ("dn", -1)):
            pair = (d[1:] == sgn) & (d[:-1] == sgn) & ok[1:] & ok[:-1]
            if pair.sum() >= 2:
                vn[key][e] = 0.5 * float(np.mean(np.diff(steps)[pair] ** 2))
    return _Data(
        dev=dev[keep],
        w=before[keep],
        dw=(after - before)[keep],
        up=sign[keep] > 0,
        extremes=(lo_obs, hi_obs),
        n_dev=traces.n_devices,
        vn_noise=vn,
    )


def _pooled_start(model: _Model, data: _Data) -> FloatArray:
    """Fit all devices as one (one pair of steps) from a few shape starts; keep the best.

    The full fit starts from it: the shape exponents and bounds trade off against each other,
    and a single start can end in a poor local minimum.
    """
    one = _Data(
        dev=np.zeros_like(data.dev),
        w=data.w,
        dw=data.dw,
        up=data.up,
        extremes=(data.extremes[0].min(keepdims=True), data.extremes[1].max(keepdims=True)),
        n_dev=1,
        vn_noise=data.vn_noise,
    )
    layout = _Layout(model, 1, spread=False)
    layout.build()
    x0, lb, ub = _start(model, one, layout, None, spread=False)
    gammas = [n for n in model.shape if n.startswith("gamma")]
    grid: list[tuple[float, ...]] = [()]
    for _ in gammas:
        grid = [(*g, v) for g in grid for v in (0.5, 1.5, 4.0)]
    best: _Solution | None = None
    for values in grid:
        x = x0.copy()
        for name, v in zip(gammas, values, strict=True):
            x[model.shape.index(name)] = max(v, lb[model.shape.index(name)])
        sol = _solve(model, one, layout, x, (lb, ub), C2CMode.ADDITIVE, None, max_nfev=60)
        if best is None or sol.cost < best.cost:
            best = sol
    assert best is not None
    return best.x


def _start(
    model: _Model,
    data: _Data,
    layout: _Layout,
    pooled: FloatArray | None,
    *,
    spread: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    lo_obs, hi_obs = data.extremes
    span = float(hi_obs.max() - lo_obs.min())
    pad = 0.03 * span
    x0: list[float] = []
    lb: list[float] = []
    ub: list[float] = []
    for n in model.shape:
        if n == "sp":
            x0.append(0.5 * float(lo_obs.mean() + hi_obs.mean()))
            lb.append(float(lo_obs.min()))
            ub.append(float(hi_obs.max()))
        else:
            x0.append(_SHAPE_START[n])
            lb.append(_EXP_STEP_MIN_GAMMA if model.kind == "exp_step" else _SHAPE_BOX[n][0])
            ub.append(_SHAPE_BOX[n][1] if model.spec_family != "exponential" else 30.0)
    if model.fit_bounds and not spread:
        if model.symmetric:
            s = x0[0] if "sp" in model.shape else 0.0
            x0.append(max(float(hi_obs.max()) - s, s - float(lo_obs.min())) + pad)
            lb.append(1e-9 * span)
            ub.append(np.inf)
        else:
            x0 += [float(lo_obs.min()) - pad, float(hi_obs.max()) + pad]
            lb += [-np.inf, float(hi_obs.max())]
            ub += [float(lo_obs.min()), np.inf]
    for e in range(data.n_dev):
        sel = data.dev == e
        mag = np.abs(data.dw[sel])
        for s in (True, False):
            m = mag[data.up[sel] == s]
            a = 1.5 * float(np.median(m)) if m.size else 1e-3 * span
            x0.append(max(a, 1e-9 * span))
            lb.append(1e-12 * span)
            ub.append(np.inf)
        if model.fit_bounds and spread:
            x0 += [float(lo_obs[e]) - pad, float(hi_obs[e]) + pad]
            lb += [-np.inf, float(hi_obs[e])]
            ub += [float(lo_obs[e]), np.inf]
    x = np.array(x0)
    lo_b, hi_b = np.array(lb), np.array(ub)
    if pooled is not None:  # shape, bounds and steps of the pooled fit (n_dev = 1, shared)
        k = len(model.shape)
        x[:k] = pooled[:k]
        n_b = (1 if model.symmetric else 2) if model.fit_bounds else 0
        if not spread:
            x[k : k + n_b] = pooled[k : k + n_b]
        per = 4 if (model.fit_bounds and spread) else 2
        n_sh = x.size - per * data.n_dev
        dev = x[n_sh:].reshape(data.n_dev, per)
        dev[:, 0], dev[:, 1] = pooled[-2], pooled[-1]
        if spread and model.fit_bounds:
            shape = {n: float(pooled[i]) for i, n in enumerate(model.shape)}
            if model.symmetric:
                s = _origin(model, shape)
                dev[:, 2], dev[:, 3] = s - pooled[k], s + pooled[k]
            else:
                dev[:, 2], dev[:, 3] = pooled[k], pooled[k + 1]
        x[n_sh:] = dev.ravel()
    return np.clip(x, lo_b, hi_b), lo_b, hi_b


@dataclass
class _Solution:
    x: FloatArray
    cov: FloatArray
    info: FloatArray
    mean: FloatArray
    scale: FloatArray
    sigma: float
    loglik: float
    n_obs: int
    cost: float
    sigma_se: float


def _solve(
    model: _Model,
    data: _Data,
    layout: _Layout,
    x0: FloatArray,
    box: tuple[FloatArray, FloatArray],
    mode: C2CMode,
    weights_from: FloatArray | None,
    max_nfev: int = 150,
) -> _Solution:
    """Weighted least squares for one noise mode; weights from ``weights_from`` (or x0)."""
    sp = _require_scipy()
    ext = data.extremes

    def mean_step(x: FloatArray) -> tuple[FloatArray, FloatArray]:
        shape, a_up, a_dn, lo, hi = layout.unpack(x, ext)
        q = _q(model, shape, data.w, data.up, lo[data.dev], hi[data.dev])
        a = np.where(data.up, a_up[data.dev], a_dn[data.dev])
        return a * q, a

    def noise_scale(x: FloatArray) -> FloatArray:
        # The Device's step is dw(g ± r) = a_±/alpha_± (alpha: the family's own slopes),
        # which additive noise scales; multiplicative noise scales the mean step.
        m_x, a_x = mean_step(x)
        sh, au, ad, lo_r, hi_r = layout.unpack(x, ext)
        pop = _family_values(
            model, sh, float(au.mean()), float(ad.mean()), float(lo_r.mean()), float(hi_r.mean())
        )
        al_up, al_dn = _alphas(model, pop)
        step = a_x / np.where(data.up, al_up, al_dn)
        if mode is C2CMode.MULTIPLICATIVE:
            return np.asarray(np.maximum(np.abs(m_x), _Q_FLOOR * step), dtype=np.float64)
        return np.asarray(step, dtype=np.float64)

    u = noise_scale(x0 if weights_from is None else weights_from)
    y = np.where(data.up, data.dw, -data.dw)
    uk = u
    sub = data

    def residual(x: FloatArray) -> FloatArray:
        shape, a_up, a_dn, lo, hi = layout.unpack(x, ext)
        q = _q(model, shape, sub.w, sub.up, lo[sub.dev], hi[sub.dev])
        a = np.where(sub.up, a_up[sub.dev], a_dn[sub.dev])
        return np.asarray((y - a * q) / uk, dtype=np.float64)

    n_par = len(layout.names)
    per = 4 if (model.fit_bounds and layout.spread) else 2
    n_sh = n_par - per * data.n_dev
    # Residual i depends on the shared parameters and on its own device's, so one forward
    # difference per shared parameter and one per device slot (all devices at once) give the
    # dense Jacobian.
    rows_of = [np.flatnonzero(sub.dev == e) for e in range(data.n_dev)]
    _, ub = box

    def jacobian(x: FloatArray) -> FloatArray:
        f0 = residual(x)
        jac = np.zeros((y.size, n_par))
        for i in range(n_sh):
            h = 1e-7 * max(abs(float(x[i])), 1e-3)
            if x[i] + h > ub[i]:
                h = -h
            xp = x.copy()
            xp[i] += h
            jac[:, i] = (residual(xp) - f0) / h
        for k in range(per):
            cols = n_sh + per * np.arange(data.n_dev) + k
            hv = 1e-7 * np.maximum(np.abs(x[cols]), 1e-9)
            hv = np.where(x[cols] + hv > ub[cols], -hv, hv)
            xp = x.copy()
            xp[cols] += hv
            diff = residual(xp) - f0
            for e, rows in enumerate(rows_of):
                jac[rows, cols[e]] = diff[rows] / hv[e]
        return jac

    res = sp.optimize.least_squares(
        residual,
        x0,
        jac=jacobian,
        bounds=box,
        x_scale="jac",
        method="trf",
        tr_solver="exact",
        max_nfev=max_nfev,
    )
    r = res.fun
    n = int(y.size)
    dof = max(n - n_par, 1)
    s2 = float(r @ r) / dof
    jac = np.asarray(res.jac)
    info = jac.T @ jac / s2
    cov = np.linalg.pinv(info)
    # Noise level and likelihood with the noise scale of the fitted parameters (the weights
    # came from the previous pass).
    m_fit, _ = mean_step(res.x)
    u_fit = noise_scale(res.x)
    z = (y - m_fit) / u_fit
    sigma = math.sqrt(float(z @ z) / n)
    loglik = float(-np.sum(np.log(sigma * u_fit)) - 0.5 * n * (math.log(2 * math.pi) + 1.0))

    # SE of sigma: sampling (sigma/sqrt(2n)) plus the uncertainty of the step scale it is
    # measured in (delta method through the parameter covariance).
    def sigma_of(x: FloatArray) -> float:
        m_x, _ = mean_step(x)
        zz = (y - m_x) / noise_scale(x)
        return math.sqrt(float(zz @ zz) / n)

    grad = np.zeros(res.x.size)
    for i in range(res.x.size):
        h = 1e-6 * max(abs(float(res.x[i])), 1e-9)
        xp = res.x.copy()
        xp[i] += h
        grad[i] = (sigma_of(xp) - sigma) / h
    sigma_se = math.sqrt(sigma**2 / (2 * n) + max(float(grad @ cov @ grad), 0.0))
    return _Solution(res.x, cov, info, m_fit, u_fit, sigma, loglik, n, float(res.cost), sigma_se)


def _family_values(
    model: _Model,
    shape: Mapping[str, float],
    a_up: float,
    a_dn: float,
    lo: float,
    hi: float,
) -> dict[str, float]:
    """Map spec-level quantities to the family's fields and ``dw_min``."""
    dw = 0.5 * (a_up + a_dn)
    k = model.kind
    out: dict[str, float]
    if k == "ideal":
        out = {"w_min": lo, "w_max": hi}
    elif k == "ald":
        out = {"tau": 0.5 * (hi - lo), "sp": shape["sp"]}
    elif k == "skew_linear":
        out = {"tau": 0.5 * (hi - lo), "c_lin": (a_up - a_dn) / (a_up + a_dn)}
    elif k == "linear_step":
        # Fitted as soft bounds with unit slopes: up A_up (hi - w), down A_dn (w - lo); the SP
        # is where the mean steps are equal (mean imbalance 0), dw_min the step there.
        a_p, a_m = a_up / hi, -a_dn / lo
        sp = (a_p * hi + a_m * lo) / (a_p + a_m)
        out = {"tau_max": hi - sp, "tau_min": lo - sp, "sp": sp, "dw_min": a_p * (hi - sp)}
        return out
    elif k == "soft_bounds":
        out = {"w_max": hi, "w_min": lo, "slope_up": a_up / dw, "slope_down": a_dn / dw}
    elif k in ("power", "exponential"):
        out = {"tau": 0.5 * (hi - lo), "gamma_res": shape["gamma"]}
    else:
        out = {
            "tau_max": hi,
            "tau_min": lo,
            "gamma_up": shape["gamma_up"],
            "gamma_down": shape["gamma_down"],
        }
    out["dw_min"] = dw
    return out


def _alphas(model: _Model, values: Mapping[str, float]) -> tuple[float, float]:
    if model.slopes == "skew":
        return 1.0 + values["c_lin"], 1.0 - values["c_lin"]
    if model.slopes == "soft":
        return values["slope_up"], values["slope_down"]
    if model.slopes == "linear":
        # The fitted a_± are the steps at w = 0 of q = 1 - w/bound; the Device's steps
        # dw(g ± r) act on q_±(sp) = 1, so a_+ = dw(g + r) hi/tau_max, a_- = dw(g - r) lo/tau_min.
        sp = values["sp"]
        return (values["tau_max"] + sp) / values["tau_max"], (values["tau_min"] + sp) / values[
            "tau_min"
        ]
    return 1.0, 1.0


_RESPONSE_CLASSES: Final[dict[str, Any]] = {
    "ideal": Ideal,
    "ald": ALD,
    "skew_linear": SkewLinear,
    "linear_step": LinearStep,
    "soft_bounds": SoftBounds,
    "power": Power,
    "exponential": Exponential,
    "power_step": PowerStep,
    "exp_step": ExpStep,
}


def _summarise(
    model: _Model, data: _Data, layout: _Layout, sol: _Solution, mode: C2CMode
) -> FitResult:
    shape, a_up, a_dn, lo, hi = layout.unpack(sol.x, data.extremes)
    n = data.n_dev
    pop = _family_values(
        model, shape, float(a_up.mean()), float(a_dn.mean()), float(lo.mean()), float(hi.mean())
    )
    per_vals = [
        _family_values(model, shape, float(a_up[e]), float(a_dn[e]), float(lo[e]), float(hi[e]))
        for e in range(n)
    ]

    def pop_of(x: FloatArray) -> dict[str, float]:
        sh, au, ad, l_, h_ = layout.unpack(x, data.extremes)
        return _family_values(
            model, sh, float(au.mean()), float(ad.mean()), float(l_.mean()), float(h_.mean())
        )

    # Delta method through the Jacobian covariance (numeric gradient of the mapping).
    step = 1e-6 * np.maximum(np.abs(sol.x), 1e-12) + 1e-15
    grads = {k: np.zeros(sol.x.size) for k in pop}
    for i in range(sol.x.size):
        xp = sol.x.copy()
        xp[i] += step[i]
        vp = pop_of(xp)
        for k in pop:
            grads[k][i] = (vp[k] - pop[k]) / step[i]
    se: dict[str, float] = {}
    for k, g in grads.items():
        se_j = math.sqrt(max(float(g @ sol.cov @ g), 0.0))
        vals = np.array([v[k] for v in per_vals])
        varies = n >= 2 and float(np.ptp(vals)) > 1e-12 * max(abs(pop[k]), 1e-300)
        # A population mean over devices: its sampling error (spread / sqrt(n)) plus the
        # Jacobian error of the shared parameters it depends on (conservative: the latter
        # also counts the per-device estimation noise that the spread already holds).
        se_re = float(np.var(vals, ddof=1) / n) if varies else 0.0
        se[k] = math.sqrt(se_j**2 + se_re)
    if not model.fit_bounds:  # Ideal: the bounds are the extreme states seen, not estimates
        se["w_min"] = se["w_max"] = math.nan
    se["dw_min_std"] = sol.sigma_se

    # Device-to-device spreads: moments of per-device values minus their estimation variance.
    # Estimation variance of each device's own parameters given the shared ones (the inverse
    # of its block of the information matrix): shifts common to all devices make no spread.
    per = 4 if (model.fit_bounds and layout.spread) else 2
    n_sh = sol.x.size - per * n
    var_dev = np.empty((n, per))
    for e in range(n):
        blk = slice(n_sh + per * e, n_sh + per * (e + 1))
        var_dev[e] = np.diag(np.linalg.pinv(sol.info[blk, blk]))
    al_up, al_dn = _alphas(model, pop)
    dw = pop["dw_min"]
    g_e = 0.5 * (a_up / al_up + a_dn / al_dn) / dw
    r_e = 0.5 * (a_up / al_up - a_dn / al_dn) / dw
    v_g = 0.25 * (var_dev[:, 0] / al_up**2 + var_dev[:, 1] / al_dn**2) / dw**2

    def spread(name: str, x: FloatArray, v_est: FloatArray) -> float:
        """Return the spread of ``x`` less its estimation variance; put its SE in ``se[name]``."""
        if x.size < 2:
            se[name] = math.nan
            return 0.0
        s2 = float(np.var(x, ddof=1))
        value = math.sqrt(max(s2 - float(np.mean(v_est)), 0.0))
        # Delta method: Var(s²) ≈ 2 s⁴/(n − 1) for normal per-device values, and
        # d sqrt(u)/du = 1/(2 sqrt(u)); NaN when the spread is not resolved (clamped at 0).
        se[name] = math.sqrt(2.0 / (x.size - 1)) * s2 / (2.0 * value) if value > 0 else math.nan
        return value

    dtod = {
        "dw_min_dtod": spread("dw_min_dtod", g_e, v_g),
        "up_down_dtod": spread("up_down_dtod", r_e, v_g),
        "w_max_dtod": 0.0,
        "w_min_dtod": 0.0,
        "up_down": float(np.mean(r_e)) if model.slopes == "none" else 0.0,
    }
    se["up_down"] = float(np.std(r_e, ddof=1) / math.sqrt(n)) if n >= 2 else math.nan
    if model.fit_bounds and layout.spread:
        s = pop.get("sp", 0.0) if model.spec_family != "power" else 0.0
        h_nom, l_nom = float(hi.mean()), float(lo.mean())
        dtod["w_max_dtod"] = spread(
            "w_max_dtod", (hi - s) / (h_nom - s), var_dev[:, 3] / (h_nom - s) ** 2
        )
        dtod["w_min_dtod"] = spread(
            "w_min_dtod", (lo - s) / (l_nom - s), var_dev[:, 2] / (l_nom - s) ** 2
        )

    fields = {k: v for k, v in pop.items() if k != "dw_min"}
    try:
        response = _RESPONSE_CLASSES[model.kind](**fields)
    except ValueError as exc:  # e.g. SoftBounds needs w_min < 0 < w_max
        raise parameter_error(
            "family",
            "fit",
            f"a family that can describe these traces ({model.kind} gave {exc}; conductances "
            "can be mapped to [-1, 1] with g_min/g_max)",
            model.kind,
        ) from None

    # Goodness of fit on the step magnitudes.
    y = np.where(data.up, data.dw, -data.dw)
    resid = y - sol.mean
    ss_res = float(resid @ resid)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    vn = np.where(data.up, data.vn_noise["up"][data.dev], data.vn_noise["dn"][data.dev])
    ok = np.isfinite(vn) & (vn > 0)
    n_par = len(layout.names) + 1
    chi2 = float(np.sum(resid[ok] ** 2 / vn[ok])) / max(int(ok.sum()) - n_par, 1)
    aic = 2.0 * n_par - 2.0 * sol.loglik
    return FitResult(
        family=model.kind,
        params=pop,
        se=se,
        c2c_mode=mode,
        dw_min_std=sol.sigma,
        dtod=dtod,
        per_device=tuple(
            {
                "a_up": float(a_up[e]),
                "a_dn": float(a_dn[e]),
                "lo": float(lo[e]),
                "hi": float(hi[e]),
                "a_up_se": math.sqrt(max(float(var_dev[e, 0]), 0.0)),
                "a_dn_se": math.sqrt(max(float(var_dev[e, 1]), 0.0)),
            }
            for e in range(n)
        ),
        bound_spread=layout.spread,
        n_obs=sol.n_obs,
        n_params=n_par,
        log_likelihood=sol.loglik,
        aic=aic,
        r2=1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        rmse=math.sqrt(ss_res / y.size),
        chi2_red=chi2,
        response=response,
    )


def _check_traces(traces: object, owner: str) -> Traces:
    if not isinstance(traces, Traces):
        raise parameter_error("traces", owner, "a pulsetrain.fitting.Traces", traces)
    return traces


def _modes(c2c_mode: C2CMode | str | None, owner: str) -> tuple[C2CMode, ...]:
    if c2c_mode is None:
        return (C2CMode.ADDITIVE, C2CMode.MULTIPLICATIVE)
    try:
        return (C2CMode(c2c_mode),)
    except ValueError:
        raise parameter_error(
            "c2c_mode", owner, "'additive', 'multiplicative' or None", c2c_mode
        ) from None


def fit(
    traces: Traces,
    family: str = "soft_bounds",
    *,
    c2c_mode: C2CMode | str | None = None,
    bound_spread: bool | None = None,
    n_nodes: int = 9,
) -> FitResult:
    """Fit one family, the cycle noise and the device-to-device spread to traces.

    Parameters
    ----------
    traces : Traces
        Measured (or simulated) traces, :func:`load_traces`.
    family : str, optional
        A key of :data:`FAMILIES`. Default ``"soft_bounds"``.
    c2c_mode : C2CMode or str or None, optional
        Fix the noise model; None chooses by likelihood.
    bound_spread : bool or None, optional
        Fit bounds per device (True), shared (False), or choose by AIC (None, default; only
        with two or more devices).
    n_nodes : int, optional
        Nodes of the ``piecewise`` family. Default 9.

    Returns
    -------
    FitResult
        Estimates, standard errors, spreads and goodness of fit.

    Raises
    ------
    ParameterError
        An unknown family or noise mode.
    MissingExtraError
        If scipy (extra ``fit``) is not installed.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> from pulsetrain.fitting import fit, simulate_traces
    >>> dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=0.02, dw_min_std=0.2)
    >>> res = fit(simulate_traces(dev, n_devices=2, n_pulses=60, n_cycles=2), "ald")
    >>> abs(res.params["tau"] - 1.0) < 4 * res.se["tau"]
    True
    """
    traces = _check_traces(traces, "fit")
    if family == "piecewise":
        return fit_piecewise(traces, n_nodes=n_nodes, c2c_mode=c2c_mode)
    model = _MODELS.get(family) if isinstance(family, str) else None
    if model is None:
        raise parameter_error("family", "fit", f"one of {FAMILIES}", family)
    modes = _modes(c2c_mode, "fit")
    data = _prepare(traces)
    if bound_spread is None:
        spreads: tuple[bool, ...] = (
            (False, True) if traces.n_devices >= 2 and model.fit_bounds else (False,)
        )
    else:
        spreads = (bool(bound_spread) and model.fit_bounds,)
    pooled = _pooled_start(model, data)
    best: FitResult | None = None
    for spread in spreads:
        layout = _Layout(model, data.n_dev, spread)
        layout.build()
        x0, lb, ub = _start(model, data, layout, pooled, spread=spread)
        first = _solve(model, data, layout, x0, (lb, ub), C2CMode.ADDITIVE, None)
        for mode in modes:
            # Feasible weighted least squares: weights from the unweighted-noise pass.
            sol = _solve(model, data, layout, first.x, (lb, ub), mode, first.x)
            res = _summarise(model, data, layout, sol, mode)
            # Shared parameters stuck on their box limit: their SEs mean little.
            n_sh = len(model.shape) + (
                0 if spread or not model.fit_bounds else (1 if model.symmetric else 2)
            )
            tol = 1e-6 * np.maximum(np.abs(sol.x[:n_sh]), 1e-9)
            stuck = (np.abs(sol.x[:n_sh] - lb[:n_sh]) < tol) | (
                np.abs(sol.x[:n_sh] - ub[:n_sh]) < tol
            )
            if stuck.any():
                names = tuple(n for n, k in zip(layout.names[:n_sh], stuck, strict=True) if k)
                res = dataclasses.replace(res, at_limit=names)
            if best is None or res.aic < best.aic:
                best = res
    assert best is not None
    return best


def fit_all(
    traces: Traces,
    families: Iterable[str] | None = None,
    *,
    c2c_mode: C2CMode | str | None = None,
    bound_spread: bool | None = None,
    n_nodes: int = 9,
) -> list[FitResult]:
    """Fit every family and rank them by AIC (ties: fewer parameters first).

    Parameters
    ----------
    traces : Traces
        The traces.
    families : iterable of str, optional
        Families to try; default every one in :data:`FAMILIES`.
    c2c_mode, bound_spread, n_nodes
        As for :func:`fit`.

    Returns
    -------
    list of FitResult
        Best first. A family whose fit fails (e.g. bounds it cannot represent) is left out.
    """
    names = FAMILIES if families is None else tuple(families)
    traces = _check_traces(traces, "fit_all")
    _modes(c2c_mode, "fit_all")
    for name in names:
        if name not in FAMILIES:
            raise parameter_error("families", "fit_all", f"names from {FAMILIES}", name)
    out = []
    for name in names:
        try:
            res = fit(traces, name, c2c_mode=c2c_mode, bound_spread=bound_spread, n_nodes=n_nodes)
        except ParameterError:
            # A family that cannot represent the traces (e.g. bounds it cannot take).
            continue
        out.append(res)
    if not out:
        raise parameter_error(
            "traces", "fit_all", "traces that at least one family can describe", names
        )
    # AIC differences below 1e-6 relative count as ties.
    return sorted(out, key=lambda r: (round(r.aic, 6), r.n_params))


# ------------------------------------------------------------------------------------ piecewise
def _hat(w: FloatArray, lo: float, hi: float, n: int) -> FloatArray:
    """Linear-interpolation basis on n equal nodes over [lo, hi]: (len(w), n)."""
    t = np.clip((w - lo) / (hi - lo) * (n - 1), 0.0, n - 1.0)
    i = np.minimum(np.floor(t).astype(np.int64), n - 2)
    f = t - i
    basis = np.zeros((w.size, n))
    rows = np.arange(w.size)
    basis[rows, i] = 1.0 - f
    basis[rows, i + 1] = f
    return basis


def fit_piecewise(
    traces: Traces, *, n_nodes: int = 9, c2c_mode: C2CMode | str | None = None
) -> FitResult:
    """Fit a :class:`pulsetrain.devices.Piecewise` device (lookup table of q±) to traces.

    The nodes span the observed state range. Per direction, the node values solve the linear
    least-squares problem ``|Δw| ≈ g_e·Σ_k q_k φ_k(w)`` (φ the interpolation hat functions, g_e
    a per-device gain, alternated twice with the node fit). ``dw_min`` is the mean of the node
    values of both directions, so the tables are of order 1.

    Parameters
    ----------
    traces : Traces
        The traces.
    n_nodes : int, optional
        Nodes N >= 2. Default 9.
    c2c_mode : C2CMode or str or None, optional
        The noise model, or None to choose by likelihood.

    Returns
    -------
    FitResult
        ``params`` holds ``w_min``, ``w_max``, ``up[k]``, ``down[k]`` and ``dw_min``.
    """
    traces = _check_traces(traces, "fit_piecewise")
    if not isinstance(n_nodes, int) or isinstance(n_nodes, bool) or not 2 <= n_nodes <= 4096:
        raise parameter_error("n_nodes", "fit_piecewise", "an int in [2, 4096]", n_nodes)
    modes = _modes(c2c_mode, "fit_piecewise")
    data = _prepare(traces)
    lo, hi = float(data.extremes[0].min()), float(data.extremes[1].max())
    y = np.where(data.up, data.dw, -data.dw)
    basis = _hat(data.w, lo, hi, n_nodes)
    best: FitResult | None = None
    n = data.n_dev
    for mode in modes:
        gain = {True: np.ones(n), False: np.ones(n)}
        nodes: dict[bool, FloatArray] = {}
        covs: dict[bool, FloatArray] = {}
        u = np.ones_like(y)
        for _ in range(3):
            for s in (True, False):
                sel = data.up == s
                a = basis[sel] * gain[s][data.dev[sel], None]
                wts = 1.0 / u[sel]
                coef, *_ = np.linalg.lstsq(a * wts[:, None], y[sel] * wts, rcond=None)
                nodes[s] = np.maximum(coef, 0.0)
                m = basis[sel] @ nodes[s]
                for e in range(n):
                    de = data.dev[sel] == e
                    den = float(np.sum((m[de] * wts[de]) ** 2))
                    if den > 0:
                        gain[s][e] = float(np.sum(y[sel][de] * m[de] * wts[de] ** 2)) / den
                gain[s] /= gain[s].mean()
                r = (y[sel] - gain[s][data.dev[sel]] * m) * wts
                s2 = float(r @ r) / max(r.size - n_nodes - n, 1)
                ah = a * wts[:, None]
                covs[s] = np.linalg.pinv(ah.T @ ah) * s2
            mean = np.empty_like(y)
            for s in (True, False):
                sel = data.up == s
                mean[sel] = gain[s][data.dev[sel]] * (basis[sel] @ nodes[s])
            a_ref = np.where(data.up, gain[True][data.dev], gain[False][data.dev])
            scale = float(np.mean(np.concatenate([nodes[True], nodes[False]])))
            if mode is C2CMode.MULTIPLICATIVE:
                u = np.maximum(mean, _Q_FLOOR * scale * a_ref)
            else:
                u = scale * a_ref
        resid = y - mean
        sigma_abs = math.sqrt(float(np.mean((resid / u) ** 2)))
        dw = float(np.mean(np.concatenate([nodes[True], nodes[False]])))
        params: dict[str, float] = {"w_min": lo, "w_max": hi}
        se: dict[str, float] = {"w_min": 0.0, "w_max": 0.0}
        for s, tag in ((True, "up"), (False, "down")):
            for k in range(n_nodes):
                params[f"{tag}[{k}]"] = float(nodes[s][k] / dw)
                se[f"{tag}[{k}]"] = math.sqrt(max(float(covs[s][k, k]), 0.0)) / dw
        params["dw_min"] = dw
        # u is the element's step at q = 1 (additive) or its mean step (multiplicative), so
        # the residual sd over u is sigma_c in the Device's units.
        sigma = sigma_abs
        loglik = float(-np.sum(np.log(sigma_abs * u)) - 0.5 * y.size * (math.log(2 * math.pi) + 1))
        n_par = 2 * n_nodes + 2 * (n - 1) + 1
        g_all = 0.5 * (gain[True] + gain[False])
        r_all = 0.5 * (gain[True] - gain[False])
        vn = np.where(data.up, data.vn_noise["up"][data.dev], data.vn_noise["dn"][data.dev])
        ok = np.isfinite(vn) & (vn > 0)
        chi2 = float(np.sum(resid[ok] ** 2 / vn[ok])) / max(int(ok.sum()) - n_par, 1)
        ss_tot = float(np.sum((y - y.mean()) ** 2))
        up_t = tuple(float(v / dw) for v in nodes[True])
        dn_t = tuple(float(v / dw) for v in nodes[False])
        response = Piecewise(w_min=lo, w_max=hi, piecewise_up=up_t, piecewise_down=dn_t)
        g_sd = float(np.std(g_all, ddof=1)) if n >= 2 else 0.0
        r_sd = float(np.std(r_all, ddof=1)) if n >= 2 else 0.0
        # Delta method for a sample SD of normal values: SE ≈ s / sqrt(2 (n − 1)).
        sd_se = 1.0 / math.sqrt(2.0 * (n - 1)) if n >= 2 else math.nan
        res = FitResult(
            family="piecewise",
            params=params,
            se={
                **se,
                "dw_min_std": sigma / math.sqrt(2.0 * y.size),
                "dw_min_dtod": g_sd * sd_se,
                "up_down_dtod": r_sd * sd_se,
            },
            c2c_mode=mode,
            dw_min_std=sigma,
            dtod={
                "dw_min_dtod": g_sd,
                "up_down_dtod": r_sd,
                "w_max_dtod": 0.0,
                "w_min_dtod": 0.0,
                "up_down": 0.0,
            },
            per_device=tuple(
                {
                    "a_up": float(gain[True][e] * dw),
                    "a_dn": float(gain[False][e] * dw),
                    "lo": lo,
                    "hi": hi,
                }
                for e in range(n)
            ),
            bound_spread=False,
            n_obs=int(y.size),
            n_params=n_par,
            log_likelihood=loglik,
            aic=2.0 * n_par - 2.0 * loglik,
            r2=1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else math.nan,
            rmse=math.sqrt(float(resid @ resid) / y.size),
            chi2_red=chi2,
            response=response,
        )
        if best is None or res.aic < best.aic:
            best = res
    assert best is not None
    return best


# ------------------------------------------------------------------------------------ output
def format_table(results: Sequence[FitResult], *, max_params: int = 6) -> str:
    """Format fits as a text table: family, AIC, ΔAIC, R², RMSE, χ²_red, noise, parameters ± SE.

    Parameters
    ----------
    results : sequence of FitResult
        Fits, best first (as :func:`fit_all` returns them).
    max_params : int, optional
        Parameters shown per row (piecewise tables are long). Default 6.

    Returns
    -------
    str
        The table, one row per family.
    """
    if not results:
        return "(no fits)"
    best = min(r.aic for r in results)
    head = (
        f"{'family':<12} {'AIC':>12} {'dAIC':>9} {'R2':>7} {'RMSE':>10} {'chi2r':>6} "
        f"{'c2c':>14}  parameters +- SE"
    )
    lines = [head]
    for r in results:
        shown = [(k, v, e) for k, v, e in r.estimates() if k in r.params][:max_params]
        more = len(r.params) - len(shown)
        pars = ", ".join(f"{k}={v:.4g}±{e:.2g}" for k, v, e in shown)
        if more > 0:
            pars += f", … (+{more})"
        if r.at_limit:
            pars += f" [at search limit: {', '.join(r.at_limit)}]"
        noise = f"{r.dw_min_std:.3g} {r.c2c_mode.value[:4]}"
        lines.append(
            f"{r.family:<12} {r.aic:>12.6g} {r.aic - best:>9.3g} {r.r2:>7.4f} {r.rmse:>10.3g} "
            f"{r.chi2_red:>6.3g} {noise:>14}  {pars}"
        )
    spread = results[0].dtod
    lines.append(
        "best spreads: "
        + ", ".join(f"{k}={v:.3g}" for k, v in spread.items())
        + f" (bounds per device: {results[0].bound_spread})"
    )
    return "\n".join(lines)


def _model_mean(result: FitResult, w: FloatArray, *, up: bool) -> FloatArray:
    """Nominal mean step magnitude ``dw_min·q_±(w)`` of a fit."""
    dev = result.device()
    q = dev.q_plus(w) if up else dev.q_minus(w)
    return np.asarray(result.params["dw_min"] * q, dtype=np.float64)


def plot_fit(
    traces: Traces, results: FitResult | Sequence[FitResult], *, rng: int = 1, n_bins: int = 24
) -> Figure:
    """Figure of data vs model: mean step vs state (up, down), and a simulated trace.

    Parameters
    ----------
    traces : Traces
        The measured traces.
    results : FitResult or sequence of FitResult
        The fits; the first is simulated in the lower panel.
    rng : int, optional
        Seed of the simulated trace.
    n_bins : int, optional
        State bins of the binned mean step.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels.

    Raises
    ------
    MissingExtraError
        Without matplotlib (extra ``plot``).
    """
    from pulsetrain.plots import _new_figure

    fits = [results] if isinstance(results, FitResult) else list(results)
    fig = _new_figure((9.0, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    _, before, after, sign = traces.steps()
    mag = (after - before) * sign
    lo, hi = float(before.min()), float(before.max())
    edges = np.linspace(lo, hi, n_bins + 1)
    centre = 0.5 * (edges[1:] + edges[:-1])
    for s, colour, label in ((1, "#4c72b0", "up"), (-1, "#dd8452", "down")):
        sel = sign == s
        ax1.scatter(before[sel], mag[sel], s=2, alpha=0.15, color=colour, linewidths=0)
        idx = np.clip(np.digitize(before[sel], edges) - 1, 0, n_bins - 1)
        cnt = np.bincount(idx, minlength=n_bins)
        tot = np.bincount(idx, weights=mag[sel], minlength=n_bins)
        ok = cnt > 0
        ax1.plot(centre[ok], tot[ok] / cnt[ok], "o", ms=3, color=colour, label=f"data {label}")
    grid = np.linspace(lo, hi, 200)
    styles = ["-", "--", ":", "-."]
    for k, r in enumerate(fits[:4]):
        for s, colour in ((True, "#4c72b0"), (False, "#dd8452")):
            ax1.plot(
                grid,
                _model_mean(r, grid, up=s),
                styles[k],
                color=colour,
                lw=1.2,
                label=f"{r.family} {'up' if s else 'down'}",
            )
    ax1.set_xlabel("state w before the pulse")
    ax1.set_ylabel("step magnitude |Δw|")
    ax1.set_title("mean step vs state")
    ax1.legend(fontsize=6, ncol=2)
    w0 = traces.states[0]
    d0 = traces.directions[0]
    ax2.plot(np.arange(w0.size), w0, color="0.2", lw=0.8, label=f"measured {traces.names[0]}")
    sim = simulate_traces(fits[0].device(), n_devices=1, directions=d0, w0=float(w0[0]), rng=rng)
    ax2.plot(
        np.arange(w0.size),
        sim.states[0],
        color="#c44e52",
        lw=0.8,
        alpha=0.8,
        label=f"simulated ({fits[0].family})",
    )
    ax2.set_xlabel("pulse")
    ax2.set_ylabel("state w")
    ax2.set_title("trace")
    ax2.legend(fontsize=7)
    return fig
