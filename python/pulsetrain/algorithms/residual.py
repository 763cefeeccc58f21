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

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import (
    InstanceOf,
    Integral,
    Interval,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms.base import LR, Algorithm, AlgorithmState, FloatArray, make_tile
from pulsetrain.algorithms.sgd import UPDATE_MODES
from pulsetrain.config import register
from pulsetrain.devices import ALD, Device
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import ExpectedUpdate, Phase, StochasticPulseUpdate, UpdateMode

__all__ = ["ResidualLearning", "ResidualLearningV2", "TikiTaka"]

_UNIT = Interval(0.0, 1.0, closed="right")
_DEVICE = InstanceOf((Device,))
_OPTIONAL_DEVICE = InstanceOf((Device, type(None)))


def _residual_sp_error(p_tile: AnalogTile) -> FloatArray | None:
    """RMS over elements of P's logical SP (RL assumes 0); None for an ideal device."""
    sp = p_tile.symmetric_points
    if np.isnan(sp).all():
        return None
    r = p_tile.replicas
    return np.asarray(np.sqrt(np.mean(sp.reshape(r, -1) ** 2, axis=1)), dtype=np.float64)


class _TwoArrayState(AlgorithmState):
    """W (tile 0) and P (tile 1); gradient at W̄ = W + γP."""

    def __init__(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        device: Device,
        device_residual: Device | None,
        update: UpdateMode,
        gamma_mix: float,
        n_threads: int | None,
        offset: int,
        backend: Backend,
        transfer_update: UpdateMode | None = None,
    ) -> None:
        self.replicas = instance.replicas
        self.n_in = instance.in_size
        self.gamma = gamma_mix
        dev_p = device if device_residual is None else device_residual
        # W only ever receives transfers: it uses the transfer update mode when one is given.
        w_mode = update if transfer_update is None else transfer_update
        self.w = make_tile(instance, device, w_mode, root, 0, n_threads, offset, backend)
        self.p = make_tile(instance, dev_p, update, root, 1, n_threads, offset, backend)
        self.w.set_weights(instance.initial_weights())
        self.tiles = {"W": self.w, "P": self.p}

    def gradient_point(self) -> FloatArray:
        if self.gamma == 0.0:
            return self.w.weights
        return self.w.weights + self.gamma * self.p.weights

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        # W̄ x = W x + γ P x: both arrays are read through the periphery (shared ADC).
        y = self.w.forward(x, io=io or perfect_io())
        if self.gamma != 0.0:
            y = y + self.gamma * self.p.forward(x, io=io or perfect_io())
        return y

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.w.backward(d, io=io or perfect_io())
        if self.gamma != 0.0:
            y = y + self.gamma * self.p.backward(d, io=io or perfect_io())
        return y

    def sp_error(self) -> FloatArray | None:
        return _residual_sp_error(self.p)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ResidualLearning(Algorithm):
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
    device: Device = field(metadata=constrained(_DEVICE))
    """Device of the main array W (and of P unless ``device_residual`` is given)."""
    device_residual: Device | None = field(default=None, metadata=constrained(_OPTIONAL_DEVICE))
    """Device of the residual array P; None uses ``device``."""
    lr: float = field(default=0.05, metadata=constrained(LR))
    """Learning rate of the gradient accumulation on P (≥ 0)."""
    lr_transfer: float = field(default=0.01, metadata=constrained(LR))
    """Multiplies the read of P written onto W (≥ 0)."""
    gamma_mix: float = field(default=0.4, metadata=constrained(_NON_NEGATIVE))
    """Weight of P in W̄ = W + gamma_mix·P (≥ 0; 0 is Tiki-Taka)."""
    transfer_every: int = field(default=1, metadata=constrained(Integral(1, 1 << 30)))
    """Gradient steps between transfer events (≥ 1)."""
    columns_per_transfer: int = field(default=0, metadata=constrained(Integral(0, 1 << 24)))
    """Columns read and written per event, cyclically; 0 transfers every column."""
    read_noise_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Gaussian noise of each read of P, in weight units (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads of P go through this periphery (one-hot forward passes, e.g.
    ``periphery.transfer_io()``) instead of exact values plus ``read_noise_std``."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate, metadata=constrained(InstanceOf(UPDATE_MODES))
    )
    """Update mode of both arrays (gradient updates and transfer writes)."""
    transfer_update: UpdateMode | None = field(
        default=None, metadata=constrained(InstanceOf((*UPDATE_MODES, type(None))))
    )
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


class _RLState(_TwoArrayState):
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
class TikiTaka(Algorithm):
    """Tiki-Taka (P2's analysed form): residual learning with gamma_mix = 0 (theory.md §3.3).

    The gradient is taken at W, P accumulates −lr·g, and its columns are transferred onto W.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> TikiTaka(device=pt.Device(response=pt.ALD(tau=1.0))).transfer_every
    1
    """

    kind: ClassVar[str] = "tiki_taka"
    device: Device = field(metadata=constrained(_DEVICE))
    """Device of W (and of P unless ``device_residual`` is given)."""
    device_residual: Device | None = field(default=None, metadata=constrained(_OPTIONAL_DEVICE))
    """Device of P; None uses ``device``."""
    lr: float = field(default=0.05, metadata=constrained(LR))
    """Learning rate of the gradient accumulation on P (≥ 0)."""
    lr_transfer: float = field(default=0.01, metadata=constrained(LR))
    """Multiplies the read of P written onto W (≥ 0)."""
    transfer_every: int = field(default=1, metadata=constrained(Integral(1, 1 << 30)))
    """Gradient steps between transfer events (≥ 1)."""
    columns_per_transfer: int = field(default=0, metadata=constrained(Integral(0, 1 << 24)))
    """Columns per event, cyclically; 0 transfers every column."""
    read_noise_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Gaussian noise of each read of P (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads of P go through this periphery (one-hot forward passes, e.g.
    ``periphery.transfer_io()``) instead of exact values plus ``read_noise_std``."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate, metadata=constrained(InstanceOf(UPDATE_MODES))
    )
    """Update mode of both arrays."""
    transfer_update: UpdateMode | None = field(
        default=None, metadata=constrained(InstanceOf((*UPDATE_MODES, type(None))))
    )
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
class ResidualLearningV2(Algorithm):
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
    device: Device = field(metadata=constrained(_DEVICE))
    """Device of W (and of P unless ``device_residual`` is given)."""
    device_residual: Device | None = field(default=None, metadata=constrained(_OPTIONAL_DEVICE))
    """Device of P; None uses ``device``."""
    lr: float = field(default=0.05, metadata=constrained(LR))
    """Learning rate of the gradient accumulation on P (≥ 0)."""
    lr_transfer: float = field(default=0.1, metadata=constrained(LR))
    """Multiplies the read of P added to H (≥ 0)."""
    gamma_mix: float = field(default=0.4, metadata=constrained(_NON_NEGATIVE))
    """Weight of P in W̄ (≥ 0)."""
    buffer_decay: float | None = field(
        default=None, metadata=constrained(InstanceOf((float, int, type(None))))
    )
    """b in H ← (1 − b)H + lr_transfer·P~, in (0, 1]; None uses lr_transfer (P1 Eq. 14)."""
    threshold: float = field(
        default=1.0, metadata=constrained(Interval(0.0, None, closed="neither"))
    )
    """Firing threshold in units of W's dw_min (> 0)."""
    read_noise_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Gaussian noise of each read of P (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads of P go through this periphery (one-hot forward passes, e.g.
    ``periphery.transfer_io()``) instead of exact values plus ``read_noise_std``."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate, metadata=constrained(InstanceOf(UPDATE_MODES))
    )
    """Update mode of P's gradient updates (W receives single exact pulses)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)
        b = self.buffer_decay
        if b is not None:
            if isinstance(b, bool) or not 0.0 < float(b) <= 1.0:
                raise parameter_error(
                    "buffer_decay", "ResidualLearningV2", "None or a float in the range (0, 1]", b
                )
            object.__setattr__(self, "buffer_decay", float(b))
        elif not 0.0 < self.lr_transfer <= 1.0:
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


class _RLv2State(_TwoArrayState):
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
        self.h = np.zeros((instance.replicas, instance.out_size, instance.in_size))
        self.decay = cfg.effective_buffer_decay
        self.quantum = cfg.threshold * cfg.device.dw_min

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        self.p.update(x, d, lr=self.cfg.lr)
        read = self.p.read(noise_std=self.cfg.read_noise_std, io=self.cfg.transfer_io)
        self.h = (1.0 - self.decay) * self.h + self.cfg.lr_transfer * read
        fire = np.where(np.abs(self.h) >= self.quantum, np.sign(self.h), 0.0)
        if fire.any():
            self.w.apply_pulses(fire.astype(np.int64), phase=Phase.TRANSFER)
            self.h = self.h - fire * self.quantum

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w.weights, "P": self.p.weights, "H": self.h.copy()}

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()
