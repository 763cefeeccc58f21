"""Same seed ⇒ bit-identical results for any thread count; replica r equals replica r alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core

DEVICE = pt.Device(
    response=pt.SkewLinear(tau=1.0, c_lin=0.2),
    dw_min=0.01,
    dw_min_std=0.3,
    dw_min_dtod=0.2,
    up_down_dtod=0.05,
    w_max_dtod=0.1,
    w_min_dtod=0.1,
    reference_std=0.05,
)
MODES: list[pt.UpdateMode] = [
    pt.ExpectedUpdate(noise=True),
    pt.PulseCountUpdate(max_bl=16, rounding=pt.Rounding.STOCHASTIC),
    pt.StochasticPulseUpdate(),
    pt.StochasticPulseUpdate(desired_bl=200, update_bl_management=False),
]


def _inputs(
    replicas: int, steps: int, out: int, inp: int, batch: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    gen = np.random.default_rng(123)
    return [
        (gen.normal(size=(replicas, batch, inp)), gen.normal(size=(replicas, batch, out)))
        for _ in range(steps)
    ]


OUT, IN = 97, 241  # 3 replicas: 3·97·241 elements, above the serial threshold


def test_sizes_reach_the_parallel_path() -> None:
    """The 3-replica runs below are large enough that every call runs on the pool."""
    assert 3 * OUT * IN >= _core.parallel_min_work


def _run(
    mode: pt.UpdateMode,
    n_threads: int,
    *,
    replicas: int = 3,
    offset: int = 0,
    data: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    out, inp, batch = OUT, IN, 4
    data = data if data is not None else _inputs(replicas, 5, out, inp, batch)
    t = pt.AnalogTile(
        out,
        inp,
        DEVICE,
        replicas=replicas,
        update=mode,
        rng=99,
        n_threads=n_threads,
        replica_offset=offset,
    )
    for x, d in data:
        t.update(x, d, lr=0.05)
        if not isinstance(mode, pt.StochasticPulseUpdate):
            t.apply_delta(0.01 * x[:, :1, :1] * np.ones((replicas, out, inp)), phase="transfer")
    return t.weights, np.stack([t.pulse_counts(p) for p in pt.Phase])


@pytest.mark.parametrize("mode", MODES, ids=lambda m: type(m).__name__)
def test_bit_identical_for_any_thread_count(
    mode: pt.UpdateMode,
) -> None:
    w1, c1 = _run(mode, 1)
    assert c1.sum() > 0
    for n in (2, 3, 8):
        w, c = _run(mode, n)
        np.testing.assert_array_equal(w, w1)
        np.testing.assert_array_equal(c, c1)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: type(m).__name__)
def test_replica_equals_replica_run_alone(
    mode: pt.UpdateMode,
) -> None:
    data = _inputs(4, 4, OUT, IN, 4)
    w_all, c_all = _run(mode, 2, replicas=4, data=data)
    for r in (0, 3):
        alone = [(x[r : r + 1], d[r : r + 1]) for x, d in data]
        w, c = _run(mode, 1, replicas=1, offset=r, data=alone)
        np.testing.assert_array_equal(w[0], w_all[r])
        np.testing.assert_array_equal(c[:, 0], c_all[:, r])


@pytest.mark.parametrize("mode", MODES[1:3], ids=lambda m: type(m).__name__)
def test_parallel_path_matches_the_twin(mode: pt.UpdateMode) -> None:
    # Large enough for the kernels' parallel path (small tiles run serially); the twin is serial.
    from pulsetrain.rng import as_seed_sequence, tile_key
    from pulsetrain.twin import TwinTile

    out, inp, r = OUT, IN, 3
    assert r * out * inp >= _core.parallel_min_work
    tile = pt.AnalogTile(out, inp, DEVICE, replicas=r, update=mode, rng=3, n_threads=2)
    key = list(tile_key(as_seed_sequence(3), 0))
    twin = TwinTile(DEVICE.to_spec(), mode.to_spec(), out, inp, r, key)
    for x, d in _inputs(r, 2, out, inp, 3):
        tile.update(x, d, lr=0.05)
        twin.update(x, d, 0.05, 0)
    np.testing.assert_array_equal(tile.pulse_counts(), twin.pulse_counts(0))
    np.testing.assert_allclose(tile.weights, twin.weights(), rtol=1e-12, atol=1e-15)


def test_same_seed_same_result_and_different_seed_differs() -> None:
    a = _run(MODES[2], 2)
    b = _run(MODES[2], 2)
    np.testing.assert_array_equal(a[0], b[0])
    t = pt.AnalogTile(45, 33, DEVICE, replicas=3, update=MODES[2], rng=100)
    assert not np.array_equal(
        t.maps()["step_up"], pt.AnalogTile(45, 33, DEVICE, replicas=3, rng=99).maps()["step_up"]
    )


def test_tile_index_gives_independent_tiles() -> None:
    a = pt.AnalogTile(5, 5, DEVICE, rng=1, tile_index=0)
    b = pt.AnalogTile(5, 5, DEVICE, rng=1, tile_index=1)
    assert not np.array_equal(a.maps()["step_up"], b.maps()["step_up"])


AFFINITY_SCRIPT = r"""
import json, os, time
import numpy as np
import pulsetrain as pt

cpus = sorted(os.sched_getaffinity(0))[:2]
os.sched_setaffinity(0, cpus)  # the process may use two CPUs
gen = np.random.default_rng(0)
x, d = gen.normal(size=(4, 256)), gen.normal(size=(4, 256))
for n in (3, 2):  # a pool of three threads, then one of two (a thread per CPU)
    dev = pt.Device(response=pt.SoftBounds())
    tile = pt.AnalogTile(256, 256, dev, update=pt.ExpectedUpdate(), rng=0, n_threads=n)
    tile.update(x, d, lr=0.01)
seen = []
for _ in range(100):  # the workers pin themselves as they start
    seen = [
        (open(f"/proc/self/task/{t}/comm").read().strip(), sorted(os.sched_getaffinity(int(t))))
        for t in os.listdir("/proc/self/task")
    ]
    if sum(len(a) == 1 for _, a in seen) >= 2:
        break
    time.sleep(0.05)
print(json.dumps({"cpus": cpus, "threads": seen}))
"""


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity")
    or len(os.sched_getaffinity(0)) < 2
    or not Path("/proc/self/task").is_dir(),
    reason="needs Linux thread affinities and two CPUs",
)
def test_a_pool_with_a_thread_per_cpu_pins_each_thread_to_its_own_cpu() -> None:
    """In a process that may use two CPUs, the pool of two threads puts pulsetrain-0 on the
    first and pulsetrain-1 on the second; the pool of three is left to the OS (every worker
    may run on both CPUs). No value depends on it (the thread tests above)."""
    out = subprocess.run(
        [sys.executable, "-c", AFFINITY_SCRIPT], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout)
    cpus = res["cpus"]
    workers = [(name, aff) for name, aff in res["threads"] if name.startswith("pulsetrain-")]
    pinned = sorted((name, aff) for name, aff in workers if len(aff) == 1)
    free = [name for name, aff in workers if aff == cpus]
    assert pinned == [("pulsetrain-0", [cpus[0]]), ("pulsetrain-1", [cpus[1]])]
    assert sorted(free) == ["pulsetrain-0", "pulsetrain-1", "pulsetrain-2"]
