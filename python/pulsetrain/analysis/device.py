"""Device quantities of the analysis (shared/theory.md §1.3, §2.1, §4.1, §4.3).

Every function takes a :class:`~pulsetrain.devices.Device` or one of its response families (or
any object with the same ``F``, ``G``, ``M``, ``symmetric_point`` and ``bounds`` methods, see
:class:`DeviceLike`) and evaluates the *nominal* response: device-to-device spreads and the
reference array are ignored. ``q_±``, ``F``, ``G`` and the SP come from the device itself; this
module only adds the derived quantities::

    R = G/F,   R_c(w) = ∫_{w◇}^{w} R,   M = q_+ q_- = F² - G²,   R'(w◇) = G'(w◇)/F(w◇)

Only NumPy is used: the quadrature is an adaptive, vectorised Gauss-Legendre rule and the root
finder a bracketed bisection, so the optional ``fit`` extra (SciPy) is never needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import (
    Constraint,
    FiniteArray,
    Interval,
    NoneOr,
    parameter_error,
    validate_args,
)
from pulsetrain.devices import Device, Ideal
from pulsetrain.devices._base import _Response

__all__ = [
    "DeviceLike",
    "F",
    "G",
    "R",
    "R_c",
    "n_states",
    "saturation",
    "saturation_degree",
    "slope_at_sp",
]

FloatArray = npt.NDArray[np.float64]


# Gauss-Legendre rule on [-1, 1]: 15 nodes integrate polynomials of degree <= 29 exactly.
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(15)
_QUAD_TOL: Final = 1e-13
"""Accepted |two halves - whole| per panel, per unit of the panel's share of the interval."""
_QUAD_MIN_PANEL: Final = 1e-13
"""Panels shorter than this are accepted as they are: |R| <= 1, so each adds at most its length."""
_QUAD_MAX_ROUNDS: Final = 60
_QUAD_START_PANELS: Final = 4
_BISECTION_STEPS: Final = 200
_SLOPE_STEP: Final = 1e-3
"""First finite-difference step of the numeric SP slope, as a fraction of ``hi - lo``."""


@runtime_checkable
class DeviceLike(Protocol):
    """What the analysis needs from a device: a :class:`~pulsetrain.devices.Device` or family.

    ``F``, ``G`` and ``M`` are vectorised over ``w``; ``symmetric_point`` is NaN when every
    point is symmetric (:class:`~pulsetrain.devices.Ideal`); ``bounds`` is ``(lo, hi)``.
    """

    def F(self, w: npt.ArrayLike) -> FloatArray:
        """Return ``F = (q_- + q_+)/2`` at ``w``."""

    def G(self, w: npt.ArrayLike) -> FloatArray:
        """Return ``G = (q_- - q_+)/2`` at ``w``."""

    def M(self, w: npt.ArrayLike) -> FloatArray:
        """Return ``M = q_+ q_-`` at ``w``."""

    def symmetric_point(self) -> float:
        """Return the root of ``G`` (NaN if ``G ≡ 0``)."""

    def bounds(self) -> tuple[float, float]:
        """Return the state bounds ``(lo, hi)``."""


# --------------------------------------------------------------------------------------------
# Validation helpers shared by the analysis modules (private).
# --------------------------------------------------------------------------------------------


