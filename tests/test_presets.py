"""Device presets (shared/theory.md §2.2): values, sources, and the registry."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.config import dumps_toml, from_dict, loads_toml, to_dict
from pulsetrain.devices import presets
from pulsetrain.errors import ParameterError


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_is_a_device_that_cites_its_source(name: str) -> None:
    preset = presets.PRESETS[name]
    device = preset.build()
    assert isinstance(device, pt.Device)
    assert presets.get(name) == device
    doc = preset.build.__doc__ or ""
    # Each docstring names its source paper (P1-P4, B1 or aihwkit) and a table/figure/section.
    assert re.search(r"\b(P[1-4]|B1|aihwkit)\b", doc)
    assert re.search(r"(Table|Fig\.|Eq\.|App\.|§)", doc)
    assert preset.source
    assert from_dict(loads_toml(dumps_toml(device))) == device
    assert from_dict(to_dict(device)) == device


_H3 = 98 / 152 - 98 / 129  # q− − q+ at node 3 of the Gong 2018 table (down, up pulse counts)
_H4 = 98 / 102 - 98 / 151


@pytest.mark.parametrize(
    ("name", "sp", "n_states"),
    [
        ("ald", 0.0, 1600.0),
        ("skew_linear", 1.05, 70000.0),  # c·τ = 0.3 × 3.5 (P1 Fig. 2)
        ("power", 0.0, 200.0),
        ("exponential", 0.0, 1400.0),
        ("power_step", math.sqrt(5) - 2, 2000.0),  # theory.md C8
        ("exp_step", 1 / 3, 2000.0),  # theory.md C8
        ("softbounds_b1", 0.0, 40.0),
        ("rram_hfo2", 0.0, 2 / 0.4622),
        ("p4_few_state", 0.0, 4.0),
        ("rram_om_piecewise", 0.0, 2 / 0.0949),  # the 2-node table (2, 0)/(0, 2): SP 0
        ("rram_hfo2_piecewise", 0.0, 2 / 0.4622),
        # G's first rising crossing, segment 3 of 9 (the bisection's root): h = 98/cd − 98/cu.
        ("rram_gong2018_piecewise", -1 + (3 + _H3 / (_H3 - _H4)) * 2 / 9, 980.0),
        # aihwkit's linear-step presets: q± are both 1 at w = 0 (range shifted onto the SP).
        ("ecram_tang2018_piecewise", 0.0, 2.0 / 0.002),
        ("ecram_kim2019_piecewise", 0.0, 2.0 / 2.8214e-4),
        ("capacitor_li2018_piecewise", 0.0, 2.0 / 0.005),
    ],
)
def test_preset_symmetric_points_and_states(name: str, sp: float, n_states: float) -> None:
    device = presets.get(name)
    assert device.symmetric_point() == pytest.approx(sp, abs=1e-12)
    assert device.n_states == pytest.approx(n_states, rel=1e-12)


def test_rram_hfo2_matches_the_aihwkit_values() -> None:
    d = presets.rram_hfo2()
    assert isinstance(d.response, pt.SoftBounds)
    assert d.bounds() == (-1.0, 1.0)
    assert (d.dw_min, d.dw_min_std, d.dw_min_dtod) == (0.4622, 0.2174, 0.7125)
    assert d.dw_min_dtod_log_normal
    assert d.c2c_mode is pt.C2CMode.ADDITIVE
    assert (d.up_down_dtod, d.w_max_dtod, d.w_min_dtod) == (0.01, 0.4295, 0.5990)
    assert (d.reference_mean, d.reference_std, d.subtract_symmetry_point) == (0.0, 0.05, True)
    doc = presets.rram_hfo2.__doc__ or ""
    assert "write noise" in doc
    assert "Not modelled" in doc


def test_rram_hfo2_readout_sp_is_minus_the_reference_spread() -> None:
    # With the SP subtracted, each element's read-out SP is −0.05ξ (theory.md §2.4).
    tile = pt.AnalogTile(64, 64, presets.rram_hfo2(), rng=0, n_threads=1)
    sp = tile.symmetric_points.ravel()
    n = sp.size
    assert abs(sp.mean()) < 5 * 0.05 / np.sqrt(n)
    assert abs(sp.std() - 0.05) < 5 * 0.05 / np.sqrt(2 * n)


def test_p4_few_state_and_skew_arguments() -> None:
    assert [presets.p4_few_state(n).dw_min for n in (4, 10, 16)] == [0.5, 0.2, 0.125]
    assert presets.skew_linear(0.1).symmetric_point() == pytest.approx(0.35)
    with pytest.raises(ParameterError, match=r"^The 'n_states' parameter of p4_few_state"):
        presets.p4_few_state(1)
    with pytest.raises(ParameterError, match=r"^The 'name' parameter of presets.get"):
        presets.get("ram")


# aihwkit 1.1.0, simulator/presets/devices.py: EcRamPresetDevice, EcRamMOPresetDevice and
# CapacitorPresetDevice (all LinearStepDevice). Per preset: w_min, w_max, gamma_up, gamma_down,
# dw_min, dw_min_std, mult_noise, dw_min_dtod, up_down_dtod, w_max_dtod (= w_min_dtod).
AIHWKIT_LINEAR_STEP = {
    "ecram_tang2018_piecewise": (
        -0.8276,
        1.1724,
        0.1153,
        0.5085,
        0.002,
        0.3,
        True,
        0.1,
        0.01,
        0.05,
    ),
    "ecram_kim2019_piecewise": (
        -0.8286,
        1.1714,
        0.4152,
        0.7342,
        2.8214e-4,
        2.0,
        True,
        0.1,
        0.01,
        0.05,
    ),
    "capacitor_li2018_piecewise": (-1.0, 1.0, 0.05, 0.05, 0.005, 0.3, False, 0.1, 0.06, 0.07),
}


@pytest.mark.parametrize("name", list(AIHWKIT_LINEAR_STEP))
def test_linear_step_presets_are_aihwkits_law_exactly(name: str) -> None:
    lo, hi, g_up, g_dn, dw, std, mult, dtod, ud, wd = AIHWKIT_LINEAR_STEP[name]
    d = presets.get(name)
    assert isinstance(d.response, pt.Piecewise)
    assert d.bounds() == (lo, hi)
    assert (d.dw_min, d.dw_min_std, d.dw_min_dtod) == (dw, std, dtod)
    assert d.c2c_mode is (pt.C2CMode.MULTIPLICATIVE if mult else pt.C2CMode.ADDITIVE)
    assert (d.up_down_dtod, d.w_max_dtod, d.w_min_dtod) == (ud, wd, wd)
    # aihwkit's LinearStepDevice Eq.: Δw = Δw_min (γ^d w + 1), γ^+ = −γ_up/b_max,
    # γ^- = −γ_down/b_min. The 2-node table is linear interpolation of a linear law: equal to
    # it everywhere in the range up to rounding (a few ulps of values near 1).
    w = np.linspace(lo, hi, 1001)
    np.testing.assert_allclose(d.q_plus(w), 1.0 - g_up * w / hi, rtol=0, atol=1e-14)
    np.testing.assert_allclose(d.q_minus(w), 1.0 - g_dn * w / lo, rtol=0, atol=1e-14)
    assert (d.q_plus(w) > 0).all()
    assert (d.q_minus(w) > 0).all()


def test_linear_step_table_is_checked_against_a_nonlinear_law() -> None:
    # The same comparison fails for a law the table cannot represent (soft bounds' q with a
    # quadratic term), so the check above is not vacuous.
    t = presets.linear_step_table(-1.0, 1.0, 0.5, 0.5)
    w = np.linspace(-1.0, 1.0, 11)
    dev = pt.Device(response=t, dw_min=0.01)
    assert np.abs(dev.q_plus(w) - (1.0 - 0.5 * w - 0.1 * w**2)).max() > 1e-3


# aihwkit 1.1.0, src/aihwkit/simulator/presets/devices.py (the numbers below are copied from
# it): ReRamESPresetDevice (ExpStepDevice), ReRamSBPresetDevice (SoftBoundsReferenceDevice),
# GokmenVlasovPresetDevice and IdealizedPresetDevice (ConstantStepDevice). Per preset: dw_min,
# dw_min_std, dw_min_dtod, up_down, up_down_dtod, w_max_dtod, w_min_dtod, w_min, w_max.
AIHWKIT_OTHER = {
    "rram_es_gong2018_piecewise": (0.00135, 5.0, 0.2, 0.259359, 0.05, 0.3, 0.3, -1.0, 1.0),
    "rram_sb_gong2018": (0.002, 3.75, 0.3, 0.0, 0.01, 0.3 / 1.25, 0.3 / 0.75, -0.75, 1.25),
    "rram_sb_gong2018_piecewise": (
        0.002,
        3.75,
        0.3,
        0.0,
        0.01,
        0.3 / 1.25,
        0.3 / 0.75,
        -0.75,
        1.25,
    ),
    "gokmen_vlasov2016": (0.0016, 0.3, 0.3, 0.0, 0.01, 0.3, 0.3, -1.0, 1.0),
    "idealized_rasch2019": (0.0002, 0.3, 0.3, 0.0, 0.0, 0.3, 0.3, -1.0, 1.0),
}
# ReRamESPresetDevice's ExpStep shape: a, b, gamma_up, gamma_down, A_up, A_down.
AIHWKIT_RERAM_ES = (-0.5, -0.5, 5.0, 5.0, -1.18445, -0.081404)


@pytest.mark.parametrize("name", list(AIHWKIT_OTHER))
def test_other_aihwkit_presets_carry_aihwkits_numbers(name: str) -> None:
    dw, std, dtod, ud, ud_dtod, wmax_dtod, wmin_dtod, lo, hi = AIHWKIT_OTHER[name]
    # The step values in pulsetrain's semantics (unchanged when up_down is 0).
    conv = presets.from_aihwkit_steps(dw, ud, dtod, ud_dtod)
    if ud == 0.0:
        assert conv == {"dw_min": dw, "up_down": 0.0, "dw_min_dtod": dtod, "up_down_dtod": ud_dtod}
    dw, ud, dtod, ud_dtod = (conv[k] for k in ("dw_min", "up_down", "dw_min_dtod", "up_down_dtod"))
    d = presets.get(name)
    assert d.bounds() == (lo, hi)
    assert (d.dw_min, d.dw_min_std, d.dw_min_dtod, d.up_down, d.up_down_dtod) == (
        dw,
        std,
        dtod,
        ud,
        ud_dtod,
    )
    assert (d.w_max_dtod, d.w_min_dtod) == (wmax_dtod, wmin_dtod)
    assert not d.dw_min_dtod_log_normal  # aihwkit's default for these classes
    # aihwkit's reference defaults (SoftBoundsReferenceDevice: mean = std = 0, no subtraction).
    assert (d.reference_mean, d.reference_std, d.subtract_symmetry_point) == (0.0, 0.0, False)
    # ExpStep noise multiplies the mean step (rpu_expstep_device.cpp); ReRamSB has
    # mult_noise = False; constant steps have q = 1, where the two modes coincide.
    mult = name == "rram_es_gong2018_piecewise"
    assert d.c2c_mode is (pt.C2CMode.MULTIPLICATIVE if mult else pt.C2CMode.ADDITIVE)


def _aihwkit_exp_step(w: np.ndarray, *, up: bool) -> np.ndarray:
    # aihwkit src/rpucuda/rpu_expstep_device.cpp, update_once: z = 2 a w/(b_max − b_min) + b;
    # up: max(1 − A_up e^{γ_up z}, 0); down: max(1 − A_down e^{−γ_down z}, 0). Bounds [−1, 1].
    a, b, g_up, g_dn, a_up, a_dn = AIHWKIT_RERAM_ES
    z = 2.0 * a * w / 2.0 + b
    if up:
        return np.maximum(1.0 - a_up * np.exp(g_up * z), 0.0)
    return np.maximum(1.0 - a_dn * np.exp(-g_dn * z), 0.0)


def test_reram_es_table_equals_aihwkits_law_at_the_nodes_and_within_the_bound_between() -> None:
    resp = presets.rram_es_gong2018_piecewise().response
    assert isinstance(resp, pt.Piecewise)
    assert len(resp.piecewise_up) == 41
    nodes = np.linspace(-1.0, 1.0, 41)
    np.testing.assert_allclose(resp.q_plus(nodes), _aihwkit_exp_step(nodes, up=True), rtol=1e-13)
    np.testing.assert_allclose(resp.q_minus(nodes), _aihwkit_exp_step(nodes, up=False), rtol=1e-13)
    # The bound stated in the docstring: h²/8·max|q''| with h = 0.05.
    e_up, e_dn = presets.exp_step_table_error(-1.0, 1.0, **presets._RERAM_ES)
    assert e_up == pytest.approx(0.05**2 / 8 * 1.18445 * 2.5**2, rel=1e-12)
    assert e_dn == pytest.approx(0.05**2 / 8 * 0.081404 * 2.5**2 * math.exp(5.0), rel=1e-12)
    assert (e_up, e_dn) < (2.32e-3, 0.0236)
    w = np.linspace(-1.0, 1.0, 40 * 64 + 1)
    for q_table, up, bound in ((resp.q_plus, True, e_up), (resp.q_minus, False, e_dn)):
        err = q_table(w) - _aihwkit_exp_step(w, up=up)
        assert err.max() <= bound
        assert err.min() >= -1e-12  # convex laws: the chords lie above them
        # The bound is the worst interval's error up to e^{2.5·h}: not a vacuous bound.
        assert err.max() > bound * math.exp(-2.5 * 0.05) * 0.99


def test_reram_es_symmetric_point_follows_aihwkits_law() -> None:
    # aihwkit's kernel steps are Δw_min·q₊ up and Δw_min·(1 − u)·q₋ down (u = up_down > 0), so
    # its SP is the root of G = q₊ − (1 − u) q₋, found by bisection on the law. The table's G
    # differs by at most e_up + (1 − u) e_dn, and on [−0.3, −0.1] both terms of G' are negative
    # and monotone, so |G'| ≥ |q₊'(−0.1)| + (1 − u)|q₋'(−0.3)|: the SPs differ by at most the
    # first over the second.
    u = 0.259359
    d = presets.rram_es_gong2018_piecewise()

    def g(w: float) -> float:
        x = np.array([w])
        up, down = _aihwkit_exp_step(x, up=True)[0], _aihwkit_exp_step(x, up=False)[0]
        return float(up - (1 - u) * down)

    lo, hi = -0.3, -0.1
    assert g(lo) > 0 > g(hi)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
    slope = 2.5 * 1.18445 * math.exp(-2.5 * 0.9) + (1 - u) * 2.5 * 0.081404 * math.exp(2.5 * 0.7)
    e_up, e_dn = presets.exp_step_table_error(-1.0, 1.0, **presets._RERAM_ES)
    tol = (e_up + (1 - u) * e_dn) / slope
    assert abs(d.symmetric_point() - lo) < tol
    assert tol < 0.02


def test_from_aihwkit_steps_gives_aihwkits_element_steps() -> None:
    # aihwkit 1.1.0 src/rpucuda/rpu_pulsed_device.cpp, populate(): up_bias = min(u, 0),
    # down_bias = −max(u, 0), scale_up = (up_bias + gain + r)·dw_min,
    # scale_down = (down_bias + gain − r)·dw_min, gain = 1 + dw_min_dtod·ξ, r = up_down_dtod·ξ'.
    xi = np.random.default_rng(0).normal(size=(2, 1000))
    for u in (0.259359, -0.4, 0.0):
        dw, s_g, s_r = 0.00135, 0.2, 0.05
        gain, rho = 1.0 + s_g * xi[0], s_r * xi[1]
        up_ai = (min(u, 0.0) + gain + rho) * dw
        down_ai = (-max(u, 0.0) + gain - rho) * dw
        c = presets.from_aihwkit_steps(dw, u, s_g, s_r)
        # pulsetrain (rust/core/src/variation.rs draw_map): dw_min·(g ± r).
        g_pt = 1.0 + c["dw_min_dtod"] * xi[0]
        r_pt = c["up_down"] + c["up_down_dtod"] * xi[1]
        np.testing.assert_allclose(c["dw_min"] * (g_pt + r_pt), up_ai, rtol=1e-12)
        np.testing.assert_allclose(c["dw_min"] * (g_pt - r_pt), down_ai, rtol=1e-12)
    with pytest.raises(ParameterError, match=r"^The 'up_down' parameter of from_aihwkit_steps"):
        presets.from_aihwkit_steps(0.01, 1.0, 0.0, 0.0)


def test_reram_es_tile_steps_follow_aihwkits_kernel() -> None:
    # Without spreads every element's steps are aihwkit's: dw_min up, dw_min·(1 − u) down.
    d = dataclasses.replace(
        presets.rram_es_gong2018_piecewise(),
        dw_min_dtod=0.0,
        up_down_dtod=0.0,
        w_max_dtod=0.0,
        w_min_dtod=0.0,
    )
    maps = pt.AnalogTile(2, 3, d, rng=0).maps()
    np.testing.assert_allclose(maps["step_up"], 0.00135, rtol=1e-12)
    np.testing.assert_allclose(maps["step_down"], 0.00135 * (1 - 0.259359), rtol=1e-12)


def test_reram_sb_is_aihwkits_soft_bounds_law_and_its_table_equals_it() -> None:
    native, table = presets.rram_sb_gong2018(), presets.rram_sb_gong2018_piecewise()
    assert isinstance(native.response, pt.SoftBounds)
    assert isinstance(table.response, pt.Piecewise)
    assert dataclasses.replace(table, response=native.response) == native
    # aihwkit SoftBoundsDevice: Δw = Δw_min (1 − w/b_max) up, Δw_min (1 − w/b_min) down.
    w = np.linspace(-0.75, 1.25, 2001)
    for d in (native, table):
        np.testing.assert_allclose(d.q_plus(w), 1.0 - w / 1.25, rtol=0, atol=1e-14)
        np.testing.assert_allclose(d.q_minus(w), 1.0 + w / 0.75, rtol=0, atol=1e-14)
        assert d.symmetric_point() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", ["gokmen_vlasov2016", "idealized_rasch2019"])
def test_constant_step_presets_are_ideal(name: str) -> None:
    d = presets.get(name)
    assert isinstance(d.response, pt.Ideal)
    w = np.linspace(-1.0, 1.0, 11)
    np.testing.assert_array_equal(d.q_plus(w), np.ones(11))
    np.testing.assert_array_equal(d.q_minus(w), np.ones(11))
    assert math.isnan(d.symmetric_point())
    assert d.n_states == pytest.approx(2.0 / d.dw_min, rel=1e-12)


def test_exp_step_table_arguments() -> None:
    kw = presets._RERAM_ES
    bad: presets.ExpStepShape = {**kw, "n_intervals": 0}
    with pytest.raises(ParameterError, match=r"^The 'n_intervals' parameter of exp_step_table"):
        presets.exp_step_table(-1.0, 1.0, **bad)
    # aihwkit's default ExpStepDevice shape (A_up = 0.00081 ...) stays positive: a bound exists;
    # a law clipped at 0 (A_up = 2, z = −1..0: 1 − 2e^{5z} < 0 near w = −1) has a kink: refused.
    clipped: presets.ExpStepShape = {**kw, "a_up": 2.0}
    with pytest.raises(ParameterError, match=r"'a_up' parameter of exp_step_table_error"):
        presets.exp_step_table_error(-1.0, 1.0, **clipped)
    t = presets.exp_step_table(-1.0, 1.0, **clipped)
    assert min(t.piecewise_up) == 0.0  # the table itself keeps aihwkit's max(·, 0)


@pytest.mark.parametrize("update", ["pulse_count", "stochastic"])
def test_reram_es_preset_runs_identically_on_both_backends(update: str) -> None:
    mode: pt.UpdateMode = (
        pt.PulseCountUpdate(max_bl=8) if update == "pulse_count" else pt.StochasticPulseUpdate()
    )
    dev = presets.rram_es_gong2018_piecewise()
    gen = np.random.default_rng(2)
    x, dlt = gen.normal(size=(1, 4, 5)), gen.normal(size=(1, 4, 3))
    out = []
    for backend in ("rust", "twin"):
        t = pt.AnalogTile(3, 5, dev, update=mode, rng=5, backend=backend, n_threads=1)
        t.update(x, dlt, lr=0.5)
        out.append(t.physical_weights)
    np.testing.assert_array_equal(out[0], out[1])
    assert np.abs(out[0]).max() > 0


@pytest.mark.parametrize("backend", ["rust", "twin"])
def test_reram_es_pulse_trajectories_follow_aihwkits_update_rule(backend: str) -> None:
    # 400 up pulses from w = −1 and 400 down pulses from w = +1, no noise or spread, against
    # aihwkit's update_once (rpu_expstep_device.cpp: w += y_up·scale_up, w −= y_down·scale_down,
    # scale_up = dw_min, scale_down = dw_min·(1 − u) for u = up_down > 0, then clip). Each
    # step's table error is at most s·E (s the step scale, E the bound); the maps are
    # contractions (q₊ falls as w rises, q₋ falls as w falls, and s·|q'| < 2), so after N
    # pulses the trajectories differ by at most N·s·E (seen: 2.4e-4 of 1.2e-3 up, 4.6e-4 of
    # 9.4e-3 down). Copying up_down as 1 ± u instead would move the up trajectory by ~0.26 ×
    # its travel (~0.8), far beyond that.
    u, dw = 0.259359, 0.00135
    dev = dataclasses.replace(
        presets.rram_es_gong2018_piecewise(),
        dw_min_std=0.0,
        dw_min_dtod=0.0,
        up_down_dtod=0.0,
        w_max_dtod=0.0,
        w_min_dtod=0.0,
    )
    tile = pt.AnalogTile(1, 2, dev, rng=0, backend=backend)
    tile.set_physical_weights(np.array([[[-1.0, 1.0]]]))
    ref = np.array([-1.0, 1.0])
    n = 400
    for _ in range(n):
        tile.apply_pulses(np.array([[1, -1]]))
        ref[0] = min(ref[0] + dw * _aihwkit_exp_step(ref[:1], up=True)[0], 1.0)
        ref[1] = max(ref[1] - dw * (1 - u) * _aihwkit_exp_step(ref[1:], up=False)[0], -1.0)
    e_up, e_dn = presets.exp_step_table_error(-1.0, 1.0, **presets._RERAM_ES)
    w = tile.physical_weights[0, 0]
    assert -0.5 < ref[0] < 1.0  # travelled, not clipped
    assert -1.0 < ref[1] < 0.5
    assert abs(w[0] - ref[0]) <= n * dw * e_up + 1e-12
    assert abs(w[1] - ref[1]) <= n * dw * (1 - u) * e_dn + 1e-12
