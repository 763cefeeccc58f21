"""What the residual family shares: its config fields, its two-array state, its transfer buffer.

Every residual-learning algorithm (Tiki-Taka, RL, RLv2, ZS + RL, RIDER, E-RIDER and its buffered
form, and the coming TTv2 / c-TTv2 / AGAD) trains a gradient array P next to the main array W
and transfers P into W (shared/theory.md §3.3–3.12). :class:`ResidualFields` declares, once, the
config fields they all have; :class:`TwoArrayState` builds and reads W and P; a
:class:`TransferBuffer` is the digital buffer H between a read of P and the pulses fired on W.

The ``*_field`` helpers declare the fields only some of the configs have (``gamma_mix``,
``transfer_every``, ``columns_per_transfer``; :data:`TRANSFER_UPDATE` for ``transfer_update``)
or that one config gives another default (``lr``, ``lr_transfer``), each constraint written here
once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pulsetrain._validation import NON_NEGATIVE, InstanceOf, Integral, constrained
from pulsetrain.algorithms.base import LR, Algorithm, AlgorithmState, FloatArray, make_tile
from pulsetrain.devices import Device
from pulsetrain.periphery import IOParameters, perfect_io
from pulsetrain.problems.base import Instance
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import UPDATE_MODES, StochasticPulseUpdate, UpdateMode

__all__ = [
    "TRANSFER_UPDATE",
    "ResidualFields",
    "TransferBuffer",
    "TwoArrayState",
    "columns_per_transfer_field",
    "gamma_mix_field",
    "lr_field",
    "transfer_every_field",
]

_DEVICE = InstanceOf((Device,))
_OPTIONAL_DEVICE = InstanceOf((Device, type(None)))
_TRANSFER_EVERY = Integral(1, 1 << 30)
_COLUMNS = Integral(0, 1 << 24)


def lr_field(default: float) -> Any:
    """Return a learning-rate field (a float ≥ 0) with ``default``."""
    return field(default=default, metadata=constrained(LR))


def gamma_mix_field(default: float = 0.4) -> Any:
    """Return the ``gamma_mix`` field: the weight of P in W̄ = W + gamma_mix·P, ≥ 0."""
    return field(default=default, metadata=constrained(NON_NEGATIVE))


def transfer_every_field() -> Any:
    """Return the ``transfer_every`` field: gradient steps between transfer events, ≥ 1."""
    return field(default=1, metadata=constrained(_TRANSFER_EVERY))


def columns_per_transfer_field(default: int = 0) -> Any:
    """Return the ``columns_per_transfer`` field: columns per event, cyclically; 0 = all."""
    return field(default=default, metadata=constrained(_COLUMNS))


_UPDATE_CLASSES = tuple(UPDATE_MODES.values())
TRANSFER_UPDATE = constrained(InstanceOf((*_UPDATE_CLASSES, type(None))))
"""Metadata of the ``transfer_update`` field: an update mode of the writes onto W, or None."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidualFields(Algorithm):
    """The config fields every residual-family algorithm has (a base, not a registered kind).

    A subclass adds its own fields after these (``to_dict`` writes these first) and may give
    ``lr`` or ``lr_transfer`` another default with :func:`lr_field`.
    """

    device: Device = field(metadata=constrained(_DEVICE))
    """Device of the main array W (and of P unless ``device_residual`` is given)."""
    device_residual: Device | None = field(default=None, metadata=constrained(_OPTIONAL_DEVICE))
    """Device of the residual array P; None uses ``device``."""
    lr: float = lr_field(0.05)
    """Learning rate of the gradient accumulation on P (≥ 0)."""
    lr_transfer: float = lr_field(0.01)
    """Multiplies the read of P on its way to W (≥ 0)."""
    read_noise_std: float = field(default=0.0, metadata=constrained(NON_NEGATIVE))
    """Gaussian noise of each read of P, in weight units (≥ 0)."""
    transfer_io: IOParameters | None = field(
        default=None, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """If given, reads of P go through this periphery (one-hot forward passes, e.g.
    ``periphery.transfer_io()``) instead of exact values plus ``read_noise_std``."""
    update: UpdateMode = field(
        default_factory=StochasticPulseUpdate,
        metadata=constrained(InstanceOf(_UPDATE_CLASSES)),
    )
    """Update mode of P's gradient updates (and of the transfer writes onto W, unless the
    algorithm has a ``transfer_update`` or fires single pulses on W)."""


def residual_sp_error(p_tile: AnalogTile) -> FloatArray | None:
    """RMS over elements of P's logical SP (RL assumes 0); None for an ideal device."""
    sp = p_tile.symmetric_points
    if np.isnan(sp).all():
        return None
    r = p_tile.replicas
    return np.asarray(np.sqrt(np.mean(sp.reshape(r, -1) ** 2, axis=1)), dtype=np.float64)


class TwoArrayState(AlgorithmState):
    """W (tile 0) and P (tile 1); gradient at W̄ = W + γP."""

    def __init__(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        device: Device,
        device_residual: Device | None,
        update: UpdateMode,
        gamma_mix: float,
        n_threads: int | None,
        offset: int,
        backend: Backend,
        transfer_update: UpdateMode | None = None,
    ) -> None:
        self.replicas = instance.replicas
        self.n_in = instance.in_size
        self.gamma = gamma_mix
        dev_p = device if device_residual is None else device_residual
        # W only ever receives transfers: it uses the transfer update mode when one is given.
        w_mode = update if transfer_update is None else transfer_update
        self.w = make_tile(instance, device, w_mode, root, 0, n_threads, offset, backend)
        self.p = make_tile(instance, dev_p, update, root, 1, n_threads, offset, backend)
        self.w.set_weights(instance.initial_weights())
        self.tiles = {"W": self.w, "P": self.p}

    def gradient_point(self) -> FloatArray:
        if self.gamma == 0.0:
            return self.w.weights
        return self.w.weights + self.gamma * self.p.weights

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        # W̄ x = W x + γ P x: both arrays are read through the periphery (shared ADC).
        y = self.w.forward(x, io=io or perfect_io())
        if self.gamma != 0.0:
            y = y + self.gamma * self.p.forward(x, io=io or perfect_io())
        return y

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        y = self.w.backward(d, io=io or perfect_io())
        if self.gamma != 0.0:
            y = y + self.gamma * self.p.backward(d, io=io or perfect_io())
        return y

    def sp_error(self) -> FloatArray | None:
        return residual_sp_error(self.p)


class TransferBuffer:
    """The digital buffer H between the reads of P and the pulses fired on W.

    Each :meth:`fire` adds an increment to H (after an optional decay), fires
    ``n = clamp(trunc(H / threshold), ±max_pulses)`` pulses wherever ``|H| ≥ threshold``, and
    then either forgets (``H ← momentum·H`` where it fired) or subtracts what it fired
    (``H ← H − (1 − momentum)·n·threshold``). RLv2 (theory.md §3.5: decay, threshold
    ``threshold·Δw_min(W)``, one pulse, subtract) and the buffered E-RIDER (§3.8: no decay,
    threshold 1, forget or subtract with momentum) are its two uses so far.

    Parameters
    ----------
    shape : tuple of int
        Shape of H, (R, out, in); H starts at 0.
    threshold : float
        Firing level of |H|, > 0, in H's units.
    max_pulses : int, optional
        Pulse cap per element per firing, ≥ 1.
    momentum : float, optional
        In [0, 1]: the fraction of H kept where it fired (``forget``) or of the fired amount
        left in H (otherwise).
    forget : bool, optional
        Reset a firing element to ``momentum·H`` instead of subtracting what it fired.
    decay : float or None, optional
        b in ``H ← (1 − b)H + increment``; None adds without decay.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        *,
        threshold: float,
        max_pulses: int = 1,
        momentum: float = 0.0,
        forget: bool = False,
        decay: float | None = None,
    ) -> None:
        self.h: FloatArray = np.zeros(shape)
        self.threshold = threshold
        self.max_pulses = max_pulses
        self.momentum = momentum
        self.forget = forget
        self.decay = decay

    def fire(self, increment: FloatArray, index: Any = ...) -> FloatArray:
        """Add ``increment`` to ``H[index]`` and return the pulses fired there (float, signed).

        Parameters
        ----------
        increment : numpy.ndarray
            Shaped as ``H[index]``.
        index : optional
            Which part of H (e.g. ``np.s_[:, :, j]`` for one column); all of H by default.

        Returns
        -------
        numpy.ndarray
            The signed pulse counts n, shaped as ``H[index]`` (0 where nothing fired).
        """
        h = self.h[index]
        omega = h + increment if self.decay is None else (1.0 - self.decay) * h + increment
        fire = np.abs(omega) >= self.threshold
        scaled = omega if self.threshold == 1.0 else omega / self.threshold
        n = np.where(fire, np.clip(np.trunc(scaled), -self.max_pulses, self.max_pulses), 0.0)
        if self.forget:
            omega = np.where(fire, self.momentum * omega, omega)
        else:
            fired = (1.0 - self.momentum) * n
            omega = omega - (fired if self.threshold == 1.0 else fired * self.threshold)
        if index is Ellipsis:
            self.h = omega
        else:
            self.h[index] = omega
        return np.asarray(n, dtype=np.float64)
