"""Seed sweeps of least squares: R replicas in one run against aihwkit seed by seed (issue 15.4).

Run from the project root, in a venv that has pulsetrain (release build) and the optional
reference simulator (benches/requirements-aihwkit.txt):

    python benches/bench_sweep.py
    python benches/bench_sweep.py --additive-windows   # additive noise; pulsetrain windows

The workload is a sweep over seeds of one small least-squares problem, the papers' setting:
W of 5×20, 100 rows of A ~ N(0, 1), W* ~ N(0, 0.45²), batch 10 (cyclic), STEPS steps from W = 0.
Both simulators use a SoftBounds device on [−1, 1] with aihwkit's default cycle-to-cycle and
device-to-device noise, the stochastic pulse update with BL 31 and update management, and exact
(perfect) forward and backward passes. Two algorithms: Analog SGD, and residual learning
(pulsetrain ``ResidualLearning``; aihwkit ``TransferCompound`` with a perfect transfer read,
one column every step), as in benches/bench_aihwkit.py.

- pulsetrain: one ``pulsetrain.run(..., replicas=R)`` call (R = 256), one thread; also the same
  seeds run one at a time (``replicas=1``) to show what the replica axis buys.
- aihwkit: ``AnalogLinear(20, 5, bias=False)`` + ``AnalogSGD``, a fresh model per seed, a plain
  PyTorch loop over the same batches, one thread; AI_SEEDS seeds per timed round (the time per
  replica-step does not depend on the seed count).

The figure of merit is wall time per replica-step (one training step of one seed). The three
timed calls alternate round by round (warm-up, then REPEATS rounds; medians), so they see the
same machine load. As a sanity check that both run the same training, the mean final loss over
seeds is printed for both (they agree only in distribution: different random streams).

aihwkit is optional: without it the bench times pulsetrain alone and leaves RESULTS.md untouched.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

# bench_aihwkit sets one thread everywhere before NumPy or torch is imported, and holds the
# device and pulse settings (and the optional aihwkit import) that this bench shares with it.
import bench_aihwkit as ref
import numpy as np
from _common import package_origin, require_release, write_section

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD, ResidualLearning
from pulsetrain.problems import LeastSquares

HAVE_AIHWKIT = ref.HAVE_AIHWKIT
AIHWKIT_VERSION = ref.AIHWKIT_VERSION
# BL 31 fixed, UM on, c2c multiplicative (aihwkit's default noise); with --additive-windows the
# same with additive noise, pulsetrain sampling each step's batch as one window of samples
# (`aggregate_samples`; aihwkit has no such sampler, so its side only changes the noise model).
ADDITIVE_WINDOWS = "--additive-windows" in sys.argv[1:]
VARIANT = ref.VARIANTS[2] if ADDITIVE_WINDOWS else ref.VARIANTS[0]
assert VARIANT.multiplicative != ADDITIVE_WINDOWS
TITLE = "Seed sweeps of least squares: R replicas vs aihwkit seed by seed (issue 15.4)" + (
    ", additive noise, pulsetrain windows of samples" if ADDITIVE_WINDOWS else ""
)
COMMAND = "python benches/bench_sweep.py" + (" --additive-windows" if ADDITIVE_WINDOWS else "")
OUT, IN, ROWS, BATCH = 5, 20, 100, 10
STEPS = 200
R = 256  # replicas in one pulsetrain run
PT_SEEDS_ONE_BY_ONE = 8  # pulsetrain replicas=1 runs per timed round
AI_SEEDS = 8  # aihwkit seeds per timed round
REPEATS = 5
LR = 0.1
LR_TRANSFER = 0.1
GAMMA = 0.4

PROBLEM = LeastSquares(in_size=IN, out_size=OUT, n_samples=ROWS, batch_size=BATCH)
PT_DEVICE = ref.pt_device(VARIANT)
PT_UPDATE = ref.pt_mode(VARIANT)
PT_ALGOS: dict[str, Any] = {
    "Analog SGD": AnalogSGD(device=PT_DEVICE, lr=LR, update=PT_UPDATE),
    "residual learning": ResidualLearning(
        device=PT_DEVICE,
        lr=LR,
        lr_transfer=LR_TRANSFER,
        gamma_mix=GAMMA,
        transfer_every=1,
        columns_per_transfer=1,
        read_noise_std=0.0,
        update=PT_UPDATE,
    ),
}


def interleaved(fns: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Median seconds per replica-step of each function; each returns the replica-steps it ran."""
    for fn in fns.values():
        fn()
    per: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(REPEATS):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            n = fn()
            per[k].append((time.perf_counter() - t0) / n)
    return {k: statistics.median(v) for k, v in per.items()}


