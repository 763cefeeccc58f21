"""The exception tree of pulsetrain (shared/CONVENTIONS.md §1).

Every error pulsetrain raises on purpose is a :class:`PulsetrainError`; every error caused by bad
input is also a :class:`ValueError`. All messages follow one template::

    The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead.
"""

from __future__ import annotations

__all__ = ["NonFiniteError", "ParameterError", "PulsetrainError", "ShapeError"]


class PulsetrainError(Exception):
    """Base of every error pulsetrain raises on purpose."""


class ParameterError(PulsetrainError, ValueError):
    """A parameter is outside its allowed set."""


class ShapeError(PulsetrainError, ValueError):
    """An array has the wrong shape, dtype or layout."""


class NonFiniteError(PulsetrainError, ValueError):
    """An array holds NaN or inf."""
