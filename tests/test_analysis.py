"""The analysis module against shared/theory.md §4 and checks C3, C7, C11, C16, C18, C27-C31.

Exact checks use the tolerances of theory.md §5 (1e-12 unless stated; the quadrature of C3 1e-9).
Printed numbers are given to 6-7 significant digits, so they are compared to half a unit in the
last printed digit. Statistical checks use fixed seeds and a 5-standard-error band computed from
the sample itself over independent copies (CONVENTIONS §10).
"""

from __future__ import annotations

import doctest
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import pulsetrain.analysis
import pulsetrain.analysis.device
import pulsetrain.analysis.filters
import pulsetrain.analysis.penalty
from conftest import response_examples
from pulsetrain import analysis as an
from pulsetrain.devices import (
    ALD,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    Power,
    PowerStep,
    ResponseFamily,
    SkewLinear,
    SoftBounds,
)
from pulsetrain.errors import ParameterError

FloatArray = npt.NDArray[np.float64]

TOL = 1e-12  # theory.md §5: "exact, 1e-12 unless stated"

NON_IDEAL: list[ResponseFamily] = [f for f in response_examples() if not isinstance(f, Ideal)]


class Wrapped:
    """A duck-typed device: forces the generic (numeric) code paths of the analysis."""

    def __init__(self, inner: ResponseFamily) -> None:
        self.inner = inner

    def F(self, w: npt.ArrayLike) -> FloatArray:
        return self.inner.F(w)

    def G(self, w: npt.ArrayLike) -> FloatArray:
        return self.inner.G(w)

    def M(self, w: npt.ArrayLike) -> FloatArray:
        return self.inner.M(w)

    def symmetric_point(self) -> float:
        return self.inner.symmetric_point()

    def bounds(self) -> tuple[float, float]:
        return self.inner.bounds()


def _grid(device: ResponseFamily, n: int = 201) -> FloatArray:
    lo, hi = device.bounds()
    return np.linspace(lo, hi, n)


def _printed(value: float, printed: float, digits: int) -> None:
    """``value`` rounds to ``printed`` at ``digits`` significant digits (half a unit)."""
    unit = 10.0 ** (math.floor(math.log10(abs(printed))) - digits + 1)
    assert abs(value - printed) <= 0.5 * unit + 1e-15, (value, printed)


# --------------------------------------------------------------------------------------------
# Device quantities: C3, C7, R_c properties, slope at the SP.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("tau", "sp"), [(1.0, 0.0), (0.8, 0.1), (3.0, -0.5), (50.0, 2.0)])
def test_c3_ald_f_g_and_penalty(tau: float, sp: float) -> None:
    device = ALD(tau=tau, sp=sp)
    w = np.linspace(sp - tau, sp + tau, 101)
    assert_allclose(an.F(device, w), 1.0, rtol=0, atol=TOL)
    assert_allclose(an.G(device, w), (w - sp) / tau, rtol=0, atol=TOL)
    assert_allclose(an.R(device, w), (w - sp) / tau, rtol=0, atol=TOL)
    # C3: quadrature against (w - w◇)²/(2τ), 1e-9 (theory.md §5).
    assert_allclose(an.R_c(device, w), (w - sp) ** 2 / (2 * tau), rtol=0, atol=1e-9)
    assert_allclose(an.saturation(device, w), 1 - ((w - sp) / tau) ** 2, rtol=0, atol=TOL)


def test_r_c_matches_closed_forms_of_linear_families() -> None:
    # Skew linear, u = w/τ: R = (u - c)/(1 - cu), so
    # R_c = τ[-(u - c)/c - ((1 - c²)/c²)(ln(1 - cu) - ln(1 - c²))] (derived).
    tau, c = 2.0, 0.3
    w = np.linspace(-tau, tau, 57)
    u = w / tau
    exact = tau * (-(u - c) / c - ((1 - c * c) / c**2) * (np.log(1 - c * u) - np.log(1 - c * c)))
    assert_allclose(an.R_c(SkewLinear(tau=tau, c_lin=c), w), exact, rtol=0, atol=1e-12)
    # Linear step: F = 1 - k_f (w - w◇), G = k_g (w - w◇), so with x = w - w◇
    # R_c = (k_g/k_f)(-x - ln(1 - k_f x)/k_f) (derived).
    dev = LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.1)
    x = _grid(dev) - 0.1
    k_f = 0.5 * (1 / 1.0 + 1 / -0.5)
    k_g = 0.5 * (1 / 1.0 - 1 / -0.5)
    exact = (k_g / k_f) * (-x - np.log1p(-k_f * x) / k_f)
    assert_allclose(an.R_c(dev, x + 0.1), exact, rtol=0, atol=1e-12)


@pytest.mark.parametrize("device", NON_IDEAL, ids=repr)
def test_r_c_is_nonnegative_and_minimal_at_the_sp(device: ResponseFamily) -> None:
    w = _grid(device)
    sp = device.symmetric_point()
    rc = an.R_c(device, w)
    assert float(an.R_c(device, sp)) == 0.0
    assert np.all(rc >= 0.0)
    # Strictly increasing away from the SP on both sides (R has the sign of w - w◇).
    right, left = rc[w > sp], rc[w < sp][::-1]
    assert np.all(np.diff(right) > 0)
    assert np.all(np.diff(left) > 0)
    assert rc.shape == w.shape
    assert an.R_c(device, w.reshape(3, 67)).shape == (3, 67)


