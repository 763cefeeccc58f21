"""`AnalogTile`: R independent replicas of an analog crossbar, updated by pulses in Rust.

The façade coerces its inputs (lists, float32, non-contiguous or read-only arrays become fresh
float64 C-contiguous copies) and hands them to :mod:`pulsetrain._core`, which checks shape and
finiteness before it releases the GIL or changes any state. A call that raises leaves the tile
exactly as it was. Each call is atomic: Ctrl-C is delivered between calls.
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from pulsetrain import _core
from pulsetrain._validation import (
    Integral,
    Interval,
    NoneOr,
    parameter_error,
    real_array,
    validate_args,
)
from pulsetrain.devices import Device
from pulsetrain.errors import NonFiniteError, ShapeError
from pulsetrain.periphery import IOParameters
from pulsetrain.rng import as_seed_sequence, tile_key
from pulsetrain.streams import TAG_PROBLEM
from pulsetrain.updates import (
    ExpectedUpdate,
    Phase,
    PulseCountUpdate,
    StochasticPulseUpdate,
    UpdateMode,
)

__all__ = ["AnalogTile", "Backend", "TileBackend", "UpdateMode", "UpdateStats"]


FloatArray = npt.NDArray[np.float64]
CountArray = npt.NDArray[np.uint64]


class TileBackend(Protocol):
    """What :class:`AnalogTile` needs of a backend tile: ``_core.Tile`` and ``TwinTile``.

    Both hold R replicas' state and run the kernels with the same arguments and the same
    numbers (KERNEL_SPEC §8); arrays passed in are float64 (int64 for counts), C-contiguous.
    """

    @property
    def replicas(self) -> int:
        """Number of replicas R."""
        ...

    @property
    def out_size(self) -> int:
        """Rows."""
        ...

    @property
    def in_size(self) -> int:
        """Columns."""
        ...

    @property
    def replica_offset(self) -> int:
        """Global index of replica 0."""
        ...

    @property
    def tick(self) -> int:
        """Calls that advanced the streams."""
        ...

    def weights(self) -> FloatArray:
        """Return the logical weights."""
        ...

    def physical_weights(self) -> FloatArray:
        """Return the physical state."""
        ...

    def set_weights(self, weights: FloatArray, /) -> None:
        """Set the logical weights."""
        ...

    def set_physical_weights(self, weights: FloatArray, /) -> None:
        """Set the physical state."""
        ...

    def update(
        self, x: FloatArray, d: FloatArray, lr: float, phase: int, n_threads: int | None = None, /
    ) -> CountArray:
        """Apply ``-lr Σ d xᵀ`` in the tile's update mode."""
        ...

    def apply_delta(
        self, delta: FloatArray, phase: int, n_threads: int | None = None, /
    ) -> CountArray:
        """Apply a target change (expected or pulse-count mode)."""
        ...

    def apply_pulses(
        self, counts: npt.NDArray[np.int64], phase: int, n_threads: int | None = None, /
    ) -> CountArray:
        """Fire exact signed pulse counts."""
        ...

    def read(
        self, cols: Sequence[int], noise_std: float = 0.0, n_threads: int | None = None, /
    ) -> FloatArray:
        """Read columns with Gaussian noise."""
        ...

    def zero_shift(
        self,
        n_pulses: int,
        cyclic: bool,  # noqa: FBT001 - mirrors the positional _core signature
        average_last: int = 1,
        n_threads: int | None = None,
        /,
    ) -> FloatArray:
        """Run the zero-shift calibration."""
        ...

    def set_reference(self, reference: FloatArray, /) -> None:
        """Program the reference array."""
        ...

    def forward(
        self, x: FloatArray, io: dict[str, Any], n_threads: int | None = None, /
    ) -> FloatArray:
        """Forward pass through the periphery."""
        ...

    def backward(
        self, d: FloatArray, io: dict[str, Any], n_threads: int | None = None, /
    ) -> FloatArray:
        """Backward pass through the periphery."""
        ...

    def read_io(
        self, cols: Sequence[int], io: dict[str, Any], n_threads: int | None = None, /
    ) -> FloatArray:
        """Read columns as one-hot forward passes."""
        ...

    def pulse_counts(self, phase: int, /) -> CountArray:
        """Return the pulse counters of a phase."""
        ...

    def reset_pulse_counts(self, phase: int | None = None, /) -> None:
        """Zero the counters of one phase or all."""
        ...

    def maps(self) -> dict[str, FloatArray]:
        """Return the device-to-device maps."""
        ...

    @property
    def key(self) -> Any:
        """The tile's 128-bit Philox key (two uint64 words)."""
        ...

    def set_tick(self, tick: int, /) -> None:
        """Set the stream tick."""
        ...

    def set_pulse_counts(self, phase: int, counts: CountArray, /) -> None:
        """Restore the pulse counters of a phase."""
        ...

    def reference(self) -> FloatArray:
        """Return the reference array (without computing the other maps)."""
        ...


