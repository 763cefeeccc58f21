"""The three update modes against their closed forms and statistics (shared/theory.md §1–2, §5).

Statistical checks use independent replicas (1×1 tiles, one stream each): counts inside one
tile share row and column trains and are correlated. Tolerances are 5 standard errors derived
from the exact variance, so a miss is a bug, not bad luck.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from conftest import family_examples

WIDE = pt.Ideal(w_min=-1e3, w_max=1e3)  # bounds far away: nothing clips


def _tile(
    update: pt.ExpectedUpdate | pt.PulseCountUpdate | pt.StochasticPulseUpdate,
    *,
    replicas: int = 1,
    response: object = WIDE,
    rng: int = 0,
    **device: object,
) -> pt.AnalogTile:
    dev = pt.Device(response=response, **{"dw_min": 1e-3, **device})  # type: ignore[arg-type]
    return pt.AnalogTile(1, 1, dev, replicas=replicas, update=update, rng=rng)


def _binomial_moments(n: int, p: float) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of Binomial(n, p)."""
    q = 1 - p
    var = n * p * q
    mu4 = n * p * q * (1 + 3 * (n - 2) * p * q)
    return n * p, var, mu4


def test_c12_bit_length_management_exact() -> None:
    # theory.md C12: lr 0.01, dw_min 1e-3, desired_bl 31, ideal device.
    t = _tile(pt.StochasticPulseUpdate())
    stats = t.update(np.ones((1, 1)), np.ones((1, 1)), lr=0.01)
    assert stats.total == 10  # BL 10, probabilities 1
    assert t.weights.item() == pytest.approx(-0.01, abs=1e-15)
    t = _tile(pt.StochasticPulseUpdate())
    stats = t.update(np.full((1, 1), 0.5), np.ones((1, 1)), lr=0.01)
    assert stats.total == 5  # BL 5, A = 1, B = 2
    assert t.weights.item() == pytest.approx(-0.005, abs=1e-15)


def test_c13_coincidence_count_is_binomial() -> None:
    # theory.md C13: fixed BL 10, no management, lr 0.01, dw_min 1e-3 → A = B = 1,
    # x = 0.3, d = 0.2: count ~ Binomial(10, 0.06).
    r = 200_000
    mode = pt.StochasticPulseUpdate(
        desired_bl=10, update_management=False, update_bl_management=False
    )
    t = _tile(mode, replicas=r, rng=13)
    t.update(np.full((r, 1, 1), 0.3), np.full((r, 1, 1), 0.2), lr=0.01)
    n = t.pulse_counts().ravel().astype(float)
    mean, var, mu4 = _binomial_moments(10, 0.06)
    assert abs(n.mean() - mean) < 5 * math.sqrt(var / r)
    assert abs(n.var() - var) < 5 * math.sqrt((mu4 - var**2) / r)
    # Every pulse is a down pulse of exactly dw_min on the ideal device: E ΔW = −6e−4.
    np.testing.assert_allclose(t.weights.ravel(), -1e-3 * n, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("x", "d"), [(0.7, -0.4), (-0.25, -0.9), (1.0, 0.05)])
def test_stochastic_update_is_unbiased(x: float, d: float) -> None:
    # With management on, BL = ceil(k) and the count is Binomial(BL, p_x p_d) with mean
    # lr|x d|/dw_min (theory.md §2.3(c), "Derived"); the sign is −sign(x d).
    r, lr = 100_000, 0.01
    t = _tile(pt.StochasticPulseUpdate(), replicas=r, rng=7)
    t.update(np.full((r, 1, 1), x), np.full((r, 1, 1), d), lr=lr)
    k = lr * abs(x * d) / 1e-3
    bl = math.ceil(k)
    mean, var, _ = _binomial_moments(bl, k / bl)
    n = t.pulse_counts().ravel().astype(float)
    assert abs(n.mean() - mean) < 5 * math.sqrt(var / r)
    dw = t.weights.ravel()
    np.testing.assert_allclose(dw, -np.sign(x * d) * 1e-3 * n, rtol=0, atol=1e-15)
    assert abs(dw.mean() - (-lr * x * d)) < 5 * 1e-3 * math.sqrt(var / r)


