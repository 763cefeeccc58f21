"""Qualitative reproductions of H3 (ZS pulse complexity) and P3's SP comparison (issue 6, item 6).

Slow-marked, each run well under a minute on 2 cores. Settings mirror
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
from pulsetrain.algorithms import ERIDER, RIDER, ResidualLearning, TwoStage
from pulsetrain.problems import LeastSquares
from pulsetrain.zero_shift import ZeroShiftMode, zero_shift

pytestmark = pytest.mark.slow

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


def test_two_stage_beats_rl_with_a_miscalibrated_sp(comparison: dict[str, pt.TrainResult]) -> None:
    diff, se = _paired(comparison["RL"].final_error, comparison["ZS+RL"].final_error)
    assert diff > 3 * se


def test_erider_beats_rl_with_a_miscalibrated_sp(comparison: dict[str, pt.TrainResult]) -> None:
    diff, se = _paired(comparison["RL"].final_error, comparison["E-RIDER"].final_error)
    assert diff > 3 * se


@pytest.mark.xfail(
    strict=True,
    reason="RIDER (raw, constant steps) drifts to a spurious equilibrium (C23): in "
    "examples/p3_comparison.py (16 replicas) its error grows to 3.03 ± 0.80 vs 0.092 ± 0.042 for "
    "RL with the mis-calibrated SP; its SP error 0.40 exceeds RL's 0.23",
)
def test_rider_beats_rl_with_a_miscalibrated_sp(comparison: dict[str, pt.TrainResult]) -> None:
    diff, se = _paired(comparison["RL"].final_error, comparison["RIDER"].final_error)
    assert diff > 3 * se


def test_erider_is_not_worse_than_two_stage(comparison: dict[str, pt.TrainResult]) -> None:
    # Non-inferiority within 3 paired SE, without any calibration pulse.
    diff, se = _paired(comparison["E-RIDER"].final_error, comparison["ZS+RL"].final_error)
    assert diff <= 3 * se
    assert comparison["E-RIDER"].total_pulses["calibration"].sum() == 0


@pytest.mark.xfail(
    strict=True,
    reason="E-RIDER saves the 1000 calibration pulses per element but fires more update pulses: "
    "here (8 replicas) it spends 3.9e3 more pulses per element in total than ZS 1000 + RL "
    "(paired SE 950); in examples/p3_comparison.py (16 replicas) 5.83e4 vs 5.33e4 per element",
)
def test_erider_spends_fewer_pulses_than_two_stage(comparison: dict[str, pt.TrainResult]) -> None:
    # P3 Cor. 3.9's point: tracking replaces the calibration pulses.
    def total(r: pt.TrainResult) -> np.ndarray:
        return np.asarray(np.sum(list(r.total_pulses.values()), axis=0))

    diff, se = _paired(total(comparison["ZS+RL"]), total(comparison["E-RIDER"]))
    assert diff > 3 * se


def test_calibration_pulses_are_accounted(comparison: dict[str, pt.TrainResult]) -> None:
    n_el = _PROBLEM.in_size * _PROBLEM.out_size
    assert comparison["ZS+RL"].total_pulses["calibration"].tolist() == [_ZS_PULSES * n_el] * 8
    for name in ("RL", "RIDER", "E-RIDER"):
        assert comparison[name].total_pulses["calibration"].sum() == 0