class Backend(enum.Enum):
    """Which implementation holds a tile's state and runs its kernels."""

    RUST = "rust"
    """The multithreaded Rust core, ``pulsetrain._core`` (default)."""
    TWIN = "twin"
    """The plain-NumPy twin, :class:`pulsetrain.twin.TwinTile`: slow, readable, and drawing
    the same random numbers, so a whole training run can be checked against it."""

    def replica_normals(
        self,
        key: Sequence[int],
        tick: int,
        replica_offset: int,
        replicas: int,
        n: int,
        tag: int = TAG_PROBLEM,
        n_threads: int | None = None,
    ) -> FloatArray:
        """Draw standard normals of R replicas' streams ``(key, tick, offset + r, 0, tag)``.

        The Rust backend calls ``_core.replica_normals``, the twin
        :func:`pulsetrain.twin.replica_normals`; both give the same numbers.

        Parameters
        ----------
        key : sequence of int
            The 128-bit Philox key, two uint64 words.
        tick : int
            The streams' tick, at least 0.
        replica_offset : int
            Global index of replica 0, at least 0.
        replicas : int
            Number of replicas R, at least 1.
        n : int
            Values per replica, at least 0.
        tag : int, optional
            Stream tag, in [0, 255]. Default :data:`~pulsetrain.streams.TAG_PROBLEM`.
        n_threads : int or None, optional
            Threads (Rust only); the values do not depend on it.

        Returns
        -------
        numpy.ndarray of float64, shape (R, n)
            Row r holds replica r's normals.
        """
        if self is Backend.RUST:
            return np.asarray(
                _core.replica_normals(key, tick, replica_offset, replicas, n, tag, n_threads)
            )
        from pulsetrain import twin

        return twin.replica_normals(list(key), tick, replica_offset, replicas, n, tag)

    def replica_uniforms(
        self,
        key: Sequence[int],
        tick: int,
        replica_offset: int,
        replicas: int,
        n: int,
        tag: int = TAG_PROBLEM,
        n_threads: int | None = None,
    ) -> FloatArray:
        """Draw uniforms in [0, 1) of R replicas' streams, laid out as :meth:`replica_normals`.

        Parameters
        ----------
        key : sequence of int
            The 128-bit Philox key, two uint64 words.
        tick : int
            The streams' tick, at least 0.
        replica_offset : int
            Global index of replica 0, at least 0.
        replicas : int
            Number of replicas R, at least 1.
        n : int
            Values per replica, at least 0.
        tag : int, optional
            Stream tag, in [0, 255]. Default :data:`~pulsetrain.streams.TAG_PROBLEM`.
        n_threads : int or None, optional
            Threads (Rust only); the values do not depend on it.

        Returns
        -------
        numpy.ndarray of float64, shape (R, n)
            Row r holds replica r's uniforms.
        """
        if self is Backend.RUST:
            return np.asarray(
                _core.replica_uniforms(key, tick, replica_offset, replicas, n, tag, n_threads)
            )
        from pulsetrain import twin

        return twin.replica_uniforms(list(key), tick, replica_offset, replicas, n, tag)

    def exact_products(
        self,
        w: npt.ArrayLike,
        x: npt.ArrayLike,
        *,
        transpose: bool = False,
        n_threads: int | None = None,
    ) -> FloatArray:
        """Return ``W x`` per sample (``Wᵀ x`` with ``transpose``) in exact float64 arithmetic.

        Each output is summed in index order from 0.0 without fused multiply-adds, the sums a
        tile's perfect-IO pass makes, so the result is the same bits on every CPU and for any
        thread count; the Rust backend calls ``_core.exact_products``, the twin
        :func:`pulsetrain.twin.exact_products`, which replays it. The exact reads of the
        problems and of ``Sequential.evaluate`` use it.

        Parameters
        ----------
        w : array_like
            R matrices, (R, out, in), float64.
        x : array_like
            Inputs, (R, B, in); with ``transpose``, (R, B, out).
        transpose : bool, optional
            Multiply by ``Wᵀ`` instead. Default False.
        n_threads : int or None, optional
            Threads (Rust only); the values do not depend on it.

        Returns
        -------
        numpy.ndarray of float64
            (R, B, out); with ``transpose``, (R, B, in).

        Examples
        --------
        >>> import numpy as np
        >>> w = np.arange(6.0).reshape(1, 2, 3)
        >>> Backend.RUST.exact_products(w, np.ones((1, 1, 3))).tolist()
        [[[3.0, 12.0]]]
        """
        w = np.ascontiguousarray(w, dtype=np.float64)
        x = np.ascontiguousarray(x, dtype=np.float64)
        if self is Backend.RUST:
            return np.asarray(_core.exact_products(w, x, transpose, n_threads))
        from pulsetrain import twin

        return twin.exact_products(w, x, transpose=transpose)

    def gathered_residuals(
        self,
        w: npt.ArrayLike,
        a: npt.ArrayLike,
        b: npt.ArrayLike,
        rows: npt.ArrayLike,
        *,
        n_threads: int | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """Return a least-squares minibatch and its mean-gradient residuals, exactly.

        Replica r's rows ``rows[r]`` of ``a`` and ``b`` are gathered as ``x`` and ``t``, and
        ``d = (W x - t) / B`` is formed with ``W x`` summed as :meth:`exact_products` sums it:
        the least-squares gradient ``d xᵀ`` in its two factors, in one call (the Rust backend
        gathers, multiplies and subtracts in ``_core.gathered_residuals``; the twin's
        :func:`pulsetrain.twin.gathered_residuals` gives the same bits with NumPy).

        Parameters
        ----------
        w : array_like
            R matrices, (R, out, in), float64.
        a : array_like
            Inputs, (R, n, in), float64.
        b : array_like
            Targets, (R, n, out), float64.
        rows : array_like of int
            (R, B): replica r's minibatch as row numbers in ``[0, n)``.
        n_threads : int or None, optional
            Threads (Rust only); the values do not depend on it.

        Returns
        -------
        x : numpy.ndarray of float64, shape (R, B, in)
            The gathered inputs.
        d : numpy.ndarray of float64, shape (R, B, out)
            ``(W x - t) / B``.

        Examples
        --------
        >>> import numpy as np
        >>> w = np.ones((1, 1, 2))
        >>> a = np.arange(6.0).reshape(1, 3, 2)
        >>> x, d = Backend.RUST.gathered_residuals(w, a, np.zeros((1, 3, 1)), [[2, 0]])
        >>> x.tolist(), d.tolist()
        ([[[4.0, 5.0], [0.0, 1.0]]], [[[4.5], [0.5]]])
        """
        w = np.ascontiguousarray(w, dtype=np.float64)
        a = np.ascontiguousarray(a, dtype=np.float64)
        b = np.ascontiguousarray(b, dtype=np.float64)
        idx = np.asarray(rows)
        if self is Backend.RUST:
            if idx.dtype != np.int64:
                if idx.size and not np.issubdtype(idx.dtype, np.integer):
                    raise _shape_error(
                        "rows", "gathered_residuals", "an int array", f"dtype {idx.dtype}"
                    )
                idx = idx.astype(np.int64)
            x, d = _core.gathered_residuals(w, a, b, np.ascontiguousarray(idx), n_threads)
            return np.asarray(x), np.asarray(d)
        from pulsetrain import twin

        return twin.gathered_residuals(w, a, b, idx)


@dataclass(frozen=True, slots=True)
class UpdateStats:
    """What one update call did.

    Attributes
    ----------
    pulses : numpy.ndarray
        Pulses fired per replica by this call, shape ``(R,)``, uint64. In the expected mode these
        are the equivalent pulses ``ceil(|Δw| / dw_min)`` summed over elements.
    """

    pulses: CountArray

    @property
    def total(self) -> int:
        """All pulses fired by the call, summed over replicas."""
        return int(self.pulses.sum())


def _shape_error(name: str, owner: str, allowed: str, got: str) -> ShapeError:
    """Build a ShapeError in the house template (CONVENTIONS §1)."""
    return ShapeError(f"The {name!r} parameter of {owner} must be {allowed}. Got {got} instead.")


_SIZE = Integral(1, 1 << 24)
_NOISE = Interval(0.0, None)
_THREADS = NoneOr(Integral(1, 1024))
"""Thread counts: ``None`` (every core) or 1 to 1024."""


def _check_threads(value: object, owner: str) -> int | None:
    """Check a per-call ``n_threads`` (a plain check: the call path is hot, no signature bind)."""
    return _THREADS.validate(value, name="n_threads", owner=owner)  # type: ignore[return-value]


def _as_float_array(name: str, owner: str, value: object) -> FloatArray:
    """Coerce to a float64 C-contiguous array, or raise a ShapeError naming `name`.

    No copy when `value` already is one: the kernel copies what it reads before it releases
    the GIL, and nothing here writes to the result.
    """
    return real_array(name, owner, value)


class _Serialised:
    """One tile's backend with every call and attribute read serialised by a lock.

    A kernel runs without the GIL, so another Python thread may call the same tile meanwhile;
    unserialised, it would find the tile borrowed (``RuntimeError: Already mutably borrowed``).
    With the lock, a second caller waits for the running call and then sees its finished
    result, so a tile shared between threads always shows a consistent state. Waiting on the
    lock releases the GIL.
    """

    __slots__ = ("__dict__", "_inner", "_lock")

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:
            attr = getattr(self._inner, name)  # a getter reads the tile: under the lock too
        if not callable(attr):
            return attr
        lock = self._lock

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)

        if getattr(attr, "__self__", None) is self._inner:
            # A method of the backend, bound to it for good: its locked wrapper is kept, so
            # the next call finds it without coming back here (a training step calls a few
            # methods per layer; building the wrapper each time cost microseconds a call).
            self.__dict__[name] = call
        return call


