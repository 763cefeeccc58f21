"""T1–T6: the scalar toy checks of shared/theory.md §5 (C16–C21), as a table and a figure.

    python examples/toy_checks.py [--copies 1000]

f = ½(w − 0.5)², g = (w − 0.5) + 0.5ξ, ALD (τ = 1) or skew-linear (c = 0.2) devices, compact
update, M copies as replicas; estimates are second-half time averages of the across-copy mean,
± one standard error over copies.
"""

from __future__ import annotations

import argparse
import math

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
from pulsetrain.analysis import exact_scalar_fixed_point
from pulsetrain.problems import Quadratic

ALD = pt.Device(response=pt.ALD(tau=1.0), dw_min=1e-3)
SKEW = pt.Device(response=pt.SkewLinear(tau=1.0, c_lin=0.2), dw_min=1e-3)
EXP = pt.ExpectedUpdate()


def tail(algo: pt.algorithms.Algorithm, steps: int, copies: int) -> pt.TrainResult:
    return pt.run(
        Quadratic(),
        algo,
        steps=steps,
        replicas=copies,
        rng=0,
        record_every=steps // 100,
        average_from=steps // 2,
        record_weights=True,
    )


def est(values: np.ndarray) -> tuple[float, float]:
    v = values.reshape(values.shape[0], -1)[:, 0]
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


def two_point_drift(algo: pt.algorithms.Algorithm, w: float, sigma: float) -> float:
    """Mean one-step change of W at a critical point under two-point noise ±σ (two replicas)."""
    inst = Quadratic(target=w, noise_std=0.0).setup(2, np.random.SeedSequence(0))
    state = algo.start(inst, np.random.SeedSequence(0))
    state.tiles["W"].set_weights(np.full((2, 1, 1), w))
    state.step(0, np.ones((2, 1, 1)), np.array([sigma, -sigma]).reshape(2, 1, 1))
    return float(state.arrays()["W"].mean() - w)


