"""The noisy quadratic of shared/theory.md §5 (the papers' toy problem)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import POSITIVE as _POSITIVE
from pulsetrain._validation import REAL as _REAL
from pulsetrain._validation import check_fields, constrained
from pulsetrain.config import register
from pulsetrain.problems.base import (
    _SIZE,
    FloatArray,
    Instance,
    Problem,
    _Noise,
    _one_hot_factors,
)
from pulsetrain.tile import Backend

__all__ = ["Quadratic"]


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

    def memory_bytes(self, replicas: int) -> int:
        """Bytes of the optimum and the starting weights of every replica (float64)."""
        return 16 * replicas * self.out_size * self.in_size

    def weight_shape(self) -> tuple[int, int]:
        """Return ``(out_size, in_size)``."""
        return (self.out_size, self.in_size)

    def setup(
        self,
        replicas: int,
        root: np.random.SeedSequence,
        *,
        replica_offset: int = 0,
        backend: Backend = Backend.RUST,
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
        backend : Backend, optional
            Where per-step random draws (gradient noise) are made; the twin gives the same
            numbers. Default ``Backend.RUST``.

        Returns
        -------
        Instance
            The quadratic for R replicas.
        """
        return _QuadraticInstance(self, replicas, root, replica_offset, backend)


class _QuadraticInstance(Instance):
    def __init__(
        self,
        cfg: Quadratic,
        replicas: int,
        root: np.random.SeedSequence,
        offset: int,
        backend: Backend,
    ) -> None:
        self.cfg = cfg
        self.replicas, self.out_size, self.in_size = replicas, cfg.out_size, cfg.in_size
        self._shape = (replicas, cfg.out_size, cfg.in_size)
        self._noise = _Noise(root, replicas, offset, backend)

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
