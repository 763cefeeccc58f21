"""The ``Piecewise`` (lookup-table) response family (issue 20 items 1 and 4; KERNEL_SPEC §2).

Exact checks compare with values computed by hand (binary fractions, so float64 holds them
exactly); interpolation errors are bounded by the textbook bound ``max|f''| h²/8`` of linear
interpolation on a segment of width h; the twin and the core must agree bit for bit.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD
from pulsetrain.config import dumps_json, dumps_toml, from_dict, loads_toml, to_dict
from pulsetrain.devices import Piecewise, presets
from pulsetrain.errors import ParameterError
from pulsetrain.twin import DeviceSpec, TwinTile
from test_twin import (
    KEY,
    UPDATES,
    VARIANTS,
    assert_same,
    core_factory,
    make_spec,
    run_scenario,
    twin_factory,
)

HAND = Piecewise(
    w_min=-1.0, w_max=1.0, piecewise_up=(1.5, 1.0, 0.5), piecewise_down=(0.5, 1.0, 2.0)
)
"""Nodes at −1, 0, 1."""


# --------------------------------------------------------------------------- validation

NODES_ALLOWED = "a sequence of 2 to 4096 finite floats in the range [0, inf), at least one positive"


@pytest.mark.parametrize("name", ["piecewise_up", "piecewise_down"])
@pytest.mark.parametrize(
    "bad",
    [
        (1.0,),
        (),
        (1.0, math.nan),
        (1.0, math.inf),
        (-0.1, 1.0),
        (0.0, 0.0),
        "ab",
        5.0,
        None,
        ((1.0, 2.0), (3.0, 4.0)),
        (1.0, True),
        (1.0,) * 4097,
    ],
    ids=repr,
)
def test_bad_node_lists_name_the_field_and_range(name: str, bad: object) -> None:
    good = {"piecewise_up": (1.0, 0.5), "piecewise_down": (0.5, 1.0)}
    with pytest.raises(ParameterError) as info:
        Piecewise(**{**good, name: bad})  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith(f"The '{name}' parameter of Piecewise must be {NODES_ALLOWED}.")


def test_length_mismatch_and_bounds_are_rejected() -> None:
    with pytest.raises(
        ParameterError, match=r"'piecewise_down' .* same length as piecewise_up \(3\)"
    ):
        Piecewise(piecewise_up=(1.0, 1.0, 1.0), piecewise_down=(1.0, 1.0))
    with pytest.raises(
        ParameterError, match=r"'w_max' parameter of Piecewise must be greater than"
    ):
        Piecewise(w_min=1.0, w_max=1.0, piecewise_up=(1.0, 1.0), piecewise_down=(1.0, 1.0))
    with pytest.raises(ParameterError, match=r"'w_min' parameter of Piecewise must be a float"):
        Piecewise(w_min=math.nan, piecewise_up=(1.0, 1.0), piecewise_down=(1.0, 1.0))
    # Accepted forms are normalised to tuples of floats.
    up, down = np.array([1, 2]), [0.5, np.float64(1.0)]
    p = Piecewise(piecewise_up=up, piecewise_down=down)  # type: ignore[arg-type]
    assert p.piecewise_up == (1.0, 2.0)
    assert type(p.piecewise_down[1]) is float
    hash(p)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("piecewise_up", [1.0], "a list of 2 to 4096 finite floats"),
        ("piecewise_up", [1.0, math.nan], "a list of 2 to 4096 finite floats"),
        ("piecewise_down", [0.0, 0.0], "a list of 2 to 4096 finite floats"),
        ("piecewise_down", [1.0, 1.0, 1.0], "of the same length as piecewise_up (2)"),
        ("piecewise_down", "ab", "a list"),
    ],
)
def test_spec_dicts_are_checked_by_core_and_twin(
    core: ModuleType, key: str, value: object, allowed: str
) -> None:
    spec = {**HAND_SPEC, "piecewise_up": [1.0, 0.5], "piecewise_down": [0.5, 1.0], key: value}
    update = {"kind": "expected", "noise": False}
    for build in (
        lambda: core.Tile(spec, update, 1, 1, 1, [1, 2]),
        lambda: TwinTile(spec, update, 1, 1, 1, KEY),
    ):
        with pytest.raises(ParameterError, match=f"^The '{key}' parameter of .* must be") as info:
            build()
        assert allowed in str(info.value)
    missing = {k: v for k, v in HAND_SPEC.items() if k != "piecewise_down"}
    with pytest.raises(ParameterError, match=r"'piecewise_down' parameter .* must be present"):
        core.Tile(missing, update, 1, 1, 1, [1, 2])
    with pytest.raises(ParameterError, match=r"'piecewise_down' parameter .* must be present"):
        DeviceSpec.from_dict(missing)


# --------------------------------------------------------------------------- q± by hand

HAND_SPEC: dict[str, Any] = pt.Device(response=HAND).to_spec()


def test_q_at_nodes_between_and_outside_by_hand(core: ModuleType) -> None:
    w = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 2.0])
    # q+: 1.5 at −1, 1.0 at 0, 0.5 at 1, linear between, the end values outside.
    q_up = np.array([1.5, 1.5, 1.25, 1.0, 0.875, 0.75, 0.5, 0.5])
    q_down = np.array([0.5, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.0])
    assert_array_equal(HAND.q_plus(w), q_up)
    assert_array_equal(HAND.q_minus(w), q_down)
    assert_array_equal(HAND.G(w), (q_down - q_up) / 2)
    # The grid stretches with an element's own bounds: node 1 of [−2, 4] is at 1.
    lo, hi = np.full(3, -2.0), np.full(3, 4.0)
    twin = DeviceSpec.from_dict(HAND_SPEC)
    assert_array_equal(twin.q_plus(np.array([-2.0, 1.0, 2.5]), lo, hi), [1.5, 1.0, 0.75])
    # The core's pulses: one up pulse of dw_min from w moves by dw_min·q+(w) (no noise).
    spec = {**HAND_SPEC, "dw_min": 0.25}
    for start, expected in [(-0.5, -0.5 + 0.25 * 1.25), (0.25, 0.25 + 0.25 * 0.875)]:
        tile = core.Tile(
            spec, {"kind": "pulse_count", "max_bl": 1, "rounding": "ceil"}, 1, 1, 1, [3, 4]
        )
        tile.set_weights(np.full((1, 1, 1), start))
        tile.apply_pulses(np.ones((1, 1, 1), dtype=np.int64), 0)
        assert tile.weights().item() == expected


def test_matches_aihwkit_update_once_formula() -> None:
    # aihwkit 1.1.0 rpu_piecewisestep_device.cpp, update_once, in float64 (floor for floorf):
    # w_scaled = max((w − min)/(max − min)·n, 0); i = min(floor(w_scaled), n − 1);
    # t = min(w_scaled − i, 1); value = (1 − t)·v[i] + t·v[i + 1].
    p = Piecewise.example()
    v = np.array(p.piecewise_up)
    n = v.size - 1
    for w in np.random.default_rng(3).uniform(-1.5, 2.0, 200):
        ws = max((w - p.w_min) / (p.w_max - p.w_min) * n, 0.0)
        i = min(math.floor(ws), n - 1)
        t = min(ws - i, 1.0)
        assert float(p.q_plus(w)) == (1 - t) * v[i] + t * v[i + 1]


# --------------------------------------------------------------------------- sampled families


def _sampled(family: pt.SoftBounds | pt.ExpStep, k: int) -> Piecewise:
    lo, hi = family.bounds()
    nodes = np.linspace(lo, hi, 2**k + 1)
    return Piecewise(
        w_min=lo,
        w_max=hi,
        piecewise_up=tuple(family.q_plus(nodes)),
        piecewise_down=tuple(family.q_minus(nodes)),
    )


@pytest.mark.parametrize("k", [1, 3, 6])
def test_sampled_soft_bounds_is_exact(k: int) -> None:
    sb = pt.SoftBounds.example()  # bounds −0.5, 1.5: nodes and (w − lo)·n/(hi − lo) are exact
    pw = _sampled(sb, k)
    nodes = np.linspace(-0.5, 1.5, 2**k + 1)
    assert_array_equal(pw.q_plus(nodes), sb.q_plus(nodes))
    assert_array_equal(pw.q_minus(nodes), sb.q_minus(nodes))
    # q± are linear, so the interpolation bound max|q''|h²/8 is 0: only roundings remain.
    w = np.random.default_rng(k).uniform(-0.5, 1.5, 500)
    np.testing.assert_allclose(pw.q_plus(w), sb.q_plus(w), rtol=0, atol=1e-14)
    np.testing.assert_allclose(pw.q_minus(w), sb.q_minus(w), rtol=0, atol=1e-14)
    # SP and slope from the data equal the closed forms (G is linear and rises once).
    assert pw.symmetric_point() == pytest.approx(sb.symmetric_point(), abs=1e-14)
    assert pw.slope_at_sp() == pytest.approx(sb.slope_at_sp(), rel=1e-12)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_sampled_exp_step_within_the_interpolation_bound(k: int) -> None:
    es = pt.ExpStep(tau_max=0.5, tau_min=-2.0, gamma_up=0.5, gamma_down=4.0)
    pw = _sampled(es, k)
    lo, hi = es.bounds()
    h = (hi - lo) / 2**k
    w = np.linspace(lo, hi, 4001)
    # q+ = 1 − exp(−g(hi − w)/Δ): |q+''| ≤ (g_up/Δ)², |q−''| ≤ (g_down/Δ)² (at w = lo).
    delta = hi - lo
    for got, want, g in [
        (pw.q_plus(w), es.q_plus(w), es.gamma_up),
        (pw.q_minus(w), es.q_minus(w), es.gamma_down),
    ]:
        bound = (g / delta) ** 2 * h**2 / 8
        err = np.abs(got - want).max()
        assert err <= bound + 1e-15
        assert err >= 0.3 * bound  # the bound is nearly attained: the check is not vacuous
    # SP error ≤ max|G − G_pw| / min|G'| near the SP (both from the bounds above, G' > 0.5·G'(sp)).
    sp, sp_pw = es.symmetric_point(), pw.symmetric_point()
    g_err = ((es.gamma_up / delta) ** 2 + (es.gamma_down / delta) ** 2) * h**2 / 16
    g_slope = float(es.G(sp + 1e-6) - es.G(sp - 1e-6)) / 2e-6
    assert abs(sp_pw - sp) <= g_err / (0.5 * g_slope)
    assert float(pw.G(sp_pw)) == pytest.approx(0.0, abs=1e-15)


# --------------------------------------------------------------------------- symmetric point


def test_symmetric_point_cases() -> None:
    # One rising crossing on segment 1 of h = q− − q+ = (−1, −0.5, 1.5): t = 0.5/2 = 0.25.
    p = Piecewise(
        w_min=0.0, w_max=2.0, piecewise_up=(1.0, 1.0, 0.5), piecewise_down=(0.0, 0.5, 2.0)
    )
    assert p.symmetric_point() == 1.25
    # G' = (1.5 + 0.5)/2 per unit w, F(1.25) = q+(1.25) = 0.875.
    assert p.slope_at_sp() == pytest.approx(1.0 / 0.875, rel=1e-15)
    # G never rises through 0: NaN, no slope, and a reference cannot subtract it.
    flat = Piecewise(piecewise_up=(1.0, 0.5), piecewise_down=(2.0, 1.0))
    assert math.isnan(flat.symmetric_point())
    assert flat.slope_at_sp() is None
    with pytest.raises(ParameterError, match="'subtract_symmetry_point' parameter of Device"):
        pt.Device(response=flat, subtract_symmetry_point=True)
    # Several crossings: the bisection's root (KERNEL_SPEC §4), which is a root of G.
    gong = presets.rram_gong2018_piecewise().response
    assert isinstance(gong, Piecewise)
    assert gong._crossings() == ([3, 5], 1)
    sp = gong.symmetric_point()
    assert abs(float(gong.G(sp))) < 1e-14
    assert gong.slope_at_sp() is None


@pytest.mark.parametrize(
    "response",
    [*Piecewise.examples(), presets.rram_gong2018_piecewise().response],
    ids=lambda r: f"{len(r.piecewise_up)}-nodes",
)
def test_core_symmetric_point_equals_the_config(core: ModuleType, response: Piecewise) -> None:
    # Without spread the core's per-element bisection of dn·q− − up·q+ (up = dn = dw_min) finds
    # the config's SP: to a few ulp for one crossing, the same bisection for several.
    spec = pt.Device(response=response, subtract_symmetry_point=True).to_spec()
    tile = core.Tile(spec, {"kind": "expected", "noise": False}, 2, 3, 1, [5, 6])
    sps = np.asarray(tile.maps()["symmetric_point"])
    np.testing.assert_allclose(sps, response.symmetric_point(), rtol=0, atol=1e-14)


# --------------------------------------------------------------------------- twin == core


PW_SPECS = {
    "example": make_spec("piecewise"),
    "gong": {
        **make_spec("piecewise"),
        **pt.Device(response=presets.rram_gong2018_piecewise().response).to_spec(),
    },
    "sampled_exp_step_65": {
        **make_spec("piecewise"),
        **_sampled(pt.ExpStep(gamma_up=2.0, gamma_down=1.0), 6).to_spec(),
    },
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("mode", list(UPDATES))
@pytest.mark.parametrize("table", list(PW_SPECS))
def test_core_matches_twin_bit_for_bit(
    core: ModuleType, table: str, mode: str, variant: str
) -> None:
    spec = {**PW_SPECS[table], **VARIANTS[variant], "dw_min": 0.01}
    twin = run_scenario(twin_factory, spec, UPDATES[mode], lr=0.3)
    kernel = run_scenario(core_factory(core), spec, UPDATES[mode], lr=0.3)
    assert_same(twin, kernel)


@pytest.mark.parametrize("mode", ["expected_noise", "stochastic_rounding", "sp_bl_management"])
def test_core_deterministic_across_threads(core: ModuleType, mode: str) -> None:
    spec = {**PW_SPECS["gong"], **VARIANTS["noisy"], "dw_min": 0.01}
    kwargs: dict[str, Any] = {"out_size": 40, "in_size": 6, "batch": 4, "lr": 0.3}
    runs = [
        run_scenario(core_factory(core), spec, UPDATES[mode], n_threads=t, **kwargs) for t in (1, 3)
    ]
    for a, b in zip(runs[0], runs[1], strict=True):
        assert_array_equal(b["physical"], a["physical"])
        for ca, cb in zip(a["counts"], b["counts"], strict=True):
            assert_array_equal(cb, ca)


def test_bound_spread_stretches_the_grid(core: ModuleType) -> None:
    # With w_max/w_min spread every element's nodes span its own [lo_e, hi_e] (centre 0): its
    # q+ at lo_e is the first node value and at its own midpoint the middle node value.
    spec = {**HAND_SPEC, "w_max_dtod": 0.3, "w_min_dtod": 0.3, "dw_min": 1e-6}
    tile = core.Tile(
        spec, {"kind": "pulse_count", "max_bl": 1, "rounding": "ceil"}, 4, 5, 1, [7, 8]
    )
    maps = tile.maps()
    lo, hi = np.asarray(maps["w_min"]), np.asarray(maps["w_max"])
    assert np.ptp(lo) > 0
    assert np.ptp(hi) > 0
    mid = 0.5 * (lo + hi)
    tile.set_weights(mid - np.asarray(maps["reference"]))
    tile.apply_pulses(np.ones(lo.shape, dtype=np.int64), 0)
    np.testing.assert_allclose(tile.physical_weights() - mid, 1e-6 * 1.0, rtol=1e-9)


# --------------------------------------------------------------------------- configs, presets


def test_config_round_trips_and_runs_in_an_experiment(tmp_path: Path) -> None:
    from pulsetrain.experiment import AlgorithmEntry, Experiment, load_experiment
    from pulsetrain.problems import LeastSquares

    device = pt.Device(response=Piecewise.example(), dw_min=0.01, subtract_symmetry_point=True)
    assert from_dict(loads_toml(dumps_toml(device))) == device
    assert from_dict(to_dict(device)) == device
    exp = Experiment(
        name="piecewise",
        problem=LeastSquares(in_size=3, out_size=2, n_samples=8, batch_size=4),
        algorithms=(AlgorithmEntry(label="Analog SGD", algorithm=AnalogSGD(device=device)),),
        steps=5,
        replicas=2,
        seed=1,
        n_threads=1,
    )
    for suffix, dump in ((".toml", dumps_toml), (".json", dumps_json)):
        path = tmp_path / f"exp{suffix}"
        path.write_text(dump(exp))
        assert load_experiment(path) == exp
        assert "piecewise_up" in path.read_text()


PIECEWISE_PRESETS = ["rram_om_piecewise", "rram_hfo2_piecewise", "rram_gong2018_piecewise"]


def test_preset_values_by_hand() -> None:
    om = presets.get("rram_om_piecewise")
    assert om.response == Piecewise(piecewise_up=(2.0, 0.0), piecewise_down=(0.0, 2.0))
    assert (om.dw_min, om.dw_min_std, om.dw_min_dtod, om.up_down_dtod) == (
        0.0949,
        0.4158,
        0.7829,
        0.01,
    )
    assert (om.w_max_dtod, om.w_min_dtod, om.reference_std) == (0.3499, 0.5695, 0.05)
    assert om.dw_min_dtod_log_normal
    assert om.subtract_symmetry_point
    hf = presets.get("rram_hfo2_piecewise")
    assert dataclasses.replace(hf, response=pt.SoftBounds()) == presets.rram_hfo2()
    # Two nodes reproduce soft bounds q+ = 1 − w, q− = 1 + w at the nominal bounds: SP 0.
    w = np.array([-1.0, -0.5, 0.0, 0.25, 1.0])
    for dev in (om, hf):
        assert_array_equal(dev.q_plus(w), [2.0, 1.5, 1.0, 0.75, 0.0])
        assert_array_equal(dev.q_minus(w), [0.0, 0.5, 1.0, 1.25, 2.0])
        assert dev.symmetric_point() == 0.0
    g = presets.get("rram_gong2018_piecewise")
    assert g.dw_min == 0.2 / 98
    nodes = np.linspace(-1.0, 1.0, 10)  # node k at −1 + 2k/9
    # Up steps at the nodes: 98/count of pulses the up trace spends in conductance bin k.
    assert g.q_plus(nodes[0]) == 9.8
    assert g.q_plus(nodes[5]) == 1.0
    assert g.q_plus(1.0) == 98 / 34
    assert g.q_minus(nodes[0]) == 98 / 97
    assert g.q_minus(1.0) == 98 / 5
    # Halfway between nodes 4 and 5 (w = −1 + 2·4.5/9 = 0): the mean of 98/151 and 98/98.
    assert float(g.q_plus(0.0)) == pytest.approx(0.5 * (98 / 151 + 1.0), rel=1e-15)


@pytest.mark.parametrize("name", PIECEWISE_PRESETS)
def test_piecewise_presets_train(name: str) -> None:
    from pulsetrain.problems import LeastSquares

    device = presets.get(name)
    res = pt.run(
        LeastSquares(in_size=4, out_size=3, n_samples=16, batch_size=4),
        AnalogSGD(device=device, lr=0.05),
        steps=40,
        rng=3,
        replicas=2,
        n_threads=1,
    )
    assert np.isfinite(res.loss).all()
    assert np.isfinite(res.weights).all()
    assert sum(float(v.sum()) for v in res.pulses.values()) > 0  # the device was pulsed
