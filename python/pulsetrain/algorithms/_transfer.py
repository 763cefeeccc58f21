"""What the residual family shares: its config fields, its two-array state, its transfer buffer.

Every residual-learning algorithm (Tiki-Taka, RL, RLv2, ZS + RL, RIDER, E-RIDER and its buffered
form, TTv2, c-TTv2, AGAD) trains a gradient array P next to the main array W and transfers P into
W (shared/theory.md §3.3–3.12). :class:`ResidualFields` declares, once, the config fields they all
have; :class:`TwoArrayState` builds and reads W and P; a :class:`TransferBuffer` is the digital
buffer H between a read of P and the pulses fired on W; :class:`ChoppedTransfer` is the one
column-cyclic, chopped, thresholded transfer of TTv2, c-TTv2, AGAD and the buffered E-RIDER.

The ``*_field`` helpers declare the fields only some of the configs have (``gamma_mix``,
``transfer_every``, ``columns_per_transfer``; :data:`TRANSFER_UPDATE` for ``transfer_update``;
the zero-shift fields ``zs_pulses``, ``zs_mode``, ``zs_average_last`` of ZS + RL and TTv2)
or that one config gives another default (``lr``, ``lr_transfer``), each constraint written here
once. :func:`check_zs_average_last` and :func:`calibrate_residual` are the zero-shift stage
(theory.md §3.9–3.10) that ZS + RL and TTv2 share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    NON_NEGATIVE,
    InstanceOf,
    Integral,
    Options,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms.base import LR, Algorithm, AlgorithmState, FloatArray, make_tile
from pulsetrain.devices import Device
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.streams import TAG_CHOPPER
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import UPDATE_MODES, Phase, StochasticPulseUpdate, UpdateMode
from pulsetrain.zero_shift import ZeroShiftMode, zero_shift

__all__ = [
    "TRANSFER_UPDATE",
    "ZS_MODE",
    "ChoppedTransfer",
    "ResidualFields",
    "TransferBuffer",
    "TwoArrayState",
    "buffer_unit",
    "calibrate_residual",
    "check_zs_average_last",
    "columns_per_transfer_field",
    "gamma_mix_field",
    "lr_field",
    "transfer_every_field",
    "zs_average_last_field",
    "zs_pulses_field",
]

_DEVICE = InstanceOf((Device,))
_OPTIONAL_DEVICE = InstanceOf((Device, type(None)))
_TRANSFER_EVERY = Integral(1, 1 << 30)
_COLUMNS = Integral(0, 1 << 24)


def lr_field(default: float) -> Any:
    """Return a learning-rate field (a float ≥ 0) with ``default``."""
    return field(default=default, metadata=constrained(LR))


def gamma_mix_field(default: float = 0.4) -> Any:
    """Return the ``gamma_mix`` field: the weight of P in W̄ = W + gamma_mix·P, ≥ 0."""
    return field(default=default, metadata=constrained(NON_NEGATIVE))


def transfer_every_field() -> Any:
    """Return the ``transfer_every`` field: gradient steps between transfer events, ≥ 1."""
    return field(default=1, metadata=constrained(_TRANSFER_EVERY))


def columns_per_transfer_field(default: int = 0) -> Any:
    """Return the ``columns_per_transfer`` field: columns per event, cyclically; 0 = all."""
    return field(default=default, metadata=constrained(_COLUMNS))


_ZS_MAX = 1_000_000_000


def zs_pulses_field(default: int, minimum: int) -> Any:
    """Return the ``zs_pulses`` field: calibration pulses per element of P, in [minimum, 1e9]."""
    return field(default=default, metadata=constrained(Integral(minimum, _ZS_MAX)))


ZS_MODE = constrained(Options(ZeroShiftMode))
"""Metadata of the ``zs_mode`` field: a :class:`~pulsetrain.zero_shift.ZeroShiftMode`."""


def zs_average_last_field() -> Any:
    """Return the ``zs_average_last`` field: average the last M calibration states, M ≥ 1."""
    return field(default=1, metadata=constrained(Integral(1, _ZS_MAX)))


class ZeroShiftFields(Protocol):
    """A config with the zero-shift fields (ZS + RL, TTv2)."""

    @property
    def zs_pulses(self) -> int:
        """Calibration pulses per element of P; 0: no calibration."""
        ...

    @property
    def zs_mode(self) -> ZeroShiftMode:
        """Signs of the calibration pulses."""
        ...

    @property
    def zs_average_last(self) -> int:
        """Average the last M calibration states."""
        ...


def check_zs_average_last(cfg: ZeroShiftFields, owner: str) -> None:
    """Raise a ParameterError if ``zs_average_last > zs_pulses`` while calibrating.

    With ``zs_pulses == 0`` (no calibration, allowed only where the field's minimum is 0) the
    value is not used and not checked.
    """
    if cfg.zs_pulses >= 1 and cfg.zs_average_last > cfg.zs_pulses:
        raise parameter_error(
            "zs_average_last",
            owner,
            f"an int in the range [1, zs_pulses = {cfg.zs_pulses}]",
            cfg.zs_average_last,
        )


def calibrate_residual(cfg: ZeroShiftFields, p_tile: AnalogTile, n_threads: int | None) -> None:
    """Zero-shift P and program its reference to the estimate (theory.md §3.9–3.10).

    Fires ``zs_pulses`` pulses per element (CALIBRATION phase) and sets R_P = Ŵ◇, which puts P's
    logical SP at about 0. Does nothing for ``zs_pulses == 0``.
    """
    if cfg.zs_pulses == 0:
        return
    zero_shift(
        p_tile,
        cfg.zs_pulses,
        mode=cfg.zs_mode,
        average_last=cfg.zs_average_last,
        program_reference=True,
        n_threads=n_threads,
    )


_UPDATE_CLASSES = tuple(UPDATE_MODES.values())
TRANSFER_UPDATE = constrained(InstanceOf((*_UPDATE_CLASSES, type(None))))
"""Metadata of the ``transfer_update`` field: an update mode of the writes onto W, or None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidualFields(Algorithm):
    """The config fields every residual-family algorithm has (a base, not a registered kind).

    A subclass adds its own fields after these (``to_dict`` writes these first) and may give
    ``lr`` or ``lr_transfer`` another default with :func:`lr_field`.
    """

    device: Device = field(metadata=constrained(_DEVICE))
    """Device of the main array W (and of P unless ``device_residual`` is given)."""
    device_residual: Device | None = field(default=None, metadata=constrained(_OPTIONAL_DEVICE))
    """Device of the residual array P; None uses ``device``."""
    lr: float = lr_field(0.05)
    """Learning rate of the gradient accumulation on P (≥ 0)."""
    lr_transfer: float = lr_field(0.01)
    """Multiplies the read of P on its way to W (≥ 0)."""
    read_noise_std: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """Gaussian noise of each read of P, in weight units (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads of P go through this periphery (one-hot forward passes, e.g.
    ``periphery.transfer_io()``) instead of exact values plus ``read_noise_std``."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate,
        metadata=constrained(InstanceOf(_UPDATE_CLASSES)),
    )
    """Update mode of P's gradient updates (and of the transfer writes onto W, unless the
    algorithm has a ``transfer_update`` or fires single pulses on W)."""


def residual_sp_error(p_tile: AnalogTile) -> FloatArray | None:
    """RMS over elements of P's logical SP (RL assumes 0); None for an ideal device."""
    sp = p_tile.symmetric_points
    if np.isnan(sp).all():
        return None
    r = p_tile.replicas
    return np.asarray(np.sqrt(np.mean(sp.reshape(r, -1) ** 2, axis=1)), dtype=np.float64)


