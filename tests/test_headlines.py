"""Headlines H1 and H2 of shared/theory.md §5, qualitatively and at reduced cost.

Full runs, tables and figures: examples/headline1_lr_sweep.py and examples/headline2_tt_vs_asgd.py
(their docstrings give every setting and where it comes from).

Statistics: replica r draws the same problem instance (A, W*) in every run of a test, so
algorithms and step sizes are compared per replica (paired), and a claim is checked on the mean
of a per-replica statistic with a margin of 4 standard errors (SE = std over replicas / √R).
Thresholds are the claim itself, not fitted to the numbers: H1 separates "error ∝ lr" (slope 1 in
log-log) from "flat" (slope 0) at the midpoint 0.5; H2 reads "≪" as at least a factor 10 and
"worse" as a ratio above 1. H2 runs both device readings (the paper's text and its script); a
claim that does not hold under a reading is a strict xfail with the numbers measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD, DigitalSGD, ResidualLearning
from pulsetrain.periphery import transfer_io
from pulsetrain.problems import LeastSquares

K_SE = 4.0


def _mean_se(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


# --- H1 (P2 Fig. 1) -------------------------------------------------------------------------

H1_LRS = (0.2, 0.1, 0.05, 0.03)
H1_PROBLEM = LeastSquares(
    in_size=40, out_size=1, n_samples=100, target_std=0.45, noise_std=0.01 / math.sqrt(40)
)
H1_DEVICE = pt.Device(response=pt.ALD(tau=3.0), dw_min=1e-4)
H1_UPDATE = pt.PulseCountUpdate(max_bl=800)  # CEIL rounding (P2 App. B)


def _h1_final_errors(make: Callable[[float], pt.algorithms.Algorithm]) -> np.ndarray:
    """(n_lr, R): ‖W − W*‖² averaged over the last 10% of 2500 steps, per lr and replica."""
    out = []
    for lr in H1_LRS:
        res = pt.run(
            H1_PROBLEM, make(lr), steps=2500, replicas=8, rng=1, record_every=25, progress=False
        )
        out.append(res.error[:, res.record_steps >= 2250].mean(axis=1))
    return np.asarray(out)


def _loglog_slopes(errors: np.ndarray) -> np.ndarray:
    """Per replica, the least-squares slope of log(error) against log(lr)."""
    x = np.log(np.asarray(H1_LRS))
    x = x - x.mean()
    y = np.log(errors)
    return np.asarray((x[:, None] * (y - y.mean(axis=0))).sum(axis=0) / (x**2).sum())


@pytest.mark.slow
def test_h1_digital_floor_scales_with_lr_analog_floor_is_flat() -> None:
    digital = _h1_final_errors(lambda lr: DigitalSGD(lr=lr))
    analog = _h1_final_errors(lambda lr: AnalogSGD(device=H1_DEVICE, lr=lr, update=H1_UPDATE))
    s_dig, se_dig = _mean_se(_loglog_slopes(digital))
    s_ana, se_ana = _mean_se(_loglog_slopes(analog))
    # Seen (seed 1, 8 replicas): digital ≈ 1.0, analog ≈ 0.2 (examples: 1.01 ± 0.02, 0.19 ± 0.02).
    assert s_dig - K_SE * se_dig > 0.5, (s_dig, se_dig)
    assert s_ana + K_SE * se_ana < 0.5, (s_ana, se_ana)
    # At the smallest lr the analog floor lies above the digital one (≈ 7× seen).
    gap, se_gap = _mean_se(np.log(analog[-1] / digital[-1]))
    assert gap - K_SE * se_gap > 0.0, (gap, se_gap)


# --- H2 (P1 Fig. 2) -------------------------------------------------------------------------
# The authors' configuration (theory.md §5 H2; examples/headline2_tt_vs_asgd.py): aihwkit
# stochastic pulses with desired_bl 8 per sample for the gradient, desired_bl 31 (aihwkit's
# transfer_update) for the writes into W, and TT's reads of P through aihwkit's default noisy IO
# (transfer_io(): output noise 0.06, 9-bit ADC). Two device readings: the text's skew linear
# (1 ± c) and the script's aihwkit up_down = c (SoftBounds with slope_down 1 − c).

H2_PROBLEM = LeastSquares(
    in_size=50, out_size=1, n_samples=100, target_std=0.5, noise_std=0.0, w0=1.0
)
H2_STEPS, H2_TAU = 1000, 3.5
H2_GRAD, H2_TRANSFER = pt.StochasticPulseUpdate(desired_bl=8), pt.StochasticPulseUpdate()


def _h2_device(c: float, reading: str) -> pt.Device:
    if reading == "text":
        return pt.Device(response=pt.SkewLinear(tau=H2_TAU, c_lin=c), dw_min=1e-4)
    soft = pt.SoftBounds(w_max=H2_TAU, w_min=-H2_TAU, slope_up=1.0, slope_down=1.0 - c)
    return pt.Device(response=soft, dw_min=1e-4)


def _h2_runs(
    c: float,
    reading: str,
    *,
    replicas: int,
    update: pt.UpdateMode = H2_GRAD,
    transfer: pt.UpdateMode = H2_TRANSFER,
) -> tuple[pt.TrainResult, pt.TrainResult]:
    """Analog SGD and TT/RL (W's writes in aihwkit's separate transfer_update), H2_STEPS each."""
    kw: dict[str, Any] = {"steps": H2_STEPS, "replicas": replicas, "rng": 3, "progress": False}
    dev = _h2_device(c, reading)
    asgd = pt.run(H2_PROBLEM, AnalogSGD(device=dev, lr=0.8, update=update), **kw)
    rl = ResidualLearning(
        device=dev,
        lr=0.8,
        lr_transfer=0.8,
        gamma_mix=0.4,
        update=update,
        transfer_update=transfer,
        transfer_io=transfer_io(),
    )
    return asgd, pt.run(H2_PROBLEM, rl, **kw)


def _h2_log_ratios(c: float, reading: str, *, replicas: int) -> np.ndarray:
    """Per replica, log(‖W̄ − W*‖² of TT/RL / that of Analog SGD) after H2_STEPS steps."""
    asgd, rl = _h2_runs(c, reading, replicas=replicas)
    return np.asarray(np.log(rl.error[:, -1] / asgd.error[:, -1]))


def test_h2_aihwkit_up_down_reading_is_soft_bounds_with_a_shorter_down_step() -> None:
    # aihwkit up_down = u > 0: Δw⁺ = dw_min, Δw⁻ = dw_min(1 − u) (theory.md §1.1), soft bounds on
    # ±τ, so q+ = 1 − w/τ, q− = (1 − c)(1 + w/τ) and SP cτ/(2 − c) (theory.md §2.1, hand algebra).
    w = np.linspace(-3.0, 3.0, 13)
    for c in (0.1, 0.2, 0.3):
        resp = _h2_device(c, "aihwkit").response
        np.testing.assert_allclose(resp.q_plus(w), 1.0 - w / H2_TAU, rtol=0, atol=1e-15)
        np.testing.assert_allclose(resp.q_minus(w), (1 - c) * (1 + w / H2_TAU), rtol=0, atol=1e-15)
        assert resp.symmetric_point() == pytest.approx(c * H2_TAU / (2 - c), abs=1e-14)
        # The text's device differs: SP cτ.
        assert _h2_device(c, "text").response.symmetric_point() == pytest.approx(c * H2_TAU)
    # At c = 0 the two readings are the same device (ALD on ±τ).
    for x in (-2.0, 0.5):
        assert _h2_device(0.0, "aihwkit").response.q_plus(x) == pytest.approx(
            _h2_device(0.0, "text").response.q_plus(x), abs=1e-15
        )


@pytest.mark.slow
def test_h2_rl_far_better_than_asgd_at_c0() -> None:
    # c = 0: both device readings coincide. P1 Fig. 2 plots mean curves, so "≪" is checked on the
    # ratio of replica-mean errors. SE of log(mean) is CV/√R (delta method); the paired
    # covariance is unknown, so SE(log ratio) ≤ (CV_ASGD + CV_RL)/√R (Cauchy-Schwarz bound).
    asgd, rl = _h2_runs(0.0, "text", replicas=16)
    ea, er = asgd.error[:, -1], rl.error[:, -1]
    cv = ea.std(ddof=1) / ea.mean() + er.std(ddof=1) / er.mean()
    log_ratio, se = math.log(er.mean() / ea.mean()), cv / math.sqrt(ea.size)
    # Seen (seed 3): ratio of means 3.3e-3 (log −5.72, SE bound 0.24); per replica RL is
    # better in 14/16 (ASGD's plateau is bimodal: ~1e-3 in 3 instances, 0.1–0.8 in the rest).
    assert log_ratio + K_SE * se < -math.log(10.0), (log_ratio, se)
    # "plateau ~1e-5" in f/D, read as within a decade either side (seen 6.8e-6 ± 1.0e-6 std).
    f, se_f = _mean_se(rl.loss[:, -1] / 50)
    assert f - K_SE * se_f > 1e-6, (f, se_f)
    assert f + K_SE * se_f < 1e-4, (f, se_f)


@pytest.mark.slow
def test_h2_text_device_rl_worse_than_asgd_for_c_from_01() -> None:
    for c in (0.1, 0.2, 0.3):
        worse, se = _mean_se(_h2_log_ratios(c, "text", replicas=8))
        # Seen (16 replicas): +2.79 ± 0.32, +3.44 ± 0.07, +2.79 ± 0.04; worse in 16/16 each.
        assert worse - K_SE * se > 0.0, (c, worse, se)


@pytest.mark.slow
def test_h2_aihwkit_device_rl_worse_than_asgd_at_c02_c03() -> None:
    for c in (0.2, 0.3):
        worse, se = _mean_se(_h2_log_ratios(c, "aihwkit", replicas=8))
        # Seen (16 replicas): +3.45 ± 0.20 and +3.48 ± 0.08; worse in 16/16 each.
        assert worse - K_SE * se > 0.0, (c, worse, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "with the authors' device (aihwkit up_down = 0.1, SP 0.184) TT/RL is still far better "
        "than Analog SGD at c = 0.1: mean log(RL/ASGD) = −5.11 ± 0.68 SE over 16 replicas "
        "(worse in 1/16; ‖W̄−W*‖² 2.1e-3 vs 0.68). P1's text and code disagree here"
    ),
)
def test_h2_aihwkit_device_rl_worse_than_asgd_at_c01() -> None:
    worse, se = _mean_se(_h2_log_ratios(0.1, "aihwkit", replicas=16))
    assert worse - K_SE * se > 0.0, (worse, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "theory.md's literal H2 reading (PulseCountUpdate, max_bl 8, stochastic rounding on the "
        "batch-summed gradient) cannot reach W* in 1000 steps from W_0 = 1: a weight moves at "
        "most ~8e-4 per step. Seen (16 replicas, noisy reads): mean log(RL/ASGD) = −0.40 ± 0.06 "
        "at c = 0 (errors 6.9 vs 10.3, not ≪) and −0.92 ± 0.06 at c = 0.1 (RL better, not worse)"
    ),
)
def test_h2_theory_pulse_count_reading() -> None:
    mode = pt.PulseCountUpdate(max_bl=8, rounding=pt.Rounding.STOCHASTIC)
    transfer = pt.PulseCountUpdate(max_bl=31, rounding=pt.Rounding.STOCHASTIC)
    for c, sign in ((0.0, -1.0), (0.1, 1.0)):
        asgd, rl = _h2_runs(c, "text", replicas=16, update=mode, transfer=transfer)
        r, se = _mean_se(np.log(rl.error[:, -1] / asgd.error[:, -1]))
        if sign < 0:  # c = 0: RL ≪ ASGD
            assert r + K_SE * se < -math.log(10.0), (c, r, se)
        else:  # c = 0.1: RL worse
            assert r - K_SE * se > 0.0, (c, r, se)
