"""pulsetrain's TTv2, c-TTv2, AGAD and MixedPrecision against aihwkit 1.1.0's compounds (issue 13).

Run from the project root, in a venv that has both pulsetrain (release build) and the optional
reference simulator (benches/requirements-aihwkit.txt):

    python benches/bench_aihwkit_baselines.py [--only baselines | --only c24]

``--only c24`` runs just the C24 case (theory.md §5, §3.13): P4's 1×1 least-squares toy on
aihwkit's ``TransferCompound`` with N + 1 devices against ``MultiTile.from_aihwkit``, 1..4 tiles,
4 and 16 states; it writes its own RESULTS.md section. The rest is the compound baselines:

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

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import require_release, write_section  # noqa: E402

import pulsetrain as pt  # noqa: E402
from pulsetrain.algorithms.multi_tile import from_aihwkit  # noqa: E402
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
        SingleRPUConfig,
        SoftBoundsDevice,
        TransferCompound,
        UnitCellRPUConfig,
    )
    from aihwkit.simulator.parameters import IOParameters, UpdateParameters

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


def main() -> None:
    """Run the cases asked for (all by default)."""
    if not HAVE_AIHWKIT:
        print(
            f"aihwkit is {AIHWKIT_VERSION}: this comparison needs it; nothing to do. Install "
            "benches/requirements-aihwkit.txt into a separate venv to run it."
        )
        sys.exit(0)
    require_release()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        choices=("baselines", "c24"),
        default=None,
        help="run only the compound baselines or only the C24 multi-tile case",
    )
    args = parser.parse_args()
    if args.only in (None, "baselines"):
        run_baselines()
    if args.only in (None, "c24"):
        run_c24()


def run_baselines() -> None:
    """The compound comparisons and the flip-timing probe; writes their RESULTS.md section."""
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
        "every inter-read interval of a column lies in one chopper phase. Found and fixed on "
        "2026-12-05: the previous run of this bench (48 seeds) showed pulsetrain's "
        "`ChoppedTransfer` flipping every column together after the sweep ended, so column j's "
        "updates after its read and before the sweep's end (7 − j samples here) kept the old "
        "sign and were read with the new one; the regular-chopper c-TTv2 (final-loss z −18.4) "
        "and AGAD (−3.2) then DIFFERED, and a diagnostic monkeypatch with aihwkit's timing "
        "agreed (z −0.82, −0.13). pulsetrain now flips each column right after its own read "
        "(commit 7f096e7), the patch is gone, and the rows above are pulsetrain as shipped; the "
        "probe must give the same step on both sides."
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
        f"to 48 seeds for that power (and given the regular-chopper c-TTv2 case) before the "
        f"previous run; this run uses the same criterion and 48 seeds after the flip-timing fix "
        f"(note below).\n\n" + "\n\n".join(matching) + "\n\n" + "\n".join(notes)
    )
    write_section(TITLE, COMMAND, rows, text)
    print(f"wrote section {TITLE!r} of benches/RESULTS.md", flush=True)


# --------------------------------------------------------------------------------- C24
C24_TITLE = "C24 on aihwkit 1.1.0's TransferCompound vs pulsetrain's MultiTile (issue 13)"
C24_STEPS = 10_000
C24_POINTS = 10
C24_REPLICAS = 64
C24_B = -1.0 + 40_000 * 2.0 / (2**16 - 1)  # a target on the 16-bit grid (tests/test_multi_tile.py)
C24_LR = 0.001
C24_TRANSFER_LR = 0.01
C24_GAMMA = 0.1


def c24_vectors(n_tiles: int) -> dict[str, list[float]]:
    """P4's toy vectors in aihwkit's indexing (i = N − n, 0 the gradient device; §3.13)."""
    n = n_tiles - 1
    return {
        "gamma_vec": [C24_GAMMA ** (n - i) for i in range(n + 1)],
        "transfer_every_vec": [float(2 * 2**i) for i in range(n + 1)],
        "transfer_lr_vec": [C24_TRANSFER_LR] * (n + 1),
    }


def c24_aihwkit(n_tiles: int, dw_min: float, fast_lr: float = C24_LR) -> tuple[np.ndarray, float]:
    """Losses ½(w − b)² (C24_REPLICAS, C24_POINTS) of aihwkit, and the wall time.

    One ``AnalogLinear(1, R)``: its R rows are the replicas (x = 1, d_r = w_r − b). The rows
    share the x pulse train of each update (one input), so they are not fully independent.
    """
    dev = SoftBoundsDevice(
        dw_min=dw_min,
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
    cfg: Any
    if n_tiles == 1:
        cfg = SingleRPUConfig(device=dev)
    else:
        perfect = IOParameters()
        perfect.is_perfect = True
        vec = c24_vectors(n_tiles)
        cfg = UnitCellRPUConfig(
            device=TransferCompound(
                unit_cell_devices=[dev] * n_tiles,
                gamma_vec=vec["gamma_vec"],
                transfer_every_vec=vec["transfer_every_vec"],
                transfer_lr_vec=vec["transfer_lr_vec"],
                n_reads_per_transfer=1,
                units_in_mbatch=True,
                fast_lr=fast_lr,  # aihwkit's default 1.0 replaces the SGD lr on the gradient device
                scale_transfer_lr=False,
                transfer_forward=perfect,
                transfer_update=UpdateParameters(),
            )
        )
    cfg.forward.is_perfect = True
    cfg.backward.is_perfect = True
    r = C24_REPLICAS
    model = AnalogLinear(1, r, bias=False, rpu_config=cfg)
    model.set_weights(torch.zeros(r, 1))
    model.train()
    opt = AnalogSGD(model.parameters(), lr=C24_LR)
    opt.regroup_param_groups(model)
    x = torch.ones(1, 1)
    b = torch.full((1, r), C24_B)
    every = C24_STEPS // C24_POINTS
    out = np.zeros((r, C24_POINTS))
    t0 = time.perf_counter()
    for k in range(C24_STEPS):
        opt.zero_grad()
        (0.5 * ((model(x) - b) ** 2).sum()).backward()
        opt.step()
        if (k + 1) % every == 0:
            w = model.get_weights()[0].double().numpy().ravel()
            out[:, (k + 1) // every - 1] = 0.5 * (w - C24_B) ** 2
    return out, time.perf_counter() - t0


def c24_pulsetrain(n_tiles: int, n_states: int) -> tuple[np.ndarray, float]:
    """Losses (C24_REPLICAS, C24_POINTS) of pulsetrain's MultiTile (from_aihwkit), wall time."""
    algo = from_aihwkit(
        pt.presets.p4_few_state(n_states),
        **{k: [float(v) for v in vs] for k, vs in c24_vectors(n_tiles).items()},  # type: ignore[arg-type]
        lr=C24_LR,
        update=pt.StochasticPulseUpdate(),
    )
    t0 = time.perf_counter()
    res = pt.run(
        pt.problems.Quadratic(target=C24_B, noise_std=0.0),
        algo,
        steps=C24_STEPS,
        replicas=C24_REPLICAS,
        rng=0,
        progress=False,
        record_every=C24_STEPS // C24_POINTS,
    )
    loss = np.asarray(res.loss)[:, 1:]
    return loss, time.perf_counter() - t0


