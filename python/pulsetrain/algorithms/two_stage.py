"""Two-stage residual learning: zero-shift the residual array, then train (P3 Alg. 4).

Stage 1 fires ``zs_pulses`` calibration pulses on every element of P and programs P's reference to
the estimate Ŵ◇ (theory.md §3.9–3.10), which puts P's logical symmetric point at about 0. Stage 2
is residual learning (§3.4). The calibration pulses are counted in the CALIBRATION phase, so the
cost of stage 1 shows next to the training pulses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import check_fields
from pulsetrain.algorithms._transfer import (
    TRANSFER_UPDATE,
    ZS_MODE,
    ResidualFields,
    calibrate_residual,
    check_zs_average_last,
    columns_per_transfer_field,
    gamma_mix_field,
    transfer_every_field,
    zs_average_last_field,
    zs_pulses_field,
)
from pulsetrain.algorithms.base import AlgorithmState
from pulsetrain.algorithms.residual import ResidualLearning, _RLState
from pulsetrain.config import register
from pulsetrain.devices import Device, SkewLinear
from pulsetrain.problems.base import Instance
from pulsetrain.tile import Backend
from pulsetrain.updates import ExpectedUpdate, UpdateMode
from pulsetrain.zero_shift import ZeroShiftMode

__all__ = ["TwoStage"]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TwoStage(ResidualFields):
    """Zero-shift calibration of P, then residual learning (P3 Alg. 4; theory.md §3.10).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> TwoStage(device=pt.Device(response=pt.ALD(tau=1.0)), zs_pulses=500).zs_mode.value
    'stochastic'
    """

    kind: ClassVar[str] = "two_stage"
    zs_pulses: int = zs_pulses_field(1000, 1)
    """Zero-shift pulses per element of P (the calibration cost), ≥ 1."""
    zs_mode: ZeroShiftMode = field(default=ZeroShiftMode.STOCHASTIC, metadata=ZS_MODE)
    """Signs of the calibration pulses: random or alternating."""
    zs_average_last: int = zs_average_last_field()
    """Average the last M calibration states (≤ zs_pulses)."""
    gamma_mix: float = gamma_mix_field()
    """Weight of P in W̄ (≥ 0)."""
    transfer_every: int = transfer_every_field()
    """Gradient steps between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field()
    """Columns per event, cyclically; 0 transfers every column."""
    transfer_update: UpdateMode | None = field(default=None, metadata=TRANSFER_UPDATE)
    """Update mode of the transfer writes onto W (aihwkit ``transfer_update``); None: ``update``."""

    def __post_init__(self) -> None:
        """Validate every field, and zs_average_last ≤ zs_pulses."""
        check_fields(self)
        check_zs_average_last(self, "TwoStage")

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        TwoStage
            On a skew-linear device in the expected mode, 200 calibration pulses.
        """
        return cls(
            device=Device(response=SkewLinear(tau=1.0, c_lin=0.2)),
            update=ExpectedUpdate(),
            zs_pulses=200,
        )

    def residual_learning(self) -> ResidualLearning:
        """Return the stage-2 residual-learning config.

        Returns
        -------
        ResidualLearning
            The same devices and hyper-parameters without the calibration fields.
        """
        return ResidualLearning(
            device=self.device,
            device_residual=self.device_residual,
            lr=self.lr,
            lr_transfer=self.lr_transfer,
            gamma_mix=self.gamma_mix,
            transfer_every=self.transfer_every,
            columns_per_transfer=self.columns_per_transfer,
            read_noise_std=self.read_noise_std,
            transfer_io=self.transfer_io,
            update=self.update,
            transfer_update=self.transfer_update,
        )

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        state = _RLState(
            self.residual_learning(), instance, root, n_threads, replica_offset, backend
        )
        calibrate_residual(self, state.p, n_threads)
        return state
