"""Checkpoints (issue 17 item 4): tile state, algorithm state, and ``run(checkpoint=...)``.

Every check here is exact: a state saved and loaded into a freshly built object, then run on,
must give the same bits as the object that was never interrupted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.errors import NonFiniteError, ParameterError, ShapeError
from pulsetrain.tile import AnalogTile
from pulsetrain.updates import ExpectedUpdate, PulseCountUpdate, Rounding, StochasticPulseUpdate

BACKENDS = ("rust", "twin")

# A noisy device: cycle-to-cycle noise (drawn from the pulse streams) and device-to-device
# variation (drawn from the key at construction), so a wrong tick or key changes the numbers.
NOISY = pt.Device(
    response=pt.SkewLinear(tau=1.0, c_lin=0.3),
    dw_min=1e-2,
    dw_min_std=0.3,
    dw_min_dtod=0.2,
    up_down_dtod=0.05,
    reference_std=0.05,
)
MODES = (
    ExpectedUpdate(),
    PulseCountUpdate(max_bl=8, rounding=Rounding.STOCHASTIC),
    StochasticPulseUpdate(),
)


def _drive(tile: AnalogTile, k: int) -> None:
    """One step of mixed calls on `tile`: an update (every mode) and exact transfer pulses."""
    g = np.random.default_rng(1000 + k)
    r, o, i = tile.shape
    tile.update(g.normal(size=(r, 3, i)), g.normal(size=(r, 3, o)), lr=0.05)
    tile.apply_pulses(g.integers(-2, 3, size=(r, o, i)), phase="transfer")


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        va, vb = a[k], b[k]
        if isinstance(va, np.ndarray):
            if not (va.dtype == vb.dtype and np.array_equal(va, vb)):
                return False
        elif va != vb:
            return False
    return True


@pytest.mark.parametrize("mode", MODES, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize(("save_on", "load_on"), [(a, b) for a in BACKENDS for b in BACKENDS])
def test_tile_state_round_trip_continues_bit_identically(
    mode: Any, save_on: str, load_on: str
) -> None:
    """Save after 3 steps, load into a fresh tile (either backend), run 3 more: same bits."""
    make = {
        be: (lambda be=be: AnalogTile(3, 4, NOISY, replicas=2, update=mode, rng=7, backend=be))
        for be in BACKENDS
    }
    ref, saved = make[save_on](), make[save_on]()
    for k in range(3):
        _drive(ref, k)
        _drive(saved, k)
    state = saved.state_dict()
    assert all(isinstance(v, np.ndarray | int | str) for v in state.values())
    resumed = make[load_on]()
    resumed.load_state_dict(state)
    assert _same_state(resumed.state_dict(), state)
    assert resumed.tick == 6
    for k in range(3, 6):
        _drive(ref, k)
        _drive(resumed, k)
    assert np.array_equal(ref.weights, resumed.weights)
    assert _same_state(ref.state_dict(), resumed.state_dict())


def test_tile_maps_are_derived_from_the_key() -> None:
    """The maps are not saved: two tiles of one seed and index have the same maps bit for bit,
    and a state records the key that makes them (another seed gives other maps)."""
    a = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=1)
    b = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=1, backend="twin")
    c = AnalogTile(3, 4, NOISY, replicas=2, rng=3, tile_index=2)
    for name, arr in a.maps().items():
        np.testing.assert_array_equal(arr, b.maps()[name], err_msg=name)
    assert not np.array_equal(a.maps()["step_up"], c.maps()["step_up"])
    assert a.key == b.key != c.key
    assert list(a.state_dict()["key"]) == list(a.key)


def _bad_states(tile: AnalogTile) -> list[tuple[str, dict[str, Any], type[Exception]]]:
    good = tile.state_dict()

    def edit(**changes: Any) -> dict[str, Any]:
        out = dict(good)
        out.update(changes)
        return out

    missing = dict(good)
    del missing["tick"]
    shape = (2, 3, 4)
    other_dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-2)
    return [
        ("missing key", missing, ParameterError),
        ("unknown key", edit(extra=1), ParameterError),
        ("format", edit(format="other/1"), ParameterError),
        ("key", edit(key=np.array([1, 2], dtype=np.uint64)), ParameterError),
        ("replica_offset", edit(replica_offset=1), ParameterError),
        ("replicas", edit(replicas=3), ShapeError),
        (
            "device",
            edit(device=AnalogTile(3, 4, other_dev, replicas=2).state_dict()["device"]),
            ParameterError,
        ),
        ("tick", edit(tick=-1), ParameterError),
        ("tick type", edit(tick=1.5), ParameterError),
        ("weights shape", edit(physical_weights=np.zeros((2, 3, 3))), ShapeError),
        ("weights dtype", edit(physical_weights=np.zeros(shape, np.float32)), ShapeError),
        ("reference NaN", edit(reference=np.full(shape, np.nan)), NonFiniteError),
        ("counts shape", edit(**{"pulse_counts.update": np.zeros((2, 3), np.uint64)}), ShapeError),
        ("counts dtype", edit(**{"pulse_counts.transfer": np.zeros(shape)}), ShapeError),
        ("counts < 0", edit(**{"pulse_counts.update": np.full(shape, -1)}), ParameterError),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_tile_load_rejects_a_bad_state_and_leaves_the_tile_unchanged(backend: str) -> None:
    tile = AnalogTile(3, 4, NOISY, replicas=2, rng=7, backend=backend)
    _drive(tile, 0)
    before = tile.state_dict()
    # A good state of the same tile at another point, which must not be half-applied.
    other = AnalogTile(3, 4, NOISY, replicas=2, rng=7, backend=backend)
    for k in range(3):
        _drive(other, k)
    for label, bad, exc in _bad_states(other):
        with pytest.raises(exc):
            tile.load_state_dict(bad)
        assert _same_state(tile.state_dict(), before), label
    with pytest.raises(ParameterError, match="'state'"):
        tile.load_state_dict([1, 2])  # type: ignore[arg-type]


def test_tile_load_accepts_int64_counters_and_0d_ints() -> None:
    """What a torch state dict holds (int64 tensors as arrays, 0-d ints) loads the same."""
    tile = AnalogTile(3, 4, NOISY, replicas=2, rng=7)
    _drive(tile, 0)
    state = tile.state_dict()
    loose = {
        k: (v.astype(np.int64) if k.startswith("pulse_counts") or k == "key" else v)
        for k, v in state.items()
    }
    loose["tick"] = np.asarray(state["tick"])
    fresh = AnalogTile(3, 4, NOISY, replicas=2, rng=7)
    fresh.load_state_dict(loose)
    assert _same_state(fresh.state_dict(), state)
