"""Small networks trained on analog tiles: layers, MLP classifiers and their data.

The layers (:class:`AnalogLinear`, :class:`DigitalLinear`, :class:`ActivationLayer` and its
:class:`Sigmoid`, :class:`ReLU`, :class:`Tanh`, :class:`Sequential`, from
:mod:`pulsetrain.layers`) take NumPy arrays in and give NumPy arrays out, for a training loop of
your own. Each analog layer gets its own instance of the algorithm (its own tiles and seed); its
forward pass ``W̄ x`` and backward pass ``W̄ᵀ δ`` go through the tiles' periphery
(:class:`~pulsetrain.IOParameters`), and its update is the algorithm's step with the layer input x
and the back-propagated error δ, the outer-product factors an analog tile consumes. Activations,
biases, :func:`softmax_cross_entropy` and digital layers are plain NumPy float64.

A :class:`Classifier` is a problem like :class:`~pulsetrain.problems.LeastSquares`, so the same
:func:`pulsetrain.run` trains such a network with any algorithm, R replicas at once; each step is
:meth:`Sequential.train_batch`. Evaluation (the recorded loss and test error) uses the weights
read exactly, so recording never draws random numbers or changes a result.

Data: scikit-learn's bundled 8×8 digits (no download; extra ``data``), MNIST-style IDX files the
user already has (read with NumPy), and a synthetic teacher-student task.

Examples
--------
An MLP with an analog and a digital layer, trained in a loop of your own:

>>> import numpy as np
>>> import pulsetrain as pt
>>> from pulsetrain.algorithms import ResidualLearningV2
>>> x, y, x_test, y_test = Digits().load()                  # needs scikit-learn
>>> algo = ResidualLearningV2(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
>>> seeds = np.random.SeedSequence(0).spawn(2)              # one seed per layer
>>> net = Sequential(AnalogLinear(64, 32, algo, rng=seeds[0]), Sigmoid(),
...                  DigitalLinear(32, 10, lr=0.1, rng=seeds[1]))
>>> for step in range(300):
...     batch = np.arange(10 * step, 10 * step + 10) % len(y)
...     loss = net.train_batch(x[batch], y[batch], step)     # loss per replica, shape (1,)
>>> test_loss, test_error = net.evaluate(x_test, y_test)   # exact weights, no noise drawn
>>> bool(test_error[0] < 0.5)
True
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    Bool,
    InstanceOf,
    Integral,
    Interval,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms.base import Algorithm, AlgorithmState
from pulsetrain.config import ConfigMixin, register
from pulsetrain.layers import (
    PURPOSE_INIT,
    Activation,
    ActivationLayer,
    AnalogLinear,
    DigitalLinear,
    Layer,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    softmax_cross_entropy,
    uniform_weights,
)
from pulsetrain.periphery import IOParameters
from pulsetrain.problems.least_squares import Instance, Problem
from pulsetrain.rng import replica_generator

__all__ = [
    "Activation",
    "ActivationLayer",
    "AnalogLinear",
    "Classifier",
    "DigitalLinear",
    "Digits",
    "IDXDataset",
    "Layer",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TeacherStudent",
    "read_idx",
    "softmax_cross_entropy",
    "uniform_weights",
    "write_idx",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Split = tuple[FloatArray, IntArray, FloatArray, IntArray]

#: Spawn-key purposes under the run's root.
PURPOSE_ORDER = 12
PURPOSE_TEACHER = 13
LAYER = 0x1A7E


def _layer_seed(root: np.random.SeedSequence, layer: int) -> np.random.SeedSequence:
    """Return the seed of layer ``layer``'s tiles: ``(*root.spawn_key, LAYER, layer)``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, LAYER, layer))


