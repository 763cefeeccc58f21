"""The base of the response families and their registry (shared/theory.md §1-2).

Every family evaluates the formulas of KERNEL_SPEC §2 in terms of ``(lo, hi)`` in exactly the
order written there, so the NumPy and Rust values agree::

    F = (q_- + q_+)/2,   G = (q_- - q_+)/2,   M = q_+ q_- = F**2 - G**2

The symmetric point (SP) solves ``G(w) = 0`` (shared/theory.md §1.3). A family class owns its
``q_±`` (:meth:`_Response.spec_q_up`, :meth:`_Response.spec_q_down`), its SP and its closed-form
slope; :func:`register_family` adds it to :data:`RESPONSE_FAMILIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Self, TypeVar

import numpy as np
import numpy.typing as npt

from pulsetrain._validation import parameter_error
from pulsetrain.config import ConfigMixin, register

__all__ = [
    "RESPONSE_FAMILIES",
    "register_family",
    "spec_q_minus",
    "spec_q_plus",
]

FloatArray = npt.NDArray[np.float64]

_BISECTION_STEPS: Final = 100

_FAMILIES: dict[str, type[_Response]] = {}
_BY_SPEC_FAMILY: dict[str, type[_Response]] = {}

RESPONSE_FAMILIES: Final[Mapping[str, type[_Response]]] = MappingProxyType(_FAMILIES)
"""The response family classes by config ``kind``, in registration (documentation) order."""

R = TypeVar("R", bound="type[_Response]")


def register_family(cls: R) -> R:
    """Register a response family: as a config class, and in :data:`RESPONSE_FAMILIES`.

    The first class registered for a spec ``family`` name evaluates ``q_±`` of spec dicts of
    that name (:func:`spec_q_plus`); later ones (ALD after LinearStep's name) must agree.

    Parameters
    ----------
    cls : type
        A frozen config dataclass deriving from ``_Response`` with ``kind`` and ``spec_family``.

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    ParameterError
        If ``cls`` is not a valid config class or its ``kind`` is taken.

    Examples
    --------
    >>> from pulsetrain.devices import RESPONSE_FAMILIES
    >>> RESPONSE_FAMILIES["ald"].spec_family
    'linear_step'
    """
    register(cls)
    _FAMILIES[cls.kind] = cls
    _BY_SPEC_FAMILY.setdefault(cls.spec_family, cls)
    return cls


def _spec_family_class(family: object) -> type[_Response]:
    cls = _BY_SPEC_FAMILY.get(family) if isinstance(family, str) else None
    if cls is None:
        raise parameter_error("family", "spec", f"one of {tuple(_BY_SPEC_FAMILY)}", family)
    return cls


def _spec_value(spec: Mapping[str, Any], key: str, override: npt.ArrayLike | None) -> Any:
    if override is not None:
        return np.asarray(override, dtype=np.float64)
    return float(spec[key])


def spec_q_plus(
    spec: Mapping[str, Any],
    w: npt.ArrayLike,
    *,
    lo: npt.ArrayLike | None = None,
    hi: npt.ArrayLike | None = None,
) -> FloatArray:
    """Evaluate ``q_+`` of a spec dict exactly as KERNEL_SPEC §2 writes it.

    Parameters
    ----------
    spec : Mapping
        A spec dict (:meth:`Device.to_spec` or a family's ``to_spec()``): ``family``, ``lo``,
        ``hi``, ``sp``, ``c``, ``alpha_up``, ``gamma_up``.
    w : array_like
        Physical states, in weight units.
    lo, hi : array_like, optional
        Per-element bounds ``lo_e``, ``hi_e`` broadcastable with ``w``; default ``spec["lo"]``,
        ``spec["hi"]``.

    Returns
    -------
    ndarray of float64
        ``q_+(w)``, broadcast shape of the inputs (0-d for scalar input).

    Raises
    ------
    ParameterError
        If ``spec["family"]`` is unknown.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> float(spec_q_plus(ALD(tau=1.0).to_spec(), 0.5))
    0.5
    """
    x = np.asarray(w, dtype=np.float64)
    lo_v = _spec_value(spec, "lo", lo)
    hi_v = _spec_value(spec, "hi", hi)
    out = _spec_family_class(spec["family"]).spec_q_up(spec, x, lo_v, hi_v)
    return np.asarray(out, dtype=np.float64)


def spec_q_minus(
    spec: Mapping[str, Any],
    w: npt.ArrayLike,
    *,
    lo: npt.ArrayLike | None = None,
    hi: npt.ArrayLike | None = None,
) -> FloatArray:
    """Evaluate ``q_-`` of a spec dict exactly as KERNEL_SPEC §2 writes it.

    Parameters
    ----------
    spec : Mapping
        A spec dict: ``family``, ``lo``, ``hi``, ``sp``, ``c``, ``alpha_down``, ``gamma_down``.
    w : array_like
        Physical states, in weight units.
    lo, hi : array_like, optional
        Per-element bounds broadcastable with ``w``; default ``spec["lo"]``, ``spec["hi"]``.

    Returns
    -------
    ndarray of float64
        ``q_-(w)``, broadcast shape of the inputs (0-d for scalar input).

    Raises
    ------
    ParameterError
        If ``spec["family"]`` is unknown.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> float(spec_q_minus(ALD(tau=1.0).to_spec(), 0.5))
    1.5
    """
    x = np.asarray(w, dtype=np.float64)
    lo_v = _spec_value(spec, "lo", lo)
    hi_v = _spec_value(spec, "hi", hi)
    out = _spec_family_class(spec["family"]).spec_q_down(spec, x, lo_v, hi_v)
    return np.asarray(out, dtype=np.float64)


def family_spec(
    family: str,
    lo: float,
    hi: float,
    *,
    sp: float = 0.0,
    c: float = 0.0,
    alpha_up: float = 1.0,
    alpha_down: float = 1.0,
    gamma_up: float = 1.0,
    gamma_down: float = 1.0,
) -> dict[str, Any]:
    """Build the response part of a spec dict, keys in KERNEL_SPEC §1 order.

    Parameters
    ----------
    family : str
        The spec family name.
    lo, hi : float
        Bounds of the physical state, in weight units.
    sp, c, alpha_up, alpha_down, gamma_up, gamma_down : float, optional
        The shape parameters the family uses; the others keep their neutral defaults.

    Returns
    -------
    dict
        ``family``, ``lo``, ``hi``, ``sp``, ``c``, ``alpha_up``, ``alpha_down``, ``gamma_up``,
        ``gamma_down``.
    """
    return {
        "family": family,
        "lo": float(lo),
        "hi": float(hi),
        "sp": float(sp),
        "c": float(c),
        "alpha_up": float(alpha_up),
        "alpha_down": float(alpha_down),
        "gamma_up": float(gamma_up),
        "gamma_down": float(gamma_down),
    }


class _Response(ConfigMixin):
    """Shared methods of the response families (not a config class itself)."""

    __slots__ = ()
    kind: ClassVar[str]
    spec_family: ClassVar[str]
    """The spec ``family`` name the Rust core and the twin know this family by."""

    @staticmethod
    def spec_q_up(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_+`` of a spec dict of this family (KERNEL_SPEC §2).

        Parameters
        ----------
        spec : Mapping
            The spec dict (its shape parameters).
        x : ndarray of float64
            Physical states.
        lo, hi : float or ndarray of float64
            Bounds, broadcastable with ``x``.

        Returns
        -------
        ndarray or float
            ``q_+``, evaluated in the operation order of KERNEL_SPEC §2.
        """
        raise NotImplementedError  # pragma: no cover  (every family overrides it)

    @staticmethod
    def spec_q_down(spec: Mapping[str, Any], x: FloatArray, lo: Any, hi: Any) -> Any:
        """Return ``q_-`` of a spec dict of this family (KERNEL_SPEC §2).

        Parameters
        ----------
        spec : Mapping
            The spec dict (its shape parameters).
        x : ndarray of float64
            Physical states.
        lo, hi : float or ndarray of float64
            Bounds, broadcastable with ``x``.

        Returns
        -------
        ndarray or float
            ``q_-``, evaluated in the operation order of KERNEL_SPEC §2.
        """
        raise NotImplementedError  # pragma: no cover  (every family overrides it)

    @classmethod
    def example(cls) -> Self:
        """Return a valid instance for docs and tests (every family overrides it).

        Returns
        -------
        _Response
            An instance of ``cls``.
        """
        raise NotImplementedError  # pragma: no cover  (every family overrides it)

    @classmethod
    def examples(cls) -> tuple[Self, ...]:
        """Return valid instances spanning the family's shapes; the first is :meth:`example`.

        The tests run every family-generic check (identities of F and G, the symmetric point,
        the analysis, the twin) on each, so a new family is covered by defining these two.

        Returns
        -------
        tuple
            At least one instance of ``cls``.
        """
        return (cls.example(),)

    def to_spec(self) -> dict[str, Any]:
        """Return the response part of the spec dict (KERNEL_SPEC §1).

        Returns
        -------
        dict
            ``family``, ``lo``, ``hi``, ``sp``, ``c``, ``alpha_up``, ``alpha_down``,
            ``gamma_up``, ``gamma_down``, all floats except ``family``.
        """
        raise NotImplementedError  # pragma: no cover  (every family overrides it)

    def bounds(self) -> tuple[float, float]:
        """Return the conductance bounds ``(lo, hi)`` of the physical state, in weight units.

        Returns
        -------
        tuple of float
            ``(lo, hi)`` with ``lo < hi``.
        """
        spec = self.to_spec()
        return float(spec["lo"]), float(spec["hi"])

    def q_plus(self, w: npt.ArrayLike) -> FloatArray:
        """Up-pulse response ``q_+(w)`` (KERNEL_SPEC §2), vectorised over ``w``.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w`` (0-d for a scalar).
        """
        return spec_q_plus(self.to_spec(), w)

    def q_minus(self, w: npt.ArrayLike) -> FloatArray:
        """Down-pulse response ``q_-(w)`` (KERNEL_SPEC §2), vectorised over ``w``.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w`` (0-d for a scalar).
        """
        return spec_q_minus(self.to_spec(), w)

    def F(self, w: npt.ArrayLike) -> FloatArray:
        """Symmetric component ``F = (q_- + q_+)/2`` (shared/theory.md §1.2).

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray((spec_q_minus(spec, w) + spec_q_plus(spec, w)) / 2, dtype=np.float64)

    def G(self, w: npt.ArrayLike) -> FloatArray:
        """Asymmetric component ``G = (q_- - q_+)/2`` (shared/theory.md §1.2); zero at the SP.

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray((spec_q_minus(spec, w) - spec_q_plus(spec, w)) / 2, dtype=np.float64)

    def M(self, w: npt.ArrayLike) -> FloatArray:
        """Saturation ``M = q_+ q_- = F² - G²`` (shared/theory.md §1.3).

        Parameters
        ----------
        w : array_like
            States, in weight units.

        Returns
        -------
        ndarray of float64
            Same shape as ``w``.
        """
        spec = self.to_spec()
        return np.asarray(spec_q_plus(spec, w) * spec_q_minus(spec, w), dtype=np.float64)

    def symmetric_point(self) -> float:
        """Return the symmetric point, the root of ``G`` in ``[lo, hi]``.

        The base implementation is the bisection of KERNEL_SPEC §4 (100 halvings of
        ``[lo, hi]`` on ``q_-(m) - q_+(m)``); families with a closed form override it.

        Returns
        -------
        float
            The SP, in weight units.
        """
        spec = self.to_spec()
        a, b = float(spec["lo"]), float(spec["hi"])
        for _ in range(_BISECTION_STEPS):
            m = 0.5 * (a + b)
            if m <= a or m >= b:
                break
            h = float(spec_q_minus(spec, m)) - float(spec_q_plus(spec, m))
            if h > 0:
                b = m
            else:
                a = m
        return 0.5 * (a + b)

    def slope_at_sp(self) -> float | None:
        """Return ``R'(w◇) = G'(w◇)/F(w◇)`` in closed form, or None if there is none.

        :func:`pulsetrain.analysis.slope_at_sp` falls back to a numeric derivative on None.

        Returns
        -------
        float or None
            The slope, in 1/weight units (shared/theory.md §2.1), or None.
        """
        return None

    def _check_spec_bounds(self) -> None:
        """Reject parameters whose float64 bounds collapse (``lo < sp < hi`` must hold)."""
        spec = self.to_spec()
        lo, hi, sp = spec["lo"], spec["hi"], spec["sp"]
        if not (lo < hi and math.isfinite(lo) and math.isfinite(hi)):
            raise parameter_error(
                "bounds", type(self).__name__, "finite with lo < hi in float64", (lo, hi)
            )
        if spec["family"] == "linear_step" and not lo < sp < hi:
            raise parameter_error(
                "sp", type(self).__name__, f"strictly inside the bounds ({lo!r}, {hi!r})", sp
            )
