"""The algorithm interface and the one shared training loop, :func:`run`.

An algorithm is a frozen config of its own hyper-parameters. ``start()`` builds its tiles and
digital buffers for R replicas and returns an :class:`AlgorithmState`; :func:`run` drives every
algorithm the same way: at each step it asks the state where the gradient is taken, asks the
problem for that gradient as rank-one factors, and hands them to ``state.step``. Recording,
progress and callbacks live here only, with the helpers every algorithm shares (:func:`make_tile`,
:func:`outer`, the learning-rate constraint :data:`LR`).
"""

from __future__ import annotations

import abc
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Self, cast

import numpy as np
import numpy.typing as npt

from pulsetrain import checkpoint as _checkpoints
from pulsetrain._validation import Integral, Interval, NoneOr, parameter_error, validate_args
from pulsetrain.config import ConfigMixin, to_dict
from pulsetrain.devices import Device
from pulsetrain.periphery import IOParameters
from pulsetrain.problems.base import Instance, Problem
from pulsetrain.results import TrainResult
from pulsetrain.rng import as_seed_sequence
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.updates import Phase, UpdateMode

__all__ = [
    "LR",
    "Algorithm",
    "AlgorithmState",
    "Callback",
    "make_tile",
    "memory_figures",
    "outer",
    "run",
]

FloatArray = npt.NDArray[np.float64]
Callback = Callable[[int, Any], bool | None]
"""Called as ``callback(step, state)`` after each recorded step; returning True stops the run.

``state`` is the algorithm's :class:`AlgorithmState`, or a network's
:class:`~pulsetrain.problems.ModelState`."""

PHASES = tuple(p.value for p in Phase)

LR = Interval(0.0, None, closed="left")
"""Constraint of every learning rate: a float ≥ 0."""


def outer(x: FloatArray, d: FloatArray) -> FloatArray:
    """Return Σ_b d_b x_bᵀ per replica, (R, out, in)."""
    return np.asarray(np.einsum("rbo,rbi->roi", d, x), dtype=np.float64)


def make_tile(
    instance: Instance,
    device: Device,
    update: UpdateMode,
    root: np.random.SeedSequence,
    index: int,
    n_threads: int | None,
    replica_offset: int,
    backend: Backend = Backend.RUST,
) -> AnalogTile:
    """Build tile `index` of an algorithm for the instance's shape and replicas."""
    return AnalogTile(
        instance.out_size,
        instance.in_size,
        device,
        replicas=instance.replicas,
        update=update,
        rng=root,
        n_threads=n_threads,
        replica_offset=replica_offset,
        tile_index=index,
        backend=backend,
    )


