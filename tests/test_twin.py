"""Tests of the NumPy twin ``pulsetrain.twin`` and of ``pulsetrain._core`` against it.

Part (a) needs only NumPy: the vectorised Philox4x32 against known answers and a by-hand
scalar replay of the stream layout, the stream
helpers, and closed-form checks of shared/theory.md §5 (C9, C10, C12-C14) on the twin.
Part (b) compares the compiled kernel with the twin element by element; it is skipped, with a
reason naming the missing build, only if ``pulsetrain._core`` does not exist.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol, cast

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from numpy.typing import NDArray

import pulsetrain as pt
from conftest import family_examples
from pulsetrain import twin as ref
from pulsetrain.errors import ParameterError, ShapeError
from pulsetrain.twin import TwinTile

F64 = NDArray[np.float64]
U64 = NDArray[np.uint64]

EPS = 2.0**-52


# ----------------------------------------------------------------------------------------------
# Spec dicts, written by hand (KERNEL_SPEC §1)
# ----------------------------------------------------------------------------------------------

BASE_SPEC: dict[str, Any] = {
    "family": "ideal",
    "lo": -1.0,
    "hi": 1.0,
    "sp": 0.0,
    "c": 0.0,
    "alpha_up": 1.0,
    "alpha_down": 1.0,
    "gamma_up": 1.0,
    "gamma_down": 1.0,
    "dw_min": 1e-3,
    "dw_min_std": 0.0,
    "c2c_multiplicative": False,
    "dw_min_dtod": 0.0,
    "dw_min_dtod_log_normal": False,
    "up_down_dtod": 0.0,
    "w_max_dtod": 0.0,
    "w_min_dtod": 0.0,
    "reference_mean": 0.0,
    "reference_std": 0.0,
    "subtract_symmetry_point": False,
}


def _family_params() -> dict[str, dict[str, Any]]:
    """Return the response part of the spec dict per core family, from the registry.

    The first registered family class that compiles to a core family gives its ``example()``,
    which is physically valid and asymmetric where the family allows it.
    """
    params: dict[str, dict[str, Any]] = {}
    for response in family_examples():
        spec = response.to_spec()
        params.setdefault(spec.pop("family"), spec)
    return params


FAMILY_PARAMS: dict[str, dict[str, Any]] = _family_params()
FAMILIES = tuple(FAMILY_PARAMS)

# Device-to-device spread, cycle-to-cycle noise and reference offsets.
VARIANTS: dict[str, dict[str, Any]] = {
    "clean": {},
    "noisy": {
        "dw_min_std": 0.3,
        "dw_min_dtod": 0.3,
        "up_down_dtod": 0.05,
        "w_max_dtod": 0.2,
        "w_min_dtod": 0.2,
        "reference_mean": 0.05,
        "reference_std": 0.1,
        "subtract_symmetry_point": True,
    },
    "multiplicative_log_normal": {
        "dw_min_std": 0.2,
        "c2c_multiplicative": True,
        "dw_min_dtod": 0.3,
        "dw_min_dtod_log_normal": True,
        "up_down_dtod": 0.02,
        "w_max_dtod": 0.1,
        "w_min_dtod": 0.3,
        "reference_mean": -0.05,
        "reference_std": 0.05,
    },
}


def make_spec(family: str = "ideal", **overrides: Any) -> dict[str, Any]:
    """Return a full device spec dict for ``family`` with ``overrides`` applied."""
    spec = {**BASE_SPEC, "family": family, **FAMILY_PARAMS[family], **overrides}
    if family == "ideal":
        spec["subtract_symmetry_point"] = False  # a ParameterError for ideal (spec §4)
    return spec


def stochastic_update(**overrides: Any) -> dict[str, Any]:
    """Return a ``stochastic_pulse`` update dict with aihwkit's defaults and ``overrides``."""
    return {
        "kind": "stochastic_pulse",
        "desired_bl": 31,
        "update_management": True,
        "update_bl_management": True,
        "fixed_bl": True,
        "um_grad_scale": 1.0,
        **overrides,
    }


UPDATES: dict[str, dict[str, Any]] = {
    "expected": {"kind": "expected", "noise": False},
    "expected_noise": {"kind": "expected", "noise": True},
    "ceil": {"kind": "pulse_count", "max_bl": 12, "rounding": "ceil"},
    "stochastic_rounding": {"kind": "pulse_count", "max_bl": 12, "rounding": "stochastic"},
    "sp_bl_management": stochastic_update(),
    "sp_fixed_bl": stochastic_update(
        desired_bl=7, update_management=False, update_bl_management=False
    ),
    "sp_update_management": stochastic_update(
        desired_bl=7, update_bl_management=False, um_grad_scale=2.0
    ),
    # dw_min * desired_bl < lr: BL = ceil(lr/dw_min), A = B = 1 (spec §6, last branch).
    "sp_free_bl": stochastic_update(
        desired_bl=2, update_management=False, update_bl_management=False, fixed_bl=False
    ),
}

KEY = np.array([0x0123456789ABCDEF, 0xFEDCBA9876543210], dtype=np.uint64)


class TileLike(Protocol):
    """The interface shared by ``_core.Tile`` and :class:`TwinTile` (spec §8)."""

    @property
    def tick(self) -> int:
        """Calls so far."""

    def weights(self) -> F64:
        """Logical weights."""

    def physical_weights(self) -> F64:
        """Physical states."""

    def set_weights(self, w: F64) -> None:
        """Set logical weights."""

    def update(self, x: F64, d: F64, lr: float, phase: int, n_threads: int | None = None) -> U64:
        """Rank-B update."""

    def apply_delta(self, delta: F64, phase: int, n_threads: int | None = None) -> U64:
        """Element-wise update."""

    def pulse_counts(self, phase: int) -> U64:
        """Counters of a phase."""

    def reset_pulse_counts(self, phase: int | None = None) -> None:
        """Zero counters."""

    def maps(self) -> dict[str, F64]:
        """Device-to-device maps."""


TileFactory = Callable[[Mapping[str, Any], Mapping[str, Any], int, int, int, int], TileLike]


def twin_factory(
    spec: Mapping[str, Any],
    update: Mapping[str, Any],
    out_size: int,
    in_size: int,
    replicas: int,
    replica_offset: int,
) -> TileLike:
    """Build a :class:`TwinTile` with the test key."""
    return TwinTile(spec, update, out_size, in_size, replicas, KEY, replica_offset)


