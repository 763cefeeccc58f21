"""Windows of samples in the stochastic update (KERNEL_SPEC §5, "Windows of samples").

With ``StochasticPulseUpdate(aggregate_samples=k)`` every element carries the mean and variance
of its state through k consecutive samples, advanced in closed form by each train whose mean
path keeps 10 standard deviations from both bounds, and draws its state once at the window's
end; a train that would enter the guard band first draws the state, then fires pulse by pulse.

The laws are checked on trains that are not random: with x = 1, |d| = 1 and lr = dw_min·BL the
update management makes every bit probability 1, so every element gets exactly BL pulses per
sample, in the direction −sign(d_b). The state after the whole batch is then a known Gaussian
(no clipping far from the bounds), with mean and variance from the pulse-by-pulse recursion.

Tolerances (fixed seeds; derived, not tuned): N = 4000 elements are N independent draws. The
sample mean has standard error s/√N and the sample variance s²·√(2/(N−1)) for a Gaussian, both
checked at z = 5 (two-sided p ≈ 5.7e-7 per check); where the law is not Gaussian (near a
bound) the variance's standard error is √((m₄ − s⁴)/N) from the sample's fourth moment. The
Kolmogorov-Smirnov tests use α = 1e-4 per test (about 20 tests in this module: family-wise
< 2e-3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import pulsetrain as pt
from conftest import additive_device_spec
from pulsetrain import _core
from pulsetrain.errors import ParameterError
from pulsetrain.twin import TwinTile

F64 = NDArray[np.float64]

SIGMA = 0.3
DW = 0.02
ALPHA_UP, ALPHA_DOWN = 1.2, 0.8
BL = 4
SHAPE = (1, 40, 100)  # N = 4000 draws
N_DRAWS = SHAPE[0] * SHAPE[1] * SHAPE[2]
Z = 5.0
KS_ALPHA = 1e-4
KEY_A = [0x1234, 0x5678]
KEY_B = [0x9ABC, 0xDEF0]
# Directions of the 16 samples' trains (+1: up pulses, i.e. d = -1).
PATTERN = [1, 1, -1, 1, 1, -1, -1, 1, 1, 1, -1, 1, -1, 1, 1, 1]


def _stats() -> Any:
    """scipy.stats for the KS tests; the test is skipped, naming the extra, without scipy."""
    return pytest.importorskip("scipy.stats", reason="needs the 'fit' extra (scipy) for KS tests")


def _spec(family: str = "soft_bounds", **over: Any) -> dict[str, Any]:
    """A device spec dict (KERNEL_SPEC §1): additive noise, no device-to-device spread."""
    return additive_device_spec(family, **over)


def _update(window: int, *, aggregate: bool = True, bl: int = BL) -> dict[str, Any]:
    return {
        "kind": "stochastic_pulse",
        "desired_bl": bl,
        "update_management": True,
        "update_bl_management": False,
        "fixed_bl": True,
        "um_grad_scale": 1.0,
        "aggregate": aggregate,
        "aggregate_samples": window,
    }


def _certain_inputs(pattern: list[int]) -> tuple[F64, F64]:
    """x = 1 and d = -direction: every bit certain, BL pulses per element and sample."""
    r, o, i = SHAPE
    x = np.ones((r, len(pattern), i))
    d = np.broadcast_to(-np.asarray(pattern, dtype=float)[None, :, None], (r, len(pattern), o))
    return x, np.ascontiguousarray(d)


def _run(update: dict[str, Any], w0: float, key: list[int], pattern: list[int]) -> F64:
    """The states after one update call of the pattern's samples from w0 everywhere."""
    r, o, i = SHAPE
    tile = _core.Tile(_spec(), update, o, i, r, key)
    tile.set_physical_weights(np.full(SHAPE, w0))
    x, d = _certain_inputs(pattern)
    tile.update(x, d, DW * BL, 0)
    assert (tile.pulse_counts(0) == BL * len(pattern)).all()
    return tile.physical_weights().ravel()


def _exact_law(w0: float, pattern: list[int]) -> tuple[float, float]:
    """Mean and sd of the unclipped pulse-by-pulse state (soft bounds, additive noise)."""
    m, v = w0, 0.0
    for direction in pattern:
        up = direction > 0
        bound = 1.0 if up else -1.0
        step = DW * (ALPHA_UP if up else ALPHA_DOWN)
        beta = step / abs(bound)
        for _ in range(BL):
            m = m * (1.0 - beta) + beta * bound
            v = v * (1.0 - beta) ** 2 + (DW * SIGMA) ** 2
    return m, math.sqrt(v)