class AlgorithmState(abc.ABC):
    """The live state of an algorithm for R replicas: tiles, buffers, counters."""

    replicas: int
    tiles: dict[str, AnalogTile]

    @abc.abstractmethod
    def gradient_point(self) -> FloatArray:
        """Return the weights at which the next gradient is taken, (R, out, in)."""

    def effective_weights(self) -> FloatArray:
        """Return the weights the model computes with (W̄), (R, out, in)."""
        return self.gradient_point()

    def forward(self, x: FloatArray, io: IOParameters | None) -> FloatArray:
        """Return the layer output ``W̄ x`` for x of shape (R, B, in), (R, B, out).

        The default is exact arithmetic on :meth:`effective_weights`; analog algorithms pass the
        inputs through their tiles' periphery (``io``; None = perfect).
        """
        return np.asarray(np.einsum("roi,rbi->rbo", self.effective_weights(), x))

    def backward(self, d: FloatArray, io: IOParameters | None) -> FloatArray:
        """Return ``W̄ᵀ d`` for d of shape (R, B, out), (R, B, in); see :meth:`forward`."""
        return np.asarray(np.einsum("roi,rbo->rbi", self.effective_weights(), d))

    @abc.abstractmethod
    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:
        """Apply one step given the gradient factors ``Σ_b d_b x_bᵀ`` at :meth:`gradient_point`."""

    @abc.abstractmethod
    def arrays(self) -> dict[str, FloatArray]:
        """Return the current weights of every array and buffer by name, (R, out, in) each."""

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far per replica, by phase, summed over tiles, (R,)."""
        out = {p: np.zeros(self.replicas) for p in PHASES}
        for tile in self.tiles.values():
            for p in PHASES:
                out[p] = out[p] + tile.pulse_counts(p).reshape(self.replicas, -1).sum(axis=1)
        return out

    def sp_error(self) -> FloatArray | None:
        """Return the per-replica RMS error of the symmetric point the algorithm relies on."""
        return None

    def digital_state(self) -> dict[str, FloatArray]:
        """Return the digital (float64) state by name: buffers, trackers, accumulators.

        The default is every entry of :meth:`arrays` that is not a tile (H, Q, χ, running
        means, or W itself for Digital SGD). A state whose :meth:`arrays` also lists derived
        values overrides this.
        """
        return {k: v for k, v in self.arrays().items() if k not in self.tiles}

    def state_dict(self) -> dict[str, Any]:
        """Return the complete live state, to continue exactly after :meth:`load_state_dict`.

        One generic walk (:func:`pulsetrain.checkpoint.model_state_dict`): every tile's
        :meth:`AnalogTile.state_dict <pulsetrain.tile.AnalogTile.state_dict>` (weights,
        reference, tick, pulse counters) under ``tiles.<name>.``, and under ``attr.`` every
        other attribute, through helper objects: digital buffers and trackers, chopper signs,
        pointers and step counters, loss histories. Configs are not saved (``start()`` rebuilds
        them); random draws other than the tiles' are functions of the seed and the step.

        Returns
        -------
        dict
            NumPy arrays (copies), and ints, floats, bools, strings, None and lists of them.
        """
        return _checkpoints.model_state_dict(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` into a state started from the same config and seed.

        Build the state as the saved one was built (``algorithm.start(instance, root, ...)``,
        same seed, replicas and replica offset), then load: the run continues bit for bit as if
        never interrupted. Everything is checked first; a call that raises changes nothing.

        Parameters
        ----------
        state : Mapping
            As returned by :meth:`state_dict`.

        Raises
        ------
        ParameterError
            Missing or unknown keys, a value of another kind, or a tile of another seed,
            device or update mode.
        ShapeError
            An array of another dtype or shape.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        _checkpoints.load_model_state_dict(self, state, owner)


def memory_figures(state: Any) -> dict[str, int]:
    """Return what a model state holds: simulated devices and digital values, summed over replicas.

    Parameters
    ----------
    state : AlgorithmState or ModelState
        The live state (its ``tiles`` and ``digital_state()``).

    Returns
    -------
    dict
        ``analog_devices`` (one per simulated crossbar element, over every tile and replica),
        ``digital_values`` and ``digital_bytes`` (float64 buffers, trackers, accumulators,
        digital weights and biases).
    """
    devices = sum(int(np.prod(t.weights.shape)) for t in state.tiles.values())
    digital = state.digital_state().values()
    return {
        "analog_devices": devices,
        "digital_values": sum(int(np.asarray(v).size) for v in digital),
        "digital_bytes": sum(int(np.asarray(v).nbytes) for v in digital),
    }


class Algorithm(ConfigMixin):
    """Base of the algorithm configs."""

    __slots__ = ()
    kind: ClassVar[str]
    """The registered name (``kind`` in configs)."""

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests (every registered algorithm has one)."""
        raise NotImplementedError(f"{cls.__name__} defines no example()")

    def start(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        *,
        n_threads: int | None = None,
        replica_offset: int = 0,
        backend: Backend = Backend.RUST,
    ) -> AlgorithmState:
        """Build the state for the problem instance's R replicas.

        Parameters
        ----------
        instance : Instance
            The drawn problem (shape, replicas, initial weights).
        root : numpy.random.SeedSequence
            The run's root seed; tiles take keys from it.
        n_threads : int or None, optional
            Kernel threads.
        replica_offset : int, optional
            Global index of replica 0.
        backend : Backend, optional
            Where the tiles run: the Rust core or the NumPy twin.

        Returns
        -------
        AlgorithmState
            The state, at step 0. Tile 0 is the main array W, tile 1 the residual array P
            (where the algorithm has one); ``sp_error()`` reports the symmetric-point error the
            algorithm relies on (P's logical SP, or the tracker's distance from it).
        """
        return self._make_state(instance, root, n_threads, replica_offset, backend)

    def _make_state(
        self,
        instance: Instance,
        root: np.random.SeedSequence,
        n_threads: int | None,
        replica_offset: int,
        backend: Backend,
    ) -> AlgorithmState:
        raise NotImplementedError


def _progress_bar(total: int, *, progress: bool | None) -> Any:
    """Return a tqdm bar on stderr, or None when off or (auto) tqdm is missing."""
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise parameter_error(
                "progress",
                "run",
                "False or None when the 'progress' extra (tqdm) is not installed "
                "(pip install 'pulsetrain[progress]')",
                progress,
            ) from None
        return None
    return tqdm(total=total, file=sys.stderr, unit="step", leave=False, dynamic_ncols=True)


