"""The problem interface: a :class:`Problem` config draws an :class:`Instance` for R replicas.

A problem is a frozen config; :meth:`Problem.setup` draws one instance per replica (replica ``r``
from its own seed streams, so it does not depend on how many replicas run) and returns an
:class:`Instance` that gives, at any weights W of shape (R, out, in), the stochastic gradient as
rank-one factors ``(x, d)`` with ``∇f ≈ Σ_b d_b x_bᵀ``: exactly what an analog tile's outer-
product update consumes (shared/DESIGN.md §4, step 1). :class:`ModelState` is what the run loop
needs of any trained model's state (an algorithm's state, or a network of them).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import Integral
from pulsetrain.config import ConfigMixin
from pulsetrain.rng import tile_key
from pulsetrain.streams import NOISE_KEY_INDEX, TAG_PROBLEM
from pulsetrain.tile import Backend

if TYPE_CHECKING:
    from pulsetrain.tile import AnalogTile

__all__ = ["Instance", "ModelState", "Problem"]

FloatArray = npt.NDArray[np.float64]

_SIZE = Integral(1, 1 << 20)


class ModelState(Protocol):
    """What :func:`pulsetrain.run` needs of a model's live state, whatever trains it.

    An :class:`~pulsetrain.algorithms.AlgorithmState` (one weight matrix) satisfies it, and so
    does a network of layers, which has no single gradient point or weight matrix to stub.
    """

    replicas: int
    tiles: dict[str, AnalogTile]

    def arrays(self) -> dict[str, FloatArray]:
        """Return the current weights of every array and buffer by name."""
        ...

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far per replica, by phase, summed over tiles, (R,)."""
        ...

    def sp_error(self) -> FloatArray | None:
        """Return the per-replica RMS error of the symmetric point the model relies on."""
        ...

    def digital_state(self) -> dict[str, FloatArray]:
        """Return the digital (float64) state by name (buffers, digital weights, biases)."""
        ...


class Instance(abc.ABC):
    """One drawn problem for R replicas (weights shaped (R, out, in))."""

    replicas: int
    out_size: int
    in_size: int

    @abc.abstractmethod
    def initial_weights(self) -> FloatArray:
        """Return the starting weights, (R, out, in)."""

    @abc.abstractmethod
    def optimum(self) -> FloatArray:
        """Return the minimiser W*, (R, out, in)."""

    @abc.abstractmethod
    def gradient_factors(self, weights: FloatArray, step: int) -> tuple[FloatArray, FloatArray]:
        """Return ``(x, d)``, (R, B, in) and (R, B, out), with ``Σ_b d_b x_bᵀ`` the gradient."""

    @abc.abstractmethod
    def loss(self, weights: FloatArray) -> FloatArray:
        """Return the objective f(W) per replica, (R,)."""

    def error(self, weights: FloatArray) -> FloatArray:
        """Return ``‖W − W*‖²`` (squared Frobenius norm) per replica, (R,)."""
        diff = weights - self.optimum()
        return np.asarray(np.einsum("roi,roi->r", diff, diff), dtype=np.float64)

    # Hooks of the run loop; a network problem overrides all three.
    single_matrix: bool = True
    """True when the model is one weight matrix (so trajectories and ``weights`` apply)."""

    def start(
        self,
        algorithm: Any,
        root: np.random.SeedSequence,
        *,
        n_threads: int | None,
        replica_offset: int,
        backend: Any,
    ) -> ModelState:
        """Build the algorithm's state for this instance (``algorithm.start``)."""
        state: ModelState = algorithm.start(
            self, root, n_threads=n_threads, replica_offset=replica_offset, backend=backend
        )
        return state

    def advance(self, state: Any, step: int) -> None:
        """Run one training step: the gradient factors at the state's point, then its update."""
        x, d = self.gradient_factors(state.gradient_point(), step)
        state.step(step, x, d)

    def metrics(self, state: Any) -> tuple[FloatArray, FloatArray]:
        """Return (loss, error) per replica at the state's effective weights."""
        w = state.effective_weights()
        return self.loss(w), self.error(w)


class Problem(ConfigMixin):
    """Base of the problem configs."""

    __slots__ = ()

    def memory_bytes(self, replicas: int) -> int:
        """Estimate the bytes the drawn problem holds for ``replicas`` replicas (0: unknown).

        :func:`pulsetrain.run` adds the training state and the recorded curves and refuses, up
        front, a run that cannot fit in the machine's memory.
        """
        return 0

    def weight_shape(self) -> tuple[int, int] | None:
        """Return ``(out, in)`` of the one weight matrix, or None for a network of layers."""
        return None

    def setup(
        self,
        replicas: int,
        root: np.random.SeedSequence,
        *,
        replica_offset: int = 0,
        backend: Backend = Backend.RUST,
    ) -> Instance:
        """Draw the instance of every replica.

        Parameters
        ----------
        replicas : int
            Number of replicas R, at least 1.
        root : numpy.random.SeedSequence
            The run's root seed.
        replica_offset : int, optional
            Global index of replica 0.
        backend : Backend, optional
            Where per-step random draws (gradient noise) are made; the twin gives the same
            numbers. Default ``Backend.RUST``.

        Returns
        -------
        Instance
            The drawn problem.
        """
        raise NotImplementedError


class _Noise:
    """Per-replica Gaussian gradient noise: replica r, step k from its own Philox stream."""

    def __init__(
        self, root: np.random.SeedSequence, replicas: int, replica_offset: int, backend: Backend
    ) -> None:
        self.key = list(tile_key(root, NOISE_KEY_INDEX))
        self.replicas = replicas
        self.offset = replica_offset
        self.backend = backend

    def draw(self, step: int, shape: tuple[int, ...]) -> FloatArray:
        n = int(np.prod(shape))
        z = self.backend.replica_normals(self.key, step, self.offset, self.replicas, n, TAG_PROBLEM)
        return z.reshape((self.replicas, *shape))


def _one_hot_factors(grad: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Factor a dense gradient (R, out, in) as Σ_j g[:, :, j] e_jᵀ: x = I, d = gᵀ."""
    r, _, n_in = grad.shape
    x = np.zeros((r, n_in, n_in))
    x[:, np.arange(n_in), np.arange(n_in)] = 1.0
    return x, np.ascontiguousarray(grad.transpose(0, 2, 1))
