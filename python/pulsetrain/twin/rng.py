"""Philox4x32-10 streams, the ziggurat and the stream layout: mirrors ``rust/core/src/rng.rs``.

Random streams (``rng_scheme`` 3; KERNEL_SPEC §3)
-------------------------------------------------
All randomness is Philox4x32-10 (Random123: four 32-bit counter words, two 32-bit key words, ten
rounds). A *stream* is addressed by four 64-bit words ::

    a = [first_block, tick, (replica << 32) | row, tag | (sample << 8)]

(``first_block`` is 0 for every kernel stream). Its Philox key is the hash :func:`stream_keys`
of the tile's 128-bit key, the tick and the tag word: with ``lo``/``hi`` the 32-bit halves,
``h = philox4x32_10([lo k1, hi k1, lo tick, hi tick], [lo k0, hi k0])`` and the key is the first
two words of ``philox4x32_10([lo a3, hi a3, h2, h3], [h0, h1])``. Block ``b`` of the stream
encrypts the counter ``[lo(a0 + b), hi(a0 + b), row, replica]`` and its four 32-bit words are
used in order. ``replica`` is the *global* replica index (``replica_offset`` + local index) and
``tick`` the tile's call counter (0 for construction, then the tick of each call).

==============  ====  ==================  ======================================================
tag             code  row               what is drawn, in order
==============  ====  ==================  ======================================================
CONSTRUCTION    0     row ``i``           per column ``j``: 5 normals ξg, ξr, ξmax, ξmin, ξref
UPDATE          1     row ``i``           expected+noise: one normal per column; pulse count:
                                          per column a uniform (stochastic rounding) then one
                                          normal per pulse (if ``dw_min_std > 0``); stochastic
                                          pulses, sample ``b``: the BL-slot d train of row ``i``,
                                          then one normal per pulse
TRAIN_X         2     column ``j``        stochastic pulses, sample ``b``: the x train (BL bits)
==============  ====  ==================  ======================================================

(Tags READ=3, FORWARD=4, BACKWARD=5 and CALIBRATION=6 serve reads, the periphery and
zero-shifting.) A uniform is ``word * 2**-32`` of the next 32-bit word (exact in float64). A
normal is the 256-layer ziggurat of :func:`ziggurat_normal` on one 32-bit word, whose bits 0–7
pick the layer, bit 8 the sign and bits 9–31 the 23-bit magnitude; it is accepted about 99% of
the time, otherwise the exact wedge or tail test draws uniforms from the same stream and may
start over with a new word. A 64-bit raw draw (zero-shift directions) is two words, the first
the low half.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from pulsetrain.errors import ShapeError
from pulsetrain.streams import (  # the one table of stream tags (re-exported for the twin's users)
    TAG_AGGREGATE,
    TAG_BACKWARD,
    TAG_CALIBRATION,
    TAG_CONSTRUCTION,
    TAG_FORWARD,
    TAG_PROBLEM,
    TAG_READ,
    TAG_TRAIN_X,
    TAG_UPDATE,
)
from pulsetrain.twin._common import F64, I64, U64, Index
from pulsetrain.twin._common import message as _message

__all__ = [
    "RNG_SCHEME",
    "TAG_AGGREGATE",
    "TAG_BACKWARD",
    "TAG_CALIBRATION",
    "TAG_CONSTRUCTION",
    "TAG_FORWARD",
    "TAG_READ",
    "TAG_TRAIN_X",
    "TAG_UPDATE",
    "Stream",
    "StreamBank",
    "normals",
    "philox4x32_10",
    "philox_raw",
    "replica_normals",
    "replica_uniforms",
    "stream_counters",
    "stream_keys",
    "tile_key",
    "uniforms",
    "ziggurat_normal",
]

RNG_SCHEME: Final = 3
"""The stream layout implemented here (``_core.rng_scheme``)."""


# Philox4x32 constants (Salmon et al. 2011; Random123 philox.h).
_PHILOX_M0: Final = np.uint64(0xD2511F53)
_PHILOX_M1: Final = np.uint64(0xCD9E8D57)
_PHILOX_W0: Final = np.uint64(0x9E3779B9)
_PHILOX_W1: Final = np.uint64(0xBB67AE85)
_MASK32: Final = np.uint64(0xFFFFFFFF)
_SHIFT32: Final = np.uint64(32)
_UNIFORM_SCALE: Final = 2.0**-32


# --------------------------------------------------------------------------------------------
# Philox4x32-10
# --------------------------------------------------------------------------------------------


def philox4x32_10(counters: ArrayLike, key: ArrayLike) -> U64:
    """Encrypt counters with Philox4x32-10, vectorised over rows.

    Every product ``M * c`` of two 32-bit words is below ``2**64``, so uint64 arithmetic gives
    its high and low halves exactly (the ``mulhi`` of Random123).

    Parameters
    ----------
    counters : array_like of int, shape (N, 4)
        One 128-bit counter per row as four 32-bit words, word 0 first.
    key : array_like of int, shape (2,) or (N, 2)
        The 64-bit key as two 32-bit words, one for all rows or one per row.

    Returns
    -------
    numpy.ndarray of uint64, shape (N, 4)
        The four 32-bit output words of each block (held in uint64).

    Raises
    ------
    ShapeError
        If ``counters`` is not (N, 4) or ``key`` is not (2,) or (N, 2).

    Examples
    --------
    >>> out = philox4x32_10([[0, 0, 0, 0]], [0, 0])  # Random123 known-answer vector
    >>> [hex(int(w)) for w in out[0]]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    ctr = np.asarray(counters, dtype=np.uint32).astype(np.uint64)
    k = np.asarray(key, dtype=np.uint32).astype(np.uint64)
    if ctr.ndim != 2 or ctr.shape[1] != 4:
        raise ShapeError(_message("counters", "an array of shape (N, 4)", ctr.shape, "philox"))
    if k.shape != (2,) and k.shape != (ctr.shape[0], 2):
        raise ShapeError(_message("key", "an array of shape (2,) or (N, 2)", k.shape, "philox"))
    c0, c1, c2, c3 = (ctr[:, w] for w in range(4))
    k0, k1 = k[..., 0], k[..., 1]
    for round_index in range(10):
        if round_index > 0:
            k0 = (k0 + _PHILOX_W0) & _MASK32
            k1 = (k1 + _PHILOX_W1) & _MASK32
        p0 = c0 * _PHILOX_M0
        p1 = c2 * _PHILOX_M1
        c0, c1, c2, c3 = (
            (p1 >> _SHIFT32) ^ c1 ^ k0,
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ c3 ^ k1,
            p0 & _MASK32,
        )
    return np.stack([c0, c1, c2, c3], axis=1)


