"""The three update modes and the pulse-counter phases (shared/theory.md §2.3; KERNEL_SPEC §6).

Each mode is a typed config object whose ``to_spec()`` is the update dict that ``_core.Tile``
takes (KERNEL_SPEC §8).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Final, Literal, Self, TypedDict, TypeVar

from pulsetrain._validation import (
    Bool,
    Integral,
    Interval,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.config import ConfigMixin, register

__all__ = [
    "UPDATE_MODES",
    "ExpectedSpec",
    "ExpectedUpdate",
    "Phase",
    "PulseCountSpec",
    "PulseCountUpdate",
    "Rounding",
    "StochasticPulseSpec",
    "StochasticPulseUpdate",
    "UpdateMode",
    "UpdateSpec",
]

_M = TypeVar("_M", bound=type)

_UPDATE_MODES: dict[str, type[UpdateMode]] = {}

UPDATE_MODES: Final[Mapping[str, type[UpdateMode]]] = MappingProxyType(_UPDATE_MODES)
"""Every update mode by its ``kind``, in registration order (filled by :func:`register_mode`).

Examples
--------
>>> list(UPDATE_MODES)
['expected', 'pulse_count', 'stochastic_pulse']
"""


def register_mode(cls: _M) -> _M:
    """Add an update-mode class to :data:`UPDATE_MODES` under its ``kind`` (class decorator).

    Parameters
    ----------
    cls : type
        A registered config class with a ``to_spec()`` method.

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    ParameterError
        If another mode already uses the kind.
    """
    kind: str = cls.kind  # type: ignore[attr-defined]
    if kind in _UPDATE_MODES and _UPDATE_MODES[kind] is not cls:
        raise parameter_error("kind", cls.__name__, "a kind no other update mode uses", kind)
    _UPDATE_MODES[kind] = cls
    return cls


class ExpectedSpec(TypedDict):
    """The update dict of :class:`ExpectedUpdate` (KERNEL_SPEC §8); keys in this order."""

    kind: Literal["expected"]
    noise: bool


class PulseCountSpec(TypedDict):
    """The update dict of :class:`PulseCountUpdate` (KERNEL_SPEC §8); keys in this order."""

    kind: Literal["pulse_count"]
    max_bl: int
    rounding: Literal["ceil", "stochastic"]
    aggregate: bool


class StochasticPulseSpec(TypedDict):
    """The update dict of :class:`StochasticPulseUpdate` (KERNEL_SPEC §8); keys in this order."""

    kind: Literal["stochastic_pulse"]
    desired_bl: int
    update_management: bool
    update_bl_management: bool
    fixed_bl: bool
    um_grad_scale: float
    aggregate: bool
    aggregate_samples: int


UpdateSpec = ExpectedSpec | PulseCountSpec | StochasticPulseSpec
"""Any update dict that ``_core.Tile`` takes.

