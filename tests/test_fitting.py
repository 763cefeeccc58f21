"""``pulsetrain.fitting`` and ``pulsetrain fit``: traces, recovery, model choice, the CLI.

Synthetic traces come from pulsetrain itself (:func:`simulate_traces`: one tile row of 8
devices, the usual protocol of n up then n down pulses, fixed seeds), with cycle-to-cycle noise
and device-to-device spread of the step gain and of the up/down imbalance.

Tolerance of the recovery checks: |estimate - truth| < 4 standard errors. The estimates are
asymptotically normal; shared shape parameters have Jacobian SEs, and population means over
devices add the between-device spread over sqrt(8) (a t-like statistic with 7 degrees of
freedom, P(|t| > 4) ~ 0.5%). With about 30 checks in the normal suite, k = 4 gives a false
alarm at a new seed with probability ~10%; at the fixed seeds the checks are deterministic.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.cli import main
from pulsetrain.config import to_dict
from pulsetrain.devices import C2CMode
from pulsetrain.errors import ParameterError, ShapeError
from pulsetrain.experiment import default_experiment, experiment_from_dict
from pulsetrain.fitting import (
    FAMILIES,
    FitResult,
    Traces,
    fit,
    fit_all,
    format_table,
    load_device,
    load_traces,
    save_traces,
    simulate_traces,
)

pytest.importorskip("scipy")

K_SE = 4.0
N_DEV = 8


def _device(
    response: object, *, mode: C2CMode = C2CMode.ADDITIVE, sigma: float = 0.2, dtod: bool = True
) -> pt.Device:
    lo, hi = response.bounds()  # type: ignore[attr-defined]
    return pt.Device(
        response=response,  # type: ignore[arg-type]
        dw_min=(hi - lo) / 100,
        dw_min_std=sigma,
        c2c_mode=mode,
        dw_min_dtod=0.1 if dtod else 0.0,
        up_down_dtod=0.03 if dtod else 0.0,
    )


def _traces(device: pt.Device, seed: int = 0, n_devices: int = N_DEV) -> Traces:
    return simulate_traces(device, n_devices=n_devices, n_pulses=120, n_cycles=2, rng=seed)


def _z_scores(result: FitResult, response: object, device: pt.Device) -> dict[str, float]:
    z = {}
    for name, value in result.params.items():
        truth = device.dw_min if name == "dw_min" else getattr(response, name)
        z[name] = (value - truth) / result.se[name]
    z["dw_min_std"] = (result.dw_min_std - device.dw_min_std) / result.se["dw_min_std"]
    return z


# ------------------------------------------------------------------------------------ traces
def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    traces = simulate_traces(_device(pt.ALD(tau=1.0)), n_devices=3, n_pulses=10, n_cycles=1)
    path = save_traces(traces, tmp_path / "t.csv")
    back = load_traces(path)
    assert back.names == traces.names == ("d0", "d1", "d2")
    for a, b in zip(back.states, traces.states, strict=True):
        np.testing.assert_array_equal(a, b)
    for da, db in zip(back.directions, traces.directions, strict=True):
        np.testing.assert_array_equal(da, db)
    assert back.n_pulses == 3 * 20


def test_simulated_trace_follows_the_pulse_rule() -> None:
    # Without noise and spread one pulse moves w by dw_min q_s(w) (theory §1.1), exactly.
    dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=0.05)
    tr = simulate_traces(dev, n_devices=1, n_pulses=3, n_cycles=1)
    w = tr.states[0]
    assert w[0] == 0.0
    assert w[1] == pytest.approx(0.05)
    assert w[2] == pytest.approx(w[1] + 0.05 * (1 - w[1]))
    assert w[4] == pytest.approx(w[3] - 0.05 * (1 + w[3]))


def test_conductance_mapping_and_missing_initial_read(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("w,device,direction,pulse\n10,a,1,1\n20,a,1,2\n15,a,-1,3\n", encoding="utf-8")
    tr = load_traces(path, g_min=10.0, g_max=20.0)
    # No pulse-0 row: the first pulse's step is unknown; w = -1 + 2 (g - 10)/10.
    np.testing.assert_array_equal(tr.states[0], [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(tr.directions[0], [1, -1])


@pytest.mark.parametrize(
    ("text", "error", "name", "where"),
    [
        ("device,pulse,direction\na,0,0\n", ShapeError, "w", "header"),
        ("device,pulse,direction,w\na,0,0,0\na,1,2,0.1\n", ParameterError, "direction", "line 3"),
        ("device,pulse,direction,w\na,0,0,0\na,1,1,abc\n", ParameterError, "w", "line 3"),
        ("device,pulse,direction,w\na,0,0,0\na,1,1,nan\n", ParameterError, "w", "line 3"),
        ("device,pulse,direction,w\na,0,0,0\na,x,1,0.1\n", ParameterError, "pulse", "line 3"),
        ("device,pulse,direction,w\na,0,0,0\na,1,0,0.1\n", ParameterError, "direction", "line 3"),
        ("device,pulse,direction,w\na,0,0,0\na,1,1,0.1\na,3,1,0.2\n", ShapeError, "pulse", "'a'"),
        ("device,pulse,direction,w\na,0,0,0\na,1,1\n", ShapeError, "row", "line 3"),
        ("device,pulse,direction,w\n", ShapeError, "TRACES", "header"),
        ("", ShapeError, "TRACES", "empty"),
    ],
)
def test_bad_csv_names_column_and_row(
    tmp_path: Path, text: str, error: type[Exception], name: str, where: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(error, match=f"'{name}'") as info:
        load_traces(path)
    assert where in str(info.value)


def test_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="'TRACES'"):
        load_traces("/nonexistent/t.csv")
    with pytest.raises(ParameterError, match="'g_max'"):
        load_traces("x.csv", g_min=1.0)
    tr = simulate_traces(_device(pt.ALD(tau=1.0)), n_devices=1, n_pulses=5, n_cycles=1)
    with pytest.raises(ParameterError, match="'family'"):
        fit(tr, "cubic")
    with pytest.raises(ParameterError, match="'c2c_mode'"):
        fit(tr, "ald", c2c_mode="sometimes")
    with pytest.raises(ParameterError, match="'traces'"):
        fit([1, 2], "ald")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'n_nodes'"):
        fit(tr, "piecewise", n_nodes=1)
    with pytest.raises(ParameterError, match="'families'"):
        fit_all(tr, ["ald", "cubic"])
    with pytest.raises(ParameterError, match="'c2c_mode'"):
        fit_all(tr, ["ald"], c2c_mode="sometimes")


def test_family_that_cannot_take_the_state_range() -> None:
    # SoftBounds needs w_min < 0 < w_max: unmapped conductances all above 0 are refused by
    # name, and fit_all ranks the families that can describe them.
    tr = simulate_traces(_device(pt.ALD(tau=1.0)), n_devices=2, n_pulses=60, n_cycles=1)
    shifted = Traces(tr.names, tuple(w + 3.0 for w in tr.states), tr.directions)
    with pytest.raises(ParameterError, match=r"'family'.*g_min/g_max"):
        fit(shifted, "soft_bounds", c2c_mode="additive", bound_spread=False)
    ranked = fit_all(shifted, ["soft_bounds", "ald"], c2c_mode="additive", bound_spread=False)
    assert [r.family for r in ranked] == ["ald"]
    assert ranked[0].params["sp"] == pytest.approx(3.0, abs=0.1)


# ------------------------------------------------------------------------------------ recovery
FAST_CASES = [
    (pt.ALD(tau=0.8, sp=0.1), C2CMode.MULTIPLICATIVE),
    pytest.param(pt.SoftBounds.example(), C2CMode.ADDITIVE, marks=pytest.mark.slow),
    pytest.param(pt.Power(tau=0.8, gamma_res=2.0), C2CMode.MULTIPLICATIVE, marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("response", "mode"), FAST_CASES, ids=lambda x: type(x).__name__)
def test_fit_recovers_parameters_within_k_se(response: object, mode: C2CMode) -> None:
    dev = _device(response, mode=mode)
    result = fit(_traces(dev), type(response).kind, c2c_mode=mode, bound_spread=False)  # type: ignore[attr-defined]
    z = _z_scores(result, response, dev)
    assert all(abs(v) < K_SE for v in z.values()), z
    # The spreads: 8 devices estimate a standard deviation to ~25% (chi with 7 dof); the gain
    # spread 0.1 must come out in [0.05, 0.15] and the imbalance spread 0.03 below 0.06.
    assert 0.05 < result.dtod["dw_min_dtod"] < 0.15
    assert result.dtod["up_down_dtod"] < 0.06
    assert result.device().response == type(response)(
        **{k: v for k, v in result.params.items() if k != "dw_min"}
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", [k for k in FAMILIES if k != "piecewise"])
def test_every_family_recovers_parameters_within_k_se(kind: str) -> None:
    response = pt.devices.RESPONSE_FAMILIES[kind].example()
    modes = (C2CMode.ADDITIVE, C2CMode.MULTIPLICATIVE)
    mode = modes[FAMILIES.index(kind) % 2]
    dev = _device(response, mode=mode)
    result = fit(_traces(dev), kind, c2c_mode=mode, bound_spread=False)
    z = _z_scores(result, response, dev)
    if kind == "ideal":  # its bounds are the extremes seen (no SE): the upper one is reached
        assert result.params["w_max"] == response.bounds()[1]
        z = {k: v for k, v in z.items() if k not in ("w_min", "w_max")}
    assert all(abs(v) < K_SE for v in z.values()), z


@pytest.mark.slow
def test_coverage_over_seeds() -> None:
    # Over 6 seeds x 4 quantities (24 z-scores), a calibrated SE gives |z| < 2 in ~95%; the
    # check asks for at least 75% (18 of 24; binomial P(<18 | 0.95) < 1e-3) and none >= 4.
    response = pt.ALD(tau=0.8, sp=0.1)
    dev = _device(response)
    zs = []
    for seed in range(6):
        result = fit(_traces(dev, seed), "ald", c2c_mode="additive", bound_spread=False)
        zs += list(_z_scores(result, response, dev).values())
    zs_arr = np.abs(np.array(zs))
    assert np.mean(zs_arr < 2) >= 0.75, zs
    assert zs_arr.max() < K_SE, zs


def test_noise_model_is_chosen_by_likelihood() -> None:
    response = pt.ALD(tau=0.8)
    for mode in (C2CMode.ADDITIVE, C2CMode.MULTIPLICATIVE):
        dev = _device(response, mode=mode, sigma=0.3)
        assert fit(_traces(dev, seed=3), "ald", bound_spread=False).c2c_mode is mode


@pytest.mark.slow
def test_bound_spread_is_estimated() -> None:
    response = pt.SoftBounds(w_max=1.0, w_min=-1.0)
    dev = pt.Device(
        response=response, dw_min=0.02, dw_min_std=0.1, w_max_dtod=0.15, w_min_dtod=0.15
    )
    result = fit(_traces(dev, seed=1), "soft_bounds", c2c_mode="additive")
    assert result.bound_spread
    # Each bound's relative spread 0.15 from 8 devices: within a factor ~2.
    assert 0.07 < result.dtod["w_max_dtod"] < 0.3
    assert 0.07 < result.dtod["w_min_dtod"] < 0.3


# ------------------------------------------------------------------------------------ selection
@pytest.mark.parametrize(
    ("response", "families"),
    [
        # Power with large tau and gamma tends to the exponential shape, so each curved
        # family is checked against the linear ones and the other non-nested curved family.
        pytest.param(
            pt.Power(tau=0.8, gamma_res=3.0), ("ald", "power", "exp_step"), marks=pytest.mark.slow
        ),
        pytest.param(
            pt.Exponential(tau=0.8, gamma_res=3.0),
            ("ald", "exponential", "power_step"),
            marks=pytest.mark.slow,
        ),
        (pt.ALD(tau=0.8, sp=0.1), ("ald", "power", "ideal")),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, tuple) else "",
)
def test_model_selection_picks_the_generating_family(
    response: object, families: tuple[str, ...]
) -> None:
    dev = _device(response)
    ranked = fit_all(_traces(dev), families, c2c_mode="additive", bound_spread=False)
    assert ranked[0].family == type(response).kind  # type: ignore[attr-defined]
    assert ranked[1].aic - ranked[0].aic > 10  # a clear case
    table = format_table(ranked)
    assert table.splitlines()[1].startswith(type(response).kind)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_fit_all_ranks_every_family() -> None:
    # Per device ALD, LinearStep and SoftBounds are the same curves (free bounds and steps),
    # so any of them may rank first on ALD traces; the curved families must not.
    dev = _device(pt.ALD(tau=0.8, sp=0.1))
    ranked = fit_all(_traces(dev), c2c_mode="additive")
    assert {r.family for r in ranked} == set(FAMILIES)
    assert ranked[0].family in ("ald", "linear_step", "soft_bounds")
    assert ranked[-1].family == "ideal"


# ------------------------------------------------------------------------------------ simulation
def _binned(traces: Traces, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per direction and state bin: mean step over devices, its SE, and the pooled step sd."""
    n_bins = edges.size - 1
    means = np.full((2, n_bins), np.nan)
    ses = np.full((2, n_bins), np.nan)
    sds = np.full((2, n_bins), np.nan)
    for k, s in enumerate((1, -1)):
        for b in range(n_bins):
            per_dev, pooled = [], []
            for w, d in zip(traces.states, traces.directions, strict=True):
                sel = (d == s) & (w[:-1] >= edges[b]) & (w[:-1] < edges[b + 1])
                steps = np.diff(w)[sel]
                if steps.size >= 5:
                    per_dev.append(steps.mean())
                    pooled.append(steps - steps.mean())
            if len(per_dev) >= 4:
                means[k, b] = np.mean(per_dev)
                ses[k, b] = np.std(per_dev, ddof=1) / math.sqrt(len(per_dev))
                sds[k, b] = np.concatenate(pooled).std()
    return means, ses, sds