def core_factory(core: ModuleType) -> TileFactory:
    """Return a factory of ``_core.Tile`` objects with the test key."""

    def factory(
        spec: Mapping[str, Any],
        update: Mapping[str, Any],
        out_size: int,
        in_size: int,
        replicas: int,
        replica_offset: int,
    ) -> TileLike:
        key = [int(k) for k in KEY]
        tile = core.Tile(dict(spec), dict(update), out_size, in_size, replicas, key, replica_offset)
        return cast(TileLike, tile)

    return factory


def make_inputs(
    seed: int,
    replicas: int,
    batch: int,
    out_size: int,
    in_size: int,
    steps: int,
    *,
    sparse_d: bool = False,
) -> list[tuple[F64, F64]]:
    """Return ``steps`` (x, d) pairs with a few exact zeros (skipped samples, silent rows).
    ``sparse_d``: nine d values in ten are scaled by 1e-3, so that most rows' d trains are
    empty (the stochastic kernel then draws them with the sample's trains)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(steps):
        x = rng.uniform(-1.0, 1.0, (replicas, batch, in_size))
        d = rng.uniform(-1.0, 1.0, (replicas, batch, out_size))
        if sparse_d:
            d *= np.where(rng.random(d.shape) < 0.1, 1.0, 1e-3)
        x[-1, 0, :] = 0.0  # x_m = 0: the sample is skipped in the stochastic mode
        x[0, -1, 0] = 0.0  # px = 0: column without a train
        d[0, 0, -1] = 0.0  # pd = 0: row without a train
        pairs.append((x, d))
    return pairs


Snapshot = dict[str, Any]


def run_scenario(
    factory: TileFactory,
    spec: Mapping[str, Any],
    update: Mapping[str, Any],
    *,
    replicas: int = 3,
    replica_offset: int = 2,
    out_size: int = 5,
    in_size: int = 4,
    batch: int = 3,
    steps: int = 3,
    lr: float = 0.05,
    n_threads: int | None = None,
    seed: int = 7,
    sparse_d: bool = False,
) -> list[Snapshot]:
    """Drive a tile through set_weights, ``steps`` updates and an apply_delta; snapshot each."""
    tile = factory(spec, update, out_size, in_size, replicas, replica_offset)
    shape = (replicas, out_size, in_size)
    rng = np.random.default_rng(seed + 1000)

    def snap(returned: U64 | None) -> Snapshot:
        return {
            "returned": None if returned is None else np.asarray(returned),
            "tick": tile.tick,
            "weights": tile.weights(),
            "physical": tile.physical_weights(),
            "counts": [tile.pulse_counts(phase) for phase in ref.PHASES],
        }

    snaps = [{**snap(None), "maps": tile.maps()}]
    tile.set_weights(rng.uniform(-0.6, 0.6, shape))
    snaps.append(snap(None))
    inputs = make_inputs(seed, replicas, batch, out_size, in_size, steps, sparse_d=sparse_d)
    for step, (x, d) in enumerate(inputs):
        returned = tile.update(x, d, lr, step % 2, n_threads=n_threads)
        snaps.append(snap(returned))
    if update["kind"] != "stochastic_pulse":
        delta = rng.uniform(-0.1, 0.1, shape)
        delta[0, 0, 0] = 0.0
        returned = tile.apply_delta(delta, 2, n_threads=n_threads)
        snaps.append(snap(returned))
    tile.reset_pulse_counts(1)
    snaps.append(snap(None))
    return snaps


# ----------------------------------------------------------------------------------------------
# (a) Twin-internal tests: RNG
# ----------------------------------------------------------------------------------------------

COUNTER_CASES = [
    [0, 0, 0, 0],
    [0, 5, (3 << 32) | 17, 1 | (4 << 8)],
    [2**32 - 3, 0, 0, 0],  # the block word carries into counter word 1 inside the stream
    [2**64 - 3, 2**64 - 1, 9, 9],  # the 64-bit block number wraps to zero
    [2**64 - 1, 2**64 - 1, 2**64 - 1, 7],
    [2**64 - 1, 2**64 - 1, 2**64 - 1, 2**64 - 1],
]

_M32 = 0xFFFFFFFF


def _py_philox4x32_10(ctr: list[int], key: list[int]) -> list[int]:
    """Philox4x32-10 on Python ints, written from Salmon et al. (2011), one block at a time."""
    c = list(ctr)
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + 0x9E3779B9) & _M32
            k1 = (k1 + 0xBB67AE85) & _M32
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & _M32, (p0 >> 32) ^ c[3] ^ k1, p0 & _M32]
    return c


def _py_words(key: list[int], address: list[int], n: int) -> list[int]:
    """The first n 32-bit words of the stream at ``address`` (KERNEL_SPEC §3), by hand."""
    k0, k1 = key
    tick, tag_word = address[1], address[3]
    h = _py_philox4x32_10([k1 & _M32, k1 >> 32, tick & _M32, tick >> 32], [k0 & _M32, k0 >> 32])
    stream_key = _py_philox4x32_10([tag_word & _M32, tag_word >> 32, h[2], h[3]], h[:2])[:2]
    row, replica = address[2] & _M32, address[2] >> 32
    words: list[int] = []
    block = address[0]
    while len(words) < n:
        words += _py_philox4x32_10([block & _M32, block >> 32, row, replica], stream_key)
        block = (block + 1) % 2**64
    return words[:n]


def test_philox4x32_known_answers() -> None:
    """Random123's published known-answer vectors (tests/kat_vectors, philox4x32 10)."""
    counters = [
        [0, 0, 0, 0],
        [_M32] * 4,
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
    ]
    keys = [[0, 0], [_M32, _M32], [0xA4093822, 0x299F31D0]]
    want = [
        [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8],
        [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ]
    assert ref.philox4x32_10(counters, keys).tolist() == want
    for c, k, w in zip(counters, keys, want, strict=True):
        assert _py_philox4x32_10(c, k) == w


@pytest.mark.parametrize("counter", COUNTER_CASES)
@pytest.mark.parametrize("n", [1, 4, 7, 13])
def test_philox_raw_is_the_stream_layout(counter: list[int], n: int) -> None:
    """philox_raw replays the spec's key hash and block counters, including carries."""
    key = [0xDEADBEEF, 2**64 - 5]
    got = ref.philox_raw(np.array(key, dtype=np.uint64), np.array(counter, dtype=np.uint64), n)
    assert got.dtype == np.uint32
    assert got[0].tolist() == _py_words(key, counter, n)


def test_philox_vectorised_over_many_streams() -> None:
    """One call draws many streams; each row equals its own stream computed by hand."""
    rng = np.random.default_rng(11)
    key = rng.integers(0, 2**64, 2, dtype=np.uint64, endpoint=False)
    counters = rng.integers(0, 2**64, (50, 4), dtype=np.uint64, endpoint=False)
    words = ref.philox_raw(key, counters, 9)
    for row, counter in zip(words, counters, strict=True):
        assert row.tolist() == _py_words([int(k) for k in key], [int(c) for c in counter], 9)


@pytest.mark.parametrize("counter", COUNTER_CASES[:3])
def test_uniforms_are_words_times_two_to_minus_32(counter: list[int]) -> None:
    """Uniforms are word * 2**-32 of the 32-bit words, in order."""
    key = [12345, 67890]
    want = [w * 2.0**-32 for w in _py_words(key, counter, 11)]
    assert ref.uniforms(np.array(key, dtype=np.uint64), counter, 11)[0].tolist() == want


def test_normals_are_the_ziggurat_on_the_stream() -> None:
    """normals() and StreamBank.normal follow ziggurat_normal on the stream's words in order."""
    key = [99, 100]
    counter = [0, 1, 2, 3]
    words = iter(_py_words(key, counter, 2000 * 3))

    def word() -> int:
        return next(words)

    def uniform() -> float:
        return next(words) * 2.0**-32

    expected = [ref.ziggurat_normal(word, uniform) for _ in range(2000)]
    assert_array_equal(ref.normals(np.array(key, dtype=np.uint64), counter, 2000)[0], expected)


def test_stream_is_sequential_view_of_the_words() -> None:
    """Stream.next_u32/next_u64/uniform/normal consume the stream word by word, in order."""
    key = [5, 6]
    counter = [0, 7, 8, 9]
    words = _py_words(key, counter, 14)
    stream = ref.Stream(np.array(key, dtype=np.uint64), counter)
    assert stream.next_u32() == words[0]
    assert stream.next_u64() == words[1] | (words[2] << 32)
    assert stream.uniform() == words[3] * 2.0**-32
    rest = iter(words[4:])
    z = ref.ziggurat_normal(lambda: next(rest), lambda: next(rest) * 2.0**-32)
    used = 10 - len(list(rest))  # words the ziggurat took (1 in ~99% of draws)
    assert stream.normal() == z
    assert stream.next_u32() == words[4 + used]


def test_stream_bank_positions_are_independent() -> None:
    """StreamBank draws from each listed stream at its own position."""
    key = np.array([1, 2], dtype=np.uint64)
    counters = ref.stream_counters(3, [0, 0, 1], [0, 1, 0], ref.TAG_UPDATE)
    bank = ref.StreamBank(key, counters)
    raw = ref.philox_raw(key, counters, 10)
    first = bank.next_u32(np.array([0, 2]))
    second = bank.next_u32(np.array([2]))
    third = bank.next_u32(np.array([1, 2]))
    assert_array_equal(first, [raw[0, 0], raw[2, 0]])
    assert_array_equal(second, [raw[2, 1]])
    assert_array_equal(third, [raw[1, 0], raw[2, 2]])
    assert bank.position.tolist() == [1, 1, 3]
    pair = bank.next_u64(np.array([0]))
    assert int(pair[0]) == int(raw[0, 1]) | (int(raw[0, 2]) << 32)


def test_stream_keys_separate_ticks_tags_and_samples() -> None:
    """Streams of different (tick, tag, sample) get different keys; rows share theirs."""
    key = np.array([3, 4], dtype=np.uint64)
    counters = np.concatenate(
        [
            ref.stream_counters(1, [0], [0, 1], ref.TAG_UPDATE),
            ref.stream_counters(2, [0], [0], ref.TAG_UPDATE),
            ref.stream_counters(1, [0], [0], ref.TAG_TRAIN_X),
            ref.stream_counters(1, [0], [0], ref.TAG_UPDATE, sample=1),
        ]
    )
    keys = [tuple(k) for k in ref.stream_keys(key, counters).tolist()]
    assert keys[0] == keys[1]
    assert len(set(keys[1:])) == 4


def test_stream_counter_layout() -> None:
    """Counter = [0, tick, (replica << 32) | row, tag | (sample << 8)] (spec §3)."""
    counters = ref.stream_counters(9, [[0], [5]], [[1, 2]], ref.TAG_TRAIN_X, sample=3)
    assert counters.tolist() == [
        [0, 9, 1, 2 | (3 << 8)],
        [0, 9, 2, 2 | (3 << 8)],
        [0, 9, (5 << 32) | 1, 2 | (3 << 8)],
        [0, 9, (5 << 32) | 2, 2 | (3 << 8)],
    ]


def test_tile_key_uses_spawn_key() -> None:
    """tile_key derives the key by spawn key (0x7117E, tile index), never by arithmetic."""
    root = np.random.SeedSequence(1234, spawn_key=(5,))
    expected = np.random.SeedSequence(1234, spawn_key=(5, 0x7117E, 3)).generate_state(2, np.uint64)
    assert_array_equal(ref.tile_key(root, 3), expected)
    assert not np.array_equal(ref.tile_key(root, 3), ref.tile_key(root, 4))


def test_construction_draws_five_normals_per_column() -> None:
    """Maps use normals (xi_g, xi_r, xi_max, xi_min, xi_ref) of column j from row stream i."""
    spec = make_spec("ideal", dw_min_dtod=0.3, up_down_dtod=0.1, w_max_dtod=0.2, w_min_dtod=0.25)
    spec.update(reference_mean=0.01, reference_std=0.5)
    tile = TwinTile(spec, UPDATES["expected"], 2, 3, 2, KEY, replica_offset=4)
    maps = tile.maps()
    for r in range(2):
        for i in range(2):
            counter = [0, 0, ((4 + r) << 32) | i, ref.TAG_CONSTRUCTION]
            stream = ref.Stream(KEY, counter)
            for j in range(3):
                xg, xr, xmax, xmin, xref = (stream.normal() for _ in range(5))
                g = 1.0 + 0.3 * xg
                rr = 0.1 * xr
                assert maps["step_up"][r, i, j] == abs(1e-3 * (g + rr))
                assert maps["step_down"][r, i, j] == abs(1e-3 * (g - rr))
                assert maps["w_max"][r, i, j] == 0.0 + 1.0 * max(abs(1.0 + 0.2 * xmax), 1e-3)
                assert maps["w_min"][r, i, j] == 0.0 + (-1.0) * max(abs(1.0 + 0.25 * xmin), 1e-3)
                assert maps["reference"][r, i, j] == 0.01 + 0.5 * xref
    assert np.isnan(maps["symmetric_point"]).all()


# ----------------------------------------------------------------------------------------------
# (a) Twin-internal tests: maps and closed forms (shared/theory.md §2, §5)
# ----------------------------------------------------------------------------------------------

# Closed-form symmetric points (theory.md §2.1 table and C5-C8).
CLOSED_FORM_SP = [
    ("linear_step", {"lo": -0.5, "hi": 1.0, "sp": 0.1}, 0.1),
    ("skew_linear", {"lo": -3.5, "hi": 3.5, "c": 0.2}, 0.2 * 3.5),
    ("soft_bounds", {"lo": -1.0, "hi": 1.0, "alpha_up": 1.1, "alpha_down": 0.9}, 0.1),
    ("soft_bounds", {"lo": -0.5, "hi": 1.5, "alpha_up": 1.2, "alpha_down": 0.8}, 1.0 / 6.0),
    ("power", {"gamma_up": 3.0, "gamma_down": 3.0}, 0.0),
    ("exponential", {"gamma_up": 4.0, "gamma_down": 4.0}, 0.0),
    ("power_step", {"gamma_up": 1.0, "gamma_down": 2.0}, math.sqrt(5.0) - 2.0),
    ("power_step", {"gamma_up": 2.0, "gamma_down": 2.0}, 0.0),
    ("exp_step", {"gamma_up": 2.0, "gamma_down": 1.0}, 1.0 / 3.0),
]


@pytest.mark.parametrize(("family", "params", "expected"), CLOSED_FORM_SP)
def test_symmetric_point_bisection(family: str, params: dict[str, Any], expected: float) -> None:
    """Without spread every element's SP is the family's closed form (C5-C8)."""
    tile = TwinTile(make_spec(family, **params), UPDATES["expected"], 2, 2, 1, KEY)
    maps = tile.maps()
    # Bisection stops at adjacent floats; the root's conditioning (|h'| >= 1e-3) keeps the
    # error within a few ulp of the bound scale, far below 1e-13.
    assert_allclose(maps["symmetric_point"], expected, rtol=0, atol=1e-13)
    assert_array_equal(maps["step_up"], 1e-3)
    assert_array_equal(maps["w_min"], make_spec(family, **params)["lo"])
    assert_array_equal(maps["w_max"], make_spec(family, **params)["hi"])


def test_subtract_symmetry_point_sets_reference() -> None:
    """With subtract_symmetry_point the reference is mean + std*xi + SP; logical weight 0."""
    spec = make_spec("exp_step", reference_mean=0.02, subtract_symmetry_point=True)
    tile = TwinTile(spec, UPDATES["expected"], 2, 2, 1, KEY)
    assert_allclose(tile.maps()["reference"], 0.02 + 1.0 / 3.0, rtol=0, atol=1e-13)
    assert_array_equal(tile.weights(), 0.0)


def test_c9_constant_step_is_exact() -> None:
    """C9: q = 1, no noise: n up pulses move w by exactly n*dw_min (dw_min = 2**-10, exact)."""
    dw = 2.0**-10
    tile = TwinTile(make_spec("ideal", dw_min=dw), UPDATES["ceil"] | {"max_bl": 100}, 1, 3, 1, KEY)
    n = np.array([[[7, 0, 30]]])
    counts = tile.apply_delta(n * dw, 0)
    assert counts.tolist() == [37]
    assert_array_equal(tile.pulse_counts(0), n)
    assert_array_equal(tile.weights(), n * dw)


def test_c9_ald_steps_at_half_tau() -> None:
    """C9: ALD at w = 0.5 tau: the up step is 0.5 dw_min and the down step 1.5 dw_min."""
    spec = make_spec("linear_step", lo=-1.0, hi=1.0, sp=0.0)
    tile = TwinTile(spec, UPDATES["ceil"], 1, 2, 1, KEY)
    tile.set_weights(np.full((1, 1, 2), 0.5))
    tile.apply_delta(np.array([[[1e-3, -1e-3]]]), 0)
    # One pulse, one rounding of an O(1) sum: exact to half an ulp of 0.5.
    assert_allclose(tile.weights()[0, 0], [0.5 + 0.5e-3, 0.5 - 1.5e-3], rtol=0, atol=EPS)


@pytest.mark.parametrize(("dw", "n", "expected"), [(0.05, 50, 0.2390355), (0.01, 10, 0.2079641)])
def test_c10_ald_pulse_count(dw: float, n: int, expected: float) -> None:
    """C10: ALD tau 1, w0 0.2, dw_min 1e-3, ceil: tau - (tau - w0)(1 - dw_min/tau)**n."""
    spec = make_spec("linear_step", lo=-1.0, hi=1.0, sp=0.0)
    upd = {"kind": "pulse_count", "max_bl": 100, "rounding": "ceil"}
    tile = TwinTile(spec, upd, 1, 1, 1, KEY)
    tile.set_weights(np.full((1, 1, 1), 0.2))
    assert tile.apply_delta(np.full((1, 1, 1), dw), 0).tolist() == [n]
    w = float(tile.weights()[0, 0, 0])
    assert round(w, 7) == expected
    # n sequential pulses, each a few roundings of O(1) numbers: error <= ~3n ulp << 1e-13.
    assert_allclose(w, 1.0 - 0.8 * (1.0 - 1e-3) ** n, rtol=1e-13)


def test_c12_stochastic_parameters_exact() -> None:
    """C12: BL management, lr .01, dw_min 1e-3: x=d=1 gives BL 10, A=B=1; x=.5 gives 5, 1, 2."""
    upd = ref.UpdateSpec.from_dict(stochastic_update())
    assert ref.stochastic_pulse_parameters(1.0, 1.0, 0.01, 1e-3, upd) == (10, 1.0, 1.0)
    params = ref.stochastic_pulse_parameters(0.5, 1.0, 0.01, 1e-3, upd)
    assert params is not None
    bl, a, b = params
    assert bl == 5
    # sqrt(2)*sqrt(1/2) and sqrt(2)*sqrt(2) round to 1 and 2 within 2 ulp (C12: "1 +- 2e-16").
    assert_allclose([a, b], [1.0, 2.0], rtol=4 * EPS, atol=0)
    assert ref.stochastic_pulse_parameters(0.0, 1.0, 0.01, 1e-3, upd) is None


@pytest.mark.parametrize(("x", "count"), [(1.0, 10), (0.5, 5)])
def test_c12_stochastic_update_exact(x: float, count: int) -> None:
    """C12: with probabilities exactly 1 every slot fires; dW = -0.01 and -0.005 (ideal)."""
    tile = TwinTile(make_spec("ideal"), stochastic_update(), 1, 1, 1, KEY)
    n = tile.update(np.full((1, 1, 1), x), np.ones((1, 1, 1)), 0.01, 0)
    assert n.tolist() == [count]
    # count subtractions of 1e-3 from 0, each exact to half an ulp of <= 0.01.
    assert_allclose(tile.weights()[0, 0, 0], -count * 1e-3, rtol=0, atol=count * EPS * 0.01)


def test_c13_stochastic_count_is_binomial() -> None:
    """C13: fixed BL 10, no management, A = B = 1, x .3, d .2: count ~ Binomial(10, 0.06)."""
    upd = stochastic_update(desired_bl=10, update_management=False, update_bl_management=False)
    replicas, calls = 4000, 5
    tile = TwinTile(make_spec("ideal"), upd, 1, 1, replicas, KEY)
    x = np.full((replicas, 1, 1), 0.3)
    d = np.full((replicas, 1, 1), 0.2)
    counts = []
    for _ in range(calls):  # each (replica, tick) pair is an independent stream
        before = tile.weights()[:, 0, 0]
        n = tile.update(x, d, 0.01, 0)
        # Ideal device, no clipping: dW = -n dw_min exactly up to n roundings.
        assert_allclose(tile.weights()[:, 0, 0] - before, -1e-3 * n, rtol=0, atol=1e-15)
        counts.append(n.astype(np.float64))
    sample = np.concatenate(counts)
    size = sample.size
    bl, p = 10, 0.3 * 0.2
    mean = bl * p  # 0.6
    var = bl * p * (1 - p)  # 0.564
    mu4 = var * (1 + 3 * (bl - 2) * p * (1 - p))  # 4th central moment of a binomial
    # 5 sigma of the sample mean and of the sample variance (Var s^2 ~ (mu4 - var^2)/N).
    assert abs(sample.mean() - mean) < 5 * math.sqrt(var / size)
    assert abs(sample.var(ddof=1) - var) < 5 * math.sqrt((mu4 - var**2) / size)
    assert sample.max() <= bl


def test_c14_stochastic_rounding_is_unbiased() -> None:
    """C14: stochastic rounding: n - floor(r) ~ Bernoulli(frac(r)), so E[n] dw_min = |dW|."""
    upd = {"kind": "pulse_count", "max_bl": 100, "rounding": "stochastic"}
    shape = (8, 50, 50)
    tile = TwinTile(make_spec("ideal"), upd, shape[1], shape[2], shape[0], KEY)
    delta = np.full(shape, -0.0033)
    delta[:, :, ::2] = 0.0033
    n = tile.apply_delta(delta, 0)
    counts = tile.pulse_counts(0).astype(np.float64)
    assert n.tolist() == counts.reshape(8, -1).sum(axis=1).tolist()
    ratio = 0.0033 / 1e-3
    frac = ratio - math.floor(ratio)
    assert set(np.unique(counts).tolist()) <= {3.0, 4.0}
    # Exact: counts - 3 are N independent Bernoulli(frac) (one uniform per element).
    sd = math.sqrt(frac * (1 - frac) / counts.size)
    assert abs(counts.mean() - ratio) < 5 * sd
    # Ideal device: the weight moves by sign(delta) n dw_min.
    assert_allclose(tile.weights(), np.sign(delta) * counts * 1e-3, rtol=0, atol=1e-15)


def test_c14_ceil_rounding_overshoots_by_less_than_one_step() -> None:
    """C14: ceil gives n dw_min - |dW| in [0, dw_min) (up to the 2**-40 guard of spec §6)."""
    rng = np.random.default_rng(3)
    shape = (2, 20, 30)
    delta = rng.uniform(-0.05, 0.05, shape)
    delta[0, 0, :5] = [0.05, 0.01, 1e-3, -2e-3, 1e-12]
    upd = {"kind": "pulse_count", "max_bl": 1000, "rounding": "ceil"}
    tile = TwinTile(make_spec("ideal"), upd, shape[1], shape[2], shape[0], KEY)
    tile.apply_delta(delta, 0)
    n = tile.pulse_counts(0).astype(np.float64)
    assert n[0, 0, :5].tolist() == [50.0, 10.0, 1.0, 2.0, 1.0]  # any ratio > 0 fires >= 1
    over = n * 1e-3 - np.abs(delta)
    # The guard ceil(r (1 - 2**-40)) may round down a ratio within 2**-40 of an integer, and
    # n*dw_min itself is rounded: allow |dW| * 2**-39 below zero.
    assert (over >= -np.abs(delta) * 2.0**-39).all()
    assert (over < 1e-3).all()


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "ideal"])
def test_expected_mode_is_the_compact_update(family: str) -> None:
    """Expected mode = AU(W, dW) = W + dW F(W) - |dW| G(W) (theory.md §1.2), without spread."""
    spec = make_spec(family)
    shape = (2, 6, 7)
    rng = np.random.default_rng(5)
    tile = TwinTile(spec, UPDATES["expected"], shape[1], shape[2], shape[0], KEY)
    w0 = rng.uniform(spec["lo"] * 0.5, spec["hi"] * 0.5, shape)
    tile.set_weights(w0)
    delta = rng.uniform(-0.05, 0.05, shape)
    n = tile.apply_delta(delta, 0)
    dev = ref.DeviceSpec.from_dict(spec)
    lo = np.full(shape, spec["lo"])
    hi = np.full(shape, spec["hi"])
    qp = dev.q_plus(w0, lo, hi)
    qm = dev.q_minus(w0, lo, hi)
    f, g = (qm + qp) / 2, (qm - qp) / 2
    # F and G add two roundings on terms <= 0.1 to O(1) weights: a few ulp, below 2e-15.
    assert_allclose(tile.weights(), w0 + delta * f - np.abs(delta) * g, rtol=0, atol=2e-15)
    expected_n = np.ceil(np.abs(delta) / 1e-3 * (1 - 2.0**-40))
    assert_array_equal(tile.pulse_counts(0), expected_n)
    assert_array_equal(n, expected_n.reshape(2, -1).sum(axis=1))


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("mode", list(UPDATES))
@pytest.mark.parametrize("family", FAMILIES)
def test_twin_bounds_and_counters(family: str, mode: str, variant: str) -> None:
    """Physical states never leave [w_min, w_max]; counters add up; tick advances per call."""
    spec = make_spec(family, **VARIANTS[variant])
    snaps = run_scenario(twin_factory, spec, UPDATES[mode], lr=0.5, steps=2)
    lo, hi = snaps[0]["maps"]["w_min"], snaps[0]["maps"]["w_max"]
    assert (lo < hi).all()
    for before, after in itertools.pairwise(snaps[1:-1]):
        assert (after["physical"] >= lo).all()
        assert (after["physical"] <= hi).all()
        assert_array_equal(after["weights"], after["physical"] - snaps[0]["maps"]["reference"])
        assert after["tick"] == before["tick"] + 1
        added = sum(
            (a.astype(np.int64) - b.astype(np.int64)).reshape(3, -1).sum(axis=1)
            for a, b in zip(after["counts"], before["counts"], strict=True)
        )
        assert_array_equal(added, after["returned"])
    assert not snaps[-1]["counts"][1].any()  # reset_pulse_counts(1)


