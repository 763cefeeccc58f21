"""Sweeps: a grid of experiment configs × seeds on a process pool or a Dask cluster (DESIGN §5.6).

A :class:`Sweep` is a frozen config (``kind = "sweep"``): a base :class:`~pulsetrain.experiment.
Experiment`, a grid of dotted keys → value lists (crossed or zipped) and seeds. Every
combination of algorithm entry × grid point × seed × replica range is one *cell*, i.e. one
:func:`pulsetrain.run` call. :func:`run_sweep` runs the cells on a local process pool (spawn
context, explicit ``n_threads`` per worker) or, given a scheduler address, on Dask distributed,
and writes into one folder:

* ``sweep.toml``: the sweep exactly as run;
* ``runs/<hash>-r<a>-<b>.json`` + ``.npz``: each finished cell's
  :class:`~pulsetrain.results.TrainResult`, named by a hash of its canonical config (problem,
  algorithm, steps, record_every, seed, rng_scheme) and its replica range ``[a, b)``, written
  atomically; a rerun skips them (resume after a crash or Ctrl-C);
* ``runs/<hash>-r<a>-<b>.error.txt``: the error of a cell that failed (it is retried on a rerun);
* ``table.parquet``: one row per cell (:data:`FIXED_COLUMNS`, then the dotted config columns);
  :func:`load` reads it as a ``pyarrow.Table``.

Grid keys: ``steps``, ``record_every``, ``replicas``, ``problem.<field>[.<field>...]`` and
``algorithm.<field>[...]`` (set in every algorithm entry, each of which must have the field).
"""

from __future__ import annotations

import concurrent.futures as cf
import enum
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, Self, TextIO, cast

import numpy as np

from pulsetrain import _core
from pulsetrain._validation import (
    Constraint,
    InstanceOf,
    Integral,
    NoneOr,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms import run as train
from pulsetrain.config import (
    ConfigMixin,
    dumps_toml,
    from_dict,
    loads_json,
    loads_toml,
    register,
    registered_classes,
    resolve_includes,
    to_dict,
)
from pulsetrain.errors import MissingExtraError, ParameterError
from pulsetrain.experiment import Experiment, _locate, _Text
from pulsetrain.problems import LeastSquares
from pulsetrain.results import TrainResult
from pulsetrain.updates import Phase

__all__ = [
    "FIXED_COLUMNS",
    "Cell",
    "GridMode",
    "Sweep",
    "SweepResult",
    "build_table",
    "load",
    "load_sweep",
    "run_sweep",
    "sweep_from_dict",
]

PHASES: Final = tuple(p.value for p in Phase)
FIXED_COLUMNS: Final = (
    "cell",
    "config_hash",
    "label",
    "status",
    "error",
    "seed",
    "replica_offset",
    "replicas",
    "steps",
    "record_every",
    "error_mean",
    "error_std",
    "loss_mean",
    "loss_std",
    *(f"pulses_{p}" for p in PHASES),
    "pulses_total",
    "sp_error_mean",
    "wall_time",
    "pulsetrain_version",
    "rng_scheme",
    "seed_entropy",
    "record_steps",
    "error_curve",
    "loss_curve",
)
"""The table's first columns, in order; the dotted config columns (``problem.*``,
``algorithm.*``) follow, sorted. ``status`` is ``"ok"`` or ``"failed"`` (then ``error`` holds
the error text and the metrics are null); pulses are means over the cell's replicas; the curves
are list columns, ``error_curve``/``loss_curve`` one list per replica."""

TEST_KILL_ENV: Final = "PULSETRAIN_SWEEP_TEST_KILL"
"""Test-only hook: if this names a file, the first worker that removes it exits at once."""

_MAX_SEED = (1 << 63) - 1
_TOP_KEYS: Final = ("steps", "record_every", "replicas")


class GridMode(enum.Enum):
    """How the grid's value lists combine."""

    CROSS = "cross"
    """Every combination (the Cartesian product), keys in order, the last varying fastest."""
    ZIP = "zip"
    """The i-th values of every key together; the lists must have equal lengths."""


def _grid_value_ok(value: object) -> bool:
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return abs(value) <= _MAX_SEED
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Mapping):  # a config as plain data (from TOML/JSON)
        return value.get("kind") in {c.kind for c in registered_classes()}  # type: ignore[attr-defined]
    return type(value) in registered_classes()


