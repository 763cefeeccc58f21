"""Exact pulse trains, noisy column reads and per-replica noise: kernel == twin, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.errors import ParameterError, ShapeError
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.twin import TwinTile, normals, stream_counters

DEV = pt.Device(
    response=pt.SoftBounds(slope_up=1.2, slope_down=0.8),
    dw_min=0.01,
    dw_min_std=0.3,
    dw_min_dtod=0.2,
    reference_std=0.05,
)
MODES: list[pt.UpdateMode] = [
    pt.ExpectedUpdate(),
    pt.PulseCountUpdate(),
    pt.StochasticPulseUpdate(),
]


def _pair(mode: pt.UpdateMode, device: pt.Device = DEV) -> tuple[pt.AnalogTile, TwinTile]:
    tile = pt.AnalogTile(7, 5, device, replicas=3, update=mode, rng=4, replica_offset=1)
    key = tile_key(as_seed_sequence(4), 0)
    twin = TwinTile(device.to_spec(), mode.to_spec(), 7, 5, 3, list(key), 1)
    return tile, twin


@pytest.mark.parametrize("mode", MODES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("noisy", [True, False])
def test_apply_pulses_matches_twin(mode: pt.UpdateMode, noisy: bool) -> None:  # noqa: FBT001
    device = DEV if noisy else pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_dtod=0.2)
    tile, twin = _pair(mode, device)
    gen = np.random.default_rng(0)
    for phase in (1, 0):
        counts = gen.integers(-6, 7, size=(3, 7, 5))
        a = tile.apply_pulses(counts, phase=pt.Phase.coerce(["update", "transfer"][phase]))
        b = twin.apply_pulses(counts, phase)
        np.testing.assert_array_equal(a.pulses, b)
        np.testing.assert_array_equal(a.pulses, np.abs(counts).reshape(3, -1).sum(axis=1))
    # Identical arithmetic in kernel and twin: bit-equal.
    np.testing.assert_array_equal(tile.weights, twin.weights())
    np.testing.assert_array_equal(tile.pulse_counts("transfer"), twin.pulse_counts(1))
    assert tile.tick == twin.tick == 2


def test_apply_pulses_exact_on_ideal_device() -> None:
    dev = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=0.01)
    t = pt.AnalogTile(2, 2, dev, update=pt.StochasticPulseUpdate(), rng=0)
    t.apply_pulses(np.array([[3, -2], [0, 7]]))
    np.testing.assert_allclose(t.weights[0], [[0.03, -0.02], [0.0, 0.07]], atol=1e-15)


def test_apply_pulses_rejects_bad_counts() -> None:
    t = pt.AnalogTile(2, 2, DEV, update=pt.ExpectedUpdate(), rng=0)
    before = (t.physical_weights.tobytes(), t.tick)
    with pytest.raises(ShapeError, match="'counts'"):
        t.apply_pulses(np.full((2, 2), 0.5))
    with pytest.raises(ParameterError, match="'counts'"):
        t.apply_pulses(np.full((2, 2), 2_000_000))
    with pytest.raises(ShapeError, match="'counts'"):
        t.apply_pulses(np.zeros((3, 2), dtype=int))
    assert (t.physical_weights.tobytes(), t.tick) == before


@pytest.mark.parametrize("noise", [0.0, 0.07])
def test_read_matches_twin(noise: float) -> None:
    tile, twin = _pair(pt.PulseCountUpdate())
    counts = np.random.default_rng(1).integers(-5, 6, size=(3, 7, 5))
    tile.apply_pulses(counts)
    twin.apply_pulses(counts, 0)
    cols = [4, 0, 4, 2]
    a = tile.read(cols, noise_std=noise)
    b = twin.read(cols, noise)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 7, 4)
    if noise == 0.0:
        np.testing.assert_array_equal(a, tile.weights[:, :, cols])
    np.testing.assert_array_equal(tile.read(noise_std=noise).shape, (3, 7, 5))


def test_read_noise_statistics() -> None:
    r = 20_000
    t = pt.AnalogTile(1, 1, pt.Device(response=pt.Ideal(), dw_min=0.01), replicas=r, rng=2)
    v = t.read([0], noise_std=0.1).ravel()
    assert abs(v.mean()) < 5 * 0.1 / math.sqrt(r)
    assert abs(v.var() - 0.01) < 5 * 0.01 * math.sqrt(2 / r)


def test_read_rejects_bad_arguments() -> None:
    t = pt.AnalogTile(2, 3, DEV, rng=0)
    with pytest.raises(ParameterError, match="'cols'"):
        t.read([3])
    with pytest.raises(ParameterError, match="'cols'"):
        t.read([-1])
    with pytest.raises(ParameterError, match="'noise_std'"):
        t.read([0], noise_std=-1.0)
    assert t.tick == 0


def test_replica_normals_are_per_replica_streams() -> None:
    key = [11, 12]
    block = _core.replica_normals(key, 5, 3, 4, 6, 7, 2)
    assert block.shape == (4, 6)
    want = normals(np.array(key, dtype=np.uint64), stream_counters(5, np.arange(3, 7), 0, 7, 0), 6)
    np.testing.assert_array_equal(block, want.reshape(4, 6))
    # Replica r does not depend on how many replicas are drawn, nor on threads.
    alone = _core.replica_normals(key, 5, 5, 1, 6, 7, 1)
    np.testing.assert_array_equal(alone[0], block[2])