``to_spec()`` is still annotated ``dict[str, Any]``, because ``_core.Tile`` (``_core.pyi``) and
the twin take ``dict[str, Any]``, which a TypedDict is not; once they take ``Mapping[str, Any]``
the return types can name these. ``tests/test_config.py`` checks that every mode's spec has
exactly its TypedDict's keys, in order, with the declared types.
"""


class Rounding(enum.Enum):
    """How a fractional pulse count becomes an integer (shared/theory.md §2.3(b))."""

    CEIL = "ceil"
    """``n = ceil(|Δw|/Δw_min)`` (P1/P2 appendices; biases updates below Δw_min upwards)."""
    STOCHASTIC = "stochastic"
    """``n = floor(r) + Bernoulli(r - floor(r))``, ``r = |Δw|/Δw_min``: unbiased."""


class Phase(enum.Enum):
    """Which per-element pulse counter a call adds to (shared/DESIGN.md §5.4)."""

    UPDATE = "update"
    """Gradient updates."""
    TRANSFER = "transfer"
    """Transfers between arrays (residual family)."""
    CALIBRATION = "calibration"
    """Symmetric-point calibration pulses (zero-shift)."""

    @property
    def index(self) -> int:
        """Integer the core uses for this phase: UPDATE 0, TRANSFER 1, CALIBRATION 2."""
        return _PHASE_INDEX[self]

    @classmethod
    def coerce(cls, value: Phase | str, *, owner: str = "Phase") -> Phase:
        """Return ``value`` as a :class:`Phase`, accepting a member, its value or its name.

        Parameters
        ----------
        value : Phase or str
            ``Phase.TRANSFER``, ``"transfer"`` or ``"TRANSFER"``.
        owner : str, optional
            Name of the caller, for the error message.

        Returns
        -------
        Phase
            The member.

        Raises
        ------
        ParameterError
            If ``value`` names no phase.

        Examples
        --------
        >>> Phase.coerce("transfer").index
        1
        """
        if isinstance(value, Phase):
            return value
        if isinstance(value, str):
            for member in cls:
                if value in (member.value, member.name):
                    return member
        allowed = "a Phase or one of " + ", ".join(repr(m.value) for m in cls)
        raise parameter_error("phase", owner, allowed, value)


_PHASE_INDEX: dict[Phase, int] = {Phase.UPDATE: 0, Phase.TRANSFER: 1, Phase.CALIBRATION: 2}


@register_mode
@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ExpectedUpdate(ConfigMixin):
    """Deterministic compact update ``W + ΔW⊙F - |ΔW|⊙G``, clipped (shared/theory.md §1.2).

    Examples
    --------
    >>> ExpectedUpdate().to_spec()
    {'kind': 'expected', 'noise': False}
    """

    kind: ClassVar[str] = "expected"
    noise: bool = field(default=False, metadata=constrained(Bool()))
    """Add ζ ~ N(0, |Δw|·Δw_min) per element (P3 Assumption 3.4, P4 Lemma 1)."""

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ExpectedUpdate
            ``ExpectedUpdate(noise=True)``.
        """
        return cls(noise=True)

    def to_spec(self) -> dict[str, Any]:
        """Return the update dict for ``_core.Tile`` (KERNEL_SPEC §8).

        Returns
        -------
        dict
            Shaped as :class:`ExpectedSpec`:
            ``{"kind": "expected", "noise": bool}``.
        """
        return {"kind": self.kind, "noise": bool(self.noise)}


