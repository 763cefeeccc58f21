"""Convolution, pooling and flattening layers (pulsetrain.conv): values, gradients, semantics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

import pulsetrain as pt
from pulsetrain.algorithms import AnalogSGD
from pulsetrain.conv import AnalogConv2d, AvgPool2d, DigitalConv2d, Flatten, MaxPool2d
from pulsetrain.layers import AnalogLinear, DigitalLinear, Layer, ReLU, Sequential, Sigmoid, Tanh
from pulsetrain.updates import ExpectedUpdate

FloatArray = npt.NDArray[np.float64]
EPS = float(np.finfo(np.float64).eps)
IDEAL = pt.Device(response=pt.Ideal(), dw_min=1e-4)
SOFT = pt.Device(response=pt.SoftBounds(), dw_min=1e-3, dw_min_std=0.3)


def reference_conv(
    x: FloatArray,
    w: FloatArray,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> FloatArray:
    """Cross-correlation by the definition, one output element at a time: (R, B, C, H, W)."""
    r, b, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape[1:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.zeros((r, b, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, :, ph : ph + h, pw : pw + wd] = x
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((r, b, c_out, ho, wo))
    for i in range(ho):
        for j in range(wo):
            for p in range(kh):
                for q in range(kw):
                    pix = xp[:, :, :, i * sh + p * dh, j * sw + q * dw]  # (R, B, C)
                    out[:, :, :, i, j] += np.einsum("rbc,roc->rbo", pix, w[:, :, :, p, q])
    return out


def numeric_grad(f: Callable[[FloatArray], float], x: FloatArray, h: float = 1e-6) -> FloatArray:
    """Central differences of a scalar function, element by element."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


# Central differences of a smooth function: truncation h²·|f'''|/6 ≈ 1e-12 · O(10), plus the
# rounding of L, about eps·|L|/h ≈ 2e-16 · 10 / 1e-6 = 2e-9; so atol 1e-7 leaves a wide margin
# while an error of one wrong term (O(0.1)) fails by six orders of magnitude.
FD_ATOL = 1e-7


