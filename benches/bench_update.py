"""The three update modes on a 512×512 tile: Rust kernel vs the NumPy twin, 1 vs 2 threads.

Run from the project root with a release build installed:

    python benches/bench_update.py

Each ratio is measured in this one run (median of 7 after a warm-up). The twin is timed on the
same inputs and the same seed; it replays the same random streams, and the bench checks that both
end with the same pulse counts before it reports anything.
"""

from __future__ import annotations

import os

import numpy as np
from _common import median_time, require_release, write_section

import pulsetrain as pt
from pulsetrain.twin import TwinTile

OUT = IN = 512
LR = 0.01
DEVICE = pt.Device(
    response=pt.SoftBounds(),
    dw_min=1e-3,
    dw_min_std=0.3,
    dw_min_dtod=0.3,
    up_down_dtod=0.01,
    w_max_dtod=0.3,
    w_min_dtod=0.3,
)
MODES: list[tuple[str, pt.UpdateMode, int, int]] = [
    # name, mode, batch for the kernel, batch for the twin (the twin is slow: fewer samples,
    # compared per sample)
    ("expected", pt.ExpectedUpdate(), 100, 100),
    ("pulse count (max_bl 31)", pt.PulseCountUpdate(max_bl=31), 100, 100),
    (
        "stochastic pulses (BL 31, UM on)",
        pt.StochasticPulseUpdate(desired_bl=31, update_bl_management=False),
        100,
        2,
    ),
]