@pytest.mark.parametrize("device", NON_IDEAL, ids=repr)
def test_derivative_of_r_c_is_r(device: ResponseFamily) -> None:
    lo, hi = device.bounds()
    h = 1e-5 * (hi - lo)
    margin = 0.01 * (hi - lo)
    w = np.linspace(lo + margin, hi - margin, 41)
    fd = (an.R_c(device, w + h) - an.R_c(device, w - h)) / (2 * h)
    # Central difference: truncation h²|R'''|/6 and rounding ~1e-13/h, both < 1e-6 here. The
    # margin keeps the stencils away from the square-root singularity of gamma_r 0.5 at the
    # bounds (R''' ~ d^(-5/2)), where R_c itself is checked against scipy instead.
    assert_allclose(fd, an.R(device, w), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", NON_IDEAL, ids=repr)
def test_r_c_agrees_with_scipy_quad(device: ResponseFamily) -> None:
    integrate = pytest.importorskip(
        "scipy.integrate", reason="needs the 'fit' extra (scipy) for the cross-check"
    )
    sp = device.symmetric_point()
    for x in _grid(device, 9):
        ref, _ = integrate.quad(
            lambda t: float(an.R(device, t)), sp, float(x), epsabs=1e-14, epsrel=1e-13, limit=500
        )
        assert abs(float(an.R_c(device, x)) - ref) <= 1e-10


def test_ideal_device_has_no_penalty() -> None:
    ideal = Ideal(w_min=-0.3, w_max=2.0)
    w = np.linspace(-0.3, 2.0, 11)
    assert_array_equal(an.R_c(ideal, w), np.zeros_like(w))
    assert_array_equal(an.R(ideal, w), np.zeros_like(w))
    assert an.slope_at_sp(ideal) == 0.0
    assert an.exact_scalar_fixed_point(ideal, 0.5, 1.0, 0.5) == 0.5  # Digital SGD sits at w*


def test_c7_g_prime_at_zero() -> None:
    # G'(0) = 30 (power, gamma_r 3, tau 0.1) and 40.74629 (exponential, gamma_r 4, tau 0.1):
    # finite difference to 1e-6 relative (theory.md §5, C7). F(0) = 1, so R'(0) = G'(0).
    h = 1e-6
    cases: list[tuple[ResponseFamily, float]] = [
        (Power(tau=0.1, gamma_res=3.0), 30.0),
        (Exponential(tau=0.1, gamma_res=4.0), 40.74629),
    ]
    for device, printed in cases:
        fd = float(an.G(device, h) - an.G(device, -h)) / (2 * h)
        assert abs(fd / printed - 1) < 1e-6
        assert float(an.F(device, 0.0)) == pytest.approx(1.0, abs=TOL)
        _printed(an.slope_at_sp(device), printed, 7)
        _printed(an.slope_at_sp(Wrapped(device)), printed, 7)  # numeric path
    assert an.slope_at_sp(Power(tau=0.1, gamma_res=3.0)) == pytest.approx(30.0, rel=TOL)


SLOPES: list[tuple[ResponseFamily, float]] = [
    (ALD(tau=0.8, sp=0.1), 1 / 0.8),
    (SkewLinear(tau=1.0, c_lin=0.2), 1 / (1 - 0.04)),
    (SkewLinear(tau=3.5, c_lin=-0.3), 1 / (3.5 * (1 - 0.09))),
    (LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.1), 1.5),
    (SoftBounds(), 1.0),
    (Power(tau=0.7, gamma_res=0.5), 0.5 / 0.7),
    (Exponential(tau=0.8, gamma_res=0.5), 0.5 * math.exp(0.5) / (0.8 * math.expm1(0.5))),
    # Power step 1/2 on [-1, 1]: G'(w◇) = √5/4, F(w◇) = (3 - √5)/2 -> (3√5 + 5)/8 (derived).
    (PowerStep(gamma_up=1.0, gamma_down=2.0), (3 * math.sqrt(5) + 5) / 8),
    # Exponential step 2/1 on [-1, 1]: (3/4)e^{-2/3}/(1 - e^{-2/3}) (derived).
    (ExpStep(gamma_up=2.0, gamma_down=1.0), 0.75 / math.expm1(2 / 3)),
]


@pytest.mark.parametrize(("device", "expected"), SLOPES, ids=repr)
def test_slope_at_sp_closed_and_numeric(device: ResponseFamily, expected: float) -> None:
    assert an.slope_at_sp(device) == pytest.approx(expected, rel=1e-12)
    # Richardson-extrapolated central difference: O(h⁶) truncation, ~1e-12 rounding.
    assert an.slope_at_sp(Wrapped(device)) == pytest.approx(expected, rel=1e-9)
    assert an.slope_at_sp(Device(response=device)) == an.slope_at_sp(device)