def run_c24() -> None:
    """C24's toy on both simulators, 1..4 tiles, 4 and 16 states; writes its own section."""
    rows: list[tuple[str, str, str, str]] = []
    trend: list[str] = []
    n_agree = 0
    falls_any = {"aihwkit": False, "pulsetrain": False}
    for n_states in (4, 16):
        finals: dict[str, list[tuple[float, float]]] = {"aihwkit": [], "pulsetrain": []}
        for n_tiles in range(1, 5):
            ai, t_ai = c24_aihwkit(n_tiles, 2.0 / n_states)
            ptl, t_pt = c24_pulsetrain(n_tiles, n_states)
            se = np.sqrt(ai.var(axis=0, ddof=1) / len(ai) + ptl.var(axis=0, ddof=1) / len(ptl))
            z = (ai.mean(axis=0) - ptl.mean(axis=0)) / np.maximum(se, SE_FLOOR)
            la, lp = mean_se(ai[:, -1]), mean_se(ptl[:, -1])
            finals["aihwkit"].append(la)
            finals["pulsetrain"].append(lp)
            agree = abs(z[-1]) < 3.0 and np.abs(z).max() < 5.0
            n_agree += agree
            traj = " ".join(f"{v:.3f}" for v in ai.mean(axis=0))
            trp = " ".join(f"{v:.3f}" for v in ptl.mean(axis=0))
            rows.append(
                (
                    f"C24, {n_states} states, {n_tiles} tile(s)",
                    f"aihwkit loss {la[0]:.4g} ± {la[1]:.2g} ({t_ai:.1f} s); mean loss "
                    f"trajectory {traj}",
                    f"pulsetrain loss {lp[0]:.4g} ± {lp[1]:.2g} ({t_pt:.1f} s); {trp}",
                    f"trajectory max abs(z) {np.abs(z).max():.2f}; final-loss z {z[-1]:+.2f}; "
                    f"**{'agree' if agree else 'DIFFER'}**",
                )
            )
            print(" | ".join(rows[-1]), flush=True)
        if n_states == 4:
            # aihwkit's default fast_lr (1.0) in place of the matched one, aihwkit only.
            fs_default: list[tuple[float, float]] = []
            for n_tiles in range(2, 5):
                ai, t_ai = c24_aihwkit(n_tiles, 2.0 / n_states, fast_lr=1.0)
                fs_default.append(mean_se(ai[:, -1]))
                rows.append(
                    (
                        f"C24, {n_states} states, {n_tiles} tiles, aihwkit's default fast_lr 1.0",
                        f"aihwkit loss {fs_default[-1][0]:.4g} ± {fs_default[-1][1]:.2g} "
                        f"({t_ai:.1f} s); mean loss trajectory "
                        + " ".join(f"{v:.3f}" for v in ai.mean(axis=0)),
                        "–",
                        "aihwkit only (not matched: the gradient device's lr is 1, not 0.001)",
                    )
                )
                print(" | ".join(rows[-1]), flush=True)
            trend.append(
                f"aihwkit with its default fast_lr 1.0, {n_states} states, 2..4 tiles: final "
                "losses " + ", ".join(f"{m:.4f} ± {e:.4f}" for m, e in fs_default)
            )
        for sim, fs in finals.items():
            falls = all(
                fs[k + 1][0] < fs[k][0] - 3.0 * math.hypot(fs[k][1], fs[k + 1][1]) for k in range(3)
            )
            falls_any[sim] = falls_any[sim] or falls
            trend.append(
                f"{sim}, {n_states} states: final losses "
                + ", ".join(f"{m:.4f} ± {e:.4f}" for m, e in fs)
                + (" — falls monotonically" if falls else " — does NOT fall monotonically")
            )
    if not falls_any["aihwkit"] and not falls_any["pulsetrain"]:
        blame = (
            "Neither simulator shows it, so the losses that rise with the tile count in "
            "tests/test_multi_tile.py's strict xfail are the check's (C24 as stated, with these "
            "rates), not a pulsetrain defect."
        )
    else:
        blame = "The simulators differ on the trend: see the rows."
    text = (
        f"Reference: {AIHWKIT_VERSION} (CPU, float32). C24's toy (theory.md §5, §3.13): 1×1 "
        f"least squares ½(w − b)², b = {C24_B:.6f} (16-bit grid), batch 1, exact gradient, w = 0 "
        f"at the start, {C24_STEPS} steps, {C24_REPLICAS} replicas, loss recorded every "
        f"{C24_STEPS // C24_POINTS} steps; SoftBounds on [−1, 1] with Δw_min 0.5 (4 states) and "
        f"0.125 (16 states), no noise. aihwkit: `TransferCompound` with N + 1 devices (1 tile: "
        f"`SingleRPUConfig`), gamma_vec[i] = {C24_GAMMA}^(N−i), transfer_every_vec[i] = 2·2^i, "
        f"transfer_lr_vec {C24_TRANSFER_LR}, n_reads_per_transfer 1, units_in_mbatch True, "
        f"fast_lr {C24_LR} (aihwkit's default 1.0 would set the gradient device's lr to 1, not "
        f"the SGD lr), scale_transfer_lr False, perfect `transfer_forward`, `transfer_update` = "
        f"`UpdateParameters()` (the gradient update's defaults: desired_bl 31, UM, BL management), "
        f"AnalogSGD lr {C24_LR}, forward and backward perfect; the replicas are the {C24_REPLICAS} "
        f"rows of one `AnalogLinear(1, {C24_REPLICAS})` (x = 1), which share each update's x "
        f"pulse train, so its SEs are from not fully independent rows. pulsetrain: "
        f"`MultiTile.from_aihwkit` with the same vectors, lr {C24_LR}, `StochasticPulseUpdate()` "
        f"for gradient and transfers, exact reads; `pt.run(Quadratic(target=b))`, "
        f"{C24_REPLICAS} replicas. Per row: final loss mean ± SE, the mean loss at the "
        f"{C24_POINTS} points, and z of the difference of the means (SE from both spreads) at "
        f"every point; agree if the final |z| < 3 and every |z| < 5 (fixed beforehand). "
        f"Monotone trend: each tile count's final loss below the previous one's by more than "
        f"3 combined SEs.\n\nOutcome: the matched runs agree in {n_agree} of 8 rows; the "
        f"monotone fall of C24 holds on aihwkit: {'yes' if falls_any['aihwkit'] else 'no'}, on "
        f"pulsetrain: {'yes' if falls_any['pulsetrain'] else 'no'} (for either device). {blame} "
        f"One trap found on the "
        f"way: `TransferCompound.fast_lr` defaults to 1.0 and, when set, replaces the SGD lr on "
        f"the gradient device (compounds.py docstring), so a script that sets only the "
        f"AnalogSGD lr 0.001 runs the gradient device at lr 1; the first (unmatched) attempt of "
        f"this case disagreed with pulsetrain for that reason (e.g. 2 tiles, 4 states: aihwkit "
        f"≈ 0.047, pulsetrain 0.26), and the 'default fast_lr' rows show aihwkit in that "
        f"setting.\n\n" + "\n".join(f"- {t}." for t in trend)
    )
    write_section(C24_TITLE, COMMAND + " --only c24", rows, text)
    print(f"wrote section {C24_TITLE!r} of benches/RESULTS.md", flush=True)
    print("\n".join(trend), flush=True)


if __name__ == "__main__":
    main()