class DeviceLikeConstraint(Constraint):
    """An object with the :class:`DeviceLike` API (a constraint for ``validate_args``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DeviceLikeConstraint()"

    def accepts(self, value: object) -> bool:
        return isinstance(value, DeviceLike)

    def describe(self) -> str:
        return "a Device, a response family or an object with F, G, M, symmetric_point and bounds"

    def invalid(self) -> object:
        return "ald"


DEVICE_LIKE: Final = DeviceLikeConstraint()
"""The ``device`` argument of every analysis function."""
FINITE_ARRAY: Final = FiniteArray()
"""An array argument: converted to float64, finite everywhere."""


def _check_device(device: object, owner: str) -> DeviceLike:
    """Return ``device`` if it has the :class:`DeviceLike` API, else raise ParameterError."""
    return cast("DeviceLike", DEVICE_LIKE.validate(device, name="device", owner=owner))


def _real(
    value: object,
    name: str,
    owner: str,
    interval: Interval,
) -> float:
    """Return ``value`` as a float if ``interval`` accepts it, else raise ParameterError."""
    if not interval.accepts(value):
        raise parameter_error(name, owner, interval.describe(), value)
    return float(value)  # type: ignore[arg-type]


def _count(value: object, name: str, owner: str) -> float:
    """Return a step count in ``[1, inf]`` (``math.inf`` is the K → ∞ limit) as a float."""
    ok = (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, int | float | np.integer | np.floating)
        and not math.isnan(float(value))
        and float(value) >= 1.0
    )
    if not ok:
        raise parameter_error(name, owner, "a number in the range [1, inf] (inf: the limit)", value)
    return float(value)  # type: ignore[arg-type]


def _array(value: object, name: str, owner: str) -> FloatArray:
    """Coerce ``value`` to a finite float64 array, else raise ParameterError."""
    return cast("FloatArray", FINITE_ARRAY.validate(value, name=name, owner=owner))


def _inside_bounds(device: DeviceLike, w: FloatArray, name: str, owner: str) -> None:
    """Raise ParameterError unless every element of ``w`` lies in ``[lo, hi]``."""
    lo, hi = device.bounds()
    outside = (w < lo) | (w > hi)
    if np.any(outside):
        raise parameter_error(
            name, owner, f"inside the bounds [{lo!r}, {hi!r}] everywhere", float(w[outside][0])
        )


def _trajectory(value: object, name: str, owner: str) -> FloatArray:
    """Coerce a trajectory ``(K, ...)`` with ``K >= 1`` to a finite float64 array."""
    arr = _array(value, name, owner)
    if arr.ndim == 0 or arr.shape[0] < 1:
        raise parameter_error(
            name, owner, "a finite real array of shape (K, ...) with K >= 1", value
        )
    return arr


def _max_abs(traj: FloatArray) -> FloatArray:
    """Return ``‖W_k‖∞`` for each ``k`` of a trajectory ``(K, ...)``, shape ``(K,)``."""
    return np.asarray(np.abs(traj.reshape(traj.shape[0], -1)).max(axis=1), dtype=np.float64)


def _bisect(fun: Callable[[float], float], a: float, b: float) -> float:
    """Return a root of ``fun`` in ``[a, b]`` by bisection to adjacent floats.

    The caller guarantees ``fun(a)`` and ``fun(b)`` have opposite signs (or one is zero).
    """
    fa = fun(a)
    if fa == 0.0:
        return a
    if fun(b) == 0.0:
        return b
    for _ in range(_BISECTION_STEPS):
        m = 0.5 * (a + b)
        if m <= a or m >= b:
            break
        fm = fun(m)
        if fm == 0.0:
            return m
        if (fm > 0.0) == (fa > 0.0):
            a, fa = m, fm
        else:
            b = m
    return 0.5 * (a + b)


def _response(device: DeviceLike) -> object:
    """Return the response family behind a :class:`Device`, or the object itself."""
    return device.response if isinstance(device, Device) else device


def _is_ideal(device: DeviceLike) -> bool:
    return isinstance(_response(device), Ideal)


def _finite_sp(device: DeviceLike, owner: str) -> float:
    """Return the SP, raising ParameterError if it is not finite (and ``G`` is not ≡ 0)."""
    sp = float(device.symmetric_point())
    if not math.isfinite(sp):
        raise parameter_error("device", owner, "a device with a finite symmetric point", device)
    return sp


# --------------------------------------------------------------------------------------------
# Public functions.
# --------------------------------------------------------------------------------------------


@validate_args(device=DEVICE_LIKE, w=FINITE_ARRAY)
def F(device: DeviceLike, w: npt.ArrayLike) -> FloatArray:
    """Return the symmetric component ``F = (q_- + q_+)/2`` (shared/theory.md §1.2).

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family.
    w : array_like
        States, in weight units; any finite values (the family's formula is evaluated as is).

    Returns
    -------
    ndarray of float64
        ``F(w)``, same shape as ``w`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API or ``w`` is not finite.

    Examples
    --------
    >>> from pulsetrain import SkewLinear
    >>> from pulsetrain.analysis import F
    >>> round(float(F(SkewLinear(tau=1.0, c_lin=0.3), 0.7)), 12)
    0.79
    """
    dev, x = device, cast("FloatArray", w)  # validate_args made it a finite float64 array
    return np.asarray(dev.F(x), dtype=np.float64)


@validate_args(device=DEVICE_LIKE, w=FINITE_ARRAY)
def G(device: DeviceLike, w: npt.ArrayLike) -> FloatArray:
    """Return the asymmetric component ``G = (q_- - q_+)/2`` (shared/theory.md §1.2).

    ``G`` vanishes at the symmetric point and increases through it for every family of §2.1.

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family.
    w : array_like
        States, in weight units; any finite values.

    Returns
    -------
    ndarray of float64
        ``G(w)``, same shape as ``w`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API or ``w`` is not finite.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import G
    >>> float(G(ALD(tau=2.0), 0.5))
    0.25
    """
    dev, x = device, cast("FloatArray", w)  # validate_args made it a finite float64 array
    return np.asarray(dev.G(x), dtype=np.float64)


@validate_args(device=DEVICE_LIKE, w=FINITE_ARRAY)
def R(device: DeviceLike, w: npt.ArrayLike) -> FloatArray:
    """Return ``R = G/F``, the gradient of the implicit penalty (shared/theory.md §4.1).

    Since ``q_± >= 0`` inside the bounds, ``|R| <= 1`` there.

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family.
    w : array_like
        States inside the bounds ``[lo, hi]`` of the device, in weight units.

    Returns
    -------
    ndarray of float64
        ``R(w)``, same shape as ``w`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API, or ``w`` is not finite or leaves the bounds.

    Examples
    --------
    >>> from pulsetrain import SkewLinear
    >>> from pulsetrain.analysis import R
    >>> round(float(R(SkewLinear(tau=1.0, c_lin=0.3), 0.7)), 12)
    0.506329113924
    """
    dev, x = device, cast("FloatArray", w)  # validate_args made it a finite float64 array
    _inside_bounds(dev, x, "w", "R")
    return _ratio(dev, x)


def _ratio(device: DeviceLike, x: FloatArray) -> FloatArray:
    """``G/F`` without validation (``x`` already checked)."""
    return np.asarray(device.G(x) / device.F(x), dtype=np.float64)


def _integrate_r(device: DeviceLike, a: float, b: FloatArray) -> FloatArray:
    """Return ``∫_a^{b_i} R`` for every element of the 1-D array ``b``.

    Adaptive composite Gauss-Legendre, vectorised over all open panels: each panel is
    integrated with the 15-point rule as a whole and as two halves; a panel is accepted (with
    the two-half value) when the two differ by less than ``_QUAD_TOL`` times its share of the
    interval, or when it is shorter than ``_QUAD_MIN_PANEL``; otherwise both halves are
    re-examined. Square-root end singularities (power family with ``gamma_res < 1`` at a bound)
    only cost a few extra rounds near that end.
    """
    n = b.size
    total = np.zeros(n, dtype=np.float64)
    length = b - a
    span = np.abs(length)
    # Start with equal panels so that a smooth integrand is usually accepted at once.
    frac = np.arange(_QUAD_START_PANELS + 1, dtype=np.float64) / _QUAD_START_PANELS
    edges = a + length[:, None] * frac[None, :]
    edges[:, -1] = b
    keep = np.repeat(span > 0, _QUAD_START_PANELS)
    owner = np.repeat(np.arange(n), _QUAD_START_PANELS)[keep]
    left = edges[:, :-1].ravel()[keep]
    right = edges[:, 1:].ravel()[keep]
    for round_ in range(_QUAD_MAX_ROUNDS):
        if owner.size == 0:
            break
        mid = 0.5 * (left + right)
        whole = _gl(device, left, right)
        halves = _gl(device, left, mid) + _gl(device, mid, right)
        width = np.abs(right - left)
        err = np.abs(halves - whole)
        done = (err <= _QUAD_TOL * width / span[owner]) | (width <= _QUAD_MIN_PANEL)
        if round_ == _QUAD_MAX_ROUNDS - 1:
            done[:] = True
        np.add.at(total, owner[done], halves[done])
        todo = ~done
        owner = np.repeat(owner[todo], 2)
        new_left = np.stack([left[todo], mid[todo]], axis=1).ravel()
        new_right = np.stack([mid[todo], right[todo]], axis=1).ravel()
        left, right = new_left, new_right
    return total


def _gl(device: DeviceLike, left: FloatArray, right: FloatArray) -> FloatArray:
    """15-point Gauss-Legendre value of ``∫_left^right R`` for each panel (signed)."""
    half = 0.5 * (right - left)
    centre = 0.5 * (right + left)
    nodes = centre[:, None] + half[:, None] * _GL_NODES[None, :]
    values = _ratio(device, nodes)
    return np.asarray(half * (values @ _GL_WEIGHTS), dtype=np.float64)


@validate_args(device=DEVICE_LIKE, w=FINITE_ARRAY)
def R_c(device: DeviceLike, w: npt.ArrayLike) -> FloatArray:
    """Return the implicit penalty ``R_c(w) = ∫_{w◇}^{w} G/F`` (shared/theory.md §4.1).

    ``R_c >= 0`` with its minimum 0 at the SP ``w◇``. For ALD, ``(w - w◇)²/(2 tau)`` (check C3).
    The integral is evaluated numerically (adaptive 15-point Gauss-Legendre, vectorised over
    ``w``); the absolute error is about 1e-13 per unit of ``|w - w◇|`` for smooth responses and
    below 1e-10 with square-root end singularities. For :class:`~pulsetrain.devices.Ideal`
    (``G ≡ 0``) it is 0.

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family with a finite SP (or Ideal).
    w : array_like
        States inside the bounds ``[lo, hi]``, in weight units.

    Returns
    -------
    ndarray of float64
        ``R_c(w)``, same shape as ``w`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API or has no finite SP, or ``w`` is not finite or leaves
        the bounds.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import R_c
    >>> round(float(R_c(ALD(tau=1.0, sp=0.1), 0.5)), 12)
    0.08
    """
    dev, x = device, cast("FloatArray", w)  # validate_args made it a finite float64 array
    _inside_bounds(dev, x, "w", "R_c")
    if _is_ideal(dev):
        return np.zeros(x.shape, dtype=np.float64)
    sp = _finite_sp(dev, "R_c")
    flat = x.ravel()
    return _integrate_r(dev, sp, flat).reshape(x.shape)


@validate_args(device=DEVICE_LIKE, w=FINITE_ARRAY)
def saturation(device: DeviceLike, w: npt.ArrayLike) -> FloatArray:
    """Return the saturation ``M = q_+ q_- = F² - G²`` (shared/theory.md §1.3, §4.3).

    For ALD, ``M = 1 - ((w - w◇)/tau)²``. ``M_min`` of §4.3 is its minimum along a trajectory.

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family.
    w : array_like
        States, in weight units; any finite values.

    Returns
    -------
    ndarray of float64
        ``M(w)``, same shape as ``w`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API or ``w`` is not finite.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import saturation
    >>> float(saturation(ALD(tau=1.0), 0.5))
    0.75
    """
    dev, x = device, cast("FloatArray", w)  # validate_args made it a finite float64 array
    return np.asarray(dev.M(x), dtype=np.float64)


def _numeric_slope(device: DeviceLike, sp: float) -> float:
    """``R'(w◇)`` by central differences with two Richardson steps (error O(h⁶))."""
    lo, hi = device.bounds()
    h = min(_SLOPE_STEP * (hi - lo), 0.5 * (sp - lo), 0.5 * (hi - sp))
    if not h > 0.0:
        raise parameter_error(
            "device", "slope_at_sp", "a device whose SP lies strictly inside its bounds", device
        )
    steps = np.array([h, h / 2, h / 4])
    points = np.concatenate([sp + steps, sp - steps])
    r = _ratio(device, points)
    d = (r[:3] - r[3:]) / (2 * steps)
    d1 = (4 * d[1:] - d[:-1]) / 3
    return float((16 * d1[1] - d1[0]) / 15)


@validate_args(device=DEVICE_LIKE)
def slope_at_sp(device: DeviceLike) -> float:
    """Return ``R'(w◇) = G'(w◇)/F(w◇)``, the curvature of the penalty at the SP (§2.1, §4.2).

    Closed forms: ALD ``1/tau``; skew linear ``1/(tau(1 - c²))``; linear step
    ``(1/tau_max - 1/tau_min)/2``; soft bounds ``(a_up/w_max - a_down/w_min)/(2 q_+(w◇))``;
    power ``gamma_r/tau``; exponential ``gamma_r e^gamma_r/(tau(e^gamma_r - 1))``; Ideal 0.
    Otherwise (power step, exponential step, other objects) a central difference of ``R`` with
    two Richardson extrapolations (first step ``1e-3 (hi - lo)``; relative error about 1e-10
    for smooth responses).

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family; its SP must be finite and
        strictly inside the bounds unless a closed form applies.

    Returns
    -------
    float
        ``R'(w◇)``, in 1/weight units.

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API, or the numeric path has no finite SP inside the bounds.

    Examples
    --------
    >>> from pulsetrain import PowerStep, SkewLinear, SoftBounds
    >>> from pulsetrain.analysis import slope_at_sp
    >>> round(slope_at_sp(SkewLinear(tau=1.0, c_lin=0.2)), 12)
    1.041666666667
    >>> round(slope_at_sp(SoftBounds()), 12)
    1.0
    >>> round(slope_at_sp(PowerStep(gamma_up=1.0, gamma_down=2.0)), 8)  # numeric
    1.46352549
    """
    dev = device
    resp = _response(dev)
    # The families' closed forms assume equal mean steps; a device's up_down imbalance moves
    # the SP and the slope, so it takes the numeric path.
    balanced = float(getattr(dev, "up_down", 0.0)) == 0.0
    closed = resp.slope_at_sp() if isinstance(resp, _Response) and balanced else None
    if closed is not None:
        return closed
    return _numeric_slope(dev, _finite_sp(dev, "slope_at_sp"))


@validate_args(device=DEVICE_LIKE, dw_min=NoneOr(_POSITIVE))
def n_states(device: DeviceLike, dw_min: float | None = None) -> float:
    """Return the number of states ``(hi - lo)/dw_min`` (shared/theory.md §0).

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` (its ``dw_min`` is the default) or a response
        family (then ``dw_min`` is required).
    dw_min : float, optional
        Pulse granularity Δw_min in weight units, in (0, inf); overrides ``device.dw_min``.

    Returns
    -------
    float
        ``(hi - lo)/dw_min``, not rounded.

    Raises
    ------
    ParameterError
        If ``device`` lacks the device API, or ``dw_min`` is missing (for a family) or not in
        (0, inf).

    Examples
    --------
    >>> from pulsetrain import ALD, Device
    >>> from pulsetrain.analysis import n_states
    >>> n_states(Device(response=ALD(tau=1.0), dw_min=1e-3))
    2000.0
    >>> n_states(ALD(tau=0.5), dw_min=0.25)
    4.0
    """
    dev = device
    if dw_min is None:
        if not isinstance(dev, Device):
            raise parameter_error(
                "dw_min", "n_states", "a float in the range (0, inf) for a response family", None
            )
        step = dev.dw_min
    else:
        step = dw_min
    lo, hi = dev.bounds()
    return (hi - lo) / step


@validate_args(W=FINITE_ARRAY, tau=_POSITIVE)
def saturation_degree(W: npt.ArrayLike, tau: float) -> float:
    """Return the saturation degree ``‖W‖∞/tau`` (shared/theory.md §4.3).

    Parameters
    ----------
    W : array_like
        Weights (any shape, at least one element), finite, in weight units.
    tau : float
        Half range τ (or τ_max), in (0, inf).

    Returns
    -------
    float
        ``max |W| / tau``; P2 Thm 1 keeps it ``<= 1`` for ALD (check C11).

    Raises
    ------
    ParameterError
        If ``W`` is empty or not finite, or ``tau`` is not in (0, inf).

    Examples
    --------
    >>> from pulsetrain.analysis import saturation_degree
    >>> saturation_degree([0.1, -0.4, 0.2], 0.8)
    0.5
    """
    arr = cast("FloatArray", W)  # validate_args made it a finite float64 array
    if arr.size == 0:
        raise parameter_error("W", "saturation_degree", "a finite real array with >= 1 element", W)
    return float(np.max(np.abs(arr))) / tau