def test_device_and_family_agree() -> None:
    family = SkewLinear(tau=1.0, c_lin=0.3)
    device = Device(response=family, dw_min=1e-3)
    w = np.linspace(-1, 1, 21)
    for fun in (an.F, an.G, an.R, an.R_c, an.saturation):
        assert_array_equal(fun(device, w), fun(family, w))
    # C4 values through the analysis wrappers.
    assert float(an.F(family, 0.7)) == pytest.approx(0.79, abs=TOL)
    assert float(an.G(family, 0.7)) == pytest.approx(0.4, abs=TOL)


def test_n_states_and_saturation_degree() -> None:
    assert an.n_states(Device(response=ALD(tau=1.0), dw_min=1e-3)) == pytest.approx(2000.0)
    assert an.n_states(ALD(tau=1.0), dw_min=0.5) == 4.0
    assert an.n_states(Device(response=ALD(tau=1.0)), dw_min=0.25) == 8.0
    assert an.saturation_degree(np.array([[0.1, -0.6], [0.3, 0.2]]), 0.8) == pytest.approx(0.75)


def test_c11_ald_compact_updates_stay_inside() -> None:
    # P2 Thm 1: |W_0| <= τ and every |ΔW| <= τ keep |W| <= τ; 1e6 random compact steps
    # (1000 copies x 1000 steps), each W + ΔW F - |ΔW| G.
    tau = 1.0
    device = ALD(tau=tau)
    rng = np.random.default_rng(11)
    w = rng.uniform(-tau, tau, size=1000)
    worst = 0.0
    for _ in range(1000):
        dw = rng.uniform(-tau, tau, size=w.shape)
        w = w + dw * an.F(device, w) - np.abs(dw) * an.G(device, w)
        worst = max(worst, an.saturation_degree(w, tau))
    assert worst <= 1.0 + 1e-12


# --------------------------------------------------------------------------------------------
# Penalty, predictor and fixed points: §4.1, §4.2, C16, C18, C30.
# --------------------------------------------------------------------------------------------

SIGMA_EXAMPLE = 0.5 * math.sqrt(2 / math.pi)  # Σ = E|N(0, 0.5²)| = 0.398942 (§4.2)


def test_example_of_section_4_2() -> None:
    ald = ALD(tau=1.0)
    sigma_abs = float(an.expected_abs_gaussian(0.0, 0.5))
    _printed(sigma_abs, 0.398942, 6)
    assert sigma_abs == pytest.approx(SIGMA_EXAMPLE, rel=1e-15)
    root = an.exact_scalar_fixed_point(ald, 0.5, 1.0, 0.5)
    _printed(root, 0.353098, 6)
    # The root solves E[g]F + E|g|G = 0 to rounding.
    m = root - 0.5
    residual = m + float(an.expected_abs_gaussian(m, 0.5)) * root
    assert abs(residual) < 1e-15
    pred = an.predicted_fixed_point_scalar(1.0, 0.5, sigma_abs, an.slope_at_sp(ald), 0.0)
    _printed(pred, 0.357413, 6)
    assert pred == pytest.approx(0.5 / (1 + sigma_abs), rel=1e-15)  # L w*/(L + Σ/τ)
    assert an.exact_scalar_fixed_point(Ideal(), 0.5, 1.0, 0.5) == 0.5  # Digital SGD


def test_c30_predictor_skew_linear() -> None:
    # C30 is the *predictor* for skew c = 0.2, τ = 1: w◇ = 0.2, R'(w◇) = 1/(1 - c²).
    skew = SkewLinear(tau=1.0, c_lin=0.2)
    slope = an.slope_at_sp(skew)
    assert slope == pytest.approx(1 / 0.96, rel=1e-15)
    pred = an.predicted_fixed_point_scalar(1.0, 0.5, SIGMA_EXAMPLE, slope, skew.symmetric_point())
    _printed(pred, 0.411930, 6)
    # The exact mean fixed point (not printed in theory.md) is 0.408085: the predictor is off
    # by O(‖w◇ - w*‖²), here 4e-3.
    exact = an.exact_scalar_fixed_point(skew, 0.5, 1.0, 0.5)
    _printed(exact, 0.408085, 6)


def test_exact_fixed_point_agrees_with_brentq() -> None:
    optimize = pytest.importorskip(
        "scipy.optimize", reason="needs the 'fit' extra (scipy) for the cross-check"
    )
    for device in NON_IDEAL:
        lo, hi = device.bounds()
        w_star = lo + 0.7 * (hi - lo)
        sp = device.symmetric_point()

        def drift(w: float, dev: Any = device, ws: float = w_star) -> float:
            m = w - ws
            e_abs = float(an.expected_abs_gaussian(m, 0.3))
            return m * float(an.F(dev, w)) + e_abs * float(an.G(dev, w))

        ref = optimize.brentq(drift, min(sp, w_star), max(sp, w_star), xtol=1e-15, rtol=1e-15)
        assert an.exact_scalar_fixed_point(device, w_star, 1.0, 0.3) == pytest.approx(
            ref, abs=1e-13
        )