def _config(value: object, path: str) -> object:
    """Turn plain config data in a grid into the config; errors name ``path``."""
    if not isinstance(value, Mapping):
        return value
    try:
        return from_dict(value, path=path)
    except ParameterError as exc:
        raise exc.with_path(path) from None


def _key_ok(key: object) -> bool:
    return (
        isinstance(key, str)
        and 0 < len(key) <= 200
        and all(p.isidentifier() and p.isascii() for p in key.split("."))
    )


class _Grid(Constraint):
    """A table of dotted keys → non-empty lists of scalars or configs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_Grid()"

    def accepts(self, value: object) -> bool:
        return isinstance(value, Mapping) and all(
            _key_ok(k)
            and isinstance(v, list | tuple)
            and 0 < len(v) <= 100_000
            and all(_grid_value_ok(x) for x in v)
            for k, v in value.items()
        )

    def describe(self) -> str:
        return (
            "a table of dotted keys (e.g. 'algorithm.lr') to non-empty lists of bools, ints, "
            "finite floats, strings or configs"
        )

    def invalid(self) -> object:
        return {"algorithm.lr": []}

    def normalise(self, value: object) -> object:
        grid = cast("Mapping[str, Sequence[Any]]", value)
        return {
            str(k): tuple(_config(x, f"grid.{k}[{i}]") for i, x in enumerate(v))
            for k, v in grid.items()
        }


class _Seeds(Constraint):
    """A tuple of distinct ints in [0, 2**63 − 1]; empty means the base experiment's seed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_Seeds()"

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, list | tuple)
            and len(value) <= 100_000
            and all(
                isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= _MAX_SEED
                for s in value
            )
            and len(set(value)) == len(value)
        )

    def describe(self) -> str:
        return f"a list of distinct ints in the range [0, {_MAX_SEED}] (empty: the base seed)"

    def invalid(self) -> object:
        return (1, 1)

    def normalise(self, value: object) -> object:
        return tuple(cast("Sequence[int]", value))


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: an algorithm entry at one grid point, one seed, one replica range.

    Attributes
    ----------
    label : str
        The algorithm entry's label.
    point : dict
        The grid values of this cell, by dotted key.
    config : dict
        Canonical plain config: ``problem``, ``algorithm``, ``steps``, ``record_every``,
        ``seed``, ``rng_scheme``; its hash names the result file.
    replica_offset, replicas : int
        The replica range ``[replica_offset, replica_offset + replicas)``.
    """

    label: str
    point: dict[str, Any]
    config: dict[str, Any]
    replica_offset: int
    replicas: int

    @property
    def config_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the canonical config JSON."""
        text = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        """File name of the result (without suffix): ``<hash>-r<a>-<b>``."""
        return f"{self.config_hash}-r{self.replica_offset}-{self.replica_offset + self.replicas}"

    def run(self, *, n_threads: int | None = 1) -> TrainResult:
        """Run this cell with :func:`pulsetrain.run` (what a worker does).

        Parameters
        ----------
        n_threads : int or None, optional
            Kernel threads; results do not depend on it.

        Returns
        -------
        TrainResult
            The result.
        """
        c = self.config
        return train(
            from_dict(c["problem"]),
            from_dict(c["algorithm"]),
            steps=c["steps"],
            replicas=self.replicas,
            rng=c["seed"],
            n_threads=n_threads,
            record_every=c["record_every"],
            replica_offset=self.replica_offset,
            progress=False,
        )


