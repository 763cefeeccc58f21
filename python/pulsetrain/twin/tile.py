"""The NumPy twin of ``pulsetrain._core.Tile``: mirrors ``rust/core/src/tile.rs``.

:class:`TwinTile` holds the state (physical weights, device-to-device maps, counters, tick),
builds the maps (``variation.rs``; the element SP by bisection), runs the zero-shift calibration
(``calibration.rs``) and the periphery passes (``periphery.rs``), and hands updates to
:mod:`pulsetrain.twin.update`. Everything follows KERNEL_SPEC operation by operation, so that
:class:`TwinTile` and ``pulsetrain._core.Tile`` give identical pulse counts and, wherever the
floating-point operations are the same, bit-identical weights. Clarity wins over speed; the
twin vectorises only where the order of the random draws allows it. It never imports
``pulsetrain._core``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from pulsetrain.errors import NonFiniteError, ParameterError, ShapeError
from pulsetrain.twin import update as _update
from pulsetrain.twin._common import F64, U64
from pulsetrain.twin._common import message as _message
from pulsetrain.twin.family import DeviceSpec, UpdateSpec, _check_int
from pulsetrain.twin.pulse import fire, replica_totals, saturating_add
from pulsetrain.twin.rng import (
    TAG_BACKWARD,
    TAG_CALIBRATION,
    TAG_CONSTRUCTION,
    TAG_FORWARD,
    TAG_READ,
    Stream,
    StreamBank,
    _as_key,
    normals,
    stream_counters,
)

__all__ = ["PHASES", "TwinTile", "exact_products", "gathered_residuals"]

PHASES: Final = (0, 1, 2)
"""Pulse-counter phases: UPDATE=0, TRANSFER=1, CALIBRATION=2."""


def exact_products(w: ArrayLike, x: ArrayLike, *, transpose: bool = False) -> F64:
    """Return ``W x`` per sample (``Wᵀ x`` with ``transpose``) as the kernel sums it.

    The core's ``periphery::exact_products``: every output summed in index order from 0.0,
    one product and one add at a time (the perfect-IO pass of :meth:`TwinTile.forward`
    without its output scale), here for all replicas and samples at once.

    Parameters
    ----------
    w : array_like
        (R, out, in).
    x : array_like
        (R, B, in); with ``transpose``, (R, B, out).
    transpose : bool, optional
        Multiply by ``Wᵀ``. Default False.

    Returns
    -------
    numpy.ndarray
        (R, B, out); with ``transpose``, (R, B, in).

    Raises
    ------
    ShapeError
        Shapes that do not fit.
    """
    wa = np.asarray(w, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if wa.ndim != 3 or xa.ndim != 3 or xa.shape[0] != wa.shape[0]:
        raise ShapeError(
            _message("x", "an array (R, B, ·) for w (R, out, in)", xa.shape, "exact_products")
        )
    r, o, i = wa.shape
    len_x, len_y = (o, i) if transpose else (i, o)
    if xa.shape[2] != len_x:
        raise ShapeError(
            _message("x", f"an array of shape ({r}, B, {len_x})", xa.shape, "exact_products")
        )
    y = np.zeros((r, xa.shape[1], len_y))
    for k in range(len_x):
        # Term k of every sum: w[:, :, k] (or row k of W for Wᵀ) times input k.
        col = wa[:, k, :] if transpose else wa[:, :, k]
        y = y + col[:, None, :] * xa[:, :, k, None]
    return y


def gathered_residuals(
    w: ArrayLike, a: ArrayLike, b: ArrayLike, rows: ArrayLike
) -> tuple[F64, F64]:
    """Return a least-squares minibatch ``x = a[r, rows[r]]`` and ``(W x - b[r, rows[r]]) / B``.

    The core's ``periphery::gather_rows`` and ``mean_residuals``: replica r's rows ``rows[r]``
    (B row numbers in ``[0, n)``) of ``a`` (R, n, in) and ``b`` (R, n, out), the products
    summed as :func:`exact_products` sums them, then one subtraction and one division by B
    per value.

    Parameters
    ----------
    w : array_like
        (R, out, in).
    a : array_like
        Inputs, (R, n, in).
    b : array_like
        Targets, (R, n, out).
    rows : array_like of int
        (R, B) row numbers in ``[0, n)``.

    Returns
    -------
    x : numpy.ndarray
        (R, B, in), the gathered inputs.
    d : numpy.ndarray
        (R, B, out), the mean-gradient residuals.

    Raises
    ------
    ShapeError
        Shapes that do not fit.
    ParameterError
        A row number outside ``[0, n)``.
    """
    wa = np.asarray(w, dtype=np.float64)
    aa = np.asarray(a, dtype=np.float64)
    ba = np.asarray(b, dtype=np.float64)
    idx = np.asarray(rows)
    owner = "gathered_residuals"
    if wa.ndim != 3:
        raise ShapeError(_message("w", "an array (R, out, in)", wa.shape, owner))
    r, o, i = wa.shape
    if aa.ndim != 3 or aa.shape[0] != r or aa.shape[2] != i:
        raise ShapeError(_message("a", f"an array of shape ({r}, n, {i})", aa.shape, owner))
    n = aa.shape[1]
    if ba.shape != (r, n, o):
        raise ShapeError(_message("b", f"an array of shape ({r}, {n}, {o})", ba.shape, owner))
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise ShapeError(_message("rows", "an int array", f"dtype {idx.dtype}", owner))
    idx = idx.astype(np.intp)
    if idx.ndim != 2 or idx.shape[0] != r:
        raise ShapeError(_message("rows", f"an array of shape ({r}, B)", idx.shape, owner))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise ParameterError(
            _message("rows", f"row numbers in the range [0, {n})", int(bad), owner)
        )
    flat = (np.arange(r)[:, None] * n + idx).ravel()
    x = np.take(aa.reshape(-1, i), flat, axis=0).reshape(r, idx.shape[1], i)
    t = np.take(ba.reshape(-1, o), flat, axis=0).reshape(r, idx.shape[1], o)
    return x, (exact_products(wa, x) - t) / idx.shape[1]


def _exp1(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:  # libm returns inf here, as Rust's f64::exp does
        return math.inf


_EXP_OR_INF = np.frompyfunc(_exp1, 1, 1)


def _exp_or_inf(x: F64) -> F64:
    """Return ``exp(x)`` through libm element-wise, inf where it overflows (as in Rust)."""
    with np.errstate(over="ignore"):
        return np.asarray(_EXP_OR_INF(x), dtype=np.float64).reshape(np.shape(x))


def _check_maps(dev: DeviceSpec, up: F64, dn: F64, hi: F64, lo: F64, ref: F64) -> None:
    """Refuse maps that overflowed, naming the spread, as the kernel's ``check_maps`` does.

    The kernel checks element by element in flat order (step, then upper bound, lower bound,
    reference), so the first bad element decides which spread is named.
    """
    checks = [
        (~(np.isfinite(up) & np.isfinite(dn)), "step"),
        (~np.isfinite(hi), "bounds"),
        (~np.isfinite(lo), "bounds"),
        (~np.isfinite(ref), "reference"),
    ]
    bad = np.zeros(up.shape, dtype=bool)
    for mask, _ in checks:
        bad |= mask
    if not bad.any():
        return
    k = int(np.flatnonzero(bad.ravel())[0])
    step_spread = (
        ("dw_min_dtod", dev.dw_min_dtod)
        if dev.dw_min_dtod_log_normal or dev.dw_min_dtod > 0.0
        else ("up_down_dtod", dev.up_down_dtod)
    )
    names = [
        step_spread,
        ("w_max_dtod", dev.w_max_dtod),
        ("w_min_dtod", dev.w_min_dtod),
        ("reference_std", dev.reference_std),
    ]
    for (mask, what), (name, value) in zip(checks, names, strict=True):
        if mask.ravel()[k]:
            allowed = (
                f"small enough that every element's {what} is finite (the drawn maps overflowed)"
            )
            raise ParameterError(_message(name, allowed, value, owner="Device"))


class TwinTile:
    """NumPy twin of ``pulsetrain._core.Tile`` (spec §4-§8).

    Parameters
    ----------
    spec : Mapping[str, object]
        Device spec dict (spec §1).
    update : Mapping[str, object]
        Update dict (spec §8).
    out_size, in_size : int
        Rows and columns of the crossbar, at least 1.
    replicas : int
        Number of independent replicas ``R``, at least 1.
    key : array_like of int, shape (2,)
        The tile's 128-bit Philox key (two uint64 words).
    replica_offset : int
        Global index of local replica 0, at least 0 and below ``2**32``.

    Raises
    ------
    ParameterError
        If the spec, the update dict or a size is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> spec = {"family": "linear_step", "lo": -1.0, "hi": 1.0, "sp": 0.0, "c": 0.0,
    ...         "alpha_up": 1.0, "alpha_down": 1.0, "gamma_up": 1.0, "gamma_down": 1.0,
    ...         "dw_min": 1e-3, "dw_min_std": 0.0, "c2c_multiplicative": False,
    ...         "dw_min_dtod": 0.0, "dw_min_dtod_log_normal": False, "up_down_dtod": 0.0,
    ...         "w_max_dtod": 0.0, "w_min_dtod": 0.0, "reference_mean": 0.0,
    ...         "reference_std": 0.0, "subtract_symmetry_point": False}
    >>> tile = TwinTile(spec, {"kind": "pulse_count", "max_bl": 100, "rounding": "ceil"},
    ...                      1, 1, 1, [1, 2])
    >>> tile.set_weights(np.full((1, 1, 1), 0.2))
    >>> tile.apply_delta(np.full((1, 1, 1), 0.05), 0).tolist()
    [50]
    >>> round(float(tile.weights()[0, 0, 0]), 7)
    0.2390355
    """

    def __init__(
        self,
        spec: Mapping[str, object],
        update: Mapping[str, object],
        out_size: int,
        in_size: int,
        replicas: int,
        key: ArrayLike,
        replica_offset: int = 0,
    ) -> None:
        self.device = DeviceSpec.from_dict(spec)
        self.update_spec = UpdateSpec.from_dict(update)
        sizes = {"out_size": out_size, "in_size": in_size, "replicas": replicas}
        for name in sizes:
            _check_int(sizes, name, 1, None)
        _check_int({"replica_offset": replica_offset}, "replica_offset", 0, 2**32 - replicas)
        if out_size >= 2**32 or in_size >= 2**32:
            raise ParameterError(_message("out_size", "below 2**32", (out_size, in_size)))
        self.out_size = out_size
        self.in_size = in_size
        self.replicas = replicas
        self.replica_offset = replica_offset
        self.key: U64 = _as_key(np.asarray(key, dtype=np.uint64))
        self._tick = 0
        self._build_maps()
        self._counts: dict[int, U64] = {
            phase: np.zeros(self._shape, dtype=np.uint64) for phase in PHASES
        }

    # -- construction (spec §4) ----------------------------------------------------------------

    @property
    def _shape(self) -> tuple[int, int, int]:
        return (self.replicas, self.out_size, self.in_size)

    @property
    def tick(self) -> int:
        """Number of ``update``/``apply_delta`` calls so far (the tick of the next call)."""
        return self._tick

    def _row_streams(self, tag: int, sample: int, tick: int) -> U64:
        """Counters of the streams (global replica, row i) in (r, i) C order."""
        reps = np.arange(self.replicas, dtype=np.uint64) + np.uint64(self.replica_offset)
        rows = np.arange(self.out_size, dtype=np.uint64)
        return stream_counters(tick, reps[:, None], rows[None, :], tag, sample)

    def _build_maps(self) -> None:
        dev = self.device
        r, o, n = self._shape
        xi = normals(self.key, self._row_streams(TAG_CONSTRUCTION, 0, 0), 5 * n)
        xi = xi.reshape(r, o, n, 5)
        xi_g, xi_r, xi_max, xi_min, xi_ref = (np.ascontiguousarray(xi[..., k]) for k in range(5))
        with np.errstate(all="ignore"):  # overflowed maps are refused just below
            if dev.dw_min_dtod_log_normal:
                g = _exp_or_inf(dev.dw_min_dtod * xi_g)
            else:
                g = 1.0 + dev.dw_min_dtod * xi_g
            rr = dev.up_down + dev.up_down_dtod * xi_r
            self._up: F64 = np.abs(dev.dw_min * (g + rr))
            self._dn: F64 = np.abs(dev.dw_min * (g - rr))
            s = dev.shape_origin
            self._hi: F64 = s + (dev.hi - s) * np.maximum(
                np.abs(1.0 + dev.w_max_dtod * xi_max), 1e-3
            )
            self._lo: F64 = s + (dev.lo - s) * np.maximum(
                np.abs(1.0 + dev.w_min_dtod * xi_min), 1e-3
            )
            if dev.family == "ideal":
                self._sp: F64 = np.full(self._shape, np.nan)
            else:
                self._sp = self._bisect_symmetric_point()
            ref = dev.reference_mean + dev.reference_std * xi_ref
            if dev.subtract_symmetry_point:
                ref = ref + self._sp
        _check_maps(dev, self._up, self._dn, self._hi, self._lo, ref)
        self._ref: F64 = ref
        self._p: F64 = np.minimum(np.maximum(ref, self._lo), self._hi)

    def _bisect_symmetric_point(self) -> F64:
        """Root of ``dn_e q-(w) - up_e q+(w)`` on ``[lo_e, hi_e]``, element-wise (spec §4)."""
        lo = self._lo.ravel()
        hi = self._hi.ravel()
        up = self._up.ravel()
        dn = self._dn.ravel()
        a = lo.copy()
        b = hi.copy()
        active = np.ones(a.size, dtype=np.bool_)
        for _ in range(100):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            m = 0.5 * (a[idx] + b[idx])
            stop = (m <= a[idx]) | (m >= b[idx])
            active[idx[stop]] = False
            go = idx[~stop]
            m = m[~stop]
            h = dn[go] * self.device.q_minus(m, lo[go], hi[go]) - up[go] * self.device.q_plus(
                m, lo[go], hi[go]
            )
            right = h > 0
            b[go[right]] = m[right]
            a[go[~right]] = m[~right]
        return (0.5 * (a + b)).reshape(self._shape)

    # -- state access ----------------------------------------------------------------------------

    def weights(self) -> F64:
        """Return the logical weights ``p - ref_e``.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, in)
            A new array.
        """
        return self._p - self._ref

    def physical_weights(self) -> F64:
        """Return the physical states ``p``.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, in)
            A copy.
        """
        return self._p.copy()

    def set_weights(self, w: ArrayLike) -> None:
        """Set the logical weights: ``p = clip(w + ref_e, lo_e, hi_e)`` (no pulses, no tick).

        Parameters
        ----------
        w : array_like of float64, shape (R, out, in)
            Finite logical weights.

        Raises
        ------
        ShapeError
            If ``w`` has the wrong shape.
        NonFiniteError
            If ``w`` holds NaN or inf.
        """
        arr = self._check_array("w", w, self._shape)
        self._p = np.minimum(np.maximum(arr + self._ref, self._lo), self._hi)

    def set_physical_weights(self, p: ArrayLike) -> None:
        """Set the physical state directly: ``p = clip(p, lo_e, hi_e)`` (no pulses, no tick).

        Parameters
        ----------
        p : array_like of float64, shape (R, out, in)
            Finite physical weights.

        Raises
        ------
        ShapeError
            If ``p`` has the wrong shape.
        NonFiniteError
            If ``p`` holds NaN or inf.
        """
        arr = self._check_array("physical_weights", p, self._shape)
        self._p = np.minimum(np.maximum(arr, self._lo), self._hi)

    def maps(self) -> dict[str, F64]:
        """Return copies of the device-to-device maps.

        Returns
        -------
        dict of str to numpy.ndarray of float64, shape (R, out, in)
            ``step_up``, ``step_down``, ``w_min`` and ``w_max`` (the physical element bounds
            ``lo_e``, ``hi_e``), ``reference`` and ``symmetric_point`` (NaN for ideal).
        """
        return {
            "step_up": self._up.copy(),
            "step_down": self._dn.copy(),
            "w_min": self._lo.copy(),
            "w_max": self._hi.copy(),
            "reference": self._ref.copy(),
            "symmetric_point": self._sp.copy(),
        }

    def pulse_counts(self, phase: int) -> U64:
        """Return the pulse counters of a phase.

        Parameters
        ----------
        phase : int
            0 (UPDATE), 1 (TRANSFER) or 2 (CALIBRATION).

        Returns
        -------
        numpy.ndarray of uint64, shape (R, out, in)
            A copy of the counters.

        Raises
        ------
        ParameterError
            If ``phase`` is not a phase.
        """
        return self._counts[self._check_phase(phase)].copy()

    def reset_pulse_counts(self, phase: int | None = None) -> None:
        """Zero the counters of one phase, or of every phase if ``phase`` is None.

        Parameters
        ----------
        phase : int or None
            0, 1, 2 or None.

        Raises
        ------
        ParameterError
            If ``phase`` is not a phase.
        """
        phases = PHASES if phase is None else (self._check_phase(phase),)
        for ph in phases:
            self._counts[ph][...] = 0

    # -- validation --------------------------------------------------------------------------------

    @staticmethod
    def _check_phase(phase: object) -> int:
        if isinstance(phase, bool) or not isinstance(phase, int) or phase not in PHASES:
            raise ParameterError(_message("phase", "one of [0, 1, 2]", phase))
        return phase

    @staticmethod
    def _check_array(name: str, value: ArrayLike, shape: tuple[int, ...]) -> F64:
        arr = np.array(value, dtype=np.float64)
        if arr.shape != shape:
            raise ShapeError(_message(name, f"an array of shape {shape}", arr.shape))
        if not np.isfinite(arr).all():
            raise NonFiniteError(_message(name, "finite", "an array with NaN or inf"))
        return arr

    @staticmethod
    def _check_n_threads(n_threads: int | None) -> None:
        if n_threads is not None:
            _check_int({"n_threads": n_threads}, "n_threads", 1, None)

    # -- one pulse (spec §5) -----------------------------------------------------------------------

    def apply_delta(self, delta: ArrayLike, phase: int, n_threads: int | None = None) -> U64:
        """Apply a target weight change element-wise in the expected or pulse-count mode.

        Parameters
        ----------
        delta : array_like of float64, shape (R, out, in)
            Finite target changes of the logical weights.
        phase : int
            Counter phase: 0 (UPDATE), 1 (TRANSFER) or 2 (CALIBRATION).
        n_threads : int or None
            Ignored (the twin is serial); accepted so the twin is a drop-in for ``_core.Tile``.

        Returns
        -------
        numpy.ndarray of uint64, shape (R,)
            Pulses fired per replica (equivalent pulses in the expected mode).

        Raises
        ------
        ParameterError
            In the stochastic-pulse mode, or for a bad phase.
        ShapeError
            If ``delta`` has the wrong shape.
        NonFiniteError
            If ``delta`` holds NaN or inf.
        """
        if self.update_spec.kind == "stochastic_pulse":
            raise ParameterError(
                _message("update", "'expected' or 'pulse_count' for apply_delta", "stochastic")
            )
        ph = self._check_phase(phase)
        self._check_n_threads(n_threads)
        arr = self._check_array("delta", delta, self._shape)
        return self._commit(ph, *_update.apply_delta(self, arr, self._tick))

    def update(
        self, x: ArrayLike, d: ArrayLike, lr: float, phase: int, n_threads: int | None = None
    ) -> U64:
        """Apply ``ΔW = -lr Σ_b d_b x_bᵀ`` per replica in the tile's update mode.

        Parameters
        ----------
        x : array_like of float64, shape (R, B, in)
            Finite inputs.
        d : array_like of float64, shape (R, B, out)
            Finite output errors.
        lr : float
            Learning rate, finite and at least 0.
        phase : int
            Counter phase: 0 (UPDATE), 1 (TRANSFER) or 2 (CALIBRATION).
        n_threads : int or None
            Ignored (the twin is serial).

        Returns
        -------
        numpy.ndarray of uint64, shape (R,)
            Pulses fired per replica.

        Raises
        ------
        ParameterError
            If ``lr`` or ``phase`` is invalid.
        ShapeError
            If ``x`` or ``d`` has the wrong shape.
        NonFiniteError
            If ``x`` or ``d`` holds NaN or inf.
        """
        ph = self._check_phase(phase)
        self._check_n_threads(n_threads)
        lr_ok = isinstance(lr, int | float) and not isinstance(lr, bool)
        if not lr_ok or not (math.isfinite(lr) and lr >= 0.0):
            raise ParameterError(_message("lr", "a finite float in the range [0, inf)", lr))
        x_arr = np.array(x, dtype=np.float64)
        batch = x_arr.shape[1] if x_arr.ndim == 3 else 0
        xa = self._check_array("x", x_arr, (self.replicas, batch, self.in_size))
        da = self._check_array("d", d, (self.replicas, batch, self.out_size))
        lr = float(lr)
        if self.update_spec.kind == "stochastic_pulse":
            return self._commit(ph, *_update.stochastic(self, xa, da, lr, self._tick))
        acc = np.zeros(self._shape)
        for b in range(batch):
            # acc = acc + d[b,i]*x[b,j], summed in index order starting from 0.0 (spec §6).
            acc = acc + da[:, b, :, None] * xa[:, b, None, :]
        return self._commit(ph, *_update.apply_delta(self, -lr * acc, self._tick))

    def apply_pulses(self, counts: ArrayLike, phase: int, n_threads: int | None = None) -> U64:
        """Fire exact pulse trains: ``|n|`` pulses of sign ``sign(n)`` per element, any mode.

        Noise normals come from the row stream (tick, r, i, UPDATE), element by element in
        column order, as in the kernel's ``apply_pulses``.

        Parameters
        ----------
        counts : array_like of int64, shape (R, out, in)
            Signed pulse counts, each in [-1_000_000, 1_000_000].
        phase : int
            Counter phase: 0, 1 or 2.
        n_threads : int or None
            Ignored (the twin is serial).

        Returns
        -------
        numpy.ndarray of uint64, shape (R,)
            Pulses fired per replica.

        Raises
        ------
        ShapeError
            Wrong shape.
        ParameterError
            A count out of range or a bad phase.
        """
        ph = self._check_phase(phase)
        self._check_n_threads(n_threads)
        n = np.asarray(counts)
        if n.shape != self._shape:
            raise ShapeError(_message("counts", f"an array of shape {self._shape}", n.shape))
        n = n.astype(np.int64)
        if np.abs(n.astype(np.float64)).max(initial=0) > 1_000_000:  # no int64 abs wrap
            raise ParameterError(_message("counts", "ints in [-1000000, 1000000]", n.max()))
        return self._commit(ph, *_update.pulse_trains(self, n, self._tick))

    def read(
        self, cols: Sequence[int], noise_std: float = 0.0, n_threads: int | None = None
    ) -> F64:
        """Read columns of the logical weights with Gaussian noise from (tick, r, i, READ).

        Parameters
        ----------
        cols : sequence of int
            Column indices in [0, in_size).
        noise_std : float, optional
            Read-noise standard deviation, at least 0.
        n_threads : int or None
            Ignored.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, len(cols))
            The read values; the tick advances.

        Raises
        ------
        ParameterError
            A column out of range or a bad noise level.
        """
        self._check_n_threads(n_threads)
        idx = [int(c) for c in cols]
        if any(c < 0 or c >= self.in_size for c in idx):
            raise ParameterError(_message("cols", f"indices in [0, {self.in_size})", cols))
        if not (math.isfinite(noise_std) and noise_std >= 0.0):
            raise ParameterError(_message("noise_std", "a float in [0, inf)", noise_std))
        logical = (self._p - self._ref)[:, :, idx]
        if noise_std > 0.0 and idx:
            xi = normals(self.key, self._row_streams(TAG_READ, 0, self._tick), len(idx))
            logical = logical + noise_std * xi.reshape(logical.shape)
        self._tick += 1
        return np.asarray(logical, dtype=np.float64)

    def zero_shift(
        self,
        n_pulses: int,
        cyclic: bool,  # noqa: FBT001 - mirrors the positional _core signature
        average_last: int = 1,
        n_threads: int | None = None,
    ) -> F64:
        """Zero-shift calibration, as the kernel's ``zero_shift`` (theory.md §3.9).

        Each element gets ``n_pulses`` single pulses (stochastic signs from bit ``k mod 64`` of
        the row stream's word ``k // 64``, or cyclic +, −, …), counted as calibration; the
        physical state averaged over the last ``average_last`` pulses is returned.

        Parameters
        ----------
        n_pulses : int
            Pulses per element, in [1, 1e9].
        cyclic : bool
            Alternate signs instead of random ones.
        average_last : int, optional
            Average over this many final states, in [1, n_pulses].
        n_threads : int or None
            Ignored.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, in)
            The per-element estimate of the physical symmetric point.

        Raises
        ------
        ParameterError
            For counts out of range.
        """
        self._check_n_threads(n_threads)
        if not 1 <= int(n_pulses) <= 1_000_000_000:
            raise ParameterError(_message("n_pulses", "an int in [1, 1e9]", n_pulses))
        if not 1 <= int(average_last) <= int(n_pulses):
            raise ParameterError(_message("average_last", "an int in [1, n_pulses]", average_last))
        r, o, n_in = self._shape
        n_rows = r * o
        p = self._p.copy().ravel()
        rows = np.arange(n_rows, dtype=np.intp)
        bank = StreamBank(self.key, self._row_streams(TAG_CALIBRATION, 0, self._tick))
        noisy = self.device.dw_min_std > 0.0
        first_avg = int(n_pulses) - int(average_last)
        avg = np.zeros((n_rows, n_in))
        ones = np.ones(n_rows, dtype=np.int64)
        for j in range(n_in):
            elements = rows * n_in + j
            word = np.zeros(n_rows, dtype=np.uint64)
            total = np.zeros(n_rows)
            for k in range(int(n_pulses)):
                if cyclic:
                    up = np.full(n_rows, k % 2 == 0)
                else:
                    if k % 64 == 0:
                        word = bank.next_u64(rows)
                    up = ((word >> np.uint64(k % 64)) & np.uint64(1)) == 1
                fire(self, p, elements, ones, up, bank if noisy else None, rows)
                if k >= first_avg:
                    total = total + p[elements]
            avg[:, j] = total / int(average_last)
        counts = np.full(self._shape, int(n_pulses), dtype=np.uint64)
        self._commit(2, p.reshape(self._shape), counts)
        return avg.reshape(self._shape)

    def set_reference(self, reference: ArrayLike) -> None:
        """Program the physical reference of every element (the physical state is unchanged).

        Parameters
        ----------
        reference : array_like of float64, shape (R, out, in)
            Finite reference values.

        Raises
        ------
        ShapeError, NonFiniteError
            Bad array.
        """
        self._ref = self._check_array("reference", reference, self._shape).copy()

    # -- periphery (theory.md §2.5) ----------------------------------------------------------

    @staticmethod
    def _io_res(res: float) -> float:
        return 0.0 if res <= 0 else (1.0 / res if res > 1 else res)

    @staticmethod
    def _quantise(v: float, step: float, stochastic: bool, s: Stream) -> float:  # noqa: FBT001
        if step <= 0.0:
            return v
        q = v / step
        if stochastic:
            fl = math.floor(q)
            k = fl + (1.0 if s.uniform() < q - fl else 0.0)
        else:
            k = float(np.rint(q))
        return k * step

    def _pass(
        self,
        io: Mapping[str, Any],
        w: F64,
        x: F64,
        transpose: bool,  # noqa: FBT001
        s: Stream,
    ) -> F64:
        """One sample's pass, operation for operation as the kernel's ``periphery::pass``."""
        rows, cols = w.shape

        def mvm(u: F64) -> F64:
            y = exact_products(w[None], u[None, None], transpose=transpose)
            return np.asarray(y[0, 0], dtype=np.float64)

        if io["is_perfect"]:
            return np.asarray(mvm(x) * io["out_scale"], dtype=np.float64)
        if io["noise_management"] == "abs_max":
            scale = float(np.max(np.abs(x))) if x.size else 0.0
            if io["nm_thres"] > 0.0:
                scale = min(scale, io["nm_thres"])
        else:
            scale = 1.0
        n_y = cols if transpose else rows
        if scale == 0.0:
            return np.zeros(n_y)
        step_in = self._io_res(io["inp_res"]) * 2.0 * io["inp_bound"]
        step_out = self._io_res(io["out_res"]) * 2.0 * io["out_bound"]
        bm = (not transpose) and io["bound_management"] == "iterative"
        bm_limit = io["max_bm_res"] / step_in if step_in > 0.0 else math.inf
        factor = 1.0
        ib, ob = io["inp_bound"], io["out_bound"]
        while True:
            u = np.empty(x.size)
            for j in range(x.size):
                v = self._quantise(float(x[j]) / (scale * factor), step_in, io["inp_sto_round"], s)
                u[j] = min(max(v, -ib), ib)
            if io["inp_noise"] > 0.0:
                for j in range(x.size):
                    u[j] = u[j] + io["inp_noise"] * s.normal()
            y = mvm(u)
            saturated = False
            for i in range(n_y):
                v = float(y[i])
                if io["out_noise"] > 0.0:
                    v = v + io["out_noise"] * s.normal()
                v = self._quantise(v, step_out, io["out_sto_round"], s)
                if v > ob or (io["bm_test_negative_bound"] and v < -ob):
                    saturated = True
                y[i] = min(max(v, -ob), ob)
            if not bm or not saturated or factor > io["max_bm_factor"] or factor > bm_limit:
                break
            factor *= 2.0
        return np.asarray(y * (scale * factor * io["out_scale"]), dtype=np.float64)

    def _passes(self, x: F64, io: Mapping[str, Any], *, transpose: bool, tag: int, sub: int) -> F64:
        w = self._p - self._ref
        r, b = x.shape[0], x.shape[1]
        n_y = self.in_size if transpose else self.out_size
        out = np.zeros((r, b, n_y))
        for rep in range(r):
            for k in range(b):
                counter = stream_counters(self._tick, rep + self.replica_offset, k, tag, sub)
                s = Stream(self.key, counter.reshape(4))
                out[rep, k] = self._pass(io, w[rep], x[rep, k], transpose, s)
        self._tick += 1
        return out

    def forward(self, x: ArrayLike, io: Mapping[str, Any], n_threads: int | None = None) -> F64:
        """Forward pass ``IO(W x)`` per sample (kernel ``forward``); x (R, B, in) → (R, B, out).

        Parameters
        ----------
        x : array_like of float64, shape (R, B, in)
            Finite inputs.
        io : Mapping
            ``IOParameters.to_spec()``.
        n_threads : int or None
            Ignored.

        Returns
        -------
        numpy.ndarray of float64, shape (R, B, out)
            The outputs; the tick advances.
        """
        self._check_n_threads(n_threads)
        arr = np.asarray(x, dtype=np.float64)
        b = arr.shape[1] if arr.ndim == 3 else 0
        xa = self._check_array("x", arr, (self.replicas, b, self.in_size))
        return self._passes(xa, io, transpose=False, tag=TAG_FORWARD, sub=0)

    def backward(self, d: ArrayLike, io: Mapping[str, Any], n_threads: int | None = None) -> F64:
        """Backward pass ``Wᵀ d`` per sample without bound management; (R, B, out) → (R, B, in).

        Parameters
        ----------
        d : array_like of float64, shape (R, B, out)
            Finite output errors.
        io : Mapping
            ``IOParameters.to_spec()``.
        n_threads : int or None
            Ignored.

        Returns
        -------
        numpy.ndarray of float64, shape (R, B, in)
            The input errors; the tick advances.
        """
        self._check_n_threads(n_threads)
        arr = np.asarray(d, dtype=np.float64)
        b = arr.shape[1] if arr.ndim == 3 else 0
        da = self._check_array("d", arr, (self.replicas, b, self.out_size))
        return self._passes(da, io, transpose=True, tag=TAG_BACKWARD, sub=0)

    def read_io(
        self, cols: Sequence[int], io: Mapping[str, Any], n_threads: int | None = None
    ) -> F64:
        """Read columns as one-hot forward passes on the READ streams (sample tag 1).

        Parameters
        ----------
        cols : sequence of int
            Column indices in [0, in_size).
        io : Mapping
            ``IOParameters.to_spec()``.
        n_threads : int or None
            Ignored.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, len(cols))
            The reads; the tick advances.
        """
        self._check_n_threads(n_threads)
        idx = [int(c) for c in cols]
        if any(c < 0 or c >= self.in_size for c in idx):
            raise ParameterError(_message("cols", f"indices in [0, {self.in_size})", cols))
        x = np.zeros((self.replicas, len(idx), self.in_size))
        x[:, np.arange(len(idx)), idx] = 1.0
        y = self._passes(x, io, transpose=False, tag=TAG_READ, sub=1)
        return np.ascontiguousarray(y.transpose(0, 2, 1))

    def _commit(self, phase: int, p: F64, counts: U64) -> U64:
        """Store the new state and counters, advance the tick, return pulses per replica."""
        self._p = p
        self._counts[phase] = saturating_add(self._counts[phase], counts)
        self._tick += 1
        return replica_totals(counts, self.replicas)

    # -- checkpoint setters (mirror Tile.set_tick / Tile.set_pulse_counts) ------------------------

    def set_tick(self, tick: int) -> None:
        """Set the stream tick (restoring a checkpoint): the next call draws from ``tick``.

        Parameters
        ----------
        tick : int
            In [0, 2**63).

        Raises
        ------
        ParameterError
            If ``tick`` is not an int in range.
        """
        _check_int({"tick": tick}, "tick", 0, 2**63 - 1)
        self._tick = int(tick)

    def set_pulse_counts(self, phase: int, counts: ArrayLike) -> None:
        """Restore the pulse counters of one phase.

        Parameters
        ----------
        phase : int
            0 (UPDATE), 1 (TRANSFER) or 2 (CALIBRATION).
        counts : numpy.ndarray of uint64, shape (R, out, in)
            The counters.

        Raises
        ------
        ParameterError
            If ``phase`` is not a phase.
        ShapeError
            If ``counts`` is not a uint64 array of the tile's shape.
        """
        ph = self._check_phase(phase)
        if not isinstance(counts, np.ndarray) or counts.dtype != np.uint64:
            raise ShapeError(_message("counts", "a numpy.ndarray of uint64", type(counts)))
        if counts.shape != self._shape:
            raise ShapeError(_message("counts", f"an array of shape {self._shape}", counts.shape))
        self._counts[ph] = counts.copy()

    def reference(self) -> F64:
        """Return a copy of the reference of every element.

        Returns
        -------
        numpy.ndarray of float64, shape (R, out, in)
            A copy.
        """
        return self._ref.copy()
