"""Zero-shift calibration against shared/theory.md C22 (T7) and §4.6, and kernel == twin."""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.twin import TwinTile
from pulsetrain.zero_shift import ZeroShiftMode, zero_shift

CELLS = (50, 100)  # 5000 independent cells (theory.md C22: ≥ 5000)


def _skew(dw_min: float) -> pt.Device:
    return pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=dw_min)


def _calibrated(dw_min: float, n: int, mode: str, seed: int = 0) -> np.ndarray:
    tile = pt.AnalogTile(*CELLS, _skew(dw_min), rng=seed)
    tile.set_weights(np.full(CELLS, -0.5))
    return zero_shift(tile, n, mode=mode).estimate.ravel()


def _mean_law(dw_min: float, n: int) -> float:
    # §4.6, linear G with slope 1/τ, no clipping: E[w_N] = w◇ + (1 − Δw_min/τ)^N (w_0 − w◇).
    return 0.3 + (1 - dw_min) ** n * (-0.5 - 0.3)


def _stationary_std(dw_min: float) -> float:
    # §4.6: variance Δw_min τ F(w◇)² / (2 − Δw_min(1 + c²)/τ), F(w◇) = 1 − c².
    return math.sqrt(dw_min * (1 - 0.09) ** 2 / (2 - dw_min * 1.09))


@pytest.mark.parametrize(
    ("dw_min", "n", "target"),
    [(1e-2, 100, 0.00717), (1e-2, 1000, 0.29997), (1e-3, 1000, 0.005844), (1e-3, 10_000, 0.29996)],
)
def test_c22_stochastic_zero_shift_mean(dw_min: float, n: int, target: float) -> None:
    est = _calibrated(dw_min, n, "stochastic")
    se = est.std(ddof=1) / math.sqrt(est.size)
    assert abs(est.mean() - target) <= 4 * se
    assert abs(_mean_law(dw_min, n) - target) < 5e-5  # the closed form gives the same target


@pytest.mark.parametrize(("dw_min", "sd"), [(1e-2, 0.06452), (1e-3, 0.02035)])
def test_c22_stationary_spread(dw_min: float, sd: float) -> None:
    n = int(20 / dw_min)  # (1 − Δw_min)^n < 3e−9: stationary
    est = _calibrated(dw_min, n, "stochastic", seed=1)
    # Std of a sample std: sd/√(2N) for near-normal cells.
    assert abs(est.std(ddof=1) - sd) <= 4 * sd / math.sqrt(2 * est.size)
    assert abs(_stationary_std(dw_min) - sd) < 2e-5


@pytest.mark.parametrize(("dw_min", "want"), [(1e-2, 0.2968004), (1e-3, 0.2996814)])
def test_c22_cyclic_is_exact(dw_min: float, want: float) -> None:
    est = _calibrated(dw_min, 20_000, "cyclic")
    np.testing.assert_allclose(est, want, atol=5e-8)


def test_c22_soft_bounds_pair_fixed_point() -> None:
    # B1 soft bounds with SP 0, δ = 0.05, up then down: the pair's fixed point is −δ/(2 − δ).
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.05)
    tile = pt.AnalogTile(2, 2, dev, rng=0)
    est = zero_shift(tile, 2000, mode=ZeroShiftMode.CYCLIC).estimate
    np.testing.assert_allclose(est, -0.05 / (2 - 0.05), atol=1e-12)


def test_average_last_and_accounting() -> None:
    dev = _skew(1e-2)
    a = pt.AnalogTile(20, 20, dev, replicas=2, rng=4)
    res = zero_shift(a, 2000, average_last=1000)
    assert res.pulses.tolist() == [2000 * 400, 2000 * 400]
    assert (a.pulse_counts("calibration") == 2000).all()
    assert a.pulse_counts("update").sum() == 0
    # Averaging the last M states shrinks the spread around the SP (§3.9 zs_average_last). The
    # states are AR(1) with ρ = 1 − Δw_min/τ = 0.99, so the variance falls by about
    # (1 + ρ)/((1 − ρ)M) ≈ 0.2: the std by ≈ 0.45, far beyond the ≈ 2.5% noise of a std
    # estimated from 800 cells.
    single = zero_shift(pt.AnalogTile(20, 20, dev, replicas=2, rng=4), 2000).estimate
    assert res.estimate.std() < 0.7 * single.std()
    np.testing.assert_allclose(res.true_sp, 0.3, atol=1e-12)
    assert res.error.shape == (2, 20, 20)