def _dict_field_error(key: str, where: str, node: object, part: str) -> ParameterError:
    fields = (
        ", ".join(repr(k) for k in node if k != "kind") if isinstance(node, Mapping) else "none"
    )
    kind = node.get("kind", "?") if isinstance(node, Mapping) else type(node).__name__
    return parameter_error(
        f"grid.{key}",
        "Sweep",
        f"a dotted key path to a config field ({part!r} is not a field of {kind!r} at {where}; "
        f"its fields: {fields}); top-level keys: {', '.join(_TOP_KEYS)}, problem.*, algorithm.*",
        key,
    )


def _set_path(
    root: dict[str, Any], parts: Sequence[str], value: object, key: str, where: str
) -> None:
    node: Any = root
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node or part == "kind":
            raise _dict_field_error(key, where + "".join(f".{p}" for p in parts[:i]), node, part)
        if i == len(parts) - 1:
            node[part] = to_dict(value) if type(value) in registered_classes() else value
        else:
            node = node[part]


def _apply(base: dict[str, Any], point: Mapping[str, object]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(base))  # a deep copy of plain data
    for key, value in point.items():
        head, *rest = key.split(".")
        if head in _TOP_KEYS and not rest:
            doc[head] = value
        elif head == "problem" and rest:
            _set_path(doc, ["problem", *rest], value, key, "base")
        elif head == "algorithm" and rest:
            for i, entry in enumerate(doc["algorithms"]):
                _set_path(entry["algorithm"], rest, value, key, f"base.algorithms[{i}].algorithm")
        else:
            raise parameter_error(
                f"grid.{key}",
                "Sweep",
                f"a dotted key path starting with one of {', '.join(_TOP_KEYS)}, "
                "'problem.' or 'algorithm.'",
                key,
            )
    return doc


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Sweep(ConfigMixin):
    """A sweep: a base experiment, a grid of dotted keys → values, and seeds.

    Examples
    --------
    >>> sw = Sweep.example()
    >>> len(sw.cells())  # 2 algorithms × 2 learning rates × 2 seeds
    8
    >>> sweep_from_dict(loads_toml(dumps_toml(sw))) == sw
    True
    """

    kind: ClassVar[str] = "sweep"
    name: str = field(default="sweep", metadata=constrained(_Text(60)))
    """Short name; the default output folder is ``pulsetrain-out/<slug(name)>``."""
    base: Experiment = field(metadata=constrained(InstanceOf((Experiment,))))
    """The base experiment (problem, algorithms, steps, replicas, seed, record_every)."""
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict, metadata=constrained(_Grid()))
    """Dotted keys → value lists, e.g. ``{"algorithm.lr": (0.01, 0.05)}``; empty: one point."""
    mode: GridMode = field(default=GridMode.CROSS, metadata=constrained(Options(GridMode)))
    """``"cross"`` (every combination) or ``"zip"`` (the i-th values together)."""
    seeds: tuple[int, ...] = field(default=(), metadata=constrained(_Seeds()))
    """Root seeds, one run per seed; empty uses the base experiment's seed."""
    replicas_per_cell: int | None = field(
        default=None, metadata=constrained(NoneOr(Integral(1, 1 << 24)))
    )
    """Split each run's replicas into cells of at most this many (None: one cell per run)."""
    retries: int = field(default=2, metadata=constrained(Integral(0, 100)))
    """Times a cell whose worker died is resubmitted on a fresh local pool (on Dask it is the
    ``retries=`` of ``Client.map``; a dead worker's task is rescheduled by the scheduler itself,
    up to its ``allowed-failures``)."""

    def __post_init__(self) -> None:
        """Validate every field, and that every grid point gives a valid experiment."""
        check_fields(self)
        self.points()  # raises for a bad key or value, naming it

    @classmethod
    def example(cls) -> Self:
        """Return a small valid instance for docs and tests (well under a second to run).

        Returns
        -------
        Sweep
            :meth:`Experiment.example` with 10 steps × lr in (0.05, 0.1) × seeds (1, 2).
        """
        exp = Experiment(
            name="example",
            problem=LeastSquares(in_size=4, out_size=2, n_samples=10, batch_size=5),
            algorithms=Experiment.example().algorithms,
            steps=10,
            replicas=2,
            seed=1,
        )
        return cls(name="example", base=exp, grid={"algorithm.lr": (0.05, 0.1)}, seeds=(1, 2))

    def points(self) -> list[tuple[dict[str, Any], Experiment]]:
        """Return the grid points, each with the experiment it gives.

        Returns
        -------
        list of (dict, Experiment)
            The grid values by dotted key, and the base experiment with them set.

        Raises
        ------
        ParameterError
            For a key that names no config field (naming ``grid.<key>``), value lists of
            unequal lengths in ``zip`` mode, or a value that gives an invalid experiment (naming
            its path in the base experiment).
        """
        keys = list(self.grid)
        lists = [self.grid[k] for k in keys]
        if self.mode is GridMode.ZIP:
            if len({len(v) for v in lists}) > 1:
                lengths = {k: len(v) for k, v in zip(keys, lists, strict=True)}
                raise parameter_error(
                    "grid", "Sweep", "value lists of equal lengths in mode 'zip'", lengths
                )
            combos: list[tuple[Any, ...]] = list(zip(*lists, strict=True)) if lists else [()]
        else:
            combos = list(itertools.product(*lists))
        base = to_dict(self.base)
        out = []
        for combo in combos:
            point = dict(zip(keys, combo, strict=True))
            doc = _apply(base, point)
            try:
                exp = Experiment.from_dict(doc)
            except ParameterError as exc:
                located = _locate(doc, "")
                raise (located if located is not None else exc).with_path("base") from None
            out.append((point, exp))
        return out

    def cells(self) -> list[Cell]:
        """Return every cell: algorithm entries × grid points × seeds × replica ranges.

        Returns
        -------
        list of Cell
            In that nesting order (the replica range varies fastest).
        """
        seeds = self.seeds or (self.base.seed,)
        cells = []
        points = self.points()
        for i in range(len(self.base.algorithms)):
            for point, exp in points:
                entry = exp.algorithms[i]
                per = self.replicas_per_cell or exp.replicas
                for seed in seeds:
                    config = {
                        "problem": to_dict(exp.problem),
                        "algorithm": to_dict(entry.algorithm),
                        "steps": exp.steps,
                        "record_every": exp.record_every,
                        "seed": seed,
                        "rng_scheme": int(_core.rng_scheme),
                    }
                    for a in range(0, exp.replicas, per):
                        n = min(per, exp.replicas - a)
                        cells.append(Cell(entry.label, point, config, a, n))
        return cells