def _check_law(sample: F64, mean: float, sd: float, what: str) -> None:
    se_mean = sd / math.sqrt(N_DRAWS)
    assert abs(sample.mean() - mean) <= Z * se_mean, f"mean, {what}"
    se_var = sd * sd * math.sqrt(2.0 / (N_DRAWS - 1))
    assert abs(sample.var(ddof=1) - sd * sd) <= Z * se_var, f"variance, {what}"


@pytest.mark.parametrize("window", [16, 5, 2])
def test_windows_give_the_exact_law_far_from_the_bounds(window: int) -> None:
    stats = _stats()
    # 64 pulses from 0: the mean path stays far inside, so every train aggregates; windows of
    # 5 leave a window of one sample at the end of the call.
    mean, sd = _exact_law(0.0, PATTERN)
    per = _run(_update(1, aggregate=False), 0.0, KEY_A, PATTERN)
    win = _run(_update(window), 0.0, KEY_B, PATTERN)
    _check_law(per, mean, sd, "per-pulse")
    _check_law(win, mean, sd, f"windows of {window}")
    assert stats.kstest(win, "norm", args=(mean, sd)).pvalue > KS_ALPHA
    assert stats.ks_2samp(per, win).pvalue > KS_ALPHA


def test_the_checks_see_a_wrong_variance() -> None:
    stats = _stats()
    # Power: the naive variance (64 pulses, no contraction) is rejected by the same checks.
    mean, _ = _exact_law(0.0, PATTERN)
    win = _run(_update(16), 0.0, KEY_B, PATTERN)
    naive = DW * SIGMA * math.sqrt(BL * len(PATTERN))
    assert stats.kstest(win, "norm", args=(mean, naive)).pvalue < KS_ALPHA
    assert abs(win.var(ddof=1) - naive**2) > Z * naive**2 * math.sqrt(2.0 / (N_DRAWS - 1))


@pytest.mark.parametrize("w0", [0.8, 0.95])
def test_near_the_bound_the_windows_fall_back_and_agree(w0: float) -> None:
    stats = _stats()
    # Mostly up pulses from near hi: the trains enter the guard band (from 0.95 at once, from
    # 0.8 after a few samples), draw their state and fire pulse by pulse, and the clip binds.
    # The law is not Gaussian; per-pulse and windowed runs (independent keys) must agree.
    per = _run(_update(1, aggregate=False), w0, KEY_A, PATTERN)
    win = _run(_update(16), w0, KEY_B, PATTERN)
    assert (per <= 1.0).all()
    assert (win <= 1.0).all()
    assert stats.ks_2samp(per, win).pvalue > KS_ALPHA
    se = math.sqrt(per.var() / N_DRAWS + win.var() / N_DRAWS)
    assert abs(per.mean() - win.mean()) <= Z * se
    for a, b in ((per, win), (win, per)):
        m4 = float(np.mean((a - a.mean()) ** 4))
        se_var = math.sqrt(max(m4 - a.var() ** 2, 0.0) / N_DRAWS)
        se_other = math.sqrt(max(float(np.mean((b - b.mean()) ** 4)) - b.var() ** 2, 0.0) / N_DRAWS)
        assert abs(a.var() - b.var()) <= Z * math.hypot(se_var, se_other)
    # The clip binds in both (the check is not vacuous).
    assert (per == 1.0).any() == (win == 1.0).any()


def _random_inputs(gen: np.random.Generator, r: int, o: int, i: int, b: int) -> tuple[F64, ...]:
    w = gen.uniform(-1.0, 1.0, (r, o, i))
    x = gen.uniform(-1.0, 1.0, (r, b, i))
    d = gen.normal(0.0, 1.0, (r, b, o))
    return w, x, d


