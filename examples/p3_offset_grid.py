"""P3's reference-offset grid on least squares: TT-v2, AGAD and E-RIDER over (μ_r, σ_r).

    python examples/p3_offset_grid.py [--replicas 8] [--steps 10000]

P3 Tables 1–2 (theory.md §5 H8) compare TT-v2, AGAD and E-RIDER on an RRAM device whose
reference is offset from the symmetric point: rows "Ref Mean", columns "Ref Std". theory.md §6.7
reads them as the offset model of §2.4, R = W◇ + μ_r + σ_r ξ, so the logical SP of each element of
the gradient array is −(μ_r + σ_r ξ); rows μ_r ∈ {0, 0.2, 0.3, 0.4}, columns σ_r ∈ {0.05, 0.2,
0.5, 1.0} here. P3's claim: E-RIDER > AGAD > TT-v2 in every cell.

This is the least-squares version at reduced cost (the LeNet version waits for the network issue):

* problem: least squares W ∈ R^{4×8}, 64 rows of A ~ N(0, 1), batch 1 (C25's problem);
* device: a few-state device as in C25 (B1's regime): soft bounds on [−1, 1] with slopes 1.2/0.8
  (SP 0.2, asymmetric as c-TTv2/AGAD need), Δw_min 0.1 (20 states), the SP subtracted in the
  reference and the (μ_r, σ_r) offset applied to the gradient array A/P only (W's reference is
  at its SP); stochastic pulse update (aihwkit defaults);
* algorithms with the same lr 0.05 and lr_transfer 0.1 (C25's values, not tuned per method):
  TT-v2 (``TTv2`` defaults: momentum 0.1, forget_buffer, 1 column per step, gamma 0), AGAD
  (``AGAD`` defaults: chop_prob 0.1, tail_weightening 5) and E-RIDER (buffered, ``ERIDERBuffered``
  defaults: chop_prob 0.05, gamma_mix 0.1, 1 column per step). Adding an algorithm is one line in
  :data:`ALGORITHMS`.

Reported per cell: ‖W̄ − W*‖² averaged over the second half of the run (mean ± SE over replicas;
every cell and method sees the same problems, seed 1), and the order of the methods. The figure
shows one heat map per method on a shared log colour scale.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import AGAD, Algorithm, ERIDERBuffered, TTv2
from pulsetrain.problems import LeastSquares

REF_MEANS = (0.0, 0.2, 0.3, 0.4)
REF_STDS = (0.05, 0.2, 0.5, 1.0)
LR, LR_TRANSFER = 0.05, 0.1
PROBLEM = LeastSquares(in_size=8, out_size=4, n_samples=64, batch_size=1)
FIGURES = Path(__file__).resolve().parent / "figures"

Factory = Callable[[pt.Device, pt.Device], Algorithm]
_UP = pt.StochasticPulseUpdate()
ALGORITHMS: dict[str, Factory] = {
    "TT-v2": lambda w, p: TTv2(
        device=w, device_residual=p, update=_UP, lr=LR, lr_transfer=LR_TRANSFER
    ),
    "AGAD": lambda w, p: AGAD(
        device=w, device_residual=p, update=_UP, lr=LR, lr_transfer=LR_TRANSFER
    ),
    "E-RIDER": lambda w, p: ERIDERBuffered(
        device=w, device_residual=p, update=_UP, lr=LR, lr_transfer=LR_TRANSFER
    ),
}


def device(ref_mean: float, ref_std: float) -> pt.Device:
    """The few-state device with its reference offset by ref_mean + ref_std·ξ from the SP."""
    return pt.Device(
        response=pt.SoftBounds(slope_up=1.2, slope_down=0.8),
        dw_min=0.1,
        subtract_symmetry_point=True,
        reference_mean=ref_mean,
        reference_std=ref_std,
    )


def cell_errors(
    ref_mean: float, ref_std: float, replicas: int, steps: int, seed: int
) -> dict[str, np.ndarray]:
    """Per method, per replica ‖W̄ − W*‖² averaged over the second half of the records."""
    out = {}
    for name, make in ALGORITHMS.items():
        res = pt.run(
            PROBLEM,
            make(device(0.0, 0.0), device(ref_mean, ref_std)),
            steps=steps,
            replicas=replicas,
            rng=seed,
            progress=False,
            n_threads=1,
            record_every=max(1, steps // 40),
        )
        out[name] = np.asarray(res.error[:, res.error.shape[1] // 2 :].mean(axis=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    t0 = time.perf_counter()
    names = list(ALGORITHMS)
    grid = np.full((len(names), len(REF_MEANS), len(REF_STDS)), np.nan)
    rows: list[list[object]] = []
    for i, mu in enumerate(REF_MEANS):
        for j, sd in enumerate(REF_STDS):
            errs = cell_errors(mu, sd, args.replicas, args.steps, args.seed)
            row: list[object] = [mu, sd]
            for k, name in enumerate(names):
                e = errs[name]
                grid[k, i, j] = e.mean()
                row.append(f"{e.mean():.3f} ± {e.std(ddof=1) / math.sqrt(e.size):.3f}")
            order = sorted(names, key=lambda n: float(errs[n].mean()))
            rows.append([*row, " < ".join(order)])
    print(
        f"P3 offset grid on least squares 4×8 (batch 1), soft bounds 1.2/0.8, 20 states, offsets "
        f"on the gradient array; lr {LR}, lr_transfer {LR_TRANSFER}; {args.replicas} replicas × "
        f"{args.steps} steps, seed {args.seed}; ‖W̄ − W*‖², second-half mean ± SE\n"
    )
    print_table(["μ_r", "σ_r", *names, "order (best first)"], rows)

    plt = pyplot()
    from matplotlib.colors import LogNorm

    fig, axes = plt.subplots(
        1, len(names), figsize=(3.4 * len(names) + 1.0, 3.4), squeeze=False, layout="constrained"
    )
    norm = LogNorm(vmin=float(np.nanmin(grid)), vmax=float(np.nanmax(grid)))
    im = None
    for k, (ax, name) in enumerate(zip(axes[0], names, strict=True)):
        im = ax.imshow(grid[k], norm=norm, cmap="viridis_r", origin="upper")
        for i in range(len(REF_MEANS)):
            for j in range(len(REF_STDS)):
                v = grid[k, i, j]
                colour = "k" if norm(v) < 0.5 else "w"
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(len(REF_STDS)), [f"{s:g}" for s in REF_STDS])
        ax.set_yticks(range(len(REF_MEANS)), [f"{m:g}" for m in REF_MEANS])
        ax.set_xlabel("reference std σ_r")
        if k == 0:
            ax.set_ylabel("reference mean μ_r")
        ax.set_title(name, fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), label="‖W̄ − W*‖² (second half, mean)")
    fig.suptitle("P3's reference-offset grid on least squares (few-state device)", fontsize=10)
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / "p3_offset_grid.png"
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")
    print(f"runtime: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