def _halves(words: U64) -> tuple[U64, U64]:
    return words & _MASK32, words >> _SHIFT32


def stream_keys(key: ArrayLike, counters: ArrayLike) -> U64:
    """Return the Philox4x32 key of each stream (spec §3): a hash of key, tick and tag word.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The tile's 128-bit key ``[k0, k1]``.
    counters : array_like of uint64, shape (N, 4) or (4,)
        The stream addresses (:func:`stream_counters`); words 1 (tick) and 3 (tag word) count.

    Returns
    -------
    numpy.ndarray of uint64, shape (N, 2)
        Two 32-bit key words per stream: the first two words of
        ``philox4x32_10([lo a3, hi a3, h2, h3], [h0, h1])`` with
        ``h = philox4x32_10([lo k1, hi k1, lo a1, hi a1], [lo k0, hi k0])``.

    Examples
    --------
    >>> import numpy as np
    >>> stream_keys(np.array([1, 2], dtype=np.uint64), [0, 3, 5, 1]).shape
    (1, 2)
    """
    k = _as_key(key)
    addr = _as_counters(counters)
    k0_lo, k0_hi = _halves(k[0:1])
    k1_lo, k1_hi = _halves(k[1:2])
    tick_lo, tick_hi = _halves(addr[:, 1])
    n = addr.shape[0]
    first = np.stack(
        [np.broadcast_to(k1_lo, (n,)), np.broadcast_to(k1_hi, (n,)), tick_lo, tick_hi], axis=1
    )
    h = philox4x32_10(first, np.concatenate([k0_lo, k0_hi]))
    tag_lo, tag_hi = _halves(addr[:, 3])
    second = np.stack([tag_lo, tag_hi, h[:, 2], h[:, 3]], axis=1)
    return philox4x32_10(second, h[:, :2])[:, :2]


