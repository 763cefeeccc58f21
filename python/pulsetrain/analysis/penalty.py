"""Implicit penalty, fixed points, amplification and error bounds (shared/theory.md §4.1-4.5).

* §4.1: :func:`implicit_objective` ``f_Σ = f + ⟨Σ, R_c⟩`` and :func:`effective_update` ``T(W)``.
* §4.2: :func:`predicted_fixed_point` (P1 Eq. 43), its scalar form, and the exact scalar mean fixed
  point :func:`exact_scalar_fixed_point` under Gaussian gradient noise.
* §4.3: the amplification factors ``S_K`` (P1, P2) and ``R_T`` (P4).
* §4.4: the error-bound forms of the table, one function per row.
* §4.5: the two-point noise of P2's lower-bound instance.

Only NumPy and :mod:`math` are used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import (
    REAL,
    Constraint,
    Integral,
    Interval,
    parameter_error,
    validate_args,
)
from pulsetrain.analysis.device import (
    DeviceLike,
    FloatArray,
    R_c,
    _array,
    _bisect,
    _check_device,
    _count,
    _inside_bounds,
    _is_ideal,
    _max_abs,
    _ratio,
    _real,
    _trajectory,
)
from pulsetrain.rng import as_seed_sequence

__all__ = [
    "R_T",
    "S_K_ald",
    "S_K_ald_bound",
    "S_K_asgd",
    "analog_gd_bound_p1",
    "analog_gd_bound_p2",
    "asgd_error_bound_p1",
    "asgd_error_bound_p2",
    "effective_update",
    "exact_scalar_fixed_point",
    "expected_abs_gaussian",
    "implicit_objective",
    "lower_bound_expected_abs",
    "lower_bound_noise",
    "predicted_fixed_point",
    "predicted_fixed_point_scalar",
    "rider_bound_p3",
    "rl_bound_p1",
    "single_tile_bound_p4",
    "tt_bound_p2",
    "tt_p_max_p2",
]


class _StepCount(Constraint):
    """A step count in ``[1, inf]`` (``math.inf`` is the K → ∞ limit), stored as a float."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_StepCount()"

    def accepts(self, value: object) -> bool:
        return (
            not isinstance(value, bool | np.bool_)
            and isinstance(value, int | float | np.integer | np.floating)
            and not math.isnan(float(value))
            and float(value) >= 1.0
        )

    def normalise(self, value: object) -> object:
        return float(value)  # type: ignore[arg-type]

    def describe(self) -> str:
        return "a number in the range [1, inf] (inf: the limit)"

    def invalid(self) -> object:
        return 0.5


_COUNT: Final = _StepCount()
"""Same check and message as ``analysis.device._count``."""
_UNIT_OPEN: Final = Interval(0.0, 1.0, closed="left")
_AT_LEAST_ONE: Final = Interval(1.0, None, closed="left")
_DIM: Final = Integral(1, None)
_SQRT_2_OVER_PI: Final = math.sqrt(2.0 / math.pi)


# --------------------------------------------------------------------------------------------
# §4.1 Implicit penalty.
# --------------------------------------------------------------------------------------------


def implicit_objective(
    f: Callable[[FloatArray], Any],
    device: DeviceLike,
    W: npt.ArrayLike,
    Sigma: npt.ArrayLike,
) -> float:
    """Return the objective ``f_Σ(W) = f(W) + ⟨Σ, R_c(W)⟩`` that Analog SGD minimises (§4.1).

    With ``Σ = E|∇f(W*; ξ)|`` (P1 Thm 1/5); for ALD with SP 0 it is ``f + ‖W‖²_Σ/(2 tau)``.

    Parameters
    ----------
    f : callable
        The objective: takes ``W`` as a float64 array of the shape of ``W`` and returns a real
        scalar.
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family (same on every element).
    W : array_like
        Weights, every element inside the device bounds, in weight units.
    Sigma : array_like
        Gradient-noise scale ``Σ = E|∇f(W*; ξ)|`` per element, ``>= 0``, broadcastable to ``W``.

    Returns
    -------
    float
        ``f(W) + Σ_d Σ_d R_c(W_d)``.

    Raises
    ------
    ParameterError
        If ``f`` is not callable or returns a non-finite or non-scalar value, ``device`` lacks
        the device API, ``W`` leaves the bounds, or ``Sigma`` is negative, non-finite or does not
        broadcast to ``W``.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import implicit_objective
    >>> f = lambda w: 0.5 * float(((w - 0.5) ** 2).sum())
    >>> round(implicit_objective(f, ALD(tau=1.0), [0.3], [0.4]), 12)
    0.038
    """
    owner = "implicit_objective"
    if not callable(f):
        raise parameter_error("f", owner, "a callable returning a real scalar", f)
    dev = _check_device(device, owner)
    w = _array(W, "W", owner)
    _inside_bounds(dev, w, "W", owner)
    sig = _array(Sigma, "Sigma", owner)
    if np.any(sig < 0):
        raise parameter_error("Sigma", owner, "a finite array with every element >= 0", Sigma)
    try:
        sig_b = np.broadcast_to(sig, w.shape)
    except ValueError as err:
        raise parameter_error("Sigma", owner, f"broadcastable to shape {w.shape}", Sigma) from err
    value = f(w.copy())
    try:
        fw = float(value)
    except (TypeError, ValueError) as err:
        raise parameter_error("f", owner, "a callable returning a real scalar", value) from err
    if not math.isfinite(fw):
        raise parameter_error("f", owner, "a callable returning a finite value", value)
    return fw + float(np.sum(sig_b * R_c(dev, w)))


