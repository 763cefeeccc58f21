"""The exception tree of pulsetrain (shared/CONVENTIONS.md §1).

Every error pulsetrain raises on purpose is a :class:`PulsetrainError`; every error caused by bad
input is also a :class:`ValueError`. All messages follow one template::

    The {name!r} parameter of {owner} must be {allowed}. Got {value!r} instead.

A :class:`ParameterError` carries the template's parts as attributes (``name``, ``owner``,
``allowed``, ``value``), so callers never re-parse a message; :meth:`ParameterError.with_path`
names a field by its key path inside an enclosing config.
"""

from __future__ import annotations

import ast
import pickle
import re
from typing import Any, Final

__all__ = [
    "MissingExtraError",
    "NonFiniteError",
    "ParameterError",
    "PulsetrainError",
    "ResultFileError",
    "ShapeError",
]

_TEMPLATE: Final = re.compile(
    r"^The (?P<name>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") parameter of (?P<owner>.+?) "
    r"must be (?P<allowed>.*?)\. Got (?P<value>.*) instead\.$",
    re.S,
)


def _render(name: str, owner: str, allowed: str, value_repr: str) -> str:
    """Write the house message template from its parts (``value_repr`` already formatted)."""
    return f"The {name!r} parameter of {owner} must be {allowed}. Got {value_repr} instead."


def _parse(message: str) -> tuple[str, str, str, str] | None:
    """Split a template message into ``(name, owner, allowed, value_repr)``, or None.

    The split is accepted only if writing the parts back gives the message exactly, so an
    ambiguous message (one whose parts contain the template's own words) is left unparsed.
    """
    m = _TEMPLATE.match(message)
    if m is None:
        return None
    try:
        name = ast.literal_eval(m.group("name"))
    except (ValueError, SyntaxError):
        return None
    parts = (name, m.group("owner"), m.group("allowed"), m.group("value"))
    if not isinstance(name, str) or _render(*parts) != message:
        return None
    return parts


