"""Spec dicts and the response families: mirrors ``rust/core/src/family.rs`` and ``spec.rs``.

:class:`DeviceSpec` parses and checks a device spec dict (KERNEL_SPEC §1) and evaluates ``q_±``
of every family in :data:`FAMILIES` (KERNEL_SPEC §2) with libm ``exp``/``pow``, as the core does;
:class:`UpdateSpec` parses an update dict (KERNEL_SPEC §8).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from pulsetrain.errors import ParameterError
from pulsetrain.twin._common import F64, Bools
from pulsetrain.twin._common import libm_exp as _exp
from pulsetrain.twin._common import libm_pow as _pow
from pulsetrain.twin._common import message as _message

__all__ = ["AFFINE_FAMILIES", "FAMILIES", "DeviceSpec", "UpdateKind", "UpdateSpec"]

FAMILIES: Final = (
    "ideal",
    "linear_step",
    "skew_linear",
    "soft_bounds",
    "power",
    "exponential",
    "power_step",
    "exp_step",
    "piecewise",
)
"""Response families of the device spec dict (spec §1-2)."""

AFFINE_FAMILIES: Final = ("ideal", "linear_step", "skew_linear", "soft_bounds")
"""Families whose ``q±(w)`` is affine in ``w``: the aggregated sampler's (spec §5)."""


_FLOAT_KEYS: Final = (
    "lo",
    "hi",
    "sp",
    "c",
    "alpha_up",
    "alpha_down",
    "gamma_up",
    "gamma_down",
    "dw_min",
    "dw_min_std",
    "dw_min_dtod",
    "up_down",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "reference_mean",
    "reference_std",
)
_BOOL_KEYS: Final = ("c2c_multiplicative", "dw_min_dtod_log_normal", "subtract_symmetry_point")
_NODE_KEYS: Final = ("piecewise_up", "piecewise_down")
"""The node lists of the ``piecewise`` family (present for it only)."""
PIECEWISE_MAX_NODES: Final = 4096
_NONNEGATIVE_KEYS: Final = (
    "dw_min_std",
    "dw_min_dtod",
    "up_down_dtod",
    "w_max_dtod",
    "w_min_dtod",
    "reference_std",
)


