"""Declarative parameter constraints (shared/CONVENTIONS.md §2).

Each config field declares its constraint in its metadata::

    tau: float = field(metadata=constrained(Interval(0.0, None, closed="neither")))

and the constructor calls :func:`check_fields`, so an invalid config object cannot exist. Every
failure is a :class:`~pulsetrain.errors.ParameterError` with the house template
``The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead.``
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, Literal, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from pulsetrain.errors import ParameterError, ShapeError

__all__ = [
    "NON_NEGATIVE",
    "POSITIVE",
    "REAL",
    "Bool",
    "Constraint",
    "FiniteArray",
    "InstanceOf",
    "Integral",
    "Interval",
    "NoneOr",
    "Options",
    "check_fields",
    "constrained",
    "parameter_error",
    "validate_args",
]

P = ParamSpec("P")
R = TypeVar("R")

Closed = Literal["both", "left", "right", "neither"]
_CLOSED: Final = ("both", "left", "right", "neither")


def parameter_error(name: str, owner: str, allowed: str, value: object) -> ParameterError:
    """Build a :class:`ParameterError` with the house message template.

    Parameters
    ----------
    name : str
        Name of the offending parameter (a field name or a dotted key path).
    owner : str
        Class or function the parameter belongs to.
    allowed : str
        Description of the allowed values, e.g. ``"a float in the range (0, inf)"``.
    value : object
        The rejected value; its ``repr`` appears in the message.

    Returns
    -------
    ParameterError
        The error, ready to be raised.

    Examples
    --------
    >>> str(parameter_error("dw_min", "Device", "a float in the range (0, inf)", -0.1))
    "The 'dw_min' parameter of Device must be a float in the range (0, inf). Got -0.1 instead."
    """
    return ParameterError(name=name, owner=owner, allowed=allowed, value=value)


def _fmt(x: float | None, *, negative: bool) -> str:
    """Format an interval end: ``None`` is an infinite end; integral floats print as ints."""
    if x is None:
        return "-inf" if negative else "inf"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e16:
        return str(int(x))
    return repr(x)


def _is_real_number(value: object) -> bool:
    """Tell whether ``value`` is a real number and not a bool."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, int | float | np.integer | np.floating)


def _is_integer(value: object) -> bool:
    """Tell whether ``value`` is an integer and not a bool."""
    if isinstance(value, bool | np.bool_):
        return False
    return isinstance(value, int | np.integer)


class Constraint(ABC):
    """A set of allowed values for one parameter."""

    __slots__ = ()

    @abstractmethod
    def accepts(self, value: object) -> bool:
        """Tell whether ``value`` is allowed.

        Parameters
        ----------
        value : object
            Candidate value.

        Returns
        -------
        bool
            True if the value satisfies the constraint.
        """

    @abstractmethod
    def describe(self) -> str:
        """Describe the allowed set for error messages (``"a float in the range (0, inf)"``).

        Returns
        -------
        str
            The ``{allowed}`` part of the message template.
        """

    @abstractmethod
    def invalid(self) -> object:
        """Return one value that violates the constraint (for the generic test).

        Returns
        -------
        object
            A value for which :meth:`accepts` is False.
        """

    def normalise(self, value: object) -> object:
        """Return the canonical form of an accepted value (e.g. ``np.float64`` to ``float``).

        Parameters
        ----------
        value : object
            A value for which :meth:`accepts` is True.

        Returns
        -------
        object
            The value to store.
        """
        return value

    def validate(self, value: object, *, name: str, owner: str) -> object:
        """Check ``value`` and return its canonical form.

        Parameters
        ----------
        value : object
            Candidate value.
        name : str
            Parameter name for the error message.
        owner : str
            Owner name for the error message.

        Returns
        -------
        object
            The canonical value to store.

        Raises
        ------
        ParameterError
            If the value violates the constraint.
        """
        if not self.accepts(value):
            raise parameter_error(name, owner, self.describe(), value)
        return self.normalise(value)


