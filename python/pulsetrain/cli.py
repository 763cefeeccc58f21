"""The ``pulsetrain`` command (also ``python -m pulsetrain``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pulsetrain import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pulsetrain",
        description="Simulate training on analog in-memory computing crossbars.",
    )
    p.add_argument("--version", action="version", version=f"pulsetrain {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="Analog SGD vs digital SGD on the scalar toy, in every update mode."
    )
    demo.add_argument("--steps", type=int, default=4000, help="gradient steps (default 4000)")
    demo.add_argument("--replicas", type=int, default=256, help="replicas (default 256)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str or None, optional
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        Exit code: 0 on success, 2 for usage errors.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        from pulsetrain.demo import main as demo_main

        steps = getattr(args, "steps", 4000)
        replicas = getattr(args, "replicas", 256)
        if steps < 2 or replicas < 2:
            parser.error("--steps and --replicas must be at least 2")
        return demo_main(sys.stdout, steps=steps, replicas=replicas)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover - argparse exits first
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