# ----------------------------------------------------------------------------------- data
def _split(x: FloatArray, y: IntArray, test_fraction: float, seed: int) -> Split:
    gen = np.random.default_rng(np.random.SeedSequence(seed))
    order = gen.permutation(len(y))
    n_test = round(test_fraction * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Digits(ConfigMixin):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 classes; no download).

    Pixels are scaled from 0–16 to [0, 1]. The train/test split is fixed by ``split_seed``.

    Examples
    --------
    >>> Digits().test_fraction
    0.25
    """

    kind: ClassVar[str] = "digits"
    test_fraction: float = field(
        default=0.25, metadata=constrained(Interval(0.0, 1.0, closed="neither"))
    )
    """Fraction of the images held out for testing, in (0, 1)."""
    split_seed: int = field(default=0, metadata=constrained(Integral(0, 2**63 - 1)))
    """Seed of the fixed train/test split."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Digits
            The default split.
        """
        return cls()

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Return ``(x_train, y_train, x_test, y_test)``.

        Parameters
        ----------
        root : SeedSequence or None
            Unused (the split is fixed by ``split_seed``).

        Returns
        -------
        tuple
            Images as float64 rows in [0, 1] and integer labels.

        Raises
        ------
        ParameterError
            If scikit-learn (the ``data`` extra) is not installed.
        """
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise parameter_error(
                "dataset",
                "Digits",
                "usable with scikit-learn installed (pip install 'pulsetrain[data]')",
                "Digits()",
            ) from None
        bunch = load_digits()
        x = np.asarray(bunch.data, dtype=np.float64) / 16.0
        y = np.asarray(bunch.target, dtype=np.int64)
        return _split(x, y, self.test_fraction, self.split_seed)


