"""Philox streams, the ziggurat and the stream layout: mirrors ``rust/core/src/rng.rs``.

Random streams
--------------
All randomness is Philox4x64-10, identical to :class:`numpy.random.Philox`. A *stream* is the
sequence of 64-bit words that ``np.random.Philox(key=key, counter=c).random_raw()`` returns, with
the 256-bit counter (four little-endian 64-bit words)::

    c = [0, tick, (replica << 32) | row, tag | (sample << 8)]

NumPy adds one to the counter (word 0 first, carrying into the higher words) *before* it encrypts
a block, so the first block of a stream encrypts ``c + 1`` and block ``b`` encrypts ``c + b + 1``;
the four output words of a block are used in order. ``key`` is the tile's 128-bit key,
``replica`` the *global* replica index (``replica_offset`` + local index) and ``tick`` the tile's
call counter (0 for construction, then the tick of each ``update``/``apply_delta`` call).

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
zero-shifting.) A uniform is ``(word >> 11) * 2**-53``. A normal (``rng_scheme`` 2) is the
256-layer ziggurat of :func:`ziggurat_normal`: one word, whose bits 0–7 pick the layer, bit 8
the sign and bits 11–63 the magnitude, is accepted about 99% of the time; otherwise the wedge or
tail test draws uniforms from the same stream and may start over with a new word.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike

from pulsetrain.errors import ShapeError
from pulsetrain.streams import (  # the one table of stream tags (re-exported for the twin's users)
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
    "philox4x64_10",
    "philox_raw",
    "replica_normals",
    "replica_uniforms",
    "stream_counters",
    "tile_key",
    "uniforms",
    "ziggurat_normal",
]

RNG_SCHEME: Final = 2
"""The stream layout implemented here (``_core.rng_scheme``)."""


# Philox4x64 constants (Salmon et al. 2011; numpy/random/src/philox/philox.h).
_PHILOX_M0: Final = 0xD2E7470EE14C6C93
_PHILOX_M1: Final = 0xCA5A826395121157
_PHILOX_W0: Final = 0x9E3779B97F4A7C15
_PHILOX_W1: Final = 0xBB67AE8584CAA73B
_MASK32: Final = np.uint64(0xFFFFFFFF)
_MASK64: Final = (1 << 64) - 1
_SHIFT32: Final = np.uint64(32)
_UNIFORM_SCALE: Final = 2.0**-53


# --------------------------------------------------------------------------------------------
# Philox4x64-10
# --------------------------------------------------------------------------------------------


def _mulhilo(a: U64, multiplier: int) -> tuple[U64, U64]:
    """Return the high and low 64-bit words of ``a * multiplier`` (a 128-bit product).

    The product is assembled from 32-bit limbs so that every partial product and sum fits in
    uint64 (``cross`` is at most ``2**64 - 1``).
    """
    a_lo = a & _MASK32
    a_hi = a >> _SHIFT32
    m_lo = np.uint64(multiplier & 0xFFFFFFFF)
    m_hi = np.uint64(multiplier >> 32)
    lo_lo = a_lo * m_lo
    hi_lo = a_hi * m_lo
    lo_hi = a_lo * m_hi
    hi_hi = a_hi * m_hi
    cross = (lo_lo >> _SHIFT32) + (hi_lo & _MASK32) + lo_hi
    high = (hi_lo >> _SHIFT32) + (cross >> _SHIFT32) + hi_hi
    low = (cross << _SHIFT32) | (lo_lo & _MASK32)
    return high, low


def philox4x64_10(counters: ArrayLike, key: ArrayLike) -> U64:
    """Encrypt counters with Philox4x64-10, vectorised over rows.

    Parameters
    ----------
    counters : array_like of uint64, shape (N, 4)
        One 256-bit counter per row, word 0 first. This is the counter that is encrypted; NumPy's
        bit generator encrypts its stored counter *after* incrementing it.
    key : array_like of uint64, shape (2,)
        The 128-bit key.

    Returns
    -------
    numpy.ndarray of uint64, shape (N, 4)
        The four output words of each block, in NumPy's ``random_raw`` order.

    Raises
    ------
    ShapeError
        If ``counters`` is not (N, 4) or ``key`` is not (2,).

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([1, 2], dtype=np.uint64)
    >>> block = philox4x64_10(np.array([[1, 0, 0, 0]], dtype=np.uint64), key)
    >>> bg = np.random.Philox(key=key, counter=[0, 0, 0, 0])
    >>> bool((block[0] == bg.random_raw(4)).all())
    True
    """
    ctr = np.asarray(counters, dtype=np.uint64)
    k = np.asarray(key, dtype=np.uint64)
    if ctr.ndim != 2 or ctr.shape[1] != 4:
        raise ShapeError(_message("counters", "an array of shape (N, 4)", ctr.shape, "philox"))
    if k.shape != (2,):
        raise ShapeError(_message("key", "an array of shape (2,)", k.shape, "philox"))
    c0, c1, c2, c3 = (ctr[:, w].copy() for w in range(4))
    k0, k1 = int(k[0]), int(k[1])
    for round_index in range(10):
        if round_index > 0:
            k0 = (k0 + _PHILOX_W0) & _MASK64
            k1 = (k1 + _PHILOX_W1) & _MASK64
        hi0, lo0 = _mulhilo(c0, _PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, _PHILOX_M1)
        c0, c1, c2, c3 = (
            hi1 ^ c1 ^ np.uint64(k0),
            lo1,
            hi0 ^ c3 ^ np.uint64(k1),
            lo0,
        )
    return np.stack([c0, c1, c2, c3], axis=1)


def _counters_plus(base: U64, increments: U64) -> U64:
    """Return ``base[n] + increments[m]`` as 256-bit sums, shape (N, M, 4), carrying upwards."""
    n, m = base.shape[0], increments.shape[0]
    out = np.empty((n, m, 4), dtype=np.uint64)
    word = base[:, None, 0] + increments[None, :]
    carry = word < increments[None, :]
    out[:, :, 0] = word
    for w in range(1, 4):
        word = base[:, None, w] + carry.astype(np.uint64)
        out[:, :, w] = word
        carry = carry & (word == 0)
    return out


def _block_words(key: U64, counters: U64, first_block: int, n_blocks: int) -> U64:
    """Return words ``4*first_block ..`` of each stream: shape (N, 4*n_blocks)."""
    n = counters.shape[0]
    increments = np.arange(first_block + 1, first_block + n_blocks + 1, dtype=np.uint64)
    blocks = _counters_plus(counters, increments).reshape(n * n_blocks, 4)
    return philox4x64_10(blocks, key).reshape(n, 4 * n_blocks)


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


def philox_raw(key: ArrayLike, counters: ArrayLike, n: int) -> U64:
    """Return the first ``n`` raw words of many streams at once.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    counters : array_like of uint64, shape (N, 4) or (4,)
        The stream counters as passed to ``np.random.Philox(counter=...)``.
    n : int
        Number of words per stream, at least 0.

    Returns
    -------
    numpy.ndarray of uint64, shape (N, n)
        Row ``k`` equals ``np.random.Philox(key=key, counter=counters[k]).random_raw(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([7, 9], dtype=np.uint64)
    >>> words = philox_raw(key, [0, 3, 5, 1], 6)
    >>> bool((words[0] == np.random.Philox(key=key, counter=[0, 3, 5, 1]).random_raw(6)).all())
    True
    """
    ctr = _as_counters(counters)
    k = _as_key(key)
    n_blocks = -(-n // 4)
    return _block_words(k, ctr, 0, n_blocks)[:, :n]


def _to_uniform(words: U64) -> F64:
    # (w >> 11) < 2**53 is exact in float64 and the power-of-two scale is exact too.
    return (words >> np.uint64(11)).astype(np.float64) * _UNIFORM_SCALE


ZIGGURAT_R: Final = 3.6541528853610088
ZIGGURAT_INV_R: Final = 1.0 / ZIGGURAT_R
ZIGGURAT_V: Final = 4.92867323399e-3


def _build_ziggurat() -> tuple[list[int], list[float], list[float]]:
    """Build the 256-layer tables exactly as the kernel does (libm exp/log, same order)."""
    m = 9007199254740992.0  # 2**53
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


def ziggurat_normal(next_u64: Any, uniform: Any) -> float:
    """Draw one standard normal with the kernel's ziggurat from a sequential stream.

    Parameters
    ----------
    next_u64 : callable
        Returns the stream's next 64-bit word as an int.
    uniform : callable
        Returns the stream's next uniform ``(word >> 11) * 2**-53``.

    Returns
    -------
    float
        The normal.

    Examples
    --------
    >>> import numpy as np
    >>> s = Stream(np.array([1, 2], dtype=np.uint64), [0, 0, 0, 0])
    >>> isinstance(ziggurat_normal(s.next_u64, s.uniform), float)
    True
    """
    while True:
        r = int(next_u64())
        idx = r & 0xFF
        neg = (r >> 8) & 1 == 1
        rabs = r >> 11
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
        Row ``k`` equals ``Generator(Philox(key=key, counter=counters[k])).random(n)``.

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([7, 9], dtype=np.uint64)
    >>> g = np.random.Generator(np.random.Philox(key=key, counter=[0, 1, 2, 3]))
    >>> bool((uniforms(key, [0, 1, 2, 3], 5)[0] == g.random(5)).all())
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
        new = _block_words(self.key, self.counters, have_blocks, want_blocks - have_blocks)
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

    def next_u64(self, streams: Index) -> U64:
        """Return the next raw word of each listed stream and advance them.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of uint64
            One word per listed stream.
        """
        pos = self.position[streams]
        if pos.size:
            self._reserve(int(pos.max()) + 1)
        words = self._words[streams, pos]
        self.position[streams] = pos + 1
        return words

    def uniform(self, streams: Index) -> F64:
        """Return the next uniform, ``(next_u64 >> 11) * 2**-53``, of each listed stream.

        Parameters
        ----------
        streams : numpy.ndarray of intp
            Distinct stream indices.

        Returns
        -------
        numpy.ndarray of float64
            One uniform in [0, 1) per listed stream.
        """
        return _to_uniform(self.next_u64(streams))

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
        r = self.next_u64(streams)
        idx = (r & np.uint64(0xFF)).astype(np.intp)
        neg = ((r >> np.uint64(8)) & np.uint64(1)) == 1
        rabs = r >> np.uint64(11)
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
            return int(self.next_u64(one)[0]) if w is None else w

        return ziggurat_normal(next_word, lambda: float(self.uniform(one)[0]))


class Stream:
    """One stream read sequentially (spec §3): ``next_u64``, ``uniform``, ``normal``.

    Parameters
    ----------
    key : array_like of uint64, shape (2,)
        The 128-bit key.
    counter : array_like of uint64, shape (4,)
        The stream counter, as for ``np.random.Philox(counter=...)``.

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([5, 6], dtype=np.uint64)
    >>> s = Stream(key, [0, 1, 2, 3])
    >>> s.next_u64() == int(np.random.Philox(key=key, counter=[0, 1, 2, 3]).random_raw())
    True
    """

    def __init__(self, key: ArrayLike, counter: ArrayLike) -> None:
        ctr = _as_counters(counter)
        if ctr.shape[0] != 1:
            raise ShapeError(_message("counter", "an array of shape (4,)", ctr.shape, "Stream"))
        self._bank = StreamBank(key, ctr)
        self._only: Index = np.zeros(1, dtype=np.intp)

    def next_u64(self) -> int:
        """Return the next raw 64-bit word (NumPy ``random_raw`` order)."""
        return int(self._bank.next_u64(self._only)[0])

    def uniform(self) -> float:
        """Return the next uniform ``(next_u64 >> 11) * 2**-53`` in [0, 1)."""
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
