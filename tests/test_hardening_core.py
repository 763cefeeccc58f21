"""Issue 16, the core's side: the private ``_core`` refuses what the wrapper refuses, sizes its
buffers before work, stops long kernels on Ctrl-C at a consistent state, and saturates counters.

The Python wrapper validates everything first (tests/test_hardening.py); here the core is called
directly, or through the wrapper with inputs the wrapper lets through, so that each check is the
core's own. Calls that once aborted the interpreter run in a subprocess.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.twin import TwinTile

ALD = pt.Device(response=pt.ALD(tau=1.0))
NOISY = pt.Device(response=pt.ALD(tau=1.0), dw_min_std=0.3, dw_min_dtod=0.2)
I64_MIN = np.iinfo(np.int64).min
U64_MAX = np.iinfo(np.uint64).max
BACKENDS = [_core.Tile, TwinTile]


def _raw(cls: type, dev: pt.Device = ALD, update: pt.updates.UpdateMode | None = None) -> object:
    mode = pt.ExpectedUpdate() if update is None else update
    return cls(dev.to_spec(), mode.to_spec(), 2, 3, 1, [1, 2])


def _snapshot(t: object) -> tuple[bytes, bytes, int]:
    return (
        np.asarray(t.physical_weights()).tobytes(),  # type: ignore[attr-defined]
        np.asarray(t.pulse_counts(0)).tobytes(),  # type: ignore[attr-defined]
        int(t.tick),  # type: ignore[attr-defined]
    )


# -- item 2: the core validates its own inputs ------------------------------------------------


@pytest.mark.parametrize("cls", BACKENDS, ids=["rust", "twin"])
@pytest.mark.parametrize("bad", [I64_MIN, I64_MIN + 1, 1_000_001, -1_000_001])
def test_core_refuses_pulse_counts_out_of_range(cls: type, bad: int) -> None:
    # i64::MIN once passed the check (its abs() wraps to itself) and recorded 9.2e18 pulses.
    t = _raw(cls)
    before = _snapshot(t)
    counts = np.zeros((1, 2, 3), dtype=np.int64)
    counts[0, 1, 2] = bad
    with pytest.raises(pt.ParameterError) as info:
        t.apply_pulses(counts, 0)  # type: ignore[attr-defined]
    assert info.value.name == "counts"
    assert _snapshot(t) == before


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda t: t.zero_shift(I64_MIN, cyclic=False), "n_pulses"),
        (lambda t: t.zero_shift(0, cyclic=True), "n_pulses"),
        (lambda t: t.zero_shift(10**9 + 1, cyclic=True), "n_pulses"),
        (lambda t: t.zero_shift(10, cyclic=True, average_last=I64_MIN), "average_last"),
        (lambda t: t.zero_shift(10, cyclic=True, average_last=11), "average_last"),
        (lambda t: t.read([I64_MIN]), "cols"),
        (lambda t: t.read([3]), "cols"),
        (lambda t: t.read([0], -1.0), "noise_std"),
        (lambda t: t.read_io([-1], pt.IOParameters().to_spec()), "cols"),
        (lambda t: t.pulse_counts(I64_MIN), "phase"),
        (lambda t: t.update(np.ones((1, 1, 3)), np.ones((1, 1, 2)), -1.0, 0), "lr"),
        (lambda t: t.apply_pulses(np.ones((1, 2, 3), dtype=np.int64), 3), "phase"),
        (lambda t: t.apply_pulses(np.ones((1, 2, 3), dtype=np.int64), 0, 0), "n_threads"),
    ],
)
def test_core_refuses_bad_scalars_and_leaves_the_tile(call: object, name: str) -> None:
    t = _raw(_core.Tile)
    before = _snapshot(t)
    with pytest.raises(pt.ParameterError) as info:
        call(t)  # type: ignore[operator]
    assert info.value.name == name
    assert _snapshot(t) == before


def test_replica_draws_refuse_offsets_beyond_32_bits() -> None:
    # replica_offset + r is a 32-bit field of the stream address; beyond it streams would alias.
    with pytest.raises(pt.ParameterError) as info:
        _core.replica_normals([1, 2], 0, 2**32 - 1, 2, 4)
    assert info.value.name == "replica_offset"
    assert _core.replica_normals([1, 2], 0, 2**32 - 2, 2, 4).shape == (2, 4)


# -- item 1: buffers are sized before work ----------------------------------------------------

ALLOC_SCRIPT = r"""
import sys
import numpy as np
import pulsetrain as pt
dev = pt.Device(response=pt.ALD(tau=1.0))
case = sys.argv[1]
try:
    if case == "read_io":  # one-hot inputs of 2**19 x 2**19 floats: 2 TiB
        pt.AnalogTile(1, 1 << 19, dev, rng=0).read(io=pt.IOParameters())
    elif case == "forward":  # an output of 2**20 x 2**20 floats: 8 TiB
        pt.AnalogTile(1 << 20, 1, dev, rng=0).forward(np.ones((1 << 20, 1)))
    elif case == "backward":
        pt.AnalogTile(1, 1 << 20, dev, rng=0).backward(np.ones((1 << 20, 1)))
    elif case == "read":
        t = pt.AnalogTile(1 << 20, 1, dev, rng=0)
        t.read(np.zeros(1 << 20, dtype=np.int64))
