"""Headlines H1 and H2 of shared/theory.md §5, qualitatively and at reduced cost.

Full runs, tables and figures: examples/headline1_lr_sweep.py and examples/headline2_tt_vs_asgd.py
(their docstrings give every setting and where it comes from).

Statistics: replica r draws the same problem instance (A, W*) in every run of a test, so
algorithms and step sizes are compared per replica (paired), and a claim is checked on the mean
of a per-replica statistic with a margin of 4 standard errors (SE = std over replicas / √R).
Thresholds are the claim itself, not fitted to the numbers: H1 separates "error ∝ lr" (slope 1 in
log-log) from "flat" (slope 0) at the midpoint 0.5; H2 reads "≪" as at least a factor 10 and
"worse" as a ratio above 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD, DigitalSGD, ResidualLearning
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

H2_PROBLEM = LeastSquares(
    in_size=50, out_size=1, n_samples=100, target_std=0.5, noise_std=0.0, w0=1.0
)
H2_STEPS = 1000


def _h2_device(c: float) -> pt.Device:
    return pt.Device(response=pt.SkewLinear(tau=3.5, c_lin=c), dw_min=1e-4)


def _h2_log_ratios(
    c: float,
    update: pt.UpdateMode,
    transfer: pt.UpdateMode,
    *,
    replicas: int,
) -> np.ndarray:
    """Per replica, log(‖W̄ − W*‖² of TT/RL / that of Analog SGD) after H2_STEPS steps."""
    kw = {"steps": H2_STEPS, "replicas": replicas, "rng": 3, "progress": False}
    asgd = pt.run(H2_PROBLEM, AnalogSGD(device=_h2_device(c), lr=0.8, update=update), **kw)  # type: ignore[arg-type]
    # W receives only transfer writes: aihwkit's separate transfer_update.
    rl = ResidualLearning(
        device=_h2_device(c),
        lr=0.8,
        lr_transfer=0.8,
        gamma_mix=0.4,
        update=update,
        transfer_update=transfer,
    )
    res = pt.run(H2_PROBLEM, rl, **kw)  # type: ignore[arg-type]
    return np.asarray(np.log(res.error[:, -1] / asgd.error[:, -1]))


# The authors' configuration (examples/headline2_tt_vs_asgd.py): aihwkit stochastic pulses with
# desired_bl 8 per sample for the gradient, desired_bl 31 (aihwkit's transfer_update) for the
# transfer writes into W.
H2_GRAD, H2_TRANSFER = pt.StochasticPulseUpdate(desired_bl=8), pt.StochasticPulseUpdate()


@pytest.mark.slow
def test_h2_rl_far_better_than_asgd_at_c0() -> None:
    r = _h2_log_ratios(0.0, H2_GRAD, H2_TRANSFER, replicas=16)
    at0, se0 = _mean_se(r)
    # Seen: −6.56 ± 0.69 (RL/ASGD ≈ 1.4e-3 geometric mean); RL better in 16/16 replicas, by
    # more than 10× in 13 (ASGD's plateau is bimodal: ~1e-3 in 3 instances, 0.1–0.8 in the rest).
    assert at0 + K_SE * se0 < -math.log(10.0), (at0, se0)


@pytest.mark.slow
def test_h2_rl_worse_than_asgd_at_c02_c03() -> None:
    for c in (0.2, 0.3):
        worse, se = _mean_se(_h2_log_ratios(c, H2_GRAD, H2_TRANSFER, replicas=8))
        # Seen at c = 0.3 (16 replicas): 2.81 ± 0.04, RL/ASGD ≈ 17, worse in every replica.
        assert worse - K_SE * se > 0.0, (c, worse, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "H2 at c_Lin = 0.1 is instance-dependent: RL ends worse than Analog SGD in 11 of 16 "
        "replicas (log ratio ≈ +2 to +4) but far better in 2 (≈ −7.6) and slightly better in 3; "
        "mean log(RL/ASGD) = 0.90 ± 0.95 SE, so 'worse' is not established at 4 SE (the ratio of "
        "mean errors, ≈ 26 with seed 0, is dominated by the diverging replicas)"
    ),
)
def test_h2_rl_worse_than_asgd_at_c01() -> None:
    worse, se = _mean_se(_h2_log_ratios(0.1, H2_GRAD, H2_TRANSFER, replicas=16))
    assert worse - K_SE * se > 0.0, (worse, se)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "theory.md's literal H2 reading (PulseCountUpdate, max_bl 8, stochastic rounding on the "
        "batch-summed gradient) cannot reach W* in 1000 steps from W_0 = 1: a weight moves at "
        "most ~8e-4 per step. Seen (16 replicas): mean log(RL/ASGD) = −0.33 ± 0.05 at c = 0 "
        "(RL/ASGD ≈ 0.72, errors ~8–11, not ≪) and −0.94 ± 0.05 at c = 0.1 (RL better, not worse)"
    ),
)
def test_h2_theory_pulse_count_reading() -> None:
    mode = pt.PulseCountUpdate(max_bl=8, rounding=pt.Rounding.STOCHASTIC)
    transfer = pt.PulseCountUpdate(max_bl=31, rounding=pt.Rounding.STOCHASTIC)
    at0, se0 = _mean_se(_h2_log_ratios(0.0, mode, transfer, replicas=16))
    assert at0 + K_SE * se0 < -math.log(10.0), (at0, se0)
    worse, se = _mean_se(_h2_log_ratios(0.1, mode, transfer, replicas=16))
    assert worse - K_SE * se > 0.0, (worse, se)
