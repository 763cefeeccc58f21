"""The three update modes: mirrors ``rust/core/src/update/``, function for function.

:func:`delta` is ``update/mod.rs``'s dispatch; :func:`expected`, :func:`pulse_count` (with
:func:`pulse_trains`, the body of ``apply_pulses``) and :func:`stochastic` (with
:func:`stochastic_pulse_parameters`) are ``expected.rs``, ``pulse_count.rs`` and
``stochastic.rs``. Each takes the tile and the tick and returns the new physical state and the
pulse counts; the tile commits them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, get_args

import numpy as np

from pulsetrain.twin._common import F64, I64, U64, Bools
from pulsetrain.twin.family import UpdateKind, UpdateSpec
from pulsetrain.twin.pulse import (
    aggregates,
    ceil_count,
    clip,
    fire,
    fire_aggregated,
    snap,
    to_counts,
    window_constants,
    window_moments,
)
from pulsetrain.twin.rng import (
    TAG_AGGREGATE,
    TAG_TRAIN_X,
    TAG_UPDATE,
    StreamBank,
    normals,
    stream_counters,
    uniforms,
)

if TYPE_CHECKING:
    from pulsetrain.twin.tile import TwinTile

__all__ = [
    "MAX_FREE_BL",
    "UPDATE_KINDS",
    "apply_delta",
    "expected",
    "pulse_count",
    "pulse_trains",
    "stochastic",
    "stochastic_pulse_parameters",
]

UPDATE_KINDS: Final[tuple[str, ...]] = get_args(UpdateKind)
"""The ``kind`` names of the update dicts (KERNEL_SPEC §8), as the core's update kinds."""

#: Longest stochastic bit train (the kernel's MAX_DESIRED_BL); caps the free bit length.
MAX_FREE_BL = 1024


def stochastic_pulse_parameters(
    x_m: float, d_m: float, lr: float, dw_min: float, update: UpdateSpec
) -> tuple[int, float, float] | None:
    """Return the bit length and train scales ``(BL, A, B)`` of one sample (spec §6).

    Parameters
    ----------
    x_m : float
        ``max |x_j|`` of the sample, at least 0.
    d_m : float
        ``um_grad_scale * max |d_i|`` of the sample, at least 0.
    lr : float
        Learning rate, at least 0.
    dw_min : float
        Device granularity, positive.
    update : UpdateSpec
        A ``stochastic_pulse`` update spec.

    Returns
    -------
    tuple of (int, float, float) or None
        ``(BL, A, B)``, with ``pd_i = min(1, A |d_i|)`` and ``px_j = min(1, B |x_j|)``; ``None``
        if the sample is skipped (``lr``, ``x_m`` or ``d_m`` is 0).

    Examples
    --------
    >>> spec = UpdateSpec(kind="stochastic_pulse")
    >>> stochastic_pulse_parameters(0.5, 1.0, 0.01, 1e-3, spec)[0]
    5
    """
    if lr == 0.0 or x_m == 0.0 or d_m == 0.0:
        return None
    desired = update.desired_bl
    k = lr * x_m * d_m / dw_min
    management = update.update_management or update.update_bl_management
    if update.update_bl_management:
        bl = int(min(math.ceil(k) if math.isfinite(k) else math.inf, desired))
        a = b = math.sqrt(lr / (dw_min * bl))
    elif update.fixed_bl or dw_min * desired >= lr:
        bl = desired
        a = b = math.sqrt(lr / (dw_min * bl))
    else:
        # The free bit length is capped at 1024 slots (MAX_DESIRED_BL), as in the kernel.
        bl = min(max(math.ceil(lr / dw_min), 1), MAX_FREE_BL)
        a = b = 1.0
    if management:
        d2 = d_m * min(1.0, desired / k)
        a = a * math.sqrt(x_m / d2)
        b = b * math.sqrt(d2 / x_m)
    return bl, a, b


def _probabilities(scale: float, values: F64) -> F64:
    """Return ``min(1, scale |v|)`` with values within 4 eps of 1 set to exactly 1 (spec §6)."""
    p = np.minimum(1.0, scale * np.abs(values))
    return snap(p)


def apply_delta(tile: TwinTile, delta: F64, tick: int) -> tuple[F64, U64]:
    """Dispatch a target change to the expected or pulse-count kernel (update/mod.rs)."""
    if tile.update_spec.kind == "expected":
        return expected(tile, delta, tick)
    return pulse_count(tile, delta, tick)