def effective_update(
    device: DeviceLike,
    W: npt.ArrayLike,
    grad_mean: npt.ArrayLike,
    grad_abs: npt.ArrayLike,
) -> FloatArray:
    """Return the scaled effective update ``T(W) = E∇f + E|∇f| ⊙ G/F`` (§4.1).

    The mean Analog SGD step is ``-lr F(W) ⊙ T(W)``; ``T`` vanishes exactly at a mean-stationary
    point. With two-point noise ``±σ`` at a critical point (``E∇f = 0``, ``E|∇f| = σ``) on ALD
    with SP 0 it is ``σW/tau`` (check C16).

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family.
    W : array_like
        Weights inside the device bounds, in weight units.
    grad_mean : array_like
        ``E[g]`` per element, finite, broadcastable with ``W``.
    grad_abs : array_like
        ``E|g|`` per element, ``>= |E[g]|`` in theory (not checked), ``>= 0``, broadcastable.

    Returns
    -------
    ndarray of float64
        ``T(W)``, the broadcast shape.

    Raises
    ------
    ParameterError
        If an argument is not finite, ``W`` leaves the bounds, ``grad_abs`` is negative or the
        shapes do not broadcast.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import effective_update
    >>> round(float(effective_update(ALD(tau=2.0), 0.4, 0.0, 0.5)), 12)
    0.1
    """
    owner = "effective_update"
    dev = _check_device(device, owner)
    w = _array(W, "W", owner)
    _inside_bounds(dev, w, "W", owner)
    gm = _array(grad_mean, "grad_mean", owner)
    ga = _array(grad_abs, "grad_abs", owner)
    if np.any(ga < 0):
        raise parameter_error("grad_abs", owner, "a finite array with every element >= 0", grad_abs)
    try:
        shape = np.broadcast_shapes(w.shape, gm.shape, ga.shape)
    except ValueError as err:
        raise parameter_error(
            "grad_abs", owner, "broadcastable with W and grad_mean", grad_abs
        ) from err
    r = np.broadcast_to(_ratio(dev, w), shape)
    return np.asarray(gm + ga * r, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# §4.2 Predictor and exact scalar fixed point.
# --------------------------------------------------------------------------------------------


def _erf(x: FloatArray) -> FloatArray:
    """``math.erf`` element-wise (NumPy has no erf)."""
    flat = np.fromiter((math.erf(v) for v in x.ravel()), dtype=np.float64, count=x.size)
    return flat.reshape(x.shape)


def expected_abs_gaussian(m: npt.ArrayLike, sigma: npt.ArrayLike) -> FloatArray:
    """Return ``E|g|`` for ``g ~ N(m, sigma²)`` (shared/theory.md §4.2).

    ``E|g| = sigma √(2/π) exp(-m²/(2 sigma²)) + m (1 - 2Φ(-m/sigma))``, evaluated as
    ``sigma √(2/π) exp(-z²) + m erf(z)`` with ``z = m/(sigma √2)``; ``|m|`` where ``sigma = 0``.

    Parameters
    ----------
    m : array_like
        Means, finite.
    sigma : array_like
        Standard deviations, finite and ``>= 0``, broadcastable with ``m``.

    Returns
    -------
    ndarray of float64
        ``E|g|``, the broadcast shape (0-d for scalars).

    Raises
    ------
    ParameterError
        If ``m`` or ``sigma`` is not finite, ``sigma`` is negative or the shapes do not broadcast.

    Examples
    --------
    >>> from pulsetrain.analysis import expected_abs_gaussian
    >>> round(float(expected_abs_gaussian(0.0, 0.5)), 6)
    0.398942
    >>> float(expected_abs_gaussian(-2.0, 0.0))
    2.0
    """
    owner = "expected_abs_gaussian"
    mu = _array(m, "m", owner)
    sd = _array(sigma, "sigma", owner)
    if np.any(sd < 0):
        raise parameter_error("sigma", owner, "a finite array with every element >= 0", sigma)
    try:
        mu, sd = np.broadcast_arrays(mu, sd)
    except ValueError as err:
        raise parameter_error("sigma", owner, "broadcastable with m", sigma) from err
    positive = sd > 0
    safe = np.where(positive, sd, 1.0)
    z = mu / (safe * math.sqrt(2.0))
    smooth = safe * _SQRT_2_OVER_PI * np.exp(-(z * z)) + mu * _erf(z)
    return np.asarray(np.where(positive, smooth, np.abs(mu)), dtype=np.float64)


def predicted_fixed_point(
    hessian: npt.ArrayLike,
    w_star: npt.ArrayLike,
    Sigma: npt.ArrayLike,
    dR_sp: npt.ArrayLike,
    w_sp: npt.ArrayLike,
) -> FloatArray:
    """Return the predicted Analog SGD fixed point of P1 Eq. 43 (shared/theory.md §4.2).

    ``W~* = (H + Diag(Σ) J)^{-1} (H W* + Diag(Σ) J W◇)`` with ``H = ∇²f(W*)`` and
    ``J = ∇R(W◇)``. Since ``R`` acts element-wise, ``J`` is normally ``Diag(R'(w◇_d))``
    (:func:`~pulsetrain.analysis.slope_at_sp` per element); a full matrix is accepted too.
    At ``W~*``, ``∇f_Σ`` and ``T`` are ``O(‖W◇ - W*‖²)``.

    Parameters
    ----------
    hessian : array_like, shape (D, D)
        ``∇²f(W*)``, finite, ``D >= 1``.
    w_star : array_like, shape (D,)
        Minimiser ``W*`` of ``f``.
    Sigma : array_like, shape (D,) or scalar
        ``Σ = E|∇f(W*; ξ)|``, ``>= 0``.
    dR_sp : array_like, shape (D,), (D, D) or scalar
        ``R'(w◇_d)`` per element (the diagonal of ``J``), or the full Jacobian ``J``.
    w_sp : array_like, shape (D,) or scalar
        Symmetric points ``W◇``.

    Returns
    -------
    ndarray of float64, shape (D,)
        ``W~*``.

    Raises
    ------
    ParameterError
        If an argument is not finite or has the wrong shape, ``Sigma`` is negative, or
        ``H + Diag(Σ) J`` is singular.

    Examples
    --------
    >>> import numpy as np
    >>> from pulsetrain.analysis import predicted_fixed_point
    >>> w = predicted_fixed_point(np.eye(2), [0.5, -0.5], 0.398942, 1.0, 0.0)
    >>> np.round(w, 6).tolist()
    [0.357413, -0.357413]
    """
    owner = "predicted_fixed_point"
    h = _array(hessian, "hessian", owner)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or h.shape[0] < 1:
        raise parameter_error("hessian", owner, "a finite square matrix of shape (D, D)", hessian)
    d = h.shape[0]
    ws = _vector(w_star, "w_star", owner, d)
    sig = _vector(Sigma, "Sigma", owner, d)
    if np.any(sig < 0):
        raise parameter_error("Sigma", owner, "a finite array with every element >= 0", Sigma)
    sp = _vector(w_sp, "w_sp", owner, d)
    jac_in = _array(dR_sp, "dR_sp", owner)
    if jac_in.ndim == 2:
        if jac_in.shape != (d, d):
            raise parameter_error("dR_sp", owner, f"of shape ({d},), ({d}, {d}) or scalar", dR_sp)
        jac = jac_in
    else:
        jac = np.diag(_vector(jac_in, "dR_sp", owner, d))
    penalty = sig[:, None] * jac  # Diag(Σ) J
    try:
        return np.asarray(np.linalg.solve(h + penalty, h @ ws + penalty @ sp), dtype=np.float64)
    except np.linalg.LinAlgError as err:
        raise parameter_error(
            "hessian", owner, "such that hessian + Diag(Sigma) dR_sp is non-singular", hessian
        ) from err


def _vector(value: npt.ArrayLike, name: str, owner: str, d: int) -> FloatArray:
    """Return a finite vector of length ``d`` (scalars broadcast)."""
    arr = _array(value, name, owner)
    if arr.ndim == 0:
        return np.full(d, float(arr))
    if arr.shape != (d,):
        raise parameter_error(name, owner, f"a finite array of shape ({d},) or a scalar", value)
    return arr


def predicted_fixed_point_scalar(
    f2: float, w_star: float, Sigma: float, slope: float, w_sp: float
) -> float:
    """Return the scalar predictor ``(f''w* + Σ R'(w◇) w◇)/(f'' + Σ R'(w◇))`` (§4.2).

    The scalar form of P1 Eq. 43 (the printed Eq. 60 has sign errors). For ALD and a quadratic
    ``f`` it is ``L w*/(L + Σ/tau)``. Checks C18/C30: 0.357413 (ALD) and 0.411930 (skew linear,
    ``c = 0.2``, ``tau = 1``, so ``w◇ = 0.2``, ``R' = 1/(1 - c²)``).

    Parameters
    ----------
    f2 : float
        Curvature ``f''(w*)``, in [0, inf).
    w_star : float
        Minimiser ``w*``, finite.
    Sigma : float
        ``Σ = E|f'(w*; ξ)|``, in [0, inf).
    slope : float
        ``R'(w◇)``, in [0, inf) (:func:`~pulsetrain.analysis.slope_at_sp`).
    w_sp : float
        Symmetric point ``w◇``, finite.

    Returns
    -------
    float
        ``W~*``.

    Raises
    ------
    ParameterError
        If an argument is out of range, or ``f2 + Sigma·slope = 0``.

    Examples
    --------
    >>> from pulsetrain.analysis import predicted_fixed_point_scalar
    >>> round(predicted_fixed_point_scalar(1.0, 0.5, 0.3989422804, 1 / 0.96, 0.2), 6)
    0.41193
    """
    owner = "predicted_fixed_point_scalar"
    a = _real(f2, "f2", owner, _NON_NEGATIVE)
    ws = _real(w_star, "w_star", owner, REAL)
    sig = _real(Sigma, "Sigma", owner, _NON_NEGATIVE)
    k = _real(slope, "slope", owner, _NON_NEGATIVE)
    sp = _real(w_sp, "w_sp", owner, REAL)
    denom = a + sig * k
    if not denom > 0:
        raise parameter_error("f2", owner, "such that f2 + Sigma*slope > 0", f2)
    return (a * ws + sig * k * sp) / denom


def exact_scalar_fixed_point(device: DeviceLike, w_star: float, L: float, sigma: float) -> float:
    """Return the exact mean fixed point of scalar Analog SGD on a quadratic (§4.2).

    The root ``w`` of ``E[g] F(w) + E|g| G(w) = 0`` with ``g ~ N(L(w - w*), sigma²)``, i.e. of
    the mean compact update of ``f = (L/2)(w - w*)²``. It lies between ``w◇`` and ``w*`` (the
    two terms have opposite signs there because ``G`` increases through the SP) and is found by
    bisection to adjacent floats. The §4.2 example (ALD ``tau = 1``, ``w* = 0.5``, ``L = 1``,
    ``sigma = 0.5``) gives 0.353098; the predictor gives 0.357413. For Ideal it is ``w*``.

    Parameters
    ----------
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family with a finite SP (or Ideal).
    w_star : float
        Minimiser ``w*``, inside the device bounds.
    L : float
        Curvature ``L``, in (0, inf).
    sigma : float
        Gradient-noise standard deviation, in [0, inf).

    Returns
    -------
    float
        The fixed point, in weight units.

    Raises
    ------
    ParameterError
        If an argument is out of range, or ``E[g]F + E|g|G`` does not change sign between the SP
        and ``w*`` (``G`` not increasing through the SP).

    Examples
    --------
    >>> from pulsetrain import ALD, SkewLinear
    >>> from pulsetrain.analysis import exact_scalar_fixed_point
    >>> round(exact_scalar_fixed_point(ALD(tau=1.0), 0.5, 1.0, 0.5), 6)
    0.353098
    >>> round(exact_scalar_fixed_point(SkewLinear(tau=1.0, c_lin=0.2), 0.5, 1.0, 0.5), 6)
    0.408085
    """
    owner = "exact_scalar_fixed_point"
    dev = _check_device(device, owner)
    ws = _real(w_star, "w_star", owner, REAL)
    _inside_bounds(dev, np.asarray(ws), "w_star", owner)
    lip = _real(L, "L", owner, _POSITIVE)
    sd = _real(sigma, "sigma", owner, _NON_NEGATIVE)
    if _is_ideal(dev):
        return ws
    sp = float(dev.symmetric_point())
    if not math.isfinite(sp):
        raise parameter_error("device", owner, "a device with a finite symmetric point", device)

    def drift(w: float) -> float:
        m = lip * (w - ws)
        x = np.asarray(w)
        abs_g = float(expected_abs_gaussian(m, sd))
        return m * float(dev.F(x)) + abs_g * float(dev.G(x))

    a, b = min(sp, ws), max(sp, ws)
    if a == b:
        return ws
    fa, fb = drift(a), drift(b)
    if fa * fb > 0:
        raise parameter_error(
            "device",
            owner,
            "a device whose G increases through its symmetric point (no sign change found)",
            device,
        )
    return _bisect(drift, a, b)


# --------------------------------------------------------------------------------------------
# §4.3 Saturation and amplification.
# --------------------------------------------------------------------------------------------


def S_K_asgd(W_traj: npt.ArrayLike, device: DeviceLike) -> float:
    """Return P1's amplification factor ``S_K = (1/K) Σ_k ‖G(W_k)/√F(W_k)‖∞²`` (§4.3).

    ``S_K^RL`` is the same with the residual array ``P_k`` in place of ``W_k``.

    Parameters
    ----------
    W_traj : array_like, shape (K, ...)
        Trajectory: axis 0 is the step ``k`` (``K >= 1``), the other axes one weight array;
        every element inside the device bounds.
    device : DeviceLike
        A :class:`~pulsetrain.devices.Device` or response family, with ``F > 0`` on the states.

    Returns
    -------
    float
        ``S_K``, ``>= 0``.

    Raises
    ------
    ParameterError
        If ``W_traj`` is empty, not finite or leaves the bounds, or ``F <= 0`` on it.

    Examples
    --------
    >>> from pulsetrain import ALD
    >>> from pulsetrain.analysis import S_K_asgd
    >>> round(S_K_asgd([[0.1, -0.5], [0.0, 0.3]], ALD(tau=1.0)), 12)
    0.17
    """
    owner = "S_K_asgd"
    dev = _check_device(device, owner)
    traj = _trajectory(W_traj, "W_traj", owner)
    _inside_bounds(dev, traj, "W_traj", owner)
    f = np.asarray(dev.F(traj), dtype=np.float64)
    if np.any(f <= 0):
        raise parameter_error("W_traj", owner, "states where F > 0", W_traj)
    g = np.asarray(dev.G(traj), dtype=np.float64)
    per_step = (g * g / f).reshape(traj.shape[0], -1).max(axis=1)
    return float(np.mean(per_step))


def S_K_ald(W_traj: npt.ArrayLike, tau: float) -> float:
    """Return P2's ALD amplification factor (§4.3).

    ``S_K = (1/K) Σ_k (‖W_k‖∞²/tau²)/(1 - ‖W_k‖∞²/tau²)`` (ALD with SP 0). P4's ``S_T`` is the
    same with ``tau_max``.

    Parameters
    ----------
    W_traj : array_like, shape (K, ...)
        Trajectory: axis 0 is the step (``K >= 1``); every ``|W|`` strictly below ``tau``.
    tau : float
        Half range τ, in (0, inf).

    Returns
    -------
    float
        ``S_K``, ``>= 0``; at most :func:`S_K_ald_bound` of ``max_k ‖W_k‖∞/tau``.

    Raises
    ------
    ParameterError
        If ``W_traj`` is empty or not finite, ``tau`` is out of range or some ``‖W_k‖∞ >= tau``.

    Examples
    --------
    >>> from pulsetrain.analysis import S_K_ald
    >>> round(S_K_ald([[0.5, -0.2], [0.0, 0.0]], 1.0), 12)
    0.166666666667
    """
    owner = "S_K_ald"
    x2 = _saturation_ratio2(W_traj, tau, owner, "tau")
    return float(np.mean(x2 / (1.0 - x2)))


def _saturation_ratio2(W_traj: npt.ArrayLike, tau: float, owner: str, tau_name: str) -> FloatArray:
    """``(‖W_k‖∞/tau)²`` per step, requiring it to be < 1."""
    traj = _trajectory(W_traj, "W_traj", owner)
    t = _real(tau, tau_name, owner, _POSITIVE)
    x = _max_abs(traj) / t
    if np.any(x >= 1.0):
        raise parameter_error(
            "W_traj", owner, f"a trajectory with every |W| < {tau_name}={t!r}", float(np.max(x) * t)
        )
    return x * x


@validate_args(w_max_over_tau=_UNIT_OPEN)
def S_K_ald_bound(w_max_over_tau: float) -> float:
    """Return the bound ``x²/(1 - x²)`` on P2's ``S_K`` with ``x = W_max/tau`` (§4.3).

    ``x = 0.5`` gives 1/3 (check C31).

    Parameters
    ----------
    w_max_over_tau : float
        Saturation degree ``W_max/tau = max_k ‖W_k‖∞/tau``, in [0, 1).

    Returns
    -------
    float
        ``x²/(1 - x²)``.

    Raises
    ------
    ParameterError
        If ``w_max_over_tau`` is not in [0, 1).

    Examples
    --------
    >>> from pulsetrain.analysis import S_K_ald_bound
    >>> round(S_K_ald_bound(0.5), 15)
    0.333333333333333
    """
    x = w_max_over_tau
    return x * x / (1.0 - x * x)


def R_T(W_traj: npt.ArrayLike, tau_max: float, L: float) -> float:
    """Return P4's factor ``R_T = (1/T) Σ_t 2L/(1 - ‖W_t‖∞²/tau_max²)`` (§4.3).

    Parameters
    ----------
    W_traj : array_like, shape (T, ...)
        Trajectory: axis 0 is the step (``T >= 1``); every ``|W|`` strictly below ``tau_max``.
    tau_max : float
        Upper bound τ_max (symmetric bounds), in (0, inf).
    L : float
        Smoothness constant ``L``, in (0, inf).

    Returns
    -------
    float
        ``R_T >= 2L``.

    Raises
    ------
    ParameterError
        If ``W_traj`` is empty or not finite, ``tau_max`` or ``L`` is out of range, or some
        ``‖W_t‖∞ >= tau_max``.

    Examples
    --------
    >>> from pulsetrain.analysis import R_T
    >>> round(R_T([[0.5], [0.0]], 1.0, 1.0), 12)
    2.333333333333
    """
    owner = "R_T"
    x2 = _saturation_ratio2(W_traj, tau_max, owner, "tau_max")
    lip = _real(L, "L", owner, _POSITIVE)
    return float(np.mean(2.0 * lip / (1.0 - x2)))


# --------------------------------------------------------------------------------------------
# §4.4 Error bounds. Each returns the printed form; O(·)/Θ(·) constants are those printed in
# shared/theory.md §4.4, or 1 where none is printed. ``n_steps = inf`` gives the K → ∞ limit.
# --------------------------------------------------------------------------------------------


def _rate(f_gap: float, sigma: float, L: float, n_steps: float) -> float:
    """``√((f_0 - f*) sigma² L/K)``, 0 in the limit ``K = inf``."""
    return 0.0 if math.isinf(n_steps) else math.sqrt(f_gap * sigma * sigma * L / n_steps)


@validate_args(
    n_steps=_COUNT,
    sigma=_NON_NEGATIVE,
    L=_POSITIVE,
    f_gap=_NON_NEGATIVE,
    F_max=_POSITIVE,
    S_K=_NON_NEGATIVE,
)
def asgd_error_bound_p1(
    *, n_steps: float, sigma: float, L: float, f_gap: float, F_max: float, S_K: float
) -> float:
    """Return P1 Thm 2's Analog SGD bound (§4.4, explicit constants as printed).

    ``16 F_max² √((f_0 - f*) sigma² L/K) + 8 F_max sigma² S_K``, a bound on
    ``(1/K) Σ E‖∇f(W_k)‖²`` at the step size of §3.15. The asymptotic error (``K → ∞``) is
    ``8 F_max sigma² S_K``.

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns the asymptotic term.
    sigma : float
        Gradient-noise standard deviation σ, in [0, inf).
    L : float
        Smoothness constant, in (0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    F_max : float
        Maximum of ``F`` over the states, in (0, inf).
    S_K : float
        Amplification factor :func:`S_K_asgd`, in [0, inf).

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import asgd_error_bound_p1
    >>> asgd_error_bound_p1(n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, F_max=1.0, S_K=0.5)
    5.6
    """
    k = n_steps
    s = sigma
    lip = L
    gap = f_gap
    fm = F_max
    sk = S_K
    return 16.0 * fm * fm * _rate(gap, s, lip, k) + 8.0 * fm * s * s * sk


@validate_args(
    n_steps=_COUNT,
    sigma=_NON_NEGATIVE,
    L=_POSITIVE,
    f_gap=_NON_NEGATIVE,
    w_max_over_tau=_UNIT_OPEN,
    S_K=_NON_NEGATIVE,
)
def asgd_error_bound_p2(
    *, n_steps: float, sigma: float, L: float, f_gap: float, w_max_over_tau: float, S_K: float
) -> float:
    """Return P2 Thm 2's Analog SGD bound for ALD (§4.4, constants as printed).

    ``4 √((f_0 - f*) sigma² L/K)/(1 - W_max²/tau²) + 4 sigma² S_K``; the asymptotic error is
    ``4 sigma² S_∞`` (lim sup), which P2 Thm 3 shows is attained (up to ``Θ(lr)``).

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns the asymptotic term.
    sigma : float
        Gradient-noise standard deviation σ, in [0, inf).
    L : float
        Smoothness constant, in (0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    w_max_over_tau : float
        Saturation degree ``W_max/tau``, in [0, 1).
    S_K : float
        Amplification factor :func:`S_K_ald`, in [0, inf).

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import asgd_error_bound_p2
    >>> asgd_error_bound_p2(
    ...     n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, w_max_over_tau=0.5, S_K=1 / 3
    ... )  # doctest: +ELLIPSIS
    1.866666...
    """
    k = n_steps
    s = sigma
    lip = L
    gap = f_gap
    x = w_max_over_tau
    sk = S_K
    return 4.0 * _rate(gap, s, lip, k) / (1.0 - x * x) + 4.0 * s * s * sk


@validate_args(n_steps=_COUNT, L=_POSITIVE, f_gap=_NON_NEGATIVE, F_max=_POSITIVE)
def analog_gd_bound_p1(*, n_steps: float, L: float, f_gap: float, F_max: float) -> float:
    """Return P1 Thm 6's Analog GD bound ``8 L (f_0 - f*) F_max²/K`` (§4.4).

    No asymptotic error: the bound is 0 as ``K → ∞``.

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns 0.
    L : float
        Smoothness constant, in (0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    F_max : float
        Maximum of ``F``, in (0, inf).

    Returns
    -------
    float
        The bound on ``(1/K) Σ ‖∇f(W_k)‖²``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import analog_gd_bound_p1
    >>> analog_gd_bound_p1(n_steps=80, L=1.0, f_gap=1.0, F_max=1.0)
    0.1
    """
    k = n_steps
    lip = L
    gap = f_gap
    fm = F_max
    return 8.0 * lip * gap * fm * fm / k


@validate_args(n_steps=_COUNT, L=_POSITIVE, f_gap=_NON_NEGATIVE, w_max_over_tau=_UNIT_OPEN)
def analog_gd_bound_p2(*, n_steps: float, L: float, f_gap: float, w_max_over_tau: float) -> float:
    """Return P2 Thm 9's Analog GD bound ``2 (f_0 - f*) L/(K (1 - W_max²/tau²))`` (§4.4).

    No asymptotic error: the bound is 0 as ``K → ∞``.

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns 0.
    L : float
        Smoothness constant, in (0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    w_max_over_tau : float
        Saturation degree ``W_max/tau``, in [0, 1).

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import analog_gd_bound_p2
    >>> analog_gd_bound_p2(n_steps=75, L=1.0, f_gap=1.0, w_max_over_tau=0.5)
    0.035555555555555556
    """
    k = n_steps
    lip = L
    gap = f_gap
    x = w_max_over_tau
    return 2.0 * gap * lip / (k * (1.0 - x * x))


def tt_p_max_p2(*, sigma: float, L: float, tau: float, D: int, c: float) -> float:
    """Return P2 Thm 4's bound ``P_max = √(41 L² tau⁴ D/(c² sigma²))`` on ``E‖P‖∞²`` (§4.4).

    ``E‖P‖∞² <= P_max²`` for Tiki-Taka on ALD, assuming i.i.d. coordinate noise with
    ``E|g + ε_i| >= c sigma``.

    Parameters
    ----------
    sigma : float
        Gradient-noise standard deviation σ, in (0, inf).
    L : float
        Smoothness constant, in (0, inf).
    tau : float
        ALD half range τ, in (0, inf).
    D : int
        Number of weights, at least 1.
    c : float
        Noise constant ``c`` of ``E|g + ε_i| >= c sigma``, in (0, inf).

    Returns
    -------
    float
        ``P_max``, in weight units.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import tt_p_max_p2
    >>> round(tt_p_max_p2(sigma=1.0, L=1.0, tau=0.1, D=1, c=1.0), 12)
    0.064031242374
    """
    owner = "tt_p_max_p2"
    s = _real(sigma, "sigma", owner, _POSITIVE)
    lip = _real(L, "L", owner, _POSITIVE)
    t = _real(tau, "tau", owner, _POSITIVE)
    if not _DIM.accepts(D):
        raise parameter_error("D", owner, _DIM.describe(), D)
    cc = _real(c, "c", owner, _POSITIVE)
    return math.sqrt(41.0 * lip * lip * t**4 * int(D) / (cc * cc * s * s))


def tt_bound_p2(
    *, n_steps: float, sigma: float, L: float, f_gap: float, tau: float, D: int, c: float
) -> float:
    """Return P2 Thm 4's Tiki-Taka bound ``√((f_0 - f*) sigma² L/K)/(1 - 33 P_max²/tau²)`` (§4.4).

    ``P_max`` is :func:`tt_p_max_p2`. The theorem applies only if ``33 P_max²/tau² < 1``;
    otherwise this returns ``inf`` (no bound). The ``O(·)`` constant is 1 (none is printed).
    No asymptotic error: the bound is 0 as ``K → ∞``.

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns the limit (0 or inf).
    sigma : float
        Gradient-noise standard deviation σ, in (0, inf).
    L : float
        Smoothness constant, in (0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    tau : float
        ALD half range τ, in (0, inf).
    D : int
        Number of weights, at least 1.
    c : float
        Noise constant of ``E|g + ε_i| >= c sigma``, in (0, inf).

    Returns
    -------
    float
        The bound, or ``inf`` if ``33 P_max²/tau² >= 1``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import tt_bound_p2
    >>> round(tt_bound_p2(n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, tau=0.01, D=1, c=1.0), 6)
    0.115647
    >>> tt_bound_p2(n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, tau=1.0, D=1, c=1.0)
    inf
    """
    owner = "tt_bound_p2"
    k = _count(n_steps, "n_steps", owner)
    gap = _real(f_gap, "f_gap", owner, _NON_NEGATIVE)
    p_max = tt_p_max_p2(sigma=sigma, L=L, tau=tau, D=D, c=c)
    denom = 1.0 - 33.0 * p_max * p_max / (float(tau) * float(tau))
    if not denom > 0:
        return math.inf
    return _rate(gap, float(sigma), float(L), k) / denom


@validate_args(n_steps=_COUNT, sigma=_NON_NEGATIVE, S_K_rl=_NON_NEGATIVE, F_max=_POSITIVE)
def rl_bound_p1(*, n_steps: float, sigma: float, S_K_rl: float, F_max: float = 1.0) -> float:
    """Return P1 Thm 3's Residual Learning bound ``24 F_max (√(sigma²/K) + sigma² S_K^RL)`` (§4.4).

    theory.md prints ``O(√(sigma²/K) + sigma² S_K^RL)`` "(constant 24 F_max)"; the constant is
    applied to the whole expression. The asymptotic error is ``24 F_max sigma² S_K^RL``, which
    vanishes when ``P_k → 0`` and ``G(0) = 0`` (P1 Cor. 1: then ``O(√(sigma² L/K))``, i.e.
    pass ``S_K_rl = 0``).

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns the asymptotic term.
    sigma : float
        Gradient-noise standard deviation σ, in [0, inf).
    S_K_rl : float
        :func:`S_K_asgd` evaluated on the residual trajectory ``P_k``, in [0, inf).
    F_max : float, optional
        Maximum of ``F``, in (0, inf); default 1.

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import rl_bound_p1
    >>> round(rl_bound_p1(n_steps=100, sigma=1.0, S_K_rl=0.0), 12)
    2.4
    """
    k = n_steps
    s = sigma
    sk = S_K_rl
    fm = F_max
    rate = 0.0 if math.isinf(k) else s / math.sqrt(k)
    return 24.0 * fm * (rate + s * s * sk)


@validate_args(n_steps=_COUNT, kappa_1=_AT_LEAST_ONE, kappa_2=_AT_LEAST_ONE, dw_min=_NON_NEGATIVE)
def rider_bound_p3(*, n_steps: float, kappa_1: float, kappa_2: float, dw_min: float) -> float:
    """Return P3 Thm 3.7's RIDER bound ``κ_1 κ_2⁵/√K + Δw_min`` (§4.4; constants 1).

    ``κ_1 = L/μ`` and ``κ_2 = q_max/q_min``. The asymptotic error is the ``Θ(Δw_min)`` term.

    Parameters
    ----------
    n_steps : float
        Number of steps ``K``, in [1, inf]; ``math.inf`` returns ``dw_min``.
    kappa_1 : float
        Condition number ``L/μ``, in [1, inf).
    kappa_2 : float
        Response ratio ``q_max/q_min``, in [1, inf).
    dw_min : float
        Pulse granularity Δw_min, in [0, inf).

    Returns
    -------
    float
        The bound on ``(1/K) Σ E[‖W_k - W*‖² + ...]``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import rider_bound_p3
    >>> rider_bound_p3(n_steps=10000, kappa_1=2.0, kappa_2=1.0, dw_min=0.001)
    0.021
    """
    k = n_steps
    k1 = kappa_1
    k2 = kappa_2
    dw = dw_min
    rate = 0.0 if math.isinf(k) else k1 * k2**5 / math.sqrt(k)
    return rate + dw


@validate_args(
    n_steps=_COUNT,
    sigma=_NON_NEGATIVE,
    f_gap=_NON_NEGATIVE,
    S_T=_NON_NEGATIVE,
    R_T=_NON_NEGATIVE,
    dw_min=_NON_NEGATIVE,
)
def single_tile_bound_p4(
    *, n_steps: float, sigma: float, f_gap: float, S_T: float, R_T: float, dw_min: float
) -> float:
    """Return P4 Thm 1/2's single-tile bound (§4.4; the O(·) constant is 1).

    ``R_T √(2 (f_0 - f*) sigma²/T) + 4 sigma² S_T + R_T Δw_min`` on
    ``(1/T) Σ E‖W* - W_t‖²``. The asymptotic error is ``4 sigma² S_T + R_T Δw_min``: the
    asymmetry × noise term and the limited-states term (P4 Thm 2 shows both are attained).

    Parameters
    ----------
    n_steps : float
        Number of steps ``T``, in [1, inf]; ``math.inf`` returns the asymptotic term.
    sigma : float
        Gradient-noise standard deviation σ, in [0, inf).
    f_gap : float
        ``f(W_0) - f*``, in [0, inf).
    S_T : float
        Amplification factor (:func:`S_K_ald` with ``tau_max``), in [0, inf).
    R_T : float
        Factor of :func:`R_T`, in [0, inf).
    dw_min : float
        Pulse granularity Δw_min, in [0, inf).

    Returns
    -------
    float
        The bound.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import single_tile_bound_p4
    >>> single_tile_bound_p4(n_steps=200, sigma=1.0, f_gap=1.0, S_T=0.25, R_T=2.0, dw_min=0.01)
    1.22
    """
    k = n_steps
    s = sigma
    gap = f_gap
    st = S_T
    rt = R_T
    dw = dw_min
    rate = 0.0 if math.isinf(k) else rt * math.sqrt(2.0 * gap * s * s / k)
    return rate + 4.0 * s * s * st + rt * dw


# --------------------------------------------------------------------------------------------
# §4.5 Lower-bound instance (P2 App. G.2).
# --------------------------------------------------------------------------------------------


def _two_point(
    w: npt.ArrayLike, tau: float, sigma: float, D: int, owner: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate and return ``p``, the upper value ``a`` and the lower value ``b`` of ξ."""
    t = _real(tau, "tau", owner, _POSITIVE)
    s_total = _real(sigma, "sigma", owner, _NON_NEGATIVE)
    if not _DIM.accepts(D):
        raise parameter_error("D", owner, _DIM.describe(), D)
    x = _array(w, "w", owner)
    if np.any(np.abs(x) >= t):
        raise parameter_error("w", owner, f"inside the open interval (-{t!r}, {t!r})", w)
    s = s_total / math.sqrt(int(D))
    p = 0.5 * (1.0 - x / t)
    return p, s * np.sqrt((1.0 - p) / p), -s * np.sqrt(p / (1.0 - p))


def lower_bound_noise(
    w: npt.ArrayLike,
    tau: float,
    sigma: float,
    D: int,
    size: int | tuple[int, ...] | None = None,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> FloatArray:
    """Draw the two-point noise ξ of P2's lower-bound instance (App. G.2; shared/theory.md §4.5).

    ``ξ = s√((1-p)/p)`` with probability ``p`` and ``-s√(p/(1-p))`` otherwise, where
    ``s = sigma/√D`` and ``p = (1 - w/tau)/2``. Then ``E ξ = 0`` and ``Var ξ = s²``. The noise
    vector of the instance is ``ε = ξ·1`` (one draw shared by all ``D`` coordinates).

    Parameters
    ----------
    w : array_like
        Current (common) weight value(s), each in the open interval (-tau, tau).
    tau : float
        ALD half range τ, in (0, inf).
    sigma : float
        Total noise level σ, in [0, inf).
    D : int
        Number of weights, at least 1.
    size : int or tuple of int, optional
        Output shape; ``w`` must broadcast to it. Default: the shape of ``w``.
    rng : int, SeedSequence, Generator or None, optional
        Seed (see :func:`pulsetrain.rng.as_seed_sequence`); ``None`` uses fresh entropy.

    Returns
    -------
    ndarray of float64
        Draws of ξ, shape ``size``.

    Raises
    ------
    ParameterError
        If an argument is out of range or ``w`` does not broadcast to ``size``.

    Examples
    --------
    >>> from pulsetrain.analysis import lower_bound_noise
    >>> xi = lower_bound_noise(0.2, 1.0, 0.3, 4, size=200_000, rng=7)
    >>> sorted({round(float(v), 6) for v in xi})
    [-0.122474, 0.183712]
    >>> abs(float(xi.mean())) < 5 * 0.15 / 200_000**0.5
    True
    """
    owner = "lower_bound_noise"
    p, a, b = _two_point(w, tau, sigma, D, owner)
    shape: tuple[int, ...]
    if size is None:
        shape = p.shape
    elif isinstance(size, int | np.integer) and not isinstance(size, bool) and size >= 0:
        shape = (int(size),)
    elif isinstance(size, tuple) and all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 0 for n in size
    ):
        shape = tuple(int(n) for n in size)
    else:
        raise parameter_error("size", owner, "None, an int >= 0 or a tuple of ints >= 0", size)
    try:
        p_b, a_b, b_b = (np.broadcast_to(v, shape) for v in (p, a, b))
    except ValueError as err:
        raise parameter_error("w", owner, f"broadcastable to size {shape}", w) from err
    gen = np.random.Generator(np.random.Philox(as_seed_sequence(rng)))
    up = gen.random(shape) < p_b
    return np.asarray(np.where(up, a_b, b_b), dtype=np.float64)


def lower_bound_expected_abs(
    g: npt.ArrayLike, w: npt.ArrayLike, tau: float, sigma: float, D: int
) -> FloatArray:
    """Return ``E|g + ξ|`` exactly for the lower-bound noise ξ (shared/theory.md §4.5).

    ``p|g + a| + (1 - p)|g + b|`` with ``a = s√((1-p)/p)``, ``b = -s√(p/(1-p))``. Whenever
    ``-a <= g <= -b`` this equals the closed form ``2 s √(p(1-p)) + (2p - 1) g`` of §4.5. Check C29
    (``tau = 1``, ``sigma = 0.3``, ``D = 4``): 0.1449694 at ``(w, g) = (0.2, 0.01)`` and 0.1370909
    at ``(-0.3, -0.02)``.

    Parameters
    ----------
    g : array_like
        Mean gradient(s) ``g``, finite.
    w : array_like
        Weight value(s) in the open interval (-tau, tau), broadcastable with ``g``.
    tau : float
        ALD half range τ, in (0, inf).
    sigma : float
        Total noise level σ, in [0, inf).
    D : int
        Number of weights, at least 1.

    Returns
    -------
    ndarray of float64
        ``E|g + ξ|``, the broadcast shape.

    Raises
    ------
    ParameterError
        If an argument is out of range or the shapes do not broadcast.

    Examples
    --------
    >>> from pulsetrain.analysis import lower_bound_expected_abs
    >>> round(float(lower_bound_expected_abs(0.01, 0.2, 1.0, 0.3, 4)), 7)
    0.1449694
    """
    owner = "lower_bound_expected_abs"
    p, a, b = _two_point(w, tau, sigma, D, owner)
    x = _array(g, "g", owner)
    try:
        np.broadcast_shapes(x.shape, p.shape)
    except ValueError as err:
        raise parameter_error("g", owner, "broadcastable with w", g) from err
    return np.asarray(p * np.abs(x + a) + (1.0 - p) * np.abs(x + b), dtype=np.float64)
