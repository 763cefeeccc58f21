"""aihwkit's weight mapping and learned output scales for analog layers (``MappingParameter``).

:class:`MappingParameter` mirrors the four fields of aihwkit 1.1.0's
``aihwkit.simulator.parameters.mapping.MappingParameter`` that act on training (file lines
46-77) and is given to :class:`~pulsetrain.layers.AnalogLinear` /
:class:`~pulsetrain.conv.AnalogConv2d` (``mapping=``) or to a
:class:`~pulsetrain.problems.Classifier` (``mapping``, the ``[problem.mapping]`` table of a run
config). Without it (None, the default) a layer is exactly what it was before: same numbers,
same state dict.

What aihwkit 1.1.0 does, read from its source (``src/aihwkit/simulator/tiles/periphery.py``
unless named otherwise), and what this module and the layers reproduce:

1. **Mapping scales s** (``weight_scaling_omega``). When a layer's weights are set
   (``TileWithPeriphery.set_weights``, l. 110-171, called by the module's ``reset_parameters``
   in ``nn/modules/linear.py`` l. 78-84 and ``conv.py`` l. 118-124 at construction),
   ``apply_weight_scaling`` (l. 421-481) computes, if omega > 0, ``s = max|w| / omega``
   over the whole matrix, or per output row (``max`` over the input axis, ``torch_max(abs(w),
   1)``: aihwkit's "column" is a crossbar column, i.e. one output) with
   ``weight_scaling_columnwise``; an all-zero row gets s = 1 (l. 477); the tile is programmed
   with ``w / s``, so its largest |weight| (per output, or overall) is omega, and
   ``set_scales(s)`` (l. 674-684) stores s as the fixed ``mapping_scales`` and resets the learned
   scales to 1. With omega = 0 (aihwkit's default, l. 46) nothing is scaled and
   ``weight_scaling_columnwise`` has no effect. s is a buffer, never trained.
2. **Learned output scales α** (``learn_out_scaling``). ``init_learned_out_scales``
   (l. 715-740) makes ``out_scaling_alpha`` a torch ``Parameter`` of ones, of shape (1,) or, with
   ``out_scaling_columnwise``, (out_size,).
3. **Forward.** ``joint_forward`` (l. 1013-1047) runs the tile (with its periphery) and
   ``post_forward`` multiplies the output by s (l. 873-886); the module's ``forward``
   (``tiles/analog.py`` l. 213-229) then multiplies by α (``apply_out_scaling``, l. 770-786) and
   adds the digital bias: ``y = α ⊙ (s ⊙ (W̄ x)_periphery) + b``. The layer's logical weights
   (``get_weights(apply_weight_scaling=True)``, l. 220-226) are ``α s W̄``.
4. **Backward.** The product with α is torch autograd, so the tile's ``AnalogFunction``
   (``tiles/functions.py`` l. 63-112) receives ``grad_output = α ⊙ δ`` (δ = dL/dy);
   ``pre_backward`` multiplies it by s (l. 1064-1066) before the tile's backward pass:
   ``dL/dx = W̄ᵀ (s ⊙ α ⊙ δ)`` through the backward periphery.
5. **Analog update.** ``AnalogFunction.backward`` stores ``grad_output = α ⊙ δ`` with the input x
   (l. 101-109); ``AnalogSGD.step`` (``optim/analog_optimizer.py`` l. 79-134) calls the tile's
   ``update(x, d)``, whose ``pre_update`` divides d by s (l. 1181-1185; the extra
   ``mapping_lr_scale`` is 1 unless ``weight_scaling_lr_compensation``, which is not modelled
   here). So the tile is updated with ``(x, α ⊙ δ / s)``: scaled by α, divided by s. (That is
   not dL/dW̄ = s α δ xᵀ; the logical weights move by ``α s ΔW̄ = −lr α² δ xᵀ`` for SGD.)
6. **Learning α.** α is an ordinary torch parameter: autograd gives
   ``dL/dα = Σ δ ⊙ z`` with z = s ⊙ (W̄ x)_periphery the forward output before α, summed over the
   batch (and the convolution's positions), and over the outputs too for a scalar α; the same
   ``AnalogSGD`` trains it with plain SGD at the optimizer's global lr (``super().step()``, l.
   77), the rate that also trains the digital biases. Here α learns at the layer's ``bias_lr``.

In pulsetrain, with R replicas every replica has its own s (from its own initial weights) and
its own α: arrays of shape (R, out) (per output) or (R, 1) (one per layer).

P2's scripts (``NeurIPS-2024/S4.2-mnist-CNN.py`` in github.com/Zhaoxian-Wu/analog-training) set
``learn_out_scaling = True`` and ``weight_scaling_columnwise = True`` for Analog SGD and TT-v1
but leave ``weight_scaling_omega`` at its default (their ``= 0.6`` is commented out), so there
the weights are *not* rescaled and the only effect is one learned scalar α per layer, starting
at 1: ``MappingParameter(weight_scaling_columnwise=True, learn_out_scaling=True)``.

Examples
--------
>>> m = MappingParameter(weight_scaling_omega=0.6, weight_scaling_columnwise=True)
>>> w, s = map_weights(np.array([[[0.3, -0.15], [0.0, 0.0]]]), m)
>>> w.tolist(), s.tolist()
([[[0.6, -0.3], [0.0, 0.0]]], [[0.5, 1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import POSITIVE, Bool, NoneOr, check_fields, constrained
from pulsetrain.config import ConfigMixin, register

__all__ = ["MappingParameter", "map_weights"]

FloatArray = npt.NDArray[np.float64]


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class MappingParameter(ConfigMixin):
    """Weight scaling and learned output scales of an analog layer (aihwkit ``MappingParameter``).

    The default (every field off) changes nothing. See the module docstring for aihwkit's
    semantics, with file and line references.

    Examples
    --------
    >>> MappingParameter().is_active
    False
    >>> MappingParameter(learn_out_scaling=True).is_active
    True
    """

    kind: ClassVar[str] = "mapping"
    weight_scaling_omega: float | None = field(default=None, metadata=constrained(NoneOr(POSITIVE)))
    """Largest |weight| programmed on the tile, in normalised conductance units (> 0); the
    initial weights are divided by ``s = max|w| / omega`` and the outputs multiplied by s. None:
    no scaling (aihwkit's ``weight_scaling_omega = 0.0``). Above the device's ``w_max`` the
    programmed weights are clipped, as in aihwkit."""
    weight_scaling_columnwise: bool = field(default=False, metadata=constrained(Bool()))
    """One s per output (aihwkit's crossbar column) instead of one per layer; no effect without
    ``weight_scaling_omega``."""
    learn_out_scaling: bool = field(default=False, metadata=constrained(Bool()))
    """A digital output scale α (initially 1) multiplying the outputs, learned by SGD at the
    layer's ``bias_lr`` (aihwkit: the optimizer's global lr)."""
    out_scaling_columnwise: bool = field(default=False, metadata=constrained(Bool()))
    """One α per output instead of one per layer; no effect without ``learn_out_scaling``."""

    def __post_init__(self) -> None:
        """Validate every field."""
        check_fields(self)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests.

        Returns
        -------
        MappingParameter
            Column-wise scaling to 0.6 with a learned scalar output scale.
        """
        return cls(weight_scaling_omega=0.6, weight_scaling_columnwise=True, learn_out_scaling=True)

    @property
    def is_active(self) -> bool:
        """Whether a layer with this mapping differs from one without (omega set or α learned)."""
        return self.weight_scaling_omega is not None or self.learn_out_scaling


def map_weights(weights: FloatArray, mapping: MappingParameter) -> tuple[FloatArray, FloatArray]:
    """Scale initial weights as aihwkit's ``apply_weight_scaling`` does, one replica at a time.

    Parameters
    ----------
    weights : numpy.ndarray
        Initial weights, shape (R, out, in), finite.
    mapping : MappingParameter
        With ``weight_scaling_omega`` set.

    Returns
    -------
    mapped : numpy.ndarray
        ``weights / s``, shape (R, out, in): max |mapped| is omega per output (column-wise) or
        per replica.
    scales : numpy.ndarray
        s = max|w| / omega, shape (R, out) column-wise, else (R, 1); 1 where that max is 0.

    Examples
    --------
    >>> m = MappingParameter(weight_scaling_omega=1.0)
    >>> w, s = map_weights(np.array([[[0.5, -0.25], [0.1, 0.0]]]), m)
    >>> w.tolist(), s.tolist()
    ([[[1.0, -0.5], [0.2, 0.0]]], [[0.5]])
    """
    omega = mapping.weight_scaling_omega
    if omega is None:  # pragma: no cover - callers check
        return weights.copy(), np.ones((weights.shape[0], 1))
    if mapping.weight_scaling_columnwise:
        w_max = np.abs(weights).max(axis=2)  # (R, out): per output, over its inputs
    else:
        w_max = np.abs(weights).max(axis=(1, 2))[:, None]  # (R, 1)
    scales = w_max / omega
    scales[scales == 0.0] = 1.0  # aihwkit periphery.py l. 477: an all-zero row keeps s = 1
    return weights / scales[:, :, None], scales
