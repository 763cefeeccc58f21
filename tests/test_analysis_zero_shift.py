"""ZS pulse complexity and SP estimation error: shared/theory.md §4.6, §6.18 and check C22.

Exact checks compare to the printed digits of theory.md (half a unit in the last digit) or to
1e-12. The one statistical check (Thm C.2 against a real zero-shift run) uses a fixed seed and a
5-standard-error band over independent cells (CONVENTIONS §10).
"""

from __future__ import annotations

import doctest
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from numpy.testing import assert_allclose

import pulsetrain as pt
import pulsetrain.analysis.zero_shift
from pulsetrain import analysis as an
from pulsetrain.errors import ParameterError
from pulsetrain.zero_shift import zero_shift

# C22's device: skew linear, c = 0.3, tau = 1 (SP 0.3), start at w_0 = -0.5.
C, TAU, W0, SP = 0.3, 1.0, -0.5, 0.3


def _half_unit(printed: float, digits: int) -> float:
    """Half a unit in the last of `digits` printed decimals of `printed`."""
    del printed
    return 0.5 * 10.0 ** (-digits)


@pytest.mark.parametrize(
    ("dw_min", "n", "target", "digits"),
    [(1e-2, 100, 0.00717, 5), (1e-2, 1000, 0.29997, 5), (1e-3, 1000, 0.005844, 6),
     (1e-3, 10_000, 0.29996, 5)],
)  # fmt: skip
def test_c22_closed_form_means(dw_min: float, n: int, target: float, digits: int) -> None:
    mean = float(an.zs_linear_mean(n, dw_min=dw_min, tau=TAU, w0=W0, c=C))
    assert abs(mean - target) <= _half_unit(target, digits)
    m, _ = an.zs_linear_moments(n, dw_min=dw_min, tau=TAU, w0=W0, c=C)
    assert_allclose(m, mean, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("dw_min", "sd"), [(1e-2, 0.06452), (1e-3, 0.02035)])
def test_c22_closed_form_spreads(dw_min: float, sd: float) -> None:
    var = an.zs_linear_stationary_variance(dw_min=dw_min, tau=TAU, c=C)
    assert abs(math.sqrt(var) - sd) <= _half_unit(sd, 5)
    # The transient moments tend to the stationary variance (b^N < 1e-80 here).
    _, std = an.zs_linear_moments(1e5 / dw_min, dw_min=dw_min, tau=TAU, w0=W0, c=C)
    assert_allclose(std, math.sqrt(var), rtol=1e-12)
    # theory.md §6.22: the cruder √(Δw_min τ/2) omits F(w◇) = 0.91 and misses by ≈ 10%.
    assert math.sqrt(dw_min * TAU / 2) > 1.09 * sd


@pytest.mark.parametrize(
    ("kwargs", "want", "digits"),
    [({"dw_min": 1e-2, "c": C}, 0.2968004, 7), ({"dw_min": 1e-3, "c": C}, 0.2996814, 7),
     ({"dw_min": 0.05}, -0.025641, 6)],
)  # fmt: skip
def test_c22_cyclic_fixed_points(kwargs: dict[str, float], want: float, digits: int) -> None:
    got = an.zs_linear_cyclic_fixed_point(tau=TAU, **kwargs)
    assert abs(got - want) <= _half_unit(want, digits)


def test_b1_pair_fixed_point_is_minus_delta_over_two_minus_delta() -> None:
    for delta in (0.5, 0.05, 1e-3):
        got = an.zs_linear_cyclic_fixed_point(dw_min=delta, tau=1.0)
        assert_allclose(got, -delta / (2 - delta), rtol=1e-12)


def test_cyclic_fixed_point_matches_the_kernel() -> None:
    # Exact, not statistical: cyclic ZS is deterministic (C22 checks the same numbers to 5e-8).
    dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=C), dw_min=1e-2)
    tile = pt.AnalogTile(2, 3, dev, rng=0)
    est = zero_shift(tile, 20_000, mode="cyclic").estimate
    assert_allclose(est, an.zs_linear_cyclic_fixed_point(dw_min=1e-2, tau=1.0, c=C), atol=1e-12)