def test_general_predictor_matches_scalar_form() -> None:
    w_star = np.array([0.5, -0.3, 0.1])
    sigma = np.array([0.4, 0.2, 0.0])
    slope = np.array([1.0, 1 / 0.96, 2.0])
    sp = np.array([0.0, 0.2, -0.1])
    curv = np.array([1.0, 2.0, 0.5])
    got = an.predicted_fixed_point(np.diag(curv), w_star, sigma, slope, sp)
    want = [
        an.predicted_fixed_point_scalar(*args)
        for args in zip(curv, w_star, sigma, slope, sp, strict=True)
    ]
    assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    # A full Jacobian equal to Diag(slope) gives the same answer.
    assert_allclose(an.predicted_fixed_point(np.diag(curv), w_star, sigma, np.diag(slope), sp), got)


def test_predictor_is_second_order() -> None:
    # P1 Eq. 43: ∇f_Σ at W~* is O(‖W◇ - W*‖²), at W* it is Θ(‖W◇ - W*‖) (§4.2). f = ½(w - w*)².
    skew = SkewLinear(tau=1.0, c_lin=0.2)
    sp, slope = skew.symmetric_point(), an.slope_at_sp(skew)
    sig = 0.4
    grads_pred, grads_star = [], []
    for delta in (0.08, 0.04, 0.02):
        w_star = sp + delta
        pred = an.predicted_fixed_point_scalar(1.0, w_star, sig, slope, sp)
        grads_pred.append(abs(pred - w_star + sig * float(an.R(skew, pred))))
        grads_star.append(abs(sig * float(an.R(skew, w_star))))
    ratio_pred = np.array(grads_pred[:-1]) / np.array(grads_pred[1:])
    ratio_star = np.array(grads_star[:-1]) / np.array(grads_star[1:])
    assert np.all(np.abs(ratio_pred - 4) < 0.3)  # halving δ quarters it
    assert np.all(np.abs(ratio_star - 2) < 0.1)  # halving δ halves it


def test_implicit_objective_and_its_minimiser() -> None:
    tau, w_star, sig = 1.0, 0.5, SIGMA_EXAMPLE
    ald = ALD(tau=tau)

    def f(w: FloatArray) -> float:
        return 0.5 * float(np.sum((w - w_star) ** 2))

    w = np.array([0.3, -0.2])
    sigma = np.array([0.4, 0.1])
    expected = f(w) + float(np.sum(sigma * w**2)) / (2 * tau)  # f + ‖W‖²_Σ/(2τ), §4.1
    assert an.implicit_objective(f, ald, w, sigma) == pytest.approx(expected, abs=TOL)
    # For ALD the minimiser of f_Σ is the predictor L w*/(L + Σ/τ).
    grid = np.linspace(0.35, 0.365, 1501)
    values = [an.implicit_objective(f, ald, [x], sig) for x in grid]
    best = grid[int(np.argmin(values))]
    assert abs(best - w_star / (1 + sig / tau)) <= 1e-5  # grid step 1e-5


def test_c16_two_point_noise_drift() -> None:
    # ALD SP 0, critical point, P = 0, noise ±σ: averaging both outcomes of one Analog SGD step
    # gives E ΔW = -(lr σ/τ) W; one TT step gives -(lr·lr_transfer·σ/τ) W (P2 Eq. 11-12).
    tau, lr, lr_transfer, sigma = 0.8, 0.1, 0.05, 0.3
    ald = ALD(tau=tau)
    w = np.linspace(-0.7, 0.7, 15)

    def step(w0: FloatArray, dw: float) -> FloatArray:
        return w0 + dw * an.F(ald, w0) - abs(dw) * an.G(ald, w0)

    mean_step = 0.5 * (step(w, -lr * sigma) + step(w, lr * sigma)) - w
    assert_allclose(mean_step, -(lr * sigma / tau) * w, rtol=0, atol=TOL)
    t = an.effective_update(ald, w, 0.0, sigma)
    assert_allclose(-lr * an.F(ald, w) * t, mean_step, rtol=0, atol=TOL)
    # TT: the gradient step on P = 0 gives P = ∓lr σ exactly (F(0) = 1, G(0) = 0); transferring
    # lr_transfer·P onto W is one compact update of W, so the mean is -(lr·lr_transfer·σ/τ) W.
    tt = 0.5 * (step(w, -lr_transfer * lr * sigma) + step(w, lr_transfer * lr * sigma)) - w
    assert_allclose(tt, -(lr * lr_transfer * sigma / tau) * w, rtol=0, atol=TOL)


def test_expected_abs_gaussian() -> None:
    m = np.array([-2.0, -0.3, 0.0, 0.1, 1.5])
    sd = 0.7
    phi = np.array([0.5 * math.erfc(x / (sd * math.sqrt(2))) for x in m])  # Φ(-m/σ)
    closed = sd * math.sqrt(2 / math.pi) * np.exp(-(m**2) / (2 * sd**2)) + m * (1 - 2 * phi)
    assert_allclose(an.expected_abs_gaussian(m, sd), closed, rtol=1e-14, atol=1e-15)
    assert_array_equal(an.expected_abs_gaussian(m, 0.0), np.abs(m))
    assert an.expected_abs_gaussian(m[:, None], np.array([0.1, 1.0])).shape == (5, 2)
    # Monte Carlo: N = 1e6 independent draws; SE from the sample std of |g|.
    rng = np.random.default_rng(5)
    g = 0.3 + 0.5 * rng.standard_normal(1_000_000)
    se = np.abs(g).std() / math.sqrt(g.size)
    assert abs(np.abs(g).mean() - float(an.expected_abs_gaussian(0.3, 0.5))) < 5 * se


