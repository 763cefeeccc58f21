"""Every constrained field rejects a bad value with the house message (CONVENTIONS §1, §2, §10)."""

from __future__ import annotations

import dataclasses
import math
import pickle
import re
from typing import Any

import numpy as np
import pytest

import pulsetrain.devices
import pulsetrain.updates
from conftest import constrained_fields, invalid_value
from pulsetrain import streams
from pulsetrain._validation import Bool, Integral, Interval, NoneOr, Options, validate_args
from pulsetrain.config import registered_classes
from pulsetrain.devices import (
    ALD,
    RESPONSE_FAMILIES,
    C2CMode,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    PowerStep,
    SkewLinear,
    SoftBounds,
)
from pulsetrain.errors import (
    MissingExtraError,
    NonFiniteError,
    ParameterError,
    PulsetrainError,
    ShapeError,
)
from pulsetrain.rng import as_seed_sequence, replica_generator, tile_key
from pulsetrain.streams import TILE
from pulsetrain.updates import (
    UPDATE_MODES,
    ExpectedUpdate,
    Phase,
    PulseCountUpdate,
    Rounding,
    StochasticPulseUpdate,
)

TEMPLATE = re.compile(r"^The '[\w.\[\]]+' parameter of [\w.]+ must be .+\. Got .+ instead\.$", re.S)
MODULES = (pulsetrain.devices, pulsetrain.updates)  # importing them registers their classes
MY_CLASSES: set[type] = {*RESPONSE_FAMILIES.values(), Device, *UPDATE_MODES.values()}


def _example(cls: type) -> Any:
    return cls.example()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("cls", "name"), constrained_fields())
def test_invalid_value_is_rejected(cls: type, name: str) -> None:
    with pytest.raises(ParameterError, match=f"The '{name}' parameter of {cls.__name__} must be"):
        dataclasses.replace(_example(cls), **{name: invalid_value(cls, name)})


def test_every_field_of_every_class_is_constrained() -> None:
    assert MY_CLASSES <= set(registered_classes())
    covered = set(constrained_fields())
    for cls in MY_CLASSES:
        for f in dataclasses.fields(cls):
            assert (cls, f.name) in covered
        assert _example(cls) == _example(cls)
        assert type(_example(cls)) is cls


@pytest.mark.parametrize("cls", sorted(MY_CLASSES, key=repr))
def test_configs_are_frozen_slotted_kw_only(cls: type) -> None:
    obj = _example(cls)
    assert not hasattr(obj, "__dict__")
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, getattr(obj, name))
    assert all(f.kw_only for f in dataclasses.fields(cls))
    assert isinstance(cls.kind, str)  # type: ignore[attr-defined]
    hash(obj)


FLOAT_FIELDS = [
    (cls, name)
    for cls, name in constrained_fields()
    if cls in MY_CLASSES and isinstance(getattr(_example(cls), name), float)
]


@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "1.0", True, None, [1.0]])
def test_float_fields_reject_non_finite_and_wrong_types(cls: type, name: str, bad: object) -> None:
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of {cls.__name__} must"):
        dataclasses.replace(_example(cls), **{name: bad})


@pytest.mark.parametrize(("cls", "name"), FLOAT_FIELDS)
def test_float_fields_store_python_floats(cls: type, name: str) -> None:
    value = getattr(_example(cls), name)
    obj = dataclasses.replace(_example(cls), **{name: np.float64(value)})
    assert type(getattr(obj, name)) is float
    assert obj == _example(cls)


@pytest.mark.parametrize(
    ("cls", "name"),
    [(PulseCountUpdate, "max_bl"), (StochasticPulseUpdate, "desired_bl")],
)
@pytest.mark.parametrize("bad", [8.0, True, "8", None, 0, -1])
def test_int_fields_reject_floats_bools_and_out_of_range(cls: type, name: str, bad: object) -> None:
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of {cls.__name__} must"):
        cls(**{name: bad})


def test_int_fields_accept_numpy_ints_and_bounds() -> None:
    assert type(PulseCountUpdate(max_bl=np.int64(8)).max_bl) is int  # type: ignore[arg-type]
    assert PulseCountUpdate(max_bl=1_000_000).max_bl == 1_000_000
    with pytest.raises(ParameterError, match=r"an int in the range \[1, 1000000\]"):
        PulseCountUpdate(max_bl=1_000_001)
    assert StochasticPulseUpdate(desired_bl=1024).desired_bl == 1024
    with pytest.raises(ParameterError):
        StochasticPulseUpdate(desired_bl=1025)