except pt.ParameterError as e:
    print(e.name, "budget" in str(e), flush=True)
    sys.exit(0)
print("no error", flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize(
    ("case", "name"), [("read_io", "cols"), ("forward", "x"), ("backward", "d"), ("read", "cols")]
)
def test_outputs_beyond_the_memory_budget_are_refused(case: str, name: str) -> None:
    # Each once aborted the interpreter (SIGABRT on a failed allocation); in a subprocess so
    # that a regression fails this test instead of the suite.
    proc = subprocess.run(
        [sys.executable, "-c", ALLOC_SCRIPT, case],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.split() == [name, "True"]


def test_the_budget_is_half_the_physical_memory() -> None:
    with Path("/proc/meminfo").open(encoding="ascii") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    assert _core.alloc_budget == kib * 512


PENDING_SCRIPT = r"""
import resource, sys
import numpy as np
import pulsetrain as pt
# 128 trains of a million noisy pulses: their noise held at once would be 1 GiB; the kernel
# holds at most 64 MiB per thread. Address space: what is mapped now plus 768 MiB.
with open("/proc/self/status") as f:
    vm = next(int(l.split()[1]) for l in f if l.startswith("VmSize:")) * 1024
dev = pt.Device(response=pt.ALD(tau=1.0), dw_min_std=0.3)
t = pt.AnalogTile(1, 128, dev, rng=0, n_threads=1)
t.weights  # warm every lazy import and pool before the limit
resource.setrlimit(resource.RLIMIT_AS, (vm + (768 << 20), resource.RLIM_INFINITY))
s = t.apply_pulses(np.full((1, 128), 1_000_000))
print(int(s.total), bool(np.isfinite(t.weights).all()), flush=True)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_long_noisy_trains_hold_bounded_scratch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PENDING_SCRIPT],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"MALLOC_ARENA_MAX": "1", "PATH": "", **_pythonpath()},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(128 * 1_000_000), "True"]


def _pythonpath() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME", "VIRTUAL_ENV")}


# -- item 5: Ctrl-C stops long kernels at a consistent state ----------------------------------

INTERRUPT_SCRIPT = r"""
import json, sys
import numpy as np
import pulsetrain as pt

kind = sys.argv[1]
dev = pt.Device(response=pt.ALD(tau=1.0), dw_min_std=0.3, dw_min_dtod=0.2)
t = pt.AnalogTile(16, 64, dev, rng=3, n_threads=2)
rng = np.random.default_rng(0)
counts = rng.choice([-1, 1], size=(16, 64)) * 1_000_000
PC = pt.PulseCountUpdate(max_bl=1_000_000)
print("ready", flush=True)
try:
    if kind == "zero_shift":
        t._tile.zero_shift(10**9, False, 1, 2)  # 1e12 pulses: hours
    elif kind == "apply_delta":
        t = pt.AnalogTile(16, 64, dev, rng=3, n_threads=2, update=PC)
        t.apply_delta(counts * 1.0)  # 1e6 pulses per element (max_bl): 1e9 noisy pulses
    else:
        t.apply_pulses(counts)  # 1e9 noisy pulses: tens of seconds
except KeyboardInterrupt:
    pass
else:
    print(json.dumps({"finished": True}), flush=True)
    sys.exit(1)
maps = t.maps()
p = t.physical_weights
phase = "calibration" if kind == "zero_shift" else "update"
got = t.pulse_counts(phase)
out = {
    "tick": t.tick,
    "finite_in_bounds": bool(
        np.isfinite(p).all() and (p >= maps["w_min"]).all() and (p <= maps["w_max"]).all()
    ),
    "counts": got.reshape(16, 64).tolist(),
}
if kind == "apply_pulses":
    # Applied elements are a prefix of each row, each with all its pulses; the same call with
    # the other counts zeroed must give bit for bit the same state (same tick, same streams).
    applied = got.reshape(16, 64) > 0
    fresh = pt.AnalogTile(16, 64, dev, rng=3, n_threads=2)
    fresh.apply_pulses(np.where(applied, counts, 0))
    out["replay_equal"] = bool(np.array_equal(fresh.physical_weights, p))
if kind == "apply_delta":
    # Whole rows only: the finished windows' rows got the whole increment, the rest nothing.
    done = (got.reshape(16, 64) > 0).all(axis=1)
    fresh = pt.AnalogTile(16, 64, dev, rng=3, n_threads=2, update=PC)
    fresh.apply_delta(np.where(done[:, None], counts * 1.0, 0.0))
    out["replay_equal"] = bool(np.array_equal(fresh.physical_weights, p))
print(json.dumps(out), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery needs POSIX signals")
@pytest.mark.parametrize(
    "kind",
    ["zero_shift", "apply_pulses", pytest.param("apply_delta", marks=pytest.mark.slow)],
)
def test_ctrl_c_stops_a_long_kernel_promptly_and_consistently(kind: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_SCRIPT, kind],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # well inside the kernel
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)  # a safety bound, not a measurement
    assert proc.returncode == 0, err[-2000:]
    res = json.loads(out.strip().splitlines()[-1])
    # The kernel stopped at a chunk boundary, long before its end (hours here): the counts
    # below show work done and work left undone.
    assert res["tick"] == 1
    assert res["finite_in_bounds"]
    counts = np.array(res["counts"], dtype=np.uint64)
    full = 10**9 if kind == "zero_shift" else 1_000_000
    assert counts.sum() > 0  # work was done before the interrupt ...
    assert (counts < full).any() or kind == "apply_pulses"  # ... and not all of it
    for row in counts:
        # Each row: whole elements first, then at most one partial element, then untouched.
        done = int(np.argmin(row == full)) if (row < full).any() else len(row)
        assert (row[:done] == full).all()
        rest = row[done:]
        if kind == "zero_shift":
            assert (rest[1:] == 0).all()
        else:
            assert (rest == 0).all()  # apply_pulses stops between elements only
    if kind != "zero_shift":
        assert (counts == 0).any()
        assert res["replay_equal"]
    if kind == "apply_delta":
        # Rows are whole: all pulses or none, the finished rows a prefix.
        whole = (counts == full).all(axis=1)
        assert (whole | (counts == 0).all(axis=1)).all()
        assert (np.diff(whole.astype(int)) <= 0).all()


STOCHASTIC_INTERRUPT_SCRIPT = r"""
import json, sys
import numpy as np
import pulsetrain as pt

dev = pt.Device(response=pt.ALD(tau=1.0), dw_min_std=0.3, dw_min_dtod=0.2)
mode = pt.StochasticPulseUpdate()
rng = np.random.default_rng(0)
# 512 x 512 at batch 12,000: about 3e9 element-samples, tens of seconds in one call.
x = rng.normal(size=(12_000, 512))
d = rng.normal(size=(12_000, 512))
t = pt.AnalogTile(512, 512, dev, rng=3, n_threads=2, update=mode)
print("ready", flush=True)
try:
    t.update(x, d, lr=0.01)
except KeyboardInterrupt:
    pass
else:
    print(json.dumps({"finished": True}), flush=True)
    sys.exit(1)
p = t.physical_weights
maps = t.maps()
got = t.pulse_counts()
# The applied samples are the batch's first k, k a multiple of the 64-sample chunk: replay
# each candidate on a fresh tile (same seed, same tick, same per-sample streams).
k = None
for cand in range(64, 12_000, 64):
    fresh = pt.AnalogTile(512, 512, dev, rng=3, n_threads=2, update=mode)
    fresh.update(x[:cand], d[:cand], lr=0.01)
    total = int(fresh.pulse_counts().sum())
    if total >= int(got.sum()):
        if np.array_equal(fresh.physical_weights, p) and np.array_equal(
            fresh.pulse_counts(), got
        ):
            k = cand
        break
print(json.dumps({
    "tick": t.tick,
    "finite_in_bounds": bool(
        np.isfinite(p).all() and (p >= maps["w_min"]).all() and (p <= maps["w_max"]).all()
    ),
    "pulses": int(got.sum()),
    "k": k,
}), flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery needs POSIX signals")
def test_ctrl_c_stops_a_long_stochastic_update_between_samples() -> None:
    # The stochastic pulse mode asks between chunks of at most 64 samples (here 64: 512 x 512
    # is 2**18 elements, one window 2**24 element visits): the interrupted tile must be exactly
    # a tile that was given the batch's first k samples, k > 0 and below the batch.
    proc = subprocess.Popen(
        [sys.executable, "-c", STOCHASTIC_INTERRUPT_SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # well inside the kernel (a chunk of 64 samples is about 0.2 s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)  # a safety bound, not a measurement
    assert proc.returncode == 0, err[-2000:]
    res = json.loads(out.strip().splitlines()[-1])
    # Stopped between chunks, not at the batch's end: 0 < k < 12,000 below.
    assert res["tick"] == 1
    assert res["finite_in_bounds"]
    assert res["pulses"] > 0
    assert res["k"] is not None, "the interrupted state is no prefix of the batch"
    assert 0 < res["k"] < 12_000


# -- item 5: chunked kernels give the one-pass results ----------------------------------------


@pytest.mark.slow  # the twin's per-pulse loop: about 35 s
def test_chunked_kernels_match_the_twin_across_chunks() -> None:
    # 128 rows x 256 columns. zero_shift of 256 pulses is 8.4e6 pulses: two chunks of 2**22,
    # the first stopping every row after 128 elements. apply_pulses of up to 200 pulses per
    # element: each row advances 32 x 200 = 6,400 pulses per chunk, about four chunks per row,
    # each ending between elements. The twin runs each in one pass.
    rng = np.random.default_rng(5)
    counts = rng.integers(-200, 201, size=(2, 64, 256))
    counts[0, 2, ::3] = 0
    results = []
    for backend in ("rust", "twin"):
        t = pt.AnalogTile(64, 256, NOISY, replicas=2, rng=4, backend=backend, n_threads=2)
        zs = t._tile.zero_shift(256, False, 10, 2)  # noqa: FBT003
        stats = t.apply_pulses(counts)
        results.append(
            (
                np.asarray(zs),
                t.physical_weights,
                t.pulse_counts("calibration"),
                t.pulse_counts("update"),
                stats.pulses,
            )
        )
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow  # the twin's pulse loop: about 10 s
def test_windowed_updates_match_the_twin() -> None:
    # 2 x 64 x 256 elements. An outer product of a batch of 600 is 1.97e7 element-samples and
    # a pulse-count delta of about 600 pulses per element 1.97e7 pulses: each above one window
    # of 4 * 2**22, so the Rust kernels run in two windows of rows; the twin in one pass.
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 600, 256))
    d = rng.normal(size=(2, 600, 64))
    delta = rng.uniform(0.55, 0.65, size=(2, 64, 256)) * rng.choice([-1.0, 1.0], (2, 64, 256))
    out = []
    for backend in ("rust", "twin"):
        te = pt.AnalogTile(
            64, 256, ALD, replicas=2, rng=6, backend=backend, update=pt.ExpectedUpdate(noise=True)
        )
        se = te.update(x, d, lr=1e-4)
        tp = pt.AnalogTile(
            64,
            256,
            ALD,
            replicas=2,
            rng=7,
            backend=backend,
            update=pt.PulseCountUpdate(max_bl=1000),
        )
        sp = tp.apply_delta(delta)
        out.append(
            (
                te.physical_weights,
                te.pulse_counts(),
                se.pulses,
                tp.physical_weights,
                tp.pulse_counts(),
                sp.pulses,
            )
        )
    assert out[0][4].sum() > 4 * 2**22
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_stochastic_sample_chunks_never_change_results() -> None:
    # The stochastic kernel takes at most one window (2**24 element visits) of samples per
    # chunk: 2 replicas of 256 x 1024 go 32 samples at a time, one replica 64 at a time. A
    # replica must come out bit for bit the same either way (replica_offset selects it alone).
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 80, 1024))
    d = rng.normal(size=(2, 80, 256))
    mode = pt.StochasticPulseUpdate()
    both = pt.AnalogTile(256, 1024, NOISY, replicas=2, rng=9, update=mode, n_threads=2)
    stats = both.update(x, d, lr=0.01)
    for r in range(2):
        one = pt.AnalogTile(
            256, 1024, NOISY, replicas=1, rng=9, update=mode, replica_offset=r, n_threads=1
        )
        alone = one.update(x[r : r + 1], d[r : r + 1], lr=0.01)
        assert alone.pulses[0] == stats.pulses[r] > 0
        np.testing.assert_array_equal(one.physical_weights[0], both.physical_weights[r])
        np.testing.assert_array_equal(one.pulse_counts()[0], both.pulse_counts()[r])


# -- item 10: counters saturate, overflowing configs are refused, both backends agree ----------


@pytest.mark.parametrize("backend", ["rust", "twin"])
def test_counters_saturate_instead_of_wrapping(backend: str) -> None:
    # |delta| / dw_min = 1e300 / 1e-300 overflows to inf: the expected mode counts u64::MAX
    # equivalent pulses; a second call once wrapped the counter to 2**64 - 2.
    dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-300)
    t = pt.AnalogTile(2, 3, dev, rng=0, backend=backend, update=pt.ExpectedUpdate())
    s1 = t.apply_delta(np.full((2, 3), 1e300))
    s2 = t.apply_delta(np.full((2, 3), -1e300))
    assert (t.pulse_counts() == U64_MAX).all()
    assert s1.pulses.tolist() == [U64_MAX]
    assert s2.pulses.tolist() == [U64_MAX]
    w = t.weights
    assert np.isfinite(w).all()
    t.apply_pulses(np.full((2, 3), 5))
    assert (t.pulse_counts() == U64_MAX).all()


def test_saturation_agrees_between_backends() -> None:
    dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-300)
    out = []
    for backend in ("rust", "twin"):
        t = pt.AnalogTile(3, 4, dev, rng=1, backend=backend, update=pt.ExpectedUpdate())
        delta = np.array([[1e300, 1e-3, 0.0, -1e300]] * 3)
        s = t.apply_delta(delta)
        out.append((t.weights, t.pulse_counts(), s.pulses))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"dw_min_dtod": 1e3, "dw_min_dtod_log_normal": True}, "dw_min_dtod"),
        ({"dw_min_dtod": 1.7e308}, "dw_min_dtod"),
        ({"up_down_dtod": 1.7e308}, "up_down_dtod"),
        ({"w_max_dtod": 1.7e308}, "w_max_dtod"),
        ({"w_min_dtod": 1.7e308}, "w_min_dtod"),
        ({"reference_std": 1.7e308}, "reference_std"),
    ],
)
def test_spreads_that_overflow_the_maps_are_refused_by_both_backends(
    kw: dict[str, object], name: str
) -> None:
    # Once: NaN weights in Rust and an OverflowError in the twin. 8 x 8 elements draw normals
    # beyond 1.06 in magnitude (needed for 1.7e308 * xi to overflow) with certainty here.
    for backend in ("rust", "twin"):
        dev = pt.Device(response=pt.ALD(tau=1.0), **kw)  # type: ignore[arg-type]
        with pytest.raises(pt.ParameterError) as info:
            pt.AnalogTile(8, 8, dev, rng=0, backend=backend)
        assert info.value.name == name, backend