# --------------------------------------------------------------------------------------------
# Amplification factors and bounds: §4.3, §4.4, C31's 1/3.
# --------------------------------------------------------------------------------------------


def test_s_k_bound_one_third() -> None:
    assert an.S_K_ald_bound(0.5) == pytest.approx(1 / 3, rel=1e-15)
    assert an.S_K_ald_bound(0.0) == 0.0


def test_s_k_ald_and_r_t() -> None:
    tau = 0.8
    rng = np.random.default_rng(3)
    traj = rng.uniform(-0.4, 0.4, size=(50, 4, 3))  # ‖W_k‖∞/τ <= 0.5
    x = np.abs(traj).reshape(50, -1).max(axis=1) / tau
    assert an.S_K_ald(traj, tau) == pytest.approx(float(np.mean(x**2 / (1 - x**2))), rel=1e-14)
    assert an.S_K_ald(traj, tau) <= an.S_K_ald_bound(0.5)
    assert an.R_T(traj, tau, 2.0) == pytest.approx(float(np.mean(4.0 / (1 - x**2))), rel=1e-14)
    # P1's form on ALD with SP 0: G/√F = W/τ, so S_K^ASGD = mean ‖W_k‖∞²/τ².
    assert an.S_K_asgd(traj, ALD(tau=tau)) == pytest.approx(float(np.mean(x**2)), rel=1e-14)
    assert an.S_K_ald(np.zeros((3, 2)), 1.0) == 0.0


def test_error_bounds_values_and_limits() -> None:
    common: dict[str, float] = {"sigma": 0.5, "L": 2.0, "f_gap": 3.0}
    rate = math.sqrt(3.0 * 0.25 * 2.0 / 100)
    p1 = an.asgd_error_bound_p1(n_steps=100, F_max=1.5, S_K=0.2, **common)
    assert p1 == pytest.approx(16 * 1.5**2 * rate + 8 * 1.5 * 0.25 * 0.2, rel=1e-14)
    assert an.asgd_error_bound_p1(n_steps=math.inf, F_max=1.5, S_K=0.2, **common) == (
        pytest.approx(8 * 1.5 * 0.25 * 0.2, rel=1e-14)
    )
    p2 = an.asgd_error_bound_p2(n_steps=100, w_max_over_tau=0.5, S_K=1 / 3, **common)
    assert p2 == pytest.approx(4 * rate / 0.75 + 4 * 0.25 / 3, rel=1e-14)
    assert an.asgd_error_bound_p2(
        n_steps=math.inf, w_max_over_tau=0.5, S_K=1 / 3, **common
    ) == pytest.approx(4 * 0.25 / 3, rel=1e-14)  # 4σ²S_∞
    assert an.analog_gd_bound_p1(n_steps=10, L=2.0, f_gap=3.0, F_max=1.5) == pytest.approx(
        8 * 2 * 3 * 1.5**2 / 10
    )
    assert an.analog_gd_bound_p2(n_steps=10, L=2.0, f_gap=3.0, w_max_over_tau=0.5) == (
        pytest.approx(2 * 3 * 2 / (10 * 0.75))
    )
    assert an.analog_gd_bound_p1(n_steps=math.inf, L=2.0, f_gap=3.0, F_max=1.5) == 0.0
    # TT: P_max² = 41 L² τ⁴ D/(c² σ²); bound only if 33 P_max²/τ² < 1.
    p_max = an.tt_p_max_p2(sigma=1.0, L=1.0, tau=0.01, D=2, c=0.8)
    assert p_max**2 == pytest.approx(41 * 0.01**4 * 2 / 0.64, rel=1e-14)
    tt = an.tt_bound_p2(n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, tau=0.01, D=2, c=0.8)
    assert tt == pytest.approx(0.1 / (1 - 33 * p_max**2 / 0.01**2), rel=1e-14)
    assert an.tt_bound_p2(n_steps=100, sigma=1.0, L=1.0, f_gap=1.0, tau=1.0, D=2, c=0.8) == (
        math.inf
    )
    assert an.rl_bound_p1(n_steps=100, sigma=0.5, S_K_rl=0.1, F_max=2.0) == pytest.approx(
        48 * (0.05 + 0.025)
    )
    assert an.rl_bound_p1(n_steps=math.inf, sigma=0.5, S_K_rl=0.0) == 0.0  # P1 Cor. 1
    assert an.rider_bound_p3(n_steps=100, kappa_1=2.0, kappa_2=1.5, dw_min=1e-3) == (
        pytest.approx(2 * 1.5**5 / 10 + 1e-3)
    )
    assert an.rider_bound_p3(n_steps=math.inf, kappa_1=2.0, kappa_2=1.5, dw_min=1e-3) == 1e-3
    st = {"sigma": 0.5, "f_gap": 3.0, "S_T": 0.2, "R_T": 2.5, "dw_min": 1e-3}
    assert an.single_tile_bound_p4(n_steps=50, **st) == pytest.approx(
        2.5 * math.sqrt(2 * 3 * 0.25 / 50) + 4 * 0.25 * 0.2 + 2.5e-3
    )
    assert an.single_tile_bound_p4(n_steps=math.inf, **st) == pytest.approx(0.2 + 2.5e-3)


