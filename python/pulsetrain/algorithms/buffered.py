"""Buffered transfer: TTv2, c-TTv2 and AGAD (shared/theory.md §3.6–3.8; B1).

All three train a fast array A (pulsetrain's P, tile 1) with the gradient and move it into W
(tile 0) through a digital buffer H, a column at a time, with single pulses: the one
:class:`~pulsetrain.algorithms._transfer.ChoppedTransfer` machinery that the buffered E-RIDER
also uses. TTv2 reads A − R (A's own reference) into H in weight units; c-TTv2 adds a
per-column (and optionally per-row) chopper and a dimensionless buffer in units of A's
granularity; AGAD replaces the reference by a running mean of the reads, snapshotted at each
chopper flip, and so needs no reference at all.

Units. One pulsetrain step is one mini-batch gradient update of A, and ``transfer_every``
counts steps. aihwkit's TTv2 counts mini-batches too (``units_in_mbatch`` True); its c-TTv2 and
AGAD count samples (rank-one updates). With batch size 1 the two coincide; with batch B,
aihwkit's ``transfer_every = T`` samples is pulsetrain's ``transfer_every = T/B`` steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np

from pulsetrain._validation import NON_NEGATIVE, Bool, Integral, Interval, check_fields, constrained
from pulsetrain.algorithms._transfer import (
    ZS_MODE,
    ChoppedTransfer,
    ResidualFields,
    TransferBuffer,
    TwoArrayState,
    buffer_unit,
    calibrate_residual,
    check_zs_average_last,
    columns_per_transfer_field,
    gamma_mix_field,
    residual_sp_error,
    transfer_every_field,
    zs_average_last_field,
    zs_pulses_field,
)
from pulsetrain.algorithms.base import AlgorithmState, FloatArray
from pulsetrain.config import register
from pulsetrain.devices import ALD, Device, SoftBounds
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.rng import tile_key
from pulsetrain.streams import CHOPPER_KEY_INDEX
from pulsetrain.tile import Backend
from pulsetrain.updates import ExpectedUpdate, PulseCountUpdate, StochasticPulseUpdate
from pulsetrain.zero_shift import ZeroShiftMode

__all__ = ["AGAD", "ChoppedTTv2", "TTv2"]

_PROB = Interval(0.0, 1.0, closed="both")
_POSITIVE = Interval(0.0, None, closed="neither")
_PULSES = Integral(1, 1_000_000)


def _momentum_field(default: float) -> Any:
    return field(default=default, metadata=constrained(_PROB))


def _bool_field(*, default: bool) -> Any:
    return field(default=default, metadata=constrained(Bool()))


def _n_period(chop_prob: float) -> int:
    """max(⌈1/chop_prob⌉, 2) sweeps (theory.md §3.7, §3.8)."""
    return max(math.ceil(1.0 / chop_prob), 2)


class _BufferedTransferState(TwoArrayState):
    """W, A and the chopped transfer; W̄ = W + gamma_mix·c'⊙c⊙(A − m_ref)."""

    def __init__(
        self,
        cfg: TTv2 | ChoppedTTv2 | AGAD,
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
        n_in = instance.in_size
        n = cfg.columns_per_transfer
        columns = n_in if n == 0 else min(n, n_in)
        dw_a = (cfg.device_residual or cfg.device).dw_min
        self.dw_ratio = cfg.device.dw_min / dw_a  # Δw_min(W)/Δw_min(A)
        key = tile_key(root, CHOPPER_KEY_INDEX)
        self.auto_scale = False
        self.started = False
        self.correct = False
        self.bl = 1.0
        if isinstance(cfg, TTv2):
            # H in weight units; fires per threshold·Δw_min(W).
            buffer = TransferBuffer(
                shape,
                threshold=cfg.threshold * cfg.device.dw_min,
                max_pulses=cfg.max_transfer_pulses,
                momentum=cfg.momentum,
                forget=cfg.forget_buffer,
            )
            self.transfer = ChoppedTransfer(
                replicas=self.replicas,
                out_size=instance.out_size,
                in_size=n_in,
                columns=columns,
                buffer=buffer,
                key=key,
                offset=offset,
                backend=backend,
            )
            self.scale = cfg.lr_transfer
            return
        self.bg = buffer_unit(
            cfg.buffer_granularity, cfg.auto_granularity, dw_a, n_in, cfg.transfer_every
        )
        self.scale = abs(cfg.lr_transfer) / self.bg
        if isinstance(cfg, ChoppedTTv2):
            buffer = TransferBuffer(
                shape,
                threshold=1.0,
                max_pulses=cfg.max_transfer_pulses,
                momentum=cfg.momentum,
                forget=cfg.forget_buffer,
                decay=1.0 if cfg.no_buffer else None,
            )
            p = cfg.chop_prob
            self.transfer = ChoppedTransfer(
                replicas=self.replicas,
                out_size=instance.out_size,
                in_size=n_in,
                columns=columns,
                buffer=buffer,
                key=key,
                offset=offset,
                backend=backend,
                flip_prob=p if cfg.chop_random else 0.0,
                flip_period=0 if cfg.chop_random or p == 0.0 else _n_period(p),
                out_flip_prob=cfg.out_chop_prob,
            )
            self.auto_scale = cfg.auto_scale
            self.correct = cfg.correct_gradient_magnitudes
            up = cfg.update
            if isinstance(up, StochasticPulseUpdate):
                self.bl = float(up.desired_bl)
            elif isinstance(up, PulseCountUpdate):
                self.bl = float(up.max_bl)
            self.dw_a = dw_a
            self.m_x = np.zeros(self.replicas)
            self.m_d = np.zeros(self.replicas)
            self.lr_factor = np.ones(self.replicas)
            return
        n_samp = _n_period(cfg.chop_prob)
        cap = (
            cfg.buffer_cap * cfg.max_transfer_pulses
            if cfg.buffer_cap > 0 and not cfg.forget_buffer
            else None
        )
        buffer = TransferBuffer(
            shape,
            threshold=1.0,
            max_pulses=cfg.max_transfer_pulses,
            momentum=cfg.momentum,
            forget=cfg.forget_buffer,
            cap=cap,
        )
        self.transfer = ChoppedTransfer(
            replicas=self.replicas,
            out_size=instance.out_size,
            in_size=n_in,
            columns=columns,
            buffer=buffer,
            key=key,
            offset=offset,
            backend=backend,
            flip_prob=cfg.chop_prob if cfg.chop_random else 0.0,
            flip_period=n_samp,
            mean_rate=min(cfg.tail_weightening / n_samp, 1.0),
            hold_sweeps=n_samp,
        )

    # ------------------------------------------------------------------ weights and passes
    def _row_signs(self) -> FloatArray | None:
        """Return the row chopper as (R, 1, out), or None."""
        oc = self.transfer.out_chop
        return None if oc is None else oc.transpose(0, 2, 1)

    def gradient_point(self) -> FloatArray:
        if self.gamma == 0.0:
            return self.w.weights
        a = self.p.weights
        ref = self.transfer.m_ref
        if ref is not None:
            a = a - ref
        return self.w.weights + self.gamma * self.transfer.signs() * a

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        # W̄ x = W x + γ c'⊙(A − m_ref)(c⊙x): W and A through the periphery, m_ref digitally.
        y = self.w.forward(x, io=io or perfect_io())
        if self.gamma == 0.0:
            return y
        xc = x * self.transfer.chop
        pq = self.p.forward(xc, io=io or perfect_io())
        if self.transfer.m_ref is not None:
            pq = pq - np.einsum("roi,rbi->rbo", self.transfer.m_ref, xc)
        rows = self._row_signs()
        if rows is not None:
            pq = pq * rows
        return np.asarray(y + self.gamma * pq, dtype=np.float64)

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.w.backward(d, io=io or perfect_io())
        if self.gamma == 0.0:
            return y
        rows = self._row_signs()
        dc = d if rows is None else d * rows
        pq = self.p.backward(dc, io=io or perfect_io())
        if self.transfer.m_ref is not None:
            pq = pq - np.einsum("roi,rbo->rbi", self.transfer.m_ref, dc)
        return np.asarray(y + self.gamma * self.transfer.chop * pq, dtype=np.float64)

    # ------------------------------------------------------------------ the step
    def _auto_factor(self, x: FloatArray, d: FloatArray) -> FloatArray:
        """Update the max|x|, max|d| EMAs and return λ_A/lr per replica (c-TTv2 auto_scale)."""
        assert isinstance(self.cfg, ChoppedTTv2)
        mx = np.abs(x).max(axis=2).mean(axis=1)  # batch mean of the per-sample max|x|
        md = np.abs(d).max(axis=2).mean(axis=1)
        if not self.started:
            self.m_x, self.m_d = mx, md
            self.started = True
        else:
            beta = self.cfg.auto_momentum
            self.m_x = beta * self.m_x + (1.0 - beta) * mx
            self.m_d = beta * self.m_d + (1.0 - beta) * md
        prod = self.m_x * self.m_d
        safe = np.where(prod > 0.0, prod, 1.0)
        return np.asarray(np.where(prod > 0.0, self.bl * self.dw_a / safe, 0.0), dtype=np.float64)

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        cfg = self.cfg
        tr = self.transfer
        rows = self._row_signs()
        dc = d if rows is None else d * rows
        if self.auto_scale:
            self.lr_factor = self._auto_factor(x, d)
            dc = dc * self.lr_factor[:, None, None]  # a per-replica lr, folded into d
        xc = x if isinstance(cfg, TTv2) else x * tr.chop
        self.p.update(xc, dc, lr=cfg.lr)
        if (step + 1) % cfg.transfer_every != 0:
            return
        scale: float | FloatArray = self.scale
        if self.correct:
            # |lr_transfer|/(λ_A·bg·Δw_min(W)/Δw_min(A)), λ_A the (auto-scaled) lr of A.
            lam = cfg.lr * self.lr_factor
            good = lam > 0.0
            per = np.where(good, abs(cfg.lr_transfer), 0.0) / (
                np.where(good, lam, 1.0) * self.bg * self.dw_ratio
            )
            scale = per[:, None]
        tr.transfer(
            step, self.p, self.w, scale=scale, read_noise_std=cfg.read_noise_std, io=cfg.transfer_io
        )

    # ------------------------------------------------------------------ reporting
    def arrays(self) -> dict[str, FloatArray]:
        out = {"W": self.w.weights, "P": self.p.weights, "H": self.transfer.buffer.h.copy()}
        if self.transfer.m is not None and self.transfer.m_ref is not None:
            out["M"] = self.transfer.m.copy()
            out["M_ref"] = self.transfer.m_ref.copy()
        return out

    def effective_weights(self) -> FloatArray:
        return self.gradient_point()

    def sp_error(self) -> FloatArray | None:
        if self.transfer.m_ref is None:
            # TTv2 / c-TTv2 rely on A's reference: the RMS of A's logical SP.
            return residual_sp_error(self.p)
        # AGAD relies on its reference mean: its RMS distance from A's logical SP.
        sp = self.p.symmetric_points
        if np.isnan(sp).all():
            return None
        e = (self.transfer.m_ref - sp).reshape(self.replicas, -1)
        return np.asarray(np.sqrt(np.mean(e**2, axis=1)), dtype=np.float64)


def _state(
    cfg: TTv2 | ChoppedTTv2 | AGAD,
    instance: Instance,
    root: np.random.SeedSequence,
    n_threads: int | None,
    replica_offset: int,
    backend: Backend,
) -> AlgorithmState:
    return _BufferedTransferState(cfg, instance, root, n_threads, replica_offset, backend)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TTv2(ResidualFields):
    """TTv2 (B1's recap of Gokmen 2021; theory.md §3.6; aihwkit ``BufferedTransferCompound``).

    Per step: the gradient g at W̄ = W + gamma_mix·A; A ← AU_A(A, −lr·g) (UPDATE). Every
    ``transfer_every`` steps the next ``columns_per_transfer`` columns k (cyclic) are read,
    z = read((A − R)e_k) with R A's own reference (through ``transfer_io`` if given, else exact
    plus ``read_noise_std``), and H[:, k] += lr_transfer·z (H in weight units). In units of
    threshold·Δw_min(W), wherever |H| ≥ 1, n = clamp(trunc(H), ±max_transfer_pulses) pulses
    go onto W[:, k] (TRANSFER, exact counts in every update mode); then H ← momentum·H where it
    fired (``forget_buffer``), else H ← H − (1 − momentum)·n.

    Units: a step is one mini-batch update of A and ``transfer_every`` counts steps, as
    aihwkit's ``units_in_mbatch`` (default True). ``lr`` is aihwkit's fast_lr and
    ``lr_transfer`` its full λ_H (transfer_lr, times the SGD lr with ``scale_transfer_lr``; not
    multiplied by gamma_mix here). TTv2 needs A's logical SP at 0 (R at A's SP), which
    ``sp_error()`` reports.

    Zero-shift stage (ZS + TT-v2, the baseline of P3's pulse claim, theory.md §3.9, §6.9):
    with ``zs_pulses`` = N ≥ 1, before the first step A gets N calibration pulses per element
    (CALIBRATION phase) and A's reference R is programmed to the estimate Ŵ◇, exactly as stage 1
    of :class:`~pulsetrain.algorithms.TwoStage` (the same code). N = 0 (default) skips it.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> TTv2(device=pt.Device(response=pt.ALD(tau=1.0))).momentum
    0.1
    """

    kind: ClassVar[str] = "ttv2"
    gamma_mix: float = gamma_mix_field(0.0)
    """Weight of A in the forward weight W̄ = W + gamma_mix·A (≥ 0; aihwkit gamma, default 0)."""
    transfer_every: int = transfer_every_field()
    """Steps (mini-batches) between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field(1)
    """Columns read per event, cyclically (aihwkit n_reads_per_transfer, default 1); 0: all."""
    threshold: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Firing threshold of H in units of Δw_min(W) (aihwkit thres_scale; > 0)."""
    momentum: float = _momentum_field(0.1)
    """In [0, 1]: H kept where fired (forget_buffer) or the fraction of n left in H."""
    forget_buffer: bool = _bool_field(default=True)
    """Reset a firing element to momentum·H (else subtract (1 − momentum)·n)."""
    max_transfer_pulses: int = field(default=1, metadata=constrained(_PULSES))
    """Pulse cap per element per transfer (aihwkit transfer desired_bl; ≥ 1)."""
    zs_pulses: int = zs_pulses_field(0, 0)
    """Zero-shift pulses per element of A before training (the calibration cost), ≥ 0; 0: none."""
    zs_mode: ZeroShiftMode = field(default=ZeroShiftMode.STOCHASTIC, metadata=ZS_MODE)
    """Signs of the calibration pulses: random or alternating (used when zs_pulses ≥ 1)."""
    zs_average_last: int = zs_average_last_field()
    """Average the last M calibration states (1 ≤ M ≤ zs_pulses when zs_pulses ≥ 1)."""

    def __post_init__(self) -> None:
        """Validate every field, and zs_average_last ≤ zs_pulses when calibrating."""
        check_fields(self)
        check_zs_average_last(self, "TTv2")

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        TTv2
            On ALD (SP 0) in the expected mode.
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
        state = _BufferedTransferState(self, instance, root, n_threads, replica_offset, backend)
        calibrate_residual(self, state.p, n_threads)
        return state


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class ChoppedTTv2(ResidualFields):
    """c-TTv2 (B1; theory.md §3.7; aihwkit ``ChoppedTransferCompound``, "ttv3").

    TTv2 with a per-column chopper c (and an optional per-row chopper c'). Per step:
    A ← AU_A(A, −lr·(c'⊙d)(c⊙x)ᵀ) (UPDATE), with W̄ = W + gamma_mix·c'⊙c⊙A. Every
    ``transfer_every`` steps, for each of the next ``columns_per_transfer`` columns k:
    z = c'⊙c_k·read((A − R)e_k); ω = H[:, k] + z·|lr_transfer|/bg, with bg =
    buffer_granularity·Δw_min(A)·auto_granularity/(n_in·transfer_every) if auto_granularity > 0,
    else buffer_granularity·Δw_min(A) (H is dimensionless, in units of bg); where |ω| ≥ 1,
    n = clamp(trunc(ω), ±max_transfer_pulses) pulses onto W[:, k] (TRANSFER); then ω ←
    momentum·ω where fired (``forget_buffer``), else ω − (1 − momentum)n; ``no_buffer``
    restarts ω from 0 at every read. Choppers: with ``chop_random`` each read column flips with
    probability chop_prob after its read; otherwise all columns flip after every
    max(⌈1/chop_prob⌉, 2) full sweeps (never for chop_prob 0). Each row's chopper flips with
    probability out_chop_prob after each full sweep.

    Units: a step is one mini-batch; ``transfer_every`` counts steps, where aihwkit counts
    samples (``units_in_mbatch`` False): with batch 1 they coincide, with batch B aihwkit's
    T samples are T/B steps (and bg's transfer_every is then pulsetrain's). ``auto_scale``
    (aihwkit's count-LR) sets A's rate to λ_A = lr·bl·Δw_min(A)/(m_x·m_d) per replica, bl the
    update's desired_bl (stochastic pulse), max_bl (pulse count) or 1 (expected); m_x, m_d are
    EMAs of max|x|, max|d|. aihwkit updates them per sample at rate (1 − auto_momentum)/B; here
    they move once per step at rate (1 − auto_momentum) towards the batch mean of the
    per-sample maxima (the same to first order in 1 − auto_momentum), started at the first
    step's value. ``correct_gradient_magnitudes`` replaces |lr_transfer|/bg by
    |lr_transfer|/(λ_A·bg·Δw_min(W)/Δw_min(A)). The forward weight undoes the choppers (later
    aihwkit versions; 1.1.0 expects gamma_mix = 0).

    Examples
    --------
    >>> import pulsetrain as pt
    >>> ChoppedTTv2(device=pt.Device(response=pt.ALD(tau=1.0))).chop_prob
    0.1
    """

    kind: ClassVar[str] = "chopped_ttv2"
    gamma_mix: float = gamma_mix_field(0.0)
    """Weight of c'⊙c⊙A in W̄ (≥ 0; default 0)."""
    transfer_every: int = transfer_every_field()
    """Steps between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field(1)
    """Columns read per event, cyclically (aihwkit allows only 1); 0: all."""
    chop_prob: float = field(default=0.1, metadata=constrained(_PROB))
    """Column chopper probability (aihwkit in_chop_prob), in [0, 1]; 0: no chopper."""
    chop_random: bool = _bool_field(default=True)
    """Random flips per read (else regular flips every max(⌈1/chop_prob⌉, 2) sweeps)."""
    out_chop_prob: float = field(default=0.0, metadata=constrained(_PROB))
    """Per-sweep flip probability of each row's chopper, in [0, 1]; 0: no row chopper."""
    buffer_granularity: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Buffer unit in multiples of Δw_min(A) (> 0)."""
    auto_granularity: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """If > 0, bg is scaled by auto_granularity/(n_in·transfer_every) (≥ 0)."""
    momentum: float = _momentum_field(0.0)
    """In [0, 1]: ω kept where fired (forget_buffer) or the fraction of n left in ω."""
    forget_buffer: bool = _bool_field(default=True)
    """Reset a firing buffer to momentum·ω (else subtract (1 − momentum)·n)."""
    no_buffer: bool = _bool_field(default=False)
    """Restart ω from 0 at every read (TT-v1-like)."""
    max_transfer_pulses: int = field(default=1, metadata=constrained(_PULSES))
    """Pulse cap per element per transfer (≥ 1)."""
    auto_scale: bool = _bool_field(default=False)
    """Scale A's rate by bl·Δw_min(A)/(m_x·m_d) (aihwkit auto_scale; needs lr > 0)."""
    auto_momentum: float = field(
        default=0.99, metadata=constrained(Interval(0.0, 1.0, closed="left"))
    )
    """EMA factor of m_x, m_d per step, in [0, 1)."""
    correct_gradient_magnitudes: bool = _bool_field(default=False)
    """Divide the buffer increment by λ_A·Δw_min(W)/Δw_min(A) (aihwkit option)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        ChoppedTTv2
            On soft bounds in the expected mode.
        """
        return cls(device=Device(response=SoftBounds(), dw_min=0.01), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _state(self, instance, root, n_threads, replica_offset, backend)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class AGAD(ResidualFields):
    """AGAD (B1; theory.md §3.8; aihwkit ``DynamicTransferCompound``, "ttv4").

    A needs no reference: per step A ← AU_A(A, −lr·d(c⊙x)ᵀ) (UPDATE) at W̄ = W +
    gamma_mix·c⊙(A − m_ref). Every ``transfer_every`` steps, for each of the next
    ``columns_per_transfer`` columns k: v = read(A e_k); if c_k flipped since its last read,
    m_ref[:, k] ← m[:, k]; z = c_k(v − m_ref[:, k]); the c-TTv2 buffer ω += z·|lr_transfer|/bg
    with its threshold, clamp and forget/subtract rules (and, without forget_buffer and with
    buffer_cap > 0, |ω| clipped to buffer_cap·max_transfer_pulses after firing); then
    m[:, k] ← (1 − sm)m[:, k] + sm·v with n_samp = max(⌈1/chop_prob⌉, 2) and sm =
    min(tail_weightening/n_samp, 1). Every chopper flips after each n_samp-sweep period (and,
    with ``chop_random``, with probability chop_prob after each read). W is written only once
    more than n_samp sweeps are done; earlier firings are dropped.

    Units: a step is one mini-batch; ``transfer_every`` counts steps where aihwkit counts
    samples (the same with batch 1; aihwkit's T samples are T/B steps with batch B).
    ``experimental_correct_accumulation`` and auto_scale are not implemented. ``sp_error()`` is
    the RMS distance of m_ref from A's logical SP.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> AGAD(device=pt.Device(response=pt.ALD(tau=1.0))).chop_prob
    0.1
    """

    kind: ClassVar[str] = "agad"
    gamma_mix: float = gamma_mix_field(0.0)
    """Weight of c⊙(A − m_ref) in W̄ (≥ 0; default 0)."""
    transfer_every: int = transfer_every_field()
    """Steps between transfer events (≥ 1)."""
    columns_per_transfer: int = columns_per_transfer_field(1)
    """Columns read per event, cyclically; 0: all."""
    chop_prob: float = field(default=0.1, metadata=constrained(Interval(0.0, 1.0, closed="right")))
    """Chopper probability, in (0, 1]; sets n_samp = max(⌈1/chop_prob⌉, 2)."""
    chop_random: bool = _bool_field(default=False)
    """Also flip each column's chopper with probability chop_prob after each of its reads."""
    tail_weightening: float = field(default=5.0, metadata=constrained(_POSITIVE))
    """sm = min(tail_weightening/n_samp, 1) is the running mean's rate (> 0)."""
    buffer_granularity: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """Buffer unit in multiples of Δw_min(A) (> 0)."""
    auto_granularity: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """If > 0, bg is scaled by auto_granularity/(n_in·transfer_every) (≥ 0)."""
    momentum: float = _momentum_field(0.0)
    """In [0, 1]: ω kept where fired (forget_buffer) or the fraction of n left in ω."""
    forget_buffer: bool = _bool_field(default=True)
    """Reset a firing buffer to momentum·ω (else subtract (1 − momentum)·n)."""
    buffer_cap: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """Without forget_buffer: clip |ω| to buffer_cap·max_transfer_pulses; 0 = no cap."""
    max_transfer_pulses: int = field(default=1, metadata=constrained(_PULSES))
    """Pulse cap per element per transfer (≥ 1)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        AGAD
            On soft bounds in the expected mode.
        """
        return cls(device=Device(response=SoftBounds(), dw_min=0.01), update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _state(self, instance, root, n_threads, replica_offset, backend)
