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

from pulsetrain.devices import presets
from pulsetrain.errors import ParameterError
from pulsetrain.problems import Digits, LeastSquares, TeacherStudent
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


def test_p3_pulse_metric_zs_ttv2_entries(p3: ModuleType, nn: ModuleType) -> None:
    # --two-stage ttv2 (session 10): ZS N + TT-v2 = h8's LeNet-5 TT-v2 entry with zs_pulses=N.
    algos = p3.algorithms((0.0, 0.05), two_stage=("rl", "ttv2"))
    assert list(algos)[5:] == [f"ZS {n} + TT-v2" for n in (0, 10, 100, 1000)]
    assert list(algos)[:5] == list(p3.algorithms((0.0, 0.05)))  # ZS + RL still there
    dev = dataclasses.replace(presets.rram_hfo2(), reference_mean=0.0, reference_std=0.05)
    h8_tt = next(e for e in nn.h8(model="lenet5").entries if e.label.endswith("TT-v2"))
    assert algos["ZS 0 + TT-v2"] == dataclasses.replace(h8_tt.algorithm, device=dev)
    assert algos["ZS 0 + TT-v2"].zs_pulses == 0
    assert algos["ZS 100 + TT-v2"] == dataclasses.replace(
        h8_tt.algorithm, device=dev, zs_pulses=100
    )
    lrs = p3.bias_lrs(algos)
    assert lrs["ZS 10 + TT-v2"] == h8_tt.bias_lr == 0.005
    assert lrs["ZS 10 + RL"] == lrs["E-RIDER (buffered)"] == p3.GLOBAL_LR
    assert list(p3.select(algos, ["TT-v2"])) == [f"ZS {n} + TT-v2" for n in (0, 10, 100, 1000)]
    assert p3.select(algos, None) == algos
    with pytest.raises(ParameterError, match="'only'"):
        p3.select(algos, ["SGD"])
    with pytest.raises(ParameterError, match="'two_stage'"):
        p3.algorithms(two_stage=("tt",))
    data, model = _tiny_lenet()
    prob = dataclasses.replace(
        p3.problem(dataset=data, eval_samples=10, model=model), bias_lr=p3.GLOBAL_LR
    )
    keep = {"ZS 10 + TT-v2": algos["ZS 10 + TT-v2"]}
    out = p3.run_all(
        keep, prob, steps=2, replicas=2, seed=0, record_every=1, targets=[20.0], bias_lr=lrs
    )
    row = out["rows"]["ZS 10 + TT-v2"]
    assert row["phases"]["calibration"] == 10.0  # N pulses on every layer's A, one per weight
    assert row["bias_lr"] == 0.005


def test_p3_pulse_metric_offsets_residual(p3: ModuleType, nn: ModuleType) -> None:
    # --offsets residual (session 10), nn_headlines.py h8's semantics: the offset device goes to
    # every method's residual array (P/A) as device_residual; W keeps presets.rram_hfo2().
    offset = dataclasses.replace(presets.rram_hfo2(), reference_mean=0.4, reference_std=1.0)
    kinds = ("rl", "ttv2")
    both = p3.algorithms((0.4, 1.0), two_stage=kinds)
    assert both == p3.algorithms((0.4, 1.0), two_stage=kinds, offsets="both")
    res = p3.algorithms((0.4, 1.0), two_stage=kinds, offsets="residual")
    assert list(res) == list(both)
    assert p3.bias_lrs(res) == p3.bias_lrs(both)
    for name, algo in res.items():
        assert (both[name].device, both[name].device_residual) == (offset, None), name
        assert (algo.device, algo.device_residual) == (presets.rram_hfo2(), offset), name
        # Nothing else differs from the "both" method.
        assert dataclasses.replace(
            both[name], device=presets.rram_hfo2(), device_residual=offset
        ) == (algo)
    h8_res = {e.label: e.algorithm for e in nn.h8(model="lenet5", offsets="residual").entries}
    assert res["E-RIDER (buffered)"] == h8_res["μr 0.4 σr 1.0 / E-RIDER"]
    assert res["ZS 0 + TT-v2"] == h8_res["μr 0.4 σr 1.0 / TT-v2"]
    # On the tiles: R − SP of A is N(0.4, 1.0), of W N(0, 0.05) (5σ bounds over n = 256, as the
    # h8 test); with ZS 1000 the calibration reprograms A's reference and leaves W's alone.
    prob = LeastSquares(in_size=16, out_size=8, n_samples=16, batch_size=4)
    offs = {}
    for name in ("ZS 0 + TT-v2", "ZS 1000 + TT-v2"):
        root = np.random.SeedSequence(1)
        state = res[name].start(prob.setup(2, root), root, n_threads=1)
        offs[name] = [t.reference - t.maps()["symmetric_point"] for t in (state.p, state.w)]
    a0, w0 = offs["ZS 0 + TT-v2"]
    for off, (mean, std) in ((a0, (0.4, 1.0)), (w0, (0.0, 0.05))):
        assert abs(off.mean() - mean) < 5 * std / 16
        assert abs(off.std() - std) < 5 * std / math.sqrt(2 * off.size)
    a_zs, w_zs = offs["ZS 1000 + TT-v2"]
    np.testing.assert_array_equal(w_zs, w0)
    assert not np.allclose(a_zs, a0)
    with pytest.raises(ParameterError, match="The 'offsets' parameter of algorithms must be"):
        p3.algorithms(offsets="w_only")


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


