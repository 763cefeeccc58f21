"""A device's mean up/down step imbalance ``up_down`` (aihwkit's semantics; issue 20).

An element's up step is ``dw_min·(g + r)`` and its down step ``dw_min·(g − r)`` with
``r = up_down + up_down_dtod·ξ``: the mean imbalance scales ``q_+`` by ``1 + up_down`` and
``q_-`` by ``1 − up_down`` and so moves the symmetric point.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.analysis import slope_at_sp
from pulsetrain.errors import ParameterError

SB = pt.SoftBounds()  # q+ = 1 − w, q− = 1 + w on [−1, 1]


@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, math.nan, math.inf, "0.1"])
def test_up_down_outside_the_open_unit_interval_is_refused(bad: object) -> None:
    with pytest.raises(ParameterError, match=r"'up_down'.*range \(-1, 1\)"):
        pt.Device(response=SB, up_down=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.0, -1.2, math.nan])
def test_both_backends_refuse_a_bad_up_down_spec(bad: float) -> None:
    spec = pt.Device(response=SB).to_spec()
    spec["up_down"] = bad
    update = pt.ExpectedUpdate().to_spec()
    with pytest.raises(ParameterError, match="'up_down'"):
        _core.Tile(spec, update, 2, 2, 1, [1, 2], 0)
    from pulsetrain.twin.family import DeviceSpec

    with pytest.raises(ParameterError, match="'up_down'"):
        DeviceSpec.from_dict(spec)


def test_a_spec_without_up_down_means_zero() -> None:
    # Specs written before the field existed: both backends read them as up_down = 0.
    spec = pt.Device(response=SB, dw_min=0.01).to_spec()
    del spec["up_down"]
    update = pt.ExpectedUpdate().to_spec()
    a = _core.Tile(spec, update, 2, 3, 1, [1, 2], 0)
    b = _core.Tile({**spec, "up_down": 0.0}, update, 2, 3, 1, [1, 2], 0)
    np.testing.assert_array_equal(a.maps()["step_up"], b.maps()["step_up"])


def test_the_steps_are_dw_min_times_one_plus_and_minus_r() -> None:
    dev = pt.Device(response=SB, dw_min=0.01, up_down=0.2)
    maps = pt.AnalogTile(3, 4, dev, rng=0).maps()
    np.testing.assert_array_equal(maps["step_up"], np.full((1, 3, 4), 0.01 * (1.0 + 0.2)))
    np.testing.assert_array_equal(maps["step_down"], np.full((1, 3, 4), 0.01 * (1.0 - 0.2)))


def test_symmetric_point_and_slope_follow_the_imbalance() -> None:
    # Soft bounds on [−1, 1]: (1 − r)(1 + w) = (1 + r)(1 − w) at w = r, and there
    # F = (1 − r)(1 + r), G' = (1 − r + 1 + r)/2 = 1, so R'(w◇) = G'/F = 1/(1 − r²).
    for r in (-0.3, 0.0, 0.2, 0.6):
        dev = pt.Device(response=SB, up_down=r)
        assert dev.symmetric_point() == pytest.approx(r, abs=1e-12)
        assert float(dev.G(r)) == pytest.approx(0.0, abs=1e-12)
        assert slope_at_sp(dev) == pytest.approx(1.0 / (1.0 - r * r), rel=1e-8)
        np.testing.assert_allclose(dev.q_plus([0.5]), (1 + r) * 0.5, rtol=1e-15)
        np.testing.assert_allclose(dev.q_minus([0.5]), (1 - r) * 1.5, rtol=1e-15)
    ideal = pt.Device(response=pt.Ideal(), up_down=0.1)
    assert math.isnan(ideal.symmetric_point())


def test_the_elements_symmetric_point_is_subtracted_with_the_imbalance() -> None:
    # With subtract_symmetry_point and no other spread, every element's reference is its SP,
    # which the imbalance moves to r: the read-out of a tile at the SP is 0.
    dev = pt.Device(response=SB, dw_min=0.01, up_down=0.25, subtract_symmetry_point=True)
    tile = pt.AnalogTile(2, 3, dev, rng=1)
    np.testing.assert_allclose(tile.reference, 0.25, atol=1e-12)


@pytest.mark.parametrize(
    "update",
    [
        pt.ExpectedUpdate(noise=True),
        pt.PulseCountUpdate(max_bl=16),
        pt.StochasticPulseUpdate(),
    ],
    ids=["expected", "pulse_count", "stochastic"],
)
def test_rust_and_twin_agree_bit_for_bit_with_an_imbalance(update: pt.UpdateMode) -> None:
    dev = pt.Device(
        response=pt.SoftBounds(slope_up=1.1, slope_down=0.9),
        dw_min=0.02,
        dw_min_std=0.2,
        dw_min_dtod=0.1,
        up_down=0.3,
        up_down_dtod=0.05,
        w_max_dtod=0.1,
        w_min_dtod=0.1,
    )
    gen = np.random.default_rng(4)
    x = gen.normal(size=(2, 6, 5))
    d = gen.normal(size=(2, 6, 4))
    out = []
    for backend, threads in (("rust", 1), ("rust", 3), ("twin", 1)):
        t = pt.AnalogTile(4, 5, dev, replicas=2, update=update, rng=7, backend=backend,
                          n_threads=threads)  # fmt: skip
        stats = t.update(x, d, lr=0.05)
        out.append((t.physical_weights, t.pulse_counts(), stats.pulses))
    for other in out[1:]:
        for a, b in zip(out[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    assert out[0][1].sum() > 0


def test_alternating_pulses_settle_at_the_moved_symmetric_point() -> None:
    # Up, down, up, ... pulses from w = 0 converge to the SP (shared/theory.md §2.1) up to a
    # bias of order dw_min: with r = 0.2 the SP moves from 0 to 0.2.
    dev = pt.Device(response=SB, dw_min=1e-3, up_down=0.2)
    tile = pt.AnalogTile(1, 1, dev, rng=0, update=pt.PulseCountUpdate(max_bl=1))
    for _ in range(3000):
        tile.apply_pulses(np.array([[1]]))
        tile.apply_pulses(np.array([[-1]]))
    w = float(tile.physical_weights[0, 0, 0])
    assert abs(w - 0.2) < 2e-3


def test_a_fit_recovers_the_imbalance_and_writes_it_to_the_device() -> None:
    pytest.importorskip("scipy", reason="needs the 'fit' extra (scipy)")
    from pulsetrain.fitting import fit, simulate_traces

    truth = pt.Device(response=pt.ALD(tau=0.8, sp=0.1), dw_min=0.016, dw_min_std=0.2, up_down=0.15)
    traces = simulate_traces(truth, n_devices=6, n_pulses=120, n_cycles=2, rng=0)
    result = fit(traces, "ald", c2c_mode="additive", bound_spread=False)
    est, se = result.dtod["up_down"], result.se["up_down"]
    # The estimate is the mean of the 6 per-device imbalances and its SE their spread / sqrt(6)
    # (computed by the fit), so (est − truth)/se is about t with 5 degrees of freedom:
    # P(|t_5| > 4) ≈ 0.01 for this one fixed seed. Seeds 0-7 gave z = −2.3, 3.1, −1.2, 0.9,
    # 1.8, 0.2, −1.0, 2.0 (mean 0.4: no bias seen).
    assert se > 0
    assert abs(est - 0.15) < 4 * se
    assert result.device().up_down == est
