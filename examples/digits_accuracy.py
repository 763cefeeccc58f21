"""Accuracy of an MLP on digits trained on analog tiles, and its robustness to cycle noise.

    python examples/digits_accuracy.py [--epochs 20] [--replicas 4] [--sweep]

A 64-32-10 sigmoid MLP on scikit-learn's bundled 8×8 digits (1347 train / 450 test images), all
layers analog, aihwkit's default periphery (7-bit DAC, 9-bit ADC, output noise 0.06, noise and
bound management), stochastic pulse updates (BL 31, update management), an asymmetric linear
device (ALD, τ = 0.7, Δw_min 1e−3, the P2 setting of theory.md H4), seeds as replicas. Every
algorithm uses lr 0.1 on the array that receives the gradient (W for SGD, P for the residual
family) and lr_transfer 0.1, one column per transfer (RLv2: the whole buffer, buffer_decay 0.1);
these are this example's choices for a 64-input network, not the papers' MNIST values. Prints test
accuracy mean ± std over replicas and pulses per weight, and saves a figure; ``--sweep`` adds the
cycle-to-cycle noise sweep (dw_min_std 10%–120%, theory.md H5) for Analog SGD, Tiki-Taka and
RLv2, with its own figure.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import out_dir, print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import (
    AnalogSGD,
    DigitalSGD,
    ResidualLearning,
    ResidualLearningV2,
    TikiTaka,
)
from pulsetrain.problems import Classifier, Digits


def algorithms(device: pt.Device) -> dict[str, pt.algorithms.Algorithm]:
    return {
        "Digital SGD": DigitalSGD(lr=0.1),
        "Analog SGD": AnalogSGD(device=device, lr=0.1),
        "Tiki-Taka": TikiTaka(device=device, lr=0.1, lr_transfer=0.1, columns_per_transfer=1),
        "Residual learning": ResidualLearning(
            device=device, lr=0.1, lr_transfer=0.1, gamma_mix=0.4, columns_per_transfer=1
        ),
        "RLv2": ResidualLearningV2(
            device=device, lr=0.1, lr_transfer=0.1, buffer_decay=0.1, gamma_mix=0.4
        ),
    }


def train(algo: pt.algorithms.Algorithm, epochs: int, replicas: int) -> pt.TrainResult:
    prob = Classifier(dataset=Digits(), hidden=(32,), batch_size=10)
    steps = epochs * 135  # 1347 training images, batch 10
    return pt.run(prob, algo, steps=steps, replicas=replicas, rng=2024, record_every=135)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--tau", type=float, default=0.7)
    parser.add_argument("--sweep", action="store_true", help="also run the cycle-noise sweep")
    args = parser.parse_args()
    device = pt.Device(response=pt.ALD(tau=args.tau), dw_min=1e-3)
    results = {name: train(a, args.epochs, args.replicas) for name, a in algorithms(device).items()}
    rows = []
    for name, res in results.items():
        acc = 100 * (1 - res.final_error)
        n_weights = 64 * 32 + 32 * 10
        pulses = {k: v.mean() / n_weights for k, v in res.total_pulses.items()}
        rows.append(
            [
                name,
                f"{acc.mean():.2f} ± {acc.std(ddof=1):.2f}",
                f"{pulses['update']:.0f}",
                f"{pulses['transfer']:.1f}",
            ]
        )
    print(
        f"MLP 64-32-10 on digits, ALD τ = {args.tau}, {args.epochs} epochs, {args.replicas} seeds"
    )
    print_table(
        ["algorithm", "test accuracy %", "update pulses/weight", "transfer pulses/weight"], rows
    )

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
    for name, res in results.items():
        acc = 100 * (1 - res.error)
        epochs = res.record_steps / 135
        m, s = acc.mean(axis=0), acc.std(axis=0)
        ax.plot(epochs, m, label=name)
        ax.fill_between(epochs, m - s, m + s, alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Digits MLP on analog tiles (ALD τ = {args.tau})")
    ax.legend()
    path = out_dir() / "digits_accuracy.png"
    fig.savefig(path, dpi=150)
    print(f"figure: {path}")

    if args.sweep:
        stds = (0.1, 0.3, 0.6, 0.9, 1.2)
        names = ("Analog SGD", "Tiki-Taka", "RLv2")
        accs: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for std in stds:
            dev = pt.Device(response=pt.ALD(tau=args.tau), dw_min=1e-3, dw_min_std=std)
            for name in names:
                res = train(algorithms(dev)[name], args.epochs, args.replicas)
                accs[name].append(100 * (1 - res.final_error))
        rows = [
            [
                f"{100 * std:.0f}%",
                *(f"{a[k].mean():.2f} ± {a[k].std(ddof=1):.2f}" for a in accs.values()),
            ]
            for k, std in enumerate(stds)
        ]
        print(
            f"cycle-to-cycle noise sweep (theory.md H5), {args.epochs} epochs,"
            f" {args.replicas} seeds"
        )
        print_table(["dw_min_std", *(f"{name} %" for name in names)], rows)
        fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
        digital = 100 * (1 - results["Digital SGD"].final_error)
        ax.axhline(digital.mean(), color="k", ls="--", lw=1, label="Digital SGD")
        for name, a in accs.items():
            m = np.array([v.mean() for v in a])
            e = np.array([v.std(ddof=1) for v in a])
            ax.errorbar(100 * np.array(stds), m, yerr=e, marker="o", capsize=3, label=name)
        ax.set_xlabel("cycle-to-cycle noise dw_min_std (% of Δw_min)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"Cycle-noise robustness, digits MLP (ALD τ = {args.tau})")
        ax.legend()
        path = out_dir() / "digits_noise_sweep.png"
        fig.savefig(path, dpi=150)
        print(f"figure: {path}")


if __name__ == "__main__":
    np.seterr(over="ignore")
    main()
