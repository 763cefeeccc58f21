"""Fit device models to up/down pulse traces (pulsetrain.fitting; the same as `pulsetrain fit`).

    python examples/fit_device.py                 # the bundled synthetic traces
    python examples/fit_device.py TRACES.csv      # your own (columns device,pulse,direction,w)
    python examples/fit_device.py --regenerate    # rewrite examples/data/fit_traces.csv

The bundled traces (examples/data/fit_traces.csv) come from a "hidden" device simulated by
pulsetrain itself: a power response (P1 Eq. 148) with tau 1 and exponent 2, dw_min 0.02, 15%
additive cycle-to-cycle noise, 10% device-to-device gain spread and 3% up/down spread, on 4
devices, two cycles of 120 up then 120 down pulses. Every family (and a
9-node piecewise table) is fitted and ranked by AIC; the table gives each fit's goodness of fit
and its parameters with standard errors. The best fit's device is printed as the TOML table to
paste under an algorithm's `device` key in a `pulsetrain run` config, and the figure
(examples/figures/fit_device.png) shows the mean step against the state for the best fits with
the data, and a trace simulated with the best fit over the measured one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pulsetrain as pt
from pulsetrain.config import dumps_toml
from pulsetrain.fitting import (
    fit_all,
    format_table,
    load_traces,
    plot_fit,
    save_traces,
    simulate_traces,
)

DATA = Path(__file__).resolve().parent / "data" / "fit_traces.csv"


def hidden_device() -> pt.Device:
    """Return the device behind the bundled traces."""
    return pt.Device(
        response=pt.Power(tau=1.0, gamma_res=2.0),
        dw_min=0.02,
        dw_min_std=0.15,
        dw_min_dtod=0.1,
        up_down_dtod=0.03,
    )


def main() -> None:
    """Fit every family to the traces, print the table and the best device, save the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="?", default=str(DATA), help="trace CSV")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the bundled CSV")
    args = parser.parse_args()
    if args.regenerate:
        traces = simulate_traces(hidden_device(), n_devices=4, n_pulses=120, n_cycles=2, rng=7)
        save_traces(traces, DATA)
        print(f"wrote {DATA}")
    traces = load_traces(args.traces)
    print(f"{traces.n_devices} devices, {traces.n_pulses} steps from {args.traces}")
    t0 = time.perf_counter()
    results = fit_all(traces)
    print(f"fitted {len(results)} families in {time.perf_counter() - t0:.1f} s\n")
    print(format_table(results))
    print(f"\n# best: {results[0].family}")
    print(dumps_toml(results[0].device()))
    path = Path(__file__).resolve().parent / "figures" / "fit_device.png"
    plot_fit(traces, results[:3]).savefig(path, dpi=150)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