class AnalogTile:
    """R independent replicas of an ``out_size × in_size`` analog crossbar.

    Each replica has its own weights, device-to-device maps (drawn from the seed) and pulse
    counters. Updates run in Rust on ``n_threads`` threads; the same seed gives bit-identical
    results for any thread count.

    Parameters
    ----------
    out_size : int
        Rows (outputs), at least 1.
    in_size : int
        Columns (inputs), at least 1.
    device : Device
        The device model of every element.
    replicas : int, optional
        Independent replicas R, at least 1. Default 1.
    update : ExpectedUpdate | PulseCountUpdate | StochasticPulseUpdate, optional
        How a desired increment becomes pulses. Default ``StochasticPulseUpdate()``.
    rng : int | numpy.random.SeedSequence | numpy.random.Generator | None, optional
        Seed of the device maps and of every pulse stream. ``None`` draws fresh entropy, which
        is recorded in :attr:`seed_entropy`.
    n_threads : int | None, optional
        Threads for kernels, 1 to 1024; ``None`` uses every core. Results do not depend on it.
    replica_offset : int, optional
        Global index of replica 0: replica r of an R-replica tile equals a one-replica tile with
        ``replica_offset=r`` and the same seed. Default 0.
    tile_index : int, optional
        Index of this tile under the seed (algorithms with several arrays give each its own).
    backend : Backend or str, optional
        ``"rust"`` (default) or ``"twin"``, the NumPy twin with identical results.

    Raises
    ------
    ParameterError
        A size, seed, thread count or configuration value is out of range.

    Examples
    --------
    >>> import numpy as np, pulsetrain as pt
    >>> dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
    >>> tile = pt.AnalogTile(2, 3, dev, update=pt.ExpectedUpdate(), rng=0)
    >>> _ = tile.apply_delta(np.full((2, 3), 0.01))
    >>> bool(np.allclose(tile.weights, 0.01))
    True
    """

    __slots__ = (
        "_n_threads",
        "_shape",
        "_tile",
        "backend",
        "device",
        "seed_entropy",
        "tile_index",
        "update_mode",
    )

    @validate_args(
        "AnalogTile",
        out_size=_SIZE,
        in_size=_SIZE,
        replicas=_SIZE,
        n_threads=_THREADS,
        tile_index=Integral(0, (1 << 32) - 1),
    )
    def __init__(
        self,
        out_size: int,
        in_size: int,
        device: Device,
        *,
        replicas: int = 1,
        update: UpdateMode | None = None,
        rng: int | np.random.SeedSequence | np.random.Generator | None = None,
        n_threads: int | None = None,
        replica_offset: int = 0,
        tile_index: int = 0,
        backend: Backend | str = Backend.RUST,
    ) -> None:
        if not isinstance(device, Device):
            raise parameter_error("device", "AnalogTile", "a pulsetrain.Device", device)
        mode: UpdateMode = StochasticPulseUpdate() if update is None else update
        if not isinstance(mode, ExpectedUpdate | PulseCountUpdate | StochasticPulseUpdate):
            raise parameter_error(
                "update",
                "AnalogTile",
                "ExpectedUpdate, PulseCountUpdate or StochasticPulseUpdate",
                mode,
            )
        replica_offset = Integral(0, (1 << 32) - replicas).validate(  # type: ignore[assignment]
            replica_offset, name="replica_offset", owner="AnalogTile"
        )
        self._n_threads = n_threads
        root = as_seed_sequence(rng)
        self.seed_entropy: int | list[int] | None = root.entropy  # type: ignore[assignment]
        self.device = device
        self.update_mode: UpdateMode = mode
        self.tile_index = tile_index
        try:
            self.backend = Backend(backend)
        except ValueError:
            raise parameter_error("backend", "AnalogTile", "'rust' or 'twin'", backend) from None
        key = tile_key(root, tile_index)
        args = (device.to_spec(), mode.to_spec(), out_size, in_size, replicas, list(key))
        inner: TileBackend
        if self.backend is Backend.RUST:
            inner = _core.Tile(*args, replica_offset)
        else:
            from pulsetrain.twin import TwinTile

            inner = TwinTile(*args, replica_offset)
        self._tile: TileBackend = cast("TileBackend", _Serialised(inner))
        # A tile's shape never changes: read once (through the lock, each read cost a call).
        self._shape = (int(self._tile.replicas), int(self._tile.out_size), int(self._tile.in_size))

    # ----------------------------------------------------------------------------- shape
    @property
    def replicas(self) -> int:
        """Number of replicas R."""
        return self._shape[0]

    @property
    def out_size(self) -> int:
        """Rows (outputs)."""
        return self._shape[1]

    @property
    def in_size(self) -> int:
        """Columns (inputs)."""
        return self._shape[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(replicas, out_size, in_size)``."""
        return self._shape

    @property
    def tick(self) -> int:
        """Number of calls that advanced the random streams."""
        return int(self._tile.tick)

    @property
    def replica_offset(self) -> int:
        """Global index of replica 0."""
        return int(self._tile.replica_offset)

    # ----------------------------------------------------------------------------- state
    @property
    def weights(self) -> FloatArray:
        """A copy of the logical weights (physical state − reference), shape (R, out, in)."""
        return np.asarray(self._tile.weights())

    @property
    def physical_weights(self) -> FloatArray:
        """A copy of the physical conductance state, shape (R, out, in)."""
        return np.asarray(self._tile.physical_weights())

    def _full(self, name: str, owner: str, value: object) -> FloatArray:
        arr = _as_float_array(name, owner, value)
        if arr.ndim == 2 and self.replicas == 1:
            arr = arr[np.newaxis]
        if arr.shape != self.shape:
            alt = f" or {self.shape[1:]}" if self.replicas == 1 else ""
            raise _shape_error(
                name, owner, f"an array of shape {self.shape}{alt}", f"shape {arr.shape}"
            )
        return np.ascontiguousarray(arr)

    def set_weights(self, weights: npt.ArrayLike) -> None:
        """Program the logical weights, clipped to each element's bounds; no pulses counted.

        Parameters
        ----------
        weights : array_like
            Shape (R, out, in), or (out, in) when R = 1; finite.

        Raises
        ------
        ShapeError
            Wrong shape or not real numbers.
        NonFiniteError
            NaN or inf.
        """
        self._tile.set_weights(self._full("weights", "AnalogTile.set_weights", weights))

    def set_physical_weights(self, weights: npt.ArrayLike) -> None:
        """Program the physical state directly, clipped to each element's bounds.

        Parameters
        ----------
        weights : array_like
            Shape (R, out, in), or (out, in) when R = 1; finite.

        Raises
        ------
        ShapeError
            Wrong shape or not real numbers.
        NonFiniteError
            NaN or inf.
        """
        self._tile.set_physical_weights(
            self._full("weights", "AnalogTile.set_physical_weights", weights)
        )

    # ----------------------------------------------------------------------------- updates
    def _batch(self, name: str, value: object, width: int, owner: str) -> FloatArray:
        arr = _as_float_array(name, owner, value)
        if arr.ndim == 2 and self.replicas == 1:
            arr = arr[np.newaxis]
        if arr.ndim != 3 or arr.shape[0] != self.replicas or arr.shape[2] != width:
            alt = f" or (B, {width})" if self.replicas == 1 else ""
            raise _shape_error(
                name,
                owner,
                f"an array of shape ({self.replicas}, B, {width}){alt}",
                f"shape {arr.shape}",
            )
        return np.ascontiguousarray(arr)

    def update(
        self,
        x: npt.ArrayLike,
        d: npt.ArrayLike,
        *,
        lr: float,
        phase: Phase | str = Phase.UPDATE,
        n_threads: int | None = None,
    ) -> UpdateStats:
        """Apply ΔW = −lr Σ_b d_b x_bᵀ through the tile's update mode.

        Parameters
        ----------
        x : array_like
            Inputs, shape (R, B, in), or (B, in) when R = 1; finite.
        d : array_like
            Output errors, shape (R, B, out), or (B, out) when R = 1; finite.
        lr : float
            Learning rate, finite and at least 0.
        phase : Phase or str, optional
            Counter the pulses go to: "update" (default), "transfer" or "calibration".
        n_threads : int or None, optional
            Overrides the tile's thread count for this call, 1 to 1024.

        Returns
        -------
        UpdateStats
            Pulses fired per replica.

        Raises
        ------
        ShapeError, NonFiniteError, ParameterError
            Bad arrays or values; the tile is then unchanged.
        """
        ph = Phase.coerce(phase)
        if not _NOISE.accepts(lr):
            raise parameter_error("lr", "AnalogTile.update", "a float in the range [0, inf)", lr)
        xa = self._batch("x", x, self.in_size, "AnalogTile.update")
        da = self._batch("d", d, self.out_size, "AnalogTile.update")
        if da.shape[1] != xa.shape[1]:
            raise _shape_error(
                "d",
                "AnalogTile.update",
                f"an array with the batch size of x ({xa.shape[1]})",
                f"shape {da.shape}",
            )
        threads = _check_threads(n_threads, "AnalogTile.update") or self._n_threads
        pulses = self._tile.update(xa, da, float(lr), ph.index, threads)
        return UpdateStats(pulses=np.asarray(pulses))

    def apply_delta(
        self,
        delta: npt.ArrayLike,
        *,
        phase: Phase | str = Phase.UPDATE,
        n_threads: int | None = None,
    ) -> UpdateStats:
        """Apply a desired increment ΔW directly (expected and pulse-count modes).

        Parameters
        ----------
        delta : array_like
            Desired increment, shape (R, out, in), or (out, in) when R = 1; finite.
        phase : Phase or str, optional
            Counter the pulses go to. Default "update".
        n_threads : int or None, optional
            Overrides the tile's thread count for this call.

        Returns
        -------
        UpdateStats
            Pulses fired per replica.

        Raises
        ------
        ParameterError
            In the stochastic pulse mode, which realises only outer products.
        ShapeError, NonFiniteError
            Bad array; the tile is then unchanged.
        """
        ph = Phase.coerce(phase)
        arr = self._full("delta", "AnalogTile.apply_delta", delta)
        threads = _check_threads(n_threads, "AnalogTile.apply_delta") or self._n_threads
        return UpdateStats(pulses=np.asarray(self._tile.apply_delta(arr, ph.index, threads)))

    def apply_pulses(
        self,
        counts: npt.ArrayLike,
        *,
        phase: Phase | str = Phase.UPDATE,
        n_threads: int | None = None,
    ) -> UpdateStats:
        """Fire exact pulse trains: ``|n|`` pulses of sign ``sign(n)`` on each element.

        Works in every update mode (a transfer write with exact counts, shared/theory.md
        §2.3(d)); each pulse has the device's response, cycle noise and clipping.

        Parameters
        ----------
        counts : array_like of int
            Signed pulse counts, shape (R, out, in), or (out, in) when R = 1; each in
            [−1_000_000, 1_000_000].
        phase : Phase or str, optional
            Counter the pulses go to. Default "update".
        n_threads : int or None, optional
            Overrides the tile's thread count for this call.

        Returns
        -------
        UpdateStats
            Pulses fired per replica.

        Raises
        ------
        ShapeError
            Wrong shape, or values that are not integers.
        ParameterError
            A count beyond the allowed range; the tile is then unchanged.
        """
        ph = Phase.coerce(phase)
        arr = self._full("counts", "AnalogTile.apply_pulses", counts)
        ints = np.rint(arr)
        if not np.array_equal(ints, arr):
            raise _shape_error(
                "counts", "AnalogTile.apply_pulses", "an array of integers", "non-integer values"
            )
        if np.abs(ints).max(initial=0.0) > 1_000_000:
            raise parameter_error(
                "counts",
                "AnalogTile.apply_pulses",
                "ints in the range [-1000000, 1000000]",
                float(np.abs(ints).max()),
            )
        threads = _check_threads(n_threads, "AnalogTile.apply_pulses") or self._n_threads
        pulses = self._tile.apply_pulses(ints.astype(np.int64), ph.index, threads)
        return UpdateStats(pulses=np.asarray(pulses))

    def forward(
        self, x: npt.ArrayLike, *, io: IOParameters | None = None, n_threads: int | None = None
    ) -> FloatArray:
        """Forward pass ``y = IO(W x)`` of every sample through the periphery (theory.md §2.5).

        Parameters
        ----------
        x : array_like
            Inputs, shape (R, B, in), or (B, in) when R = 1; finite.
        io : IOParameters or None, optional
            The periphery; None uses aihwkit's defaults ``IOParameters()``.
        n_threads : int or None, optional
            Overrides the tile's thread count for this call.

        Returns
        -------
        numpy.ndarray
            Outputs, shape (R, B, out).

        Raises
        ------
        ShapeError, NonFiniteError, ParameterError
            Bad input or IO parameters; the tile is then unchanged.
        """
        spec = self._io_spec(io)
        xa = self._batch("x", x, self.in_size, "AnalogTile.forward")
        threads = _check_threads(n_threads, "AnalogTile.forward") or self._n_threads
        return np.asarray(self._tile.forward(xa, spec, threads))

    def backward(
        self, d: npt.ArrayLike, *, io: IOParameters | None = None, n_threads: int | None = None
    ) -> FloatArray:
        """Backward pass ``Wᵀ d`` of every sample through the periphery (no bound management).

        Parameters
        ----------
        d : array_like
            Output errors, shape (R, B, out), or (B, out) when R = 1; finite.
        io : IOParameters or None, optional
            The periphery; None uses aihwkit's defaults.
        n_threads : int or None, optional
            Overrides the tile's thread count for this call.

        Returns
        -------
        numpy.ndarray
            Input errors, shape (R, B, in).

        Raises
        ------
        ShapeError, NonFiniteError, ParameterError
            Bad input or IO parameters; the tile is then unchanged.
        """
        spec = self._io_spec(io)
        da = self._batch("d", d, self.out_size, "AnalogTile.backward")
        threads = _check_threads(n_threads, "AnalogTile.backward") or self._n_threads
        return np.asarray(self._tile.backward(da, spec, threads))

    @staticmethod
    def _io_spec(io: IOParameters | None) -> dict[str, Any]:
        if io is None:
            return IOParameters().to_spec()
        if not isinstance(io, IOParameters):
            raise parameter_error("io", "AnalogTile", "a pulsetrain IOParameters or None", io)
        return io.to_spec()

    def read(
        self,
        cols: npt.ArrayLike | None = None,
        *,
        noise_std: float = 0.0,
        io: IOParameters | None = None,
        n_threads: int | None = None,
    ) -> FloatArray:
        """Read columns of the logical weights: exact plus Gaussian noise, or through the IO.

        Parameters
        ----------
        cols : array_like of int or None, optional
            Column indices in [0, in_size); None reads every column.
        noise_std : float, optional
            Standard deviation of the read noise, in weight units, at least 0. Default 0.
            Ignored when ``io`` is given.
        io : IOParameters or None, optional
            If given, each column is read as a forward pass of the one-hot input e_j through
            this periphery (aihwkit's transfer reads; see ``periphery.transfer_io()``).
        n_threads : int or None, optional
            Overrides the tile's thread count for this call.

        Returns
        -------
        numpy.ndarray
            Shape (R, out, len(cols)).

        Raises
        ------
        ParameterError
            A column out of range or a negative noise level.
        """
        if cols is None:
            idx = list(range(self.in_size))
        else:
            arr = np.atleast_1d(np.asarray(cols))
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
                raise parameter_error(
                    "cols", "AnalogTile.read", "a sequence of column indices", cols
                )
            if arr.size and (arr.min() < 0 or arr.max() >= self.in_size):
                raise parameter_error(
                    "cols",
                    "AnalogTile.read",
                    f"column indices in the range [0, {self.in_size - 1}]",
                    cols,
                )
            idx = [int(c) for c in arr]
        if not _NOISE.accepts(noise_std):
            raise parameter_error(
                "noise_std", "AnalogTile.read", "a float in the range [0, inf)", noise_std
            )
        threads = _check_threads(n_threads, "AnalogTile.read") or self._n_threads
        if io is not None:
            return np.asarray(self._tile.read_io(idx, self._io_spec(io), threads))
        return np.asarray(self._tile.read(idx, float(noise_std), threads))

    def set_reference(self, reference: npt.ArrayLike) -> None:
        """Program the reference R subtracted on read-out (weights = physical − R).

        The physical state is unchanged, so the logical weights move by the change of R.
        Zero-shifting programs R to the estimated symmetric point (shared/theory.md §2.4, §3.9).

        Parameters
        ----------
        reference : array_like
            Physical reference values, shape (R, out, in), or (out, in) when R = 1; finite.

        Raises
        ------
        ShapeError, NonFiniteError
            Bad array; the tile is then unchanged.
        """
        self._tile.set_reference(self._full("reference", "AnalogTile.set_reference", reference))

    @property
    def reference(self) -> FloatArray:
        """A copy of the reference R of every element (physical units), (R, out, in)."""
        return self.maps()["reference"]

    # ----------------------------------------------------------------------------- counters
    def pulse_counts(self, phase: Phase | str = Phase.UPDATE) -> CountArray:
        """Pulses fired per element in one phase, shape (R, out, in), uint64.

        Parameters
        ----------
        phase : Phase or str, optional
            "update" (default), "transfer" or "calibration".

        Returns
        -------
        numpy.ndarray
            A copy of the counters.
        """
        return np.asarray(self._tile.pulse_counts(Phase.coerce(phase).index))

    def reset_pulse_counts(self, phase: Phase | str | None = None) -> None:
        """Zero the counters of one phase, or of every phase when `phase` is None.

        Parameters
        ----------
        phase : Phase, str or None, optional
            Which counters to zero.
        """
        self._tile.reset_pulse_counts(None if phase is None else Phase.coerce(phase).index)

    # ----------------------------------------------------------------------------- maps
    def maps(self) -> dict[str, FloatArray]:
        """Per-element device maps drawn at construction, each of shape (R, out, in).

        Returns
        -------
        dict
            ``step_up`` and ``step_down`` (Δw⁺, Δw⁻ in weight units), ``w_min`` and ``w_max``
            (physical bounds), ``reference`` (subtracted on read-out) and ``symmetric_point``
            (of the physical state; NaN for an ideal device).
        """
        raw: dict[str, Any] = self._tile.maps()
        return {k: np.asarray(v) for k, v in raw.items()}

    @property
    def symmetric_points(self) -> FloatArray:
        """Each element's symmetric point in logical (read-out) units, shape (R, out, in)."""
        m = self.maps()
        return m["symmetric_point"] - m["reference"]

    def __repr__(self) -> str:
        """Sizes, device and update mode."""
        return (
            f"AnalogTile(out_size={self.out_size}, in_size={self.in_size}, "
            f"replicas={self.replicas}, device={self.device!r}, update={self.update_mode!r})"
        )

    # ----------------------------------------------------------------------------- state
    @property
    def key(self) -> tuple[int, int]:
        """The tile's 128-bit Philox key, two uint64 words (maps and streams derive from it)."""
        k = self._tile.key
        return (int(k[0]), int(k[1]))

    def state_dict(self) -> dict[str, Any]:
        """Return the tile's complete state, to restore it with :meth:`load_state_dict`.

        The device-to-device maps are not stored: they are drawn from the key at construction,
        so a tile built with the same seed, tile index, replica offset, device and sizes has
        them already; the key and the specs are stored to check that on loading.

        Returns
        -------
        dict
            NumPy arrays and plain ints and strings only: ``format`` (``"pulsetrain.tile/1"``),
            ``replicas``, ``out_size``, ``in_size``, ``replica_offset``, ``tick`` (stream
            position), ``key`` (uint64, shape (2,)), ``device`` and ``update`` (JSON of their
            specs), ``physical_weights`` and ``reference`` (float64, (R, out, in)) and
            ``pulse_counts.update``, ``pulse_counts.transfer``, ``pulse_counts.calibration``
            (uint64, (R, out, in)). Arrays are copies.

        Examples
        --------
        >>> import numpy as np, pulsetrain as pt
        >>> dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
        >>> a = pt.AnalogTile(2, 3, dev, rng=0)
        >>> _ = a.update(np.ones((1, 3)), np.ones((1, 2)), lr=0.01)
        >>> b = pt.AnalogTile(2, 3, dev, rng=0)
        >>> b.load_state_dict(a.state_dict())
        >>> bool(np.array_equal(a.weights, b.weights)), b.tick
        (True, 1)
        """
        state: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "replicas": self.replicas,
            "out_size": self.out_size,
            "in_size": self.in_size,
            "replica_offset": self.replica_offset,
            "tick": self.tick,
            "key": np.asarray(self.key, dtype=np.uint64),
            "device": _spec_json(self.device.to_spec()),
            "update": _spec_json(self.update_mode.to_spec()),
            "physical_weights": self.physical_weights,
            "reference": np.asarray(self._tile.reference()),
        }
        for p in Phase:
            state[f"pulse_counts.{p.value}"] = self.pulse_counts(p)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`state_dict` of a tile like this one.

        Everything is checked before anything changes, so a call that raises leaves the tile as
        it was. The physical weights are programmed as by :meth:`set_physical_weights`.

        Parameters
        ----------
        state : Mapping
            As returned by :meth:`state_dict` (0-d arrays are accepted for the ints; pulse
            counters may be any non-negative integer dtype, the key int64 holding its bits).

        Raises
        ------
        ParameterError
            A missing or unknown key, or a state of another tile: a different key (seed or tile
            index), replica offset, device or update mode, or a bad tick.
        ShapeError
            Sizes or array shapes that differ from this tile's, or arrays of the wrong dtype.
        NonFiniteError
            NaN or inf in the weights or the reference.
        """
        owner = "AnalogTile.load_state_dict"
        if not isinstance(state, Mapping):
            raise parameter_error("state", owner, "a mapping from AnalogTile.state_dict()", state)
        want = set(self._state_keys())
        missing = sorted(want - set(state))
        extra = sorted(set(state) - want)
        if missing or extra:
            raise parameter_error(
                "state",
                owner,
                f"a mapping with exactly the keys of AnalogTile.state_dict() "
                f"(missing: {missing}, unknown: {extra})",
                sorted(state),
            )
        if state["format"] != _STATE_FORMAT:
            raise parameter_error("format", owner, repr(_STATE_FORMAT), state["format"])
        for name, have in (
            ("replicas", self.replicas),
            ("out_size", self.out_size),
            ("in_size", self.in_size),
        ):
            got = _state_int(state, name, owner)
            if got != have:
                raise _shape_error(name, owner, f"{have} (this tile's)", str(got))
        offset = _state_int(state, "replica_offset", owner)
        if offset != self.replica_offset:
            raise parameter_error(
                "replica_offset", owner, f"{self.replica_offset} (this tile's)", offset
            )
        tick = _state_int(state, "tick", owner)
        if not 0 <= tick < 1 << 63:
            raise parameter_error("tick", owner, "an int in the range [0, 2**63)", tick)
        key = np.asarray(state["key"])
        if key.dtype.kind == "i":
            key = key.astype(np.uint64)  # int64 (e.g. from torch) holds the words' bits
        if key.shape != (2,) or key.dtype.kind != "u" or tuple(map(int, key)) != self.key:
            raise parameter_error(
                "key",
                owner,
                f"this tile's key {list(self.key)} (the same seed and tile index)",
                key.tolist(),
            )
        for name, spec in (
            ("device", self.device.to_spec()),
            ("update", self.update_mode.to_spec()),
        ):
            if state[name] != _spec_json(spec):
                raise parameter_error(
                    name, owner, f"this tile's {name} {_spec_json(spec)}", state[name]
                )
        floats = {
            name: self._full(name, owner, _float64(state[name], name, owner))
            for name in ("physical_weights", "reference")
        }
        for name, arr in floats.items():
            if not np.isfinite(arr).all():
                raise _non_finite(name, owner)
        counts = {p: _counts(state[f"pulse_counts.{p.value}"], p, self.shape, owner) for p in Phase}
        old = self.state_dict()
        try:
            self._tile.set_physical_weights(floats["physical_weights"])
            self._tile.set_reference(floats["reference"])
            for p, c in counts.items():
                self._tile.set_pulse_counts(p.index, c)
            self._tile.set_tick(tick)
        except BaseException:
            self._restore(old)
            raise

    def _state_keys(self) -> tuple[str, ...]:
        """Return the keys of :meth:`state_dict`, in order."""
        return (
            "format",
            "replicas",
            "out_size",
            "in_size",
            "replica_offset",
            "tick",
            "key",
            "device",
            "update",
            "physical_weights",
            "reference",
            *(f"pulse_counts.{p.value}" for p in Phase),
        )

    def _restore(self, old: dict[str, Any]) -> None:
        """Put back a state of this very tile (no checks: it came from :meth:`state_dict`)."""
        self._tile.set_physical_weights(old["physical_weights"])
        self._tile.set_reference(old["reference"])
        for p in Phase:
            self._tile.set_pulse_counts(p.index, old[f"pulse_counts.{p.value}"])
        self._tile.set_tick(old["tick"])


_STATE_FORMAT = "pulsetrain.tile/1"


def _spec_json(spec: Mapping[str, Any]) -> str:
    """Return a canonical JSON text of a device or update spec (floats by repr: exact)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _state_int(state: Mapping[str, Any], name: str, owner: str) -> int:
    """Return an int entry of a state dict: a Python or NumPy int, or a 0-d integer array."""
    value = state[name]
    arr = np.asarray(value)
    if isinstance(value, bool) or arr.shape != () or arr.dtype.kind not in "iu":
        raise parameter_error(name, owner, "an int", value)
    return int(arr)


def _non_finite(name: str, owner: str) -> NonFiniteError:
    msg = f"The {name!r} parameter of {owner} must be finite. Got an array with NaN or inf instead."
    return NonFiniteError(msg)


def _float64(value: object, name: str, owner: str) -> FloatArray:
    arr = np.asarray(value)
    if arr.dtype != np.float64:
        raise _shape_error(name, owner, "an array of dtype float64", f"dtype {arr.dtype}")
    return arr


def _counts(value: object, phase: Phase, shape: tuple[int, int, int], owner: str) -> CountArray:
    name = f"pulse_counts.{phase.value}"
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise _shape_error(name, owner, "an array of integers", f"dtype {arr.dtype}")
    if arr.shape != shape:
        raise _shape_error(name, owner, f"an array of shape {shape}", f"shape {arr.shape}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise parameter_error(name, owner, "counts of at least 0", int(arr.min()))
    return np.ascontiguousarray(arr, dtype=np.uint64)
