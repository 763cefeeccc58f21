"""Digital SGD and Analog SGD (shared/theory.md §3.1–3.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import InstanceOf, check_fields, constrained
from pulsetrain.algorithms.base import LR, Algorithm, AlgorithmState, FloatArray, make_tile, outer
from pulsetrain.config import register
from pulsetrain.devices import ALD, Device
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.tile import Backend
from pulsetrain.updates import (
    UPDATE_MODES,
    ExpectedUpdate,
    StochasticPulseUpdate,
    UpdateMode,
)

__all__ = ["AnalogSGD", "DigitalSGD"]

_UPDATE_CLASSES = tuple(UPDATE_MODES.values())


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class DigitalSGD(Algorithm):
    """Plain SGD in float64: W ← W − lr·g (shared/theory.md §3.1).

    Examples
    --------
    >>> DigitalSGD(lr=0.1).lr
    0.1
    """

    kind: ClassVar[str] = "digital_sgd"
    lr: float = field(default=0.1, metadata=constrained(LR))
    """Learning rate (≥ 0)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        DigitalSGD
            ``DigitalSGD(lr=0.05)``.
        """
        return cls(lr=0.05)

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _DigitalState(self, instance)


class _DigitalState(AlgorithmState):
    def __init__(self, cfg: DigitalSGD, instance: Instance) -> None:
        self.cfg = cfg
        self.replicas = instance.replicas
        self.tiles = {}
        self.w = np.array(instance.initial_weights(), dtype=np.float64)

    def gradient_point(self) -> FloatArray:
        return self.w.copy()

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        self.w = self.w - self.cfg.lr * outer(x, d)

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w.copy()}


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class AnalogSGD(Algorithm):
    """SGD whose weights live on one analog array: W ← AU_W(W, −lr·g) (theory.md §3.2).

    With an exact-gradient problem (noise 0) this is Analog GD.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> algo = AnalogSGD(device=pt.Device(response=pt.ALD(tau=1.0)), lr=0.05)
    >>> type(algo.update).__name__
    'StochasticPulseUpdate'
    """

    kind: ClassVar[str] = "analog_sgd"
    device: Device = field(metadata=constrained(InstanceOf((Device,))))
    """Device of the weight array W."""
    lr: float = field(default=0.1, metadata=constrained(LR))
    """Learning rate (≥ 0), multiplies −g on W."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate, metadata=constrained(InstanceOf(_UPDATE_CLASSES))
    )
    """How the increment becomes pulses."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        AnalogSGD
            On an ALD device in the expected mode.
        """
        return cls(device=Device(response=ALD(tau=1.0)), lr=0.05, update=ExpectedUpdate())

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        return _AnalogSGDState(self, instance, root, n_threads, replica_offset, backend)


class _AnalogSGDState(AlgorithmState):
    def __init__(
        self,
        cfg: AnalogSGD,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        offset: int,
        backend: Backend,
    ) -> None:
        self.cfg = cfg
        self.replicas = instance.replicas
        self.w_tile = make_tile(
            instance, cfg.device, cfg.update, root, 0, n_threads, offset, backend
        )
        self.w_tile.set_weights(instance.initial_weights())
        self.tiles = {"W": self.w_tile}

    def gradient_point(self) -> FloatArray:
        return self.w_tile.weights

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        return self.w_tile.forward(x, io=io or perfect_io())

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        return self.w_tile.backward(d, io=io or perfect_io())

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        self.w_tile.update(x, d, lr=self.cfg.lr)

    def arrays(self) -> dict[str, FloatArray]:
        return {"W": self.w_tile.weights}
