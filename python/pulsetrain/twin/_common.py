"""Helpers shared by the twin's modules: array aliases, libm calls and the error message.

Transcendental functions
------------------------
The Rust kernel calls the platform libm (``f64::ln``, ``cos``, ``exp``, ``powf``). On this machine
(x86-64 with AVX-512, glibc 2.36, NumPy 2.4) ``np.log``, ``np.exp`` and ``np.power`` use NumPy's
own SIMD code and differ from libm in the last bit for about 0.4 %, 5 % and 5 % of the inputs
(``np.cos`` happened to agree on 2e5 inputs). The twin therefore evaluates ``log``, ``cos``,
``exp`` and ``pow`` element by element through :mod:`math`, which calls libm directly and is
bit-identical to Rust's calls. ``sqrt`` is correctly rounded everywhere, so ``np.sqrt`` is used.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]
Index = NDArray[np.intp]

OWNER: Final = "TwinTile"

_LIBM_EXP = np.frompyfunc(math.exp, 1, 1)
_LIBM_POW = np.frompyfunc(math.pow, 2, 1)


def _libm1(func: np.ufunc, x: F64) -> F64:
    return np.asarray(func(x), dtype=np.float64).reshape(np.shape(x))


def libm_exp(x: F64) -> F64:
    """Return ``exp(x)`` element-wise through libm (bit-equal to Rust's ``f64::exp``)."""
    return _libm1(_LIBM_EXP, x)


def libm_pow(x: F64, y: float) -> F64:
    """Return ``x**y`` element-wise through libm (bit-equal to Rust's ``f64::powf``)."""
    return np.asarray(_LIBM_POW(x, y), dtype=np.float64).reshape(np.shape(x))


def message(name: str, allowed: str, value: object, owner: str = OWNER) -> str:
    """Return the house error message (CONVENTIONS §1)."""
    return f"The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead."
