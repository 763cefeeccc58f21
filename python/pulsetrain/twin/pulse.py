"""Firing pulses: mirrors ``rust/core/src/pulse.rs`` (clip, snap, ceil count, fire).

One pulse of sign ``s`` moves an element by ``step_s · q_s(w)`` plus cycle-to-cycle noise, then
clips to the element's bounds (KERNEL_SPEC §5). Pulses on one element are sequential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np

from pulsetrain.twin._common import F64, I64, U64, Bools, Index
from pulsetrain.twin.rng import StreamBank

if TYPE_CHECKING:
    from pulsetrain.twin.tile import TwinTile

__all__ = [
    "AGGREGATE_KAPPA",
    "aggregate_moments",
    "aggregates",
    "ceil_count",
    "clip",
    "fire",
    "fire_aggregated",
    "pulse",
    "replica_totals",
    "saturating_add",
    "snap",
    "to_counts",
]

_CEIL_SHRINK: Final = 1.0 - 2.0**-40
_PROB_ONE: Final = 1.0 - 4.0 * 2.0**-52
_U64_MAX_FLOAT: Final = 2.0**64
_U64_MAX: Final = 2**64 - 1

AGGREGATE_KAPPA: Final = 10.0
"""Standard deviations the aggregated result keeps from both bounds (pulse.rs, spec §5)."""


def clip(w: F64, lo: F64, hi: F64) -> F64:
    """Return ``w`` clipped to ``[lo, hi]`` element-wise (pulse.rs ``clip``)."""
    return np.minimum(np.maximum(w, lo), hi)


def snap(p: F64) -> F64:
    """Return probabilities with values within 4 eps of 1 set to exactly 1 (pulse.rs ``snap``)."""
    return np.where(p >= _PROB_ONE, 1.0, p)


def ceil_count(ratio: F64) -> F64:
    """Return ``ceil(ratio · (1 - 2**-40))``, the pulse count of a ratio (pulse.rs)."""
    return np.ceil(ratio * _CEIL_SHRINK)


def to_counts(n: F64) -> U64:
    """Convert non-negative integral floats to uint64, saturating like Rust's ``as u64``."""
    out = np.full(n.shape, np.iinfo(np.uint64).max, dtype=np.uint64)
    small = n < _U64_MAX_FLOAT
    out[small] = n[small].astype(np.uint64)
    return out


def saturating_add(a: U64, b: U64) -> U64:
    """Return ``a + b`` element-wise, saturating at 2**64 - 1 like Rust's ``saturating_add``.

    Pulse counters never wrap in either backend: a sum that overflows (it then wraps below
    ``a``) is ``2**64 - 1``.
    """
    a = np.asarray(a, dtype=np.uint64)
    total = a + np.asarray(b, dtype=np.uint64)  # wraps modulo 2**64
    return np.where(total < a, np.uint64(_U64_MAX), total).astype(np.uint64)


def replica_totals(counts: U64, replicas: int) -> U64:
    """Return the pulses per replica of per-element counts, saturating at 2**64 - 1.

    The kernels sum each row and then the rows of a replica with ``saturating_add``; for
    non-negative terms that is the exact total clipped to 2**64 - 1.
    """
    per = counts.reshape(replicas, -1)
    n = per.shape[1]
    if n == 0 or int(per.max(initial=0)) <= _U64_MAX // n:
        return np.asarray(per.sum(axis=1), dtype=np.uint64)  # cannot overflow
    exact = [min(int(v), _U64_MAX) for v in per.astype(object).sum(axis=1)]
    return np.asarray(exact, dtype=np.uint64)


def fire(
    tile: TwinTile,
    p: F64,
    elements: Index,
    n: I64,
    up: Bools,
    bank: StreamBank | None,
    streams: Index,
) -> None:
    """Fire ``n[k]`` pulses on flat element ``elements[k]`` of ``p`` (in place).

    Pulses on one element are sequential; different elements are independent as long as
    ``bank`` is None (no noise) or each listed element has its own stream ``streams[k]``.
    """
    total = int(n.max(initial=0))
    for k in range(total):
        sel = n > k
        xi = None if bank is None else bank.normal(streams[sel])
        pulse(tile, p, elements[sel], up[sel], xi)


