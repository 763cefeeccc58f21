"""Response families: identities and closed forms of shared/theory.md §5, checks C1-C9.

Unless stated, the checks are exact identities evaluated in float64: the tolerance 1e-12 of
theory.md §5 covers the few roundings of q, F and G (each O(1e-16) relative).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from conftest import response_examples
from pulsetrain.devices import (
    ALD,
    C2CMode,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    Piecewise,
    Power,
    PowerStep,
    ResponseFamily,
    SkewLinear,
    SoftBounds,
    spec_q_minus,
    spec_q_plus,
)

TOL = 1e-12  # theory.md §5: "exact, 1e-12 unless stated"

FAMILIES: list[ResponseFamily] = response_examples()
NON_IDEAL = [f for f in FAMILIES if not isinstance(f, Ideal)]


def _ids(f: object) -> str:
    return repr(f)


def _inside(family: ResponseFamily, n: int, seed: int) -> npt.NDArray[np.float64]:
    lo, hi = family.bounds()
    return np.random.default_rng(seed).uniform(lo, hi, size=n)


def _root(g: Callable[[float], float], a: float, b: float) -> float:
    """Independent root finder (plain bisection on the sign of g) for the SP checks."""
    ga = g(a)
    assert ga < 0 < g(b)
    for _ in range(200):
        m = 0.5 * (a + b)
        if g(m) < 0:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


# --------------------------------------------------------------------------- C1, C2


@pytest.mark.parametrize("family", FAMILIES, ids=_ids)
def test_c1_f_g_m_identities(family: ResponseFamily) -> None:
    w = _inside(family, 1000, seed=1)
    qp, qm = family.q_plus(w), family.q_minus(w)
    f, g, m = family.F(w), family.G(w), family.M(w)
    np.testing.assert_allclose(qp, f - g, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(qm, f + g, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(m, qp * qm, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(m, f**2 - g**2, rtol=TOL, atol=TOL)
    assert np.all(qp >= 0)
    assert np.all(qm >= 0)


@pytest.mark.parametrize("family", [Ideal(), Ideal(w_min=-5.0, w_max=0.5)], ids=_ids)
def test_c2_ideal_is_flat(family: Ideal) -> None:
    w = _inside(family, 100, seed=2)
    np.testing.assert_array_equal(family.F(w), np.ones_like(w))
    np.testing.assert_array_equal(family.G(w), np.zeros_like(w))
    assert math.isnan(family.symmetric_point())


# --------------------------------------------------------------------------- C3-C8


@pytest.mark.parametrize(("tau", "sp"), [(1.0, 0.0), (0.7, 0.2), (50.0, -3.0)])
def test_c3_ald(tau: float, sp: float) -> None:
    dev = ALD(tau=tau, sp=sp)
    w = _inside(dev, 200, seed=3)
    np.testing.assert_allclose(dev.F(w), 1.0, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(dev.G(w), (w - sp) / tau, rtol=TOL, atol=TOL)
    # M = 1 - ((w - sp)/tau)^2 (theory.md §1.3).
    np.testing.assert_allclose(dev.M(w), 1 - ((w - sp) / tau) ** 2, rtol=TOL, atol=TOL)
    # R_c(w) = integral of G/F from sp to w = (w - sp)^2/(2 tau); 8-point Gauss-Legendre is
    # exact for the linear integrand, so 1e-9 (theory.md C3) only absorbs rounding.
    nodes, weights = np.polynomial.legendre.leggauss(8)
    for wi in w[:20]:
        x = sp + (wi - sp) * (nodes + 1) / 2
        r_c = float(np.sum(weights * dev.G(x) / dev.F(x)) * (wi - sp) / 2)
        assert abs(r_c - (wi - sp) ** 2 / (2 * tau)) < 1e-9


def test_c4_skew_linear() -> None:
    dev = SkewLinear(tau=1.0, c_lin=0.3)
    root = _root(lambda w: float(dev.G(w)), -1.0, 1.0)
    assert abs(root - 0.3) < 1e-10
    assert abs(dev.symmetric_point() - 0.3) < 1e-10
    assert abs(float(dev.F(0.7)) - 0.79) < TOL
    assert abs(float(dev.G(0.7)) - 0.4) < TOL
    for c in (0.0, 0.1, 0.2, 0.3):
        for tau in (1.0, 3.5):
            d = SkewLinear(tau=tau, c_lin=c)
            assert abs(d.symmetric_point() - c * tau) < TOL
            assert abs(float(d.G(c * tau))) < TOL


def test_c5_linear_step() -> None:
    dev = LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.1)
    assert abs(float(dev.G(0.4)) - 0.45) < TOL
    assert abs(float(dev.F(0.4)) - 1.15) < TOL
    assert dev.symmetric_point() == 0.1
    assert abs(float(dev.G(0.1))) < TOL


def test_c6_soft_bounds() -> None:
    dev = SoftBounds(w_max=1.0, w_min=-1.0, slope_up=1.1, slope_down=0.9)
    assert abs(dev.symmetric_point() - 0.1) < TOL
    # B1 form alpha_pm = delta (gamma_d +- rho) with gamma_d = 1, rho = 0.1 (delta cancels).
    gamma_d, rho = 1.0, 0.1
    b1 = 2 * rho / ((gamma_d + rho) / 1.0 - (gamma_d - rho) / -1.0)
    assert abs(b1 - 0.1) < TOL
    dev2 = SoftBounds(w_max=1.5, w_min=-0.5, slope_up=1.2, slope_down=0.8)
    sp = dev2.symmetric_point()
    assert abs(sp - 1 / 6) < TOL
    assert abs(float(dev2.q_plus(sp)) - 1.0666666666666667) < TOL
    assert abs(float(dev2.q_minus(sp)) - 1.0666666666666667) < TOL


@pytest.mark.parametrize(
    "family",
    [Power(tau=t, gamma_res=g) for t in (0.05, 0.1, 0.8) for g in (0.5, 1.0, 2.0, 3.0, 4.0)]
    + [Exponential(tau=t, gamma_res=g) for t in (0.1, 0.7) for g in (0.5, 1.0, 2.0, 4.0)],
    ids=_ids,
)
def test_c7_p1_family_anchors(family: Power | Exponential) -> None:
    tau = family.tau
    assert abs(float(family.q_plus(0.0)) - 1) < TOL
    assert abs(float(family.q_minus(0.0)) - 1) < TOL
    assert abs(float(family.q_plus(tau))) < TOL
    assert abs(float(family.q_minus(-tau))) < TOL
    assert family.symmetric_point() == 0.0


def test_c7_exponential_top_and_slopes() -> None:
    assert abs(float(Exponential(tau=1.0, gamma_res=4.0).q_minus(1.0)) - 55.59815) < 5e-6
    # G'(0) by central difference, h = 1e-7: truncation h^2 G'''/6 ~ 1e-11 and rounding
    # eps/h ~ 1e-9, both far below the 1e-6 relative tolerance of theory.md C7.
    h = 1e-7
    for family, expected in (
        (Power(tau=0.1, gamma_res=3.0), 30.0),
        (Exponential(tau=0.1, gamma_res=4.0), 40.74629),
    ):
        slope = float(family.G(h) - family.G(-h)) / (2 * h)
        assert abs(slope / expected - 1) < 1e-6
    exact = 4 * math.exp(4) / (0.1 * (math.exp(4) - 1))
    assert abs(exact - 40.74629) < 5e-6


def test_c8_step_families() -> None:
    ps = PowerStep(gamma_up=1.0, gamma_down=2.0)
    assert abs(ps.symmetric_point() - 0.2360680) < 5e-8
    assert abs(ps.symmetric_point() - (math.sqrt(5) - 2)) < TOL
    for g in (0.5, 1.0, 3.0):
        eq = PowerStep(tau_max=0.6, tau_min=-1.4, gamma_up=g, gamma_down=g)
        assert abs(eq.symmetric_point() - (-0.4)) < TOL
    es = ExpStep(gamma_up=2.0, gamma_down=1.0)
    assert abs(es.symmetric_point() - 1 / 3) < TOL


# --------------------------------------------------------------------------- C9 pulses


def test_c9_ideal_pulses_move_exactly() -> None:
    dw_min = 2.0**-10  # a power of two, so every partial sum below is exact in float64
    dev = Device(response=Ideal(), dw_min=dw_min)
    w = 0.0
    for _ in range(100):
        w = w + dw_min * float(dev.q_plus(w))
    assert w == 100 * dw_min
    for _ in range(40):
        w = w - dw_min * float(dev.q_minus(w))
    assert w == 60 * dw_min


@pytest.mark.parametrize("tau", [1.0, 0.8, 3.0])
def test_c9_ald_steps_at_half_range(tau: float) -> None:
    dev = Device(response=ALD(tau=tau), dw_min=1e-3)
    w = 0.5 * tau
    assert abs(dev.dw_min * float(dev.q_plus(w)) - 0.5e-3) < 1e-15
    assert abs(dev.dw_min * float(dev.q_minus(w)) - 1.5e-3) < 1e-15


# --------------------------------------------------------------------------- symmetric points


@pytest.mark.parametrize("family", NON_IDEAL, ids=_ids)
def test_symmetric_point_is_the_root_of_g(family: ResponseFamily) -> None:
    lo, hi = family.bounds()
    root = _root(lambda w: float(family.G(w)), lo, hi)
    sp = family.symmetric_point()
    assert abs(sp - root) < 1e-10 * max(1.0, abs(hi - lo))
    # G increases through the SP (theory.md §1.3), so pulses drift towards it.
    eps = 1e-6 * (hi - lo)
    assert float(family.G(sp - eps)) < 0 < float(family.G(sp + eps))


@pytest.mark.parametrize(("g_up", "g_down"), [(0.5, 4.0), (4.0, 0.5), (1.3, 2.7), (1.0, 1.0)])
@pytest.mark.parametrize(("lo", "hi"), [(-1.0, 1.0), (-0.2, 3.0), (-5.0, 0.01)])
def test_step_family_closed_forms(g_up: float, g_down: float, lo: float, hi: float) -> None:
    es = ExpStep(tau_max=hi, tau_min=lo, gamma_up=g_up, gamma_down=g_down)
    assert abs(float(es.G(es.symmetric_point()))) < 1e-12
    assert abs(es.symmetric_point() - _root(lambda w: float(es.G(w)), lo, hi)) < 1e-10
    ps = PowerStep(tau_max=hi, tau_min=lo, gamma_up=g_up, gamma_down=g_down)
    assert abs(ps.symmetric_point() - _root(lambda w: float(ps.G(w)), lo, hi)) < 1e-10


# --------------------------------------------------------------------------- vectorisation, spec


@pytest.mark.parametrize("family", FAMILIES, ids=_ids)
def test_vectorised_over_arrays(family: ResponseFamily) -> None:
    w = _inside(family, 24, seed=4).reshape(2, 3, 4)
    methods = (family.q_plus, family.q_minus, family.F, family.G, family.M)
    for method in methods:
        out = method(w)
        assert out.shape == w.shape
        assert out.dtype == np.float64
        scalars = np.array([float(method(float(x))) for x in w.ravel()]).reshape(w.shape)
        # NumPy's SIMD pow/exp on arrays may differ from its scalar path by an ulp.
        np.testing.assert_allclose(out, scalars, rtol=4e-16, atol=0)
        assert method(0.5 * sum(family.bounds())).shape == ()
        assert method([0.0, 0.0]).shape == (2,)


def _kernel_spec_q(spec: dict[str, Any], w: float) -> tuple[float, float]:
    """KERNEL_SPEC §2 transcribed literally with the math module, one element at a time."""
    lo, hi, sp, c = spec["lo"], spec["hi"], spec["sp"], spec["c"]
    au, ad, gu, gd = spec["alpha_up"], spec["alpha_down"], spec["gamma_up"], spec["gamma_down"]
    d = hi - lo
    fam = spec["family"]
    if fam == "ideal":
        return 1.0, 1.0
    if fam == "linear_step":
        return 1 - (w - sp) / (hi - sp), 1 - (w - sp) / (lo - sp)
    if fam == "skew_linear":
        return (1 + c) * (1 - w / hi), (1 - c) * (1 - w / lo)
    if fam == "soft_bounds":
        return au * (1 - w / hi), ad * (1 - w / lo)
    if fam == "power":
        return max(1 - w / hi, 0) ** gu, max(1 - w / lo, 0) ** gd
    if fam == "exponential":
        return (
            (math.exp(gu * (1 - w / hi)) - 1) / (math.exp(gu) - 1),
            (math.exp(gd * (1 - w / lo)) - 1) / (math.exp(gd) - 1),
        )
    if fam == "power_step":
        return max((hi - w) / d, 0) ** gu, max((w - lo) / d, 0) ** gd
    if fam == "piecewise":
        n = len(spec["piecewise_up"]) - 1
        s = max((w - lo) / d * n, 0.0)
        k = min(math.floor(s), n - 1)
        t = min(s - k, 1.0)
        up, down = spec["piecewise_up"], spec["piecewise_down"]
        return (1 - t) * up[k] + t * up[k + 1], (1 - t) * down[k] + t * down[k + 1]
    assert fam == "exp_step"
    return 1 - math.exp(-gu * (hi - w) / d), 1 - math.exp(-gd * (w - lo) / d)


@pytest.mark.parametrize("family", FAMILIES, ids=_ids)
def test_matches_kernel_spec_formulas(family: ResponseFamily) -> None:
    spec = family.to_spec()
    w = _inside(family, 50, seed=5)
    expected = np.array([_kernel_spec_q(spec, float(x)) for x in w])
    # Only exp/pow may differ between libm and NumPy's SIMD kernels, by an ulp or so.
    np.testing.assert_allclose(family.q_plus(w), expected[:, 0], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(family.q_minus(w), expected[:, 1], rtol=1e-14, atol=1e-15)


def test_spec_q_with_element_bounds() -> None:
    spec = SoftBounds(slope_up=1.1, slope_down=0.9).to_spec()
    lo = np.array([-1.0, -0.5, -2.0])
    hi = np.array([1.0, 1.5, 0.5])
    w = np.array([0.2, 0.2, 0.2])
    np.testing.assert_allclose(spec_q_plus(spec, w, lo=lo, hi=hi), 1.1 * (1 - w / hi), rtol=TOL)
    np.testing.assert_allclose(spec_q_minus(spec, w, lo=lo, hi=hi), 0.9 * (1 - w / lo), rtol=TOL)


def test_family_spec_mapping() -> None:
    assert ALD(tau=0.5, sp=0.25).to_spec() == {
        "family": "linear_step",
        "lo": -0.25,
        "hi": 0.75,
        "sp": 0.25,
        "c": 0.0,
        "alpha_up": 1.0,
        "alpha_down": 1.0,
        "gamma_up": 1.0,
        "gamma_down": 1.0,
    }
    assert SkewLinear(tau=2.0, c_lin=0.1).to_spec()["c"] == 0.1
    assert LinearStep(tau_max=1.0, tau_min=-0.5, sp=0.25).bounds() == (-0.25, 1.25)
    spec = Power(tau=0.3, gamma_res=2.5).to_spec()
    assert (spec["lo"], spec["hi"], spec["gamma_up"], spec["gamma_down"]) == (-0.3, 0.3, 2.5, 2.5)
    assert Exponential(tau=0.3, gamma_res=2.5).to_spec()["family"] == "exponential"
    spec = PowerStep(tau_max=0.5, tau_min=-1.5, gamma_up=2.0, gamma_down=3.0).to_spec()
    assert (spec["lo"], spec["hi"], spec["gamma_up"], spec["gamma_down"]) == (-1.5, 0.5, 2.0, 3.0)
    assert ExpStep(gamma_up=2.0, gamma_down=3.0).to_spec()["family"] == "exp_step"
    spec = SoftBounds(w_max=0.5, w_min=-2.0, slope_up=1.5, slope_down=0.5).to_spec()
    assert (spec["lo"], spec["hi"], spec["alpha_up"], spec["alpha_down"]) == (-2.0, 0.5, 1.5, 0.5)
    assert Ideal(w_min=-2.0, w_max=3.0).to_spec()["family"] == "ideal"


# --------------------------------------------------------------------------- Device

SPEC_KEYS = {
    "family",
    "lo",
    "hi",
    "sp",
    "c",
    "alpha_up",
    "alpha_down",
    "gamma_up",
    "gamma_down",
    "dw_min",
    "dw_min_std",
    "c2c_multiplicative",
    "dw_min_dtod",
    "dw_min_dtod_log_normal",
    "up_down",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "reference_mean",
    "reference_std",
    "subtract_symmetry_point",
}
BOOL_KEYS = {"c2c_multiplicative", "dw_min_dtod_log_normal", "subtract_symmetry_point"}


@pytest.mark.parametrize("family", FAMILIES, ids=_ids)
def test_device_delegates_and_spec(family: ResponseFamily) -> None:
    dev = Device(response=family, dw_min=0.01, dw_min_std=0.2, reference_mean=1)
    w = _inside(family, 10, seed=6)
    for name in ("q_plus", "q_minus", "F", "G", "M"):
        np.testing.assert_array_equal(getattr(dev, name)(w), getattr(family, name)(w))
    assert dev.bounds() == family.bounds()
    lo, hi = family.bounds()
    assert dev.n_states == (hi - lo) / 0.01
    sp_dev, sp_fam = dev.symmetric_point(), family.symmetric_point()
    assert sp_dev == sp_fam or (math.isnan(sp_dev) and math.isnan(sp_fam))
    spec = dev.to_spec()
    nodes = {"piecewise_up", "piecewise_down"} if isinstance(family, Piecewise) else set()
    assert set(spec) == SPEC_KEYS | nodes
    for key, value in spec.items():
        if key in nodes:
            assert all(type(v) is float for v in value)
        elif key == "family":
            assert isinstance(value, str)
        elif key in BOOL_KEYS:
            assert type(value) is bool
        else:
            assert type(value) is float
    assert spec["reference_mean"] == 1.0
    assert {k: spec[k] for k in family.to_spec()} == family.to_spec()


def test_device_spec_values() -> None:
    dev = Device.example()
    spec = dev.to_spec()
    assert spec["c2c_multiplicative"] is True
    assert spec["dw_min"] == dev.dw_min
    assert spec["subtract_symmetry_point"] is True
    assert Device(response=ALD(tau=1.0)).to_spec()["c2c_multiplicative"] is False
    assert Device(response=ALD(tau=1.0), c2c_mode=C2CMode.MULTIPLICATIVE).c2c_mode.value == (
        "multiplicative"
    )
