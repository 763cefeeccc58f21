"""Zero-shift (ZS) pulse complexity and SP estimation error (shared/theory.md §4.6, §6.18).

Zero-shifting fires N random (or alternating) pulses on every element and reads its state as
the symmetric point (SP) estimate Ŵ◇ (§3.9). This module gives the bounds of P3 §2 and App. C
on how many pulses that takes, the exact moments for a response with linear ``G``, P3 Cor. 3.9's
total pulse counts of RIDER and two-stage ZS + RL, and the error measures of an estimate:

* Thm 2.2 (average iterate): :func:`zs_average_iterate_bound`, :func:`zs_average_iterate_pulses`.
* Thm C.2 (last iterate): :func:`zs_last_iterate_bound`, :func:`zs_last_iterate_floor`,
  :func:`zs_last_iterate_pulses`.
* C.3/C.4 (cyclic): :func:`zs_cyclic_floor`, :func:`zs_cyclic_pairs`.
* Linear ``G`` with slope ``1/tau`` (ALD, skew linear, symmetric soft bounds), no clipping,
  exact: :func:`zs_linear_mean`, :func:`zs_linear_moments`,
  :func:`zs_linear_stationary_variance`, :func:`zs_linear_cyclic_fixed_point`.
* Cor. 3.9: :func:`rider_total_pulses`, :func:`two_stage_total_pulses` (O(·) constants 1).
* :func:`sp_estimation_error`: the mean relative error of §6.18 (H3) and the Frobenius and RMS
  errors.

Symbols: ``dw_min`` is Δw_min; ``mu_q`` the monotonicity constant of P3 Def. C.1
(``q_-' ≥ mu_q`` and ``q_+' ≤ -mu_q``); ``q_max`` the largest response; ``L_q`` the Lipschitz
constant of ``q_±``; ``initial_distance_sq`` is ``‖W_0 - W◇‖²``. Only NumPy and :mod:`math` are
used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import REAL as _REAL
from pulsetrain._validation import Interval, parameter_error
from pulsetrain.analysis.device import FloatArray, _array, _count, _real

__all__ = [
    "SPError",
    "rider_total_pulses",
    "sp_estimation_error",
    "two_stage_total_pulses",
    "zs_average_iterate_bound",
    "zs_average_iterate_pulses",
    "zs_cyclic_floor",
    "zs_cyclic_pairs",
    "zs_last_iterate_bound",
    "zs_last_iterate_floor",
    "zs_last_iterate_pulses",
    "zs_linear_cyclic_fixed_point",
    "zs_linear_mean",
    "zs_linear_moments",
    "zs_linear_stationary_variance",
]

_SKEW: Final = Interval(-1.0, 1.0, closed="neither")


# --------------------------------------------------------------------------------------------
# Private helpers.
# --------------------------------------------------------------------------------------------


def _counts(value: object, name: str, owner: str) -> FloatArray:
    """Coerce pulse counts to a finite float64 array with every entry ``>= 0``."""
    arr = _array(value, name, owner)
    if np.any(arr < 0.0):
        raise parameter_error(name, owner, "a finite real array with every entry >= 0", value)
    return arr


def _contraction_rate(dw_min: float, mu_q: float, name: str, owner: str) -> float:
    """Return ``2 mu_q dw_min``, raising unless ``mu_q < 1/(2 dw_min)`` (Thm C.2's condition)."""
    if not mu_q < 0.5 / dw_min:
        raise parameter_error(
            name, owner, f"a float in the range (0, 1/(2 dw_min) = {0.5 / dw_min!r})", mu_q
        )
    return 2.0 * mu_q * dw_min


def _linear_rates(dw_min: float, tau: float, c: float, owner: str) -> tuple[float, float]:
    """Return ``(a_+, a_-) = (1 - dw_min(1 + c)/tau, 1 - dw_min(1 - c)/tau)``.

    One up pulse maps ``u = w - w◇`` to ``a_+ u + dw_min F(w◇)`` and one down pulse to
    ``a_- u - dw_min F(w◇)``, with ``F(w◇) = 1 - c²`` (derived from §2.1's skew-linear family;
    ALD and symmetric soft bounds are ``c = 0``). Both must lie in [0, 1): a single pulse may not
    overshoot the SP, which is the no-clipping regime of the formulas.
    """
    a_up = 1.0 - dw_min * (1.0 + c) / tau
    a_down = 1.0 - dw_min * (1.0 - c) / tau
    if not (a_up >= 0.0 and a_down >= 0.0):
        raise parameter_error(
            "dw_min",
            owner,
            f"a float in the range (0, tau/(1 + |c|) = {tau / (1.0 + abs(c))!r}]",
            dw_min,
        )
    return a_up, a_down


def _linear_args(
    dw_min: float, tau: float, c: float, sp: float | None, owner: str
) -> tuple[float, float, float, float]:
    """Validate the linear-``G`` arguments; return ``(dw_min, tau, c, w◇)``."""
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    t = _real(tau, "tau", owner, _POSITIVE)
    cc = _real(c, "c", owner, _SKEW)
    w_sp = cc * t if sp is None else _real(sp, "sp", owner, _REAL)
    return dw, t, cc, w_sp


# --------------------------------------------------------------------------------------------
# Thm 2.2 and Thm C.2: stochastic ZS on a general device.
# --------------------------------------------------------------------------------------------


def zs_average_iterate_bound(
    *, n_pulses: float, dw_min: float, phi_gap: float, L_q: float, q_max: float
) -> float:
    """Return P3 Thm 2.2's bound on ``(1/N) Σ_n E‖G(W_n)‖²`` for stochastic ZS (§4.6).

    ``(φ(W_0) - φ(W◇))/(N dw_min) + (L_q/2) dw_min q_max²`` with ``φ = ∫G``. The second term is
    the ``Θ(dw_min)`` floor that survives ``N → ∞``.

    Parameters
    ----------
    n_pulses : float
        Pulses per element N, in [1, inf]; ``math.inf`` returns the floor.
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    phi_gap : float
        ``φ(W_0) - φ(W◇)``, summed over elements, in [0, inf).
    L_q : float
        Lipschitz constant of ``q_±``, in [0, inf).
    q_max : float
        Largest response ``q_±`` on the visited states, in [0, inf).

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
    >>> from pulsetrain.analysis import zs_average_iterate_bound
    >>> b = zs_average_iterate_bound(n_pulses=1000, dw_min=0.01, phi_gap=0.5, L_q=2.0, q_max=1.0)
    >>> round(b, 12)
    0.06
    """
    owner = "zs_average_iterate_bound"
    n = _count(n_pulses, "n_pulses", owner)
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    gap = _real(phi_gap, "phi_gap", owner, _NON_NEGATIVE)
    lq = _real(L_q, "L_q", owner, _NON_NEGATIVE)
    qm = _real(q_max, "q_max", owner, _NON_NEGATIVE)
    rate = 0.0 if math.isinf(n) else gap / (n * dw)
    return rate + 0.5 * lq * dw * qm * qm


def zs_average_iterate_pulses(*, delta: float, dw_min: float) -> float:
    """Return Thm 2.2's pulse count ``N = 1/(delta dw_min)`` for accuracy ``delta`` (§4.6).

    The theorem gives ``N = O(1/(delta dw_min))`` for ``delta >= Θ(dw_min)``; the O(·) constant is
    1 here, so only ratios between calls are meaningful.

    Parameters
    ----------
    delta : float
        Target accuracy δ, in (0, inf).
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).

    Returns
    -------
    float
        ``1/(delta dw_min)`` pulses per element.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_average_iterate_pulses
    >>> round(zs_average_iterate_pulses(delta=0.01, dw_min=0.001), 6)
    100000.0
    """
    owner = "zs_average_iterate_pulses"
    d = _real(delta, "delta", owner, _POSITIVE)
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    return 1.0 / (d * dw)


def zs_last_iterate_bound(
    *,
    n_pulses: npt.ArrayLike,
    dw_min: float,
    mu_q: float,
    q_max: float,
    initial_distance_sq: float,
) -> FloatArray:
    """Return P3 Thm C.2's last-iterate bound on ``E‖W_N - W◇‖²`` for stochastic ZS (§4.6).

    ``(1 - 2 dw_min mu_q)^N ‖W_0 - W◇‖² + dw_min q_max²/mu_q``, valid for
    ``mu_q < 1/(2 dw_min)``.

    Parameters
    ----------
    n_pulses : array_like
        Pulses per element N, each finite and ``>= 0``.
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    mu_q : float
        Monotonicity constant (P3 Def. C.1), in (0, 1/(2 dw_min)).
    q_max : float
        Largest response ``q_±`` on the visited states, in [0, inf).
    initial_distance_sq : float
        ``‖W_0 - W◇‖²``, in [0, inf).

    Returns
    -------
    ndarray of float64
        The bound, shape of ``n_pulses`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_last_iterate_bound
    >>> b = zs_last_iterate_bound(n_pulses=[0, 1000], dw_min=0.01, mu_q=0.5, q_max=1.0,
    ...                           initial_distance_sq=1.0)
    >>> [round(float(v), 6) for v in b]
    [1.02, 0.020043]
    """
    owner = "zs_last_iterate_bound"
    n = _counts(n_pulses, "n_pulses", owner)
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    mu = _real(mu_q, "mu_q", owner, _POSITIVE)
    rate = _contraction_rate(dw, mu, "mu_q", owner)
    qm = _real(q_max, "q_max", owner, _NON_NEGATIVE)
    d0 = _real(initial_distance_sq, "initial_distance_sq", owner, _NON_NEGATIVE)
    return np.asarray((1.0 - rate) ** n * d0 + dw * qm * qm / mu, dtype=np.float64)


def zs_last_iterate_floor(*, dw_min: float, mu_q: float, q_max: float) -> float:
    """Return the smallest accuracy Thm C.2's pulse count reaches, ``2 q_max² dw_min/mu_q``.

    Twice the bound's ``N → ∞`` term: :func:`zs_last_iterate_pulses` spends half of ``delta`` on
    the transient and half on this floor (§4.6).

    Parameters
    ----------
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    mu_q : float
        Monotonicity constant, in (0, 1/(2 dw_min)).
    q_max : float
        Largest response ``q_±``, in [0, inf).

    Returns
    -------
    float
        ``2 q_max² dw_min/mu_q``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_last_iterate_floor
    >>> zs_last_iterate_floor(dw_min=0.01, mu_q=0.5, q_max=1.0)
    0.04
    """
    owner = "zs_last_iterate_floor"
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    mu = _real(mu_q, "mu_q", owner, _POSITIVE)
    _contraction_rate(dw, mu, "mu_q", owner)
    qm = _real(q_max, "q_max", owner, _NON_NEGATIVE)
    return 2.0 * qm * qm * dw / mu


def zs_last_iterate_pulses(
    *, delta: float, dw_min: float, mu_q: float, q_max: float, initial_distance_sq: float
) -> float:
    """Return Thm C.2's sufficient count ``N = log(2‖W_0 - W◇‖²/delta)/(2 mu_q dw_min)`` (§4.6).

    With this N the transient ``(1 - 2 dw_min mu_q)^N ‖W_0 - W◇‖² <= delta/2``, and the floor
    ``dw_min q_max²/mu_q <= delta/2`` whenever ``delta`` is at least
    :func:`zs_last_iterate_floor`; so ``E‖W_N - W◇‖² <= delta``. The count is 0 when
    ``2‖W_0 - W◇‖² <= delta`` (no pulse is needed) and is not rounded up.

    Parameters
    ----------
    delta : float
        Target ``E‖W_N - W◇‖²``, at least ``2 q_max² dw_min/mu_q`` and > 0.
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    mu_q : float
        Monotonicity constant, in (0, 1/(2 dw_min)).
    q_max : float
        Largest response ``q_±``, in [0, inf).
    initial_distance_sq : float
        ``‖W_0 - W◇‖²``, in [0, inf).

    Returns
    -------
    float
        Pulses per element, ``>= 0``.

    Raises
    ------
    ParameterError
        If an argument is out of range, or ``delta`` is below the floor.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_last_iterate_pulses
    >>> round(zs_last_iterate_pulses(delta=0.05, dw_min=0.01, mu_q=0.5, q_max=1.0,
    ...                              initial_distance_sq=1.0), 3)
    368.888
    """
    owner = "zs_last_iterate_pulses"
    d = _real(delta, "delta", owner, _POSITIVE)
    floor = zs_last_iterate_floor(dw_min=dw_min, mu_q=mu_q, q_max=q_max)
    if d < floor:
        raise parameter_error(
            "delta", owner, f"a float in the range [2 q_max² dw_min/mu_q = {floor!r}, inf)", delta
        )
    d0 = _real(initial_distance_sq, "initial_distance_sq", owner, _NON_NEGATIVE)
    if 2.0 * d0 <= d:
        return 0.0
    return math.log(2.0 * d0 / d) / (2.0 * float(mu_q) * float(dw_min))


# --------------------------------------------------------------------------------------------
# C.3/C.4: cyclic ZS.
# --------------------------------------------------------------------------------------------


def zs_cyclic_floor(*, dw_min: float, mu_q: float, q_max: float, L_q: float) -> float:
    """Return the accuracy floor of cyclic ZS, ``dw_min q_max²(4 + L_q²/mu_q + 2 mu_q)/mu_q``.

    P3 C.3/C.4 (§4.6): alternating up/down pulses leave an ``O(dw_min)`` offset that more pairs
    do not remove.

    Parameters
    ----------
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    mu_q : float
        Monotonicity constant, in (0, inf).
    q_max : float
        Largest response ``q_±``, in [0, inf).
    L_q : float
        Lipschitz constant of ``q_±``, in [0, inf).

    Returns
    -------
    float
        The floor on ``‖W - W◇‖²``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_cyclic_floor
    >>> round(zs_cyclic_floor(dw_min=0.01, mu_q=0.5, q_max=1.0, L_q=1.0), 12)
    0.14
    """
    owner = "zs_cyclic_floor"
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    mu = _real(mu_q, "mu_q", owner, _POSITIVE)
    qm = _real(q_max, "q_max", owner, _NON_NEGATIVE)
    lq = _real(L_q, "L_q", owner, _NON_NEGATIVE)
    return dw * qm * qm * (4.0 + lq * lq / mu + 2.0 * mu) / mu


def zs_cyclic_pairs(
    *, delta: float, dw_min: float, mu_q: float, initial_distance_sq: float
) -> float:
    """Return the sufficient number of up/down pairs ``log(2‖W_0 - W◇‖²/delta)/(4 mu_q dw_min)``.

    P3 C.3/C.4 (§4.6); the pulse cost is twice this. Like the stochastic count it is 0 when
    ``2‖W_0 - W◇‖² <= delta``, is not rounded, and only reaches ``delta`` above
    :func:`zs_cyclic_floor`.

    Parameters
    ----------
    delta : float
        Target accuracy, in (0, inf).
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).
    mu_q : float
        Monotonicity constant, in (0, inf).
    initial_distance_sq : float
        ``‖W_0 - W◇‖²``, in [0, inf).

    Returns
    -------
    float
        Pairs per element, ``>= 0``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_cyclic_pairs
    >>> round(zs_cyclic_pairs(delta=0.05, dw_min=0.01, mu_q=0.5, initial_distance_sq=1.0), 3)
    184.444
    """
    owner = "zs_cyclic_pairs"
    d = _real(delta, "delta", owner, _POSITIVE)
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    mu = _real(mu_q, "mu_q", owner, _POSITIVE)
    d0 = _real(initial_distance_sq, "initial_distance_sq", owner, _NON_NEGATIVE)
    if 2.0 * d0 <= d:
        return 0.0
    return math.log(2.0 * d0 / d) / (4.0 * mu * dw)


# --------------------------------------------------------------------------------------------
# Linear G: exact moments (derived).
# --------------------------------------------------------------------------------------------


def zs_linear_mean(
    n_pulses: npt.ArrayLike,
    *,
    dw_min: float,
    tau: float,
    w0: float,
    c: float = 0.0,
    sp: float | None = None,
) -> FloatArray:
    """Return the exact mean ``E[w_N] = w◇ + (1 - dw_min/tau)^N (w_0 - w◇)`` of stochastic ZS.

    For a response with linear ``G`` of slope ``1/tau`` (ALD; skew linear with ``c``; soft bounds
    on [-tau, tau] with equal slopes), no clipping and no cycle-to-cycle noise (§4.6, derived).
    Check C22: skew ``c = 0.3``, ``tau = 1``, ``w_0 = -0.5`` gives 0.00717 (``dw_min = 1e-2``,
    N = 100) and 0.29997 (N = 1000).

    Parameters
    ----------
    n_pulses : array_like
        Pulses per element N, each finite and ``>= 0``.
    dw_min : float
        Pulse granularity Δw_min, in (0, tau/(1 + |c|)].
    tau : float
        Half range τ, in (0, inf).
    w0 : float
        Starting state, any real.
    c : float, optional
        Skew of the skew-linear family, in (-1, 1); 0 (default) for ALD.
    sp : float or None, optional
        The SP w◇; None (default) uses the skew-linear SP ``c tau``.

    Returns
    -------
    ndarray of float64
        ``E[w_N]``, shape of ``n_pulses`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_linear_mean
    >>> round(float(zs_linear_mean(100, dw_min=1e-2, tau=1.0, w0=-0.5, c=0.3)), 5)
    0.00717
    """
    owner = "zs_linear_mean"
    n = _counts(n_pulses, "n_pulses", owner)
    dw, t, cc, w_sp = _linear_args(dw_min, tau, c, sp, owner)
    _linear_rates(dw, t, cc, owner)
    start = _real(w0, "w0", owner, _REAL)
    return np.asarray(w_sp + (1.0 - dw / t) ** n * (start - w_sp), dtype=np.float64)


def zs_linear_stationary_variance(*, dw_min: float, tau: float, c: float = 0.0) -> float:
    """Return the stationary variance ``dw_min tau F(w◇)²/(2 - dw_min(1 + c²)/tau)`` (§4.6).

    ``F(w◇) = 1 - c²``. Stochastic ZS on a linear-``G`` response, no clipping (derived). Check
    C22: standard deviations 0.06452 (``dw_min = 1e-2``) and 0.02035 (``1e-3``) for ``c = 0.3``,
    ``tau = 1``; the cruder ``√(dw_min tau/2)`` omits ``F(w◇)`` (§6.22).

    Parameters
    ----------
    dw_min : float
        Pulse granularity Δw_min, in (0, tau/(1 + |c|)].
    tau : float
        Half range τ, in (0, inf).
    c : float, optional
        Skew, in (-1, 1); default 0.

    Returns
    -------
    float
        ``Var[w_∞]``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> import math
    >>> from pulsetrain.analysis import zs_linear_stationary_variance
    >>> round(math.sqrt(zs_linear_stationary_variance(dw_min=1e-2, tau=1.0, c=0.3)), 5)
    0.06452
    """
    owner = "zs_linear_stationary_variance"
    dw, t, cc, _ = _linear_args(dw_min, tau, c, None, owner)
    _linear_rates(dw, t, cc, owner)
    f_sp = 1.0 - cc * cc
    return dw * t * f_sp * f_sp / (2.0 - dw * (1.0 + cc * cc) / t)


def zs_linear_moments(
    n_pulses: npt.ArrayLike,
    *,
    dw_min: float,
    tau: float,
    w0: float,
    c: float = 0.0,
    sp: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Return the exact mean and standard deviation of ``w_N`` under stochastic ZS (derived).

    With ``u = w - w◇``, one pulse gives ``a_± u ± dw_min F`` (``a_± = 1 - dw_min(1 ± c)/tau``,
    ``F = 1 - c²``) with probability 1/2 each, so ``m_1 = E u`` and ``m_2 = E u²`` obey
    ``m_1' = a m_1`` (``a = 1 - dw_min/tau``) and
    ``m_2' = b m_2 - 2 dw_min² F c m_1/tau + dw_min² F²`` with
    ``b = (a_+² + a_-²)/2``. Solving from ``u_0 = w_0 - w◇``::

        m_2(N) = b^N u_0² + dw_min² F² (1 - b^N)/(1 - b)
                 - 2 dw_min² F c u_0 (a^N - b^N)/(tau (a - b))

    (the last ratio is ``N a^(N-1)`` when ``a = b``). For ``N → ∞`` the variance is
    :func:`zs_linear_stationary_variance`. Same assumptions as :func:`zs_linear_mean`.

    Parameters
    ----------
    n_pulses : array_like
        Pulses per element N, each finite and ``>= 0``.
    dw_min : float
        Pulse granularity Δw_min, in (0, tau/(1 + |c|)].
    tau : float
        Half range τ, in (0, inf).
    w0 : float
        Starting state, any real.
    c : float, optional
        Skew, in (-1, 1); default 0.
    sp : float or None, optional
        The SP w◇; None uses ``c tau``.

    Returns
    -------
    tuple of ndarray of float64
        ``(E[w_N], std[w_N])``, each of the shape of ``n_pulses``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_linear_moments
    >>> mean, std = zs_linear_moments([0, 10_000], dw_min=1e-2, tau=1.0, w0=-0.5, c=0.3)
    >>> [round(float(v), 5) for v in std]
    [0.0, 0.06452]
    """
    owner = "zs_linear_moments"
    n = _counts(n_pulses, "n_pulses", owner)
    dw, t, cc, w_sp = _linear_args(dw_min, tau, c, sp, owner)
    a_up, a_down = _linear_rates(dw, t, cc, owner)
    start = _real(w0, "w0", owner, _REAL)
    u0 = start - w_sp
    f_sp = 1.0 - cc * cc
    a = 1.0 - dw / t
    b = 0.5 * (a_up * a_up + a_down * a_down)
    an, bn = a**n, b**n
    cross = n * a ** np.maximum(n - 1.0, 0.0) if a == b else (an - bn) / (a - b)
    m1 = an * u0
    m2 = (
        bn * u0 * u0
        + dw * dw * f_sp * f_sp * (1.0 - bn) / (1.0 - b)
        - 2.0 * dw * dw * f_sp * cc * u0 * cross / t
    )
    var = np.maximum(m2 - m1 * m1, 0.0)
    return (
        np.asarray(w_sp + m1, dtype=np.float64),
        np.asarray(np.sqrt(var), dtype=np.float64),
    )


def zs_linear_cyclic_fixed_point(
    *, dw_min: float, tau: float, c: float = 0.0, sp: float | None = None
) -> float:
    """Return the state cyclic ZS settles at after an up-then-down pair (derived, exact).

    The pair maps ``u = w - w◇`` to ``a_- (a_+ u + dw_min F) - dw_min F``, a contraction by
    ``a_+ a_-`` per pair with fixed point ``u* = dw_min F (a_- - 1)/(1 - a_+ a_-)``: an
    ``O(dw_min)`` offset below the SP (§4.6 cyclic floor). Check C22: 0.2968004
    (``dw_min = 1e-2``) and 0.2996814 (``1e-3``) for skew ``c = 0.3``, ``tau = 1``; B1 soft bounds
    with SP 0 (``c = 0``, ``tau = 1``) give ``-dw_min/(2 - dw_min)``.

    Parameters
    ----------
    dw_min : float
        Pulse granularity Δw_min, in (0, tau/(1 + |c|)].
    tau : float
        Half range τ, in (0, inf).
    c : float, optional
        Skew, in (-1, 1); default 0.
    sp : float or None, optional
        The SP w◇; None uses ``c tau``.

    Returns
    -------
    float
        ``w◇ + u*``, the state after each down pulse once converged.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import zs_linear_cyclic_fixed_point
    >>> round(zs_linear_cyclic_fixed_point(dw_min=1e-2, tau=1.0, c=0.3), 7)
    0.2968004
    >>> round(zs_linear_cyclic_fixed_point(dw_min=0.05, tau=1.0), 6)
    -0.025641
    """
    owner = "zs_linear_cyclic_fixed_point"
    dw, t, cc, w_sp = _linear_args(dw_min, tau, c, sp, owner)
    a_up, a_down = _linear_rates(dw, t, cc, owner)
    f_sp = 1.0 - cc * cc
    return w_sp + dw * f_sp * (a_down - 1.0) / (1.0 - a_up * a_down)


# --------------------------------------------------------------------------------------------
# P3 Cor. 3.9: total pulses.
# --------------------------------------------------------------------------------------------


def rider_total_pulses(delta: npt.ArrayLike) -> FloatArray:
    """Return P3 Cor. 3.9's total pulse count of RIDER, ``delta^-2`` (O(·) constant 1; §4.6).

    RIDER needs no calibration: its pulses are the training steps, ``K = O(delta^-2)``.

    Parameters
    ----------
    delta : array_like
        Target accuracy δ, each finite and > 0 (the corollary assumes ``delta >= Θ(dw_min)``).

    Returns
    -------
    ndarray of float64
        ``delta^-2``, shape of ``delta``.

    Raises
    ------
    ParameterError
        If an entry of ``delta`` is not finite and > 0.

    Examples
    --------
    >>> from pulsetrain.analysis import rider_total_pulses
    >>> float(rider_total_pulses(0.01))
    10000.0
    """
    owner = "rider_total_pulses"
    d = _array(delta, "delta", owner)
    if np.any(d <= 0.0):
        raise parameter_error("delta", owner, "a finite real array with every entry > 0", delta)
    return np.asarray(d**-2.0, dtype=np.float64)


def two_stage_total_pulses(delta: npt.ArrayLike, *, dw_min: float) -> FloatArray:
    """Return P3 Cor. 3.9's total of two-stage ZS + RL, ``delta^-2 + delta^-1 dw_min^-1`` (§4.6).

    The first term is training, the second the calibration of Thm 2.2
    (:func:`zs_average_iterate_pulses`); O(·) constants are 1. Compared with
    :func:`rider_total_pulses`, calibration dominates once ``delta > dw_min``.

    Parameters
    ----------
    delta : array_like
        Target accuracy δ, each finite and > 0.
    dw_min : float
        Pulse granularity Δw_min, in (0, inf).

    Returns
    -------
    ndarray of float64
        The total, shape of ``delta``.

    Raises
    ------
    ParameterError
        If an argument is out of range.

    Examples
    --------
    >>> from pulsetrain.analysis import two_stage_total_pulses
    >>> round(float(two_stage_total_pulses(0.01, dw_min=0.001)), 6)
    110000.0
    """
    owner = "two_stage_total_pulses"
    d = _array(delta, "delta", owner)
    if np.any(d <= 0.0):
        raise parameter_error("delta", owner, "a finite real array with every entry > 0", delta)
    dw = _real(dw_min, "dw_min", owner, _POSITIVE)
    return np.asarray(d**-2.0 + 1.0 / (d * dw), dtype=np.float64)


# --------------------------------------------------------------------------------------------
# SP estimation error (§6.18).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SPError:
    """Errors of an SP estimate, one value per replica (leading axis), each of shape (R,).

    Attributes
    ----------
    mean_relative : numpy.ndarray
        ``|mean(Ŵ◇) - mean(W◇)|/|mean(W◇)|`` (theory.md §6.18, H3); inf (or NaN for 0/0) where
        ``mean(W◇) = 0``.
    frobenius : numpy.ndarray
        ``‖Ŵ◇ - W◇‖_F``.
    frobenius_relative : numpy.ndarray
        ``‖Ŵ◇ - W◇‖_F/‖W◇‖_F`` (the "Frobenius version" of §6.18); inf/NaN where ``W◇ = 0``.
    rms : numpy.ndarray
        ``√mean((Ŵ◇ - W◇)²)``, as :attr:`pulsetrain.zero_shift.ZeroShiftResult.rms_error`.
    """

    mean_relative: FloatArray
    frobenius: FloatArray
    frobenius_relative: FloatArray
    rms: FloatArray


def sp_estimation_error(estimate: npt.ArrayLike, true_sp: npt.ArrayLike) -> SPError:
    """Return the errors of an SP estimate against the true SP, per replica (§6.18).

    The leading axis indexes replicas and the rest of each replica's elements are pooled, as in
    :class:`~pulsetrain.zero_shift.ZeroShiftResult` (shape (R, out, in)); pass ``x[None]`` to
    treat one array as a single replica.

    Parameters
    ----------
    estimate : array_like
        Ŵ◇, finite, at least 1-d.
    true_sp : array_like
        W◇, finite, the shape of ``estimate``.

    Returns
    -------
    SPError
        Mean relative, Frobenius (absolute and relative) and RMS errors, each (R,).

    Raises
    ------
    ParameterError
        If an array is not finite, is 0-d, or the shapes differ.

    Examples
    --------
    >>> from pulsetrain.analysis import sp_estimation_error
    >>> err = sp_estimation_error([[0.11, 0.09, 0.102]], [[0.1, 0.1, 0.1]])
    >>> round(float(err.mean_relative[0]), 6), round(float(err.rms[0]), 6)
    (0.006667, 0.008246)
    """
    owner = "sp_estimation_error"
    est = _array(estimate, "estimate", owner)
    true = _array(true_sp, "true_sp", owner)
    if est.ndim == 0 or est.size == 0:
        raise parameter_error(
            "estimate", owner, "a finite, non-empty real array of shape (R, ...)", estimate
        )
    if true.shape != est.shape:
        raise parameter_error(
            "true_sp", owner, f"a finite real array of the shape of estimate {est.shape}", true_sp
        )
    r = est.shape[0]
    e = est.reshape(r, -1)
    t = true.reshape(r, -1)
    diff = e - t
    fro = np.sqrt(np.einsum("ri,ri->r", diff, diff))
    norm_true = np.sqrt(np.einsum("ri,ri->r", t, t))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_rel = np.abs(e.mean(axis=1) - t.mean(axis=1)) / np.abs(t.mean(axis=1))
        fro_rel = fro / norm_true
    return SPError(
        mean_relative=np.asarray(mean_rel, dtype=np.float64),
        frobenius=np.asarray(fro, dtype=np.float64),
        frobenius_relative=np.asarray(fro_rel, dtype=np.float64),
        rms=np.asarray(np.sqrt(np.mean(diff * diff, axis=1)), dtype=np.float64),
    )