@pytest.mark.parametrize(
    ("family", "over"),
    [
        ("soft_bounds", {}),
        ("linear_step", {"sp": 0.1}),
        ("skew_linear", {"c": -0.2}),
        ("ideal", {}),
    ],
)
@pytest.mark.parametrize(("window", "batch"), [(4, 13), (16, 9)])
@pytest.mark.parametrize("i", [11, 130])
def test_twin_and_threads_replay_the_windows(
    family: str, over: dict[str, Any], window: int, batch: int, i: int
) -> None:
    # Device-to-device spread, two replicas, states all over [lo, hi] (many trains in the
    # guard band): the twin gives the core's bits on 1 and 2 threads, over three calls. The
    # core advances short rows (11 columns) a group at a time and long rows (130) one by one.
    spec = _spec(
        family,
        dw_min=0.03,
        dw_min_dtod=0.3,
        up_down_dtod=0.05,
        w_max_dtod=0.2,
        w_min_dtod=0.2,
        **over,
    )
    update = _update(window, bl=31)
    r, o = 2, 7
    gen = np.random.default_rng(3)
    w, x, d = _random_inputs(gen, r, o, i, batch)
    tiles = [_core.Tile(spec, update, o, i, r, KEY_A) for _ in range(2)]
    twin = TwinTile(spec, update, o, i, r, KEY_A)
    for t in tiles:
        t.set_physical_weights(w)
    twin.set_physical_weights(w)
    for step in range(3):
        for t, threads in zip(tiles, (1, 2), strict=True):
            t.update(x, d, 0.3, 0, threads)
        twin.update(x, d, 0.3, 0)
        want = tiles[0].physical_weights()
        assert np.array_equal(tiles[1].physical_weights(), want), step
        assert np.array_equal(twin.physical_weights(), want), step
        assert np.array_equal(twin.pulse_counts(0), tiles[0].pulse_counts(0))
    # The window matters: one train at a time gives other bits, and the same counts.
    one = _core.Tile(spec, _update(1, bl=31), o, i, r, KEY_A)
    first = _core.Tile(spec, update, o, i, r, KEY_A)
    for t in (one, first):
        t.set_physical_weights(w)
        t.update(x, d, 0.3, 0)
    assert not np.array_equal(one.physical_weights(), first.physical_weights())
    assert np.array_equal(one.pulse_counts(0), first.pulse_counts(0))


@pytest.mark.parametrize(
    ("family", "over"),
    [("soft_bounds", {}), ("linear_step", {"sp": 0.1}), ("ideal", {})],
)
@pytest.mark.parametrize("pattern", ["one-hot", "zero columns", "one replica", "scattered"])
def test_windows_on_the_columns_that_have_pulses_replay_the_twin(
    family: str, over: dict[str, Any], pattern: str
) -> None:
    # Columns whose x is zero in every sample of the call get no pulse, and the core runs the
    # windows on the other columns alone (a transfer's one-hot x: one column). The twin runs
    # whole rows: the same bits and counts on 1 and 2 threads, over calls whose zero columns
    # differ; untouched columns keep their states exactly.
    spec = _spec(family, dw_min=0.03, dw_min_dtod=0.3, w_max_dtod=0.2, w_min_dtod=0.2, **over)
    update = _update(4, bl=31)
    r, o, i, batch = 2, 7, 11, 9
    gen = np.random.default_rng(11)
    w, _, _ = _random_inputs(gen, r, o, i, batch)
    tiles = [_core.Tile(spec, update, o, i, r, KEY_A) for _ in range(2)]
    twin = TwinTile(spec, update, o, i, r, KEY_A)
    for t in tiles:
        t.set_physical_weights(w)
    twin.set_physical_weights(w)
    for step in range(3):
        _, x, d = _random_inputs(gen, r, o, i, batch)
        if pattern == "one-hot":
            x = np.zeros_like(x)
            x[:, :, (3 * step + 2) % i] = gen.uniform(0.5, 1.0, (r, batch))
            quiet = np.ones(i, dtype=bool)
            quiet[(3 * step + 2) % i] = False
        elif pattern == "zero columns":
            quiet = gen.uniform(size=i) < 0.5
            x[:, :, quiet] = 0.0
        elif pattern == "one replica":
            quiet = gen.uniform(size=i) < 0.5
            x[0, :, quiet] = 0.0  # zero in one replica only: every column stays listed
            quiet[:] = False
        else:
            # A zero here and there: samples with one zero of 11 (their trains computed for
            # every column, the zero's threshold 0), and samples with several (listed).
            x[gen.uniform(size=x.shape) < 0.06] = 0.0
            x[:, 0, :4] = 0.0
            quiet = np.zeros(i, dtype=bool)
            counts = (x == 0.0).sum(axis=2)
            assert (counts == 1).any()
            assert (counts > 1).any()
        before = tiles[0].physical_weights()
        for t, threads in zip(tiles, (1, 2), strict=True):
            t.update(x, d, 0.3, 0, threads)
        twin.update(x, d, 0.3, 0)
        want = tiles[0].physical_weights()
        assert np.array_equal(tiles[1].physical_weights(), want), step
        assert np.array_equal(twin.physical_weights(), want), step
        assert np.array_equal(twin.pulse_counts(0), tiles[0].pulse_counts(0))
        assert np.array_equal(want[:, :, quiet], before[:, :, quiet])
        assert not np.array_equal(want[:, :, ~quiet], before[:, :, ~quiet])