@pytest.mark.parametrize("bad", [1, 0, "true", None, np.float64(1.0)])
def test_bool_fields_reject_non_bools(bad: object) -> None:
    with pytest.raises(ParameterError, match=r"^The 'noise' parameter of ExpectedUpdate must be"):
        ExpectedUpdate(noise=bad)  # type: ignore[arg-type]
    assert ExpectedUpdate(noise=np.True_).noise is True  # type: ignore[arg-type]


def test_enum_fields_accept_members_and_values_only() -> None:
    assert PulseCountUpdate(rounding="stochastic").rounding is Rounding.STOCHASTIC  # type: ignore[arg-type]
    assert Device(response=Ideal(), c2c_mode="multiplicative").c2c_mode is C2CMode.MULTIPLICATIVE  # type: ignore[arg-type]
    for bad in ("STOCHASTIC", "floor", 1, None, C2CMode.ADDITIVE):
        with pytest.raises(ParameterError, match="'rounding' parameter of PulseCountUpdate"):
            PulseCountUpdate(rounding=bad)  # type: ignore[arg-type]


def test_message_template_exactly() -> None:
    with pytest.raises(ParameterError) as info:
        Device(response=Ideal(), dw_min=-0.1)
    assert str(info.value) == (
        "The 'dw_min' parameter of Device must be a float in the range (0, inf). Got -0.1 instead."
    )
    with pytest.raises(ParameterError) as info:
        SkewLinear(tau=1.0, c_lin=1.0)
    assert str(info.value) == (
        "The 'c_lin' parameter of SkewLinear must be a float in the range (-1, 1). Got 1.0 instead."
    )
    with pytest.raises(ParameterError) as info:
        Device(response=Ideal(), dw_min_std=-1e-3)
    assert "a float in the range [0, inf). Got -0.001 instead." in str(info.value)
    with pytest.raises(ParameterError) as info:
        Device(response="ideal")  # type: ignore[arg-type]
    assert str(info.value).startswith("The 'response' parameter of Device must be an instance of")


def test_every_message_follows_the_template() -> None:
    for cls, name in constrained_fields():
        with pytest.raises(ParameterError) as info:
            dataclasses.replace(_example(cls), **{name: invalid_value(cls, name)})
        assert TEMPLATE.match(str(info.value)), str(info.value)


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: Ideal(w_min=1.0, w_max=1.0), "w_max"),
        (lambda: Ideal(w_min=2.0, w_max=-1.0), "w_max"),
        (lambda: SoftBounds(w_min=0.1), "w_min"),
        (lambda: SoftBounds(w_max=-0.1), "w_max"),
        (lambda: SoftBounds(slope_up=0.0), "slope_up"),
        (lambda: SkewLinear(tau=1.0, c_lin=-1.0), "c_lin"),
        (lambda: LinearStep(tau_max=1.0, tau_min=0.5), "tau_min"),
        (lambda: LinearStep(tau_max=-1.0, tau_min=-0.5), "tau_max"),
        (lambda: PowerStep(tau_max=1.0, tau_min=0.0, gamma_up=1.0, gamma_down=1.0), "tau_min"),
        (lambda: ExpStep(tau_max=0.0, gamma_up=1.0, gamma_down=1.0), "tau_max"),
        (lambda: ALD(tau=1.0, sp=1e20), "bounds"),
        (lambda: LinearStep(tau_max=1e-6, tau_min=-1e-9, sp=1e9), "sp"),
        (lambda: Exponential(tau=1.0, gamma_res=1e-20), "gamma_res"),
        (lambda: Exponential(tau=1.0, gamma_res=701.0), "gamma_res"),
        (lambda: Device(response=Ideal(), subtract_symmetry_point=True), "subtract_symmetry_point"),
    ],
)
def test_cross_field_rules(build: Any, name: str) -> None:
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of") as info:
        build()
    assert TEMPLATE.match(str(info.value))


