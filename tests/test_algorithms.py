"""Algorithms against the checks of shared/theory.md §5 (C17–C21) and the run loop's contract.

Toy setup (theory.md §5): f = ½(w − 0.5)², g = (w − 0.5) + σξ with σ = 0.5, the same device on
every array, compact (expected) mode, start at 0, M = 1000 copies; the estimate is the
second-half time average of the across-copy mean. SE = std over copies of the per-copy time
average / √M; a check passes if |estimate − target| ≤ max(4·SE, floor), the floor absorbing the
O(lr) bias (theory.md §5, "Statistical rule"). T1 = C18, T2 = C19, T3 = C20, T4 = C21,
T5 = C16 (tests/test_analysis.py), T6 = C17.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from pulsetrain.algorithms import (
    AnalogSGD,
    DigitalSGD,
    ResidualLearning,
    ResidualLearningV2,
    TikiTaka,
)
from pulsetrain.periphery import transfer_io
from pulsetrain.problems import LeastSquares, Quadratic

M = 1000
ALD = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
EXPECTED = pt.ExpectedUpdate()


def _tail(algo: pt.algorithms.Algorithm, steps: int, *, seed: int = 0) -> pt.TrainResult:
    return pt.run(
        Quadratic(),
        algo,
        steps=steps,
        replicas=M,
        rng=seed,
        progress=False,
        record_every=steps,
        average_from=steps // 2,
    )


def _estimate(per_copy: np.ndarray) -> tuple[float, float]:
    v = per_copy.reshape(per_copy.shape[0], -1)[:, 0]
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def _check(per_copy: np.ndarray, target: float, floor: float) -> float:
    est, se = _estimate(per_copy)
    assert abs(est - target) <= max(4 * se, floor), (est, se, target)
    return est


# ----------------------------------------------------------------------------- T1 (C18)
@pytest.mark.slow
@pytest.mark.parametrize(("lr", "steps"), [(0.01, 20_000), (0.0025, 80_000)])
def test_t1_analog_sgd_settles_at_the_biased_root(lr: float, steps: int) -> None:
    res = _tail(AnalogSGD(device=ALD, lr=lr, update=EXPECTED), steps)
    assert res.average_weights is not None
    est = _check(res.average_weights, 0.353098, 2e-3)
    # The bias does not shrink with lr: both stay far from the optimum.
    assert 0.5 - est > 0.14


def test_t1_digital_sgd_is_unbiased() -> None:
    res = _tail(DigitalSGD(lr=0.01), 20_000)
    assert res.average_weights is not None
    _check(res.average_weights, 0.5, 2e-3)


# ----------------------------------------------------------------------------- T2 (C19)
def test_t2_analog_gd_converges_exactly() -> None:
    res = pt.run(
        Quadratic(noise_std=0.0),
        AnalogSGD(device=ALD, lr=0.1, update=EXPECTED),
        steps=1000,
        replicas=3,
        rng=0,
        progress=False,
    )
    assert np.abs(res.weights - 0.5).max() < 1e-9


# ----------------------------------------------------------------------------- T3 (C20)
@pytest.mark.slow
def test_t3_residual_learning_removes_the_bias_as_steps_shrink() -> None:
    big = _tail(
        ResidualLearning(device=ALD, lr=0.05, lr_transfer=0.01, gamma_mix=0.4, update=EXPECTED),
        40_000,
    )
    small = _tail(
        ResidualLearning(device=ALD, lr=0.0125, lr_transfer=0.0025, gamma_mix=0.4, update=EXPECTED),
        160_000,
    )
    assert big.average_weights is not None
    assert small.average_weights is not None
    wbar_big = _check(big.average_weights, 0.4855, 1.5e-3)
    wbar_small = _check(small.average_weights, 0.4926, 1.5e-3)
    _check(big.average_arrays["W"], 0.4710, 1.5e-3)
    _check(small.average_arrays["W"], 0.4852, 1.5e-3)
    ratio = (0.5 - wbar_small) / (0.5 - wbar_big)
    assert 0.35 <= ratio <= 0.7
    # P's SP sits at 0 here, so the reported SP error is 0.
    assert big.sp_error is not None
    np.testing.assert_allclose(big.sp_error, 0.0, atol=1e-12)


@pytest.mark.slow
def test_t3_tiki_taka() -> None:
    big = _tail(TikiTaka(device=ALD, lr=0.05, lr_transfer=0.01, update=EXPECTED), 40_000)
    small = _tail(TikiTaka(device=ALD, lr=0.0125, lr_transfer=0.0025, update=EXPECTED), 160_000)
    _check(big.average_arrays["W"], 0.4794, 1.5e-3)
    _check(small.average_arrays["W"], 0.4894, 1.5e-3)


# ----------------------------------------------------------------------------- T4 (C21)
@pytest.mark.slow
def test_t4_residual_sp_off_zero_leaves_an_error() -> None:
    rl = [
        _tail(
            ResidualLearning(device=SKEW, lr=lr, lr_transfer=lt, gamma_mix=0.4, update=EXPECTED), n
        )
        for lr, lt, n in [(0.05, 0.01, 40_000), (0.0125, 0.0025, 160_000)]
    ]
    tt = [
        _tail(TikiTaka(device=SKEW, lr=lr, lr_transfer=lt, update=EXPECTED), n)
        for lr, lt, n in [(0.05, 0.01, 40_000), (0.0125, 0.0025, 160_000)]
    ]
    assert rl[0].average_weights is not None
    assert rl[1].average_weights is not None
    e = [
        abs(_check(rl[0].average_weights, 0.5695, 1.5e-3) - 0.5),
        abs(_check(rl[1].average_weights, 0.5749, 1.5e-3) - 0.5),
    ]
    assert e[1] >= 0.9 * e[0]
    e = [
        abs(_check(tt[0].average_arrays["W"], 0.5642, 1.5e-3) - 0.5),
        abs(_check(tt[1].average_arrays["W"], 0.5722, 1.5e-3) - 0.5),
    ]
    assert e[1] >= 0.9 * e[0]
    # The residual array's SP is at 0.2: reported as the SP error.
    assert rl[0].sp_error is not None
    np.testing.assert_allclose(rl[0].sp_error, 0.2, atol=1e-9)


# ----------------------------------------------------------------------------- T5 (C16)
def two_point_drift(algo: pt.algorithms.Algorithm, w: float, sigma: float) -> float:
    """Mean one-step change of W at a critical point under two-point noise ±σ (two replicas)."""
    inst = Quadratic(target=w, noise_std=0.0).setup(2, np.random.SeedSequence(0))
    state = algo.start(inst, np.random.SeedSequence(0))
    state.tiles["W"].set_weights(np.full((2, 1, 1), w))
    state.step(0, np.ones((2, 1, 1)), np.array([sigma, -sigma]).reshape(2, 1, 1))
    return float(state.arrays()["W"].mean() - w)


@pytest.mark.parametrize("w", [-0.6, 0.3, 0.8])
def test_t5_two_point_noise_drift(w: float) -> None:
    # theory.md C16 (exact): ALD with SP 0, E ΔW = −(lr σ/τ) W for Analog SGD and
    # −(lr·lr_transfer·σ/τ) W for one TT step from P = 0.
    sigma, lr, lt = 0.5, 0.1, 0.2
    asgd = two_point_drift(AnalogSGD(device=ALD, lr=lr, update=EXPECTED), w, sigma)
    assert asgd == pytest.approx(-lr * sigma * w, rel=1e-12)
    tt = two_point_drift(TikiTaka(device=ALD, lr=lr, lr_transfer=lt, update=EXPECTED), w, sigma)
    assert tt == pytest.approx(-lr * lt * sigma * w, rel=1e-12)


# ----------------------------------------------------------------------------- T6 (C17)
def test_t6_rlv2_buffer_fires_on_schedule() -> None:
    ideal = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=1e-3)
    algo = ResidualLearningV2(
        device=ideal, lr=0.0, lr_transfer=0.1, buffer_decay=0.1, gamma_mix=0.0, update=EXPECTED
    )
    inst = Quadratic(noise_std=0.0).setup(1, np.random.SeedSequence(0))
    state = algo.start(inst, np.random.SeedSequence(0))
    state.tiles["P"].set_weights(np.full((1, 1), 0.0035))
    x, d = np.ones((1, 1, 1)), np.zeros((1, 1, 1))
    h_prev = 0.0
    for k in range(1, 201):
        state.step(k - 1, x, d)
        h = float(state.arrays()["H"].item())
        w_pulses = int(state.tiles["W"].pulse_counts("transfer").item())
        if k <= 3:
            assert w_pulses == 0
            assert h == pytest.approx(0.0035 * (1 - 0.9**k), rel=1e-12)
        if k == 4:
            assert w_pulses == 1  # H_3 = 9.485e−4 < 1e−3 ≤ H_4 = 1.2037e−3
            assert h == pytest.approx(0.9 * h_prev + 0.00035 - 1e-3, rel=1e-12)
        h_prev = h
    assert int(state.tiles["W"].pulse_counts("transfer").item()) == 60
    assert state.arrays()["W"].item() == pytest.approx(0.06, abs=1e-12)


# ----------------------------------------------------------------------------- run loop
ALGOS = [
    DigitalSGD(lr=0.05),
    AnalogSGD(device=SKEW, lr=0.05, update=pt.PulseCountUpdate()),
    TikiTaka(device=SKEW, update=pt.StochasticPulseUpdate(), columns_per_transfer=1),
    ResidualLearning(
        device=SKEW,
        update=pt.ExpectedUpdate(noise=True),
        read_noise_std=0.01,
        transfer_every=2,
        columns_per_transfer=3,
    ),
    TikiTaka(
        device=SKEW,
        update=pt.PulseCountUpdate(),
        transfer_io=transfer_io(),
        transfer_update=pt.StochasticPulseUpdate(desired_bl=5),
    ),
    ResidualLearningV2(
        device=SKEW,
        update=pt.PulseCountUpdate(rounding=pt.Rounding.STOCHASTIC),
        read_noise_std=0.01,
        buffer_decay=0.2,
    ),
]
PROBLEM = LeastSquares(in_size=6, out_size=2, n_samples=12, batch_size=4, noise_std=0.01)


@pytest.mark.parametrize("algo", ALGOS, ids=lambda a: type(a).__name__)
def test_run_is_deterministic_across_threads_and_replica_offsets(
    algo: pt.algorithms.Algorithm,
) -> None:
    kw = {"steps": 30, "rng": 5, "progress": False, "record_every": 10}
    a = pt.run(PROBLEM, algo, replicas=3, n_threads=1, **kw)  # type: ignore[arg-type]
    b = pt.run(PROBLEM, algo, replicas=3, n_threads=2, **kw)  # type: ignore[arg-type]
    assert a.equals(b)
    alone = pt.run(PROBLEM, algo, replicas=1, replica_offset=2, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone.weights[0], a.weights[2])
    np.testing.assert_array_equal(alone.loss[0], a.loss[2])
    assert a.record_steps.tolist() == [0, 10, 20, 30]
    assert a.loss.shape == a.error.shape == (3, 4)
    assert set(a.pulses) == {"update", "transfer", "calibration"}
    if isinstance(algo, DigitalSGD):
        assert a.total_pulses["update"].sum() == 0
    else:
        assert a.total_pulses["update"].min() > 0
    if isinstance(algo, TikiTaka | ResidualLearning | ResidualLearningV2):
        assert a.total_pulses["transfer"].min() > 0
        assert {"W", "P"} <= set(a.arrays)
    # Pulse curves are cumulative.
    assert (np.diff(a.pulses["update"], axis=1) >= 0).all()


@pytest.mark.parametrize("algo", ALGOS, ids=lambda a: type(a).__name__)
def test_whole_run_on_the_numpy_twin_matches_rust(algo: pt.algorithms.Algorithm) -> None:
    kw = {"steps": 8, "rng": 9, "replicas": 2, "progress": False, "record_every": 4}
    fast = pt.run(PROBLEM, algo, **kw)  # type: ignore[arg-type]
    slow = pt.run(PROBLEM, algo, backend="twin", **kw)  # type: ignore[arg-type]
    for phase in fast.pulses:
        np.testing.assert_array_equal(fast.pulses[phase], slow.pulses[phase])
    # Same operations in the same order: equal to rounding (kernel == twin is bit-exact for
    # these families; the margin only guards libm differences across machines).
    np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast.loss, slow.loss, rtol=1e-12, atol=1e-15)


def test_least_squares_training_reduces_the_error() -> None:
    prob = LeastSquares(in_size=10, n_samples=40, target_std=0.3)
    res = pt.run(prob, DigitalSGD(lr=0.2), steps=300, replicas=4, rng=1, progress=False)
    assert (res.error[:, -1] < 1e-3 * res.error[:, 0]).all()
    ideal = pt.Device(response=pt.Ideal(), dw_min=1e-4)
    res2 = pt.run(
        prob,
        AnalogSGD(device=ideal, lr=0.2, update=EXPECTED),
        steps=300,
        replicas=4,
        rng=1,
        progress=False,
    )
    # C2: on the ideal device in the compact mode, Analog SGD is Digital SGD.
    np.testing.assert_allclose(res2.weights, res.weights, rtol=0, atol=1e-12)


def test_callback_stops_the_run_and_result_round_trips(tmp_path: object) -> None:
    seen: list[int] = []

    def stop_at_20(step: int, state: pt.algorithms.AlgorithmState) -> bool:
        seen.append(step)
        return step >= 20

    res = pt.run(
        PROBLEM,
        ALGOS[3],
        steps=100,
        replicas=2,
        rng=3,
        progress=False,
        record_every=10,
        callbacks=[stop_at_20],
        record_weights=True,
        average_from=5,
    )
    assert res.steps == 20
    assert seen == [10, 20]
    assert res.record_steps.tolist() == [0, 10, 20]
    assert res.trajectory is not None
    assert res.trajectory.shape == (2, 3, 2, 6)
    np.testing.assert_array_equal(res.trajectory[:, -1], res.weights)
    assert res.average_steps == 15
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "sub" / "run"
    json_path, npz_path = res.save(path)
    assert json_path.exists()
    assert npz_path.exists()
    back = pt.TrainResult.load(path)
    assert back.equals(res)
    assert back.config["algorithm"]["kind"] == "residual_learning"
    rebuilt = pt.config.from_dict(back.config["algorithm"])
    assert rebuilt == ALGOS[3]
    rerun = pt.run(
        pt.config.from_dict(back.config["problem"]),
        rebuilt,
        steps=20,
        replicas=2,
        rng=np.random.SeedSequence(back.seed_entropy),
        progress=False,
        record_every=10,
        record_weights=True,
        average_from=5,
    )
    np.testing.assert_array_equal(rerun.weights, res.weights)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 10, "replicas": 0}, "replicas"),
        ({"steps": 10, "record_every": 0}, "record_every"),
        ({"steps": 10, "n_threads": 0}, "n_threads"),
        ({"steps": 10, "average_from": 10}, "average_from"),
        ({"steps": 10, "progress": "yes"}, "progress"),
    ],
)
def test_run_rejects_bad_arguments(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(pt.ParameterError, match=f"'{name}'"):
        pt.run(PROBLEM, DigitalSGD(), **kwargs)  # type: ignore[arg-type]


TWIN_ONLY = [
    *ALGOS,
    pt.algorithms.ERIDER(device=SKEW, chop_prob=0.5, update=pt.PulseCountUpdate()),
    pt.algorithms.ERIDERBuffered(device=SKEW, chop_random=True, chop_prob=0.5),
]


@pytest.mark.parametrize("algo", TWIN_ONLY, ids=lambda a: type(a).__name__)
def test_twin_backend_runs_without_the_core(
    algo: pt.algorithms.Algorithm, monkeypatch: pytest.MonkeyPatch
) -> None:
    # backend="twin" is Rust-free end to end: tiles, gradient noise and chopper draws all go
    # through the backend. Any call into the compiled kernels fails the run.
    from pulsetrain import _core

    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail("the twin backend called pulsetrain._core")

    for name in ("Tile", "replica_normals", "replica_uniforms", "normals", "uniforms"):
        monkeypatch.setattr(_core, name, forbidden)
    kw = {"steps": 6, "rng": 3, "replicas": 2, "progress": False, "record_every": 3}
    res = pt.run(PROBLEM, algo, backend="twin", **kw)  # type: ignore[arg-type]
    assert np.isfinite(res.loss).all()
    assert res.record_steps.tolist() == [0, 3, 6]
