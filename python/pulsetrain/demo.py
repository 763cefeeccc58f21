"""The built-in demonstration: Analog SGD drifts towards the symmetric point.

On the scalar toy of shared/theory.md §5 (f = ½(w − 0.5)², gradient noise σ = 0.5, an ALD device
with τ = 1 and its symmetric point at 0), digital SGD settles at the optimum 0.5, while Analog SGD
settles near the root 0.3531 of E[g]F(w) + E|g|G(w) = 0 (theory.md §4.2, check C18), in every
update mode. Replicas run as one tile, so the whole table takes a few seconds.
"""

from __future__ import annotations

import math
import sys
from typing import TextIO

import numpy as np

from pulsetrain._validation import Integral, Interval, validate_args
from pulsetrain.devices import ALD, Device
from pulsetrain.rng import as_seed_sequence, replica_generator
from pulsetrain.tile import AnalogTile, UpdateMode
from pulsetrain.updates import ExpectedUpdate, PulseCountUpdate, Rounding, StochasticPulseUpdate

__all__ = ["analog_sgd_toy", "main"]

TARGET = 0.5
SIGMA = 0.5
ROOT = 0.353098  # theory.md §4.2, exact mean fixed point of Analog SGD on this toy
# Bounds that keep the demo's loop and arrays finite (a step is a Python iteration).
_STEPS = Integral(2, 10_000_000)
_REPLICAS = Integral(2, 1 << 22)


@validate_args(steps=_STEPS, replicas=_REPLICAS, lr=Interval(0.0, None, closed="neither"))
def analog_sgd_toy(
    update: UpdateMode | None,
    *,
    steps: int = 4000,
    replicas: int = 256,
    lr: float = 0.05,
    rng: int = 0,
    n_threads: int | None = None,
) -> tuple[float, float, float]:
    """Run Analog SGD (or digital SGD when `update` is None) on the scalar toy.

    Parameters
    ----------
    update : ExpectedUpdate, PulseCountUpdate, StochasticPulseUpdate or None
        The tile's update mode; None runs digital SGD in NumPy.
    steps : int, optional
        Gradient steps, at least 2.
    replicas : int, optional
        Independent copies, at least 2.
    lr : float, optional
        Learning rate, positive.
    rng : int, optional
        Seed.
    n_threads : int or None, optional
        Kernel threads.

    Returns
    -------
    tuple of float
        (mean weight averaged over the second half, its standard error over replicas,
        pulses per replica and step).

    Examples
    --------
    >>> w, se, _ = analog_sgd_toy(None, steps=200, replicas=16)
    >>> abs(w - 0.5) < 0.1
    True
    """
    root = as_seed_sequence(rng)
    noise = replica_generator(root, 1, 0)
    device = Device(response=ALD(tau=1.0), dw_min=1e-3)
    tile = None
    w = np.zeros(replicas)
    if update is not None:
        tile = AnalogTile(
            1, 1, device, replicas=replicas, update=update, rng=root, n_threads=n_threads
        )
    acc = np.zeros(replicas)
    half = steps // 2
    for k in range(steps):
        g = (w - TARGET) + SIGMA * noise.standard_normal(replicas)
        if tile is None:
            w = w - lr * g
        else:
            if isinstance(update, StochasticPulseUpdate):
                tile.update(np.ones((replicas, 1, 1)), g.reshape(replicas, 1, 1), lr=lr)
            else:
                tile.apply_delta((-lr * g).reshape(replicas, 1, 1))
            w = tile.weights.reshape(replicas)
        if k >= half:
            acc += w
    per_copy = acc / (steps - half)
    pulses = 0.0 if tile is None else float(tile.pulse_counts().sum()) / (replicas * steps)
    se = float(per_copy.std(ddof=1) / math.sqrt(replicas))
    return float(per_copy.mean()), se, pulses


@validate_args(steps=_STEPS, replicas=_REPLICAS)
def main(out: TextIO = sys.stdout, *, steps: int = 4000, replicas: int = 256) -> int:
    """Print the demonstration table.

    Parameters
    ----------
    out : TextIO, optional
        Where the table goes.
    steps : int, optional
        Gradient steps per run.
    replicas : int, optional
        Replicas per run.

    Returns
    -------
    int
        The exit code, 0.

    Raises
    ------
    ParameterError
        ``steps`` or ``replicas`` out of range.
    """
    rows: list[tuple[str, UpdateMode | None]] = [
        ("digital SGD", None),
        ("analog SGD, expected", ExpectedUpdate()),
        ("analog SGD, pulse count", PulseCountUpdate(max_bl=64, rounding=Rounding.STOCHASTIC)),
        ("analog SGD, stochastic pulses", StochasticPulseUpdate()),
    ]
    print("Scalar toy: f = (w - 0.5)^2 / 2, sigma = 0.5, ALD tau = 1, SP = 0, lr = 0.05", file=out)
    print(f"{'algorithm':32s} {'mean w':>8s} {'+-SE':>8s} {'pulses/step':>12s}", file=out)
    for name, mode in rows:
        w, se, pulses = analog_sgd_toy(mode, steps=steps, replicas=replicas)
        print(f"{name:32s} {w:8.4f} {se:8.4f} {pulses:12.2f}", file=out)
    print(
        f"optimum 0.5; Analog SGD's predicted fixed point {ROOT} (shared/theory.md C18)", file=out
    )
    return 0