def test_program_reference_moves_the_logical_sp_to_zero() -> None:
    dev = pt.Device(
        response=pt.SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3, dw_min_dtod=0.1, up_down_dtod=0.05
    )
    tile = pt.AnalogTile(20, 20, dev, rng=2)
    before = np.abs(tile.symmetric_points).mean()
    res = zero_shift(tile, 20_000, mode="cyclic", program_reference=True)
    after = np.abs(tile.symmetric_points)
    assert before > 0.2
    # Cyclic ZS leaves an O(dw_min) offset (theory.md C22): the logical SP is now near 0.
    assert after.max() < 5e-3
    np.testing.assert_array_equal(tile.reference, res.estimate)
    assert res.rms_error[0] < 5e-3


@pytest.mark.parametrize("mode", ["stochastic", "cyclic"])
def test_zero_shift_kernel_matches_twin(mode: str) -> None:
    dev = pt.Device(
        response=pt.SoftBounds(slope_up=1.2, slope_down=0.8),
        dw_min=0.02,
        dw_min_std=0.3,
        dw_min_dtod=0.1,
        reference_std=0.05,
    )
    tile = pt.AnalogTile(5, 4, dev, replicas=2, rng=6, replica_offset=3)
    twin = TwinTile(
        dev.to_spec(),
        pt.StochasticPulseUpdate().to_spec(),
        5,
        4,
        2,
        list(tile_key(as_seed_sequence(6), 0)),
        3,
    )
    est = zero_shift(tile, 150, mode=mode, average_last=7).estimate
    est_twin = twin.zero_shift(150, mode == "cyclic", 7)
    np.testing.assert_array_equal(est, est_twin)
    np.testing.assert_array_equal(tile.physical_weights, twin.physical_weights())
    np.testing.assert_array_equal(tile.pulse_counts("calibration"), twin.pulse_counts(2))
    ref = np.full((2, 5, 4), 0.1)
    tile.set_reference(ref)
    twin.set_reference(ref)
    np.testing.assert_array_equal(tile.weights, twin.weights())


def test_a_single_pulse_is_a_valid_budget() -> None:
    # n_pulses = 1 (so average_last = 1 = n_pulses) is allowed; it used to fail building the
    # average_last range [1, 1]. TwoStage(zs_pulses=1) and TTv2(zs_pulses=1) go through here.
    tile = pt.AnalogTile(2, 3, _skew(1e-2), replicas=2, rng=0)
    res = zero_shift(tile, 1, average_last=1)
    assert res.pulses.tolist() == [6, 6]
    assert (tile.pulse_counts("calibration") == 1).all()
    with pytest.raises(pt.ParameterError, match=r"'average_last'.*range \[1, 1\]"):
        zero_shift(tile, 1, average_last=2)


def test_zero_shift_rejects_bad_arguments() -> None:
    tile = pt.AnalogTile(2, 2, _skew(1e-2), rng=0)
    before = tile.physical_weights.tobytes()
    for kwargs, name in [
        ({"n_pulses": 0}, "n_pulses"),
        ({"n_pulses": 10, "average_last": 11}, "average_last"),
        ({"n_pulses": 10, "average_last": 0}, "average_last"),
        ({"n_pulses": 10, "mode": "random"}, "mode"),
        ({"n_pulses": 2.5}, "n_pulses"),
    ]:
        with pytest.raises(pt.ParameterError, match=f"'{name}'"):
            zero_shift(tile, **kwargs)  # type: ignore[arg-type]
    assert tile.physical_weights.tobytes() == before
    assert tile.tick == 0