def test_moments_match_the_exact_recursion() -> None:
    # Iterate the one-pulse moment recursion of the docstring and compare with the closed form.
    dw, c, u = 0.03, -0.4, 0.7
    a_up, a_dn = 1 - dw * (1 + c), 1 - dw * (1 - c)
    f = 1 - c * c
    m1, m2 = u, u * u
    ns, means, stds = [], [], []
    for n in range(301):
        if n % 50 == 0:
            ns.append(n)
            means.append(m1)
            stds.append(math.sqrt(m2 - m1 * m1))
        m1, m2 = (
            0.5 * (a_up + a_dn) * m1,
            0.5 * (a_up**2 + a_dn**2) * m2 + dw * f * (a_up - a_dn) * m1 + dw * dw * f * f,
        )
    mean, std = an.zs_linear_moments(ns, dw_min=dw, tau=1.0, w0=u, c=c, sp=0.0)
    assert_allclose(mean, means, rtol=0, atol=1e-12)
    assert_allclose(std, stds, rtol=0, atol=1e-12)
    # ALD (c = 0): a_+ = a_- = a and b = a² + ...; the a = b branch is never hit with dw > 0.
    m0, s0 = an.zs_linear_moments(0, dw_min=0.1, tau=2.0, w0=0.3, sp=-0.2)
    assert (float(m0), float(s0)) == (0.3, 0.0)


def test_transient_spread_matches_a_zero_shift_run() -> None:
    # 5000 independent cells at N = 100 and 300 pulses (Δw_min 1e-2): std and mean within 5 SE.
    dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=C), dw_min=1e-2)
    tile = pt.AnalogTile(50, 100, dev, rng=3)
    tile.set_weights(np.full((50, 100), W0))
    done = 0
    for n in (100, 300):
        est = zero_shift(tile, n - done).estimate.ravel()
        done = n
        mean, std = an.zs_linear_moments(n, dw_min=1e-2, tau=1.0, w0=W0, c=C)
        se = float(std) / math.sqrt(est.size)
        assert abs(est.mean() - float(mean)) <= 5 * se
        # Std of a sample std ≈ sd/√(2M) for near-normal cells.
        assert abs(est.std(ddof=1) - float(std)) <= 5 * float(std) / math.sqrt(2 * est.size)


@pytest.mark.parametrize("dw_min", [1e-2, 1e-3])
def test_thm_c2_bound_holds_on_a_zero_shift_run(dw_min: float) -> None:
    # Skew c = 0.3 on [-1, 1]: q_-' = (1 - c)/τ = 0.7 and q_+' = -(1 + c)/τ, so μ_q = 0.7;
    # q_max = q_+(-1) = 2.6 on the whole range. ‖W_0 - W◇‖² per element is 0.8² = 0.64.
    mu_q, q_max, d0 = 0.7, 2.6, 0.64
    dev = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=C), dw_min=dw_min)
    tile = pt.AnalogTile(50, 100, dev, rng=11)
    tile.set_weights(np.full((50, 100), W0))
    grid = [int(g / dw_min) for g in (0.1, 0.5, 1.0, 2.0, 5.0)]
    done = 0
    for n in grid:
        res = zero_shift(tile, n - done)
        done = n
        sq = (res.estimate.ravel() - SP) ** 2
        upper = sq.mean() + 5 * sq.std(ddof=1) / math.sqrt(sq.size)
        bound = float(
            an.zs_last_iterate_bound(
                n_pulses=n, dw_min=dw_min, mu_q=mu_q, q_max=q_max, initial_distance_sq=d0
            )
        )
        assert upper <= bound
    # The sufficient count reaches δ (here 5x the floor) with the bound itself.
    floor = an.zs_last_iterate_floor(dw_min=dw_min, mu_q=mu_q, q_max=q_max)
    n_suff = an.zs_last_iterate_pulses(
        delta=5 * floor, dw_min=dw_min, mu_q=mu_q, q_max=q_max, initial_distance_sq=d0
    )
    at = an.zs_last_iterate_bound(
        n_pulses=n_suff, dw_min=dw_min, mu_q=mu_q, q_max=q_max, initial_distance_sq=d0
    )
    assert float(at) <= 5 * floor * (1 + 1e-12)


def test_last_iterate_bound_decreases_to_its_floor() -> None:
    kw = {"dw_min": 1e-3, "mu_q": 0.5, "q_max": 1.5, "initial_distance_sq": 2.0}
    n = np.array([0, 10, 100, 1e3, 1e4, 1e5, 1e6])
    b = an.zs_last_iterate_bound(n_pulses=n, **kw)
    assert np.all(np.diff(b[:-1]) < 0)  # at 1e6 pulses the transient underflows to 0
    assert_allclose(b[0], 2.0 + 1e-3 * 1.5**2 / 0.5, rtol=1e-15)
    floor = an.zs_last_iterate_floor(dw_min=1e-3, mu_q=0.5, q_max=1.5)
    assert_allclose(b[-1], floor / 2, rtol=1e-12)  # the N → ∞ term is half the floor