GEOMETRIES = [
    {"stride": 1, "padding": 0, "dilation": 1},
    {"stride": 2, "padding": 1, "dilation": 1},
    {"stride": (1, 2), "padding": (2, 0), "dilation": (2, 1)},
]


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_digital_conv_matches_the_definition(geom: dict[str, object]) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 4, 3, 3, 2))
    x = rng.normal(size=(2, 3, 3, 7, 6))
    conv = DigitalConv2d(3, 4, (3, 2), input_size=(7, 6), lr=0.1, replicas=2, weights=w, **geom)  # type: ignore[arg-type]
    y = conv.forward(x)
    pair = {k: (v, v) if isinstance(v, int) else v for k, v in geom.items()}
    want = reference_conv(x, w, pair["stride"], pair["padding"], pair["dilation"])  # type: ignore[arg-type]
    assert y.shape == (2, 3, *conv.out_shape) == want.shape
    # Two summation orders of 18 products of O(1) terms: well inside 1e-12.
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(conv.kernel, w)
    np.testing.assert_allclose(conv.forward(x, exact=True), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_digital_conv_gradients_by_finite_differences(geom: dict[str, object]) -> None:
    rng = np.random.default_rng(1)
    shape = (3, 5, 6)
    w = rng.normal(size=(1, 2, 3, 2, 3))
    x = rng.normal(size=(1, 2, *shape))

    def make(weights: FloatArray) -> DigitalConv2d:
        return DigitalConv2d(3, 2, (2, 3), input_size=(5, 6), lr=1.0, weights=weights, **geom)  # type: ignore[arg-type]

    conv = make(w)
    g = rng.normal(size=(1, 2, *conv.out_shape))

    def loss_x(xv: FloatArray) -> float:
        return float((make(w).forward(xv, exact=True) * g).sum())

    def loss_w(wv: FloatArray) -> float:
        return float((make(wv).forward(x, exact=True) * g).sum())

    conv.forward(x)
    dx = conv.backward(g)
    np.testing.assert_allclose(dx, numeric_grad(loss_x, x), rtol=0, atol=FD_ATOL)
    # With lr = 1 the SGD step subtracts exactly the gradient: W_old − W_new = dL/dW.
    conv.update(step=0)
    dw = w - conv.kernel
    np.testing.assert_allclose(dw, numeric_grad(loss_w, w), rtol=0, atol=FD_ATOL)
    bias = conv.bias
    assert bias is not None
    np.testing.assert_allclose(-bias, g.sum(axis=(1, 3, 4)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "pool", [MaxPool2d(2), MaxPool2d(3, stride=2), AvgPool2d(2), AvgPool2d((3, 2), stride=(2, 1))]
)
def test_pooling_gradients_by_finite_differences(pool: Layer) -> None:
    rng = np.random.default_rng(2)
    # Distinct values (no ties), spaced ≥ 1e-3 apart, so a ±1e-6 step never changes an argmax.
    x = rng.permutation(np.arange(2 * 2 * 2 * 7 * 6) * 1e-2).reshape(2, 2, 2, 7, 6)
    y = pool.forward(x)
    g = rng.normal(size=y.shape)
    dx = pool.backward(g)
    fd = numeric_grad(lambda v: float((pool.forward(v, exact=True) * g).sum()), x)
    np.testing.assert_allclose(dx, fd, rtol=0, atol=FD_ATOL)
    assert y.shape[2:] == pool.output_shape(x.shape[2:])


def test_max_pool_ties_send_the_gradient_to_the_first_maximum() -> None:
    x = np.array([[[[1.0, 1.0, 0.0, 2.0], [1.0, 1.0, 2.0, 2.0], [5.0, 0.0, 0.0, 0.0]]]])
    pool = MaxPool2d(2)  # windows rows 0-1 × cols 0-1 and 2-3; row 2 is a dropped remainder
    y = pool.forward(x)
    assert y.tolist() == [[[[1.0, 2.0]]]]
    dx = pool.backward(np.array([[[[10.0, 20.0]]]]))
    want = np.zeros_like(x)
    want[0, 0, 0, 0] = 10.0  # first of the four tied ones, row-major
    want[0, 0, 0, 3] = 20.0  # first of the three tied twos: (0, 3) comes before (1, 2)
    np.testing.assert_array_equal(dx, want)
    # Overlapping windows (stride 1) of a constant image: each window's gradient goes to its
    # top-left pixel, so pixel (i, j) collects one unit per window starting there.
    flat = MaxPool2d(2, stride=1)
    flat.forward(np.zeros((1, 1, 1, 3, 3)))
    d = flat.backward(np.ones((1, 1, 1, 2, 2)))
    np.testing.assert_array_equal(d[0, 0, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), ((3, 2), (2, 1)), (2, 1)])
def test_max_pool_backward_is_the_windows_transpose_of_the_one_hot_gradient(
    kernel: int | tuple[int, int], stride: int | tuple[int, int] | None
) -> None:
    # The backward pass sums, offset by offset, where(idx == k, g, 0) onto zeros: bit for bit
    # what `_Geometry.scatter` (the transpose of `windows`) gives for the one-hot window-shaped
    # gradient, signed zeros and overlapping windows included.
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=(2, 3, 2, 9, 8)))  # many ties
    pool = MaxPool2d(kernel, stride=stride)
    y = pool.forward(x)
    g = np.where(rng.random(y.shape) < 0.3, -0.0, rng.normal(size=y.shape))
    got = pool.backward(g)
    win = pool._geom.windows(x)
    kh, kw = pool.kernel_size
    idx = np.argmax(win.reshape(*win.shape[:5], kh * kw), axis=-1)
    onehot = idx[..., None] == np.arange(kh * kw)
    parts = np.where(onehot, g[..., None], 0.0).reshape(*g.shape, kh, kw)
    want = pool._geom.scatter(parts, x.shape)
    assert got.tobytes() == want.tobytes()


def test_avg_pool_and_flatten_values() -> None:
    x = np.arange(16.0).reshape(1, 1, 1, 4, 4)
    y = AvgPool2d(2).forward(x)
    assert y.tolist() == [[[[[2.5, 4.5], [10.5, 12.5]]]]]
    flat = Flatten()
    z = flat.forward(np.arange(24.0).reshape(1, 2, 3, 2, 2))
    assert z.shape == (1, 2, 12)
    np.testing.assert_array_equal(z[0, 1], np.arange(12.0, 24.0))  # row-major per sample
    np.testing.assert_array_equal(flat.backward(z), np.arange(24.0).reshape(1, 2, 3, 2, 2))


@pytest.mark.parametrize("act", [Sigmoid(), Tanh(), ReLU()])
def test_activations_on_image_features(act: Layer) -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 2, 3, 3))
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink
    g = rng.normal(size=x.shape)
    act.forward(x)
    dx = act.backward(g)
    fd = numeric_grad(lambda v: float((act.forward(v, exact=True) * g).sum()), x)
    np.testing.assert_allclose(dx, fd, rtol=0, atol=FD_ATOL)