def inputs(batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    x = gen.uniform(-1.0, 1.0, size=(1, batch, IN))
    d = gen.normal(0.0, 0.5, size=(1, batch, OUT))
    return x, d


def main() -> None:
    require_release()
    rows: list[tuple[str, str, str, str]] = []
    for name, mode, batch, twin_batch in MODES:
        # Correctness first: kernel and twin, same seed and inputs, same pulse counts.
        xs, ds = inputs(twin_batch, seed=1)
        tile = pt.AnalogTile(OUT, IN, DEVICE, update=mode, rng=7, n_threads=1)
        twin = TwinTile(DEVICE.to_spec(), mode.to_spec(), OUT, IN, 1, list(tile_key(7)))
        tile.update(xs, ds, lr=LR)
        twin.update(xs, ds, LR, 0)
        assert np.array_equal(tile.pulse_counts(), twin.pulse_counts(0)), name

        x, d = inputs(batch)
        kern = {n: pt.AnalogTile(OUT, IN, DEVICE, update=mode, rng=7, n_threads=n) for n in (1, 2)}
        t1 = median_time(lambda k=kern[1], x=x, d=d: k.update(x, d, lr=LR)) / batch
        t2 = median_time(lambda k=kern[2], x=x, d=d: k.update(x, d, lr=LR)) / batch
        xt, dt = inputs(twin_batch)
        ref = TwinTile(DEVICE.to_spec(), mode.to_spec(), OUT, IN, 1, list(tile_key(7)))
        repeats = 7 if twin_batch * OUT * IN < 50e6 else 3
        tt = (
            median_time(lambda r=ref, x=xt, d=dt: r.update(x, d, LR, 0), repeats=repeats, warmup=0)
            / twin_batch
        )
        rows.append(
            (
                f"{name}, 512×512, per sample",
                f"NumPy twin {tt * 1e3:.2f} ms",
                f"Rust, 1 thread {t1 * 1e3:.4f} ms",
                f"{tt / t1:.0f}×",
            )
        )
        rows.append(
            (
                f"{name}, 512×512, batch {batch}",
                f"Rust, 1 thread {t1 * batch * 1e3:.2f} ms",
                f"Rust, 2 threads {t2 * batch * 1e3:.2f} ms",
                f"{t1 / t2:.2f}×",
            )
        )
        print(rows[-2], rows[-1], flush=True)
    rows += extra_rows()
    notes = (
        "Device: SoftBounds on [−1, 1], dw_min 1e−3, c2c 0.3 (additive), dtod 0.3 on steps and "
        "bounds, up_down_dtod 0.01. Inputs x ~ U(−1, 1), d ~ N(0, 0.5²), lr 0.01. The twin is "
        "timed per sample on a shorter batch in the stochastic mode (its cost is linear in the "
        "batch); every ratio compares medians taken in the same run. Before timing, kernel and "
        "twin are run on the same seed and inputs and must fire identical pulse counts. "
        "State per element: physical weight 8 B, device map (bounds, up/down steps) 32 B, "
        "reference 8 B, pulse counters for three phases 24 B: 72 B."
    )
    write_section(
        "Update modes: Rust vs NumPy twin, threads (issue 3)",
        "python benches/bench_update.py",
        rows,
        notes,
    )


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as fh:  # noqa: PTH123 - a procfs read
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def extra_rows() -> list[tuple[str, str, str, str]]:
    """Issue 5 items 4–6: small-tile replicas across threads, memory-bound floor, memory."""
    rows = []
    # 64 replicas of 32×32, stochastic pulses, batch 100: 1 vs 2 threads (bit-identical).
    r, n, batch = 64, 32, 100
    gen = np.random.default_rng(3)
    x = gen.uniform(-1.0, 1.0, size=(r, batch, n))
    d = gen.normal(0.0, 0.5, size=(r, batch, n))
    mode = pt.StochasticPulseUpdate(desired_bl=31, update_bl_management=False)
    tiles = {
        k: pt.AnalogTile(n, n, DEVICE, replicas=r, update=mode, rng=5, n_threads=k) for k in (1, 2)
    }
    t1 = median_time(lambda: tiles[1].update(x, d, lr=LR))
    t2 = median_time(lambda: tiles[2].update(x, d, lr=LR))
    assert np.array_equal(tiles[1].weights, tiles[2].weights)
    rows.append(
        (
            "stochastic pulses, 64 replicas of 32×32, batch 100",
            f"Rust, 1 thread {t1 * 1e3:.2f} ms",
            f"Rust, 2 threads {t2 * 1e3:.2f} ms",
            f"{t1 / t2:.2f}×",
        )
    )
    # Expected and pulse-count modes against a plain memory-bound pass over the same state.
    for name, m in (
        ("expected", pt.ExpectedUpdate()),
        ("pulse count, 1 pulse per element", pt.PulseCountUpdate(max_bl=1)),
    ):
        tile = pt.AnalogTile(
            OUT, IN, pt.Device(response=pt.SoftBounds(), dw_min=1e-3), update=m, rng=1, n_threads=1
        )
        delta = np.full((1, OUT, IN), 1e-3)
        t_kernel = median_time(lambda tile=tile, delta=delta: tile.apply_delta(delta))
        state = np.zeros(OUT * IN * 72 // 8)  # the tile's bytes: 72 per element (see notes)
        dst = np.empty_like(state)
        t_copy = median_time(lambda state=state, dst=dst: np.copyto(dst, state))
        rows.append(
            (
                f"{name}, apply_delta 512×512",
                f"NumPy copy of the tile state {t_copy * 1e3:.2f} ms",
                f"Rust, 1 thread {t_kernel * 1e3:.2f} ms",
                f"{t_kernel / t_copy:.2f}× the floor",
            )
        )
    # Memory: resident growth when a tile is built, against its state size.
    before = rss_bytes()
    big = pt.AnalogTile(1024, 1024, DEVICE, replicas=4, update=mode, rng=0, n_threads=1)
    grown = rss_bytes() - before
    state_bytes = 4 * 1024 * 1024 * 72
    rows.append(
        (
            "memory of a 4×1024×1024 tile",
            f"state {state_bytes / 2**20:.0f} MiB",
            f"resident growth {grown / 2**20:.0f} MiB",
            f"{grown / state_bytes:.2f}×",
        )
    )
    before = rss_bytes()
    xb = gen.uniform(-1, 1, size=(4, 10, 1024))
    db = gen.normal(0, 0.5, size=(4, 10, 1024))
    big.update(xb, db, lr=LR)
    rows.append(
        (
            "resident growth during an update of that tile",
            "0 MiB expected",
            f"{(rss_bytes() - before) / 2**20:.1f} MiB",
            "-",
        )
    )
    return rows


def tile_key(seed: int) -> tuple[int, int]:
    from pulsetrain.rng import as_seed_sequence
    from pulsetrain.rng import tile_key as key

    return key(as_seed_sequence(seed), 0)


if __name__ == "__main__":
    main()