def test_last_iterate_pulses_scaling_and_limits() -> None:
    kw = {"mu_q": 0.5, "q_max": 1.0, "initial_distance_sq": 1.0}
    n1 = an.zs_last_iterate_pulses(delta=0.05, dw_min=1e-3, **kw)
    n2 = an.zs_last_iterate_pulses(delta=0.05, dw_min=1e-4, **kw)
    assert_allclose(n2 / n1, 10.0, rtol=1e-12)  # ∝ 1/Δw_min at fixed δ
    deltas = [0.01, 0.05, 0.2, 1.0]
    counts = [an.zs_last_iterate_pulses(delta=d, dw_min=1e-3, **kw) for d in deltas]
    assert all(a > b for a, b in itertools.pairwise(counts))
    assert an.zs_last_iterate_pulses(delta=2.0, dw_min=1e-3, **kw) == 0.0
    # Exactly at the count, the transient is δ/2: (1 - 2μΔ)^N ≤ e^{-2μΔN} = δ/(2 d0).
    b = float(an.zs_last_iterate_bound(n_pulses=counts[1], dw_min=1e-3, **kw))
    assert b <= 0.05
    with pytest.raises(ParameterError, match="'delta' parameter of zs_last_iterate_pulses"):
        an.zs_last_iterate_pulses(delta=0.003, dw_min=1e-3, **kw)  # below the floor 0.004


def test_cyclic_pairs_are_half_the_stochastic_pulses() -> None:
    kw = {"delta": 0.05, "dw_min": 1e-3, "mu_q": 0.5, "initial_distance_sq": 1.0}
    pairs = an.zs_cyclic_pairs(**kw)
    pulses = an.zs_last_iterate_pulses(q_max=1.0, **kw)
    assert_allclose(pairs, pulses / 2, rtol=1e-12)
    assert an.zs_cyclic_pairs(**{**kw, "delta": 3.0}) == 0.0
    floor = an.zs_cyclic_floor(dw_min=1e-3, mu_q=0.5, q_max=1.0, L_q=1.0)
    assert_allclose(floor, 1e-3 * (4 + 2 + 1) / 0.5, rtol=1e-12)
    assert_allclose(an.zs_cyclic_floor(dw_min=2e-3, mu_q=0.5, q_max=1.0, L_q=1.0), 2 * floor)


def test_average_iterate_bound_and_pulses() -> None:
    kw = {"dw_min": 1e-3, "phi_gap": 0.3, "L_q": 2.0, "q_max": 1.2}
    floor = an.zs_average_iterate_bound(n_pulses=math.inf, **kw)
    assert_allclose(floor, 0.5 * 2.0 * 1e-3 * 1.44, rtol=1e-12)
    vals = [an.zs_average_iterate_bound(n_pulses=n, **kw) for n in (1, 10, 1e3, 1e6)]
    assert all(a > b > floor for a, b in itertools.pairwise(vals))
    assert_allclose(vals[1] - floor, 0.3 / (10 * 1e-3), rtol=1e-12)
    n = an.zs_average_iterate_pulses(delta=0.02, dw_min=1e-3)
    assert_allclose(n, 5e4, rtol=1e-12)
    assert_allclose(an.zs_average_iterate_pulses(delta=0.02, dw_min=1e-4), 10 * n, rtol=1e-12)


def test_cor_3_9_totals() -> None:
    d = np.array([1e-1, 1e-2, 1e-3, 1e-4])
    rider = an.rider_total_pulses(d)
    two = an.two_stage_total_pulses(d, dw_min=1e-3)
    assert_allclose(rider, d**-2.0, rtol=1e-15)
    # The ratio is 1 + δ/Δw_min: calibration dominates for δ > Δw_min, is equal at δ = Δw_min.
    assert_allclose(two / rider, 1 + d / 1e-3, rtol=1e-12)
    assert np.all(two > rider)
    assert_allclose(two[2], 2 * rider[2], rtol=1e-12)


def test_sp_estimation_error_matches_zero_shift_result() -> None:
    dev = pt.Device(
        response=pt.SoftBounds(slope_up=1.1, slope_down=0.9),
        dw_min=1e-2,
        dw_min_dtod=0.3,
        up_down_dtod=0.05,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )
    res = zero_shift(pt.AnalogTile(8, 6, dev, replicas=3, rng=5), 300)
    err = an.sp_estimation_error(res.estimate, res.true_sp)
    assert_allclose(err.mean_relative, res.mean_relative_error, rtol=1e-12)
    assert_allclose(err.rms, res.rms_error, rtol=1e-12)
    diff = (res.estimate - res.true_sp).reshape(3, -1)
    assert_allclose(err.frobenius, np.linalg.norm(diff, axis=1), rtol=1e-12)
    true = res.true_sp.reshape(3, -1)
    assert_allclose(err.frobenius_relative, err.frobenius / np.linalg.norm(true, axis=1))
    assert_allclose(err.rms, err.frobenius / math.sqrt(48), rtol=1e-12)