def test_analog_conv_with_perfect_io_and_an_ideal_device_is_the_digital_conv() -> None:
    rng = np.random.default_rng(4)
    w = rng.uniform(-0.3, 0.3, size=(2, 5, 3, 3, 3))
    x = rng.normal(size=(2, 4, 3, 6, 6))
    g = rng.normal(size=(2, 4, 5, 6, 6)) * 0.1
    lr = 0.05
    kw: dict[str, object] = {"input_size": 6, "padding": 1, "replicas": 2, "weights": w}
    algo = AnalogSGD(device=IDEAL, lr=lr, update=ExpectedUpdate())
    analog = AnalogConv2d(3, 5, 3, algo, forward_io=None, backward_io=None, rng=0, **kw)  # type: ignore[arg-type]
    digital = DigitalConv2d(3, 5, 3, lr=lr, **kw)  # type: ignore[arg-type]
    ya, yd = analog.forward(x), digital.forward(x)
    dxa, dxd = analog.backward(g), digital.backward(g)
    analog.update(step=0)
    digital.update(step=0)
    # Rounding bound: two summation orders of a K-term dot product differ by at most
    # 2·K·eps·Σ|w||x| (K = 27 forward, at most 45 = 5·9 terms per input-gradient element).
    absolute = DigitalConv2d(3, 5, 3, lr=lr, **{**kw, "weights": np.abs(w)})  # type: ignore[arg-type]
    bound_y = 2 * 27 * EPS * absolute.forward(np.abs(x))  # Σ|w||x| per output
    bound_dx = 2 * 45 * EPS * absolute.backward(np.abs(g))  # Σ|w||g| per input
    assert np.all(np.abs(ya - yd) <= bound_y)
    assert np.all(np.abs(dxa - dxd) <= bound_dx)
    # The update sums B·L = 144 rank-one terms: |ΔW| error ≤ 144·eps·lr·Σ|d||x| + eps·|W|.
    scale = lr * np.abs(g).sum() * np.abs(x).max()
    np.testing.assert_allclose(analog.kernel, digital.kernel, rtol=0, atol=144 * EPS * scale + EPS)
    assert not np.allclose(analog.kernel, w)  # and the step did move the weights
    np.testing.assert_allclose(analog.bias, digital.bias, rtol=0, atol=1e-14)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"in_channels": 0}, "in_channels"),
        ({"out_channels": 1.5}, "out_channels"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"kernel_size": (3, 3, 3)}, "kernel_size"),
        ({"kernel_size": 7}, "kernel_size"),  # larger than the 5×6 input
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
        ({"dilation": (1, 0)}, "dilation"),
        ({"input_size": 0}, "input_size"),
        ({"replicas": 0}, "replicas"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_conv_parameters_are_validated(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "in_channels": 2,
        "out_channels": 3,
        "kernel_size": 3,
        "input_size": (5, 6),
        "lr": 0.1,
    }
    with pytest.raises(pt.ParameterError, match=f"'{name}' parameter of DigitalConv2d"):
        DigitalConv2d(**{**args, **kwargs})  # type: ignore[arg-type]


def test_conv_and_pool_shape_errors() -> None:
    algo = AnalogSGD(device=SOFT, lr=0.1)
    with pytest.raises(pt.ParameterError, match="'algorithm'"):
        AnalogConv2d(1, 2, 3, "sgd", input_size=5)  # type: ignore[arg-type]
    with pytest.raises(pt.ShapeError, match="'weights'"):
        AnalogConv2d(1, 2, 3, algo, input_size=5, weights=np.zeros((2, 9)))
    conv = AnalogConv2d(1, 2, 3, algo, input_size=5, rng=0)
    with pytest.raises(pt.ShapeError, match="'x'"):
        conv.forward(np.zeros((4, 1, 5, 6)))
    with pytest.raises(pt.ParameterError, match="'grad'"):
        conv.backward(np.zeros((4, 2, 3, 3)))  # no forward yet
    conv.forward(np.zeros((4, 1, 5, 5)))
    with pytest.raises(pt.ShapeError, match="'grad'"):
        conv.backward(np.zeros((4, 2, 3, 4)))
    with pytest.raises(pt.ParameterError, match="'kernel_size' parameter of MaxPool2d"):
        MaxPool2d(0)
    with pytest.raises(pt.ParameterError, match="'stride' parameter of AvgPool2d"):
        AvgPool2d(2, stride=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(pt.ShapeError, match=r"'x' parameter of MaxPool2d\.forward"):
        MaxPool2d(4).forward(np.zeros((1, 1, 3, 3)))
    with pytest.raises(pt.ShapeError, match="'x'"):
        MaxPool2d(2).forward(np.zeros((2, 3)))  # not (C, H, W) features
    with pytest.raises(pt.ParameterError, match="'grad'"):
        Flatten().backward(np.zeros((1, 2, 3)))
    # Sequential carries the feature shapes through pooling and flattening.
    with pytest.raises(pt.ParameterError, match="'kernel_size' parameter of MaxPool2d"):
        Sequential(conv, MaxPool2d(4))  # 3×3 outputs
    with pytest.raises(pt.ParameterError, match=r"'layers\[3\].in_features'.*\(2\)\. Got 9"):
        Sequential(conv, MaxPool2d(2), Flatten(), DigitalLinear(9, 2, lr=0.1))
    with pytest.raises(pt.ParameterError, match=r"'layers\[1\].in_shape'"):
        Sequential(conv, DigitalConv2d(3, 1, 2, input_size=3, lr=0.1))
    net = Sequential(conv, MaxPool2d(2), Flatten(), DigitalLinear(2, 2, lr=0.1))
    assert net.in_shape == (1, 5, 5)
    assert net.out_shape == (2,)


def _step_outputs(conv: AnalogConv2d, x: FloatArray, g: FloatArray) -> list[FloatArray]:
    y = conv.forward(x)
    dx = conv.backward(g)
    conv.update(step=0)
    y2 = conv.forward(x)
    return [y, dx, conv.weights, y2]


def test_analog_conv_is_deterministic_across_threads_offsets_and_backends() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 2, 6, 5))
    g = rng.normal(size=(3, 2, 3, 4, 3)) * 0.1
    algo = AnalogSGD(device=SOFT, lr=0.1)

    def make(**kw: object) -> AnalogConv2d:
        base: dict[str, object] = {"input_size": (6, 5), "replicas": 3, "rng": 7}
        return AnalogConv2d(2, 3, 3, algo, **{**base, **kw})  # type: ignore[arg-type]

    ref = _step_outputs(make(n_threads=1), x, g)
    for n in (2, 3):
        for a, b in zip(ref, _step_outputs(make(n_threads=n), x, g), strict=True):
            np.testing.assert_array_equal(a, b)
    # Replica 2 alone (offset 2) is replica 2 of the three.
    one = _step_outputs(make(replicas=1, replica_offset=2), x[2:], g[2:])
    for a, b in zip(ref, one, strict=True):
        np.testing.assert_array_equal(a[2:], b)
    # The NumPy twin gives the same numbers as the Rust kernels.
    twin = _step_outputs(make(backend="twin"), x, g)
    for a, b in zip(ref, twin, strict=True):
        np.testing.assert_array_equal(a, b)
    assert ref[0].shape == (3, 2, 3, 4, 3)
    assert ref[1].shape == x.shape


