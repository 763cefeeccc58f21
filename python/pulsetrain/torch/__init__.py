"""PyTorch bridge: analog layers, an optimizer and model conversion for torch models.

Needs the ``torch`` extra (``pip install 'pulsetrain[torch]'``, any torch ≥ 2.0: pulsetrain
talks to torch only through CPU tensors and NumPy, with no compiled torch dependency).
``import pulsetrain`` never imports torch; ``import pulsetrain.torch`` does.

- :class:`AnalogLinear` and :class:`AnalogConv2d`: ``torch.nn.Module`` layers whose weights live
  on pulsetrain tiles under any algorithm (a ``torch.autograd.Function`` runs the tiles'
  forward and backward passes through the periphery and stores x and δ);
- :class:`AnalogSGD`: the optimizer whose ``step()`` applies each analog layer's algorithm step
  (and plain SGD to the digital parameters); torch learning-rate schedulers work with it;
- :func:`convert_to_analog`: replace every ``nn.Linear`` and ``nn.Conv2d`` of a model.

Tensors are converted explicitly: float64 CPU tensors are viewed without a copy
(``Tensor.numpy()``), other float dtypes converted to float64, and outputs are returned in the
input's dtype. CUDA tensors are refused with a clear error. The analog layers have one replica
(R = 1). With the same seeds and inputs, the layers give bit for bit the numbers of
:class:`pulsetrain.layers.AnalogLinear` and :class:`pulsetrain.conv.AnalogConv2d`.

Examples
--------
>>> import torch
>>> import pulsetrain as pt
>>> from pulsetrain.algorithms import TTv2
>>> from pulsetrain.torch import AnalogSGD, convert_to_analog
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
>>> algo = TTv2(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
>>> model = convert_to_analog(net, algorithm=algo, rng=0)
>>> opt = AnalogSGD(model.parameters(), lr=0.1)
>>> x, y = torch.rand(16, 4), torch.randint(0, 3, (16,))
>>> loss = torch.nn.functional.cross_entropy(model(x), y)
>>> loss.backward()
>>> opt.step()
>>> model[0].analog_steps
1
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401 - fail early with the extra's name
except ImportError:  # pragma: no cover - the extra is installed where this is tested
    from pulsetrain.errors import MissingExtraError

    raise MissingExtraError("torch", "torch", "pulsetrain.torch") from None

from pulsetrain.torch.convert import convert_to_analog
from pulsetrain.torch.modules import AnalogConv2d, AnalogLinear, AnalogModule
from pulsetrain.torch.optim import AnalogSGD

__all__ = ["AnalogConv2d", "AnalogLinear", "AnalogModule", "AnalogSGD", "convert_to_analog"]