@pytest.mark.parametrize(
    "bound",
    [
        lambda k: an.asgd_error_bound_p1(
            n_steps=k, sigma=1.0, L=1.0, f_gap=1.0, F_max=1.0, S_K=0.1
        ),
        lambda k: an.asgd_error_bound_p2(
            n_steps=k, sigma=1.0, L=1.0, f_gap=1.0, w_max_over_tau=0.3, S_K=0.1
        ),
        lambda k: an.analog_gd_bound_p1(n_steps=k, L=1.0, f_gap=1.0, F_max=1.0),
        lambda k: an.analog_gd_bound_p2(n_steps=k, L=1.0, f_gap=1.0, w_max_over_tau=0.3),
        lambda k: an.tt_bound_p2(n_steps=k, sigma=1.0, L=1.0, f_gap=1.0, tau=0.01, D=1, c=1.0),
        lambda k: an.rl_bound_p1(n_steps=k, sigma=1.0, S_K_rl=0.1),
        lambda k: an.rider_bound_p3(n_steps=k, kappa_1=1.0, kappa_2=1.0, dw_min=1e-3),
        lambda k: an.single_tile_bound_p4(
            n_steps=k, sigma=1.0, f_gap=1.0, S_T=0.1, R_T=2.0, dw_min=1e-3
        ),
    ],
)
def test_bounds_decrease_to_their_limit(bound: Callable[[float], float]) -> None:
    values = [bound(k) for k in (1, 10, 100, 10_000, 10**8)]
    limit = bound(math.inf)
    assert all(a > b for a, b in itertools.pairwise(values))
    assert values[-1] - limit < 1e-3 * values[0]
    assert limit <= values[-1]


# --------------------------------------------------------------------------------------------
# Lower-bound instance: §4.5, C29.
# --------------------------------------------------------------------------------------------


def test_c29_closed_form() -> None:
    # τ = 1 (C29 does not print it; it is the value that reproduces both numbers).
    tau, sigma, dim = 1.0, 0.3, 4
    s = sigma / math.sqrt(dim)
    assert s * s == pytest.approx(0.0225, rel=1e-15)
    for w, g, printed in [(0.2, 0.01, 0.1449694), (-0.3, -0.02, 0.1370909)]:
        p = 0.5 * (1 - w / tau)
        assert -s * math.sqrt((1 - p) / p) <= g <= s * math.sqrt(p / (1 - p))  # §4.5 condition
        closed = 2 * s * math.sqrt(p * (1 - p)) + (2 * p - 1) * g
        exact = float(an.lower_bound_expected_abs(g, w, tau, sigma, dim))
        assert exact == pytest.approx(closed, abs=1e-15)
        _printed(exact, printed, 7)
    # Outside the condition the closed form no longer holds, the exact value does: |g| large.
    assert float(an.lower_bound_expected_abs(1.0, 0.2, tau, sigma, dim)) == pytest.approx(1.0)


def test_c29_sampler_statistics() -> None:
    tau, sigma, dim, n = 1.0, 0.3, 4, 1_000_000
    for w, g in [(0.2, 0.01), (-0.3, -0.02)]:
        xi = an.lower_bound_noise(w, tau, sigma, dim, size=n, rng=29)
        s2 = 0.0225
        # Mean: SE = s/√n. Variance: SE² = (E ξ⁴ - s⁴)/n, with E ξ⁴ from the sample.
        assert abs(xi.mean()) < 5 * math.sqrt(s2 / n)
        se_var = math.sqrt((np.mean(xi**4) - s2**2) / n)
        assert abs(xi.var() - s2) < 5 * se_var
        absval = np.abs(g + xi)
        se_abs = absval.std() / math.sqrt(n)
        target = float(an.lower_bound_expected_abs(g, w, tau, sigma, dim))
        assert abs(absval.mean() - target) < 5 * se_abs
    # Same seed, same draws; the result has the requested shape.
    a = an.lower_bound_noise(np.array([0.1, -0.2]), tau, sigma, dim, size=(3, 2), rng=1)
    assert a.shape == (3, 2)
    assert_array_equal(a, an.lower_bound_noise([0.1, -0.2], tau, sigma, dim, size=(3, 2), rng=1))


# --------------------------------------------------------------------------------------------
# EMA filter: §4.7, C27, C28.
# --------------------------------------------------------------------------------------------

C27 = [
    # eta, |H|²(π/2) (None: not printed), |H|²(π), ω_c
    (0.01, None, 2.525189e-5, 0.0100504),
    (0.1, 0.00552486, 0.00277008, 0.105458),
    (0.5, 0.2, 0.111111, 0.722734),
]


