"""The ``pulsetrain`` command (also ``python -m pulsetrain``).

Subcommands: ``run`` (an experiment from a TOML/JSON config, or the built-in one), ``sweep`` (a
grid of experiments × seeds on a process pool or a Dask cluster, resumable), ``devices``
(list the presets, or show one's response curves and symmetric point), ``fit`` (fit device
models to measured pulse traces) and ``demo``. Results go
to stdout, progress and errors to stderr.

Exit codes: 0 success; 1 failure while working (a file cannot be written, a run was
interrupted, an optional extra is missing for what was asked); 2 usage error, found before any
work: a bad option, or a config file that is missing or invalid (its message names the key path,
the allowed values and the value found).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pulsetrain import __version__
from pulsetrain._validation import parameter_error
from pulsetrain.config import dumps_toml
from pulsetrain.devices import Device
from pulsetrain.devices.presets import PRESETS
from pulsetrain.errors import ParameterError, PulsetrainError
from pulsetrain.experiment import default_experiment, load_experiment, run_experiment, slug
from pulsetrain.tile import AnalogTile

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
DEFAULT_OUT_ROOT = Path("pulsetrain-out")

_EXIT_TEXT = """\
exit codes:
  0  success
  1  failure while working (cannot write, interrupted, missing optional extra)
  2  usage error: a bad option, or a missing or invalid config file (found before any work)
  130  aborted by a second Ctrl-C (the first one stops after the current step: exit 1)
