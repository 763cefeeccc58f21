"""The SP-tracking EMA filter ``Q ← (1 - eta) Q + eta P`` (P3 Lemma 3.10; shared/theory.md §4.7).

Its transfer function is ``H(z) = eta/(1 - (1 - eta) z^{-1})``: a low-pass with pole ``1 - eta``
and time constant about ``1/eta`` steps. ``eta`` is the ``ema_rate`` of the E-RIDER config.
"""

from __future__ import annotations

import math
from typing import Final, cast

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import FiniteArray, Interval, parameter_error, validate_args
from pulsetrain.analysis.device import FloatArray

__all__ = ["chopped_ema_second_moment", "ema_cutoff", "ema_response", "simulate_ema"]

_RATE: Final = Interval(0.0, 1.0, closed="right")
_PROB: Final = Interval(0.0, 1.0, closed="both")
_MAX_CUTOFF_RATE: Final = 2.0 * math.sqrt(2.0) - 2.0
"""Largest ``eta`` whose response falls to 1/2 before ``omega = pi`` (``eta² + 4 eta - 4 = 0``)."""
_CUTOFF_RATE: Final = Interval(0.0, _MAX_CUTOFF_RATE, closed="right")
_ARRAY: Final = FiniteArray()


@validate_args(eta=_RATE, omega=_ARRAY)
def ema_response(eta: float, omega: npt.ArrayLike) -> FloatArray:
    """Return the power response ``|H(e^{jω})|² = eta²/(1 + (1-eta)² - 2(1-eta) cos ω)`` (§4.7).

    It is 1 at ``ω = 0`` and ``eta²/(2 - eta)²`` at ``ω = π``.

    Parameters
    ----------
    eta : float
        EMA rate, in (0, 1].
    omega : array_like
        Angular frequencies in radians per step, finite (any real; the response is
        2π-periodic and even).

    Returns
    -------
    ndarray of float64
        ``|H|²``, same shape as ``omega`` (0-d for a scalar).

    Raises
    ------
    ParameterError
        If ``eta`` is not in (0, 1] or ``omega`` is not finite.

    Examples
    --------
    >>> import math
    >>> from pulsetrain.analysis import ema_response
    >>> [round(float(ema_response(0.5, w)), 6) for w in (0.0, math.pi / 2, math.pi)]
    [1.0, 0.2, 0.111111]
    """
    e, w = eta, cast(FloatArray, omega)
    pole = 1.0 - e
    return np.asarray(e * e / (1.0 + pole * pole - 2.0 * pole * np.cos(w)), dtype=np.float64)


@validate_args(eta=_CUTOFF_RATE)
def ema_cutoff(eta: float) -> float:
    """Return the −3 dB (half-power) frequency ``ω_c`` of the EMA (§4.7, derived).

    ``cos ω_c = 1 - eta²/(2(1 - eta))``, so ``|H(e^{jω_c})|² = 1/2``. For
    ``eta > 2√2 - 2 ≈ 0.8284`` the response never falls to 1/2 and there is no cut-off.

    Parameters
    ----------
    eta : float
        EMA rate, in (0, 2√2 - 2].

    Returns
    -------
    float
        ``ω_c`` in radians per step, in (0, π]; about ``eta`` for small ``eta``.

    Raises
    ------
    ParameterError
        If ``eta`` is not in (0, 2√2 - 2].

    Examples
    --------
    >>> from pulsetrain.analysis import ema_cutoff
    >>> round(ema_cutoff(0.1), 6)
    0.105458
    """
    e = eta
    c = 1.0 - e * e / (2.0 * (1.0 - e))
    return math.acos(max(c, -1.0))


@validate_args(eta=_RATE, p=_PROB)
def chopped_ema_second_moment(eta: float, p: float) -> float:
    """Return the stationary ``E[Q²]/a²`` of the EMA driven by a chopped constant (§4.7).

    Input ``P_k = a c_k`` with a chopper ``c_k = ±1`` that flips with probability ``p`` per step;
    with ``r = 1 - 2p``, ``E[Q²]/a² = (eta/(2 - eta))(1 + r(1 - eta))/(1 - r(1 - eta))``, which is
    1 at ``p = 0`` (derived). Check C28: 0.087179 (``eta = 0.01``, ``p = 0.05``) and 0.501385
    (``eta = 0.1``).

    Parameters
    ----------
    eta : float
        EMA rate, in (0, 1].
    p : float
        Chopper flip probability per step, in [0, 1].

    Returns
    -------
    float
        ``E[Q²]/a²``, in (0, 1].

    Raises
    ------
    ParameterError
        If ``eta`` is not in (0, 1] or ``p`` is not in [0, 1].

    Examples
    --------
    >>> from pulsetrain.analysis import chopped_ema_second_moment
    >>> round(chopped_ema_second_moment(0.01, 0.05), 6)
    0.087179
    >>> round(chopped_ema_second_moment(0.3, 0.0), 12)
    1.0
    """
    e, q = eta, p
    rho = (1.0 - 2.0 * q) * (1.0 - e)
    return (e / (2.0 - e)) * (1.0 + rho) / (1.0 - rho)


@validate_args(eta=_RATE)
def simulate_ema(eta: float, signal: npt.ArrayLike, *, initial: npt.ArrayLike = 0.0) -> FloatArray:
    """Run the EMA ``Q_k = (1 - eta) Q_{k-1} + eta P_k`` over axis 0 of ``signal`` (§4.7).

    A plain loop over the steps, vectorised over the other axes (independent copies), with the
    exact operation order ``(1 - eta)*Q + eta*P``. Chunks of a long signal can be chained by
    passing the last output row as ``initial``.

    Parameters
    ----------
    eta : float
        EMA rate, in (0, 1].
    signal : array_like, shape (K, ...)
        Input ``P_k``, finite, ``K >= 0`` steps along axis 0.
    initial : array_like, optional
        ``Q_{-1}``, finite, broadcastable to ``signal.shape[1:]``; default 0.

    Returns
    -------
    ndarray of float64, shape of ``signal``
        ``Q_k`` after each step.

    Raises
    ------
    ParameterError
        If ``eta`` is out of range, ``signal`` is 0-d or not finite, or ``initial`` is not
        finite or does not broadcast.

    Examples
    --------
    >>> from pulsetrain.analysis import simulate_ema
    >>> simulate_ema(0.5, [1.0, 1.0, 1.0]).tolist()
    [0.5, 0.75, 0.875]
    """
    owner = "simulate_ema"
    e = eta
    # signal and initial are checked here, not by @validate_args, so the 0-d message can show
    # the value as given and the checks keep their order.
    x = cast(FloatArray, _ARRAY.validate(signal, name="signal", owner=owner))
    if x.ndim == 0:
        raise parameter_error("signal", owner, "a finite array of shape (K, ...)", signal)
    q0 = cast(FloatArray, _ARRAY.validate(initial, name="initial", owner=owner))
    try:
        q = np.array(np.broadcast_to(q0, x.shape[1:]), dtype=np.float64)
    except ValueError as err:
        raise parameter_error(
            "initial", owner, f"broadcastable to shape {x.shape[1:]}", initial
        ) from err
    out = np.empty_like(x)
    keep = 1.0 - e
    for k in range(x.shape[0]):
        q = keep * q + e * x[k]
        out[k] = q
    return out