def _block_words(keys: U64, counters: U64, first_block: int, n_blocks: int) -> U64:
    """Return words ``4*first_block ..`` of each stream: shape (N, 4*n_blocks), in uint64."""
    n = counters.shape[0]
    offsets = np.arange(first_block, first_block + n_blocks, dtype=np.uint64)
    with np.errstate(over="ignore"):
        blocks = counters[:, None, 0] + offsets[None, :]  # mod 2**64
    ctr = np.empty((n, n_blocks, 4), dtype=np.uint64)
    ctr[:, :, 0], ctr[:, :, 1] = _halves(blocks)
    row, replica = _halves(counters[:, 2])
    ctr[:, :, 2] = row[:, None]
    ctr[:, :, 3] = replica[:, None]
    per_block = np.repeat(keys, n_blocks, axis=0)
    return philox4x32_10(ctr.reshape(n * n_blocks, 4), per_block).reshape(n, 4 * n_blocks)


def _as_counters(counters: ArrayLike) -> U64:
    ctr = np.asarray(counters, dtype=np.uint64)
    if ctr.ndim == 1:
        ctr = ctr.reshape(1, -1)
    if ctr.ndim != 2 or ctr.shape[1] != 4:
        raise ShapeError(
            _message("counters", "an array of shape (4,) or (N, 4)", ctr.shape, "Stream")
        )
    return np.ascontiguousarray(ctr)


def _as_key(key: ArrayLike) -> U64:
    k = np.asarray(key, dtype=np.uint64)
    if k.shape != (2,):
        raise ShapeError(_message("key", "an array of shape (2,)", k.shape, "Stream"))
    return k


