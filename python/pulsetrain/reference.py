"""Plain-NumPy twin of the Rust tile kernels (the oracle of ``tests/test_reference.py``).

Everything here follows the binding kernel spec (``KERNEL_SPEC.md``, "pulsetrain core kernel
spec") operation by operation, so that :class:`ReferenceTile` and ``pulsetrain._core.Tile`` give
identical pulse counts and, wherever the floating-point operations are the same, bit-identical
weights. Clarity wins over speed; the twin vectorises only where the order of the random draws
allows it. It never imports ``pulsetrain._core``.

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

Transcendental functions
------------------------
The Rust kernel calls the platform libm (``f64::ln``, ``cos``, ``exp``, ``powf``). On this machine
(x86-64 with AVX-512, glibc 2.36, NumPy 2.4) ``np.log``, ``np.exp`` and ``np.power`` use NumPy's
own SIMD code and differ from libm in the last bit for about 0.4 %, 5 % and 5 % of the inputs
(``np.cos`` happened to agree on 2e5 inputs). The twin therefore evaluates ``log``, ``cos``,
``exp`` and ``pow`` element by element through :mod:`math`, which calls libm directly and is
bit-identical to Rust's calls. ``sqrt`` is correctly rounded everywhere, so ``np.sqrt`` is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pulsetrain.errors import NonFiniteError, ParameterError, ShapeError

#: Longest stochastic bit train (the kernel's MAX_DESIRED_BL); caps the free bit length.
MAX_FREE_BL = 1024

__all__ = [
    "FAMILIES",
    "PHASES",
    "RNG_SCHEME",
    "TAG_BACKWARD",
    "TAG_CALIBRATION",
    "TAG_CONSTRUCTION",
    "TAG_FORWARD",
    "TAG_READ",
    "TAG_TRAIN_X",
    "TAG_UPDATE",
    "DeviceSpec",
    "ReferenceTile",
    "Stream",
    "StreamBank",
    "UpdateSpec",
    "normals",
    "philox4x64_10",
    "philox_raw",
    "stochastic_pulse_parameters",
    "stream_counters",
    "tile_key",
    "uniforms",
    "ziggurat_normal",
]

F64 = NDArray[np.float64]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]
Index = NDArray[np.intp]

RNG_SCHEME: Final = 2
"""The stream layout implemented here (``_core.rng_scheme``)."""

TAG_CONSTRUCTION: Final = 0
TAG_UPDATE: Final = 1
TAG_TRAIN_X: Final = 2
TAG_READ: Final = 3
TAG_FORWARD: Final = 4
TAG_BACKWARD: Final = 5
TAG_CALIBRATION: Final = 6

PHASES: Final = (0, 1, 2)
"""Pulse-counter phases: UPDATE=0, TRANSFER=1, CALIBRATION=2."""

FAMILIES: Final = (
    "ideal",
    "linear_step",
    "skew_linear",
    "soft_bounds",
    "power",
    "exponential",
    "power_step",
    "exp_step",
)
"""Response families of the device spec dict (spec §1-2)."""

# Philox4x64 constants (Salmon et al. 2011; numpy/random/src/philox/philox.h).
_PHILOX_M0: Final = 0xD2E7470EE14C6C93
_PHILOX_M1: Final = 0xCA5A826395121157
_PHILOX_W0: Final = 0x9E3779B97F4A7C15
_PHILOX_W1: Final = 0xBB67AE8584CAA73B
_MASK32: Final = np.uint64(0xFFFFFFFF)
_MASK64: Final = (1 << 64) - 1
_SHIFT32: Final = np.uint64(32)
_UNIFORM_SCALE: Final = 2.0**-53
_CEIL_SHRINK: Final = 1.0 - 2.0**-40
_PROB_ONE: Final = 1.0 - 4.0 * 2.0**-52
_U64_MAX_FLOAT: Final = 2.0**64
_OWNER: Final = "ReferenceTile"

# Element-wise libm calls (see the module docstring: np.log/np.exp/np.power are not libm here).
_LIBM_LOG = np.frompyfunc(math.log, 1, 1)
_LIBM_COS = np.frompyfunc(math.cos, 1, 1)
_LIBM_EXP = np.frompyfunc(math.exp, 1, 1)
_LIBM_POW = np.frompyfunc(math.pow, 2, 1)


def _libm1(func: np.ufunc, x: F64) -> F64:
    return np.asarray(func(x), dtype=np.float64).reshape(np.shape(x))


def _exp(x: F64) -> F64:
    return _libm1(_LIBM_EXP, x)


def _pow(x: F64, y: float) -> F64:
    return np.asarray(_LIBM_POW(x, y), dtype=np.float64).reshape(np.shape(x))


def _message(name: str, allowed: str, value: object, owner: str = _OWNER) -> str:
    return f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead."


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


# --------------------------------------------------------------------------------------------
# Device and update specs
# --------------------------------------------------------------------------------------------

_FLOAT_KEYS: Final = (
    "lo",
    "hi",
    "sp",
    "c",
    "alpha_up",
    "alpha_down",
    "gamma_up",
    "gamma_down",
    "dw_min",
    "dw_min_std",
    "dw_min_dtod",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "reference_mean",
    "reference_std",
)
_BOOL_KEYS: Final = ("c2c_multiplicative", "dw_min_dtod_log_normal", "subtract_symmetry_point")
_NONNEGATIVE_KEYS: Final = (
    "dw_min_std",
    "dw_min_dtod",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "reference_std",
)


def _check_float(spec: Mapping[str, object], name: str) -> float:
    value = spec[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(_message(name, "a finite float", value))
    if not math.isfinite(value):
        raise ParameterError(_message(name, "a finite float", value))
    return float(value)


def _check_bool(spec: Mapping[str, object], name: str) -> bool:
    value = spec[name]
    ok = isinstance(value, bool)
    if not ok:
        raise ParameterError(_message(name, "a bool", value))
    return bool(value)


def _check_int(spec: Mapping[str, object], name: str, lo: int, hi: int | None) -> int:
    value = spec[name]
    allowed = f"an int in the range [{lo}, {'inf' if hi is None else hi}]"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(_message(name, allowed, value))
    number = int(value)
    if number < lo or (hi is not None and number > hi):
        raise ParameterError(_message(name, allowed, value))
    return number


def _check_keys(spec: Mapping[str, object], required: Sequence[str], owner: str) -> None:
    for name in required:
        if name not in spec:
            raise ParameterError(_message(name, "present", "<missing>", owner))
    for name in spec:
        if name not in required and name != "kind":
            raise ParameterError(_message(name, f"one of {sorted(required)}", name, owner))


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A validated device spec dict (spec §1) with its response functions (spec §2).

    Build it with :meth:`from_dict`. The response functions take the element bounds ``lo_e``,
    ``hi_e`` as arrays, so that they serve d2d-varied elements.
    """

    family: str
    lo: float
    hi: float
    sp: float
    c: float
    alpha_up: float
    alpha_down: float
    gamma_up: float
    gamma_down: float
    dw_min: float
    dw_min_std: float
    c2c_multiplicative: bool
    dw_min_dtod: float
    dw_min_dtod_log_normal: bool
    up_down_dtod: float
    w_max_dtod: float
    w_min_dtod: float
    reference_mean: float
    reference_std: float
    subtract_symmetry_point: bool

    @classmethod
    def from_dict(cls, spec: Mapping[str, object]) -> DeviceSpec:
        """Validate a spec dict and build the spec.

        Parameters
        ----------
        spec : Mapping[str, object]
            All keys of spec §1 (a ``kind`` key is ignored, any other extra key is rejected).

        Returns
        -------
        DeviceSpec
            The validated spec.

        Raises
        ------
        ParameterError
            If a key is missing or unknown or a value is outside its allowed set.

        Examples
        --------
        >>> DeviceSpec.from_dict(
        ...     {"family": "ideal", "lo": -1.0, "hi": 1.0, "sp": 0.0, "c": 0.0, "alpha_up": 1.0,
        ...      "alpha_down": 1.0, "gamma_up": 1.0, "gamma_down": 1.0, "dw_min": 1e-3,
        ...      "dw_min_std": 0.0, "c2c_multiplicative": False, "dw_min_dtod": 0.0,
        ...      "dw_min_dtod_log_normal": False, "up_down_dtod": 0.0, "w_max_dtod": 0.0,
        ...      "w_min_dtod": 0.0, "reference_mean": 0.0, "reference_std": 0.0,
        ...      "subtract_symmetry_point": False}
        ... ).family
        'ideal'
        """
        _check_keys(spec, ("family", *_FLOAT_KEYS, *_BOOL_KEYS), "the device spec")
        family = spec["family"]
        if family not in FAMILIES:
            raise ParameterError(_message("family", f"one of {list(FAMILIES)}", family))
        fields: dict[str, Any] = {name: _check_float(spec, name) for name in _FLOAT_KEYS}
        fields.update({name: _check_bool(spec, name) for name in _BOOL_KEYS})
        dev = cls(family=str(family), **fields)
        dev._check_ranges()
        return dev

    def _check_ranges(self) -> None:
        if not self.lo < self.hi:
            raise ParameterError(_message("lo", f"below hi={self.hi!r}", self.lo))
        if not self.dw_min > 0.0:
            raise ParameterError(_message("dw_min", "a float in the range (0, inf)", self.dw_min))
        for name in _NONNEGATIVE_KEYS:
            value = getattr(self, name)
            if value < 0.0:
                raise ParameterError(_message(name, "a float in the range [0, inf)", value))
        if self.family == "linear_step" and not self.lo < self.sp < self.hi:
            raise ParameterError(_message("sp", "strictly between lo and hi", self.sp))
        if self.family in ("skew_linear", "soft_bounds", "power", "exponential") and not (
            self.lo < 0.0 < self.hi
        ):
            raise ParameterError(_message("lo", "negative with hi positive", (self.lo, self.hi)))
        if self.family == "skew_linear" and not abs(self.c) < 1.0:
            raise ParameterError(_message("c", "a float in the range (-1, 1)", self.c))
        for name in ("alpha_up", "alpha_down", "gamma_up", "gamma_down"):
            value = getattr(self, name)
            if not value > 0.0:
                raise ParameterError(_message(name, "a float in the range (0, inf)", value))
        if self.subtract_symmetry_point and self.family == "ideal":
            raise ParameterError(
                _message("subtract_symmetry_point", "False for family 'ideal'", value=True)
            )

    @property
    def shape_origin(self) -> float:
        """The point ``s`` the d2d bound spread scales around: ``sp`` for linear_step, else 0."""
        return self.sp if self.family == "linear_step" else 0.0

    def q_plus(self, w: F64, lo: F64, hi: F64) -> F64:
        """Return the up response ``q+(w)`` of elements with bounds ``lo``, ``hi`` (spec §2).

        Parameters
        ----------
        w, lo, hi : numpy.ndarray of float64
            Physical states and element bounds, of the same shape.

        Returns
        -------
        numpy.ndarray of float64
            ``q+`` per element.
        """
        fam = self.family
        if fam == "ideal":
            return np.ones_like(w)
        if fam == "linear_step":
            return 1.0 - (w - self.sp) / (hi - self.sp)
        if fam == "skew_linear":
            return (1.0 + self.c) * (1.0 - w / hi)
        if fam == "soft_bounds":
            return self.alpha_up * (1.0 - w / hi)
        if fam == "power":
            return _pow(np.maximum(1.0 - w / hi, 0.0), self.gamma_up)
        if fam == "exponential":
            return (_exp(self.gamma_up * (1.0 - w / hi)) - 1.0) / (math.exp(self.gamma_up) - 1.0)
        if fam == "power_step":
            return _pow(np.maximum((hi - w) / (hi - lo), 0.0), self.gamma_up)
        # exp_step
        return 1.0 - _exp(-self.gamma_up * (hi - w) / (hi - lo))

    def q_minus(self, w: F64, lo: F64, hi: F64) -> F64:
        """Return the down response ``q-(w)`` of elements with bounds ``lo``, ``hi`` (spec §2).

        Parameters
        ----------
        w, lo, hi : numpy.ndarray of float64
            Physical states and element bounds, of the same shape.

        Returns
        -------
        numpy.ndarray of float64
            ``q-`` per element.
        """
        fam = self.family
        if fam == "ideal":
            return np.ones_like(w)
        if fam == "linear_step":
            return 1.0 - (w - self.sp) / (lo - self.sp)
        if fam == "skew_linear":
            return (1.0 - self.c) * (1.0 - w / lo)
        if fam == "soft_bounds":
            return self.alpha_down * (1.0 - w / lo)
        if fam == "power":
            return _pow(np.maximum(1.0 - w / lo, 0.0), self.gamma_down)
        if fam == "exponential":
            return (_exp(self.gamma_down * (1.0 - w / lo)) - 1.0) / (
                math.exp(self.gamma_down) - 1.0
            )
        if fam == "power_step":
            return _pow(np.maximum((w - lo) / (hi - lo), 0.0), self.gamma_down)
        # exp_step
        return 1.0 - _exp(-self.gamma_down * (w - lo) / (hi - lo))


