"""Shared test helpers: the kinds to test, built from the package's registries.

A test that should cover every device family or update mode takes its cases from here, never from
a list of its own, so a kind registered in the package is tested without editing any test file
(and tests/test_catalogue.py checks that Python, the core and the twin know the same kinds).

``constrained_fields`` and ``invalid_value`` live here rather than in ``pulsetrain._validation``:
they enumerate the config registry, and ``pulsetrain.config`` imports ``_validation``, so keeping
them in the package made the two modules import each other.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any, cast

import pytest

import pulsetrain  # noqa: F401 - importing the package registers every config class
from pulsetrain._validation import Constraint, parameter_error
from pulsetrain.algorithms import Algorithm
from pulsetrain.config import registered_classes
from pulsetrain.devices import RESPONSE_FAMILIES, ResponseFamily
from pulsetrain.updates import UPDATE_MODES, UpdateMode

__all__ = [
    "algorithm_examples",
    "constrained_fields",
    "family_examples",
    "invalid_value",
    "response_examples",
    "update_modes",
]


def family_examples() -> list[ResponseFamily]:
    """Return one instance per registered response family (its ``example()``), in registry order."""
    return [cast("ResponseFamily", cls.example()) for cls in RESPONSE_FAMILIES.values()]


def response_examples() -> list[ResponseFamily]:
    """Return every registered family's ``examples()``: several shapes per family."""
    return [cast("ResponseFamily", i) for cls in RESPONSE_FAMILIES.values() for i in cls.examples()]


def algorithm_examples() -> list[Algorithm]:
    """Return one instance per registered algorithm config (its ``example()``), by kind."""
    classes = [c for c in registered_classes() if issubclass(c, Algorithm)]
    return [c.example() for c in sorted(classes, key=lambda c: c.kind)]


def update_modes() -> list[UpdateMode]:
    """Return one instance per registered update mode (its ``example()``), in registry order."""
    return [cls.example() for cls in UPDATE_MODES.values()]


@pytest.fixture(scope="session")
def core() -> ModuleType:
    """The compiled extension ``pulsetrain._core`` (CI always builds it)."""
    import pulsetrain._core as compiled

    return compiled


def _field_constraint(cls: type, name: str) -> Constraint:
    """Return the constraint declared on field ``name`` of dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            constraint = f.metadata.get("constraint")
            if isinstance(constraint, Constraint):
                return constraint
            break
    raise parameter_error("name", cls.__name__, "a constrained field", name)


def constrained_fields() -> list[tuple[type, str]]:
    """List ``(cls, field_name)`` for every constrained field of every registered config class.

    Only classes whose module has been imported are registered; ``import pulsetrain`` imports
    them all.

    Returns
    -------
    list of tuple
        Pairs sorted by ``(cls.kind, field order)``.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> (ALD, "tau") in constrained_fields()
    True
    """
    return [
        (cls, f.name)
        for cls in registered_classes()
        for f in dataclasses.fields(cls)
        if isinstance(f.metadata.get("constraint"), Constraint)
    ]


def invalid_value(cls: type, name: str) -> Any:
    """Return a value that the constraint of field ``name`` of ``cls`` rejects.

    Parameters
    ----------
    cls : type
        A config dataclass.
    name : str
        One of its constrained fields.

    Returns
    -------
    Any
        A value that makes the constructor raise :class:`ParameterError` for that field.

    Raises
    ------
    ParameterError
        If ``name`` is not a constrained field of ``cls``.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> invalid_value(ALD, "tau")
    0.0
    """
    return _field_constraint(cls, name).invalid()


def errorbar_series(ax: Any) -> dict[str, Any]:
    """Return the errorbar series of a matplotlib axes by label (plots.plot_sweep's lines)."""
    from matplotlib.container import ErrorbarContainer

    return {str(c.get_label()): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def additive_device_spec(family: str = "soft_bounds", **over: Any) -> dict[str, Any]:
    """A device spec dict (KERNEL_SPEC §1) of the aggregated samplers' tests.

    Additive cycle noise σ = 0.3, dw_min 0.02, bounds ±1, soft-bounds slopes 1.2 / 0.8, no
    device-to-device spread; ``over`` replaces any key.
    """
    spec: dict[str, Any] = {
        "family": family,
        "lo": -1.0,
        "hi": 1.0,
        "sp": 0.0,
        "c": 0.0,
        "alpha_up": 1.2,
        "alpha_down": 0.8,
        "gamma_up": 1.0,
        "gamma_down": 1.0,
        "dw_min": 0.02,
        "dw_min_std": 0.3,
        "c2c_multiplicative": False,
        "dw_min_dtod": 0.0,
        "dw_min_dtod_log_normal": False,
        "up_down_dtod": 0.0,
        "w_max_dtod": 0.0,
        "w_min_dtod": 0.0,
        "reference_mean": 0.0,
        "reference_std": 0.0,
        "subtract_symmetry_point": False,
    }
    spec.update(over)
    return spec