@pytest.mark.parametrize("mode", list(UPDATES))
def test_twin_replica_prefix(mode: str) -> None:
    """Replica r of an R-replica tile equals a 1-replica tile with replica_offset = r."""
    spec = make_spec("soft_bounds", **VARIANTS["noisy"])
    full = run_scenario(twin_factory, spec, UPDATES[mode], replicas=3, replica_offset=0, steps=2)
    for r in range(3):
        one = run_scenario(
            sliced_factory(twin_factory, r),
            spec,
            UPDATES[mode],
            replicas=3,
            replica_offset=0,
            steps=2,
        )
        for a, b in zip(full, one, strict=True):
            assert_array_equal(b["weights"][r], a["weights"][r])
            for ca, cb in zip(a["counts"], b["counts"], strict=True):
                assert_array_equal(cb[r], ca[r])
            if a["returned"] is not None:
                assert b["returned"][r] == a["returned"][r]


class _SlicedTile:
    """Presents replica ``r`` of an R-replica scenario as a 1-replica tile with offset r."""

    def __init__(self, inner: TileLike, r: int) -> None:
        self.inner = inner
        self.r = r

    @property
    def tick(self) -> int:
        return self.inner.tick

    def _pad(self, a: Any) -> Any:
        out = np.zeros((3, *np.shape(a)[1:]), dtype=np.asarray(a).dtype)
        out[self.r] = np.asarray(a)[0]
        return out

    def weights(self) -> F64:
        return self._pad(self.inner.weights())  # type: ignore[no-any-return]

    def physical_weights(self) -> F64:
        return self._pad(self.inner.physical_weights())  # type: ignore[no-any-return]

    def set_weights(self, w: F64) -> None:
        self.inner.set_weights(np.ascontiguousarray(w[self.r : self.r + 1]))

    def update(self, x: F64, d: F64, lr: float, phase: int, n_threads: int | None = None) -> U64:
        sl = slice(self.r, self.r + 1)
        out = self.inner.update(
            np.ascontiguousarray(x[sl]), np.ascontiguousarray(d[sl]), lr, phase, n_threads
        )
        return self._pad(out)  # type: ignore[no-any-return]

    def apply_delta(self, delta: F64, phase: int, n_threads: int | None = None) -> U64:
        out = self.inner.apply_delta(np.ascontiguousarray(delta[self.r : self.r + 1]), phase)
        return self._pad(out)  # type: ignore[no-any-return]

    def pulse_counts(self, phase: int) -> U64:
        return self._pad(self.inner.pulse_counts(phase))  # type: ignore[no-any-return]

    def reset_pulse_counts(self, phase: int | None = None) -> None:
        self.inner.reset_pulse_counts(phase)

    def maps(self) -> dict[str, F64]:
        return {k: self._pad(v) for k, v in self.inner.maps().items()}


