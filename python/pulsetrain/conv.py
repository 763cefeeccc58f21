"""Convolution, pooling and flattening layers for images, NCHW per replica: ``(R, B, C, H, W)``.

:class:`AnalogConv2d` is aihwkit's analog convolution: the image is unfolded into patches
(im2col), and each patch of ``in_channels · kh · kw`` values is one input vector of an analog tile
with ``out_channels`` outputs, held by a training algorithm's state exactly as in
:class:`~pulsetrain.layers.AnalogLinear` (which it extends). The forward pass ``W̄ x`` and the
backward pass ``W̄ᵀ δ`` go through the periphery once per patch, and the update uses every patch of
every image as one rank-one sample: x is the patch matrix ``(R, B·L, C·kh·kw)`` and δ the output
gradients ``(R, B·L, out_channels)``, L = H_out · W_out patches per image (so an algorithm that
counts samples, e.g. a transfer every n samples, counts patches). The bias is digital (plain SGD,
its gradient summed over the batch and the positions). :class:`DigitalConv2d` is the float64
layer with plain SGD. Patch extraction is a strided view of the padded batch and its transpose
(col2im, for the input gradient) a sum over the kh·kw kernel offsets, in NumPy.

:class:`MaxPool2d`, :class:`AvgPool2d` (windows without padding; remainders dropped, as in
PyTorch) and :class:`Flatten` have no weights and take any number of replicas.

Examples
--------
>>> import numpy as np
>>> import pulsetrain as pt
>>> from pulsetrain.algorithms import AnalogSGD
>>> from pulsetrain.layers import Sequential, Tanh, AnalogLinear
>>> algo = AnalogSGD(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
>>> seeds = np.random.SeedSequence(0).spawn(2)
>>> net = Sequential(AnalogConv2d(1, 4, 3, algo, input_size=8, rng=seeds[0]), Tanh(),
...                  MaxPool2d(2), Flatten(), AnalogLinear(36, 3, algo, rng=seeds[1]))
>>> x = np.random.default_rng(0).uniform(size=(5, 1, 8, 8))    # (B, C, H, W), R = 1
>>> net.train_batch(x, np.array([0, 1, 2, 1, 0]), step=0).shape
(1,)
>>> net[0].out_shape, net[2].output_shape((4, 6, 6))
((4, 6, 6), (4, 3, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from pulsetrain._validation import Integral, parameter_error
from pulsetrain.algorithms.base import Algorithm
from pulsetrain.algorithms.sgd import DigitalSGD
from pulsetrain.layers import (
    _LR,
    _REPLICAS,
    _SIZE,
    Layer,
    Seed,
    _as_real_array,
    _check,
    _Linear,
    _no_forward,
)
from pulsetrain.mapping import MappingParameter
from pulsetrain.periphery import IOParameters
from pulsetrain.tile import Backend, _shape_error

__all__ = ["AnalogConv2d", "AvgPool2d", "DigitalConv2d", "Flatten", "MaxPool2d"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Pair = int | tuple[int, int]

_EVAL_ROWS = 256
"""Images per chunk of an exact evaluation through a convolution (bounds the patch matrix)."""


def _pair(name: str, owner: str, value: object, low: int, high: int) -> tuple[int, int]:
    """Validate an int or a pair of ints in [low, high]; return the pair."""
    allowed = f"an int or a pair of ints in the range [{low}, {high}]"
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise parameter_error(name, owner, allowed, value)
        items = list(value)
    else:
        items = [value, value]
    con = Integral(low, high)
    try:
        a, b = (int(_check(con, name, owner, v)) for v in items)
    except ValueError:
        raise parameter_error(name, owner, allowed, value) from None
    return a, b


class _Geometry:
    """Kernel, stride, padding and dilation of a 2-D window, each a (height, width) pair."""

    def __init__(
        self,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int] = (0, 0),
        dilation: tuple[int, int] = (1, 1),
    ) -> None:
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation

    def span(self) -> tuple[int, int]:
        """Return the extent of one window, dilation · (k − 1) + 1 per axis."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        return dh * (kh - 1) + 1, dw * (kw - 1) + 1

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        """Return the output height and width for an h × w input (≤ 0 where no window fits)."""
        (eh, ew), (sh, sw), (ph, pw) = self.span(), self.stride, self.padding
        return (h + 2 * ph - eh) // sh + 1, (w + 2 * pw - ew) // sw + 1

    def pad(self, x: FloatArray) -> FloatArray:
        """Return x (R, B, C, H, W) with the zero padding around each image (x itself if none)."""
        ph, pw = self.padding
        if ph or pw:
            return np.pad(x, ((0, 0), (0, 0), (0, 0), (ph, ph), (pw, pw)))
        return x

    def windows(self, x: FloatArray) -> FloatArray:
        """Return the strided view (R, B, C, H_out, W_out, kh, kw) of x (R, B, C, H, W)."""
        (sh, sw), (dh, dw) = self.stride, self.dilation
        win = sliding_window_view(self.pad(x), self.span(), axis=(3, 4))
        return np.asarray(win[:, :, :, ::sh, ::sw, ::dh, ::dw])

    def offset_views(self, x: FloatArray, *, padded: bool = False) -> list[FloatArray]:
        """Return each kernel offset's values: ``windows(x)[..., i, j]`` without the windows.

        One strided view (R, B, C, H_out, W_out) per offset (i, j), in row-major order.
        ``padded``: x already holds the padding, and the views are views of x itself (to write
        through them).
        """
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel,
            self.stride,
            self.padding,
            self.dilation,
        )
        if not padded:
            x = self.pad(x)
        ho, wo = self.out_size(x.shape[3] - 2 * ph, x.shape[4] - 2 * pw)
        return [
            x[
                :,
                :,
                :,
                i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                j * dw : j * dw + sw * (wo - 1) + 1 : sw,
            ]
            for i in range(kh)
            for j in range(kw)
        ]

    def scatter(self, parts: FloatArray, x_shape: tuple[int, ...]) -> FloatArray:
        """Sum window-shaped values back onto the input: the transpose of :meth:`windows`.

        ``parts`` is (R, B, C, H_out, W_out, kh, kw); the result has ``x_shape``. One vectorised
        addition per kernel offset (windows of one offset never overlap), in offset order.
        """
        kw = self.kernel[1]
        return self.scatter_offsets(lambda k: parts[..., k // kw, k % kw], x_shape)

    def scatter_offsets(
        self, term: Callable[[int], FloatArray], x_shape: tuple[int, ...]
    ) -> FloatArray:
        """Sum ``term(k)`` of each kernel offset back onto the input, as :meth:`scatter` does.

        ``term(k)`` is (R, B, C, H_out, W_out), the values of offset k = i·kw + j; it is asked
        one offset at a time, in that order, so no window-shaped array is built.
        """
        r, b, c, h, w = x_shape
        ph, pw = self.padding
        out = np.zeros((r, b, c, h + 2 * ph, w + 2 * pw))
        for k, view in enumerate(self.offset_views(out, padded=True)):
            view += term(k)
        return np.ascontiguousarray(out[:, :, :, ph : ph + h, pw : pw + w])


def _im2col(x: FloatArray, geom: _Geometry) -> FloatArray:
    """Return the patch matrix (R, B·L, C·kh·kw) of x (R, B, C, H, W), patches row-major."""
    r, b = x.shape[:2]
    win = geom.windows(x)  # (R, B, C, Ho, Wo, kh, kw)
    c, ho, wo, kh, kw = win.shape[2:]
    return np.ascontiguousarray(
        win.transpose(0, 1, 3, 4, 2, 5, 6).reshape(r, b * ho * wo, c * kh * kw)
    )


def _col2im(
    cols: FloatArray, x_shape: tuple[int, ...], out_hw: tuple[int, int], geom: _Geometry
) -> FloatArray:
    """Return the transpose of :func:`_im2col`: patch-matrix values summed onto (R, B, C, H, W)."""
    r, b, c = x_shape[:3]
    (ho, wo), (kh, kw) = out_hw, geom.kernel
    parts = cols.reshape(r, b, ho, wo, c, kh, kw).transpose(0, 1, 4, 2, 3, 5, 6)
    return geom.scatter(parts, x_shape)


class _Conv2d(_Linear):
    """``y = W̄ ⋆ x + b`` on the patch matrix, with W̄ (R, C_out, C_in·kh·kw) held by a state."""

    _eval_rows = _EVAL_ROWS

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        algorithm: Algorithm,
        *,
        input_size: Pair,
        stride: Pair,
        padding: Pair,
        dilation: Pair,
        bias: bool,
        bias_lr: float,
        forward_io: IOParameters | None,
        backward_io: IOParameters | None,
        replicas: int,
        rng: Seed,
        n_threads: int | None,
        weights: npt.ArrayLike | None,
        replica_offset: int,
        backend: Backend | str,
        mapping: MappingParameter | None = None,
    ) -> None:
        owner = type(self).__name__
        c_in: int = _check(_SIZE, "in_channels", owner, in_channels)
        c_out: int = _check(_SIZE, "out_channels", owner, out_channels)
        kernel = _pair("kernel_size", owner, kernel_size, 1, 1 << 12)
        geom = _Geometry(
            kernel,
            _pair("stride", owner, stride, 1, 1 << 12),
            _pair("padding", owner, padding, 0, 1 << 12),
            _pair("dilation", owner, dilation, 1, 1 << 12),
        )
        h, w = _pair("input_size", owner, input_size, 1, 1 << 16)
        ho, wo = geom.out_size(h, w)
        if ho < 1 or wo < 1:
            ph, pw = geom.padding
            raise parameter_error(
                "kernel_size",
                owner,
                f"a window (dilation {geom.dilation}) that fits the padded "
                f"{h + 2 * ph}×{w + 2 * pw} input",
                kernel_size,
            )
        reps: int = _check(_REPLICAS, "replicas", owner, replicas)
        fan_in = c_in * kernel[0] * kernel[1]
        w0: FloatArray | None = None
        if weights is not None:
            w0 = _as_real_array("weights", owner, weights, copy=True)
            shape = (reps, c_out, c_in, *kernel)
            if w0.ndim == 4 and reps == 1:
                w0 = w0[np.newaxis]
            if w0.shape != shape:
                alt = f" or {shape[1:]}" if reps == 1 else ""
                raise _shape_error(
                    "weights", owner, f"an array of shape {shape}{alt}", f"shape {w0.shape}"
                )
            w0 = w0.reshape(reps, c_out, fan_in)
        super().__init__(
            fan_in,
            c_out,
            algorithm,
            bias=bias,
            bias_lr=bias_lr,
            forward_io=forward_io,
            backward_io=backward_io,
            replicas=reps,
            rng=rng,
            n_threads=n_threads,
            weights=w0,
            replica_offset=replica_offset,
            backend=backend,
            mapping=mapping,
        )
        self.in_shape = (c_in, h, w)
        self.out_shape = (c_out, ho, wo)
        self.in_channels, self.out_channels = c_in, c_out
        self.kernel_size: tuple[int, int] = kernel
        self.stride: tuple[int, int] = geom.stride
        self.padding: tuple[int, int] = geom.padding
        self.dilation: tuple[int, int] = geom.dilation
        self._geom = geom
        self._out_hw: tuple[int, int] = (ho, wo)

    @property
    def kernel(self) -> FloatArray:
        """The weights W̄ read exactly as kernels, shape (R, C_out, C_in, kh, kw)."""
        r, c_out, fan_in = self.weights.shape
        kh, kw = self.kernel_size
        return self.weights.reshape(r, c_out, fan_in // (kh * kw), kh, kw)

    def _geometry_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"input_size={self.in_shape[1:]}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, replicas={self.replicas}, bias={self.has_bias}"
        )

    # ------------------------------------------------------------------ the work
    def _patch_grad(self, grad: FloatArray) -> FloatArray:
        """Reorder dL/dy (R, B, C_out, Ho, Wo) into the tile's rows (R, B·L, C_out)."""
        r, c = grad.shape[0], grad.shape[2]
        return np.ascontiguousarray(grad.transpose(0, 1, 3, 4, 2).reshape(r, -1, c))

    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        r, b = x.shape[:2]
        c_out, ho, wo = self.out_shape
        z = super()._forward(_im2col(x, self._geom), exact=exact)  # (R, B·L, C_out)
        if not exact:
            self._last_shape = (r, b, *self.out_shape)
        return np.ascontiguousarray(z.reshape(r, b, ho, wo, c_out).transpose(0, 1, 4, 2, 3))

    def _record(self, grad: FloatArray) -> None:
        super()._record(self._patch_grad(grad))

    def _backward(self, grad: FloatArray) -> FloatArray:
        d = self._patch_grad(grad)
        _Linear._record(self, d)
        cols = self._tile_backward(d)  # (R, B·L, C_in·kh·kw)
        r, b = grad.shape[:2]
        return _col2im(cols, (r, b, *self.in_shape), self._out_hw, self._geom)


class AnalogConv2d(_Conv2d):
    """A 2-D convolution on analog tiles, trained by any algorithm (aihwkit semantics).

    The tile has ``in_channels · kh · kw`` inputs and ``out_channels`` outputs; weights
    (:attr:`weights`, (R, C_out, C_in·kh·kw), or :attr:`kernel`) are ordered like PyTorch's
    ``(C_out, C_in, kh, kw)``. Every patch of every image is one forward and one backward vector
    through the periphery and one rank-one sample of the update (see the module docstring).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out, each in [1, 2²⁴].
    kernel_size : int or (int, int)
        Window height and width, each in [1, 4096].
    algorithm : Algorithm
        The training algorithm, with its device and update mode.
    input_size : int or (int, int)
        Input height and width, each in [1, 65536] (fixes :attr:`in_shape` and :attr:`out_shape`).
    stride : int or (int, int), optional
        Step between windows, each in [1, 4096]. Default 1.
    padding : int or (int, int), optional
        Zeros added on each side, each in [0, 4096]. Default 0.
    dilation : int or (int, int), optional
        Spacing of the window's taps, each in [1, 4096]. Default 1.
    bias, bias_lr, forward_io, backward_io, replicas, rng, n_threads, replica_offset, backend
        As for :class:`~pulsetrain.layers.AnalogLinear`.
    mapping : MappingParameter or None, optional
        As for :class:`~pulsetrain.layers.AnalogLinear`: s and α are per output channel (or one
        per layer), applied to every patch's outputs; α's gradient sums over the positions too.
    weights : array_like or None, optional
        Initial kernels, (R, C_out, C_in, kh, kw) or (C_out, C_in, kh, kw) when R = 1; None
        (default) draws them uniform on ±1/√(C_in·kh·kw) from ``rng``.

    Raises
    ------
    ParameterError
        A size, window, flag, learning rate, IO config, seed or algorithm out of range, or a
        window that does not fit the padded input (naming ``kernel_size``).
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import AnalogSGD
    >>> algo = AnalogSGD(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> conv = AnalogConv2d(3, 8, 3, algo, input_size=(6, 5), padding=1, replicas=2, rng=0)
    >>> y = conv.forward(np.ones((2, 4, 3, 6, 5)))      # (R, B, C, H, W)
    >>> dx = conv.backward(np.full(y.shape, 0.01))
    >>> conv.update(step=0)
    >>> y.shape, dx.shape, conv.weights.shape
    ((2, 4, 8, 6, 5), (2, 4, 3, 6, 5), (2, 8, 27))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        algorithm: Algorithm,
        *,
        input_size: Pair,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        bias: bool = True,
        bias_lr: float | None = None,
        forward_io: IOParameters | None = IOParameters(),  # noqa: B008 - frozen, immutable
        backward_io: IOParameters | None = IOParameters(),  # noqa: B008
        replicas: int = 1,
        rng: Seed = None,
        n_threads: int | None = None,
        weights: npt.ArrayLike | None = None,
        replica_offset: int = 0,
        backend: Backend | str = Backend.RUST,
        mapping: MappingParameter | None = None,
    ) -> None:
        owner = "AnalogConv2d"
        if not isinstance(algorithm, Algorithm):
            raise parameter_error("algorithm", owner, "a pulsetrain algorithm config", algorithm)
        if bias_lr is None:
            bias_lr = getattr(algorithm, "lr", None)
            if bias_lr is None:  # pragma: no cover - every algorithm has an lr
                raise parameter_error(
                    "bias_lr", owner, "a float ≥ 0 for an algorithm without lr", None
                )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            algorithm,
            input_size=input_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
            bias_lr=bias_lr,
            forward_io=forward_io,
            backward_io=backward_io,
            replicas=replicas,
            rng=rng,
            n_threads=n_threads,
            weights=weights,
            replica_offset=replica_offset,
            backend=backend,
            mapping=mapping,
        )

    def __repr__(self) -> str:
        """Show the geometry, replicas, bias and algorithm."""
        return f"AnalogConv2d({self._geometry_repr()}, algorithm={self.algorithm!r})"


class DigitalConv2d(_Conv2d):
    """A float64 2-D convolution trained with plain SGD (the interface of :class:`AnalogConv2d`).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, input_size, stride, padding, dilation
        As for :class:`AnalogConv2d`.
    lr : float
        Learning rate of the weights and the bias, at least 0.
    bias, replicas, rng, weights, replica_offset
        As for :class:`AnalogConv2d`.

    Raises
    ------
    ParameterError
        A size, window, flag, learning rate or seed out of range.
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> conv = DigitalConv2d(1, 1, 2, lr=0.1, input_size=3, weights=np.ones((1, 1, 2, 2)))
    >>> conv.forward(np.arange(9.0).reshape(1, 1, 3, 3)).tolist()
    [[[[8.0, 12.0], [20.0, 24.0]]]]
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        *,
        input_size: Pair,
        lr: float,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        bias: bool = True,
        replicas: int = 1,
        rng: Seed = None,
        weights: npt.ArrayLike | None = None,
        replica_offset: int = 0,
    ) -> None:
        lr = _check(_LR, "lr", "DigitalConv2d", lr)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            DigitalSGD(lr=lr),
            input_size=input_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
            bias_lr=lr,
            forward_io=None,
            backward_io=None,
            replicas=replicas,
            rng=rng,
            n_threads=None,
            weights=weights,
            replica_offset=replica_offset,
            backend=Backend.RUST,
        )
        self.lr: float = lr

    def __repr__(self) -> str:
        """Show the geometry, replicas, bias and learning rate."""
        return f"DigitalConv2d({self._geometry_repr()}, lr={self.lr})"


