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
    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``path.json`` and ``path.npz`` (parent folders are created).

        Parameters
        ----------
        path : str or pathlib.Path
            Path without suffix (a ``.json``/``.npz`` suffix is dropped).

        Returns
        -------
        tuple of pathlib.Path
            The JSON and NPZ files written.
        """
        base = Path(path)
        if base.suffix in (".json", ".npz"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
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
            "summary": self.summary(),
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
        json_path = base.with_suffix(".json")
        npz_path = base.with_suffix(".npz")
        json_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        np.savez_compressed(npz_path, **arrays)
        return json_path, npz_path

    @classmethod
    def load(cls, path: str | Path) -> TrainResult:
        """Read a result written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            The same path given to :meth:`save` (with or without suffix).

        Returns
        -------
        TrainResult
            Equal to the saved one.

        Raises
        ------
        ParameterError
            If the files are missing or of an unknown format.
        """
        base = Path(path)
        if base.suffix in (".json", ".npz"):
            base = base.with_suffix("")
        json_path, npz_path = base.with_suffix(".json"), base.with_suffix(".npz")
        if not json_path.exists() or not npz_path.exists():
            raise parameter_error(
                "path", "TrainResult.load", "a path with .json and .npz files", str(base)
            )
        meta = json.loads(json_path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise parameter_error(
                "path",
                "TrainResult.load",
                f"a result of format {FORMAT_VERSION}",
                meta.get("format"),
            )
        with np.load(npz_path) as z:
            data = {k: z[k] for k in z.files}
        return cls(
            config=meta["config"],
            steps=int(meta["steps"]),
            replicas=int(meta["replicas"]),
            seed_entropy=meta["seed_entropy"],
            record_steps=data["record_steps"],
            loss=data["loss"],
            error=data["error"],
            pulses={k: data[f"pulses.{k}"] for k in meta["pulse_phases"]},
            weights=data["weights"],
            arrays={k: data[f"arrays.{k}"] for k in meta["array_names"]},
            sp_error=data.get("sp_error"),
            trajectory=data.get("trajectory"),
            average_weights=data.get("average_weights"),
            average_arrays={k: data[f"average.{k}"] for k in meta["average_names"]},
            average_steps=int(meta["average_steps"]),
            n_threads=meta["n_threads"],
            wall_time=float(meta["wall_time"]),
            interrupted=bool(meta["interrupted"]),
            provenance=meta["provenance"],
            memory={str(k): int(v) for k, v in meta.get("memory", {}).items()},
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
            return bool(np.array_equal(a, b))

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
