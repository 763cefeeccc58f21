"""Analog layers as torch modules: :class:`AnalogLinear` and :class:`AnalogConv2d`.

Each layer holds a pulsetrain :class:`~pulsetrain.algorithms.AlgorithmState` (one
``algorithm.start`` for the layer's shape, R = 1, its own seed), exactly as
:class:`pulsetrain.layers.AnalogLinear` and :class:`pulsetrain.conv.AnalogConv2d` do, and the same
numbers come out: a torch forward pass is the state's forward pass ``W̄ x`` through the forward
periphery, the backward pass is ``W̄ᵀ δ`` through the backward periphery, and
:class:`~pulsetrain.torch.AnalogSGD`'s ``step()`` applies the algorithm's step with the stored
inputs x and errors δ (aihwkit's ``AnalogContext`` scheme). The bias is an ordinary digital
``torch.nn.Parameter``.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from pulsetrain._validation import InstanceOf, Integral, NoneOr, parameter_error, shape_error
from pulsetrain.algorithms.base import Algorithm, AlgorithmState
from pulsetrain.conv import Pair, _col2im, _Geometry, _im2col, _pair
from pulsetrain.layers import _LayerShape, uniform_weights
from pulsetrain.periphery import IOParameters
from pulsetrain.rng import as_seed_sequence, replica_generator
from pulsetrain.streams import PURPOSE_INIT
from pulsetrain.tile import AnalogTile, Backend
from pulsetrain.torch._arrays import to_numpy, to_tensor

__all__ = ["AnalogConv2d", "AnalogLinear", "AnalogModule"]

FloatArray = npt.NDArray[np.float64]
Seed = int | np.random.SeedSequence | np.random.Generator | None

_SIZE = Integral(1, 1 << 24)
_IO = InstanceOf((IOParameters, type(None)))
_THREADS = NoneOr(Integral(1, 1024))
_DEFAULT_IO = IOParameters()

_EXTRA_FORMAT = "pulsetrain.torch/1"
"""The ``format`` of an analog layer's extra state in a torch ``state_dict``."""
_AS_SIGNED: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.uint64): np.dtype(np.int64),
    np.dtype(np.uint32): np.dtype(np.int32),
    np.dtype(np.uint16): np.dtype(np.int16),
}
"""Unsigned dtypes torch lacks (before 2.3), saved as the signed dtype of the same width."""

_LAYER_ATTR = "_pulsetrain_layer"
"""Attribute of an analog context parameter: a weak reference to its layer."""


def layer_of(param: torch.Tensor) -> AnalogModule | None:
    """Return the analog layer whose context parameter ``param`` is, else None."""
    ref = getattr(param, _LAYER_ATTR, None)
    layer = ref() if isinstance(ref, weakref.ref) else None
    return layer if isinstance(layer, AnalogModule) else None


