"""P3's pulse metric on LeNet-5: pulses per weight to a target accuracy, E-RIDER vs ZS + RL/TT-v2.

    python examples/p3_pulses_lenet.py [--epochs 1] [--replicas 3] [--targets 30 50 70]
        [--two-stage rl ttv2] [--only LABEL ...] [--offsets both|residual]

P3's claim (theory.md §6.9): E-RIDER reaches a target accuracy with fewer pulses than zero-shift
calibration followed by residual-style training, because it needs no calibration pulses. This is
the network version of examples/erider_vs_zs_pulses.py (least squares), at reduced scale.

Problem: P3's LeNet-5 on the 5000-image MNIST sample (4000 train / 1000 test, batch 10, 400 steps
per epoch), all layers analog, aihwkit's default periphery, digital biases at P3's global lr
0.05; the RRAM HfO₂ preset with P3's reference offsets (μ_r, σ_r) = (0.4, 1.0) by default (the
hardest cell of examples/nn_headlines.py h8, where calibration matters most). Where the offsets
go is nn_headlines.py h8's ``--offsets``: ``both`` (default) gives the offset device to W and the
residual arrays alike; ``residual`` gives it to the residual arrays (E-RIDER's, ZS + RL's and
TT-v2's P/A, so the zero-shift calibrates the array with the offset) as ``device_residual`` only,
W on ``presets.rram_hfo2()`` unchanged; the summary and figure names then end in ``_resoff``.

Methods (every one with 15 columns per transfer event, as nn_headlines.py):

* E-RIDER (buffered): exactly the h8 entry (fast lr 0.5, transfer_lr 0.05, chop_prob 0.05,
  auto_granularity 1000, tail_weightening 5, gamma_mix 0.1); no calibration.
* ZS N + RL (P3 Alg. 4, ``TwoStage``): stochastic zero-shift of P with N pulses per element
  (N = 0: plain RL on the uncalibrated reference), then residual learning with E-RIDER's fast
  lr 0.5 onto P, lr_transfer 0.05 (P3's global lr, transfer_lr 1 × lr as theory.md §6.2) and
  E-RIDER's gamma_mix 0.1. P3 compares against ZS + TT-v2 (next entry); ZS + RL was the
  stand-in before TTv2 had a zero-shift stage (session 10). ``--two-stage rl`` (default).
* ZS N + TT-v2 (P3's baseline; ``TTv2(zs_pulses=N)``, the same zero-shift code as TwoStage's
  stage 1, on A): the same stochastic zero-shift of A with N pulses per element (N = 0: no
  calibration, i.e. exactly h8's TT-v2 entry), then TT-v2 exactly as h8's entry (P3's TT-v2
  settings: fast lr 0.5, lr_transfer 0.005, momentum 0.1, threshold 0.8), with the biases at
  TT-v2's global lr 0.005 as in h8 (every other method: 0.05). ``--two-stage ttv2``.

``--only`` keeps the methods whose label contains one of the given strings (as
examples/nn_headlines.py). Every method draws from the same root seed, so a method's numbers do
not depend on which others run.

Metric: per replica, the total pulses of every phase (update, transfer, calibration) on every
tile, divided by the network's weight count (4 layers: 25·16 + 400·32 + 512·128 + 128·10 on
MNIST), at the first recorded step whose test accuracy (all 1000 test images) is at or above
the target; "not reached" within the run otherwise. P3 counts steps × BL; counting the pulses
actually fired is the stricter version of the same quantity. Reported: replicas reached and the
mean ± SE of the pulses over the replicas that reached.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from typing import Any

import numpy as np
from _common import out_dir, print_table, pyplot
from nn_headlines import FIGURES, OFFSETS, STEPS_PER_EPOCH, h8, offset_devices, problem

import pulsetrain as pt
from pulsetrain.algorithms import Algorithm, ResidualLearning, TwoStage
from pulsetrain.devices import presets
from pulsetrain.errors import ParameterError
from pulsetrain.problems import Classifier
from pulsetrain.zero_shift import ZeroShiftMode

ZS_BUDGETS = (0, 10, 100, 1000)
GLOBAL_LR = 0.05  # P3's LeNet global SGD lr: the biases' rate
TWO_STAGE = ("rl", "ttv2")
"""The second-stage trainers after zero-shift: residual learning (TwoStage) or TT-v2 (TTv2)."""


def _h8_entry(columns: int, suffix: str) -> Any:
    """h8's LeNet-5 entry whose label ends with ``suffix`` (first cell; the device is replaced)."""
    return next(e for e in h8(columns, model="lenet5").entries if e.label.endswith(suffix))


