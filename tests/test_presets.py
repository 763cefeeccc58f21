"""Device presets (shared/theory.md §2.2): values, sources, and the registry."""

from __future__ import annotations

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