class _AnalogFunction(torch.autograd.Function):
    """``y = W̄ x + b`` through a layer's tiles; the backward pass stores (x, δ) for the update."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        bias: torch.Tensor | None,
        analog_ctx: torch.Tensor,
        layer: AnalogModule,
    ) -> torch.Tensor:
        owner = f"{type(layer).__name__}.forward"
        rows, meta, shared = layer._rows(x)
        if layer.training:
            z = layer._state.forward(rows, layer.forward_io)
        else:  # evaluation: the weights read exactly, no random numbers drawn
            z = np.einsum("roi,rbi->rbo", layer._state.effective_weights(), rows)
        if bias is not None:
            z = z + to_numpy("bias", owner, bias)[None, None, :]
        ctx.layer, ctx.rows, ctx.meta, ctx.shared = layer, rows, meta, shared
        ctx.x_dtype = x.dtype
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.ctx_dtype = analog_ctx.dtype
        if shared:  # rows view x's memory: let autograd check x is not changed before backward
            ctx.save_for_backward(x)
        return to_tensor(layer._output(np.asarray(z, dtype=np.float64), meta), x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        layer: AnalogModule = ctx.layer
        if ctx.shared:
            _ = ctx.saved_tensors  # raises if x was modified in place since the forward pass
        d = layer._grad_rows(grad, ctx.meta)
        dx = None
        if ctx.needs_input_grad[0]:
            cols = layer._state.backward(d, layer.backward_io)
            dx = torch.from_numpy(layer._input_grad(cols, ctx.meta)).to(ctx.x_dtype)
        gb = None
        if ctx.needs_input_grad[1]:
            gb = torch.from_numpy(d.sum(axis=1)[0]).to(ctx.bias_dtype)
        g_ctx = None
        if ctx.needs_input_grad[2]:
            rows = ctx.rows.copy() if ctx.shared else ctx.rows
            layer._pending.append((rows, d))
            g_ctx = torch.zeros(0, dtype=ctx.ctx_dtype)
        return dx, gb, g_ctx, None


class AnalogModule(nn.Module):
    """Base of the analog torch layers: an algorithm's state, a digital bias, an analog context.

    Attributes
    ----------
    analog_ctx : torch.nn.Parameter
        An empty parameter that stands for the analog weights in ``model.parameters()``: give it
        to :class:`~pulsetrain.torch.AnalogSGD` (with the rest of the parameters) and its
        ``step()`` applies this layer's update. Its ``requires_grad`` flag freezes or unfreezes
        the analog weights.
    bias : torch.nn.Parameter or None
        The digital bias, shape (out,), in torch's default dtype.
    algorithm : Algorithm
        The training algorithm of the tiles.
    forward_io, backward_io : IOParameters or None
        The periphery of the two passes (None: perfect).
    seed_entropy : int or list of int
        Entropy of the layer's seed (to rebuild the same devices and streams).
    """

    bias: nn.Parameter | None
    analog_ctx: nn.Parameter

    def _init_analog(
        self,
        owner: str,
        out: int,
        fan_in: int,
        algorithm: object,
        *,
        weights: FloatArray | None,
        bias: bool,
        forward_io: object,
        backward_io: object,
        rng: Seed,
        n_threads: int | None,
        backend: Backend | str,
    ) -> None:
        if not isinstance(algorithm, Algorithm):
            raise parameter_error("algorithm", owner, "a pulsetrain algorithm config", algorithm)
        if not isinstance(bias, bool):
            raise parameter_error("bias", owner, "True or False", bias)
        self.forward_io: IOParameters | None = _IO.validate(
            forward_io, name="forward_io", owner=owner
        )  # type: ignore[assignment]
        self.backward_io: IOParameters | None = _IO.validate(
            backward_io, name="backward_io", owner=owner
        )  # type: ignore[assignment]
        _THREADS.validate(n_threads, name="n_threads", owner=owner)
        try:
            backend = Backend(backend)
        except ValueError:
            raise parameter_error("backend", owner, "'rust' or 'twin'", backend) from None
        root = as_seed_sequence(rng)
        self.seed_entropy: int | list[int] = root.entropy  # type: ignore[assignment]
        if weights is None:
            weights = uniform_weights([replica_generator(root, PURPOSE_INIT, 0)], out, fan_in)
        self.algorithm: Algorithm = algorithm
        self._start = (root, n_threads, backend)  # to rebuild the state in a deep copy
        self._state: AlgorithmState = algorithm.start(
            _LayerShape(weights.reshape(1, out, fan_in)),  # type: ignore[arg-type]
            root,
            n_threads=n_threads,
            replica_offset=0,
            backend=backend,
        )
        if bias:
            self.bias = nn.Parameter(torch.zeros(out))
        else:
            self.register_parameter("bias", None)
        self.analog_ctx = nn.Parameter(torch.zeros(0))
        setattr(self.analog_ctx, _LAYER_ATTR, weakref.ref(self))
        self._pending: list[tuple[FloatArray, FloatArray]] = []
        self.analog_steps: int = 0
        """Updates applied so far (the ``step`` index the algorithm gets next)."""

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> AlgorithmState:
        """The algorithm's live state: tiles, digital buffers, ``sp_error()``."""
        return self._state

    @property
    def tiles(self) -> dict[str, AnalogTile]:
        """The algorithm's tiles by name (``"W"``, ``"P"``, …); empty for Digital SGD."""
        return dict(self._state.tiles)

    def arrays(self) -> dict[str, FloatArray]:
        """Return every array and buffer of the algorithm by name, (1, out, fan_in) each.

        Returns
        -------
        dict
            E.g. ``{"W": …}`` (Analog SGD) or ``{"W": …, "P": …, "H": …}`` (TTv2).
        """
        return self._state.arrays()

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far, by phase, summed over the tiles.

        Returns
        -------
        dict
            ``{"update": (1,), "transfer": (1,), "calibration": (1,)}``.
        """
        return self._state.pulse_totals()

    # ------------------------------------------------------------------ checkpoints
    def get_extra_state(self) -> dict[str, Any]:
        """Return the analog state for ``state_dict()``: everything a bit-exact resume needs.

        The algorithm state's :meth:`~pulsetrain.algorithms.AlgorithmState.state_dict` (every
        tile's weights, reference, tick and pulse counters, the digital buffers, chopper
        signs, pointers and counters), its arrays as CPU tensors (unsigned integer arrays, which
        torch lacks, reinterpreted bit for bit as signed ones, their dtype recorded), and the
        layer's step counter :attr:`analog_steps`. Only tensors, numbers, strings, None, lists
        and dicts: ``torch.load(..., weights_only=True)`` reads it. The (x, δ) stored for a
        pending step are not saved: save between ``optimizer.step()`` and the next backward
        pass.

        Returns
        -------
        dict
            ``{"format", "analog_steps", "tensors", "dtypes", "values"}``.
        """
        tensors: dict[str, torch.Tensor] = {}
        dtypes: dict[str, str] = {}
        values: dict[str, Any] = {}
        for key, value in self._state.state_dict().items():
            if not isinstance(value, np.ndarray):
                values[key] = value
                continue
            arr = np.ascontiguousarray(value)
            if arr.dtype in _AS_SIGNED:
                dtypes[key] = arr.dtype.str
                arr = arr.view(_AS_SIGNED[arr.dtype])
            tensors[key] = torch.from_numpy(arr)
        return {
            "format": _EXTRA_FORMAT,
            "analog_steps": self.analog_steps,
            "tensors": tensors,
            "dtypes": dtypes,
            "values": values,
        }

    def set_extra_state(self, state: Any) -> None:
        """Restore :meth:`get_extra_state` into a layer built with the same config and seed.

        Build the model as the saved one was built (same algorithm, sizes and ``rng``, or
        :func:`~pulsetrain.torch.convert_to_analog` with the same root seed), then
        ``model.load_state_dict(...)``: training continues bit for bit as if never stopped.

        Parameters
        ----------
        state : dict
            As returned by :meth:`get_extra_state`.

        Raises
        ------
        ParameterError
            Not a pulsetrain analog state, or one of another algorithm, seed, device or shape
            (nothing is changed then).
        ShapeError
            An array of another dtype or shape.
        """
        owner = f"{type(self).__name__}.set_extra_state"
        keys = {"format", "analog_steps", "tensors", "dtypes", "values"}
        if not isinstance(state, dict) or set(state) != keys or state["format"] != _EXTRA_FORMAT:
            raise parameter_error(
                "state", owner, f"the analog state of a {type(self).__name__}", type(state)
            )
        steps = state["analog_steps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise parameter_error("state['analog_steps']", owner, "an int ≥ 0", steps)
        saved: dict[str, Any] = dict(state["values"])
        for key, tensor in state["tensors"].items():
            if not isinstance(tensor, torch.Tensor):
                raise parameter_error(f"state['tensors'][{key!r}]", owner, "a tensor", tensor)
            arr = tensor.detach().cpu().numpy()
            if key in state["dtypes"]:
                arr = arr.view(np.dtype(state["dtypes"][key]))
            saved[key] = arr.copy()
        self._state.load_state_dict(saved)
        self.analog_steps = steps
        self._pending = []

    def __deepcopy__(self, memo: dict[int, Any]) -> AnalogModule:
        """Return an independent copy that continues exactly as this layer would.

        The tiles live in the compiled core and are not copied as Python objects: the copy
        starts the algorithm again from the same seed and loads this layer's state into it
        (:meth:`get_extra_state`), so both train on bit for bit alike from here. The stored
        (x, δ) of a pending step are not copied.
        """
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key not in ("_state", "_pending"):
                new.__dict__[key] = copy.deepcopy(value, memo)
        root, n_threads, backend = self._start
        shape = self._state.effective_weights().shape
        new._state = self.algorithm.start(
            _LayerShape(np.zeros(shape)),  # type: ignore[arg-type]
            root,
            n_threads=n_threads,
            replica_offset=0,
            backend=backend,
        )
        new._state.load_state_dict(self._state.state_dict())
        new._pending = []
        setattr(new.analog_ctx, _LAYER_ATTR, weakref.ref(new))
        return new

    def _weight_array(self) -> FloatArray:
        return np.asarray(self._state.effective_weights()[0], dtype=np.float64)

    # ------------------------------------------------------------------ forward and update
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``W̄ x + b``: through the forward periphery in training mode, exact in eval mode.

        In training mode the inputs pass the forward periphery (``forward_io``), drawing the
        layer's random numbers; in eval mode (``module.eval()``) the weights are read exactly and
        nothing is drawn, as :meth:`pulsetrain.layers.Sequential.evaluate` does. The backward
        pass goes through the backward periphery and stores x and δ for the optimizer's step.

        Parameters
        ----------
        x : torch.Tensor
            A CPU floating-point tensor (any float dtype; computed in float64, returned in x's
            dtype), finite.

        Returns
        -------
        torch.Tensor
            The layer's output, in x's dtype.

        Raises
        ------
        ParameterError
            Not a tensor, or a tensor not on the CPU (e.g. CUDA).
        ShapeError, NonFiniteError
            A tensor of the wrong shape or dtype, or not finite.
        """
        # Function.apply is untyped in torch's stubs (it forwards *args to forward()).
        out = _AnalogFunction.apply(x, self.bias, self.analog_ctx, self)  # type: ignore[no-untyped-call]
        assert isinstance(out, torch.Tensor)
        return out

    def _apply_update(self, lr: float) -> bool:
        """Apply the algorithm's step to the stored (x, δ); return whether a step was taken.

        δ is scaled by ``lr / algorithm.lr`` (see :class:`~pulsetrain.torch.AnalogSGD`).
        """
        pending, self._pending = self._pending, []
        if not pending or self.analog_ctx.grad is None:
            return False
        if len(pending) == 1:
            x, d = pending[0]
        else:  # several backward passes since the last step: one step with every sample
            x = np.concatenate([p[0] for p in pending], axis=1)
            d = np.concatenate([p[1] for p in pending], axis=1)
        base = float(getattr(self.algorithm, "lr", 0.0))
        scale = lr / base if base > 0.0 else 1.0
        if scale != 1.0:
            d = d * scale
        self._state.step(self.analog_steps, x, d)
        self.analog_steps += 1
        return True

    def _clear_pending(self) -> None:
        self._pending = []

    # ------------------------------------------------------------------ the layout (subclasses)
    def _rows(self, x: torch.Tensor) -> tuple[FloatArray, Any, bool]:
        """Return the tile inputs (1, B, fan_in), what reshapes the outputs, whether x is shared."""
        raise NotImplementedError

    def _output(self, z: FloatArray, meta: Any) -> FloatArray:
        """Reshape tile outputs (1, B, out) into the layer's output."""
        raise NotImplementedError

    def _grad_rows(self, grad: torch.Tensor, meta: Any) -> FloatArray:
        """Return dL/dy as the tile's rows (1, B, out), a private float64 array."""
        raise NotImplementedError

    def _input_grad(self, cols: FloatArray, meta: Any) -> FloatArray:
        """Map the tile's backward outputs (1, B, fan_in) to dL/dx in x's shape."""
        raise NotImplementedError


