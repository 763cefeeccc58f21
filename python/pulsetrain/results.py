"""`TrainResult`: what a run produced, with its provenance; saved as JSON + NPZ.

``save("out/run")`` writes ``out/run.json`` (config, seed entropy, versions, scalars; readable by
anything) and ``out/run.npz`` (curves, weights, pulse counts). ``TrainResult.load("out/run")``
needs only NumPy and returns an equal result.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pulsetrain import _core
from pulsetrain._validation import parameter_error
from pulsetrain.errors import ResultFileError

__all__ = ["TrainResult"]

FloatArray = npt.NDArray[np.float64]
FORMAT_VERSION = 1


def _provenance() -> dict[str, Any]:
    from pulsetrain import __version__

    return {
        "pulsetrain": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "build_profile": _core.build_profile,
        "rng_scheme": _core.rng_scheme,
    }


def _result_paths(path: str | Path) -> tuple[Path, Path]:
    """Return the JSON and NPZ paths of a result: only a .json/.npz suffix is dropped."""
    base = Path(path)
    name = base.name
    for suffix in (".json", ".npz"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return base.with_name(name + ".json"), base.with_name(name + ".npz")


def _no_constant(token: str) -> Any:
    """Refuse the non-standard JSON tokens NaN, Infinity and -Infinity."""
    msg = f"non-standard JSON token {token}"
    raise ValueError(msg)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Meta:
    """Typed access to the JSON half of a result; a wrong type is a ResultFileError."""

    def __init__(self, path: str, meta: object) -> None:
        if not isinstance(meta, dict):
            raise ResultFileError(path, "the JSON document is not an object")
        self.path = path
        self.meta = meta

    def get(self, key: str, kind: type) -> Any:
        if key not in self.meta:
            raise ResultFileError(self.path, f"the field {key!r} is missing")
        value = self.meta[key]
        ok = (
            _is_int(value)
            if kind is int
            else (isinstance(value, int | float) and not isinstance(value, bool))
            if kind is float
            else isinstance(value, kind)
        )
        if not ok:
            raise ResultFileError(
                self.path, f"the field {key!r} is {type(value).__name__}, not {kind.__name__}"
            )
        return value

    def names(self, key: str) -> list[str]:
        value = self.get(key, list)
        if not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
            raise ResultFileError(self.path, f"the field {key!r} is not a list of distinct names")
        return list(value)


class _Arrays:
    """Checked access to the NPZ half of a result (dtype, rank, replica axis)."""

    def __init__(self, path: str, data: dict[str, Any], replicas: int) -> None:
        self.path = path
        self.data = data
        self.replicas = replicas

    def get(
        self,
        key: str,
        dtype: type,
        *,
        shape: tuple[int, ...] | None = None,
        ndim: int | None = None,
        min_ndim: int = 0,
        replica_axis: bool = True,
    ) -> Any:
        if key not in self.data:
            raise ResultFileError(self.path, f"the array {key!r} is missing")
        arr = self.data[key]
        if arr.dtype != np.dtype(dtype):
            raise ResultFileError(
                self.path, f"the array {key!r} has dtype {arr.dtype}, not {np.dtype(dtype)}"
            )
        bad = (
            (shape is not None and arr.shape != shape)
            or (ndim is not None and arr.ndim != ndim)
            or arr.ndim < min_ndim
            or (replica_axis and (arr.ndim == 0 or arr.shape[0] != self.replicas))
        )
        if bad:
            raise ResultFileError(self.path, f"the array {key!r} has the wrong shape {arr.shape}")
        return arr

    def optional(
        self, key: str, *, shape: tuple[int, ...] | None = None, ndim: int | None = None
    ) -> Any:
        return None if key not in self.data else self.get(key, np.float64, shape=shape, ndim=ndim)


@dataclass(frozen=True, eq=False)
class TrainResult:
    """The outcome of :func:`pulsetrain.run`.

    Attributes
    ----------
    config : dict
        ``{"problem": ..., "algorithm": ...}`` as plain dicts (``pulsetrain.config.from_dict``
        rebuilds them).
    steps, replicas : int
        Steps run (fewer than asked if a callback or Ctrl-C stopped the run) and replicas.
    seed_entropy : int or list of int
        Root entropy; ``run(..., rng=numpy.random.SeedSequence(seed_entropy))`` reruns it.
    record_steps : numpy.ndarray
        Steps at which curves were recorded, (n_records,); step 0 is the start.
    loss, error : numpy.ndarray
        Per-replica objective f(W̄) and ``‖W̄ − W*‖²`` at the recorded steps, (R, n_records).
    pulses : dict of numpy.ndarray
        Cumulative pulses per replica at the recorded steps, by phase name, (R, n_records).
    weights : numpy.ndarray
        Final effective weights W̄ the model computes with, (R, out, in); empty, (R, 0, 0), for
        a network, whose layers are in ``arrays``.
    arrays : dict of numpy.ndarray
        Final weights of every array by name (e.g. ``W``, ``P``, ``H``), (R, out, in).
    sp_error : numpy.ndarray or None
        Per replica, the RMS distance between the residual array's symmetric point and where the
        algorithm assumes it (0 for residual learning); None where it does not apply.
    trajectory : numpy.ndarray or None
        Effective weights at every recorded step, (R, n_records, out, in), if asked for.
    average_weights : numpy.ndarray or None
        Tail average of the effective weights (``run(..., average_from=...)``), (R, out, in).
    average_arrays : dict of numpy.ndarray
        Tail averages of every array by name (empty unless averaging was asked for).
    average_steps : int
        Number of steps in the tail averages.
    n_threads : int or None
        Threads used. Results do not depend on it.
    wall_time : float
        Seconds the run took.
    interrupted : bool
        True if Ctrl-C stopped the run; the result holds everything up to that step.
    provenance : dict
        Versions of pulsetrain, NumPy and Python, build profile and RNG scheme.
    memory : dict of int
        What the model held at the end (``pulsetrain.algorithms.base.memory_figures``):
        ``analog_devices`` (simulated crossbar elements over every tile and replica),
        ``digital_values`` and ``digital_bytes`` (float64 buffers, trackers, accumulators,
        digital weights and biases). Empty for results saved before it existed.
    """

    config: dict[str, Any]
    steps: int
    replicas: int
    seed_entropy: int | list[int]
    record_steps: npt.NDArray[np.int64]
    loss: FloatArray
    error: FloatArray
    pulses: dict[str, FloatArray]
    weights: FloatArray
    arrays: dict[str, FloatArray]
    sp_error: FloatArray | None = None
    trajectory: FloatArray | None = None
    average_weights: FloatArray | None = None
    average_arrays: dict[str, FloatArray] = field(default_factory=dict)
    average_steps: int = 0
    n_threads: int | None = None
    wall_time: float = 0.0
    interrupted: bool = False
    provenance: dict[str, Any] = field(default_factory=_provenance)
    memory: dict[str, int] = field(default_factory=dict)

    # ---------------------------------------------------------------------------- summaries
    @property
    def final_loss(self) -> FloatArray:
        """Loss at the last recorded step, (R,)."""
        return np.asarray(self.loss[:, -1])

    @property
    def final_error(self) -> FloatArray:
        """``‖W̄ − W*‖²`` at the last recorded step, (R,)."""
        return np.asarray(self.error[:, -1])

    @property
    def total_pulses(self) -> dict[str, FloatArray]:
        """Pulses per replica by phase over the whole run, (R,) each."""
        return {k: np.asarray(v[:, -1]) for k, v in self.pulses.items()}

    def summary(self) -> dict[str, float]:
        """Return the mean and standard deviation over replicas of the final figures.

        Returns
        -------
        dict
            ``error_mean``, ``error_std``, ``loss_mean``, ``loss_std`` and ``pulses_<phase>``
            (mean over replicas).
        """
        out = {
            "error_mean": float(self.final_error.mean()),
            "error_std": float(self.final_error.std(ddof=1)) if self.replicas > 1 else 0.0,
            "loss_mean": float(self.final_loss.mean()),
            "loss_std": float(self.final_loss.std(ddof=1)) if self.replicas > 1 else 0.0,
        }
        for k, v in self.total_pulses.items():
            out[f"pulses_{k}"] = float(v.mean())
        return out

    # ---------------------------------------------------------------------------- files
    def save(self, path: str | Path, *, overwrite: bool = False) -> tuple[Path, Path]:
        """Write ``path.json`` and ``path.npz`` (parent folders are created).

        Both files are written to temporary names first and then renamed, so an interrupted
        save leaves no half-written result under the final names.

        Parameters
        ----------
        path : str or pathlib.Path
            Path without suffix. Only a trailing ``.json`` or ``.npz`` is dropped; every other
            dot is kept (``"out/lr0.05"`` writes ``out/lr0.05.json`` and ``out/lr0.05.npz``).
        overwrite : bool, optional
            Replace an existing result at that path; by default an existing file is an error.

        Returns
        -------
        tuple of pathlib.Path
            The JSON and NPZ files written.

        Raises
        ------
        ParameterError
            If a result file already exists there and ``overwrite`` is False.
        """
        json_path, npz_path = _result_paths(path)
        if not overwrite:
            for f in (json_path, npz_path):
                if f.exists():
                    raise parameter_error(
                        "path",
                        "TrainResult.save",
                        "a path with no result files yet (or pass overwrite=True)",
                        str(f),
                    )
        json_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "config": self.config,
            "steps": self.steps,
            "replicas": self.replicas,
            "seed_entropy": self.seed_entropy,
            "n_threads": self.n_threads,
            "wall_time": self.wall_time,
            "interrupted": self.interrupted,
            "provenance": self.provenance,
            "memory": self.memory,
            "pulse_phases": sorted(self.pulses),
            "array_names": sorted(self.arrays),
            "average_names": sorted(self.average_arrays),
            "average_steps": self.average_steps,
            # Strict JSON: a non-finite summary figure (a network has no weight error) is null.
            "summary": {k: (v if np.isfinite(v) else None) for k, v in self.summary().items()},
        }
        arrays: dict[str, Any] = {
            "record_steps": self.record_steps,
            "loss": self.loss,
            "error": self.error,
            "weights": self.weights,
        }
        arrays.update({f"pulses.{k}": v for k, v in self.pulses.items()})
        arrays.update({f"arrays.{k}": v for k, v in self.arrays.items()})
        if self.sp_error is not None:
            arrays["sp_error"] = self.sp_error
        if self.trajectory is not None:
            arrays["trajectory"] = self.trajectory
        if self.average_weights is not None:
            arrays["average_weights"] = self.average_weights
        arrays.update({f"average.{k}": v for k, v in self.average_arrays.items()})
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"
        tmp_json = json_path.with_name(json_path.name + ".tmp")
        tmp_npz = npz_path.with_name(npz_path.name + ".tmp")
        try:
            tmp_json.write_text(text)
            with tmp_npz.open("wb") as fh:
                np.savez_compressed(fh, **arrays)
            tmp_npz.replace(npz_path)
            tmp_json.replace(json_path)
        finally:
            for t in (tmp_json, tmp_npz):
                t.unlink(missing_ok=True)
        return json_path, npz_path

    @classmethod
    def load(cls, path: str | Path) -> TrainResult:
        """Read a result written by :meth:`save`, checking every field.

        Parameters
        ----------
        path : str or pathlib.Path
            The same path given to :meth:`save` (with or without a ``.json``/``.npz`` suffix).

        Returns
        -------
        TrainResult
            Equal to the saved one.

        Raises
        ------
        ResultFileError
            If a file is missing, is not a pulsetrain result of this format, or is damaged
            (every field's type and every array's shape and dtype are checked; pickled
            objects are never loaded).
        """
        json_path, npz_path = _result_paths(path)
        for f in (json_path, npz_path):
            if not f.is_file():
                raise ResultFileError(str(f), "no such result file")
        try:
            meta = json.loads(json_path.read_text(encoding="utf-8"), parse_constant=_no_constant)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ResultFileError(str(json_path), f"not readable as strict JSON ({exc})") from None
        m = _Meta(str(json_path), meta)
        fmt = m.get("format", int)
        if fmt != FORMAT_VERSION:
            raise ResultFileError(str(json_path), f"format {fmt}, expected {FORMAT_VERSION}")
        replicas = m.get("replicas", int)
        if replicas < 1:
            raise ResultFileError(str(json_path), f"replicas {replicas} < 1")
        steps = m.get("steps", int)
        if steps < 0:
            raise ResultFileError(str(json_path), f"steps {steps} < 0")
        phases = m.names("pulse_phases")
        array_names = m.names("array_names")
        average_names = m.names("average_names")
        entropy = meta.get("seed_entropy")
        if not (
            _is_int(entropy)
            or (isinstance(entropy, list) and entropy and all(_is_int(e) for e in entropy))
        ):
            raise ResultFileError(str(json_path), "seed_entropy is not an int or a list of ints")
        n_threads = meta.get("n_threads")
        if n_threads is not None and not _is_int(n_threads):
            raise ResultFileError(str(json_path), "n_threads is not null or an int")
        memory = meta.get("memory", {})
        if not isinstance(memory, dict) or not all(_is_int(v) for v in memory.values()):
            raise ResultFileError(str(json_path), "memory is not a mapping of ints")
        try:
            with npz_path.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except Exception as exc:  # zipfile, zlib and numpy raise about ten types on damage
            raise ResultFileError(str(npz_path), f"not a readable NPZ archive ({exc})") from None
        a = _Arrays(str(npz_path), data, replicas)
        record_steps = a.get("record_steps", np.int64, ndim=1, replica_axis=False)
        n_rec = record_steps.shape[0]
        if n_rec == 0 or record_steps[-1] != steps or (np.diff(record_steps) <= 0).any():
            raise ResultFileError(
                str(npz_path), f"record_steps is not increasing to steps = {steps}"
            )
        curve = (replicas, n_rec)
        return cls(
            config=m.get("config", dict),
            steps=steps,
            replicas=replicas,
            seed_entropy=entropy,
            record_steps=record_steps,
            loss=a.get("loss", np.float64, shape=curve),
            error=a.get("error", np.float64, shape=curve),
            pulses={k: a.get(f"pulses.{k}", np.float64, shape=curve) for k in phases},
            weights=a.get("weights", np.float64, ndim=3),
            arrays={k: a.get(f"arrays.{k}", np.float64, min_ndim=2) for k in array_names},
            sp_error=a.optional("sp_error", shape=(replicas,)),
            trajectory=a.optional("trajectory", ndim=4),
            average_weights=a.optional("average_weights", ndim=3),
            average_arrays={
                k: a.get(f"average.{k}", np.float64, min_ndim=2) for k in average_names
            },
            average_steps=m.get("average_steps", int),
            n_threads=n_threads,
            wall_time=float(m.get("wall_time", float)),
            interrupted=m.get("interrupted", bool),
            provenance=m.get("provenance", dict),
            memory={str(k): int(v) for k, v in memory.items()},
        )

    def equals(self, other: TrainResult) -> bool:
        """Tell whether two results hold the same numbers and config (wall time aside).

        Parameters
        ----------
        other : TrainResult
            The result to compare with.

        Returns
        -------
        bool
            True if config, seed, every array and every scalar but ``wall_time`` agree exactly.
        """

        def same(a: Any, b: Any) -> bool:
            if a is None or b is None:
                return a is b
            return bool(np.array_equal(a, b, equal_nan=True))

        return (
            self.config == other.config
            and self.steps == other.steps
            and self.replicas == other.replicas
            and self.seed_entropy == other.seed_entropy
            and same(self.record_steps, other.record_steps)
            and same(self.loss, other.loss)
            and same(self.error, other.error)
            and same(self.weights, other.weights)
            and sorted(self.pulses) == sorted(other.pulses)
            and all(same(self.pulses[k], other.pulses[k]) for k in self.pulses)
            and sorted(self.arrays) == sorted(other.arrays)
            and all(same(self.arrays[k], other.arrays[k]) for k in self.arrays)
            and same(self.sp_error, other.sp_error)
            and same(self.trajectory, other.trajectory)
            and same(self.average_weights, other.average_weights)
            and sorted(self.average_arrays) == sorted(other.average_arrays)
            and all(
                same(self.average_arrays[k], other.average_arrays[k]) for k in self.average_arrays
            )
            and self.average_steps == other.average_steps
            and self.interrupted == other.interrupted
            and self.memory == other.memory
        )
