"""One training step of each algorithm on a 512×512 least-squares problem.

    python benches/bench_train.py

For every algorithm: steps per second with the Rust core against the same algorithm with every
tile on the NumPy twin (``backend="twin"``, same seed, same numbers), and the share of the
step spent inside kernel calls (time inside ``_core.Tile`` methods ÷ step time; issue 4's target
is ≥ 80%). Medians of 7 steps after a warm-up (the twin: 3 steps; it is slow). One thread.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from _common import require_release, write_section

import pulsetrain as pt
from pulsetrain.algorithms import (
    ERIDER,
    RIDER,
    AnalogSGD,
    ResidualLearning,
    ResidualLearningV2,
    TikiTaka,
    TwoStage,
)
from pulsetrain.problems import LeastSquares

N = 512
DEVICE = pt.Device(
    response=pt.SoftBounds(),
    dw_min=1e-3,
    dw_min_std=0.3,
    dw_min_dtod=0.3,
    w_max_dtod=0.3,
    w_min_dtod=0.3,
)
PROBLEM = LeastSquares(in_size=N, out_size=N, n_samples=200, batch_size=10, noise_std=0.0)
ALGOS: dict[str, pt.algorithms.Algorithm] = {
    "Analog SGD": AnalogSGD(device=DEVICE, lr=0.01),
    "Tiki-Taka": TikiTaka(device=DEVICE, lr=0.01, lr_transfer=0.01, columns_per_transfer=1),
    "Residual learning": ResidualLearning(
        device=DEVICE, lr=0.01, lr_transfer=0.01, columns_per_transfer=1
    ),
    "RLv2": ResidualLearningV2(device=DEVICE, lr=0.01, lr_transfer=0.1, buffer_decay=0.1),
    "ZS + RL": TwoStage(
        device=DEVICE, lr=0.01, lr_transfer=0.01, columns_per_transfer=1, zs_pulses=10
    ),
    "RIDER": RIDER(device=DEVICE, lr=0.01, lr_transfer=0.01, ema_rate=0.01),
    "E-RIDER": ERIDER(device=DEVICE, lr=0.01, lr_transfer=0.01, ema_rate=0.01),
}


class Timed:
    """Wraps a tile implementation and adds up the wall time spent in its methods."""

    def __init__(self, inner: Any, clock: list[float]) -> None:
        self._inner = inner
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self._clock[0] += time.perf_counter() - t0

        return timed


def step_times(algo: pt.algorithms.Algorithm, backend: str, repeats: int) -> tuple[float, float]:
    """Median step time and the median share of it inside tile calls."""
    root = np.random.SeedSequence(1)
    inst = PROBLEM.setup(1, root)
    state = inst.start(algo, root, n_threads=1, replica_offset=0, backend=pt.Backend(backend))
    clock = [0.0]
    for tile in state.tiles.values():
        tile._tile = Timed(tile._tile, clock)
    inst.advance(state, 0)  # warm-up
    times, shares = [], []
    for k in range(1, repeats + 1):
        clock[0] = 0.0
        t0 = time.perf_counter()
        inst.advance(state, k)
        dt = time.perf_counter() - t0
        times.append(dt)
        shares.append(clock[0] / dt)
    return statistics.median(times), statistics.median(shares)


def main() -> None:
    require_release()
    rows = []
    for name, algo in ALGOS.items():
        rust, share = step_times(algo, "rust", 7)
        twin, _ = step_times(algo, "twin", 3)
        rows.append(
            (
                f"{name}, 512×512, batch 10",
                f"NumPy twin {1 / twin:.3g} steps/s",
                f"Rust {1 / rust:.3g} steps/s, {100 * share:.0f}% in kernels",
                f"{twin / rust:.0f}×",
            )
        )
        print(rows[-1], flush=True)
    write_section(
        "Training steps: Rust vs NumPy twin, kernel share (issue 4)",
        "python benches/bench_train.py",
        rows,
        "One step = the problem's gradient factors at the algorithm's point + the algorithm's "
        "update (+ transfer/read/tracker work), one thread, SoftBounds with c2c 0.3 and dtod "
        "0.3, stochastic pulse updates (BL 31, management on). 'in kernels' is the time inside "
        "_core.Tile calls divided by the step time (medians over 7 steps); the rest is NumPy "
        "(the least-squares gradient, buffers, trackers) and Python.",
    )


if __name__ == "__main__":
    main()