def test_fitted_device_reproduces_the_trace_statistics() -> None:
    response = pt.SoftBounds.example()
    data = _traces(_device(response))
    result = fit(data, "soft_bounds", c2c_mode="additive", bound_spread=False)
    sim = simulate_traces(result.device(), n_devices=N_DEV, n_pulses=120, n_cycles=2, rng=99)
    edges = np.linspace(-0.3, 1.2, 7)
    m1, se1, sd1 = _binned(data, edges)
    m2, se2, sd2 = _binned(sim, edges)
    ok = np.isfinite(m1) & np.isfinite(m2)
    assert ok.sum() >= 8
    # Mean step per bin: the two means are independent, each with its between-device SE.
    z_mean = (m1 - m2)[ok] / np.sqrt(se1**2 + se2**2)[ok]
    assert np.all(np.abs(z_mean) < K_SE), z_mean
    # Step sd per bin (cycle noise): the sd of ~100+ steps has a relative SE below
    # 1/sqrt(2 * 100) ~ 7%; allow 4 of those for each of the two, i.e. a ratio within 40%.
    ratio = (sd2 / sd1)[ok]
    assert np.all(np.abs(ratio - 1) < 0.4), ratio


def test_piecewise_fit_recovers_a_linear_response() -> None:
    # SoftBounds' q± are linear, so linear interpolation between nodes is exact: the
    # absolute node steps dw_min*q_k match dw_min_true*q(node) within k SE.
    response = pt.SoftBounds.example()
    dev = _device(response, dtod=False)
    result = fit(_traces(dev), "piecewise", n_nodes=5, c2c_mode="additive")
    assert result.family == "piecewise"
    pw = result.response
    nodes = np.linspace(pw.w_min, pw.w_max, 5)
    dw = result.params["dw_min"]
    for tag, q in (("up", response.q_plus(nodes)), ("down", response.q_minus(nodes))):
        fitted = np.array([result.params[f"{tag}[{k}]"] for k in range(5)]) * dw
        se = np.array([result.se[f"{tag}[{k}]"] for k in range(5)]) * dw
        z = (fitted - dev.dw_min * q) / se
        assert np.all(np.abs(z) < K_SE), (tag, z)
    # The fitted Piecewise device runs (Rust, or the twin for an older core).
    tr = simulate_traces(result.device(), n_devices=2, n_pulses=20, n_cycles=1)
    assert np.all(np.isfinite(tr.states[0]))


