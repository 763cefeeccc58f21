"""C24: P4's least-squares toy, final loss against the tile count (theory.md §5 C24, §3.13).

    python examples/c24_multi_tile.py [--steps 20000] [--replicas 16] [--targets 4]

Takes ≈ 2 min (124 s measured) on a busy 2-core machine. Prints a table over 1..6 tiles and
saves ``examples/figures/c24_multi_tile.png`` (mean loss against steps, one line per tile count).

The toy, as P4 App. K.3 gives it: ``AnalogLinear(1, 1)``, x = 1, f = (w̄ − b)² (here ½(w̄ − b)²,
``Quadratic``: the factor does not change any ordering), batch 1, exact gradients; every tile a
soft-bounds device on [−1, 1] with Δw_min 0.5 (4 states, ``p4_few_state(4)``, no device noise);
aihwkit ``TransferCompound`` vectors gamma_vec[i] = 0.1^{N−i}, transfer_every_vec[i] = 2·2^i
(1 column per event), transfer_lr 0.01 for every tile with scale_transfer_lr False; stochastic
pulse updates; perfect IO; the composite W̄ starts at 0. b is drawn from the 16-bit grid
−1 + k·2/(2^16 − 1), k ~ Uniform{0, …, 2^16 − 1} (``--targets`` draws, seed 123); each target
is run with ``--replicas`` replicas (pulse seeds).

Two learning rates of the gradient tile are run, since the sources differ:

* "C24": lr 0.001, as theory.md §5 states C24 (P4's AnalogSGD lr);
* "K.3": lr 0.01, P4 App. K.3's ``fast_lr`` α = 0.01, which in aihwkit's TransferCompound
  replaces the SGD lr on the gradient device (with scale_transfer_lr False the AnalogSGD lr
  0.001 then acts on nothing).

Step budget: the slowest transfer (6 tiles, into tile 0) has period 2·2^5 = 64 steps, so 20000
steps give it 312 events; a single tile relaxes in ≈ 1/lr ≤ 1000 steps; the mean-field cascade
below grows or decays at rates ≥ 5·10⁻⁴ per step except for 2 tiles at lr 0.001 (5·10⁻⁵:
RL's oscillation is barely damped there). The final loss of a run is the mean of its last 5
recorded points (steps 16000–20000 of 20000); the table gives its mean over the
targets × replicas runs ± the standard error across runs (independent seeds and targets).

Mean field (why the loss rises): with expected updates on an unbounded linear device the cascade
is linear, W_N' = −lr·(W̄ − b), W_n' = (lr_transfer/T_n)·W_{n+1} (T_n the period of the transfer
into tile n), and its matrix has an eigenvalue with positive real part ("max Re λ") for 3 or more
tiles at both learning rates: the open-loop chain of integrators is Hurwitz-unstable (for 3 tiles
stability needs lr·γ³ > lr_transfer/T_0, i.e. 10⁻⁶ or 10⁻⁵ > 2.5·10⁻³). P4's theory asks for the
opposite ordering of time scales (T_N ≥ Θ(γ^{−N}), slower tiles frozen while a faster one tracks;
theory.md §3.13, §4.8), which the toy's periods 2·2^i do not give. On the bounded 4-state device
the growth saturates: the slow tiles are driven to the bounds and back, and the loss rises with
the tile count. Even 2 tiles (RL, stable) lose to 1 tile: every pulse of tile 0 moves W̄ by up to
0.5, while tile 1 only spans γ·[−1, 1] = ±0.1, so tile 1 saturates and keeps tile 0 hopping.

Measured (default run, 4 targets × 16 replicas × 20000 steps, bit-identical on a rerun; final
loss mean ± SE over 64 runs; docs/FINDINGS.md §6):

  tiles  max Re λ (lr 0.001)  C24, lr 0.001    max Re λ (lr 0.01)  K.3, lr 0.01
  1      −1.00e−3             0.0125 ± 0.0037  −1.00e−2            0.0127 ± 0.0027
  2      −5.00e−5             0.151 ± 0.015    −5.00e−4            0.081 ± 0.010
  3      +1.12e−3             0.213 ± 0.020    +2.30e−3            0.197 ± 0.015
  4      +1.40e−3             0.313 ± 0.027    +2.48e−3            0.222 ± 0.016
  5      +1.30e−3             0.252 ± 0.034    +2.08e−3            0.242 ± 0.027
  6      +1.08e−3             0.270 ± 0.038    +1.61e−3            0.266 ± 0.038

The loss rises with the tile count at both learning rates; C24 does not hold on this toy.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms.multi_tile import from_aihwkit
from pulsetrain.problems import Quadratic

GAMMA = 0.1
TRANSFER_LR = 0.01
N_STATES = 4
TILES = (1, 2, 3, 4, 5, 6)
SETTINGS = {"C24": 0.001, "K.3": 0.01}
FIGURE = Path(__file__).resolve().parent / "figures" / "c24_multi_tile.png"


def targets(n: int, seed: int = 123) -> npt.NDArray[np.float64]:
    """Draw ``n`` targets b = −1 + k·2/(2^16 − 1), k ~ Uniform{0, …, 2^16 − 1} (P4 App. K.3)."""
    k = np.random.default_rng(seed).integers(0, 2**16, size=n)
    return np.asarray(-1.0 + k * 2.0 / (2**16 - 1), dtype=np.float64)


def vectors(n_tiles: int) -> dict[str, list[float]]:
    """P4's toy vectors in aihwkit's indexing (i = N − n; i = 0 is the gradient tile)."""
    n = n_tiles - 1
    return {
        "gamma_vec": [GAMMA ** (n - i) for i in range(n + 1)],
        "transfer_every_vec": [float(2 * 2**i) for i in range(n + 1)],
        "transfer_lr_vec": [TRANSFER_LR] * (n + 1),
    }


def mean_field_growth(n_tiles: int, lr: float) -> float:
    """Largest real part of the eigenvalues of the mean-field linear cascade (per step).

    W_N' = −lr·Σ γⁿ W_n (+ lr·b), W_n' = (lr_transfer/T_n)·W_{n+1} for n < N, with the periods
    T_n of the toy. Negative: the expected dynamics converge; positive: they diverge.
    """
    algo = from_aihwkit(pt.presets.p4_few_state(N_STATES), **vectors(n_tiles), lr=lr)
    n = n_tiles - 1
    m = np.zeros((n + 1, n + 1))
    m[n, :] = -lr * GAMMA ** np.arange(n + 1)
    for k, (period, rate) in enumerate(zip(algo.periods, algo.transfer_rates, strict=True)):
        m[k, k + 1] = rate / period
    return float(np.linalg.eigvals(m).real.max())


def losses(n_tiles: int, lr: float, b: float, steps: int, replicas: int, seed: int) -> np.ndarray:
    """Loss ½(w̄ − b)² of every replica at every recorded point, shape (R, 21)."""
    algo = from_aihwkit(
        pt.presets.p4_few_state(N_STATES),
        **vectors(n_tiles),
        lr=lr,
        update=pt.StochasticPulseUpdate(),
    )
    res = pt.run(
        Quadratic(target=b, noise_std=0.0),
        algo,
        steps=steps,
        replicas=replicas,
        rng=seed,
        progress=False,
        record_every=steps // 20,
    )
    return np.asarray(res.loss, dtype=np.float64)


def sweep(
    lr: float, steps: int, replicas: int, n_targets: int
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Per tile count: the final loss of every run, and the mean loss curve (21 points)."""
    finals: dict[int, np.ndarray] = {}
    curves: dict[int, np.ndarray] = {}
    bs = targets(n_targets)
    for n_tiles in TILES:
        runs = [losses(n_tiles, lr, float(b), steps, replicas, seed) for seed, b in enumerate(bs)]
        all_runs = np.concatenate(runs, axis=0)
        finals[n_tiles] = all_runs[:, -5:].mean(axis=1)
        curves[n_tiles] = all_runs.mean(axis=0)
    return finals, curves


