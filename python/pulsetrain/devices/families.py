"""The ten response families, each owning its ``q_±``, SP and closed-form slope (theory §2.1).

Each class names its spec ``family`` (:attr:`spec_family`; ALD and LinearStep share
``linear_step``), evaluates ``q_±`` of its spec dicts exactly as KERNEL_SPEC §2 writes them
(:meth:`spec_q_up`, :meth:`spec_q_down`), and gives its symmetric point and, where one is
known, the closed-form slope ``R'(w◇)`` of shared/theory.md §2.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self

import numpy as np

from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import (
    REAL,
    Constraint,
    Interval,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.devices._base import FloatArray, _Response, register_family
from pulsetrain.devices._base import family_spec as _family_spec

__all__ = [
    "ALD",
    "ExpStep",
    "Exponential",
    "Ideal",
    "LinearStep",
    "Piecewise",
    "Power",
    "PowerStep",
    "SkewLinear",
    "SoftBounds",
]

_NEGATIVE: Final = Interval(None, 0.0, closed="neither")
_GAMMA_EXP: Final = Interval(0.0, 700.0, closed="right")  # exp(700) is finite in float64


def _linear_step_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
    sp = float(spec["sp"])
    return 1 - (x - sp) / (hi - sp)


def _linear_step_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
    sp = float(spec["sp"])
    return 1 - (x - sp) / (lo - sp)


@register_family
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

    spec_family: ClassVar[str] = "ideal"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``ideal`` spec dict (KERNEL_SPEC §2)."""
        return np.ones(np.broadcast_shapes(x.shape, np.shape(lo), np.shape(hi)))

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``ideal`` spec dict (KERNEL_SPEC §2)."""
        return np.ones(np.broadcast_shapes(x.shape, np.shape(lo), np.shape(hi)))

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(w_min=-0.3, w_max=2.0))

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("ideal", self.w_min, self.w_max)

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``0.0``: ``G ≡ 0``.
        """
        return 0.0

    def symmetric_point(self) -> float:
        """Return NaN: ``G ≡ 0``, so every point is a symmetric point.

        Returns
        -------
        float
            ``nan``.
        """
        return math.nan


@register_family
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

    spec_family: ClassVar[str] = "linear_step"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``linear_step`` spec dict (KERNEL_SPEC §2)."""
        return _linear_step_q_up(spec, x, lo, hi)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``linear_step`` spec dict (KERNEL_SPEC §2)."""
        return _linear_step_q_down(spec, x, lo, hi)

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(tau=1.0))

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("linear_step", self.sp - self.tau, self.sp + self.tau, sp=self.sp)

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``1/tau``, in 1/weight units.
        """
        return 1.0 / self.tau

    def symmetric_point(self) -> float:
        """Return the SP ``w◇ = sp`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``sp``, in weight units.
        """
        return self.sp


@register_family
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

    spec_family: ClassVar[str] = "skew_linear"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``skew_linear`` spec dict (KERNEL_SPEC §2)."""
        return (1 + float(spec["c"])) * (1 - x / hi)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``skew_linear`` spec dict (KERNEL_SPEC §2)."""
        return (1 - float(spec["c"])) * (1 - x / lo)

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(tau=1.0, c_lin=-0.3))

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec("skew_linear", -self.tau, self.tau, c=self.c_lin)

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``1/(tau(1 - c²))``, in 1/weight units.
        """
        c = self.c_lin
        return 1.0 / (self.tau * (1.0 - c * c))

    def symmetric_point(self) -> float:
        """Return the SP ``c·tau`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``c_lin * tau``, in weight units.
        """
        return self.c_lin * self.tau


@register_family
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

    spec_family: ClassVar[str] = "linear_step"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``linear_step`` spec dict (KERNEL_SPEC §2)."""
        return _linear_step_q_up(spec, x, lo, hi)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``linear_step`` spec dict (KERNEL_SPEC §2)."""
        return _linear_step_q_down(spec, x, lo, hi)

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

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``(1/tau_max - 1/tau_min)/2``, in 1/weight units.
        """
        # G' = (1/tau_max - 1/tau_min)/2 and F(w◇) = 1 (§2.1, derived).
        return 0.5 * (1.0 / self.tau_max - 1.0 / self.tau_min)

    def symmetric_point(self) -> float:
        """Return the SP ``sp`` (closed form, shared/theory.md §2.1).

        Returns
        -------
        float
            ``sp``, in weight units.
        """
        return self.sp