def test_replace_revalidates_and_valid_edges_pass() -> None:
    dev = Device(response=ALD(tau=1.0))
    with pytest.raises(ParameterError):
        dataclasses.replace(dev, response=Ideal(), subtract_symmetry_point=True)
    assert Device(response=ALD(tau=1.0), subtract_symmetry_point=True).subtract_symmetry_point
    assert Device(response=Ideal(), dw_min_std=0.0).dw_min_std == 0.0
    assert Ideal(w_min=0.5, w_max=0.6).bounds() == (0.5, 0.6)
    assert SkewLinear(tau=1.0, c_lin=-0.99).c_lin == -0.99
    assert type(ALD(tau=1).tau) is float


def test_missing_required_fields_raise_type_error() -> None:
    with pytest.raises(TypeError):
        ALD()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ALD(1.0)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- constraint objects


def test_interval_descriptions_and_edges() -> None:
    assert Interval(0.0, None, closed="neither").describe() == "a float in the range (0, inf)"
    assert Interval(0.0, 1.0).describe() == "a float in the range [0, 1]"
    assert Interval(0.0, 1.5, closed="left").describe() == "a float in the range [0, 1.5)"
    assert Interval(None, 0.0, closed="right").describe() == "a float in the range (-inf, 0]"
    assert Integral(1, None).describe() == "an int in the range [1, inf)"
    closed_left = Interval(0.0, 1.0, closed="left")
    assert closed_left.accepts(0.0)
    assert not closed_left.accepts(1.0)
    assert not Interval(None, None).accepts(math.inf)
    assert not Interval(None, None).accepts(math.nan)
    assert not Interval(None, None).accepts(Interval(None, None).invalid())
    assert not Integral(1, 4).accepts(Integral(1, 4).invalid())
    assert not Integral(None, None).accepts(Integral(None, None).invalid())
    assert Options({"a", "b"}).accepts("a")
    assert not Options({"a", "b"}).accepts("c")
    assert not Bool().accepts(Bool().invalid())
    with pytest.raises(ParameterError, match="'closed' parameter of Interval"):
        Interval(0.0, 1.0, closed="open")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'high' parameter of Interval"):
        Interval(1.0, 0.0)


def test_invalid_value_of_unconstrained_field() -> None:
    with pytest.raises(ParameterError, match="'name' parameter of ALD"):
        invalid_value(ALD, "no_such_field")


def test_error_tree() -> None:
    for cls in (ParameterError, ShapeError, NonFiniteError):
        assert issubclass(cls, PulsetrainError)
        assert issubclass(cls, ValueError)
    assert not issubclass(PulsetrainError, ValueError)


# --------------------------------------------------------------------------- Phase


def test_phase_index_and_coerce() -> None:
    assert [p.index for p in Phase] == [0, 1, 2]
    assert (Phase.UPDATE.index, Phase.TRANSFER.index, Phase.CALIBRATION.index) == (0, 1, 2)
    assert Phase.coerce(Phase.TRANSFER) is Phase.TRANSFER
    assert Phase.coerce("calibration") is Phase.CALIBRATION
    assert Phase.coerce("UPDATE") is Phase.UPDATE
    for bad in ("train", 0, None):
        with pytest.raises(ParameterError) as info:
            Phase.coerce(bad)  # type: ignore[arg-type]
        msg = str(info.value)
        assert msg.startswith("The 'phase' parameter of Phase must be a Phase or one of")
        assert "'update', 'transfer', 'calibration'" in msg
    with pytest.raises(ParameterError, match=r"'phase' parameter of AnalogTile.update"):
        Phase.coerce("x", owner="AnalogTile.update")


# --------------------------------------------------------------------------- rng arguments


def test_as_seed_sequence() -> None:
    assert as_seed_sequence(0).entropy == 0
    assert as_seed_sequence(np.int64(7)).entropy == 7
    ss = np.random.SeedSequence(5)
    assert as_seed_sequence(ss) is ss
    fresh = as_seed_sequence(None)
    assert isinstance(fresh.entropy, int)
    a = as_seed_sequence(np.random.default_rng(3))
    b = as_seed_sequence(np.random.default_rng(3))
    assert a.entropy == b.entropy
    expected = np.random.default_rng(3).integers(
        0, 2**64 - 1, size=4, dtype=np.uint64, endpoint=True
    )
    assert a.entropy == [int(x) for x in expected]
    for bad in (-1, True, 1.5, "1"):
        with pytest.raises(ParameterError, match=r"^The 'rng' parameter of as_seed_sequence"):
            as_seed_sequence(bad)  # type: ignore[arg-type]