@register_mode
@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PulseCountUpdate(ConfigMixin):
    """Fire ``n ≈ |Δw|/Δw_min`` pulses of sign(Δw) per element (shared/theory.md §2.3(b)).

    Examples
    --------
    >>> PulseCountUpdate(max_bl=8).to_spec()
    {'kind': 'pulse_count', 'max_bl': 8, 'rounding': 'ceil', 'aggregate': True}
    """

    kind: ClassVar[str] = "pulse_count"
    max_bl: int = field(default=32, metadata=constrained(Integral(1, 1_000_000)))
    """Pulse cap per element per update, a count in [1, 1e6] (P1: 32; its Fig. 2 toy: 8)."""
    rounding: Rounding = field(default=Rounding.CEIL, metadata=constrained(Options(Rounding)))
    """How the fractional count ``|Δw|/Δw_min`` is rounded."""
    aggregate: bool = field(default=True, metadata=constrained(Bool()))
    """Sample each element's train in one Gaussian draw where that is exact in distribution.

    Exact for an affine response (ideal, linear step/ALD, skew linear, soft bounds) with additive
    cycle noise (σ > 0), for trains of two or more pulses whose mean path stays 10 standard
    deviations inside the element's bounds (KERNEL_SPEC §5); every other train, and every
    device with multiplicative or no noise, is fired pulse by pulse whatever this says. Changes
    the drawn values (one normal per aggregated train instead of n), not their distribution.
    """

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        PulseCountUpdate
            ``PulseCountUpdate(max_bl=8, rounding=Rounding.STOCHASTIC, aggregate=False)``.
        """
        return cls(max_bl=8, rounding=Rounding.STOCHASTIC, aggregate=False)

    def to_spec(self) -> dict[str, Any]:
        """Return the update dict for ``_core.Tile`` (KERNEL_SPEC §8).

        Returns
        -------
        dict
            Shaped as :class:`PulseCountSpec`:
            ``{"kind": "pulse_count", "max_bl": int, "rounding": "ceil" | "stochastic",
            "aggregate": bool}``.
        """
        return {
            "kind": self.kind,
            "max_bl": int(self.max_bl),
            "rounding": self.rounding.value,
            "aggregate": bool(self.aggregate),
        }


@register_mode
@register
@dataclass(frozen=True, slots=True, kw_only=True)
class StochasticPulseUpdate(ConfigMixin):
    """aihwkit-style stochastic pulse coincidences (shared/theory.md §2.3(c)).

    Defaults are aihwkit's ``UpdateParameters``.

    Examples
    --------
    >>> StochasticPulseUpdate().to_spec()["desired_bl"]
    31
    """

    kind: ClassVar[str] = "stochastic_pulse"
    desired_bl: int = field(default=31, metadata=constrained(Integral(1, 1024)))
    """Bit-stream length BL (the pulse cap), a count in [1, 1024]."""
    update_management: bool = field(default=True, metadata=constrained(Bool()))
    """Balance the x and d probabilities by √(x_m/d_m) (step 3)."""
    update_bl_management: bool = field(default=True, metadata=constrained(Bool()))
    """Shorten BL to ``min(ceil(lr·x_m·d_m/Δw_min), desired_bl)``; implies update management."""
    fixed_bl: bool = field(default=True, metadata=constrained(Bool()))
    """Without BL management, always use ``desired_bl`` slots."""
    um_grad_scale: float = field(
        default=1.0, metadata=constrained(Interval(0.0, None, closed="neither"))
    )
    """Scale of ``max|d|`` in update management, dimensionless (> 0)."""
    aggregate: bool = field(default=True, metadata=constrained(Bool()))
    """Sample each element's train in one Gaussian draw where that is exact in distribution.

    Exact for an affine response (ideal, linear step/ALD, skew linear, soft bounds) with additive
    cycle noise (σ > 0), for trains of two or more pulses whose mean path stays 10 standard
    deviations inside the element's bounds (KERNEL_SPEC §5); every other train, and every
    device with multiplicative or no noise, is fired pulse by pulse whatever this says. Changes
    the drawn values (one normal per aggregated train instead of n), not their distribution.
    """
    aggregate_samples: int = field(default=1, metadata=constrained(Integral(1, 1024)))
    """With ``aggregate``: sample each element's trains of this many consecutive samples of a call
    together, a count in [1, 1024] (1: each train on its own).

    Windows start at samples 0, k, 2k, … of each ``update`` call. Within a window every element
    carries the mean and variance of its state instead of the state, advanced exactly (in closed
    form) by each train whose mean path stays 10 standard deviations inside the bounds; one normal
    at the window's end draws the state. A train that would enter the guard band first draws the
    state, then fires pulse by pulse (KERNEL_SPEC §5, "Windows of samples"). Exact in
    distribution where ``aggregate`` is, with one normal per element and window instead of one
    per pulse: the dense 512×512 update fires about two pulses per element and sample, so
    windows of 16–64 samples replace about 30–120 normals by one. A stopped (Ctrl-C) call ends
    on a window boundary.
    """

    def __post_init__(self) -> None:
        """Validate every field; raise ParameterError naming the first bad one."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        StochasticPulseUpdate
            A non-default instance.
        """
        return cls(
            desired_bl=10,
            update_management=False,
            update_bl_management=False,
            fixed_bl=False,
            um_grad_scale=2.0,
            aggregate=False,
        )

    def to_spec(self) -> dict[str, Any]:
        """Return the update dict for ``_core.Tile`` (KERNEL_SPEC §8).

        Returns
        -------
        dict
            Shaped as :class:`StochasticPulseSpec`:
            ``kind``, ``desired_bl``, ``update_management``, ``update_bl_management``,
            ``fixed_bl``, ``um_grad_scale``, ``aggregate``, ``aggregate_samples``.
        """
        return {
            "kind": self.kind,
            "desired_bl": int(self.desired_bl),
            "update_management": bool(self.update_management),
            "update_bl_management": bool(self.update_bl_management),
            "fixed_bl": bool(self.fixed_bl),
            "um_grad_scale": float(self.um_grad_scale),
            "aggregate": bool(self.aggregate),
            "aggregate_samples": int(self.aggregate_samples),
        }


UpdateMode = ExpectedUpdate | PulseCountUpdate | StochasticPulseUpdate
"""Any of the three update modes."""