def main() -> None:
    """Run both settings, print the table and save the figure."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--replicas", type=int, default=16)
    ap.add_argument("--targets", type=int, default=4)
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = {
        name: sweep(lr, args.steps, args.replicas, args.targets) for name, lr in SETTINGS.items()
    }
    n_runs = args.replicas * args.targets
    print(
        f"C24 toy: 4 states, gamma 0.1, transfer_every_vec 2·2^i, lr_transfer 0.01; "
        f"{args.targets} targets × {args.replicas} replicas, {args.steps} steps; "
        f"final loss ½(w̄−b)² = mean of the last 5 of 21 points, mean ± SE over {n_runs} runs"
    )
    header = ["tiles"]
    for name, lr in SETTINGS.items():
        header += [f"{name} (lr {lr}) max Re λ", f"{name} final loss", "± SE"]
    rows = []
    for n_tiles in TILES:
        row: list[object] = [n_tiles]
        for name, lr in SETTINGS.items():
            f = results[name][0][n_tiles]
            row += [
                f"{mean_field_growth(n_tiles, lr):+.2e}",
                f"{f.mean():.4f}",
                f"{f.std(ddof=1) / math.sqrt(f.size):.4f}",
            ]
        rows.append(row)
    print_table(header, rows)
    print(f"({time.perf_counter() - t0:.0f} s)")

    plt = pyplot()
    fig, axes = plt.subplots(1, len(SETTINGS), figsize=(11, 4), sharey=True)
    x = np.arange(21) * (args.steps // 20)
    for ax, (name, lr) in zip(axes, SETTINGS.items(), strict=True):
        for n_tiles in TILES:
            ax.semilogy(x, results[name][1][n_tiles], marker="o", ms=3, label=f"{n_tiles} tiles")
        ax.set_title(f"{name}: gradient-tile lr {lr}")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean loss ½(w̄ − b)²")
    axes[-1].legend(fontsize=8)
    fig.suptitle("P4's least-squares toy (4 states, γ 0.1): loss against steps per tile count")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=120)
    print(f"saved {FIGURE}")


if __name__ == "__main__":
    main()
