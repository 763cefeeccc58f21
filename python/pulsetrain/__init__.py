"""pulsetrain: fast, exact, reproducible simulation of training on analog crossbars.

The public API: device models (:class:`Device` and its response families), the three update
modes, :class:`AnalogTile` (R replicas of a crossbar updated in Rust) and the plain-NumPy twin
in :mod:`pulsetrain.twin`. Only NumPy is needed at run time.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from pulsetrain import _core, algorithms, analysis, conv, layers, plots, problems, sweep
from pulsetrain.algorithms import run
from pulsetrain.devices import (
    ALD,
    C2CMode,
    Device,
    Exponential,
    ExpStep,
    Ideal,
    LinearStep,
    Piecewise,
    Power,
    PowerStep,
    SkewLinear,
    SoftBounds,
    presets,
)
from pulsetrain.errors import (
    NonFiniteError,
    ParameterError,
    PulsetrainError,
    ResultFileError,
    ShapeError,
)
from pulsetrain.experiment import (
    AlgorithmEntry,
    Experiment,
    ExperimentResult,
    default_experiment,
    load_experiment,
    run_experiment,
)
from pulsetrain.mapping import MappingParameter
from pulsetrain.periphery import IOParameters
from pulsetrain.problems import classifier as _classifier  # noqa: F401 - registers its kind
from pulsetrain.results import TrainResult
from pulsetrain.tile import AnalogTile, Backend, UpdateStats
from pulsetrain.updates import (
    ExpectedUpdate,
    Phase,
    PulseCountUpdate,
    Rounding,
    StochasticPulseUpdate,
    UpdateMode,
)

try:
    __version__ = version("pulsetrain")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
    __version__ = _core.__version__

rng_scheme: int = _core.rng_scheme
"""Version of the random streams; results are comparable only at equal ``rng_scheme``."""

__all__ = [
    "ALD",
    "AlgorithmEntry",
    "AnalogTile",
    "Backend",
    "C2CMode",
    "Device",
    "ExpStep",
    "ExpectedUpdate",
    "Experiment",
    "ExperimentResult",
    "Exponential",
    "IOParameters",
    "Ideal",
    "LinearStep",
    "MappingParameter",
    "NonFiniteError",
    "ParameterError",
    "Phase",
    "Piecewise",
    "Power",
    "PowerStep",
    "PulseCountUpdate",
    "PulsetrainError",
    "ResultFileError",
    "Rounding",
    "ShapeError",
    "SkewLinear",
    "SoftBounds",
    "StochasticPulseUpdate",
    "TrainResult",
    "UpdateMode",
    "UpdateStats",
    "__version__",
    "algorithms",
    "analysis",
    "conv",
    "default_experiment",
    "layers",
    "load_experiment",
    "plots",
    "presets",
    "problems",
    "rng_scheme",
    "run",
    "run_experiment",
    "sweep",
]