def expected(tile: TwinTile, delta: F64, tick: int) -> tuple[F64, U64]:
    """Run the expected update (update/expected.rs): one ``q``-scaled step, optional noise."""
    dev = tile.device
    p = tile._p.copy()
    pos = delta >= 0.0
    neg = ~pos
    eff_up = tile._up / dev.dw_min
    eff_dn = tile._dn / dev.dw_min
    new = np.empty_like(p)
    new[pos] = p[pos] + delta[pos] * (
        eff_up[pos] * dev.q_plus(p[pos], tile._lo[pos], tile._hi[pos])
    )
    new[neg] = p[neg] + delta[neg] * (
        eff_dn[neg] * dev.q_minus(p[neg], tile._lo[neg], tile._hi[neg])
    )
    if tile.update_spec.noise:
        # One normal per element in column order from the row stream (tick, r, i, UPDATE).
        xi = normals(tile.key, tile._row_streams(TAG_UPDATE, 0, tick), tile.in_size)
        new = new + np.sqrt(np.abs(delta) * dev.dw_min) * xi.reshape(tile._shape)
    new = clip(new, tile._lo, tile._hi)
    with np.errstate(over="ignore"):  # an overflowing ratio is inf: u64::MAX pulses, as in Rust
        counts = to_counts(ceil_count(np.abs(delta) / dev.dw_min))
    return new, counts


def pulse_count(tile: TwinTile, delta: F64, tick: int) -> tuple[F64, U64]:
    """Run the pulse-count update (update/pulse_count.rs): rounded counts, fired in turn."""
    dev = tile.device
    upd = tile.update_spec
    r, o, n_in = tile._shape
    n_rows = r * o
    p = tile._p.copy().ravel()
    with np.errstate(over="ignore"):  # inf ratios are capped at max_bl below, as in Rust
        ratio = (np.abs(delta) / dev.dw_min).reshape(n_rows, n_in)
    up = (delta > 0.0).reshape(n_rows, n_in)
    max_bl = float(upd.max_bl)
    stochastic = upd.rounding == "stochastic"
    noisy = dev.dw_min_std > 0.0
    bank = StreamBank(tile.key, tile._row_streams(TAG_UPDATE, 0, tick))
    rows = np.arange(n_rows, dtype=np.intp)

    def count(col_ratio: F64, u: F64 | None) -> F64:
        if u is None:
            n_float = ceil_count(col_ratio)
        else:
            fl = np.floor(col_ratio)
            n_float = fl + np.where(u < col_ratio - fl, 1.0, 0.0)
        return np.minimum(n_float, max_bl)

    n_all = np.zeros((n_rows, n_in))
    if noisy:
        # Per row: u_j (if stochastic), then the normals of that element's pulses, then j+1.
        for j in range(n_in):
            u = bank.uniform(rows) if stochastic else None
            n_col = count(ratio[:, j], u)
            n_all[:, j] = n_col
            n_int = n_col.astype(np.int64)
            fire_aggregated(tile, p, rows * n_in + j, n_int, up[:, j], bank, rows)
    else:
        u_all = bank.first_uniforms(n_in) if stochastic else None
        n_all = count(ratio, u_all)
        elements = np.arange(n_rows * n_in, dtype=np.intp)
        fire(tile, p, elements, n_all.ravel().astype(np.int64), up.ravel(), None, rows)
    return p.reshape(tile._shape), to_counts(n_all).reshape(tile._shape)