def philox_raw(key: ArrayLike, counters: ArrayLike, n: int) -> npt.NDArray[np.uint32]:
    """Return the first ``n`` raw 32-bit words of many streams at once.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The tile's 128-bit key.
    counters : array_like of uint64, shape (N, 4) or (4,)
        The stream addresses (:func:`stream_counters`).
    n : int
        Number of words per stream, at least 0.

    Returns
    -------
    numpy.ndarray of uint32, shape (N, n)
        Row ``k`` holds the words of stream ``k`` in order (``_core.philox_raw``).

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([7, 9], dtype=np.uint64)
    >>> words = philox_raw(key, [0, 3, 5, 1], 6)
    >>> words.shape, words.dtype.name
    ((1, 6), 'uint32')
    """
    ctr = _as_counters(counters)
    k = _as_key(key)
    n_blocks = -(-n // 4)
    words = _block_words(stream_keys(k, ctr), ctr, 0, n_blocks)[:, :n]
    return words.astype(np.uint32)


def _to_uniform(words: ArrayLike) -> F64:
    # A 32-bit word times 2**-32 is exact in float64.
    return np.asarray(words).astype(np.float64) * _UNIFORM_SCALE


ZIGGURAT_R: Final = 3.6541528853610088
ZIGGURAT_INV_R: Final = 1.0 / ZIGGURAT_R
ZIGGURAT_V: Final = 4.92867323399e-3


def _build_ziggurat() -> tuple[list[int], list[float], list[float]]:
    """Build the 256-layer tables exactly as the kernel does (libm exp/log, same order)."""
    m = 8388608.0  # 2**23
    k = [0] * 256
    w = [0.0] * 256
    f = [0.0] * 256
    dn = ZIGGURAT_R
    tn = dn
    q = ZIGGURAT_V / math.exp(-0.5 * dn * dn)
    k[0] = int((dn / q) * m)
    k[1] = 0
    w[0] = q / m
    w[255] = dn / m
    f[0] = 1.0
    f[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(ZIGGURAT_V / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = int((dn / tn) * m)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m
    return k, w, f


_ZK, _ZW, _ZF = _build_ziggurat()
_ZK_ARRAY: Final = np.array(_ZK, dtype=np.uint64)
_ZW_ARRAY: Final = np.array(_ZW, dtype=np.float64)


def ziggurat_normal(next_word: Any, uniform: Any) -> float:
    """Draw one standard normal with the kernel's ziggurat from a sequential stream.

    Parameters
    ----------
    next_word : callable
        Returns the stream's next 32-bit word as an int.
    uniform : callable
        Returns the stream's next uniform ``word * 2**-32``.

    Returns
    -------
    float
        The normal.

    Examples
    --------
    >>> import numpy as np
    >>> s = Stream(np.array([1, 2], dtype=np.uint64), [0, 0, 0, 0])
    >>> isinstance(ziggurat_normal(s.next_u32, s.uniform), float)
    True
    """
    while True:
        r = int(next_word())
        idx = r & 0xFF
        neg = (r >> 8) & 1 == 1
        rabs = r >> 9
        x = float(rabs) * _ZW[idx]
        if rabs < _ZK[idx]:
            return -x if neg else x
        if idx == 0:
            while True:
                xx = -ZIGGURAT_INV_R * math.log1p(-float(uniform()))
                yy = -math.log1p(-float(uniform()))
                if yy + yy > xx * xx:
                    v = ZIGGURAT_R + xx
                    return -v if neg else v
        if (_ZF[idx - 1] - _ZF[idx]) * float(uniform()) + _ZF[idx] < math.exp(-0.5 * x * x):
            return -x if neg else x


def uniforms(key: ArrayLike, counters: ArrayLike, n: int) -> F64:
    """Return the first ``n`` uniforms of many streams at once.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    counters : array_like of uint64, shape (N, 4) or (4,)
        The stream counters.
    n : int
        Number of uniforms per stream, at least 0.

    Returns
    -------
    numpy.ndarray of float64, shape (N, n)
        Row ``k`` holds ``word * 2**-32`` of the first ``n`` words of stream ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([7, 9], dtype=np.uint64)
    >>> words = philox_raw(key, [0, 1, 2, 3], 5)
    >>> bool((uniforms(key, [0, 1, 2, 3], 5) == words * 2.0**-32).all())
    True
    """
    return _to_uniform(philox_raw(key, counters, n))


def normals(key: ArrayLike, counters: ArrayLike, n: int) -> F64:
    """Return the first ``n`` ziggurat normals (:func:`ziggurat_normal`) of many streams.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    counters : array_like of uint64, shape (N, 4) or (4,)
        The stream counters.
    n : int
        Number of normals per stream, at least 0.

    Returns
    -------
    numpy.ndarray of float64, shape (N, n)
        Normal ``t`` of each stream, drawn in order.

    Examples
    --------
    >>> import numpy as np
    >>> z = normals(np.array([1, 2], dtype=np.uint64), [0, 0, 0, 0], 3)
    >>> z.shape
    (1, 3)
    """
    bank = StreamBank(key, counters)
    streams = np.arange(bank.n_streams, dtype=np.intp)
    out = np.empty((bank.n_streams, n))
    for t in range(n):
        out[:, t] = bank.normal(streams)
    return out


def stream_counters(
    tick: int, replicas: ArrayLike, rows: ArrayLike, tag: int, sample: int = 0
) -> U64:
    """Build stream counters ``[0, tick, (replica << 32) | row, tag | (sample << 8)]``.

    Parameters
    ----------
    tick : int
        The tile tick (0 for construction), at least 0.
    replicas, rows : array_like of int
        Global replica indices and row (or column) indices, broadcast against each other.
    tag : int
        Stream tag, one of the ``TAG_*`` constants.
    sample : int
        Sample index within the batch, at least 0 (0 except for stochastic-pulse trains).

    Returns
    -------
    numpy.ndarray of uint64, shape (N, 4)
        One counter per broadcast element, flattened in C order.

    Examples
    --------
    >>> stream_counters(3, [1], [2], TAG_UPDATE, sample=4).tolist()
    [[0, 3, 4294967298, 1025]]
    """
    r, i = np.broadcast_arrays(
        np.asarray(replicas, dtype=np.uint64), np.asarray(rows, dtype=np.uint64)
    )
    r = r.ravel()
    i = i.ravel()
    out = np.zeros((r.size, 4), dtype=np.uint64)
    out[:, 1] = np.uint64(tick)
    out[:, 2] = (r << _SHIFT32) | i
    out[:, 3] = np.uint64(tag | (sample << 8))
    return out


def tile_key(root: np.random.SeedSequence, tile_index: int) -> U64:
    """Return the 128-bit Philox key of tile ``tile_index`` under ``root`` (spec §3).

    Parameters
    ----------
    root : numpy.random.SeedSequence
        The run's root seed sequence.
    tile_index : int
        Index of the tile, at least 0.

    Returns
    -------
    numpy.ndarray of uint64, shape (2,)
        ``SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 0x7117E, tile_index))
        .generate_state(2, np.uint64)``.

    Examples
    --------
    >>> import numpy as np
    >>> tile_key(np.random.SeedSequence(1234), 0).shape
    (2,)
    """
    ss = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, 0x7117E, tile_index))
    return np.asarray(ss.generate_state(2, np.uint64), dtype=np.uint64)


class StreamBank:
    """Many independent streams, each read sequentially at its own position.

    Words are generated lazily in blocks for all streams at once; ``position[k]`` is the number
    of words stream ``k`` has consumed. The draw methods take the indices of the streams that
    draw; each index may appear at most once per call.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    counters : array_like of uint64, shape (N, 4) or (4,)
        One counter per stream.

    Examples
    --------
    >>> import numpy as np
    >>> bank = StreamBank(np.array([1, 2], dtype=np.uint64), [[0, 0, 0, 0], [0, 0, 1, 0]])
    >>> first = bank.uniform(np.array([0, 1]))
    >>> second = bank.uniform(np.array([1]))
    >>> bank.position.tolist()
    [1, 2]
    """

    def __init__(self, key: ArrayLike, counters: ArrayLike) -> None:
        self.key: U64 = _as_key(key)
        self.counters: U64 = _as_counters(counters)
        self._keys: U64 = stream_keys(self.key, self.counters)
        self.position: I64 = np.zeros(self.counters.shape[0], dtype=np.int64)
        self._words: U64 = np.empty((self.counters.shape[0], 0), dtype=np.uint64)

    @property
    def n_streams(self) -> int:
        """Number of streams."""
        return int(self.counters.shape[0])

    def _reserve(self, n_words: int) -> None:
        have = self._words.shape[1]
        if n_words <= have:
            return
        have_blocks = have // 4
        want_blocks = max(-(-n_words // 4), 2 * have_blocks, 4)
        new = _block_words(self._keys, self.counters, have_blocks, want_blocks - have_blocks)
        self._words = np.concatenate([self._words, new], axis=1)

    def first_uniforms(self, n: int) -> F64:
        """Return uniforms ``0 .. n-1`` of every stream without consuming them.

        Parameters
        ----------
        n : int
            Number of uniforms, at least 0.

        Returns
        -------
        numpy.ndarray of float64, shape (N, n)
            The first ``n`` uniforms of each stream.
        """
        self._reserve(n)
        return _to_uniform(self._words[:, :n])

    def advance(self, counts: ArrayLike) -> None:
        """Mark ``counts[k]`` further words of stream ``k`` as consumed.

        Parameters
        ----------
        counts : array_like of int, shape (N,)
            Words to skip per stream, at least 0.
        """
        self.position += np.asarray(counts, dtype=np.int64)

    def next_u32(self, streams: Index) -> U64:
        """Return the next raw 32-bit word of each listed stream and advance them.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of uint64
            One word (below ``2**32``) per listed stream.
        """
        pos = self.position[streams]
        if pos.size:
            self._reserve(int(pos.max()) + 1)
        words = self._words[streams, pos]
        self.position[streams] = pos + 1
        return words

    def next_u64(self, streams: Index) -> U64:
        """Return two words of each listed stream as one 64-bit word, the first as low half.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of uint64
            One word per listed stream.
        """
        low = self.next_u32(streams)
        return low | (self.next_u32(streams) << _SHIFT32)

    def uniform(self, streams: Index) -> F64:
        """Return the next uniform, ``next_u32 * 2**-32``, of each listed stream.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of float64
            One uniform in [0, 1) per listed stream.
        """
        return _to_uniform(self.next_u32(streams))

    def normal(self, streams: Index) -> F64:
        """Return the next ziggurat normal of each listed stream.

        The one-word fast path is vectorised over the streams; the rare wedge and tail cases
        continue each such stream on its own, exactly as :func:`ziggurat_normal`.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of float64
            One standard normal per listed stream.
        """
        r = self.next_u32(streams)
        idx = (r & np.uint64(0xFF)).astype(np.intp)
        neg = ((r >> np.uint64(8)) & np.uint64(1)) == 1
        rabs = r >> np.uint64(9)
        x = rabs.astype(np.float64) * _ZW_ARRAY[idx]
        out = np.where(neg, -x, x)
        slow = np.flatnonzero(rabs >= _ZK_ARRAY[idx])
        for k in slow:
            one = np.array([streams[k]], dtype=np.intp)
            out[k] = self._finish_normal(one, int(r[k]))
        return out

    def _finish_normal(self, one: Index, first_word: int) -> float:
        """Continue one stream's ziggurat draw whose first word failed the fast test."""
        words = iter([first_word])

        def next_word() -> int:
            w = next(words, None)
            return int(self.next_u32(one)[0]) if w is None else w

        return ziggurat_normal(next_word, lambda: float(self.uniform(one)[0]))


class Stream:
    """One stream read sequentially (spec §3): ``next_u32``, ``next_u64``, ``uniform``, ``normal``.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The tile's 128-bit key.
    counter : array_like of uint64, shape (4,)
        The stream address (:func:`stream_counters`).

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([5, 6], dtype=np.uint64)
    >>> s = Stream(key, [0, 1, 2, 3])
    >>> s.next_u32() == int(philox_raw(key, [0, 1, 2, 3], 1)[0, 0])
    True
    """

    def __init__(self, key: ArrayLike, counter: ArrayLike) -> None:
        ctr = _as_counters(counter)
        if ctr.shape[0] != 1:
            raise ShapeError(_message("counter", "an array of shape (4,)", ctr.shape, "Stream"))
        self._bank = StreamBank(key, ctr)
        self._only: Index = np.zeros(1, dtype=np.intp)

    def next_u32(self) -> int:
        """Return the next raw 32-bit word."""
        return int(self._bank.next_u32(self._only)[0])

    def next_u64(self) -> int:
        """Return the next two words as one 64-bit word, the first as the low half."""
        return int(self._bank.next_u64(self._only)[0])

    def uniform(self) -> float:
        """Return the next uniform ``next_u32 * 2**-32`` in [0, 1)."""
        return float(self._bank.uniform(self._only)[0])

    def normal(self) -> float:
        """Return the next standard normal (the ziggurat of :func:`ziggurat_normal`)."""
        return float(self._bank.normal(self._only)[0])


def replica_normals(
    key: ArrayLike, tick: int, replica_offset: int, replicas: int, n: int, tag: int = TAG_PROBLEM
) -> F64:
    """Return standard normals of R replicas, as ``_core.replica_normals`` (rng.rs).

    Row ``r`` holds the first ``n`` normals of the stream
    ``(key, tick, replica_offset + r, row 0, tag)``.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    tick : int
        The stream's tick, at least 0.
    replica_offset : int
        Global index of replica 0, at least 0.
    replicas : int
        Number of replicas R, at least 1.
    n : int
        Values per replica, at least 0.
    tag : int, optional
        Stream tag, in [0, 255]. Default :data:`~pulsetrain.streams.TAG_PROBLEM`.

    Returns
    -------
    numpy.ndarray of float64, shape (R, n)
        The normals.
    """
    reps = np.arange(replicas, dtype=np.uint64) + np.uint64(replica_offset)
    return normals(key, stream_counters(tick, reps, 0, tag), n).reshape(replicas, n)


def replica_uniforms(
    key: ArrayLike, tick: int, replica_offset: int, replicas: int, n: int, tag: int = TAG_PROBLEM
) -> F64:
    """Return uniforms in [0, 1) of R replicas, laid out like :func:`replica_normals` (rng.rs).

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    tick : int
        The stream's tick, at least 0.
    replica_offset : int
        Global index of replica 0, at least 0.
    replicas : int
        Number of replicas R, at least 1.
    n : int
        Values per replica, at least 0.
    tag : int, optional
        Stream tag, in [0, 255]. Default :data:`~pulsetrain.streams.TAG_PROBLEM`.

    Returns
    -------
    numpy.ndarray of float64, shape (R, n)
        The uniforms.
    """
    reps = np.arange(replicas, dtype=np.uint64) + np.uint64(replica_offset)
    return uniforms(key, stream_counters(tick, reps, 0, tag), n).reshape(replicas, n)
