"""The papers' test problems: a noisy quadratic and synthetic least squares.

A problem is a frozen config; :meth:`setup` draws one instance per replica (replica ``r`` from
its own seed streams, so it does not depend on how many replicas run) and returns an
:class:`Instance` that gives, at any weights W of shape (R, out, in), the stochastic gradient as
rank-one factors ``(x, d)`` with ``∇f ≈ Σ_b d_b x_bᵀ``: exactly what an analog tile's outer-
product update consumes (shared/DESIGN.md §4, step 1).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain import _core
from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import REAL as _REAL
from pulsetrain._validation import Integral, check_fields, constrained
from pulsetrain.config import ConfigMixin, register
from pulsetrain.rng import replica_generator, tile_key

__all__ = ["Instance", "LeastSquares", "Problem", "Quadratic"]

FloatArray = npt.NDArray[np.float64]

#: Seed purposes of problem streams (spawn keys under the run's root).
PURPOSE_DATA = 1
PURPOSE_NOISE_KEY = 2
#: Tile index used to derive the Philox key of the gradient-noise streams.
_NOISE_KEY_INDEX = 1 << 20

_SIZE = Integral(1, 1 << 20)


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
    ) -> Any:
        """Build the algorithm's state for this instance (``algorithm.start``)."""
        return algorithm.start(
            self, root, n_threads=n_threads, replica_offset=replica_offset, backend=backend
        )

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

    def setup(
        self, replicas: int, root: np.random.SeedSequence, *, replica_offset: int = 0
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

        Returns
        -------
        Instance
            The drawn problem.
        """
        raise NotImplementedError


class _Noise:
    """Per-replica Gaussian gradient noise: replica r, step k from its own Philox stream."""

    def __init__(self, root: np.random.SeedSequence, replicas: int, replica_offset: int) -> None:
        self.key = list(tile_key(root, _NOISE_KEY_INDEX))
        self.replicas = replicas
        self.offset = replica_offset

    def draw(self, step: int, shape: tuple[int, ...]) -> FloatArray:
        n = int(np.prod(shape))
        z = _core.replica_normals(self.key, step, self.offset, self.replicas, n, 7, None)
        return np.asarray(z).reshape((self.replicas, *shape))


def _one_hot_factors(grad: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Factor a dense gradient (R, out, in) as Σ_j g[:, :, j] e_jᵀ: x = I, d = gᵀ."""
    r, _, n_in = grad.shape
    x = np.zeros((r, n_in, n_in))
    x[:, np.arange(n_in), np.arange(n_in)] = 1.0
    return x, np.ascontiguousarray(grad.transpose(0, 2, 1))


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Quadratic(Problem):
    """f(W) = (L/2)‖W − target‖² with Gaussian gradient noise (shared/theory.md §5 toy).

    The stochastic gradient is ``L(W − target) + noise_std·ξ`` element-wise.

    Examples
    --------
    >>> Quadratic().to_dict()["target"]
    0.5
    """

    kind: ClassVar[str] = "quadratic"
    target: float = field(default=0.5, metadata=constrained(_REAL))
    """The minimiser, every element of W*."""
    noise_std: float = field(default=0.5, metadata=constrained(_NON_NEGATIVE))
    """Gradient noise standard deviation σ per element (≥ 0; 0 gives exact gradients)."""
    curvature: float = field(default=1.0, metadata=constrained(_POSITIVE))
    """The curvature L (> 0)."""
    out_size: int = field(default=1, metadata=constrained(_SIZE))
    """Rows of W."""
    in_size: int = field(default=1, metadata=constrained(_SIZE))
    """Columns of W."""
    w0: float = field(default=0.0, metadata=constrained(_REAL))
    """Starting value of every weight."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Quadratic
            The theory toy: target 0.5, σ 0.5, 1×1.
        """
        return cls()

    def setup(
        self, replicas: int, root: np.random.SeedSequence, *, replica_offset: int = 0
    ) -> Instance:
        """Draw the instance (nothing random but the per-step noise).

        Parameters
        ----------
        replicas : int
            Number of replicas R, at least 1.
        root : numpy.random.SeedSequence
            The run's root seed.
        replica_offset : int, optional
            Global index of replica 0.

        Returns
        -------
        Instance
            The quadratic for R replicas.
        """
        return _QuadraticInstance(self, replicas, root, replica_offset)


class _QuadraticInstance(Instance):
    def __init__(
        self, cfg: Quadratic, replicas: int, root: np.random.SeedSequence, offset: int
    ) -> None:
        self.cfg = cfg
        self.replicas, self.out_size, self.in_size = replicas, cfg.out_size, cfg.in_size
        self._shape = (replicas, cfg.out_size, cfg.in_size)
        self._noise = _Noise(root, replicas, offset)

    def initial_weights(self) -> FloatArray:
        return np.full(self._shape, self.cfg.w0)

    def optimum(self) -> FloatArray:
        return np.full(self._shape, self.cfg.target)

    def gradient(self, weights: FloatArray, step: int) -> FloatArray:
        g = self.cfg.curvature * (weights - self.cfg.target)
        if self.cfg.noise_std > 0.0:
            g = g + self.cfg.noise_std * self._noise.draw(step, self._shape[1:])
        return g

    def gradient_factors(self, weights: FloatArray, step: int) -> tuple[FloatArray, FloatArray]:
        return _one_hot_factors(self.gradient(weights, step))

    def loss(self, weights: FloatArray) -> FloatArray:
        diff = weights - self.cfg.target
        return np.asarray(
            0.5 * self.cfg.curvature * np.einsum("roi,roi->r", diff, diff), dtype=np.float64
        )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LeastSquares(Problem):
    """Synthetic least squares (P1/P2): A ~ N(0, 1), W* ~ N(0, target_std²), b = A W*ᵀ.

    f(W) = (1/2n) Σ_i ‖W a_i − b_i‖² over the n samples (rows of A); each replica draws its own
    A and W*. A step uses ``batch_size`` rows (cyclic over a per-replica shuffle; 0 = all rows)
    and adds ``noise_std·ξ`` to every gradient element (P2's injected gradient noise).

    Examples
    --------
    >>> LeastSquares(in_size=40, n_samples=100).out_size
    1
    """

    kind: ClassVar[str] = "least_squares"
    in_size: int = field(default=40, metadata=constrained(_SIZE))
    """Columns of W (the papers' D)."""
    out_size: int = field(default=1, metadata=constrained(_SIZE))
    """Rows of W (1 for the papers' vector problems)."""
    n_samples: int = field(default=100, metadata=constrained(_SIZE))
    """Rows of A (the papers' D_out)."""
    batch_size: int = field(default=0, metadata=constrained(Integral(0, 1 << 20)))
    """Rows per step; 0 uses all n_samples (full-batch gradient)."""
    target_std: float = field(default=0.45, metadata=constrained(_NON_NEGATIVE))
    """Standard deviation of the entries of W*."""
    noise_std: float = field(default=0.0, metadata=constrained(_NON_NEGATIVE))
    """Injected gradient noise per element (P2 scripts: 0.01/√D)."""
    w0: float = field(default=0.0, metadata=constrained(_REAL))
    """Starting value of every weight (P1 Fig. 2: 1)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        LeastSquares
            A small 8-column problem with noise.
        """
        return cls(in_size=8, n_samples=20, batch_size=5, noise_std=0.01)

    def setup(
        self, replicas: int, root: np.random.SeedSequence, *, replica_offset: int = 0
    ) -> Instance:
        """Draw A and W* of every replica.

        Parameters
        ----------
        replicas : int
            Number of replicas R, at least 1.
        root : numpy.random.SeedSequence
            The run's root seed.
        replica_offset : int, optional
            Global index of replica 0.

        Returns
        -------
        Instance
            The least-squares problem for R replicas.
        """
        return _LeastSquaresInstance(self, replicas, root, replica_offset)


class _LeastSquaresInstance(Instance):
    def __init__(
        self, cfg: LeastSquares, replicas: int, root: np.random.SeedSequence, offset: int
    ) -> None:
        self.cfg = cfg
        self.replicas, self.out_size, self.in_size = replicas, cfg.out_size, cfg.in_size
        n, d_in, d_out = cfg.n_samples, cfg.in_size, cfg.out_size
        self.a = np.empty((replicas, n, d_in))
        self.w_star = np.empty((replicas, d_out, d_in))
        self.order = np.empty((replicas, n), dtype=np.intp)
        for r in range(replicas):
            gen = replica_generator(root, PURPOSE_DATA, offset + r)
            self.a[r] = gen.standard_normal((n, d_in))
            self.w_star[r] = cfg.target_std * gen.standard_normal((d_out, d_in))
            self.order[r] = gen.permutation(n)
        self.b = np.einsum("rni,roi->rno", self.a, self.w_star)
        self._noise = _Noise(root, replicas, offset)
        self._batch = n if cfg.batch_size == 0 else min(cfg.batch_size, n)
        self._replica_index = np.arange(replicas)[:, None]

    def initial_weights(self) -> FloatArray:
        return np.full((self.replicas, self.out_size, self.in_size), self.cfg.w0)

    def optimum(self) -> FloatArray:
        return self.w_star.copy()

    def _rows(self, step: int) -> npt.NDArray[np.intp]:
        n = self.cfg.n_samples
        if self._batch == n:
            return np.broadcast_to(np.arange(n), (self.replicas, n))
        pos = (step * self._batch + np.arange(self._batch)) % n
        return self.order[:, pos]

    def gradient_factors(self, weights: FloatArray, step: int) -> tuple[FloatArray, FloatArray]:
        if self._batch == self.cfg.n_samples:
            # Full batch: every replica's rows in order (copies: the caller owns the factors).
            x, b = self.a.copy(), self.b
        else:
            idx = self._rows(step)
            x = self.a[self._replica_index, idx]
            b = self.b[self._replica_index, idx]
        d = (np.einsum("roi,rbi->rbo", weights, x) - b) / x.shape[1]
        if self.cfg.noise_std > 0.0:
            eps = self.cfg.noise_std * self._noise.draw(step, (self.out_size, self.in_size))
            xe, de = _one_hot_factors(eps)
            x = np.concatenate([x, xe], axis=1)
            d = np.concatenate([d, de], axis=1)
        return np.ascontiguousarray(x), np.ascontiguousarray(d)

    def loss(self, weights: FloatArray) -> FloatArray:
        resid = np.einsum("roi,rni->rno", weights, self.a) - self.b
        return np.asarray(
            0.5 * np.einsum("rno,rno->r", resid, resid) / self.cfg.n_samples, dtype=np.float64
        )