def sliced_factory(factory: TileFactory, r: int) -> TileFactory:
    """Wrap ``factory`` so a 3-replica scenario runs replica ``r`` alone (offset ``r``)."""

    def make(
        spec: Mapping[str, Any],
        update: Mapping[str, Any],
        out_size: int,
        in_size: int,
        replicas: int,
        replica_offset: int,
    ) -> TileLike:
        inner = factory(spec, update, out_size, in_size, 1, replica_offset + r)
        return _SlicedTile(inner, r)

    return make


def test_twin_errors_leave_tile_unchanged() -> None:
    """Bad input raises a ValueError subclass and changes nothing (tick included)."""
    with pytest.raises(ParameterError, match="'subtract_symmetry_point' parameter"):
        TwinTile(
            make_spec("ideal") | {"subtract_symmetry_point": True}, UPDATES["ceil"], 1, 1, 1, KEY
        )
    tile = TwinTile(make_spec("power"), stochastic_update(), 2, 2, 1, KEY)
    with pytest.raises(ParameterError, match="'update' parameter"):
        tile.apply_delta(np.zeros((1, 2, 2)), 0)
    with pytest.raises(ShapeError, match="'x' parameter"):
        tile.update(np.zeros((1, 1, 3)), np.zeros((1, 1, 2)), 0.1, 0)
    with pytest.raises(ParameterError, match="'phase' parameter"):
        tile.update(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), 0.1, 3)
    assert tile.tick == 0
    assert not tile.pulse_counts(0).any()


