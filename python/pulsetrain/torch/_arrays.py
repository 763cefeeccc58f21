"""Tensor ↔ NumPy conversion at the boundary of the analog layers (CPU, float64, checked)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from pulsetrain._validation import parameter_error, shape_error
from pulsetrain.errors import NonFiniteError

FloatArray = npt.NDArray[np.float64]


def to_numpy(name: str, owner: str, value: object) -> FloatArray:
    """Return a CPU floating-point tensor as float64 NumPy, zero-copy for a float64 tensor.

    float32 and float16 tensors are viewed with ``.numpy()`` and converted explicitly (one copy);
    bfloat16, which NumPy lacks, is converted by torch first. The tensor is detached: the array
    never carries autograd history.

    Raises
    ------
    ParameterError
        Not a tensor, or a tensor on another device than the CPU.
    ShapeError
        Not a dense tensor of real floating-point numbers.
    NonFiniteError
        NaN or inf in the tensor.
    """
    if not isinstance(value, torch.Tensor):
        raise parameter_error(name, owner, "a torch.Tensor", value)
    if value.device.type != "cpu":
        raise parameter_error(
            name,
            owner,
            "a tensor on the CPU (pulsetrain's tiles compute through NumPy on the CPU; "
            "move the model's inputs with .cpu())",
            f"a tensor on {value.device}",
        )
    if value.layout != torch.strided:
        raise shape_error(name, owner, "a dense (strided) tensor", f"layout {value.layout}")
    if not value.dtype.is_floating_point:
        raise shape_error(name, owner, "a real floating-point tensor", f"dtype {value.dtype}")
    t = value.detach().resolve_conj().resolve_neg()
    if t.dtype == torch.float64:
        arr = t.numpy()  # zero-copy: shares the tensor's memory
    elif t.dtype == torch.bfloat16:
        arr = t.to(torch.float64).numpy()
    else:
        arr = t.numpy().astype(np.float64)  # float32/float16 → float64, explicit
    if not np.isfinite(arr).all():
        raise _non_finite(name, owner)
    return arr


def _non_finite(name: str, owner: str) -> NonFiniteError:
    return NonFiniteError(
        f"The {name!r} parameter of {owner} must be finite. Got a tensor with NaN or inf instead."
    )


def to_tensor(array: FloatArray, like: torch.Tensor) -> torch.Tensor:
    """Return a float64 array as a tensor of ``like``'s dtype (zero-copy for float64)."""
    out = torch.from_numpy(np.ascontiguousarray(array))
    return out if like.dtype == torch.float64 else out.to(like.dtype)
