"""P4's few-state trend on least squares: multi-tile (1 to 6 tiles) against TT-v1, TT-v2 and MP.

    python examples/p4_few_states.py [--quick] [--replicas 6] [--steps 4000] [--long 16000]

The default run takes ≈ 5 min on one core of a busy 2-core machine, ``--quick`` (4 replicas ×
1000 steps, lr grid of 2) ≈ 1 min, ``--long 16000`` (the horizon table below) ≈ 6 min.

Problem: least squares W ∈ R^{10×20}, A ~ N(0, 1) with 100 rows, W* ~ N(0, 0.3²), mini-batches
of 10 rows, injected gradient noise of std 0.1 per element (P4's Cor. 1 needs σ > 0: without it
every per-sample gradient vanishes at W*). W starts at 0, so ‖W*‖² (expected 200·0.09 = 18; 16.8
for these seeds) is the "do nothing" level (dotted in the figure). Each replica is a seed: its own
A, W*, noise and pulses; the same seed gives every method the same problems.

Devices: P4's few-state family (``pt.presets.p4_few_state``; theory.md §2.2): soft bounds on
[−1, 1] with Δw_min = 2/n_states, n_states ∈ {4, 10, 16} (Δw_min 0.5, 0.2, 0.125), the same device
for every tile of every method (theory.md §6.11). Stochastic pulse updates (aihwkit defaults,
desired_bl 31) for the gradient and for every transfer write; perfect reads.

Methods, all with the same number of steps and an lr grid (below):

* TT-v1 (``TikiTaka``, gamma_mix 0) and TT-v2 (``TTv2``, aihwkit defaults: momentum 0.1,
  threshold 1, forget_buffer): 1 column every 3 steps, lr_transfer 0.36 (the 2-tile rate below).
* MP (``MixedPrecision``): digital χ, every row each step, exact pulse counts.
* Multi-tile, 1..6 tiles (``MultiTile.from_aihwkit``; 1 tile is Analog SGD, 2 is RL), P4's
  CIFAR conventions (theory.md §3.13): gamma_vec[i] = γ^{N−i}, transfer_every_vec[i] = 3·2^i steps
  with 1 column per event, transfer_lr_vec[i] = 0.3·1.2^{N−i} ("paper rates"). γ follows P4's rule
  γ ≈ 1/n_states, slightly larger: γ = min(0.5, 1.6/n_states) = 0.4, 0.16, 0.1 (0.1 at 16 states is
  P4's CIFAR-16 and least-squares value).
* The same multi-tile with every transfer rate ×0.1 ("damped", 0.03·1.2^{N−i}): the setting shown
  next to the paper rates, because the open-loop cascade misbehaves at those (see results).
  P4's theory schedule (``schedule="theory"``, T_N = ⌈γ^{−N}⌉, T_n = ⌈1/γ⌉) is not used: at 4
  states and 6 tiles its slowest period is 7938 steps, so within this budget tile 0 never receives
  a transfer and the comparison would measure the schedule's start-up, not its level.

lr grid: {0.01, 0.03, 0.1} (``--quick``: {0.03, 0.1}) for every method, the same for all. Per
state count and method the lr with the lowest mean final loss is kept (selected on the same
replicas that are reported, so every row is equally optimistic). Reported per row: final
‖W̄ − W*‖² and loss f(W̄), mean ± SE over replicas (SE = std/√R), and the pulses per weight
(per element of W*, summed over all tiles) by phase; no method has a calibration phase.

Measured (default run: 6 replicas × 4000 steps, seed 0; bit-identical on a rerun). Final
‖W̄ − W*‖², mean ± SE; the start ‖W*‖² is 16.8 (the problems are the same for every method):

  states  TT-v1        TT-v2        MP           multi-tile, P4 rates, 1..6 tiles
  4       35.3 ± 1.3   23.4 ± 0.7   12.5 ± 0.6   47.8, 33.6, 39.9, 51.7, 50.7, 32.7  (SE ≤ 2.5)
  10      7.60 ± 0.18  3.33 ± 0.12  0.94 ± 0.04  13.7, 5.42, 9.07, 24.8, 34.2, 15.8  (SE ≤ 0.94)
  16      3.81 ± 0.16  1.45 ± 0.06  0.39 ± 0.03  8.11, 2.69, 5.34, 25.2, 35.4, 16.0  (SE ≤ 1.2)

  states  multi-tile, rates ×0.1, 2..6 tiles (1 tile is Analog SGD, as above)
  4       30.0 ± 0.9, 31.1 ± 2.2, 20.4 ± 1.2, 13.3 ± 0.9, 11.8 ± 0.4
  10      2.88 ± 0.14, 6.38 ± 0.36, 9.75 ± 0.28, 13.7 ± 0.5, 16.2 ± 0.4
  16      1.20 ± 0.06, 3.94 ± 0.29, 9.02 ± 0.47, 14.7 ± 0.4, 16.8 ± 0.4

What P4 claims (theory.md §4.8, §5 H9/H10): the multi-tile gap lim sup E‖W* − W̄‖² ≤
Θ(γ^{2N/3}(σΔw_min)^{2/3}) (Cor. 1) shrinks geometrically with the tile count, and in P4's
networks TT-v1 ≪ TT-v2 < multi-tile (3 → 6 tiles rising) ≈ MP at 4 and 16 states (theory.md §3.15:
with lr_transfer = Θ(γ²), T_n ≥ Θ(1/γ), T_N ≥ Θ(γ^{−N}) and t = O(γ^{−2N}k) steps).

Which orderings hold here:

* TT-v1 > TT-v2 > MP at every state count, each gap many SE: P4's order of the baselines holds. MP
  is the best row everywhere; only 5 and 6 damped tiles at 4 states match it (13.3 ± 0.9, 11.8 ± 0.4
  vs 12.5 ± 0.6).
* P4 rates: the error does NOT fall with the tile count. 2 tiles (RL) are best at every state count
  (tied with 6 at 4 states); from 2 to 5 tiles the error rises (at 10 and 16 states 4 and 5 tiles
  end above the start, worse than not training; at 4 states all of them do, as do TT-v1 and TT-v2),
  and 6 tiles are lower again only because their slow tiles have hardly moved yet. The error curves
  of 4 to 6 tiles (figure, bottom row) first fall and then climb: the open-loop cascade of
  integrators drifts away, as the C24 toy shows (docs/FINDINGS.md §6). In the linear,
  unbounded, noise-free model of 3 tiles (gradient tile rate a = lr·h for a Hessian eigenvalue h,
  transfer rates per column b_n = lr_transfer_n/(T_n·n_columns)) the characteristic polynomial
  is s³ + aγ²s² + aγb₁s + ab₀b₁ (derived), Hurwitz iff b₀ < aγ³: at 16 states
  b₀ = 0.36/(6·20) = 3.6e−3 against aγ³ ≈ 1e−4 for h ≈ 1, so the paper rates are far outside it.
* Rates ×0.1 at 4000 steps: at 4 states the error falls with the tile count from 3 to 6 tiles
  (31.1 → 20.4 → 13.3 → 11.8; each step > 4 SE except 5 → 6, 1.6 SE) to MP's level, and 2 and 3
  tiles tie. At 10 and 16 states it rises from 2 tiles on toward the start level, and 2 damped
  tiles beat TT-v2 (2.88 ± 0.14 vs 3.33 ± 0.12; 1.20 ± 0.06 vs 1.45 ± 0.06).
* That 4-state fall is a moment of a transient, not a level. ``--long 16000`` (both series at lr
  0.1, 4 replicas, mean ‖W̄ − W*‖²; start 16.8) shows which rows are stationary:

  states tiles   P4 rates at 2k / 4k / 8k / 16k steps   rates ×0.1 at 2k / 4k / 8k / 16k
       4     1   49.1 / 48.2 / 58.3 / 50.3            (as P4 rates)
       4     2   35.5 / 34.6 / 30.1 / 36.9            27.9 / 29.6 / 30.5 / 30.5
       4     3   37.3 / 42.2 / 41.4 / 38.8            20.3 / 34.1 / 40.8 / 55.2
       4     4   47.4 / 52.3 / 49.2 / 52.5            12.3 / 22.7 / 38.3 / 61.1
       4     5   38.3 / 51.8 / 49.5 / 58.4            12.7 / 13.7 / 21.9 / 37.8
       4     6   21.8 / 34.4 / 43.8 / 45.9            13.9 / 11.7 / 11.1 / 19.9
      10     1   12.9 / 13.1 / 13.9 / 14.4            (as P4 rates)
      10     2   6.5 / 5.3 / 5.5 / 5.6                4.3 / 2.8 / 2.9 / 3.0
      10     3   8.0 / 9.0 / 7.8 / 9.3                8.2 / 6.2 / 7.2 / 7.5
      10     4   26.1 / 24.6 / 26.8 / 25.8            13.0 / 9.4 / 11.5 / 24.4
      10     5   16.2 / 34.3 / 32.4 / 29.9            15.8 / 13.0 / 9.7 / 16.9
      10     6   9.2 / 15.7 / 29.6 / 25.4             16.5 / 15.8 / 12.9 / 9.5
      16     1   8.1 / 8.0 / 8.2 / 7.5                (as P4 rates)
      16     2   2.8 / 2.8 / 2.8 / 2.5                2.2 / 1.2 / 1.1 / 1.0
      16     3   4.8 / 5.3 / 5.1 / 4.9                7.5 / 3.5 / 4.1 / 4.0
      16     4   24.8 / 25.8 / 25.6 / 26.3            13.9 / 8.3 / 8.8 / 20.3
      16     5   16.5 / 35.9 / 32.2 / 30.8            16.3 / 14.1 / 8.5 / 14.8
      16     6   7.2 / 15.9 / 31.1 / 28.3             16.7 / 16.3 / 13.9 / 8.3

  Stationary (flat from 2000 to 16000 steps): 1 to 3 tiles at 10 and 16 states at both rates, and 2
  tiles at 4 states; these are the stable settings shown. (3 tiles at P4 rates are linearly unstable
  by the condition above; there the soft bounds hold the loop at a level above 2 tiles'.) With ≥ 4
  tiles every setting here drifts: at P4 rates it settles high (≈ 25–30 at 10 and 16 states, bounded
  by the soft bounds); damped, it dips and then climbs, the dip coming later the more tiles (4
  tiles: lowest near step 6000; 5 tiles: near 10000; 6 tiles: still falling at step 16000 at 10 and
  16 states, climbing after step 8000 at 4 states). A timescale-separation argument (derived,
  heuristic: tile N settles at rate aγ^N, tile N−1 then at b_{N−1}/γ, and so on) asks for b_{N−1} ≪
  aγ^{N+1} and b_{n−1} ≪ b_n, i.e. b_{N−1} ≪ 1e−5 at 16 states and 4 tiles: such a cascade cannot
  converge within a few thousand steps, in line with P4's t = O(γ^{−2N}k).
* P4's theory schedule was tried too (a side run, not in this script: 4 states, γ 0.4, lr_transfer
  γ² = 0.16, ``schedule="theory"``, every column per event, lr 0.1 and 0.3, 8000 steps, 4 replicas):
  2 to 4 tiles end at 36–54; 5 tiles reach 10 at step 1000 and climb to 29 as the slow tiles engage;
  6 tiles fall to 8.8 by step 7000 and jump to 14.8 at tile 0's first transfer (step 7938): each
  transfer event into tile 0 writes pulses of Δw_min = 0.5 at full weight (Lemma 3's Δw_min floor).
  It is not stable here either.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import Algorithm, MixedPrecision, MultiTile, TikiTaka, TTv2
from pulsetrain.algorithms.multi_tile import from_aihwkit
from pulsetrain.problems import LeastSquares

FloatArray = npt.NDArray[np.float64]

STATES = (4, 10, 16)
TILES = (1, 2, 3, 4, 5, 6)
LRS = (0.01, 0.03, 0.1)
QUICK_LRS = (0.03, 0.1)
TRANSFER_EVERY_BASE, TRANSFER_LR_BASE, TRANSFER_LR_GROWTH = 3, 0.3, 1.2
DAMPING = 0.1
PROBLEM = LeastSquares(
    in_size=20, out_size=10, n_samples=100, batch_size=10, target_std=0.3, noise_std=0.1
)
BASELINES = ("TT-v1", "TT-v2", "MP")
SERIES = ("MT", "MT damped")
FIGURE = Path(__file__).resolve().parent / "figures" / "p4_few_states.png"


def gamma_for(n_states: int) -> float:
    """P4's rule γ ≈ 1/n_states, slightly larger: min(0.5, 1.6/n_states)."""
    return min(0.5, 1.6 / n_states)