# ----------------------------------------------------------------------------------------------
# (b) Kernel == twin (needs the compiled extension)
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def core() -> ModuleType:
    """Return ``pulsetrain._core``; skip only if that module itself is missing."""
    try:
        return importlib.import_module("pulsetrain._core")
    except ModuleNotFoundError as exc:
        if exc.name != "pulsetrain._core":
            raise
        pytest.skip("needs the compiled extension pulsetrain._core (run `maturin develop`)")


# The twin mirrors every floating-point operation of spec §4-§6 and calls the same libm, so
# weights are expected to be bit-identical. The tolerance only admits a last-bit libm or
# operation-order difference propagated through <= ~100 contracting pulse steps (<= ~1e-14),
# two orders of magnitude below rtol; atol covers weights that cross zero.
RTOL, ATOL = 1e-12, 1e-15


def assert_same(twin: list[Snapshot], kernel: list[Snapshot]) -> None:
    """Counts and maps exactly equal, weights to RTOL/ATOL, for every snapshot."""
    assert len(twin) == len(kernel)
    for k, (a, b) in enumerate(zip(twin, kernel, strict=True)):
        where = f"snapshot {k} (0 = construction, 1 = set_weights, then one per call)"
        if k == 0:
            assert set(a["maps"]) == set(b["maps"])
            for name in a["maps"]:
                assert_array_equal(b["maps"][name], a["maps"][name], err_msg=f"map {name}")
        assert b["tick"] == a["tick"], where
        if a["returned"] is not None:
            assert_array_equal(b["returned"], a["returned"], err_msg=f"returned, {where}")
        for phase, (ca, cb) in enumerate(zip(a["counts"], b["counts"], strict=True)):
            assert_array_equal(cb, ca, err_msg=f"pulse_counts({phase}), {where}")
        assert_allclose(b["physical"], a["physical"], rtol=RTOL, atol=ATOL, err_msg=where)
        assert_allclose(b["weights"], a["weights"], rtol=RTOL, atol=ATOL, err_msg=where)