def _check_float(spec: Mapping[str, object], name: str) -> float:
    value = spec[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(_message(name, "a finite float", value))
    if not math.isfinite(value):
        raise ParameterError(_message(name, "a finite float", value))
    return float(value)


def _check_bool(spec: Mapping[str, object], name: str) -> bool:
    value = spec[name]
    ok = isinstance(value, bool)
    if not ok:
        raise ParameterError(_message(name, "a bool", value))
    return bool(value)


def _check_int(spec: Mapping[str, object], name: str, lo: int, hi: int | None) -> int:
    value = spec[name]
    allowed = f"an int in the range [{lo}, {'inf' if hi is None else hi}]"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ParameterError(_message(name, allowed, value))
    number = int(value)
    if number < lo or (hi is not None and number > hi):
        raise ParameterError(_message(name, allowed, value))
    return number


def _check_nodes(spec: Mapping[str, object], name: str) -> F64:
    value = spec[name]
    allowed = (
        f"a list of 2 to {PIECEWISE_MAX_NODES} finite floats in the range [0, inf), "
        "at least one positive"
    )
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(_message(name, allowed, value)) from None
    ok = (
        isinstance(value, list | tuple | np.ndarray)
        and arr.ndim == 1
        and 2 <= arr.size <= PIECEWISE_MAX_NODES
        and bool(np.all(np.isfinite(arr)))
        and bool(np.all(arr >= 0.0))
        and bool(np.any(arr > 0.0))
    )
    if not ok:
        raise ParameterError(_message(name, allowed, value))
    return arr


def _piecewise(v: F64, w: F64, lo: F64, hi: F64) -> F64:
    """Node values ``v`` interpolated at ``w`` on ``[lo, hi]`` (spec §2, ``piecewise``).

    ``fmax``/``fmin`` are Rust's ``f64::max``/``min`` (a NaN operand gives the other one).
    """
    n = v.size - 1
    s = np.fmax((w - lo) / (hi - lo) * float(n), 0.0)
    k = np.fmin(np.floor(s), float(n - 1))
    t = np.fmin(s - k, 1.0)
    i = k.astype(np.intp)
    out: F64 = (1.0 - t) * v[i] + t * v[i + 1]
    return out


def _check_keys(
    spec: Mapping[str, object],
    required: Sequence[str],
    owner: str,
    optional: Sequence[str] = (),
) -> None:
    for name in required:
        if name not in spec:
            raise ParameterError(_message(name, "present", "<missing>", owner))
    allowed = sorted((*required, *optional))
    for name in spec:
        if name not in allowed and name != "kind":
            raise ParameterError(_message(name, f"one of {allowed}", name, owner))


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A validated device spec dict (spec §1) with its response functions (spec §2).

    Build it with :meth:`from_dict`. The response functions take the element bounds ``lo_e``,
    ``hi_e`` as arrays, so that they serve d2d-varied elements.
    """

    family: str
    lo: float
    hi: float
    sp: float
    c: float
    alpha_up: float
    alpha_down: float
    gamma_up: float
    gamma_down: float
    dw_min: float
    dw_min_std: float
    c2c_multiplicative: bool
    dw_min_dtod: float
    dw_min_dtod_log_normal: bool
    up_down: float
    up_down_dtod: float
    w_max_dtod: float
    w_min_dtod: float
    reference_mean: float
    reference_std: float
    subtract_symmetry_point: bool
    piecewise_up: F64 | None = None
    piecewise_down: F64 | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, object]) -> DeviceSpec:
        """Validate a spec dict and build the spec.

        Parameters
        ----------
        spec : Mapping[str, object]
            All keys of spec §1 (a ``kind`` key is ignored, any other extra key is rejected).

        Returns
        -------
        DeviceSpec
            The validated spec.

        Raises
        ------
        ParameterError
            If a key is missing or unknown or a value is outside its allowed set.

        Examples
        --------
        >>> DeviceSpec.from_dict(
        ...     {"family": "ideal", "lo": -1.0, "hi": 1.0, "sp": 0.0, "c": 0.0, "alpha_up": 1.0,
        ...      "alpha_down": 1.0, "gamma_up": 1.0, "gamma_down": 1.0, "dw_min": 1e-3,
        ...      "dw_min_std": 0.0, "c2c_multiplicative": False, "dw_min_dtod": 0.0,
        ...      "dw_min_dtod_log_normal": False, "up_down_dtod": 0.0, "w_max_dtod": 0.0,
        ...      "w_min_dtod": 0.0, "reference_mean": 0.0, "reference_std": 0.0,
        ...      "subtract_symmetry_point": False}
        ... ).family
        'ideal'
        """
        # ``up_down`` is optional (default 0): specs written before it existed stay valid.
        spec = {"up_down": 0.0, **spec}
        family = spec.get("family")
        nodes = _NODE_KEYS if family == "piecewise" else ()
        _check_keys(spec, ("family", *_FLOAT_KEYS, *_BOOL_KEYS, *nodes), "the device spec")
        if family not in FAMILIES:
            raise ParameterError(_message("family", f"one of {list(FAMILIES)}", family))
        fields: dict[str, Any] = {name: _check_float(spec, name) for name in _FLOAT_KEYS}
        fields.update({name: _check_bool(spec, name) for name in _BOOL_KEYS})
        if nodes:
            up = _check_nodes(spec, "piecewise_up")
            down = _check_nodes(spec, "piecewise_down")
            if down.size != up.size:
                allowed = f"of the same length as piecewise_up ({up.size})"
                raise ParameterError(_message("piecewise_down", allowed, down.size))
            fields.update(piecewise_up=up, piecewise_down=down)
        dev = cls(family=str(family), **fields)
        dev._check_ranges()
        return dev

    def _check_ranges(self) -> None:
        if not self.lo < self.hi:
            raise ParameterError(_message("lo", f"below hi={self.hi!r}", self.lo))
        if not self.dw_min > 0.0:
            raise ParameterError(_message("dw_min", "a float in the range (0, inf)", self.dw_min))
        for name in _NONNEGATIVE_KEYS:
            value = getattr(self, name)
            if value < 0.0:
                raise ParameterError(_message(name, "a float in the range [0, inf)", value))
        if not abs(self.up_down) < 1.0:
            raise ParameterError(_message("up_down", "a float in the range (-1, 1)", self.up_down))
        if self.family == "linear_step" and not self.lo < self.sp < self.hi:
            raise ParameterError(_message("sp", "strictly between lo and hi", self.sp))
        if self.family in ("skew_linear", "soft_bounds", "power", "exponential") and not (
            self.lo < 0.0 < self.hi
        ):
            raise ParameterError(_message("lo", "negative with hi positive", (self.lo, self.hi)))
        if self.family == "skew_linear" and not abs(self.c) < 1.0:
            raise ParameterError(_message("c", "a float in the range (-1, 1)", self.c))
        for name in ("alpha_up", "alpha_down", "gamma_up", "gamma_down"):
            value = getattr(self, name)
            if not value > 0.0:
                raise ParameterError(_message(name, "a float in the range (0, inf)", value))
        if self.subtract_symmetry_point and self.family == "ideal":
            raise ParameterError(
                _message("subtract_symmetry_point", "False for family 'ideal'", value=True)
            )

    @property
    def shape_origin(self) -> float:
        """The point ``s`` the d2d bound spread scales around: ``sp`` for linear_step, else 0."""
        return self.sp if self.family == "linear_step" else 0.0

    @property
    def affine(self) -> bool:
        """True when ``q±`` is affine in ``w`` (ideal, linear_step, skew_linear, soft_bounds)."""
        return self.family in AFFINE_FAMILIES

    def affine_map(self, lo: F64, hi: F64, step: F64, up: Bools) -> tuple[F64, F64, Bools]:
        """Return the noise-free pulse map ``w -> w*r + c`` of an affine family (pulse.rs).

        Parameters
        ----------
        lo, hi : numpy.ndarray of float64
            Element bounds.
        step : numpy.ndarray of float64
            Each element's step in its pulse's direction.
        up : numpy.ndarray of bool
            Pulse directions.

        Returns
        -------
        tuple of numpy.ndarray
            ``(r, c, ok)``: ``r = 1 - β`` and ``c = β·b`` (b the bound in the pulse's direction;
            ideal: ``r = 1``, ``c = ±step``), ``ok`` where ``0 <= β < 1`` (KERNEL_SPEC §5).
        """
        b = np.where(up, hi, lo)
        if self.family == "ideal":
            return np.ones_like(step), np.where(up, step, -step), np.ones(step.shape, dtype=bool)
        with np.errstate(all="ignore"):
            if self.family == "linear_step":
                beta = step / np.abs(b - self.sp)
            elif self.family == "skew_linear":
                beta = (step * np.where(up, 1.0 + self.c, 1.0 - self.c)) / np.abs(b)
            else:  # soft_bounds
                beta = (step * np.where(up, self.alpha_up, self.alpha_down)) / np.abs(b)
            ok = (beta >= 0.0) & (beta < 1.0)
            return 1.0 - beta, beta * b, ok

    def q_plus(self, w: F64, lo: F64, hi: F64) -> F64:
        """Return the up response ``q+(w)`` of elements with bounds ``lo``, ``hi`` (spec §2).

        Parameters
        ----------
        w, lo, hi : numpy.ndarray of float64
            Physical states and element bounds, of the same shape.

        Returns
        -------
        numpy.ndarray of float64
            ``q+`` per element.
        """
        fam = self.family
        if fam == "ideal":
            return np.ones_like(w)
        if fam == "linear_step":
            return 1.0 - (w - self.sp) / (hi - self.sp)
        if fam == "skew_linear":
            return (1.0 + self.c) * (1.0 - w / hi)
        if fam == "soft_bounds":
            return self.alpha_up * (1.0 - w / hi)
        if fam == "power":
            return _pow(np.maximum(1.0 - w / hi, 0.0), self.gamma_up)
        if fam == "exponential":
            return (_exp(self.gamma_up * (1.0 - w / hi)) - 1.0) / (math.exp(self.gamma_up) - 1.0)
        if fam == "power_step":
            return _pow(np.maximum((hi - w) / (hi - lo), 0.0), self.gamma_up)
        if fam == "piecewise":
            assert self.piecewise_up is not None
            return _piecewise(self.piecewise_up, w, lo, hi)
        # exp_step
        return 1.0 - _exp(-self.gamma_up * (hi - w) / (hi - lo))

    def q_minus(self, w: F64, lo: F64, hi: F64) -> F64:
        """Return the down response ``q-(w)`` of elements with bounds ``lo``, ``hi`` (spec §2).

        Parameters
        ----------
        w, lo, hi : numpy.ndarray of float64
            Physical states and element bounds, of the same shape.

        Returns
        -------
        numpy.ndarray of float64
            ``q-`` per element.
        """
        fam = self.family
        if fam == "ideal":
            return np.ones_like(w)
        if fam == "linear_step":
            return 1.0 - (w - self.sp) / (lo - self.sp)
        if fam == "skew_linear":
            return (1.0 - self.c) * (1.0 - w / lo)
        if fam == "soft_bounds":
            return self.alpha_down * (1.0 - w / lo)
        if fam == "power":
            return _pow(np.maximum(1.0 - w / lo, 0.0), self.gamma_down)
        if fam == "exponential":
            return (_exp(self.gamma_down * (1.0 - w / lo)) - 1.0) / (
                math.exp(self.gamma_down) - 1.0
            )
        if fam == "power_step":
            return _pow(np.maximum((w - lo) / (hi - lo), 0.0), self.gamma_down)
        if fam == "piecewise":
            assert self.piecewise_down is not None
            return _piecewise(self.piecewise_down, w, lo, hi)
        # exp_step
        return 1.0 - _exp(-self.gamma_down * (w - lo) / (hi - lo))


UpdateKind = Literal["expected", "pulse_count", "stochastic_pulse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateSpec:
    """A validated update dict (spec §8 "Update dicts"); build it with :meth:`from_dict`."""

    kind: UpdateKind
    noise: bool = False
    max_bl: int = 0
    rounding: Literal["ceil", "stochastic"] = "ceil"
    desired_bl: int = 31
    update_management: bool = True
    update_bl_management: bool = True
    fixed_bl: bool = True
    um_grad_scale: float = 1.0
    aggregate: bool = True
    aggregate_samples: int = 1

    @classmethod
    def from_dict(cls, update: Mapping[str, object]) -> UpdateSpec:
        """Validate an update dict and build the spec.

        Parameters
        ----------
        update : Mapping[str, object]
            ``{"kind": "expected", "noise": bool}``, ``{"kind": "pulse_count", "max_bl": int,
            "rounding": "ceil" | "stochastic"}`` or ``{"kind": "stochastic_pulse", ...}`` with
            every key of spec §8.

        Returns
        -------
        UpdateSpec
            The validated update spec.

        Raises
        ------
        ParameterError
            If the kind is unknown, a key is missing or unknown, or a value is out of range.

        Examples
        --------
        >>> UpdateSpec.from_dict({"kind": "pulse_count", "max_bl": 8, "rounding": "ceil"}).max_bl
        8
        """
        kind = update.get("kind")
        if kind == "expected":
            _check_keys(update, ("kind", "noise"), "the update dict")
            return cls(kind="expected", noise=_check_bool(update, "noise"))
        if kind == "pulse_count":
            _check_keys(update, ("kind", "max_bl", "rounding"), "the update dict", ("aggregate",))
            rounding = update["rounding"]
            aggregate = "aggregate" not in update or _check_bool(update, "aggregate")
            if rounding == "ceil":
                return cls(
                    kind="pulse_count",
                    max_bl=_check_int(update, "max_bl", 1, None),
                    aggregate=aggregate,
                )
            if rounding == "stochastic":
                return cls(
                    kind="pulse_count",
                    max_bl=_check_int(update, "max_bl", 1, None),
                    rounding="stochastic",
                    aggregate=aggregate,
                )
            raise ParameterError(_message("rounding", "one of ['ceil', 'stochastic']", rounding))
        if kind == "stochastic_pulse":
            names = (
                "kind",
                "desired_bl",
                "update_management",
                "update_bl_management",
                "fixed_bl",
                "um_grad_scale",
            )
            _check_keys(update, names, "the update dict", ("aggregate", "aggregate_samples"))
            scale = _check_float(update, "um_grad_scale")
            if not scale > 0.0:
                raise ParameterError(_message("um_grad_scale", "a float in (0, inf)", scale))
            return cls(
                kind="stochastic_pulse",
                desired_bl=_check_int(update, "desired_bl", 1, 1024),
                update_management=_check_bool(update, "update_management"),
                update_bl_management=_check_bool(update, "update_bl_management"),
                fixed_bl=_check_bool(update, "fixed_bl"),
                um_grad_scale=scale,
                aggregate="aggregate" not in update or _check_bool(update, "aggregate"),
                aggregate_samples=(
                    _check_int(update, "aggregate_samples", 1, 1024)
                    if "aggregate_samples" in update
                    else 1
                ),
            )
        allowed = "one of ['expected', 'pulse_count', 'stochastic_pulse']"
        raise ParameterError(_message("kind", allowed, kind))
