"""P3's pulse metric: total pulses until a target loss, E-RIDER vs ZS + RL over calibration budgets.

    python examples/erider_vs_zs_pulses.py [--replicas 16] [--steps 4000] [--targets 0.02 0.012]

P3's claim (theory.md §6.9): E-RIDER reaches a target loss with fewer pulses than zero-shift
calibration followed by residual learning, because it needs no calibration pulses. P3 counts
pulses on LeNet/MNIST against ZS + TT-v2; this is the least-squares version (the network version
waits for the network issue).

Problem and device: those of examples/p3_comparison.py (least squares W ∈ R^{4×8}, 64 rows,
mini-batches of 8, gradient noise 0.1; soft bounds on [−1, 1], Δw_min 1e−3, reference offsets
μ_r 0.2, σ_r 0.1 with the SP subtracted, so P's logical SP is −(0.2 + 0.1ξ), mis-calibrated for
RL). Stochastic pulse update (aihwkit defaults, desired_bl 31); lr 0.1, lr_transfer 0.02,
gamma_mix 0.4 for every method.

Methods:

* ZS N + RL (P3 Alg. 4): stochastic zero-shift of P with N ∈ {0, 250, 1000, 4000} pulses per
  element (N = 0 is RL on the mis-calibrated SP), then RL; the ZS pulses are the CALIBRATION phase.
* E-RIDER (buffered): P3's experimental configuration (AGAD's chopped, thresholded transfer
  buffer, ``ERIDERBuffered``), chop_prob 0.05, every column read each step, no calibration.
* E-RIDER (buffered, 4 pulses): the same with lr_transfer 0.05 and up to 4 pulses per element
  per transfer, the best of a small sweep (lr_transfer {0.02, 0.05, 0.1} × max_transfer_pulses
  {1, 4}, 8 replicas, target 0.012), so that E-RIDER is not held back by its single-pulse writes.
* E-RIDER (raw): theory.md's equations (``ERIDER``), ema_rate 0.02, chop_prob 0.05, Q~
  reprogrammed on each flip (digital, not counted as pulses), no calibration.
* Digital SGD, as the noise floor of the constant step (no pulses).

Metric: per replica, the total pulses per element (update + transfer + calibration) at the first
recorded step where f(W̄) — averaged over the trailing ``--window`` steps (an "epoch" loss, so a
single lucky step does not count) — is at or below the target; "not reached" if that never happens
within ``--steps``. Records every ``--record-every`` steps. Reported: replicas reached, and the mean
± SE over replicas of the pulses (over the replicas that reached; all replicas when all did).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import print_table, pyplot
from p3_comparison import EMA, GAMMA, LR, LR_TRANSFER, PROBLEM, device

import pulsetrain as pt
from pulsetrain.algorithms import (
    ERIDER,
    Algorithm,
    DigitalSGD,
    ERIDERBuffered,
    ResidualLearning,
    TwoStage,
)
from pulsetrain.zero_shift import ZeroShiftMode

ZS_BUDGETS = (0, 250, 1000, 4000)
FIGURES = Path(__file__).resolve().parent / "figures"
N_EL = PROBLEM.in_size * PROBLEM.out_size


def algorithms() -> dict[str, Algorithm]:
    dev = device()
    up = pt.StochasticPulseUpdate()
    rl: dict[str, Any] = {"lr": LR, "lr_transfer": LR_TRANSFER, "gamma_mix": GAMMA, "update": up}
    out: dict[str, Algorithm] = {"Digital SGD": DigitalSGD(lr=LR)}
    for n in ZS_BUDGETS:
        if n == 0:
            out["ZS 0 + RL"] = ResidualLearning(device=dev, **rl)
        else:
            out[f"ZS {n} + RL"] = TwoStage(
                device=dev, zs_pulses=n, zs_mode=ZeroShiftMode.STOCHASTIC, **rl
            )
    out["E-RIDER (buffered)"] = ERIDERBuffered(
        device=dev, chop_prob=0.05, columns_per_transfer=0, **rl
    )
    out["E-RIDER (buffered, 4 pulses)"] = ERIDERBuffered(
        device=dev,
        chop_prob=0.05,
        columns_per_transfer=0,
        max_transfer_pulses=4,
        **(rl | {"lr_transfer": 0.05}),
    )
    out["E-RIDER (raw)"] = ERIDER(
        device=dev, ema_rate=EMA, chop_prob=0.05, reprogram_on_flip=True, **rl
    )
    return out


def run_all(replicas: int, steps: int, seed: int, record_every: int) -> dict[str, pt.TrainResult]:
    return {
        name: pt.run(
            PROBLEM,
            algo,
            steps=steps,
            replicas=replicas,
            rng=seed,
            progress=False,
            n_threads=1,
            record_every=record_every,
        )
        for name, algo in algorithms().items()
    }


def pulses_to_target(res: pt.TrainResult, target: float, window: int) -> np.ndarray:
    """Per replica, total pulses per element when the trailing-mean loss first reaches target.

    The trailing mean covers the last ``window`` steps' records (at least one record); NaN where
    the target is never reached.
    """
    every = int(res.record_steps[1] - res.record_steps[0])
    w = max(1, round(window / every))
    loss = res.loss  # (R, n_rec)
    kernel = np.ones(w) / w
    smooth = np.stack([np.convolve(row, kernel, mode="valid") for row in loss])  # ends at w-1..
    total = np.sum(list(res.pulses.values()), axis=0) / N_EL  # (R, n_rec), cumulative
    out = np.full(loss.shape[0], np.nan)
    for r in range(loss.shape[0]):
        hit = np.flatnonzero(smooth[r] <= target)
        if hit.size:
            out[r] = total[r, hit[0] + w - 1]
    return out


def summarise(v: np.ndarray) -> tuple[int, float, float]:
    """(replicas reached, mean, SE) over the replicas that reached the target."""
    ok = v[~np.isnan(v)]
    if ok.size == 0:
        return 0, math.nan, math.nan
    se = ok.std(ddof=1) / math.sqrt(ok.size) if ok.size > 1 else math.nan
    return int(ok.size), float(ok.mean()), float(se)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.02, 0.012])
    parser.add_argument("--window", type=int, default=50, help="steps of the trailing mean")
    parser.add_argument("--record-every", type=int, default=5)
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = run_all(args.replicas, args.steps, args.seed, args.record_every)
    floor = results.pop("Digital SGD").loss[:, args.steps // 2 // args.record_every :].mean()
    print(
        f"P3 pulse metric on least squares 4×8 (μ_r 0.2, σ_r 0.1, Δw_min 1e-3), {args.replicas} "
        f"replicas × {args.steps} steps, seed {args.seed}; loss = trailing {args.window}-step mean "
        f"of f(W̄); Digital SGD's second-half loss {floor:.4f}\n"
    )
    header = ["method"]
    for t in args.targets:
        header += [f"reached ≤{t:g}", f"pulses/element to ≤{t:g}"]
    header += ["final f (mean)"]
    rows: list[list[object]] = []
    table: dict[str, list[tuple[int, float, float]]] = {}
    for name, res in results.items():
        row: list[object] = [name]
        table[name] = []
        for t in args.targets:
            n, m, se = summarise(pulses_to_target(res, t, args.window))
            table[name].append((n, m, se))
            row += [f"{n}/{args.replicas}", "–" if n == 0 else f"{m:.4g} ± {se:.2g}"]
        tail = res.loss[:, -max(1, args.window // args.record_every) :].mean()
        rows.append([*row, f"{tail:.4f}"])
    print_table(header, rows)

    plt = pyplot()
    fig, axes = plt.subplots(
        1, len(args.targets), figsize=(4.8 * len(args.targets), 4.0), squeeze=False
    )
    for k, (ax, t) in enumerate(zip(axes[0], args.targets, strict=True)):
        zs = [table[f"ZS {n} + RL"][k] for n in ZS_BUDGETS]
        xs = [n for n, z in zip(ZS_BUDGETS, zs, strict=True) if z[0] == args.replicas]
        ys = [z[1] for z in zs if z[0] == args.replicas]
        es = [z[2] for z in zs if z[0] == args.replicas]
        ax.errorbar(xs, ys, yerr=es, fmt="-o", color="C0", ms=4, capsize=2, label="ZS N + RL")
        missed = [
            f"N={n}: {z[0]}/{args.replicas}"
            for n, z in zip(ZS_BUDGETS, zs, strict=True)
            if z[0] < args.replicas
        ]
        eriders = ("E-RIDER (buffered)", "E-RIDER (buffered, 4 pulses)", "E-RIDER (raw)")
        for j, name in enumerate(eriders):
            n, m, se = table[name][k]
            if n == args.replicas:
                ax.axhline(m, color=f"C{j + 1}", ls="--", label=f"{name} (no calibration)")
                ax.axhspan(m - se, m + se, color=f"C{j + 1}", alpha=0.15)
        ax.set_xlabel("ZS calibration budget N (pulses per element)")
        ax.set_ylabel("total pulses per element to reach the target")
        note = f"\nZS + RL reaching it only in some replicas: {', '.join(missed)}" if missed else ""
        ax.set_title(f"target f ≤ {t:g}{note}", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle("P3's pulse metric on least squares with a mis-calibrated SP", fontsize=10)
    fig.set_layout_engine("constrained")
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / "erider_vs_zs_pulses.png"
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")
    print(f"runtime: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
