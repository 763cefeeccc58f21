"""Smoke test of examples/nn_headlines.py (theory.md §5 H4, H6, H8, H9 at reduced scale).

Each headline's core function runs two of its entries for a few steps with R = 2 on the FCN
(fed the small Digits set, so no MNIST data is needed and the run is fast) and the output
structure is checked. No claim is asserted from such a tiny run: the numbers and the
verdicts of the real runs are in docs/REPRODUCTIONS.md.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from pulsetrain.problems import Digits, TeacherStudent
from pulsetrain.problems.classifier import LeNet5

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def nn() -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module("nn_headlines")
    finally:
        sys.path.remove(str(EXAMPLES))


@pytest.mark.parametrize("name", ["h4", "h6", "h8", "h9"])
def test_headline_core_runs_and_reports(nn: ModuleType, name: str) -> None:
    pytest.importorskip("sklearn", reason="needs the 'data' extra (scikit-learn): Digits")
    full = nn.HEADLINES[name](columns=15)
    labels = [e.label for e in full.entries]
    assert len(set(labels)) == len(labels)
    for worse, better in full.orderings:  # every claimed ordering names two entries
        assert worse in labels
        assert better in labels
    assert all(e.paper for e in full.entries)
    pair = full.orderings[0]
    small = dataclasses.replace(
        full,
        entries=[e for e in full.entries if e.label in pair],
        orderings=[pair],
    )
    out = nn.run_headline(
        small, steps=3, replicas=2, record_every=3, eval_samples=10, dataset=Digits()
    )
    assert list(out["rows"]) == [lab for lab in labels if lab in pair]
    for row in out["rows"].values():
        assert len(row["acc"]) == 2
        assert all(0.0 <= a <= 100.0 for a in row["acc"])
        assert math.isclose(row["mean"], sum(row["acc"]) / 2)
        assert math.isclose(row["se"], abs(row["acc"][0] - row["acc"][1]) / 2)
    (o,) = out["orderings"]
    a, b = (out["rows"][k] for k in pair)
    assert math.isclose(o["diff"], b["mean"] - a["mean"])
    assert o["verdict"] in ("holds (> 2 SE)", "holds (within 2 SE)", "fails")
    assert o["verdict"].startswith("holds") == (o["diff"] > 0)
    for c in out["curves"].values():
        assert c["steps"] == [0, 3]
        assert len(c["acc"]) == 2


# LeNet-5 on 16×16 images of a small teacher-student set (256 features, 3 classes): the
# smallest input LeNet-5 accepts, so the LeNet variants run in a second without MNIST.
def _tiny_lenet() -> tuple[TeacherStudent, LeNet5]:
    return TeacherStudent(n_train=40, n_test=20, in_size=256, n_classes=3), LeNet5(
        image_shape=(1, 16, 16)
    )


@pytest.mark.parametrize("name", ["h4", "h8", "h9"])
def test_lenet_headlines_take_the_lenet_numbers_and_run(nn: ModuleType, name: str) -> None:
    fcn, lenet = nn.HEADLINES[name](columns=15), nn.HEADLINES[name](columns=15, model="lenet5")
    assert "LeNet-5" in lenet.title
    labels = [e.label for e in lenet.entries]
    for worse, better in lenet.orderings:
        assert worse in labels
        assert better in labels
    # Every entry carries its global SGD lr for the biases (the --bias-lr global rule).
    assert all(e.bias_lr is not None and e.bias_lr > 0 for e in lenet.entries)
    if name == "h4":  # the CNN column: τ 0.6 and 0.8, the ordering claimed at both
        assert [e.paper for e in lenet.entries][:3] == ["99.16±0.08", "88.99±0.89", "98.84±0.07"]
        assert len(lenet.orderings) == 2
    if name == "h8":  # P3 Table 2 (LeNet-5) replaces Table 1 (FCN)
        assert lenet.entries[0].paper == "75.19±1.0"
        assert fcn.entries[0].paper == "90.26±0.4"
        assert [e.bias_lr for e in lenet.entries[:3]] == [0.005, 0.05, 0.05]
    if name == "h9":  # P4's table is LeNet-5's: the same numbers
        assert [e.paper for e in lenet.entries] == [e.paper for e in fcn.entries]
    pair = lenet.orderings[0]
    small = dataclasses.replace(
        lenet, entries=[e for e in lenet.entries if e.label in pair], orderings=[pair]
    )
    data, model = _tiny_lenet()
    out = nn.run_headline(
        small, steps=2, replicas=2, record_every=2, eval_samples=10, dataset=data, model=model
    )
    assert out["model"] == "lenet5"
    assert out["bias_lr"] == "global"
    assert list(out["rows"]) == [lab for lab in labels if lab in pair]
    for row in out["rows"].values():
        assert len(row["acc"]) == 2
        assert all(0.0 <= a <= 100.0 for a in row["acc"])


@pytest.fixture(scope="module")
def p3() -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    try:
        return importlib.import_module("p3_pulses_lenet")
    finally:
        sys.path.remove(str(EXAMPLES))


def test_p3_pulse_metric_on_lenet(p3: ModuleType) -> None:
    algos = p3.algorithms()
    assert list(algos) == [
        "E-RIDER (buffered)",
        "ZS 0 + RL",
        "ZS 10 + RL",
        "ZS 100 + RL",
        "ZS 1000 + RL",
    ]
    assert algos["ZS 100 + RL"].zs_pulses == 100
    # The metric, by hand: accuracies 10, 40, 80 % at three records, cumulative pulses 0, 6, 12
    # (two phases) over 2 weights → 0, 3, 6 per weight; replica 1 never reaches 50 %.
    fake = SimpleNamespace(
        error=np.array([[0.9, 0.6, 0.2], [0.9, 0.7, 0.6]]),
        pulses={"update": np.array([[0, 4, 8], [0, 4, 8]]), "transfer": np.array([[0, 2, 4]] * 2)},
    )
    np.testing.assert_array_equal(p3.pulses_to_target(fake, 40.0, 2), [3.0, 6.0])
    np.testing.assert_array_equal(p3.pulses_to_target(fake, 50.0, 2), [6.0, np.nan])
    assert p3.summarise(np.array([3.0, 6.0])) == (2, 4.5, pytest.approx(1.5, rel=1e-12))
    assert p3.summarise(np.array([np.nan, np.nan]))[0] == 0
    data, model = _tiny_lenet()
    prob = dataclasses.replace(
        p3.problem(dataset=data, eval_samples=10, model=model), bias_lr=p3.GLOBAL_LR
    )
    assert p3.n_weights(prob) == 25 * 16 + 400 * 32 + 32 * 128 + 128 * 3
    keep = ("E-RIDER (buffered)", "ZS 10 + RL")
    out = p3.run_all(
        {k: algos[k] for k in keep},
        prob,
        steps=2,
        replicas=2,
        seed=0,
        record_every=1,
        targets=[20.0],
    )
    assert list(out["rows"]) == list(keep)
    assert out["record_steps"] == [0, 1, 2]
    zs = out["rows"]["ZS 10 + RL"]
    assert zs["phases"]["calibration"] == 10.0  # N pulses on P, one per weight
    assert out["rows"]["E-RIDER (buffered)"]["phases"].get("calibration", 0.0) == 0.0
    for row in out["rows"].values():
        assert len(row["curve_acc"]) == len(row["curve_pulses"]) == 3
        assert row["targets"]["20.0"]["reached"] in (0, 1, 2)


def test_select_keeps_the_named_entries_and_their_orderings(nn: ModuleType) -> None:
    full = nn.h4(model="lenet5")
    one = nn.select(full, ["τ 0.60"])
    assert [e.label for e in one.entries] == ["τ 0.60 / Analog SGD", "τ 0.60 / TT"]
    assert one.orderings == [("τ 0.60 / Analog SGD", "τ 0.60 / TT")]
    assert nn.select(full, ["Digital"]).orderings == []


def test_p2cnn_runs_h4s_cnn_column_with_p2s_network(nn: ModuleType) -> None:
    # --model p2cnn: P2's CNN (LeNet-5 plus a tanh after the second pooling), H4 only.
    assert nn.MODELS["p2cnn"].tanh_after_pool
    assert not nn.MODELS["lenet5"].tanh_after_pool
    assert nn.problem(model="p2cnn").model.tanh_after_pool
    cnn = nn.h4(model="p2cnn")
    assert "P2's CNN" in cnn.title
    assert [e.paper for e in cnn.entries] == [
        "99.16±0.08",
        "88.99±0.89",
        "98.84±0.07",
        "92.15±0.48",
        "98.87±0.04",
        "93.45±0.46",
        "98.86±0.07",
    ]
    assert [f"τ {t} / Analog SGD" for t in ("0.60", "0.70", "0.80")] == [
        w for w, _ in cnn.orderings
    ]
    # The same algorithms as the LeNet-5 column at the τ both have.
    lenet = {e.label: e for e in nn.h4(model="lenet5").entries}
    for e in cnn.entries:
        if e.label in lenet:
            assert e.algorithm == lenet[e.label].algorithm
            assert e.bias_lr == lenet[e.label].bias_lr
    for name in ("h6", "h8", "h9"):
        with pytest.raises(ValueError, match="p2cnn"):
            nn.HEADLINES[name](model="p2cnn")
    with pytest.raises(ValueError, match="model"):
        nn.problem(model="cnn")
    pair = cnn.orderings[1]  # τ 0.70, the column LeNet-5 has not
    small = dataclasses.replace(
        cnn, entries=[e for e in cnn.entries if e.label in pair], orderings=[pair]
    )
    data, _ = _tiny_lenet()
    out = nn.run_headline(
        small,
        steps=2,
        replicas=2,
        record_every=2,
        eval_samples=10,
        dataset=data,
        model=LeNet5(image_shape=(1, 16, 16), tanh_after_pool=True),
    )
    assert list(out["rows"]) == list(pair)
    for row in out["rows"].values():
        assert len(row["acc"]) == 2
        assert all(0.0 <= a <= 100.0 for a in row["acc"])


def test_p2_mapping_goes_to_the_analog_entries_only(
    nn: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --mapping p2: P2's aihwkit mapping (omega left at 0: learned output scales only).
    p2 = nn.MAPPINGS["p2"]
    assert nn.MAPPINGS["none"] is None
    assert p2.weight_scaling_omega is None
    assert p2.learn_out_scaling
    assert p2.weight_scaling_columnwise
    assert not p2.out_scaling_columnwise
    cnn = nn.h4(model="p2cnn")
    small = dataclasses.replace(
        cnn, entries=[e for e in cnn.entries if "0.70" in e.label or "Digital" in e.label]
    )
    small = dataclasses.replace(small, orderings=[cnn.orderings[1]])
    seen: dict[str, object] = {}
    real_run = nn.pt.run

    def spy(problem: object, algorithm: object, **kw: object) -> object:
        seen[type(algorithm).__name__] = problem.mapping  # type: ignore[attr-defined]
        return real_run(problem, algorithm, **kw)

    monkeypatch.setattr(nn.pt, "run", spy)
    data, _ = _tiny_lenet()
    out = nn.run_headline(
        small,
        steps=2,
        replicas=2,
        record_every=2,
        eval_samples=10,
        dataset=data,
        model=LeNet5(image_shape=(1, 16, 16), tanh_after_pool=True),
        mapping=p2,
    )
    assert seen == {"DigitalSGD": None, "AnalogSGD": p2, "TikiTaka": p2}
    assert out["mapping"] == p2.to_dict()
    assert len(out["rows"]) == 3
    # the summary records the learned α per layer and replica for the mapped entries only
    assert "out_scaling_alpha" not in out["rows"]["Digital SGD"]
    for label, row in out["rows"].items():
        if "Digital" in label:
            continue
        alphas = row["out_scaling_alpha"]
        assert list(alphas) == [f"layer{k}" for k in range(4)]
        assert all(np.shape(a) == (2, 1) for a in alphas.values())
