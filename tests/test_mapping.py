"""aihwkit's weight mapping and learned output scales (pulsetrain.mapping) on analog layers.

Defaults bit-identical; the mapped initial weights; forward, backward, the analog update's d and
α's gradient against aihwkit's formulas and finite differences; learned versus fixed scales;
validation; config round trips; replicas; checkpoints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD, DigitalSGD
from pulsetrain.config import dumps_toml, from_dict, loads_toml, to_dict
from pulsetrain.conv import AnalogConv2d
from pulsetrain.errors import ParameterError
from pulsetrain.experiment import experiment_from_dict
from pulsetrain.layers import AnalogLinear, Sequential, Tanh, softmax_cross_entropy
from pulsetrain.mapping import MappingParameter, map_weights
from pulsetrain.problems import Classifier, LeNet5, TeacherStudent

IDEAL = pt.Device(response=pt.Ideal(w_min=-10.0, w_max=10.0), dw_min=1e-3)
DEV = pt.Device(response=pt.SoftBounds(), dw_min=1e-3, dw_min_dtod=0.3, dw_min_std=0.3)
EPS = np.finfo(np.float64).eps
P2 = MappingParameter(weight_scaling_columnwise=True, learn_out_scaling=True)
ALL = MappingParameter(
    weight_scaling_omega=0.6,
    weight_scaling_columnwise=True,
    learn_out_scaling=True,
    out_scaling_columnwise=True,
)


def _w0(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=shape)


# ------------------------------------------------------------------------- defaults unchanged
def _run(problem: Classifier) -> Any:
    algo = AnalogSGD(device=DEV, lr=0.1)
    return pt.run(problem, algo, steps=12, replicas=2, rng=5, record_every=4)


@pytest.mark.parametrize(
    "model",
    [None, LeNet5(image_shape=(1, 16, 16), tanh_after_pool=True)],
    ids=["mlp", "p2cnn"],
)
def test_inactive_mapping_is_bit_identical_to_none(model: LeNet5 | None) -> None:
    width = 16 if model is None else 256
    data = TeacherStudent(in_size=width, n_train=60, n_test=20)
    base = Classifier(dataset=data, model=model, eval_samples=20)
    ref = _run(base)
    for mapping in (MappingParameter(), MappingParameter(weight_scaling_columnwise=True)):
        got = _run(dataclasses.replace(base, mapping=mapping))
        np.testing.assert_array_equal(got.loss, ref.loss)
        np.testing.assert_array_equal(got.error, ref.error)
    # ...and an active mapping does change the run (so the comparison above can fail).
    active = _run(dataclasses.replace(base, mapping=ALL))
    assert not np.array_equal(active.loss, ref.loss)


def test_layer_without_mapping_keeps_its_attributes_and_state_dict() -> None:
    plain = AnalogLinear(5, 3, AnalogSGD(device=DEV, lr=0.1), rng=1)
    off = AnalogLinear(5, 3, AnalogSGD(device=DEV, lr=0.1), rng=1, mapping=MappingParameter())
    assert "_out_alpha" not in vars(plain)
    assert "_mapping_scales" not in vars(plain)
    assert plain.mapping is None
    assert plain.mapping_scales is None
    assert plain.out_scaling_alpha is None
    assert off.mapping == MappingParameter()
    assert off.mapping_scales is None
    net_a = Sequential(plain)
    net_b = Sequential(off)
    x = np.random.default_rng(0).uniform(size=(4, 5))
    la = net_a.train_batch(x, [0, 1, 2, 0], step=0)
    lb = net_b.train_batch(x, [0, 1, 2, 0], step=0)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(plain.weights, off.weights)


# ------------------------------------------------------------------------- initial mapping
@pytest.mark.parametrize("columnwise", [True, False])
def test_mapped_weights_reproduce_the_requested_ones(columnwise: bool) -> None:  # noqa: FBT001
    r, out, inp, omega = 3, 4, 6, 0.6
    w0 = _w0((r, out, inp))
    w0[1, 2] = 0.0  # an all-zero output keeps s = 1
    mapping = MappingParameter(weight_scaling_omega=omega, weight_scaling_columnwise=columnwise)
    layer = AnalogLinear(
        inp, out, AnalogSGD(device=IDEAL, lr=0.1), replicas=r, rng=0, weights=w0,
        forward_io=None, backward_io=None, mapping=mapping,
    )  # fmt: skip
    w_analog, s = layer.analog_weights, layer.mapping_scales
    assert s is not None
    # One rounding in w0 / s and one in s · (w0 / s): 2 eps relative.
    np.testing.assert_allclose(layer.weights, w0, rtol=2 * EPS, atol=0.0)
    if columnwise:
        assert s.shape == (r, out)
        row_max = np.abs(w_analog).max(axis=2)
        nonzero = np.abs(w0).max(axis=2) > 0
        np.testing.assert_allclose(row_max[nonzero], omega, rtol=2 * EPS)
        assert s[1, 2] == 1.0
        assert np.all(w_analog[1, 2] == 0.0)
        np.testing.assert_allclose(s, np.abs(w0).max(axis=2) / omega + ~nonzero, rtol=0)
    else:
        assert s.shape == (r, 1)
        np.testing.assert_allclose(np.abs(w_analog).max(axis=(1, 2)), omega, rtol=2 * EPS)
        # Per replica: only replica 1's largest row sets its scale.
        np.testing.assert_array_equal(s[:, 0], np.abs(w0).max(axis=(1, 2)) / omega)
    # The forward pass computes with the requested weights.
    x = np.random.default_rng(1).uniform(-1, 1, size=(r, 5, inp))
    np.testing.assert_allclose(
        layer.forward(x), np.einsum("roi,rbi->rbo", w0, x), rtol=1e-13, atol=1e-15
    )


def test_map_weights_of_a_zero_matrix_keeps_unit_scales() -> None:
    w, s = map_weights(np.zeros((2, 3, 4)), MappingParameter(weight_scaling_omega=0.5))
    np.testing.assert_array_equal(s, np.ones((2, 1)))
    np.testing.assert_array_equal(w, np.zeros((2, 3, 4)))


def test_omega_above_the_device_range_clips_as_in_aihwkit() -> None:
    dev = pt.Device(response=pt.SoftBounds(w_min=-0.5, w_max=0.5), dw_min=1e-3)
    layer = AnalogLinear(
        4, 2, AnalogSGD(device=dev, lr=0.1), rng=0, weights=_w0((2, 4)),
        mapping=MappingParameter(weight_scaling_omega=0.8),
    )  # fmt: skip
    assert np.abs(layer.analog_weights).max() <= 0.5


# ------------------------------------------------------------------------- passes and update
def _layer(mapping: MappingParameter, *, replicas: int = 2, lr: float = 0.05) -> AnalogLinear:
    w0 = _w0((replicas, 3, 5), seed=2)
    return AnalogLinear(
        5, 3, DigitalSGD(lr=lr), replicas=replicas, rng=0, weights=w0,
        forward_io=None, backward_io=None, mapping=mapping, bias_lr=0.2,
    )  # fmt: skip


def test_forward_backward_and_update_follow_aihwkit() -> None:
    layer = _layer(ALL)
    rng = np.random.default_rng(3)
    layer._out_alpha = rng.uniform(0.5, 1.5, size=(2, 3))  # away from 1, so α shows up
    s, alpha = layer.mapping_scales, layer.out_scaling_alpha
    assert s is not None
    assert alpha is not None
    w_bar = layer.analog_weights
    x = rng.uniform(-1, 1, size=(2, 4, 5))
    delta = rng.normal(size=(2, 4, 3))
    y = layer.forward(x)
    z = np.einsum("roi,rbi->rbo", w_bar, x) * s[:, None, :]
    np.testing.assert_allclose(y, z * alpha[:, None, :], rtol=1e-14)
    dx = layer.backward(delta)
    want_dx = np.einsum("roi,rbo->rbi", w_bar, delta * alpha[:, None, :] * s[:, None, :])
    np.testing.assert_allclose(dx, want_dx, rtol=1e-13, atol=1e-15)
    layer.update(step=0)
    # Digital SGD on the tile with aihwkit's d = α ⊙ δ / s (pre_update), at lr 0.05.
    d_tile = delta * alpha[:, None, :] / s[:, None, :]
    np.testing.assert_allclose(
        layer.analog_weights,
        w_bar - 0.05 * np.einsum("rbo,rbi->roi", d_tile, x),
        rtol=1e-13,
        atol=1e-15,
    )
    # α: SGD at bias_lr with dL/dα = Σ_b δ ⊙ z.
    alpha1 = layer.out_scaling_alpha
    assert alpha1 is not None
    np.testing.assert_allclose(alpha1, alpha - 0.2 * (delta * z).sum(axis=1), rtol=1e-13)
    np.testing.assert_array_equal(layer.mapping_scales, s)  # s is never trained


def _loss_at(layer: AnalogLinear, alpha: np.ndarray, x: np.ndarray, labels: np.ndarray) -> float:
    saved = layer._out_alpha
    layer._out_alpha = alpha
    try:
        loss, _ = softmax_cross_entropy(layer.forward(x, exact=True), labels)
    finally:
        layer._out_alpha = saved
    return float(np.sum(loss))


@pytest.mark.parametrize("columnwise", [False, True])
def test_alpha_gradient_matches_finite_differences(columnwise: bool) -> None:  # noqa: FBT001
    mapping = dataclasses.replace(ALL, out_scaling_columnwise=columnwise)
    layer = _layer(mapping, replicas=2, lr=0.0)  # lr 0: the tile does not move
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, size=(2, 6, 5))
    labels = rng.integers(0, 3, size=(2, 6))
    alpha0 = layer.out_scaling_alpha
    assert alpha0 is not None
    layer._out_alpha = np.linspace(0.7, 1.3, alpha0.size).reshape(alpha0.shape)
    alpha0 = layer._out_alpha.copy()
    h = 1e-6
    numeric = np.zeros_like(alpha0)
    for idx in np.ndindex(*alpha0.shape):
        up, down = alpha0.copy(), alpha0.copy()
        up[idx] += h
        down[idx] -= h
        # The loss summed over replicas: replica r's α only enters replica r's loss.
        numeric[idx] = (_loss_at(layer, up, x, labels) - _loss_at(layer, down, x, labels)) / (2 * h)
    # The step (the bias moves too, so after the finite differences): α ← α − bias_lr · dL/dα.
    _, grad = softmax_cross_entropy(layer.forward(x), labels)
    layer.backward(grad, input_grad=False)
    layer.update(step=0)
    alpha1 = layer.out_scaling_alpha
    assert alpha1 is not None
    analytic = (alpha0 - alpha1) / layer.bias_lr
    # Central differences: O(h²) truncation (~1e-12) plus ~eps·|L|/h ≈ 1e-10 rounding.
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_conv_alpha_gradient_sums_over_positions() -> None:
    w0 = _w0((1, 2, 1, 3, 3), seed=5)
    conv = AnalogConv2d(
        1, 2, 3, DigitalSGD(lr=0.0), input_size=5, rng=0, weights=w0,
        forward_io=None, backward_io=None, mapping=ALL, bias_lr=0.1,
    )  # fmt: skip
    s = conv.mapping_scales
    assert s is not None
    assert s.shape == (1, 2)
    np.testing.assert_allclose(conv.kernel, w0, rtol=2 * EPS)
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, size=(1, 2, 1, 5, 5))
    y = conv.forward(x)
    g = rng.normal(size=y.shape)
    conv.backward(g)
    conv.update(step=0)
    # z = y without bias (0) and α (1): dL/dα_c = Σ over batch and positions of g ⊙ y.
    want = 1.0 - 0.1 * (g * y).sum(axis=(1, 3, 4))
    alpha1 = conv.out_scaling_alpha
    assert alpha1 is not None
    np.testing.assert_allclose(alpha1, want, rtol=1e-13)


# ------------------------------------------------------------------------- learned or fixed
def test_learned_alpha_moves_and_fixed_scales_do_not() -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, size=(2, 10, 8))
    labels = rng.integers(0, 4, size=(2, 10))
    nets = {}
    for name, mapping in {
        "learned": MappingParameter(weight_scaling_omega=0.5, learn_out_scaling=True),
        "fixed": MappingParameter(weight_scaling_omega=0.5),
    }.items():
        seeds = np.random.SeedSequence(1).spawn(2)
        algo = AnalogSGD(device=DEV, lr=0.1)
        first = AnalogLinear(8, 6, algo, replicas=2, rng=seeds[0], mapping=mapping)
        last = AnalogLinear(6, 4, algo, replicas=2, rng=seeds[1], mapping=mapping)
        nets[name] = (Sequential(first, Tanh(), last), first, last)
    for name, (net, first, last) in nets.items():
        s0 = [first.mapping_scales, last.mapping_scales]
        for step in range(5):
            net.train_batch(x, labels, step)
        np.testing.assert_array_equal(first.mapping_scales, s0[0])
        np.testing.assert_array_equal(last.mapping_scales, s0[1])
        if name == "fixed":
            assert first.out_scaling_alpha is None
            assert last.out_scaling_alpha is None
        else:
            for lay in (first, last):
                alpha = lay.out_scaling_alpha
                assert alpha is not None
                assert alpha.shape == (2, 1)
                assert np.all(alpha != 1.0)
                assert alpha[0, 0] != alpha[1, 0]  # each replica learns its own


# ------------------------------------------------------------------------- validation
@pytest.mark.parametrize("bad", [0.0, -0.6, float("nan"), float("inf"), "0.6", True])
def test_bad_omega_is_rejected(bad: object) -> None:
    with pytest.raises(
        ParameterError,
        match=r"The 'weight_scaling_omega' parameter of MappingParameter must be None or a "
        r"float in the range \(0, inf\)",
    ):
        MappingParameter(weight_scaling_omega=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    ["weight_scaling_columnwise", "learn_out_scaling", "out_scaling_columnwise"],
)
def test_bad_flags_are_rejected(name: str) -> None:
    with pytest.raises(ParameterError, match=f"The '{name}' parameter of MappingParameter"):
        MappingParameter(**{name: 1})  # type: ignore[arg-type]


def _build_with(owner: str, mapping: Any) -> object:
    algo = AnalogSGD(device=DEV, lr=0.1)
    if owner == "AnalogLinear":
        return AnalogLinear(3, 2, algo, mapping=mapping)
    if owner == "AnalogConv2d":
        return AnalogConv2d(1, 2, 3, algo, input_size=5, mapping=mapping)
    return Classifier(mapping=mapping)


@pytest.mark.parametrize("owner", ["AnalogLinear", "AnalogConv2d", "Classifier"])
def test_mapping_of_another_type_is_rejected(owner: str) -> None:
    bad = {"weight_scaling_omega": 0.6}
    with pytest.raises(ParameterError, match=f"The 'mapping' parameter of {owner} must be"):
        _build_with(owner, bad)
    assert _build_with(owner, P2) is not None


# ------------------------------------------------------------------------- config
def test_config_round_trips_through_dict_and_toml() -> None:
    cfg = Classifier(model=LeNet5(tanh_after_pool=True), mapping=P2)
    assert from_dict(to_dict(cfg)) == cfg
    assert from_dict(loads_toml(dumps_toml(cfg))) == cfg
    assert to_dict(P2) == {
        "kind": "mapping",
        "weight_scaling_omega": None,
        "weight_scaling_columnwise": True,
        "learn_out_scaling": True,
        "out_scaling_columnwise": False,
    }
    toml = (
        'kind = "classifier"\n[model]\nkind = "lenet5"\ntanh_after_pool = true\n'
        '[mapping]\nkind = "mapping"\nweight_scaling_omega = 0.6\nlearn_out_scaling = true\n'
    )
    got = from_dict(loads_toml(toml))
    assert got.mapping == MappingParameter(weight_scaling_omega=0.6, learn_out_scaling=True)
    with pytest.raises(ParameterError, match=r"mapping\.omega"):
        from_dict(loads_toml(toml.replace("weight_scaling_omega", "omega")))


# ------------------------------------------------------------------------- replicas
def test_replicas_are_independent() -> None:
    r = 3
    w0 = _w0((r, 4, 6), seed=8)
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, size=(r, 5, 6))
    labels = rng.integers(0, 4, size=(r, 5))
    algo = AnalogSGD(device=DEV, lr=0.1)
    big = AnalogLinear(6, 4, algo, replicas=r, rng=11, weights=w0, mapping=ALL)
    net = Sequential(big)
    for step in range(3):
        net.train_batch(x, labels, step)
    s_big, a_big = big.mapping_scales, big.out_scaling_alpha
    assert s_big is not None
    assert a_big is not None
    assert len({tuple(row) for row in s_big}) == r  # each replica's own scales
    for k in range(r):
        one = AnalogLinear(
            6, 4, algo, replicas=1, rng=11, weights=w0[k], mapping=ALL, replica_offset=k
        )
        single = Sequential(one)
        for step in range(3):
            single.train_batch(x[k], labels[k], step)
        np.testing.assert_array_equal(one.mapping_scales, s_big[k : k + 1])
        np.testing.assert_array_equal(one.out_scaling_alpha, a_big[k : k + 1])
        np.testing.assert_array_equal(one.weights, big.weights[k : k + 1])


# ------------------------------------------------------------------------- checkpoints
def test_network_state_dict_holds_the_scales_and_resumes_bit_identically() -> None:
    data = TeacherStudent(in_size=8, n_train=60, n_test=20)
    cfg = Classifier(dataset=data, hidden=(6,), mapping=ALL, eval_samples=20)
    algo = AnalogSGD(device=DEV, lr=0.1)
    root = np.random.SeedSequence(3)

    def fresh() -> Any:
        inst = cfg.setup(2, root)
        return inst, inst.start(
            algo, root, n_threads=None, replica_offset=0, backend=pt.Backend.RUST
        )

    inst, state = fresh()
    for step in range(4):
        inst.advance(state, step)
    saved = state.state_dict()
    assert {"attr.linear.0._out_alpha", "attr.linear.1._mapping_scales"} <= set(saved)
    for step in range(4, 8):
        inst.advance(state, step)
    inst2, state2 = fresh()
    state2.load_state_dict(saved)
    for step in range(4, 8):
        inst2.advance(state2, step)
    for a, b in zip(state.linear, state2.linear, strict=True):
        np.testing.assert_array_equal(a.out_scaling_alpha, b.out_scaling_alpha)
        np.testing.assert_array_equal(a.weights, b.weights)
    # Without the mapping the state dict has no such keys (old checkpoints still load).
    plain = dataclasses.replace(cfg, mapping=None).setup(2, root)
    keys: Any = plain.start(algo, root, n_threads=None, replica_offset=0, backend=pt.Backend.RUST)
    assert not any("_out_alpha" in k or "_mapping_scales" in k for k in keys.state_dict())


def test_the_documented_config_table_loads() -> None:
    """The commented [problem.mapping] table of examples/configs/lenet5_mnist.toml is valid."""
    path = Path(__file__).parents[1] / "examples" / "configs" / "lenet5_mnist.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("#     [problem.mapping]")
    table = "\n".join(line[6:] for line in lines[start : start + 6])
    text = "\n".join(lines).replace("\n[problem.model]\n", f"\n{table}\n\n[problem.model]\n")
    problem = experiment_from_dict(loads_toml(text)).problem
    assert isinstance(problem, Classifier)
    assert problem.mapping == MappingParameter(
        weight_scaling_omega=0.6, weight_scaling_columnwise=True, learn_out_scaling=True
    )


def test_run_results_record_the_scales_of_mapped_layers_only() -> None:
    data = TeacherStudent(in_size=8, n_train=60, n_test=20)
    base = Classifier(dataset=data, hidden=(6,), eval_samples=20)
    algo = AnalogSGD(device=DEV, lr=0.1)
    plain = pt.run(base, algo, steps=5, replicas=2, rng=1)
    assert not any("scal" in k for k in plain.arrays)
    mapped = pt.run(dataclasses.replace(base, mapping=ALL), algo, steps=5, replicas=2, rng=1)
    for k in range(2):
        alpha = mapped.arrays[f"layer{k}.out_scaling_alpha"]
        s = mapped.arrays[f"layer{k}.mapping_scales"]
        assert alpha.shape == s.shape == (2, 6 if k == 0 else 4)
        assert np.all(alpha != 1.0)  # learned in 5 steps
        w_bar = mapped.arrays[f"layer{k}.W"]
        np.testing.assert_allclose(
            mapped.arrays[f"layer{k}.weights"], w_bar * (s * alpha)[:, :, None], rtol=1e-15
        )


def test_the_twin_backend_gives_the_same_mapped_numbers() -> None:
    rng = np.random.default_rng(12)
    x = rng.uniform(-1, 1, size=(2, 4, 5))
    labels = rng.integers(0, 3, size=(2, 4))
    out = {}
    for backend in ("rust", "twin"):
        layer = AnalogLinear(
            5, 3, AnalogSGD(device=DEV, lr=0.1), replicas=2, rng=4, mapping=ALL, backend=backend
        )
        net = Sequential(layer)
        losses = [net.train_batch(x, labels, step) for step in range(3)]
        out[backend] = (np.array(losses), layer.weights, layer.out_scaling_alpha)
    for a, b in zip(out["rust"], out["twin"], strict=True):
        np.testing.assert_array_equal(a, b)