def read_idx(path: str | Path) -> npt.NDArray[Any]:
    """Read an IDX file (the MNIST format), optionally gzip-compressed, with NumPy only.

    Parameters
    ----------
    path : str or pathlib.Path
        The file; ``.gz`` files are decompressed.

    Returns
    -------
    numpy.ndarray
        The array with the file's shape and dtype.

    Raises
    ------
    ParameterError
        If the file is missing or not a valid IDX file.
    """
    p = Path(path)
    if not p.exists():
        raise parameter_error("path", "read_idx", "an existing IDX file", str(p))
    raw = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in types:
        raise parameter_error("path", "read_idx", "an IDX file (magic 0x0000TTNN)", str(p))
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise parameter_error("path", "read_idx", "a complete IDX header", str(p))
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(types[raw[2]])
    count = int(np.prod(shape)) if shape else 1
    if len(raw) != header + count * dtype.itemsize:
        raise parameter_error(
            "path", "read_idx", f"an IDX file with {count} values of shape {shape}", str(p)
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: npt.ArrayLike) -> None:
    """Write an array as an IDX file (uint8, int8, int16, int32, float32 or float64).

    Parameters
    ----------
    path : str or pathlib.Path
        The destination; a ``.gz`` suffix compresses it.
    array : array_like
        The data.

    Raises
    ------
    ParameterError
        For a dtype IDX cannot hold.
    """
    a = np.asarray(array)
    codes = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}
    code = codes.get(a.dtype.str[1:])
    if code is None:
        raise parameter_error("array", "write_idx", "an array of an IDX dtype", str(a.dtype))
    header = bytes([0, 0, code, a.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in a.shape)
    data = header + a.astype(a.dtype.newbyteorder(">")).tobytes()
    p = Path(path)
    p.write_bytes(gzip.compress(data) if p.suffix == ".gz" else data)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class IDXDataset(ConfigMixin):
    """Images and labels from local IDX files (e.g. MNIST's four files), scaled to [0, 1].

    Examples
    --------
    >>> IDXDataset(train_images="a", train_labels="b", test_images="c", test_labels="d").scale
    255.0
    """

    kind: ClassVar[str] = "idx"
    train_images: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the training images (e.g. train-images-idx3-ubyte[.gz])."""
    train_labels: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the training labels."""
    test_images: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the test images."""
    test_labels: str = field(metadata=constrained(InstanceOf((str,))))
    """Path of the test labels."""
    scale: float = field(default=255.0, metadata=constrained(Interval(0.0, None, closed="neither")))
    """Pixels are divided by this (255 for MNIST)."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        IDXDataset
            MNIST's file names.
        """
        return cls(
            train_images="train-images-idx3-ubyte.gz",
            train_labels="train-labels-idx1-ubyte.gz",
            test_images="t10k-images-idx3-ubyte.gz",
            test_labels="t10k-labels-idx1-ubyte.gz",
        )

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Return ``(x_train, y_train, x_test, y_test)`` with images flattened to rows.

        Parameters
        ----------
        root : SeedSequence or None
            Unused.

        Returns
        -------
        tuple
            float64 image rows and int64 labels.

        Raises
        ------
        ParameterError
            If a file is missing or malformed, or image and label counts differ.
        """
        out = []
        for images, labels in (
            (self.train_images, self.train_labels),
            (self.test_images, self.test_labels),
        ):
            x = read_idx(images).astype(np.float64)
            y = read_idx(labels).astype(np.int64).ravel()
            if len(x) != len(y):
                raise parameter_error(
                    "labels", "IDXDataset", f"as many labels as images ({len(x)})", len(y)
                )
            out += [x.reshape(len(x), -1) / self.scale, y]
        x0, y0, x1, y1 = out
        return (
            np.asarray(x0, dtype=np.float64),
            np.asarray(y0, dtype=np.int64),
            np.asarray(x1, dtype=np.float64),
            np.asarray(y1, dtype=np.int64),
        )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class TeacherStudent(ConfigMixin):
    """A synthetic task: labels are the argmax of a random teacher network's outputs.

    Inputs x ~ U(−1, 1)^in_size; the teacher is one tanh hidden layer with Gaussian weights; the
    teacher and the data are drawn from the run's seed (the same for every replica).

    Examples
    --------
    >>> TeacherStudent().n_classes
    4
    """

    kind: ClassVar[str] = "teacher_student"
    in_size: int = field(default=16, metadata=constrained(Integral(1, 1 << 16)))
    """Input dimension."""
    n_classes: int = field(default=4, metadata=constrained(Integral(2, 1 << 12)))
    """Number of classes."""
    teacher_hidden: int = field(default=16, metadata=constrained(Integral(1, 1 << 16)))
    """Hidden units of the teacher."""
    n_train: int = field(default=2000, metadata=constrained(Integral(1, 1 << 26)))
    """Training samples."""
    n_test: int = field(default=500, metadata=constrained(Integral(1, 1 << 26)))
    """Test samples."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        TeacherStudent
            A small task.
        """
        return cls(n_train=200, n_test=50)

    def load(self, root: np.random.SeedSequence | None = None) -> Split:
        """Draw the teacher and the data from the run's seed.

        Parameters
        ----------
        root : SeedSequence or None
            The run's root (None: seed 0).

        Returns
        -------
        tuple
            ``(x_train, y_train, x_test, y_test)``.
        """
        gen = replica_generator(root or np.random.SeedSequence(0), PURPOSE_TEACHER, 0)
        w1 = gen.standard_normal((self.teacher_hidden, self.in_size)) / np.sqrt(self.in_size)
        w2 = gen.standard_normal((self.n_classes, self.teacher_hidden))
        x = gen.uniform(-1.0, 1.0, size=(self.n_train + self.n_test, self.in_size))
        y = np.argmax(np.tanh(x @ w1.T) @ w2.T, axis=1).astype(np.int64)
        n = self.n_train
        return x[:n], y[:n], x[n:], y[n:]


Dataset = Digits | IDXDataset | TeacherStudent
_DATASETS = (Digits, IDXDataset, TeacherStudent)


# ----------------------------------------------------------------------------------- network
@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Classifier(Problem):
    """An MLP classifier trained with softmax cross-entropy on analog (and digital) layers.

    Layer sizes are ``(inputs, *hidden, classes)``; ``analog[l]`` says whether layer l runs on
    tiles under the training algorithm (default: every layer) or is a digital float64 layer
    trained with plain SGD at the algorithm's ``lr``. Biases are digital. Each replica has its own
    initial weights (uniform ±1/√fan_in) and its own mini-batch order.

    Examples
    --------
    >>> Classifier(hidden=(32,)).batch_size
    10
    """

    kind: ClassVar[str] = "classifier"
    dataset: Dataset = field(default_factory=Digits, metadata=constrained(InstanceOf(_DATASETS)))
    """Where the data comes from."""
    hidden: tuple[int, ...] = field(default=(32,), metadata=constrained(InstanceOf((tuple,))))
    """Hidden layer sizes (each ≥ 1); () is a single linear layer."""
    activation: Activation = field(
        default=Activation.SIGMOID, metadata=constrained(Options(Activation))
    )
    """Activation after every hidden layer."""
    analog: tuple[bool, ...] | None = field(
        default=None, metadata=constrained(InstanceOf((tuple, type(None))))
    )
    """Per layer: on analog tiles (True) or digital (False); None = all analog."""
    batch_size: int = field(default=10, metadata=constrained(Integral(1, 1 << 20)))
    """Samples per step."""
    bias: bool = field(default=True, metadata=constrained(Bool()))
    """Digital biases on every layer."""
    forward_io: IOParameters | None = field(
        default_factory=IOParameters, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """Periphery of forward passes (None = perfect IO)."""
    backward_io: IOParameters | None = field(
        default_factory=IOParameters, metadata=constrained(InstanceOf((IOParameters, type(None))))
    )
    """Periphery of backward passes (None = perfect IO)."""
    eval_samples: int = field(default=1000, metadata=constrained(Integral(1, 1 << 26)))
    """Training samples used for the recorded loss."""

    def __post_init__(self) -> None:
        """Validate every field and the layer description."""
        check_fields(self)
        hidden = tuple(self.hidden)
        if any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in hidden):
            raise parameter_error("hidden", "Classifier", "a tuple of ints ≥ 1", self.hidden)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        if self.analog is not None:
            flags = tuple(self.analog)
            if len(flags) != len(hidden) + 1 or any(not isinstance(f, bool) for f in flags):
                raise parameter_error(
                    "analog",
                    "Classifier",
                    f"None or a tuple of {len(hidden) + 1} bools (one per layer)",
                    self.analog,
                )
            object.__setattr__(self, "analog", flags)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        Classifier
            A small teacher-student network with perfect IO.
        """
        return cls(dataset=TeacherStudent.example(), hidden=(8,), forward_io=None, backward_io=None)

    def setup(
        self, replicas: int, root: np.random.SeedSequence, *, replica_offset: int = 0
    ) -> Instance:
        """Load the data and draw every replica's initial weights and batch order.

        Parameters
        ----------
        replicas : int
            Number of replicas R, at least 1.
        root : numpy.random.SeedSequence
            The run's root seed.
        replica_offset : int, optional
            Global index of replica 0.

        Returns
        -------
        Instance
            The network problem.
        """
        return _NetworkInstance(self, replicas, root, replica_offset)


class _NetworkInstance(Instance):
    single_matrix = False

    def __init__(
        self, cfg: Classifier, replicas: int, root: np.random.SeedSequence, offset: int
    ) -> None:
        self.cfg = cfg
        self.root = root
        self.replicas = replicas
        self.offset = offset
        x_tr, y_tr, x_te, y_te = cfg.dataset.load(root)
        n_classes = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
        self.x_train, self.y_train, self.x_test, self.y_test = x_tr, y_tr, x_te, y_te
        self.sizes = (x_tr.shape[1], *cfg.hidden, n_classes)
        self.in_size, self.out_size = self.sizes[0], self.sizes[-1]
        n_layers = len(self.sizes) - 1
        self.analog = cfg.analog if cfg.analog is not None else (True,) * n_layers
        # Per replica: initial weights (uniform ±1/√fan_in) and a batch order.
        self.w0 = [
            uniform_weights(
                (
                    replica_generator(root, PURPOSE_INIT, (offset + r) * 1024 + lay)
                    for r in range(replicas)
                ),
                n_out,
                n_in,
            )
            for lay, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        ]
        n = len(y_tr)
        self.order = np.stack(
            [
                replica_generator(root, PURPOSE_ORDER, offset + r).permutation(n)
                for r in range(replicas)
            ]
        )
        m = min(cfg.eval_samples, n)
        self.eval_idx = np.arange(m)

    # The single-matrix interface is not used for networks.
    def initial_weights(self) -> FloatArray:  # pragma: no cover - not used
        return self.w0[0]

    def optimum(self) -> FloatArray:  # pragma: no cover - not used
        raise NotImplementedError

    def gradient_factors(
        self, weights: FloatArray, step: int
    ) -> tuple[FloatArray, FloatArray]:  # pragma: no cover
        raise NotImplementedError

    def loss(self, weights: FloatArray) -> FloatArray:  # pragma: no cover - not used
        raise NotImplementedError

    def start(
        self,
        algorithm: Any,
        root: np.random.SeedSequence,
        *,
        n_threads: int | None,
        replica_offset: int,
        backend: Any,
    ) -> AlgorithmState:
        if not isinstance(algorithm, Algorithm):
            raise parameter_error("algorithm", "Classifier", "a pulsetrain algorithm", algorithm)
        cfg = self.cfg
        lr = float(getattr(algorithm, "lr", 0.1))
        linear: list[AnalogLinear | DigitalLinear] = []
        for lay, w0 in enumerate(self.w0):
            n_in, n_out = w0.shape[2], w0.shape[1]
            if self.analog[lay]:
                linear.append(
                    AnalogLinear(
                        n_in,
                        n_out,
                        algorithm,
                        bias=cfg.bias,
                        bias_lr=lr,
                        forward_io=cfg.forward_io,
                        backward_io=cfg.backward_io,
                        replicas=self.replicas,
                        rng=_layer_seed(root, lay),
                        n_threads=n_threads,
                        weights=w0,
                        replica_offset=replica_offset,
                        backend=backend,
                    )
                )
            else:
                linear.append(
                    DigitalLinear(
                        n_in, n_out, lr=lr, bias=cfg.bias, replicas=self.replicas, weights=w0
                    )
                )
        layers: list[Layer] = [linear[0]]
        for layer in linear[1:]:
            layers += [ActivationLayer(cfg.activation), layer]
        return _NetworkState(Sequential(*layers))

    def _batch(self, step: int) -> tuple[FloatArray, IntArray]:
        n = len(self.y_train)
        b = self.cfg.batch_size
        pos = (step * b + np.arange(b)) % n
        idx = self.order[:, pos]  # (R, B)
        return self.x_train[idx], self.y_train[idx]

    def advance(self, state: Any, step: int) -> None:
        x, y = self._batch(step)
        state.train_batch(step, x, y)

    def metrics(self, state: Any) -> tuple[FloatArray, FloatArray]:
        net: Sequential = state.net
        r = self.replicas
        y = self.y_train[self.eval_idx]
        xs = np.broadcast_to(self.x_train[self.eval_idx], (r, *self.x_train[self.eval_idx].shape))
        loss, _ = net._evaluate(xs, np.broadcast_to(y, (r, len(y))))
        xt = np.broadcast_to(self.x_test, (r, *self.x_test.shape))
        _, err = net._evaluate(xt, np.broadcast_to(self.y_test, (r, len(self.y_test))))
        return loss, err


class _NetworkState(AlgorithmState):
    """A Classifier's network for :func:`pulsetrain.run`: a Sequential, layers numbered by k."""

    def __init__(self, net: Sequential) -> None:
        self.net = net
        self.linear = [lay for lay in net if isinstance(lay, AnalogLinear | DigitalLinear)]
        self.replicas = net.replicas
        self.tiles = {
            f"layer{k}.{name}": t
            for k, lay in enumerate(self.linear)
            for name, t in lay.tiles.items()
        }

    def gradient_point(self) -> FloatArray:  # pragma: no cover - networks use train_batch
        raise NotImplementedError

    def step(self, step: int, x: FloatArray, d: FloatArray) -> None:  # pragma: no cover
        raise NotImplementedError

    def train_batch(self, step: int, x: FloatArray, y: IntArray) -> None:
        self.net._train_batch(x, y, step)

    def effective_weights(self) -> FloatArray:  # pragma: no cover - layers are in arrays()
        raise NotImplementedError

    def arrays(self) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        for k, lay in enumerate(self.linear):
            out[f"layer{k}.weights"] = lay.weights
            for name, arr in lay.arrays().items():
                out[f"layer{k}.{name}"] = arr
        return out

    def pulse_totals(self) -> dict[str, FloatArray]:
        return self.net.pulse_totals()

    def sp_error(self) -> FloatArray | None:
        errs = [e for lay in self.linear if (e := lay.state.sp_error()) is not None]
        if not errs:
            return None
        return np.asarray(np.sqrt(np.mean(np.stack(errs) ** 2, axis=0)), dtype=np.float64)
