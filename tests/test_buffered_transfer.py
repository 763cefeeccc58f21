"""TTv2, c-TTv2 and AGAD (shared/theory.md §3.6–3.8): exact trajectories, C15, C25, contracts.

The exact tests drive a state's ``step`` with given gradient factors on an ideal device in the
expected mode (so A moves by exactly −lr·d xᵀ and a pulse on W by exactly Δw_min(W)) and
recompute A, H, the firings, the buffer rules, the choppers and AGAD's means in plain NumPy
from the equations of theory.md, independently of the implementation.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from conftest import constrained_fields, invalid_value
from pulsetrain.algorithms import AGAD, ChoppedTTv2, ERIDERBuffered, TTv2
from pulsetrain.layers import AnalogLinear
from pulsetrain.periphery import transfer_io
from pulsetrain.problems import Classifier, LeastSquares, TeacherStudent
from pulsetrain.rng import tile_key
from pulsetrain.streams import CHOPPER_KEY_INDEX, TAG_CHOPPER
from pulsetrain.tile import Backend

EXPECTED = pt.ExpectedUpdate()
DW_W, DW_A = 0.1, 0.05
IDEAL_W = pt.Device(response=pt.Ideal(w_min=-100.0, w_max=100.0), dw_min=DW_W)
IDEAL_A = pt.Device(response=pt.Ideal(w_min=-100.0, w_max=100.0), dw_min=DW_A)
SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-2)
SEED = 0


def _state(algo: pt.algorithms.Algorithm, out: int, n_in: int) -> Any:
    inst = LeastSquares(in_size=n_in, out_size=out, n_samples=4).setup(
        1, np.random.SeedSequence(SEED)
    )
    return algo.start(inst, np.random.SeedSequence(SEED))


def _factors(steps: int, out: int, n_in: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    return gen.normal(size=(steps, 1, 1, n_in)), gen.normal(size=(steps, 1, 1, out))


def _fire(
    omega: np.ndarray, thr: float, cap_pulses: int, momentum: float, *, forget: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Theory §3.6 step 3: n = clamp(trunc(ω/thr)) where |ω| ≥ thr, then forget or subtract."""
    fire = np.abs(omega) >= thr
    n = np.where(fire, np.clip(np.trunc(omega / thr), -cap_pulses, cap_pulses), 0.0)
    if forget:
        return n, np.where(fire, momentum * omega, omega)
    return n, omega - (1.0 - momentum) * n * thr


def _uniforms(step: int, n: int) -> np.ndarray:
    key = list(tile_key(np.random.SeedSequence(SEED), CHOPPER_KEY_INDEX))
    return np.asarray(Backend.RUST.replica_uniforms(key, step, 0, 1, n, TAG_CHOPPER)[0])