def pulse(tile: TwinTile, p: F64, e: Index, up: Bools, xi: F64 | None) -> None:
    """Fire one pulse on each flat element ``e`` of ``p`` (in place), with noise ``xi``."""
    dev = tile.device
    w = p[e]
    lo = tile._lo.ravel()[e]
    hi = tile._hi.ravel()[e]
    q = np.empty_like(w)
    q[up] = dev.q_plus(w[up], lo[up], hi[up])
    down = ~up
    q[down] = dev.q_minus(w[down], lo[down], hi[down])
    step = np.where(up, tile._up.ravel()[e], tile._dn.ravel()[e])
    if xi is None:
        mag = step * q
    elif dev.c2c_multiplicative:
        mag = step * (q * (1.0 + dev.dw_min_std * xi))
    else:
        mag = step * (q + dev.dw_min_std * xi)
    w = np.where(up, w + mag, w - mag)
    p[e] = clip(w, lo, hi)


def aggregates(tile: TwinTile) -> bool:
    """Return True when the tile's update mode samples trains in one draw (``Pulser`` in pulse.rs).

    The mode's ``aggregate`` switch is on and it is exact for the device: an affine family and
    additive cycle noise with ``dw_min_std > 0`` (KERNEL_SPEC §5).
    """
    dev = tile.device
    return (
        tile.update_spec.aggregate
        and dev.dw_min_std > 0.0
        and not dev.c2c_multiplicative
        and dev.affine
    )


def aggregate_moments(
    tile: TwinTile, w: F64, e: Index, up: Bools, n: I64
) -> tuple[F64, F64, Bools]:
    """Return the mean, sd and the "aggregate" mask of trains of ``n`` pulses from ``w``.

    Mirrors ``Pulser::aggregate_moments``: with the affine map ``w -> w*r + c``,
    ``m <- m*r + c`` and ``v <- v*r*r + 1`` n times from ``(w, 0)``, ``sd = (step*σ)*sqrt(v)``;
    a train aggregates when ``n >= 2``, ``0 <= β < 1`` and ``min(w, m) - κ·sd >= lo`` and
    ``max(w, m) + κ·sd <= hi`` with κ = :data:`AGGREGATE_KAPPA` (flat elements ``e``).
    """
    dev = tile.device
    lo = tile._lo.ravel()[e]
    hi = tile._hi.ravel()[e]
    step = np.where(up, tile._up.ravel()[e], tile._dn.ravel()[e])
    r, c, ok = dev.affine_map(lo, hi, step, up)
    r2 = r * r
    mean = w.copy()
    v = np.zeros_like(w)
    with np.errstate(all="ignore"):
        for k in range(int(n.max(initial=0))):
            sel = n > k
            mean[sel] = mean[sel] * r[sel] + c[sel]
            v[sel] = v[sel] * r2[sel] + 1.0
        sd = (step * dev.dw_min_std) * np.sqrt(v)
        low = mean < w
        near = np.where(low, mean, w)
        far = np.where(low, w, mean)
        band = AGGREGATE_KAPPA * sd
        ok = ok & (n >= 2) & (near - band >= lo) & (far + band <= hi)
    return mean, sd, ok


def fire_aggregated(
    tile: TwinTile,
    p: F64,
    elements: Index,
    n: I64,
    up: Bools,
    bank: StreamBank | None,
    streams: Index,
) -> None:
    """:func:`fire` with the aggregated sampler where it applies (spec §5).

    A train that aggregates (:func:`aggregate_moments`) draws one normal ξ from its stream and
    ends at ``clip(mean + sd*ξ, lo, hi)``; the others are fired pulse by pulse. Each listed
    element must have its own stream, as for :func:`fire` with noise.
    """
    if bank is None or not aggregates(tile):
        fire(tile, p, elements, n, up, bank, streams)
        return
    mean, sd, ok = aggregate_moments(tile, p[elements], elements, up, n)
    if ok.any():
        e = elements[ok]
        xi = bank.normal(streams[ok])
        p[e] = clip(mean[ok] + sd[ok] * xi, tile._lo.ravel()[e], tile._hi.ravel()[e])
    fire(tile, p, elements, np.where(ok, 0, n), up, bank, streams)