def test_threads_agree_on_the_parallel_path_with_zero_columns() -> None:
    # Past the parallel threshold, with a third of the columns zero in every sample: 1, 2 and
    # 3 threads and a replica run alone give the same bits, and the twin the same as well.
    spec = _spec(dw_min=0.01, dw_min_dtod=0.3, w_max_dtod=0.2, w_min_dtod=0.2)
    update = _update(8, bl=31)
    r, o, i = 2, 64, 300
    gen = np.random.default_rng(6)
    w, x, d = _random_inputs(gen, r, o, i, 20)
    x[:, :, ::3] = 0.0
    outs = []
    for threads in (1, 2, 3):
        t = _core.Tile(spec, update, o, i, r, KEY_A)
        t.set_physical_weights(w)
        before = t.physical_weights()  # w clipped to each element's bounds
        t.update(x, d, 0.1, 0, threads)
        outs.append(t.physical_weights())
    assert all(np.array_equal(o_, outs[0]) for o_ in outs)
    assert np.array_equal(outs[0][:, :, ::3], before[:, :, ::3])
    alone = _core.Tile(spec, update, o, i, 1, KEY_A, 1)
    alone.set_physical_weights(w[1:])
    alone.update(x[1:], d[1:], 0.1, 0, 2)
    assert np.array_equal(alone.physical_weights()[0], outs[0][1])
    twin = TwinTile(spec, update, o, i, r, KEY_A)
    twin.set_physical_weights(w)
    twin.update(x, d, 0.1, 0)
    assert np.array_equal(twin.physical_weights(), outs[0])


def test_threads_agree_on_the_parallel_path() -> None:
    # 2·64·300 elements × 20 samples is past the parallel threshold: 1, 2 and 3 threads and
    # the replicas run alone give the same bits.
    spec = _spec(dw_min=0.01, dw_min_dtod=0.3, w_max_dtod=0.2, w_min_dtod=0.2)
    update = _update(8, bl=31)
    r, o, i = 2, 64, 300
    gen = np.random.default_rng(5)
    w, x, d = _random_inputs(gen, r, o, i, 20)
    outs = []
    for threads in (1, 2, 3):
        t = _core.Tile(spec, update, o, i, r, KEY_A)
        t.set_physical_weights(w)
        t.update(x, d, 0.1, 0, threads)
        outs.append(t.physical_weights())
    assert all(np.array_equal(o_, outs[0]) for o_ in outs)
    alone = _core.Tile(spec, update, o, i, 1, KEY_A, 1)
    alone.set_physical_weights(w[1:])
    alone.update(x[1:], d[1:], 0.1, 0, 2)
    assert np.array_equal(alone.physical_weights()[0], outs[0][1])


def test_windows_change_nothing_where_they_are_not_exact() -> None:
    # Multiplicative noise, or aggregation off: the window is ignored (per-pulse bits).
    gen = np.random.default_rng(2)
    w, x, d = _random_inputs(gen, 1, 9, 17, 12)
    for spec, agg in ((_spec(c2c_multiplicative=True), True), (_spec(), False)):
        outs = []
        for window in (1, 6):
            t = _core.Tile(spec, _update(window, aggregate=agg, bl=31), 9, 17, 1, KEY_A)
            t.set_physical_weights(w)
            t.update(x, d, 0.2, 0)
            outs.append(t.physical_weights())
        assert np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("bad", [0, 1025, -3, 2.5, "8", True])
def test_bad_window_is_rejected(bad: object) -> None:
    update = {**_update(1), "aggregate_samples": bad}
    with pytest.raises(ParameterError, match="aggregate_samples"):
        _core.Tile(_spec(), update, 2, 2, 1, KEY_A)
    with pytest.raises(ParameterError, match="aggregate_samples"):
        TwinTile(_spec(), update, 2, 2, 1, KEY_A)
    with pytest.raises(ParameterError, match="aggregate_samples"):
        pt.StochasticPulseUpdate(aggregate_samples=bad)  # type: ignore[arg-type]


def test_the_public_api_runs_windows_on_both_backends() -> None:
    mode = pt.StochasticPulseUpdate(aggregate_samples=32)
    assert mode.to_spec()["aggregate_samples"] == 32
    assert pt.StochasticPulseUpdate().to_spec()["aggregate_samples"] == 1
    assert pt.StochasticPulseUpdate.from_dict(mode.to_dict()) == mode
    device = pt.Device(response=pt.SoftBounds(), dw_min_std=0.3, c2c_mode=pt.C2CMode.ADDITIVE)
    gen = np.random.default_rng(4)
    x = gen.uniform(-1.0, 1.0, (2, 40, 6))
    d = gen.normal(0.0, 1.0, (2, 40, 5))
    tiles = [
        pt.AnalogTile(5, 6, device, replicas=2, update=mode, rng=11, backend=backend)
        for backend in (pt.Backend.RUST, pt.Backend.TWIN)
    ]
    for t in tiles:
        t.update(x, d, lr=0.05)
    assert np.array_equal(tiles[0].weights, tiles[1].weights)
