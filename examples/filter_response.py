"""C27/C28: the SP-tracking EMA filter Q ← (1 − η)Q + ηP (P3 Lemma 3.10; theory.md §4.7).

    python examples/filter_response.py [--copies 200000]

C27 (exact): |H(e^{jω})|² = η²/(1 + (1−η)² − 2(1−η)cos ω) at ω = π/2 and π, and the −3 dB point
cos ω_c = 1 − η²/(2(1−η)), for η ∈ {0.01, 0.1, 0.5}. Each value is also measured on the implemented
EMA (analysis.simulate_ema) driven by cos(ωk): after a transient of 40/η steps the steady state is
fitted by least squares to a·cos ωk + b·sin ωk over 2000 steps, and a² + b² must equal |H|² to 1e−6.

C28 (statistical): a chopped constant P_k = c_k (c_k = ±1, flipping with probability p per step,
stationary start) gives E[Q²] = (η/(2−η))(1 + r(1−η))/(1 − r(1−η)), r = 1 − 2p. Simulated over
independent copies after 40/η steps (the EMA's transient is then below 1e−17); ± one standard
error over copies. This is how much of the chopped gradient term survives the filter.

The figure draws |H|² against ω on log-log axes with the −3 dB points and the measured values.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _common import out_dir, print_table, pyplot

from pulsetrain import analysis as an

ETAS = (0.01, 0.1, 0.5)
C27 = {  # theory.md C27: |H|² at π/2 and π, and ω_c
    0.01: (None, 2.525189e-5, 0.0100504),
    0.1: (0.00552486, 0.00277008, 0.105458),
    0.5: (0.2, 0.111111, 0.722734),
}
C28 = [(0.01, 0.05, 0.087179), (0.1, 0.05, 0.501385), (0.1, 0.0, 1.0)]


def measured_power(eta: float, omega: float) -> float:
    """Steady-state amplitude² of the EMA driven by cos(ωk), by a least-squares fit."""
    transient, keep = int(40 / eta), 2000
    k = np.arange(transient + keep, dtype=float)
    q = an.simulate_ema(eta, np.cos(omega * k))[transient:]
    basis = np.stack([np.cos(omega * k[transient:]), np.sin(omega * k[transient:])], axis=1)
    coef, *_ = np.linalg.lstsq(basis, q, rcond=None)
    return float(coef @ coef)


def chopped_second_moment(
    eta: float, p: float, copies: int, rng: np.random.Generator, chunk: int = 25
) -> tuple[float, float]:
    """E[Q²] of the EMA driven by a chopped constant, over independent copies (mean, SE)."""
    steps = int(40 / eta)
    chop = np.where(rng.random(copies) < 0.5, -1.0, 1.0)  # stationary start
    q = np.zeros(copies)
    done = 0
    while done < steps:
        m = min(chunk, steps - done)
        flips = rng.random((m, copies)) < p
        signs = chop * np.cumprod(np.where(flips, -1.0, 1.0), axis=0)
        q = an.simulate_ema(eta, signs, initial=q)[-1]
        chop = signs[-1]
        done += m
    sq = q * q
    return float(sq.mean()), float(sq.std(ddof=1) / math.sqrt(copies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--copies", type=int, default=200_000, help="C28 copies (theory: 2e5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t_start = time.perf_counter()
    rows: list[list[object]] = []
    measured: dict[float, list[tuple[float, float]]] = {}
    for eta in ETAS:
        half, nyq, wc_target = C27[eta]
        wc = an.ema_cutoff(eta)
        measured[eta] = []
        for label, omega, target in (
            ("π/2", math.pi / 2, half),
            ("π", math.pi, nyq),
            ("ω_c", wc, 0.5),
        ):
            exact = float(an.ema_response(eta, omega))
            sim = measured_power(eta, omega)
            measured[eta].append((omega, sim))
            # Theory prints 6-7 significant digits: agree to half a unit in the 6th.
            ok = abs(sim - exact) <= 1e-6 and (
                target is None or math.isclose(exact, target, rel_tol=5e-6)
            )
            rows.append(
                [
                    f"η {eta}",
                    f"|H|² at {label}",
                    f"{exact:.7g}",
                    f"{sim:.7g}",
                    "–" if target is None else str(target),
                    "pass" if ok else "FAIL",
                ]
            )
        rows.append(
            [
                f"η {eta}",
                "ω_c (−3 dB)",
                f"{wc:.7g}",
                "",
                str(wc_target),
                "pass" if math.isclose(wc, wc_target, rel_tol=5e-6) else "FAIL",
            ]
        )
    print("C27: EMA power response |H(e^{jω})|² (exact vs the implemented EMA)\n")
    print_table(["η", "quantity", "formula", "simulated", "theory", "result"], rows)

    rng = np.random.default_rng(args.seed)
    rows = []
    for eta, p, target in C28:
        m, se = chopped_second_moment(eta, p, args.copies, rng)
        formula = an.chopped_ema_second_moment(eta, p)
        ok = abs(m - formula) <= 4 * se + 1e-12 and math.isclose(formula, target, rel_tol=5e-6)
        rows.append(
            [
                f"η {eta}, p {p}",
                f"{formula:.6f}",
                f"{m:.5f} ± {se:.5f}",
                str(target),
                "pass" if ok else "FAIL",
            ]
        )
    print(f"\nC28: chopped constant, E[Q²]/a², {args.copies} copies\n")
    print_table(["setting", "formula", "simulated", "theory", "result"], rows)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    omegas = np.logspace(-4, math.log10(math.pi), 400)
    for k, eta in enumerate(ETAS):
        col = f"C{k}"
        ax.loglog(omegas, an.ema_response(eta, omegas), color=col, label=f"η = {eta}")
        wc = an.ema_cutoff(eta)
        ax.plot([wc], [0.5], "o", color=col, mfc="none")
        w_sim, p_sim = zip(*measured[eta], strict=True)
        ax.plot(w_sim, p_sim, "x", color=col)
    ax.axhline(0.5, color="k", lw=0.7, ls=":")
    ax.set_xlabel("ω (radians per step)")
    ax.set_ylabel(r"$|H(e^{j\omega})|^2$")
    ax.set_title("EMA power response; o: −3 dB point, x: simulated EMA")
    ax.legend(fontsize=8)
    path = out_dir() / "filter_response.png"
    fig.savefig(path, dpi=150)
    print(f"figure: {path}")
    print(f"runtime: {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