def test_core_rng_helpers_match_twin(core: ModuleType) -> None:
    """_core.philox_raw/uniforms/normals replay the twin's streams bit for bit."""
    assert core.rng_scheme == ref.RNG_SCHEME
    key = [int(k) for k in KEY]
    for counter in COUNTER_CASES:
        assert_array_equal(core.philox_raw(key, counter, 13), ref.philox_raw(KEY, counter, 13)[0])
        assert_array_equal(core.uniforms(key, counter, 13), ref.uniforms(KEY, counter, 13)[0])
        assert_array_equal(core.normals(key, counter, 13), ref.normals(KEY, counter, 13)[0])


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("mode", list(UPDATES))
@pytest.mark.parametrize("family", FAMILIES)
def test_core_matches_twin(core: ModuleType, family: str, mode: str, variant: str) -> None:
    """Kernel and twin agree for every family, update mode and noise/spread/offset variant."""
    spec = make_spec(family, **VARIANTS[variant])
    twin = run_scenario(twin_factory, spec, UPDATES[mode])
    kernel = run_scenario(core_factory(core), spec, UPDATES[mode])
    assert_same(twin, kernel)


LARGE_CASES = [
    ("expected_noise", UPDATES["expected_noise"], 0.2),
    ("stochastic_rounding", UPDATES["stochastic_rounding"], 0.2),
    ("ceil_uncapped", {"kind": "pulse_count", "max_bl": 5000, "rounding": "ceil"}, 1.0),
    ("sp_bl_management", UPDATES["sp_bl_management"], 0.2),
    # BL = min(ceil(k), 100) = 100: trains longer than one 64-bit word.
    ("sp_bl_management_100", stochastic_update(desired_bl=100), 5.0),
    ("sp_fixed_bl_1024", stochastic_update(desired_bl=1024, update_bl_management=False), 0.5),
    # fixed_bl False and dw_min * desired_bl < lr: BL = ceil(lr/dw_min) = 200 > desired_bl.
    ("sp_free_bl_200", UPDATES["sp_free_bl"], 0.2),
    # lr/dw_min = 5000 slots: capped at 1024 (the longest train), in kernel and twin alike.
    ("sp_free_bl_capped", UPDATES["sp_free_bl"], 5.0),
]


