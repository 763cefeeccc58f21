"""pulsetrain against IBM aihwkit 1.1.0 on the CPU, one thread each (issue 5).

Run from the project root, in a venv that has both pulsetrain (release build) and the optional
reference simulator (benches/requirements-aihwkit.txt):

    python benches/bench_aihwkit.py

Workloads, each timed in this one process and run (median of 7 after a warm-up, the two
simulators interleaved round by round so that both see the same machine load):

a. The stochastic pulse-coincidence update (aihwkit STOCHASTIC_COMPRESSED, shared/theory.md
   §2.3(c)) of a 512×512 SoftBounds tile with cycle-to-cycle noise and device-to-device
   variation, batch 100, per sample. Before timing, both simulators run the same inputs on an
   ideal device (constant step, no noise, no variation) sample by sample; their pulses per element
   per sample and the projection of ΔW on the target −lr d xᵀ must agree with the analytic
   expectation and with each other within 4 standard errors (estimated from the per-sample spread).
b. A training step (forward + backward + update) of a 512×512 layer, batch 10: aihwkit
   AnalogLinear + AnalogSGD with perfect IO, and TransferCompound (residual learning). pulsetrain's
   step is y = W x and Wᵀ δ in NumPy on a copy of the weights plus the tile update, and for
   residual learning ``ResidualLearning``'s state step (the brief predates the periphery of
   issue 8). When the installed pulsetrain has ``AnalogTile.forward``/``backward``, Analog SGD is
   also timed through them, with perfect IO and with aihwkit's default ``IOParameters()`` in both.

aihwkit is optional: without it the bench prints a message, times pulsetrain alone and leaves
RESULTS.md untouched. It is never imported anywhere else in the project.
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy or torch is imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import package_origin, require_release, write_section  # noqa: E402

import pulsetrain as pt  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    import aihwkit
    from aihwkit.nn import AnalogLinear
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import (
        ConstantStepDevice,
        IOParameters,
        SingleRPUConfig,
        SoftBoundsDevice,
        TransferCompound,
        UnitCellRPUConfig,
        UpdateParameters,
    )
    from aihwkit.simulator.parameters.enums import PulseType
    from aihwkit.simulator.tiles import AnalogTile as AihwkitTile

    HAVE_AIHWKIT = True
    AIHWKIT_VERSION = f"aihwkit {aihwkit.__version__}, torch {torch.__version__}"
except ImportError as exc:  # pragma: no cover - depends on the optional install
    HAVE_AIHWKIT = False
    AIHWKIT_VERSION = f"not importable ({exc})"

TITLE = "aihwkit 1.1.0 vs pulsetrain (issue 5)"
COMMAND = "python benches/bench_aihwkit.py"
OUT = IN = 512
LR = 0.01
LR_TRANSFER = 0.01
GAMMA = 0.4
UPDATE_BATCH = 100
TRAIN_BATCH = 10
TRAIN_STEPS = 5  # training steps per timed repeat
TRAIN_POOL = 64  # distinct batches, used in turn
DESIRED_BL = 31
REPEATS = 7
# Device: SoftBounds on [-1, 1] with aihwkit's default noise and variation, all switched on.
DW_MIN = 1e-3
DW_MIN_STD = 0.3
DW_MIN_DTOD = 0.3
UP_DOWN_DTOD = 0.01
W_DTOD = 0.3
IDEAL_BOUND = 10.0  # bounds of the ideal device, far from any weight reached


@dataclass(frozen=True)
class Variant:
    """One pairing of pulse settings and cycle-to-cycle noise model."""

    name: str
    bl_management: bool
    multiplicative: bool
    # pulsetrain's windows of samples (`aggregate_samples`; 1: each train on its own). Exact in
    # distribution with additive noise; aihwkit has no such sampler, so its side is unchanged.
    window: int = 1
    # Also time the training steps with these settings.
    train: bool = False


VARIANTS = [
    Variant(
        "BL 31 fixed, UM on, c2c multiplicative",
        bl_management=False,
        multiplicative=True,
        train=True,
    ),
    Variant("BL 31 fixed, UM on, c2c additive", bl_management=False, multiplicative=False),
    Variant(
        "BL 31 fixed, UM on, c2c additive, pulsetrain windows of 100 samples",
        bl_management=False,
        multiplicative=False,
        window=100,
        train=True,
    ),
    Variant(
        "aihwkit defaults: BL ≤ 31 with BL management, UM on, c2c multiplicative",
        bl_management=True,
        multiplicative=True,
    ),
]


# --------------------------------------------------------------------------------- timing
def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int | None = None, warmup: int = 1
) -> dict[str, tuple[float, float]]:
    """Median wall time and median CPU/wall ratio per function; functions alternate per round."""
    repeats = REPEATS if repeats is None else repeats
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            t1, c1 = time.perf_counter(), time.process_time()
            wall[k].append(t1 - t0)
            cpu[k].append((c1 - c0) / (t1 - t0))
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def load() -> str:
    """The 1-minute load average, as `uptime` shows it."""
    return f"{os.getloadavg()[0]:.2f}"


def ms(t: float) -> str:
    if math.isnan(t):
        return "skipped"
    return f"{t * 1e3:.2f} ms" if t < 10 else f"{t:.2f} s"


# --------------------------------------------------------------------------------- inputs
def f32(a: np.ndarray) -> np.ndarray:
    """Round to float32 and back, so both simulators (aihwkit is float32) get the same inputs."""
    return a.astype(np.float32).astype(np.float64)


def update_inputs(batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    return f32(gen.uniform(-1.0, 1.0, (batch, IN))), f32(gen.normal(0.0, 0.5, (batch, OUT)))


def expected_counts(
    x: np.ndarray, d: np.ndarray, lr: float, *, bl_management: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: mean over elements of E[pulses] and E[ΔW] projected on −lr d xᵀ.

    shared/theory.md §2.3(c) steps 1–4 with UM on (fixed BL, or BL management).
    """
    means, slopes = [], []
    for xb, db in zip(x, d, strict=True):
        x_m, d_m = np.abs(xb).max(), np.abs(db).max()
        k = lr * x_m * d_m / DW_MIN
        bl = min(math.ceil(k), DESIRED_BL) if bl_management else DESIRED_BL
        bl = max(bl, 1)
        a = b = math.sqrt(lr / (DW_MIN * bl))
        d2 = d_m * min(1.0, DESIRED_BL / k)
        a *= math.sqrt(x_m / d2)
        b *= math.sqrt(d2 / x_m)
        px, pd = np.minimum(1.0, b * np.abs(xb)), np.minimum(1.0, a * np.abs(db))
        n = bl * np.outer(pd, px)
        target = -lr * np.outer(db, xb)
        dw = np.sign(target) * n * DW_MIN
        means.append(n.mean())
        slopes.append((dw * target).sum() / (target * target).sum())
    return np.array(means), np.array(slopes)


