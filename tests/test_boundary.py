"""Bad input from Python: a ValueError subclass naming the argument, and an unchanged tile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain import _core
from pulsetrain.errors import NonFiniteError, ParameterError, PulsetrainError, ShapeError


def _device() -> pt.Device:
    return pt.Device(
        response=pt.SoftBounds(slope_up=1.1, slope_down=0.9),
        dw_min=0.01,
        dw_min_std=0.2,
        dw_min_dtod=0.1,
        reference_std=0.05,
    )


def _state(tile: pt.AnalogTile) -> tuple[Any, ...]:
    return (
        tile.physical_weights.tobytes(),
        tile.pulse_counts("update").tobytes(),
        tile.pulse_counts("transfer").tobytes(),
        tile.pulse_counts("calibration").tobytes(),
        tile.tick,
    )


@pytest.fixture(params=[pt.ExpectedUpdate(), pt.PulseCountUpdate(), pt.StochasticPulseUpdate()])
def tile(request: pytest.FixtureRequest) -> pt.AnalogTile:
    t = pt.AnalogTile(4, 3, _device(), replicas=2, update=request.param, rng=5)
    t.update(np.full((2, 1, 3), 0.5), np.full((2, 1, 4), 0.3), lr=0.1)  # a non-trivial state
    return t


def _nan(shape: tuple[int, ...]) -> np.ndarray:
    a = np.zeros(shape)
    a.flat[-1] = np.nan
    return a


def _inf(shape: tuple[int, ...]) -> np.ndarray:
    a = np.zeros(shape)
    a.flat[0] = -np.inf
    return a


BAD_UPDATES: list[tuple[str, Callable[[], tuple[Any, Any, Any]], type[Exception], str]] = [
    ("x wrong width", lambda: (np.zeros((2, 1, 4)), np.zeros((2, 1, 4)), 0.1), ShapeError, "'x'"),
    ("x wrong rank", lambda: (np.zeros((2, 3)), np.zeros((2, 1, 4)), 0.1), ShapeError, "'x'"),
    (
        "x wrong replicas",
        lambda: (np.zeros((3, 1, 3)), np.zeros((3, 1, 4)), 0.1),
        ShapeError,
        "'x'",
    ),
    ("d wrong width", lambda: (np.zeros((2, 1, 3)), np.zeros((2, 1, 5)), 0.1), ShapeError, "'d'"),
    ("batch mismatch", lambda: (np.zeros((2, 2, 3)), np.zeros((2, 1, 4)), 0.1), ShapeError, "'d'"),
    ("x NaN", lambda: (_nan((2, 1, 3)), np.zeros((2, 1, 4)), 0.1), NonFiniteError, "'x'"),
    ("d inf", lambda: (np.zeros((2, 1, 3)), _inf((2, 1, 4)), 0.1), NonFiniteError, "'d'"),
    ("x strings", lambda: (np.full((2, 1, 3), "a"), np.zeros((2, 1, 4)), 0.1), ShapeError, "'x'"),
    (
        "x complex",
        lambda: (np.zeros((2, 1, 3), complex), np.zeros((2, 1, 4)), 0.1),
        ShapeError,
        "'x'",
    ),
    ("x object", lambda: (object(), np.zeros((2, 1, 4)), 0.1), ShapeError, "'x'"),
    (
        "lr negative",
        lambda: (np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), -0.1),
        ParameterError,
        "'lr'",
    ),
    (
        "lr NaN",
        lambda: (np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), float("nan")),
        ParameterError,
        "'lr'",
    ),
    (
        "lr inf",
        lambda: (np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), float("inf")),
        ParameterError,
        "'lr'",
    ),
    (
        "lr string",
        lambda: (np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), "0.1"),
        ParameterError,
        "'lr'",
    ),
]


@pytest.mark.parametrize(
    ("name", "make", "exc", "arg"), BAD_UPDATES, ids=[b[0] for b in BAD_UPDATES]
)
def test_bad_update_raises_and_leaves_tile_unchanged(
    tile: pt.AnalogTile,
    name: str,
    make: Callable[[], tuple[Any, Any, Any]],
    exc: type[Exception],
    arg: str,
) -> None:
    before = _state(tile)
    x, d, lr = make()
    with pytest.raises(exc, match=arg) as info:
        tile.update(x, d, lr=lr)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, PulsetrainError)
    assert _state(tile) == before


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (np.zeros((2, 4, 4)), ShapeError),
        (np.zeros((4, 3)), ShapeError),  # 2-D only when R = 1
        (_nan((2, 4, 3)), NonFiniteError),
        (_inf((2, 4, 3)), NonFiniteError),
    ],
)
def test_bad_set_weights(tile: pt.AnalogTile, value: np.ndarray, exc: type[Exception]) -> None:
    before = _state(tile)
    with pytest.raises(exc, match="'weights'"):
        tile.set_weights(value)
    assert _state(tile) == before


def test_bad_apply_delta(tile: pt.AnalogTile) -> None:
    before = _state(tile)
    if isinstance(tile.update_mode, pt.StochasticPulseUpdate):
        with pytest.raises(ParameterError, match="'update'"):
            tile.apply_delta(np.zeros((2, 4, 3)))
    else:
        with pytest.raises(ShapeError, match="'delta'"):
            tile.apply_delta(np.zeros((2, 3, 4)))
        with pytest.raises(NonFiniteError, match="'delta'"):
            tile.apply_delta(_nan((2, 4, 3)))
    assert _state(tile) == before


@pytest.mark.parametrize("phase", ["updates", 3, None, "UPDATE "])
def test_bad_phase(tile: pt.AnalogTile, phase: Any) -> None:
    before = _state(tile)
    with pytest.raises(ParameterError, match="'phase'"):
        tile.update(np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), lr=0.1, phase=phase)
    with pytest.raises(ParameterError, match="'phase'"):
        tile.pulse_counts(phase)
    assert _state(tile) == before


@pytest.mark.parametrize("n_threads", [0, -1, 1025, 2.5, True])
def test_bad_thread_count(tile: pt.AnalogTile, n_threads: Any) -> None:
    before = _state(tile)
    with pytest.raises(ParameterError, match="'n_threads'"):
        tile.update(np.zeros((2, 1, 3)), np.zeros((2, 1, 4)), lr=0.1, n_threads=n_threads)
    assert _state(tile) == before


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"out_size": 0}, "out_size"),
        ({"in_size": -3}, "in_size"),
        ({"replicas": 0}, "replicas"),
        ({"out_size": 2.0}, "out_size"),
        ({"replica_offset": -1}, "replica_offset"),
        ({"n_threads": 0}, "n_threads"),
        ({"rng": -5}, "rng"),
        ({"update": "stochastic"}, "update"),
        ({"device": pt.ALD(tau=1.0)}, "device"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, Any], name: str) -> None:
    args: dict[str, Any] = {"out_size": 2, "in_size": 2, "device": _device()}
    args.update(kwargs)
    with pytest.raises(ParameterError, match=f"'{name}'"):
        pt.AnalogTile(**args)


def test_core_is_strict_about_arrays() -> None:
    t = pt.AnalogTile(4, 3, _device(), replicas=2, update=pt.ExpectedUpdate(), rng=1)
    raw: Any = t._tile  # the backend tile, given deliberately wrong types
    before = _state(t)
    ok = np.zeros((2, 4, 3))
    with pytest.raises(ShapeError, match="float64"):
        raw.set_weights(ok.astype(np.float32))
    with pytest.raises(ShapeError, match="contiguous"):
        raw.set_weights(np.zeros((2, 3, 4)).transpose(0, 2, 1))
    with pytest.raises(ShapeError, match=r"numpy\.ndarray"):
        raw.set_weights(ok.tolist())
    with pytest.raises(ShapeError, match="shape"):
        raw.apply_delta(np.zeros((2, 4)), 0)
    with pytest.raises(ParameterError, match="'phase'"):
        raw.apply_delta(ok, 7)
    with pytest.raises(ParameterError, match="'n_threads'"):
        raw.apply_delta(ok, 0, 0)
    assert _state(t) == before


def test_core_rejects_bad_specs() -> None:
    spec = _device().to_spec()
    upd = pt.ExpectedUpdate().to_spec()
    for key, value, name in [
        ("dw_min", -1.0, "dw_min"),
        ("dw_min", float("nan"), "dw_min"),
        ("family", "quadratic", "family"),
        ("hi", -2.0, "hi"),
        ("dw_min_std", "x", "dw_min_std"),
    ]:
        bad = dict(spec, **{key: value})
        with pytest.raises(ParameterError, match=f"'{name}'"):
            _core.Tile(bad, upd, 2, 2, 1, [1, 2])
    missing = dict(spec)
    del missing["w_max_dtod"]
    with pytest.raises(ParameterError, match="'w_max_dtod'"):
        _core.Tile(missing, upd, 2, 2, 1, [1, 2])
    for mode, name in [
        ({"kind": "pulse_count", "max_bl": 0, "rounding": "ceil"}, "max_bl"),
        ({"kind": "pulse_count", "max_bl": 4, "rounding": "up"}, "rounding"),
        (dict(pt.StochasticPulseUpdate().to_spec(), desired_bl=5000), "desired_bl"),
        ({"kind": "sgd"}, "kind"),
    ]:
        with pytest.raises(ParameterError, match=f"'{name}'"):
            _core.Tile(spec, mode, 2, 2, 1, [1, 2])
    with pytest.raises(ParameterError, match="'key'"):
        _core.Tile(spec, upd, 2, 2, 1, [1, 2, 3])
    with pytest.raises(ParameterError, match="'key'"):
        _core.Tile(spec, upd, 2, 2, 1, [-1, 2])


def test_read_only_and_foreign_inputs_are_copied_not_written() -> None:
    t = pt.AnalogTile(2, 3, _device(), update=pt.PulseCountUpdate(), rng=3)
    x = np.full((1, 3), 0.5)
    d = np.full((1, 2), 0.2)
    x.flags.writeable = False
    d.flags.writeable = False
    t.update(x, d, lr=0.1)
    assert (x == 0.5).all()
    assert (d == 0.2).all()
    # float32, lists and strided views are coerced by the façade.
    t2 = pt.AnalogTile(2, 3, _device(), update=pt.PulseCountUpdate(), rng=3)
    t2.update(
        x.astype(np.float32).astype(np.float64).tolist(), np.full((1, 4), 0.2)[:, ::2], lr=0.1
    )
    np.testing.assert_array_equal(t.weights, t2.weights)


def test_weights_are_copies() -> None:
    t = pt.AnalogTile(2, 3, _device(), update=pt.ExpectedUpdate(), rng=3)
    w = t.weights
    w[...] = 99.0
    assert not (t.weights == 99.0).any()
    c = t.pulse_counts()
    c[...] = 7
    assert (t.pulse_counts() == 0).all()


def test_a_tile_too_large_for_memory_is_an_error_not_an_abort() -> None:
    # 2**34 elements pass the size cap, but their 512 GiB of device maps cannot be allocated:
    # the allocation is fallible and becomes a ParameterError naming the size.
    with pytest.raises(ParameterError, match="'out_size'"):
        pt.AnalogTile(1 << 17, 1 << 17, _device(), rng=0)
    with pytest.raises(ParameterError, match="'out_size'"):
        pt.AnalogTile(1 << 20, 1 << 20, _device(), rng=0)  # beyond the 2**34-element cap