class _Unpicklable:
    """Stands for a rejected value that cannot be pickled; prints as the value did."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _rebuild(cls: type[ParameterError], fields: dict[str, Any]) -> ParameterError:
    """Unpickle a :class:`ParameterError` (see :meth:`ParameterError.__reduce__`)."""
    err = cls(fields.pop("message"))
    for key, value in fields.items():
        setattr(err, key, value)
    return err


class PulsetrainError(Exception):
    """Base of every error pulsetrain raises on purpose."""


class ParameterError(PulsetrainError, ValueError):
    """A parameter is outside its allowed set.

    Build it from its parts (the message is then written with the house template) or, as the
    Rust core does, from a finished message. A message that follows the template is parsed once,
    here: ``name``, ``owner`` and ``allowed`` are filled in, ``value`` is None (the value itself
    did not cross the language boundary) and ``value_repr`` holds its printed form. A message
    that does not follow the template leaves all four fields None.

    Parameters
    ----------
    message : str, optional
        The finished message. Give it *or* the keyword parts, not both.
    name : str, optional
        Name of the offending parameter (a field name or a dotted key path).
    owner : str, optional
        Class or function the parameter belongs to.
    allowed : str, optional
        The allowed set in words, e.g. ``"a float in the range (0, inf)"``.
    value : object, optional
        The rejected value; its ``repr`` appears in the message.

    Attributes
    ----------
    name, owner, allowed : str or None
        The template's parts; None if the message does not follow the template.
    value : object
        The rejected value (None when built from a message).
    value_repr : str or None
        The value as printed in the message.

    Examples
    --------
    >>> err = ParameterError(name="dw_min", owner="Device", allowed="a float > 0", value=-0.1)
    >>> str(err)
    "The 'dw_min' parameter of Device must be a float > 0. Got -0.1 instead."
    >>> err.with_path("algorithm.device").name
    'algorithm.device.dw_min'
    >>> ParameterError(str(err)).owner
    'Device'
    """

    name: str | None
    owner: str | None
    allowed: str | None
    value: object
    value_repr: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        name: str | None = None,
        owner: str | None = None,
        allowed: str | None = None,
        value: object = None,
    ) -> None:
        if message is None:
            if name is None or owner is None or allowed is None:
                super().__init__()
                self.name = self.owner = self.allowed = self.value_repr = None
                self.value = value
                return
            value_repr = repr(value)
            message = _render(name, owner, allowed, value_repr)
            super().__init__(message)
            self.name, self.owner, self.allowed = name, owner, allowed
            self.value, self.value_repr = value, value_repr
            return
        super().__init__(message)
        parts = _parse(str(message))
        if parts is None:
            self.name = self.owner = self.allowed = self.value_repr = None
        else:
            self.name, self.owner, self.allowed, self.value_repr = parts
        self.value = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with every field (an unpicklable value travels as its ``repr``)."""
        value = self.value
        try:
            pickle.dumps(value)
        except Exception:
            value = _Unpicklable(self.value_repr or repr(value))
        fields = {
            "message": str(self) if self.args else None,
            "name": self.name,
            "owner": self.owner,
            "allowed": self.allowed,
            "value": value,
            "value_repr": self.value_repr,
        }
        return (_rebuild, (type(self), fields))

    def with_path(self, prefix: str) -> ParameterError:
        """Return this error with its name prefixed by the key path ``prefix``.

        Used when a nested config fails to load: its constructor names only its own field
        (``'lr'``); the loader knows where the config sits (``'algorithms[2].algorithm'``).

        Parameters
        ----------
        prefix : str
            Dotted key path of the config that owns the parameter; ``""`` changes nothing.

        Returns
        -------
        ParameterError
            A new error of the same class naming ``prefix.name`` (``prefix[i]`` when the name
            starts with ``[``), same owner, allowed set and value; ``self`` when ``prefix`` is
            empty, the name already starts with it, or the message does not follow the template.

        Examples
        --------
        >>> err = ParameterError(name="lr", owner="RIDER", allowed="a float", value="x")
        >>> str(err.with_path("algorithms[2].algorithm"))
        "The 'algorithms[2].algorithm.lr' parameter of RIDER must be a float. Got 'x' instead."
        """
        name, owner, allowed = self.name, self.owner, self.allowed
        if not prefix or name is None or owner is None or allowed is None:
            return self
        if name == prefix or name.startswith((prefix + ".", prefix + "[")):
            return self
        path = f"{prefix}{name}" if name.startswith("[") else f"{prefix}.{name}"
        value_repr = self.value_repr if self.value_repr is not None else repr(self.value)
        err = type(self)(_render(path, owner, allowed, value_repr))
        err.value = self.value
        return err


class ShapeError(PulsetrainError, ValueError):
    """An array has the wrong shape, dtype or layout."""


class NonFiniteError(PulsetrainError, ValueError):
    """An array holds NaN or inf."""


class ResultFileError(PulsetrainError, ValueError):
    """A saved result is missing, damaged or not a pulsetrain result (``TrainResult.load``).

    Parameters
    ----------
    path : str
        The file at fault.
    problem : str
        What is wrong with it.

    Attributes
    ----------
    path, problem : str
        As given.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor arguments."""
        return (type(self), (self.path, self.problem))


class MissingExtraError(PulsetrainError, ImportError):
    """An optional dependency (a pulsetrain extra) is not installed.

    Parameters
    ----------
    extra : str
        The extra's name, e.g. ``"plot"``.
    package : str
        The missing package, e.g. ``"matplotlib"``.
    what : str
        What needs it, e.g. ``"Plotting"``.

    Attributes
    ----------
    extra, package : str
        As given.

    Examples
    --------
    >>> str(MissingExtraError("plot", "matplotlib", "Plotting")).split(": ")[1]
    "pip install 'pulsetrain[plot]'"
    """

    def __init__(self, extra: str, package: str, what: str) -> None:
        super().__init__(
            f"{what} needs {package}, which is not installed. Install the {extra!r} extra: "
            f"pip install 'pulsetrain[{extra}]'",
            name=package,
        )
        self.extra = extra
        self.package = package
        self.what = what

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the constructor arguments."""
        return (type(self), (self.extra, self.package, self.what))