# ------------------------------------------------------------------------------------ output
def test_saved_device_loads_and_fits_in_a_run_config(tmp_path: Path) -> None:
    dev = _device(pt.ALD(tau=0.8, sp=0.1))
    result = fit(_traces(dev, n_devices=3), "ald", c2c_mode="additive", bound_spread=False)
    for suffix in (".toml", ".json"):
        path = result.save(tmp_path / f"dev{suffix}")
        assert load_device(path) == result.device()
    with pytest.raises(ParameterError, match="'path'"):
        result.save(tmp_path / "dev.yaml")
    data = to_dict(default_experiment())
    k = next(i for i, e in enumerate(data["algorithms"]) if "device" in e["algorithm"])
    data["algorithms"][k]["algorithm"]["device"] = to_dict(load_device(tmp_path / "dev.toml"))
    exp = experiment_from_dict(data)
    assert exp.algorithms[k].algorithm.device == result.device()  # type: ignore[attr-defined]


def _small_csv(tmp_path: Path) -> Path:
    dev = _device(pt.ALD(tau=0.8, sp=0.1))
    tr = simulate_traces(dev, n_devices=3, n_pulses=80, n_cycles=1)
    return save_traces(tr, tmp_path / "traces.csv")


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    csv_path = _small_csv(tmp_path)
    out, fig = tmp_path / "o" / "dev.toml", tmp_path / "o" / "fit.png"
    code = main(["fit", str(csv_path), "--family", "ald", "--out", str(out), "--figure", str(fig)])
    text = capsys.readouterr().out
    assert code == 0
    assert text.splitlines()[1].startswith("ald ")
    assert 'kind = "device"' in text
    assert load_device(out).response.kind == "ald"
    assert fig.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--family", "cubic"], 2, "'--family'"),
        (["--out", "dev.yaml"], 2, "'--out'"),
        (["--figure", "fig.gif"], 2, "'--figure'"),
        (["--g-min", "1"], 2, "'g_max'"),
    ],
)
def test_cli_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    csv_path = _small_csv(tmp_path)
    assert main(["fit", str(csv_path), *args]) == code
    assert message in capsys.readouterr().err


