"""Shared bits of the example scripts: output folder, table printing, optional matplotlib."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def out_dir() -> Path:
    """Return (and create) the folder the examples write their figures into."""
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


def print_table(header: list[str], rows: list[list[Any]]) -> None:
    """Print a plain aligned table."""
    cells = [[str(c) for c in header]] + [
        [f"{c:.6g}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * w for w in widths))


def pyplot() -> Any:
    """Return matplotlib.pyplot (Agg backend), or exit with a message naming the extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("This example draws a figure: pip install 'pulsetrain[plot]' (matplotlib).")
    return plt
