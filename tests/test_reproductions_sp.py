"""Qualitative reproductions of H3 (ZS pulse complexity) and P3's SP comparison (issue 6, item 6),
and RIDER's non-convergence finding (issue 13, item 5; docs/FINDINGS.md).

Slow-marked except the RIDER check, each run well under a minute on 2 cores. Settings mirror
examples/h3_zs_pulse_complexity.py and examples/p3_comparison.py at a smaller size; seeds are fixed
and every margin comes from the spread over replicas (CONVENTIONS §10), chosen before the runs.
Claims that do not reproduce are marked ``xfail(strict=True)`` with the numbers measured.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import (
    AGAD,
    ERIDER,
    RIDER,
    ERIDERBuffered,
    ResidualLearning,
    TTv2,
    TwoStage,
)
from pulsetrain.problems import LeastSquares, Quadratic
from pulsetrain.zero_shift import ZeroShiftMode, zero_shift

# ---------------------------------------------------------------------------------------------
# H3: soft bounds α± 1.1/0.9 on [−1, 1] (mean SP ≈ 0.1, so a relative error of the mean is
# defined), aihwkit PulsedDevice d2d spreads, stochastic ZS from physical state 0.
# ---------------------------------------------------------------------------------------------


def _h3_device(dw_min: float) -> pt.Device:
    return pt.Device(
        response=pt.SoftBounds(w_max=1.0, w_min=-1.0, slope_up=1.1, slope_down=0.9),
        dw_min=dw_min,
        dw_min_dtod=0.3,
        up_down_dtod=0.01,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
    )


@pytest.mark.slow
def test_h3_more_than_2000_pulses_for_a_one_percent_sp_mean_error() -> None:
    # P3 Fig. 1: 2000 states (Δw_min 1e−3) need > 2000 ZS pulses for ≤ 1% SP-mean error.
    # 256² elements instead of 512² (the example runs 512²); the mean is what is claimed.
    tile = pt.AnalogTile(256, 256, _h3_device(1e-3), rng=0)
    res = zero_shift(tile, 2000)
    err = float(res.mean_relative_error[0])
    # SE of the mean relative error from the element spread of the estimation error.
    e = res.error.ravel()
    se = float(e.std(ddof=1) / math.sqrt(e.size) / abs(res.true_sp.mean()))
    assert err - 0.01 > 5 * se  # still above 1% after 2000 pulses, by > 5 SE


def _n_one_percent(dw_min: float, replicas: int, side: int) -> np.ndarray:
    """Per-replica pulses until the SP-mean error first reaches ≤ 1% (log-linear interpolation)."""
    tile = pt.AnalogTile(side, side, _h3_device(dw_min), replicas=replicas, rng=1)
    ratio = 2.0**0.125
    n_prev, e_prev = 0.0, np.full(replicas, 1.0)  # at N = 0 the estimate is 0: error 100%
    found = np.full(replicas, np.nan)
    done, target = 0, max(2, round(1.0 / dw_min))
    while np.isnan(found).any():
        res = zero_shift(tile, target - done)
        done = target
        e = res.mean_relative_error
        hit = np.isnan(found) & (e <= 0.01)
        frac = (np.log(e_prev) - math.log(0.01)) / (np.log(e_prev) - np.log(np.maximum(e, 1e-300)))
        found[hit] = (n_prev + frac * (done - n_prev))[hit]
        n_prev, e_prev = float(done), e
        target = round(done * ratio)
    return found


@pytest.mark.slow
def test_h3_pulses_scale_as_one_over_dw_min() -> None:
    dws = np.array([5e-3, 1e-3, 2e-4])
    n = np.stack([_n_one_percent(dw, replicas=4, side=64) for dw in dws])  # (3, replicas)
    slopes = np.array([np.polyfit(np.log(dws), np.log(n[:, r]), 1)[0] for r in range(n.shape[1])])
    se = slopes.std(ddof=1) / math.sqrt(slopes.size)
    # The exact mean law has slope −1 up to (1 − k)^N ≠ e^{−kN}, a relative O(k) ≤ 1% effect on
    # N over this range (k ≈ Δw_min ≤ 5e−3 per pulse); 0.03 covers it and the grid interpolation.
    assert abs(slopes.mean() + 1.0) <= 4 * se + 0.03
    assert np.all(n[1] > 2000)  # H3's count at Δw_min 1e−3 holds in every replica


# ---------------------------------------------------------------------------------------------
# P3's comparison (examples/p3_comparison.py with 8 replicas): least squares with reference
# offsets μ_r 0.2, σ_r 0.1, soft bounds Δw_min 1e−3, lr 0.1, lr_transfer 0.02, gamma_mix 0.4,
# ema_rate 0.02, 4000 steps. The same seed gives every method the same problems, so differences
# are paired by replica.
# ---------------------------------------------------------------------------------------------

_PROBLEM = LeastSquares(
    in_size=8, out_size=4, n_samples=64, batch_size=8, target_std=0.3, noise_std=0.1
)
_DEV = pt.Device(
    response=pt.SoftBounds(w_min=-1.0, w_max=1.0),
    dw_min=1e-3,
    reference_mean=0.2,
    reference_std=0.1,
    subtract_symmetry_point=True,
)
_RL: dict[str, Any] = {
    "lr": 0.1,
    "lr_transfer": 0.02,
    "gamma_mix": 0.4,
    "update": pt.StochasticPulseUpdate(),
}
_ZS_PULSES = 1000


@pytest.fixture(scope="module")
def comparison() -> dict[str, pt.TrainResult]:
    algos = {
        "RL": ResidualLearning(device=_DEV, **_RL),
        "ZS+RL": TwoStage(
            device=_DEV,
            zs_pulses=_ZS_PULSES,
            zs_mode=ZeroShiftMode.STOCHASTIC,
            **_RL,
        ),
        "RIDER": RIDER(device=_DEV, ema_rate=0.02, **_RL),
        "E-RIDER": ERIDER(
            device=_DEV,
            ema_rate=0.02,
            chop_prob=0.05,
            reprogram_on_flip=True,
            **_RL,
        ),
    }
    return {
        name: pt.run(
            _PROBLEM,
            a,
            steps=4000,
            replicas=8,
            rng=0,
            progress=False,
            n_threads=1,
            record_every=4000,
        )
        for name, a in algos.items()
    }


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    d = a - b
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))


@pytest.mark.slow
def test_two_stage_beats_rl_with_a_miscalibrated_sp(comparison: dict[str, pt.TrainResult]) -> None:
    diff, se = _paired(comparison["RL"].final_error, comparison["ZS+RL"].final_error)
    assert diff > 3 * se


@pytest.mark.slow
def test_erider_beats_rl_with_a_miscalibrated_sp(comparison: dict[str, pt.TrainResult]) -> None:
    diff, se = _paired(comparison["RL"].final_error, comparison["E-RIDER"].final_error)
    assert diff > 3 * se


@pytest.mark.slow
def test_erider_is_not_worse_than_two_stage(comparison: dict[str, pt.TrainResult]) -> None:
    # Non-inferiority within 3 paired SE, without any calibration pulse.
    diff, se = _paired(comparison["E-RIDER"].final_error, comparison["ZS+RL"].final_error)
    assert diff <= 3 * se
    assert comparison["E-RIDER"].total_pulses["calibration"].sum() == 0


# P3's pulse metric (examples/erider_vs_zs_pulses.py with 8 replicas): total pulses per element
# (update + transfer + calibration) until the trailing 50-step mean of f(W̄) first reaches a
# target, E-RIDER (buffered, no calibration) against ZS N + RL over calibration budgets N.
_TARGET, _WINDOW, _EVERY, _BUDGETS = 0.012, 50, 5, (250, 1000, 4000)


@pytest.fixture(scope="module")
def pulse_runs() -> dict[str, pt.TrainResult]:
    algos: dict[str, Any] = {
        "RL": ResidualLearning(device=_DEV, **_RL),
        "E-RIDER": ERIDERBuffered(device=_DEV, chop_prob=0.05, columns_per_transfer=0, **_RL),
    }
    for n in _BUDGETS:
        algos[f"ZS {n}"] = TwoStage(
            device=_DEV, zs_pulses=n, zs_mode=ZeroShiftMode.STOCHASTIC, **_RL
        )
    kw: dict[str, Any] = {"steps": 4000, "replicas": 8, "rng": 0, "progress": False}
    return {
        n: pt.run(_PROBLEM, a, record_every=_EVERY, n_threads=1, **kw) for n, a in algos.items()
    }


def _pulses_to_target(res: pt.TrainResult) -> np.ndarray:
    """Per replica, total pulses per element when the trailing-mean loss first is ≤ _TARGET."""
    w = _WINDOW // _EVERY
    total = np.sum(list(res.pulses.values()), axis=0) / (_PROBLEM.in_size * _PROBLEM.out_size)
    out = np.full(res.replicas, np.nan)
    for r in range(res.replicas):
        smooth = np.convolve(res.loss[r], np.ones(w) / w, mode="valid")
        hit = np.flatnonzero(smooth <= _TARGET)
        if hit.size:
            out[r] = total[r, hit[0] + w - 1]
    return out


@pytest.mark.slow
def test_erider_reaches_the_target_loss_without_calibration(
    pulse_runs: dict[str, pt.TrainResult],
) -> None:
    assert not np.isnan(_pulses_to_target(pulse_runs["E-RIDER"])).any()
    assert pulse_runs["E-RIDER"].total_pulses["calibration"].sum() == 0
    # RL on the mis-calibrated SP stays above the target: its final trailing-mean loss exceeds it
    # by > 4 SE (seen in the example, 16 replicas: final f 0.036, target reached in 1/16).
    final = pulse_runs["RL"].loss[:, -_WINDOW // _EVERY :].mean(axis=1)
    f, se = float(final.mean()), float(final.std(ddof=1) / math.sqrt(final.size))
    assert f - 4 * se > _TARGET, (f, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="P3's pulse claim does not show on least squares: to reach f ≤ 0.012 (trailing "
    "50-step mean) ZS 1000 + RL needs 4033 ± 73 total pulses per element (16/16 replicas), "
    "E-RIDER (buffered) 26690 ± 1600, E-RIDER (raw) 14310 ± 1000, and the best buffered setting "
    "of a small sweep (lr_transfer 0.05, 4 pulses per transfer) 8718 ± 490 (examples/"
    "erider_vs_zs_pulses.py, 16 replicas); only budgets ≤ 250 are beaten (ZS 250: 13/16 reach)",
)
def test_erider_needs_fewer_pulses_to_a_target_loss_than_zs_rl(
    pulse_runs: dict[str, pt.TrainResult],
) -> None:
    # P3's claim: fewer than ZS N + RL at every calibration budget N, i.e. at the best one.
    er = _pulses_to_target(pulse_runs["E-RIDER"])
    for n in _BUDGETS:
        zs = _pulses_to_target(pulse_runs[f"ZS {n}"])
        if np.isnan(zs).any():
            continue  # this budget does not reach the target in every replica: E-RIDER wins
        diff, se = _paired(zs, er)
        assert diff > 4 * se, (n, diff, se)


@pytest.mark.slow
def test_calibration_pulses_are_accounted(comparison: dict[str, pt.TrainResult]) -> None:
    n_el = _PROBLEM.in_size * _PROBLEM.out_size
    assert comparison["ZS+RL"].total_pulses["calibration"].tolist() == [_ZS_PULSES * n_el] * 8
    for name in ("RL", "RIDER", "E-RIDER"):
        assert comparison[name].total_pulses["calibration"].sum() == 0


# ---------------------------------------------------------------------------------------------
# RIDER's non-convergence (theory.md §6.9; examples/rider_nonconvergence.py, docs/FINDINGS.md):
# Thm 3.7's regime at small K. f = (L/2)(w − 0.5)², L 20, σ 0.5; skew linear τ 1, c 0.2 (SP 0.2)
# on W and P, expected update; lr = 1.5/√K, lr_transfer = 0.1·lr·γ·L, ema_rate = 0.05·lr·L.
# ---------------------------------------------------------------------------------------------

_RIDER_PROBLEM = Quadratic(curvature=20.0, noise_std=0.5, target=0.5)
_SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)


def _rider_tails(k: int, replicas: int) -> dict[str, np.ndarray]:
    """Per replica second-half averages: RIDER's W̄ − W* and Q, RL's W̄ − W*."""
    lr = 1.5 / math.sqrt(k)
    kw: dict[str, Any] = {"lr": lr, "lr_transfer": 0.1 * lr * 0.4 * 20.0, "gamma_mix": 0.4}
    kw["update"] = pt.ExpectedUpdate()
    run: dict[str, Any] = {"steps": k, "replicas": replicas, "rng": 0, "progress": False}
    run |= {"record_every": k, "average_from": k // 2}
    rider = pt.run(_RIDER_PROBLEM, RIDER(device=_SKEW, ema_rate=0.05 * lr * 20.0, **kw), **run)
    rl = pt.run(_RIDER_PROBLEM, ResidualLearning(device=_SKEW, **kw), **run)
    assert rider.average_weights is not None
    assert rl.average_weights is not None
    return {
        "rider": rider.average_weights.reshape(replicas) - 0.5,
        "q": rider.average_arrays["Q"].reshape(replicas),
        "rl": rl.average_weights.reshape(replicas) - 0.5,
    }


def test_rider_bias_grows_with_k_while_rl_stays_small() -> None:
    # Fast check of the finding's direction at K = 1000 → 4000 (same seed: paired by replica).
    # Seen (100 replicas): RIDER −0.0233 → −0.0278, RL +0.0044 → +0.0042, Q 0.856 → 0.912, each
    # with SE ≤ 0.0007; 16 replicas give SEs ~2.5× larger, still ≥ 5× below every gap tested.
    small, large = _rider_tails(1000, 16), _rider_tails(4000, 16)
    grow, se = _paired(np.abs(large["rider"]), np.abs(small["rider"]))
    assert grow - 4 * se > 0.0, (grow, se)
    for t in (small, large):
        gap, se_gap = _paired(np.abs(t["rider"]), np.abs(t["rl"]))
        assert gap - 4 * se_gap > 0.0, (gap, se_gap)  # RIDER's bias exceeds RL's
    rl_grow, se_rl = _paired(np.abs(large["rl"]), np.abs(small["rl"]))
    assert rl_grow - 4 * se_rl <= 0.0, (rl_grow, se_rl)  # RL's does not grow
    # Q moves away from P's SP 0.2 as K grows (instead of converging to it).
    drift, se_q = _paired(large["q"], small["q"])
    assert drift - 4 * se_q > 0.0, (drift, se_q)
    assert float(small["q"].mean()) - 0.2 > 0.3


# ---------------------------------------------------------------------------------------------
# P3's offset grid (examples/p3_offset_grid.py) at its extreme cell μ_r 0.4, σ_r 1.0: few-state
# soft bounds 1.2/0.8, Δw_min 0.1, offsets on the gradient array, least squares 4×8 batch 1,
# lr 0.05, lr_transfer 0.1, 8 replicas × 10000 steps (paired: same problems for every method).
# ---------------------------------------------------------------------------------------------


def _grid_errors() -> dict[str, np.ndarray]:
    def dev(mean: float, std: float) -> pt.Device:
        return pt.Device(
            response=pt.SoftBounds(slope_up=1.2, slope_down=0.8),
            dw_min=0.1,
            subtract_symmetry_point=True,
            reference_mean=mean,
            reference_std=std,
        )

    kw: dict[str, Any] = {"device": dev(0.0, 0.0), "device_residual": dev(0.4, 1.0)}
    kw |= {"update": pt.StochasticPulseUpdate(), "lr": 0.05, "lr_transfer": 0.1}
    problem = LeastSquares(in_size=8, out_size=4, n_samples=64, batch_size=1)
    out = {}
    for name, algo in (
        ("TT-v2", TTv2(**kw)),
        ("AGAD", AGAD(**kw)),
        ("E-RIDER", ERIDERBuffered(**kw)),
    ):
        res = pt.run(
            problem, algo, steps=10_000, replicas=8, rng=1, progress=False, record_every=250
        )
        out[name] = np.asarray(res.error[:, res.error.shape[1] // 2 :].mean(axis=1))
    return out


@pytest.fixture(scope="module")
def grid_corner() -> dict[str, np.ndarray]:
    return _grid_errors()


@pytest.mark.slow
def test_offset_grid_corner_tracking_methods_beat_ttv2(grid_corner: dict[str, np.ndarray]) -> None:
    # Seen (example, 8 replicas): TT-v2 29.7 ± 2.1, AGAD 0.40 ± 0.05, E-RIDER 0.51 ± 0.02.
    for name in ("AGAD", "E-RIDER"):
        diff, se = _paired(grid_corner["TT-v2"], grid_corner[name])
        assert diff > 4 * se, (name, diff, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="P3's E-RIDER > AGAD does not show on least squares: at (μ_r 0.4, σ_r 1.0) the "
    "second-half ‖W̄ − W*‖² is 0.505 ± 0.024 for E-RIDER (buffered) vs 0.400 ± 0.050 for AGAD "
    "(8 replicas); AGAD is ahead in all 16 cells of examples/p3_offset_grid.py",
)
def test_offset_grid_corner_erider_beats_agad(grid_corner: dict[str, np.ndarray]) -> None:
    diff, se = _paired(grid_corner["AGAD"], grid_corner["E-RIDER"])
    assert diff > 4 * se, (diff, se)
