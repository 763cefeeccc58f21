"""Mixed precision (aihwkit ``MixedPrecisionCompound``; shared/theory.md §3.14)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from pulsetrain.algorithms import MixedPrecision
from pulsetrain.algorithms.mixed_precision import quantize_abs_max
from pulsetrain.layers import AnalogLinear
from pulsetrain.problems import Classifier, LeastSquares, TeacherStudent

SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
IDEAL = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=0.1)
PROBLEM = LeastSquares(in_size=6, out_size=2, n_samples=12, batch_size=4, noise_std=0.01)


def _state(algo: MixedPrecision, out: int, n_in: int, replicas: int = 1) -> Any:
    inst = LeastSquares(in_size=n_in, out_size=out).setup(replicas, np.random.SeedSequence(0))
    return algo.start(inst, np.random.SeedSequence(0))


# ----------------------------------------------------------------------------- exact trajectory
@pytest.mark.parametrize("write", ["pulses", "outer"])
def test_hand_computed_trajectory_on_an_ideal_device(write: str) -> None:
    # ε = Δw_min = 0.1, lr = 1, transfer every 2 steps, x = (1, 2), d as listed.
    algo = MixedPrecision(
        device=IDEAL, lr=1.0, transfer_every=2, write=write, update=pt.ExpectedUpdate()
    )
    st = _state(algo, out=1, n_in=2)
    x = np.array([[[1.0, 2.0]]])
    # k=0: d = 0.03 → χ = (−0.03, −0.06); no event.
    # k=1: d = 0.03 → χ = (−0.06, −0.12); n = trunc(χ/0.1) = (0, −1);
    #      χ = (−0.06, −0.02); W = (0, −0.1).
    # k=2: d = 0.05 → χ = (−0.11, −0.12); no event.
    # k=3: d = −0.2 → χ = (0.09, 0.28); n = (0, 2); χ = (0.09, 0.08); W = (0, 0.1).
    steps = [
        (0.03, (-0.03, -0.06), (0.0, 0.0), 0),
        (0.03, (-0.06, -0.02), (0.0, -0.1), 1),
        (0.05, (-0.11, -0.12), (0.0, -0.1), 1),
        (-0.2, (0.09, 0.08), (0.0, 0.1), 3),
    ]
    for k, (d, chi, w, pulses) in enumerate(steps):
        st.step(k, x, np.full((1, 1, 1), d))
        arrays = st.arrays()
        np.testing.assert_allclose(arrays["chi"].ravel(), chi, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(arrays["W"].ravel(), w, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(st.gradient_point(), arrays["W"])
        totals = st.pulse_totals()
        assert totals["transfer"].tolist() == [pulses]
        assert totals["update"].tolist() == [0]


def test_granularity_sets_the_pulse_weight() -> None:
    # ε = 0.25 on a device with Δw_min 0.1: n = trunc(χ/0.25), each pulse still moves W by 0.1.
    algo = MixedPrecision(device=IDEAL, lr=1.0, granularity=0.25, update=pt.ExpectedUpdate())
    assert algo.epsilon == 0.25
    st = _state(algo, out=1, n_in=1)
    st.step(0, np.ones((1, 1, 1)), np.full((1, 1, 1), -0.6))  # χ = 0.6 → n = 2, χ = 0.1
    assert st.arrays()["chi"].item() == pytest.approx(0.1, rel=1e-12)
    assert st.arrays()["W"].item() == pytest.approx(0.2, rel=1e-12)


# ----------------------------------------------------------------------------- quantisation
def test_quantisation_levels() -> None:
    v = np.array([[1.0, 0.3, -0.55, 0.0, 0.1]])
    # 8 bins: h = 4 levels of width max|v|/4 = 0.25 per side, round half to even.
    np.testing.assert_array_equal(quantize_abs_max(v, 8, None), [[1.0, 0.25, -0.5, 0.0, 0.0]])
    np.testing.assert_array_equal(
        quantize_abs_max(v, 4, None), [[1.0, 0.5, -0.5, 0.0, 0.0]]
    )  # h = 2, width 0.5 (0.55/0.5 = 1.1 → 1)
    u = np.array([[0.99, 0.79, 0.21, 0.5, 0.5]])
    # floor(v/0.25 + u): (4.99, 1.99, −1.99, 0.5, 0.9) → (4, 1, −2, 0, 0).
    np.testing.assert_array_equal(quantize_abs_max(v, 8, u), [[1.0, 0.25, -0.5, 0.0, 0.0]])
    u = np.array([[0.0, 0.8, 0.2, 0.99, 0.6]])
    # (4.0, 2.0, −2.0, 0.99, 1.0) → (4, 2, −2, 0, 1).
    np.testing.assert_array_equal(quantize_abs_max(v, 8, u), [[1.0, 0.5, -0.5, 0.0, 0.25]])
    np.testing.assert_array_equal(quantize_abs_max(np.zeros((1, 3)), 8, None), np.zeros((1, 3)))


def test_stochastic_rounding_is_unbiased() -> None:
    # One output with d = 1: its abs-max quantisation is exact, so χ = −lr·x_q after one step.
    # Per element, x_q takes the two levels around x (width w = 0.25) with P(upper) = p =
    # frac(x/w): mean x and variance w²p(1 − p). With M replicas the mean over replicas has
    # SE √(w²p(1 − p)/M); the check allows 4 SE.
    m, w = 4000, 0.25
    x = np.array([1.0, 0.3, -0.55, 0.0, 0.1])
    algo = MixedPrecision(
        device=IDEAL,
        lr=1.0,
        transfer_every=1000,
        n_x_bins=8,
        n_d_bins=8,
        update=pt.ExpectedUpdate(),
    )
    st = _state(algo, out=1, n_in=5, replicas=m)
    st.step(0, np.broadcast_to(x, (m, 1, 5)).copy(), np.ones((m, 1, 1)))
    xq = -st.arrays()["chi"][:, 0, :]
    lower = np.floor(x / w) * w
    assert np.all(np.isclose(xq, lower) | np.isclose(xq, lower + w))
    p = x / w - np.floor(x / w)
    se = np.sqrt(w**2 * p * (1 - p) / m)
    assert np.all(np.abs(xq.mean(axis=0) - x) <= 4 * se + 1e-15), (xq.mean(axis=0), x, se)
    assert 0 < np.mean(np.isclose(xq[:, 1], 0.5)) < 1  # both levels occur
    # Deterministic rounding: every replica the same, to nearest.
    det = dataclasses.replace(algo, stoc_round_x=False, stoc_round_d=False)
    st = _state(det, out=1, n_in=5, replicas=3)
    st.step(0, np.broadcast_to(x, (3, 1, 5)).copy(), np.ones((3, 1, 1)))
    np.testing.assert_array_equal(
        -st.arrays()["chi"][:, 0, :], np.tile([1.0, 0.25, -0.5, 0, 0], (3, 1))
    )


# ----------------------------------------------------------------------------- rows
def test_rows_cycle() -> None:
    # χ grows by 0.5 per step everywhere, so every selected element fires at each event.
    algo = MixedPrecision(device=IDEAL, lr=1.0, rows_per_transfer=2, update=pt.ExpectedUpdate())
    st = _state(algo, out=5, n_in=1)
    x, d = np.ones((1, 1, 1)), np.full((1, 1, 5), -0.5)
    for k in range(7):
        before = st.arrays()["W"]
        st.step(k, x, d)
        rows = sorted(int(i) for i in np.flatnonzero(st.arrays()["W"][0, :, 0] != before[0, :, 0]))
        assert rows == sorted({(2 * k) % 5, (2 * k + 1) % 5}), k
    # Pulse accounting: each event fires trunc(χ/0.1) on its rows, and χ keeps the remainder.
    chi = st.arrays()["chi"][0, :, 0]
    w = st.arrays()["W"][0, :, 0]
    np.testing.assert_allclose(w + chi, 7 * 0.5, rtol=1e-12)
    assert st.pulse_totals()["transfer"].item() == pytest.approx(np.sum(w) / 0.1, rel=1e-12)


def test_random_rows_are_consecutive_and_differ_per_replica() -> None:
    algo = MixedPrecision(
        device=IDEAL, lr=1.0, rows_per_transfer=2, random_row=True, update=pt.ExpectedUpdate()
    )
    st = _state(algo, out=5, n_in=1, replicas=40)
    st.step(0, np.ones((40, 1, 1)), np.full((40, 1, 5), -0.5))
    fired = st.arrays()["W"][:, :, 0] != 0.0
    starts = []
    for r in range(40):
        rows = set(np.flatnonzero(fired[r]).tolist())
        start = next(i for i in range(5) if rows == {i, (i + 1) % 5})
        starts.append(start)
    assert len(set(starts)) > 1


# ----------------------------------------------------------------------------- run contract
ALGOS = [
    MixedPrecision(device=SKEW, lr=0.1, update=pt.StochasticPulseUpdate()),
    MixedPrecision(
        device=SKEW,
        lr=0.1,
        n_x_bins=16,
        n_d_bins=8,
        rows_per_transfer=1,
        random_row=True,
        transfer_every=2,
        update=pt.PulseCountUpdate(),
    ),
    MixedPrecision(
        device=SKEW,
        lr=0.1,
        write="outer",
        lr_transfer=0.5,
        n_x_bins=8,
        n_d_bins=8,
        stoc_round_d=False,
        update=pt.StochasticPulseUpdate(update_management=False, update_bl_management=False),
    ),
]


@pytest.mark.parametrize("algo", ALGOS, ids=["plain", "quantised", "outer"])
def test_run_is_deterministic_across_threads_and_replica_offsets(algo: MixedPrecision) -> None:
    kw: dict[str, Any] = {"steps": 30, "rng": 5, "progress": False, "record_every": 10}
    a = pt.run(PROBLEM, algo, replicas=3, n_threads=1, **kw)
    b = pt.run(PROBLEM, algo, replicas=3, n_threads=2, **kw)
    assert a.equals(b)
    alone = pt.run(PROBLEM, algo, replicas=1, replica_offset=2, **kw)
    np.testing.assert_array_equal(alone.weights[0], a.weights[2])
    np.testing.assert_array_equal(alone.arrays["chi"][0], a.arrays["chi"][2])
    assert set(a.arrays) == {"W", "chi"}
    assert a.total_pulses["update"].sum() == 0
    assert a.total_pulses["transfer"].min() > 0
    assert a.sp_error is None


@pytest.mark.parametrize("algo", ALGOS, ids=["plain", "quantised", "outer"])
def test_whole_run_on_the_numpy_twin_matches_rust(algo: MixedPrecision) -> None:
    kw: dict[str, Any] = {"steps": 8, "rng": 9, "replicas": 2, "progress": False}
    fast = pt.run(PROBLEM, algo, **kw)
    slow = pt.run(PROBLEM, algo, backend="twin", **kw)
    for phase in fast.pulses:
        np.testing.assert_array_equal(fast.pulses[phase], slow.pulses[phase])
    np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast.arrays["chi"], slow.arrays["chi"], rtol=1e-12, atol=1e-15)


def test_outer_write_forces_update_management_on() -> None:
    st = _state(ALGOS[2], out=2, n_in=3)
    mode = st.tiles["W"].update_mode
    assert mode.update_management
    assert mode.update_bl_management


def test_outer_write_equals_pulses_in_the_expected_mode_on_an_ideal_device() -> None:
    kw: dict[str, Any] = {"steps": 25, "rng": 2, "replicas": 2, "progress": False}
    base: dict[str, Any] = {
        "device": IDEAL,
        "lr": 0.5,
        "update": pt.ExpectedUpdate(),
        "transfer_every": 3,
    }
    a = pt.run(PROBLEM, MixedPrecision(write="pulses", **base), **kw)
    b = pt.run(PROBLEM, MixedPrecision(write="outer", **base), **kw)
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.arrays["chi"], b.arrays["chi"], rtol=1e-12, atol=1e-14)
    assert a.total_pulses["transfer"].min() > 0


@pytest.mark.parametrize("algo", [*ALGOS, MixedPrecision.example()])
def test_config_round_trips(algo: MixedPrecision) -> None:
    assert pt.config.from_dict(pt.config.to_dict(algo)) == algo
    assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(algo))) == algo
    assert pt.config.from_dict(pt.config.loads_json(pt.config.dumps_json(algo))) == algo


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_x_bins": 0, "n_d_bins": 8}, "n_x_bins"),
        ({"n_x_bins": 8, "n_d_bins": 0}, "n_d_bins"),
        ({"n_x_bins": 1, "n_d_bins": 8}, "n_x_bins"),
        ({"n_d_bins": 1}, "n_d_bins"),
        ({"lr_transfer": 0.5}, "lr_transfer"),
        ({"write": "exact"}, "write"),
        ({"rows_per_transfer": -1}, "rows_per_transfer"),
        ({"granularity": -0.1}, "granularity"),
        ({"transfer_every": 0}, "transfer_every"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pt.ParameterError, match=f"'{name}' parameter of MixedPrecision"):
        dataclasses.replace(MixedPrecision.example(), **kwargs)


def test_layers_and_a_classifier_run() -> None:
    algo = MixedPrecision(device=SKEW, lr=0.1, n_x_bins=16, n_d_bins=16)
    layer = AnalogLinear(4, 3, algo, replicas=2, rng=0)
    assert set(layer.tiles) == {"W"}
    assert layer.forward(np.random.default_rng(0).normal(size=(2, 5, 4))).shape == (2, 5, 3)
    prob = Classifier(
        dataset=TeacherStudent(n_train=100, n_test=40, in_size=8), hidden=(6,), batch_size=5
    )
    res = pt.run(prob, algo, steps=40, replicas=2, rng=0, progress=False)
    assert np.isfinite(res.loss).all()
    assert res.total_pulses["transfer"].min() > 0
    assert math.isfinite(float(res.loss[:, -1].mean()))