def test_stochastic_minibatch_sums_rank_one_updates() -> None:
    # B samples are B rank-one updates: the mean increment is −lr Σ_b d_b x_b.
    r, lr = 50_000, 0.01
    xb = np.array([0.5, -0.8, 0.3])
    db = np.array([0.4, 0.2, -0.6])
    t = _tile(pt.StochasticPulseUpdate(), replicas=r, rng=11)
    t.update(
        np.broadcast_to(xb[:, None], (r, 3, 1)), np.broadcast_to(db[:, None], (r, 3, 1)), lr=lr
    )
    var = 0.0
    for x, d in zip(xb, db, strict=True):
        k = lr * abs(x * d) / 1e-3
        var += _binomial_moments(math.ceil(k), k / math.ceil(k))[1]
    want = -lr * float(xb @ db)
    assert abs(t.weights.mean() - want) < 5 * 1e-3 * math.sqrt(var / r)


def test_c14_stochastic_rounding_unbiased() -> None:
    r = 100_000
    t = _tile(pt.PulseCountUpdate(rounding=pt.Rounding.STOCHASTIC), replicas=r, rng=3)
    t.apply_delta(np.full((r, 1, 1), 3.3e-3))
    n = t.pulse_counts().ravel()
    assert set(np.unique(n).tolist()) == {3, 4}
    sd = math.sqrt(0.3 * 0.7 / r)  # n − 3 ~ Bernoulli(0.3)
    assert abs(n.mean() - 3.3) < 5 * sd


def test_c14_ceil_rounding_exact() -> None:
    gen = np.random.default_rng(0)
    delta = gen.uniform(-0.05, 0.05, size=(500, 1, 1))
    t = _tile(pt.PulseCountUpdate(max_bl=1000), replicas=500)
    t.apply_delta(delta)
    n = t.pulse_counts().ravel().astype(float)
    excess = n * 1e-3 - np.abs(delta.ravel())
    assert (excess >= -1e-15).all()
    assert (excess < 1e-3).all()
    # On the ideal device each pulse is exactly dw_min.
    np.testing.assert_allclose(t.weights.ravel(), np.sign(delta.ravel()) * n * 1e-3, atol=1e-12)


def test_pulse_count_cap() -> None:
    t = _tile(pt.PulseCountUpdate(max_bl=8), replicas=2)
    stats = t.apply_delta(np.array([20e-3, -20e-3]).reshape(2, 1, 1))
    assert stats.pulses.tolist() == [8, 8]
    np.testing.assert_allclose(t.weights.ravel(), [8e-3, -8e-3], atol=1e-15)


@pytest.mark.parametrize(("dw", "want"), [(0.05, 0.2390355), (0.01, 0.2079641)])
def test_c10_pulse_recurrence_closed_form(dw: float, want: float) -> None:
    # theory.md C10: ALD τ = 1, w0 = 0.2, dw_min 1e−3, no noise:
    # τ − w_n = (τ − w0)(1 − dw_min/τ)^n with n = |Δw|/dw_min.
    t = _tile(pt.PulseCountUpdate(max_bl=1000), response=pt.ALD(tau=1.0))
    t.set_weights(np.full((1, 1), 0.2))
    t.apply_delta(np.full((1, 1), dw))
    n = round(dw / 1e-3)
    assert t.pulse_counts().item() == n
    closed = 1.0 - 0.8 * (1 - 1e-3) ** n
    assert t.weights.item() == pytest.approx(closed, rel=1e-12)
    assert t.weights.item() == pytest.approx(want, abs=5e-8)


def test_c9_ideal_and_ald_steps() -> None:
    t = _tile(pt.PulseCountUpdate(), response=pt.Ideal())
    t.apply_delta(np.full((1, 1), 7e-3))
    assert t.weights.item() == pytest.approx(7e-3, abs=1e-16)
    up = _tile(pt.PulseCountUpdate(), response=pt.ALD(tau=1.0))
    up.set_weights(np.full((1, 1), 0.5))
    up.apply_delta(np.full((1, 1), 1e-3))
    assert up.weights.item() - 0.5 == pytest.approx(0.5e-3, rel=1e-9)
    down = _tile(pt.PulseCountUpdate(), response=pt.ALD(tau=1.0))
    down.set_weights(np.full((1, 1), 0.5))
    down.apply_delta(np.full((1, 1), -1e-3))
    assert 0.5 - down.weights.item() == pytest.approx(1.5e-3, rel=1e-9)