class Interval(Constraint):
    """Real numbers in an interval; ``None`` is an infinite end.

    NaN and ±inf are always rejected: infinite ends are open.

    Parameters
    ----------
    low, high : float or None
        Interval ends; ``None`` means unbounded on that side.
    closed : {"both", "left", "right", "neither"}
        Which finite ends belong to the interval.

    Examples
    --------
    >>> Interval(0.0, None, closed="neither").describe()
    'a float in the range (0, inf)'
    """

    __slots__ = ("closed", "high", "low")
    _type_name: str = "a float"

    def __init__(self, low: float | None, high: float | None, *, closed: Closed = "both") -> None:
        if closed not in _CLOSED:
            raise parameter_error("closed", type(self).__name__, f"one of {_CLOSED}", closed)
        if low is not None and high is not None and not low < high:
            raise parameter_error("high", type(self).__name__, f"greater than low={low!r}", high)
        self.low = low
        self.high = high
        self.closed: Closed = closed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.low!r}, {self.high!r}, closed={self.closed!r})"

    def _type_ok(self, value: object) -> bool:
        return _is_real_number(value)

    def accepts(self, value: object) -> bool:
        if not self._type_ok(value):
            return False
        try:
            x = float(value)  # type: ignore[arg-type]
        except OverflowError:  # an int beyond the float range (10**400)
            return False
        if not math.isfinite(x):
            return False
        if self.low is not None:
            left_closed = self.closed in ("both", "left")
            if x < self.low or (x == self.low and not left_closed):
                return False
        if self.high is not None:
            right_closed = self.closed in ("both", "right")
            if x > self.high or (x == self.high and not right_closed):
                return False
        return True

    def describe(self) -> str:
        lb = "[" if self.closed in ("both", "left") and self.low is not None else "("
        rb = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        lo = _fmt(self.low, negative=True)
        hi = _fmt(self.high, negative=False)
        return f"{self._type_name} in the range {lb}{lo}, {hi}{rb}"

    def invalid(self) -> object:
        if self.low is not None:
            left_closed = self.closed in ("both", "left")
            return self.low - 1 if left_closed else self.low
        if self.high is not None:
            right_closed = self.closed in ("both", "right")
            return self.high + 1 if right_closed else self.high
        return math.nan

    def normalise(self, value: object) -> object:
        return float(value)  # type: ignore[arg-type]


class Integral(Interval):
    """Integers in an interval; ``None`` is an infinite end. Floats and bools are rejected.

    Examples
    --------
    >>> Integral(1, 1024).describe()
    'an int in the range [1, 1024]'
    """

    __slots__ = ()
    _type_name = "an int"

    def _type_ok(self, value: object) -> bool:
        return _is_integer(value)

    def invalid(self) -> object:
        value = Interval.invalid(self)
        return int(value) if isinstance(value, int | float) and math.isfinite(value) else 1.5

    def normalise(self, value: object) -> object:
        return int(value)  # type: ignore[call-overload]


REAL: Final = Interval(None, None)
"""Any finite float."""
POSITIVE: Final = Interval(0.0, None, closed="neither")
"""Finite floats above 0."""
NON_NEGATIVE: Final = Interval(0.0, None, closed="left")
"""Finite floats at least 0."""


class Options(Constraint):
    """One of a fixed set: the members of an :class:`enum.Enum` (or their values), or literals.

    An enum value given as its ``value`` (``"ceil"``) is stored as the member (``Rounding.CEIL``).

    Parameters
    ----------
    allowed : type[enum.Enum] or Collection
        The enum class, or a collection of allowed literal values.

    Examples
    --------
    >>> Options({"a", "b"}).describe()
    "one of 'a', 'b'"
    """

    __slots__ = ("allowed",)

    def __init__(self, allowed: type[enum.Enum] | Collection[object]) -> None:
        self.allowed = allowed

    def __repr__(self) -> str:
        return f"Options({self.allowed!r})"

    def _enum(self) -> type[enum.Enum] | None:
        allowed = self.allowed
        if isinstance(allowed, type) and issubclass(allowed, enum.Enum):
            return allowed
        return None

    def accepts(self, value: object) -> bool:
        enum_type = self._enum()
        if enum_type is None:
            return any(type(value) is type(a) and value == a for a in self.allowed)
        if isinstance(value, enum_type):
            return True
        return any(type(value) is type(m.value) and value == m.value for m in enum_type)

    def normalise(self, value: object) -> object:
        enum_type = self._enum()
        if enum_type is None or isinstance(value, enum_type):
            return value
        return enum_type(value)

    def describe(self) -> str:
        enum_type = self._enum()
        if enum_type is None:
            return "one of " + ", ".join(sorted(repr(a) for a in self.allowed))
        values = ", ".join(repr(m.value) for m in enum_type)
        return f"a {enum_type.__name__} (one of {values})"

    def invalid(self) -> object:
        return "<not an option>"