def algorithms(
    ref: tuple[float, float] = (0.4, 1.0),
    budgets: tuple[int, ...] = ZS_BUDGETS,
    columns: int = 15,
    two_stage: tuple[str, ...] = ("rl",),
    offsets: str = "both",
) -> dict[str, Algorithm]:
    """E-RIDER (buffered, as in h8), then ZS N + RL and/or ZS N + TT-v2 for each budget N.

    ``offsets`` as nn_headlines.h8: ``"both"`` puts the offset device on W and the residual
    arrays, ``"residual"`` on the residual arrays only (``device_residual``; W on the preset).
    """
    for kind in two_stage:
        if kind not in TWO_STAGE:
            allowed = f"one of {list(TWO_STAGE)}"
            raise ParameterError(name="two_stage", owner="algorithms", allowed=allowed, value=kind)
    dev = dataclasses.replace(presets.rram_hfo2(), reference_mean=ref[0], reference_std=ref[1])
    dev_w, dev_res = offset_devices(dev, offsets, "algorithms")
    devs = {"device": dev_w, "device_residual": dev_res}
    er = _h8_entry(columns, "E-RIDER")
    out: dict[str, Algorithm] = {"E-RIDER (buffered)": dataclasses.replace(er.algorithm, **devs)}
    if "rl" in two_stage:
        out.update(_zs_rl(devs, budgets, columns))
    if "ttv2" in two_stage:
        tt = dataclasses.replace(_h8_entry(columns, "TT-v2").algorithm, **devs)
        for n in budgets:
            out[f"ZS {n} + TT-v2"] = dataclasses.replace(
                tt, zs_pulses=n, zs_mode=ZeroShiftMode.STOCHASTIC
            )
    return out


def bias_lrs(algos: dict[str, Algorithm], columns: int = 15) -> dict[str, float]:
    """The biases' rate per method: h8's TT-v2 global lr (0.005) for ZS + TT-v2, else 0.05."""
    tt_lr = _h8_entry(columns, "TT-v2").bias_lr
    return {k: tt_lr if k.endswith("TT-v2") else GLOBAL_LR for k in algos}


def _zs_rl(
    devs: dict[str, pt.Device | None], budgets: tuple[int, ...], columns: int
) -> dict[str, Algorithm]:
    """ZS N + RL for each budget N (N = 0: plain ResidualLearning); ``devs``: W's and P's."""
    out: dict[str, Algorithm] = {}
    rl: dict[str, Any] = {
        **devs,
        "lr": 0.5,
        "lr_transfer": GLOBAL_LR,
        "gamma_mix": 0.1,
        "columns_per_transfer": columns,
    }
    for n in budgets:
        if n == 0:
            out["ZS 0 + RL"] = ResidualLearning(**rl)
        else:
            out[f"ZS {n} + RL"] = TwoStage(zs_pulses=n, zs_mode=ZeroShiftMode.STOCHASTIC, **rl)
    return out