FAMILIES = family_examples()


@pytest.mark.parametrize("response", FAMILIES, ids=lambda f: type(f).__name__)
def test_compact_update_identity(response: object) -> None:
    # theory.md §1.2: AU(W, ΔW) = W + ΔW F(W) − |ΔW| G(W), clipped (here well inside the bounds).
    dev = pt.Device(response=response, dw_min=1e-3)  # type: ignore[arg-type]
    lo, hi = dev.bounds()
    gen = np.random.default_rng(1)
    w0 = gen.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo), size=(1, 40, 30))
    delta = gen.uniform(-0.01, 0.01, size=w0.shape)
    t = pt.AnalogTile(40, 30, dev, update=pt.ExpectedUpdate(), rng=0)
    t.set_weights(w0)
    t.apply_delta(delta)
    want = w0 + delta * dev.F(w0) - np.abs(delta) * dev.G(w0)
    # Branch form vs F/G form differ only by rounding of (q− ± q+)/2: a few ulp of |ΔW|.
    np.testing.assert_allclose(t.weights, want, rtol=0, atol=1e-16 * 16)


def test_expected_noise_variance() -> None:
    # ζ ~ N(0, |ΔW| dw_min) on the ideal device: ΔW + ζ.
    r, delta = 100_000, 4e-3
    t = _tile(pt.ExpectedUpdate(noise=True), replicas=r, rng=21)
    t.apply_delta(np.full((r, 1, 1), delta))
    w = t.weights.ravel()
    var = delta * 1e-3
    assert abs(w.mean() - delta) < 5 * math.sqrt(var / r)
    assert abs(w.var() - var) < 5 * math.sqrt(2 * var**2 / r)


@pytest.mark.parametrize("mode", [pt.C2CMode.ADDITIVE, pt.C2CMode.MULTIPLICATIVE])
def test_cycle_noise_variance(mode: pt.C2CMode) -> None:
    # Ideal device (q ≡ 1), n = 10 up pulses, each dw_min(1 + σξ): mean n dw_min, var n σ² dw_min².
    r, n, sigma = 100_000, 10, 0.3
    t = _tile(pt.PulseCountUpdate(), replicas=r, rng=17, dw_min_std=sigma, c2c_mode=mode)
    t.apply_delta(np.full((r, 1, 1), n * 1e-3))
    w = t.weights.ravel() / 1e-3
    var = n * sigma**2
    assert abs(w.mean() - n) < 5 * math.sqrt(var / r)
    assert abs(w.var() - var) < 5 * math.sqrt(2 * var**2 / r)


def test_bounds_never_exceeded() -> None:
    dev = pt.Device(
        response=pt.SoftBounds(slope_up=1.3, slope_down=0.7),
        dw_min=0.05,
        dw_min_std=1.0,
        w_max_dtod=0.3,
        w_min_dtod=0.3,
        dw_min_dtod=0.3,
    )
    gen = np.random.default_rng(2)
    modes: list[pt.UpdateMode] = [
        pt.ExpectedUpdate(noise=True),
        pt.PulseCountUpdate(),
        pt.StochasticPulseUpdate(),
    ]
    for mode in modes:
        t = pt.AnalogTile(16, 16, dev, replicas=3, update=mode, rng=4)
        m = t.maps()
        for _ in range(30):
            x = gen.normal(size=(3, 4, 16))
            d = gen.normal(size=(3, 4, 16))
            t.update(x, d, lr=2.0)
            p = t.physical_weights
            assert (p >= m["w_min"]).all()
            assert (p <= m["w_max"]).all()


