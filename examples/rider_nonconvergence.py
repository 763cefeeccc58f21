"""RIDER does not converge in simulation, even in P3 Thm 3.7's own regime (theory.md §6.9).

    python examples/rider_nonconvergence.py [--replicas 100] [--ks 1000 4000 16000 64000]

The finding (docs/FINDINGS.md): RIDER (P3 Alg. 2, theory.md §3.11; transfer with the old Q, as in
the proofs) run with steps ∝ 1/√K on a strongly curved problem, where Assumption 3.6 holds,
ends with a bias |W̄ − W*| that grows with K, while residual learning (RL) on the same device
keeps a small, K-independent bias; RIDER's tracker Q drifts away from P's symmetric point
towards P's upper bound instead of following it.

Setup (a scalar per replica, ``Quadratic``): f(w) = (L/2)(w − 0.5)² with L = 20, gradient noise
σ = 0.5 per step, w_0 = 0. Device of W and P: skew linear τ = 1, c = 0.2 (SP 0.2, so P's logical
SP is not 0 and RL has the C21 error), Δw_min 1e−3, expected (compact) update, so the only
randomness is the gradient noise. Thm 3.7's step sizes, with the curvature as μ:
lr = a/√K (a = 1.5), lr_transfer = b·lr·γ·L (b = 0.1), ema_rate = e·lr·L (e = 0.05),
gamma_mix γ = 0.4; RL uses the same lr and lr_transfer.

Theorem conditions at K = 1000 (the largest steps): lr 0.047 ≤ 1/(2γLq_max) = 0.052 and
≤ q_max/(q_min²γL); lr_transfer 0.038 ≤ γ/(2q_max) = 0.167. Assumption 3.6 on the region around
P's SP the analysis needs (w ∈ [0, 0.4]: q_max 1.2, q_min 0.72): C* ≥ (4√2σ/L)(q_max/q_min)^{3/2}
= 0.30, while E|g| at W* is σ√(2/π) = 0.40.

Reported per K: the second-half time average of W̄ (mean over replicas ± SE) minus W* for RIDER
and RL, RIDER's Q and its distance from the SP. The figure plots both biases and |Q − SP|
against K.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from _common import print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import RIDER, Algorithm, ResidualLearning
from pulsetrain.problems import Quadratic

CURVATURE, SIGMA, TARGET, GAMMA = 20.0, 0.5, 0.5, 0.4
A_LR, B_TRANSFER, E_EMA = 1.5, 0.1, 0.05
DEVICE = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
SP = 0.2
FIGURES = Path(__file__).resolve().parent / "figures"


def steps_for(k: int) -> tuple[float, float, float]:
    """Thm 3.7's (lr, lr_transfer, ema_rate) for a horizon of K steps."""
    lr = A_LR / math.sqrt(k)
    return lr, B_TRANSFER * lr * GAMMA * CURVATURE, min(1.0, E_EMA * lr * CURVATURE)


def algorithms(k: int) -> dict[str, Algorithm]:
    lr, lt, eta = steps_for(k)
    exp = pt.ExpectedUpdate()
    return {
        "RIDER": RIDER(
            device=DEVICE, lr=lr, lr_transfer=lt, ema_rate=eta, gamma_mix=GAMMA, update=exp
        ),
        "RL": ResidualLearning(device=DEVICE, lr=lr, lr_transfer=lt, gamma_mix=GAMMA, update=exp),
    }


def tail_means(k: int, replicas: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Per algorithm, per replica second-half time averages of W̄ (key "Wbar") and arrays."""
    problem = Quadratic(curvature=CURVATURE, noise_std=SIGMA, target=TARGET)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, algo in algorithms(k).items():
        res = pt.run(
            problem,
            algo,
            steps=k,
            replicas=replicas,
            rng=seed,
            progress=False,
            n_threads=1,
            record_every=k,
            average_from=k // 2,
        )
        assert res.average_weights is not None
        d = {key: v.reshape(replicas) for key, v in res.average_arrays.items()}
        d["Wbar"] = res.average_weights.reshape(replicas)
        out[name] = d
    return out


def mean_se(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--ks", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows: list[list[object]] = []
    curves: dict[str, list[tuple[float, float]]] = {"RIDER": [], "RL": [], "RIDER: |Q − SP|": []}
    for k in args.ks:
        lr, lt, eta = steps_for(k)
        m = tail_means(k, args.replicas, args.seed)
        b_rider = mean_se(m["RIDER"]["Wbar"] - TARGET)
        b_rl = mean_se(m["RL"]["Wbar"] - TARGET)
        q = mean_se(m["RIDER"]["Q"])
        p = mean_se(m["RIDER"]["P"])
        curves["RIDER"].append(b_rider)
        curves["RL"].append(b_rl)
        curves["RIDER: |Q − SP|"].append((abs(q[0] - SP), q[1]))
        rows.append(
            [
                k,
                f"{lr:.4f}",
                f"{lt:.4f}",
                f"{eta:.4f}",
                f"{b_rider[0]:+.4f} ± {b_rider[1]:.4f}",
                f"{b_rl[0]:+.4f} ± {b_rl[1]:.4f}",
                f"{q[0]:.4f} ± {q[1]:.4f}",
                f"{p[0]:.4f}",
            ]
        )
    print(
        f"RIDER vs RL, f = (L/2)(w − 0.5)², L {CURVATURE:g}, σ {SIGMA}, skew linear τ 1 c 0.2 "
        f"(SP {SP}), Δw_min 1e-3, expected update, γ {GAMMA}; lr = {A_LR}/√K, "
        f"lr_transfer = {B_TRANSFER}·lr·γ·L, ema_rate = {E_EMA}·lr·L; {args.replicas} replicas, "
        f"second-half averages (± SE over replicas)\n"
    )
    print_table(
        ["K", "lr", "lr_transfer", "ema_rate", "RIDER W̄ − W*", "RL W̄ − W*", "RIDER Q", "RIDER P"],
        rows,
    )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), constrained_layout=True)
    ks = np.asarray(args.ks, dtype=float)
    for name, ls in (("RIDER", "-o"), ("RL", "-s"), ("RIDER: |Q − SP|", "--^")):
        v = np.asarray(curves[name])
        label = name if "Q" in name else f"{name}: |W̄ − W*|"
        ax.errorbar(ks, np.abs(v[:, 0]), yerr=v[:, 1], fmt=ls, ms=4, capsize=2, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("K (steps; lr ∝ 1/√K)")
    ax.set_ylabel("second-half average, mean over replicas")
    ax.set_title("RIDER's bias grows with K, RL's does not; Q leaves the SP", fontsize=9)
    ax.legend(fontsize=8)
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / "rider_nonconvergence.png"
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")
    print(f"runtime: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
