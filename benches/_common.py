"""Shared helpers of the benchmarks: timing by median of repeats, machine info, RESULTS rows."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pulsetrain
from pulsetrain import _core

RESULTS = Path(__file__).with_name("RESULTS.md")


def require_release() -> None:
    """Exit with a message unless the extension is a release build."""
    if _core.build_profile != "release":
        sys.exit(
            f"pulsetrain._core is a {_core.build_profile} build; benchmarks need a release build "
            "(pip install . or maturin develop --release)."
        )


def median_time(fn: Callable[[], object], *, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time of `fn` in seconds over `repeats` runs after `warmup` runs."""
    return alternating_medians([fn], repeats=repeats, warmup=warmup)[0]


def alternating_medians(
    fns: Sequence[Callable[[], object]], *, repeats: int = 7, warmup: int = 1
) -> list[float]:
    """Median wall time of each function in seconds; the functions alternate run by run.

    For ratios of two configurations (one thread against two): timed one after the other,
    each block of runs would see a different phase of a shared machine.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) for ts in times]


def machine() -> str:
    """One line describing the machine, Python, NumPy and the package."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        with Path("/proc/cpuinfo").open() as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, pulsetrain {pulsetrain.__version__} "
        f"({_core.build_profile}, rng_scheme {_core.rng_scheme})"
    )


def commit() -> str:
    """The current git commit, or 'unknown'."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def write_section(
    title: str, command: str, rows: list[tuple[str, str, str, str]], notes: str
) -> None:
    """Replace (or append) the section `title` of RESULTS.md with a fresh table."""
    header = "| workload | baseline | candidate | ratio (median of 7) |\n|---|---|---|---|\n"
    body = "".join(f"| {w} | {b} | {c} | {r} |\n" for w, b, c, r in rows)
    section = (
        f"## {title}\n\n"
        f"Machine: {machine()}. Commit: {commit()}. Command: `{command}`.\n\n"
        f"{header}{body}\n{notes.strip()}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    marker = f"## {title}\n"
    if marker in text:
        start = text.index(marker)
        nxt = text.find("\n## ", start + len(marker))
        text = text[:start] + section + ("" if nxt < 0 else text[nxt:])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def package_origin() -> str:
    """Where the pulsetrain under test was imported from, and pip's record if it is that copy.

    The imported module decides (PYTHONPATH can shadow an installed copy), so the directory is
    always given; pip's direct_url.json is added only when it describes the imported copy.
    """
    import json
    from importlib.metadata import PackageNotFoundError, distribution
    from pathlib import Path

    import pulsetrain

    where = Path(pulsetrain.__file__).resolve().parent
    try:
        dist = distribution("pulsetrain")
    except PackageNotFoundError:
        return f"{where} (not installed: a source tree on the path)"
    installed = Path(str(dist.locate_file("pulsetrain"))).resolve()
    if installed != where:
        return f"{where} (a source tree on the path, shadowing the installed copy)"
    raw = dist.read_text("direct_url.json")
    url = str(json.loads(raw).get("url", "an unrecorded source")) if raw else "an index"
    return f"{where} (installed from {url})"
