"""Checkpoints: the state of a model and of one :func:`pulsetrain.run`, saved and resumed exactly.

Two layers:

* :func:`model_state_dict` / :func:`load_model_state_dict`, behind every
  :meth:`AlgorithmState.state_dict <pulsetrain.algorithms.AlgorithmState.state_dict>` and a
  Classifier network's state: one generic walk over a live state object. Its tiles (the
  ``tiles`` mapping) are saved with :meth:`AnalogTile.state_dict
  <pulsetrain.tile.AnalogTile.state_dict>`; every other attribute, recursively through helper
  objects (transfer buffers, choppers, layers), lists, tuples and dicts, is saved by kind:
  float arrays, counters and chopper signs (NumPy arrays, copied), NumPy scalars (0-d arrays),
  plain ints, floats, bools, strings and None, lists of them (loss histories, pointers,
  switch steps) and NumPy generators (their bit-generator state, as JSON). Configs (frozen
  dataclasses, enums), bound methods and seed sequences are rebuilt by ``start()`` and are not
  saved; nor are the per-step caches of layers (:data:`TRANSIENT`), which a step consumes.
  Loading walks a freshly started state of the same config the same way and checks that every
  key, kind, dtype and shape matches before it changes anything.
* :class:`RunCheckpoint`: one ``.npz`` file (``allow_pickle=False``) holding a JSON manifest
  (as a uint8 member ``manifest``) and the arrays: the model state, the curves recorded so far,
  the trajectory, the tail-average accumulators. Written atomically (a temporary file, then
  :func:`os.replace`). ``pulsetrain.run(..., checkpoint=PATH)`` uses it.

Random streams need no saved position beyond the tiles' ticks: every other per-step draw (the
problems' gradient noise and minibatch order, the choppers' flips, stochastic rounding) is a
pure function of the seed and the step number, and a Classifier's generator is used up when the
instance is drawn. So the step is the stream position, and a resumed run draws exactly what the
uninterrupted one would.
"""

from __future__ import annotations

import enum
import functools
import json
import os
import types
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import parameter_error
from pulsetrain.config import ConfigMixin
from pulsetrain.errors import ParameterError, ResultFileError, ShapeError
from pulsetrain.tile import AnalogTile

__all__ = [
    "FORMAT",
    "TRANSIENT",
    "RunCheckpoint",
    "load_model_state_dict",
    "model_state_dict",
]

FORMAT: Final = "pulsetrain.checkpoint/1"
"""The ``format`` of a run checkpoint's manifest."""

TRANSIENT: Final = frozenset({"_x", "_d", "_z", "_za", "_cache", "_in", "_last_shape"})
"""Attribute names of per-step caches (a layer's last inputs and errors), not saved: a training
step sets them in its forward pass and consumes them in its update."""

FloatArray = npt.NDArray[np.float64]


# ----------------------------------------------------------------------------- model state


@dataclass(slots=True)
class _Entry:
    """One saved leaf: where it lives (``parent`` and ``name``), how it is saved."""

    parent: Any
    name: Any  # attribute name (str), list/tuple index (int) or dict key
    kind: str  # "array", "npscalar", "scalar", "list", "tuple", "generator"
    value: Any
    container: str  # "attr", "item"


_SCALARS = (int, float, bool, str, type(None))