def test_cli_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(tmp_path / "missing.csv")]) == 2
    assert "'TRACES'" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("device,pulse,direction,w\na,0,0,0\na,1,3,0.1\n", encoding="utf-8")
    assert main(["fit", str(bad), "--family", "ald"]) == 2
    assert "'direction'" in capsys.readouterr().err


# -- standard errors of the device-to-device spreads -------------------------------------------

_SPREAD_DEV = pt.Device(
    response=pt.SoftBounds(), dw_min=0.02, dw_min_std=0.2, dw_min_dtod=0.1, up_down_dtod=0.03
)


def test_resolved_spreads_have_delta_method_standard_errors() -> None:
    r = fit(
        simulate_traces(_SPREAD_DEV, n_devices=20, n_pulses=120, n_cycles=2, rng=0),
        "soft_bounds",
        c2c_mode="additive",
        bound_spread=False,
    )
    for name in ("dw_min_dtod", "up_down_dtod"):
        value, se = r.dtod[name], r.se[name]
        assert value > 0
        # Delta method: SE ≈ s²·sqrt(2/(n − 1))/(2·spread) ≥ spread/sqrt(2(n − 1)).
        assert value / math.sqrt(2 * 19) <= se < value
    rows = {name: (v, s) for name, v, s in r.estimates()}
    assert rows["dw_min_dtod"] == (r.dtod["dw_min_dtod"], r.se["dw_min_dtod"])


