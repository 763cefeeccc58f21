"""Device response families and the :class:`Device` config (shared/theory.md §1-2).

A response family fixes the shape of the pulse response ``q_+(w)``, ``q_-(w)`` of one element
and its conductance bounds ``(lo, hi)`` (:mod:`pulsetrain.devices.families`, one class each,
registered in :data:`RESPONSE_FAMILIES`). :class:`Device` adds the pulse granularity,
cycle-to-cycle noise, device-to-device spreads and the reference array, and produces the spec
dict that the Rust core compiles (KERNEL_SPEC §1). Published devices are in
:mod:`pulsetrain.devices.presets`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Self

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
from pulsetrain.devices._base import (
    RESPONSE_FAMILIES,
    FloatArray,
    register_family,
    spec_q_minus,
    spec_q_plus,
)
from pulsetrain.devices.families import (
    ALD,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    Piecewise,
    Power,
    PowerStep,
    SkewLinear,
    SoftBounds,
)

__all__ = [
    "ALD",
    "RESPONSE_FAMILIES",
    "SPEC_FAMILIES",
    "C2CMode",
    "Device",
    "ExpStep",
    "Exponential",
    "Ideal",
    "LinearStep",
    "Piecewise",
    "Power",
    "PowerStep",
    "ResponseFamily",
    "SkewLinear",
    "SoftBounds",
    "register_family",
    "spec_q_minus",
    "spec_q_plus",
]

ResponseFamily = (
    Ideal
    | ALD
    | SkewLinear
    | LinearStep
    | SoftBounds
    | Power
    | Exponential
    | PowerStep
    | ExpStep
    | Piecewise
)
"""Any of the response families."""

SPEC_FAMILIES: Final[frozenset[str]] = frozenset(
    cls.spec_family for cls in RESPONSE_FAMILIES.values()
)
"""The spec ``family`` names the response families produce (the core's family names)."""

_FAMILY_CLASSES: Final = tuple(RESPONSE_FAMILIES.values())
_UP_DOWN: Final = Interval(-1.0, 1.0, closed="neither")


class C2CMode(enum.Enum):
    """How cycle-to-cycle noise enters a pulse (shared/theory.md §1.1, §6.14)."""

    ADDITIVE = "additive"
    """Step ``Δw·(q + sigma_c ξ)`` (default; P1, B1, aihwkit ``SoftBoundsReferenceDevice``)."""
    MULTIPLICATIVE = "multiplicative"
    """Step ``Δw·q·(1 + sigma_c ξ)``."""


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
    response: ResponseFamily = field(metadata=constrained(InstanceOf(_FAMILY_CLASSES)))
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
    up_down: float = field(default=0.0, metadata=constrained(_UP_DOWN))
    """Mean up/down step imbalance r̄, dimensionless, in (-1, 1) (aihwkit's ``up_down`` as its
    docs define it): the up step is ``dw_min·(g + r)`` and the down step ``dw_min·(g − r)``
    with ``r = up_down + up_down_dtod·ξ``; it scales ``q_+`` by ``1 + up_down`` and ``q_-`` by
    ``1 − up_down`` and so moves the symmetric point. aihwkit 1.1.0's kernel instead takes
    ``up_down`` off the weaker direction only;
    :func:`~pulsetrain.devices.presets.from_aihwkit_steps` converts its values."""
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
        if (
            self.subtract_symmetry_point
            and isinstance(self.response, Piecewise)
            and math.isnan(self.response.symmetric_point())
        ):
            raise parameter_error(
                "subtract_symmetry_point",
                type(self).__name__,
                "False for a Piecewise response whose G never rises through 0 (no SP)",
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
        """Nominal up-pulse response ``(1 + up_down)·q_+(w)`` (the family's, times the imbalance).

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        q = self.response.q_plus(w)
        return q if self.up_down == 0.0 else (1.0 + self.up_down) * q

    def q_minus(self, w: npt.ArrayLike) -> FloatArray:
        """Nominal down-pulse response ``(1 - up_down)·q_-(w)`` (the family's, times the imbalance).

        Parameters
        ----------
        w : array_like
            Physical states, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        q = self.response.q_minus(w)
        return q if self.up_down == 0.0 else (1.0 - self.up_down) * q

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
        if self.up_down == 0.0:
            return self.response.F(w)
        return 0.5 * (self.q_minus(w) + self.q_plus(w))

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
        if self.up_down == 0.0:
            return self.response.G(w)
        return 0.5 * (self.q_minus(w) - self.q_plus(w))

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
        if self.up_down == 0.0:
            return self.response.M(w)
        return self.q_plus(w) * self.q_minus(w)

    def symmetric_point(self) -> float:
        """Return the nominal symmetric point (NaN for :class:`Ideal`).

        The family's own SP when ``up_down`` is 0; otherwise the root of
        ``(1 − up_down)·q_-(w) − (1 + up_down)·q_+(w)`` in ``[lo, hi]`` by the bisection of
        KERNEL_SPEC §4 (NaN for :class:`Ideal`, whose G is then a nonzero constant).

        Returns
        -------
        float
            The SP of the physical state, in weight units.
        """
        if self.up_down == 0.0:
            return self.response.symmetric_point()
        if isinstance(self.response, Ideal):
            return math.nan
        a, b = self.bounds()
        for _ in range(100):
            m = 0.5 * (a + b)
            if m <= a or m >= b:
                break
            if float(self.q_minus(m)) - float(self.q_plus(m)) > 0:
                b = m
            else:
                a = m
        return 0.5 * (a + b)

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
            up_down=float(self.up_down),
            up_down_dtod=float(self.up_down_dtod),
            w_max_dtod=float(self.w_max_dtod),
            w_min_dtod=float(self.w_min_dtod),
            reference_mean=float(self.reference_mean),
            reference_std=float(self.reference_std),
            subtract_symmetry_point=bool(self.subtract_symmetry_point),
        )
        return spec