class Bool(Constraint):
    """``True`` or ``False`` (``numpy.bool_`` is stored as ``bool``; ints are rejected)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Bool()"

    def accepts(self, value: object) -> bool:
        return isinstance(value, bool | np.bool_)

    def normalise(self, value: object) -> object:
        return bool(value)

    def describe(self) -> str:
        return "a bool (True or False)"

    def invalid(self) -> object:
        return "yes"


class InstanceOf(Constraint):
    """An instance of one of the given classes.

    Parameters
    ----------
    types : tuple of type
        Allowed classes.
    """

    __slots__ = ("types",)

    def __init__(self, types: tuple[type, ...]) -> None:
        self.types = types

    def __repr__(self) -> str:
        return f"InstanceOf({self.types!r})"

    def accepts(self, value: object) -> bool:
        return isinstance(value, self.types)

    def describe(self) -> str:
        names = [t.__name__ for t in self.types]
        if len(names) == 1:
            return f"an instance of {names[0]}"
        return "an instance of one of " + ", ".join(names)

    def invalid(self) -> object:
        # A value of none of the accepted types: a string, or an object() when strings pass.
        if any(issubclass(str, t) for t in self.types):
            return object()
        return "<not an instance>"


class FiniteArray(Constraint):
    """Anything :func:`numpy.asarray` turns into a float64 array with only finite entries.

    The canonical form is that array (no copy when the value already is one), so a function
    checked by :func:`validate_args` receives an ``ndarray`` of float64.

    Examples
    --------
    >>> FiniteArray().validate([1, 2], name="x", owner="f").dtype
    dtype('float64')
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "FiniteArray()"

    def _coerce(self, value: object) -> np.ndarray[Any, np.dtype[np.float64]] | None:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        return arr if bool(np.all(np.isfinite(arr))) else None

    def accepts(self, value: object) -> bool:
        return self._coerce(value) is not None

    def normalise(self, value: object) -> object:
        return np.asarray(value, dtype=np.float64)

    def validate(self, value: object, *, name: str, owner: str) -> object:
        arr = self._coerce(value)
        if arr is None:
            raise parameter_error(name, owner, self.describe(), value)
        return arr

    def describe(self) -> str:
        return "a finite real array"

    def invalid(self) -> object:
        return [math.nan]


