"""C24: P4's least-squares toy, final loss against the tile count (theory.md §5 C24, §3.13).

    python examples/c24_multi_tile.py [--steps 20000] [--replicas 16] [--targets 4]
    python examples/c24_multi_tile.py --regime theorem [--replicas 128] [--targets 8]

``--regime k3`` (the default) runs the toy as P4 App. K.3 gives it (below); ``--regime theorem``
runs the setting P4's Cor. 1 covers (gradient noise, γ covering a step, separated periods; see
:func:`theorem_algo` and docs/FINDINGS.md §6), and ``--regime both`` runs the two.

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

Theorem regime (``--regime theorem``; design pre-registered in docs/FINDINGS.md §6.1; ≈ 22 min
on a loaded 2-core machine, figure ``examples/figures/c24_theorem_regime.png``): stochastic
gradient (w̄ − b) + σξ with σ 0.1, γ 0.5, T_N = ⌈γ^{−N}⌉ and T_n = 8·⌈1/γ⌉ (periods (2),
(64, 4), (2048, 128, 8)), lr 1, lr_transfer 0.01, 204800 steps (100 events of the slowest tile
of 4 tiles), 8 targets (seed 2025) × 128 replicas; floor = mean ½(w̄ − b)² over the last 20%:

  tiles  max Re λ   floor (mean ± SE, 1024 runs)
  1      −1         0.04281 ± 0.00046   (1 tile at lr 0.1 / 0.01 / 0.001: 0.0297, 0.0296, 0.0292)
  2      −1.02e−2   0.01830 ± 0.00018
  3      −3.35e−4   0.01134 ± 0.00023
  4      −1.05e−5   0.00510 ± 0.00022

Each tile added lowers the floor by more than 3·SE of the difference (the pre-registered rule):
C24 holds in this regime.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import MultiTile
from pulsetrain.algorithms.multi_tile import from_aihwkit
from pulsetrain.problems import Quadratic

GAMMA = 0.1
TRANSFER_LR = 0.01
N_STATES = 4
TILES = (1, 2, 3, 4, 5, 6)
SETTINGS = {"C24": 0.001, "K.3": 0.01}
FIGURE = Path(__file__).resolve().parent / "figures" / "c24_multi_tile.png"
FIGURE_THEOREM = Path(__file__).resolve().parent / "figures" / "c24_theorem_regime.png"

# The theorem regime (pre-registered design: docs/FINDINGS.md §6 "C24 in the theorem's regime").
TH_GAMMA = 0.5
TH_SIGMA = 0.1
TH_LR = 1.0
TH_TRANSFER_LR = 0.01
TH_SEPARATION = 8
TH_TILES = (1, 2, 3, 4)
TH_TRANSFERS = 100
TH_TARGET_SEED = 2025
TH_RUN_SEED = 1000
TH_POINTS = 400
TH_BASELINE_LRS = (1.0, 0.1, 0.01, 0.001)


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


def theorem_periods(
    n_tiles: int, gamma: float = TH_GAMMA, sep: int = TH_SEPARATION
) -> tuple[int, ...]:
    """Transfer periods of tiles n = 0..N−1 in the theorem regime.

    P4's nested clocks (theory.md §3.13) with T_N = ⌈γ^{−N}⌉ and T_n = sep·⌈1/γ⌉ for 0 < n < N
    (Θ(1/γ) with the constant ``sep``): tile n transfers every Π_{m=n+1}^{N} T_m steps. With
    sep = 1 this is ``schedule="theory"``.
    """
    n = n_tiles - 1
    t_big = [1] * (n + 1)
    for m in range(1, n + 1):
        t_big[m] = math.ceil(gamma ** (-n) - 1e-9) if m == n else sep * math.ceil(1 / gamma - 1e-9)
    return tuple(math.prod(t_big[k + 1 :]) for k in range(n))


def theorem_algo(
    n_tiles: int,
    lr: float = TH_LR,
    *,
    gamma: float = TH_GAMMA,
    lr_transfer: float = TH_TRANSFER_LR,
    sep: int = TH_SEPARATION,
) -> MultiTile:
    """The MultiTile config of the theorem regime (4-state tiles, stochastic pulses).

    γ = 0.5: tile n + 1 spans γ·[−1, 1] = ±0.5 in tile n's units, one Δw_min step of tile n at
    w = 0 (P4's own γ for 4 states, CIFAR). Periods from :func:`theorem_periods`; the gradient
    tile relaxes W̄ at rate lr·γ^N per step, i.e. within T_N = γ^{−N} steps at lr 1; the transfer
    rate 0.01 makes a transfer event move a 4-state tile with probability ≈ 0.02·|W⁽ⁿ⁺¹⁾|, so the
    coarse tiles move rarely while the finer ones track.
    """
    kw: dict[str, object] = {}
    if n_tiles > 1:
        kw = {"transfer_every": theorem_periods(n_tiles, gamma, sep), "lr_transfer": lr_transfer}
    return MultiTile(
        device=pt.presets.p4_few_state(N_STATES),
        n_tiles=n_tiles,
        gamma_mix=gamma,
        lr=lr,
        update=pt.StochasticPulseUpdate(),
        **kw,  # type: ignore[arg-type]
    )


def cascade_growth(algo: MultiTile) -> float:
    """Largest real part of the eigenvalues of ``algo``'s mean-field linear cascade (per step).

    W_N' = −lr·Σ γⁿ W_n (+ lr·b), W_n' = (lr_transfer[n]/T_n)·W_{n+1} for n < N, T_n the period
    of the transfer into tile n. Negative: the expected dynamics converge, in ≈ 1/|λ| steps.
    """
    n = algo.n_tiles - 1
    m = np.zeros((n + 1, n + 1))
    m[n, :] = -algo.lr * algo.gamma_mix ** np.arange(n + 1)
    for k, (period, rate) in enumerate(zip(algo.periods, algo.transfer_rates, strict=True)):
        m[k, k + 1] = rate / period
    return float(np.linalg.eigvals(m).real.max())


def theorem_steps(tiles: Sequence[int] = TH_TILES) -> int:
    """Steps of every theorem-regime run: ``TH_TRANSFERS`` events of the slowest tile (tile 0)
    of the largest tile count."""
    return TH_TRANSFERS * max(theorem_algo(max(tiles)).periods or (1,))


def theorem_floor(
    algo: MultiTile, b: float, steps: int, replicas: int, seed: int, points: int = TH_POINTS
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Run one target: per replica the loss floor, its earlier-window twin, and the final W⁽⁰⁾.

    The floor is the mean of ½(w̄ − b)² over the last 20% of the run (``points`` recorded points,
    the last ``points/5``); the twin is the same mean over the 20% before (60–80% of the run), a
    convergence check.
    """
    res = pt.run(
        Quadratic(target=b, noise_std=TH_SIGMA),
        algo,
        steps=steps,
        replicas=replicas,
        rng=seed,
        progress=False,
        record_every=steps // points,
    )
    loss = np.asarray(res.loss, dtype=np.float64)[:, 1:]  # drop the step-0 point
    k = points // 5
    w0 = np.asarray(res.arrays["W"], dtype=np.float64).reshape(replicas)
    return loss[:, -k:].mean(axis=1), loss[:, -2 * k : -k].mean(axis=1), w0


def theorem_sweep(
    replicas: int, n_targets: int, tiles: Sequence[int] = TH_TILES
) -> dict[str, dict[object, npt.NDArray[np.float64]]]:
    """All theorem-regime runs: floors, convergence twins and final tile-0 weights per config.

    Keys of the inner dicts: the tile count (lr = ``TH_LR``) and ("1 tile", lr) for the
    single-tile learning-rate baseline.
    """
    bs = targets(n_targets, TH_TARGET_SEED)
    steps = theorem_steps(tiles)
    configs: list[tuple[object, MultiTile]] = [(n, theorem_algo(n)) for n in tiles]
    configs += [(("1 tile", lr), theorem_algo(1, lr)) for lr in TH_BASELINE_LRS if lr != TH_LR]
    out: dict[str, dict[object, npt.NDArray[np.float64]]] = {"floor": {}, "early": {}, "w0": {}}
    for key, algo in configs:
        runs = [
            theorem_floor(algo, float(b), steps, replicas, TH_RUN_SEED + i)
            for i, b in enumerate(bs)
        ]
        for j, name in enumerate(("floor", "early", "w0")):
            out[name][key] = np.concatenate([r[j] for r in runs])
    return out


def _mean_se(x: npt.NDArray[np.float64]) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def theorem_main(replicas: int, n_targets: int) -> None:
    """Run the theorem regime, print its table and the pre-registered rule, save its figure."""
    t0 = time.perf_counter()
    res = theorem_sweep(replicas, n_targets)
    steps = theorem_steps()
    n_runs = replicas * n_targets
    print(
        f"C24, theorem regime: 4 states, gamma {TH_GAMMA}, sigma {TH_SIGMA}, lr {TH_LR}, "
        f"lr_transfer {TH_TRANSFER_LR}, T_n = {TH_SEPARATION}·⌈1/γ⌉, T_N = ⌈γ^-N⌉; "
        f"{n_targets} targets (seed {TH_TARGET_SEED}) × {replicas} replicas, {steps} steps; "
        f"floor = mean ½(w̄−b)² over the last 20% per run, mean ± SE over {n_runs} runs"
    )
    header = ["config", "periods", "max Re λ", "tile-0 events", "floor", "± SE", "60–80%", "W⁽⁰⁾≠0"]
    rows: list[list[object]] = []
    for n_tiles in TH_TILES:
        algo = theorem_algo(n_tiles)
        m, se = _mean_se(res["floor"][n_tiles])
        events = str(steps // algo.periods[0]) if n_tiles > 1 else "—"
        rows.append(
            [
                f"{n_tiles} tiles, lr {TH_LR}",
                str(algo.periods),
                f"{cascade_growth(algo):+.2e}",
                events,
                f"{m:.5f}",
                f"{se:.5f}",
                f"{res['early'][n_tiles].mean():.5f}",
                f"{np.mean(res['w0'][n_tiles] != 0.0):.2f}",
            ]
        )
    for lr in TH_BASELINE_LRS:
        if lr == TH_LR:
            continue
        m, se = _mean_se(res["floor"][("1 tile", lr)])
        rows.append(
            [
                f"1 tile, lr {lr}",
                "()",
                f"{-lr:+.2e}",
                "—",
                f"{m:.5f}",
                f"{se:.5f}",
                f"{res['early'][('1 tile', lr)].mean():.5f}",
                f"{np.mean(res['w0'][('1 tile', lr)] != 0.0):.2f}",
            ]
        )
    print_table(header, rows)
    print("Pre-registered rule: each added tile lowers the mean floor by > 3·SE of the difference")
    ok = True
    for a, b in itertools.pairwise(TH_TILES):
        (ma, sa), (mb, sb) = _mean_se(res["floor"][a]), _mean_se(res["floor"][b])
        margin = 3 * math.hypot(sa, sb)
        ok = ok and ma - mb > margin
        verdict = "yes" if ma - mb > margin else "NO"
        print(f"  {a} → {b} tiles: drop {ma - mb:+.5f}, 3·SE {margin:.5f}: {verdict}")
    print(f"  rule {'HOLDS' if ok else 'DOES NOT HOLD'}")
    best = min(
        TH_BASELINE_LRS,
        key=lambda lr: float(res["floor"][1 if lr == TH_LR else ("1 tile", lr)].mean()),
    )
    (m1, s1) = _mean_se(res["floor"][1 if best == TH_LR else ("1 tile", best)])
    (mn, sn) = _mean_se(res["floor"][TH_TILES[-1]])
    print(
        f"Secondary: best single tile (lr {best}) {m1:.5f} ± {s1:.5f} vs {TH_TILES[-1]} tiles "
        f"{mn:.5f} ± {sn:.5f}: drop {m1 - mn:+.5f}, 3·SE {3 * math.hypot(s1, sn):.5f}"
    )
    print(f"({time.perf_counter() - t0:.0f} s)")

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = np.array(TH_TILES)
    ms = np.array([res["floor"][n].mean() for n in TH_TILES])
    ses = np.array([_mean_se(res["floor"][n])[1] for n in TH_TILES])
    ax.errorbar(xs, ms, yerr=3 * ses, marker="o", capsize=3, label=f"MultiTile, lr {TH_LR} (±3 SE)")
    for lr in TH_BASELINE_LRS:
        key: object = 1 if lr == TH_LR else ("1 tile", lr)
        if lr != TH_LR:
            ax.plot([1], [res["floor"][key].mean()], "x", label=f"1 tile, lr {lr}")
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xlabel("tiles (N + 1)")
    ax.set_ylabel("floor: mean ½(w̄ − b)², last 20%")
    ax.set_title(f"C24 in the theorem regime (4 states, γ {TH_GAMMA}, σ {TH_SIGMA})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    FIGURE_THEOREM.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE_THEOREM, dpi=120)
    print(f"saved {FIGURE_THEOREM}")


def main() -> None:
    """Run the chosen regime(s), print the table(s) and save the figure(s)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--regime", choices=("k3", "theorem", "both"), default="k3")
    ap.add_argument("--steps", type=int, default=20_000, help="k3 regime only")
    ap.add_argument("--replicas", type=int, default=None, help="default 16 (k3), 128 (theorem)")
    ap.add_argument("--targets", type=int, default=None, help="default 4 (k3), 8 (theorem)")
    args = ap.parse_args()
    if args.regime in ("k3", "both"):
        k3_main(args.steps, args.replicas or 16, args.targets or 4)
    if args.regime in ("theorem", "both"):
        theorem_main(args.replicas or 128, args.targets or 8)


def k3_main(steps: int, replicas: int, n_targets: int) -> None:
    """Run both K.3 settings, print the table and save the figure."""
    t0 = time.perf_counter()
    results = {name: sweep(lr, steps, replicas, n_targets) for name, lr in SETTINGS.items()}
    n_runs = replicas * n_targets
    print(
        f"C24 toy: 4 states, gamma 0.1, transfer_every_vec 2·2^i, lr_transfer 0.01; "
        f"{n_targets} targets × {replicas} replicas, {steps} steps; "
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
    x = np.arange(21) * (steps // 20)
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
