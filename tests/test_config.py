"""Configs round-trip exactly through dict, TOML and JSON; unknown keys are rejected."""

from __future__ import annotations

import math
import tomllib
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import response_examples
from pulsetrain.config import (
    dumps_json,
    dumps_toml,
    from_dict,
    loads_json,
    loads_toml,
    to_dict,
)
from pulsetrain.devices import (
    ALD,
    C2CMode,
    Device,
    ExpStep,
    Ideal,
    ResponseFamily,
    SkewLinear,
)
from pulsetrain.errors import ParameterError
from pulsetrain.updates import (
    UPDATE_MODES,
    ExpectedSpec,
    ExpectedUpdate,
    PulseCountSpec,
    PulseCountUpdate,
    Rounding,
    StochasticPulseSpec,
    StochasticPulseUpdate,
    UpdateMode,
)

# Every registered family's examples, plus values whose float text is hard to round-trip.
RESPONSES: list[ResponseFamily] = [
    *response_examples(),
    Ideal(w_min=-0.1, w_max=0.30000000000000004),
    ALD(tau=0.7, sp=-0.1),
    ExpStep(tau_max=0.5, tau_min=-1e-300, gamma_up=2.0, gamma_down=1.0),
]
DEVICES = (
    [Device(response=r) for r in RESPONSES]
    + [
        Device(
            response=r,
            dw_min=1 / 3,
            dw_min_std=0.1,
            c2c_mode=C2CMode.MULTIPLICATIVE,
            dw_min_dtod=0.3,
            dw_min_dtod_log_normal=True,
            up_down_dtod=1e-17,
            w_max_dtod=0.1,
            w_min_dtod=5e-324,
            reference_mean=-1.7976931348623157e308,
            reference_std=0.05,
            subtract_symmetry_point=not isinstance(r, Ideal),
        )
        for r in RESPONSES
    ]
    + [Device.example()]
)
UPDATES: list[UpdateMode] = [
    ExpectedUpdate(),
    ExpectedUpdate(noise=True),
    PulseCountUpdate(),
    PulseCountUpdate(max_bl=1_000_000, rounding=Rounding.STOCHASTIC),
    StochasticPulseUpdate(),
    StochasticPulseUpdate.example(),
]
CONFIGS: list[Any] = [*RESPONSES, *DEVICES, *UPDATES]


def _ids(x: object) -> str:
    return repr(x)[:80]


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_dict_round_trip(config: Any) -> None:
    data = to_dict(config)
    assert data == config.to_dict()
    assert next(iter(data)) == "kind"
    assert data["kind"] == type(config).kind
    back = from_dict(data)
    assert back == config
    assert type(back) is type(config)
    assert type(config).from_dict(data) == config


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_toml_round_trip(config: Any) -> None:
    text = dumps_toml(config)
    assert text == dumps_toml(to_dict(config))
    assert tomllib.loads(text) == to_dict(config)
    back = from_dict(loads_toml(text))
    assert back == config
    assert dumps_toml(back) == text  # canonical: writing again gives the same bytes


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_json_round_trip(config: Any) -> None:
    text = dumps_json(config)
    back = from_dict(loads_json(text))
    assert back == config
    assert dumps_json(back) == text


def test_to_dict_shapes() -> None:
    assert PulseCountUpdate(max_bl=8).to_dict() == {
        "kind": "pulse_count",
        "max_bl": 8,
        "rounding": "ceil",
        "aggregate": True,
    }
    data = Device(response=ALD(tau=1.0), c2c_mode=C2CMode.MULTIPLICATIVE).to_dict()
    assert data["response"] == {"kind": "ald", "tau": 1.0, "sp": 0.0}
    assert data["c2c_mode"] == "multiplicative"
    assert list(data) == [
        "kind",
        "response",
        "dw_min",
        "dw_min_std",
        "c2c_mode",
        "dw_min_dtod",
        "dw_min_dtod_log_normal",
        "up_down",
        "up_down_dtod",
        "w_max_dtod",
        "w_min_dtod",
        "reference_mean",
        "reference_std",
        "subtract_symmetry_point",
    ]


