"""Layer objects for networks on analog tiles, driven from the user's own loop (NumPy in and out).

:class:`AnalogLinear` keeps its weights on tiles through a training algorithm's state (one
:meth:`~pulsetrain.algorithms.Algorithm.start` per layer). Its forward pass ``W̄ x`` and backward
pass ``W̄ᵀ δ`` go through the tiles' periphery (:class:`~pulsetrain.IOParameters`, shared/theory.md
§2.5), and :meth:`~Layer.update` is the algorithm's step with the cached layer input x and
back-propagated error δ, the outer-product factors a tile consumes. :class:`DigitalLinear` is the
same layer in float64 with plain SGD. Activations (:class:`ActivationLayer`), biases and
:func:`softmax_cross_entropy` are plain NumPy float64. Convolutions, pooling and flattening are
in :mod:`pulsetrain.conv`. :class:`Sequential` chains layers; its
:meth:`~Sequential.train_batch` is the training step of :class:`pulsetrain.problems.Classifier`,
so a network built here and trained in a loop gives the numbers :func:`pulsetrain.run` gives.

Every array has the replica axis first: inputs are ``(R, B, *in_shape)`` (``(R, B, in)`` for a
linear layer, whose weights are ``(R, out, in)``; a layer declares its per-sample feature shapes
:attr:`~Layer.in_shape` and :attr:`~Layer.out_shape`, so (C, H, W) features fit too); with one
replica, inputs without the replica axis are accepted too and the outputs keep the input's rank.
A forward pass with ``exact=True`` uses the weights read exactly, draws no random numbers and
caches nothing, so evaluating a network never changes its training.

Examples
--------
>>> import numpy as np
>>> import pulsetrain as pt
>>> from pulsetrain.algorithms import AnalogSGD
>>> seeds = np.random.SeedSequence(0).spawn(2)
>>> algo = AnalogSGD(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
>>> net = Sequential(AnalogLinear(4, 8, algo, rng=seeds[0]), Sigmoid(),
...                  AnalogLinear(8, 3, algo, rng=seeds[1]))
>>> x, labels = np.random.default_rng(0).uniform(size=(5, 4)), np.array([0, 1, 2, 1, 0])
>>> net.train_batch(x, labels, step=0).shape     # the loss per replica
(1,)
>>> net.predict(x).shape
(5,)
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterable, Iterator
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    Bool,
    Constraint,
    InstanceOf,
    Integral,
    Interval,
    parameter_error,
    real_array,
)
from pulsetrain.algorithms.base import Algorithm, AlgorithmState
from pulsetrain.algorithms.sgd import DigitalSGD
from pulsetrain.errors import NonFiniteError, ParameterError
from pulsetrain.mapping import MappingParameter, map_weights
from pulsetrain.periphery import IOParameters
from pulsetrain.rng import as_seed_sequence, replica_generator
from pulsetrain.streams import PURPOSE_INIT
from pulsetrain.tile import AnalogTile, Backend, _shape_error
from pulsetrain.updates import Phase

__all__ = [
    "Activation",
    "ActivationLayer",
    "AnalogLinear",
    "DigitalLinear",
    "Layer",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "softmax_cross_entropy",
    "uniform_weights",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CountArray = npt.NDArray[np.uint64]
Seed = int | np.random.SeedSequence | np.random.Generator | None


_SIZE = Integral(1, 1 << 24)
_REPLICAS = Integral(1, 1 << 24)
_STEP = Integral(0, 2**63 - 1)
_LR = Interval(0.0, None, closed="left")
_IO = InstanceOf((IOParameters, type(None)))
_MAPPING = InstanceOf((MappingParameter, type(None)))


class Activation(enum.Enum):
    """Digital activation between layers."""

    SIGMOID = "sigmoid"
    RELU = "relu"
    TANH = "tanh"
    IDENTITY = "identity"

    def __call__(self, z: FloatArray) -> FloatArray:
        """Apply the activation element-wise."""
        if self is Activation.SIGMOID:
            return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)
        if self is Activation.RELU:
            return np.maximum(z, 0.0)
        if self is Activation.TANH:
            return np.tanh(z)
        return z

    def derivative(self, z: FloatArray, a: FloatArray) -> FloatArray:
        """Return dA/dz given the pre-activation z and the activation a."""
        if self is Activation.SIGMOID:
            return a * (1.0 - a)
        if self is Activation.RELU:
            return (z > 0.0).astype(np.float64)
        if self is Activation.TANH:
            return 1.0 - a * a
        return np.ones_like(z)


# ----------------------------------------------------------------------------------- helpers
def _check(constraint: Constraint, name: str, owner: str, value: Any) -> Any:
    return constraint.validate(value, name=name, owner=owner)


def _order_error(name: str, owner: str, allowed: str, got: str) -> ParameterError:
    """Build the error of a call out of order (e.g. backward before forward)."""
    return ParameterError(
        f"The {name!r} parameter of {owner} must be {allowed}. Got {got} instead."
    )


def _no_forward(layer: object) -> ParameterError:
    return _order_error(
        "grad",
        f"{type(layer).__name__}.backward",
        "passed after a training forward(x) and before the update that consumes it",
        "a gradient with no such forward pass",
    )


def _non_finite(name: str, owner: str) -> NonFiniteError:
    return NonFiniteError(
        f"The {name!r} parameter of {owner} must be finite. Got an array with NaN or inf instead."
    )


def _as_real_array(name: str, owner: str, value: object, *, copy: bool) -> FloatArray:
    """Coerce to float64 (a private copy when ``copy``); ShapeError/NonFiniteError otherwise."""
    arr = real_array(name, owner, value, copy=copy)
    if not np.isfinite(arr).all():
        raise _non_finite(name, owner)
    return arr


def _batch_shape(
    replicas: int | None, in_shape: tuple[int, ...] | None, rank: int | None = None
) -> str:
    r = "R" if replicas is None else str(replicas)
    if in_shape is not None:
        w = ", ".join(str(n) for n in in_shape)
    else:
        w = "C, H, W" if rank == 3 else "n"
    alt = f" or (B, {w})" if replicas in (None, 1) else ""
    return f"an array of shape ({r}, B, {w}){alt} with B ≥ 1"


def _width(shape: tuple[int, ...] | None) -> int | None:
    """Return the size of a 1-D feature shape, None for another or an unfixed one."""
    return shape[0] if shape is not None and len(shape) == 1 else None


def uniform_weights(generators: Iterable[np.random.Generator], out: int, inp: int) -> FloatArray:
    """Draw the standard initial weights, uniform on ±1/√fan_in, one generator per replica.

    Parameters
    ----------
    generators : iterable of numpy.random.Generator
        One per replica, in replica order.
    out, inp : int
        Output and input sizes (``inp`` is the fan-in).

    Returns
    -------
    numpy.ndarray
        Shape ``(R, out, inp)``.

    Examples
    --------
    >>> w = uniform_weights([np.random.default_rng(0)], 3, 4)
    >>> w.shape, bool(np.abs(w).max() <= 0.5)
    ((1, 3, 4), True)
    """
    return np.stack([g.uniform(-1.0, 1.0, size=(out, inp)) / np.sqrt(inp) for g in generators])


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True), dtype=np.float64)


def _mean_log_loss(p: FloatArray, labels: IntArray) -> FloatArray:
    """Mean over the batch axis of −log p[label] (p floored at 1e-300), shape ``p.shape[:-2]``."""
    n_b, n_c = p.shape[-2:]
    p3, y2 = p.reshape(-1, n_b, n_c), labels.reshape(-1, n_b)
    # Gathered sample-major (B the outer axis of memory), the layout of ``p[:, arange(B), y]``
    # that the Classifier's recorded loss has always had: NumPy then sums the batch in sample
    # order rather than pairwise (for R > 1), and the recorded curves stay bit-identical.
    picked = p3[np.arange(len(y2))[None, :], np.arange(n_b)[:, None], y2.T].T
    loss = -np.log(np.maximum(picked, 1e-300)).mean(axis=-1)
    return np.asarray(loss.reshape(p.shape[:-2]), dtype=np.float64)


def _ce_grad(p: FloatArray, labels: IntArray) -> FloatArray:
    """Return (p − onehot(labels)) / B, the gradient of the mean cross-entropy w.r.t. the logits."""
    n_b = p.shape[-2]
    grad = p.copy()
    flat = grad.reshape(-1, n_b, grad.shape[-1])  # a view: grad is a fresh C-contiguous array
    flat[np.arange(len(flat))[:, None], np.arange(n_b)[None, :], labels.reshape(-1, n_b)] -= 1.0
    grad /= n_b  # mean-reduced cross-entropy: 1/batch goes into δ (theory.md §2.3(c))
    return grad


def _check_labels(
    name: str, owner: str, labels: object, shape: tuple[int, ...], n: int
) -> IntArray:
    arr = np.asarray(labels)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise _shape_error(name, owner, "an array of integer class labels", f"dtype {arr.dtype}")
    if arr.shape != shape:
        raise _shape_error(name, owner, f"an array of shape {shape}", f"shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = int(arr.min()) if arr.min() < 0 else int(arr.max())
        raise parameter_error(name, owner, f"class labels in the range [0, {n - 1}]", bad)
    return arr.astype(np.int64, copy=False)


def softmax_cross_entropy(
    logits: npt.ArrayLike, labels: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Return the softmax cross-entropy, mean over the batch, and its gradient w.r.t. the logits.

    Parameters
    ----------
    logits : array_like
        Shape ``(..., B, C)``: B samples of C classes (e.g. ``(R, B, C)``), finite, B ≥ 1.
    labels : array_like of int
        Shape ``(..., B)``, each in ``[0, C)``.

    Returns
    -------
    loss : numpy.ndarray
        ``mean_b −log softmax(z_b)[y_b]``, shape ``(...)`` (a 0-d array for 2-D logits).
    grad : numpy.ndarray
        ``(softmax(z) − onehot(y)) / B``, the shape of ``logits``.

    Raises
    ------
    ShapeError
        Logits not an array of at least two dimensions, or labels of the wrong shape or dtype.
    NonFiniteError
        NaN or inf in the logits.
    ParameterError
        A label out of range.

    Examples
    --------
    >>> loss, grad = softmax_cross_entropy(np.zeros((2, 4)), [1, 3])
    >>> round(float(loss), 6), grad[0].tolist()
    (1.386294, [0.125, -0.375, 0.125, 0.125])
    """
    owner = "softmax_cross_entropy"
    z = _as_real_array("logits", owner, logits, copy=False)
    if z.ndim < 2 or z.shape[-2] < 1 or z.shape[-1] < 1:
        raise _shape_error("logits", owner, "an array of shape (..., B, C)", f"shape {z.shape}")
    y = _check_labels("labels", owner, labels, z.shape[:-1], z.shape[-1])
    p = _softmax(z)
    return _mean_log_loss(p, y), _ce_grad(p, y)


