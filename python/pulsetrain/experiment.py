"""Experiments: one problem, several labelled algorithms, seeds as replicas (shared/DESIGN.md §5.7).

An :class:`Experiment` is a frozen config like every other (``kind = "experiment"``), so it
round-trips exactly through dicts, TOML and JSON; ``pulsetrain run CONFIG.toml`` reads one and
``pulsetrain run --print-config`` writes :func:`default_experiment`. :func:`run_experiment`
trains every algorithm with :func:`pulsetrain.run` on the same problem instances and the same
seed, and writes into one folder:

* ``config.toml``: the experiment exactly as run (rerun it with ``pulsetrain run config.toml``);
* ``table.csv`` (and ``table.parquet`` when pyarrow is installed): one row per algorithm with the
  final error and loss (mean ± std over replicas), pulses by phase and the mean SP error;
* ``runs/<label>.json`` + ``.npz``: each run's :class:`~pulsetrain.results.TrainResult`;
* ``figure.png`` + ``figure.pdf`` (when matplotlib is installed): error curves with ± std bands,
  error against pulses, and pulses by phase (:func:`pulsetrain.plots.plot_experiment`).
"""

from __future__ import annotations

import csv
import importlib
import math
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, Final, Self, TextIO, cast

from pulsetrain._validation import (
    Constraint,
    InstanceOf,
    Integral,
    NoneOr,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms import (
    AGAD,
    ERIDER,
    RIDER,
    AnalogSGD,
    DigitalSGD,
    ResidualLearning,
    ResidualLearningV2,
    TikiTaka,
    TTv2,
    TwoStage,
)
from pulsetrain.algorithms import run as train
from pulsetrain.algorithms.base import Algorithm
from pulsetrain.config import (
    ConfigMixin,
    dumps_toml,
    from_dict,
    loads_json,
    loads_toml,
    register,
    resolve_includes,
)
from pulsetrain.devices import Device, SkewLinear
from pulsetrain.errors import MissingExtraError, ParameterError
from pulsetrain.problems import LeastSquares, Problem
from pulsetrain.results import TrainResult
from pulsetrain.updates import Phase, PulseCountUpdate, Rounding

__all__ = [
    "AlgorithmEntry",
    "Experiment",
    "ExperimentResult",
    "default_experiment",
    "experiment_from_dict",
    "load_experiment",
    "run_experiment",
    "slug",
]

PHASES: Final = tuple(p.value for p in Phase)
TABLE_COLUMNS: Final = (
    "label",
    "algorithm",
    "steps",
    "replicas",
    "seed",
    "error_mean",
    "error_std",
    "loss_mean",
    "loss_std",
    *(f"pulses_{p}" for p in PHASES),
    "pulses_total",
    "sp_error_mean",
    "wall_time",
)
"""Columns of ``table.csv``/``table.parquet``, in order (pulses are means over replicas)."""

_MAX_SEED = (1 << 63) - 1  # TOML integers are signed 64-bit


class _Text(Constraint):
    """A non-empty single-line string of at most ``max_len`` characters."""

    __slots__ = ("max_len",)

    def __init__(self, max_len: int) -> None:
        self.max_len = max_len

    def __repr__(self) -> str:
        return f"_Text({self.max_len})"

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, str)
            and 0 < len(value) <= self.max_len
            and value.isprintable()
            and value.strip() == value
        )

    def describe(self) -> str:
        return (
            f"a non-empty printable str of at most {self.max_len} characters, "
            "without leading or trailing spaces"
        )

    def invalid(self) -> object:
        return ""