def select(algos: dict[str, Algorithm], only: list[str] | None) -> dict[str, Algorithm]:
    """Keep the methods whose label contains one of ``only`` (all of them for None)."""
    if not only:
        return algos
    kept = {k: v for k, v in algos.items() if any(o in k for o in only)}
    if not kept:
        raise ParameterError(
            name="only", owner="p3_pulses_lenet", allowed=f"substrings of {list(algos)}", value=only
        )
    return kept


def n_weights(prob: Classifier, replicas: int = 1) -> int:
    """The network's weight count (every weighted layer; biases are digital and not counted)."""
    inst: Any = prob.setup(replicas, np.random.SeedSequence(0))
    return int(sum(w[0].size for w in inst.w0))


def pulses_to_target(res: pt.TrainResult, target: float, weights: int) -> np.ndarray:
    """Per replica, total pulses per weight at the first record with test accuracy ≥ target (%).

    NaN where the target is never reached.
    """
    acc = 100.0 * (1.0 - np.asarray(res.error, dtype=float))  # (R, n_rec)
    total = np.sum(list(res.pulses.values()), axis=0) / weights  # (R, n_rec), cumulative
    out = np.full(acc.shape[0], np.nan)
    for r in range(acc.shape[0]):
        hit = np.flatnonzero(acc[r] >= target)
        if hit.size:
            out[r] = total[r, hit[0]]
    return out


def summarise(v: np.ndarray) -> tuple[int, float, float]:
    """(replicas reached, mean, SE) over the replicas that reached the target."""
    ok = v[~np.isnan(v)]
    if ok.size == 0:
        return 0, math.nan, math.nan
    se = float(ok.std(ddof=1) / math.sqrt(ok.size)) if ok.size > 1 else math.nan
    return int(ok.size), float(ok.mean()), se