def method_name(series: str, n_tiles: int) -> str:
    return f"{series} {n_tiles}"


def multi_tile(n_states: int, n_tiles: int, lr: float, damping: float = 1.0) -> MultiTile:
    """P4's aihwkit vectors (CIFAR conventions) for ``n_tiles`` tiles; transfer rates × damping."""
    dev = pt.presets.p4_few_state(n_states)
    up = pt.StochasticPulseUpdate()
    n = n_tiles - 1
    if n == 0:
        return MultiTile(device=dev, n_tiles=1, lr=lr, update=up)
    g = gamma_for(n_states)
    return from_aihwkit(
        dev,
        gamma_vec=[g ** (n - i) for i in range(n + 1)],
        transfer_every_vec=[TRANSFER_EVERY_BASE * 2**i for i in range(n + 1)],
        transfer_lr_vec=[
            damping * TRANSFER_LR_BASE * TRANSFER_LR_GROWTH ** (n - i) for i in range(n + 1)
        ],
        lr=lr,
        update=up,
        columns_per_transfer=1,
    )


def algorithms(n_states: int, lr: float, tiles: Sequence[int]) -> dict[str, Algorithm]:
    """Every method of the comparison at one state count and one lr."""
    dev = pt.presets.p4_few_state(n_states)
    up = pt.StochasticPulseUpdate()
    lr_tt = TRANSFER_LR_BASE * TRANSFER_LR_GROWTH  # the 2-tile (RL) transfer rate
    out: dict[str, Algorithm] = {
        "TT-v1": TikiTaka(
            device=dev,
            lr=lr,
            lr_transfer=lr_tt,
            transfer_every=TRANSFER_EVERY_BASE,
            columns_per_transfer=1,
            update=up,
        ),
        "TT-v2": TTv2(
            device=dev,
            lr=lr,
            lr_transfer=lr_tt,
            transfer_every=TRANSFER_EVERY_BASE,
            columns_per_transfer=1,
            update=up,
        ),
        "MP": MixedPrecision(device=dev, lr=lr, update=up),
    }
    for k in tiles:
        out[method_name("MT", k)] = multi_tile(n_states, k, lr)
        if k > 1:  # one tile has no transfer: damping changes nothing
            out[method_name("MT damped", k)] = multi_tile(n_states, k, lr, DAMPING)
    return out