class _Entries(Constraint):
    """A non-empty tuple (or list) of :class:`AlgorithmEntry`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "_Entries()"

    def accepts(self, value: object) -> bool:
        return (
            isinstance(value, tuple | list)
            and len(value) > 0
            and all(isinstance(v, AlgorithmEntry) for v in value)
        )

    def describe(self) -> str:
        return "a non-empty tuple of AlgorithmEntry"

    def invalid(self) -> object:
        return ()

    def normalise(self, value: object) -> object:
        return tuple(cast("Sequence[AlgorithmEntry]", value))  # accepts() was checked first


def slug(label: str) -> str:
    """Return the file-name form of a label: lower case, runs of other characters as ``-``.

    Parameters
    ----------
    label : str
        An algorithm label or an experiment name.

    Returns
    -------
    str
        E.g. ``"ZS+RL"`` → ``"zs-rl"``; ``"run"`` if nothing is left.

    Examples
    --------
    >>> slug("E-RIDER"), slug("Digital SGD"), slug("ZS+RL")
    ('e-rider', 'digital-sgd', 'zs-rl')
    """
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "run"


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class AlgorithmEntry(ConfigMixin):
    """One algorithm of an experiment, with the label that names its row, curve and files.

    Examples
    --------
    >>> from pulsetrain.algorithms import DigitalSGD
    >>> AlgorithmEntry(label="Digital SGD", algorithm=DigitalSGD(lr=0.05)).label
    'Digital SGD'
    """

    kind: ClassVar[str] = "algorithm_entry"
    label: str = field(metadata=constrained(_Text(60)))
    """Name shown in the table and the figure; its :func:`slug` names the run's files."""
    algorithm: Algorithm = field(metadata=constrained(InstanceOf((Algorithm,))))
    """The algorithm config (any registered algorithm kind)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        AlgorithmEntry
            Digital SGD with lr 0.05.
        """
        return cls(label="Digital SGD", algorithm=DigitalSGD(lr=0.05))


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment(ConfigMixin):
    """A comparison: one problem, labelled algorithms, the seed and the replicas (seeds).

    Every algorithm runs with ``pulsetrain.run(problem, algorithm, steps=steps,
    replicas=replicas, rng=seed, ...)``, so all of them see the same problem instances (replica r
    draws its own from the seed) and the table's numbers equal the Python API's.

    Examples
    --------
    >>> exp = Experiment.example()
    >>> [e.label for e in exp.algorithms]
    ['Digital SGD', 'Analog SGD']
    >>> from pulsetrain.config import dumps_toml, loads_toml
    >>> experiment_from_dict(loads_toml(dumps_toml(exp))) == exp
    True
    """

    kind: ClassVar[str] = "experiment"
    name: str = field(default="experiment", metadata=constrained(_Text(60)))
    """Short name; the default output folder is ``pulsetrain-out/<slug(name)>``."""
    problem: Problem = field(metadata=constrained(InstanceOf((Problem,))))
    """The problem every algorithm is trained on (e.g. ``LeastSquares``)."""
    algorithms: tuple[AlgorithmEntry, ...] = field(metadata=constrained(_Entries()))
    """The algorithms to compare, in table order; labels must have distinct :func:`slug` forms."""
    steps: int = field(default=1000, metadata=constrained(Integral(1, 1 << 40)))
    """Gradient steps per run, at least 1."""
    replicas: int = field(default=8, metadata=constrained(Integral(1, 1 << 24)))
    """Replicas R, i.e. independent seeds (problem instance, devices, noise) per algorithm."""
    seed: int = field(default=0, metadata=constrained(Integral(0, _MAX_SEED)))
    """Root seed (a ``numpy.random.SeedSequence`` entropy), shared by every algorithm."""
    n_threads: int | None = field(default=None, metadata=constrained(NoneOr(Integral(1, 1024))))
    """Kernel threads, 1 to 1024; None uses every core. Results do not depend on it."""
    record_every: int | None = field(
        default=None, metadata=constrained(NoneOr(Integral(1, 1 << 40)))
    )
    """Record the curves every this many steps; None records about 200 points."""

    def __post_init__(self) -> None:
        """Validate every field, and that the labels give distinct file names."""
        check_fields(self)
        names = [slug(e.label) for e in self.algorithms]
        if len(set(names)) != len(names):
            raise parameter_error(
                "algorithms",
                "Experiment",
                "entries whose labels give distinct file names (slugs)",
                [e.label for e in self.algorithms],
            )

    @classmethod
    def example(cls) -> Self:
        """Return a small valid instance for docs and tests (runs in well under a second).

        Returns
        -------
        Experiment
            Digital vs Analog SGD on a 4×2 least-squares problem, 50 steps, 2 replicas.
        """
        device = Device(response=SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3)
        return cls(
            name="example",
            problem=LeastSquares(in_size=4, out_size=2, n_samples=10, batch_size=5),
            algorithms=(
                AlgorithmEntry(label="Digital SGD", algorithm=DigitalSGD(lr=0.05)),
                AlgorithmEntry(
                    label="Analog SGD",
                    algorithm=AnalogSGD(device=device, lr=0.05, update=PulseCountUpdate()),
                ),
            ),
            steps=50,
            replicas=2,
            seed=1,
            n_threads=1,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """The algorithm labels, in order."""
        return tuple(e.label for e in self.algorithms)


def default_experiment() -> Experiment:
    """Return the built-in experiment that ``pulsetrain run`` runs without a config.

    Least squares (W of 5×20, 50 samples, batches of 10, injected gradient noise 0.05) on a
    skew-linear device (τ = 1, c = 0.3, so its symmetric point is 0.3, not 0; Δw_min = 1e−3,
    2000 states) with pulse-count updates (at most 16 pulses, stochastic rounding), 8000 steps,
    8 seeds as replicas. Compared: Digital SGD; Analog SGD (biased towards the SP, P1/P2);
    Tiki-Taka and residual learning, RLv2 (P's SP at 0.3 where they assume 0: biased, P1 C21);
    ZS + RL (6000 zero-shift pulses per element first, P3 Alg. 4); RIDER and E-RIDER (P3), both
    with the same rates, E-RIDER adding a chopper (flip probability 0.02); TT-v2 (B1, aihwkit
    ``BufferedTransferCompound``: a thresholded digital buffer between P and W, biased here
    because it reads P against a reference at 0, not at P's SP) and AGAD (B1, aihwkit
    ``DynamicTransferCompound``: a chopped buffer against a running mean of P, which needs no
    reference). RIDER and E-RIDER are the raw equations with constant steps, where RIDER is
    expected to reach a spurious equilibrium (shared/theory.md C23); the chopper is what lets
    E-RIDER's tracker find the SP. About 15 s on two cores.

    Returns
    -------
    Experiment
        The default experiment (``pulsetrain run --print-config`` prints it as TOML).

    Examples
    --------
    >>> exp = default_experiment()
    >>> exp.labels[:3]
    ('Digital SGD', 'Analog SGD', 'Tiki-Taka')
    """
    device = Device(response=SkewLinear(tau=1.0, c_lin=0.3), dw_min=1e-3)
    update = PulseCountUpdate(max_bl=16, rounding=Rounding.STOCHASTIC)
    lr, lr_transfer, gamma_mix, ema_rate = 0.05, 0.05, 0.4, 0.03
    residual: dict[str, Any] = {
        "device": device,
        "lr": lr,
        "lr_transfer": lr_transfer,
        "gamma_mix": gamma_mix,
        "update": update,
    }
    # TT-v2 and AGAD read every column of P into their buffer at each step, like the others.
    every_column: dict[str, Any] = {"columns_per_transfer": 0}
    entries = (
        ("Digital SGD", DigitalSGD(lr=lr)),
        ("Analog SGD", AnalogSGD(device=device, lr=lr, update=update)),
        (
            "Tiki-Taka",
            TikiTaka(device=device, lr=lr, lr_transfer=lr_transfer, update=update),
        ),
        ("Residual learning", ResidualLearning(**residual)),
        ("RLv2", ResidualLearningV2(**residual)),
        ("ZS + RL", TwoStage(zs_pulses=6000, zs_average_last=2000, **residual)),
        ("RIDER", RIDER(ema_rate=ema_rate, **residual)),
        ("E-RIDER", ERIDER(ema_rate=ema_rate, chop_prob=0.02, **residual)),
        (
            "TT-v2",
            TTv2(device=device, lr=lr, lr_transfer=lr_transfer, update=update, **every_column),
        ),
        (
            "AGAD",
            AGAD(device=device, lr=lr, lr_transfer=lr_transfer, update=update, **every_column),
        ),
    )
    return Experiment(
        name="default",
        problem=LeastSquares(
            in_size=20, out_size=5, n_samples=50, batch_size=10, target_std=0.3, noise_std=0.05
        ),
        algorithms=tuple(AlgorithmEntry(label=k, algorithm=a) for k, a in entries),
        steps=8000,
        replicas=8,
        seed=0,
    )


# --------------------------------------------------------------------------- reading configs


def _children(node: object, path: str) -> list[tuple[object, str]]:
    if isinstance(node, Mapping):
        return [(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()]
    if isinstance(node, list | tuple):
        return [(v, f"{path}[{i}]") for i, v in enumerate(node)]
    return []


def _locate(node: object, path: str) -> ParameterError | None:
    """Find the deepest config in ``node`` that fails to build; its error, naming the key path.

    Constructors name only their own field (``'lr'``); trying every nested dict that carries a
    ``kind`` bottom-up finds the one that fails and so the full path
    (``'algorithms[2].algorithm.lr'``) through :meth:`ParameterError.with_path`. A dict without
    ``kind`` is checked as part of its parent.
    """
    for child, sub in _children(node, path):
        found = _locate(child, sub)
        if found is not None:
            return found
    if path and isinstance(node, Mapping) and "kind" in node:
        try:
            from_dict(node, path=path)
        except ParameterError as exc:
            return exc.with_path(path)
    return None


def experiment_from_dict(data: Mapping[str, Any]) -> Experiment:
    """Build an :class:`Experiment` from plain data; errors name the full key path.

    Parameters
    ----------
    data : Mapping
        As written by ``to_dict`` (or read from TOML/JSON). The top-level ``kind`` may be left
        out; if given it must be ``"experiment"``.

    Returns
    -------
    Experiment
        The experiment; ``experiment_from_dict(exp.to_dict()) == exp``.

    Raises
    ------
    ParameterError
        For any bad key or value, with the message template naming the key path, e.g.
        ``The 'algorithms[2].algorithm.lr' parameter of ResidualLearning must be a float in the
        range [0, inf). Got -1.0 instead.``

    Examples
    --------
    >>> experiment_from_dict({"problem": {"kind": "quadratic"}, "algorithms": [
    ...     {"label": "SGD", "algorithm": {"kind": "digital_sgd"}}]}).steps
    1000
    """
    if not isinstance(data, Mapping):
        raise parameter_error("config", "Experiment", "a table (dict) of experiment keys", data)
    try:
        return Experiment.from_dict(data)
    except ParameterError as exc:
        located = _locate(data, "")
        raise (located if located is not None else exc) from None


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment from a ``.toml`` or ``.json`` file.

    Any table may be given as ``{include = "FILE"}`` (for instance the device file that
    ``pulsetrain fit`` writes: ``device = {include = "fitted.toml"}``), FILE relative to this
    file's folder (:func:`pulsetrain.config.resolve_includes`).

    Parameters
    ----------
    path : str or pathlib.Path
        The config file.

    Returns
    -------
    Experiment
        The experiment it describes.

    Raises
    ------
    ParameterError
        If the file (or a file it includes) is missing, has another suffix, is not valid
        TOML/JSON, or describes a bad experiment (the message names the key path, the allowed
        values and the value found).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise parameter_error("CONFIG", "pulsetrain run", "a .toml or .json file", str(p))
    if not p.is_file():
        raise parameter_error("CONFIG", "pulsetrain run", "an existing file", str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise parameter_error(
            "CONFIG", "pulsetrain run", f"a readable file ({exc})", str(p)
        ) from None
    try:
        data = loads_toml(text) if suffix == ".toml" else loads_json(text)
        data = resolve_includes(data, p.parent, owner="pulsetrain run")
        return experiment_from_dict(data)
    except ParameterError:
        raise
    except (ValueError, RecursionError, OverflowError) as exc:
        # Integers over Python's 4,300-digit limit, nesting deeper than the parser's recursion
        # limit, numbers beyond the float range: a bad config, not a crash.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise parameter_error(
            "CONFIG", "pulsetrain run", f"a {suffix[1:].upper()} file pulsetrain can read", reason
        ) from None


# --------------------------------------------------------------------------- running


@dataclass(frozen=True, eq=False)
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    experiment : Experiment
        The experiment as run.
    out_dir : pathlib.Path
        The output folder.
    results : dict of TrainResult
        Each algorithm's result, by label, in table order.
    rows : list of dict
        The table: one dict per algorithm with the keys of ``TABLE_COLUMNS``.
    files : list of pathlib.Path
        Every file written.
    notes : list of str
        What was skipped and why (a missing optional extra, an interrupted run).
    interrupted : bool
        True if Ctrl-C stopped a run; the later algorithms were not run.
    """

    experiment: Experiment
    out_dir: Path
    results: dict[str, TrainResult]
    rows: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False

    def table(self) -> str:
        """Return the table as aligned text (what ``pulsetrain run`` prints).

        Returns
        -------
        str
            One header line and one line per algorithm.
        """
        return format_table(self.rows, replicas=self.experiment.replicas)


def summary_row(label: str, result: TrainResult, experiment: Experiment) -> dict[str, Any]:
    """Return the table row of one run (the numbers of :meth:`TrainResult.summary`).

    Parameters
    ----------
    label : str
        The algorithm's label.
    result : TrainResult
        Its result.
    experiment : Experiment
        The experiment (for steps, replicas and seed).

    Returns
    -------
    dict
        The keys of ``TABLE_COLUMNS``; ``sp_error_mean`` is None where it does not apply.
    """
    s = result.summary()
    pulses = {f"pulses_{p}": float(s.get(f"pulses_{p}", 0.0)) for p in PHASES}
    sp = None if result.sp_error is None else float(result.sp_error.mean())
    return {
        "label": label,
        "algorithm": str(result.config["algorithm"]["kind"]),
        "steps": int(result.steps),
        "replicas": int(result.replicas),
        "seed": int(experiment.seed),
        "error_mean": s["error_mean"],
        "error_std": s["error_std"],
        "loss_mean": s["loss_mean"],
        "loss_std": s["loss_std"],
        **pulses,
        "pulses_total": float(sum(pulses.values())),
        "sp_error_mean": sp,
        "wall_time": float(result.wall_time),
    }


def format_table(rows: Sequence[Mapping[str, Any]], *, replicas: int) -> str:
    """Format table rows as aligned text.

    Parameters
    ----------
    rows : sequence of dict
        Rows as made by :func:`summary_row`.
    replicas : int
        Replicas, for the header.

    Returns
    -------
    str
        The table, without a trailing newline.
    """
    width = max([len("algorithm"), *(len(str(r["label"])) for r in rows)])
    head = (
        f"{'algorithm':<{width}}  {f'final error (mean ± std, {replicas} seeds)':>34}  "
        f"{'final loss':>10}  {'update':>9}  {'transfer':>9}  {'calibration':>11}  "
        f"{'SP error':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        err = f"{r['error_mean']:.3e} ± {r['error_std']:.2e}"
        sp = "-" if r["sp_error_mean"] is None else f"{r['sp_error_mean']:.3g}"
        lines.append(
            f"{r['label']:<{width}}  {err:>34}  {r['loss_mean']:>10.3e}  "
            f"{r['pulses_update']:>9.3g}  {r['pulses_transfer']:>9.3g}  "
            f"{r['pulses_calibration']:>11.3g}  {sp:>8}"
        )
    return "\n".join(lines)


def _write_csv_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(TABLE_COLUMNS)
        for r in rows:
            cells = []
            for c in TABLE_COLUMNS:
                v = r[c]
                cells.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
            writer.writerow(cells)


def _write_parquet(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def kind(c: str) -> Any:
        if c in ("label", "algorithm"):
            return pa.string()
        return pa.int64() if c in ("steps", "replicas", "seed") else pa.float64()

    schema = pa.schema([(c, kind(c)) for c in TABLE_COLUMNS])
    columns = {c: [r[c] for r in rows] for c in TABLE_COLUMNS}
    pq.write_table(pa.table(columns, schema=schema), path)


def _require(module: str, extra: str, what: str) -> ModuleType:
    """Import an optional dependency, or raise :class:`MissingExtraError` naming its extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(extra, module, what) from None


def run_experiment(
    experiment: Experiment,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    log: TextIO | None = None,
    figure: bool = True,
    checkpoint: str | Path | None = None,
) -> ExperimentResult:
    """Run every algorithm of ``experiment`` and write the table, results, config and figure.

    Parameters
    ----------
    experiment : Experiment
        What to run.
    out_dir : str or pathlib.Path
        Output folder (created with its parents; files in it are overwritten).
    progress : bool or None, optional
        Progress on stderr: a line per algorithm and tqdm bars (as in :func:`pulsetrain.run`).
        False is silent; None (default) shows bars only when tqdm is installed.
    log : TextIO or None, optional
        Where the progress lines go; None uses ``sys.stderr``.
    figure : bool, optional
        Draw ``figure.png`` and ``figure.pdf`` (needs the ``plot`` extra; if matplotlib is
        missing the figure is skipped with a note).
    checkpoint : str, pathlib.Path or None, optional
        A folder for one checkpoint per algorithm, ``<slug(label)>.ckpt``, written every
        ``max(1, steps // 20)`` steps, on Ctrl-C and at the end; rerunning with the same folder
        resumes each run where it stopped (see :func:`pulsetrain.run`).

    Returns
    -------
    ExperimentResult
        The results, the table rows, the files written and notes on anything skipped.

    Raises
    ------
    ParameterError
        If ``experiment`` is not an :class:`Experiment`.
    OSError
        If the folder or a file cannot be written.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     res = run_experiment(Experiment.example(), d, progress=False, figure=False)
    ...     sorted(p.name for p in res.files)[:2]
    ['analog-sgd.json', 'analog-sgd.npz']
    """
    if not isinstance(experiment, Experiment):
        raise parameter_error("experiment", "run_experiment", "an Experiment", experiment)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stream = sys.stderr if log is None else log
    files: list[Path] = []
    notes: list[str] = []

    config_path = out / "config.toml"
    config_path.write_text(dumps_toml(experiment), encoding="utf-8")
    files.append(config_path)

    results: dict[str, TrainResult] = {}
    rows: list[dict[str, Any]] = []
    interrupted = False
    n = len(experiment.algorithms)
    for i, entry in enumerate(experiment.algorithms, start=1):
        if progress is not False:
            print(f"[{i}/{n}] {entry.label}", file=stream, flush=True)
        t0 = time.perf_counter()
        ckpt = None if checkpoint is None else Path(checkpoint) / f"{slug(entry.label)}.ckpt"
        res = train(
            experiment.problem,
            entry.algorithm,
            steps=experiment.steps,
            replicas=experiment.replicas,
            rng=experiment.seed,
            n_threads=experiment.n_threads,
            record_every=experiment.record_every,
            progress=progress,
            checkpoint=ckpt,
            checkpoint_every=None if ckpt is None else max(1, experiment.steps // 20),
        )
        if progress is not False:
            print(f"      {entry.label}: {time.perf_counter() - t0:.1f} s", file=stream, flush=True)
        results[entry.label] = res
        rows.append(summary_row(entry.label, res, experiment))
        files.extend(res.save(out / "runs" / slug(entry.label), overwrite=True))
        if res.interrupted:
            interrupted = True
            notes.append(
                f"interrupted during {entry.label!r} at step {res.steps}; "
                "the algorithms after it were not run"
            )
            break

    csv_path = out / "table.csv"
    _write_csv_rows(csv_path, rows)
    files.append(csv_path)
    try:
        _require("pyarrow", "sweep", "table.parquet")
    except MissingExtraError as exc:
        notes.append(
            f"table.parquet not written: {exc.package} is not installed "
            f"(pip install 'pulsetrain[{exc.extra}]')"
        )
    else:
        parquet_path = out / "table.parquet"
        _write_parquet(parquet_path, rows)
        files.append(parquet_path)

    if figure:
        try:
            _require("matplotlib", "plot", "figure.png/figure.pdf")
        except MissingExtraError as exc:
            notes.append(
                f"figure.png/figure.pdf not drawn: {exc.package} is not installed "
                f"(pip install 'pulsetrain[{exc.extra}]')"
            )
        else:
            from pulsetrain import plots

            fig = plots.plot_experiment(results, title=_figure_title(experiment))
            for suffix in (".png", ".pdf"):
                path = out / f"figure{suffix}"
                fig.savefig(path, dpi=150)
                files.append(path)
    return ExperimentResult(
        experiment=experiment,
        out_dir=out,
        results=results,
        rows=rows,
        files=files,
        notes=notes,
        interrupted=interrupted,
    )


def _figure_title(experiment: Experiment) -> str:
    problem = experiment.problem
    desc = type(problem).__name__
    out_size, in_size = getattr(problem, "out_size", None), getattr(problem, "in_size", None)
    if isinstance(out_size, int) and isinstance(in_size, int):
        desc += f" {out_size}×{in_size}"
    devices = [getattr(e.algorithm, "device", None) for e in experiment.algorithms]
    analog = [d for d in devices if isinstance(d, Device)]
    if analog and all(d == analog[0] for d in analog):
        desc += f", {type(analog[0].response).__name__} device"
        sp = analog[0].symmetric_point()
        if math.isfinite(sp):
            desc += f" with SP {sp:.3g}"
    return (
        f"{experiment.name}: {desc}; {experiment.steps} steps, "
        f"mean ± std over {experiment.replicas} seeds"
    )