"""

_SWEEP_EXIT_TEXT = """\
exit codes:
  0  every run finished
  1  some runs failed (the count is printed; their errors are in runs/*.error.txt and the
     table), the sweep was interrupted (rerun to resume), or an optional extra is missing
  2  usage error: a bad option, or a missing or invalid sweep file (found before any work)
"""

_SWEEP_DESCRIPTION = """\
Run a sweep: a base experiment (as for 'pulsetrain run'), a grid of dotted keys to value lists
(mode "cross" or "zip"; keys steps, record_every, replicas, problem.FIELD..., algorithm.FIELD...)
and seeds. Each algorithm x grid point x seed (x replica range) is one run, on a local process
pool by default or on Dask with --scheduler/--dask-local. Into the output folder go:
  sweep.toml            the sweep as run
  runs/HASH-rA-B.*      each finished run's TrainResult, named by a hash of its config and its
                        replica range; a rerun skips them (resume after a crash or Ctrl-C)
  runs/*.error.txt      the error of each failed run (it is retried on a rerun)
  table.parquet         one row per run: dotted config columns, final metrics, pulses by
                        phase, provenance, curves as lists (pulsetrain.sweep.load(DIR))
"""

_RUN_DESCRIPTION = """\
Run an experiment: train each of its algorithms on the same problem, with its seeds as
replicas, then write into the output folder:
  config.toml     the experiment exactly as run (pulsetrain run DIR/config.toml reruns it)
  table.csv       one row per algorithm: final error and loss (mean and std over replicas),
                  pulses by phase (update, transfer, calibration), mean SP error
  table.parquet   the same table, when pyarrow is installed (extra 'sweep')
  runs/LABEL.*    each run's TrainResult (.json + .npz; TrainResult.load reads it)
  figure.png/pdf  curves with mean +- std bands, error vs pulses, pulses by phase
                  (when matplotlib is installed, extra 'plot')
Without CONFIG the built-in experiment runs (least squares on a skew-linear device whose
symmetric point is 0.3, ten algorithms, 8 seeds; about 20 s on two cores). Start your own
from 'pulsetrain run --print-config > my.toml'. The last line printed names the output folder.
"""


_FIT_DESCRIPTION = """\
Fit device models to measured pulse traces (pulsetrain.fitting; needs the 'fit' extra, scipy).
TRACES is a CSV with the columns device,pulse,direction,w: one row per pulse per device, w the
state after the pulse (pulse 0, direction 0: the state before the first pulse), direction +1
(up) or -1 (down). With --g-min/--g-max the w column holds conductances, mapped to [-1, 1].
Prints a table (family, AIC, R2, RMSE, reduced chi2, cycle noise, parameters +- standard
error), then the best family's device config (written to --out if given; a 'pulsetrain run'
or 'pulsetrain sweep' config includes that file with  device = {include = "FILE"}  under an
algorithm, FILE relative to the config's folder), and draws --figure (extra 'plot').
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"invalid int value: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="pulsetrain",
        description="Simulate training on analog in-memory computing crossbars.",
        epilog=_EXIT_TEXT,
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"pulsetrain {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run an experiment (the built-in one without CONFIG); write a table and a figure",
        description=_RUN_DESCRIPTION,
        epilog=_EXIT_TEXT,
        formatter_class=fmt,
    )
    run.add_argument(
        "config",
        nargs="?",
        metavar="CONFIG",
        help="experiment config, .toml or .json (default: the built-in experiment)",
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: pulsetrain-out/NAME, numbered if it exists)",
    )
    run.add_argument(
        "--print-config",
        action="store_true",
        help="print the experiment as TOML (after the options below) and exit without running",
    )
    run.add_argument("--threads", type=_positive_int, metavar="N", help="kernel threads")
    run.add_argument("--replicas", type=_positive_int, metavar="N", help="replicas (seeds)")
    run.add_argument("--steps", type=_positive_int, metavar="N", help="training steps")
    run.add_argument(
        "--no-progress", action="store_true", help="no progress lines or bars on stderr"
    )
    run.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="keep a checkpoint per algorithm in DIR (every steps/20 steps, on Ctrl-C, at the "
        "end); rerunning with the same DIR resumes where the runs stopped",
    )

    sweep = sub.add_parser(
        "sweep",
        help="run a grid of experiments x seeds on a process pool or Dask; one Parquet table",
        description=_SWEEP_DESCRIPTION,
        epilog=_SWEEP_EXIT_TEXT,
        formatter_class=fmt,
    )
    sweep.add_argument("file", metavar="FILE", help="sweep config, .toml or .json")
    sweep.add_argument(
        "--out", metavar="DIR", help="output folder (default: pulsetrain-out/NAME; reruns resume)"
    )
    sweep.add_argument(
        "--workers", type=_positive_int, metavar="N", help="local pool processes (default: cores)"
    )
    sweep.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="kernel threads per run (workers x threads <= cores; default: cores / workers)",
    )
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on this Dask scheduler")
    where.add_argument(
        "--dask-local",
        type=_positive_int,
        metavar="N",
        help="run on a Dask LocalCluster of N worker processes",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    devices = sub.add_parser(
        "devices",
        help="list the device presets, or show one's response curves and symmetric point",
        description="List the device presets (each citing its source) or show one.",
        epilog=_EXIT_TEXT,
        formatter_class=fmt,
    )
    dsub = devices.add_subparsers(dest="action", metavar="ACTION")
    dsub.add_parser(
        "list",
        help="list the presets with their symmetric point and source (the default)",
        description="List the presets with their family, symmetric point, states and source.",
    )
    show = dsub.add_parser(
        "show",
        help="print a preset's config and symmetric point and plot q+, q-, F, G",
        description=(
            "Print a preset's config and symmetric point (nominal, and over a 32x32 tile "
            "with its device-to-device spread), and plot q+, q-, F and G with the SP marked "
            "(needs matplotlib, extra 'plot')."
        ),
        epilog=_EXIT_TEXT,
        formatter_class=fmt,
    )
    show.add_argument("name", metavar="NAME", help="preset name (see 'pulsetrain devices list')")
    show.add_argument(
        "--out", metavar="FILE", help="figure file, .png/.pdf/.svg (default: device-NAME.png)"
    )

    fit = sub.add_parser(
        "fit",
        help="fit device models to measured up/down pulse traces; write a device config",
        description=_FIT_DESCRIPTION,
        epilog=_EXIT_TEXT,
        formatter_class=fmt,
    )
    fit.add_argument("traces", metavar="TRACES", help="trace CSV: device,pulse,direction,w")
    fit.add_argument(
        "--family",
        default="all",
        metavar="NAME",
        help="a family (ideal, ald, skew_linear, linear_step, soft_bounds, power, exponential, "
        "power_step, exp_step, piecewise) or 'all' to rank every one by AIC (default)",
    )
    fit.add_argument("--out", metavar="FILE", help="write the best fit's device, .toml or .json")
    fit.add_argument("--figure", metavar="FILE", help="data vs model figure, .png/.pdf/.svg")
    fit.add_argument("--g-min", type=float, metavar="G", help="conductance mapped to w = -1")
    fit.add_argument("--g-max", type=float, metavar="G", help="conductance mapped to w = +1")
    fit.add_argument(
        "--c2c-mode",
        choices=("additive", "multiplicative"),
        help="cycle-to-cycle noise model (default: chosen by likelihood)",
    )
    fit.add_argument(
        "--nodes", type=_positive_int, default=9, metavar="N", help="piecewise nodes (default 9)"
    )

    demo = sub.add_parser(
        "demo",
        help="Analog SGD vs digital SGD on the scalar toy, in every update mode",
        description="Analog SGD vs digital SGD on the scalar toy, in every update mode.",
    )
    demo.add_argument("--steps", type=int, default=4000, help="gradient steps (default 4000)")
    demo.add_argument("--replicas", type=int, default=256, help="replicas (default 256)")
    return p


def _error(command: str, message: str, code: int, err: TextIO) -> int:
    print(f"pulsetrain {command}: error: {message}", file=err)
    return code


def _default_out(name: str) -> Path:
    base = DEFAULT_OUT_ROOT / slug(name)
    candidate, k = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        k += 1
        candidate = base.with_name(f"{base.name}-{k}")
    return candidate


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        exp = default_experiment() if args.config is None else load_experiment(args.config)
        overrides = {
            k: v
            for k, v in (
                ("n_threads", args.threads),
                ("replicas", args.replicas),
                ("steps", args.steps),
            )
            if v is not None
        }
        if overrides:
            exp = dataclasses.replace(exp, **overrides)
    except ParameterError as exc:
        return _error("run", str(exc), EXIT_USAGE, err)
    if args.print_config:
        out.write(dumps_toml(exp))
        return EXIT_OK

    out_dir = Path(args.out) if args.out is not None else _default_out(exp.name)
    progress = False if args.no_progress else None
    if progress is None:
        print(
            f"pulsetrain run: {exp.name}: {len(exp.algorithms)} algorithms, {exp.replicas} "
            f"replicas, {exp.steps} steps -> {out_dir}",
            file=err,
            flush=True,
        )
    try:
        result = run_experiment(
            exp, out_dir, progress=progress, log=err, checkpoint=args.checkpoint
        )
    except OSError as exc:
        return _error("run", f"cannot write the results: {exc}", EXIT_FAILURE, err)
    except PulsetrainError as exc:
        return _error("run", str(exc), EXIT_FAILURE, err)
    print(result.table(), file=out)
    print("", file=out)
    names = sorted({p.name for p in result.files if p.parent == out_dir})
    n_runs = sum(1 for p in result.files if p.parent.name == "runs" and p.suffix == ".json")
    print(f"Wrote {', '.join(names)} and runs/ ({n_runs} results, .json + .npz).", file=out)
    for note in result.notes:
        print(f"Note: {note}.", file=out)
    print(f"Results in {out_dir}", file=out)
    if result.interrupted:
        return EXIT_FAILURE
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pulsetrain.errors import MissingExtraError
    from pulsetrain.sweep import load_sweep, run_sweep

    try:
        sweep = load_sweep(args.file)
        out_dir = Path(args.out) if args.out is not None else DEFAULT_OUT_ROOT / slug(sweep.name)
        result = run_sweep(
            sweep,
            out_dir,
            workers=args.workers,
            threads=args.threads,
            scheduler=args.scheduler,
            dask_local=args.dask_local,
            progress=False if args.no_progress else None,
            log=err,
        )
    except ParameterError as exc:
        return _error("sweep", str(exc), EXIT_USAGE, err)
    except MissingExtraError as exc:
        return _error("sweep", str(exc), EXIT_FAILURE, err)
    except OSError as exc:
        return _error("sweep", f"cannot write the results: {exc}", EXIT_FAILURE, err)
    n_runs = len({c.name for c in result.cells})
    print(
        f"{n_runs} runs: {len(result.computed)} computed, {len(result.skipped)} already done, "
        f"{len(result.failed)} failed",
        file=out,
    )
    for name, text in result.failed.items():
        last = text.strip().splitlines()[-1] if text.strip() else "?"
        print(f"  failed {name}: {last}", file=out)
    if result.table_path is not None:
        print(f"Table in {result.table_path}", file=out)
    else:
        print("table.parquet not written: pyarrow is not installed (extra 'sweep')", file=out)
    print(f"Results in {out_dir}", file=out)
    if result.interrupted:
        print("Interrupted: rerun the same command to finish the sweep.", file=out)
        return EXIT_FAILURE
    return EXIT_FAILURE if result.failed else EXIT_OK


def _readout_sp(device: Device) -> float:
    """Nominal read-out SP: the physical SP minus the nominal reference (theory.md §2.4)."""
    sp = device.symmetric_point()
    if not math.isfinite(sp):
        return sp
    return sp - device.reference_mean - (sp if device.subtract_symmetry_point else 0.0)


def _cmd_devices_list(out: TextIO) -> int:
    rows = []
    for name, preset in PRESETS.items():
        dev = preset.build()
        sp = dev.symmetric_point()
        rows.append(
            (
                name,
                type(dev.response).__name__,
                "any" if not math.isfinite(sp) else f"{sp:.4g}",
                f"{dev.n_states:.4g}",
                preset.source,
            )
        )
    head = ("name", "family", "SP", "states", "source")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head[:-1])]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(head[:-1], widths, strict=True))
    print(f"{line}  {head[-1]}", file=out)
    for r in rows:
        cells = "  ".join(f"{c:<{w}}" for c, w in zip(r[:-1], widths, strict=True))
        print(f"{cells}  {r[-1]}", file=out)
    print("", file=out)
    print(
        "SP: nominal symmetric point of the physical state. "
        "Details and plot: pulsetrain devices show NAME",
        file=out,
    )
    return EXIT_OK


def _cmd_devices_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    preset = PRESETS.get(args.name)
    if preset is None:
        allowed = "one of " + ", ".join(repr(k) for k in PRESETS)
        msg = str(parameter_error("NAME", "pulsetrain devices show", allowed, args.name))
        return _error("devices show", msg, EXIT_USAGE, err)
    path = Path(args.out) if args.out is not None else Path(f"device-{args.name}.png")
    if path.suffix.lower() not in (".png", ".pdf", ".svg"):
        allowed = "a .png, .pdf or .svg file"
        msg = str(parameter_error("--out", "pulsetrain devices show", allowed, str(path)))
        return _error("devices show", msg, EXIT_USAGE, err)
    device = preset.build()
    print(f"# {args.name}: {preset.source}", file=out)
    print(f"# pulsetrain.presets.{preset.build.__name__}()", file=out)
    out.write(dumps_toml(device))
    print("", file=out)
    sp = device.symmetric_point()
    if math.isfinite(sp):
        print(f"symmetric point (nominal, physical state): {sp:.6g}", file=out)
        readout = _readout_sp(device)
        print(
            f"symmetric point (nominal, read-out = physical - reference): {readout:.6g}", file=out
        )
        tile = AnalogTile(32, 32, device, rng=0, n_threads=1)
        sps = tile.symmetric_points.ravel()
        print(
            f"symmetric point (read-out, 32x32 tile, seed 0): mean {sps.mean():.4g}, "
            f"std {sps.std():.4g}, range [{sps.min():.4g}, {sps.max():.4g}]",
            file=out,
        )
    else:
        print("symmetric point: every point (G = 0 everywhere)", file=out)
    print(f"states: {device.n_states:.6g} (range / dw_min)", file=out)

    from pulsetrain.errors import MissingExtraError
    from pulsetrain.plots import plot_device

    try:
        fig = plot_device(device, title=f"{args.name}: {preset.source}")
    except MissingExtraError as exc:
        return _error("devices show", str(exc), EXIT_FAILURE, err)
    try:
        if path.parent != Path():
            path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    except OSError as exc:
        return _error("devices show", f"cannot write the figure: {exc}", EXIT_FAILURE, err)
    print(f"Figure in {path}", file=out)
    return EXIT_OK


def _cmd_fit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pulsetrain.errors import MissingExtraError
    from pulsetrain.fitting import FAMILIES, fit, fit_all, format_table, load_traces, plot_fit

    owner = "pulsetrain fit"
    if args.family != "all" and args.family not in FAMILIES:
        allowed = "'all' or one of " + ", ".join(repr(k) for k in FAMILIES)
        return _error("fit", str(parameter_error("--family", owner, allowed, args.family)), 2, err)
    if args.out is not None and Path(args.out).suffix.lower() not in (".toml", ".json"):
        msg = str(parameter_error("--out", owner, "a .toml or .json file", args.out))
        return _error("fit", msg, EXIT_USAGE, err)
    if args.figure is not None and Path(args.figure).suffix.lower() not in (".png", ".pdf", ".svg"):
        msg = str(parameter_error("--figure", owner, "a .png, .pdf or .svg file", args.figure))
        return _error("fit", msg, EXIT_USAGE, err)
    try:
        traces = load_traces(args.traces, g_min=args.g_min, g_max=args.g_max)
    except PulsetrainError as exc:
        return _error("fit", str(exc), EXIT_USAGE, err)
    print(
        f"pulsetrain fit: {traces.n_devices} devices, {traces.n_pulses} steps, "
        f"family {args.family}",
        file=err,
        flush=True,
    )
    try:
        if args.family == "all":
            results = fit_all(traces, c2c_mode=args.c2c_mode, n_nodes=args.nodes)
        else:
            results = [fit(traces, args.family, c2c_mode=args.c2c_mode, n_nodes=args.nodes)]
    except MissingExtraError as exc:
        return _error("fit", str(exc), EXIT_FAILURE, err)
    except PulsetrainError as exc:
        return _error("fit", str(exc), EXIT_FAILURE, err)
    best = results[0]
    print(format_table(results), file=out)
    print("", file=out)
    print(f"# best: {best.family} ({best.c2c_mode.value} cycle noise)", file=out)
    out.write(dumps_toml(best.device()))
    code = EXIT_OK
    if args.out is not None:
        try:
            path = best.save(args.out)
        except OSError as exc:
            return _error("fit", f"cannot write the device: {exc}", EXIT_FAILURE, err)
        print(f"Device config in {path}", file=out)
    if args.figure is not None:
        try:
            fig = plot_fit(traces, results)
        except MissingExtraError as exc:
            return _error("fit", str(exc), EXIT_FAILURE, err)
        path = Path(args.figure)
        try:
            if path.parent != Path():
                path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=150)
        except OSError as exc:
            return _error("fit", f"cannot write the figure: {exc}", EXIT_FAILURE, err)
        print(f"Figure in {path}", file=out)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str or None, optional
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        Exit code: 0 on success, 1 for a failure while working, 2 for usage errors (including a
        missing or invalid config, found before any work).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out, err = sys.stdout, sys.stderr
    try:
        if args.command == "run":
            return _cmd_run(args, out, err)
        if args.command == "sweep":
            return _cmd_sweep(args, out, err)
        if args.command == "devices":
            if args.action == "show":
                return _cmd_devices_show(args, out, err)
            return _cmd_devices_list(out)
        if args.command == "fit":
            return _cmd_fit(args, out, err)
        if args.command == "demo":
            from pulsetrain.demo import main as demo_main

            try:
                return demo_main(out, steps=args.steps, replicas=args.replicas)
            except ParameterError as exc:
                return _error("demo", str(exc), EXIT_USAGE, err)
    except KeyboardInterrupt:
        print("pulsetrain: interrupted", file=err)
        return 130
    parser.print_help(err)
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