def test_an_unresolved_spread_has_no_standard_error() -> None:
    # No spread in truth: the moment estimate is clamped at 0 for at least one of them here,
    # and a clamped spread has no delta-method SE (NaN), rather than a misleading number.
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.02, dw_min_std=0.2)
    r = fit(
        simulate_traces(dev, n_devices=8, n_pulses=120, n_cycles=2, rng=1),
        "soft_bounds",
        c2c_mode="additive",
        bound_spread=False,
    )
    zero = [n for n in ("dw_min_dtod", "up_down_dtod") if r.dtod[n] == 0.0]
    assert zero
    assert all(math.isnan(r.se[n]) for n in zero)


@pytest.mark.slow  # twelve fits of 20 devices: about 12 s
def test_spread_standard_errors_cover_the_truth() -> None:
    # 12 seeds x 2 spreads = 24 intervals of ±1.96 SE. With correct SEs each covers the true
    # spread with probability 0.95; P(at most 19 of 24 | p = 0.95) = 0.006 (binomial), so
    # requiring 20 fails about once in 170 runs of correct code, and SEs half their right
    # size would cover only ~68% (16 of 24 expected). Seeds 0-9 covered 19 of 20.
    covered = 0
    for seed in range(12):
        r = fit(
            simulate_traces(_SPREAD_DEV, n_devices=20, n_pulses=120, n_cycles=2, rng=seed),
            "soft_bounds",
            c2c_mode="additive",
            bound_spread=False,
        )
        for name, truth in (("dw_min_dtod", 0.1), ("up_down_dtod", 0.03)):
            covered += abs(r.dtod[name] - truth) < 1.96 * r.se[name]
    assert covered >= 20