class _StepGuard:
    """Make each training step atomic for Ctrl-C (in the main thread, under Python's handler).

    The first SIGINT only sets :attr:`requested`; :func:`run` stops before the next step and
    returns the completed steps, so a result never holds a half-applied step. A second SIGINT
    raises KeyboardInterrupt at once (an abort: no result is returned). Where the handler cannot
    be installed (another thread, or a handler of the caller's own), nothing changes.
    """

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(
            "pulsetrain.run: stopping after the current step (Ctrl-C again to abort).",
            file=sys.stderr,
        )

    def restore(self) -> None:
        """Put the previous SIGINT handler back."""
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None


# Per simulated device: weights, reference, four per-element step and bound maps, SP, three pulse
# counters and scratch, with headroom for algorithms of several tiles.
_BYTES_PER_WEIGHT = 8 * 16 * 4


def _machine_memory() -> int | None:
    """Physical memory of the machine in bytes, or None where the OS does not tell."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(
    problem: Problem, replicas: int, steps: int, every: int, *, record_weights: bool
) -> None:
    """Refuse, before anything is allocated, a run that cannot fit in the machine's memory.

    The estimate is a floor (the problem's data, the tiles' state, the recorded curves and the
    trajectory); the argument named is the one whose share is largest.
    """
    total = _machine_memory()
    if total is None:
        return
    n_rec = steps // every + 2
    shape = problem.weight_shape()
    weights = 0 if shape is None else shape[0] * shape[1]
    shares = {
        "replicas": problem.memory_bytes(replicas) + replicas * weights * _BYTES_PER_WEIGHT,
        "record_every": 8 * replicas * n_rec * (2 + len(PHASES)),
        "record_weights": 8 * replicas * n_rec * weights if record_weights else 0,
    }
    need = sum(shares.values())
    if need <= total:
        return
    name = max(shares, key=lambda k: shares[k])
    value: object = {"replicas": replicas, "record_every": every, "record_weights": True}[name]
    raise parameter_error(
        name,
        "run",
        f"a value for which the run fits in memory (it would need about {need / 2**30:.3g} GiB; "
        f"this machine has {total / 2**30:.3g} GiB)",
        value,
    )


_STEPS = Integral(1, 1 << 40)


def _int_in(name: str, value: object, low: int, high: int) -> int:
    """Check an int argument whose range depends on other arguments (so not a decorator's)."""
    return cast("int", Integral(low, high).validate(value, name=name, owner="run"))


@validate_args(
    steps=_STEPS,
    replicas=Integral(1, 1 << 24),
    n_threads=NoneOr(Integral(1, 1024)),
    record_every=NoneOr(_STEPS),
    checkpoint_every=NoneOr(_STEPS),
)
def run(
    problem: Problem,
    algorithm: Algorithm,
    *,
    steps: int,
    rng: int | np.random.SeedSequence | np.random.Generator | None = None,
    replicas: int = 1,
    n_threads: int | None = None,
    record_every: int | None = None,
    record_weights: bool = False,
    average_from: int | None = None,
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    replica_offset: int = 0,
    backend: Backend | str = Backend.RUST,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int | None = None,
) -> TrainResult:
    """Train `problem` with `algorithm` on R replicas at once.

    Parameters
    ----------
    problem : Problem
        E.g. :class:`~pulsetrain.problems.Quadratic` or
        :class:`~pulsetrain.problems.LeastSquares`.
    algorithm : Algorithm
        E.g. :class:`~pulsetrain.algorithms.AnalogSGD`.
    steps : int
        Gradient steps, at least 1.
    rng : int, SeedSequence, Generator or None, optional
        Root seed of the problem draws, the devices and every pulse; None draws fresh entropy,
        recorded in the result.
    replicas : int, optional
        Independent replicas R (each with its own problem instance, devices and noise), at
        least 1. Replica r equals replica r of any larger run with the same seed.
    n_threads : int or None, optional
        Kernel threads, 1 to 1024; None uses every core. Results do not depend on it.
    record_every : int or None, optional
        Record curves every this many steps (and at the start and the end); None records
        about 200 points.
    record_weights : bool, optional
        Also keep the effective weights at every recorded step (``trajectory``).
    average_from : int or None, optional
        If given, also average the effective weights and every array over the steps
        ``average_from + 1 .. steps`` (a tail average, e.g. ``steps // 2`` for the second half):
        ``average_weights`` and ``average_arrays`` of the result.
    progress : bool or None, optional
        A tqdm bar on stderr: True always, False never, None (default) when tqdm is installed
        and the run is longer than about two seconds.
    callbacks : sequence of callables, optional
        ``callback(step, state)`` after each record; returning True stops the run early.
    replica_offset : int, optional
        Global index of replica 0, to rerun one replica of a larger run by itself.
    backend : Backend or str, optional
        ``"rust"`` (default) or ``"twin"``: every tile on the NumPy twin, which gives the
        same numbers slowly (a check of the whole run).
    checkpoint : str, os.PathLike or None, optional
        A checkpoint file (one ``.npz`` archive, no pickle). If it exists, the run resumes from
        it, after checking that it is a checkpoint of this same run (problem, algorithm, seed,
        replicas, replica offset, backend, steps, ``record_every``, ``average_from``,
        ``record_weights``, rng_scheme and pulsetrain version; with ``rng=None`` the
        checkpoint's seed is used). The run writes it atomically every ``checkpoint_every``
        steps, when it stops early (Ctrl-C or a callback) and at the end. A resumed run
        returns exactly the result of the uninterrupted one (curves, weights, pulse counts,
        averages, trajectory), except ``wall_time``.
    checkpoint_every : int or None, optional
        Write the checkpoint every this many steps (at least 1); needs ``checkpoint``. None
        writes it only on an early stop and at the end.

    Returns
    -------
    TrainResult
        Curves, final weights, pulse counts by phase, SP error, config and provenance.

    Raises
    ------
    ParameterError
        A bad argument, or a checkpoint of another run (the message names what differs).
    ResultFileError
        A damaged checkpoint file.
    KeyboardInterrupt
        On a second Ctrl-C (an abort). The first Ctrl-C lets the current step finish and
        returns the completed steps with ``interrupted=True``: a result never holds a
        half-applied step.

    Examples
    --------
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import AnalogSGD
    >>> dev = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
    >>> res = pt.run(pt.problems.Quadratic(), AnalogSGD(device=dev, lr=0.05,
    ...              update=pt.ExpectedUpdate()), steps=100, replicas=4, rng=0, progress=False)
    >>> res.loss.shape
    (4, 101)
    """
    if not isinstance(problem, Problem):
        raise parameter_error("problem", "run", "a pulsetrain problem config", problem)
    if not isinstance(algorithm, Algorithm):
        raise parameter_error("algorithm", "run", "a pulsetrain algorithm config", algorithm)
    replica_offset = _int_in("replica_offset", replica_offset, 0, (1 << 32) - replicas)
    every = max(1, steps // 200) if record_every is None else record_every
    if average_from is not None:
        average_from = _int_in("average_from", average_from, 0, steps - 1)
    if progress is not None and not isinstance(progress, bool):
        raise parameter_error("progress", "run", "True, False or None", progress)
    try:
        backend = Backend(backend)
    except ValueError:
        raise parameter_error("backend", "run", "'rust' or 'twin'", backend) from None
    if checkpoint_every is not None and checkpoint is None:
        raise parameter_error(
            "checkpoint_every", "run", "None when no checkpoint path is given", checkpoint_every
        )
    _check_memory(problem, replicas, steps, every, record_weights=record_weights)
    ckpt = None if checkpoint is None else _checkpoints.open_run(checkpoint, rng)
    root = as_seed_sequence(rng) if ckpt is None else ckpt.root
    t_start = time.perf_counter()
    instance = problem.setup(replicas, root, replica_offset=replica_offset, backend=backend)
    state = instance.start(
        algorithm, root, n_threads=n_threads, replica_offset=replica_offset, backend=backend
    )
    # The one weight matrix of a single-matrix problem (None for a network of layers).
    matrix = state if instance.single_matrix and isinstance(state, AlgorithmState) else None
    if record_weights and matrix is None:
        raise parameter_error(
            "record_weights", "run", "False for a network problem (use callbacks)", record_weights
        )

    # A state that needs the objective after each step (MultiTile's warm start) has observe_loss.
    observe = getattr(matrix, "observe_loss", None)

    record_at = sorted({0, *range(every, steps + 1, every), steps})
    n_rec = len(record_at)
    loss = np.full((replicas, n_rec), np.nan)
    error = np.full((replicas, n_rec), np.nan)
    pulses = {p: np.zeros((replicas, n_rec)) for p in PHASES}
    trajectory = (
        np.full((replicas, n_rec, instance.out_size, instance.in_size), np.nan)
        if record_weights
        else None
    )
    rec = 0

    def record(k: int) -> None:
        nonlocal rec
        loss[:, rec], error[:, rec] = instance.metrics(state)
        for p, v in state.pulse_totals().items():
            pulses[p][:, rec] = v
        if trajectory is not None and matrix is not None:
            trajectory[:, rec] = matrix.effective_weights()
        rec += 1

    avg_w: FloatArray | None = None
    avg_arrays: dict[str, FloatArray] = {}
    n_avg = 0
    done = 0
    curves: dict[str, npt.NDArray[np.float64]] = {"loss": loss, "error": error}
    curves.update({f"pulses.{p}": v for p, v in pulses.items()})
    if trajectory is not None:
        curves["trajectory"] = trajectory
    if ckpt is not None:
        ckpt.checks = _checkpoints.run_checks(
            problem,
            algorithm,
            root,
            replicas=replicas,
            replica_offset=replica_offset,
            backend=backend.value,
            steps=steps,
            record_every=every,
            average_from=average_from,
            record_weights=record_weights,
        )
    if ckpt is not None and ckpt.saved is not None:
        done, rec, n_avg, avg_w, avg_arrays = ckpt.resume(state, curves)
    else:
        record(0)
    first = done
    bar = None
    shown = 0
    interrupted = False

    def save() -> None:
        if ckpt is not None:
            averages = dict(avg_arrays)
            ckpt.save(state, done, rec, curves, avg_w, averages, n_avg, t_start)

    guard = _StepGuard()
    try:
        for k in range(first, steps):
            if guard.requested:
                interrupted = True
                print(
                    f"pulsetrain.run: interrupted at step {done}; returning the result so far.",
                    file=sys.stderr,
                )
                break
            instance.advance(state, k)
            if observe is not None and matrix is not None:
                observe(k, instance.loss(matrix.effective_weights()))
            done = k + 1
            if average_from is not None and done > average_from:
                if matrix is not None:
                    w_now = matrix.effective_weights()
                    avg_w = w_now if avg_w is None else avg_w + w_now
                for name, arr in state.arrays().items():
                    avg_arrays[name] = arr if name not in avg_arrays else avg_arrays[name] + arr
                n_avg += 1
            if bar is None and progress is not False and done in (8, 64, 512):
                elapsed = time.perf_counter() - t_start
                if progress or elapsed * steps / done > 2.0:
                    bar = _progress_bar(steps, progress=progress)
            if bar is not None and (done - shown >= max(1, steps // 1000) or done == steps):
                bar.update(done - shown)
                shown = done
            if rec < n_rec and done == record_at[rec]:
                record(done)
                if any(cb(done, state) for cb in callbacks):
                    break
            if checkpoint_every is not None and done % checkpoint_every == 0 and done < steps:
                save()
        if done > first or (ckpt is not None and ckpt.saved is None):
            save()  # the end, an interruption or a callback's stop: before the last record below
    finally:
        guard.restore()
        if bar is not None:
            bar.close()
    if guard.requested and not interrupted:
        # Ctrl-C during the last step: the run is complete, but the caller must still see it.
        interrupted = True
    if record_at[rec - 1] != done:
        # Stopped between two records (callback or Ctrl-C): record the last completed step.
        record_at = [*record_at[:rec], done]
        record(done)
    n_kept = rec
    return TrainResult(
        config={"problem": to_dict(problem), "algorithm": to_dict(algorithm)},
        steps=done,
        replicas=replicas,
        seed_entropy=root.entropy,  # type: ignore[arg-type]
        record_steps=np.asarray(record_at[:n_kept], dtype=np.int64),
        loss=loss[:, :n_kept],
        error=error[:, :n_kept],
        pulses={p: v[:, :n_kept] for p, v in pulses.items()},
        weights=(
            matrix.effective_weights()
            if matrix is not None
            else np.empty((replicas, 0, 0), dtype=np.float64)
        ),
        arrays=state.arrays(),
        sp_error=state.sp_error(),
        trajectory=None if trajectory is None else trajectory[:, :n_kept],
        average_weights=None if avg_w is None else avg_w / n_avg,
        average_arrays={k: v / n_avg for k, v in avg_arrays.items()},
        average_steps=n_avg,
        n_threads=n_threads,
        wall_time=time.perf_counter() - t_start + (0.0 if ckpt is None else ckpt.elapsed),
        interrupted=interrupted,
        memory=memory_figures(state),
    )