@pytest.mark.parametrize(("eta", "half_pi", "pi", "cutoff"), C27)
def test_c27_response_and_cutoff(
    eta: float, half_pi: float | None, pi: float, cutoff: float
) -> None:
    if half_pi is not None:
        _printed(float(an.ema_response(eta, math.pi / 2)), half_pi, 6)
    _printed(float(an.ema_response(eta, math.pi)), pi, 7 if eta == 0.01 else 6)
    assert float(an.ema_response(eta, math.pi)) == pytest.approx(eta**2 / (2 - eta) ** 2, rel=1e-14)
    assert float(an.ema_response(eta, 0.0)) == pytest.approx(1.0, rel=1e-14)
    wc = an.ema_cutoff(eta)
    _printed(wc, cutoff, 6)
    assert float(an.ema_response(eta, wc)) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5])
def test_c27_simulated_steady_state_amplitude(eta: float) -> None:
    # Drive the EMA with cos(ωk); after the transient (1 - η)^k < 1e-20 the output is an exact
    # sinusoid, so a least-squares fit of cos/sin over the tail gives the amplitude² to rounding.
    omegas = np.array([math.pi / 2, math.pi, an.ema_cutoff(eta), 0.3 * eta])
    burn = math.ceil(50 / eta)
    k = np.arange(burn + 400)
    q = an.simulate_ema(eta, np.cos(np.outer(k, omegas)))
    tail_k = k[burn:]
    for j, omega in enumerate(omegas):
        basis = np.column_stack([np.cos(omega * tail_k), np.sin(omega * tail_k)])
        coef, *_ = np.linalg.lstsq(basis, q[burn:, j], rcond=None)
        amp2 = float(coef @ coef)
        assert amp2 == pytest.approx(float(an.ema_response(eta, omega)), rel=1e-6)


def test_c28_formula() -> None:
    _printed(an.chopped_ema_second_moment(0.01, 0.05), 0.087179, 5)
    _printed(an.chopped_ema_second_moment(0.1, 0.05), 0.501385, 6)
    for eta in (0.01, 0.1, 0.7, 1.0):
        assert an.chopped_ema_second_moment(eta, 0.0) == pytest.approx(1.0, rel=1e-14)


def _simulate_chopped(eta: float, p: float, copies: int, steps: int, seed: int) -> FloatArray:
    """Q_K of ``copies`` independent EMAs driven by a chopped constant (a = 1), in chunks."""
    rng = np.random.default_rng(seed)
    chop = np.where(rng.random(copies) < 0.5, -1.0, 1.0)  # stationary start: ±1 equally likely
    q = np.zeros(copies)
    chunk = 50
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        flips = np.where(rng.random((n, copies)) < p, -1.0, 1.0)
        signs = chop * np.cumprod(flips, axis=0)
        q = an.simulate_ema(eta, signs, initial=q)[-1]
        chop = signs[-1]
    return q


@pytest.mark.parametrize(
    ("eta", "p", "printed", "printed_se", "steps"),
    [(0.01, 0.05, 0.08707, 0.00024, 1500), (0.1, 0.05, 0.50126, 0.0008, 200)],
)
def test_c28_simulated(eta: float, p: float, printed: float, printed_se: float, steps: int) -> None:
    # One value per independent copy (2e5, as in theory.md). Q starts at 0, so E[Q_K²] misses
    # the tail of the stationary sum: a bias O((1 - η)^K) <= 3e-7, three orders below the SE.
    copies = 200_000
    q2 = _simulate_chopped(eta, p, copies, steps, seed=28) ** 2
    se = q2.std() / math.sqrt(copies)
    exact = an.chopped_ema_second_moment(eta, p)
    assert abs(q2.mean() - exact) < 5 * se
    # theory.md's own simulated value agrees with ours within both standard errors.
    assert abs(q2.mean() - printed) < 5 * math.hypot(se, printed_se)


def test_simulate_ema_chunks_and_limits() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 4))
    full = an.simulate_ema(0.2, x, initial=np.array([1.0, 0.0, -1.0, 2.0]))
    first = an.simulate_ema(0.2, x[:13], initial=np.array([1.0, 0.0, -1.0, 2.0]))
    rest = an.simulate_ema(0.2, x[13:], initial=first[-1])
    assert_array_equal(np.concatenate([first, rest]), full)
    assert_array_equal(an.simulate_ema(1.0, x), x)  # η = 1 passes the input through
    assert an.simulate_ema(0.5, np.zeros((0, 3))).shape == (0, 3)


# --------------------------------------------------------------------------------------------
# Errors, exports and examples.
# --------------------------------------------------------------------------------------------

ALD1 = ALD(tau=1.0)

