"""Tracking the residual array's symmetric point during training: RIDER and E-RIDER (P3).

RIDER (shared/theory.md §3.11) keeps a digital EMA Q ← (1 − ema_rate)Q + ema_rate·P of the
residual array P. The drift −lr|g|⊙G_P(P) pulls P towards its symmetric point, and the slow EMA
keeps that component, so W̄ = W + gamma_mix(P − Q) and the transfer of P − Q no longer need P's
SP at 0. E-RIDER (§3.12) adds a per-column chopper c (each column's sign flips with probability
``chop_prob`` per step): the gradient enters P as c⊙g and leaves it as c⊙(P − Q~), so the
gradient part is modulated and averages out of Q, while the SP drift is not. Q~ is the analog
copy of Q used in W̄ and the transfer, reprogrammed from Q when a column's chopper flips
(``reprogram_on_flip``), or Q itself (theory's toy check C23).

Implemented: the raw equations (theory.md's ``erider_raw``, :class:`ERIDER`) and P3's
experimental configuration with AGAD's chopped, thresholded transfer buffer
(``erider_buffered``, :class:`ERIDERBuffered`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import NON_NEGATIVE, Bool, Integral, Interval, check_fields, constrained
from pulsetrain.algorithms._transfer import (
    TRANSFER_UPDATE,
    ChoppedTransfer,
    ResidualFields,
    TransferBuffer,
    TwoArrayState,
    buffer_unit,
    columns_per_transfer_field,
    gamma_mix_field,
    lr_field,
    transfer_every_field,
)
from pulsetrain.algorithms.base import AlgorithmState, FloatArray
from pulsetrain.config import register
from pulsetrain.devices import Device, SkewLinear
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.rng import tile_key
from pulsetrain.streams import CHOPPER_KEY_INDEX, TAG_CHOPPER
from pulsetrain.tile import Backend
from pulsetrain.updates import ExpectedUpdate, Phase, UpdateMode

__all__ = ["ERIDER", "RIDER", "ERIDERBuffered"]

_RATE = Interval(0.0, 1.0, closed="right")
_PROB = Interval(0.0, 1.0, closed="both")


class _TrackingState(TwoArrayState):
    def __init__(
        self,
        cfg: RIDER | ERIDER,
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
            cfg.transfer_update,
        )
        self.cfg = cfg
        self.chop_prob = cfg.chop_prob if isinstance(cfg, ERIDER) else 0.0
        self.separate_copy = isinstance(cfg, ERIDER) and cfg.reprogram_on_flip
        # Q_0 = read(P_0) (project choice, theory.md §3.11).
        self.q = self.p.read(noise_std=cfg.read_noise_std, io=cfg.transfer_io)
        self.q_copy = self.q.copy()
        self.chop = np.ones((instance.replicas, 1, instance.in_size))
        self.eye = np.broadcast_to(
            np.eye(instance.in_size), (self.replicas,) + (instance.in_size,) * 2
        )
        self.key = list(tile_key(root, CHOPPER_KEY_INDEX))
        self.offset = offset
        self.backend = backend

    def _q_used(self) -> FloatArray:
        return self.q_copy if self.separate_copy else self.q

    def gradient_point(self) -> FloatArray:
        return self.w.weights + self.gamma * self.chop * (self.p.weights - self._q_used())

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        # W̄ x = W x + γ (P − Q~)(c⊙x): P through the periphery, Q~ digitally.
        xc = x * self.chop
        y = self.w.forward(x, io=io or perfect_io())
        pq = self.p.forward(xc, io=io or perfect_io()) - np.einsum(
            "roi,rbi->rbo", self._q_used(), xc
        )
        return np.asarray(y + self.gamma * pq, dtype=np.float64)

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.w.backward(d, io=io or perfect_io())
        pq = self.p.backward(d, io=io or perfect_io()) - np.einsum(
            "roi,rbo->rbi", self._q_used(), d
        )
        return np.asarray(y + self.gamma * self.chop * pq, dtype=np.float64)

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        cfg = self.cfg
        q_used = self._q_used()
        # P_new = AU_P(P, −lr c⊙g): the chopper multiplies the inputs column-wise.
        self.p.update(x * self.chop, d, lr=cfg.lr)
        p_new = self.p.read(noise_std=cfg.read_noise_std, io=cfg.transfer_io)
        inc = self.chop * (p_new - q_used)  # W ← AU_W(W, lr_transfer·c⊙(P_new − Q~))
        self.q = (1.0 - cfg.ema_rate) * self.q + cfg.ema_rate * p_new
        self.w.update(self.eye, -inc.transpose(0, 2, 1), lr=cfg.lr_transfer, phase=Phase.TRANSFER)
        if self.chop_prob > 0.0:
            u = self.backend.replica_uniforms(
                self.key, step, self.offset, self.replicas, self.chop.shape[2], TAG_CHOPPER
            ).reshape(self.chop.shape)
            flips = u < self.chop_prob
            self.chop = np.where(flips, -self.chop, self.chop)
            if self.separate_copy:
                # Reprogram the analog copy of Q in the columns whose chopper flipped.
                self.q_copy = np.where(flips, self.q, self.q_copy)

    def arrays(self) -> dict[str, FloatArray]:
        out = {"W": self.w.weights, "P": self.p.weights, "Q": self.q.copy()}
        if self.separate_copy:
            out["Q_copy"] = self.q_copy.copy()
        return out

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()

    def sp_error(self) -> FloatArray | None:
        sp = self.p.symmetric_points
        if np.isnan(sp).all():
            return None
        e = (self.q - sp).reshape(self.replicas, -1)
        return np.asarray(np.sqrt(np.mean(e**2, axis=1)), dtype=np.float64)


def _start(
    cfg: RIDER | ERIDER,
    instance: Instance,
    root: np.random.SeedSequence,
    n_threads: int | None,
    replica_offset: int,
    backend: Backend,
) -> AlgorithmState:
    return _TrackingState(cfg, instance, root, n_threads, replica_offset, backend)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class RIDER(ResidualFields):
    """RIDER (P3 Alg. 2; theory.md §3.11): residual learning that tracks P's SP with an EMA.

    Per step: W̄ = W + gamma_mix(P − Q); P ← AU_P(P, −lr·g); Q ← (1 − ema_rate)Q +
    ema_rate·P; W ← AU_W(W, lr_transfer(P − Q_old)), with Q_old the pre-step value.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> RIDER(device=pt.Device(response=pt.ALD(tau=1.0)), ema_rate=0.01).gamma_mix
    0.4
    """

    kind: ClassVar[str] = "rider"
    gamma_mix: float = gamma_mix_field()
    """Weight of P − Q in W̄ (≥ 0)."""
    ema_rate: float = field(default=0.01, metadata=constrained(_RATE))
    """EMA rate η of the SP tracker Q, in (0, 1]."""
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
        RIDER
            The theory toy setting on a skew-linear device, expected mode.
        """
        return cls(device=Device(response=SkewLinear(tau=1.0, c_lin=0.2)), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _start(self, instance, root, n_threads, replica_offset, backend)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ERIDER(ResidualFields):
    """E-RIDER (P3 Alg. 3; theory.md §3.12, the raw equations): RIDER with a chopper.

    Per step k, with c the per-column chopper (flipped with probability ``chop_prob`` after
    each step, c_0 = 1): W̄ = W + gamma_mix·c⊙(P − Q~); P ← AU_P(P, −lr·c⊙g);
    Q ← (1 − ema_rate)Q + ema_rate·P; W ← AU_W(W, lr_transfer·c⊙(P − Q~)). With
    ``reprogram_on_flip`` (default) Q~ is an analog copy of Q reprogrammed in the columns whose
    chopper flipped; without it Q~ is the pre-step Q (theory.md C23's toy). ``chop_prob = 0``
    with ``reprogram_on_flip=False`` is RIDER (with a separate copy that never flips, Q~ would
    stay at its initial value).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> ERIDER(device=pt.Device(response=pt.ALD(tau=1.0))).chop_prob
    0.05
    """

    kind: ClassVar[str] = "erider"
    gamma_mix: float = gamma_mix_field()
    """Weight of c⊙(P − Q~) in W̄ (≥ 0)."""
    ema_rate: float = field(default=0.01, metadata=constrained(_RATE))
    """EMA rate η of the SP tracker Q, in (0, 1]."""
    chop_prob: float = field(default=0.05, metadata=constrained(_PROB))
    """Probability that a column's chopper flips after a step, in [0, 1]."""
    reprogram_on_flip: bool = field(default=True, metadata=constrained(Bool()))
    """Keep Q~ as an analog copy of Q reprogrammed at flips (else Q~ is Q itself)."""
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
        ERIDER
            theory.md C23's toy setting (skew c = 0.2, Q~ ≡ Q), expected mode.
        """
        return cls(
            device=Device(response=SkewLinear(tau=1.0, c_lin=0.2)),
            update=ExpectedUpdate(),
            reprogram_on_flip=False,
        )

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _start(self, instance, root, n_threads, replica_offset, backend)


class _BufferedState(TwoArrayState):
    """E-RIDER with AGAD's chopped, thresholded transfer buffer (theory.md §3.7, §3.8, §3.12)."""

    def __init__(
        self,
        cfg: ERIDERBuffered,
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
        shape = (instance.replicas, instance.out_size, instance.in_size)
        n_samp = max(math.ceil(1.0 / cfg.chop_prob), 2)
        dw_a = (cfg.device_residual or cfg.device).dw_min
        n_in = instance.in_size
        bg = buffer_unit(
            cfg.buffer_granularity, cfg.auto_granularity, dw_a, n_in, cfg.transfer_every
        )
        self.scale = abs(cfg.lr_transfer) / bg
        n = cfg.columns_per_transfer
        # AGAD's chopped transfer (theory.md §3.8): running mean Q (tracks P's SP) and its
        # snapshot Q~ at the last flip, a dimensionless buffer firing where |ω| ≥ 1, choppers
        # flipped every n_samp sweeps (and randomly with chop_random), W held for n_samp sweeps.
        self.transfer = ChoppedTransfer(
            replicas=instance.replicas,
            out_size=instance.out_size,
            in_size=n_in,
            columns=n_in if n == 0 else min(n, n_in),
            buffer=TransferBuffer(
                shape,
                threshold=1.0,
                max_pulses=cfg.max_transfer_pulses,
                momentum=cfg.momentum,
                forget=cfg.forget_buffer,
            ),
            key=tile_key(root, CHOPPER_KEY_INDEX),
            offset=offset,
            backend=backend,
            flip_prob=cfg.chop_prob if cfg.chop_random else 0.0,
            flip_period=n_samp,
            mean_rate=min(cfg.tail_weightening / n_samp, 1.0),
            hold_sweeps=n_samp,
        )

    @property
    def chop(self) -> FloatArray:
        return self.transfer.chop

    @property
    def m(self) -> FloatArray:
        assert self.transfer.m is not None
        return self.transfer.m

    @property
    def m_ref(self) -> FloatArray:
        assert self.transfer.m_ref is not None
        return self.transfer.m_ref

    def gradient_point(self) -> FloatArray:
        return self.w.weights + self.gamma * self.chop * (self.p.weights - self.m_ref)

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        xc = x * self.chop
        y = self.w.forward(x, io=io or perfect_io())
        pq = self.p.forward(xc, io=io or perfect_io()) - np.einsum("roi,rbi->rbo", self.m_ref, xc)
        return np.asarray(y + self.gamma * pq, dtype=np.float64)

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.w.backward(d, io=io or perfect_io())
        pq = self.p.backward(d, io=io or perfect_io()) - np.einsum("roi,rbo->rbi", self.m_ref, d)
        return np.asarray(y + self.gamma * self.chop * pq, dtype=np.float64)

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        cfg = self.cfg
        self.p.update(x * self.chop, d, lr=cfg.lr)
        if (step + 1) % cfg.transfer_every != 0:
            return
        self.transfer.transfer(
            step,
            self.p,
            self.w,
            scale=self.scale,
            read_noise_std=cfg.read_noise_std,
            io=cfg.transfer_io,
        )

    def arrays(self) -> dict[str, FloatArray]:
        return {
            "W": self.w.weights,
            "P": self.p.weights,
            "Q": self.m.copy(),
            "Q_copy": self.m_ref.copy(),
            "H": self.transfer.buffer.h.copy(),
        }

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()

    def sp_error(self) -> FloatArray | None:
        sp = self.p.symmetric_points
        if np.isnan(sp).all():
            return None
        e = (self.m_ref - sp).reshape(self.replicas, -1)
        return np.asarray(np.sqrt(np.mean(e**2, axis=1)), dtype=np.float64)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ERIDERBuffered(ResidualFields):
    """E-RIDER as P3 ran it: AGAD's chopped, thresholded buffer for the transfer (theory §3.12).

    P accumulates the chopped gradient −lr·c⊙g (per-column chopper c) at W̄ = W +
    gamma_mix·c⊙(P − Q~). Every ``transfer_every`` steps the next ``columns_per_transfer``
    columns of P are read; for column k (theory.md §3.8): if c_k flipped since its last read,
    Q~ ← Q; z = c_k(v − Q~); ω = H + z·|lr_transfer|/bg; where |ω| ≥ 1, n = clamp(trunc(ω),
    ±max_transfer_pulses) single pulses go onto W[:, k] (TRANSFER) and ω ← momentum·ω (or
    ω − (1 − momentum)n without ``forget_buffer``); Q ← (1 − sm)Q + sm·v with
    sm = min(tail_weightening/n_samp, 1), n_samp = max(⌈1/chop_prob⌉, 2). Every chopper flips at
    the end of each n_samp-sweep period (and, with ``chop_random``, with probability chop_prob
    after each read). W is written only after more than n_samp sweeps. bg = buffer_granularity ·
    Δw_min(P) · auto_granularity / (n_in · transfer_every) if auto_granularity > 0, else
    buffer_granularity · Δw_min(P). Q is the running mean of P's reads, which tracks its SP.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> ERIDERBuffered(device=pt.Device(response=pt.ALD(tau=1.0))).chop_prob
    0.05
    """

    kind: ClassVar[str] = "erider_buffered"
    lr: float = lr_field(0.5)
    """Learning rate of the chopped gradient on P (aihwkit fast_lr; P3 LeNet: 0.5)."""
    lr_transfer: float = lr_field(0.05)
    """Scale of the reads added to the buffer (aihwkit transfer_lr, unscaled; P3: 0.05)."""
    gamma_mix: float = gamma_mix_field(0.1)
    """Weight of c⊙(P − Q~) in W̄ (P3: 0.1)."""
    chop_prob: float = field(default=0.05, metadata=constrained(Interval(0.0, 1.0, closed="right")))
    """Chopper probability; sets the period n_samp = max(⌈1/chop_prob⌉, 2) (P3: 0.05)."""
    chop_random: bool = field(default=False, metadata=constrained(Bool()))
    """Also flip each column's chopper with probability chop_prob after each of its reads."""
    transfer_every: int = transfer_every_field()
    """Steps between transfer reads (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field(1)
    """Columns read per event, cyclically; 0 reads every column."""
    tail_weightening: float = field(
        default=5.0, metadata=constrained(Interval(0.0, None, closed="neither"))
    )
    """sm = min(tail_weightening / n_samp, 1) is the running mean's rate (aihwkit default 5)."""
    buffer_granularity: float = field(
        default=1.0, metadata=constrained(Interval(0.0, None, closed="neither"))
    )
    """Buffer unit in multiples of Δw_min(P)."""
    auto_granularity: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """If > 0, bg is scaled by auto_granularity/(n_in·transfer_every) (P3: 1000)."""
    momentum: float = field(default=0.0, metadata=constrained(Interval(0.0, 1.0, closed="both")))
    """Fraction of the buffer kept where it fired (forget_buffer) or decrement factor."""
    forget_buffer: bool = field(default=True, metadata=constrained(Bool()))
    """Reset a firing buffer to momentum·ω (else subtract (1 − momentum)·n)."""
    max_transfer_pulses: int = field(default=1, metadata=constrained(Integral(1, 1_000_000)))
    """Pulse cap per element per transfer (aihwkit transfer desired_bl, default 1)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ERIDERBuffered
            On a skew-linear device in the expected mode.
        """
        return cls(device=Device(response=SkewLinear(tau=1.0, c_lin=0.2)), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _BufferedState(self, instance, root, n_threads, replica_offset, backend)