def test_tile_key_matches_kernel_spec() -> None:
    root = np.random.SeedSequence(1234, spawn_key=(3,))
    for index in (0, 1, 17):
        state = np.random.SeedSequence(1234, spawn_key=(3, 0x7117E, index)).generate_state(
            2, np.uint64
        )
        assert tile_key(root, index) == (int(state[0]), int(state[1]))
    assert TILE == 0x7117E
    assert tile_key(root, 0) != tile_key(root, 1)
    assert all(type(k) is int for k in tile_key(root, 2))
    with pytest.raises(ParameterError, match="'index' parameter of tile_key"):
        tile_key(root, -1)
    with pytest.raises(ParameterError, match="'root' parameter of tile_key"):
        tile_key(1234, 0)  # type: ignore[arg-type]


def test_replica_generator_is_spawned_per_replica() -> None:
    root = as_seed_sequence(99)
    g = replica_generator(root, purpose=2, replica=5)
    ss = np.random.SeedSequence(99, spawn_key=(2, 5))
    expected = np.random.Generator(np.random.Philox(ss)).random(4)
    np.testing.assert_array_equal(g.random(4), expected)
    first = replica_generator(root, 2, 0).random(3)
    second = replica_generator(root, 2, 1).random(3)
    assert not np.array_equal(first, second)
    with pytest.raises(ParameterError, match="'purpose' parameter of replica_generator"):
        replica_generator(root, TILE, 0)
    with pytest.raises(ParameterError, match="'replica' parameter of replica_generator"):
        replica_generator(root, 1, -2)


# --------------------------------------------------------------------------- error fields


def test_parameter_error_carries_its_fields() -> None:
    with pytest.raises(ParameterError) as info:
        Device(response=Ideal(), dw_min=-0.1)
    err = info.value
    assert (err.name, err.owner, err.value) == ("dw_min", "Device", -0.1)
    assert err.allowed == "a float in the range (0, inf)"
    assert err.value_repr == "-0.1"


def test_parameter_error_from_a_message_parses_it_once() -> None:
    # The Rust core sends only the finished sentence (ParameterError::new_err(e.to_string())).
    msg = (
        "The 'lr' parameter of Tile.update must be a float in the range [0, inf). Got -0.1 instead."
    )
    err = ParameterError(msg)
    assert str(err) == msg
    assert (err.name, err.owner, err.allowed) == (
        "lr",
        "Tile.update",
        "a float in the range [0, inf)",
    )
    assert (err.value, err.value_repr) == (None, "-0.1")
    other = ParameterError("not the template")
    assert (other.name, other.owner, other.allowed, other.value) == (None, None, None, None)
    assert other.with_path("a.b") is other


def test_with_path_prefixes_the_name() -> None:
    err = ParameterError(
        name="lr", owner="RIDER", allowed="a float in the range [0, inf)", value=-1.0
    )
    nested = err.with_path("algorithms[2].algorithm")
    assert type(nested) is ParameterError
    assert str(nested) == (
        "The 'algorithms[2].algorithm.lr' parameter of RIDER must be a float in the range "
        "[0, inf). Got -1.0 instead."
    )
    assert (nested.name, nested.owner, nested.value) == (
        "algorithms[2].algorithm.lr",
        "RIDER",
        -1.0,
    )
    assert nested.with_path("algorithms[2].algorithm") is nested
    assert err.with_path("") is err
    assert err.name == "lr"  # the original is unchanged
    assert ParameterError(str(err)).with_path("p").name == "p.lr"


@pytest.mark.parametrize(
    "err",
    [
        ParameterError(name="dw_min", owner="Device", allowed="a float", value=-0.1),
        ParameterError(name="f", owner="implicit_objective", allowed="a callable", value=lambda: 0),
        ParameterError("The 'x' parameter of core must be an int. Got 1.5 instead."),
        ParameterError("free text"),
        ParameterError(),
    ],
)
def test_parameter_error_pickles(err: ParameterError) -> None:
    # Exceptions cross process pools (ProcessPoolExecutor pickles what a worker raises).
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ParameterError
    assert str(back) == str(err)
    assert (back.name, back.owner, back.allowed) == (err.name, err.owner, err.allowed)
    assert repr(back.value) == repr(err.value)