@dataclass(frozen=True)
class Cell:
    """One (state count, method) row: the lr kept and the per-replica finals at that lr."""

    lr: float
    error: FloatArray
    loss: FloatArray
    pulses: dict[str, float]
    """Mean over replicas of the pulses per weight (element of W*) by phase, all tiles summed."""
    mean_loss_by_lr: dict[float, float]
    """Mean final loss over replicas at every lr of the grid."""
    record_steps: npt.NDArray[np.int64]
    error_curve: FloatArray
    """Mean ‖W̄ − W*‖² over replicas at ``record_steps`` (at the kept lr)."""

    @property
    def error_mean(self) -> float:
        return float(self.error.mean())

    @property
    def error_se(self) -> float:
        return se(self.error)

    @property
    def loss_mean(self) -> float:
        return float(self.loss.mean())

    @property
    def loss_se(self) -> float:
        return se(self.loss)


def se(x: FloatArray) -> float:
    """Standard error of the mean over replicas, std(ddof=1)/√R (0 for one replica)."""
    return float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0


def run_grid(
    *,
    states: Sequence[int] = STATES,
    tiles: Sequence[int] = TILES,
    lrs: Sequence[float] = LRS,
    replicas: int = 6,
    steps: int = 4000,
    seed: int = 0,
    threads: int = 1,
    problem: LeastSquares = PROBLEM,
) -> dict[int, dict[str, Cell]]:
    """Run every method at every state count and lr; keep the lr with the lowest mean final loss.

    Returns
    -------
    dict
        ``{n_states: {method: Cell}}``; methods are "TT-v1", "TT-v2", "MP", "MT k" for k in
        ``tiles`` and "MT damped k" for k > 1.
    """
    n_el = problem.in_size * problem.out_size
    out: dict[int, dict[str, Cell]] = {}
    for ns in states:
        runs: dict[str, dict[float, pt.TrainResult]] = {}
        for lr in lrs:
            for name, algo in algorithms(ns, lr, tiles).items():
                runs.setdefault(name, {})[lr] = pt.run(
                    problem,
                    algo,
                    steps=steps,
                    replicas=replicas,
                    rng=seed,
                    progress=False,
                    n_threads=threads,
                    record_every=max(1, steps // 40),
                )
        cells: dict[str, Cell] = {}
        for name, by_lr in runs.items():
            scores = {lr: float(res.final_loss.mean()) for lr, res in by_lr.items()}
            best = min(scores, key=lambda lr: (scores[lr], lr))
            res = by_lr[best]
            cells[name] = Cell(
                lr=best,
                error=res.final_error,
                loss=res.final_loss,
                pulses={k: float(v.mean()) / n_el for k, v in res.total_pulses.items()},
                mean_loss_by_lr=scores,
                record_steps=res.record_steps,
                error_curve=res.error.mean(axis=0),
            )
        out[ns] = cells
    return out


def horizon(
    *,
    states: Sequence[int] = STATES,
    tiles: Sequence[int] = TILES,
    lr: float = 0.1,
    replicas: int = 4,
    steps: int = 16_000,
    seed: int = 0,
    threads: int = 1,
    checkpoints: int = 8,
) -> dict[tuple[int, str, int], tuple[npt.NDArray[np.int64], FloatArray]]:
    """Run both multi-tile series ``steps`` steps at one lr; mean error at ``checkpoints`` steps.

    Shows whether a series' final level in the main table is a level or a moment of a drift.

    Returns
    -------
    dict
        ``{(n_states, series, n_tiles): (record_steps, mean ‖W̄ − W*‖² over replicas)}``.
    """
    out: dict[tuple[int, str, int], tuple[npt.NDArray[np.int64], FloatArray]] = {}
    for ns in states:
        for series, damping in zip(SERIES, (1.0, DAMPING), strict=True):
            for k in tiles:
                if k == 1 and series != "MT":
                    continue
                res = pt.run(
                    PROBLEM,
                    multi_tile(ns, k, lr, damping),
                    steps=steps,
                    replicas=replicas,
                    rng=seed,
                    progress=False,
                    n_threads=threads,
                    record_every=max(1, steps // checkpoints),
                )
                out[(ns, series, k)] = (res.record_steps, res.error.mean(axis=0))
    return out


def print_results(results: dict[int, dict[str, Cell]]) -> None:
    rows: list[list[object]] = []
    for ns, cells in results.items():
        for name, c in cells.items():
            rows.append(
                [
                    ns,
                    name,
                    f"{c.lr:g}",
                    f"{c.error_mean:.3f} ± {c.error_se:.3f}",
                    f"{c.loss_mean:.3f} ± {c.loss_se:.3f}",
                    f"{c.pulses.get('update', 0.0):.4g}",
                    f"{c.pulses.get('transfer', 0.0):.4g}",
                ]
            )
    print_table(
        [
            "states",
            "method",
            "lr",
            "final ‖W̄ − W*‖² (mean ± SE)",
            "final loss (mean ± SE)",
            "update pulses / weight",
            "transfer pulses / weight",
        ],
        rows,
    )


def plot(results: dict[int, dict[str, Cell]], path: Path) -> None:
    plt = pyplot()
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 7.6), constrained_layout=True, squeeze=False)
    for ax, (ns, cells) in zip(axes[0], results.items(), strict=True):
        for k, series in enumerate(SERIES):
            pts = [
                (int(name.rpartition(" ")[2]), c)
                for name, c in cells.items()
                if name.rpartition(" ")[0] == series
            ]
            if series == "MT damped" and method_name("MT", 1) in cells:
                pts = [(1, cells[method_name("MT", 1)]), *pts]  # 1 tile has no transfer
            label = "multi-tile, P4 rates" if series == "MT" else f"multi-tile, rates ×{DAMPING}"
            ax.errorbar(
                [p[0] for p in pts],
                [p[1].error_mean for p in pts],
                yerr=[p[1].error_se for p in pts],
                fmt="o-" if series == "MT" else "s--",
                color=f"C{k}",
                capsize=3,
                label=label,
            )
        for k, name in enumerate(BASELINES):
            c = cells[name]
            col = f"C{k + 2}"
            ax.axhline(c.error_mean, color=col, lw=1.0, label=name)
            ax.axhspan(c.error_mean - c.error_se, c.error_mean + c.error_se, color=col, alpha=0.15)
        start = float(cells["MP"].error_curve[0])  # ‖W*‖², the same problems for every method
        ax.axhline(start, color="k", lw=0.8, ls=":", label="start (W = 0)")
        ax.set_yscale("log")
        ax.set_xlabel("tiles (N + 1)")
        ax.set_title(f"{ns} states (Δw_min {2 / ns:g}, γ {gamma_for(ns):g})")
    axes[0][0].set_ylabel("final ‖W̄ − W*‖² (mean ± SE)")
    axes[0][-1].legend(fontsize=7)
    # Second row: how the paper-rate cascades get there (mean error over replicas per step).
    for ax, (ns, cells) in zip(axes[1], results.items(), strict=True):
        for name, c in cells.items():
            series, _, count = name.rpartition(" ")
            if series != "MT":
                continue
            col = f"C{int(count) - 1}"
            ax.plot(c.record_steps, c.error_curve, color=col, label=f"{count} tiles")
        ax.plot(cells["MP"].record_steps, cells["MP"].error_curve, "k--", lw=0.8, label="MP")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(f"{ns} states: multi-tile at P4 rates (kept lr)", fontsize=9)
    axes[1][0].set_ylabel("‖W̄ − W*‖² (mean over replicas)")
    axes[1][-1].legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="4 replicas × 1000 steps, 2 lrs")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    parser.add_argument(
        "--long",
        type=int,
        default=0,
        metavar="STEPS",
        help="instead: both multi-tile series for STEPS steps at lr 0.1, error at 8 checkpoints",
    )
    args = parser.parse_args()
    replicas = args.replicas or (4 if args.quick else 6)
    steps = args.steps or (1000 if args.quick else 4000)
    lrs = QUICK_LRS if args.quick else LRS
    t_start = time.perf_counter()
    if args.long:
        curves = horizon(replicas=replicas, steps=args.long, seed=args.seed, threads=args.threads)
        rec = next(iter(curves.values()))[0]
        print(f"Mean ‖W̄ − W*‖² over {replicas} replicas, lr 0.1, at steps {rec.tolist()}\n")
        print_table(
            ["states", "series", "tiles", *[str(int(t)) for t in rec]],
            [[ns, sr, k, *[f"{v:.2f}" for v in e]] for (ns, sr, k), (_, e) in curves.items()],
        )
        print(f"runtime: {time.perf_counter() - t_start:.1f} s")
        return
    results = run_grid(
        lrs=lrs, replicas=replicas, steps=steps, seed=args.seed, threads=args.threads
    )
    print(
        f"P4 few-state trend: least squares {PROBLEM.out_size}×{PROBLEM.in_size}, soft bounds "
        f"on [−1, 1], Δw_min = 2/n_states; {replicas} replicas × {steps} steps; lr grid {lrs}\n"
    )
    print_results(results)
    plot(results, args.figure)
    print(f"\nfigure: {args.figure}")
    print(f"runtime: {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