class NoneOr(Constraint):
    """``None``, or a value the inner constraint accepts.

    Parameters
    ----------
    inner : Constraint
        The constraint on values other than ``None``.

    Examples
    --------
    >>> NoneOr(Integral(1, 1024)).describe()
    'None or an int in the range [1, 1024]'
    """

    __slots__ = ("inner",)

    def __init__(self, inner: Constraint) -> None:
        self.inner = inner

    def __repr__(self) -> str:
        return f"NoneOr({self.inner!r})"

    def accepts(self, value: object) -> bool:
        return value is None or self.inner.accepts(value)

    def normalise(self, value: object) -> object:
        return None if value is None else self.inner.normalise(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def invalid(self) -> object:
        return self.inner.invalid()


def constrained(constraint: Constraint) -> Mapping[str, Constraint]:
    """Return field metadata declaring ``constraint``.

    Parameters
    ----------
    constraint : Constraint
        The field's allowed set.

    Returns
    -------
    Mapping[str, Constraint]
        ``{"constraint": constraint}``, for ``dataclasses.field(metadata=...)``.

    Examples
    --------
    >>> constrained(Bool())
    {'constraint': Bool()}
    """
    return {"constraint": constraint}


def check_fields(obj: object) -> None:
    """Validate every dataclass field of ``obj`` that declares a constraint.

    Accepted values are stored in canonical form (``np.float64`` and ints for float fields
    become ``float``, enum values become members), so equal configs compare and serialise equal.

    Parameters
    ----------
    obj : dataclass instance
        The config object, usually ``self`` in ``__post_init__``.

    Raises
    ------
    ParameterError
        Naming the first field (in declaration order) whose value is not allowed.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> ALD(tau=1).tau
    1.0
    """
    owner = type(obj).__name__
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        constraint = f.metadata.get("constraint")
        if not isinstance(constraint, Constraint):
            continue
        value = getattr(obj, f.name)
        canonical = constraint.validate(value, name=f.name, owner=owner)
        if canonical is not value:
            object.__setattr__(obj, f.name, canonical)


def validate_args(
    owner: str | None = None, /, **constraints: Constraint
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check a function's arguments by name before it runs (scikit-learn's ``validate_params``).

    Each keyword names a parameter of the decorated function and gives its
    :class:`Constraint`. On every call the arguments are bound to the signature (defaults
    included, so a default must satisfy its constraint) and checked in signature order; the
    first bad one raises :class:`~pulsetrain.errors.ParameterError` with the house template,
    whose owner is the function's qualified name (``"tile_key"``, ``"AnalogTile.update"``)
    unless ``owner`` is given. The function receives each checked argument in canonical form
    (:meth:`Constraint.normalise`: an ``np.int64`` for an :class:`Integral` arrives as ``int``,
    an int for an :class:`Interval` as ``float``), so a :class:`Constraint` subclass whose
    ``normalise`` coerces (say, to a float64 array) also replaces hand-written coercion helpers.
    Checks that involve two arguments, or the state of ``self``, stay in the body.

    The decorated function keeps its signature for type checkers (``ParamSpec``).

    Parameters
    ----------
    owner : str, optional
        Owner named in error messages (positional only); default the function's
        ``__qualname__``. Give it when the public name differs, e.g. ``"AnalogTile"`` for
        ``AnalogTile.__init__``.
    **constraints : Constraint
        One constraint per checked parameter, by parameter name.

    Returns
    -------
    Callable
        A decorator that returns the checked function; the constraints are readable as its
        ``__constraints__`` attribute (a mapping from parameter name to constraint).

    Raises
    ------
    ParameterError
        At decoration time, if a keyword names no parameter of the function; at call time, if
        an argument violates its constraint.

    Examples
    --------
    >>> @validate_args(steps=Integral(1, None), n_threads=NoneOr(Integral(1, 1024)))
    ... def train(steps: int, *, n_threads: int | None = None) -> int:
    ...     return steps
    >>> train(3)
    3
    >>> train(0)
    Traceback (most recent call last):
    ...
    pulsetrain.errors.ParameterError: The 'steps' parameter of train must be an int in the range [1, inf). Got 0 instead.
    >>> train(3, n_threads=0)
    Traceback (most recent call last):
    ...
    pulsetrain.errors.ParameterError: The 'n_threads' parameter of train must be None or an int in the range [1, 1024]. Got 0 instead.
    """  # noqa: E501 - a doctest's expected output is one line

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)
        name = owner if owner is not None else func.__qualname__
        for param, constraint in constraints.items():
            if param not in signature.parameters:
                allowed = "a parameter of the function (one of "
                allowed += ", ".join(repr(p) for p in signature.parameters) + ")"
                raise parameter_error(param, f"validate_args({name})", allowed, param)
            if not isinstance(constraint, Constraint):
                raise parameter_error(param, "validate_args", "a Constraint", constraint)
        ordered = [(p, constraints[p]) for p in signature.parameters if p in constraints]

        @functools.wraps(func)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            for param, constraint in ordered:
                arguments[param] = constraint.validate(arguments[param], name=param, owner=name)
            return func(*bound.args, **bound.kwargs)

        checked.__constraints__ = dict(ordered)  # type: ignore[attr-defined]
        return checked

    return decorate


def real_array(
    name: str, owner: str, value: object, *, copy: bool = False
) -> npt.NDArray[np.float64]:
    """Coerce an array argument to C-contiguous float64, or raise a ShapeError naming it.

    Only arrays of booleans, integers and real floats are numbers here: strings, dates,
    ``Decimal`` and other objects, complex values, ragged nested lists and masked arrays (whose
    mask would be silently dropped) are refused.

    Parameters
    ----------
    name, owner : str
        The argument and the function or method it belongs to (for the message).
    value : object
        The argument.
    copy : bool, optional
        Return a private copy even when ``value`` already is a float64 C array.

    Returns
    -------
    numpy.ndarray
        float64, C order (``value`` itself when it already is one and ``copy`` is False).

    Raises
    ------
    ShapeError
        Not a rectangular array of real numbers.
    """
    if isinstance(value, np.ma.MaskedArray):
        raise shape_error(name, owner, "a plain array (fill a masked array first)", "masked array")
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        got = f"a ragged or non-numeric {type(value).__name__}"
        raise shape_error(name, owner, "a rectangular array of real numbers", got) from exc
    if raw.dtype.kind not in "biuf":
        raise shape_error(name, owner, "an array of real numbers", f"dtype {raw.dtype}")
    if copy:
        return np.array(raw, dtype=np.float64, order="C", copy=True)
    return np.ascontiguousarray(raw, dtype=np.float64)


def shape_error(name: str, owner: str, allowed: str, got: str) -> ShapeError:
    """Build a ShapeError in the house template (CONVENTIONS §1)."""
    return ShapeError(f"The {name!r} parameter of {owner} must be {allowed}. Got {got} instead.")