@register_family
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

    spec_family: ClassVar[str] = "soft_bounds"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``soft_bounds`` spec dict (KERNEL_SPEC §2)."""
        return float(spec["alpha_up"]) * (1 - x / hi)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``soft_bounds`` spec dict (KERNEL_SPEC §2)."""
        return float(spec["alpha_down"]) * (1 - x / lo)

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls())

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        return _family_spec(
            "soft_bounds",
            self.w_min,
            self.w_max,
            alpha_up=self.slope_up,
            alpha_down=self.slope_down,
        )

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``(a_up/w_max - a_down/w_min)/(2 q_+(w◇))``, in 1/weight units.
        """
        # G is linear with slope (a_up/w_max - a_down/w_min)/2 and F(w◇) = q_+(w◇) (G(w◇) = 0).
        slope = 0.5 * (self.slope_up / self.w_max - self.slope_down / self.w_min)
        return slope / float(self.q_plus(self.symmetric_point()))

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


@register_family
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

    spec_family: ClassVar[str] = "power"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``power`` spec dict (KERNEL_SPEC §2)."""
        return np.maximum(1 - x / hi, 0.0) ** float(spec["gamma_up"])

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``power`` spec dict (KERNEL_SPEC §2)."""
        return np.maximum(1 - x / lo, 0.0) ** float(spec["gamma_down"])

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
            ``Power(tau=0.8, gamma_res=2.0)``; :meth:`examples` adds P1 Table 1's
            ``tau=0.1, gamma_res=3.0``.
        """
        return cls(tau=0.8, gamma_res=2.0)

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(tau=0.1, gamma_res=3.0), cls(tau=0.7, gamma_res=0.5))

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        g = self.gamma_res
        return _family_spec("power", -self.tau, self.tau, gamma_up=g, gamma_down=g)

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``gamma_r/tau``, in 1/weight units.
        """
        return self.gamma_res / self.tau  # F(0) = 1, G'(0) = gamma_r/tau

    def symmetric_point(self) -> float:
        """Return the SP 0 (equal exponents on a symmetric window).

        Returns
        -------
        float
            ``0.0``.
        """
        return 0.0


@register_family
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

    spec_family: ClassVar[str] = "exponential"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``exponential`` spec dict (KERNEL_SPEC §2)."""
        g = float(spec["gamma_up"])
        return (np.exp(g * (1 - x / hi)) - 1) / (math.exp(g) - 1)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``exponential`` spec dict (KERNEL_SPEC §2)."""
        g = float(spec["gamma_down"])
        return (np.exp(g * (1 - x / lo)) - 1) / (math.exp(g) - 1)

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
            ``Exponential(tau=0.8, gamma_res=1.5)``; :meth:`examples` adds check C7's
            ``tau=0.1, gamma_res=4.0``.
        """
        return cls(tau=0.8, gamma_res=1.5)

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(tau=0.1, gamma_res=4.0), cls(tau=0.8, gamma_res=0.5))

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1)."""
        g = self.gamma_res
        return _family_spec("exponential", -self.tau, self.tau, gamma_up=g, gamma_down=g)

    def slope_at_sp(self) -> float | None:
        """Return the closed-form ``R'(w◇) = G'(w◇)/F(w◇)`` (shared/theory.md §2.1).

        Returns
        -------
        float
            ``gamma_r e^gamma_r/(tau(e^gamma_r - 1))``, in 1/weight units.
        """
        g = self.gamma_res
        return g * math.exp(g) / (self.tau * math.expm1(g))

    def symmetric_point(self) -> float:
        """Return the SP 0 (equal exponents on a symmetric window).

        Returns
        -------
        float
            ``0.0``.
        """
        return 0.0


@register_family
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

    spec_family: ClassVar[str] = "power_step"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``power_step`` spec dict (KERNEL_SPEC §2)."""
        return np.maximum((hi - x) / (hi - lo), 0.0) ** float(spec["gamma_up"])

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``power_step`` spec dict (KERNEL_SPEC §2)."""
        return np.maximum((x - lo) / (hi - lo), 0.0) ** float(spec["gamma_down"])

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (
            cls.example(),
            cls(tau_max=0.6, tau_min=-1.4, gamma_up=3.0, gamma_down=0.7),
            cls(gamma_up=2.0, gamma_down=2.0),
        )

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


@register_family
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

    spec_family: ClassVar[str] = "exp_step"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``exp_step`` spec dict (KERNEL_SPEC §2)."""
        return 1 - np.exp(-float(spec["gamma_up"]) * (hi - x) / (hi - lo))

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``exp_step`` spec dict (KERNEL_SPEC §2)."""
        return 1 - np.exp(-float(spec["gamma_down"]) * (x - lo) / (hi - lo))

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

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (cls.example(), cls(tau_max=0.5, tau_min=-2.0, gamma_up=0.5, gamma_down=4.0))

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


PIECEWISE_MAX_NODES: Final = 4096
"""Largest number of nodes of a :class:`Piecewise` table (aihwkit's GPU kernels allow < 64)."""


class _NodeVector(Constraint):
    """A sequence of 2 to :data:`PIECEWISE_MAX_NODES` finite floats ``≥ 0``, at least one ``> 0``.

    The canonical form is a tuple of Python floats (hashable, and it round-trips through JSON
    and TOML as a list).
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "_NodeVector()"

    @staticmethod
    def _coerce(value: object) -> tuple[float, ...] | None:
        if isinstance(value, str | bytes | Mapping) or not isinstance(
            value, list | tuple | np.ndarray
        ):
            return None
        items = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        if np.ndim(value) != 1 or not 2 <= len(items) <= PIECEWISE_MAX_NODES:
            return None
        if not all(REAL.accepts(v) for v in items):
            return None
        out = tuple(float(v) for v in items)
        if min(out) < 0.0 or max(out) <= 0.0:
            return None
        return out

    def accepts(self, value: object) -> bool:
        return self._coerce(value) is not None

    def normalise(self, value: object) -> object:
        return self._coerce(value)

    def describe(self) -> str:
        return (
            f"a sequence of 2 to {PIECEWISE_MAX_NODES} finite floats in the range [0, inf), "
            "at least one positive"
        )

    def invalid(self) -> object:
        return (1.0,)


def _piecewise_nodes(spec: Mapping[str, Any], key: str) -> FloatArray:
    return np.asarray(spec[key], dtype=np.float64)


def _piecewise_q(v: FloatArray, x: Any, lo: Any, hi: Any) -> Any:
    """Interpolate node values ``v`` at ``x`` on ``[lo, hi]`` in KERNEL_SPEC §2's order.

    ``fmax``/``fmin`` mirror Rust's ``f64::max``/``min`` (a NaN operand yields the other one).
    """
    n = v.size - 1
    s = np.fmax((x - lo) / (hi - lo) * float(n), 0.0)
    k = np.fmin(np.floor(s), float(n - 1))
    t = np.fmin(s - k, 1.0)
    i = np.asarray(k).astype(np.intp)
    return (1.0 - t) * v[i] + t * v[i + 1]


@register_family
@dataclass(frozen=True, slots=True, kw_only=True)
class Piecewise(_Response):
    """Lookup-table response: ``q_±`` interpolated linearly on equally spaced nodes (issue 20).

    ``piecewise_up[k]`` and ``piecewise_down[k]`` are ``q_+`` and ``q_-`` at the node
    ``w_k = w_min + k (w_max - w_min)/n``, ``k = 0..n``; between nodes ``q_±`` is the linear
    interpolation, outside ``[w_min, w_max]`` the end value. This is aihwkit 1.1.0's
    ``PiecewiseStepDevice`` (``rpu_piecewisestep_device.cpp::update_once``: the values scale
    ``dw_min`` and the grid spans each element's own bounds), evaluated in float64 with
    ``floor`` instead of aihwkit's single-precision ``floorf`` (KERNEL_SPEC §2).

    The symmetric point is the exact root of the piecewise-linear ``G`` (:meth:`symmetric_point`).

    Examples
    --------
    >>> p = Piecewise(w_min=-1.0, w_max=1.0, piecewise_up=(1.5, 1.0, 0.5),
    ...               piecewise_down=(0.5, 1.0, 1.5))
    >>> float(p.q_plus(0.5)), p.symmetric_point()
    (0.75, 0.0)
    """

    kind: ClassVar[str] = "piecewise"
    w_min: float = field(default=-1.0, metadata=constrained(REAL))
    """Lower bound of the state (first node), in weight units; must be below ``w_max``."""
    w_max: float = field(default=1.0, metadata=constrained(REAL))
    """Upper bound of the state (last node), in weight units."""
    piecewise_up: tuple[float, ...] = field(metadata=constrained(_NodeVector()))
    """``q_+`` at the n + 1 equally spaced nodes, dimensionless (≥ 0, at least one > 0)."""
    piecewise_down: tuple[float, ...] = field(metadata=constrained(_NodeVector()))
    """``q_-`` at the same nodes, dimensionless (≥ 0, at least one > 0); same length."""

    spec_family: ClassVar[str] = "piecewise"

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a ``piecewise`` spec dict (KERNEL_SPEC §2)."""
        return _piecewise_q(_piecewise_nodes(spec, "piecewise_up"), x, lo, hi)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a ``piecewise`` spec dict (KERNEL_SPEC §2)."""
        return _piecewise_q(_piecewise_nodes(spec, "piecewise_down"), x, lo, hi)

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)
        if not self.w_max > self.w_min:
            raise parameter_error(
                "w_max", type(self).__name__, f"greater than w_min={self.w_min!r}", self.w_max
            )
        n = len(self.piecewise_up)
        if len(self.piecewise_down) != n:
            raise parameter_error(
                "piecewise_down",
                type(self).__name__,
                f"of the same length as piecewise_up ({n})",
                self.piecewise_down,
            )
        self._check_spec_bounds()

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Piecewise
            Five nodes on ``[-1, 1.5]``, non-linear, with one root of ``G`` inside a segment.
        """
        return cls(
            w_min=-1.0,
            w_max=1.5,
            piecewise_up=(1.6, 1.3, 0.9, 0.6, 0.1),
            piecewise_down=(0.2, 0.7, 1.0, 1.2, 1.5),
        )

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return :meth:`example` and further shapes of this family, for the tests."""
        return (
            cls.example(),
            cls(w_min=-0.5, w_max=0.5, piecewise_up=(2.0, 0.0), piecewise_down=(0.0, 2.0)),
            cls(
                w_min=-0.4,
                w_max=2.0,
                piecewise_up=(1.2, 1.0, 0.7, 0.3),
                piecewise_down=(0.2, 0.6, 0.9, 1.0),
            ),
        )

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1), with the node lists."""
        spec = _family_spec("piecewise", self.w_min, self.w_max)
        spec["piecewise_up"] = list(self.piecewise_up)
        spec["piecewise_down"] = list(self.piecewise_down)
        return spec

    def _crossings(self) -> tuple[list[int], int]:
        """Segments where ``h = q_- - q_+`` goes from ``≤ 0`` to ``> 0``, and the falling count."""
        h = [d - u for u, d in zip(self.piecewise_up, self.piecewise_down, strict=True)]
        rising = [k for k in range(len(h) - 1) if h[k] <= 0.0 < h[k + 1]]
        falling = sum(1 for k in range(len(h) - 1) if h[k] > 0.0 >= h[k + 1])
        return rising, falling

    def symmetric_point(self) -> float:
        """Return the root of the piecewise-linear ``G``, exactly on its segment.

        With ``h_k = piecewise_down[k] - piecewise_up[k]`` (``2G`` at node k): if ``h`` changes
        sign once, from ``≤ 0`` to ``> 0`` on the segment ``[w_k, w_{k+1}]``, the SP is
        ``w_min + (k + h_k/(h_k - h_{k+1}))·(w_max - w_min)/n``, where the interpolated ``G``
        is 0. If ``G`` never rises through 0 (``h`` keeps one sign, or only falls through 0)
        there is no stable symmetric point and the result is NaN. If it changes sign several
        times the result is the root the core's bisection picks (KERNEL_SPEC §4), so that
        ``subtract_symmetry_point`` and the analysis use the same point.

        Returns
        -------
        float
            The SP, in weight units, or NaN.
        """
        rising, falling = self._crossings()
        if not rising:
            return math.nan
        if len(rising) > 1 or falling:
            return _Response.symmetric_point(self)
        k = rising[0]
        up, down = self.piecewise_up, self.piecewise_down
        hk, hk1 = down[k] - up[k], down[k + 1] - up[k + 1]
        n = len(up) - 1
        return self.w_min + (k + hk / (hk - hk1)) * (self.w_max - self.w_min) / n

    def slope_at_sp(self) -> float | None:
        """Return ``R'(w◇) = G'(w◇)/F(w◇)`` from the segment that holds the SP.

        Returns
        -------
        float or None
            ``(h_{k+1} - h_k)/(2 Δw)/q_+(w◇)`` with ``Δw = (w_max - w_min)/n``, in 1/weight
            units, when ``G`` rises through 0 once; None otherwise (the analysis then
            differentiates numerically).
        """
        rising, falling = self._crossings()
        if len(rising) != 1 or falling:
            return None
        k = rising[0]
        up, down = self.piecewise_up, self.piecewise_down
        dh = (down[k + 1] - up[k + 1]) - (down[k] - up[k])
        step = (self.w_max - self.w_min) / (len(up) - 1)
        return 0.5 * dh / step / float(self.q_plus(self.symmetric_point()))