def _plain(value: object) -> bool:
    """Tell whether `value` is JSON data: plain scalars and lists/tuples of them."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


_REBUILT = (
    ConfigMixin,
    enum.Enum,
    np.random.SeedSequence,
    type,
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    functools.partial,
)


def _skipped(value: object) -> bool:
    """Tell whether `value` is rebuilt by ``start()`` (configs, enums, functions, seeds)."""
    return isinstance(value, _REBUILT)


def _fields(obj: object) -> Iterator[tuple[str, Any]]:
    """Yield the instance attributes of `obj` (``__dict__`` and ``__slots__``), sorted by name."""
    names: set[str] = set(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        names.update((slots,) if isinstance(slots, str) else slots)
    for name in sorted(names):
        if name in ("__dict__", "__weakref__") or not hasattr(obj, name):
            continue
        yield name, getattr(obj, name)


class _Walker:
    """Collect the saved leaves of a live state, keyed by dotted paths."""

    def __init__(self, root: Any) -> None:
        tiles = getattr(root, "tiles", None)
        if not isinstance(tiles, Mapping) or not all(
            isinstance(t, AnalogTile) for t in tiles.values()
        ):
            msg = f"{type(root).__name__} has no 'tiles' mapping of AnalogTile"
            raise TypeError(msg)
        self.tiles: dict[str, AnalogTile] = dict(tiles)
        self.seen: set[int] = {id(t) for t in self.tiles.values()}
        self.seen.add(id(tiles))
        self.entries: dict[str, _Entry] = {}
        self._object(root, "attr", skip=("tiles",))

    def _object(self, obj: object, prefix: str, skip: tuple[str, ...] = ()) -> None:
        self.seen.add(id(obj))
        for name, value in _fields(obj):
            if name in skip or name in TRANSIENT:
                continue
            self._value(obj, name, "attr", value, f"{prefix}.{name}")

    def _value(self, parent: Any, name: Any, container: str, value: Any, key: str) -> None:
        if isinstance(value, np.ndarray):
            self.entries[key] = _Entry(parent, name, "array", value, container)
        elif isinstance(value, np.generic):
            self.entries[key] = _Entry(parent, name, "npscalar", value, container)
        elif isinstance(value, np.random.Generator):
            self.entries[key] = _Entry(parent, name, "generator", value, container)
        elif _plain(value):
            kind = (
                "tuple"
                if isinstance(value, tuple)
                else "list"
                if isinstance(value, list)
                else "scalar"
            )
            self.entries[key] = _Entry(parent, name, kind, value, container)
        elif isinstance(value, AnalogTile):
            if id(value) not in self.seen:
                msg = f"{key}: a tile that is not in the state's 'tiles' mapping"
                raise TypeError(msg)
        elif _skipped(value) or id(value) in self.seen:
            return
        elif isinstance(value, list):
            self.seen.add(id(value))
            for i, v in enumerate(value):
                self._value(value, i, "item", v, f"{key}.{i}")
        elif isinstance(value, tuple):
            # A tuple's items cannot be reassigned: only objects in it, restored in place.
            self.seen.add(id(value))
            for i, v in enumerate(value):
                if not (_skipped(v) or hasattr(v, "__dict__") or isinstance(v, AnalogTile)):
                    msg = f"{key}.{i}: cannot restore a {type(v).__name__} held in a tuple"
                    raise TypeError(msg)
                self._value(value, i, "item", v, f"{key}.{i}")
        elif isinstance(value, dict):
            self.seen.add(id(value))
            for k in sorted(value, key=str):
                self._value(value, k, "item", value[k], f"{key}.{k}")
        elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
            self._object(value, key)
        else:  # pragma: no cover - every state attribute is one of the kinds above
            msg = f"{key}: cannot checkpoint a {type(value).__name__}"
            raise TypeError(msg)


def _saved(entry: _Entry) -> Any:
    """Return the value of a leaf as a state dict holds it (arrays copied, generators as JSON)."""
    if entry.kind == "array":
        return np.array(entry.value, copy=True)
    if entry.kind == "npscalar":
        return np.asarray(entry.value).copy()
    if entry.kind == "generator":
        return json.dumps(entry.value.bit_generator.state)
    if entry.kind in ("list", "tuple"):
        return json.loads(json.dumps(list(entry.value)))
    return entry.value


def model_state_dict(state: Any) -> dict[str, Any]:
    """Return the complete state of a live model state (an ``AlgorithmState``, a network).

    Parameters
    ----------
    state : object
        Anything with a ``tiles`` mapping of :class:`~pulsetrain.tile.AnalogTile`.

    Returns
    -------
    dict
        ``tiles.<name>.<key>`` for each tile's :meth:`~pulsetrain.tile.AnalogTile.state_dict`
        and ``attr.<path>`` for every other saved attribute (see the module docstring): NumPy
        arrays, and ints, floats, bools, strings, None and lists of them.
    """
    walker = _Walker(state)
    out: dict[str, Any] = {}
    for name, tile in walker.tiles.items():
        for k, v in tile.state_dict().items():
            out[f"tiles.{name}.{k}"] = v
    for key, entry in walker.entries.items():
        out[key] = _saved(entry)
    return out


def _mismatch(key: str, owner: str, allowed: str, got: str) -> ParameterError:
    return parameter_error(key, owner, allowed, got)


def _checked(key: str, entry: _Entry, value: Any, owner: str) -> Callable[[], None]:
    """Check a saved leaf against the fresh one; return the assignment that restores it."""
    want = entry.value
    if entry.kind == "array":
        arr = np.asarray(value)
        if not isinstance(value, np.ndarray) or arr.dtype != want.dtype or arr.shape != want.shape:
            got = f"dtype {arr.dtype}, shape {arr.shape}"
            msg = f"an array of dtype {want.dtype} and shape {want.shape}"
            text = f"The {key!r} parameter of {owner} must be {msg}. Got {got} instead."
            raise ShapeError(text)
        if arr.tobytes() == want.tobytes():
            # The same bits (a constant such as a broadcast identity, or an unchanged buffer):
            # keep the live array, whose memory layout later sums may round by.
            return lambda: None
        new: Any = np.array(arr, copy=True, order="K")  # keeps a C or F layout
    elif entry.kind == "npscalar":
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype != want.dtype:
            raise _mismatch(key, owner, f"a 0-d array of dtype {want.dtype}", repr(value))
        new = arr[()]
    elif entry.kind == "generator":
        try:
            bit_state = json.loads(value)
            probe = np.random.Generator(type(want.bit_generator)())
            probe.bit_generator.state = bit_state
        except (TypeError, ValueError, KeyError) as exc:
            raise _mismatch(key, owner, "a bit-generator state as JSON", f"{exc}") from None
        new = np.random.Generator(type(want.bit_generator)())
        new.bit_generator.state = bit_state
    elif entry.kind in ("list", "tuple"):
        if not isinstance(value, list | tuple) or not _plain(value):
            raise _mismatch(key, owner, "a list of plain values", repr(value))
        data = json.loads(json.dumps(list(value)))
        new = _as_tuples(data) if entry.kind == "tuple" else data
    else:
        ok = want is None or value is None or type(value) is type(want)
        if not ok:
            raise _mismatch(key, owner, f"a {type(want).__name__}", repr(value))
        new = value
    parent, name, container = entry.parent, entry.name, entry.container

    def assign() -> None:
        if container == "attr":
            object.__setattr__(parent, name, new)
        else:
            parent[name] = new

    return assign


def _as_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_as_tuples(v) for v in value)
    return value


def load_model_state_dict(state: Any, saved: Mapping[str, Any], owner: str) -> None:
    """Restore :func:`model_state_dict` output into a freshly started state of the same config.

    Every key, kind, dtype and shape is checked before anything changes; if a tile then
    refuses its part, everything already restored is put back, so a failed call leaves `state`
    as it was.

    Parameters
    ----------
    state : object
        The live state to restore into.
    saved : Mapping
        As returned by :func:`model_state_dict` for the same algorithm config and problem.
    owner : str
        Named in error messages.

    Raises
    ------
    ParameterError
        Missing or unknown keys, or a value of another kind.
    ShapeError
        An array of another dtype or shape.
    """
    if not isinstance(saved, Mapping):
        raise parameter_error("state", owner, "a mapping from state_dict()", saved)
    walker = _Walker(state)
    tile_keys = {
        f"tiles.{name}.{k}": (name, k)
        for name, tile in walker.tiles.items()
        for k in tile._state_keys()  # the keys of its state_dict(), without copying arrays
    }
    want = set(tile_keys) | set(walker.entries)
    missing, extra = sorted(want - set(saved)), sorted(set(saved) - want)
    if missing or extra:
        raise parameter_error(
            "state",
            owner,
            f"a state_dict() of the same algorithm and problem (missing keys: {missing[:5]}, "
            f"unknown keys: {extra[:5]})",
            f"{len(saved)} keys",
        )
    assigns = [_checked(k, e, saved[k], owner) for k, e in walker.entries.items()]
    per_tile: dict[str, dict[str, Any]] = {name: {} for name in walker.tiles}
    for key, (name, k) in tile_keys.items():
        per_tile[name][k] = saved[key]
    before = {name: tile.state_dict() for name, tile in walker.tiles.items()}
    done: list[str] = []
    try:
        for name, tile in walker.tiles.items():
            tile.load_state_dict(per_tile[name])
            done.append(name)
    except BaseException:
        for name in done:
            walker.tiles[name].load_state_dict(before[name])
        raise
    for assign in assigns:
        assign()


# ----------------------------------------------------------------------------- run checkpoint


def _json_default(value: object) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    msg = f"not JSON data: {type(value).__name__}"
    raise TypeError(msg)


@dataclass
class RunCheckpoint:
    """The resumable state of one :func:`pulsetrain.run` after ``done`` steps.

    Attributes
    ----------
    checks : dict
        What must match to resume: problem and algorithm configs, seed entropy, replicas,
        replica offset, backend, rng_scheme, pulsetrain version, steps, record interval,
        ``average_from`` and ``record_weights``.
    done : int
        Completed steps.
    rec : int
        Recorded points so far (columns of the curves filled).
    elapsed : float
        Wall time spent before this checkpoint, in seconds.
    model : dict
        The model's state dict (:func:`model_state_dict`).
    curves : dict of numpy.ndarray
        ``loss``, ``error``, ``pulses.<phase>`` (R, n_rec) and, with ``record_weights``,
        ``trajectory``, in full length (NaN past ``rec``).
    average : dict of numpy.ndarray
        ``weights`` (when averaged) and ``array.<name>``: the tail-average sums.
    n_avg : int
        Steps summed into the averages.
    """

    checks: dict[str, Any]
    done: int
    rec: int
    elapsed: float
    model: dict[str, Any]
    curves: dict[str, Any]
    average: dict[str, Any] = field(default_factory=dict)
    n_avg: int = 0

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the checkpoint atomically to `path` (a temporary file, then a rename).

        Parameters
        ----------
        path : str or os.PathLike
            The checkpoint file (an ``.npz`` archive whatever its name).
        """
        dest = Path(path)
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        scalars: dict[str, Any] = {}
        layouts: dict[str, list[int]] = {}
        for k, v in self.model.items():
            if isinstance(v, np.ndarray):
                perm = _axis_order(v)
                if perm != list(range(v.ndim)):
                    layouts[k] = perm
                    v = np.ascontiguousarray(v.transpose(perm))
                arrays[f"model/{k}"] = v
            else:
                scalars[k] = v
        for k, v in self.curves.items():
            arrays[f"curves/{k}"] = v
        for k, v in self.average.items():
            arrays[f"average/{k}"] = v
        manifest = {
            "format": FORMAT,
            "checks": self.checks,
            "done": self.done,
            "rec": self.rec,
            "elapsed": self.elapsed,
            "n_avg": self.n_avg,
            "model_scalars": scalars,
            "model_arrays": [k for k, v in self.model.items() if isinstance(v, np.ndarray)],
            "layouts": layouts,
            "curves": sorted(self.curves),
            "average": sorted(self.average),
        }
        text = json.dumps(manifest, default=_json_default, sort_keys=True)
        arrays["manifest"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with tmp.open("wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]  # numeric arrays: no pickle
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunCheckpoint:
        """Read a checkpoint written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            The checkpoint file.

        Returns
        -------
        RunCheckpoint
            Its contents (not yet checked against a run: :func:`pulsetrain.run` does that).

        Raises
        ------
        ResultFileError
            If the file is not a readable pulsetrain checkpoint of this format (damaged,
            truncated, or another file); pickled objects are never loaded.
        """
        where = str(path)
        try:
            with Path(path).open("rb") as fh, np.load(fh, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise ResultFileError(where, f"not a readable checkpoint archive ({exc})") from None
        except Exception as exc:  # zipfile and zlib raise further types on damage
            raise ResultFileError(where, f"not a readable checkpoint archive ({exc})") from None
        raw = data.pop("manifest", None)
        if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
            raise ResultFileError(where, "no manifest: not a pulsetrain checkpoint")
        try:
            meta = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ResultFileError(where, f"the manifest is not valid JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            got = meta.get("format") if isinstance(meta, dict) else None
            raise ResultFileError(where, f"format {got!r}, expected {FORMAT!r}")
        kinds = {
            "checks": dict,
            "done": int,
            "rec": int,
            "elapsed": float,
            "n_avg": int,
            "model_scalars": dict,
            "model_arrays": list,
            "curves": list,
            "average": list,
            "layouts": dict,
        }
        for name, kind in kinds.items():
            value = meta.get(name)
            ok = (
                isinstance(value, int | float) and not isinstance(value, bool)
                if kind is float
                else isinstance(value, kind) and not isinstance(value, bool)
            )
            if not ok:
                raise ResultFileError(where, f"the manifest field {name!r} is missing or bad")
        model: dict[str, Any] = dict(meta["model_scalars"])
        try:
            for k in meta["model_arrays"]:
                model[k] = data[f"model/{k}"]
            for k, perm in meta["layouts"].items():
                model[k] = model[k].transpose(np.argsort(perm))
            curves = {k: data[f"curves/{k}"] for k in meta["curves"]}
            average = {k: data[f"average/{k}"] for k in meta["average"]}
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultFileError(where, f"an array is missing or bad ({exc})") from None
        return cls(
            checks=meta["checks"],
            done=meta["done"],
            rec=meta["rec"],
            elapsed=float(meta["elapsed"]),
            model=model,
            curves=curves,
            average=average,
            n_avg=meta["n_avg"],
        )

    def mismatch(self, checks: Mapping[str, Any]) -> str | None:
        """Return the first check that differs from this checkpoint's, or None.

        Parameters
        ----------
        checks : Mapping
            The running call's checks, as stored in :attr:`checks`.

        Returns
        -------
        str or None
            E.g. ``"seed (checkpoint 1, run 2)"``.
        """
        mine = _normal(self.checks)
        theirs = _normal(dict(checks))
        for name in theirs:
            if mine.get(name) != theirs[name]:
                return f"{name} (checkpoint {_short(mine.get(name))}, run {_short(theirs[name])})"
        extra = sorted(set(mine) - set(theirs))
        return f"{extra[0]} (only in the checkpoint)" if extra else None


def _axis_order(arr: np.ndarray[Any, Any]) -> list[int]:
    """Return the axes of `arr` from the largest stride down: its memory layout.

    An array read back from a file is C-ordered; a live buffer may be laid out otherwise (a
    transposed read of a tile), and sums over it round by its layout. Saving the transposed,
    C-ordered data with this order and transposing back on loading restores the layout.
    """
    strides = [abs(s) for s in arr.strides]
    return sorted(range(arr.ndim), key=lambda a: -strides[a])


def _normal(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(value, default=_json_default, sort_keys=True))
    return out


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


# ----------------------------------------------------------------------------- run() plumbing


def run_checks(
    problem: ConfigMixin,
    algorithm: ConfigMixin,
    root: np.random.SeedSequence,
    **settings: Any,
) -> dict[str, Any]:
    """Return what a checkpoint must match to resume a run: configs, seed, settings, versions.

    Parameters
    ----------
    problem, algorithm : ConfigMixin
        The run's configs (compared as their ``to_dict()``).
    root : numpy.random.SeedSequence
        The run's root seed (entropy and spawn key).
    **settings
        Replicas, replica offset, backend, steps, record interval, ``average_from``,
        ``record_weights``: plain values.

    Returns
    -------
    dict
        JSON data.
    """
    from pulsetrain import __version__, _core
    from pulsetrain.config import to_dict

    return _normal(
        {
            "problem": to_dict(problem),
            "algorithm": to_dict(algorithm),
            "seed": {"entropy": root.entropy, "spawn_key": list(root.spawn_key)},
            **settings,
            "rng_scheme": int(_core.rng_scheme),
            "pulsetrain": __version__,
        }
    )


class RunFile:
    """One run's checkpoint file, as :func:`pulsetrain.run` uses it (see :func:`open_run`)."""

    def __init__(self, path: Path, saved: RunCheckpoint | None, root: np.random.SeedSequence):
        self.path = path
        self.saved = saved
        self.root = root
        self.checks: dict[str, Any] = {}
        self.elapsed = 0.0 if saved is None else saved.elapsed

    def resume(
        self, state: Any, curves: dict[str, Any]
    ) -> tuple[int, int, int, FloatArray | None, dict[str, FloatArray]]:
        """Check the saved run against this one and restore it into `state` and `curves`.

        Returns
        -------
        tuple
            ``(done, rec, n_avg, average weights sum or None, average array sums)``.

        Raises
        ------
        ParameterError
            A checkpoint of another run (naming what differs) or of another model state.
        ResultFileError
            Curves or counters that do not fit the run (a damaged file).
        """
        saved = self.saved
        if saved is None:  # pragma: no cover - run() calls this only with a saved checkpoint
            msg = "no checkpoint to resume"
            raise RuntimeError(msg)
        where = str(self.path)
        diff = saved.mismatch(self.checks)
        if diff is not None:
            raise parameter_error(
                "checkpoint",
                "run",
                f"a checkpoint of this same run, or a new path (its {diff} differs)",
                where,
            )
        if set(saved.curves) != set(curves):
            names = f"curves {sorted(saved.curves)}, expected {sorted(curves)}"
            raise ResultFileError(where, names)
        for name, arr in curves.items():
            got = saved.curves[name]
            if got.shape != arr.shape or got.dtype != arr.dtype:
                raise ResultFileError(where, f"the curve {name!r} has shape {got.shape}")
        n_rec = next(iter(curves.values())).shape[1]
        steps = int(self.checks["steps"])
        if not (0 <= saved.done <= steps and 1 <= saved.rec <= n_rec and saved.n_avg >= 0):
            raise ResultFileError(where, "its step or record counters are out of range")
        avg_w = saved.average.get("weights")
        avg_arrays = {
            k.removeprefix("array."): np.asarray(v, dtype=np.float64)
            for k, v in saved.average.items()
            if k.startswith("array.")
        }
        if set(saved.average) - {"weights"} - {f"array.{k}" for k in avg_arrays}:
            raise ResultFileError(where, "unknown tail-average arrays")
        load_model_state_dict(state, saved.model, "run(checkpoint=...)")
        for name, arr in curves.items():
            arr[...] = saved.curves[name]
        return saved.done, saved.rec, saved.n_avg, avg_w, avg_arrays

    def save(
        self,
        state: Any,
        done: int,
        rec: int,
        curves: Mapping[str, Any],
        avg_w: FloatArray | None,
        avg_arrays: Mapping[str, FloatArray],
        n_avg: int,
        t_start: float,
    ) -> None:
        """Write the run's state after `done` steps (atomically)."""
        import time

        average = {f"array.{k}": v for k, v in avg_arrays.items()}
        if avg_w is not None:
            average["weights"] = avg_w
        RunCheckpoint(
            checks=self.checks,
            done=done,
            rec=rec,
            elapsed=self.elapsed + time.perf_counter() - t_start,
            model=model_state_dict(state),
            curves=dict(curves),
            average=average,
            n_avg=n_avg,
        ).save(self.path)


def open_run(path: object, rng: object) -> RunFile:
    """Open a run's checkpoint path: read the checkpoint if it exists, and fix the root seed.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file; it need not exist yet.
    rng : int, SeedSequence, Generator or None
        The run's ``rng``; None takes the seed of an existing checkpoint.

    Returns
    -------
    RunFile
        The path, the saved checkpoint (or None) and the root seed.

    Raises
    ------
    ParameterError
        `path` is not a path, or names a directory.
    ResultFileError
        The file exists but is not a readable checkpoint.
    """
    from pulsetrain.rng import as_seed_sequence

    if not isinstance(path, str | os.PathLike) or not str(path):
        raise parameter_error("checkpoint", "run", "a file path (str or os.PathLike)", path)
    p = Path(path)
    if p.is_dir():
        raise parameter_error("checkpoint", "run", "a file path, not a directory", str(p))
    saved = RunCheckpoint.load(p) if p.exists() else None
    if rng is None and saved is not None:
        seed = saved.checks.get("seed")
        try:
            root = np.random.SeedSequence(seed["entropy"], spawn_key=tuple(seed["spawn_key"]))  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            raise ResultFileError(str(p), "its seed is missing or bad") from None
    else:
        root = as_seed_sequence(rng)  # type: ignore[arg-type]
    return RunFile(p, saved, root)