def test_h8_offsets_residual_puts_the_offsets_on_the_residual_arrays_only(
    nn: ModuleType,
) -> None:
    # nn_headlines.py h8 --offsets residual (session 9): the offset device goes to the residual
    # arrays (A/P) as device_residual; W keeps presets.rram_hfo2() unchanged.
    both = nn.h8(model="lenet5")
    res = nn.h8(model="lenet5", offsets="residual")
    assert "on A/P only" in res.title
    assert "on A/P only" not in both.title
    assert [e.label for e in res.entries] == [e.label for e in both.entries]
    assert [e.bias_lr for e in res.entries] == [e.bias_lr for e in both.entries]
    for e, b in zip(res.entries, both.entries, strict=True):
        mean, std = (0.4, 1.0) if e.label.startswith("μr 0.4") else (0.0, 0.05)
        offset = dataclasses.replace(presets.rram_hfo2(), reference_mean=mean, reference_std=std)
        assert e.algorithm.device == presets.rram_hfo2()
        assert e.algorithm.device_residual == offset
        assert (b.algorithm.device, b.algorithm.device_residual) == (offset, None)
        # Nothing else differs from the "both" entry.
        assert dataclasses.replace(
            b.algorithm, device=presets.rram_hfo2(), device_residual=offset
        ) == (e.algorithm)
    # On the tiles: R − SP of A/P is N(0.4, 1.0), of W N(0, 0.05). n = 2·8·16 = 256 independent
    # draws each: the sample mean's SD is σ/16 and the sample SD's ≈ σ/√(2n) = σ/22.6; 5σ bounds.
    tt = next(e for e in res.entries if e.label == "μr 0.4 σr 1.0 / TT-v2").algorithm
    prob = LeastSquares(in_size=16, out_size=8, n_samples=16, batch_size=4)
    root = np.random.SeedSequence(1)
    state = tt.start(prob.setup(2, root), root, n_threads=1)
    for tile, (mean, std) in ((state.p, (0.4, 1.0)), (state.w, (0.0, 0.05))):
        off = tile.reference - tile.maps()["symmetric_point"]
        assert abs(off.mean() - mean) < 5 * std / 16
        assert abs(off.std() - std) < 5 * std / math.sqrt(2 * off.size)
    # A tiny run of the variant (LeNet-5 on 16×16 inputs, 2 steps).
    pair = ("μr 0.4 σr 1.0 / TT-v2",)
    small = dataclasses.replace(
        res, entries=[e for e in res.entries if e.label in pair], orderings=[]
    )
    data, model = _tiny_lenet()
    out = nn.run_headline(
        small, steps=2, replicas=2, record_every=2, eval_samples=10, dataset=data, model=model
    )
    assert list(out["rows"]) == list(pair)
    with pytest.raises(ParameterError, match="The 'offsets' parameter of h8 must be one of"):
        nn.h8(model="lenet5", offsets="w_only")