BAD_CALLS: list[tuple[str, str, Callable[[], object]]] = [
    ("device", "F", lambda: an.F("ald", 0.1)),  # type: ignore[arg-type]
    ("w", "G", lambda: an.G(ALD1, [0.1, math.nan])),
    ("w", "R", lambda: an.R(ALD1, 1.5)),
    ("w", "R_c", lambda: an.R_c(ALD1, [0.0, -1.2])),
    ("device", "R_c", lambda: an.R_c(Wrapped(Ideal()), 0.1)),  # NaN SP, not an Ideal
    ("dw_min", "n_states", lambda: an.n_states(ALD1)),
    ("dw_min", "n_states", lambda: an.n_states(ALD1, dw_min=0.0)),
    ("tau", "saturation_degree", lambda: an.saturation_degree([0.1], -1.0)),
    ("W", "saturation_degree", lambda: an.saturation_degree([], 1.0)),
    ("Sigma", "implicit_objective", lambda: an.implicit_objective(np.sum, ALD1, [0.1], [-1.0])),
    ("f", "implicit_objective", lambda: an.implicit_objective(1.0, ALD1, [0.1], [1.0])),  # type: ignore[arg-type]
    ("sigma", "expected_abs_gaussian", lambda: an.expected_abs_gaussian(0.0, -0.1)),
    ("hessian", "predicted_fixed_point", lambda: an.predicted_fixed_point([1.0], 0.5, 0.4, 1, 0)),
    (
        "hessian",
        "predicted_fixed_point",
        lambda: an.predicted_fixed_point(np.zeros((2, 2)), [0.5, 0.5], 0.0, 1.0, 0.0),
    ),
    ("w_sp", "predicted_fixed_point", lambda: an.predicted_fixed_point(np.eye(2), 0, 0, 1, [0])),
    ("f2", "predicted_fixed_point_scalar", lambda: an.predicted_fixed_point_scalar(0, 0, 0, 1, 0)),
    ("L", "exact_scalar_fixed_point", lambda: an.exact_scalar_fixed_point(ALD1, 0.5, 0.0, 0.5)),
    ("w_star", "exact_scalar_fixed_point", lambda: an.exact_scalar_fixed_point(ALD1, 2, 1, 0.5)),
    ("W_traj", "S_K_ald", lambda: an.S_K_ald([[0.5], [1.0]], 1.0)),
    ("W_traj", "S_K_asgd", lambda: an.S_K_asgd(0.1, ALD1)),
    ("tau_max", "R_T", lambda: an.R_T([[0.1]], 0.0, 1.0)),
    ("w_max_over_tau", "S_K_ald_bound", lambda: an.S_K_ald_bound(1.0)),
    (
        "n_steps",
        "asgd_error_bound_p1",
        lambda: an.asgd_error_bound_p1(n_steps=0, sigma=1, L=1, f_gap=1, F_max=1, S_K=0),
    ),
    (
        "n_steps",
        "analog_gd_bound_p1",
        lambda: an.analog_gd_bound_p1(n_steps=True, L=1, f_gap=1, F_max=1),
    ),
    ("D", "tt_p_max_p2", lambda: an.tt_p_max_p2(sigma=1, L=1, tau=1, D=0, c=1)),
    ("sigma", "tt_p_max_p2", lambda: an.tt_p_max_p2(sigma=0.0, L=1, tau=1, D=1, c=1)),
    (
        "kappa_2",
        "rider_bound_p3",
        lambda: an.rider_bound_p3(n_steps=1, kappa_1=1, kappa_2=0.5, dw_min=0),
    ),
    ("w", "lower_bound_noise", lambda: an.lower_bound_noise(1.0, 1.0, 0.3, 4)),
    ("size", "lower_bound_noise", lambda: an.lower_bound_noise(0.1, 1.0, 0.3, 4, size=-1)),
    ("rng", "as_seed_sequence", lambda: an.lower_bound_noise(0.1, 1.0, 0.3, 4, rng=-1)),
    ("D", "lower_bound_expected_abs", lambda: an.lower_bound_expected_abs(0, 0, 1, 0.3, 1.5)),  # type: ignore[arg-type]
    ("eta", "ema_response", lambda: an.ema_response(0.0, 1.0)),
    ("eta", "ema_cutoff", lambda: an.ema_cutoff(0.9)),
    ("p", "chopped_ema_second_moment", lambda: an.chopped_ema_second_moment(0.1, 1.5)),
    ("signal", "simulate_ema", lambda: an.simulate_ema(0.1, 1.0)),
    ("initial", "simulate_ema", lambda: an.simulate_ema(0.1, np.ones((3, 2)), initial=[1, 2, 3])),
]


@pytest.mark.parametrize(("name", "owner", "call"), BAD_CALLS, ids=lambda v: str(v)[:40])
def test_bad_arguments_raise_parameter_error(
    name: str, owner: str, call: Callable[[], object]
) -> None:
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of {owner} must be "):
        call()


def test_exports() -> None:
    public = sorted(pulsetrain.analysis.__all__)
    assert len(public) == len(set(public))
    for name in public:
        assert getattr(pulsetrain.analysis, name) is not None
    modules = (
        pulsetrain.analysis.device,
        pulsetrain.analysis.penalty,
        pulsetrain.analysis.filters,
        pulsetrain.analysis.zero_shift,
    )
    assert sorted(n for m in modules for n in m.__all__) == public


@pytest.mark.parametrize(
    "module",
    [
        pulsetrain.analysis,
        pulsetrain.analysis.device,
        pulsetrain.analysis.penalty,
        pulsetrain.analysis.filters,
        pulsetrain.analysis.zero_shift,
    ],
    ids=lambda m: m.__name__,
)
def test_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0 or module is pulsetrain.analysis