# --------------------------------------------------------------------------------- configs
def pt_mode(v: Variant) -> pt.StochasticPulseUpdate:
    return pt.StochasticPulseUpdate(
        desired_bl=DESIRED_BL,
        update_management=True,
        update_bl_management=v.bl_management,
        fixed_bl=True,
        aggregate_samples=v.window,
    )


def pt_device(v: Variant) -> pt.Device:
    return pt.Device(
        response=pt.SoftBounds(w_max=1.0, w_min=-1.0),
        dw_min=DW_MIN,
        dw_min_std=DW_MIN_STD,
        c2c_mode=pt.C2CMode.MULTIPLICATIVE if v.multiplicative else pt.C2CMode.ADDITIVE,
        dw_min_dtod=DW_MIN_DTOD,
        up_down_dtod=UP_DOWN_DTOD,
        w_max_dtod=W_DTOD,
        w_min_dtod=W_DTOD,
    )


PT_IDEAL = pt.Device(response=pt.Ideal(w_min=-IDEAL_BOUND, w_max=IDEAL_BOUND), dw_min=DW_MIN)


def ai_update(v: Variant) -> Any:
    return UpdateParameters(
        desired_bl=DESIRED_BL,
        fixed_bl=True,
        pulse_type=PulseType.STOCHASTIC_COMPRESSED,
        update_management=True,
        update_bl_management=v.bl_management,
        um_grad_scale=1.0,
        res=0,
        sto_round=False,
    )