WINDOW_MIN_BETA: Final = 2.0**-26
"""Smallest β = 1 − r the windowed sampler aggregates (``pulse.rs::WINDOW_MIN_BETA``)."""


def window_constants(tile: TwinTile) -> tuple[F64, F64, F64, Bools]:
    """Return the windowed sampler's per-element constants, ``pulse.rs::WindowScratch::load``.

    Shapes ``(2, elements)``, direction 0 down and 1 up: ``r``; the fixed point ``b`` (the
    bound in the direction; ideal: the signed step ``c``); ``g = (step·σ)²/((1 − r)(1 + r))``
    (ideal: ``(step·σ)²``); and ``ok``, where the element's map may be aggregated (affine with
    ``2⁻²⁶ <= β < 1``; ideal: always). KERNEL_SPEC §5, "Windows of samples".
    """
    dev = tile.device
    lo = tile._lo.ravel()
    hi = tile._hi.ravel()
    r = np.empty((2, lo.size))
    b = np.empty((2, lo.size))
    g = np.empty((2, lo.size))
    ok = np.empty((2, lo.size), dtype=bool)
    with np.errstate(all="ignore"):
        for d, step in ((0, tile._dn.ravel()), (1, tile._up.ravel())):
            up = np.full(lo.size, d == 1)
            rr, cc, valid = dev.affine_map(lo, hi, step, up)
            s2 = (step * dev.dw_min_std) * (step * dev.dw_min_std)
            r[d] = rr
            if dev.family == "ideal":
                b[d], g[d], ok[d] = cc, s2, True
            else:
                b[d] = hi if d == 1 else lo
                g[d] = s2 / ((1.0 - rr) * (1.0 + rr))
                ok[d] = valid & (1.0 - rr >= WINDOW_MIN_BETA)
    return r, b, g, ok


def window_moments(
    tile: TwinTile,
    consts: tuple[F64, F64, F64, Bools],
    m: F64,
    v: F64,
    n: I64,
    up: Bools,
    bits: int,
) -> Bools:
    """Advance the in-flight moments ``m``, ``v`` (flat, in place) by one sample's trains.

    Mirrors ``pulse.rs::window_moments``: ``rⁿ`` by binary powering (``rn *= p`` where bit k of
    n is set, ``p *= p``), then ``m1 = b + (m − b)·rⁿ``, ``v1 = g + (v − g)·(rⁿ)²`` (ideal:
    ``m + n·c``, ``v + n·g``); a train with pulses takes (m1, v1) when its map may be aggregated
    and, with ``dl = min(m, m1) − lo``, ``dh = hi − max(m, m1)`` and ``band2 = κ²·max(v, v1)``,
    ``dl >= 0``, ``dh >= 0``, ``dl·dl >= band2`` and ``dh·dh >= band2``.
    Returns the mask of trains with pulses that do not (fired pulse by pulse by the caller).
    """
    r, b, g, ok = consts
    lo = tile._lo.ravel()
    hi = tile._hi.ravel()
    d = up.astype(np.intp)
    cols = np.arange(m.size)
    bb, gg, okd = b[d, cols], g[d, cols], ok[d, cols]
    with np.errstate(all="ignore"):
        if tile.device.family == "ideal":
            k = n.astype(np.float64)
            m1 = m + k * bb
            v1 = v + k * gg
        else:
            pw = r[d, cols]
            rn = np.ones_like(m)
            for bit in range(bits):
                rn = np.where((n >> bit) & 1 != 0, rn * pw, rn)
                pw = pw * pw
            m1 = bb + (m - bb) * rn
            v1 = gg + (v - gg) * (rn * rn)
        low = m1 < m
        near = np.where(low, m1, m)
        far = np.where(low, m, m1)
        vmax = np.where(v1 > v, v1, v)
        band2 = (AGGREGATE_KAPPA * AGGREGATE_KAPPA) * vmax
        dl = near - lo
        dh = hi - far
        good = okd & (dl >= 0.0) & (dh >= 0.0) & (dl * dl >= band2) & (dh * dh >= band2)
    active = n > 0
    take = active & good
    m[take] = m1[take]
    v[take] = v1[take]
    return active & ~good
