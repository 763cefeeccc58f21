"""The PyTorch bridge (pulsetrain.torch): bit-identity with the NumPy layers, gradients, the
optimizer and learning-rate schedules, model conversion, errors and a small CNN on digits."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
import torch.nn.functional as F
from torch import nn

import pulsetrain as pt
from conftest import algorithm_examples
from pulsetrain import conv, layers
from pulsetrain.algorithms import Algorithm, ChoppedTTv2, DigitalSGD, TTv2
from pulsetrain.algorithms import AnalogSGD as AnalogSGDAlgorithm
from pulsetrain.errors import NonFiniteError, ParameterError, ShapeError
from pulsetrain.torch import (
    AnalogConv2d,
    AnalogLinear,
    AnalogSGD,
    convert_to_analog,
)
from pulsetrain.torch._arrays import to_numpy

SB = pt.Device(response=pt.SoftBounds(), dw_min=1e-3)
IDEAL = pt.Device(response=pt.Ideal())
PULSED = AnalogSGDAlgorithm(device=SB, lr=0.1)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    # torch's intra-op pool and the tiles' rayon pool share the cores: one torch thread keeps
    # the small models here from oversubscribing the machine (results do not depend on it).
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _np(a: Any) -> Any:
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(_np(a), _np(b)))


def test_importing_pulsetrain_does_not_import_torch() -> None:
    code = "import sys, pulsetrain; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------ bit-identity with NumPy
@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
def test_linear_layer_is_the_numpy_layer_bit_for_bit(algo: Algorithm) -> None:
    # Same seed: same initial weights, devices and streams. Forward through the (noisy)
    # default periphery, the input gradient, the bias gradient and the optimizer's step (with
    # lr = algorithm.lr, so δ is not rescaled) must give the NumPy layer's bits, step by step.
    ref = layers.AnalogLinear(5, 3, algo, rng=7)
    layer = AnalogLinear(5, 3, algorithm=algo, rng=7).double()
    opt = AnalogSGD(layer.parameters(), lr=algo.lr)  # type: ignore[attr-defined]
    gen = np.random.default_rng(0)
    for k in range(4):
        x, g = gen.normal(size=(4, 5)), gen.normal(size=(4, 3))
        y, dx = ref.forward(x), ref.backward(g)
        ref.update(k)
        xt = torch.tensor(x, requires_grad=True)
        opt.zero_grad()
        yt = layer(xt)
        yt.backward(torch.tensor(g))
        assert layer.bias is not None
        assert layer.bias.grad is not None
        assert _same(layer.bias.grad, g.sum(axis=0))
        opt.step()
        assert _same(yt.detach(), y)
        assert xt.grad is not None
        assert _same(xt.grad, dx)
        assert ref.arrays().keys() == layer.arrays().keys()
        for name, arr in ref.arrays().items():
            assert _same(layer.arrays()[name], arr), (k, name)
        assert ref.bias is not None
        assert _same(layer.bias.detach(), ref.bias[0])
    assert layer.analog_steps == 4
    for p, v in ref.pulse_totals().items():
        assert _same(layer.pulse_totals()[p], v)


@pytest.mark.parametrize("algo", [PULSED, TTv2.example()], ids=lambda a: a.kind)
def test_conv_layer_is_the_numpy_layer_bit_for_bit(algo: Algorithm) -> None:
    geometry: dict[str, Any] = {"stride": (2, 1), "padding": 1, "dilation": (1, 2)}
    ref = conv.AnalogConv2d(2, 3, 3, algo, input_size=(6, 5), rng=3, **geometry)
    layer = AnalogConv2d(2, 3, 3, algorithm=algo, rng=3, **geometry).double()
    opt = AnalogSGD(layer.parameters(), lr=algo.lr)  # type: ignore[attr-defined]
    gen = np.random.default_rng(1)
    for k in range(3):
        x = gen.normal(size=(2, 2, 6, 5))
        y = ref.forward(x)
        g = gen.normal(size=y.shape)
        dx = ref.backward(g)
        ref.update(k)
        xt = torch.tensor(x, requires_grad=True)
        opt.zero_grad()
        yt = layer(xt)
        yt.backward(torch.tensor(g))
        opt.step()
        assert _same(yt.detach(), y)
        assert xt.grad is not None
        assert _same(xt.grad, dx)
        for name, arr in ref.arrays().items():
            assert _same(layer.arrays()[name], arr), (k, name)
        assert ref.bias is not None
        assert layer.bias is not None
        assert _same(layer.bias.detach(), ref.bias[0])
    assert _same(layer.weight, ref.kernel[0])
    # An unbatched image (C, H, W) is the batch of one.
    one = torch.tensor(gen.normal(size=(2, 6, 5)))
    layer.eval()
    assert _same(layer(one), layer(one[None])[0])


def _numpy_cnn(algo: Algorithm, seeds: list[np.random.SeedSequence]) -> layers.Sequential:
    return layers.Sequential(
        conv.AnalogConv2d(1, 4, 3, algo, input_size=8, padding=1, rng=seeds[0]),
        layers.ReLU(),
        conv.MaxPool2d(2),
        conv.AnalogConv2d(4, 6, 3, algo, input_size=4, padding=1, rng=seeds[1]),
        layers.ReLU(),
        conv.MaxPool2d(2),
        conv.Flatten(),
        layers.AnalogLinear(24, 10, algo, rng=seeds[2]),
    )


def _torch_cnn(algo: Algorithm, seeds: list[np.random.SeedSequence]) -> nn.Sequential:
    return nn.Sequential(
        AnalogConv2d(1, 4, 3, padding=1, algorithm=algo, rng=seeds[0]),
        nn.ReLU(),
        nn.MaxPool2d(2),
        AnalogConv2d(4, 6, 3, padding=1, algorithm=algo, rng=seeds[1]),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        AnalogLinear(24, 10, algorithm=algo, rng=seeds[2]),
    ).double()


def test_a_network_trains_as_numpy_sequential_bit_for_bit() -> None:
    # ReLU, max pooling and flattening are exact in both, and the loss gradient is handed over
    # from softmax_cross_entropy, so every tile sees the same x and δ: Sequential.train_batch's
    # numbers bit for bit, including skipping the first layer's backward pass (its input has
    # no gradient) as train_batch does.
    seeds = np.random.SeedSequence(5).spawn(3)
    algo = TTv2.example()
    ref, net = _numpy_cnn(algo, seeds), _torch_cnn(algo, seeds)
    opt = AnalogSGD(net.parameters(), lr=algo.lr)
    gen = np.random.default_rng(2)
    for k in range(3):
        x, labels = gen.uniform(size=(6, 1, 8, 8)), gen.integers(0, 10, size=6)
        loss = ref.train_batch(x, labels, k)
        opt.zero_grad()
        logits = net(torch.tensor(x))
        t_loss, grad = layers.softmax_cross_entropy(logits.detach().numpy(), labels)
        logits.backward(torch.from_numpy(grad))
        opt.step()
        assert _same(t_loss, loss[0])
    analog = [m for m in net if isinstance(m, AnalogLinear | AnalogConv2d)]
    weighted = [lay for lay in ref if isinstance(lay, layers._Linear)]
    for mine, theirs in zip(analog, weighted, strict=True):
        for name, arr in theirs.arrays().items():
            assert _same(mine.arrays()[name], arr)
        assert mine.tiles["W"].tick == theirs.tiles["W"].tick  # same number of passes
    net.eval()
    x_test = gen.uniform(size=(9, 1, 8, 8))
    assert _same(net(torch.tensor(x_test)).argmax(1), ref.predict(x_test))


# ------------------------------------------------------------------ gradients and forward
def test_gradients_match_finite_differences_with_perfect_io() -> None:
    lin = AnalogLinear(4, 3, algorithm=PULSED, forward_io=None, backward_io=None, rng=0)
    cnv = AnalogConv2d(2, 3, 2, stride=2, padding=1, algorithm=TTv2.example(), rng=1)
    cnv.forward_io = cnv.backward_io = None
    gen = torch.Generator().manual_seed(0)
    for layer, shape in ((lin, (3, 4)), (cnv, (2, 2, 4, 3))):
        layer.double()
        x = torch.randn(shape, generator=gen, dtype=torch.float64, requires_grad=True)
        assert layer.bias is not None
        bias = torch.randn(layer.bias.shape, generator=gen, dtype=torch.float64, requires_grad=True)

        def f(x: Any, b: Any, layer: nn.Module = layer) -> Any:
            return torch.func.functional_call(layer, {"bias": b}, (x,))

        assert torch.autograd.gradcheck(f, (x, bias), eps=1e-6, atol=1e-9)


def test_forward_with_perfect_io_is_f_linear_and_f_conv2d_within_rounding() -> None:
    # |fl(Σ w x) − Σ w x| ≤ γ_n Σ|w||x| with γ_n = n·u/(1 − n·u), u = 2⁻⁵³, n terms (plus the
    # bias addition); both sides are float64 evaluations, so twice that bounds their distance.
    u = 2.0**-53
    gen = torch.Generator().manual_seed(1)
    lin = AnalogLinear(
        6, 4, algorithm=AnalogSGDAlgorithm(device=IDEAL), forward_io=None, rng=2
    ).double()
    cnv = AnalogConv2d(
        3, 5, 3, padding=1, algorithm=AnalogSGDAlgorithm(device=IDEAL), forward_io=None, rng=3
    ).double()
    with torch.no_grad():
        for layer in (lin, cnv):
            assert layer.bias is not None
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=gen, dtype=torch.float64))
        x = torch.randn(5, 6, generator=gen, dtype=torch.float64)
        assert lin.bias is not None
        assert cnv.bias is not None
        n = 6 + 1
        bound = 2 * n * u / (1 - n * u) * (x.abs() @ lin.weight.abs().T + lin.bias.abs())
        diff = (lin(x) - F.linear(x, lin.weight, lin.bias)).abs()
        assert bool((diff <= bound).all())
        img = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64)
        n = 3 * 9 + 1
        scale = F.conv2d(img.abs(), cnv.weight.abs(), cnv.bias.abs(), padding=1)
        bound = 2 * n * u / (1 - n * u) * scale
        diff = (cnv(img) - F.conv2d(img, cnv.weight, cnv.bias, padding=1)).abs()
        assert bool((diff <= bound).all())


def test_dtypes_are_converted_explicitly_and_float64_is_not_copied() -> None:
    x64 = torch.randn(3, 4, dtype=torch.float64)
    assert np.shares_memory(to_numpy("x", "t", x64), x64.numpy())
    x32 = x64.float()
    arr = to_numpy("x", "t", x32)
    assert arr.dtype == np.float64
    assert _same(arr, x32.numpy().astype(np.float64))
    layer = AnalogLinear(4, 2, algorithm=PULSED, forward_io=None, rng=0).eval()
    y32 = layer(x32)
    assert y32.dtype == torch.float32
    assert _same(y32, layer(x32.double()).float())  # float64 arithmetic, rounded once
    assert layer(x32.half()).dtype == torch.float16
    assert layer(x32.bfloat16()).dtype == torch.bfloat16
    # Leading axes are samples, as in nn.Linear.
    assert tuple(layer(torch.zeros(2, 5, 4)).shape) == (2, 5, 2)
    assert tuple(layer(torch.zeros(4)).shape) == (2,)


def test_eval_mode_reads_the_weights_exactly_and_draws_nothing() -> None:
    layer = AnalogLinear(4, 3, algorithm=PULSED, rng=0)  # noisy default periphery
    x = torch.rand(5, 4, dtype=torch.float64)
    tick = layer.tiles["W"].tick
    layer.eval()
    exact = layer(x)
    assert layer.tiles["W"].tick == tick
    assert _same(layer(x), exact)
    assert layer.bias is not None
    assert torch.allclose(exact, F.linear(x, layer.weight, layer.bias.double()))
    layer.train()
    assert not _same(layer(x), exact)
    assert layer.tiles["W"].tick > tick


# ------------------------------------------------------------------ the optimizer
def _digital_layer(lr: float) -> AnalogLinear:
    return AnalogLinear(3, 2, algorithm=DigitalSGD(lr=lr), forward_io=None, rng=4).double()


def test_scheduler_lr_scales_the_gradient_of_the_algorithm() -> None:
    # Digital SGD in the layer: with group lr η and algorithm lr λ the step is
    # W ← W − λ·(η/λ)·Σ δ xᵀ = W − η·Σ δ xᵀ (one rounding of η/λ apart), b ← b − η Σ δ.
    layer = _digital_layer(0.1)
    opt = AnalogSGD(layer.parameters(), lr=0.4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    gen = np.random.default_rng(3)
    for eta in (0.4, 0.2, 0.1, 0.05):
        x, g = gen.normal(size=(5, 3)), gen.normal(size=(5, 2))
        w0 = layer.weight.numpy().copy()
        assert layer.bias is not None
        b0 = layer.bias.detach().clone()
        opt.zero_grad()
        layer(torch.tensor(x)).backward(torch.tensor(g))
        opt.step()
        sched.step()
        np.testing.assert_allclose(layer.weight.numpy(), w0 - eta * (g.T @ x), rtol=0, atol=1e-14)
        assert _same(layer.bias, b0 - torch.tensor(g.sum(axis=0)) * eta)
    # lr = 0 stops a pulsed analog layer: no pulse is fired, the weights and bias stay.
    pulsed = AnalogLinear(3, 2, algorithm=PULSED, rng=5).double()
    opt = AnalogSGD(pulsed.parameters(), lr=0.1)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.0)
    assert opt.param_groups[0]["lr"] == 0.0
    w1 = pulsed.weight.clone()
    opt.zero_grad()
    pulsed(torch.ones(4, 3, dtype=torch.float64)).sum().backward()
    opt.step()
    sched2.step()
    assert _same(pulsed.weight, w1)
    assert pulsed.pulse_totals()["update"][0] == 0
    assert pulsed.bias is not None
    assert not bool(pulsed.bias.any())


def test_backward_passes_accumulate_into_one_step_and_zero_grad_drops_them() -> None:
    # Two backward passes then one step: the algorithm's step with both batches' samples,
    # as the NumPy layer's step with the concatenated batch (the expected update: a pulsed one
    # would draw from streams that count the passes, one forward pass more here).
    algo = AnalogSGDAlgorithm(device=SB, lr=0.1, update=pt.ExpectedUpdate())
    ref = layers.AnalogLinear(3, 2, algo, forward_io=None, backward_io=None, rng=6)
    layer = AnalogLinear(3, 2, algorithm=algo, forward_io=None, backward_io=None, rng=6)
    layer.double()
    opt = AnalogSGD(layer.parameters(), lr=algo.lr)
    gen = np.random.default_rng(4)
    x, g = gen.normal(size=(6, 3)), gen.normal(size=(6, 2))
    ref.forward(x)
    ref.backward(g, input_grad=False)
    ref.update(0)
    opt.zero_grad()
    for part in (slice(0, 2), slice(2, 6)):
        layer(torch.tensor(x[part])).backward(torch.tensor(g[part]))
    opt.step()
    assert _same(layer.weight, ref.weights[0])
    assert layer.analog_steps == 1
    # zero_grad after a backward pass: the next step has nothing to apply.
    w = layer.weight.clone()
    layer(torch.tensor(x)).backward(torch.tensor(g))
    opt.zero_grad()
    opt.step()
    assert _same(layer.weight, w)
    assert layer.analog_steps == 1
    # A frozen analog context keeps the analog weights; the bias still trains.
    layer.analog_ctx.requires_grad = False
    layer(torch.tensor(x)).backward(torch.tensor(g))
    opt.step()
    assert _same(layer.weight, w)
    assert layer.analog_steps == 1


def test_digital_layers_take_plain_sgd_steps() -> None:
    lin = nn.Linear(3, 2).double()
    model = nn.Sequential(lin, AnalogLinear(2, 2, algorithm=PULSED, rng=0).double())
    opt = AnalogSGD(model.parameters(), lr=0.3)
    w0 = lin.weight.detach().clone()
    model(torch.ones(4, 3, dtype=torch.float64)).sum().backward()
    assert lin.weight.grad is not None
    expected = w0 - lin.weight.grad * 0.3
    opt.step()
    assert _same(lin.weight.detach(), expected)


# ------------------------------------------------------------------ checkpoints
def _train(model: nn.Module, opt: AnalogSGD, sched: Any, steps: range) -> Any:
    """Train on batches drawn from the step number (so a resumed run sees the same data)."""
    out = None
    for k in steps:
        gen = np.random.default_rng(k)
        x = torch.tensor(gen.uniform(size=(4, 1, 8, 8)), requires_grad=True)
        opt.zero_grad()
        out = model(x)
        torch.autograd.backward(F.cross_entropy(out, torch.tensor(gen.integers(0, 10, size=4))))
        opt.step()
        sched.step()
    return out


def _checkpoint_run(algo: Algorithm, model: Any, k: int, m: int) -> None:
    """Train k + m steps at once, and k steps, save, load into a fresh model, m steps more."""

    def setup() -> tuple[nn.Module, AnalogSGD, Any]:
        net = model()
        opt = AnalogSGD(net.parameters(), lr=algo.lr)  # type: ignore[attr-defined]
        return net, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.7)

    full, opt, sched = setup()
    want = _train(full, opt, sched, range(k + m))
    part, opt, sched = setup()
    _train(part, opt, sched, range(k))
    buf = io.BytesIO()
    saved = {"model": part.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}
    torch.save(saved, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)  # tensors, numbers, strings, lists only
    fresh, opt, sched = setup()
    fresh.load_state_dict(loaded["model"])
    opt.load_state_dict(loaded["opt"])
    sched.load_state_dict(loaded["sched"])
    got = _train(fresh, opt, sched, range(k, k + m))
    assert _same(got, want)
    pairs = zip(full.modules(), fresh.modules(), strict=True)
    analog = [(a, b) for a, b in pairs if isinstance(a, AnalogLinear | AnalogConv2d)]
    assert analog
    for a, b in analog:
        assert isinstance(b, AnalogLinear | AnalogConv2d)
        assert a.analog_steps == b.analog_steps == k + m
        for name, arr in a.arrays().items():
            assert _same(b.arrays()[name], arr), name
        for p, v in a.pulse_totals().items():
            assert _same(b.pulse_totals()[p], v)
        assert _same(a.bias, b.bias)


@pytest.mark.parametrize("algo", algorithm_examples(), ids=lambda a: a.kind)
def test_a_checkpoint_resumes_a_linear_layer_bit_for_bit(algo: Algorithm) -> None:
    def model() -> nn.Module:
        return nn.Sequential(
            nn.Flatten(), AnalogLinear(64, 10, algorithm=algo, rng=11), nn.Tanh()
        ).double()

    _checkpoint_run(algo, model, 3, 3)


def test_a_checkpoint_resumes_a_cnn_bit_for_bit() -> None:
    algo = ChoppedTTv2.example()
    seeds = np.random.SeedSequence(9).spawn(3)
    _checkpoint_run(algo, lambda: _torch_cnn(algo, seeds), 2, 3)


def test_a_checkpoint_of_another_seed_or_algorithm_is_refused() -> None:
    saved = AnalogLinear(3, 2, algorithm=PULSED, rng=0).state_dict()
    other = AnalogLinear(3, 2, algorithm=PULSED, rng=1)
    before = other.weight.clone()
    with pytest.raises(ParameterError, match="key"):
        other.load_state_dict(saved)
    assert _same(other.weight, before)  # nothing changed
    with pytest.raises(ParameterError):
        AnalogLinear(3, 2, algorithm=TTv2.example(), rng=0).load_state_dict(saved)
    with pytest.raises(ParameterError, match="'state'"):
        other.set_extra_state({"format": "x"})


def test_a_deep_copy_and_the_twin_backend_train_as_the_original() -> None:
    algo = ChoppedTTv2.example()
    seeds = np.random.SeedSequence(4).spawn(3)
    net = _torch_cnn(algo, seeds)
    opt = AnalogSGD(net.parameters(), lr=algo.lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.9)
    _train(net, opt, sched, range(2))
    twin = copy.deepcopy(net)
    assert twin[0]._state is not net[0]._state
    opt2 = AnalogSGD(twin.parameters(), lr=algo.lr)
    opt2.load_state_dict(opt.state_dict())
    sched2 = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.9)
    sched2.load_state_dict(sched.state_dict())
    assert _same(_train(twin, opt2, sched2, range(2, 4)), _train(net, opt, sched, range(2, 4)))
    for a, b in zip(net.state_dict().items(), twin.state_dict().items(), strict=True):
        assert a[0] == b[0]
    # The NumPy twin backend gives the Rust core's numbers through the torch layer too.
    rust = AnalogLinear(5, 3, algorithm=algo, rng=2).double()
    numpy_twin = AnalogLinear(5, 3, algorithm=algo, rng=2, backend="twin").double()
    for layer in (rust, numpy_twin):
        opt3 = AnalogSGD(layer.parameters(), lr=algo.lr)
        for k in range(3):
            x = torch.tensor(np.random.default_rng(k).normal(size=(4, 5)), requires_grad=True)
            layer(x).square().sum().backward()
            opt3.step()
            opt3.zero_grad()
    for name, arr in rust.arrays().items():
        assert _same(numpy_twin.arrays()[name], arr)


# ------------------------------------------------------------------ conversion
class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, padding="same")
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16, 4))

    def forward(self, x: Any) -> Any:
        return self.head(torch.relu(self.conv(x)))


def test_convert_to_analog_replaces_every_layer_and_copies_the_weights() -> None:
    torch.manual_seed(0)
    model = _Block()
    analog = convert_to_analog(model, algorithm=AnalogSGDAlgorithm(device=IDEAL), rng=1)
    assert isinstance(model.conv, nn.Conv2d)  # the original is kept (a copy was converted)
    modules = dict(analog.named_modules())
    conv_a, lin_a = modules["conv"], modules["head.1"]
    assert isinstance(conv_a, AnalogConv2d)
    assert isinstance(lin_a, AnalogLinear)
    assert conv_a.padding == (1, 1)
    originals = dict(model.named_modules())
    for name, new in (("conv", conv_a), ("head.1", lin_a)):
        old = originals[name]
        assert isinstance(old, nn.Linear | nn.Conv2d)
        # The Ideal device stores any value in its bounds: the weights are the originals.
        assert _same(new.weight, old.weight.double())
        assert new.bias is not None
        assert _same(new.bias, old.bias)
        new.forward_io = None
    x = torch.rand(2, 1, 4, 4)
    assert torch.allclose(analog(x), model(x), atol=1e-5)
    # Same root seed, same layers; a model made of one layer converts to that layer.
    again = dict(
        convert_to_analog(model, algorithm=AnalogSGDAlgorithm(device=IDEAL), rng=1).named_modules()
    )["conv"]
    assert isinstance(again, AnalogConv2d)
    assert again.seed_entropy == conv_a.seed_entropy
    assert _same(again.weight, conv_a.weight)
    single = convert_to_analog(nn.Linear(2, 3), algorithm=PULSED, rng=0)
    assert isinstance(single, AnalogLinear)
    shared = nn.Linear(2, 2)
    twice = convert_to_analog(nn.Sequential(shared, nn.ReLU(), shared), algorithm=PULSED)
    assert isinstance(twice, nn.Sequential)
    assert twice[0] is twice[2]
    assert isinstance(twice[0], AnalogLinear)


# ------------------------------------------------------------------ errors
def test_bad_inputs_and_arguments_are_rejected_by_name() -> None:
    layer = AnalogLinear(4, 2, algorithm=PULSED, rng=0)
    with pytest.raises(ParameterError, match=r"'x'.*CPU.*meta"):
        layer(torch.zeros(2, 4, device="meta"))
    with pytest.raises(ParameterError, match=r"'x'.*torch\.Tensor"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ShapeError, match=r"'x'.*\(\*, 4\)"):
        layer(torch.zeros(2, 5))
    with pytest.raises(ShapeError, match=r"'x'.*floating-point"):
        layer(torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(NonFiniteError, match="'x'"):
        layer(torch.full((2, 4), float("nan")))
    with pytest.raises(ParameterError, match="'algorithm'"):
        AnalogLinear(4, 2, algorithm="sgd")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'in_features'"):
        AnalogLinear(0, 2, algorithm=PULSED)
    with pytest.raises(ParameterError, match="'forward_io'"):
        AnalogLinear(4, 2, algorithm=PULSED, forward_io="perfect")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="'weights'"):
        AnalogLinear(4, 2, algorithm=PULSED, weights=torch.zeros(4, 2))
    with pytest.raises(ParameterError, match="'lr'"):
        AnalogSGD(layer.parameters(), lr=-1.0)
    cnv = AnalogConv2d(1, 2, 3, algorithm=PULSED)
    with pytest.raises(ShapeError, match=r"'x'.*window"):
        cnv(torch.zeros(1, 1, 2, 2))
    with pytest.raises(ShapeError, match=r"'x'.*\(N, 1, H, W\)"):
        cnv(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ParameterError, match="'stride'"):
        AnalogConv2d(1, 2, 3, stride=0, algorithm=PULSED)
    with pytest.raises(ParameterError, match=r"'model\.1\.groups'"):
        convert_to_analog(nn.Sequential(nn.ReLU(), nn.Conv2d(2, 2, 1, groups=2)), algorithm=PULSED)
    with pytest.raises(ParameterError, match=r"'model\.padding_mode'"):
        convert_to_analog(nn.Conv2d(1, 1, 3, padding_mode="reflect"), algorithm=PULSED)
    with pytest.raises(ParameterError, match=r"'model\.padding'"):
        convert_to_analog(nn.Conv2d(1, 1, 2, padding="same"), algorithm=PULSED)


# ------------------------------------------------------------------ a CNN on digits
def _digits_accuracy_torch(algo: Algorithm, seed: int, data: tuple[Any, ...]) -> float:
    x, y, x_test, y_test = data
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    model = convert_to_analog(net, algorithm=algo, rng=seed)
    opt = AnalogSGD(model.parameters(), lr=algo.lr)  # type: ignore[attr-defined]
    images = torch.tensor(x.reshape(-1, 1, 8, 8), dtype=torch.float32)
    labels = torch.tensor(y)
    for idx in _batches(seed, len(y)):
        opt.zero_grad()
        torch.autograd.backward(F.cross_entropy(model(images[idx]), labels[idx]))
        opt.step()
    model.eval()
    with torch.no_grad():
        test = torch.tensor(x_test.reshape(-1, 1, 8, 8), dtype=torch.float32)
        return float((model(test).argmax(1).numpy() == y_test).mean())


def _digits_accuracy_numpy(algo: Algorithm, seed: int, data: tuple[Any, ...]) -> float:
    x, y, x_test, y_test = data
    s = np.random.SeedSequence(seed).spawn(3)
    net = layers.Sequential(
        conv.AnalogConv2d(1, 8, 3, algo, input_size=8, padding=1, rng=s[0]),
        layers.ReLU(),
        conv.MaxPool2d(2),
        conv.AnalogConv2d(8, 16, 3, algo, input_size=4, padding=1, rng=s[1]),
        layers.ReLU(),
        conv.MaxPool2d(2),
        conv.Flatten(),
        layers.AnalogLinear(64, 10, algo, rng=s[2]),
    )
    images = x.reshape(-1, 1, 8, 8)
    for k, idx in enumerate(_batches(seed, len(y))):
        net.train_batch(images[idx], y[idx], k)
    return 1.0 - float(net.evaluate(x_test.reshape(-1, 1, 8, 8), y_test)[1][0])


def _batches(seed: int, n: int, epochs: int = 2, size: int = 16) -> Iterator[Any]:
    gen = np.random.default_rng(seed)
    for _ in range(epochs):
        order = gen.permutation(n)
        for i in range(0, n - size + 1, size):
            yield order[i : i + size]


@pytest.mark.slow
def test_a_converted_cnn_learns_digits_as_the_numpy_layers_do() -> None:
    pytest.importorskip("sklearn")
    from pulsetrain.problems import Digits

    data = Digits().load()
    algo = AnalogSGDAlgorithm(device=IDEAL, lr=0.5)
    ours = np.array([_digits_accuracy_torch(algo, s, data) for s in range(3)])
    theirs = np.array([_digits_accuracy_numpy(algo, s, data) for s in range(3)])
    # Same architecture, algorithm, batches and rates; the torch model starts from torch's
    # initialisation (biases too) and computes the loss in float32, so the runs differ but
    # must agree in distribution. Each mean's standard error is s/√3, s the larger of the
    # across-seed spread and the binomial spread √(p(1−p)/n_test) of one run's accuracy;
    # the means may differ by 4 standard errors of their difference.
    n_test = len(data[3])
    spread = [
        max(float(a.std(ddof=1)), float(np.sqrt(a.mean() * (1 - a.mean()) / n_test)))
        for a in (ours, theirs)
    ]
    tol = 4.0 * np.sqrt((spread[0] ** 2 + spread[1] ** 2) / 3)
    assert abs(ours.mean() - theirs.mean()) <= tol, (ours, theirs, tol)
    assert ours.mean() > 0.8  # it learns: chance is 0.1
