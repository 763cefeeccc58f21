"""A classifier problem: networks of analog (and digital) layers trained by :func:`run`.

A :class:`Classifier` is a problem like :class:`~pulsetrain.problems.LeastSquares`, so the same
:func:`pulsetrain.run` trains such a network with any algorithm, R replicas at once; each step is
:meth:`~pulsetrain.layers.Sequential.train_batch`. Each analog layer gets its own instance of the
algorithm (its own tiles and seed). Evaluation (the recorded loss and test error) uses the weights
read exactly, so recording never draws random numbers or changes a result. The layers themselves
are in :mod:`pulsetrain.layers` and :mod:`pulsetrain.conv`, the data in
:mod:`pulsetrain.problems.datasets`.

The network is an MLP described by ``hidden`` and ``activation`` (the default), or one of the
papers' models given as ``model``: :class:`FCN` (784-256-128-10 sigmoid, P1/P2) or
:class:`LeNet5` (P3's and P4's LeNet-5, two analog convolutions and two analog linear layers).

Examples
--------
An MLP with an analog and a digital layer, trained in a loop of your own:

>>> import numpy as np
>>> import pulsetrain as pt
>>> from pulsetrain.algorithms import ResidualLearningV2
>>> from pulsetrain.layers import AnalogLinear, DigitalLinear, Sequential, Sigmoid
>>> from pulsetrain.problems import Digits
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

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    Bool,
    InstanceOf,
    Integral,
    Interval,
    NoneOr,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms.base import Algorithm
from pulsetrain.config import ConfigMixin, register
from pulsetrain.conv import AnalogConv2d, DigitalConv2d, Flatten, MaxPool2d
from pulsetrain.layers import (
    Activation,
    ActivationLayer,
    AnalogLinear,
    DigitalLinear,
    Layer,
    Sequential,
    _Linear,
    uniform_weights,
)
from pulsetrain.mapping import MappingParameter
from pulsetrain.periphery import IOParameters
from pulsetrain.problems.base import Instance, ModelState, Problem
from pulsetrain.problems.datasets import _DATASETS, Dataset, Digits, TeacherStudent
from pulsetrain.rng import replica_generator
from pulsetrain.streams import LAYER, PURPOSE_INIT, PURPOSE_ORDER
from pulsetrain.tile import AnalogTile, Backend

__all__ = ["FCN", "Classifier", "LeNet5", "Model"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _layer_seed(root: np.random.SeedSequence, layer: int) -> np.random.SeedSequence:
    """Return the seed of layer ``layer``'s tiles: ``(*root.spawn_key, LAYER, layer)``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, LAYER, layer))


# ----------------------------------------------------------------------------------- models
@dataclass(frozen=True)
class _Weighted:
    """A weighted layer of a model: ``out`` outputs from ``fan_in`` inputs (a tile's shape).

    ``conv`` is None for a linear layer, else ``(in_channels, kernel, height, width)`` of a
    square-kernel convolution on (in_channels, height, width) inputs.
    """

    out: int
    fan_in: int
    conv: tuple[int, int, int, int] | None = None


_Plan = list[_Weighted | Callable[[], Layer]]
"""A model's layers in order: weighted layers to build, and factories of the others."""


