"""H1 (P2 Fig. 1): Digital SGD's error floor falls with the step size; Analog SGD's stays flat.

    python examples/headline1_lr_sweep.py [--replicas 16] [--steps 2500] [--rounding ceil]

Setup (shared/theory.md §5 H1): least squares with D = 40 weights and D_out = 100 rows of A,
A ~ N(0, 1), W* ~ N(0, 0.45²), b = A W*, f(W) = ‖AW − b‖²/(2·D_out), full-batch gradients plus
injected noise of std 0.01/√D per element (P2 scripts, theory.md §6.5); W_0 = 0. Analog SGD runs on
an ALD device (τ = 3, SP 0, Δw_min = 1e−4) in the pulse-count mode (theory.md §2.3(b)) with at
most 800 pulses per element and step, CEIL rounding by default (P2 App. B). Both algorithms use
lr ∈ {0.2, 0.1, 0.05, 0.03} for 2500 steps; each replica draws its own A, W* and noise, and the
same seed gives the same instances at every lr.

Reported per lr: the final error ‖W − W*‖² (mean over the last 10% of the steps, then mean ± std
over replicas), and per algorithm the slope s of log(error) against log(lr), fitted per replica
(mean ± standard error): the digital floor ∝ lr^1 (s ≈ 1), the analog floor is set by the
asymmetric bias and does not shrink with lr (s ≈ 0).

Differences from the authors' script (NeurIPS-2024/S1-SGD-diff-lr.py in Zhaoxian-Wu/analog-
training) kept on purpose: it minimises ‖AW − b‖²/D_out (twice our gradient for the same lr),
adds a digital bias, injects the analog noise as forward/backward weight noise and updates with
aihwkit's stochastic pulses (desired_bl 800); theory.md fixes the pulse-count mode instead.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from _common import out_dir, print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD, DigitalSGD
from pulsetrain.problems import LeastSquares

D, D_OUT = 40, 100
LRS = (0.2, 0.1, 0.05, 0.03)


def problem() -> LeastSquares:
    return LeastSquares(
        in_size=D, out_size=1, n_samples=D_OUT, target_std=0.45, noise_std=0.01 / math.sqrt(D)
    )


def algorithms(lr: float, rounding: pt.Rounding) -> dict[str, pt.algorithms.Algorithm]:
    dev = pt.Device(response=pt.ALD(tau=3.0), dw_min=1e-4)
    update = pt.PulseCountUpdate(max_bl=800, rounding=rounding)
    return {
        "Digital SGD": DigitalSGD(lr=lr),
        "Analog SGD": AnalogSGD(device=dev, lr=lr, update=update),
    }


def final_error(res: pt.TrainResult, tail: float = 0.1) -> np.ndarray:
    """Per replica, the mean of ‖W − W*‖² over the recorded steps in the last `tail` of the run."""
    keep = res.record_steps >= (1.0 - tail) * res.steps
    return np.asarray(res.error[:, keep].mean(axis=1))


def slopes(errors: np.ndarray, lrs: tuple[float, ...]) -> np.ndarray:
    """Per replica, the least-squares slope of log(error) against log(lr); errors is (n_lr, R)."""
    x = np.log(np.asarray(lrs))
    x = x - x.mean()
    y = np.log(errors)
    return np.asarray((x[:, None] * (y - y.mean(axis=0))).sum(axis=0) / (x**2).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rounding", choices=[r.value for r in pt.Rounding], default=pt.Rounding.CEIL.value
    )
    args = parser.parse_args()
    rounding = pt.Rounding(args.rounding)
    print(
        f"H1: least squares D={D}, D_out={D_OUT}, noise 0.01/sqrt(D), ALD tau=3, dw_min=1e-4, "
        f"pulse count (max_bl 800, {rounding.value} rounding); {args.steps} steps, "
        f"{args.replicas} replicas, seed {args.seed}"
    )
    results: dict[str, list[pt.TrainResult]] = {"Digital SGD": [], "Analog SGD": []}
    for lr in LRS:
        for name, algo in algorithms(lr, rounding).items():
            results[name].append(
                pt.run(
                    problem(),
                    algo,
                    steps=args.steps,
                    replicas=args.replicas,
                    rng=args.seed,
                    record_every=max(1, args.steps // 250),
                    progress=False,
                )
            )
    errs = {name: np.stack([final_error(r) for r in runs]) for name, runs in results.items()}
    rows: list[list[object]] = []
    for i, lr in enumerate(LRS):
        dig, ana = errs["Digital SGD"][i], errs["Analog SGD"][i]
        rows.append(
            [
                lr,
                f"{dig.mean():.3e} ± {dig.std(ddof=1):.1e}",
                f"{ana.mean():.3e} ± {ana.std(ddof=1):.1e}",
                f"{ana.mean() / dig.mean():.2f}",
            ]
        )
    print_table(["lr", "Digital SGD ‖W−W*‖²", "Analog SGD ‖W−W*‖²", "analog/digital"], rows)
    for name, e in errs.items():
        s = slopes(e, LRS)
        se = s.std(ddof=1) / math.sqrt(s.size)
        print(f"{name}: d log(error) / d log(lr) = {s.mean():.3f} ± {se:.3f} (SE)")

    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.0, 4.0), constrained_layout=True)
    for i, lr in enumerate(LRS):
        for name, ls in [("Digital SGD", "-"), ("Analog SGD", "--")]:
            r = results[name][i]
            ax.plot(
                r.record_steps, r.error.mean(axis=0), ls=ls, color=f"C{i}", label=f"{name}, lr {lr}"
            )
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖W − W*‖² (mean over replicas)")
    ax.set_title("Error curves (solid: digital, dashed: analog)")
    ax.legend(fontsize=7, ncol=2)
    for name, marker in [("Digital SGD", "o"), ("Analog SGD", "s")]:
        e = errs[name]
        bx.errorbar(LRS, e.mean(axis=1), yerr=e.std(axis=1, ddof=1), marker=marker, label=name)
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.set_xlabel("lr")
    bx.set_ylabel("final ‖W − W*‖² (mean ± std)")
    bx.set_title("Final error vs step size")
    bx.legend()
    path = out_dir() / "headline1_lr_sweep.png"
    fig.savefig(path, dpi=150)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
