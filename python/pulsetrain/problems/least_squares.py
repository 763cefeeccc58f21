"""Synthetic least squares (P1/P2): a random linear regression per replica."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import NON_NEGATIVE as _NON_NEGATIVE
from pulsetrain._validation import REAL as _REAL
from pulsetrain._validation import Integral, check_fields, constrained
from pulsetrain.config import register
from pulsetrain.problems.base import (
    _SIZE,
    FloatArray,
    Instance,
    Problem,
    _Noise,
    _one_hot_factors,
)
from pulsetrain.rng import _replica_generator
from pulsetrain.streams import PURPOSE_DATA
from pulsetrain.tile import Backend

__all__ = ["LeastSquares"]


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

    def memory_bytes(self, replicas: int) -> int:
        """Bytes of A, b, W* and the sample order of every replica (float64)."""
        n, d_in, d_out = self.n_samples, self.in_size, self.out_size
        return 8 * replicas * (n * (d_in + d_out + 1) + d_out * d_in)

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
        """Draw A and W* of every replica.

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
            The least-squares problem for R replicas.
        """
        return _LeastSquaresInstance(self, replicas, root, replica_offset, backend)


class _LeastSquaresInstance(Instance):
    def __init__(
        self,
        cfg: LeastSquares,
        replicas: int,
        root: np.random.SeedSequence,
        offset: int,
        backend: Backend,
    ) -> None:
        self.cfg = cfg
        self.replicas, self.out_size, self.in_size = replicas, cfg.out_size, cfg.in_size
        n, d_in, d_out = cfg.n_samples, cfg.in_size, cfg.out_size
        self.a = np.empty((replicas, n, d_in))
        self.w_star = np.empty((replicas, d_out, d_in))
        self.order = np.empty((replicas, n), dtype=np.intp)
        # The checks of `replica_generator` are the run's (a SeedSequence root, offsets and
        # counts >= 0, PURPOSE_DATA a constant). A's rows are drawn in place: the same values
        # as a drawn array copied in.
        for r in range(replicas):
            gen = _replica_generator(root, PURPOSE_DATA, offset + r)
            gen.standard_normal(out=self.a[r])
            self.w_star[r] = cfg.target_std * gen.standard_normal((d_out, d_in))
            self.order[r] = gen.permutation(n)
        self.b = np.einsum("rni,roi->rno", self.a, self.w_star)
        self._noise = _Noise(root, replicas, offset, backend)
        self._backend = backend
        self._batch = n if cfg.batch_size == 0 else min(cfg.batch_size, n)

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
        # Replica r's rows of A and b gathered, and d = (W x - b) / B with W x summed in index
        # order (the twin's same bits), in one call; small: one thread is fastest.
        x, d = self._backend.gathered_residuals(
            weights, self.a, self.b, self._rows(step), n_threads=1
        )
        if self.cfg.noise_std > 0.0:
            eps = self.cfg.noise_std * self._noise.draw(step, (self.out_size, self.in_size))
            xe, de = _one_hot_factors(eps)
            x = np.concatenate([x, xe], axis=1)
            d = np.concatenate([d, de], axis=1)
        return np.ascontiguousarray(x), np.ascontiguousarray(d)

    def loss(self, weights: FloatArray) -> FloatArray:
        resid = self._backend.exact_products(weights, self.a, n_threads=1) - self.b
        return np.asarray(
            0.5 * np.einsum("rno,rno->r", resid, resid) / self.cfg.n_samples, dtype=np.float64
        )