# --------------------------------------------------------------------------------- pulsetrain
final_losses: dict[str, list[float]] = {}


def pt_sweep(name: str) -> Callable[[], float]:
    def run() -> float:
        res = pt.run(
            PROBLEM, PT_ALGOS[name], steps=STEPS, rng=0, replicas=R, n_threads=1,
            record_every=STEPS, progress=False,
        )  # fmt: skip
        final_losses[f"pulsetrain {name}"] = [float(v) for v in res.loss[:, -1]]
        return R * STEPS

    return run


def pt_one_by_one(name: str) -> Callable[[], float]:
    def run() -> float:
        for s in range(PT_SEEDS_ONE_BY_ONE):
            pt.run(
                PROBLEM, PT_ALGOS[name], steps=STEPS, rng=0, replicas=1, replica_offset=s,
                n_threads=1, record_every=STEPS, progress=False,
            )  # fmt: skip
        return PT_SEEDS_ONE_BY_ONE * STEPS

    return run


# --------------------------------------------------------------------------------- aihwkit
def ai_config(name: str) -> Any:
    if name == "Analog SGD":
        cfg = ref.SingleRPUConfig(device=ref.ai_device(VARIANT), update=ref.ai_update(VARIANT))
    else:
        tf = ref.IOParameters()
        tf.is_perfect = True
        device = ref.TransferCompound(
            unit_cell_devices=[ref.ai_device(VARIANT), ref.ai_device(VARIANT)],
            gamma=GAMMA,
            transfer_every=1.0,
            units_in_mbatch=True,
            n_reads_per_transfer=1,
            transfer_columns=True,
            with_reset_prob=0.0,
            random_selection=False,
            fast_lr=LR,
            transfer_lr=LR_TRANSFER,
            scale_transfer_lr=False,
            transfer_forward=tf,
            transfer_update=ref.ai_update(VARIANT),
        )
        cfg = ref.UnitCellRPUConfig(device=device, update=ref.ai_update(VARIANT))
    cfg.forward.is_perfect = True
    cfg.backward.is_perfect = True
    return cfg


def ai_problems(n: int) -> list[tuple[Any, Any]]:
    """Per seed: A and b = A W*ᵀ as float32 tensors (the law of LeastSquares)."""
    out = []
    for s in range(n):
        gen = np.random.default_rng(1000 + s)
        a = gen.standard_normal((ROWS, IN))
        w_star = 0.45 * gen.standard_normal((OUT, IN))
        b = a @ w_star.T
        out.append(
            (
                ref.torch.tensor(a, dtype=ref.torch.float32),
                ref.torch.tensor(b, dtype=ref.torch.float32),
            )
        )
    return out


def ai_sweep(name: str) -> Callable[[], float]:
    data = ai_problems(AI_SEEDS)

    def run() -> float:
        losses = []
        for s, (a, b) in enumerate(data):
            ref.torch.manual_seed(s)
            model = ref.AnalogLinear(IN, OUT, bias=False, rpu_config=ai_config(name))
            model.set_weights(ref.torch.zeros(OUT, IN))
            model.train()
            opt = ref.AnalogSGD(model.parameters(), lr=LR)
            opt.regroup_param_groups(model)
            order = ref.torch.randperm(ROWS)
            for k in range(STEPS):
                j = (k * BATCH) % ROWS
                idx = order[j : j + BATCH]
                xb = a[idx].requires_grad_(requires_grad=True)
                opt.zero_grad()
                y = model(xb)
                loss = 0.5 * ((y - b[idx]) ** 2).sum() / BATCH
                loss.backward()
                opt.step()
            with ref.torch.no_grad():
                y = model(a)
                losses.append(float(0.5 * ((y - b) ** 2).sum() / ROWS))
        final_losses[f"aihwkit {name}"] = losses
        return AI_SEEDS * STEPS

    return run