def sweep_from_dict(data: Mapping[str, Any]) -> Sweep:
    """Build a :class:`Sweep` from plain data; errors name the full key path.

    Parameters
    ----------
    data : Mapping
        As written by ``to_dict`` or read from TOML/JSON; the top-level ``kind`` may be left
        out (if given it must be ``"sweep"``).

    Returns
    -------
    Sweep
        The sweep.

    Raises
    ------
    ParameterError
        For any bad key or value, naming its path (``base.algorithms[0].algorithm.lr``,
        ``grid.algorithm.lrr``).
    """
    if not isinstance(data, Mapping):
        raise parameter_error("config", "Sweep", "a table (dict) of sweep keys", data)
    try:
        return Sweep.from_dict(data)
    except ParameterError as exc:
        located = _locate({k: v for k, v in data.items() if k != "grid"}, "")
        raise (located if located is not None else exc) from None


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep from a ``.toml`` or ``.json`` file.

    Tables may be given as ``{include = "FILE"}``, as in
    :func:`pulsetrain.experiment.load_experiment`.

    Parameters
    ----------
    path : str or pathlib.Path
        The config file.

    Returns
    -------
    Sweep
        The sweep it describes.

    Raises
    ------
    ParameterError
        If the file is missing, has another suffix, cannot be read, or describes a bad sweep.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise parameter_error("FILE", "pulsetrain sweep", "a .toml or .json file", str(p))
    if not p.is_file():
        raise parameter_error("FILE", "pulsetrain sweep", "an existing file", str(p))
    try:
        text = p.read_text(encoding="utf-8")
        data = loads_toml(text) if suffix == ".toml" else loads_json(text)
        data = resolve_includes(data, p.parent, owner="pulsetrain sweep")
        return sweep_from_dict(data)
    except ParameterError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, OverflowError) as exc:
        raise parameter_error(
            "FILE", "pulsetrain sweep", f"a {suffix[1:].upper()} file pulsetrain can read", str(exc)
        ) from None


