"""SP tracking and two-stage calibration: shared/theory.md C23 (T8) and the run contract.

Toy setup and statistical rule as in tests/test_algorithms.py (theory.md §5).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from pulsetrain.algorithms import (
    ERIDER,
    RIDER,
    ERIDERBuffered,
    ResidualLearning,
    TTv2,
    TwoStage,
)
from pulsetrain.algorithms.buffered import _BufferedTransferState
from pulsetrain.config import dumps_toml, from_dict, loads_toml, to_dict
from pulsetrain.errors import ParameterError
from pulsetrain.problems import Classifier, LeastSquares, Quadratic, TeacherStudent
from pulsetrain.zero_shift import ZeroShiftMode

M = 1000
SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
EXPECTED = pt.ExpectedUpdate()
SETTINGS = [((0.05, 0.01, 0.01), 40_000), ((0.0125, 0.0025, 0.0025), 160_000)]


def _tail(algo: pt.algorithms.Algorithm, steps: int) -> pt.TrainResult:
    return pt.run(
        Quadratic(),
        algo,
        steps=steps,
        replicas=M,
        rng=0,
        progress=False,
        record_every=steps,
        average_from=steps // 2,
    )


def _est(values: np.ndarray) -> tuple[float, float]:
    v = values.reshape(values.shape[0], -1)[:, 0]
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


@pytest.mark.slow
@pytest.mark.parametrize(("rates", "steps"), SETTINGS)
def test_t8_erider_q_converges_to_the_device_sp(
    rates: tuple[float, float, float], steps: int
) -> None:
    lr, lt, eta = rates
    algo = ERIDER(
        device=SKEW,
        lr=lr,
        lr_transfer=lt,
        ema_rate=eta,
        chop_prob=0.05,
        gamma_mix=0.4,
        reprogram_on_flip=False,
        update=EXPECTED,
    )
    res = _tail(algo, steps)
    q, q_se = _est(res.average_arrays["Q"])
    w, w_se = _est(res.average_arrays["W"])
    # theory.md C23: |Q − 0.2| ≤ 3e−3 and |W − 0.5| > 0.03 (the raw equations do not reach W*).
    assert abs(q - 0.2) <= 3e-3
    assert abs(w - 0.5) > 0.03
    assert q_se < 1e-3  # the estimate is tight enough for the 3e−3 check to mean something
    assert w_se < 1e-2


@pytest.mark.slow
@pytest.mark.parametrize(("rates", "steps"), SETTINGS)
def test_t8_rider_without_chopper_ends_in_a_spurious_equilibrium(
    rates: tuple[float, float, float], steps: int
) -> None:
    lr, lt, eta = rates
    res = _tail(RIDER(device=SKEW, lr=lr, lr_transfer=lt, ema_rate=eta, update=EXPECTED), steps)
    q, _ = _est(res.average_arrays["Q"])
    w, _ = _est(res.average_arrays["W"])
    assert q > 0.5  # theory.md C23: W 0.2014 / Q 0.7445 and W 0.2119 / Q 0.7309
    assert w < 0.3


def test_erider_with_zero_chop_prob_is_rider() -> None:
    prob = LeastSquares(in_size=5, out_size=3, n_samples=10, batch_size=3, noise_std=0.02)
    kw: dict[str, Any] = {
        "lr": 0.05,
        "lr_transfer": 0.02,
        "ema_rate": 0.05,
        "update": pt.PulseCountUpdate(),
    }
    a = pt.run(prob, RIDER(device=SKEW, **kw), steps=40, replicas=2, rng=1, progress=False)
    b = pt.run(
        prob,
        ERIDER(device=SKEW, chop_prob=0.0, reprogram_on_flip=False, **kw),
        steps=40,
        replicas=2,
        rng=1,
        progress=False,
    )
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.arrays["Q"], b.arrays["Q"])


def test_two_stage_calibrates_then_trains() -> None:
    algo = TwoStage(
        device=SKEW,
        lr=0.05,
        lr_transfer=0.01,
        zs_pulses=5000,
        zs_mode=ZeroShiftMode.CYCLIC,
        update=EXPECTED,
    )
    plain = ResidualLearning(device=SKEW, lr=0.05, lr_transfer=0.01, update=EXPECTED)
    res = pt.run(Quadratic(), algo, steps=2000, replicas=50, rng=2, progress=False)
    base = pt.run(Quadratic(), plain, steps=2000, replicas=50, rng=2, progress=False)
    # Calibration cost: exactly zs_pulses per element of P, counted as CALIBRATION.
    assert res.total_pulses["calibration"].tolist() == [5000] * 50
    assert base.total_pulses["calibration"].sum() == 0
    # P's logical SP is now ≈ 0 (cyclic ZS leaves an O(Δw_min) offset), not 0.2.
    assert res.sp_error is not None
    assert base.sp_error is not None
    assert res.sp_error.max() < 5e-3
    np.testing.assert_allclose(base.sp_error, 0.2, atol=1e-9)


# ZS + TT-v2 (P3's baseline, theory.md §6.9): TTv2's optional zero-shift stage on A is TwoStage's
# stage 1 (the same code), on the same tile (index 1) with the same key.
LSQ = LeastSquares(in_size=5, out_size=3, n_samples=12, batch_size=4, noise_std=0.02)
# d2d spread, so every element has its own SP and a wrong element order would show.
SKEW_D2D = pt.Device(
    response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3, dw_min_dtod=0.2, up_down_dtod=0.1
)
TT_RATES: dict[str, Any] = {"lr": 0.05, "lr_transfer": 0.02, "update": pt.PulseCountUpdate()}


def _p_tile(algo: pt.algorithms.Algorithm, seed: int = 4, replicas: int = 3) -> pt.AnalogTile:
    root = np.random.SeedSequence(seed)
    state: Any = algo.start(LSQ.setup(replicas, root), root, n_threads=1)
    return state.p  # type: ignore[no-any-return]


def test_ttv2_without_zero_shift_builds_the_uncalibrated_state_bit_for_bit() -> None:
    base = TTv2(device=SKEW_D2D, **TT_RATES)
    assert base.zs_pulses == 0
    root = np.random.SeedSequence(4)
    inst = LSQ.setup(3, root)
    # The state TTv2 built before the zero-shift stage existed: the buffered-transfer state alone.
    raw = _BufferedTransferState(base, inst, root, 1, 0, pt.Backend.RUST)
    p = _p_tile(base)
    np.testing.assert_array_equal(p.reference, raw.p.reference)
    np.testing.assert_array_equal(p.weights, raw.p.weights)
    assert p.pulse_counts("calibration").sum() == 0
    # zs_mode and zs_average_last are unused at zs_pulses 0: the run is bit-identical.
    a = pt.run(LSQ, base, steps=20, replicas=3, rng=4, progress=False, record_every=10)
    ignored = TTv2(device=SKEW_D2D, zs_mode=ZeroShiftMode.CYCLIC, zs_average_last=7, **TT_RATES)
    b = pt.run(LSQ, ignored, steps=20, replicas=3, rng=4, progress=False, record_every=10)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.loss, b.loss)
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    for phase in a.pulses:
        np.testing.assert_array_equal(a.pulses[phase], b.pulses[phase])
    assert a.total_pulses["calibration"].sum() == 0
    # …and a calibrated run is not (the check can fail).
    cal = TTv2(device=SKEW_D2D, zs_pulses=50, **TT_RATES)
    c = pt.run(LSQ, cal, steps=20, replicas=3, rng=4, progress=False, record_every=10)
    assert not np.array_equal(a.arrays["P"], c.arrays["P"])


@pytest.mark.parametrize(
    ("n", "mode", "last"),
    [
        (1, ZeroShiftMode.STOCHASTIC, 1),
        (300, ZeroShiftMode.STOCHASTIC, 50),
        (301, ZeroShiftMode.CYCLIC, 1),
    ],
)
def test_ttv2_zero_shift_is_two_stage_stage_one(n: int, mode: ZeroShiftMode, last: int) -> None:
    zs: dict[str, Any] = {"zs_pulses": n, "zs_mode": mode, "zs_average_last": last}
    tt = _p_tile(TTv2(device=SKEW_D2D, **TT_RATES, **zs))
    two = _p_tile(TwoStage(device=SKEW_D2D, **TT_RATES, **zs))
    # The same device, seed, tile and pulses: the same estimate, programmed as A's reference.
    np.testing.assert_array_equal(tt.reference, two.reference)
    np.testing.assert_array_equal(tt.weights, two.weights)
    # The cost: exactly n pulses on every element of A, in the CALIBRATION phase only.
    counts = tt.pulse_counts("calibration")
    assert counts.shape == (3, 3, 5)
    assert (counts == n).all()
    assert tt.pulse_counts("update").sum() == 0
    assert tt.pulse_counts("transfer").sum() == 0
    # The reference moved off the device's draw (reference_mean 0 ± 0): the stage ran.
    assert np.abs(tt.reference).max() > 0.0


def test_ttv2_zero_shift_centres_a_and_counts_calibration_pulses() -> None:
    # As test_two_stage_calibrates_then_trains: 5000 cyclic pulses on SKEW (SP 0.2) bring the
    # state to within O(Δw_min) of the SP (the approach is geometric, ≈ 0.2·e^(−nΔw_min/τ)).
    n = 5000
    algo = TTv2(device=SKEW, zs_pulses=n, zs_mode=ZeroShiftMode.CYCLIC, **TT_RATES)
    plain = TTv2(device=SKEW, **TT_RATES)
    kw: dict[str, Any] = {"steps": 10, "replicas": 3, "rng": 4, "progress": False}
    res, base = pt.run(LSQ, algo, **kw), pt.run(LSQ, plain, **kw)
    # n per element of A (3 × 5), per replica; W and the transfers fire none of them.
    assert res.total_pulses["calibration"].tolist() == [n * 15] * 3
    assert base.total_pulses["calibration"].sum() == 0
    # A's logical SP after cyclic ZS is ≈ 0 (an O(Δw_min) offset, theory.md §3.9), not 0.2.
    assert res.sp_error is not None
    assert base.sp_error is not None
    assert res.sp_error.max() < 5e-3
    np.testing.assert_allclose(base.sp_error, 0.2, atol=1e-9)


def test_ttv2_zero_shift_runs_on_the_twin_and_on_every_layer_of_a_network() -> None:
    algo = TTv2(device=SKEW_D2D, zs_pulses=40, zs_average_last=5, **TT_RATES)
    kw: dict[str, Any] = {"steps": 6, "replicas": 2, "rng": 3, "progress": False, "record_every": 3}
    fast = pt.run(LSQ, algo, **kw)
    slow = pt.run(LSQ, algo, backend="twin", **kw)
    for phase in fast.pulses:
        np.testing.assert_array_equal(fast.pulses[phase], slow.pulses[phase])
    # The same operations in the same order: equal up to libm differences across machines.
    np.testing.assert_allclose(fast.weights, slow.weights, rtol=1e-12, atol=1e-15)
    net = Classifier(
        dataset=TeacherStudent(n_train=40, n_test=20, in_size=6), hidden=(4,), batch_size=5
    )
    res = pt.run(net, algo, **kw)
    inst: Any = net.setup(1, np.random.SeedSequence(0))
    n_weights = sum(w[0].size for w in inst.w0)  # every analog layer's A
    assert res.total_pulses["calibration"].tolist() == [40 * n_weights] * 2


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"zs_pulses": -1}, "zs_pulses"),
        ({"zs_pulses": 1.5}, "zs_pulses"),
        ({"zs_mode": "random"}, "zs_mode"),
        ({"zs_average_last": 0}, "zs_average_last"),
        ({"zs_pulses": 10, "zs_average_last": 11}, "zs_average_last"),
    ],
)
def test_ttv2_rejects_bad_zero_shift_values(change: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError, match=f"The '{name}' parameter of TTv2 must be"):
        TTv2(device=SKEW, **change)
    # zs_average_last is unused (and not checked against zs_pulses) without calibration.
    assert TTv2(device=SKEW, zs_average_last=11).zs_pulses == 0


def test_ttv2_zero_shift_config_round_trip() -> None:
    algo = TTv2(device=SKEW, zs_pulses=300, zs_mode=ZeroShiftMode.CYCLIC, zs_average_last=20)
    d = to_dict(algo)
    assert (d["zs_pulses"], d["zs_mode"], d["zs_average_last"]) == (300, "cyclic", 20)
    assert from_dict(d) == algo
    assert from_dict(loads_toml(dumps_toml(algo))) == algo
    # A config written before the stage existed loads as "no calibration".
    old = {k: v for k, v in to_dict(TTv2(device=SKEW)).items() if not k.startswith("zs_")}
    assert from_dict(old) == TTv2(device=SKEW)
    with pytest.raises(ParameterError, match="zs_average_last"):
        from_dict({**d, "zs_average_last": 301})


def test_tracker_sp_error_and_arrays() -> None:
    algo = ERIDER(device=SKEW, lr=0.05, lr_transfer=0.01, ema_rate=0.01, update=EXPECTED)
    res = pt.run(Quadratic(), algo, steps=200, replicas=4, rng=0, progress=False)
    assert {"W", "P", "Q", "Q_copy"} <= set(res.arrays)
    assert res.sp_error is not None
    # sp_error is the RMS distance of Q from P's (logical) symmetric point, 0.2 here.
    np.testing.assert_allclose(res.sp_error, np.abs(res.arrays["Q"][:, 0, 0] - 0.2), atol=1e-12)


@pytest.mark.parametrize(
    "algo",
    [
        RIDER(device=SKEW, update=pt.StochasticPulseUpdate(), read_noise_std=0.01),
        ERIDER(device=SKEW, update=pt.ExpectedUpdate(noise=True), chop_prob=0.3),
        TwoStage(device=SKEW, update=pt.PulseCountUpdate(), zs_pulses=50, zs_average_last=10),
        ERIDERBuffered(
            device=SKEW,
            update=pt.PulseCountUpdate(),
            chop_prob=0.3,
            chop_random=True,
            lr_transfer=0.5,
            columns_per_transfer=2,
        ),
    ],
    ids=lambda a: type(a).__name__,
)
def test_tracking_runs_are_reproducible_and_match_the_twin(
    algo: pt.algorithms.Algorithm,
) -> None:
    prob = LeastSquares(in_size=6, out_size=2, n_samples=12, batch_size=4, noise_std=0.01)
    kw = {"steps": 12, "rng": 5, "progress": False, "record_every": 4}
    a = pt.run(prob, algo, replicas=3, n_threads=1, **kw)  # type: ignore[arg-type]
    b = pt.run(prob, algo, replicas=3, n_threads=2, **kw)  # type: ignore[arg-type]
    assert a.equals(b)
    alone = pt.run(prob, algo, replicas=1, replica_offset=1, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone.weights[0], a.weights[1])
    twin = pt.run(prob, algo, replicas=3, backend="twin", **kw)  # type: ignore[arg-type]
    for phase in a.pulses:
        np.testing.assert_array_equal(a.pulses[phase], twin.pulses[phase])
    np.testing.assert_allclose(a.weights, twin.weights, rtol=1e-12, atol=1e-15)
    back = pt.config.from_dict(a.config["algorithm"])
    assert back == algo


def _buffered_state(lr_transfer: float) -> tuple[Any, Any]:
    ideal = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=1e-3)
    algo = ERIDERBuffered(
        device=ideal, lr=0.0, lr_transfer=lr_transfer, chop_prob=0.5, gamma_mix=0.1, update=EXPECTED
    )
    inst = Quadratic(noise_std=0.0).setup(1, np.random.SeedSequence(0))
    state = algo.start(inst, np.random.SeedSequence(0))
    state.tiles["P"].set_weights(np.full((1, 1), 0.35))
    return algo, state


def test_erider_buffered_reference_tracks_a_constant_residual() -> None:
    # chop_prob 0.5 → n_samp 2, sm = min(5/2, 1) = 1; one column, so every read is a sweep.
    # With P held at 0.35, ω gains z = c(v − Q~)·lr_transfer/bg = 0.35 twice, then the first
    # chopper flip moves Q~ to the running mean 0.35 and z is 0 from then on: no pulse on W.
    _, state = _buffered_state(lr_transfer=1e-3)  # bg = Δw_min(P) = 1e−3: ω += z
    x, d = np.ones((1, 1, 1)), np.zeros((1, 1, 1))
    hs = []
    for k in range(12):
        state.step(k, x, d)
        hs.append(float(state.arrays()["H"].item()))
    assert hs[0] == pytest.approx(0.35, rel=1e-12)
    assert hs[1] == pytest.approx(0.70, rel=1e-12)
    assert hs[-1] == pytest.approx(0.70, rel=1e-12)
    assert state.arrays()["Q_copy"].item() == pytest.approx(0.35, rel=1e-12)
    assert state.tiles["W"].pulse_counts("transfer").sum() == 0


def test_erider_buffered_drops_pulses_before_n_samp_sweeps() -> None:
    # ω = 3.5 at the first read fires trunc → clamp to 1 pulse, but W is written only after more
    # than n_samp = 2 sweeps: the buffer resets (forget_buffer) and the pulse is dropped.
    _, state = _buffered_state(lr_transfer=1e-2)
    x, d = np.ones((1, 1, 1)), np.zeros((1, 1, 1))
    state.step(0, x, d)
    assert state.arrays()["H"].item() == 0.0
    assert state.tiles["W"].pulse_counts("transfer").sum() == 0
