"""Residual learning on two analog arrays: Tiki-Taka, RL and RLv2 (shared/theory.md §3.3–3.5).

The gradient array P (the papers' A) accumulates −lr·g; every ``transfer_every`` steps a few of its
columns are read (with read noise) and written into the main array W. The model computes with
W̄ = W + gamma_mix·P. P's logical symmetric point must sit at 0, else an error remains (C21);
:meth:`AlgorithmState.sp_error` reports how far it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import (
    Interval,
    NoneOr,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms._transfer import (
    TRANSFER_UPDATE,
    ResidualFields,
    TransferBuffer,
    TwoArrayState,
    columns_per_transfer_field,
    gamma_mix_field,
    lr_field,
    transfer_every_field,
)
from pulsetrain.algorithms.base import AlgorithmState, FloatArray
from pulsetrain.config import register
from pulsetrain.devices import ALD, Device
from pulsetrain.problems.base import Instance
from pulsetrain.tile import Backend
from pulsetrain.updates import ExpectedUpdate, Phase, UpdateMode

__all__ = ["ResidualLearning", "ResidualLearningV2", "TikiTaka"]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ResidualLearning(ResidualFields):
    """Residual learning (P1 §4, Eq. 10–11; theory.md §3.4).

    Per step: g at W̄ = W + gamma_mix·P; P ← AU_P(P, −lr·g); every ``transfer_every`` steps,
    for the next ``columns_per_transfer`` columns j (cyclic): v = read(P e_j) with read noise,
    W[:, j] ← AU_W(W[:, j], lr_transfer·v) (as an outer-product update with x = e_j, so every
    update mode applies; pulses count as TRANSFER).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> rl = ResidualLearning(device=pt.Device(response=pt.ALD(tau=1.0)), lr=0.05,
    ...                       lr_transfer=0.01, gamma_mix=0.4)
    >>> rl.columns_per_transfer
    0
    """

    kind: ClassVar[str] = "residual_learning"
    gamma_mix: float = gamma_mix_field()
    """Weight of P in W̄ = W + gamma_mix·P (≥ 0; 0 is Tiki-Taka)."""
    transfer_every: int = transfer_every_field()
    """Gradient steps between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field()
    """Columns read and written per event, cyclically; 0 transfers every column."""
    transfer_update: UpdateMode | None = field(default=None, metadata=TRANSFER_UPDATE)
    """Update mode of the transfer writes onto W (aihwkit ``transfer_update``); None: ``update``."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ResidualLearning
            The theory toy setting (ALD, lr 0.05, lr_transfer 0.01, gamma_mix 0.4).
        """
        return cls(device=Device(response=ALD(tau=1.0)), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _RLState(self, instance, root, n_threads, replica_offset, backend)


class _RLState(TwoArrayState):
    def __init__(
        self,
        cfg: ResidualLearning | TikiTaka,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        offset: int,
        backend: Backend,
    ) -> None:
        gamma = cfg.gamma_mix if isinstance(cfg, ResidualLearning) else 0.0
        super().__init__(
            instance,
            root,
            cfg.device,
            cfg.device_residual,
            cfg.update,
            gamma,
            n_threads,
            offset,
            backend,
            cfg.transfer_update,
        )
        self.cfg = cfg
        n = cfg.columns_per_transfer
        self.n_cols = self.n_in if n == 0 else min(n, self.n_in)
        self.pointer = 0

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        self.p.update(x, d, lr=self.cfg.lr)
        if (step + 1) % self.cfg.transfer_every == 0:
            cols = [(self.pointer + c) % self.n_in for c in range(self.n_cols)]
            self.pointer = (self.pointer + self.n_cols) % self.n_in
            v = self.p.read(
                cols, noise_std=self.cfg.read_noise_std, io=self.cfg.transfer_io
            )  # (R, out, c)
            xe = np.zeros((self.replicas, len(cols), self.n_in))
            xe[:, np.arange(len(cols)), cols] = 1.0
            # W[:, j] += lr_transfer·v_j  ⇔  ΔW = −lr_transfer Σ_j (−v_j) e_jᵀ.
            self.w.update(xe, -v.transpose(0, 2, 1), lr=self.cfg.lr_transfer, phase=Phase.TRANSFER)

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w.weights, "P": self.p.weights}

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TikiTaka(ResidualFields):
    """Tiki-Taka (P2's analysed form): residual learning with gamma_mix = 0 (theory.md §3.3).

    The gradient is taken at W, P accumulates −lr·g, and its columns are transferred onto W.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> TikiTaka(device=pt.Device(response=pt.ALD(tau=1.0))).transfer_every
    1
    """

    kind: ClassVar[str] = "tiki_taka"
    transfer_every: int = transfer_every_field()
    """Gradient steps between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field()
    """Columns per event, cyclically; 0 transfers every column."""
    transfer_update: UpdateMode | None = field(default=None, metadata=TRANSFER_UPDATE)
    """Update mode of the transfer writes onto W (aihwkit ``transfer_update``); None: ``update``."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        TikiTaka
            On ALD in the expected mode.
        """
        return cls(device=Device(response=ALD(tau=1.0)), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _RLState(self, instance, root, n_threads, replica_offset, backend)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ResidualLearningV2(ResidualFields):
    """RLv2 (P1 §5, Eq. 14; theory.md §3.5): a decaying digital buffer H between P and W.

    Per step: g at W̄ = W + gamma_mix·P; P ← AU_P(P, −lr·g); P~ = read(P) with read noise;
    H ← (1 − buffer_decay)H + lr_transfer·P~; wherever |H| ≥ threshold·dw_min(W), one pulse of
    sign(H) is fired on W (TRANSFER) and H ← H − sign(H)·threshold·dw_min(W).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> v2 = ResidualLearningV2(device=pt.Device(response=pt.ALD(tau=1.0)), lr_transfer=0.1)
    >>> v2.effective_buffer_decay
    0.1
    """

    kind: ClassVar[str] = "residual_learning_v2"
    lr_transfer: float = lr_field(0.1)
    """Multiplies the read of P added to H (≥ 0)."""
    gamma_mix: float = gamma_mix_field()
    """Weight of P in W̄ (≥ 0)."""
    buffer_decay: float | None = field(
        default=None, metadata=constrained(NoneOr(Interval(0.0, 1.0, closed="right")))
    )
    """b in H ← (1 − b)H + lr_transfer·P~, in (0, 1]; None uses lr_transfer (P1 Eq. 14)."""
    threshold: float = field(
        default=1.0, metadata=constrained(Interval(0.0, None, closed="neither"))
    )
    """Firing threshold in units of W's dw_min (> 0)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)
        if self.buffer_decay is None and not 0.0 < self.lr_transfer <= 1.0:
            raise parameter_error(
                "lr_transfer",
                "ResidualLearningV2",
                "a float in the range (0, 1] when buffer_decay is None (it is used as the decay)",
                self.lr_transfer,
            )

    @property
    def effective_buffer_decay(self) -> float:
        """The decay b actually used: ``buffer_decay``, or ``lr_transfer`` when it is None."""
        return self.lr_transfer if self.buffer_decay is None else float(self.buffer_decay)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ResidualLearningV2
            On ALD in the expected mode with buffer_decay 0.1.
        """
        return cls(device=Device(response=ALD(tau=1.0)), update=ExpectedUpdate(), buffer_decay=0.1)

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _RLv2State(self, instance, root, n_threads, replica_offset, backend)


class _RLv2State(TwoArrayState):
    def __init__(
        self,
        cfg: ResidualLearningV2,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        offset: int,
        backend: Backend,
    ) -> None:
        super().__init__(
            instance,
            root,
            cfg.device,
            cfg.device_residual,
            cfg.update,
            cfg.gamma_mix,
            n_threads,
            offset,
            backend,
        )
        self.cfg = cfg
        # H fires one pulse of sign(H) on W per crossing of threshold·dw_min(W), which it loses.
        self.buffer = TransferBuffer(
            (instance.replicas, instance.out_size, instance.in_size),
            threshold=cfg.threshold * cfg.device.dw_min,
            decay=cfg.effective_buffer_decay,
        )

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        self.p.update(x, d, lr=self.cfg.lr)
        read = self.p.read(noise_std=self.cfg.read_noise_std, io=self.cfg.transfer_io)
        fire = self.buffer.fire(self.cfg.lr_transfer * read)
        # Called even when nothing fires: each call advances W's stream tick, so skipping it when
        # no replica fired would make one replica's noise depend on the others.
        self.w.apply_pulses(fire.astype(np.int64), phase=Phase.TRANSFER)

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w.weights, "P": self.p.weights, "H": self.buffer.h.copy()}

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()
