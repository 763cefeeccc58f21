"""Property-based checks over the public surface (issue 16): nothing Python passes escapes as a
foreign exception, and a rejected call leaves a tile unchanged.

The budget is fixed (``max_examples`` per test, no deadline), so CI time is bounded; the seeds are
hypothesis's own (derandomized), so a failure reproduces. Values are drawn to be hostile: huge and
non-finite numbers, wrong types, strings, nested containers, negative and enormous sizes.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pulsetrain as pt
from conftest import algorithm_examples
from pulsetrain.config import from_dict, loads_json, loads_toml, registered_classes, to_dict
from pulsetrain.errors import PulsetrainError
from pulsetrain.experiment import experiment_from_dict

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Scalars a user (or a damaged config) can pass for any field.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["nan", "inf", "stochastic", "ceil", "additive", "1e999", ""]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
CLASSES = sorted(registered_classes(), key=lambda c: c.kind)  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.kind)
@FUZZ
@given(data=st.data())
def test_config_fields_take_any_value_or_raise_parameter_error(cls: type, data: Any) -> None:
    base = to_dict(cls.example())  # type: ignore[attr-defined]
    keys = [*sorted(base), "no_such_field"]
    edits = data.draw(st.dictionaries(st.sampled_from(keys), VALUES, min_size=1, max_size=3))
    doc = {**base, **edits, "kind": base["kind"]}
    try:
        obj = from_dict(doc)
    except PulsetrainError:
        return
    # Accepted: it must round-trip, through strict JSON too.
    assert from_dict(to_dict(obj)) == obj
    assert from_dict(json.loads(json.dumps(to_dict(obj), allow_nan=False))) == obj


@FUZZ
@given(text=st.text(max_size=300))
def test_json_and_toml_loaders_raise_only_parameter_errors(text: str) -> None:
    for loader in (loads_json, loads_toml):
        try:
            data = loader(text)
        except PulsetrainError:
            continue
        try:
            experiment_from_dict(data)
        except PulsetrainError:
            pass


@FUZZ
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            "steps": VALUES,
            "replicas": VALUES,
            "seed": VALUES,
            "n_threads": VALUES,
            "name": VALUES,
            "problem": st.one_of(VALUES, st.just({"kind": "quadratic"})),
            "algorithms": st.one_of(
                VALUES,
                st.just([{"label": "a", "algorithm": {"kind": "digital_sgd"}}]),
            ),
        },
    )
)
def test_experiment_documents_raise_only_parameter_errors(doc: dict[str, Any]) -> None:
    try:
        experiment_from_dict(doc)
    except PulsetrainError:
        pass


def _array(draw: Any, shape: tuple[int, ...]) -> Any:
    kind = draw(st.sampled_from(["ok", "shape", "nonfinite", "strings", "ragged", "object"]))
    if kind == "ok":
        return np.asarray(draw(st.lists(st.floats(-2, 2), min_size=1, max_size=1))) * np.ones(shape)
    if kind == "shape":
        return np.ones(tuple(s + draw(st.integers(1, 2)) for s in shape))
    if kind == "nonfinite":
        a = np.ones(shape)
        a.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return a
    if kind == "strings":
        return np.full(shape, "1")
    if kind == "ragged":
        return [[1.0, 2.0], [1.0]]
    return np.full(shape, None, dtype=object)


@st.composite
def tile_calls(draw: Any) -> tuple[str, dict[str, Any]]:
    method = draw(st.sampled_from(["update", "forward", "backward", "read", "apply_pulses",
                                   "apply_delta", "set_weights"]))  # fmt: skip
    n = st.one_of(st.integers(-3, 3), st.sampled_from([None, 10**400, 2**63, 1.5, "1", True]))
    if method == "update":
        kw = {"x": _array(draw, (2, 4)), "d": _array(draw, (2, 3)),
              "lr": draw(st.one_of(st.floats(-1, 1), SCALARS))}  # fmt: skip
    elif method == "forward":
        kw = {"x": _array(draw, (2, 4))}
    elif method == "backward":
        kw = {"d": _array(draw, (2, 3))}
    elif method == "read":
        kw = {"cols": draw(st.one_of(st.lists(n, max_size=3), st.none(), SCALARS)),
              "noise_std": draw(st.one_of(st.floats(0, 1), SCALARS))}  # fmt: skip
    elif method == "apply_pulses":
        kw = {"counts": draw(st.one_of(
            st.just(np.full((3, 4), draw(st.integers(-(2**63), 2**63 - 1)), dtype=np.int64)),
            st.just(np.ones((3, 4))), st.just(np.ones((2, 4), dtype=np.int64)),
        ))}  # fmt: skip
    elif method == "apply_delta":
        kw = {"delta": _array(draw, (3, 4))}
    else:
        kw = {"weights": _array(draw, (3, 4))}
    if method != "set_weights" and draw(st.booleans()):
        kw["n_threads"] = draw(n)
    return method, kw


@settings(FUZZ, max_examples=400)
@given(call=tile_calls())
def test_tile_methods_raise_only_pulsetrain_errors_and_stay_unchanged_when_rejecting(
    call: tuple[str, dict[str, Any]],
) -> None:
    method, kw = call
    dev = pt.Device(response=pt.SoftBounds(), dw_min=0.01, dw_min_std=0.1)
    tile = pt.AnalogTile(3, 4, dev, rng=0, update=pt.PulseCountUpdate())
    before = (tile.weights.copy(), {p: tile.pulse_counts(p).copy() for p in pt.Phase})
    try:
        getattr(tile, method)(**kw)
    except PulsetrainError:
        np.testing.assert_array_equal(tile.weights, before[0])
        for p, counts in before[1].items():
            np.testing.assert_array_equal(tile.pulse_counts(p), counts)
        return
    assert np.isfinite(tile.weights).all()


@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    steps=st.one_of(st.integers(-2, 3), SCALARS),
    replicas=st.one_of(st.integers(-1, 3), SCALARS),
    record_every=st.one_of(st.integers(-1, 3), SCALARS),
    n_threads=st.one_of(st.integers(-1, 3), SCALARS),
)
def test_run_arguments_raise_only_parameter_errors(
    algo: pt.algorithms.Algorithm, steps: Any, replicas: Any, record_every: Any, n_threads: Any
) -> None:
    problem = pt.problems.LeastSquares(in_size=3, out_size=2, n_samples=4)
    try:
        res = pt.run(
            problem,
            algo,
            steps=steps,
            replicas=replicas,
            record_every=record_every,
            n_threads=n_threads,
            rng=0,
            progress=False,
        )
    except PulsetrainError:
        return
    assert res.steps == steps
    assert np.isfinite(res.loss).all()


def test_every_registered_config_is_covered() -> None:
    # Each class above has an example() (the fuzz starts from it) and a kind.
    for cls in CLASSES:
        obj = cls.example()  # type: ignore[attr-defined]
        assert dataclasses.is_dataclass(obj)
        assert to_dict(obj)["kind"] == cls.kind  # type: ignore[attr-defined]


def test_fuzzed_results_directory_is_not_left_behind(tmp_path: Path) -> None:
    # A refused save writes nothing.
    res = pt.run(
        pt.problems.Quadratic(),
        pt.algorithms.DigitalSGD(lr=0.1),
        steps=2,
        rng=0,
        progress=False,
    )
    res.save(tmp_path / "r")
    with pytest.raises(pt.ParameterError):
        res.save(tmp_path / "r")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]