def test_tiny_conv_net_trains_in_sequential() -> None:
    # Two classes of 6×6 images: a vertical or a horizontal bar at a random place, with noise.
    rng = np.random.default_rng(6)
    n = 32
    labels = rng.integers(0, 2, size=n)
    x = rng.normal(scale=0.1, size=(n, 1, 6, 6))
    where = rng.integers(0, 6, size=n)
    for k in range(n):
        if labels[k]:
            x[k, 0, where[k], :] += 1.0
        else:
            x[k, 0, :, where[k]] += 1.0
    seeds = np.random.SeedSequence(0).spawn(2)
    algo = AnalogSGD(device=SOFT, lr=0.3)
    for first, last in (
        (
            AnalogConv2d(1, 4, 3, algo, input_size=6, rng=seeds[0]),
            AnalogLinear(16, 2, algo, rng=seeds[1]),
        ),
        (DigitalConv2d(1, 4, 3, input_size=6, lr=0.3, rng=0), DigitalLinear(16, 2, lr=0.3, rng=1)),
    ):
        net = Sequential(first, Tanh(), MaxPool2d(2), Flatten(), last)
        loss0, _ = net.evaluate(x, labels)
        for step in range(150):
            batch = np.arange(8 * step, 8 * step + 8) % n
            net.train_batch(x[batch], labels[batch], step)
        loss1, err1 = net.evaluate(x, labels)
        # Chance is log 2 = 0.69 and 50 % error; the bars are separable by one 3×3 filter.
        assert loss1[0] < 0.4 * loss0[0]
        assert err1[0] <= 0.1


@pytest.mark.parametrize("replicas", [1, 3])
def test_evaluation_in_chunks_equals_one_pass(replicas: int) -> None:
    rng = np.random.default_rng(7)
    kw: dict[str, object] = {"lr": 0.1, "replicas": replicas}
    conv = DigitalConv2d(1, 2, 3, input_size=5, rng=0, **kw)  # type: ignore[arg-type]
    net = Sequential(conv, ReLU(), Flatten(), DigitalLinear(18, 3, rng=1, **kw))  # type: ignore[arg-type]
    n = 300  # R·n more than the 256 images of one chunk
    x = rng.normal(size=(replicas, n, 1, 5, 5))
    y = rng.integers(0, 3, size=(replicas, n))
    logits = net.forward(x, exact=True)  # one pass (forward does not chunk)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
    want_loss = -np.log(picked).mean(axis=-1)
    want_err = (logits.argmax(axis=-1) != y).mean(axis=-1)
    loss, err = net.evaluate(x, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    np.testing.assert_array_equal(err, want_err)