def us(t: float) -> str:
    return f"{t * 1e6:.2f} µs"


def main() -> None:
    require_release()
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    for name in PT_ALGOS:
        fns: dict[str, Callable[[], float]] = {
            "pulsetrain R": pt_sweep(name),
            "pulsetrain 1": pt_one_by_one(name),
        }
        if HAVE_AIHWKIT:
            fns["aihwkit"] = ai_sweep(name)
        load0 = ref.load()
        res = interleaved(fns)
        load1 = ref.load()
        work = f"least squares 5×20, batch 10, {STEPS} steps; {name}; time per replica-step"
        print(name, {k: us(v) for k, v in res.items()}, f"load {load0} → {load1}")
        if HAVE_AIHWKIT:
            base = f"aihwkit {us(res['aihwkit'])} (seed by seed)"
            rows.append(
                (work, base, f"pulsetrain {us(res['pulsetrain R'])} (R = {R} in one run)",
                 f"{res['aihwkit'] / res['pulsetrain R']:.1f}×")
            )  # fmt: skip
            rows.append(
                (work, base, f"pulsetrain {us(res['pulsetrain 1'])} (seed by seed, R = 1)",
                 f"{res['aihwkit'] / res['pulsetrain 1']:.1f}×")
            )  # fmt: skip
        lp = final_losses[f"pulsetrain {name}"]
        text = (
            f"- *{name}*: final loss (mean ± sd over seeds) pulsetrain "
            f"{np.mean(lp):.4g} ± {np.std(lp):.2g} (R = {R})"
        )
        if HAVE_AIHWKIT:
            la = final_losses[f"aihwkit {name}"]
            text += f", aihwkit {np.mean(la):.4g} ± {np.std(la):.2g} ({AI_SEEDS} seeds)"
        if HAVE_AIHWKIT:
            text += f" (per seed: {', '.join(f'{v:.3g}' for v in la)})"
        notes.append(text + f"; 1-min load {load0} → {load1}.")
        print(notes[-1])
    if not HAVE_AIHWKIT:
        print(f"aihwkit {AIHWKIT_VERSION}: RESULTS.md left untouched")
        return
    text = (
        f"pulsetrain under test: the release build at {package_origin()}. Reference: "
        f"{AIHWKIT_VERSION} (CPU, float32), same process. One thread each. Per algorithm the three "
        "timed calls alternate round by round (one warm-up round, then "
        f"{REPEATS}; medians of the time per replica-step). pulsetrain's R-replica row is one "
        f"`pulsetrain.run(LeastSquares(in_size=20, out_size=5, n_samples=100, batch_size=10), "
        f"algorithm, steps={STEPS}, replicas={R}, n_threads=1)` call including setup and two "
        "records; aihwkit builds a fresh `AnalogLinear` per seed and runs a plain loop (setup "
        "included, loss evaluated once at the end). Same device (SoftBounds ±1, dw_min 1e−3, "
        f"c2c 0.3 {'additive' if ADDITIVE_WINDOWS else 'multiplicative (aihwkit default)'} "
        "and aihwkit's default dtod spreads), stochastic pulses BL 31 fixed "
        f"with update management, perfect forward/backward, lr {LR}"
        f" (residual learning: γ {GAMMA}, transfer lr {LR_TRANSFER}, one column per step, perfect "
        "transfer read). The issue's target is ≥ 50× per replica-step."
        + (
            f" pulsetrain samples with `aggregate_samples={VARIANT.window}`: each step's batch of "
            f"{BATCH} is one window (KERNEL_SPEC §5)."
            if ADDITIVE_WINDOWS
            else ""
        )
        + "\n\n"
        + "\n".join(notes)
    )
    write_section(TITLE, COMMAND, rows, text)
    print(f"wrote section {TITLE!r} of benches/RESULTS.md")


if __name__ == "__main__":
    main()
