"""T7: zero-shift (ZS) convergence and cross-cell spread (shared/theory.md C22, §3.9, §4.6).

    python examples/zero_shift_t7.py [--cells 5000]

Skew-linear device (c = 0.3, τ = 1, SP 0.3), pulse mode, every cell starts at w_0 = −0.5; each
cell is an independent element of one tile. Stochastic ZS fires ±Δw_min pulses with probability
½; cyclic ZS alternates up, down (an even count ends on a down pulse). The table gives the
simulated mean (± one standard error over cells) or the cross-cell std, the exact closed form of
§4.6 (analysis.zs_linear_mean / zs_linear_stationary_variance / zs_linear_cyclic_fixed_point) and
the theory.md target; the last row is B1's soft-bounds pair fixed point −δ/(2 − δ).

The figure draws the mean ± std of the estimate over cells against N (log N), and on log-log axes
the distance of the mean from the SP and the std, with the closed forms, for both modes and
Δw_min ∈ {1e−2, 1e−3}. The estimates at the different N of a curve come from one chain per cell
(ZS continued from the previous N), so points along a curve are correlated.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import out_dir, print_table, pyplot

import pulsetrain as pt
from pulsetrain import analysis as an
from pulsetrain.zero_shift import zero_shift

C, TAU, W0 = 0.3, 1.0, -0.5
SP = C * TAU


def tile_for(dw_min: float, cells: int, seed: int) -> pt.AnalogTile:
    dev = pt.Device(response=pt.SkewLinear(tau=TAU, c_lin=C), dw_min=dw_min)
    rows = max(1, cells // 100)
    tile = pt.AnalogTile(rows, cells // rows, dev, rng=seed)
    tile.set_weights(np.full((rows, cells // rows), W0))
    return tile


def chain(dw_min: float, mode: str, grid: list[int], cells: int, seed: int) -> np.ndarray:
    """Estimates at every N of `grid` (increasing), one chain per cell: (len(grid), cells)."""
    tile = tile_for(dw_min, cells, seed)
    out = np.empty((len(grid), tile.out_size * tile.in_size))
    done = 0
    for k, n in enumerate(grid):
        if n > done:
            zero_shift(tile, n - done, mode=mode)
        done = n
        out[k] = tile.weights.ravel()
    return out


def geometric_grid(top: int, per_decade: int = 8) -> list[int]:
    """Even pulse counts from 2 to `top`, about `per_decade` per decade, with 100·10^k included."""
    n = np.unique(np.round(np.logspace(0, math.log10(top), per_decade * 5)).astype(int))
    decades = [10**k for k in range(2, int(math.log10(top)) + 1)]
    grid = sorted({int(2 * math.ceil(v / 2)) for v in [*n.tolist(), *decades, top]})
    return [g for g in grid if g <= top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=5000, help="independent cells (C22: ≥ 5000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t_start = time.perf_counter()
    rows: list[list[object]] = []
    curves: dict[tuple[str, float], tuple[list[int], np.ndarray]] = {}

    def row(setting: str, sim: str, closed: float, target: float, *, ok: bool) -> None:
        rows.append([setting, sim, f"{closed:.7g}", str(target), "pass" if ok else "FAIL"])

    targets = {1e-2: ((100, 0.00717), (1000, 0.29997), 0.06452, 0.2968004),
               1e-3: ((1000, 0.005844), (10_000, 0.29996), 0.02035, 0.2996814)}  # fmt: skip
    for dw, (first, second, sd_target, cyc_target) in targets.items():
        top = int(20 / dw)  # (1 − Δw_min)^N < 3e−9: stationary
        grid = geometric_grid(top)
        est = chain(dw, "stochastic", grid, args.cells, args.seed)
        curves["stochastic", dw] = (grid, est)
        for n, target in (first, second):
            e = est[grid.index(n)]
            m, se = float(e.mean()), float(e.std(ddof=1) / math.sqrt(e.size))
            closed = float(an.zs_linear_mean(n, dw_min=dw, tau=TAU, w0=W0, c=C))
            row(
                f"stochastic Δw_min {dw:g}, N = {n}: mean",
                f"{m:.6f} ± {se:.6f}",
                closed,
                target,
                ok=abs(m - target) <= 4 * se,
            )
        e = est[-1]
        sd = float(e.std(ddof=1))
        closed_sd = math.sqrt(an.zs_linear_stationary_variance(dw_min=dw, tau=TAU, c=C))
        row(
            f"stochastic Δw_min {dw:g}, N = {top}: std over cells",
            f"{sd:.5f} ± {sd / math.sqrt(2 * e.size):.5f}",
            closed_sd,
            sd_target,
            ok=abs(sd - sd_target) <= 4 * sd_target / math.sqrt(2 * e.size),
        )
        cyc = chain(dw, "cyclic", grid, args.cells, args.seed)
        curves["cyclic", dw] = (grid, cyc)
        cyc_20k = chain(dw, "cyclic", [20_000], 100, args.seed)[0]
        fixed = an.zs_linear_cyclic_fixed_point(dw_min=dw, tau=TAU, c=C)
        row(
            f"cyclic Δw_min {dw:g}, N = 20000 (ends down)",
            f"{cyc_20k.mean():.7f} (spread {np.ptp(cyc_20k):.1e})",
            fixed,
            cyc_target,
            ok=abs(float(cyc_20k.mean()) - cyc_target) <= 5e-8,
        )
    delta = 0.05
    sb = pt.AnalogTile(2, 2, pt.Device(response=pt.SoftBounds(), dw_min=delta), rng=args.seed)
    pair = zero_shift(sb, 2000, mode="cyclic").estimate
    row(
        "B1 soft bounds SP 0, δ 0.05, up then down",
        f"{pair.mean():.7f}",
        an.zs_linear_cyclic_fixed_point(dw_min=delta, tau=1.0),
        round(-delta / (2 - delta), 6),
        ok=abs(float(pair.mean()) + delta / (2 - delta)) < 1e-12,
    )
    print(f"T7 (C22): skew c = {C}, τ = {TAU}, w_0 = {W0}, {args.cells} cells\n")
    print_table(["setting", "simulated", "closed form", "target", "result"], rows)

    plt = pyplot()
    fig, (ax, ax_log) = plt.subplots(1, 2, figsize=(11.0, 4.2), constrained_layout=True)
    colors = {(m, d): f"C{k}" for k, (m, d) in enumerate(curves)}
    for (mode, dw), (grid, est) in curves.items():
        ns = np.asarray(grid, dtype=float)
        mean, std = est.mean(axis=1), est.std(axis=1, ddof=1)
        col = colors[mode, dw]
        label = f"{mode}, Δw_min {dw:g}"
        ax.plot(ns, mean, color=col, label=label)
        ax.fill_between(ns, mean - std, mean + std, color=col, alpha=0.2, lw=0)
        ax_log.loglog(ns, np.abs(mean - SP), color=col, label=f"|mean − w◇|, {label}")
        if mode == "stochastic":
            cm, cs = an.zs_linear_moments(ns, dw_min=dw, tau=TAU, w0=W0, c=C)
            ax.plot(ns, cm, color="k", lw=0.7, ls=":")
            ax_log.loglog(ns, np.abs(cm - SP), color="k", lw=0.7, ls=":")
            ax_log.loglog(ns, std, color=col, ls="--", label=f"std, {label}")
            ax_log.loglog(ns, cs, color="k", lw=0.7, ls=":")
            ax_log.loglog(ns, std / math.sqrt(est.shape[1]), color=col, lw=0.5, alpha=0.6)
        else:
            off = abs(an.zs_linear_cyclic_fixed_point(dw_min=dw, tau=TAU, c=C) - SP)
            ax_log.axhline(off, color=col, lw=0.7, ls="-.")
    ax.axhline(SP, color="k", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("ZS pulses per element N")
    ax.set_ylabel("estimate Ŵ◇ (mean ± std over cells)")
    ax.set_title("ZS on skew c = 0.3 (SP 0.3, dashed); closed form dotted")
    ax.legend(fontsize=7)
    ax_log.set_xlabel("ZS pulses per element N")
    ax_log.set_ylabel("|mean − w◇| (solid), std (dashed)")
    ax_log.set_title("log-log; cyclic offset dash-dotted, thin: SE of the mean")
    ax_log.set_ylim(1e-5, 2.0)
    ax_log.legend(fontsize=6)
    path = out_dir() / "zero_shift_t7.png"
    fig.savefig(path, dpi=150)
    print(f"figure: {path}")
    print(f"runtime: {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