# ----------------------------------------------------------------------------------- layers
class Layer(abc.ABC):
    """Base of the layers: forward, backward and update on NumPy arrays, replica axis first.

    A training forward pass caches what the backward pass and the update need; ``exact=True``
    evaluates without caching or drawing random numbers.

    Batches are ``(R, B, *feature_shape)``: a layer declares the feature shape of one sample it
    takes and gives, :attr:`in_shape` and :attr:`out_shape` (``(n,)`` for a linear layer,
    ``(C, H, W)`` for a convolution). ``replicas``, ``in_shape`` and ``out_shape`` are None where
    a layer does not fix them (activations, which take any feature shape).
    """

    replicas: int | None
    in_shape: tuple[int, ...] | None
    """Feature shape of one input sample (after the replica and batch axes); None: any."""
    out_shape: tuple[int, ...] | None
    """Feature shape of one output sample; None: the input's."""

    @property
    def in_features(self) -> int | None:
        """The input width of a layer with 1-D features (``in_shape[0]``); else None."""
        return _width(self.in_shape)

    @property
    def out_features(self) -> int | None:
        """The output width of a layer with 1-D features (``out_shape[0]``); else None."""
        return _width(self.out_shape)

    _feature_rank: int | None = None
    """Rank of the features a layer with no fixed :attr:`in_shape` takes (None: any, read as 1
    when telling a batch without the replica axis apart); (C, H, W) for pooling."""
    _eval_rows: int | None = None
    """Samples (summed over replicas) per chunk of an exact evaluation (None: the whole batch at
    once); layers with large intermediates (convolutions' patch matrices) bound its memory."""

    def __init__(self) -> None:
        self._last_shape: tuple[int, ...] | None = None

    def output_shape(self, in_shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Return the feature shape of the output for inputs of feature shape ``in_shape``.

        Parameters
        ----------
        in_shape : tuple of int or None
            The feature shape of one input sample (None: unknown).

        Returns
        -------
        tuple of int or None
            :attr:`out_shape` where the layer fixes it, else what it makes of ``in_shape``
            (the same shape for an activation).

        Raises
        ------
        ParameterError
            Inputs of that shape do not fit the layer (e.g. smaller than a pooling window).
        """
        return self.out_shape if self.out_shape is not None else in_shape

    # ------------------------------------------------------------------ public entry points
    def forward(self, x: npt.ArrayLike, *, exact: bool = False) -> FloatArray:
        """Return the layer's output for a batch.

        Parameters
        ----------
        x : array_like
            Inputs, shape ``(R, B, *in_shape)``, or ``(B, *in_shape)`` when R = 1; finite,
            B ≥ 1.
        exact : bool, optional
            False (default): a training pass through the periphery, cached for
            :meth:`backward`. True: exact arithmetic on the weights read exactly, with no random
            numbers drawn and nothing cached (evaluation).

        Returns
        -------
        numpy.ndarray
            Outputs, ``(R, B, *out_shape)``, or ``(B, *out_shape)`` for an input without the
            replica axis.

        Raises
        ------
        ShapeError
            A wrong shape (replicas, width) or not real numbers.
        NonFiniteError
            NaN or inf.
        """
        owner = f"{type(self).__name__}.forward"
        _check(Bool(), "exact", owner, exact)
        x3, squeeze = self._as_batch("x", owner, x, copy=not exact)
        y = self._forward(x3, exact=bool(exact))
        if not exact:
            y = y.copy()  # the caller's own: an activation layer caches its output
        return y[0] if squeeze else y

    @overload
    def backward(self, grad: npt.ArrayLike) -> FloatArray: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: Literal[True]) -> FloatArray: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: Literal[False]) -> None: ...
    @overload
    def backward(self, grad: npt.ArrayLike, *, input_grad: bool) -> FloatArray | None: ...
    def backward(self, grad: npt.ArrayLike, *, input_grad: bool = True) -> FloatArray | None:
        """Back-propagate the loss gradient w.r.t. the output of the last training forward pass.

        Parameters
        ----------
        grad : array_like
            dL/d(output), the shape of the last :meth:`forward` output; finite.
        input_grad : bool, optional
            Also return dL/d(input) (default). False only caches what :meth:`update` needs,
            skipping the backward pass through the first weighted layer (one tile pass fewer,
            as :meth:`Sequential.train_batch` does).

        Returns
        -------
        numpy.ndarray or None
            dL/d(input), the shape of the forward input; None when ``input_grad`` is False.

        Raises
        ------
        ParameterError
            No training forward pass to differentiate.
        ShapeError, NonFiniteError
            A gradient of the wrong shape, or not finite.
        """
        owner = f"{type(self).__name__}.backward"
        _check(Bool(), "input_grad", owner, input_grad)
        if self._last_shape is None:
            raise _no_forward(self)
        shape = self._last_shape
        g = _as_real_array("grad", owner, grad, copy=True)
        squeeze = g.ndim == len(shape) - 1 and shape[0] == 1
        if squeeze:
            g = g[np.newaxis]
        if g.shape != shape:
            want = f"{shape} or {shape[1:]}" if shape[0] == 1 else str(shape)
            raise _shape_error(
                "grad", owner, f"an array of the forward output's shape {want}", f"shape {g.shape}"
            )
        if not input_grad:
            self._record(g)
            return None
        out = self._backward(g)
        return out[0] if squeeze else out

    def update(self, step: int) -> None:
        """Apply the training step with the cached input and gradient.

        Parameters
        ----------
        step : int
            Index of this training step, at least 0 (algorithms with periodic transfers or
            random choppers key them on it; count steps from 0).

        Raises
        ------
        ParameterError
            A bad step, or a weighted layer with no gradient cached by :meth:`backward`.
        """
        owner = f"{type(self).__name__}.update"
        step = _check(_STEP, "step", owner, step)
        if not self._ready():
            raise _order_error(
                "step",
                owner,
                "given after forward(x) and backward(grad) (each weighted layer then has its "
                "input and gradient cached)",
                f"update({step}) with none cached",
            )
        self._update(step)

    # ------------------------------------------------------------------ the work (R, B, *features)
    @abc.abstractmethod
    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        """Map (R, B, *in_shape) to (R, B, *out_shape); a training pass records ``_last_shape``."""

    @abc.abstractmethod
    def _backward(self, grad: FloatArray) -> FloatArray:
        """Map dL/dy to dL/dx, caching what the update needs."""

    def _record(self, grad: FloatArray) -> None:
        """Cache what the update needs from dL/dy without computing dL/dx."""
        self._backward(grad)

    @abc.abstractmethod
    def _update(self, step: int) -> None:
        """Apply the step (no-op for a layer without weights); the caches are :meth:`_ready`."""

    def _ready(self) -> bool:
        """Tell whether :meth:`_update` has what it needs (always, without weights)."""
        return True

    @property
    @abc.abstractmethod
    def trainable(self) -> bool:
        """Whether the layer (or one inside it) has weights that :meth:`update` changes."""

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far per replica, by phase, summed over tiles.

        Returns
        -------
        dict
            ``{"update": (R,), "transfer": (R,), "calibration": (R,)}``; empty for a layer
            without replicas.
        """
        return {}

    def _as_batch(
        self, name: str, owner: str, value: object, *, copy: bool
    ) -> tuple[FloatArray, bool]:
        arr = _as_real_array(name, owner, value, copy=copy)
        # (R, B, *in_shape), or (B, *in_shape) with one replica; any feature shape of rank ≥ 1
        # where the layer does not fix it (so a 2-D array is then one replica's batch).
        if self.in_shape is not None:
            rank = len(self.in_shape)
        else:
            rank = 1 if self._feature_rank is None else self._feature_rank
        squeeze = arr.ndim == 1 + rank and self.replicas in (None, 1)
        if squeeze:
            arr = arr[np.newaxis]
        if (
            arr.ndim < 3
            or arr.shape[1] < 1
            or (self.replicas is not None and arr.shape[0] != self.replicas)
            or (self.in_shape is not None and arr.shape[2:] != self.in_shape)
            or (self._feature_rank is not None and arr.ndim != 2 + self._feature_rank)
        ):
            raise _shape_error(
                name,
                owner,
                _batch_shape(self.replicas, self.in_shape, self._feature_rank),
                f"shape {arr.shape}",
            )
        return arr, squeeze


class _LayerShape:
    """What Algorithm.start needs of an instance: sizes, replicas and initial weights."""

    def __init__(self, w0: FloatArray) -> None:
        self.replicas, self.out_size, self.in_size = w0.shape
        self.w0 = w0

    def initial_weights(self) -> FloatArray:
        return self.w0.copy()


class _Linear(Layer):
    """``y = W̄ x + b`` with W̄ held by an algorithm's state; the bias is digital (plain SGD).

    With an active :class:`~pulsetrain.mapping.MappingParameter`, ``y = α ⊙ s ⊙ (W̄ x) + b``
    (see :mod:`pulsetrain.mapping`). The mapping and its scales are class attributes (None) that
    an instance overrides only when it has them, so a layer without a mapping keeps exactly its
    former attributes and state dict.
    """

    mapping: MappingParameter | None = None
    """The weight mapping (None: none)."""
    _mapping_scales: FloatArray | None = None
    """Fixed mapping scales s, (R, out) or (R, 1); None without ``weight_scaling_omega``."""
    _out_alpha: FloatArray | None = None
    """Learned output scales α, (R, out) or (R, 1); None without ``learn_out_scaling``."""
    _z: FloatArray | None = None
    """The last training forward output before α (a per-step cache for α's gradient)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        algorithm: Algorithm,
        *,
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
        super().__init__()
        owner = type(self).__name__
        n_in: int = _check(_SIZE, "in_features", owner, in_features)
        n_out: int = _check(_SIZE, "out_features", owner, out_features)
        self.in_shape: tuple[int, ...] = (n_in,)
        self.out_shape: tuple[int, ...] = (n_out,)
        self.replicas = _check(_REPLICAS, "replicas", owner, replicas)
        self.has_bias: bool = _check(Bool(), "bias", owner, bias)
        self.bias_lr: float = _check(_LR, "bias_lr", owner, bias_lr)
        self.forward_io: IOParameters | None = _check(_IO, "forward_io", owner, forward_io)
        self.backward_io: IOParameters | None = _check(_IO, "backward_io", owner, backward_io)
        offset = _check(
            Integral(0, (1 << 32) - self.replicas), "replica_offset", owner, replica_offset
        )
        if n_threads is not None:
            _check(Integral(1, 1024), "n_threads", owner, n_threads)
        mapping = _check(_MAPPING, "mapping", owner, mapping)
        try:
            backend = Backend(backend)
        except ValueError:
            raise parameter_error("backend", owner, "'rust' or 'twin'", backend) from None
        self._backend = backend
        self._n_threads = n_threads
        root = as_seed_sequence(rng)
        self.seed_entropy: int | list[int] | None = root.entropy  # type: ignore[assignment]
        shape = (self.replicas, n_out, n_in)
        if weights is None:
            gens = (replica_generator(root, PURPOSE_INIT, offset + r) for r in range(shape[0]))
            w0 = uniform_weights(gens, n_out, n_in)
        else:
            w0 = _as_real_array("weights", owner, weights, copy=True)
            if w0.ndim == 2 and self.replicas == 1:
                w0 = w0[np.newaxis]
            if w0.shape != shape:
                alt = f" or {shape[1:]}" if self.replicas == 1 else ""
                raise _shape_error(
                    "weights", owner, f"an array of shape {shape}{alt}", f"shape {w0.shape}"
                )
        if mapping is not None:
            w0 = self._set_mapping(mapping, w0)
        self.algorithm = algorithm
        self._state = algorithm.start(
            _LayerShape(w0),  # type: ignore[arg-type]
            root,
            n_threads=n_threads,
            replica_offset=offset,
            backend=backend,
        )
        self._b: FloatArray | None = np.zeros(shape[:2]) if self.has_bias else None
        self._x: FloatArray | None = None
        self._d: FloatArray | None = None

    def _set_mapping(self, mapping: MappingParameter, w0: FloatArray) -> FloatArray:
        """Keep the mapping, s and α; return the weights to program (``w0 / s``, else ``w0``)."""
        self.mapping = mapping
        if mapping.weight_scaling_omega is not None:
            w0, self._mapping_scales = map_weights(w0, mapping)
        if mapping.learn_out_scaling:
            n_alpha = w0.shape[1] if mapping.out_scaling_columnwise else 1
            self._out_alpha = np.ones((w0.shape[0], n_alpha))
        return w0

    def _out_scales(self) -> FloatArray | None:
        """Return s ⊙ α, (R, out) or (R, 1); None without a mapping."""
        s, alpha = self._mapping_scales, self._out_alpha
        if s is None:
            return None if alpha is None else alpha.copy()
        return s.copy() if alpha is None else s * alpha

    # ------------------------------------------------------------------ state
    @property
    def trainable(self) -> bool:
        """Always True: the weights (and bias) change in :meth:`update`."""
        return True

    @property
    def state(self) -> AlgorithmState:
        """The algorithm's live state: tiles, digital buffers, ``sp_error()``."""
        return self._state

    @property
    def weights(self) -> FloatArray:
        """The weights the layer computes with, read exactly, shape (R, out, in).

        W̄ (the algorithm's effective weights), times ``s ⊙ α`` per output with a mapping
        (aihwkit's ``get_weights(apply_weight_scaling=True)``).
        """
        w = self._state.effective_weights()
        scales = self._out_scales()
        return w if scales is None else w * scales[:, :, None]

    @property
    def analog_weights(self) -> FloatArray:
        """The weights W̄ on the tiles (without the mapping's digital scales), (R, out, in)."""
        return self._state.effective_weights()

    @property
    def mapping_scales(self) -> FloatArray | None:
        """A copy of the fixed mapping scales s, (R, out) or (R, 1); None when not scaled."""
        return None if self._mapping_scales is None else self._mapping_scales.copy()

    @property
    def out_scaling_alpha(self) -> FloatArray | None:
        """A copy of the learned output scales α, (R, out) or (R, 1); None when not learned."""
        return None if self._out_alpha is None else self._out_alpha.copy()

    @property
    def bias(self) -> FloatArray | None:
        """A copy of the digital bias, shape (R, out); None without a bias."""
        return None if self._b is None else self._b.copy()

    @property
    def tiles(self) -> dict[str, AnalogTile]:
        """The algorithm's tiles by name (``"W"``, ``"P"``, …); empty for a digital layer."""
        return dict(self._state.tiles)

    def arrays(self) -> dict[str, FloatArray]:
        """Return every array and buffer of the algorithm by name, (R, out, in) each.

        Returns
        -------
        dict
            E.g. ``{"W": …}`` (Analog SGD, digital), ``{"W": …, "P": …}`` (residual learning),
            plus digital buffers such as ``"H"`` or ``"Q"``.
        """
        return self._state.arrays()

    def pulse_counts(self, phase: Phase | str = Phase.UPDATE) -> dict[str, CountArray]:
        """Return the pulses fired per element in one phase, per tile.

        Parameters
        ----------
        phase : Phase or str, optional
            "update" (default), "transfer" or "calibration".

        Returns
        -------
        dict
            Tile name → uint64 counts of shape (R, out, in); empty for a digital layer.
        """
        return {name: t.pulse_counts(phase) for name, t in self._state.tiles.items()}

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far per replica, by phase, summed over the tiles.

        Returns
        -------
        dict
            ``{"update": (R,), "transfer": (R,), "calibration": (R,)}``.
        """
        return self._state.pulse_totals()

    # ------------------------------------------------------------------ the work
    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        if exact:
            # In index order, as a tile's perfect pass sums (the twin replays the same bits).
            w = self._state.effective_weights()
            z = self._backend.exact_products(w, x, n_threads=self._n_threads)
        else:
            z = self._state.forward(x, self.forward_io)
            self._x, self._d, self._last_shape = x, None, (*x.shape[:2], *self.out_shape)
        if self._mapping_scales is not None:
            z = z * self._mapping_scales[:, None, :]  # aihwkit post_forward: the tile output × s
        if self._out_alpha is not None:
            if not exact:
                self._z = z  # dL/dα = Σ δ ⊙ z (pulsetrain.mapping, item 6)
            z = z * self._out_alpha[:, None, :]
        if self._b is not None:
            z = z + self._b[:, None, :]
        return np.asarray(z, dtype=np.float64)

    def _record(self, grad: FloatArray) -> None:
        if self._x is None:
            raise _no_forward(self)
        self._d = grad

    def _tile_backward(self, grad: FloatArray) -> FloatArray:
        """Return W̄ᵀ(s ⊙ α ⊙ δ) through the backward periphery (aihwkit's pre_backward)."""
        if self._out_alpha is not None:
            grad = grad * self._out_alpha[:, None, :]
        if self._mapping_scales is not None:
            grad = grad * self._mapping_scales[:, None, :]
        return self._state.backward(grad, self.backward_io)

    def _backward(self, grad: FloatArray) -> FloatArray:
        self._record(grad)
        return self._tile_backward(grad)

    def _ready(self) -> bool:
        return self._x is not None and self._d is not None

    def _update(self, step: int) -> None:
        x, d = self._x, self._d
        if x is None or d is None:  # pragma: no cover - update() checks _ready() first
            raise _no_forward(self)
        alpha, scales = self._out_alpha, self._mapping_scales
        d_tile = d
        if alpha is not None:
            d_tile = d_tile * alpha[:, None, :]  # autograd's grad_output: α ⊙ δ
        if scales is not None:
            d_tile = d_tile / scales[:, None, :]  # aihwkit pre_update: divided by s
        self._state.step(step, x, d_tile)
        if self._b is not None:
            self._b = self._b - self.bias_lr * d.sum(axis=1)
        if alpha is not None:
            z = self._z
            if z is None:  # pragma: no cover - every training forward caches it
                raise _no_forward(self)
            grad_alpha = (d * z).sum(axis=1)  # (R, out)
            if alpha.shape[1] == 1:
                grad_alpha = grad_alpha.sum(axis=1, keepdims=True)
            self._out_alpha = alpha - self.bias_lr * grad_alpha
            self._z = None
        self._x = self._d = None  # consumed: the next update needs a new forward and backward


class AnalogLinear(_Linear):
    """A linear layer on analog tiles, trained by any algorithm; the bias is digital.

    The weights live on the tiles of ``algorithm.start(...)`` for this layer's shape (its own
    devices and random streams). :meth:`forward` computes ``W̄ x + b`` through the forward
    periphery and caches x; :meth:`backward` returns ``W̄ᵀ δ`` through the backward periphery and
    caches δ; :meth:`update` applies the algorithm's step with (x, δ), whose gradient is
    ``Σ_b δ_b x_bᵀ``, and the bias SGD step ``b ← b − bias_lr Σ_b δ_b``.

    Parameters
    ----------
    in_features, out_features : int
        Inputs and outputs, each in [1, 2²⁴].
    algorithm : Algorithm
        E.g. :class:`~pulsetrain.algorithms.AnalogSGD` or
        :class:`~pulsetrain.algorithms.ResidualLearningV2`, with its device and update mode.
    bias : bool, optional
        A digital bias (default True), initialised to 0.
    bias_lr : float or None, optional
        Learning rate of the bias, at least 0; None (default) uses ``algorithm.lr``.
    forward_io, backward_io : IOParameters or None, optional
        The periphery of the forward and backward passes; default aihwkit's ``IOParameters()``,
        None for perfect IO (exact ``W̄ x``).
    replicas : int, optional
        Independent replicas R (own weights, devices and noise), in [1, 2²⁴]. Default 1.
    rng : int, SeedSequence, Generator or None, optional
        Seed of the initial weights and of every device map and pulse; None draws fresh entropy
        (recorded in :attr:`seed_entropy`). Give each layer its own seed, e.g. from
        ``numpy.random.SeedSequence(seed).spawn(n_layers)``.
    n_threads : int or None, optional
        Kernel threads, 1 to 1024; None uses every core. Results do not depend on it.
    weights : array_like or None, optional
        Initial weights, shape (R, out, in) or (out, in) when R = 1 (programmed onto the tiles,
        so clipped to the devices' bounds); None (default) draws them uniform on ±1/√in_features
        from ``rng``, replica r from its own stream.
    replica_offset : int, optional
        Global index of replica 0 (replica r equals replica r of a larger layer). Default 0.
    backend : Backend or str, optional
        ``"rust"`` (default) or ``"twin"`` (the NumPy twin, same numbers, slowly).
    mapping : MappingParameter or None, optional
        aihwkit's weight scaling and learned output scales (:mod:`pulsetrain.mapping`): the
        initial weights are programmed as ``w / s`` and the outputs are ``α ⊙ s ⊙ W̄x + b``;
        α (if learned) takes SGD steps at ``bias_lr``. None (default): none.

    Raises
    ------
    ParameterError
        A size, flag, learning rate, IO config, seed, thread count, mapping or algorithm out of
        range.
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import ResidualLearningV2
    >>> algo = ResidualLearningV2(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> layer = AnalogLinear(4, 3, algo, replicas=2, rng=0)
    >>> y = layer.forward(np.ones((2, 5, 4)))            # (R, B, in) -> (R, B, out)
    >>> dx = layer.backward(np.full((2, 5, 3), 0.1))     # dL/dx through the backward periphery
    >>> layer.update(step=0)                              # P, H, W and the bias move
    >>> y.shape, dx.shape, sorted(layer.arrays())
    ((2, 5, 3), (2, 5, 4), ['H', 'P', 'W'])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        algorithm: Algorithm,
        *,
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
        if not isinstance(algorithm, Algorithm):
            raise parameter_error(
                "algorithm", "AnalogLinear", "a pulsetrain algorithm config", algorithm
            )
        if bias_lr is None:
            bias_lr = getattr(algorithm, "lr", None)
            if bias_lr is None:  # pragma: no cover - every algorithm has an lr
                raise parameter_error(
                    "bias_lr", "AnalogLinear", "a float ≥ 0 for an algorithm without lr", None
                )
        super().__init__(
            in_features,
            out_features,
            algorithm,
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
        """Show the sizes, replicas, bias and algorithm."""
        return (
            f"AnalogLinear(in_features={self.in_features}, out_features={self.out_features}, "
            f"replicas={self.replicas}, bias={self.has_bias}, algorithm={self.algorithm!r})"
        )


class DigitalLinear(_Linear):
    """A float64 linear layer trained with plain SGD: W ← W − lr Σ_b δ_b x_bᵀ, b ← b − lr Σ_b δ_b.

    The same interface as :class:`AnalogLinear` (its state is :class:`DigitalSGD`'s).

    Parameters
    ----------
    in_features, out_features : int
        Inputs and outputs, each in [1, 2²⁴].
    lr : float
        Learning rate of the weights and the bias, at least 0.
    bias : bool, optional
        A bias (default True), initialised to 0.
    replicas : int, optional
        Independent replicas R, in [1, 2²⁴]. Default 1.
    rng : int, SeedSequence, Generator or None, optional
        Seed of the initial weights (unused when ``weights`` is given).
    weights : array_like or None, optional
        Initial weights, shape (R, out, in) or (out, in) when R = 1; None draws them uniform on
        ±1/√in_features from ``rng``, as :class:`AnalogLinear` does.
    replica_offset : int, optional
        Global index of replica 0. Default 0.

    Raises
    ------
    ParameterError
        A size, flag, learning rate or seed out of range.
    ShapeError, NonFiniteError
        Initial weights of the wrong shape, or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> layer = DigitalLinear(2, 1, lr=0.5, weights=[[1.0, 2.0]])
    >>> layer.forward([[1.0, 1.0]]).tolist()
    [[3.0]]
    >>> _ = layer.backward([[1.0]], input_grad=False)
    >>> layer.update(step=0)
    >>> layer.weights.tolist(), layer.bias.tolist()
    ([[[0.5, 1.5]]], [[-0.5]])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        lr: float,
        bias: bool = True,
        replicas: int = 1,
        rng: Seed = None,
        weights: npt.ArrayLike | None = None,
        replica_offset: int = 0,
    ) -> None:
        lr = _check(_LR, "lr", "DigitalLinear", lr)
        super().__init__(
            in_features,
            out_features,
            DigitalSGD(lr=lr),
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
        """Show the sizes, replicas, bias and learning rate."""
        return (
            f"DigitalLinear(in_features={self.in_features}, out_features={self.out_features}, "
            f"lr={self.lr}, replicas={self.replicas}, bias={self.has_bias})"
        )


class ActivationLayer(Layer):
    """An element-wise digital activation; any number of replicas, any width.

    Parameters
    ----------
    activation : Activation
        The function (``Activation.SIGMOID``, ``RELU``, ``TANH`` or ``IDENTITY``, or its value).

    Raises
    ------
    ParameterError
        Not an :class:`Activation`.

    Examples
    --------
    >>> layer = ActivationLayer(Activation.RELU)
    >>> layer.forward([[-1.0, 2.0]]).tolist(), layer.backward([[5.0, 5.0]]).tolist()
    ([[0.0, 2.0]], [[0.0, 5.0]])
    """

    replicas = None
    in_shape = None
    out_shape = None

    def __init__(self, activation: Activation | str) -> None:
        super().__init__()
        try:
            self.activation = Activation(activation)
        except ValueError:
            allowed = ", ".join(repr(a.value) for a in Activation)
            raise parameter_error(
                "activation", type(self).__name__, f"an Activation (one of {allowed})", activation
            ) from None
        self._za: tuple[FloatArray, FloatArray] | None = None

    @property
    def trainable(self) -> bool:
        """Always False: an activation has no weights."""
        return False

    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        a = self.activation(x)
        if not exact:
            self._za, self._last_shape = (x, a), x.shape
        return a

    def _backward(self, grad: FloatArray) -> FloatArray:
        if self._za is None:
            raise _no_forward(self)
        return grad * self.activation.derivative(*self._za)

    def _update(self, step: int) -> None:
        return None

    def __repr__(self) -> str:
        """Name the activation."""
        return f"ActivationLayer({self.activation})"


class Sigmoid(ActivationLayer):
    """The logistic sigmoid, ``ActivationLayer(Activation.SIGMOID)``.

    Examples
    --------
    >>> Sigmoid().forward([[0.0]]).tolist()
    [[0.5]]
    """

    def __init__(self) -> None:
        super().__init__(Activation.SIGMOID)

    def __repr__(self) -> str:
        """``Sigmoid()``."""
        return "Sigmoid()"


class ReLU(ActivationLayer):
    """``max(z, 0)``, ``ActivationLayer(Activation.RELU)``.

    Examples
    --------
    >>> ReLU().forward([[-1.0, 1.0]]).tolist()
    [[0.0, 1.0]]
    """

    def __init__(self) -> None:
        super().__init__(Activation.RELU)

    def __repr__(self) -> str:
        """``ReLU()``."""
        return "ReLU()"


class Tanh(ActivationLayer):
    """``tanh(z)``, ``ActivationLayer(Activation.TANH)``.

    Examples
    --------
    >>> Tanh().forward([[0.0]]).tolist()
    [[0.0]]
    """

    def __init__(self) -> None:
        super().__init__(Activation.TANH)

    def __repr__(self) -> str:
        """``Tanh()``."""
        return "Tanh()"


class Sequential(Layer):
    """Layers applied in order, trained with softmax cross-entropy (or any loss you form).

    :meth:`train_batch` is one step of :class:`pulsetrain.problems.Classifier`: a training forward
    pass, the mean softmax cross-entropy, the backward pass (skipping the first weighted layer's
    input gradient) and every layer's update, last layer first.

    Parameters
    ----------
    *layers : Layer
        At least one, distinct objects, at least one with weights; every weighted layer has the
        same number of replicas, and each one's ``in_shape`` (``in_features``) is the feature
        shape the layers before it give (:meth:`Layer.output_shape`).

    Raises
    ------
    ParameterError
        No layers, a non-layer, a repeated layer, mismatched replicas or widths.

    Examples
    --------
    >>> import numpy as np
    >>> net = Sequential(DigitalLinear(2, 4, lr=0.5, rng=0), Tanh(),
    ...                  DigitalLinear(4, 2, lr=0.5, rng=1))
    >>> x, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])
    >>> first = net.train_batch(x, y, step=0)
    >>> for step in range(1, 50):
    ...     loss = net.train_batch(x, y, step)
    >>> bool(loss[0] < first[0]), net.predict(x).tolist()
    (True, [0, 1])
    """

    replicas: int

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        owner = "Sequential"
        if not layers:
            raise parameter_error("layers", owner, "at least one layer", layers)
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise parameter_error(f"layers[{k}]", owner, "a pulsetrain Layer", layer)
        if len({id(layer) for layer in layers}) != len(layers):
            raise parameter_error("layers", owner, "distinct layer objects", layers)
        reps = {layer.replicas for layer in layers if layer.replicas is not None}
        if not reps or not any(layer.trainable for layer in layers):
            raise parameter_error("layers", owner, "layers including one with weights", layers)
        if len(reps) > 1:
            raise parameter_error(
                "layers", owner, "layers with the same number of replicas", sorted(reps)
            )
        shape: tuple[int, ...] | None = None
        for k, layer in enumerate(layers):
            if layer.in_shape is not None and shape is not None and layer.in_shape != shape:
                if len(layer.in_shape) == 1 and len(shape) == 1:
                    raise parameter_error(
                        f"layers[{k}].in_features",
                        owner,
                        f"the previous layer's out_features ({shape[0]})",
                        layer.in_shape[0],
                    )
                raise parameter_error(
                    f"layers[{k}].in_shape",
                    owner,
                    f"the previous layer's out_shape ({shape})",
                    layer.in_shape,
                )
            shape = layer.output_shape(shape)
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.replicas = reps.pop()
        self.in_shape = next((lay.in_shape for lay in layers if lay.in_shape), None)
        self.out_shape = shape

    def __len__(self) -> int:
        """Return the number of layers."""
        return len(self.layers)

    def __getitem__(self, index: int) -> Layer:
        """Return the layer at ``index``."""
        return self.layers[index]

    def __iter__(self) -> Iterator[Layer]:
        """Iterate over the layers in order."""
        return iter(self.layers)

    def __repr__(self) -> str:
        """List the layers, one per line."""
        inner = "".join(f"\n  {layer!r}," for layer in self.layers)
        return f"Sequential({inner}\n)"

    @property
    def trainable(self) -> bool:
        """Always True: a Sequential holds at least one weighted layer."""
        return True

    def pulse_totals(self) -> dict[str, FloatArray]:
        """Return the pulses fired so far per replica, by phase, summed over every layer.

        Returns
        -------
        dict
            ``{"update": (R,), "transfer": (R,), "calibration": (R,)}``.
        """
        total: dict[str, FloatArray] = {}
        for layer in self.layers:
            for p, v in layer.pulse_totals().items():
                total[p] = total.get(p, np.zeros(self.replicas)) + v
        return total

    # ------------------------------------------------------------------ the work
    def _forward(self, x: FloatArray, *, exact: bool) -> FloatArray:
        h = x
        for layer in self.layers:
            h = layer._forward(h, exact=exact)
        if not exact:
            self._last_shape = h.shape
        return h

    def _backward(self, grad: FloatArray) -> FloatArray:
        for layer in reversed(self.layers):
            grad = layer._backward(grad)
        return grad

    def _record(self, grad: FloatArray) -> None:
        # Without the input gradient, stop at the first weighted layer: it needs δ for its
        # update but not W̄ᵀδ (one tile pass, and one tick of its streams, fewer).
        first = next(k for k, layer in enumerate(self.layers) if layer.trainable)
        for layer in reversed(self.layers[first + 1 :]):
            grad = layer._backward(grad)
        self.layers[first]._record(grad)

    def _ready(self) -> bool:
        return all(layer._ready() for layer in self.layers)

    def _update(self, step: int) -> None:
        for layer in reversed(self.layers):
            layer._update(step)

    def _train_batch(self, x: FloatArray, labels: IntArray, step: int) -> FloatArray:
        """Run one step (unchecked); return the softmax probabilities of the training pass."""
        p = _softmax(self._forward(x, exact=False))
        self._record(_ce_grad(p, labels))
        self._update(step)
        return p

    # ------------------------------------------------------------------ training and evaluation
    def _batch_and_labels(
        self, owner: str, x: npt.ArrayLike, labels: npt.ArrayLike, *, exact: bool
    ) -> tuple[FloatArray, IntArray, bool]:
        x3, squeeze = self._as_batch("x", owner, x, copy=not exact)
        want = x3.shape[1:2] if squeeze else x3.shape[:2]
        if self.out_features is None:  # pragma: no cover - a weighted layer fixes the width
            raise parameter_error("layers", owner, "a network with a known output width", None)
        y = _check_labels("labels", owner, labels, want, self.out_features)
        return x3, y.reshape(x3.shape[:2]), squeeze

    def train_batch(self, x: npt.ArrayLike, labels: npt.ArrayLike, step: int) -> FloatArray:
        """Run one training step on a batch with the mean softmax cross-entropy loss.

        Parameters
        ----------
        x : array_like
            Inputs, ``(R, B, in)`` or ``(B, in)`` when R = 1; finite.
        labels : array_like of int
            Classes in ``[0, out_features)``, ``(R, B)`` or ``(B,)`` to match ``x``.
        step : int
            Index of this training step, at least 0 (see :meth:`Layer.update`).

        Returns
        -------
        numpy.ndarray
            The batch loss of the training forward pass (periphery and all), per replica, (R,).

        Raises
        ------
        ShapeError, NonFiniteError, ParameterError
            Bad inputs, labels or step; nothing is changed then.
        """
        owner = "Sequential.train_batch"
        step = _check(_STEP, "step", owner, step)
        x3, y, _ = self._batch_and_labels(owner, x, labels, exact=False)
        return _mean_log_loss(self._train_batch(x3, y, step), y)

    def predict(self, x: npt.ArrayLike) -> IntArray:
        """Return the predicted classes: argmax of an exact forward pass (no randomness drawn).

        Parameters
        ----------
        x : array_like
            Inputs, ``(R, B, in)`` or ``(B, in)`` when R = 1; finite.

        Returns
        -------
        numpy.ndarray
            int64 classes, ``(R, B)`` or ``(B,)``.

        Raises
        ------
        ShapeError, NonFiniteError
            Bad inputs.
        """
        x3, squeeze = self._as_batch("x", "Sequential.predict", x, copy=False)
        pred = np.argmax(self._forward(x3, exact=True), axis=-1).astype(np.int64)
        return np.asarray(pred[0] if squeeze else pred, dtype=np.int64)

    def evaluate(self, x: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Return the mean cross-entropy and the error rate of an exact forward pass.

        Parameters
        ----------
        x : array_like
            Inputs, ``(R, B, in)`` or ``(B, in)`` when R = 1; finite.
        labels : array_like of int
            Classes, ``(R, B)`` or ``(B,)`` to match ``x``.

        Returns
        -------
        loss, error : numpy.ndarray
            Per replica, (R,) each; no random numbers are drawn and nothing is cached.

        Raises
        ------
        ShapeError, NonFiniteError, ParameterError
            Bad inputs or labels.
        """
        x3, y, _ = self._batch_and_labels("Sequential.evaluate", x, labels, exact=True)
        return self._evaluate(x3, y)

    def _evaluate(self, x: FloatArray, labels: IntArray) -> tuple[FloatArray, FloatArray]:
        rows = [lay._eval_rows for lay in self.layers if lay._eval_rows is not None]
        n_b = x.shape[1]
        if rows and n_b * x.shape[0] > min(rows):
            # Chunks of samples (each sample's logits depend on that sample alone), so the patch
            # matrices of a convolution stay small however large the evaluation set is.
            step = max(1, min(rows) // x.shape[0])  # the bound counts images of all replicas
            logits = np.concatenate(
                [self._forward(x[:, i : i + step], exact=True) for i in range(0, n_b, step)],
                axis=1,
            )
        else:
            logits = self._forward(x, exact=True)
        loss = _mean_log_loss(_softmax(logits), labels)
        err = (np.argmax(logits, axis=-1) != labels).mean(axis=-1)
        return loss, np.asarray(err, dtype=np.float64)
