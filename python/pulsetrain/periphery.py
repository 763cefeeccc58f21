"""Periphery of a crossbar pass: DAC, ADC, noise, bounds, noise and bound management.

:class:`IOParameters` mirrors aihwkit's ``IOParameters`` (shared/theory.md §2.5): its defaults are
aihwkit's (7-bit DAC on ±1, 9-bit ADC on ±12, output noise 0.06, abs-max noise management,
iterative bound management), which P1 Table 4 and P3 Table 6 also use. A resolution above 1 is read
as a number of steps and one ≤ 0 switches that quantiser off, as in aihwkit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import REAL as _REAL
from pulsetrain._validation import Bool, Options, check_fields, constrained
from pulsetrain.config import ConfigMixin, register

__all__ = [
    "BoundManagement",
    "IOParameters",
    "NoiseManagement",
    "perfect_io",
    "preset_io",
    "transfer_io",
]


class NoiseManagement(enum.Enum):
    """How inputs are scaled before the DAC."""

    NONE = "none"
    """No scaling."""
    ABS_MAX = "abs_max"
    """Divide by max|x| (capped at ``nm_thres`` if > 0), multiply the outputs back."""


class BoundManagement(enum.Enum):
    """What happens when an output saturates the ADC."""

    NONE = "none"
    """Saturated outputs are clipped at ±out_bound."""
    ITERATIVE = "iterative"
    """Halve the input scale and repeat while any output saturates (forward passes only)."""


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class IOParameters(ConfigMixin):
    """Periphery of one pass direction (aihwkit ``IOParameters``; shared/theory.md §2.5).

    Examples
    --------
    >>> io = IOParameters()
    >>> round(io.step_in, 6), round(io.step_out, 6)
    (0.015873, 0.047059)
    """

    kind: ClassVar[str] = "io"
    is_perfect: bool = field(default=False, metadata=constrained(Bool()))
    """Bypass everything: exact W x (times out_scale)."""
    inp_bound: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Input range ±inp_bound (> 0); abs-max noise management needs 1."""
    inp_res: float = field(default=1.0 / (2**7 - 2), metadata=constrained(_REAL))
    """DAC resolution as a fraction of the range (> 1: a number of steps; ≤ 0: off)."""
    inp_sto_round: bool = field(default=False, metadata=constrained(Bool()))
    """Stochastic rounding in the DAC."""
    inp_noise: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Additive input noise std after the DAC (≥ 0)."""
    out_bound: float = field(default=12.0, metadata=constrained(_POSITIVE))
    """Output range ±out_bound (> 0)."""
    out_res: float = field(default=1.0 / (2**9 - 2), metadata=constrained(_REAL))
    """ADC resolution as a fraction of the range (> 1: a number of steps; ≤ 0: off)."""
    out_sto_round: bool = field(default=False, metadata=constrained(Bool()))
    """Stochastic rounding in the ADC."""
    out_noise: float = field(default=0.06, metadata=constrained(_NON_NEGATIVE))
    """Additive output noise std before the ADC (≥ 0), in units of the scaled output."""
    out_scale: float = field(default=1.0, metadata=constrained(_REAL))
    """Final output scale."""
    noise_management: NoiseManagement = field(
        default=NoiseManagement.ABS_MAX, metadata=constrained(Options(NoiseManagement))
    )
    """Input scaling before the DAC."""
    nm_thres: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Cap on the abs-max scale (0: none)."""
    bound_management: BoundManagement = field(
        default=BoundManagement.ITERATIVE, metadata=constrained(Options(BoundManagement))
    )
    """Saturation handling (always off in backward passes, as in aihwkit)."""
    bm_test_negative_bound: bool = field(default=True, metadata=constrained(Bool()))
    """Treat outputs below −out_bound as saturated too."""
    max_bm_factor: float = field(default=1000.0, metadata=constrained(_POSITIVE))
    """Largest input down-scaling 2^r of bound management."""
    max_bm_res: float = field(default=0.25, metadata=constrained(_POSITIVE))
    """Bound management stops once 2^r > max_bm_res / DAC step."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        IOParameters
            The aihwkit defaults.
        """
        return cls()

    @staticmethod
    def _res(res: float) -> float:
        return 0.0 if res <= 0 else (1.0 / res if res > 1 else res)

    @property
    def step_in(self) -> float:
        """DAC step in input units: ``res · 2 · inp_bound`` (0 when off)."""
        return self._res(self.inp_res) * 2.0 * self.inp_bound

    @property
    def step_out(self) -> float:
        """ADC step in output units: ``res · 2 · out_bound`` (0 when off)."""
        return self._res(self.out_res) * 2.0 * self.out_bound

    def to_spec(self) -> dict[str, Any]:
        """Return the dict ``_core`` takes.

        Returns
        -------
        dict
            Every field, enums as their values.
        """
        return {
            "is_perfect": self.is_perfect,
            "inp_bound": float(self.inp_bound),
            "inp_res": float(self.inp_res),
            "inp_sto_round": self.inp_sto_round,
            "inp_noise": float(self.inp_noise),
            "out_bound": float(self.out_bound),
            "out_res": float(self.out_res),
            "out_sto_round": self.out_sto_round,
            "out_noise": float(self.out_noise),
            "out_scale": float(self.out_scale),
            "noise_management": self.noise_management.value,
            "nm_thres": float(self.nm_thres),
            "bound_management": self.bound_management.value,
            "bm_test_negative_bound": self.bm_test_negative_bound,
            "max_bm_factor": float(self.max_bm_factor),
            "max_bm_res": float(self.max_bm_res),
        }


def perfect_io() -> IOParameters:
    """Return perfect IO: exact W x (aihwkit ``is_perfect = True``; P4 uses it).

    Returns
    -------
    IOParameters
        ``IOParameters(is_perfect=True)``.
    """
    return IOParameters(is_perfect=True)


def preset_io() -> IOParameters:
    """Return aihwkit's ``PresetIOParameters``: output bound 20, output noise 0.1 (§2.5).

    Returns
    -------
    IOParameters
        The stock ``*Preset`` configs' periphery.
    """
    return IOParameters(out_bound=20.0, out_noise=0.1)


def transfer_io() -> IOParameters:
    """Return the periphery aihwkit uses for transfer reads: defaults with NM and BM off.

    A one-hot read of column k then returns ``A e_k + 0.06ξ`` quantised to 0.047 and clipped at
    ±12, in weight units (shared/theory.md §2.5).

    Returns
    -------
    IOParameters
        ``IOParameters(noise_management=NONE, bound_management=NONE)``.
    """
    return IOParameters(
        noise_management=NoiseManagement.NONE, bound_management=BoundManagement.NONE
    )