def test_update_specs_match_kernel_spec() -> None:
    assert ExpectedUpdate().to_spec() == {"kind": "expected", "noise": False}
    assert PulseCountUpdate(max_bl=8, rounding=Rounding.STOCHASTIC).to_spec() == {
        "kind": "pulse_count",
        "max_bl": 8,
        "rounding": "stochastic",
        "aggregate": True,
    }
    assert StochasticPulseUpdate().to_spec() == {
        "kind": "stochastic_pulse",
        "desired_bl": 31,
        "update_management": True,
        "update_bl_management": True,
        "fixed_bl": True,
        "um_grad_scale": 1.0,
        "aggregate": True,
        "aggregate_samples": 1,
    }
    for mode in UPDATES:
        assert mode.to_spec() == mode.to_dict()


def test_defaults_fill_missing_keys() -> None:
    assert from_dict({"kind": "pulse_count"}) == PulseCountUpdate()
    assert from_dict({"kind": "device", "response": {"kind": "ideal"}}) == Device(response=Ideal())
    assert Device.from_dict({"response": {"kind": "ald", "tau": 2}}) == Device(
        response=ALD(tau=2.0)
    )


def test_toml_layout() -> None:
    text = dumps_toml(Device(response=ALD(tau=1.0), dw_min=1e-5))
    lines = text.splitlines()
    assert lines[0] == 'kind = "device"'
    assert "dw_min = 1e-05" in lines
    assert "[response]" in lines
    assert lines[lines.index("[response]") + 1] == 'kind = "ald"'
    assert text.endswith("\n")


# --------------------------------------------------------------------------- rejections


def test_unknown_key_is_rejected_naming_path_and_allowed_keys() -> None:
    data = to_dict(PulseCountUpdate())
    data["max_pulses"] = 3
    with pytest.raises(ParameterError) as info:
        from_dict(data)
    msg = str(info.value)
    assert msg.startswith("The 'max_pulses' parameter of PulseCountUpdate must be a known key")
    assert "'kind', 'max_bl', 'rounding'" in msg
    assert msg.endswith("Got 'max_pulses' instead.")


def test_unknown_nested_key_names_the_dotted_path() -> None:
    data = to_dict(Device(response=ALD(tau=1.0)))
    data["response"]["tau_max"] = 1.0
    with pytest.raises(ParameterError, match=r"^The 'response\.tau_max' parameter of ALD") as info:
        from_dict(data)
    assert "'kind', 'tau', 'sp'" in str(info.value)
    with pytest.raises(ParameterError, match=r"^The 'response\.tau_max' parameter of ALD"):
        from_dict(loads_toml(dumps_toml(data)))


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        ({"max_bl": 3}, r"^The 'kind' parameter of from_dict must be one of .*'pulse_count'"),
        ({"kind": "adam"}, r"^The 'kind' parameter of from_dict .* Got 'adam' instead\.$"),
        (
            {"kind": "pulse_count", "rounding": "floor"},
            r"^The 'rounding' parameter of PulseCountUpdate must be one of 'ceil', 'stochastic'",
        ),
        ({"kind": "pulse_count", "max_bl": 2.5}, r"^The 'max_bl' parameter of PulseCountUpdate"),
        ({"kind": "ald"}, r"^The 'tau' parameter of ALD must be given .* Got nothing instead\.$"),
        ({"kind": "device"}, r"^The 'response' parameter of Device must be given"),
        (
            {"kind": "device", "response": {"kind": "nope"}},
            r"^The 'response\.kind' parameter of from_dict must be one of",
        ),
        (
            {"kind": "device", "response": {"kind": "ald", "tau": -1.0}},
            r"^The 'tau' parameter of ALD must be a float in the range \(0, inf\)",
        ),
        (
            {"kind": "device", "response": {"tau": 1.0}},
            r"^The 'response' parameter of Device must be an instance of",
        ),
    ],
)
def test_bad_dicts_are_rejected(data: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern):
        from_dict(data)


def test_class_from_dict_checks_kind_and_type() -> None:
    with pytest.raises(ParameterError, match=r"^The 'kind' parameter of ALD must be 'ald'"):
        ALD.from_dict({"kind": "power", "tau": 1.0, "gamma_res": 2.0})
    with pytest.raises(ParameterError, match=r"^The 'data' parameter of from_dict"):
        from_dict([("kind", "ald")])  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"^The 'obj' parameter of to_dict"):
        to_dict({"kind": "ald"})


def test_bad_text_is_rejected() -> None:
    with pytest.raises(ParameterError, match=r"^The 'text' parameter of loads_toml must be valid"):
        loads_toml("kind = ")
    with pytest.raises(ParameterError, match=r"^The 'text' parameter of loads_json must be valid"):
        loads_json("{")
    with pytest.raises(ParameterError, match=r"^The 'x' parameter of dumps_toml"):
        dumps_toml({"x": object()})
    with pytest.raises(ParameterError, match=r"^The 'obj' parameter of dumps_json"):
        dumps_json({"x": object()})