def run_all(
    algos: dict[str, Algorithm],
    prob: Classifier,
    *,
    steps: int,
    replicas: int,
    seed: int,
    record_every: int,
    targets: list[float],
    bias_lr: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Train every method and return the summary: per method, per target, reached/mean/SE.

    ``bias_lr`` gives a method's biases their own rate (default: ``prob.bias_lr``).
    """
    weights = n_weights(prob)
    rows: dict[str, Any] = {}
    for name, algo in algos.items():
        t0 = time.perf_counter()
        lr_b = (bias_lr or {}).get(name, prob.bias_lr)
        res = pt.run(
            dataclasses.replace(prob, bias_lr=lr_b),
            algo,
            steps=steps,
            replicas=replicas,
            rng=seed,
            record_every=record_every,
            n_threads=1,
            progress=False,
        )
        acc = 100.0 * (1.0 - np.asarray(res.error, dtype=float))
        total = np.sum(list(res.pulses.values()), axis=0) / weights
        rows[name] = {
            "targets": {
                str(t): dict(
                    zip(
                        ("reached", "mean", "se"),
                        summarise(pulses_to_target(res, t, weights)),
                        strict=True,
                    )
                )
                for t in targets
            },
            "final_acc": [float(a) for a in acc[:, -1]],
            "phases": {k: float(np.mean(v[:, -1]) / weights) for k, v in res.pulses.items()},
            "curve_acc": [float(a) for a in acc.mean(axis=0)],
            "curve_pulses": [float(p) for p in total.mean(axis=0)],
            "bias_lr": lr_b,
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"  {name}: final {acc[:, -1].mean():.1f}% ({rows[name]['seconds']:.0f} s)", flush=True
        )
    return {
        "steps": steps,
        "replicas": replicas,
        "seed": seed,
        "weights": weights,
        "record_steps": list(range(0, steps + 1, record_every)),
        "rows": rows,
    }


def report(summary: dict[str, Any], targets: list[float]) -> None:
    """Print the table: per method and target, replicas reached and pulses per weight."""
    r = summary["replicas"]
    header = ["method"]
    for t in targets:
        header += [f"reached ≥{t:g}%", f"pulses/weight to ≥{t:g}%"]
    header += ["final acc %", "pulses/weight by phase (end)"]
    table = []
    for name, row in summary["rows"].items():
        cells: list[object] = [name]
        for t in targets:
            d = row["targets"][str(t)]
            cells += [
                f"{d['reached']}/{r}",
                "–" if d["reached"] == 0 else f"{d['mean']:.4g} ± {d['se']:.2g}",
            ]
        fa = np.array(row["final_acc"])
        phases = ", ".join(f"{k} {v:.3g}" for k, v in sorted(row["phases"].items()))
        table.append(
            [*cells, f"{fa.mean():.1f} ± {fa.std(ddof=1) / math.sqrt(fa.size):.1f}", phases]
        )
    print_table(header, table)


def figure(summary: dict[str, Any], tag: str = "") -> str:
    """Mean test accuracy against mean cumulative pulses per weight, per method."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2), constrained_layout=True)
    for name, row in summary["rows"].items():
        ax.plot(row["curve_pulses"], row["curve_acc"], marker=".", label=name)
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("cumulative pulses per weight (all phases, all tiles), mean over seeds")
    ax.set_ylabel("test accuracy (%), mean over seeds")
    mu, sd = summary.get("ref", (0.4, 1.0))
    where = " on A/P only" if summary.get("offsets") == "residual" else ""
    ax.set_title(
        f"P3's pulse metric on LeNet-5 / MNIST sample, RRAM, μ_r {mu} σ_r {sd}{where}", fontsize=9
    )
    ax.legend(fontsize=7)
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"p3_pulses_lenet{tag}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--targets", type=float, nargs="+", default=[30.0, 50.0, 70.0])
    parser.add_argument("--record-every", type=int, default=50)
    parser.add_argument("--ref", type=float, nargs=2, default=[0.4, 1.0], help="μ_r σ_r")
    parser.add_argument("--eval-samples", type=int, default=200)
    parser.add_argument("--tag", default="", help="suffix of the figure and summary names")
    parser.add_argument(
        "--two-stage",
        nargs="+",
        choices=TWO_STAGE,
        default=["rl"],
        help="second stage after zero-shift: rl (ZS N + RL, default), ttv2 (ZS N + TT-v2)",
    )
    parser.add_argument(
        "--only", nargs="+", default=None, help="run only the methods whose label contains one"
    )
    parser.add_argument(
        "--offsets",
        choices=list(OFFSETS),
        default="both",
        help="reference offsets on W and the residual arrays, or on the residual arrays only",
    )
    args = parser.parse_args()
    steps = round(args.epochs * STEPS_PER_EPOCH)
    tag = args.tag + ("_resoff" if args.offsets == "residual" else "")
    prob = dataclasses.replace(
        problem(eval_samples=args.eval_samples, model="lenet5"), bias_lr=GLOBAL_LR
    )
    algos = select(
        algorithms(
            (args.ref[0], args.ref[1]), two_stage=tuple(args.two_stage), offsets=args.offsets
        ),
        args.only,
    )
    summary = run_all(
        algos,
        prob,
        steps=steps,
        replicas=args.replicas,
        seed=args.seed,
        record_every=args.record_every,
        targets=args.targets,
        bias_lr=bias_lrs(algos),
    )
    summary["ref"] = args.ref
    summary["offsets"] = args.offsets
    print(
        f"\nP3 pulse metric, LeNet-5, RRAM μ_r {args.ref[0]} σ_r {args.ref[1]} "
        f"(offsets: {args.offsets}): {steps} steps "
        f"({steps / STEPS_PER_EPOCH:g} epochs), {args.replicas} seeds, {summary['weights']} weights"
    )
    report(summary, args.targets)
    print(f"figure: {figure(summary, tag)}")
    path = out_dir() / f"p3_pulses_lenet{tag}.json"
    path.write_text(json.dumps(summary, indent=1))
    print(f"summary: {path}")


if __name__ == "__main__":
    np.seterr(over="ignore")
    main()