def ai_device(v: Variant) -> Any:
    return SoftBoundsDevice(
        dw_min=DW_MIN,
        dw_min_std=DW_MIN_STD,
        mult_noise=v.multiplicative,
        dw_min_dtod=DW_MIN_DTOD,
        dw_min_dtod_log_normal=False,
        up_down=0.0,
        up_down_dtod=UP_DOWN_DTOD,
        w_max=1.0,
        w_min=-1.0,
        w_max_dtod=W_DTOD,
        w_min_dtod=W_DTOD,
        write_noise_std=0.0,
        enforce_consistency=True,
    )


def ai_ideal() -> Any:
    return ConstantStepDevice(
        dw_min=DW_MIN,
        dw_min_std=0.0,
        dw_min_dtod=0.0,
        up_down=0.0,
        up_down_dtod=0.0,
        w_max=IDEAL_BOUND,
        w_min=-IDEAL_BOUND,
        w_max_dtod=0.0,
        w_min_dtod=0.0,
    )


def ai_tile(device: Any, v: Variant) -> Any:
    cfg = SingleRPUConfig(device=device, update=ai_update(v))
    tile = AihwkitTile(OUT, IN, cfg)
    tile.set_learning_rate(LR)
    tile.tile.set_weights(torch.zeros(OUT, IN))
    return tile


def ai_perfect(cfg: Any) -> Any:
    cfg.forward.is_perfect = True
    cfg.backward.is_perfect = True
    return cfg