class TwoArrayState(AlgorithmState):
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
        # W + γP computed in place on the fresh copy of P (no temporaries; a + b == b + a in
        # IEEE arithmetic, so the same values as W + γP).
        wbar = self.p.weights
        wbar *= self.gamma
        wbar += self.w.weights
        return wbar

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
        return residual_sp_error(self.p)


class TransferBuffer:
    """The digital buffer H between the reads of P and the pulses fired on W.

    Each :meth:`fire` adds an increment to H (after an optional decay), fires
    ``n = clamp(trunc(H / threshold), ±max_pulses)`` pulses wherever ``|H| ≥ threshold``, and
    then either forgets (``H ← momentum·H`` where it fired) or subtracts what it fired
    (``H ← H − (1 − momentum)·n·threshold``). RLv2 (theory.md §3.5: decay, threshold
    ``threshold·Δw_min(W)``, one pulse, subtract) and the buffered E-RIDER (§3.8: no decay,
    threshold 1, forget or subtract with momentum) are its two uses so far.

    Parameters
    ----------
    shape : tuple of int
        Shape of H, (R, out, in); H starts at 0.
    threshold : float
        Firing level of |H|, > 0, in H's units.
    max_pulses : int, optional
        Pulse cap per element per firing, ≥ 1.
    momentum : float, optional
        In [0, 1]: the fraction of H kept where it fired (``forget``) or of the fired amount
        left in H (otherwise).
    forget : bool, optional
        Reset a firing element to ``momentum·H`` instead of subtracting what it fired.
    decay : float or None, optional
        b in ``H ← (1 − b)H + increment``; None adds without decay (1 restarts H from the
        increment at every call: c-TTv2's ``no_buffer``).
    cap : float or None, optional
        Without ``forget``, clip |H| to ``cap`` after each firing (AGAD's ``buffer_cap``).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        threshold: float,
        max_pulses: int = 1,
        momentum: float = 0.0,
        forget: bool = False,
        decay: float | None = None,
        cap: float | None = None,
    ) -> None:
        self.h: FloatArray = np.zeros(shape)
        self.threshold = threshold
        self.max_pulses = max_pulses
        self.momentum = momentum
        self.forget = forget
        self.decay = decay
        self.cap = cap

    def fire(self, increment: FloatArray, index: Any = ...) -> FloatArray:
        """Add ``increment`` to ``H[index]`` and return the pulses fired there (float, signed).

        Parameters
        ----------
        increment : numpy.ndarray
            Shaped as ``H[index]``.
        index : optional
            Which part of H (e.g. ``np.s_[:, :, j]`` for one column); all of H by default.

        Returns
        -------
        numpy.ndarray
            The signed pulse counts n, shaped as ``H[index]`` (0 where nothing fired).
        """
        h = self.h[index]
        omega = h + increment if self.decay is None else (1.0 - self.decay) * h + increment
        fire = np.abs(omega) >= self.threshold
        scaled = omega if self.threshold == 1.0 else omega / self.threshold
        n = np.where(fire, np.clip(np.trunc(scaled), -self.max_pulses, self.max_pulses), 0.0)
        if self.forget:
            omega = np.where(fire, self.momentum * omega, omega)
        else:
            fired = (1.0 - self.momentum) * n
            omega = omega - (fired if self.threshold == 1.0 else fired * self.threshold)
            if self.cap is not None:
                omega = np.clip(omega, -self.cap, self.cap)
        if index is Ellipsis:
            self.h = omega
        else:
            self.h[index] = omega
        return np.asarray(n, dtype=np.float64)


def buffer_unit(
    buffer_granularity: float, auto_granularity: float, dw_a: float, n_in: int, every: int
) -> float:
    """Return bg, the unit of the dimensionless chopped buffer, in A's weight units.

    ``buffer_granularity·dw_a·auto_granularity/(n_in·every)`` if ``auto_granularity`` > 0, else
    ``buffer_granularity·dw_a`` (shared/theory.md §3.7 step 3; ``dw_a`` = Δw_min of A = P).
    """
    if auto_granularity > 0:
        return buffer_granularity * dw_a * auto_granularity / (n_in * every)
    return buffer_granularity * dw_a


class ChoppedTransfer:
    """Column-cyclic transfer of P into W through a thresholded buffer, with choppers.

    The one machinery of TTv2, c-TTv2, AGAD and the buffered E-RIDER (shared/theory.md
    §3.6–3.8, §3.12). Each :meth:`transfer` reads the next ``columns`` columns of P (cyclic
    pointer) and, for each read column k:

    1. with running means: if c_k flipped since its last read, ``m_ref[:,k] ← m[:,k]``;
    2. ``z = c'⊙c_k·(v − m_ref[:,k])`` (``m_ref`` = 0 without running means; c' the optional
       per-row chopper);
    3. ``buffer.fire(z·scale)`` on column k (threshold, clamp, forget or subtract);
    4. with running means: ``m[:,k] ← (1 − mean_rate)m[:,k] + mean_rate·v``.

    The pulses fired go onto W (phase TRANSFER) once more than ``hold_sweeps`` full sweeps are
    done (before that they are dropped). Then, with ``flip_period`` > 0, each read column's
    chopper flips if this read is in the last sweep of a ``flip_period``-sweep period (right
    after its own read, as aihwkit 1.1.0 does: checked against it in
    benches/bench_aihwkit_baselines.py); each read column's chopper also flips with probability
    ``flip_prob``; after a full sweep each row's chopper flips with probability
    ``out_flip_prob``. The uniforms are one draw ``backend.replica_uniforms(key, step, …,
    TAG_CHOPPER)`` per event: first one per read column (if ``flip_prob`` > 0), then one per
    row (after a sweep, with a row chopper), so results do not depend on threads or backend.

    Parameters
    ----------
    replicas, out_size, in_size : int
        Shape of P and W.
    columns : int
        Columns per transfer, in [1, in_size].
    buffer : TransferBuffer
        The buffer H, shaped (R, out, in).
    key : sequence of int
        Philox key of the column choppers' stream.
    offset : int
        Global index of replica 0.
    backend : Backend
        Where the chopper uniforms are drawn (same numbers on both backends).
    flip_prob : float, optional
        Per-read flip probability of a column's chopper (random mode); 0 switches it off.
    flip_period : int, optional
        Flip each column chopper right after its read in the last sweep of every
        ``flip_period``-sweep period; 0 never.
    out_flip_prob : float, optional
        Per-sweep flip probability of each row's chopper; 0: no row chopper.
    mean_rate : float or None, optional
        Rate of the running mean m of the reads (AGAD's sm); None: no running means.
    hold_sweeps : int, optional
        W is written only while more than this many sweeps are done; −1 always.
    """

    def __init__(
        self,
        *,
        replicas: int,
        out_size: int,
        in_size: int,
        columns: int,
        buffer: TransferBuffer,
        key: Sequence[int],
        offset: int,
        backend: Backend,
        flip_prob: float = 0.0,
        flip_period: int = 0,
        out_flip_prob: float = 0.0,
        mean_rate: float | None = None,
        hold_sweeps: int = -1,
    ) -> None:
        self.replicas = replicas
        self.n_in = in_size
        self.n_cols = columns
        self.buffer = buffer
        self.key = list(key)
        self.offset = offset
        self.backend = backend
        self.flip_prob = flip_prob
        self.flip_period = flip_period
        self.out_flip_prob = out_flip_prob
        self.mean_rate = mean_rate
        self.hold_sweeps = hold_sweeps
        shape = (replicas, out_size, in_size)
        self.chop: FloatArray = np.ones((replicas, 1, in_size))
        """Column chopper signs c, (R, 1, in)."""
        self.out_chop: FloatArray | None = (
            np.ones((replicas, out_size, 1)) if out_flip_prob > 0.0 else None
        )
        """Row chopper signs c', (R, out, 1), or None without a row chopper."""
        self.flipped = np.zeros((replicas, in_size), dtype=bool)
        self.m: FloatArray | None = None if mean_rate is None else np.zeros(shape)
        """Running mean of the reads (tracks P's SP), or None."""
        self.m_ref: FloatArray | None = None if mean_rate is None else np.zeros(shape)
        """The running mean's snapshot at the last flip of each column, or None."""
        self.pointer = 0
        self.sweeps = 0

    def signs(self) -> FloatArray:
        """Return the chopper product c'⊙c, (R, 1, in) or (R, out, in) with a row chopper."""
        if self.out_chop is None:
            return self.chop
        return self.out_chop * self.chop

    def transfer(
        self,
        step: int,
        p: AnalogTile,
        w: AnalogTile,
        *,
        scale: float | FloatArray,
        read_noise_std: float,
        io: IOParameters | None,
    ) -> None:
        """Run one transfer event after gradient step ``step`` (see the class docstring).

        Parameters
        ----------
        step : int
            The step index; ticks the chopper streams.
        p, w : AnalogTile
            The read array P and the written array W.
        scale : float or numpy.ndarray
            Multiplies z on its way into H (a float, or per replica with shape (R, 1)).
        read_noise_std : float
            Read noise of P, in weight units (when ``io`` is None).
        io : IOParameters or None
            The periphery of the reads, or None for exact reads plus noise.
        """
        n_in = self.n_in
        cols = [(self.pointer + c) % n_in for c in range(self.n_cols)]
        v = p.read(cols, noise_std=read_noise_std, io=io)  # (R, out, c)
        counts = np.zeros_like(self.buffer.h, dtype=np.int64)
        write = self.sweeps > self.hold_sweeps
        # Every step below is element-wise within a column and the columns are distinct, so
        # the read columns are handled at once (the same operations, in the same order, as one
        # column at a time).
        j = np.asarray(cols)
        if self.m is not None and self.m_ref is not None and self.mean_rate is not None:
            # A flip since a column's last read moves its reference mean (B1: p_ref ← p).
            fl = self.flipped[:, j][:, None, :]
            self.m_ref[:, :, j] = np.where(fl, self.m[:, :, j], self.m_ref[:, :, j])
            self.flipped[:, j] = False
            z = self.chop[:, :, j] * (v - self.m_ref[:, :, j])
        else:
            z = self.chop[:, :, j] * v
        if self.out_chop is not None:
            z = z * self.out_chop
        s = scale if np.ndim(scale) == 0 else np.asarray(scale)[..., None]
        counts[:, :, j] = self.buffer.fire(z * s, np.s_[:, :, j]).astype(np.int64)
        if self.m is not None and self.mean_rate is not None:
            # The leaky running mean of the reads.
            self.m[:, :, j] = (1.0 - self.mean_rate) * self.m[:, :, j] + self.mean_rate * v
        if write:
            # Called even when nothing fires: each call advances W's stream tick, so skipping
            # it when *no replica* fired would make one replica's noise depend on the others.
            w.apply_pulses(counts, phase=Phase.TRANSFER)
        # One uniform per read column (random column flips), then, after a full sweep, one per
        # row (row flips): a single draw of the chopper stream at tick ``step``.
        if self.flip_period > 0:
            # Regular flips, as aihwkit 1.1.0 does them: each column flips right after its own
            # read in the last sweep of every flip_period-sweep period (so all the updates
            # between two reads of a column share one sign). A column's sweep is counted from
            # its place in the cyclic order (an event may straddle two sweeps).
            in_sweep = self.sweeps + (self.pointer + np.arange(len(cols))) // n_in
            last = in_sweep % self.flip_period == self.flip_period - 1
            if last.any():
                flips = np.zeros((self.replicas, n_in), dtype=bool)
                flips[:, np.asarray(cols)[last]] = True
                self._flip(flips)
        self.pointer = (self.pointer + self.n_cols) % n_in
        sweep = self.pointer < self.n_cols or self.n_cols == n_in
        n_col = len(cols) if self.flip_prob > 0.0 else 0
        n_row = self.out_chop.shape[1] if sweep and self.out_chop is not None else 0
        if n_col + n_row > 0:
            u = self.backend.replica_uniforms(
                self.key, step, self.offset, self.replicas, n_col + n_row, TAG_CHOPPER
            )
            if n_col > 0:
                flips = np.zeros((self.replicas, n_in), dtype=bool)
                flips[:, cols] = u[:, :n_col] < self.flip_prob
                self._flip(flips)
            if n_row > 0 and self.out_chop is not None:
                rows = (u[:, n_col:] < self.out_flip_prob)[:, :, None]
                self.out_chop = np.where(rows, -self.out_chop, self.out_chop)
        if sweep:
            self.sweeps += 1

    def _flip(self, flips: npt.NDArray[np.bool_]) -> None:
        self.chop = np.where(flips[:, None, :], -self.chop, self.chop)
        self.flipped |= flips