UpdateKind = Literal["expected", "pulse_count", "stochastic_pulse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateSpec:
    """A validated update dict (spec §8 "Update dicts"); build it with :meth:`from_dict`."""

    kind: UpdateKind
    noise: bool = False
    max_bl: int = 0
    rounding: Literal["ceil", "stochastic"] = "ceil"
    desired_bl: int = 31
    update_management: bool = True
    update_bl_management: bool = True
    fixed_bl: bool = True
    um_grad_scale: float = 1.0

    @classmethod
    def from_dict(cls, update: Mapping[str, object]) -> UpdateSpec:
        """Validate an update dict and build the spec.

        Parameters
        ----------
        update : Mapping[str, object]
            ``{"kind": "expected", "noise": bool}``, ``{"kind": "pulse_count", "max_bl": int,
            "rounding": "ceil" | "stochastic"}`` or ``{"kind": "stochastic_pulse", ...}`` with
            every key of spec §8.

        Returns
        -------
        UpdateSpec
            The validated update spec.

        Raises
        ------
        ParameterError
            If the kind is unknown, a key is missing or unknown, or a value is out of range.

        Examples
        --------
        >>> UpdateSpec.from_dict({"kind": "pulse_count", "max_bl": 8, "rounding": "ceil"}).max_bl
        8
        """
        kind = update.get("kind")
        if kind == "expected":
            _check_keys(update, ("kind", "noise"), "the update dict")
            return cls(kind="expected", noise=_check_bool(update, "noise"))
        if kind == "pulse_count":
            _check_keys(update, ("kind", "max_bl", "rounding"), "the update dict")
            rounding = update["rounding"]
            if rounding == "ceil":
                return cls(kind="pulse_count", max_bl=_check_int(update, "max_bl", 1, None))
            if rounding == "stochastic":
                return cls(
                    kind="pulse_count",
                    max_bl=_check_int(update, "max_bl", 1, None),
                    rounding="stochastic",
                )
            raise ParameterError(_message("rounding", "one of ['ceil', 'stochastic']", rounding))
        if kind == "stochastic_pulse":
            names = (
                "kind",
                "desired_bl",
                "update_management",
                "update_bl_management",
                "fixed_bl",
                "um_grad_scale",
            )
            _check_keys(update, names, "the update dict")
            scale = _check_float(update, "um_grad_scale")
            if not scale > 0.0:
                raise ParameterError(_message("um_grad_scale", "a float in (0, inf)", scale))
            return cls(
                kind="stochastic_pulse",
                desired_bl=_check_int(update, "desired_bl", 1, 1024),
                update_management=_check_bool(update, "update_management"),
                update_bl_management=_check_bool(update, "update_bl_management"),
                fixed_bl=_check_bool(update, "fixed_bl"),
                um_grad_scale=scale,
            )
        allowed = "one of ['expected', 'pulse_count', 'stochastic_pulse']"
        raise ParameterError(_message("kind", allowed, kind))


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
    return np.where(p >= _PROB_ONE, 1.0, p)


def _to_counts(n: F64) -> U64:
    """Convert non-negative integral floats to uint64, saturating like Rust's ``as u64``."""
    out = np.full(n.shape, np.iinfo(np.uint64).max, dtype=np.uint64)
    small = n < _U64_MAX_FLOAT
    out[small] = n[small].astype(np.uint64)
    return out


# --------------------------------------------------------------------------------------------
# The tile
# --------------------------------------------------------------------------------------------


class ReferenceTile:
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
    >>> tile = ReferenceTile(spec, {"kind": "pulse_count", "max_bl": 100, "rounding": "ceil"},
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
        if dev.dw_min_dtod_log_normal:
            g = _exp(dev.dw_min_dtod * xi_g)
        else:
            g = 1.0 + dev.dw_min_dtod * xi_g
        rr = dev.up_down_dtod * xi_r
        self._up: F64 = np.abs(dev.dw_min * (g + rr))
        self._dn: F64 = np.abs(dev.dw_min * (g - rr))
        s = dev.shape_origin
        self._hi: F64 = s + (dev.hi - s) * np.maximum(np.abs(1.0 + dev.w_max_dtod * xi_max), 1e-3)
        self._lo: F64 = s + (dev.lo - s) * np.maximum(np.abs(1.0 + dev.w_min_dtod * xi_min), 1e-3)
        if dev.family == "ideal":
            self._sp: F64 = np.full(self._shape, np.nan)
        else:
            self._sp = self._bisect_symmetric_point()
        ref = dev.reference_mean + dev.reference_std * xi_ref
        if dev.subtract_symmetry_point:
            ref = ref + self._sp
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

    def _fire(
        self,
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
            self._pulse(p, elements[sel], up[sel], xi)

    def _pulse(self, p: F64, e: Index, up: Bools, xi: F64 | None) -> None:
        dev = self.device
        w = p[e]
        lo = self._lo.ravel()[e]
        hi = self._hi.ravel()[e]
        q = np.empty_like(w)
        q[up] = dev.q_plus(w[up], lo[up], hi[up])
        down = ~up
        q[down] = dev.q_minus(w[down], lo[down], hi[down])
        step = np.where(up, self._up.ravel()[e], self._dn.ravel()[e])
        if xi is None:
            mag = step * q
        elif dev.c2c_multiplicative:
            mag = step * (q * (1.0 + dev.dw_min_std * xi))
        else:
            mag = step * (q + dev.dw_min_std * xi)
        w = np.where(up, w + mag, w - mag)
        p[e] = np.minimum(np.maximum(w, lo), hi)

    # -- update modes (spec §6) ------------------------------------------------------------------

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
        return self._commit(ph, *self._delta_kernel(arr, self._tick))

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
            return self._commit(ph, *self._stochastic_kernel(xa, da, lr, self._tick))
        acc = np.zeros(self._shape)
        for b in range(batch):
            # acc = acc + d[b,i]*x[b,j], summed in index order starting from 0.0 (spec §6).
            acc = acc + da[:, b, :, None] * xa[:, b, None, :]
        return self._commit(ph, *self._delta_kernel(-lr * acc, self._tick))

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
        if np.abs(n).max(initial=0) > 1_000_000:
            raise ParameterError(_message("counts", "ints in [-1000000, 1000000]", n.max()))
        r, o, n_in = self._shape
        n_rows = r * o
        p = self._p.copy().ravel()
        mag = np.abs(n).reshape(n_rows, n_in)
        up = (n > 0).reshape(n_rows, n_in)
        rows = np.arange(n_rows, dtype=np.intp)
        if self.device.dw_min_std > 0.0:
            bank = StreamBank(self.key, self._row_streams(TAG_UPDATE, 0, self._tick))
            for j in range(n_in):
                self._fire(p, rows * n_in + j, mag[:, j], up[:, j], bank, rows)
        else:
            elements = np.arange(n_rows * n_in, dtype=np.intp)
            self._fire(p, elements, mag.ravel(), up.ravel(), None, rows)
        return self._commit(ph, p.reshape(self._shape), mag.astype(np.uint64).reshape(self._shape))

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
                self._fire(p, elements, ones, up, bank if noisy else None, rows)
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
            if transpose:
                y = np.zeros(cols)
                for i in range(rows):
                    y = y + w[i, :] * u[i]
                return y
            acc = np.zeros(rows)
            for j in range(cols):
                acc = acc + w[:, j] * u[j]
            return acc

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
        self._counts[phase] = self._counts[phase] + counts
        self._tick += 1
        return np.asarray(counts.reshape(self.replicas, -1).sum(axis=1), dtype=np.uint64)

    def _delta_kernel(self, delta: F64, tick: int) -> tuple[F64, U64]:
        if self.update_spec.kind == "expected":
            return self._expected_kernel(delta, tick)
        return self._pulse_count_kernel(delta, tick)

    def _expected_kernel(self, delta: F64, tick: int) -> tuple[F64, U64]:
        dev = self.device
        p = self._p.copy()
        pos = delta >= 0.0
        neg = ~pos
        eff_up = self._up / dev.dw_min
        eff_dn = self._dn / dev.dw_min
        new = np.empty_like(p)
        new[pos] = p[pos] + delta[pos] * (
            eff_up[pos] * dev.q_plus(p[pos], self._lo[pos], self._hi[pos])
        )
        new[neg] = p[neg] + delta[neg] * (
            eff_dn[neg] * dev.q_minus(p[neg], self._lo[neg], self._hi[neg])
        )
        if self.update_spec.noise:
            # One normal per element in column order from the row stream (tick, r, i, UPDATE).
            xi = normals(self.key, self._row_streams(TAG_UPDATE, 0, tick), self.in_size)
            new = new + np.sqrt(np.abs(delta) * dev.dw_min) * xi.reshape(self._shape)
        new = np.minimum(np.maximum(new, self._lo), self._hi)
        counts = _to_counts(np.ceil(np.abs(delta) / dev.dw_min * _CEIL_SHRINK))
        return new, counts

    def _pulse_count_kernel(self, delta: F64, tick: int) -> tuple[F64, U64]:
        dev = self.device
        upd = self.update_spec
        r, o, n_in = self._shape
        n_rows = r * o
        p = self._p.copy().ravel()
        ratio = (np.abs(delta) / dev.dw_min).reshape(n_rows, n_in)
        up = (delta > 0.0).reshape(n_rows, n_in)
        max_bl = float(upd.max_bl)
        stochastic = upd.rounding == "stochastic"
        noisy = dev.dw_min_std > 0.0
        bank = StreamBank(self.key, self._row_streams(TAG_UPDATE, 0, tick))
        rows = np.arange(n_rows, dtype=np.intp)

        def count(col_ratio: F64, u: F64 | None) -> F64:
            if u is None:
                n_float = np.ceil(col_ratio * _CEIL_SHRINK)
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
                self._fire(p, rows * n_in + j, n_col.astype(np.int64), up[:, j], bank, rows)
        else:
            u_all = bank.first_uniforms(n_in) if stochastic else None
            n_all = count(ratio, u_all)
            elements = np.arange(n_rows * n_in, dtype=np.intp)
            self._fire(p, elements, n_all.ravel().astype(np.int64), up.ravel(), None, rows)
        return p.reshape(self._shape), _to_counts(n_all).reshape(self._shape)

    def _stochastic_kernel(self, x: F64, d: F64, lr: float, tick: int) -> tuple[F64, U64]:
        dev = self.device
        upd = self.update_spec
        r, o, n_in = self._shape
        n_rows = r * o
        p = self._p.copy().ravel()
        counts = np.zeros((n_rows, n_in), dtype=np.int64)
        rows = np.arange(n_rows, dtype=np.intp)
        reps = np.arange(r, dtype=np.uint64) + np.uint64(self.replica_offset)
        cols = np.arange(n_in, dtype=np.uint64)
        for b in range(x.shape[1]):
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
                continue
            slot_ok = np.arange(bl_max)[None, None, :] < bl[:, None, None]
            # x train of column j: stream (tick, r, j, TRAIN_X | b << 8); bit t = u_t < px_j.
            x_streams = stream_counters(tick, reps[:, None], cols[None, :], TAG_TRAIN_X, b)
            ux = uniforms(self.key, x_streams, bl_max).reshape(r, n_in, bl_max)
            x_bits = (ux < px[:, :, None]) & slot_ok
            # d train of row i: the first BL uniforms of stream (tick, r, i, UPDATE | b << 8),
            # which then continues with the noise normals of that row's pulses.
            bank = StreamBank(self.key, self._row_streams(TAG_UPDATE, b, tick))
            ud = bank.first_uniforms(bl_max).reshape(r, o, bl_max)
            d_bits = (ud < pd[:, :, None]) & slot_ok
            bank.advance(np.where(pd > 0.0, bl[:, None], 0).ravel())
            n = np.matmul(d_bits.astype(np.int64), x_bits.astype(np.int64).transpose(0, 2, 1))
            sign = -np.sign(x[:, b, None, :]) * np.sign(d[:, b, :, None])
            n_flat = n.reshape(n_rows, n_in)
            up = (sign > 0.0).reshape(n_rows, n_in)
            counts += n_flat
            if dev.dw_min_std > 0.0:
                for j in range(n_in):
                    self._fire(p, rows * n_in + j, n_flat[:, j], up[:, j], bank, rows)
            else:
                elements = np.arange(n_rows * n_in, dtype=np.intp)
                self._fire(p, elements, n_flat.ravel(), up.ravel(), None, rows)
        return p.reshape(self._shape), counts.astype(np.uint64).reshape(self._shape)
