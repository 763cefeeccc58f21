"""Shared test helpers (the lead adds the registry fixtures after the merge).

``constrained_fields`` and ``invalid_value`` live here rather than in ``pulsetrain._validation``:
they enumerate the config registry, and ``pulsetrain.config`` imports ``_validation``, so keeping
them in the package made the two modules import each other.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pulsetrain  # noqa: F401 - importing the package registers every config class
from pulsetrain._validation import Constraint, parameter_error
from pulsetrain.config import registered_classes

__all__ = ["constrained_fields", "invalid_value"]


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
