"""Mixed precision (aihwkit ``MixedPrecisionCompound``; shared/theory.md §3.14).

The gradient accumulates in a digital float64 matrix χ; every ``transfer_every`` steps the
selected rows of χ are turned into whole pulses n = trunc(χ/ε), which are written onto the analog
array W, and χ keeps the remainder. The model computes with W.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import (
    NON_NEGATIVE,
    Bool,
    InstanceOf,
    Integral,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms._transfer import lr_field, transfer_every_field
from pulsetrain.algorithms.base import Algorithm, AlgorithmState, FloatArray, make_tile
from pulsetrain.config import register
from pulsetrain.devices import ALD, Device
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.rng import tile_key
from pulsetrain.streams import MIXED_PRECISION_KEY_INDEX, TAG_UPDATE
from pulsetrain.tile import Backend
from pulsetrain.updates import (
    UPDATE_MODES,
    ExpectedUpdate,
    Phase,
    StochasticPulseUpdate,
    UpdateMode,
)

__all__ = ["MixedPrecision", "quantize_abs_max"]

_BINS = Integral(0, 1 << 24)
_MAX_COUNT = 1_000_000  # AnalogTile.apply_pulses' cap per element and call


def quantize_abs_max(v: FloatArray, n_bins: int, u: FloatArray | None) -> FloatArray:
    """Quantise each vector (last axis) by its abs-max into ``n_bins`` bins (theory.md §3.14).

    h = floor(n_bins/2) levels of width s = max|v|/h on each side: v ↦ s·round(v/s), rounding
    stochastically (floor(v/s + u), unbiased) when uniforms ``u`` are given, else half to even.
    A zero vector stays zero.

    Parameters
    ----------
    v : numpy.ndarray
        Values, (..., n).
    n_bins : int
        Number of bins, at least 2.
    u : numpy.ndarray or None
        Uniforms in [0, 1) shaped as ``v`` for stochastic rounding; None rounds to nearest.

    Returns
    -------
    numpy.ndarray
        The quantised values, shaped as ``v``.

    Examples
    --------
    >>> quantize_abs_max(np.array([1.0, 0.3, -0.6]), 4, None).tolist()
    [1.0, 0.5, -0.5]
    """
    h = n_bins // 2
    m = np.max(np.abs(v), axis=-1, keepdims=True)
    width = np.where(m > 0.0, m / h, 1.0)
    z = v / width
    q = np.rint(z) if u is None else np.floor(z + u)
    return np.asarray(np.clip(q, -h, h) * width, dtype=np.float64)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MixedPrecision(Algorithm):
    """Mixed precision (aihwkit ``MixedPrecisionCompound``; theory.md §3.14).

    Per step k: χ ← χ − lr Σ_b d_b x_bᵀ in float64 (with ``n_x_bins``/``n_d_bins``, each
    sample's x and d are first quantised by their abs-max, :func:`quantize_abs_max`). If
    (k + 1) is a multiple of ``transfer_every``: for the next ``rows_per_transfer`` rows
    (cyclic; a random start per replica and event with ``random_row``), n = trunc(χ/ε) with
    ε = ``granularity`` (0: Δw_min of W), χ ← χ − nε, and n is written onto W (TRANSFER):

    * ``write="pulses"`` (default): exactly |n| pulses of sign(n) per element. This is the
      algorithm as analysed (every count reaches W), in any update mode.
    * ``write="outer"``: aihwkit's write, row i as an outer-product update with x = n_i,
      d = e_i, lr = ε·lr_transfer in the tile's update mode; a :class:`StochasticPulseUpdate`
      gets update and BL management forced on, as in aihwkit. Exact only when every nonzero
      |n| of a row is equal (theory.md §3.14).

    The gradient point, forward and backward use W. aihwkit runs the event at the first
    sample of the next period; here it runs at the end of the period's last step.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> MixedPrecision(device=pt.Device(response=pt.ALD(tau=1.0))).write
    'pulses'
    """

    kind: ClassVar[str] = "mixed_precision"
    device: Device = field(metadata=constrained(InstanceOf((Device,))))
    """Device of the analog array W."""
    lr: float = lr_field(0.05)
    """Learning rate of the digital accumulation χ ← χ − lr·g (≥ 0)."""
    transfer_every: int = transfer_every_field()
    """Steps between transfer events (≥ 1)."""
    rows_per_transfer: int = field(default=0, metadata=constrained(Integral(0, 1 << 24)))
    """Consecutive rows per event, cyclically; 0 transfers every row (aihwkit −1)."""
    random_row: bool = field(default=False, metadata=constrained(Bool()))
    """Start each event's rows at a random row (per replica) instead of the cyclic pointer."""
    granularity: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """ε, the weight of one pulse in χ's units (≥ 0); 0 uses the device's dw_min."""
    lr_transfer: float = lr_field(1.0)
    """``write="outer"``: the write's lr is ε·lr_transfer (aihwkit transfer_lr); must be 1
    with ``write="pulses"``."""
    write: str = field(default="pulses", metadata=constrained(Options(("pulses", "outer"))))
    """How the counts reach W: "pulses" (exact) or "outer" (aihwkit's row-wise update)."""
    n_x_bins: int = field(default=0, metadata=constrained(_BINS))
    """Abs-max quantisation bins of x per sample; 0 = off (set both bin counts or neither)."""
    n_d_bins: int = field(default=0, metadata=constrained(_BINS))
    """Abs-max quantisation bins of d per sample; 0 = off."""
    stoc_round_x: bool = field(default=True, metadata=constrained(Bool()))
    """Round the quantised x stochastically (unbiased) instead of to nearest."""
    stoc_round_d: bool = field(default=True, metadata=constrained(Bool()))
    """Round the quantised d stochastically (unbiased) instead of to nearest."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate,
        metadata=constrained(InstanceOf(tuple(UPDATE_MODES.values()))),
    )
    """Update mode of W (used by ``write="outer"``)."""

    def __post_init__(self) -> None:
        """Validate every field and their combinations."""
        check_fields(self)
        for name in ("n_x_bins", "n_d_bins"):
            if getattr(self, name) == 1:
                raise parameter_error(name, "MixedPrecision", "0 (off) or an int ≥ 2", 1)
        if (self.n_x_bins == 0) != (self.n_d_bins == 0):
            # aihwkit 1.1.0 with only one set puts all of d into one wrong row of χ (§3.14).
            name = "n_d_bins" if self.n_x_bins else "n_x_bins"
            raise parameter_error(
                name,
                "MixedPrecision",
                "nonzero when the other bin count is (set both or neither)",
                getattr(self, name),
            )
        if self.write == "pulses" and self.lr_transfer != 1.0:
            raise parameter_error(
                "lr_transfer", "MixedPrecision", "1.0 with write='pulses'", self.lr_transfer
            )

    @property
    def epsilon(self) -> float:
        """The granularity ε actually used: ``granularity``, or the device's dw_min if 0."""
        return self.granularity if self.granularity > 0.0 else self.device.dw_min

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        MixedPrecision
            On an ALD device in the expected mode, with 16-bin quantisation.
        """
        return cls(
            device=Device(response=ALD(tau=1.0)),
            update=ExpectedUpdate(),
            n_x_bins=16,
            n_d_bins=16,
        )

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _MixedPrecisionState(self, instance, root, n_threads, replica_offset, backend)


class _MixedPrecisionState(AlgorithmState):
    def __init__(
        self,
        cfg: MixedPrecision,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        offset: int,
        backend: Backend,
    ) -> None:
        self.cfg = cfg
        self.replicas = instance.replicas
        self.n_out, self.n_in = instance.out_size, instance.in_size
        mode = cfg.update
        if cfg.write == "outer" and isinstance(mode, StochasticPulseUpdate):
            # aihwkit forces update and BL management on for the transfer write (§3.14).
            mode = dataclasses.replace(mode, update_management=True, update_bl_management=True)
        self.w = make_tile(instance, cfg.device, mode, root, 0, n_threads, offset, backend)
        self.w.set_weights(instance.initial_weights())
        self.tiles = {"W": self.w}
        self.chi: FloatArray = np.zeros((self.replicas, self.n_out, self.n_in))
        self.eps = cfg.epsilon
        r = cfg.rows_per_transfer
        self.n_rows = self.n_out if r == 0 else min(r, self.n_out)
        self.pointer = 0
        self.key = list(tile_key(root, MIXED_PRECISION_KEY_INDEX))
        self.offset = offset
        self.backend = backend
        self.neg_eye = np.ascontiguousarray(
            np.broadcast_to(-np.eye(self.n_out), (self.replicas, self.n_out, self.n_out))
        )

    def gradient_point(self) -> FloatArray:
        return self.w.weights

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        return self.w.forward(x, io=io or perfect_io())

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        return self.w.backward(d, io=io or perfect_io())

    def _uniforms(self, tick: int, n: int) -> FloatArray:
        return self.backend.replica_uniforms(
            self.key, tick, self.offset, self.replicas, n, TAG_UPDATE
        )

    def _quantise(self, step: int, x: FloatArray, d: FloatArray) -> tuple[FloatArray, FloatArray]:
        cfg = self.cfg
        b = x.shape[1]
        u = self._uniforms(2 * step, b * (self.n_in + self.n_out))
        ux = u[:, : b * self.n_in].reshape(x.shape) if cfg.stoc_round_x else None
        ud = u[:, b * self.n_in :].reshape(d.shape) if cfg.stoc_round_d else None
        return quantize_abs_max(x, cfg.n_x_bins, ux), quantize_abs_max(d, cfg.n_d_bins, ud)

    def _rows(self, step: int) -> np.ndarray:
        """Return the (R, out) mask of the rows transferred at this event."""
        offsets = np.arange(self.n_rows)
        if self.cfg.random_row:
            u = self._uniforms(2 * step + 1, 1)[:, 0]
            start = np.minimum(np.floor(u * self.n_out).astype(np.int64), self.n_out - 1)
        else:
            start = np.full(self.replicas, self.pointer, dtype=np.int64)
            self.pointer = (self.pointer + self.n_rows) % self.n_out
        mask = np.zeros((self.replicas, self.n_out), dtype=bool)
        rows = (start[:, None] + offsets[None, :]) % self.n_out
        mask[np.arange(self.replicas)[:, None], rows] = True
        return mask

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        cfg = self.cfg
        if cfg.n_x_bins:
            x, d = self._quantise(step, x, d)
        self.chi = self.chi - cfg.lr * np.einsum("rbo,rbi->roi", d, x)
        if (step + 1) % cfg.transfer_every != 0:
            return
        mask = self._rows(step)[:, :, None]
        n = np.where(mask, np.clip(np.trunc(self.chi / self.eps), -_MAX_COUNT, _MAX_COUNT), 0.0)
        self.chi = self.chi - n * self.eps
        if cfg.write == "pulses":
            # Called at every event (even with no counts), so the tile's streams advance the
            # same way whatever the other replicas hold.
            self.w.apply_pulses(n.astype(np.int64), phase=Phase.TRANSFER)
        else:
            # Row i: ΔW = −lr·(−e_i) n_iᵀ = ε·lr_transfer·n_i eᵢ-row; zero rows are skipped.
            self.w.update(n, self.neg_eye, lr=self.eps * cfg.lr_transfer, phase=Phase.TRANSFER)

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w.weights, "chi": self.chi.copy()}