# ----------------------------------------------------------------------------------- pooling
class _Pool2d(Layer):
    """A 2-D pooling over (C, H, W) features; no weights, any number of replicas."""

    replicas = None
    in_shape = None
    out_shape = None
    _feature_rank = 3

    def __init__(self, kernel_size: Pair, stride: Pair | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        kernel = _pair("kernel_size", owner, kernel_size, 1, 1 << 12)
        step = kernel if stride is None else _pair("stride", owner, stride, 1, 1 << 12)
        self.kernel_size: tuple[int, int] = kernel
        self.stride: tuple[int, int] = step
        self._geom = _Geometry(kernel, step)
        self._cache: Any = None

    @property
    def trainable(self) -> bool:
        """Always False: pooling has no weights."""
        return False

    def output_shape(self, in_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Return ``(C, H_out, W_out)`` for (C, H, W) inputs (windows that fit, remainders dropped).

        Parameters
        ----------
        in_shape : tuple of int or None
            ``(C, H, W)``, or None (unknown).

        Returns
        -------
        tuple of int or None
            The pooled shape, None for an unknown input.

        Raises
        ------
        ParameterError
            Features that are not (C, H, W), or smaller than the window.
        """
        if in_shape is None:
            return None
        owner = type(self).__name__
        if len(in_shape) != 3:
            raise parameter_error("in_shape", owner, "(C, H, W) features", in_shape)
        c, h, w = in_shape
        ho, wo = self._geom.out_size(h, w)
        if ho < 1 or wo < 1:
            raise parameter_error(
                "kernel_size",
                owner,
                f"at most the input's height and width ({h}, {w})",
                self.kernel_size,
            )
        return c, ho, wo

    def _windows(self, x: FloatArray) -> FloatArray:
        h, w = x.shape[3:]
        if min(self._geom.out_size(h, w)) < 1:
            raise _shape_error(
                "x",
                f"{type(self).__name__}.forward",
                f"images of at least the window's size {self.kernel_size}",
                f"shape {x.shape}",
            )
        return self._geom.windows(x)

    def _update(self, step: int) -> None:
        return None

    def __repr__(self) -> str:
        """Show the window and stride."""
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"


class MaxPool2d(_Pool2d):
    """The maximum over each window; the gradient goes to the window's first maximum.

    Ties go to the first maximum in row-major order within the window (as PyTorch's CPU
    kernel), so each window passes its gradient to exactly one input.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window height and width, each in [1, 4096].
    stride : int or (int, int) or None, optional
        Step between windows, each in [1, 4096]; None (default) is ``kernel_size``.

    Raises
    ------
    ParameterError
        A window or stride out of range.

    Examples
    --------
    >>> import numpy as np
    >>> pool = MaxPool2d(2)
    >>> pool.forward(np.array([[[[1.0, 3.0], [3.0, 0.0]]]])).tolist()
    [[[[3.0]]]]
    >>> pool.backward(np.array([[[[1.0]]]])).tolist()
    [[[[0.0, 1.0], [0.0, 0.0]]]]
    """

    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        win = self._windows(x)
        kh, kw = self.kernel_size
        flat = win.reshape(*win.shape[:5], kh * kw)
        idx = np.argmax(flat, axis=-1)
        y = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
        if not exact:
            self._cache, self._last_shape = (idx, x.shape), y.shape
        return np.ascontiguousarray(y)

    def _backward(self, grad: FloatArray) -> FloatArray:
        if self._cache is None:
            raise _no_forward(self)
        idx, x_shape = self._cache
        # Each window's gradient to its maximum, one offset at a time, without the one-hot and
        # window-shaped arrays (LeNet-5's first pooling: 1.10 → 0.29 ms per batch of 10).
        return self._geom.scatter_offsets(lambda k: np.where(idx == k, grad, 0.0), x_shape)


class AvgPool2d(_Pool2d):
    """The mean over each window.

    Parameters
    ----------
    kernel_size : int or (int, int)
        Window height and width, each in [1, 4096].
    stride : int or (int, int) or None, optional
        Step between windows, each in [1, 4096]; None (default) is ``kernel_size``.

    Raises
    ------
    ParameterError
        A window or stride out of range.

    Examples
    --------
    >>> import numpy as np
    >>> pool = AvgPool2d(2)
    >>> pool.forward(np.array([[[[1.0, 3.0], [3.0, 1.0]]]])).tolist()
    [[[[2.0]]]]
    >>> pool.backward(np.array([[[[1.0]]]])).tolist()
    [[[[0.25, 0.25], [0.25, 0.25]]]]
    """

    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        win = self._windows(x)
        kh, kw = self.kernel_size
        y = win.sum(axis=(5, 6)) / (kh * kw)
        if not exact:
            self._cache, self._last_shape = x.shape, y.shape
        return np.ascontiguousarray(y)

    def _backward(self, grad: FloatArray) -> FloatArray:
        if self._cache is None:
            raise _no_forward(self)
        kh, kw = self.kernel_size
        share = grad / (kh * kw)
        parts = np.broadcast_to(share[..., None, None], (*grad.shape, kh, kw))
        return self._geom.scatter(np.asarray(parts), self._cache)


class Flatten(Layer):
    """Flatten each sample's features, ``(R, B, *shape) → (R, B, prod(shape))``, row-major.

    Give inputs with more than 1-D features the replica axis (a 4-D array is read as
    (R, B, H, W)). No weights; any number of replicas.

    Examples
    --------
    >>> import numpy as np
    >>> flat = Flatten()
    >>> flat.forward(np.zeros((1, 2, 3, 4, 5))).shape, flat.output_shape((3, 4, 5))
    ((1, 2, 60), (60,))
    """

    replicas = None
    in_shape = None
    out_shape = None

    def __init__(self) -> None:
        super().__init__()
        self._in: tuple[int, ...] | None = None

    @property
    def trainable(self) -> bool:
        """Always False: flattening has no weights."""
        return False

    def output_shape(self, in_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Return ``(prod(in_shape),)``; None for an unknown input.

        Parameters
        ----------
        in_shape : tuple of int or None
            The input's feature shape.

        Returns
        -------
        tuple of int or None
            The flattened width.
        """
        return None if in_shape is None else (int(np.prod(in_shape)),)

    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        y = x.reshape(*x.shape[:2], -1)
        if not exact:
            self._in, self._last_shape = x.shape, y.shape
        return y

    def _backward(self, grad: FloatArray) -> FloatArray:
        if self._in is None:
            raise _no_forward(self)
        return grad.reshape(self._in)

    def _update(self, step: int) -> None:
        return None

    def __repr__(self) -> str:
        """``Flatten()``."""
        return "Flatten()"