@pytest.mark.parametrize(("name", "update", "lr"), LARGE_CASES, ids=[c[0] for c in LARGE_CASES])
def test_core_matches_twin_larger_tile(
    core: ModuleType, name: str, update: dict[str, Any], lr: float
) -> None:
    """Several row blocks, a longer batch, large lr and bit trains longer than 64 slots."""
    spec = make_spec("exp_step", **VARIANTS["noisy"])
    kwargs: dict[str, Any] = {"out_size": 37, "in_size": 9, "batch": 5, "lr": lr}
    twin = run_scenario(twin_factory, spec, update, **kwargs)
    kernel = run_scenario(core_factory(core), spec, update, **kwargs)
    assert_same(twin, kernel)


WIDE_CASES = [
    ("stochastic_rounding", UPDATES["stochastic_rounding"], 0.2),
    ("ceil_uncapped", {"kind": "pulse_count", "max_bl": 5000, "rounding": "ceil"}, 0.05),
    ("sp_bl_management", UPDATES["sp_bl_management"], 0.2),
]


@pytest.mark.parametrize(("name", "update", "lr"), WIDE_CASES, ids=[c[0] for c in WIDE_CASES])
def test_core_matches_twin_wide_rows(
    core: ModuleType, name: str, update: dict[str, Any], lr: float
) -> None:
    """Rows wider than the kernel's block of trains fired together (1024 columns)."""
    spec = make_spec("soft_bounds", **VARIANTS["noisy"])
    kwargs: dict[str, Any] = {"out_size": 2, "in_size": 1100, "batch": 2, "lr": lr}
    twin = run_scenario(twin_factory, spec, update, **kwargs)
    kernel = run_scenario(core_factory(core), spec, update, **kwargs)
    assert_same(twin, kernel)


SPARSE_MODES = [m for m, u in UPDATES.items() if u["kind"] == "stochastic_pulse"]


@pytest.mark.parametrize("mode", SPARSE_MODES)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_core_matches_twin_sparse_rows(core: ModuleType, mode: str, n_threads: int) -> None:
    """Most rows' d trains empty (sparse updates, as in a network's layers): the kernel draws
    the one-word d trains of a sample's rows together and opens a row's stream only after a
    train with a bit; the twin draws each row's train from its stream. Same pulses."""
    spec = make_spec("soft_bounds", **VARIANTS["noisy"])
    kwargs: dict[str, Any] = {"out_size": 40, "in_size": 9, "batch": 5, "sparse_d": True}
    twin = run_scenario(twin_factory, spec, UPDATES[mode], **kwargs)
    kernel = run_scenario(core_factory(core), spec, UPDATES[mode], n_threads=n_threads, **kwargs)
    assert_same(twin, kernel)
    # Sparse indeed, with pulses: fewer than half the elements got one in the first update.
    fired = kernel[2]["counts"][0]
    assert 0 < np.count_nonzero(fired) < fired.size / 2