# ----------------------------------------------------------------------------- exact: TTv2
@pytest.mark.parametrize(
    ("forget", "momentum", "every", "cols"), [(True, 0.3, 1, 1), (False, 0.2, 2, 2)]
)
def test_ttv2_matches_a_hand_computed_trajectory(
    *, forget: bool, momentum: float, every: int, cols: int
) -> None:
    out, n_in, steps, lr, lr_t, thr, cap = 2, 3, 6, 0.5, 0.7, 0.8, 2
    algo = TTv2(
        device=IDEAL_W,
        device_residual=IDEAL_A,
        update=EXPECTED,
        lr=lr,
        lr_transfer=lr_t,
        threshold=thr,
        momentum=momentum,
        forget_buffer=forget,
        max_transfer_pulses=cap,
        transfer_every=every,
        columns_per_transfer=cols,
    )
    st = _state(algo, out, n_in)
    xs, ds = _factors(steps, out, n_in)
    a = np.zeros((out, n_in))
    w = st.arrays()["W"][0].copy()
    h = np.zeros((out, n_in))
    ptr, fired = 0, 0
    for k in range(steps):
        st.step(k, xs[k], ds[k])
        a -= lr * np.outer(ds[k][0, 0], xs[k][0, 0])
        if (k + 1) % every == 0:
            for j in [(ptr + c) % n_in for c in range(cols)]:
                n, h[:, j] = _fire(
                    h[:, j] + lr_t * a[:, j], thr * DW_W, cap, momentum, forget=forget
                )
                w[:, j] += n * DW_W
                fired += int(np.abs(n).sum())
            ptr = (ptr + cols) % n_in
        arr = st.arrays()
        np.testing.assert_allclose(arr["P"][0], a, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(arr["H"][0], h, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(arr["W"][0], w, rtol=1e-12, atol=1e-14)
    assert fired > 0
    assert st.tiles["W"].pulse_counts("transfer").sum() == fired


# ----------------------------------------------------------------------------- exact: c-TTv2
@pytest.mark.parametrize(
    "kw",
    [
        {"chop_random": True, "chop_prob": 0.5, "out_chop_prob": 0.5},
        {"chop_random": False, "chop_prob": 0.5, "forget_buffer": False, "momentum": 0.25},
        {"chop_random": True, "chop_prob": 0.3, "no_buffer": True, "auto_granularity": 2.0},
        {
            "chop_random": False,
            "chop_prob": 0.4,
            "auto_scale": True,
            "auto_momentum": 0.6,
            "correct_gradient_magnitudes": True,
        },
    ],
)
def test_chopped_ttv2_matches_a_hand_computed_trajectory(kw: dict[str, Any]) -> None:
    out, n_in, steps, lr, lr_t, cap = 2, 2, 10, 0.5, 0.03, 2
    algo = ChoppedTTv2(
        device=IDEAL_W,
        device_residual=IDEAL_A,
        update=EXPECTED,
        lr=lr,
        lr_transfer=lr_t,
        max_transfer_pulses=cap,
        **kw,
    )
    st = _state(algo, out, n_in)
    xs, ds = _factors(steps, out, n_in, seed=3)
    p, p_out = algo.chop_prob, algo.out_chop_prob
    period = max(math.ceil(1 / p), 2)
    bg = DW_A * algo.auto_granularity / n_in if algo.auto_granularity > 0 else DW_A
    a = np.zeros((out, n_in))
    w = st.arrays()["W"][0].copy()
    h = np.zeros((out, n_in))
    c, co = np.ones(n_in), np.ones(out)
    m_x = m_d = 0.0
    ptr = sweeps = flips = fired = 0
    for k in range(steps):
        st.step(k, xs[k], ds[k])
        x, d = xs[k][0, 0], ds[k][0, 0]
        lam = lr
        if algo.auto_scale:  # EMAs of max|x|, max|d| started at the first value; bl = 1
            m_x = np.abs(x).max() if k == 0 else 0.6 * m_x + 0.4 * np.abs(x).max()
            m_d = np.abs(d).max() if k == 0 else 0.6 * m_d + 0.4 * np.abs(d).max()
            lam = lr * DW_A / (m_x * m_d)
        a -= lam * np.outer(co * d, c * x)
        j = ptr
        z = co * c[j] * a[:, j]
        scale = lr_t / bg
        if algo.correct_gradient_magnitudes:
            scale = lr_t / (lam * bg * DW_W / DW_A)
        start = 0.0 if algo.no_buffer else h[:, j]
        n, h[:, j] = _fire(start + z * scale, 1.0, cap, algo.momentum, forget=algo.forget_buffer)
        w[:, j] += n * DW_W
        fired += int(np.abs(n).sum())
        if not algo.chop_random and sweeps % period == period - 1:
            # Regular mode: a column flips right after its read in a period's last sweep.
            c[j] *= -1
            flips += 1
        ptr = (ptr + 1) % n_in
        sweep = ptr == 0
        n_col = 1 if algo.chop_random else 0
        n_row = out if sweep and p_out > 0 else 0
        if n_col + n_row:
            u = _uniforms(k, n_col + n_row)
            if n_col and u[0] < p:
                c[j] *= -1
                flips += 1
            if n_row:
                co = np.where(u[n_col:] < p_out, -co, co)
        if sweep:
            sweeps += 1
        arr = st.arrays()
        np.testing.assert_allclose(arr["P"][0], a, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(arr["H"][0], h, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(arr["W"][0], w, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(st.transfer.chop[0, 0], c)
    assert fired > 0
    assert flips > 0


def test_c15_all_negative_choppers_negate_a_and_keep_z() -> None:
    # theory.md C15: ALD with SP 0 (F even, G odd) in the compact mode, so
    # AU(−A, −Δ) = −AU(A, Δ): with every c_j = −1 the chopped run's A is minus the unchopped
    # one at every step, and the demodulated z = c·read(A), hence H and W, are unchanged.
    ald = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
    algo = ChoppedTTv2(
        device=ald,
        update=EXPECTED,
        lr=0.2,
        lr_transfer=0.004,
        chop_prob=0.0,
        columns_per_transfer=0,
    )
    out, n_in = 3, 4
    plain, chopped = _state(algo, out, n_in), _state(algo, out, n_in)
    chopped.transfer.chop = -np.ones_like(chopped.transfer.chop)
    xs, ds = _factors(40, out, n_in, seed=11)
    for k in range(40):
        plain.step(k, xs[k], ds[k])
        chopped.step(k, xs[k], ds[k])
        a, b = plain.arrays(), chopped.arrays()
        np.testing.assert_array_equal(b["P"], -a["P"])
        np.testing.assert_array_equal(b["H"], a["H"])
        np.testing.assert_array_equal(b["W"], a["W"])
    assert (chopped.transfer.chop == -1.0).all()
    assert plain.tiles["W"].pulse_counts("transfer").sum() > 0


# ----------------------------------------------------------------------------- exact: AGAD
@pytest.mark.parametrize(
    "kw",
    [
        {"chop_random": False},
        {"chop_random": True, "forget_buffer": False, "momentum": 0.2, "buffer_cap": 1.5},
    ],
)
def test_agad_matches_a_hand_computed_trajectory(kw: dict[str, Any]) -> None:
    out, n_in, steps, lr, lr_t, cap = 2, 2, 16, 0.5, 0.06, 2
    algo = AGAD(
        device=IDEAL_W,
        device_residual=IDEAL_A,
        update=EXPECTED,
        lr=lr,
        lr_transfer=lr_t,
        chop_prob=0.5,  # n_samp = 2
        tail_weightening=0.5,  # sm = 0.25
        max_transfer_pulses=cap,
        **kw,
    )
    st = _state(algo, out, n_in)
    xs, ds = _factors(steps, out, n_in, seed=5)
    n_samp, sm = 2, 0.25
    limit = algo.buffer_cap * cap if algo.buffer_cap > 0 and not algo.forget_buffer else None
    a = np.zeros((out, n_in))
    w = st.arrays()["W"][0].copy()
    h, m, m_ref = np.zeros((out, n_in)), np.zeros((out, n_in)), np.zeros((out, n_in))
    c = np.ones(n_in)
    flipped = np.zeros(n_in, dtype=bool)
    ptr = sweeps = dropped = written = 0
    for k in range(steps):
        st.step(k, xs[k], ds[k])
        a -= lr * np.outer(ds[k][0, 0], c * xs[k][0, 0])
        j, v = ptr, a[:, ptr].copy()
        if flipped[j]:
            m_ref[:, j] = m[:, j]
            flipped[j] = False
        z = c[j] * (v - m_ref[:, j])
        n, h[:, j] = _fire(
            h[:, j] + z * lr_t / DW_A, 1.0, cap, algo.momentum, forget=algo.forget_buffer
        )
        if limit is not None:
            h[:, j] = np.clip(h[:, j], -limit, limit)
        if sweeps > n_samp:
            w[:, j] += n * DW_W
            written += int(np.abs(n).sum())
        else:
            dropped += int(np.abs(n).sum())
        m[:, j] = (1 - sm) * m[:, j] + sm * v
        if algo.chop_random and _uniforms(k, 1)[0] < 0.5:
            c[j] *= -1
            flipped[j] = True
        if sweeps % n_samp == n_samp - 1:
            # A column flips right after its read in the last sweep of each period (aihwkit).
            c[j] *= -1
            flipped[j] = True
        ptr = (ptr + 1) % n_in
        if ptr == 0:
            sweeps += 1
        arr = st.arrays()
        np.testing.assert_allclose(arr["P"][0], a, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(arr["H"][0], h, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(arr["M"][0], m, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(arr["M_ref"][0], m_ref, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(arr["W"][0], w, rtol=1e-12, atol=1e-14)
    assert written > 0
    assert dropped > 0
    assert st.tiles["W"].pulse_counts("transfer").sum() == written


# ----------------------------------------------------------------------------- contracts
ALGOS = [
    TTv2(
        device=SKEW,
        update=pt.StochasticPulseUpdate(),
        gamma_mix=0.2,
        lr_transfer=0.5,
        columns_per_transfer=2,
        read_noise_std=0.01,
    ),
    ChoppedTTv2(
        device=SKEW,
        update=pt.PulseCountUpdate(),
        out_chop_prob=0.3,
        gamma_mix=0.1,
        lr_transfer=0.05,
        transfer_io=transfer_io(),
        auto_scale=True,
        columns_per_transfer=0,
    ),
    AGAD(
        device=SKEW,
        update=pt.ExpectedUpdate(noise=True),
        chop_random=True,
        chop_prob=0.3,
        gamma_mix=0.1,
        lr_transfer=0.5,
        columns_per_transfer=0,
    ),
]
PROBLEM = LeastSquares(in_size=6, out_size=2, n_samples=12, batch_size=4, noise_std=0.01)


@pytest.mark.parametrize("algo", ALGOS, ids=lambda a: type(a).__name__)
def test_runs_are_thread_and_offset_independent_and_match_the_twin(
    algo: pt.algorithms.Algorithm,
) -> None:
    kw = {"steps": 30, "rng": 5, "progress": False, "record_every": 10}
    a = pt.run(PROBLEM, algo, replicas=3, n_threads=1, **kw)  # type: ignore[arg-type]
    b = pt.run(PROBLEM, algo, replicas=3, n_threads=2, **kw)  # type: ignore[arg-type]
    assert a.equals(b)
    alone = pt.run(PROBLEM, algo, replicas=1, replica_offset=2, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone.weights[0], a.weights[2])
    np.testing.assert_array_equal(alone.loss[0], a.loss[2])
    assert a.total_pulses["update"].min() > 0
    assert a.total_pulses["transfer"].min() > 0
    assert {"W", "P", "H"} <= set(a.arrays)
    assert all(v.dtype == np.float64 and v.shape == (3, 2, 6) for v in a.arrays.values())
    twin = pt.run(PROBLEM, algo, replicas=3, backend="twin", **kw)  # type: ignore[arg-type]
    for phase in a.pulses:
        np.testing.assert_array_equal(a.pulses[phase], twin.pulses[phase])
    np.testing.assert_allclose(a.weights, twin.weights, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.loss, twin.loss, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("algo", [*ALGOS, TTv2.example(), ChoppedTTv2.example(), AGAD.example()])
def test_config_round_trips_through_dict_json_and_toml(algo: pt.algorithms.Algorithm) -> None:
    cfg = pulsetrain.config
    assert cfg.from_dict(cfg.to_dict(algo)) == algo
    assert cfg.from_dict(cfg.loads_json(cfg.dumps_json(algo))) == algo
    assert cfg.from_dict(cfg.loads_toml(cfg.dumps_toml(algo))) == algo


MINE = (TTv2, ChoppedTTv2, AGAD)


@pytest.mark.parametrize(("cls", "name"), [(c, n) for c, n in constrained_fields() if c in MINE])
def test_every_constrained_field_is_checked(cls: type, name: str) -> None:
    with pytest.raises(pt.ParameterError, match=f"The '{name}' parameter of {cls.__name__} must"):
        dataclasses.replace(cls.example(), **{name: invalid_value(cls, name)})  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cls", "name", "bad"),
    [
        (TTv2, "threshold", 0.0),
        (TTv2, "momentum", 1.5),
        (TTv2, "max_transfer_pulses", 0),
        (ChoppedTTv2, "chop_prob", 1.1),
        (ChoppedTTv2, "out_chop_prob", -0.1),
        (ChoppedTTv2, "buffer_granularity", 0.0),
        (ChoppedTTv2, "auto_momentum", 1.0),
        (AGAD, "chop_prob", 0.0),
        (AGAD, "tail_weightening", 0.0),
        (AGAD, "buffer_cap", -1.0),
    ],
)
def test_out_of_range_values_are_rejected(cls: type, name: str, bad: object) -> None:
    with pytest.raises(pt.ParameterError, match=f"'{name}' parameter of {cls.__name__}"):
        dataclasses.replace(cls.example(), **{name: bad})  # type: ignore[attr-defined]


def test_erider_buffered_and_agad_share_the_transfer() -> None:
    # The buffered E-RIDER is AGAD's transfer with E-RIDER's defaults: with the same fields and
    # gamma_mix, both give the same run bit for bit.
    kw = {
        "chop_prob": 0.3,
        "chop_random": True,
        "lr": 0.2,
        "lr_transfer": 0.5,
        "columns_per_transfer": 2,
        "gamma_mix": 0.1,
        "update": pt.PulseCountUpdate(),
    }
    run = {"steps": 40, "rng": 2, "replicas": 2, "progress": False, "record_every": 40}
    er = pt.run(PROBLEM, ERIDERBuffered(device=SKEW, **kw), **run)  # type: ignore[arg-type]
    ag = pt.run(PROBLEM, AGAD(device=SKEW, **kw), **run)  # type: ignore[arg-type]
    np.testing.assert_array_equal(er.weights, ag.weights)
    np.testing.assert_array_equal(er.arrays["H"], ag.arrays["H"])
    np.testing.assert_array_equal(er.arrays["Q_copy"], ag.arrays["M_ref"])
    assert er.total_pulses["transfer"].min() > 0


# ----------------------------------------------------------------------------- layers
@pytest.mark.parametrize(
    "algo",
    [
        TTv2(device=IDEAL_W, update=EXPECTED, gamma_mix=0.3, lr=0.1),
        ChoppedTTv2(
            device=IDEAL_W,
            update=EXPECTED,
            gamma_mix=0.3,
            out_chop_prob=0.5,
            chop_prob=0.5,
            lr=0.1,
            columns_per_transfer=0,
        ),
        AGAD(
            device=IDEAL_W,
            update=EXPECTED,
            gamma_mix=0.3,
            chop_prob=0.5,
            chop_random=True,
            lr=0.1,
            columns_per_transfer=0,
        ),
    ],
    ids=lambda a: type(a).__name__,
)
def test_analog_linear_passes_are_the_effective_weights(algo: pt.algorithms.Algorithm) -> None:
    # Perfect IO and an ideal device: forward and backward through the tiles equal W̄ x and
    # W̄ᵀ d to rounding (a few products per sum, so 1e-12 relative is ample), with the choppers
    # flipping between steps.
    gen = np.random.default_rng(0)
    r, n_in, n_out = 2, 4, 3
    lay = AnalogLinear(n_in, n_out, algo, replicas=r, rng=0, forward_io=None, backward_io=None)
    for step in range(8):
        x = gen.normal(size=(r, 5, n_in))
        g = gen.normal(size=(r, 5, n_out))
        w_eff = lay.state.effective_weights()
        bias = lay.bias
        assert bias is not None
        np.testing.assert_allclose(
            lay.forward(x),
            np.einsum("roi,rbi->rbo", w_eff, x) + bias[:, None, :],
            rtol=1e-12,
            atol=1e-12,
        )
        np.testing.assert_allclose(
            lay.backward(g), np.einsum("roi,rbo->rbi", w_eff, g), rtol=1e-12, atol=1e-12
        )
        lay.update(step)
    assert lay.pulse_totals()["update"].min() > 0


@pytest.mark.parametrize("cls", MINE)
def test_short_classifier_run(cls: type) -> None:
    prob = Classifier(
        dataset=TeacherStudent(n_train=200, n_test=100, in_size=8), hidden=(6,), batch_size=5
    )
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.01)
    algo = cls(device=dev, lr=0.1, lr_transfer=0.1, gamma_mix=0.1, columns_per_transfer=0)
    res = pt.run(prob, algo, steps=60, replicas=2, rng=0, progress=False, record_every=20)
    assert np.isfinite(res.loss).all()
    assert res.total_pulses["update"].min() > 0
    assert res.total_pulses["transfer"].min() > 0


# ----------------------------------------------------------------------------- C25 (slow)
def _few_state(sigma_r: float) -> pt.Device:
    # 20 states on [−1, 1], asymmetric soft bounds; the reference sits at the SP plus
    # sigma_r·ξ, so A's logical SP is −sigma_r·ξ (theory.md §2.4; sigma_r 0.5 = 25% of the range).
    return pt.Device(
        response=pt.SoftBounds(slope_up=1.2, slope_down=0.8),
        dw_min=0.1,
        subtract_symmetry_point=True,
        reference_std=sigma_r,
    )


C25_R, C25_STEPS = 32, 20_000


def _c25_errors(cls: type, sigma_r: float) -> np.ndarray:
    algo = cls(
        device=_few_state(0.0),
        device_residual=_few_state(sigma_r),
        update=pt.StochasticPulseUpdate(),
        lr=0.05,
        lr_transfer=0.1,
    )
    res = pt.run(
        LeastSquares(in_size=8, out_size=4, n_samples=64, batch_size=1),
        algo,
        steps=C25_STEPS,
        replicas=C25_R,
        rng=2024,
        progress=False,
        record_every=C25_STEPS // 20,
    )
    # Per replica: ‖W − W*‖² averaged over the second half of the records.
    return np.asarray(res.error[:, res.error.shape[1] // 2 :].mean(axis=1))


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    d = x - y
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))


@pytest.mark.slow
def test_c25_reference_offsets_hurt_ttv2_most_and_agad_not_at_all() -> None:
    # theory.md C25 (B1). Tolerances: the R = 32 replicas are independent (own problem, device
    # maps, reference offsets and pulse noise), so the per-replica tail errors e_r are i.i.d.;
    # two algorithms run with the same seed are compared through the paired differences
    # δ_r = e_X,r − e_Y,r, whose mean has standard error SE = std(δ)/√R. "X ≥ Y" asserts
    # mean(δ) > −4·SE (not rejected at 4 SE), "X ≫ Y" asserts mean(δ) > 4·SE and
    # mean(e_X) > 2·mean(e_Y), "flat" asserts |mean(δ)| ≤ 4·SE. Measured (20000 steps):
    # TTv2 7.91 ± 0.63, c-TTv2 2.25 ± 0.09, AGAD 0.345 ± 0.015 at sigma_r 0.5; AGAD 0.340 at 0
    # (δ = 0.005 ± 0.007); TTv2 0.50 and c-TTv2 0.58 at sigma_r 0.
    tt = _c25_errors(TTv2, 0.5)
    ct = _c25_errors(ChoppedTTv2, 0.5)
    ag = _c25_errors(AGAD, 0.5)
    ag0 = _c25_errors(AGAD, 0.0)
    diff, se = _paired(tt, ct)
    assert diff > 4 * se, (diff, se)
    assert tt.mean() > 2 * ct.mean(), (tt.mean(), ct.mean())
    diff, se = _paired(ct, ag)
    assert diff > -4 * se, (diff, se)
    diff, se = _paired(ag, ag0)
    assert abs(diff) <= 4 * se, (diff, se)