# --------------------------------------------------------------------------------- (a)
def per_sample_ideal(
    x: np.ndarray, d: np.ndarray, v: Variant
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pulses per element and projection slope per sample on the ideal device, both simulators."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    target = [-LR * np.outer(db, xb) for xb, db in zip(x, d, strict=True)]
    tile = pt.AnalogTile(OUT, IN, PT_IDEAL, update=pt_mode(v), rng=11, n_threads=1)
    counts, slopes = [], []
    c_prev, w_prev = tile.pulse_counts()[0].astype(np.int64), tile.weights[0]
    for b in range(len(x)):
        tile.update(x[b : b + 1], d[b : b + 1], lr=LR)
        c, w = tile.pulse_counts()[0].astype(np.int64), tile.weights[0]
        counts.append((c - c_prev).mean())
        slopes.append(((w - w_prev) * target[b]).sum() / (target[b] ** 2).sum())
        c_prev, w_prev = c, w
    out["pulsetrain"] = (np.array(counts), np.array(slopes))
    if HAVE_AIHWKIT:
        at = ai_tile(ai_ideal(), v)
        counts, slopes = [], []
        w_prev = at.tile.get_weights().double().numpy()
        worst = 0.0
        for b in range(len(x)):
            xb = torch.tensor(x[b : b + 1], dtype=torch.float32)
            db = torch.tensor(d[b : b + 1], dtype=torch.float32)
            at.tile.update(xb, db, bias=False)
            w = at.tile.get_weights().double().numpy()
            n = np.abs(w - w_prev) / DW_MIN  # one sample: every pulse of an element has one sign
            worst = max(worst, float(np.abs(n - np.rint(n)).max()))
            counts.append(np.rint(n).mean())
            slopes.append(((w - w_prev) * target[b]).sum() / (target[b] ** 2).sum())
            w_prev = w
        assert worst < 0.05, f"aihwkit ideal-device steps are not whole pulses ({worst})"
        out["aihwkit"] = (np.array(counts), np.array(slopes))
    return out


def zscore(r: np.ndarray) -> float:
    se = r.std(ddof=1) / math.sqrt(len(r))
    return float(r.mean() / se) if se > 0 else (0.0 if r.mean() == 0 else math.inf)


def check_update(v: Variant) -> tuple[str, dict[str, float]]:
    """The correctness cross-check on the ideal device; returns a note and the mean counts."""
    x, d = update_inputs(UPDATE_BATCH, seed=1)
    e_mean, e_slope = expected_counts(x, d, LR, bl_management=v.bl_management)
    got = per_sample_ideal(x, d, v)
    parts, means = [], {}
    for name, (m, s) in got.items():
        zm, zs = zscore(m - e_mean), zscore(s - e_slope)
        assert abs(zm) < 4, (name, v.name, "count", zm)
        assert abs(zs) < 4, (name, v.name, "slope", zs)
        means[name] = float(m.mean())
        parts.append(
            f"{name} {m.mean():.4f} pulses/element/sample (z {zm:+.1f}), slope {s.mean():.4f} "
            f"(z {zs:+.1f})"
        )
    if "aihwkit" in got:
        (ma, sa), (mp, sp) = got["aihwkit"], got["pulsetrain"]
        zm, zs = zscore(ma - mp), zscore(sa - sp)
        assert abs(zm) < 4, ("paired", v.name, "count", zm)
        assert abs(zs) < 4, ("paired", v.name, "slope", zs)
        parts.append(f"paired difference z {zm:+.1f} (counts), {zs:+.1f} (slope)")
    note = (
        f"expected {e_mean.mean():.4f} pulses/element/sample, slope {e_slope.mean():.4f}; "
        + "; ".join(parts)
    )
    return note, means


def bench_update(v: Variant) -> dict[str, Any]:
    x, d = update_inputs(UPDATE_BATCH, seed=0)
    tile = pt.AnalogTile(OUT, IN, pt_device(v), update=pt_mode(v), rng=7, n_threads=1)
    fns: dict[str, Callable[[], object]] = {"pulsetrain": lambda: tile.update(x, d, lr=LR)}
    if HAVE_AIHWKIT:
        at = ai_tile(ai_device(v), v)
        xt, dt = torch.tensor(x, dtype=torch.float32), torch.tensor(d, dtype=torch.float32)
        fns["aihwkit"] = lambda: at.tile.update(xt, dt, bias=False)
    load0 = load()
    res = interleaved(fns)
    n_calls = REPEATS + 1
    pulses = tile.pulse_counts().sum() / (OUT * IN * UPDATE_BATCH * n_calls)
    return {"times": res, "pt_pulses": float(pulses), "load": f"{load0} → {load()}"}


# --------------------------------------------------------------------------------- (b)
def train_data(seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A pool of batches (x, t), used in turn: the work per step stays about constant."""
    gen = np.random.default_rng(seed)
    x = gen.uniform(-1.0, 1.0, (TRAIN_POOL, TRAIN_BATCH, IN))
    t = gen.normal(0.0, 1.0, (TRAIN_POOL, TRAIN_BATCH, OUT))
    return f32(x), f32(t)


def pt_asgd_step(v: Variant, x: np.ndarray, t: np.ndarray) -> tuple[Callable[[], object], Any]:
    tile = pt.AnalogTile(OUT, IN, pt_device(v), update=pt_mode(v), rng=5, n_threads=1)
    k = [0]

    def run() -> None:
        for _ in range(TRAIN_STEPS):
            xb, tb = x[k[0] % TRAIN_POOL], t[k[0] % TRAIN_POOL]
            w = tile.weights[0]  # read the array (a copy), then compute digitally
            y = xb @ w.T  # forward: y = W x
            delta = (y - tb) / TRAIN_BATCH  # d loss / d y of 0.5·Σ(y − t)²/B
            _gx = delta @ w  # backward: Wᵀ δ
            tile.update(xb, delta, lr=LR)
            k[0] += 1

    return run, tile


HAVE_PERIPHERY = hasattr(pt, "IOParameters") and hasattr(pt.AnalogTile, "forward")


def pt_asgd_periphery_step(
    v: Variant, x: np.ndarray, t: np.ndarray, *, perfect: bool
) -> tuple[Callable[[], object], Any]:
    """Analog SGD through pulsetrain's own periphery (tile.forward / tile.backward)."""
    io = pt.IOParameters(is_perfect=perfect)
    tile = pt.AnalogTile(OUT, IN, pt_device(v), update=pt_mode(v), rng=5, n_threads=1)
    k = [0]

    def run() -> None:
        for _ in range(TRAIN_STEPS):
            xb, tb = x[k[0] % TRAIN_POOL], t[k[0] % TRAIN_POOL]
            y = tile.forward(xb, io=io)[0]
            delta = (y - tb) / TRAIN_BATCH
            _gx = tile.backward(delta, io=io)
            tile.update(xb, delta, lr=LR)
            k[0] += 1

    return run, tile


def pt_rl_step(v: Variant, x: np.ndarray, t: np.ndarray) -> tuple[Callable[[], object], Any]:
    algo = pt.algorithms.ResidualLearning(
        device=pt_device(v),
        lr=LR,
        lr_transfer=LR_TRANSFER,
        gamma_mix=GAMMA,
        transfer_every=1,
        columns_per_transfer=1,
        read_noise_std=0.0,
        update=pt_mode(v),
    )
    root = np.random.SeedSequence(3)
    inst = pt.problems.LeastSquares(in_size=IN, out_size=OUT, n_samples=TRAIN_BATCH).setup(1, root)
    state = algo.start(inst, root, n_threads=1)
    k = [0]

    def run() -> None:
        for _ in range(TRAIN_STEPS):
            xb, tb = x[k[0] % TRAIN_POOL], t[k[0] % TRAIN_POOL]
            wbar = state.gradient_point()[0]  # W + γP, read from both arrays
            y = xb @ wbar.T
            delta = (y - tb) / TRAIN_BATCH
            _gx = delta @ wbar
            state.step(k[0], xb[np.newaxis], delta[np.newaxis])
            k[0] += 1

    return run, state


def ai_train_step(cfg: Any, x: np.ndarray, t: np.ndarray) -> tuple[Callable[[], object], Any]:
    torch.manual_seed(0)
    model = AnalogLinear(IN, OUT, bias=False, rpu_config=cfg)
    model.set_weights(torch.zeros(OUT, IN))
    model.train()
    opt = AnalogSGD(model.parameters(), lr=LR)
    opt.regroup_param_groups(model)
    # x requires grad, so the backward pass computes Wᵀ δ as pulsetrain's step does.
    xt = [torch.tensor(xb, dtype=torch.float32, requires_grad=True) for xb in x]
    tt = [torch.tensor(tb, dtype=torch.float32) for tb in t]
    k = [0]

    def run() -> None:
        for _ in range(TRAIN_STEPS):
            xb, tb = xt[k[0] % TRAIN_POOL], tt[k[0] % TRAIN_POOL]
            opt.zero_grad()
            xb.grad = None
            y = model(xb)
            loss = 0.5 * ((y - tb) ** 2).sum() / TRAIN_BATCH
            loss.backward()
            opt.step()
            k[0] += 1

    return run, model


def ai_asgd_cfg(v: Variant) -> Any:
    return ai_perfect(SingleRPUConfig(device=ai_device(v), update=ai_update(v)))


def ai_rl_cfg(v: Variant) -> Any:
    tf = IOParameters()
    tf.is_perfect = True  # pulsetrain's read_noise_std 0
    device = TransferCompound(
        unit_cell_devices=[ai_device(v), ai_device(v)],
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
        transfer_update=ai_update(v),
    )
    return ai_perfect(UnitCellRPUConfig(device=device, update=ai_update(v)))


def bench_train(v: Variant) -> dict[str, Any]:
    x, t = train_data()

    def loss(w: np.ndarray) -> float:
        return float(0.5 * ((x @ w.T - t) ** 2).sum() / (TRAIN_POOL * TRAIN_BATCH))

    out: dict[str, Any] = {}
    algos = ["Analog SGD", "residual learning"]
    if HAVE_PERIPHERY:
        algos += ["Analog SGD, periphery, perfect IO", "Analog SGD, periphery, default IO"]
    for algo in algos:
        if algo == "Analog SGD":
            pt_run, obj = pt_asgd_step(v, x, t)
        elif algo == "residual learning":
            pt_run, obj = pt_rl_step(v, x, t)
        else:
            pt_run, obj = pt_asgd_periphery_step(v, x, t, perfect="perfect" in algo)
        tiles = [obj.p] if algo == "residual learning" else [obj]
        fns: dict[str, Callable[[], object]] = {"pulsetrain": pt_run}
        model = None
        if HAVE_AIHWKIT:
            if algo == "residual learning":
                cfg = ai_rl_cfg(v)
            elif algo == "Analog SGD, periphery, default IO":
                cfg = SingleRPUConfig(device=ai_device(v), update=ai_update(v))  # IOParameters()
            else:
                cfg = ai_asgd_cfg(v)
            fns["aihwkit"], model = ai_train_step(cfg, x, t)
        load0 = load()
        res = interleaved(fns)
        steps = (REPEATS + 1) * TRAIN_STEPS
        pulses = sum(tl.pulse_counts("update").sum() for tl in tiles) / (
            OUT * IN * TRAIN_BATCH * steps
        )
        # Both started from W = 0 and took the same steps on the same batch: the losses must be
        # close (a sanity check that the two do the same training, not a statistical test).
        pt_w = obj.gradient_point()[0] if algo == "residual learning" else obj.weights[0]
        losses = {"pulsetrain": loss(pt_w)}
        if model is not None:
            losses["aihwkit"] = loss(model.get_weights()[0].double().numpy())
        out[algo] = {
            "times": {k: (tm / TRAIN_STEPS, c) for k, (tm, c) in res.items()},
            "pt_pulses": float(pulses),
            "load": f"{load0} → {load()}",
            "steps": steps,
            "losses": losses,
            "loss0": loss(np.zeros((OUT, IN))),
        }
    return out


TRAIN_LABELS = {
    "Analog SGD": (
        "Analog SGD, perfect IO (aihwkit AnalogLinear + AnalogSGD; pulsetrain W x, Wᵀ δ in NumPy)"
    ),
    "residual learning": (
        "residual learning, perfect IO (aihwkit TransferCompound, γ 0.4; pulsetrain "
        "ResidualLearning, W̄ x, W̄ᵀ δ in NumPy)"
    ),
    "Analog SGD, periphery, perfect IO": (
        "Analog SGD, perfect IO (pulsetrain `tile.forward`/`tile.backward` with "
        "`IOParameters(is_perfect=True)`)"
    ),
    "Analog SGD, periphery, default IO": (
        "Analog SGD, default IO in both (`IOParameters()`: 7/9-bit DAC/ADC, out noise 0.06, "
        "NM ABS_MAX, BM ITERATIVE; pulsetrain `tile.forward`/`tile.backward`)"
    ),
}


_MATCHING_ROWS: list[tuple[str, str, str]] = [
    (
        "device",
        "`SoftBoundsDevice` (a LinearStep with γ ≡ 1 on each element's own bounds)",
        "`Device(response=SoftBounds(w_max=1, w_min=-1))`",
    ),
    (
        "bounds",
        "`w_max` 1, `w_min` −1, `w_max_dtod` = `w_min_dtod` 0.3 (relative), `enforce_consistency`",
        (
            "same fields; a bound whose draw crosses 0 is reflected (aihwkit swaps and takes "
            "absolute values); P(1 + 0.3ξ < 0) ≈ 4·10⁻⁴"
        ),
    ),
    (
        "granularity and d2d",
        "`dw_min` 1e−3, `dw_min_dtod` 0.3 (normal), `up_down` 0, `up_down_dtod` 0.01",
        "same: up = dw_min(g + r), down = dw_min(g − r)",
    ),
    (
        "cycle-to-cycle noise",
        "`dw_min_std` 0.3, `mult_noise` True (the default) or False",
        "`dw_min_std` 0.3, `c2c_mode` MULTIPLICATIVE or ADDITIVE",
    ),
    (
        "write noise, decay, diffusion, drift, reset",
        "off (defaults 0)",
        "not modelled",
    ),
    (
        "pulses",
        (
            "`UpdateParameters(pulse_type=STOCHASTIC_COMPRESSED, desired_bl=31, fixed_bl=True, "
            "update_management=True, update_bl_management=False or True, um_grad_scale=1, res=0, "
            "sto_round=False)`"
        ),
        (
            "`StochasticPulseUpdate(desired_bl=31, fixed_bl=True, update_management=True, "
            "update_bl_management=same, um_grad_scale=1)`"
        ),
    ),
    (
        "lr, inputs",
        (
            "`tile.set_learning_rate(0.01)`, `tile.tile.update(x, d, bias=False)` (the C++ "
            "tile), x ~ U(−1, 1), d ~ N(0, 0.5²), float32"
        ),
        (
            "`AnalogTile.update(x, d, lr=0.01)` on the same values (rounded to float32 first), "
            "float64 state"
        ),
    ),
    (
        "weights at start",
        "set to 0",
        "0 (the reference)",
    ),
    (
        "training step",
        (
            "`AnalogLinear(512, 512, bias=False)`, `AnalogSGD(lr=0.01)`, `forward.is_perfect` = "
            "`backward.is_perfect` = True; loss 0.5·Σ(y − t)²/B, x requires grad so Wᵀ δ is "
            "computed"
        ),
        (
            "first rows: y = W x and Wᵀ δ as NumPy float64 matmuls on a copy of the weights "
            "(`tile.weights`), then `tile.update(x, δ, lr=0.01)`; the `tile.forward`/"
            "`tile.backward` rows run both passes through pulsetrain's periphery instead"
        ),
    ),
    (
        "residual learning",
        (
            "`UnitCellRPUConfig(TransferCompound([dev, dev], gamma=0.4, transfer_every=1, "
            "units_in_mbatch=True, n_reads_per_transfer=1, fast_lr=0.01, transfer_lr=0.01, "
            "scale_transfer_lr=False, transfer_forward.is_perfect=True, transfer_update=the update "
            "parameters above))`, AnalogSGD, perfect IO"
        ),
        (
            "`ResidualLearning(lr=0.01, lr_transfer=0.01, gamma_mix=0.4, transfer_every=1, "
            "columns_per_transfer=1, read_noise_std=0, update=the mode above)`; per step W̄ = W + "
            "0.4·P read from both tiles, y = W̄ x and W̄ᵀ δ in NumPy, then `state.step(k, x, δ)` (P "
            "update, read of one column, its transfer write onto W)"
        ),
    ),
    (
        "random numbers",
        "aihwkit's own generators",
        "Philox streams; the two agree in distribution only",
    ),
]

MATCHING = (
    "Settings (shared/theory.md §1.1, §2.1, §2.3(c)):\n\n"
    + "| setting | aihwkit 1.1.0 | pulsetrain |\n|---|---|---|\n"
    + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in _MATCHING_ROWS)
    + "\n"
    + "Pulses per element per sample: aihwkit has no pulse counter on the CPU (`count_pulses` is "
    "GPU only), so both simulators also run the 100 samples one at a time on an ideal device "
    "(constant step, no noise, no d2d, bounds ±10, same lr, dw_min and pulse settings): within "
    "one sample an element's pulses all have one sign, so |ΔW|/dw_min is its pulse count. The "
    "count law depends only on x, d, lr, dw_min and the pulse settings, so it is the one of the "
    "SoftBounds runs. The check requires the per-sample mean count and the projection slope "
    "⟨ΔW, T⟩/⟨T, T⟩ (T = −lr d xᵀ) to match the analytic expectation of theory.md §2.3(c) "
    "(count BL·p_d·p_x per element; slope 1 when no probability clips) and each other (paired "
    "by sample) within 4 standard errors of the per-sample spread."
)


# --------------------------------------------------------------------------------- main
def ratio(res: dict[str, tuple[float, float]]) -> str:
    if "aihwkit" not in res:
        return "–"
    r = res["aihwkit"][0] / res["pulsetrain"][0]
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def main() -> None:
    require_release()
    if not HAVE_AIHWKIT:
        print(
            f"aihwkit is {AIHWKIT_VERSION}: timing pulsetrain only; the aihwkit column is skipped "
            "and benches/RESULTS.md is left unchanged. Install benches/requirements-aihwkit.txt "
            "into a separate venv to compare.",
            flush=True,
        )
    print(f"load average at start: {load()}", flush=True)
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    cpu_ratios: list[str] = []
    for v in VARIANTS:
        note, means = check_update(v)
        print(f"[check] {v.name}: {note}", flush=True)
        r = bench_update(v)
        pt_t, pt_c = r["times"]["pulsetrain"]
        ai_t, ai_c = r["times"].get("aihwkit", (math.nan, math.nan))
        pulses = (
            f"ideal-device check: pulsetrain {means['pulsetrain']:.3f}"
            + (f", aihwkit {means['aihwkit']:.3f}" if "aihwkit" in means else "")
            + f"; SoftBounds tile, counted: pulsetrain {r['pt_pulses']:.3f}"
        )
        rows.append(
            (
                f"update 512×512, batch {UPDATE_BATCH}, per sample; {v.name}",
                f"aihwkit {ms(ai_t / UPDATE_BATCH)}",
                f"pulsetrain {ms(pt_t / UPDATE_BATCH)}",
                ratio(r["times"]),
            )
        )
        notes.append(
            f"- *{v.name}*: pulses per element per sample: {pulses}. Cross-check: {note}. "
            f"Load {r['load']}."
        )
        cpu_ratios.append(f"update/{v.name}: aihwkit {ai_c:.2f}, pulsetrain {pt_c:.2f}")
        print(rows[-1], notes[-1], flush=True)
        if v.train:
            tr = bench_train(v)
            for algo, rr in tr.items():
                pt_t, pt_c = rr["times"]["pulsetrain"]
                ai_t, ai_c = rr["times"].get("aihwkit", (math.nan, math.nan))
                label = TRAIN_LABELS[algo]
                rows.append(
                    (
                        f"training step 512×512, batch {TRAIN_BATCH}; {label}; {v.name}",
                        f"aihwkit {ms(ai_t)}",
                        f"pulsetrain {ms(pt_t)}",
                        ratio(rr["times"]),
                    )
                )
                lo = rr["losses"]
                notes.append(
                    f"- *training step, {algo}*: pulsetrain fired {rr['pt_pulses']:.3f} gradient "
                    f"pulses per element per sample. Both started at W = 0 and took the same "
                    f"{rr['steps']} steps (warm-up and timing) over a pool of {TRAIN_POOL} batches "
                    f"(x ~ U(−1, 1), t ~ N(0, 1)) used in turn; loss 0.5·Σ(y − t)²/B over the pool "
                    f"went from {rr['loss0']:.2f} to "
                    + ", ".join(f"{k} {val:.4g}" for k, val in lo.items())
                    + f". Load {rr['load']}."
                )
                cpu_ratios.append(f"train/{algo}: aihwkit {ai_c:.2f}, pulsetrain {pt_c:.2f}")
                print(rows[-1], notes[-1], flush=True)
    print("CPU time / wall time (1.0 = one busy thread): " + "; ".join(cpu_ratios), flush=True)
    if not HAVE_AIHWKIT:
        return
    text = (
        f"pulsetrain under test: the release build at {package_origin()}; the "
        f"commit above is the checkout's HEAD when this section was written (other sessions "
        f"commit to it while benchmarks run). "
        f"Reference: {AIHWKIT_VERSION} (CPU, float32; its wheel has no float64 tiles), "
        f"same venv, one thread each (OMP/MKL/OpenBLAS/Rayon threads 1, torch.set_num_threads(1), "
        f"pulsetrain n_threads=1). The two simulators alternate round by round (warm-up, then 7 "
        f"rounds), so both see the same load. Median CPU time / wall time per timed call (1.00 = "
        f"one thread busy the whole time; lower means the process waited for a core): "
        f"{'; '.join(cpu_ratios)}.\n\n" + MATCHING + "\n\n" + "\n".join(notes)
    )
    write_section(TITLE, COMMAND, rows, text)
    print(f"wrote section {TITLE!r} of benches/RESULTS.md", flush=True)


if __name__ == "__main__":
    main()