def _private(arr: FloatArray, t: torch.Tensor) -> FloatArray:
    """Return ``arr`` (converted from ``t``) as an array that shares no memory with ``t``."""
    return np.array(arr, dtype=np.float64) if t.dtype == torch.float64 else arr


def _weights_arg(owner: str, weights: object, shape: tuple[int, ...]) -> FloatArray | None:
    if weights is None:
        return None
    if isinstance(weights, torch.Tensor):
        w = to_numpy("weights", owner, weights)
    else:
        from pulsetrain.layers import _as_real_array

        w = _as_real_array("weights", owner, weights, copy=False)
    if w.shape != shape:
        raise shape_error("weights", owner, f"an array of shape {shape}", f"shape {w.shape}")
    return np.array(w, dtype=np.float64)


class AnalogLinear(AnalogModule):
    """``y = W̄ x + b`` on analog tiles trained by any pulsetrain algorithm, as a torch module.

    The drop-in analog counterpart of :class:`torch.nn.Linear`: inputs ``(*, in_features)``,
    outputs ``(*, out_features)``; every leading position is one sample (one rank-one term of
    the update). The weights live on the tiles of ``algorithm.start`` (their own devices and
    random streams, seeded by ``rng``): the same state, and for the same seed the same numbers,
    as :class:`pulsetrain.layers.AnalogLinear`. Train it with :class:`pulsetrain.torch.AnalogSGD`.

    Parameters
    ----------
    in_features, out_features : int
        Inputs and outputs, each in [1, 2²⁴].
    bias : bool, optional
        A digital bias (default True), initialised to 0, a ``torch.nn.Parameter``.
    algorithm : Algorithm
        Any pulsetrain algorithm (e.g. :class:`~pulsetrain.algorithms.AnalogSGD`,
        :class:`~pulsetrain.algorithms.TTv2`), with its device and update mode.
    forward_io, backward_io : IOParameters or None, optional
        The periphery of the forward and backward passes; default aihwkit's ``IOParameters()``,
        None for perfect IO (exact ``W̄ x``).
    rng : int, SeedSequence, Generator or None, optional
        Seed of the initial weights and of every device map and pulse; None draws fresh entropy
        (recorded in :attr:`seed_entropy`).
    weights : torch.Tensor, array_like or None, optional
        Initial weights (out_features, in_features), programmed onto the tiles (so clipped to the
        devices' bounds); None (default) draws them uniform on ±1/√in_features (torch's default
        initialisation of ``nn.Linear``), from ``rng``.
    n_threads : int or None, optional
        Kernel threads, 1 to 1024; None uses every core. Results do not depend on it.
    backend : Backend or str, optional
        ``"rust"`` (default) or ``"twin"``.

    Raises
    ------
    ParameterError
        A size, flag, IO config, seed, thread count or algorithm out of range.
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import torch
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import AnalogSGD as AnalogSGDAlgorithm
    >>> from pulsetrain.torch import AnalogLinear, AnalogSGD
    >>> algo = AnalogSGDAlgorithm(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> layer = AnalogLinear(4, 3, algorithm=algo, rng=0)
    >>> opt = AnalogSGD(layer.parameters(), lr=0.1)
    >>> loss = layer(torch.ones(5, 4)).square().sum()
    >>> loss.backward()
    >>> opt.step()                          # the tiles' update with the stored x and δ
    >>> layer.analog_steps, tuple(layer.weight.shape)
    (1, (3, 4))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        algorithm: Algorithm,
        forward_io: IOParameters | None = _DEFAULT_IO,
        backward_io: IOParameters | None = _DEFAULT_IO,
        rng: Seed = None,
        weights: torch.Tensor | npt.ArrayLike | None = None,
        n_threads: int | None = None,
        backend: Backend | str = Backend.RUST,
    ) -> None:
        super().__init__()
        owner = "AnalogLinear"
        self.in_features: int = _SIZE.validate(in_features, name="in_features", owner=owner)  # type: ignore[assignment]
        self.out_features: int = _SIZE.validate(out_features, name="out_features", owner=owner)  # type: ignore[assignment]
        w0 = _weights_arg(owner, weights, (self.out_features, self.in_features))
        self._init_analog(
            owner,
            self.out_features,
            self.in_features,
            algorithm,
            weights=w0,
            bias=bias,
            forward_io=forward_io,
            backward_io=backward_io,
            rng=rng,
            n_threads=n_threads,
            backend=backend,
        )

    @property
    def weight(self) -> torch.Tensor:
        """The weights W̄ read exactly, a float64 tensor (out_features, in_features), no grad."""
        return torch.from_numpy(self._weight_array())

    def extra_repr(self) -> str:
        """Show the sizes, bias and algorithm."""
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, algorithm={self.algorithm!r}"
        )

    def _rows(self, x: torch.Tensor) -> tuple[FloatArray, Any, bool]:
        owner = "AnalogLinear.forward"
        arr = to_numpy("x", owner, x)
        if arr.ndim < 1 or arr.shape[-1] != self.in_features or arr.size == 0:
            raise shape_error(
                "x",
                owner,
                f"a tensor of shape (*, {self.in_features}) with at least one sample",
                f"shape {tuple(x.shape)}",
            )
        rows = arr.reshape(1, -1, self.in_features)
        shared = x.dtype == torch.float64 and np.shares_memory(rows, arr)
        return rows, tuple(x.shape[:-1]), shared

    def _output(self, z: FloatArray, meta: Any) -> FloatArray:
        return z.reshape(*meta, self.out_features)

    def _grad_rows(self, grad: torch.Tensor, meta: Any) -> FloatArray:
        g = to_numpy("grad", "AnalogLinear.backward", grad)
        return _private(g, grad).reshape(1, -1, self.out_features)

    def _input_grad(self, cols: FloatArray, meta: Any) -> FloatArray:
        return cols.reshape(*meta, self.in_features)


class AnalogConv2d(AnalogModule):
    """A 2-D convolution on analog tiles trained by any pulsetrain algorithm (aihwkit semantics).

    The analog counterpart of :class:`torch.nn.Conv2d` (``groups=1``, zero padding): inputs
    ``(N, C_in, H, W)`` or ``(C_in, H, W)``, any H and W the window fits. Each image is unfolded
    into patches (im2col, as :class:`pulsetrain.conv.AnalogConv2d`); each patch of
    ``in_channels · kh · kw`` values is one input vector of a tile with ``out_channels`` outputs,
    through the periphery once per patch, and every patch of every image is one rank-one sample
    of the update. For the same seed, the same numbers as :class:`pulsetrain.conv.AnalogConv2d`.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out, each in [1, 2²⁴].
    kernel_size : int or (int, int)
        Window height and width, each in [1, 4096].
    stride : int or (int, int), optional
        Step between windows, each in [1, 4096]. Default 1.
    padding : int or (int, int), optional
        Zeros added on each side, each in [0, 4096]. Default 0.
    dilation : int or (int, int), optional
        Spacing of the window's taps, each in [1, 4096]. Default 1.
    bias, algorithm, forward_io, backward_io, rng, n_threads, backend
        As for :class:`AnalogLinear`.
    weights : torch.Tensor, array_like or None, optional
        Initial kernels (C_out, C_in, kh, kw); None draws them uniform on ±1/√(C_in·kh·kw).

    Raises
    ------
    ParameterError
        A size, window, flag, IO config, seed or algorithm out of range.
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import torch
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import TTv2
    >>> from pulsetrain.torch import AnalogConv2d
    >>> algo = TTv2(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> conv = AnalogConv2d(3, 8, 3, padding=1, algorithm=algo, rng=0)
    >>> tuple(conv(torch.ones(2, 3, 6, 5)).shape), tuple(conv.weight.shape)
    ((2, 8, 6, 5), (8, 3, 3, 3))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Pair,
        stride: Pair = 1,
        padding: Pair = 0,
        dilation: Pair = 1,
        *,
        bias: bool = True,
        algorithm: Algorithm,
        forward_io: IOParameters | None = _DEFAULT_IO,
        backward_io: IOParameters | None = _DEFAULT_IO,
        rng: Seed = None,
        weights: torch.Tensor | npt.ArrayLike | None = None,
        n_threads: int | None = None,
        backend: Backend | str = Backend.RUST,
    ) -> None:
        super().__init__()
        owner = "AnalogConv2d"
        self.in_channels: int = _SIZE.validate(in_channels, name="in_channels", owner=owner)  # type: ignore[assignment]
        self.out_channels: int = _SIZE.validate(out_channels, name="out_channels", owner=owner)  # type: ignore[assignment]
        self.kernel_size: tuple[int, int] = _pair("kernel_size", owner, kernel_size, 1, 1 << 12)
        self.stride: tuple[int, int] = _pair("stride", owner, stride, 1, 1 << 12)
        self.padding: tuple[int, int] = _pair("padding", owner, padding, 0, 1 << 12)
        self.dilation: tuple[int, int] = _pair("dilation", owner, dilation, 1, 1 << 12)
        self._geom = _Geometry(self.kernel_size, self.stride, self.padding, self.dilation)
        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        w0 = _weights_arg(owner, weights, (self.out_channels, self.in_channels, kh, kw))
        self._init_analog(
            owner,
            self.out_channels,
            fan_in,
            algorithm,
            weights=None if w0 is None else w0.reshape(self.out_channels, fan_in),
            bias=bias,
            forward_io=forward_io,
            backward_io=backward_io,
            rng=rng,
            n_threads=n_threads,
            backend=backend,
        )

    @property
    def weight(self) -> torch.Tensor:
        """The kernels W̄ read exactly, a float64 tensor (C_out, C_in, kh, kw), no grad."""
        return torch.from_numpy(
            self._weight_array().reshape(self.out_channels, self.in_channels, *self.kernel_size)
        )

    def extra_repr(self) -> str:
        """Show the geometry, bias and algorithm."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}, algorithm={self.algorithm!r}"
        )

    def _rows(self, x: torch.Tensor) -> tuple[FloatArray, Any, bool]:
        owner = "AnalogConv2d.forward"
        arr = to_numpy("x", owner, x)
        want = f"a tensor of shape (N, {self.in_channels}, H, W) or ({self.in_channels}, H, W)"
        if arr.ndim not in (3, 4) or arr.shape[-3] != self.in_channels or arr.size == 0:
            raise shape_error("x", owner, want, f"shape {tuple(x.shape)}")
        unbatched = arr.ndim == 3
        x5 = arr.reshape(1, -1, *arr.shape[-3:])
        ho, wo = self._geom.out_size(*x5.shape[-2:])
        if ho < 1 or wo < 1:
            ph, pw = self.padding
            h, w = x5.shape[-2:]
            raise shape_error(
                "x",
                owner,
                f"images the window (span {self._geom.span()}) fits once padded",
                f"{h + 2 * ph}×{w + 2 * pw} padded images",
            )
        return _im2col(x5, self._geom), (x5.shape, (ho, wo), unbatched), False

    def _output(self, z: FloatArray, meta: Any) -> FloatArray:
        x_shape, (ho, wo), unbatched = meta
        b = x_shape[1]
        out = np.ascontiguousarray(
            z.reshape(1, b, ho, wo, self.out_channels).transpose(0, 1, 4, 2, 3)
        )
        return np.asarray(out[0, 0] if unbatched else out[0], dtype=np.float64)

    def _grad_rows(self, grad: torch.Tensor, meta: Any) -> FloatArray:
        g = to_numpy("grad", "AnalogConv2d.backward", grad)
        x_shape, (ho, wo), _ = meta
        g5 = g.reshape(1, x_shape[1], self.out_channels, ho, wo)
        # The tile's rows (1, B·L, C_out), a private copy (as pulsetrain.conv's _patch_grad).
        rows = g5.transpose(0, 1, 3, 4, 2).reshape(1, -1, self.out_channels)
        return np.array(rows, dtype=np.float64, order="C")

    def _input_grad(self, cols: FloatArray, meta: Any) -> FloatArray:
        x_shape, out_hw, unbatched = meta
        dx = _col2im(cols, x_shape, out_hw, self._geom)
        return np.asarray(dx[0, 0] if unbatched else dx[0], dtype=np.float64)
