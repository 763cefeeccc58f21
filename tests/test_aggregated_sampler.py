"""The aggregated n-pulse sampler (KERNEL_SPEC §5) against pulse-by-pulse firing.

A train of n same-sign pulses on an affine family with additive noise is sampled in one
Gaussian draw, mean ``b + (w0 - b)(1 - β)^n`` and variance ``(step·σ)² Σ_{k<n} (1 - β)^{2k}``,
when its mean path keeps 10 standard deviations from both bounds; otherwise it is fired pulse by
pulse. The per-pulse reference is ``apply_pulses`` (always pulse by pulse); the aggregated runs
are the pulse-count mode with ``aggregate=True`` and ``Δ = ±n·dw_min`` (ceil rounding gives
exactly n pulses). Every element of a tile starts at the same state and has the same map (no
device-to-device spread), so a tile of N elements gives N independent draws of one train.

Tolerances (fixed seeds; derived, not tuned). With N = 4000 draws of a Gaussian of variance s²:
the sample mean has standard error ``s/√N`` and the sample variance ``s²·√(2/(N-1))``; both are
checked at z = 5 (two-sided p ≈ 5.7e-7 per check, < 2e-4 over the ~300 checks of this module).
The Kolmogorov-Smirnov tests (per-pulse vs aggregated, two-sample; aggregated vs the exact
normal, one-sample) use α = 1e-4 per test (family-wise < 1e-2 over the 31·2·2 tests).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from conftest import additive_device_spec
from pulsetrain import _core
from pulsetrain.twin import TwinTile


def _stats() -> Any:
    """scipy.stats for the KS tests; the test is skipped, naming the extra, without scipy."""
    return pytest.importorskip("scipy.stats", reason="needs the 'fit' extra (scipy) for KS tests")


F64 = NDArray[np.float64]

SIGMA = 0.3
DW = 0.02
ALPHA_UP, ALPHA_DOWN = 1.2, 0.8
SHAPE = (1, 40, 100)  # N = 4000 draws per train
N_DRAWS = SHAPE[0] * SHAPE[1] * SHAPE[2]
Z = 5.0
KS_ALPHA = 1e-4
KAPPA = 10.0
KEY_A = [0x1234, 0x5678]
KEY_B = [0x9ABC, 0xDEF0]


def _spec(family: str = "soft_bounds", **over: Any) -> dict[str, Any]:
    """A device spec dict (KERNEL_SPEC §1): additive noise, no device-to-device spread."""
    return additive_device_spec(family, **over)


def _count_mode(*, aggregate: bool) -> dict[str, Any]:
    return {"kind": "pulse_count", "max_bl": 1000, "rounding": "ceil", "aggregate": aggregate}


def _per_pulse(spec: dict[str, Any], w0: float, count: int, key: list[int]) -> F64:
    """Fire ``|count|`` pulses of sign ``count`` on every element, pulse by pulse."""
    tile = _core.Tile(spec, _count_mode(aggregate=False), SHAPE[1], SHAPE[2], SHAPE[0], key)
    tile.set_physical_weights(np.full(SHAPE, w0))
    tile.apply_pulses(np.full(SHAPE, count, dtype=np.int64), 0)
    return tile.physical_weights().ravel()


def _aggregated(spec: dict[str, Any], w0: float, count: int, key: list[int]) -> F64:
    """The same train through the pulse-count mode with the aggregated sampler on."""
    tile = _core.Tile(spec, _count_mode(aggregate=True), SHAPE[1], SHAPE[2], SHAPE[0], key)
    tile.set_physical_weights(np.full(SHAPE, w0))
    tile.apply_delta(np.full(SHAPE, count * spec["dw_min"]), 0)
    assert (tile.pulse_counts(0) == abs(count)).all()
    return tile.physical_weights().ravel()


def _soft_bounds_moments(w0: float, count: int) -> tuple[float, float, float]:
    """Exact (β, mean, sd) of ``count`` soft-bounds pulses without clipping (closed form)."""
    up, n = count > 0, abs(count)
    b = 1.0 if up else -1.0
    beta = DW * (ALPHA_UP if up else ALPHA_DOWN) / abs(b)
    r = 1.0 - beta
    mean = b + (w0 - b) * r**n
    var = (DW * SIGMA) ** 2 * (1.0 - r ** (2 * n)) / (1.0 - r * r)
    return beta, mean, math.sqrt(var)


def _guard(w0: float, mean: float, sd: float) -> float:
    """Margin of the guard band (> 0: the train aggregates), KERNEL_SPEC §5."""
    return min(min(w0, mean) - KAPPA * sd + 1.0, 1.0 - (max(w0, mean) + KAPPA * sd))


def _check_law(sample: F64, mean: float, sd: float, what: str) -> None:
    se_mean = sd / math.sqrt(N_DRAWS)
    assert abs(sample.mean() - mean) <= Z * se_mean, f"mean, {what}"
    se_var = sd * sd * math.sqrt(2.0 / (N_DRAWS - 1))
    assert abs(sample.var(ddof=1) - sd * sd) <= Z * se_var, f"variance, {what}"


@pytest.mark.parametrize(("w0", "sign"), [(-0.6, 1), (0.6, -1)])
def test_aggregated_matches_per_pulse_for_n_1_to_31(w0: float, sign: int) -> None:
    stats = _stats()
    # Far from the bound approached: every n in 1..31 aggregates (n = 1 is a single pulse).
    spec = _spec()
    for n in range(1, 32):
        _, mean, sd = _soft_bounds_moments(w0, sign * n)
        assert _guard(w0, mean, sd) > 1e-9
        per = _per_pulse(spec, w0, sign * n, KEY_A)
        agg = _aggregated(spec, w0, sign * n, KEY_B)
        _check_law(per, mean, sd, f"per-pulse n={n}")
        _check_law(agg, mean, sd, f"aggregated n={n}")
        assert stats.ks_2samp(per, agg).pvalue > KS_ALPHA, f"two-sample KS, n={n}"
        assert stats.kstest(agg, "norm", args=(mean, sd)).pvalue > KS_ALPHA, f"KS, n={n}"
        # The same key: n = 1 is the one pulse bit for bit; longer trains take other draws.
        same = _aggregated(spec, w0, sign * n, KEY_A)
        assert np.array_equal(same, per) == (n == 1)


def test_the_checks_see_a_wrong_variance() -> None:
    stats = _stats()
    # Power: the naive variance n·(step·σ)² (no contraction) is rejected at n = 31.
    w0, n = -0.6, 31
    _, mean, _ = _soft_bounds_moments(w0, n)
    agg = _aggregated(_spec(), w0, n, KEY_B)
    naive = DW * SIGMA * math.sqrt(n)
    assert stats.kstest(agg, "norm", args=(mean, naive)).pvalue < KS_ALPHA
    assert abs(agg.var(ddof=1) - naive**2) > Z * naive**2 * math.sqrt(2.0 / (N_DRAWS - 1))


def test_near_the_bound_falls_back_to_per_pulse() -> None:
    stats = _stats()
    # From 0.7 upwards the short trains aggregate and the long ones reach the guard band; from
    # 0.97 only single pulses run and the clip at hi binds. Fallback trains are the per-pulse
    # ones bit for bit (same key); aggregated ones match them in distribution.
    spec = _spec()
    seen = set()
    for w0 in (0.7, 0.97):
        for n in range(1, 32):
            _, mean, sd = _soft_bounds_moments(w0, n)
            margin = _guard(w0, mean, sd)
            assert abs(margin) > 1e-9  # no case on the edge of the band
            per = _per_pulse(spec, w0, n, KEY_A)
            same = _aggregated(spec, w0, n, KEY_A)
            aggregates = n >= 2 and margin > 0.0
            seen.add(aggregates)
            assert np.array_equal(same, per) != aggregates, (w0, n)
            if aggregates:
                other = _aggregated(spec, w0, n, KEY_B)
                _check_law(other, mean, sd, f"aggregated from {w0}, n={n}")
                assert stats.ks_2samp(per, other).pvalue > KS_ALPHA, (w0, n)
    assert seen == {True, False}
    assert (_per_pulse(spec, 0.97, 31, KEY_A) == 1.0).any()  # the clip did bind


@pytest.mark.parametrize(
    ("family", "over"),
    [
        ("linear_step", {"sp": 0.2}),
        ("skew_linear", {"c": 0.3}),
        ("ideal", {}),
    ],
)
@pytest.mark.parametrize("sign", [1, -1])
def test_other_affine_families(family: str, over: dict[str, Any], sign: int) -> None:
    stats = _stats()
    spec = _spec(family, **over)
    up = sign > 0
    w0 = -0.3 if up else 0.3
    b = 1.0 if up else -1.0
    for n in (2, 9, 31):
        if family == "ideal":
            mean = w0 + (n if up else -n) * DW
            sd = DW * SIGMA * math.sqrt(n)
        else:
            if family == "linear_step":
                beta = DW / abs(b - over["sp"])
            else:
                beta = DW * (1.0 + over["c"] if up else 1.0 - over["c"]) / abs(b)
            r = 1.0 - beta
            mean = b + (w0 - b) * r**n
            sd = DW * SIGMA * math.sqrt((1.0 - r ** (2 * n)) / (1.0 - r * r))
        per = _per_pulse(spec, w0, sign * n, KEY_A)
        agg = _aggregated(spec, w0, sign * n, KEY_B)
        assert not np.array_equal(agg, _per_pulse(spec, w0, sign * n, KEY_B))  # it aggregated
        _check_law(per, mean, sd, f"{family} per-pulse n={n}")
        _check_law(agg, mean, sd, f"{family} aggregated n={n}")
        assert stats.ks_2samp(per, agg).pvalue > KS_ALPHA


@pytest.mark.parametrize(
    "spec",
    [
        _spec(c2c_multiplicative=True),
        _spec(dw_min_std=0.0),
        _spec("power", gamma_up=2.0, gamma_down=2.0),
    ],
    ids=["multiplicative", "noiseless", "power"],
)
def test_not_exact_means_per_pulse(spec: dict[str, Any]) -> None:
    # Where aggregation is not exact the switch changes nothing, bit for bit.
    per = _per_pulse(spec, -0.3, 17, KEY_A)
    assert np.array_equal(_aggregated(spec, -0.3, 17, KEY_A), per)


def _random_tile_inputs(
    gen: np.random.Generator, r: int, o: int, i: int
) -> tuple[F64, F64, F64, F64]:
    w = gen.uniform(-1.0, 1.0, (r, o, i))
    x = gen.uniform(-1.0, 1.0, (r, 4, i))
    d = gen.normal(0.0, 1.0, (r, 4, o))
    delta = gen.normal(0.0, 0.2, (r, o, i))
    return w, x, d, delta


@pytest.mark.parametrize(
    ("family", "over"),
    [
        ("soft_bounds", {}),
        ("linear_step", {"sp": 0.1}),
        ("skew_linear", {"c": -0.2}),
        ("ideal", {}),
    ],
)
def test_twin_and_threads_replay_the_aggregated_sampler(family: str, over: dict[str, Any]) -> None:
    # Device-to-device spread, two replicas, states all over [lo, hi] (some trains in the
    # guard band): the twin gives the core's bits, and 1 and 2 threads agree.
    spec = _spec(
        family,
        dw_min=0.03,
        dw_min_dtod=0.3,
        up_down_dtod=0.05,
        w_max_dtod=0.2,
        w_min_dtod=0.2,
        **over,
    )
    stochastic: dict[str, Any] = {
        "kind": "stochastic_pulse",
        "desired_bl": 31,
        "update_management": True,
        "update_bl_management": False,
        "fixed_bl": True,
        "um_grad_scale": 1.0,
        "aggregate": True,
    }
    count: dict[str, Any] = {
        "kind": "pulse_count",
        "max_bl": 31,
        "rounding": "stochastic",
        "aggregate": True,
    }
    r, o, i = 2, 7, 11
    for update in (stochastic, count):
        gen = np.random.default_rng(3)
        w, x, d, delta = _random_tile_inputs(gen, r, o, i)
        tiles = [_core.Tile(spec, update, o, i, r, KEY_A) for _ in range(2)]
        twin = TwinTile(spec, update, o, i, r, KEY_A)
        for t in tiles:
            t.set_physical_weights(w)
        twin.set_physical_weights(w)
        for step in range(3):
            if update["kind"] == "pulse_count":
                for t, threads in zip(tiles, (1, 2), strict=True):
                    t.apply_delta(delta, 0, threads)
                twin.apply_delta(delta, 0)
            else:
                for t, threads in zip(tiles, (1, 2), strict=True):
                    t.update(x, d, 0.3, 0, threads)
                twin.update(x, d, 0.3, 0)
            want = tiles[0].physical_weights()
            assert np.array_equal(tiles[1].physical_weights(), want), (update["kind"], step)
            assert np.array_equal(twin.physical_weights(), want), (update["kind"], step)
            assert np.array_equal(twin.pulse_counts(0), tiles[0].pulse_counts(0))
        # The switch matters here: off gives other bits.
        off = _core.Tile(spec, {**update, "aggregate": False}, o, i, r, KEY_A)
        off.set_physical_weights(w)
        if update["kind"] == "pulse_count":
            off.apply_delta(delta, 0)
        else:
            off.update(x, d, 0.3, 0)
        first = _core.Tile(spec, update, o, i, r, KEY_A)
        first.set_physical_weights(w)
        if update["kind"] == "pulse_count":
            first.apply_delta(delta, 0)
        else:
            first.update(x, d, 0.3, 0)
        assert not np.array_equal(off.physical_weights(), first.physical_weights())


def test_bad_switch_is_rejected() -> None:
    from pulsetrain.errors import ParameterError

    bad = {"kind": "pulse_count", "max_bl": 4, "rounding": "ceil", "aggregate": "yes"}
    with pytest.raises(ParameterError, match="aggregate"):
        _core.Tile(_spec(), bad, 2, 2, 1, KEY_A)
    with pytest.raises(ParameterError, match="aggregate"):
        TwinTile(_spec(), bad, 2, 2, 1, KEY_A)
