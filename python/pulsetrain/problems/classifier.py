"""An MLP classifier problem: networks of analog (and digital) layers trained by :func:`run`.

A :class:`Classifier` is a problem like :class:`~pulsetrain.problems.LeastSquares`, so the same
:func:`pulsetrain.run` trains such a network with any algorithm, R replicas at once; each step is
:meth:`~pulsetrain.layers.Sequential.train_batch`. Each analog layer gets its own instance of the
algorithm (its own tiles and seed). Evaluation (the recorded loss and test error) uses the weights
read exactly, so recording never draws random numbers or changes a result. The layers themselves
are in :mod:`pulsetrain.layers`, the data in :mod:`pulsetrain.problems.datasets`.

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

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import (
    Bool,
    InstanceOf,
    Integral,
    Options,
    check_fields,
    constrained,
    parameter_error,
)
from pulsetrain.algorithms.base import Algorithm
from pulsetrain.config import register
from pulsetrain.layers import (
    Activation,
    ActivationLayer,
    AnalogLinear,
    DigitalLinear,
    Layer,
    Sequential,
    uniform_weights,
)
from pulsetrain.periphery import IOParameters
from pulsetrain.problems.base import Instance, ModelState, Problem
from pulsetrain.problems.datasets import _DATASETS, Dataset, Digits, TeacherStudent
from pulsetrain.rng import replica_generator
from pulsetrain.streams import LAYER, PURPOSE_INIT, PURPOSE_ORDER
from pulsetrain.tile import AnalogTile, Backend

__all__ = ["Classifier"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _layer_seed(root: np.random.SeedSequence, layer: int) -> np.random.SeedSequence:
    """Return the seed of layer ``layer``'s tiles: ``(*root.spawn_key, LAYER, layer)``."""
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, LAYER, layer))


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
    ) -> ModelState:
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


class _NetworkState:
    """A Classifier's network for :func:`pulsetrain.run`: a Sequential, layers numbered by k.

    A :class:`~pulsetrain.problems.ModelState`: it has tiles, arrays, pulse totals and an SP
    error, but no single gradient point or weight matrix (:meth:`train_batch` is its step).
    """

    replicas: int
    tiles: dict[str, AnalogTile]

    def __init__(self, net: Sequential) -> None:
        self.net = net
        self.linear = [lay for lay in net if isinstance(lay, AnalogLinear | DigitalLinear)]
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
        return out

    def sp_error(self) -> FloatArray | None:
        errs = [e for lay in self.linear if (e := lay.state.sp_error()) is not None]
        if not errs:
            return None
        return np.asarray(np.sqrt(np.mean(np.stack(errs) ** 2, axis=0)), dtype=np.float64)