def _mlp_plan(sizes: tuple[int, ...], activation: Activation) -> _Plan:
    """Return linear layers of ``sizes`` with ``activation`` between them."""
    out: _Plan = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if k:
            out.append(lambda: ActivationLayer(activation))
        out.append(_Weighted(n_out, n_in))
    return out


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class FCN(ConfigMixin):
    """P1's and P2's fully connected network: inputs-256-128-classes with sigmoid activations.

    784-256-128-10 on MNIST (theory.md §5 H4–H6, H8); the same network as
    ``Classifier(hidden=(256, 128))``, which gives the same numbers.

    Examples
    --------
    >>> FCN().hidden
    (256, 128)
    """

    kind: ClassVar[str] = "fcn"
    hidden: ClassVar[tuple[int, ...]] = (256, 128)
    """Hidden layer sizes."""

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        FCN
            The network.
        """
        return cls()

    @property
    def n_weighted(self) -> int:
        """Number of weighted layers (3)."""
        return len(self.hidden) + 1

    def input_shape(self, width: int) -> tuple[int, ...]:
        """Return the feature shape a sample of ``width`` values is fed as: ``(width,)``."""
        return (width,)

    def plan(self, width: int, n_classes: int) -> _Plan:
        """Return the layers for ``width`` inputs and ``n_classes`` outputs."""
        return _mlp_plan((width, *self.hidden, n_classes), Activation.SIGMOID)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LeNet5(ConfigMixin):
    """P3's and P4's LeNet-5 (aihwkit's example): two convolutions, two linear layers, tanh.

    conv C→16 (5×5), tanh, max-pool 2, conv 16→32 (5×5), tanh, max-pool 2, flatten,
    linear →128, tanh, linear 128→classes. On 28×28 MNIST the tiles are 25→16, 400→32, 512→128
    and 128→10 (theory.md §4.9). Every layer has a digital bias; ``Classifier.analog`` chooses
    per layer (4 flags) whether it is analog.

    With ``tanh_after_pool=True`` it is P2's CNN (Wu et al., NeurIPS 2024: the authors'
    ``NeurIPS-2024/S4.2-mnist-CNN.py`` in github.com/Zhaoxian-Wu/analog-training), the same
    network with one more tanh after the second max-pool. That script's aihwkit mapping
    (``learn_out_scaling`` and ``weight_scaling_columnwise``, with ``weight_scaling_omega`` left
    at aihwkit's default 0, i.e. off) is ``Classifier.mapping``, a property of the analog layers
    rather than of the network (:mod:`pulsetrain.mapping`).

    Examples
    --------
    >>> LeNet5().image_shape
    (1, 28, 28)
    >>> LeNet5(tanh_after_pool=True).tanh_after_pool
    True
    """

    kind: ClassVar[str] = "lenet5"
    image_shape: tuple[int, ...] = field(
        default=(1, 28, 28), metadata=constrained(InstanceOf((tuple,)))
    )
    """Channels, height and width of one image; a data row is one image, row-major."""
    tanh_after_pool: bool = field(default=False, metadata=constrained(Bool()))
    """A tanh after the second max-pool (P2's CNN); False is P3's and P4's LeNet-5."""

    def __post_init__(self) -> None:
        """Validate the image shape (three ints ≥ 1, at least 16×16 for the two 5×5 stages)."""
        check_fields(self)
        shape = tuple(self.image_shape)
        ints = all(isinstance(n, int | np.integer) and not isinstance(n, bool) for n in shape)
        if len(shape) != 3 or not ints or shape[0] < 1 or min(shape[1:]) < 16:
            raise parameter_error(
                "image_shape",
                "LeNet5",
                "a tuple (channels ≥ 1, height ≥ 16, width ≥ 16) of ints",
                self.image_shape,
            )
        object.__setattr__(self, "image_shape", tuple(int(n) for n in shape))

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        LeNet5
            The MNIST network.
        """
        return cls()

    @property
    def n_weighted(self) -> int:
        """Number of weighted layers (4)."""
        return 4

    def input_shape(self, width: int) -> tuple[int, ...]:
        """Return :attr:`image_shape`, checking that a sample has ``width`` values.

        Raises
        ------
        ParameterError
            Data rows of another width.
        """
        c, h, w = self.image_shape
        if c * h * w != width:
            raise parameter_error(
                "image_shape",
                "LeNet5",
                f"a shape whose size is the data's row width {width}",
                self.image_shape,
            )
        return self.image_shape

    def plan(self, width: int, n_classes: int) -> _Plan:
        """Return the layers for rows of ``width`` pixels and ``n_classes`` outputs."""
        c, h, w = self.input_shape(width)
        h1, w1 = (h - 4) // 2, (w - 4) // 2  # after conv 5×5 and pool 2
        h2, w2 = (h1 - 4) // 2, (w1 - 4) // 2
        return [
            _Weighted(16, c * 25, (c, 5, h, w)),
            lambda: ActivationLayer(Activation.TANH),
            lambda: MaxPool2d(2),
            _Weighted(32, 16 * 25, (16, 5, h1, w1)),
            lambda: ActivationLayer(Activation.TANH),
            lambda: MaxPool2d(2),
            *([lambda: ActivationLayer(Activation.TANH)] if self.tanh_after_pool else []),
            Flatten,
            _Weighted(128, 32 * h2 * w2),
            lambda: ActivationLayer(Activation.TANH),
            _Weighted(n_classes, 128),
        ]


Model = FCN | LeNet5
_MODELS = (FCN, LeNet5)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Classifier(Problem):
    """A classifier trained with softmax cross-entropy on analog (and digital) layers.

    The network is ``model`` (:class:`FCN`, :class:`LeNet5`) or, without one, an MLP with layer
    sizes ``(inputs, *hidden, classes)`` and ``activation`` between layers. ``analog[l]`` says
    whether weighted layer l runs on tiles under the training algorithm (default: every layer) or
    is a digital float64 layer trained with plain SGD at the algorithm's ``lr``. Biases are
    digital; an analog layer's bias learns at ``bias_lr`` (default: the algorithm's ``lr``). Each
    replica has its own initial weights (uniform ±1/√fan_in) and its own mini-batch order.

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
    model: Model | None = field(
        default=None, metadata=constrained(InstanceOf((*_MODELS, type(None))))
    )
    """The network (:class:`FCN`, :class:`LeNet5`); None: the MLP of ``hidden``/``activation``."""
    bias_lr: float | None = field(
        default=None, metadata=constrained(NoneOr(Interval(0.0, None, closed="left")))
    )
    """SGD rate of the analog layers' digital biases (≥ 0); None = the algorithm's ``lr``.

    The algorithm's ``lr`` is the rate of its gradient array: for TT/RL the fast rate β onto P,
    for TT-v2, AGAD and E-RIDER the fast rate onto A (P3: 0.5), so None trains the biases at that
    fast rate. aihwkit trains the biases at the global SGD rate; set ``bias_lr`` to match it.
    Digital layers (``analog[l]`` False) train weights and bias at the algorithm's ``lr``.
    """
    mapping: MappingParameter | None = field(
        default=None, metadata=constrained(InstanceOf((MappingParameter, type(None))))
    )
    """aihwkit's weight scaling and learned output scales on every analog layer (None: none;
    :mod:`pulsetrain.mapping`); the learned scales α take SGD steps at the biases' rate
    (``bias_lr``). Digital layers have none. P2's scripts:
    ``MappingParameter(weight_scaling_columnwise=True, learn_out_scaling=True)``."""

    def __post_init__(self) -> None:
        """Validate every field and the layer description."""
        check_fields(self)
        hidden = tuple(self.hidden)
        if any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in hidden):
            raise parameter_error("hidden", "Classifier", "a tuple of ints ≥ 1", self.hidden)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        n_weighted = len(hidden) + 1
        if self.model is not None:
            n_weighted = self.model.n_weighted
            for name, default in (("hidden", (32,)), ("activation", Activation.SIGMOID)):
                if getattr(self, name) != default:
                    raise parameter_error(
                        name,
                        "Classifier",
                        f"the default {default!r} when a model is given (the model fixes it)",
                        getattr(self, name),
                    )
        if self.analog is not None:
            flags = tuple(self.analog)
            if len(flags) != n_weighted or any(not isinstance(f, bool) for f in flags):
                raise parameter_error(
                    "analog",
                    "Classifier",
                    f"None or a tuple of {n_weighted} bools (one per weighted layer)",
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
        self,
        replicas: int,
        root: np.random.SeedSequence,
        *,
        replica_offset: int = 0,
        backend: Backend = Backend.RUST,
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
        backend : Backend, optional
            Where per-step random draws (gradient noise) are made; the twin gives the same
            numbers. Default ``Backend.RUST``.

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
        width = x_tr.shape[1]
        self.plan: _Plan
        if cfg.model is None:
            self.plan = _mlp_plan((width, *cfg.hidden, n_classes), cfg.activation)
        else:
            self.plan = cfg.model.plan(width, n_classes)
            shape = cfg.model.input_shape(width)
            x_tr, x_te = x_tr.reshape(len(x_tr), *shape), x_te.reshape(len(x_te), *shape)
        self.x_train, self.y_train, self.x_test, self.y_test = x_tr, y_tr, x_te, y_te
        weighted = [p for p in self.plan if isinstance(p, _Weighted)]
        self.analog = cfg.analog if cfg.analog is not None else (True,) * len(weighted)
        # Per replica: initial weights (uniform ±1/√fan_in) and a batch order.
        self.w0 = [
            uniform_weights(
                (
                    replica_generator(root, PURPOSE_INIT, (offset + r) * 1024 + lay)
                    for r in range(replicas)
                ),
                p.out,
                p.fan_in,
            )
            for lay, p in enumerate(weighted)
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
    ) -> ModelState:
        if not isinstance(algorithm, Algorithm):
            raise parameter_error("algorithm", "Classifier", "a pulsetrain algorithm", algorithm)
        cfg = self.cfg
        lr = float(getattr(algorithm, "lr", 0.1))
        analog_kw: dict[str, Any] = {
            "bias": cfg.bias,
            "bias_lr": lr if cfg.bias_lr is None else cfg.bias_lr,
            "forward_io": cfg.forward_io,
            "backward_io": cfg.backward_io,
            "replicas": self.replicas,
            "n_threads": n_threads,
            "replica_offset": replica_offset,
            "backend": backend,
        }
        if cfg.mapping is not None:  # only then: layers without one are built exactly as before
            analog_kw["mapping"] = cfg.mapping
        digital_kw: dict[str, Any] = {"lr": lr, "bias": cfg.bias, "replicas": self.replicas}
        layers: list[Layer] = []
        lay = 0
        for item in self.plan:
            if not isinstance(item, _Weighted):
                layers.append(item())
                continue
            w0, seed = self.w0[lay], _layer_seed(root, lay)
            if item.conv is None:
                if self.analog[lay]:
                    layers.append(
                        AnalogLinear(
                            item.fan_in, item.out, algorithm, rng=seed, weights=w0, **analog_kw
                        )
                    )
                else:
                    layers.append(DigitalLinear(item.fan_in, item.out, weights=w0, **digital_kw))
            else:
                c_in, k, h, w = item.conv
                kernels = w0.reshape(self.replicas, item.out, c_in, k, k)
                geometry: dict[str, Any] = {"input_size": (h, w), "weights": kernels}
                if self.analog[lay]:
                    layers.append(
                        AnalogConv2d(
                            c_in, item.out, k, algorithm, rng=seed, **geometry, **analog_kw
                        )
                    )
                else:
                    layers.append(DigitalConv2d(c_in, item.out, k, **geometry, **digital_kw))
            lay += 1
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


class _NetworkState:
    """A Classifier's network for :func:`pulsetrain.run`: a Sequential, layers numbered by k.

    A :class:`~pulsetrain.problems.ModelState`: it has tiles, arrays, pulse totals and an SP
    error, but no single gradient point or weight matrix (:meth:`train_batch` is its step).
    """

    replicas: int
    tiles: dict[str, AnalogTile]

    def __init__(self, net: Sequential) -> None:
        self.net = net
        self.linear = [lay for lay in net if isinstance(lay, _Linear)]
        self.replicas = net.replicas
        self.tiles = {
            f"layer{k}.{name}": t
            for k, lay in enumerate(self.linear)
            for name, t in lay.tiles.items()
        }

    def train_batch(self, step: int, x: FloatArray, y: IntArray) -> None:
        self.net._train_batch(x, y, step)

    def arrays(self) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        for k, lay in enumerate(self.linear):
            out[f"layer{k}.weights"] = lay.weights
            for name, arr in lay.arrays().items():
                out[f"layer{k}.{name}"] = arr
            out.update(self._scales(k, lay))
        return out

    @staticmethod
    def _scales(k: int, lay: _Linear) -> dict[str, FloatArray]:
        """Return a mapped layer's s and α by name ((R, out) or (R, 1)); empty without them."""
        out: dict[str, FloatArray] = {}
        if (s := lay.mapping_scales) is not None:
            out[f"layer{k}.mapping_scales"] = s
        if (alpha := lay.out_scaling_alpha) is not None:
            out[f"layer{k}.out_scaling_alpha"] = alpha
        return out

    def pulse_totals(self) -> dict[str, FloatArray]:
        return self.net.pulse_totals()

    def digital_state(self) -> dict[str, FloatArray]:
        out: dict[str, FloatArray] = {}
        for k, lay in enumerate(self.linear):
            for name, arr in lay.state.digital_state().items():
                out[f"layer{k}.{name}"] = arr
            if (b := lay.bias) is not None:
                out[f"layer{k}.bias"] = b
            out.update(self._scales(k, lay))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Return the network's complete state (every layer's algorithm state and bias).

        See :func:`pulsetrain.checkpoint.model_state_dict`; :meth:`load_state_dict` restores it
        into a network built from the same config and seed.
        """
        from pulsetrain.checkpoint import model_state_dict

        return model_state_dict(self)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (checked first; a call that raises changes nothing)."""
        from pulsetrain.checkpoint import load_model_state_dict

        load_model_state_dict(self, state, "Classifier network.load_state_dict")

    def sp_error(self) -> FloatArray | None:
        errs = [e for lay in self.linear if (e := lay.state.sp_error()) is not None]
        if not errs:
            return None
        return np.asarray(np.sqrt(np.mean(np.stack(errs) ** 2, axis=0)), dtype=np.float64)
