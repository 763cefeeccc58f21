"""Problems the algorithms are trained on: the quadratic, least squares and MLP classifiers.

:mod:`~pulsetrain.problems.base` holds the interface (:class:`Problem`, :class:`Instance`,
:class:`ModelState`); :class:`Classifier` and its datasets (:class:`Digits`, :class:`MNIST`,
:class:`IDXDataset`, :class:`TeacherStudent`, :func:`read_idx`, :func:`write_idx`) are here too.
:class:`Classifier` is imported on first use, because its layers are built from the algorithms,
which themselves import :mod:`pulsetrain.problems.base` (``import pulsetrain`` loads it, so its
``kind`` is always registered).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pulsetrain.problems.base import Instance, ModelState, Problem
from pulsetrain.problems.datasets import (
    MNIST,
    Digits,
    IDXDataset,
    TeacherStudent,
    read_idx,
    write_idx,
)
from pulsetrain.problems.least_squares import LeastSquares
from pulsetrain.problems.quadratic import Quadratic

if TYPE_CHECKING:
    from pulsetrain.problems.classifier import Classifier

__all__ = [
    "MNIST",
    "Classifier",
    "Digits",
    "IDXDataset",
    "Instance",
    "LeastSquares",
    "ModelState",
    "Problem",
    "Quadratic",
    "TeacherStudent",
    "read_idx",
    "write_idx",
]


def __getattr__(name: str) -> Any:
    """Import :class:`Classifier` on first use (see the module docstring)."""
    if name == "Classifier":
        from pulsetrain.problems.classifier import Classifier

        return Classifier
    raise AttributeError(name)