# --------------------------------------------------------------------------- workers


def _run_cell(cell: Cell, n_threads: int | None) -> tuple[str, TrainResult | str]:
    """Run one cell in a worker: ``("ok", result)``, ``("failed", text)`` or interrupted."""
    marker = os.environ.get(TEST_KILL_ENV)
    if marker:
        try:
            Path(marker).unlink()
        except FileNotFoundError:
            pass
        else:
            os._exit(3)  # test-only: a worker dies mid-sweep
    try:
        result = cell.run(n_threads=n_threads)
    except Exception as exc:  # a deterministic failure: recorded, the sweep goes on
        return "failed", "".join(traceback.format_exception_only(exc)).strip()
    if result.interrupted:
        return "interrupted", "interrupted by Ctrl-C"
    return "ok", result


def _spawn_pool(workers: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel the pending runs and end the pool's worker processes now."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=10)


def _cores() -> int:
    return os.cpu_count() or 1


def _require(module: str, extra: str, what: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, module, what) from None


@dataclass(eq=False)
class SweepResult:
    """What :func:`run_sweep` did.

    Attributes
    ----------
    out_dir : pathlib.Path
        The output folder.
    cells : list of Cell
        Every cell of the sweep, in table order.
    computed : list of str
        Names of the cells run (and saved) now.
    skipped : list of str
        Names of the cells whose results were already there.
    failed : dict of str
        Error text of each cell that failed, by name.
    interrupted : bool
        True if Ctrl-C stopped the sweep (the unfinished cells run on a rerun).
    pool_restarts : int
        Times a broken local pool (a dead worker) was replaced.
    table_path : pathlib.Path or None
        ``table.parquet``, or None if pyarrow is missing.
    """

    out_dir: Path
    cells: list[Cell]
    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    pool_restarts: int = 0
    table_path: Path | None = None


class _Recorder:
    """Saves each outcome as it arrives (results atomically, errors beside them)."""

    def __init__(self, runs: Path, result: SweepResult, bar: Any) -> None:
        self.runs = runs
        self.result = result
        self.bar = bar

    def __call__(self, cell: Cell, status: str, payload: TrainResult | str) -> None:
        error_path = self.runs / f"{cell.name}.error.txt"
        if status == "ok" and isinstance(payload, TrainResult):
            payload.save(self.runs / cell.name, overwrite=True)
            error_path.unlink(missing_ok=True)
            self.result.computed.append(cell.name)
        elif status == "interrupted":
            self.result.interrupted = True
        else:
            text = str(payload)
            tmp = error_path.with_name(error_path.name + ".tmp")
            tmp.write_text(text + "\n", encoding="utf-8")
            tmp.replace(error_path)
            self.result.failed[cell.name] = text
        if self.bar is not None:
            self.bar.update(1)


def _run_local(
    todo: list[Cell],
    record: _Recorder,
    *,
    workers: int,
    n_threads: int,
    retries: int,
    result: SweepResult,
) -> None:
    pending = list(todo)
    attempt = 0
    while pending:
        pool = _spawn_pool(min(workers, len(pending)))
        broken: list[Cell] = []
        try:
            futures = {pool.submit(_run_cell, c, n_threads): c for c in pending}
            for fut in cf.as_completed(futures):
                cell = futures[fut]
                try:
                    status, payload = fut.result()
                except cf.process.BrokenProcessPool:
                    broken.append(cell)
                    continue
                record(cell, status, payload)
        except KeyboardInterrupt:
            # The workers got the Ctrl-C too and return their runs interrupted (never saved);
            # stop them before they take the runs already queued to them.
            result.interrupted = True
            _stop(pool)
            return
        pool.shutdown(wait=True)
        if not broken:
            return
        attempt += 1
        result.pool_restarts += 1
        if attempt > retries:
            for cell in broken:
                record(cell, "failed", f"its worker died {attempt} times (BrokenProcessPool)")
            return
        order = {c.name: i for i, c in enumerate(todo)}
        pending = sorted(broken, key=lambda c: order[c.name])


def _run_dask(
    todo: list[Cell],
    record: _Recorder,
    *,
    scheduler: str | None,
    dask_local: int | None,
    n_threads: int,
    retries: int,
    result: SweepResult,
) -> None:
    distributed = _require("distributed", "dask", "Sweeps on Dask (--scheduler, --dask-local)")
    cluster = None
    if dask_local is not None:
        cluster = distributed.LocalCluster(
            n_workers=dask_local,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        client = distributed.Client(cluster)
    else:
        client = distributed.Client(scheduler)
    try:
        keys = [f"pulsetrain-{c.name}" for c in todo]
        futures = client.map(
            _run_cell, todo, [n_threads] * len(todo), key=keys, retries=retries, pure=False
        )
        by_key = {f.key: c for f, c in zip(futures, todo, strict=True)}
        try:
            for fut in distributed.as_completed(futures):
                cell = by_key[fut.key]
                try:
                    status, payload = fut.result()
                except Exception as exc:  # e.g. KilledWorker after the retries
                    status, payload = "failed", f"{type(exc).__name__}: {exc}"
                record(cell, status, payload)
        except KeyboardInterrupt:
            result.interrupted = True
            client.cancel(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(
    sweep: Sweep,
    out_dir: str | Path,
    *,
    workers: int | None = None,
    threads: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    progress: bool | None = None,
    log: TextIO | None = None,
) -> SweepResult:
    """Run every unfinished cell of ``sweep``, save each result, then write ``table.parquet``.

    Parameters
    ----------
    sweep : Sweep
        What to run.
    out_dir : str or pathlib.Path
        Output folder; results already in ``out_dir/runs`` are kept and their cells skipped.
    workers : int or None, optional
        Local pool processes, 1 to the number of cores; None: as many as cores (at most one
        per cell). Ignored on Dask.
    threads : int or None, optional
        Kernel threads per run; ``workers × threads`` (``dask_local × threads``) must not exceed
        the cores. None: the cores divided by the workers (at least 1); 1 on a ``scheduler``.
        Results do not depend on it.
    scheduler : str or None, optional
        A Dask scheduler address (``tcp://host:8786``): run on that cluster (``dask`` extra).
        The workers need pulsetrain installed; results come back to this process, which saves
        them (no shared file system needed).
    dask_local : int or None, optional
        Start a Dask ``LocalCluster`` of this many worker processes and run on it.
    progress : bool or None, optional
        A tqdm bar over runs: True always, False never, None if tqdm is installed.
    log : TextIO or None, optional
        Where notes go; None uses ``sys.stderr``.

    Returns
    -------
    SweepResult
        What was computed, skipped and failed, and where the table is.

    Raises
    ------
    ParameterError
        For a bad option.
    MissingExtraError
        If Dask is asked for and not installed, or tqdm for ``progress=True``.
    """
    if not isinstance(sweep, Sweep):
        raise parameter_error("sweep", "run_sweep", "a Sweep", sweep)
    cores = _cores()
    if scheduler is not None and dask_local is not None:
        raise parameter_error("scheduler", "run_sweep", "None when dask_local is given", scheduler)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise parameter_error("scheduler", "run_sweep", "a scheduler address", scheduler)
    if dask_local is not None and not (
        isinstance(dask_local, int) and not isinstance(dask_local, bool) and 1 <= dask_local <= 1024
    ):
        raise parameter_error("dask_local", "run_sweep", "an int in [1, 1024]", dask_local)
    if workers is not None and not (
        isinstance(workers, int) and not isinstance(workers, bool) and 1 <= workers <= cores
    ):
        raise parameter_error(
            "workers", "run_sweep", f"an int in [1, {cores}] (the cores)", workers
        )
    stream = sys.stderr if log is None else log
    cells = sweep.cells()
    out = Path(out_dir)
    runs = out / "runs"
    result = SweepResult(out_dir=out, cells=cells)
    todo: list[Cell] = []
    seen: set[str] = set()
    for c in cells:
        if c.name in seen:
            continue  # the same run twice (two entries with equal algorithms)
        seen.add(c.name)
        if (runs / f"{c.name}.json").is_file() and (runs / f"{c.name}.npz").is_file():
            result.skipped.append(c.name)
        else:
            todo.append(c)
    if scheduler is not None:  # the cluster's machines, not this one: only the kernel's bound
        n_proc, top, why = 1, 1024, "the kernel's limit"
    else:
        n_proc = dask_local or workers or max(1, min(cores, len(todo)))
        top, why = max(1, cores // n_proc), f"cores {cores} / workers {n_proc}"
    if threads is not None and not (
        isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= top
    ):
        raise parameter_error("threads", "run_sweep", f"an int in [1, {top}] ({why})", threads)
    runs.mkdir(parents=True, exist_ok=True)
    (out / "sweep.toml").write_text(dumps_toml(sweep), encoding="utf-8")
    n_threads = threads if threads is not None else 1 if scheduler is not None else top
    bar = None
    if todo and progress is not False:
        try:
            tqdm = _require("tqdm", "progress", "The sweep's progress bar")
        except MissingExtraError:
            if progress:
                raise
        else:
            bar = tqdm.tqdm(total=len(todo), unit="run", desc=sweep.name, file=stream)
    record = _Recorder(runs, result, bar)
    print(
        f"pulsetrain sweep: {len(seen)} runs, {len(result.skipped)} already done, "
        f"{len(todo)} to run -> {out}",
        file=stream,
        flush=True,
    )
    t0 = time.perf_counter()
    try:
        if todo and (scheduler is not None or dask_local is not None):
            _run_dask(
                todo,
                record,
                scheduler=scheduler,
                dask_local=dask_local,
                n_threads=n_threads,
                retries=sweep.retries,
                result=result,
            )
        elif todo:
            _run_local(
                todo,
                record,
                workers=n_proc,
                n_threads=n_threads,
                retries=sweep.retries,
                result=result,
            )
    finally:
        if bar is not None:
            bar.close()
    if todo:
        print(f"pulsetrain sweep: ran for {time.perf_counter() - t0:.1f} s", file=stream)
    try:
        _require("pyarrow", "sweep", "The sweep's table.parquet")
    except MissingExtraError as exc:
        print(f"pulsetrain sweep: table.parquet not written: {exc}", file=stream)
    else:
        import pyarrow.parquet as pq

        table = build_table(out, cells)
        path = out / "table.parquet"
        tmp = out / "table.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(path)
        result.table_path = path
    return result


# --------------------------------------------------------------------------- the table


def _flatten(prefix: str, value: object, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}", v, out)
    elif isinstance(value, list | tuple):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def _row(cell: Cell, runs: Path) -> dict[str, Any] | None:
    config = cell.config
    row: dict[str, Any] = dict.fromkeys(FIXED_COLUMNS)
    row.update(
        cell=cell.name,
        config_hash=cell.config_hash,
        label=cell.label,
        seed=config["seed"],
        replica_offset=cell.replica_offset,
        replicas=cell.replicas,
        steps=config["steps"],
        record_every=config["record_every"],
        rng_scheme=config["rng_scheme"],
    )
    flat: dict[str, Any] = {}
    _flatten("problem", config["problem"], flat)
    _flatten("algorithm", config["algorithm"], flat)
    row.update(flat)
    base = runs / cell.name
    error_path = runs / f"{cell.name}.error.txt"
    if base.with_suffix(".json").is_file() and base.with_suffix(".npz").is_file():
        res = TrainResult.load(base)
        s = res.summary()
        pulses = {f"pulses_{p}": float(s.get(f"pulses_{p}", 0.0)) for p in PHASES}
        entropy = res.seed_entropy
        row.update(
            status="ok",
            error_mean=s["error_mean"],
            error_std=s["error_std"],
            loss_mean=s["loss_mean"],
            loss_std=s["loss_std"],
            **pulses,
            pulses_total=float(sum(pulses.values())),
            sp_error_mean=None if res.sp_error is None else float(np.mean(res.sp_error)),
            wall_time=float(res.wall_time),
            pulsetrain_version=str(res.provenance.get("pulsetrain")),
            rng_scheme=int(res.provenance.get("rng_scheme", config["rng_scheme"])),
            seed_entropy=entropy if isinstance(entropy, int) else None,
            record_steps=res.record_steps.tolist(),
            error_curve=res.error.tolist(),
            loss_curve=res.loss.tolist(),
        )
        return row
    if error_path.is_file():
        row.update(status="failed", error=error_path.read_text(encoding="utf-8").strip())
        return row
    return None  # not run yet (an interrupted sweep)


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.int64())
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def build_table(out_dir: str | Path, cells: Sequence[Cell] | None = None) -> Any:
    """Gather a sweep folder's results into one table (a row per finished or failed cell).

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The sweep's output folder.
    cells : sequence of Cell or None, optional
        The cells; None reads ``out_dir/sweep.toml``.

    Returns
    -------
    pyarrow.Table
        Columns :data:`FIXED_COLUMNS`, then the dotted config columns, sorted.
    """
    pa = _require("pyarrow", "sweep", "The sweep table")
    out = Path(out_dir)
    if cells is None:
        cells = load_sweep(out / "sweep.toml").cells()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in cells:
        if c.name not in seen:
            seen.add(c.name)
            row = _row(c, out / "runs")
            if row is not None:
                rows.append(row)
    extra = sorted({k for r in rows for k in r} - set(FIXED_COLUMNS))
    schema_fixed: dict[str, Any] = {
        "record_steps": pa.list_(pa.int64()),
        "error_curve": pa.list_(pa.list_(pa.float64())),
        "loss_curve": pa.list_(pa.list_(pa.float64())),
        "seed": pa.int64(),
        "replica_offset": pa.int64(),
        "replicas": pa.int64(),
        "steps": pa.int64(),
        "record_every": pa.int64(),
        "rng_scheme": pa.int64(),
        "seed_entropy": pa.int64(),
        "error_mean": pa.float64(),
        "error_std": pa.float64(),
        "loss_mean": pa.float64(),
        "loss_std": pa.float64(),
        **{f"pulses_{p}": pa.float64() for p in PHASES},
        "pulses_total": pa.float64(),
        "sp_error_mean": pa.float64(),
        "wall_time": pa.float64(),
    }
    arrays = {}
    for name in FIXED_COLUMNS:
        values = [r[name] for r in rows]
        typ = schema_fixed.get(name, pa.string())
        arrays[name] = pa.array(values, typ)
    for name in extra:
        arrays[name] = _column([r.get(name) for r in rows])
    return pa.table(arrays)


def load(out_dir: str | Path) -> Any:
    """Read a sweep's table: ``out_dir/table.parquet``, or gathered from its runs if absent.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The sweep's output folder.

    Returns
    -------
    pyarrow.Table
        A row per cell (see :data:`FIXED_COLUMNS`); ``.to_pandas()`` works if pandas is
        installed, and ``polars.from_arrow`` reads it.

    Raises
    ------
    MissingExtraError
        If pyarrow (the ``sweep`` extra) is not installed.
    ParameterError
        If the folder holds no sweep.
    """
    _require("pyarrow", "sweep", "pulsetrain.sweep.load")
    import pyarrow.parquet as pq

    out = Path(out_dir)
    path = out / "table.parquet"
    if path.is_file():
        return pq.read_table(path)
    if not (out / "sweep.toml").is_file():
        raise parameter_error("out_dir", "load", "a sweep output folder", str(out))
    return build_table(out)