def stochastic(tile: TwinTile, x: F64, d: F64, lr: float, tick: int) -> tuple[F64, U64]:
    """Run the stochastic pulse update (update/stochastic.rs): coincidences of bit trains."""
    upd = tile.update_spec
    r, o, n_in = tile._shape
    n_rows = r * o
    p = tile._p.copy().ravel()
    counts = np.zeros((n_rows, n_in), dtype=np.int64)
    rows = np.arange(n_rows, dtype=np.intp)
    n_samples = x.shape[1]
    # Windows of samples (KERNEL_SPEC §5): in-flight moments m, v of every element.
    win = upd.aggregate_samples if aggregates(tile) else 1
    consts = window_constants(tile) if win > 1 else None
    m = p.copy()
    v = np.zeros_like(p)
    for b in range(n_samples):
        if consts is not None and b % win == 0:
            m = p.copy()
            v = np.zeros_like(p)
        _stochastic_sample(tile, x, d, lr, tick, b, p, counts, (m, v, consts))
        if consts is not None and ((b + 1) % win == 0 or b + 1 == n_samples):
            # The window's end: one normal per element with moments in flight, in column
            # order, from (tick, r, i, AGGREGATE, window).
            bank = StreamBank(tile.key, tile._row_streams(TAG_AGGREGATE, b // win, tick))
            lo = tile._lo.ravel()
            hi = tile._hi.ravel()
            for j in range(n_in):
                e = rows * n_in + j
                live = v[e] > 0.0
                p[e] = m[e]
                if live.any():
                    el = e[live]
                    xi = bank.normal(rows[live])
                    p[el] = clip(m[el] + np.sqrt(v[el]) * xi, lo[el], hi[el])
    return p.reshape(tile._shape), counts.astype(np.uint64).reshape(tile._shape)


def _stochastic_sample(
    tile: TwinTile,
    x: F64,
    d: F64,
    lr: float,
    tick: int,
    b: int,
    p: F64,
    counts: I64,
    window: tuple[F64, F64, tuple[F64, F64, F64, Bools] | None],
) -> None:
    """Sample ``b`` of :func:`stochastic` (in place on ``p`` and ``counts``)."""
    dev = tile.device
    upd = tile.update_spec
    r, o, n_in = tile._shape
    n_rows = r * o
    rows = np.arange(n_rows, dtype=np.intp)
    reps = np.arange(r, dtype=np.uint64) + np.uint64(tile.replica_offset)
    cols = np.arange(n_in, dtype=np.uint64)
    m, v, consts = window
    bl = np.zeros(r, dtype=np.int64)
    px = np.zeros((r, n_in))
    pd = np.zeros((r, o))
    for rep in range(r):
        x_m = float(np.max(np.abs(x[rep, b])))
        d_m = upd.um_grad_scale * float(np.max(np.abs(d[rep, b])))
        params = stochastic_pulse_parameters(x_m, d_m, lr, dev.dw_min, upd)
        if params is None:
            continue
        bl[rep] = params[0]
        a_scale, b_scale = params[1], params[2]
        px[rep] = _probabilities(b_scale, x[rep, b])
        pd[rep] = _probabilities(a_scale, d[rep, b])
    bl_max = int(bl.max())
    if bl_max == 0:
        return
    slot_ok = np.arange(bl_max)[None, None, :] < bl[:, None, None]
    # x train of column j: stream (tick, r, j, TRAIN_X | b << 8); bit t = u_t < px_j.
    x_streams = stream_counters(tick, reps[:, None], cols[None, :], TAG_TRAIN_X, b)
    ux = uniforms(tile.key, x_streams, bl_max).reshape(r, n_in, bl_max)
    x_bits = (ux < px[:, :, None]) & slot_ok
    # d train of row i: the first BL uniforms of stream (tick, r, i, UPDATE | b << 8),
    # which then continues with the noise normals of that row's pulses.
    bank = StreamBank(tile.key, tile._row_streams(TAG_UPDATE, b, tick))
    ud = bank.first_uniforms(bl_max).reshape(r, o, bl_max)
    d_bits = (ud < pd[:, :, None]) & slot_ok
    bank.advance(np.where(pd > 0.0, bl[:, None], 0).ravel())
    n = np.matmul(d_bits.astype(np.int64), x_bits.astype(np.int64).transpose(0, 2, 1))
    sign = -np.sign(x[:, b, None, :]) * np.sign(d[:, b, :, None])
    n_flat = n.reshape(n_rows, n_in)
    up = (sign > 0.0).reshape(n_rows, n_in)
    counts += n_flat
    if consts is not None:
        # Windows: the moments of every train at once, then the trains that leave the
        # guard band pulse by pulse in column order, each from its drawn state.
        fail = window_moments(
            tile, consts, m, v, n_flat.ravel(), up.ravel(), bl_max.bit_length()
        ).reshape(n_rows, n_in)
        lo = tile._lo.ravel()
        hi = tile._hi.ravel()
        for col in np.flatnonzero(fail.any(axis=0)):
            sel = rows[fail[:, col]]
            e = sel * n_in + col
            w = m[e].copy()
            drawn = v[e] > 0.0
            if drawn.any():
                ed = e[drawn]
                xi = bank.normal(sel[drawn])
                w[drawn] = clip(m[ed] + np.sqrt(v[ed]) * xi, lo[ed], hi[ed])
            p[e] = w
            fire(tile, p, e, n_flat[sel, col], up[sel, col], bank, sel)
            m[e] = p[e]
            v[e] = 0.0
    elif dev.dw_min_std > 0.0:
        for j in range(n_in):
            fire_aggregated(tile, p, rows * n_in + j, n_flat[:, j], up[:, j], bank, rows)
    else:
        elements = np.arange(n_rows * n_in, dtype=np.intp)
        fire(tile, p, elements, n_flat.ravel(), up.ravel(), None, rows)


def pulse_trains(tile: TwinTile, n: I64, tick: int) -> tuple[F64, U64]:
    """Fire exact signed pulse counts (update/pulse_count.rs, ``apply_pulses``' body).

    Noise normals come from the row stream (tick, r, i, UPDATE), element by element in column
    order.
    """
    r, o, n_in = tile._shape
    n_rows = r * o
    p = tile._p.copy().ravel()
    mag = np.abs(n).reshape(n_rows, n_in)
    up = (n > 0).reshape(n_rows, n_in)
    rows = np.arange(n_rows, dtype=np.intp)
    if tile.device.dw_min_std > 0.0:
        bank = StreamBank(tile.key, tile._row_streams(TAG_UPDATE, 0, tick))
        for j in range(n_in):
            fire(tile, p, rows * n_in + j, mag[:, j], up[:, j], bank, rows)
    else:
        elements = np.arange(n_rows * n_in, dtype=np.intp)
        fire(tile, p, elements, mag.ravel(), up.ravel(), None, rows)
    return p.reshape(tile._shape), mag.astype(np.uint64).reshape(tile._shape)
