"""_core's Philox streams equal numpy.random.Philox; the normal transform is frozen."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.errors import ParameterError
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.streams import TILE
from pulsetrain.twin import ziggurat_normal

# The same numbers are pinned in rust/core/tests/golden.rs.
KEY = [0x0123456789ABCDEF, 0xFEDCBA9876543210]
CTR = [0, 7, (2 << 32) | 11, 1 | (3 << 8)]
RAW = [
    0x365F3738709B48CE,
    0x87F5BE84F5A24701,
    0x6CDC38B1FF41390B,
    0xAC2A5F09733FB16F,
    0xB873536049758EBE,
    0x2816662D177D07E0,
    0xB8FCBC68AA12B1CB,
    0xBB83B2E744C9F4E5,
]
NORMALS = [0.4601852048067142, -0.11431357381880351, -0.9557502107210541, 1.4462365495658336]


def _numpy_philox(key: list[int], counter: list[int]) -> np.random.Philox:
    return np.random.Philox(
        key=np.array(key, dtype=np.uint64), counter=np.array(counter, dtype=np.uint64)
    )


def test_golden_raw_words() -> None:
    assert _core.philox_raw(KEY, CTR, 8).tolist() == RAW
    assert _numpy_philox(KEY, CTR).random_raw(8).tolist() == RAW


@pytest.mark.parametrize(
    "counter",
    [[0, 0, 0, 0], [5, 1, (7 << 32) | 3, 2], [2**64 - 3, 9, 1, 0], [2**64 - 1, 2**64 - 1, 4, 6]],
)
@pytest.mark.parametrize("key", [[0, 0], [1, 2], [2**64 - 1, 12345]])
def test_raw_and_uniforms_equal_numpy(key: list[int], counter: list[int]) -> None:
    # Includes counters that carry across words, as NumPy's increment does.
    n = 37  # not a multiple of 4: ends inside a block
    np.testing.assert_array_equal(
        _core.philox_raw(key, counter, n), _numpy_philox(key, counter).random_raw(n)
    )
    np.testing.assert_array_equal(
        _core.uniforms(key, counter, n), np.random.Generator(_numpy_philox(key, counter)).random(n)
    )


def test_normals_are_the_ziggurat_on_numpy_words() -> None:
    # rng_scheme 2: each normal is the 256-layer ziggurat driven by the stream's raw words and
    # uniforms, here read from numpy.random.Philox itself.
    bg = _numpy_philox(KEY, CTR)

    def word() -> int:
        return int(bg.random_raw())

    def uniform() -> float:
        return (int(bg.random_raw()) >> 11) * 2.0**-53

    want = [ziggurat_normal(word, uniform) for _ in range(3000)]
    got = _core.normals(KEY, CTR, 3000)
    np.testing.assert_array_equal(got, np.array(want))
    np.testing.assert_array_equal(got[:4], NORMALS)


def test_normal_distribution_quantiles() -> None:
    # The ziggurat must be exactly N(0, 1): the empirical CDF at fixed points within 5 binomial
    # standard errors, including the tail beyond r = 3.654 (the tail branch).
    z = _core.normals([7, 8], [0, 0, 0, 0], 1_000_000)
    n = z.size
    for q in (-3.8, -3.0, -2.0, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 3.0, 3.8):
        p = 0.5 * (1.0 + math.erf(q / math.sqrt(2.0)))
        assert abs((z < q).mean() - p) < 5 * math.sqrt(p * (1 - p) / n), q


def test_normals_are_standard() -> None:
    z = _core.normals([3, 4], [0, 0, 0, 0], 200_000)
    n = z.size
    # Mean: sd 1/sqrt(n); variance: sd sqrt(2/n) for a normal. 5 sigma.
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2 / n)
    # Fourth moment 3 (sd sqrt(96/n)).
    assert abs((z**4).mean() - 3.0) < 5 * math.sqrt(96 / n)


def test_tile_key_follows_spawn_keys() -> None:
    root = np.random.SeedSequence(1234)
    key = tile_key(root, 3)
    want = np.random.SeedSequence(1234, spawn_key=(TILE, 3)).generate_state(2, np.uint64)
    assert list(key) == [int(v) for v in want]
    assert tile_key(root, 3) != tile_key(root, 4)


def test_seed_forms_agree() -> None:
    dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=0.01, dw_min_dtod=0.3)
    a = pt.AnalogTile(3, 4, dev, rng=42)
    b = pt.AnalogTile(3, 4, dev, rng=np.random.SeedSequence(42))
    np.testing.assert_array_equal(a.maps()["step_up"], b.maps()["step_up"])
    c = pt.AnalogTile(3, 4, dev, rng=43)
    assert not np.array_equal(a.maps()["step_up"], c.maps()["step_up"])
    # None draws fresh entropy and records it, so the tile can be rebuilt.
    d = pt.AnalogTile(3, 4, dev, rng=None)
    assert d.seed_entropy is not None
    e = pt.AnalogTile(3, 4, dev, rng=np.random.SeedSequence(d.seed_entropy))
    np.testing.assert_array_equal(d.maps()["step_up"], e.maps()["step_up"])


def test_bad_seed_is_rejected() -> None:
    with pytest.raises(ParameterError, match="'rng'"):
        as_seed_sequence(-1)
    with pytest.raises(ParameterError, match="'rng'"):
        as_seed_sequence("seed")  # type: ignore[arg-type]


def test_rng_scheme_is_exposed() -> None:
    assert pt.rng_scheme == _core.rng_scheme == 2