@pytest.mark.slow  # six fits of 20 devices with bound spread: about 6 s
def test_spread_standard_errors_cover_the_truth_with_bound_spread() -> None:
    # The four spreads, bounds included (each device its own w_min, w_max). 6 seeds x 4 = 24
    # intervals of ±1.96 SE; with correct SEs P(at most 19 covered) = 0.006 (binomial, p 0.95),
    # so at least 20 are required. Seeds 0-7 (explored before this test) covered 31 of 32; the
    # test uses seeds 20-25, not looked at before the threshold was fixed.
    dev = pt.Device(
        response=pt.SoftBounds(),
        dw_min=0.02,
        dw_min_std=0.2,
        dw_min_dtod=0.1,
        up_down_dtod=0.03,
        w_max_dtod=0.1,
        w_min_dtod=0.1,
    )
    truths = {"dw_min_dtod": 0.1, "up_down_dtod": 0.03, "w_max_dtod": 0.1, "w_min_dtod": 0.1}
    covered = 0
    for seed in range(20, 26):
        r = fit(
            simulate_traces(dev, n_devices=20, n_pulses=120, n_cycles=2, rng=seed),
            "soft_bounds",
            c2c_mode="additive",
            bound_spread=True,
        )
        for name, truth in truths.items():
            covered += abs(r.dtod[name] - truth) < 1.96 * r.se[name]
    assert covered >= 20