def rlv2_buffer() -> tuple[int, float]:
    """C17: constant P = 0.0035, buffer_decay = lr_transfer = 0.1, ideal W, 200 steps."""
    ideal = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=1e-3)
    algo = ResidualLearningV2(
        device=ideal, lr=0.0, lr_transfer=0.1, buffer_decay=0.1, gamma_mix=0.0, update=EXP
    )
    state = algo.start(
        Quadratic(noise_std=0.0).setup(1, np.random.SeedSequence(0)), np.random.SeedSequence(0)
    )
    state.tiles["P"].set_weights(np.full((1, 1), 0.0035))
    for k in range(200):
        state.step(k, np.ones((1, 1, 1)), np.zeros((1, 1, 1)))
    return int(state.tiles["W"].pulse_counts("transfer").item()), float(state.arrays()["W"].item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=1000)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every step count (e.g. 0.25 for a quick look)",
    )
    args = parser.parse_args()
    m, s = args.copies, args.scale
    rows: list[list[object]] = []
    curves: dict[str, pt.TrainResult] = {}

    def add(
        name: str, check: str, res: pt.TrainResult, values: np.ndarray, target: float, floor: float
    ) -> float:
        e, se = est(values)
        ok = abs(e - target) <= max(4 * se, floor)
        rows.append([check, name, f"{e:.4f} ± {se:.4f}", target, "pass" if ok else "FAIL"])
        return e

    root = exact_scalar_fixed_point(ALD, w_star=0.5, L=1.0, sigma=0.5)
    for lr, n in [(0.01, 20_000), (0.0025, 80_000)]:
        r = tail(AnalogSGD(device=ALD, lr=lr, update=EXP), int(n * s), m)
        curves[f"Analog SGD, lr {lr}"] = r
        add(f"Analog SGD lr {lr}", "T1 (C18)", r, r.average_weights, round(root, 6), 2e-3)
    r = tail(DigitalSGD(lr=0.01), int(20_000 * s), m)
    curves["Digital SGD, lr 0.01"] = r
    add("Digital SGD lr 0.01", "T1 (C18)", r, r.average_weights, 0.5, 2e-3)
    gd = pt.run(
        Quadratic(noise_std=0.0),
        AnalogSGD(device=ALD, lr=0.1, update=EXP),
        steps=1000,
        replicas=1,
        rng=0,
        progress=False,
    )
    rows.append(
        [
            "T2 (C19)",
            "Analog GD lr 0.1, 1000 steps",
            f"|w − 0.5| = {abs(gd.weights.item() - 0.5):.1e}",
            "< 1e-9",
            "pass" if abs(gd.weights.item() - 0.5) < 1e-9 else "FAIL",
        ]
    )
    for dev, name, check, targets in [
        (ALD, "ALD", "T3 (C20)", [(0.4855, 0.4710, 0.4794), (0.4926, 0.4852, 0.4894)]),
        (SKEW, "skew c=0.2", "T4 (C21)", [(0.5695, None, 0.5642), (0.5749, None, 0.5722)]),
    ]:
        for (lr, lt, n), (t_bar, t_w, t_tt) in zip(
            [(0.05, 0.01, 40_000), (0.0125, 0.0025, 160_000)], targets, strict=True
        ):
            rl = tail(
                ResidualLearning(device=dev, lr=lr, lr_transfer=lt, gamma_mix=0.4, update=EXP),
                int(n * s),
                m,
            )
            curves[f"RL {name}, lr {lr}"] = rl
            add(f"RL {name} lr {lr}: W̄", check, rl, rl.average_weights, t_bar, 1.5e-3)
            if t_w is not None:
                add(f"RL {name} lr {lr}: W", check, rl, rl.average_arrays["W"], t_w, 1.5e-3)
            tt = tail(TikiTaka(device=dev, lr=lr, lr_transfer=lt, update=EXP), int(n * s), m)
            add(f"TT {name} lr {lr}: W", check, tt, tt.average_arrays["W"], t_tt, 1.5e-3)
    # T5 (C16): exact one-step drift under two-point noise ±σ at a critical point.
    for name, algo, want in [
        ("Analog SGD", AnalogSGD(device=ALD, lr=0.1, update=EXP), -0.1 * 0.5 * 0.3),
        (
            "Tiki-Taka",
            TikiTaka(device=ALD, lr=0.1, lr_transfer=0.2, update=EXP),
            -0.1 * 0.2 * 0.5 * 0.3,
        ),
    ]:
        drift = two_point_drift(algo, 0.3, 0.5)
        ok = abs(drift - want) <= 1e-12 * abs(want)
        rows.append(
            ["T5 (C16)", f"{name} drift at w = 0.3", f"{drift:.9g}", want, "pass" if ok else "FAIL"]
        )
    # T6 (C17): the RLv2 buffer's firing schedule with P held at 0.0035.
    pulses, w_end = rlv2_buffer()
    rows.append(
        [
            "T6 (C17)",
            "RLv2 buffer, 200 steps",
            f"{pulses} pulses, W = {w_end:.6g}",
            "60 pulses, W = 0.06",
            "pass" if pulses == 60 and abs(w_end - 0.06) < 1e-12 else "FAIL",
        ]
    )
    print_table(["check", "setting", "estimate", "target", "result"], rows)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), constrained_layout=True)
    for label, res in curves.items():
        assert res.trajectory is not None
        mean_w = res.trajectory.reshape(res.replicas, res.trajectory.shape[1]).mean(axis=0)
        ax.plot(res.record_steps / res.steps, mean_w, label=label)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.axhline(root, color="k", lw=0.8, ls=":")
    ax.set_xlabel("fraction of steps")
    ax.set_ylabel("mean weight over copies")
    ax.set_title("Scalar toy: optimum 0.5 (dashed), Analog SGD root (dotted)")
    ax.legend(fontsize=7, ncol=2)
    path = out_dir() / "toy_checks.png"
    fig.savefig(path, dpi=150)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
