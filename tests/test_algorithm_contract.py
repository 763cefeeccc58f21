"""The contract every registered algorithm keeps, in every update mode (shared/DESIGN.md §2).

Cases come from the registries (``conftest.algorithm_examples()`` × ``update_modes()``), so an
algorithm registered in the package is held to these checks without editing this file:

- the same seed gives the same bits on 1 and 2 threads, and replica r of a run equals a run of
  that replica alone (``replica_offset``);
- the NumPy twin (``backend="twin"``) gives the same pulses and the same numbers;
- the config round-trips through dicts and TOML, the result through its files;
- every digital state is float64 and is counted in ``TrainResult.memory``; pulse curves are
  cumulative;
- the algorithm trains a network layer (``AnalogLinear``) whose forward and backward passes agree
  with its effective weights under perfect IO.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import pulsetrain as pt
from conftest import algorithm_examples, update_modes
from pulsetrain.algorithms import Algorithm
from pulsetrain.config import dumps_toml, from_dict, loads_toml, to_dict
from pulsetrain.layers import AnalogLinear
from pulsetrain.problems import Classifier, LeastSquares

PROBLEM = LeastSquares(in_size=5, out_size=3, n_samples=12, batch_size=4, noise_std=0.02)
KW = {"steps": 12, "rng": 11, "progress": False, "record_every": 4}


# Cycle-to-cycle and device-to-device noise: every kernel call draws from the tile's streams,
# so a call made or skipped depending on other replicas would show up as a mismatch.
NOISY = pt.Device(
    response=pt.SoftBounds(w_max=1.0, w_min=-1.0), dw_min=0.01, dw_min_std=0.3, dw_min_dtod=0.2
)


def _cases() -> list[Algorithm]:
    out: list[Algorithm] = []
    for algo in algorithm_examples():
        names = {f.name for f in dataclasses.fields(algo)}  # type: ignore[arg-type]
        if "update" not in names:
            out.append(algo)
            continue
        for mode in update_modes():
            out.append(dataclasses.replace(algo, update=mode))  # type: ignore[type-var]
            out.append(dataclasses.replace(algo, update=mode, device=NOISY))  # type: ignore[type-var]
    return out


CASES = _cases()


def _id(a: Algorithm) -> str:
    mode = getattr(a, "update", None)
    noisy = "-noisy" if getattr(a, "device", None) is NOISY else ""
    return a.kind if mode is None else f"{a.kind}-{type(mode).__name__}{noisy}"


@pytest.mark.parametrize("algo", CASES, ids=_id)
def test_same_bits_on_any_thread_count_and_replica_offset(algo: Algorithm) -> None:
    a = pt.run(PROBLEM, algo, replicas=3, n_threads=1, **KW)  # type: ignore[arg-type]
    b = pt.run(PROBLEM, algo, replicas=3, n_threads=2, **KW)  # type: ignore[arg-type]
    assert a.equals(b)
    alone = pt.run(PROBLEM, algo, replicas=1, replica_offset=1, **KW)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone.weights[0], a.weights[1])
    np.testing.assert_array_equal(alone.loss[0], a.loss[1])
    for name, arr in a.arrays.items():
        np.testing.assert_array_equal(alone.arrays[name][0], arr[1])
    for curve in a.pulses.values():
        assert (np.diff(curve, axis=1) >= 0).all()


@pytest.mark.parametrize("algo", CASES, ids=_id)
def test_twin_backend_gives_the_same_numbers(algo: Algorithm) -> None:
    kw = {**KW, "steps": 6, "replicas": 2}
    fast = pt.run(PROBLEM, algo, **kw)  # type: ignore[arg-type]
    slow = pt.run(PROBLEM, algo, backend="twin", **kw)  # type: ignore[arg-type]
    for phase in fast.pulses:
        np.testing.assert_array_equal(fast.pulses[phase], slow.pulses[phase])
    # The same operations in the same order: equal up to libm differences across machines.
    np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12, atol=1e-15)
    for name in fast.arrays:
        np.testing.assert_allclose(fast.arrays[name], slow.arrays[name], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
def test_config_and_result_round_trip(algo: Algorithm, tmp_path: Path) -> None:
    assert from_dict(to_dict(algo)) == algo
    assert from_dict(loads_toml(dumps_toml(algo))) == algo
    res = pt.run(PROBLEM, algo, replicas=2, **KW)  # type: ignore[arg-type]
    res.save(tmp_path / "r")
    assert pt.TrainResult.load(tmp_path / "r").equals(res)


@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
def test_memory_counts_every_tile_and_digital_state(algo: Algorithm) -> None:
    res = pt.run(PROBLEM, algo, replicas=2, **KW)  # type: ignore[arg-type]
    state = algo.start(PROBLEM.setup(2, np.random.SeedSequence(0)), np.random.SeedSequence(0))
    digital = state.digital_state()
    for name, arr in digital.items():
        assert arr.dtype == np.float64, name
    n_dev = sum(t.weights.size for t in state.tiles.values())
    assert res.memory == {
        "analog_devices": n_dev,
        "digital_values": sum(v.size for v in digital.values()),
        "digital_bytes": 8 * sum(v.size for v in digital.values()),
    }
    # Every array the result reports is either a tile or digital state.
    assert set(res.arrays) <= set(state.tiles) | set(digital)


@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
def test_trains_a_network_layer(algo: Algorithm) -> None:
    layer = AnalogLinear(5, 3, algo, replicas=2, rng=3, forward_io=None, backward_io=None)
    x = np.random.default_rng(0).normal(size=(2, 4, 5))
    w = layer.weights
    np.testing.assert_allclose(layer.forward(x), np.einsum("roi,rbi->rbo", w, x), atol=1e-12)
    d = np.random.default_rng(1).normal(size=(2, 4, 3))
    np.testing.assert_allclose(layer.backward(d), np.einsum("roi,rbo->rbi", w, d), atol=1e-12)
    res = pt.run(Classifier.example(), algo, steps=4, replicas=2, rng=0, progress=False)
    assert np.isfinite(res.loss).all()
    assert res.memory["analog_devices"] + res.memory["digital_values"] > 0