def test_sp_estimation_error_edge_cases() -> None:
    exact = an.sp_estimation_error(np.ones((2, 3)), np.ones((2, 3)))
    assert exact.mean_relative.tolist() == [0.0, 0.0]
    assert exact.rms.tolist() == [0.0, 0.0]
    zero_mean = an.sp_estimation_error([[0.1, -0.1]], [[0.2, -0.2]])
    assert zero_mean.mean_relative.tolist() == [math.inf] or np.isnan(zero_mean.mean_relative[0])
    assert_allclose(zero_mean.frobenius_relative, [0.5])


BAD_CALLS: list[tuple[str, str, Callable[[], object]]] = [
    ("n_pulses", "zs_average_iterate_bound",
     lambda: an.zs_average_iterate_bound(n_pulses=0.5, dw_min=1e-3, phi_gap=1, L_q=1, q_max=1)),
    ("phi_gap", "zs_average_iterate_bound",
     lambda: an.zs_average_iterate_bound(n_pulses=5, dw_min=1e-3, phi_gap=-1, L_q=1, q_max=1)),
    ("delta", "zs_average_iterate_pulses",
     lambda: an.zs_average_iterate_pulses(delta=0.0, dw_min=1e-3)),
    ("dw_min", "zs_average_iterate_pulses",
     lambda: an.zs_average_iterate_pulses(delta=0.1, dw_min=math.nan)),
    ("mu_q", "zs_last_iterate_bound",
     lambda: an.zs_last_iterate_bound(n_pulses=1, dw_min=0.1, mu_q=5.0, q_max=1,
                                      initial_distance_sq=1)),
    ("n_pulses", "zs_last_iterate_bound",
     lambda: an.zs_last_iterate_bound(n_pulses=[-1], dw_min=0.1, mu_q=1.0, q_max=1,
                                      initial_distance_sq=1)),
    ("initial_distance_sq", "zs_last_iterate_bound",
     lambda: an.zs_last_iterate_bound(n_pulses=1, dw_min=0.1, mu_q=1.0, q_max=1,
                                      initial_distance_sq=-1)),
    ("mu_q", "zs_last_iterate_floor",
     lambda: an.zs_last_iterate_floor(dw_min=0.1, mu_q=0.0, q_max=1)),
    ("q_max", "zs_last_iterate_floor",
     lambda: an.zs_last_iterate_floor(dw_min=0.1, mu_q=1.0, q_max=-1)),
    ("delta", "zs_last_iterate_pulses",
     lambda: an.zs_last_iterate_pulses(delta=-1, dw_min=0.1, mu_q=1.0, q_max=1,
                                       initial_distance_sq=1)),
    ("L_q", "zs_cyclic_floor",
     lambda: an.zs_cyclic_floor(dw_min=0.1, mu_q=1.0, q_max=1, L_q=math.inf)),
    ("delta", "zs_cyclic_pairs",
     lambda: an.zs_cyclic_pairs(delta=0, dw_min=0.1, mu_q=1.0, initial_distance_sq=1)),
    ("c", "zs_linear_mean", lambda: an.zs_linear_mean(1, dw_min=1e-3, tau=1, w0=0, c=1.0)),
    ("dw_min", "zs_linear_mean", lambda: an.zs_linear_mean(1, dw_min=1.5, tau=1, w0=0, c=0.5)),
    ("w0", "zs_linear_mean", lambda: an.zs_linear_mean(1, dw_min=1e-3, tau=1, w0=math.inf)),
    ("tau", "zs_linear_stationary_variance",
     lambda: an.zs_linear_stationary_variance(dw_min=1e-3, tau=0)),
    ("n_pulses", "zs_linear_moments",
     lambda: an.zs_linear_moments([1, math.nan], dw_min=1e-3, tau=1, w0=0)),
    ("sp", "zs_linear_cyclic_fixed_point",
     lambda: an.zs_linear_cyclic_fixed_point(dw_min=1e-3, tau=1, sp=math.nan)),
    ("delta", "rider_total_pulses", lambda: an.rider_total_pulses([0.1, -0.1])),
    ("dw_min", "two_stage_total_pulses", lambda: an.two_stage_total_pulses(0.1, dw_min=0)),
    ("estimate", "sp_estimation_error", lambda: an.sp_estimation_error(0.1, 0.1)),
    ("true_sp", "sp_estimation_error", lambda: an.sp_estimation_error([[1.0, 2.0]], [[1.0]])),
    ("estimate", "sp_estimation_error", lambda: an.sp_estimation_error([[np.nan]], [[1.0]])),
]  # fmt: skip


@pytest.mark.parametrize(("name", "owner", "call"), BAD_CALLS, ids=lambda v: str(v)[:40])
def test_bad_arguments_raise_parameter_error(
    name: str, owner: str, call: Callable[[], object]
) -> None:
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of {owner} must be "):
        call()


def test_exports_and_docstring_examples() -> None:
    mod = pulsetrain.analysis.zero_shift
    for name in mod.__all__:
        assert getattr(an, name) is getattr(mod, name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