# --------------------------------------------------------------------------- the TOML writer


def test_toml_writer_plain_data() -> None:
    data: dict[str, Any] = {
        "name": 'quote " back \\ newline \n tab \t del \x7f unicode ∆ 😀',
        "weird key": 1,
        "n": -3,
        "big": 2**62,
        "flags": [True, False],
        "xs": [0.1, -0.0, 5e-324, 1e300, 1.7976931348623157e308],
        "specials": [math.inf, -math.inf],
        "empty": [],
        "devices": [to_dict(ALD(tau=1.0)), {"nested": {"a": 1}}],
        "a": {"b": {"c": 1.5, "d": {"e": "f"}}, "g": 2},
        "only_tables": {"t": {"x": 1}},
        "empty_table": {},
        "skipped": None,
    }
    text = dumps_toml(data)
    back = loads_toml(text)
    expected = {k: v for k, v in data.items() if k != "skipped"}
    assert back == expected
    assert math.copysign(1.0, back["xs"][1]) == -1.0
    nan_back = loads_toml(dumps_toml({"x": math.nan}))
    assert math.isnan(nan_back["x"])


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0.0, max_value=1e300, allow_nan=False, allow_infinity=False)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    tau=st.floats(min_value=1e-6, max_value=1e6),
    c=st.floats(min_value=-0.999, max_value=0.999),
    dw_min=positive,
    dw_min_std=non_negative,
    mean=finite_floats,
    std=non_negative,
    mode=st.sampled_from(C2CMode),
    log_normal=st.booleans(),
)
def test_hypothesis_device_round_trips(
    tau: float,
    c: float,
    dw_min: float,
    dw_min_std: float,
    mean: float,
    std: float,
    mode: C2CMode,
    log_normal: bool,  # noqa: FBT001
) -> None:
    dev = Device(
        response=SkewLinear(tau=tau, c_lin=c),
        dw_min=dw_min,
        dw_min_std=dw_min_std,
        c2c_mode=mode,
        dw_min_dtod_log_normal=log_normal,
        reference_mean=mean,
        reference_std=std,
    )
    assert from_dict(to_dict(dev)) == dev
    assert from_dict(loads_toml(dumps_toml(dev))) == dev
    assert from_dict(loads_json(dumps_json(dev))) == dev


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.text(max_size=30), st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_hypothesis_toml_strings_and_ints(text: str, number: int) -> None:
    data = {"s": text, "i": number, "t": {"s": text}}
    assert loads_toml(dumps_toml(data)) == data


# --------------------------------------------------------------------------- update-mode registry


def test_update_modes_registry() -> None:
    assert dict(UPDATE_MODES) == {
        "expected": ExpectedUpdate,
        "pulse_count": PulseCountUpdate,
        "stochastic_pulse": StochasticPulseUpdate,
    }
    assert set(UPDATE_MODES.values()) == set(typing.get_args(UpdateMode))
    assert all(cls.kind == kind for kind, cls in UPDATE_MODES.items())


SPEC_TYPES: dict[str, type] = {
    "expected": ExpectedSpec,
    "pulse_count": PulseCountSpec,
    "stochastic_pulse": StochasticPulseSpec,
}


@pytest.mark.parametrize("kind", sorted(UPDATE_MODES))
def test_to_spec_has_its_typed_dict_shape(kind: str) -> None:
    cls = UPDATE_MODES[kind]
    hints = typing.get_type_hints(SPEC_TYPES[kind])
    for mode in (cls(), cls.example()):
        spec = mode.to_spec()
        assert list(spec) == list(hints)
        assert spec["kind"] == kind
        assert typing.get_args(hints["kind"]) == (kind,)
        for key, hint in hints.items():
            if key != "kind":
                allowed = typing.get_args(hint) or (hint,)
                assert type(spec[key]) in allowed or spec[key] in allowed, (key, spec[key])


def test_fixed_length_tuple_fields_convert_each_item_with_its_hint() -> None:
    from pulsetrain.config import _convert

    assert _convert([3, 0.5, "stochastic"], tuple[int, float, Rounding], "f", "o") == (
        3,
        0.5,
        Rounding.STOCHASTIC,
    )
