"""Device response families and the :class:`Device` config (shared/theory.md §1-2).

A response family fixes the shape of the pulse response ``q_+(w)``, ``q_-(w)`` of one element
and its conductance bounds ``(lo, hi)``. :class:`Device` adds the pulse granularity, cycle-to-cycle
noise, device-to-device spreads and the reference array, and produces the spec dict that the
Rust core compiles (KERNEL_SPEC §1).

Every family evaluates the formulas of KERNEL_SPEC §2 in terms of ``(lo, hi)`` in exactly the
order written there, so the NumPy and Rust values agree::

    F = (q_- + q_+)/2,   G = (q_- - q_+)/2,   M = q_+ q_- = F**2 - G**2

The symmetric point (SP) solves ``G(w) = 0`` (shared/theory.md §1.3).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import (
    REAL,
    Bool,
    InstanceOf,
    Interval,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.config import ConfigMixin, register

__all__ = [
    "ALD",
    "C2CMode",
    "Device",
    "ExpStep",
    "Exponential",
    "Ideal",
    "LinearStep",
    "Power",
    "PowerStep",
    "ResponseFamily",
    "SkewLinear",
    "SoftBounds",
    "spec_q_minus",
    "spec_q_plus",
]

FloatArray = npt.NDArray[np.float64]

_NEGATIVE: Final = Interval(None, 0.0, closed="neither")
_GAMMA_EXP: Final = Interval(0.0, 700.0, closed="right")  # exp(700) is finite in float64
_BISECTION_STEPS: Final = 100

FAMILIES: Final = (
    "ideal",
    "linear_step",
    "skew_linear",
    "soft_bounds",
    "power",
    "exponential",
    "power_step",
    "exp_step",
)
"""The spec ``family`` names understood by the Rust core (KERNEL_SPEC §1)."""


class C2CMode(enum.Enum):
    """How cycle-to-cycle noise enters a pulse (shared/theory.md §1.1, §6.14)."""

    ADDITIVE = "additive"
    """Step ``Δw·(q + sigma_c ξ)`` (default; P1, B1, aihwkit ``SoftBoundsReferenceDevice``)."""
    MULTIPLICATIVE = "multiplicative"
    """Step ``Δw·q·(1 + sigma_c ξ)``."""


def _spec_value(spec: Mapping[str, Any], key: str, override: npt.ArrayLike | None) -> Any:
    if override is not None:
        return np.asarray(override, dtype=np.float64)
    return float(spec[key])


def spec_q_plus(
    spec: Mapping[str, Any],
    w: npt.ArrayLike,
    *,
    lo: npt.ArrayLike | None = None,
    hi: npt.ArrayLike | None = None,
) -> FloatArray:
    """Evaluate ``q_+`` of a spec dict exactly as KERNEL_SPEC §2 writes it.

    Parameters
    ----------
    spec : Mapping
        A spec dict (:meth:`Device.to_spec` or a family's ``to_spec()``): ``family``, ``lo``,
        ``hi``, ``sp``, ``c``, ``alpha_up``, ``gamma_up``.
    w : array_like
        Physical states, in weight units.
    lo, hi : array_like, optional
        Per-element bounds ``lo_e``, ``hi_e`` broadcastable with ``w``; default ``spec["lo"]``,
        ``spec["hi"]``.

    Returns
    -------
    ndarray of float64
        ``q_+(w)``, broadcast shape of the inputs (0-d for scalar input).

    Raises
    ------
    ParameterError
        If ``spec["family"]`` is unknown.

    Examples
    --------
    >>> float(spec_q_plus(ALD(tau=1.0).to_spec(), 0.5))
    0.5
    """
    x = np.asarray(w, dtype=np.float64)
    family = spec["family"]
    lo_v = _spec_value(spec, "lo", lo)
    hi_v = _spec_value(spec, "hi", hi)
    out: Any
    if family == "ideal":
        out = np.ones(np.broadcast_shapes(x.shape, np.shape(lo_v), np.shape(hi_v)))
    elif family == "linear_step":
        sp = float(spec["sp"])
        out = 1 - (x - sp) / (hi_v - sp)
    elif family == "skew_linear":
        out = (1 + float(spec["c"])) * (1 - x / hi_v)
    elif family == "soft_bounds":
        out = float(spec["alpha_up"]) * (1 - x / hi_v)
    elif family == "power":
        out = np.maximum(1 - x / hi_v, 0.0) ** float(spec["gamma_up"])
    elif family == "exponential":
        g = float(spec["gamma_up"])
        out = (np.exp(g * (1 - x / hi_v)) - 1) / (math.exp(g) - 1)
    elif family == "power_step":
        out = np.maximum((hi_v - x) / (hi_v - lo_v), 0.0) ** float(spec["gamma_up"])
    elif family == "exp_step":
        out = 1 - np.exp(-float(spec["gamma_up"]) * (hi_v - x) / (hi_v - lo_v))
    else:
        raise parameter_error("family", "spec", f"one of {FAMILIES}", family)
    return np.asarray(out, dtype=np.float64)


def spec_q_minus(
    spec: Mapping[str, Any],
    w: npt.ArrayLike,
    *,
    lo: npt.ArrayLike | None = None,
    hi: npt.ArrayLike | None = None,
) -> FloatArray:
    """Evaluate ``q_-`` of a spec dict exactly as KERNEL_SPEC §2 writes it.

    Parameters
    ----------
    spec : Mapping
        A spec dict: ``family``, ``lo``, ``hi``, ``sp``, ``c``, ``alpha_down``, ``gamma_down``.
    w : array_like
        Physical states, in weight units.
    lo, hi : array_like, optional
        Per-element bounds broadcastable with ``w``; default ``spec["lo"]``, ``spec["hi"]``.

    Returns
    -------
    ndarray of float64
        ``q_-(w)``, broadcast shape of the inputs (0-d for scalar input).

    Raises
    ------
    ParameterError
        If ``spec["family"]`` is unknown.

    Examples
    --------
    >>> float(spec_q_minus(ALD(tau=1.0).to_spec(), 0.5))
    1.5
    """
    x = np.asarray(w, dtype=np.float64)
    family = spec["family"]
    lo_v = _spec_value(spec, "lo", lo)
    hi_v = _spec_value(spec, "hi", hi)
    out: Any
    if family == "ideal":
        out = np.ones(np.broadcast_shapes(x.shape, np.shape(lo_v), np.shape(hi_v)))
    elif family == "linear_step":
        sp = float(spec["sp"])
        out = 1 - (x - sp) / (lo_v - sp)
    elif family == "skew_linear":
        out = (1 - float(spec["c"])) * (1 - x / lo_v)
    elif family == "soft_bounds":
        out = float(spec["alpha_down"]) * (1 - x / lo_v)
    elif family == "power":
        out = np.maximum(1 - x / lo_v, 0.0) ** float(spec["gamma_down"])
    elif family == "exponential":
        g = float(spec["gamma_down"])
        out = (np.exp(g * (1 - x / lo_v)) - 1) / (math.exp(g) - 1)
    elif family == "power_step":
        out = np.maximum((x - lo_v) / (hi_v - lo_v), 0.0) ** float(spec["gamma_down"])
    elif family == "exp_step":
        out = 1 - np.exp(-float(spec["gamma_down"]) * (x - lo_v) / (hi_v - lo_v))
    else:
        raise parameter_error("family", "spec", f"one of {FAMILIES}", family)
    return np.asarray(out, dtype=np.float64)


def _family_spec(
    family: str,
    lo: float,
    hi: float,
    *,
    sp: float = 0.0,
    c: float = 0.0,
    alpha_up: float = 1.0,
    alpha_down: float = 1.0,
    gamma_up: float = 1.0,
    gamma_down: float = 1.0,
) -> dict[str, Any]:
    return {
        "family": family,
        "lo": float(lo),
        "hi": float(hi),
        "sp": float(sp),
        "c": float(c),
        "alpha_up": float(alpha_up),
        "alpha_down": float(alpha_down),
        "gamma_up": float(gamma_up),
        "gamma_down": float(gamma_down),
    }


class _Response(ConfigMixin):
    """Shared methods of the response families (not a config class itself)."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1).

        Returns
        -------
        dict
            ``family``, ``lo``, ``hi``, ``sp``, ``c``, ``alpha_up``, ``alpha_down``,
            ``gamma_up``, ``gamma_down``, all floats except ``family``.
        """
        raise NotImplementedError  # pragma: no cover  (every family overrides it)

    def bounds(self) -> tuple[float, float]:
        """Return the conductance bounds ``(lo, hi)`` of the physical state, in weight units.

        Returns
        -------
        tuple of float
            ``(lo, hi)`` with ``lo < hi``.
        """
        spec = self.to_spec()
        return float(spec["lo"]), float(spec["hi"])

    def q_plus(self, w: npt.ArrayLike) -> FloatArray:
        """Up-pulse response ``q_+(w)`` (KERNEL_SPEC §2), vectorised over ``w``.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w`` (0-d for a scalar).
        """
        return spec_q_plus(self.to_spec(), w)

    def q_minus(self, w: npt.ArrayLike) -> FloatArray:
        """Down-pulse response ``q_-(w)`` (KERNEL_SPEC §2), vectorised over ``w``.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w`` (0-d for a scalar).
        """
        return spec_q_minus(self.to_spec(), w)

    def F(self, w: npt.ArrayLike) -> FloatArray:
        """Symmetric component ``F = (q_- + q_+)/2`` (shared/theory.md §1.2).

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray((spec_q_minus(spec, w) + spec_q_plus(spec, w)) / 2, dtype=np.float64)

    def G(self, w: npt.ArrayLike) -> FloatArray:
        """Asymmetric component ``G = (q_- - q_+)/2`` (shared/theory.md §1.2); zero at the SP.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray((spec_q_minus(spec, w) - spec_q_plus(spec, w)) / 2, dtype=np.float64)

    def M(self, w: npt.ArrayLike) -> FloatArray:
        """Saturation ``M = q_+ q_- = F² - G²`` (shared/theory.md §1.3).

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray(spec_q_plus(spec, w) * spec_q_minus(spec, w), dtype=np.float64)

    def symmetric_point(self) -> float:
        """Return the symmetric point, the root of ``G`` in ``[lo, hi]``.

        The base implementation is the bisection of KERNEL_SPEC §4 (100 halvings of
        ``[lo, hi]`` on ``q_-(m) - q_+(m)``); families with a closed form override it.

        Returns
        -------
        float
            The SP, in weight units.
        """
        spec = self.to_spec()
        a, b = float(spec["lo"]), float(spec["hi"])
        for _ in range(_BISECTION_STEPS):
            m = 0.5 * (a + b)
            if m <= a or m >= b:
                break
            h = float(spec_q_minus(spec, m)) - float(spec_q_plus(spec, m))
            if h > 0:
                b = m
            else:
                a = m
        return 0.5 * (a + b)

    def _check_spec_bounds(self) -> None:
        """Reject parameters whose float64 bounds collapse (``lo < sp < hi`` must hold)."""
        spec = self.to_spec()
        lo, hi, sp = spec["lo"], spec["hi"], spec["sp"]
        if not (lo < hi and math.isfinite(lo) and math.isfinite(hi)):
            raise parameter_error(
                "bounds", type(self).__name__, "finite with lo < hi in float64", (lo, hi)
            )
        if spec["family"] == "linear_step" and not lo < sp < hi:
            raise parameter_error(
                "sp", type(self).__name__, f"strictly inside the bounds ({lo!r}, {hi!r})", sp
            )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Ideal(_Response):
    """Ideal device: ``q_+ = q_- = 1`` (shared/theory.md §2.1).

    Every point is symmetric (``G ≡ 0``), so :meth:`symmetric_point` returns NaN.

    Examples
    --------
    >>> Ideal().bounds()
    (-1.0, 1.0)
    """

    kind: ClassVar[str] = "ideal"
    w_min: float = field(default=-1.0, metadata=constrained(REAL))
    """Lower bound of the state, in weight units; must be below ``w_max``."""
    w_max: float = field(default=1.0, metadata=constrained(REAL))
    """Upper bound of the state, in weight units."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        if not self.w_max > self.w_min:
            raise parameter_error(
                "w_max", type(self).__name__, f"greater than w_min={self.w_min!r}", self.w_max
            )
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Ideal
            ``Ideal()``.
        """
        return cls()

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("ideal", self.w_min, self.w_max)

    def symmetric_point(self) -> float:
        """Return NaN: ``G ≡ 0``, so every point is a symmetric point.

        Returns
        -------
        float
            ``nan``.
        """
        return math.nan


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ALD(_Response):
    """Asymmetric linear device (P2 §2.2; shared/theory.md §2.1).

    ``q_± = 1 ∓ (w - sp)/tau`` on ``[sp - tau, sp + tau]``; ``F = 1``, ``G = (w - sp)/tau``.
    Spec: family ``linear_step`` with ``lo = sp - tau``, ``hi = sp + tau``.

    Examples
    --------
    >>> ALD(tau=0.8).bounds()
    (-0.8, 0.8)
    """

    kind: ClassVar[str] = "ald"
    tau: float = field(metadata=constrained(_POSITIVE))
    """Half range τ of the state window, in weight units (P2: 0.7-0.8 for MNIST)."""
    sp: float = field(default=0.0, metadata=constrained(REAL))
    """Symmetric point w◇, in weight units; the window is centred on it."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ALD
            ``ALD(tau=0.8, sp=0.1)``.
        """
        return cls(tau=0.8, sp=0.1)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("linear_step", self.sp - self.tau, self.sp + self.tau, sp=self.sp)

    def symmetric_point(self) -> float:
        """Return the SP ``w◇ = sp`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``sp``, in weight units.
        """
        return self.sp


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SkewLinear(_Response):
    """Skew linear device (P1 Fig. 2; shared/theory.md §2.1).

    ``q_+ = (1 + c)(1 - w/tau)``, ``q_- = (1 - c)(1 + w/tau)`` on ``[-tau, tau]``; SP ``c·tau``.

    Examples
    --------
    >>> SkewLinear(tau=1.0, c_lin=0.3).symmetric_point()
    0.3
    """

    kind: ClassVar[str] = "skew_linear"
    tau: float = field(metadata=constrained(_POSITIVE))
    """Half range τ of the state window, in weight units (P1: 3.5)."""
    c_lin: float = field(metadata=constrained(Interval(-1.0, 1.0, closed="neither")))
    """Skew c, dimensionless, ``|c| < 1`` (P1: 0, 0.1, 0.2, 0.3)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        SkewLinear
            ``SkewLinear(tau=3.5, c_lin=0.2)``.
        """
        return cls(tau=3.5, c_lin=0.2)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("skew_linear", -self.tau, self.tau, c=self.c_lin)

    def symmetric_point(self) -> float:
        """Return the SP ``c·tau`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``c_lin * tau``, in weight units.
        """
        return self.c_lin * self.tau


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LinearStep(_Response):
    """Linear step with asymmetric bounds (P2 App. C.1; shared/theory.md §2.1).

    ``q_+ = 1 - (w - sp)/tau_max``, ``q_- = 1 - (w - sp)/tau_min`` on
    ``[sp + tau_min, sp + tau_max]``; SP ``sp``.

    Examples
    --------
    >>> LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.1).bounds()
    (-0.4, 1.1)
    """

    kind: ClassVar[str] = "linear_step"
    tau_max: float = field(metadata=constrained(_POSITIVE))
    """Distance from the SP to the upper bound, in weight units (> 0)."""
    tau_min: float = field(metadata=constrained(_NEGATIVE))
    """Signed distance from the SP to the lower bound, in weight units (< 0)."""
    sp: float = field(default=0.0, metadata=constrained(REAL))
    """Symmetric point w◇, in weight units."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        LinearStep
            ``LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.1)`` (check C5).
        """
        return cls(tau_max=1.0, tau_min=-0.5, sp=0.1)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec(
            "linear_step", self.sp + self.tau_min, self.sp + self.tau_max, sp=self.sp
        )

    def symmetric_point(self) -> float:
        """Return the SP ``sp`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``sp``, in weight units.
        """
        return self.sp


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SoftBounds(_Response):
    """Soft bounds with slopes (B1 Eq. 4-8; shared/theory.md §2.1).

    ``q_+ = slope_up(1 - w/w_max)``, ``q_- = slope_down(1 - w/w_min)`` on ``[w_min, w_max]``;
    SP ``(slope_up - slope_down)/(slope_up/w_max - slope_down/w_min)``.

    Examples
    --------
    >>> round(SoftBounds(slope_up=1.1, slope_down=0.9).symmetric_point(), 12)
    0.1
    """

    kind: ClassVar[str] = "soft_bounds"
    w_max: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Upper conductance bound, in normalised weight units (> 0)."""
    w_min: float = field(default=-1.0, metadata=constrained(_NEGATIVE))
    """Lower conductance bound, in normalised weight units (< 0)."""
    slope_up: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Up-pulse slope alpha_up, dimensionless: ``q_+(0) = slope_up``."""
    slope_down: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Down-pulse slope alpha_down, dimensionless: ``q_-(0) = slope_down``."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        SoftBounds
            ``SoftBounds(w_max=1.5, w_min=-0.5, slope_up=1.2, slope_down=0.8)`` (check C6).
        """
        return cls(w_max=1.5, w_min=-0.5, slope_up=1.2, slope_down=0.8)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec(
            "soft_bounds",
            self.w_min,
            self.w_max,
            alpha_up=self.slope_up,
            alpha_down=self.slope_down,
        )

    def symmetric_point(self) -> float:
        """Return the SP ``(a_up - a_down)/(a_up/w_max - a_down/w_min)`` (closed form, B1).

        Here ``a_up``, ``a_down`` are ``slope_up``, ``slope_down``.

        Returns
        -------
        float
            The SP, in weight units.
        """
        up, down = self.slope_up, self.slope_down
        return (up - down) / (up / self.w_max - down / self.w_min)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Power(_Response):
    """Power response (P1 Eq. 148; shared/theory.md §2.1).

    ``q_+ = max(1 - w/tau, 0)^gamma_res``, ``q_- = max(1 + w/tau, 0)^gamma_res``; SP 0.

    Examples
    --------
    >>> Power(tau=0.1, gamma_res=3.0).symmetric_point()
    0.0
    """

    kind: ClassVar[str] = "power"
    tau: float = field(metadata=constrained(_POSITIVE))
    """Half range τ, in weight units (P1: 0.05-0.8)."""
    gamma_res: float = field(metadata=constrained(_POSITIVE))
    """Exponent gamma_r, dimensionless (P1: 0.5-4)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Power
            ``Power(tau=0.1, gamma_res=3.0)`` (P1 Table 1).
        """
        return cls(tau=0.1, gamma_res=3.0)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        g = self.gamma_res
        return _family_spec("power", -self.tau, self.tau, gamma_up=g, gamma_down=g)

    def symmetric_point(self) -> float:
        """Return the SP 0 (equal exponents on a symmetric window).

        Returns
        -------
        float
            ``0.0``.
        """
        return 0.0


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Exponential(_Response):
    """Exponential response (P1 Eq. 149; shared/theory.md §2.1).

    ``q_± = (exp(gamma_r(1 ∓ w/tau)) - 1)/(exp(gamma_r) - 1)``; SP 0.

    Examples
    --------
    >>> round(float(Exponential(tau=1.0, gamma_res=4.0).q_minus(1.0)), 5)
    55.59815
    """

    kind: ClassVar[str] = "exponential"
    tau: float = field(metadata=constrained(_POSITIVE))
    """Half range τ, in weight units (P1: 0.1, 0.6-0.8)."""
    gamma_res: float = field(metadata=constrained(_GAMMA_EXP))
    """Exponent gamma_r, dimensionless, in (0, 700] so ``exp(gamma_r)`` is finite (P1: 0.5-4)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        if not math.exp(self.gamma_res) - 1 > 0:
            raise parameter_error(
                "gamma_res",
                type(self).__name__,
                "large enough that exp(gamma_res) - 1 > 0 in float64",
                self.gamma_res,
            )
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Exponential
            ``Exponential(tau=0.1, gamma_res=4.0)`` (check C7).
        """
        return cls(tau=0.1, gamma_res=4.0)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        g = self.gamma_res
        return _family_spec("exponential", -self.tau, self.tau, gamma_up=g, gamma_down=g)

    def symmetric_point(self) -> float:
        """Return the SP 0 (equal exponents on a symmetric window).

        Returns
        -------
        float
            ``0.0``.
        """
        return 0.0


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PowerStep(_Response):
    """Power step (P2 App. C.2; shared/theory.md §2.1).

    ``q_+ = ((tau_max - w)/Δτ)^gamma_up``, ``q_- = ((w - tau_min)/Δτ)^gamma_down``,
    ``Δτ = tau_max - tau_min``. The SP is the unique root of ``G``, found by bisection; the
    midpoint if ``gamma_up = gamma_down``.

    Examples
    --------
    >>> round(PowerStep(gamma_up=1.0, gamma_down=2.0).symmetric_point(), 7)
    0.236068
    """

    kind: ClassVar[str] = "power_step"
    tau_max: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Upper bound of the state, in weight units (> 0)."""
    tau_min: float = field(default=-1.0, metadata=constrained(_NEGATIVE))
    """Lower bound of the state, in weight units (< 0)."""
    gamma_up: float = field(metadata=constrained(_POSITIVE))
    """Exponent gamma_up of the up response, dimensionless (> 0)."""
    gamma_down: float = field(metadata=constrained(_POSITIVE))
    """Exponent gamma_down of the down response, dimensionless (> 0)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        PowerStep
            ``PowerStep(gamma_up=1.0, gamma_down=2.0)`` (check C8).
        """
        return cls(gamma_up=1.0, gamma_down=2.0)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec(
            "power_step",
            self.tau_min,
            self.tau_max,
            gamma_up=self.gamma_up,
            gamma_down=self.gamma_down,
        )

    def symmetric_point(self) -> float:
        """Return the SP: the midpoint for equal exponents, else the bisection root.

        Returns
        -------
        float
            The SP, in weight units (bisection of KERNEL_SPEC §4, to about one ulp).
        """
        if self.gamma_up == self.gamma_down:
            return 0.5 * (self.tau_min + self.tau_max)
        return _Response.symmetric_point(self)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ExpStep(_Response):
    """Exponential step (P2 App. C.3; shared/theory.md §2.1).

    ``q_+ = 1 - exp(-gamma_up(tau_max - w)/Δτ)``, ``q_- = 1 - exp(-gamma_down(w - tau_min)/Δτ)``;
    SP ``(gamma_up·tau_max + gamma_down·tau_min)/(gamma_up + gamma_down)``.

    Examples
    --------
    >>> round(ExpStep(gamma_up=2.0, gamma_down=1.0).symmetric_point(), 12)
    0.333333333333
    """

    kind: ClassVar[str] = "exp_step"
    tau_max: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Upper bound of the state, in weight units (> 0)."""
    tau_min: float = field(default=-1.0, metadata=constrained(_NEGATIVE))
    """Lower bound of the state, in weight units (< 0)."""
    gamma_up: float = field(metadata=constrained(_POSITIVE))
    """Rate gamma_up of the up response, dimensionless (> 0)."""
    gamma_down: float = field(metadata=constrained(_POSITIVE))
    """Rate gamma_down of the down response, dimensionless (> 0)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ExpStep
            ``ExpStep(gamma_up=2.0, gamma_down=1.0)`` (check C8).
        """
        return cls(gamma_up=2.0, gamma_down=1.0)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec(
            "exp_step",
            self.tau_min,
            self.tau_max,
            gamma_up=self.gamma_up,
            gamma_down=self.gamma_down,
        )

    def symmetric_point(self) -> float:
        """Return the closed-form SP ``(g_up·tau_max + g_down·tau_min)/(g_up + g_down)``.

        Here ``g_up``, ``g_down`` are ``gamma_up``, ``gamma_down``.

        Returns
        -------
        float
            The SP, in weight units.
        """
        up, down = self.gamma_up, self.gamma_down
        return (up * self.tau_max + down * self.tau_min) / (up + down)


ResponseFamily = (
    Ideal | ALD | SkewLinear | LinearStep | SoftBounds | Power | Exponential | PowerStep | ExpStep
)
"""Any of the response families."""

RESPONSE_FAMILIES: Final[tuple[type[_Response], ...]] = (
    Ideal,
    ALD,
    SkewLinear,
    LinearStep,
    SoftBounds,
    Power,
    Exponential,
    PowerStep,
    ExpStep,
)
"""The response family classes, in documentation order."""


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Device(ConfigMixin):
    """A pulsed analog device: response family, granularity, noise and variation.

    One pulse of sign s moves an element by ``step·q_s(w)`` plus cycle-to-cycle noise, then
    clips to the element's bounds (shared/theory.md §1.1; KERNEL_SPEC §4-5). The ``*_dtod``
    spreads are drawn once per element when a tile is built.

    Examples
    --------
    >>> device = Device(response=SkewLinear(tau=3.5, c_lin=0.2), dw_min=1e-4)
    >>> device.n_states
    70000.0
    >>> device.to_spec()["family"]
    'skew_linear'
    """

    kind: ClassVar[str] = "device"
    response: ResponseFamily = field(metadata=constrained(InstanceOf(RESPONSE_FAMILIES)))
    """Response family: the shape of ``q_±`` and the nominal bounds."""
    dw_min: float = field(default=1e-3, metadata=constrained(_POSITIVE))
    """Pulse granularity Δw_min, in weight units (> 0): the step at ``q = 1``."""
    dw_min_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Cycle-to-cycle noise sigma_c (≥ 0), in units of the element's own step."""
    c2c_mode: C2CMode = field(default=C2CMode.ADDITIVE, metadata=constrained(Options(C2CMode)))
    """Additive ``Δw(q + sigma ξ)`` or multiplicative ``Δw·q(1 + sigma ξ)`` cycle-to-cycle noise."""
    dw_min_dtod: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Device-to-device spread of the step gain g, dimensionless (≥ 0)."""
    dw_min_dtod_log_normal: bool = field(default=False, metadata=constrained(Bool()))
    """Draw the gain as ``exp(dw_min_dtod·ξ)`` instead of ``1 + dw_min_dtod·ξ``."""
    up_down_dtod: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Device-to-device spread of the up/down step imbalance, in units of dw_min (≥ 0)."""
    w_max_dtod: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Relative device-to-device spread of the upper bound (≥ 0)."""
    w_min_dtod: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Relative device-to-device spread of the lower bound (≥ 0)."""
    reference_mean: float = field(default=0.0, metadata=constrained(REAL))
    """Mean μ_r of the reference array, in weight units (read-out = physical - reference)."""
    reference_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Device-to-device spread sigma_r of the reference, in weight units (≥ 0)."""
    subtract_symmetry_point: bool = field(default=False, metadata=constrained(Bool()))
    """Add each element's SP to its reference, so the read-out SP is -(μ_r + sigma_r ξ)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        if self.subtract_symmetry_point and isinstance(self.response, Ideal):
            raise parameter_error(
                "subtract_symmetry_point",
                type(self).__name__,
                "False for an Ideal response (every point is symmetric)",
                self.subtract_symmetry_point,
            )

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Device
            A soft-bounds device with every spread switched on.
        """
        return cls(
            response=SoftBounds.example(),
            dw_min=0.01,
            dw_min_std=0.1,
            c2c_mode=C2CMode.MULTIPLICATIVE,
            dw_min_dtod=0.3,
            dw_min_dtod_log_normal=True,
            up_down_dtod=0.01,
            w_max_dtod=0.1,
            w_min_dtod=0.2,
            reference_mean=0.05,
            reference_std=0.02,
            subtract_symmetry_point=True,
        )

    def bounds(self) -> tuple[float, float]:
        """Return the nominal bounds ``(lo, hi)`` of the physical state (no d2d spread).

        Returns
        -------
        tuple of float
            ``(lo, hi)``, in weight units.
        """
        return self.response.bounds()

    @property
    def n_states(self) -> float:
        """Number of states ``(hi - lo)/dw_min`` (shared/theory.md §0)."""
        lo, hi = self.bounds()
        return (hi - lo) / self.dw_min

    def q_plus(self, w: npt.ArrayLike) -> FloatArray:
        """Nominal up-pulse response ``q_+(w)`` of the family.

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        return self.response.q_plus(w)

    def q_minus(self, w: npt.ArrayLike) -> FloatArray:
        """Nominal down-pulse response ``q_-(w)`` of the family.

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        return self.response.q_minus(w)

    def F(self, w: npt.ArrayLike) -> FloatArray:
        """Symmetric component ``F = (q_- + q_+)/2``.

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        return self.response.F(w)

    def G(self, w: npt.ArrayLike) -> FloatArray:
        """Asymmetric component ``G = (q_- - q_+)/2``.

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        return self.response.G(w)

    def M(self, w: npt.ArrayLike) -> FloatArray:
        """Saturation ``M = q_+ q_-``.

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        return self.response.M(w)

    def symmetric_point(self) -> float:
        """Return the nominal symmetric point of the family (NaN for :class:`Ideal`).

        Returns
        -------
        float
            The SP of the physical state, in weight units.
        """
        return self.response.symmetric_point()

    def to_spec(self) -> dict[str, Any]:
        """Return the device spec dict for ``_core.Tile`` (KERNEL_SPEC §1).

        Returns
        -------
        dict
            Every key of KERNEL_SPEC §1: ``family``, ``lo``, ``hi``, ``sp``, ``c``,
            ``alpha_up``, ``alpha_down``, ``gamma_up``, ``gamma_down``, ``dw_min``,
            ``dw_min_std``, ``c2c_multiplicative``, ``dw_min_dtod``, ``dw_min_dtod_log_normal``,
            ``up_down_dtod``, ``w_max_dtod``, ``w_min_dtod``, ``reference_mean``,
            ``reference_std``, ``subtract_symmetry_point``.

        Examples
        --------
        >>> Device(response=ALD(tau=1.0)).to_spec()["lo"]
        -1.0
        """
        spec = self.response.to_spec()
        spec.update(
            dw_min=float(self.dw_min),
            dw_min_std=float(self.dw_min_std),
            c2c_multiplicative=self.c2c_mode is C2CMode.MULTIPLICATIVE,
            dw_min_dtod=float(self.dw_min_dtod),
            dw_min_dtod_log_normal=bool(self.dw_min_dtod_log_normal),
            up_down_dtod=float(self.up_down_dtod),
            w_max_dtod=float(self.w_max_dtod),
            w_min_dtod=float(self.w_min_dtod),
            reference_mean=float(self.reference_mean),
            reference_std=float(self.reference_std),
            subtract_symmetry_point=bool(self.subtract_symmetry_point),
        )
        return spec
