"""Multi-tile residual learning (P4): shared/theory.md §3.13, C24 and C26, and the run contract."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from pulsetrain.algorithms import MultiTile, ResidualLearning
from pulsetrain.algorithms.multi_tile import aihwkit_vectors, from_aihwkit, loss_plateau
from pulsetrain.layers import AnalogLinear
from pulsetrain.periphery import transfer_io
from pulsetrain.problems import Classifier, LeastSquares, Quadratic, TeacherStudent

SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
IDEAL = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=1e-3)
PROBLEM = LeastSquares(in_size=6, out_size=2, n_samples=12, batch_size=4, noise_std=0.01)


def _state(algo: MultiTile, out: int = 1, n_in: int = 1, replicas: int = 1) -> Any:
    inst = LeastSquares(in_size=n_in, out_size=out).setup(replicas, np.random.SeedSequence(0))
    return algo.start(inst, np.random.SeedSequence(0))


# ----------------------------------------------------------------------------- N = 1 is RL
@pytest.mark.parametrize(
    "extra",
    [
        {"update": pt.ExpectedUpdate(noise=True), "read_noise_std": 0.01},
        {"update": pt.StochasticPulseUpdate(), "columns_per_transfer": 2, "transfer_every": 3},
        {
            "update": pt.PulseCountUpdate(),
            "transfer_io": transfer_io(),
            "transfer_update": pt.StochasticPulseUpdate(desired_bl=5),
        },
    ],
    ids=["expected", "stochastic", "transfer_io"],
)
def test_two_tiles_are_residual_learning_bit_for_bit(extra: dict[str, Any]) -> None:
    kw: dict[str, Any] = {"device": SKEW, "lr": 0.05, "lr_transfer": 0.02, "gamma_mix": 0.3}
    kw.update(extra)
    run: dict[str, Any] = {"steps": 40, "replicas": 3, "rng": 1, "progress": False}
    rl = pt.run(PROBLEM, ResidualLearning(**kw), **run)
    mt = pt.run(PROBLEM, MultiTile(n_tiles=2, **kw), **run)
    np.testing.assert_array_equal(rl.weights, mt.weights)
    np.testing.assert_array_equal(rl.loss, mt.loss)
    np.testing.assert_array_equal(rl.arrays["W"], mt.arrays["W"])
    np.testing.assert_array_equal(rl.arrays["P"], mt.arrays["W1"])
    for phase in rl.pulses:
        np.testing.assert_array_equal(rl.pulses[phase], mt.pulses[phase])
    assert rl.sp_error is not None
    assert mt.sp_error is not None
    np.testing.assert_array_equal(rl.sp_error, mt.sp_error)


# ----------------------------------------------------------------------------- exact trajectory
def test_three_tiles_follow_the_hand_computed_trajectory() -> None:
    # Ideal device, expected mode: every AU is exact. γ = 0.5, lr = 0.1, lr_transfer = (0.2, 0.3),
    # periods (2, 1); f = ½(W̄ − 0.5)², so g = W̄ − 0.5 with x = 1, d = g.
    algo = MultiTile(
        device=IDEAL,
        n_tiles=3,
        gamma_mix=0.5,
        lr=0.1,
        lr_transfer=(0.2, 0.3),
        transfer_every=(2, 1),
        update=pt.ExpectedUpdate(),
    )
    st = _state(algo)
    for name, v in (("W", 0.4), ("W1", 0.2), ("W2", -0.1)):
        st.tiles[name].set_weights(np.full((1, 1, 1), v))
    # By hand (W0, W1, W2 after each step; W̄ before it):
    # k=0: W̄ = 0.4 + 0.1 − 0.025 = 0.475, g = −0.025; W2 = −0.0975; W1 = 0.2 − 0.3·0.0975.
    # k=1: W̄ = 0.4 + 0.085375 − 0.024375 = 0.461, g = −0.039; W2 = −0.0936;
    #      W1 = 0.17075 − 0.02808 = 0.14267; W0 = 0.4 + 0.2·0.14267 = 0.428534 (period 2).
    # k=2: W̄ = 0.428534 + 0.071335 − 0.0234 = 0.476469, g = −0.023531; W2 = −0.0912469;
    #      W1 = 0.14267 − 0.3·0.0912469 = 0.11529593; W0 unchanged.
    expected = [
        (0.475, (0.4, 0.17075, -0.0975)),
        (0.461, (0.428534, 0.14267, -0.0936)),
        (0.476469, (0.428534, 0.11529593, -0.0912469)),
    ]
    for k, (wbar, tiles) in enumerate(expected):
        point = st.gradient_point()
        assert point.item() == pytest.approx(wbar, rel=1e-12)
        st.step(k, np.ones((1, 1, 1)), point - 0.5)
        got = [st.arrays()[n].item() for n in ("W", "W1", "W2")]
        assert got == pytest.approx(list(tiles), rel=1e-12)
    assert st.tiles["W"].pulse_counts("update").sum() == 0  # W⁽⁰⁾ only ever gets transfers


# ----------------------------------------------------------------------------- C26
def test_c26_events_and_cyclic_pointers_follow_the_periods() -> None:
    # Sources all positive and growing: a tile changes exactly at its events, in the columns
    # its pointer selects. Periods (5, 3, 2), 2 of 5 columns per event.
    periods, cpt, n_in, t_end = (5, 3, 2), 2, 5, 37
    algo = MultiTile(
        device=IDEAL,
        n_tiles=4,
        lr=0.0,
        lr_transfer=0.1,
        transfer_every=periods,
        columns_per_transfer=cpt,
        update=pt.ExpectedUpdate(),
    )
    st = _state(algo, out=2, n_in=n_in)
    for name in ("W1", "W2", "W3"):
        st.tiles[name].set_weights(np.ones((1, 2, n_in)))
    names = ("W", "W1", "W2")
    events = [0, 0, 0]
    zero_x, zero_d = np.zeros((1, 1, n_in)), np.zeros((1, 1, 2))
    for k in range(t_end):
        before = {n: st.arrays()[n] for n in names}
        st.step(k, zero_x, zero_d)
        for n, name in enumerate(names):
            changed = sorted(
                int(j) for j in np.flatnonzero((st.arrays()[name] != before[name]).any(axis=1))
            )
            if (k + 1) % periods[n] == 0:
                start = (events[n] * cpt) % n_in
                assert changed == sorted((start + j) % n_in for j in range(cpt)), (k, n)
                events[n] += 1
            else:
                assert changed == [], (k, n)
    # theory.md C26: floor(t/period_n) events; pointer = (events·columns_per_transfer) mod n_in.
    assert events == [t_end // p for p in periods]
    assert st.events == events
    assert st.pointers == [(e * cpt) % n_in for e in events]


def test_c26_gamma_vec_reproduces_the_composite_weight() -> None:
    algo = from_aihwkit(
        SKEW,
        gamma_vec=[0.1**3, 0.1**2, 0.1, 1.0],
        transfer_every_vec=[2, 4, 8, 16],
        transfer_lr_vec=[0.01 * 1.2**3, 0.01 * 1.2**2, 0.01 * 1.2, 0.01],
        update=pt.ExpectedUpdate(),
    )
    # Index i = N − n; the vectors are by source device, so tile n's period is vec[N − n − 1].
    assert algo.n_tiles == 4
    assert algo.gamma_mix == 0.1
    assert algo.transfer_every == (8, 4, 2)
    assert algo.lr_transfer == pytest.approx((0.01 * 1.2, 0.01 * 1.2**2, 0.01 * 1.2**3))
    vecs = aihwkit_vectors(algo)
    assert vecs["transfer_every_vec"] == [2, 4, 8]
    st = _state(algo, out=3, n_in=4, replicas=2)
    gen = np.random.default_rng(1)
    names = ("W", "W1", "W2", "W3")
    for name in names:
        st.tiles[name].set_weights(gen.uniform(-0.5, 0.5, (2, 3, 4)))
    arrays = st.arrays()
    # aihwkit device i is project tile N − i.
    aihwkit = sum(g * arrays[names[3 - i]] for i, g in enumerate(vecs["gamma_vec"]))
    np.testing.assert_allclose(st.effective_weights(), aihwkit, rtol=0, atol=1e-12)
    with pytest.raises(pt.ParameterError, match="'gamma_vec'"):
        from_aihwkit(
            SKEW, gamma_vec=[0.3, 0.5, 1.0], transfer_every_vec=[1, 1], transfer_lr_vec=[1]
        )
    with pytest.raises(pt.ParameterError, match="'transfer_lr_vec'"):
        from_aihwkit(
            SKEW, gamma_vec=[0.25, 0.5, 1.0], transfer_every_vec=[1, 1], transfer_lr_vec=[1]
        )


def test_theory_schedule_nests_the_periods() -> None:
    # T_N = ⌈γ^−N⌉, T_n = ⌈1/γ⌉ (0 < n < N); tile n transfers every Π_{n' > n} T_{n'} steps.
    assert MultiTile(device=SKEW, n_tiles=4, gamma_mix=0.5, schedule="theory").periods == (
        32,
        16,
        8,
    )
    assert MultiTile(device=SKEW, n_tiles=3, gamma_mix=0.1, schedule="theory").periods == (
        1000,
        100,
    )
    assert MultiTile(device=SKEW, n_tiles=2, gamma_mix=0.3, schedule="theory").periods == (4,)
    algo = MultiTile(
        device=IDEAL, n_tiles=3, gamma_mix=0.5, schedule="theory", update=pt.ExpectedUpdate()
    )
    st = _state(algo)
    for t in range(1, 41):
        st.step(t - 1, np.zeros((1, 1, 1)), np.zeros((1, 1, 1)))
        # t_n = floor(t / Π_{n' > n} T_{n'}) with Π = 8 (tile 0) and 4 (tile 1).
        assert st.events == [t // 8, t // 4]


# ----------------------------------------------------------------------------- warm start
def test_loss_plateau_rules() -> None:
    # Aggressive (k ≤ 3): L[t] > L[t−1] − tol.
    assert not loss_plateau([1.0], 0)
    assert not loss_plateau([1.0, 0.9], 0, tol_aggressive=0.0)
    assert loss_plateau([1.0, 1.1], 3, tol_aggressive=0.0)
    assert loss_plateau([1.0, 0.99995], 0)  # a decrease below 1e−4 counts
    # Mild (k > 3): ≥ 2 violations (decrease < tol) among the last 5 differences, ≥ 6 entries.
    seq = [1.0, 0.9, 0.95, 0.8, 0.85, 0.7]
    assert not loss_plateau(seq[:5], 4, tol_mild=0.0)
    assert loss_plateau(seq, 4, tol_mild=0.0)
    assert not loss_plateau([1.0, 0.9, 0.95, 0.8, 0.7, 0.6], 4, tol_mild=0.0)
    assert loss_plateau([1.0, 0.9, 0.895, 0.8, 0.795, 0.7], 4)  # two decreases below 0.01
    assert not loss_plateau([1.0, 0.9, 0.895, 0.8, 0.7, 0.6], 4)  # only one
    assert not loss_plateau([1.0, 0.9, 0.8, 0.7, 0.6, 0.5], 4)


def test_warm_start_switches_tiles_on_plateaus() -> None:
    # Two replicas, constructed losses (each entry of the history is the mean of 2 losses).
    # k = 0 uses the aggressive rule, k = 1 the mild one (window 3, 2 violations).
    algo = MultiTile(
        device=IDEAL,
        n_tiles=3,
        lr=0.0,
        lr_transfer=0.1,
        transfer_every=(1, 1),
        update=pt.ExpectedUpdate(),
        warm_start=True,
        plateau_every=2,
        plateau_aggressive_until=0,
        plateau_tol_aggressive=0.0,
        plateau_tol_mild=0.0,
        plateau_window=3,
        plateau_violations=2,
    )
    st = _state(algo, replicas=2)
    st.tiles["W2"].set_weights(np.ones((2, 1, 1)))
    entries = {
        0: [5.0, 4.0, 4.5, 4.0, 4.2, 4.3, 4.0, 3.0],  # plateau at entry 2 (k→1), entry 5 (k→2)
        1: [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1],  # never
    }
    x0, d0 = np.zeros((2, 1, 1)), np.zeros((2, 1, 1))
    seen: list[list[int]] = []
    changed: list[list[set[str]]] = []
    step = 0
    for e in range(8):
        for _ in range(2):
            before = st.arrays()
            st.step(step, x0, d0)
            after = st.arrays()
            changed.append(
                [{n for n in ("W", "W1") if after[n][r] != before[n][r]} for r in range(2)]
            )
            st.observe_loss(step, np.array([entries[0][e], entries[1][e]]))
            step += 1
        seen.append(st.k.tolist())
    assert seen == [[0, 0], [0, 0], [1, 0], [1, 0], [1, 0], [2, 0], [2, 0], [2, 0]]
    assert st.switches == [[5, 11], []]
    # Replica 1 warms tile 0 throughout; replica 0 warms 0, then 1, then runs the cascade.
    assert all(c[1] == {"W"} for c in changed)
    assert all(c[0] == {"W"} for c in changed[:6])
    assert all(c[0] == {"W1"} for c in changed[6:12])
    assert all(c[0] == {"W", "W1"} for c in changed[12:])


def test_run_feeds_the_warm_start_the_loss() -> None:
    algo = MultiTile(device=SKEW, n_tiles=3, warm_start=True, plateau_every=5, lr=0.1)
    switched: list[int] = []

    def watch(step: int, state: Any) -> None:
        switched.append(int(state.k.sum()))

    pt.run(PROBLEM, algo, steps=300, replicas=2, rng=0, progress=False, callbacks=[watch])
    assert switched[0] == 0
    assert switched[-1] > 0  # the run passed losses and a plateau moved some replica on


# ----------------------------------------------------------------------------- run contract
ALGOS = [
    MultiTile(
        device=SKEW,
        n_tiles=3,
        gamma_mix=0.3,
        transfer_every=(3, 1),
        lr_transfer=(0.05, 0.1),
        columns_per_transfer=2,
        read_noise_std=0.01,
        update=pt.StochasticPulseUpdate(),
    ),
    MultiTile(
        device=SKEW,
        n_tiles=4,
        gamma_mix=0.5,
        schedule="theory",
        transfer_io=transfer_io(),
        update=pt.PulseCountUpdate(),
        transfer_update=pt.StochasticPulseUpdate(desired_bl=5),
    ),
    MultiTile(
        device=SKEW,
        n_tiles=3,
        warm_start=True,
        plateau_every=3,
        read_noise_std=0.02,
        update=pt.ExpectedUpdate(noise=True),
    ),
]


@pytest.mark.parametrize("algo", ALGOS, ids=["stochastic", "theory", "warm"])
def test_run_is_deterministic_across_threads_and_replica_offsets(algo: MultiTile) -> None:
    kw: dict[str, Any] = {"steps": 30, "rng": 5, "progress": False, "record_every": 10}
    a = pt.run(PROBLEM, algo, replicas=3, n_threads=1, **kw)
    b = pt.run(PROBLEM, algo, replicas=3, n_threads=2, **kw)
    assert a.equals(b)
    alone = pt.run(PROBLEM, algo, replicas=1, replica_offset=2, **kw)
    np.testing.assert_array_equal(alone.weights[0], a.weights[2])
    for name in a.arrays:
        np.testing.assert_array_equal(alone.arrays[name][0], a.arrays[name][2])
    assert set(a.arrays) == {"W", *(f"W{n}" for n in range(1, algo.n_tiles))}
    assert a.total_pulses["update"].min() > 0
    assert a.total_pulses["transfer"].min() > 0


@pytest.mark.parametrize("algo", ALGOS, ids=["stochastic", "theory", "warm"])
def test_whole_run_on_the_numpy_twin_matches_rust(algo: MultiTile) -> None:
    kw: dict[str, Any] = {"steps": 8, "rng": 9, "replicas": 2, "progress": False}
    fast = pt.run(PROBLEM, algo, **kw)
    slow = pt.run(PROBLEM, algo, backend="twin", **kw)
    for phase in fast.pulses:
        np.testing.assert_array_equal(fast.pulses[phase], slow.pulses[phase])
    np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("algo", [*ALGOS, MultiTile.example()])
def test_config_round_trips(algo: MultiTile) -> None:
    assert pt.config.from_dict(pt.config.to_dict(algo)) == algo
    assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(algo))) == algo
    assert pt.config.from_dict(pt.config.loads_json(pt.config.dumps_json(algo))) == algo


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_tiles": 0}, "n_tiles"),
        ({"lr_transfer": -0.1}, "lr_transfer"),
        ({"lr_transfer": (0.1, -0.1)}, "lr_transfer"),
        ({"lr_transfer": (0.1, 0.1, 0.1)}, "lr_transfer"),
        ({"transfer_every": 0}, "transfer_every"),
        ({"transfer_every": (1,)}, "transfer_every"),
        ({"transfer_every": (1, 2.5)}, "transfer_every"),
        ({"schedule": "fast"}, "schedule"),
        ({"schedule": "theory", "gamma_mix": 0.0}, "gamma_mix"),
        ({"schedule": "theory", "gamma_mix": 1e-3, "n_tiles": 8, "transfer_every": 1}, "n_tiles"),
        ({"plateau_window": 3, "plateau_violations": 4}, "plateau_violations"),
        ({"plateau_every": 0}, "plateau_every"),
        ({"warm_start": 1}, "warm_start"),
    ],
)
def test_bad_parameters_name_the_field(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(pt.ParameterError, match=f"'{name}' parameter of MultiTile"):
        dataclasses.replace(MultiTile.example(), **kwargs)


def test_one_tile_is_analog_sgd() -> None:
    kw: dict[str, Any] = {"steps": 20, "replicas": 2, "rng": 3, "progress": False}
    upd = pt.StochasticPulseUpdate()
    a = pt.run(PROBLEM, pt.algorithms.AnalogSGD(device=SKEW, lr=0.05, update=upd), **kw)
    b = pt.run(PROBLEM, MultiTile(device=SKEW, n_tiles=1, lr=0.05, update=upd), **kw)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert b.sp_error is None


def test_layers_and_a_classifier_run() -> None:
    algo = MultiTile(device=SKEW, n_tiles=3, lr=0.1, lr_transfer=0.05, transfer_every=(2, 1))
    layer = AnalogLinear(4, 3, algo, replicas=2, rng=0)
    assert set(layer.tiles) == {"W", "W1", "W2"}
    x = np.random.default_rng(0).normal(size=(2, 5, 4))
    y = layer.forward(x)
    assert y.shape == (2, 5, 3)
    prob = Classifier(
        dataset=TeacherStudent(n_train=100, n_test=40, in_size=8), hidden=(6,), batch_size=5
    )
    res = pt.run(prob, algo, steps=40, replicas=2, rng=0, progress=False)
    assert np.isfinite(res.loss).all()
    assert res.total_pulses["transfer"].min() > 0


# ----------------------------------------------------------------------------- C24
# P4 App. K.3's least-squares toy (examples/c24_multi_tile.py, docs/FINDINGS.md §6): 4 states,
# gamma_vec 0.1^{N−i}, transfer_every_vec 2·2^i, transfer_lr 0.01 (not scaled by the SGD lr).
C24_GAMMA, C24_TRANSFER_LR = 0.1, 0.01


def _c24_algo(n_tiles: int, lr: float, device: pt.Device, update: Any) -> MultiTile:
    n = n_tiles - 1
    return from_aihwkit(
        device,
        gamma_vec=[C24_GAMMA ** (n - i) for i in range(n + 1)],
        transfer_every_vec=[2 * 2**i for i in range(n + 1)],
        transfer_lr_vec=[C24_TRANSFER_LR] * (n + 1),
        lr=lr,
        update=update,
    )


@pytest.mark.parametrize("n_tiles", [2, 3])
def test_c24_cascade_is_unstable_in_expectation_from_three_tiles(n_tiles: int) -> None:
    # Why C24 fails: with expected updates on an unbounded linear device, MultiTile with the toy's
    # rates is the linear recursion below (checked to 1e−9), and that recursion diverges from
    # 3 tiles on: its mean-field matrix has max Re λ = +2.3e−3 per step for 3 tiles and −5e−4 for
    # 2 (examples/c24_multi_tile.py). Over 3000 steps the error grows by ≈ e^{2.3e−3·3000} ≈ 10³
    # (3 tiles) or its envelope shrinks by ≈ e^{−1.5} (2 tiles); the thresholds (×10, ×1) leave
    # a factor ≥ 3.5 (measured: 2.7e−4 and 0.38 for |W̄ − b| = 1e−3 at the start).
    lr, b, steps = 0.01, 1e-3, 3000
    big = pt.Device(response=pt.Ideal(w_min=-1e6, w_max=1e6), dw_min=1e-3)
    algo = _c24_algo(n_tiles, lr, big, pt.ExpectedUpdate())
    st = _state(algo)
    n = n_tiles - 1
    w = np.zeros(n_tiles)  # tiles 0..N, all start at 0
    scale = C24_GAMMA ** np.arange(n_tiles)
    err = []
    for k in range(steps):
        point = st.gradient_point()
        g = float(w @ scale) - b
        assert point.item() == pytest.approx(g + b, rel=1e-9, abs=1e-15)
        err.append(abs(g))
        st.step(k, np.ones((1, 1, 1)), point - b)
        w[n] -= lr * g
        for t in range(n - 1, -1, -1):
            if (k + 1) % algo.periods[t] == 0:
                w[t] += algo.transfer_rates[t] * w[t + 1]
    got = np.array(
        [st.arrays()[name].item() for name in ("W", *(f"W{m}" for m in range(1, n_tiles)))]
    )
    np.testing.assert_allclose(got, w, rtol=1e-9, atol=1e-15)
    late = max(err[-500:])
    if n_tiles >= 3:
        assert late > 10 * b, late
    else:
        assert late < b, late


def _c24_final_losses(n_tiles: int, lr: float, replicas: int, steps: int) -> np.ndarray:
    """Final loss (mean of the last 5 of 21 points) of every run: 4 grid targets × ``replicas``."""
    k = np.random.default_rng(123).integers(0, 2**16, size=4)
    out = []
    for seed, b in enumerate(-1.0 + k * 2.0 / (2**16 - 1)):
        algo = _c24_algo(n_tiles, lr, pt.presets.p4_few_state(4), pt.StochasticPulseUpdate())
        res = pt.run(
            Quadratic(target=float(b), noise_std=0.0),
            algo,
            steps=steps,
            replicas=replicas,
            rng=seed,
            progress=False,
            record_every=steps // 20,
        )
        out.append(np.asarray(res.loss)[:, -5:].mean(axis=1))
    return np.concatenate(out)


@pytest.mark.slow
def test_c24_k3_setting_loss_rises_with_the_tile_count() -> None:
    """Guard of the finding's direction (docs/FINDINGS.md §6): in P4 App. K.3's own setting the
    final loss RISES with the tile count; C24 holds only in the theorem's regime (test below).

    The toy's periods 2·2^i make the open-loop cascade Hurwitz-unstable in expectation from
    3 tiles on (max Re λ +2.3e−3/step at lr 0.01) and RL (2 tiles) spans only ±0.1 below 0.5-wide
    pulses. Setting (as the former strict xfail of the claim): gradient-tile lr = fast_lr 0.01,
    4 targets on the 16-bit grid (seed 123) × 16 replicas = 64 runs, 20000 steps; final loss =
    mean of the last 5 of 21 points. Measured 1..4 tiles: 0.0127 ± 0.0027, 0.081 ± 0.010,
    0.197 ± 0.015, 0.222 ± 0.016. Asserted with 3·√(SE₁² + SE₂²) margins (one-sided 3σ):
    2 tiles above 1, 3 above 2, and 4 above 1. (4 above 3 is not asserted: 0.025 apart with
    3·SE 0.066, not resolved by 64 runs.)
    """
    m, steps = 16, 20_000
    means, ses = [], []
    for n_tiles in range(1, 5):
        final = _c24_final_losses(n_tiles, 0.01, m, steps)
        means.append(float(final.mean()))
        ses.append(float(final.std(ddof=1) / math.sqrt(final.size)))
    for lo, hi in ((0, 1), (1, 2), (0, 3)):
        assert means[hi] > means[lo] + 3 * math.hypot(ses[lo], ses[hi]), (means, ses)


# C24 in the regime P4's theorem covers (docs/FINDINGS.md §6.1, examples/c24_multi_tile.py
# --regime theorem): gradient noise σ 0.1, γ 0.5 (a finer tile spans one Δw_min step of the
# coarser one), nested periods T_N = ⌈γ^{−N}⌉, T_n = 8·⌈1/γ⌉, lr 1, lr_transfer 0.01.
C24_TH_GAMMA, C24_TH_SIGMA, C24_TH_LR, C24_TH_TRANSFER_LR, C24_TH_SEP = 0.5, 0.1, 1.0, 0.01, 8


def _c24_theorem_algo(n_tiles: int) -> MultiTile:
    n = n_tiles - 1
    t_big = [1] * (n + 1)
    for m in range(1, n + 1):
        t_big[m] = (
            math.ceil(C24_TH_GAMMA ** (-n) - 1e-9)
            if m == n
            else C24_TH_SEP * math.ceil(1 / C24_TH_GAMMA - 1e-9)
        )
    kw: dict[str, Any] = {}
    if n > 0:
        kw = {
            "transfer_every": tuple(math.prod(t_big[k + 1 :]) for k in range(n)),
            "lr_transfer": C24_TH_TRANSFER_LR,
        }
    return MultiTile(
        device=pt.presets.p4_few_state(4),
        n_tiles=n_tiles,
        gamma_mix=C24_TH_GAMMA,
        lr=C24_TH_LR,
        update=pt.StochasticPulseUpdate(),
        **kw,
    )


def _c24_theorem_floors(n_tiles: int, b: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """Floor of every replica: mean ½(w̄ − b_r)² over the last 20% of ``steps`` (every 16 steps).

    All targets run in one batch (replica r has target b[r]); the stochastic gradient
    (w̄ − b_r) + σξ is drawn here, as ``Quadratic(noise_std=σ)`` does per replica.
    """
    algo = _c24_theorem_algo(n_tiles)
    r = b.size
    inst = Quadratic(target=0.0, noise_std=0.0).setup(r, np.random.SeedSequence(seed))
    st = algo.start(inst, np.random.SeedSequence(seed + 1))
    noise = np.random.default_rng(seed + 2)
    x = np.ones((r, 1, 1))
    bb = b.reshape(r, 1, 1)
    start, acc, count = steps - steps // 5, np.zeros(r), 0
    for k in range(steps):
        w = st.gradient_point()
        if k >= start and k % 16 == 0:
            acc += 0.5 * (w - bb).reshape(r) ** 2
            count += 1
        st.step(k, x, (w - bb) + C24_TH_SIGMA * noise.standard_normal((r, 1, 1)))
    return acc / count


@pytest.mark.slow
def test_c24_floor_falls_with_the_tile_count_in_the_theorem_regime() -> None:
    """C24 in the regime P4's Cor. 1 covers: the loss floor falls with each tile added.

    Pre-registered design and rule (docs/FINDINGS.md §6.1): 4-state tiles, σ 0.1, γ 0.5,
    T_N = ⌈γ^{−N}⌉, T_n = 16, lr 1, lr_transfer 0.01. Floor of a run: mean ½(w̄ − b)² over the
    last 20% of it. Rule: for 1→2, 2→3 and 3→4 tiles the mean floor falls by more than
    3·√(SE_N² + SE_{N+1}²), SE = std/√runs across runs (a one-sided 3σ test of each difference).
    The decisive run (8 targets × 128 replicas, 204800 steps, pt.run) gave 0.0428, 0.0183,
    0.0113, 0.0051 (SE ≤ 0.0005; per-run std 0.015, 0.006, 0.0074, 0.0070). This replicate has
    its own targets and seeds, all runs in one batch: 8 targets (16-bit grid, seed 7) × 32
    replicas = 256 runs. Steps: 204800 for 4 tiles (100 events of tile 0, period 2048) and 51200
    for 1..3 tiles (≥ 800 events of their slowest tile, ≥ 17 relaxation times of the mean-field
    cascade). Size: 16 replicas per target (128 runs; 3·SE ≈ 0.0025 predicted from the stds)
    was run first and passed, but with 3·SE = 0.00445 against a 3→4 drop of 0.00446 (its
    targets spread more than predicted), too close to the margin to guard anything; 32 replicas
    (same targets and seed) measured 0.0479, 0.0166, 0.0092, 0.0042 with SE ≤ 0.0005, i.e. a
    3→4 drop of 0.0050 against 3·SE = 0.0019.
    """
    k = np.random.default_rng(7).integers(0, 2**16, size=8)
    b = np.repeat(-1.0 + k * 2.0 / (2**16 - 1), 32)
    means, ses = [], []
    for n_tiles in range(1, 5):
        floors = _c24_theorem_floors(n_tiles, b, 204_800 if n_tiles == 4 else 51_200, seed=500)
        means.append(float(floors.mean()))
        ses.append(float(floors.std(ddof=1) / math.sqrt(floors.size)))
    for n in range(3):
        assert means[n] - means[n + 1] > 3 * math.hypot(ses[n], ses[n + 1]), (means, ses)