def test_counters_by_phase_and_reset() -> None:
    t = _tile(pt.PulseCountUpdate(), replicas=2)
    t.apply_delta(np.full((2, 1, 1), 3e-3), phase="transfer")
    t.apply_delta(np.full((2, 1, 1), -2e-3), phase=pt.Phase.CALIBRATION)
    t.apply_delta(np.full((2, 1, 1), 1e-3))
    assert t.pulse_counts("transfer").ravel().tolist() == [3, 3]
    assert t.pulse_counts("calibration").ravel().tolist() == [2, 2]
    assert t.pulse_counts("update").ravel().tolist() == [1, 1]
    t.reset_pulse_counts("transfer")
    assert t.pulse_counts("transfer").sum() == 0
    assert t.pulse_counts("update").sum() == 2
    t.reset_pulse_counts()
    assert sum(int(t.pulse_counts(p).sum()) for p in pt.Phase) == 0


def test_device_to_device_maps_statistics() -> None:
    r = 20
    dev = pt.Device(
        response=pt.SoftBounds(),
        dw_min=0.01,
        dw_min_dtod=0.2,
        up_down_dtod=0.05,
        w_max_dtod=0.1,
        w_min_dtod=0.15,
        reference_mean=0.03,
        reference_std=0.02,
    )
    t = pt.AnalogTile(50, 50, dev, replicas=r, rng=9)
    m = t.maps()
    n = m["step_up"].size  # independent elements: one draw each
    gain = (m["step_up"] + m["step_down"]) / 2 / 0.01  # = g
    asym = (m["step_up"] - m["step_down"]) / 2 / 0.01  # = r
    for values, mean, sd in [
        (gain, 1.0, 0.2),
        (asym, 0.0, 0.05),
        (m["w_max"], 1.0, 0.1),
        (m["w_min"], -1.0, 0.15),
        (m["reference"], 0.03, 0.02),
    ]:
        assert abs(values.mean() - mean) < 5 * sd / math.sqrt(n)
        assert abs(values.std() - sd) < 5 * sd / math.sqrt(2 * n)
    # A fresh tile reads 0 (its physical state sits at the reference).
    np.testing.assert_allclose(t.weights, 0.0, atol=1e-15)


def test_log_normal_gain() -> None:
    dev = pt.Device(
        response=pt.SoftBounds(), dw_min=0.01, dw_min_dtod=0.3, dw_min_dtod_log_normal=True
    )
    m = pt.AnalogTile(100, 100, dev, rng=2).maps()
    log_gain = np.log(m["step_up"] / 0.01)
    n = log_gain.size
    assert abs(log_gain.mean()) < 5 * 0.3 / math.sqrt(n)
    assert abs(log_gain.std() - 0.3) < 5 * 0.3 / math.sqrt(2 * n)


def test_subtract_symmetry_point_puts_logical_sp_at_minus_offset() -> None:
    # theory.md §2.4: R = W◇ + μ_r + σ_r ξ, so the logical SP is −(μ_r + σ_r ξ).
    dev = pt.Device(
        response=pt.SkewLinear(tau=1.0, c_lin=0.3),
        dw_min=0.01,
        dw_min_dtod=0.1,
        up_down_dtod=0.05,
        reference_mean=0.1,
        reference_std=0.05,
        subtract_symmetry_point=True,
    )
    t = pt.AnalogTile(20, 20, dev, rng=5)
    m = t.maps()
    offset = m["reference"] - m["symmetric_point"]  # μ_r + σ_r ξ
    np.testing.assert_allclose(t.symmetric_points, -offset, atol=1e-12)
    n = offset.size
    assert abs(offset.mean() - 0.1) < 5 * 0.05 / math.sqrt(n)
    # Each element's SP is a root of dn·q− − up·q+ (theory.md §1.3).
    sp = m["symmetric_point"]
    fam = pt.SkewLinear(tau=1.0, c_lin=0.3)
    lo, hi = m["w_min"], m["w_max"]
    qp = (1 + 0.3) * (1 - sp / hi)
    qm = (1 - 0.3) * (1 - sp / lo)
    np.testing.assert_allclose(m["step_down"] * qm - m["step_up"] * qp, 0.0, atol=1e-14)
    # Without spread the SP is the family's closed form cτ.
    t0 = pt.AnalogTile(2, 2, pt.Device(response=fam, dw_min=0.01), rng=1)
    np.testing.assert_allclose(t0.maps()["symmetric_point"], 0.3, atol=1e-12)
