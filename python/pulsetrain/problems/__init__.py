"""Problems the algorithms are trained on: the quadratic, least squares and network classifiers.

:mod:`~pulsetrain.problems.base` holds the interface (:class:`Problem`, :class:`Instance`,
:class:`ModelState`); :class:`Classifier`, its models (:class:`FCN`, :class:`LeNet5`) and its
datasets (:class:`Digits`, :class:`MNIST`, :class:`IDXDataset`, :class:`TeacherStudent`,
:func:`read_idx`, :func:`write_idx`) are here too. :class:`Classifier` and its models are
imported on first use, because their layers are built from the algorithms, which themselves
import :mod:`pulsetrain.problems.base` (``import pulsetrain`` loads them, so their kinds are
always registered).
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
    from pulsetrain.problems.classifier import FCN, Classifier, LeNet5

__all__ = [
    "FCN",
    "MNIST",
    "Classifier",
    "Digits",
    "IDXDataset",
    "Instance",
    "LeNet5",
    "LeastSquares",
    "ModelState",
    "Problem",
    "Quadratic",
    "TeacherStudent",
    "read_idx",
    "write_idx",
]


def __getattr__(name: str) -> Any:
    """Import :class:`Classifier` and its models on first use (see the module docstring)."""
    if name in ("Classifier", "FCN", "LeNet5"):
        from pulsetrain.problems import classifier

        return getattr(classifier, name)
    raise AttributeError(name)
