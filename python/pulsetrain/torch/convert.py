"""Turn a torch model's linear and convolution layers into analog ones (convert_to_analog)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from pulsetrain._validation import parameter_error
from pulsetrain.algorithms.base import Algorithm
from pulsetrain.periphery import IOParameters
from pulsetrain.rng import as_seed_sequence
from pulsetrain.tile import Backend
from pulsetrain.torch.modules import _DEFAULT_IO, AnalogConv2d, AnalogLinear, AnalogModule, Seed

__all__ = ["convert_to_analog"]


def _conv_padding(conv: nn.Conv2d, name: str) -> tuple[int, int]:
    pad = conv.padding
    if pad == "valid":
        return 0, 0
    if pad == "same":
        total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size, strict=True)]
        if any(t % 2 for t in total):
            raise parameter_error(
                f"{name}.padding",
                "convert_to_analog",
                "'same' only where the padding is symmetric (dilation·(kernel − 1) even)",
                pad,
            )
        return total[0] // 2, total[1] // 2
    assert isinstance(pad, tuple)
    return int(pad[0]), int(pad[1])


def convert_to_analog(
    model: nn.Module,
    *,
    algorithm: Algorithm,
    forward_io: IOParameters | None = _DEFAULT_IO,
    backward_io: IOParameters | None = _DEFAULT_IO,
    rng: Seed = None,
    n_threads: int | None = None,
    backend: Backend | str = Backend.RUST,
    inplace: bool = False,
) -> nn.Module:
    """Replace every ``nn.Linear`` and ``nn.Conv2d`` of a model by an analog layer.

    The search is recursive (modules inside containers and custom modules); each layer's
    weights are programmed onto the new layer's tiles (so clipped to the devices' bounds) and
    its bias copied into the digital bias. Layer k (in the order of ``model.named_modules()``)
    gets the seed ``SeedSequence(root.entropy, spawn_key=(*root.spawn_key, k))`` of the root
    ``rng``, so a conversion is reproducible from one seed.

    Parameters
    ----------
    model : torch.nn.Module
        The model (a bare ``nn.Linear`` or ``nn.Conv2d`` is converted and returned too).
    algorithm : Algorithm
        The pulsetrain algorithm of every analog layer.
    forward_io, backward_io : IOParameters or None, optional
        The periphery of every layer (default aihwkit's ``IOParameters()``; None: perfect).
    rng : int, SeedSequence, Generator or None, optional
        Root seed of the layers' devices and streams.
    n_threads : int or None, optional
        Kernel threads of every layer.
    backend : Backend or str, optional
        ``"rust"`` (default) or ``"twin"``.
    inplace : bool, optional
        Change ``model`` itself (default False: a deep copy is converted, ``model`` is kept).

    Returns
    -------
    torch.nn.Module
        The converted model (analog layers in training mode iff the originals were).

    Raises
    ------
    ParameterError
        Not a module, a bad argument, or a layer pulsetrain cannot hold: a convolution with
        ``groups > 1``, a padding mode other than ``'zeros'``, asymmetric ``'same'`` padding,
        or weights on a device other than the CPU.

    Examples
    --------
    >>> import torch
    >>> import pulsetrain as pt
    >>> from pulsetrain.algorithms import AnalogSGD
    >>> from pulsetrain.torch import convert_to_analog
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> algo = AnalogSGD(device=pt.Device(response=pt.SoftBounds()), lr=0.1)
    >>> analog = convert_to_analog(net, algorithm=algo, rng=0)
    >>> [type(m).__name__ for m in analog]
    ['AnalogLinear', 'ReLU', 'AnalogLinear']
    """
    owner = "convert_to_analog"
    if not isinstance(model, nn.Module):
        raise parameter_error("model", owner, "a torch.nn.Module", model)
    if not isinstance(algorithm, Algorithm):
        raise parameter_error("algorithm", owner, "a pulsetrain algorithm config", algorithm)
    if not isinstance(inplace, bool):
        raise parameter_error("inplace", owner, "True or False", inplace)
    root = as_seed_sequence(rng)
    counter = [0]

    def seed() -> np.random.SeedSequence:
        k = counter[0]
        counter[0] += 1
        return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, k))

    common = {
        "algorithm": algorithm,
        "forward_io": forward_io,
        "backward_io": backward_io,
        "n_threads": n_threads,
        "backend": backend,
    }

    done: dict[int, nn.Module] = {}  # a layer used in two places stays one (shared) layer

    def analog(layer: nn.Module, name: str) -> nn.Module | None:
        if isinstance(layer, AnalogModule):
            return None
        if id(layer) in done:
            return done[id(layer)]
        where = f"model.{name}" if name else "model"
        if isinstance(layer, nn.Linear):
            new: AnalogModule = AnalogLinear(
                layer.in_features,
                layer.out_features,
                bias=layer.bias is not None,
                weights=layer.weight,
                rng=seed(),
                **common,  # type: ignore[arg-type]
            )
        elif isinstance(layer, nn.Conv2d):
            if layer.groups != 1:
                raise parameter_error(
                    f"{where}.groups", owner, "1 (grouped convolutions)", layer.groups
                )
            if layer.padding_mode != "zeros":
                raise parameter_error(f"{where}.padding_mode", owner, "'zeros'", layer.padding_mode)
            new = AnalogConv2d(
                layer.in_channels,
                layer.out_channels,
                (layer.kernel_size[0], layer.kernel_size[1]),
                stride=(layer.stride[0], layer.stride[1]),
                padding=_conv_padding(layer, where),
                dilation=(layer.dilation[0], layer.dilation[1]),
                bias=layer.bias is not None,
                weights=layer.weight,
                rng=seed(),
                **common,  # type: ignore[arg-type]
            )
        else:
            return None
        if layer.bias is not None and new.bias is not None:
            with torch.no_grad():
                new.bias.data = layer.bias.detach().clone()
        new.train(layer.training)
        done[id(layer)] = new
        return new

    if not inplace:
        model = copy.deepcopy(model)
    top = analog(model, "")
    if top is not None:
        return top

    def walk(module: nn.Module, prefix: str) -> None:
        # _modules, not named_children(): that skips a second place of a shared layer.
        for name, child in list(module._modules.items()):
            if child is None:
                continue
            path = f"{prefix}{name}"
            new = analog(child, path)
            if new is not None:
                setattr(module, name, new)
            else:
                walk(child, path + ".")

    walk(model, "")
    return model
