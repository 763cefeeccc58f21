"""pulsetrain's TTv2, c-TTv2, AGAD and MixedPrecision against aihwkit 1.1.0's compounds (issue 13).

Run from the project root, in a venv that has both pulsetrain (release build) and the optional
reference simulator (benches/requirements-aihwkit.txt):

    python benches/bench_aihwkit_baselines.py

For each pair (aihwkit ``BufferedTransferCompound`` / ``TTv2``, ``ChoppedTransferCompound`` /
``ChoppedTTv2`` with random and with regular choppers, ``DynamicTransferCompound`` / ``AGAD``,
``MixedPrecisionCompound`` / ``MixedPrecision``) both simulators train the same small least-squares
problem: W* (4×8, entries U(−0.3, 0.3)), 32 fixed input rows x ~ U(−1, 1), targets b = W* x, loss
½‖W x − b‖², batch 1, one fixed sample sequence, W = 0 at the start, on a deterministic SoftBounds
device (dw_min 0.02, no cycle-to-cycle noise, no device-to-device variation), so that only the
pulse trains, the choppers and the transfer reads' noise are random. aihwkit runs S independent
models (its C++ generators are not seeded by torch, so each model draws its own numbers);
pulsetrain runs S replicas in one state. The effective weights (aihwkit ``get_weights``; pulsetrain
``effective_weights``) and the fast array A (aihwkit ``hidden_weights_0``; pulsetrain ``P``) are
recorded at 20 points.

Criterion, fixed before looking at the numbers: per recorded point and element, z = (mean_aihwkit −
mean_pulsetrain)/√(SE_aihwkit² + SE_pulsetrain²), the SEs from each side's seed spread (floored at
1e−6, aihwkit's float32 resolution of these weights). A pair agrees when at least 98% of the |z| of
W are below 3 (under agreement ≈ 99.6% are, for Welch t with ≈ 90 degrees of freedom), no |z|
reaches 5 (per test P ≈ 3·10⁻⁶, so ≈ 0.2% for 640 tests) and the final losses differ by less than 3
combined standard errors. (The criterion was written for 24 seeds; the first run, with 24, passed
AGAD narrowly (final-loss z −2.7), a 64-seed rerun showed a clear difference, and the bench now
uses 48 seeds for the power to see it.)

aihwkit is optional: without it this bench prints a message and exits 0. It is never imported
anywhere else in the project.
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy or torch is imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import contextlib  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import require_release, write_section  # noqa: E402

import pulsetrain as pt  # noqa: E402
from pulsetrain.periphery import transfer_io  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    import aihwkit
    from aihwkit.nn import AnalogLinear
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import (
        BufferedTransferCompound,
        ChoppedTransferCompound,
        DigitalRankUpdateRPUConfig,
        DynamicTransferCompound,
        MixedPrecisionCompound,
        SoftBoundsDevice,
        UnitCellRPUConfig,
    )

    HAVE_AIHWKIT = True
    AIHWKIT_VERSION = f"aihwkit {aihwkit.__version__}, torch {torch.__version__}"
except ImportError as exc:  # pragma: no cover - depends on the optional install
    HAVE_AIHWKIT = False
    AIHWKIT_VERSION = f"not importable ({exc})"

TITLE = "aihwkit 1.1.0 compounds vs pulsetrain's TTv2, c-TTv2, AGAD, MixedPrecision (issue 13)"
COMMAND = "python benches/bench_aihwkit_baselines.py"
OUT, IN = 4, 8
N_ROWS = 32
SEEDS = 48
STEPS = 1500
POINTS = 20
DW_MIN = 0.02
FAST_LR = 0.05  # λ_A of the transfer compounds (aihwkit fast_lr, pulsetrain lr)
SGD_LR = 0.1  # the AnalogSGD lr; λ_H = transfer_lr·SGD_LR (scale_transfer_lr)
TRANSFER_LR = 1.0
MP_LR = 0.05  # the AnalogSGD lr of mixed precision (χ ← χ − lr d xᵀ)
SE_FLOOR = 1e-6
RECORD = [round(STEPS * (i + 1) / POINTS) for i in range(POINTS)]


# --------------------------------------------------------------------------------- problem
def f32(a: np.ndarray) -> np.ndarray:
    """Round to float32 and back, so both simulators (aihwkit is float32) get the same inputs."""
    return a.astype(np.float32).astype(np.float64)


@dataclass(frozen=True)
class Problem:
    """The fixed data: rows x, targets b, optimum W* and the sample sequence."""

    x: np.ndarray  # (N_ROWS, IN)
    b: np.ndarray  # (N_ROWS, OUT)
    w_star: np.ndarray  # (OUT, IN)
    order: np.ndarray  # (STEPS,) row index per step

    def loss(self, w: np.ndarray) -> np.ndarray:
        """Mean over rows of ½‖W x − b‖², for weights shaped (..., OUT, IN)."""
        r = np.einsum("...oi,ni->...no", w, self.x) - self.b
        return np.asarray(0.5 * (r**2).sum(axis=-1).mean(axis=-1), dtype=np.float64)


def make_problem() -> Problem:
    gen = np.random.default_rng(2026)
    w_star = f32(gen.uniform(-0.3, 0.3, (OUT, IN)))
    x = f32(gen.uniform(-1.0, 1.0, (N_ROWS, IN)))
    b = f32(x @ w_star.T)
    order = gen.integers(0, N_ROWS, STEPS)
    return Problem(x=x, b=b, w_star=w_star, order=order)


# --------------------------------------------------------------------------------- configs
def pt_device() -> pt.Device:
    return pt.Device(response=pt.SoftBounds(w_max=1.0, w_min=-1.0), dw_min=DW_MIN)


def pt_update() -> pt.StochasticPulseUpdate:
    # aihwkit's UpdateParameters() defaults (theory.md §2.3(c)).
    return pt.StochasticPulseUpdate(
        desired_bl=31, update_management=True, update_bl_management=True, fixed_bl=True
    )


def ai_device() -> Any:
    return SoftBoundsDevice(
        dw_min=DW_MIN,
        dw_min_std=0.0,
        dw_min_dtod=0.0,
        up_down=0.0,
        up_down_dtod=0.0,
        w_max=1.0,
        w_min=-1.0,
        w_max_dtod=0.0,
        w_min_dtod=0.0,
        write_noise_std=0.0,
    )


def ai_unit_cell(compound: Any) -> Any:
    cfg = UnitCellRPUConfig(device=compound)  # update = UpdateParameters() (defaults)
    cfg.forward.is_perfect = True
    cfg.backward.is_perfect = True
    return cfg


def ai_ttv2() -> Any:
    return ai_unit_cell(
        BufferedTransferCompound(
            unit_cell_devices=[ai_device(), ai_device()],
            gamma=0.0,
            transfer_every=1.0,
            units_in_mbatch=True,
            n_reads_per_transfer=1,
            fast_lr=FAST_LR,
            transfer_lr=TRANSFER_LR,
            scale_transfer_lr=True,
            thres_scale=1.0,
            step=1.0,
            momentum=0.1,
            forget_buffer=True,
        )  # transfer_forward = IOParameters(), transfer_update = desired_bl 1, no management
    )


def ai_cttv2(*, chop_random: bool = True) -> Any:
    return ai_unit_cell(
        ChoppedTransferCompound(
            unit_cell_devices=[ai_device(), ai_device()],
            gamma=0.0,
            transfer_every=1.0,
            units_in_mbatch=False,
            n_reads_per_transfer=1,
            fast_lr=FAST_LR,
            transfer_lr=TRANSFER_LR,
            scale_transfer_lr=True,
            in_chop_prob=0.1,
            in_chop_random=chop_random,
            out_chop_prob=0.0,
            buffer_granularity=1.0,
            auto_granularity=0.0,
            step=1.0,
            momentum=0.0,
            forget_buffer=True,
            no_buffer=False,
            auto_scale=False,
            correct_gradient_magnitudes=False,
        )
    )


def ai_agad() -> Any:
    return ai_unit_cell(
        DynamicTransferCompound(
            unit_cell_devices=[ai_device(), ai_device()],
            gamma=0.0,
            transfer_every=1.0,
            units_in_mbatch=False,
            n_reads_per_transfer=1,
            fast_lr=FAST_LR,
            transfer_lr=TRANSFER_LR,
            scale_transfer_lr=True,
            in_chop_prob=0.1,
            in_chop_random=False,
            tail_weightening=5.0,
            buffer_granularity=1.0,
            auto_granularity=0.0,
            step=1.0,
            momentum=0.0,
            forget_buffer=True,
            buffer_cap=0.0,
            experimental_correct_accumulation=False,
        )
    )


def ai_mp() -> Any:
    cfg = DigitalRankUpdateRPUConfig(
        device=MixedPrecisionCompound(
            device=ai_device(),
            transfer_every=1,
            n_rows_per_transfer=-1,
            random_row=False,
            granularity=0.0,
            transfer_lr=1.0,
            n_x_bins=0,
            n_d_bins=0,
        )
    )
    cfg.forward.is_perfect = True
    cfg.backward.is_perfect = True
    return cfg


def pt_ttv2() -> pt.algorithms.Algorithm:
    return pt.algorithms.TTv2(
        device=pt_device(),
        update=pt_update(),
        lr=FAST_LR,
        lr_transfer=TRANSFER_LR * SGD_LR,
        gamma_mix=0.0,
        transfer_every=1,
        columns_per_transfer=1,
        threshold=1.0,
        momentum=0.1,
        forget_buffer=True,
        max_transfer_pulses=1,
        transfer_io=transfer_io(),
    )


def pt_cttv2(*, chop_random: bool = True) -> pt.algorithms.Algorithm:
    return pt.algorithms.ChoppedTTv2(
        device=pt_device(),
        update=pt_update(),
        lr=FAST_LR,
        lr_transfer=TRANSFER_LR * SGD_LR,
        gamma_mix=0.0,
        transfer_every=1,
        columns_per_transfer=1,
        chop_prob=0.1,
        chop_random=chop_random,
        out_chop_prob=0.0,
        buffer_granularity=1.0,
        auto_granularity=0.0,
        momentum=0.0,
        forget_buffer=True,
        no_buffer=False,
        max_transfer_pulses=1,
        auto_scale=False,
        correct_gradient_magnitudes=False,
        transfer_io=transfer_io(),
    )


def pt_agad() -> pt.algorithms.Algorithm:
    return pt.algorithms.AGAD(
        device=pt_device(),
        update=pt_update(),
        lr=FAST_LR,
        lr_transfer=TRANSFER_LR * SGD_LR,
        gamma_mix=0.0,
        transfer_every=1,
        columns_per_transfer=1,
        chop_prob=0.1,
        chop_random=False,
        tail_weightening=5.0,
        buffer_granularity=1.0,
        auto_granularity=0.0,
        momentum=0.0,
        forget_buffer=True,
        buffer_cap=0.0,
        max_transfer_pulses=1,
        transfer_io=transfer_io(),
    )


def pt_mp() -> pt.algorithms.Algorithm:
    return pt.algorithms.MixedPrecision(
        device=pt_device(),
        update=pt_update(),
        lr=MP_LR,
        transfer_every=1,
        rows_per_transfer=0,
        random_row=False,
        granularity=0.0,
        lr_transfer=1.0,
        write="outer",
        n_x_bins=0,
        n_d_bins=0,
    )


COMMON_ROWS: list[tuple[str, str, str]] = [
    (
        "device (both arrays)",
        "`SoftBoundsDevice(dw_min=0.02, w_max=1, w_min=-1)`, dw_min_std, dw_min_dtod, up_down, "
        "up_down_dtod, w_max_dtod, w_min_dtod, write_noise_std all 0",
        "`Device(response=SoftBounds(w_max=1, w_min=-1), dw_min=0.02)` (no c2c, no d2d)",
    ),
    (
        "gradient update of A (or W)",
        "`UpdateParameters()`: STOCHASTIC_COMPRESSED, desired_bl 31, fixed_bl, update and BL "
        "management, um_grad_scale 1, res 0",
        "`StochasticPulseUpdate(desired_bl=31, update_management=True, "
        "update_bl_management=True, fixed_bl=True)`",
    ),
    (
        "forward / backward",
        "`AnalogLinear(8, 4, bias=False)`, `forward.is_perfect` = `backward.is_perfect` = True "
        "(float32); loss ½‖y − b‖², batch 1, `AnalogSGD`",
        "y = W̄ x at `state.gradient_point()` in NumPy float64, d = y − b, "
        "`state.step(k, x, d)`; R = S replicas in one `start`",
    ),
    (
        "units",
        "aihwkit counts samples (rank-one updates); batch 1",
        "one step = one sample",
    ),
]

TRANSFER_ROWS: list[tuple[str, str, str]] = [
    (
        "rates",
        f"fast_lr {FAST_LR}, AnalogSGD lr {SGD_LR}, transfer_lr {TRANSFER_LR}, "
        "scale_transfer_lr True (λ_H = transfer_lr × SGD lr), gamma 0",
        f"lr {FAST_LR}, lr_transfer {TRANSFER_LR * SGD_LR:g}, gamma_mix 0",
    ),
    (
        "transfer read",
        "`transfer_forward` = `IOParameters()` (aihwkit forces NM and BM off for it): "
        "7-bit DAC, 9-bit ADC, out noise 0.06, out bound 12",
        "`transfer_io=periphery.transfer_io()` (the same, NM and BM NONE)",
    ),
    (
        "transfer write",
        "`transfer_update` default: desired_bl 1, no management, step 1, so ±1 pulse per "
        "firing element",
        "max_transfer_pulses 1, exact single pulses (phase TRANSFER)",
    ),
    (
        "schedule",
        "transfer_every 1, n_reads_per_transfer 1, transfer_columns True (cyclic columns)",
        "transfer_every 1, columns_per_transfer 1",
    ),
]


@dataclass(frozen=True)
class Case:
    """One aihwkit compound and the pulsetrain algorithm matched to it."""

    name: str
    sgd_lr: float
    ai_config: Callable[[], Any]
    pt_algo: Callable[[], pt.algorithms.Algorithm]
    rows: list[tuple[str, str, str]]


CASES = [
    Case(
        "TTv2",
        SGD_LR,
        ai_ttv2,
        pt_ttv2,
        [
            *TRANSFER_ROWS,
            (
                "buffer",
                "`BufferedTransferCompound`: thres_scale 1, momentum 0.1, forget_buffer True, "
                "units_in_mbatch True (batch 1: per sample); A's reference: none (SoftBounds SP "
                "is 0)",
                "`TTv2`: threshold 1, momentum 0.1, forget_buffer True; P's reference 0",
            ),
        ],
    ),
    Case(
        "c-TTv2",
        SGD_LR,
        ai_cttv2,
        pt_cttv2,
        [
            *TRANSFER_ROWS,
            (
                "chopper and buffer",
                "`ChoppedTransferCompound`: in_chop_prob 0.1, in_chop_random True, "
                "out_chop_prob 0, buffer_granularity 1, auto_granularity 0, momentum 0, "
                "forget_buffer True, no_buffer False, auto_scale False, "
                "correct_gradient_magnitudes False, units_in_mbatch False",
                "`ChoppedTTv2`: chop_prob 0.1, chop_random True, out_chop_prob 0, "
                "buffer_granularity 1, auto_granularity 0, momentum 0, forget_buffer True, "
                "no_buffer False, auto_scale False, correct_gradient_magnitudes False",
            ),
        ],
    ),
    Case(
        "c-TTv2, regular chopper",
        SGD_LR,
        lambda: ai_cttv2(chop_random=False),
        lambda: pt_cttv2(chop_random=False),
        [
            *TRANSFER_ROWS,
            (
                "chopper and buffer",
                "as c-TTv2 but in_chop_random False (every column flips once per "
                "max(⌈1/0.1⌉, 2) = 10 sweeps)",
                "as c-TTv2 but chop_random False",
            ),
        ],
    ),
    Case(
        "AGAD",
        SGD_LR,
        ai_agad,
        pt_agad,
        [
            *TRANSFER_ROWS,
            (
                "chopper, means and buffer",
                "`DynamicTransferCompound`: in_chop_prob 0.1 (n_samp 10), in_chop_random False, "
                "tail_weightening 5, buffer_granularity 1, momentum 0, forget_buffer True, "
                "buffer_cap 0, experimental_correct_accumulation False",
                "`AGAD`: chop_prob 0.1, chop_random False, tail_weightening 5, "
                "buffer_granularity 1, momentum 0, forget_buffer True, buffer_cap 0",
            ),
        ],
    ),
    Case(
        "MixedPrecision",
        MP_LR,
        ai_mp,
        pt_mp,
        [
            (
                "rates",
                f"`DigitalRankUpdateRPUConfig`, AnalogSGD lr {MP_LR} (χ ← χ − lr d xᵀ), "
                "n_x_bins = n_d_bins 0",
                f"`MixedPrecision(lr={MP_LR})`, n_x_bins = n_d_bins 0",
            ),
            (
                "transfer",
                "`MixedPrecisionCompound`: transfer_every 1, n_rows_per_transfer −1 (all), "
                "random_row False, granularity 0 (dw_min), transfer_lr 1; the row write is an "
                "update with x = n, d = e_i, lr = ε, UM and BL management forced on",
                "transfer_every 1, rows_per_transfer 0 (all), random_row False, granularity 0, "
                "lr_transfer 1, `write='outer'` (aihwkit's row-wise update in the mode above, "
                "UM and BL management on)",
            ),
        ],
    ),
]


# --------------------------------------------------------------------------------- runs
@dataclass
class Trace:
    """Recorded arrays per seed: W (S, POINTS, OUT, IN), A (same, or None), final loss (S,)."""

    w: np.ndarray
    a: np.ndarray | None
    loss: np.ndarray
    seconds: float


def run_aihwkit(case: Case, prob: Problem) -> Trace:
    xs = torch.tensor(prob.x, dtype=torch.float32)
    bs = torch.tensor(prob.b, dtype=torch.float32)
    w_rec = np.zeros((SEEDS, POINTS, OUT, IN))
    a_rec: np.ndarray | None = np.zeros((SEEDS, POINTS, OUT, IN))
    t0 = time.perf_counter()
    for s in range(SEEDS):
        model = AnalogLinear(IN, OUT, bias=False, rpu_config=case.ai_config())
        model.set_weights(torch.zeros(OUT, IN))
        model.train()
        opt = AnalogSGD(model.parameters(), lr=case.sgd_lr)
        opt.regroup_param_groups(model)
        tile = next(model.analog_tiles())
        point = 0
        for k in range(STEPS):
            j = int(prob.order[k])
            opt.zero_grad()
            y = model(xs[j : j + 1])
            loss = 0.5 * ((y - bs[j : j + 1]) ** 2).sum()
            loss.backward()
            opt.step()
            if k + 1 == RECORD[point]:
                w_rec[s, point] = model.get_weights()[0].double().numpy()
                hidden = tile.get_hidden_parameters()
                if a_rec is not None and "hidden_weights_0" in hidden:
                    a_rec[s, point] = hidden["hidden_weights_0"].double().numpy().reshape(OUT, IN)
                else:
                    a_rec = None
                point += 1
    return Trace(w_rec, a_rec, prob.loss(w_rec[:, -1]), time.perf_counter() - t0)


def run_pulsetrain(case: Case, prob: Problem) -> Trace:
    algo = case.pt_algo()
    root = np.random.SeedSequence(13)
    inst = pt.problems.LeastSquares(in_size=IN, out_size=OUT, n_samples=N_ROWS).setup(SEEDS, root)
    state = algo.start(inst, root, n_threads=1)
    w_rec = np.zeros((SEEDS, POINTS, OUT, IN))
    a_rec: np.ndarray | None = np.zeros((SEEDS, POINTS, OUT, IN))
    t0 = time.perf_counter()
    point = 0
    assert np.all(state.effective_weights() == 0.0)
    for k in range(STEPS):
        j = int(prob.order[k])
        w = state.gradient_point()  # (R, OUT, IN)
        y = w @ prob.x[j]  # (R, OUT)
        d = y - prob.b[j]
        xb = np.broadcast_to(prob.x[j], (SEEDS, 1, IN)).copy()
        state.step(k, xb, d[:, None, :])
        if k + 1 == RECORD[point]:
            w_rec[:, point] = state.effective_weights()
            arrays = state.arrays()
            if a_rec is not None and "P" in arrays:
                a_rec[:, point] = arrays["P"]
            else:
                a_rec = None
            point += 1
    return Trace(w_rec, a_rec, prob.loss(w_rec[:, -1]), time.perf_counter() - t0)


# --------------------------------------------------------------------------------- flip timing
FLIP_STEPS = 40
FLIP_PROB = 0.5  # regular choppers with n_samp = max(⌈1/0.5⌉, 2) = 2 sweeps per chopper phase


def first_negative(a00: list[float]) -> int:
    """The first step whose increment of A[0, 0] is negative (−1 if none)."""
    inc = np.diff(np.concatenate([[0.0], a00]))
    neg = np.flatnonzero(inc < -0.5 * DW_MIN)
    return int(neg[0]) if len(neg) else -1


def flip_timing() -> dict[str, tuple[int, int]]:
    """When column 0's regular chopper first flips, seen in the sign of A[0, 0]'s updates.

    Every step is x = e_0, d = −e_0, so A[0, 0] grows by ≈ 2.5 pulses per step until column 0's
    chopper flips; the transfer rate is negligible (transfer_lr 1e−6). Returns, per compound,
    the first step (0-based) whose increment is negative in (aihwkit, pulsetrain).
    """
    x = np.zeros(IN)
    x[0] = 1.0
    d = np.zeros(OUT)
    d[0] = -1.0
    tiny = 1e-6
    pairs: dict[str, tuple[Any, pt.algorithms.Algorithm]] = {
        "c-TTv2, regular chopper": (
            ChoppedTransferCompound(
                unit_cell_devices=[ai_device(), ai_device()],
                fast_lr=FAST_LR,
                transfer_lr=tiny,
                in_chop_prob=FLIP_PROB,
                in_chop_random=False,
            ),
            pt.algorithms.ChoppedTTv2(
                device=pt_device(),
                update=pt_update(),
                lr=FAST_LR,
                lr_transfer=tiny * SGD_LR,
                chop_prob=FLIP_PROB,
                chop_random=False,
            ),
        ),
        "AGAD": (
            DynamicTransferCompound(
                unit_cell_devices=[ai_device(), ai_device()],
                fast_lr=FAST_LR,
                transfer_lr=tiny,
                in_chop_prob=FLIP_PROB,
            ),
            pt.algorithms.AGAD(
                device=pt_device(),
                update=pt_update(),
                lr=FAST_LR,
                lr_transfer=tiny * SGD_LR,
                chop_prob=FLIP_PROB,
            ),
        ),
    }
    out: dict[str, tuple[int, int]] = {}
    xt = torch.tensor(x[None], dtype=torch.float32)
    dt = torch.tensor(d[None], dtype=torch.float32)
    for name, (compound, algo) in pairs.items():
        model = AnalogLinear(IN, OUT, bias=False, rpu_config=ai_unit_cell(compound))
        model.set_weights(torch.zeros(OUT, IN))
        opt = AnalogSGD(model.parameters(), lr=SGD_LR)
        opt.regroup_param_groups(model)
        tile = next(model.analog_tiles())
        ai: list[float] = []
        for _ in range(FLIP_STEPS):
            opt.zero_grad()
            (model(xt) * dt).sum().backward()  # the output gradient is d
            opt.step()
            ai.append(
                float(tile.get_hidden_parameters()["hidden_weights_0"].reshape(OUT, IN)[0, 0])
            )
        root = np.random.SeedSequence(1)
        inst = pt.problems.LeastSquares(in_size=IN, out_size=OUT, n_samples=N_ROWS).setup(1, root)
        state = algo.start(inst, root, n_threads=1)
        ptv: list[float] = []
        for k in range(FLIP_STEPS):
            state.step(k, x[None, None], d[None, None])
            ptv.append(float(state.arrays()["P"][0, 0, 0]))
        out[name] = (first_negative(ai), first_negative(ptv))
    return out


# --------------------------------------------------------------------------------- compare
@dataclass(frozen=True)
class Compare:
    """max |z|, fraction of |z| < 3 and where the largest |z| is."""

    max_z: float
    frac: float
    where: str


def compare(ai: np.ndarray, ptw: np.ndarray) -> Compare:
    """Compare the seed means of (S, POINTS, OUT, IN) arrays element by element."""
    n_ai, n_pt = ai.shape[0], ptw.shape[0]
    se = np.sqrt(ai.var(axis=0, ddof=1) / n_ai + ptw.var(axis=0, ddof=1) / n_pt)
    diff = ai.mean(axis=0) - ptw.mean(axis=0)
    z = diff / np.maximum(se, SE_FLOOR)
    i = np.unravel_index(int(np.argmax(np.abs(z))), z.shape)
    where = (
        f"step {RECORD[i[0]]}, element ({i[1]}, {i[2]}): aihwkit {ai.mean(axis=0)[i]:+.4f}, "
        f"pulsetrain {ptw.mean(axis=0)[i]:+.4f}, SE {se[i]:.4f}"
    )
    return Compare(float(np.abs(z).max()), float((np.abs(z) < 3).mean()), where)


def mean_se(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def add_row(
    name: str,
    tr_ai: Trace,
    tr_pt: Trace,
    rows: list[tuple[str, str, str, str]],
    notes: list[str],
) -> str:
    """Compare two traces, append a table row and a note, and return the verdict."""
    cw = compare(tr_ai.w, tr_pt.w)
    ca = compare(tr_ai.a, tr_pt.a) if tr_ai.a is not None and tr_pt.a is not None else None
    la, lp = mean_se(tr_ai.loss), mean_se(tr_pt.loss)
    zl = (la[0] - lp[0]) / max(math.hypot(la[1], lp[1]), 1e-12)
    agree = cw.frac >= 0.98 and cw.max_z < 5.0 and abs(zl) < 3.0
    verdict = "agree" if agree else "DIFFER"
    a_txt = "–" if ca is None else f"max abs(z) {ca.max_z:.2f}, {100 * ca.frac:.1f}% < 3"
    rows.append(
        (
            name,
            f"aihwkit loss {la[0]:.4g} ± {la[1]:.2g} ({tr_ai.seconds:.1f} s)",
            f"pulsetrain loss {lp[0]:.4g} ± {lp[1]:.2g} ({tr_pt.seconds:.1f} s)",
            f"W: max abs(z) {cw.max_z:.2f}, {100 * cw.frac:.1f}% of abs(z) < 3; A: {a_txt}; "
            f"final-loss z {zl:+.2f}; **{verdict}**",
        )
    )
    notes.append(
        f"- *{name}*: largest W |z| at {cw.where}"
        + ("" if ca is None else f"; largest A |z| at {ca.where}")
        + "."
    )
    print(" | ".join(rows[-1]), flush=True)
    print(notes[-1], flush=True)
    return verdict


@contextlib.contextmanager
def aihwkit_flip_timing() -> Iterator[None]:
    """Make pulsetrain's regular choppers flip as aihwkit 1.1.0's do (a diagnostic only).

    aihwkit flips each column right after its own read in the last sweep of a period; pulsetrain's
    ``ChoppedTransfer`` flips all columns after that sweep ends. The patch switches the
    end-of-sweep flip off and flips the read columns after their read when the sweep being read
    is the period's last (sweeps % period == period − 1). Random flips are untouched.
    """
    from pulsetrain.algorithms._transfer import ChoppedTransfer

    original = ChoppedTransfer.transfer

    def transfer(self: ChoppedTransfer, step: int, p: Any, w: Any, **kw: Any) -> None:
        period, sweep = self.flip_period, self.sweeps
        cols = [(self.pointer + c) % self.n_in for c in range(self.n_cols)]
        self.flip_period = 0
        try:
            original(self, step, p, w, **kw)
        finally:
            self.flip_period = period
        if period > 0 and sweep % period == period - 1:
            flips = np.zeros((self.replicas, self.n_in), dtype=bool)
            flips[:, cols] = True
            self._flip(flips)

    ChoppedTransfer.transfer = transfer  # type: ignore[method-assign]
    try:
        yield
    finally:
        ChoppedTransfer.transfer = original  # type: ignore[method-assign]


def main() -> None:
    if not HAVE_AIHWKIT:
        print(
            f"aihwkit is {AIHWKIT_VERSION}: this comparison needs it; nothing to do. Install "
            "benches/requirements-aihwkit.txt into a separate venv to run it."
        )
        sys.exit(0)
    require_release()
    prob = make_problem()
    loss0 = float(prob.loss(np.zeros((OUT, IN))))
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    verdicts: list[str] = []
    traces: dict[str, Trace] = {}
    for case in CASES:
        tr_pt = run_pulsetrain(case, prob)
        tr_ai = run_aihwkit(case, prob)
        traces[case.name] = tr_ai
        verdict = add_row(case.name, tr_ai, tr_pt, rows, notes)
        verdicts.append(f"{case.name}: {verdict}")
    # Diagnostic: pulsetrain with aihwkit's regular-chopper flip timing, against the same
    # aihwkit runs (see flip_timing and the note below).
    diag: dict[str, str] = {}
    for case in CASES:
        if case.name in ("AGAD", "c-TTv2, regular chopper"):
            with aihwkit_flip_timing():
                tr_pt = run_pulsetrain(case, prob)
            name = f"{case.name}; pulsetrain with aihwkit's flip timing (diagnostic patch)"
            diag[case.name] = add_row(name, traces[case.name], tr_pt, rows, notes)
    timing = flip_timing()
    print(f"flip timing (first step with a negative A[0, 0] increment): {timing}", flush=True)
    timing_txt = "; ".join(
        f"{k}: aihwkit step {a}, pulsetrain step {b}" for k, (a, b) in timing.items()
    )
    notes.append(
        "- *Regular (non-random) choppers*, probed directly: with x = e_0, d = −e_0 every step, "
        f"chop_prob {FLIP_PROB} (a chopper phase of 2 sweeps of the 8 columns) and a negligible "
        "transfer rate, the first step whose update of A[0, 0] is negative (i.e. column 0's "
        f"chopper has flipped) is: {timing_txt}. aihwkit 1.1.0 flips each column right after its "
        "own read in the period's last sweep (`ChoppedTransferRPUDevice::readAndUpdate` / "
        "`DynamicTransferRPUDevice::readAndUpdate`: `current_sample == n_samples` per read), so "
        "every inter-read interval of a column lies in one chopper phase; pulsetrain's "
        "`ChoppedTransfer` flips every column together after the sweep ends (`flip_period`), so "
        "column j's updates after its read and before the sweep ends (7 − j samples here) still "
        "use the old sign and are read, after the flip, with the new one. That is a real "
        "semantic difference in the regular-chopper mode (AGAD's default, c-TTv2 with "
        "chop_random False); random flips happen per read in both. Emulating aihwkit's timing "
        "in pulsetrain (a per-read flip of the read columns when sweeps % period == period − 1, "
        "in place of the end-of-sweep flip; `aihwkit_flip_timing` here, not part of pulsetrain) "
        "gives the diagnostic rows above, against the same aihwkit runs: "
        + "; ".join(f"{k}: {v}" for k, v in diag.items())
        + "."
    )
    matching = []
    for case in CASES:
        table = "| setting | aihwkit 1.1.0 | pulsetrain |\n|---|---|---|\n" + "".join(
            f"| {a} | {b} | {c} |\n" for a, b, c in [*COMMON_ROWS, *case.rows]
        )
        matching.append(f"**{case.name}**\n\n{table}")
    text = (
        f"Reference: {AIHWKIT_VERSION} (CPU, float32), one thread each. Problem: W* 4×8 with "
        f"entries U(−0.3, 0.3), {N_ROWS} fixed rows x ~ U(−1, 1), b = W* x (float32 values in "
        f"both), batch 1, one fixed sample sequence of {STEPS} steps, W = 0 at the start "
        f"(loss {loss0:.4f}), {SEEDS} seeds (aihwkit: {SEEDS} independent models; pulsetrain: "
        f"{SEEDS} replicas), weights recorded at {POINTS} points (every {STEPS // POINTS} "
        f"steps). The table's columns: final loss (mean over rows of ½‖W x − b‖²) mean ± SE "
        f"over seeds and wall time; then, over all points and elements, the z of the "
        f"difference of the seed means (SE from both seed spreads) for the effective weights "
        f"W and the fast array A (aihwkit `hidden_weights_0`, pulsetrain `P`). Criterion, "
        f"fixed beforehand: agree if ≥ 98% of W's |z| < 3, max |z| < 5 and the final-loss "
        f"|z| < 3. Verdicts: {'; '.join(verdicts)}. The transfer reads are aihwkit's default "
        f"noisy `transfer_forward` on both sides. The table's last column (its header is shared "
        f"with the timing sections) holds the comparison, not a ratio. The criterion was written "
        f"for 24 seeds; a first run with 24 passed AGAD narrowly (final-loss z −2.7, 98.4% of "
        f"abs(z) < 3), a 64-seed rerun of AGAD then failed it clearly, and the bench was switched "
        f"to 48 seeds for that power (and given the regular-chopper c-TTv2 case and the "
        f"diagnostic rows) before this run.\n\n" + "\n\n".join(matching) + "\n\n" + "\n".join(notes)
    )
    write_section(TITLE, COMMAND, rows, text)
    print(f"wrote section {TITLE!r} of benches/RESULTS.md", flush=True)


if __name__ == "__main__":
    main()