@pytest.mark.parametrize("n_threads", [1, 2])
def test_samples_without_d_bits_skip_their_x_trains(n_threads: int) -> None:
    """Eight rows with weak errors: k = lr·x_m·d_m/dw_min is 0.0008 to 0.002, so each row's d
    train has p ≤ sqrt(k/31) < 0.008 per slot, and by Π_i (1 − p_i)³¹ about 74 of the 200
    samples (37%) have no d bit at all (every sample is sparse: at most 1.6 rows expected with
    a train). The kernel draws such a sample's d trains first and skips its x trains; the twin
    draws every train. Same weights and pulse counts, and the updates did fire. (With the skip
    taken on any empty row instead, this test fails.)"""
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_std=0.3, dw_min_dtod=0.2)
    upd = pt.StochasticPulseUpdate(desired_bl=31, update_bl_management=False)
    tiles = [
        pt.AnalogTile(8, 9, dev, update=upd, rng=21, n_threads=n_threads, backend=backend)
        for backend in ("rust", "twin")
    ]
    gen = np.random.default_rng(4)
    x = gen.uniform(-1.0, 1.0, (5, 40, 9))
    d = gen.uniform(-0.002, 0.002, (5, 40, 8))
    for k in range(5):
        for t in tiles:
            t.update(x[k], d[k], lr=0.01)
    rust, twin = tiles
    assert_array_equal(rust.weights, twin.weights)
    assert_array_equal(rust.pulse_counts(), twin.pulse_counts())
    assert rust.pulse_counts().sum() > 0


@pytest.mark.parametrize("mode", list(UPDATES))
def test_core_deterministic_across_threads(core: ModuleType, mode: str) -> None:
    """Results are bit-identical for n_threads in {1, 2, 3, 8} (CONVENTIONS §5)."""
    spec = make_spec("power_step", **VARIANTS["noisy"])
    kwargs: dict[str, Any] = {"out_size": 40, "in_size": 6, "batch": 4}
    runs = [
        run_scenario(core_factory(core), spec, UPDATES[mode], n_threads=t, **kwargs)
        for t in (1, 2, 3, 8)
    ]
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            assert_array_equal(b["physical"], a["physical"])
            for ca, cb in zip(a["counts"], b["counts"], strict=True):
                assert_array_equal(cb, ca)
            if a["returned"] is not None:
                assert_array_equal(b["returned"], a["returned"])


@pytest.mark.parametrize("mode", list(UPDATES))
def test_core_replica_prefix(core: ModuleType, mode: str) -> None:
    """Replica r of an R-replica kernel tile equals a 1-replica tile with replica_offset = r."""
    spec = make_spec("linear_step", **VARIANTS["multiplicative_log_normal"])
    factory = core_factory(core)
    full = run_scenario(factory, spec, UPDATES[mode], replica_offset=0)
    for r in range(3):
        one = run_scenario(sliced_factory(factory, r), spec, UPDATES[mode], replica_offset=0)
        for a, b in zip(full, one, strict=True):
            assert_array_equal(b["physical"][r], a["physical"][r])
            for ca, cb in zip(a["counts"], b["counts"], strict=True):
                assert_array_equal(cb[r], ca[r])
            if a["returned"] is not None:
                assert b["returned"][r] == a["returned"][r]


BL1_RESPONSES: dict[str, pt.SoftBounds | pt.PowerStep | pt.Ideal] = {
    "soft_bounds": pt.SoftBounds(),
    "power_step": pt.PowerStep(gamma_up=0.5, gamma_down=2.0),
    "ideal": pt.Ideal(),
}


@pytest.mark.parametrize("response", list(BL1_RESPONSES))
@pytest.mark.parametrize("c2c", [pt.C2CMode.MULTIPLICATIVE, pt.C2CMode.ADDITIVE])
@pytest.mark.parametrize(
    ("shape", "d_scale"), [((8, 9), 0.1), ((160, 210), 0.1), ((160, 210), 0.002)]
)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_bl1_single_pulse_trains(
    response: str, c2c: pt.C2CMode, shape: tuple[int, int], d_scale: float, n_threads: int
) -> None:
    """BL management at k = lr·x_m·d_m/dw_min ≤ 1: every train is one slot, every coincidence
    one pulse, which the kernel fires without staging lanes (`Pulser::fire_singles`), on a small
    tile and on one of 33,600 elements (from 2¹⁵ on the kernel prefetches sparse samples'
    elements), with errors of which most rows have a train (d_scale 0.1) or few (0.002, the
    sample's d trains drawn together), with and without the aggregated sampler (on for the
    affine families with additive noise; it never aggregates a train of one pulse). Same
    weights and pulse counts as the twin, which fires every train pulse by pulse. (With each
    pulse given its successor's normal in `fire_singles`, all 36 cases fail.)"""
    out_size, in_size = shape
    dev = pt.Device(
        response=BL1_RESPONSES[response],
        dw_min=0.001,
        dw_min_std=0.3,
        c2c_mode=c2c,
        dw_min_dtod=0.2,
        w_max_dtod=0.2,
        w_min_dtod=0.2,
    )
    upd = pt.StochasticPulseUpdate(desired_bl=31)
    tiles = [
        pt.AnalogTile(out_size, in_size, dev, update=upd, rng=5, n_threads=n_threads, backend=b)
        for b in ("rust", "twin")
    ]
    gen = np.random.default_rng(6)
    w0 = gen.uniform(-0.5, 0.5, (out_size, in_size))
    for t in tiles:
        t.set_weights(w0)
    lr = 0.01  # k ≤ 0.01·1·0.1/0.001 = 1: BL 1
    for _ in range(3):
        x = gen.uniform(-1.0, 1.0, (6, in_size))
        d = gen.uniform(-d_scale, d_scale, (6, out_size))
        for t in tiles:
            t.update(x, d, lr=lr)
    rust, twin = tiles
    assert_array_equal(rust.weights, twin.weights)
    assert_array_equal(rust.pulse_counts(), twin.pulse_counts())
    assert rust.pulse_counts().sum() > 0
    assert not np.array_equal(rust.weights, w0)