def test_missing_extra_error() -> None:
    err = MissingExtraError("plot", "matplotlib", "Plotting")
    assert isinstance(err, PulsetrainError)
    assert isinstance(err, ImportError)
    assert str(err).endswith("pip install 'pulsetrain[plot]'")
    assert (err.extra, err.package, err.name) == ("plot", "matplotlib", "matplotlib")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err)
    assert back.extra == "plot"


# --------------------------------------------------------------------------- validate_args


@validate_args(steps=Integral(1, None), lr=Interval(0.0, None), n_threads=NoneOr(Integral(1, 8)))
def _train(steps: int, lr: float = 0.1, *, n_threads: int | None = None) -> tuple[Any, ...]:
    return steps, lr, n_threads


class _Owner:
    @validate_args(rows=Integral(1, 4))
    def method(self, rows: int) -> int:
        return rows

    @validate_args("Custom", rows=Integral(1, 4))
    def renamed(self, rows: int) -> int:
        return rows


def test_validate_args_checks_by_name_and_passes_canonical_values() -> None:
    assert _train(np.int64(3), 1) == (3, 1.0, None)  # type: ignore[arg-type]
    got = _train(np.int64(3), 1, n_threads=np.int32(2))  # type: ignore[arg-type]
    assert [type(v) for v in got] == [int, float, int]
    with pytest.raises(ParameterError) as info:
        _train(0)
    assert str(info.value) == (
        "The 'steps' parameter of _train must be an int in the range [1, inf). Got 0 instead."
    )
    assert (info.value.name, info.value.owner, info.value.value) == ("steps", "_train", 0)
    with pytest.raises(ParameterError, match=r"^The 'lr' parameter of _train must be a float"):
        _train(2, lr=-1.0)
    with pytest.raises(ParameterError, match=r"'n_threads' parameter of _train must be None or an"):
        _train(2, n_threads=9)
    with pytest.raises(TypeError):
        _train()  # type: ignore[call-arg]
    assert _train.__name__ == "_train"
    assert list(_train.__constraints__) == ["steps", "lr", "n_threads"]  # type: ignore[attr-defined]


def test_validate_args_owner_is_the_qualified_name() -> None:
    assert _Owner().method(2) == 2
    with pytest.raises(ParameterError, match=r"^The 'rows' parameter of _Owner\.method must"):
        _Owner().method(5)
    with pytest.raises(ParameterError, match=r"^The 'rows' parameter of Custom must"):
        _Owner().renamed(rows=True)


def test_validate_args_rejects_unknown_names() -> None:
    with pytest.raises(ParameterError, match=r"^The 'step' parameter of validate_args\(.*\bf\)"):

        @validate_args(step=Integral(1, None))
        def f(steps: int) -> int:
            return steps


# --------------------------------------------------------------------------- streams


def test_stream_names_are_distinct_and_pinned() -> None:
    # Changing any of these values changes results (a new rng_scheme); they are pinned here.
    assert dict(streams.SPAWN_PURPOSES) == {
        "DATA": 1,
        "NOISE_KEY": 2,
        "INIT": 11,
        "ORDER": 12,
        "TEACHER": 13,
        "LAYER": 0x1A7E,
        "TILE": 0x7117E,
    }
    assert dict(streams.KEY_INDICES) == {
        "NOISE": 1 << 20,
        "CHOPPER": (1 << 20) + 1,
        "MIXED_PRECISION": (1 << 20) + 2,
    }
    assert dict(streams.TAGS) == {
        "CONSTRUCTION": 0,
        "UPDATE": 1,
        "TRAIN_X": 2,
        "READ": 3,
        "FORWARD": 4,
        "BACKWARD": 5,
        "CALIBRATION": 6,
        "PROBLEM": 7,
        "CHOPPER": 8,
        "AGGREGATE": 9,
    }
    for table in (streams.SPAWN_PURPOSES, streams.KEY_INDICES, streams.TAGS):
        assert len(set(table.values())) == len(table)
        assert all(type(v) is int and v >= 0 for v in table.values())
    assert TILE == streams.TILE
    for name, value in streams.TAGS.items():
        assert getattr(streams, f"TAG_{name}") == value
