"""Config kinds, dict conversion and exact TOML/JSON serialisation (shared/DESIGN.md §5.7).

Every config class is a frozen dataclass with a unique ``kind`` class variable and is registered
with :func:`register`. :func:`to_dict` writes the ``kind`` first, enums as their values and nested
configs as dicts; :func:`from_dict` dispatches on ``kind``, rejects unknown keys and converts
values back, so ``from_dict(to_dict(x)) == x`` holds exactly. TOML is read with :mod:`tomllib`
and written by the small canonical writer :func:`dumps_toml` (floats written with ``repr``, which
round-trips every float exactly).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from pulsetrain._validation import parameter_error
from pulsetrain.errors import ParameterError

__all__ = [
    "dumps_json",
    "dumps_toml",
    "from_dict",
    "loads_json",
    "loads_toml",
    "register",
    "registered_classes",
    "resolve_includes",
    "to_dict",
]

T = TypeVar("T")

_REGISTRY: dict[str, type] = {}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _Missing:
    """Stand-in value for a key that is absent (its ``repr`` reads well in messages)."""

    def __repr__(self) -> str:
        return "nothing"


_MISSING = _Missing()


def register(cls: type[T]) -> type[T]:
    """Register a config dataclass under its ``kind`` (class decorator).

    Parameters
    ----------
    cls : type
        A dataclass with a class variable ``kind: ClassVar[str]``.

    Returns
    -------
    type
        ``cls`` itself.

    Raises
    ------
    ParameterError
        If ``cls`` is not a dataclass, has no string ``kind``, or another class already uses it.

    Examples
    --------
    >>> from pulsetrain.devices import ALD
    >>> ALD in registered_classes()
    True
    """
    kind = getattr(cls, "kind", None)
    if not dataclasses.is_dataclass(cls) or not isinstance(kind, str) or not kind:
        raise parameter_error("cls", "register", "a dataclass with a str 'kind'", cls)
    existing = _REGISTRY.get(kind)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise parameter_error("kind", cls.__name__, f"unique (taken by {existing.__name__})", kind)
    _REGISTRY[kind] = cls
    return cls


def registered_classes() -> tuple[type, ...]:
    """Return every registered config class, sorted by ``kind``.

    Returns
    -------
    tuple of type
        The registered classes.

    Examples
    --------
    >>> import pulsetrain.updates
    >>> [c.kind for c in registered_classes() if c.kind == "pulse_count"]
    ['pulse_count']
    """
    return tuple(_REGISTRY[k] for k in sorted(_REGISTRY))


def _to_plain(value: object) -> object:
    """Convert a field value into plain data (enums to values, configs to dicts)."""
    if isinstance(value, enum.Enum):
        return _to_plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def to_dict(obj: object) -> dict[str, Any]:
    """Convert a registered config object into a plain dict.

    Parameters
    ----------
    obj : config object
        An instance of a registered config class.

    Returns
    -------
    dict
        ``{"kind": ..., field: value, ...}`` in field order; enums become their values, nested
        configs become dicts and tuples become lists.

    Raises
    ------
    ParameterError
        If ``obj`` is not an instance of a registered config class.

    Examples
    --------
    >>> from pulsetrain.updates import PulseCountUpdate
    >>> to_dict(PulseCountUpdate(max_bl=8))
    {'kind': 'pulse_count', 'max_bl': 8, 'rounding': 'ceil', 'aggregate': True}
    """
    cls = type(obj)
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or _REGISTRY.get(kind) is not cls:
        raise parameter_error("obj", "to_dict", "an instance of a registered config class", obj)
    out: dict[str, Any] = {"kind": kind}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        out[f.name] = _to_plain(getattr(obj, f.name))
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _convert(value: object, hint: object, path: str, owner: str) -> object:
    """Convert plain data back into a field value according to the field's type hint."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is not type(None) and _hint_matches(value, option):
                return _convert(value, option, path, owner)
        return _convert_untyped(value, path)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if isinstance(value, hint):
            return value
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in hint)
            raise parameter_error(path, owner, f"one of {allowed}", value) from None
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{path}[{i}]", owner) for i, v in enumerate(value))
        if len(args) == len(value):
            return tuple(
                _convert(v, a, f"{path}[{i}]", owner)
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        return tuple(_convert_untyped(v, path) for v in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        kind = getattr(hint, "kind", None)
        if _REGISTRY.get(kind) is hint and value.get("kind", kind) == kind:  # type: ignore[arg-type]
            return _build(hint, {**value, "kind": kind}, path)
    return _convert_untyped(value, path)


def _hint_matches(value: object, hint: object) -> bool:
    """Tell whether plain ``value`` can be converted to the union member ``hint``."""
    if isinstance(hint, type):
        if issubclass(hint, enum.Enum):
            return isinstance(value, hint) or any(m.value == value for m in hint)
        if dataclasses.is_dataclass(hint):
            return isinstance(value, Mapping) and value.get("kind") == getattr(hint, "kind", None)
        if hint is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        return isinstance(value, hint)
    origin = typing.get_origin(hint)
    if origin is tuple:
        return isinstance(value, list | tuple)
    return True


def _convert_untyped(value: object, path: str) -> object:
    """Convert plain data whose target type is unknown: dicts with a kind become configs."""
    if isinstance(value, Mapping) and "kind" in value:
        return from_dict(value, path=path)
    if isinstance(value, list):
        return tuple(_convert_untyped(v, path) for v in value)
    return value


def from_dict(data: Mapping[str, Any], *, path: str = "") -> Any:
    """Build a config object from a plain dict, dispatching on its ``kind``.

    Parameters
    ----------
    data : Mapping
        A dict as written by :func:`to_dict` (possibly after a TOML/JSON round trip). Keys that
        are absent take the field's default.
    path : str, optional
        Dotted key path of ``data`` inside an enclosing dict, used in error messages.

    Returns
    -------
    config object
        An instance of the registered class for ``data["kind"]``; ``from_dict(to_dict(x)) == x``.

    Raises
    ------
    ParameterError
        If ``kind`` is missing or unknown, a key is unknown, a required key is missing, an enum
        value is not allowed, or the constructor rejects a value.

    Examples
    --------
    >>> from pulsetrain.updates import PulseCountUpdate
    >>> from_dict({"kind": "pulse_count", "max_bl": 8, "rounding": "stochastic"})
    PulseCountUpdate(max_bl=8, rounding=<Rounding.STOCHASTIC: 'stochastic'>, aggregate=True)
    """
    if not isinstance(data, Mapping):
        raise parameter_error(path or "data", "from_dict", "a dict with a 'kind' key", data)
    kind = data.get("kind", _MISSING)
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None:
        allowed = "one of " + ", ".join(repr(k) for k in sorted(_REGISTRY))
        raise parameter_error(_join(path, "kind"), "from_dict", allowed, kind)
    return _build(cls, data, path)


def _build(cls: type[T], data: Mapping[str, Any], path: str) -> T:
    """Construct ``cls`` from ``data`` (whose kind is already checked)."""
    owner = cls.__name__
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    allowed_keys = ["kind", *fields]
    for key in data:
        if key not in allowed_keys:
            allowed = "a known key (one of " + ", ".join(repr(k) for k in allowed_keys) + ")"
            raise parameter_error(_join(path, str(key)), owner, allowed, key)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key_path = _join(path, name)
        if name not in data:
            no_default = f.default is dataclasses.MISSING
            if no_default and f.default_factory is dataclasses.MISSING:
                raise parameter_error(key_path, owner, "given (it has no default)", _MISSING)
            continue
        kwargs[name] = _convert(data[name], hints.get(name, Any), key_path, owner)
    return cls(**kwargs)


def _as_dict(obj: object) -> Mapping[str, Any]:
    """Accept a config object or a mapping; return a mapping."""
    if isinstance(obj, Mapping):
        return obj
    return to_dict(obj)


# --------------------------------------------------------------------------- TOML writer


def _toml_key(key: object) -> str:
    text = str(key)
    return text if _BARE_KEY.match(text) else _toml_string(text)


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)  # repr round-trips exactly and is valid TOML ("1e-05", "1.0", "1e+20")


def _toml_value(value: object, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _toml_float(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, enum.Enum):
        return _toml_value(value.value, path)
    if isinstance(value, Mapping):
        items = [
            f"{_toml_key(k)} = {_toml_value(v, _join(path, str(k)))}"
            for k, v in value.items()
            if v is not None
        ]
        return "{" + ", ".join(items) + "}" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_toml_value(v, f"{path}[]") for v in value) + "]"
    raise parameter_error(path, "dumps_toml", "a bool, int, float, str, list or dict", value)


def _is_table_array(value: object) -> bool:
    """Tell whether ``value`` is written as an array of tables (a non-empty list of dicts)."""
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) > 0
        and all(isinstance(v, Mapping) for v in value)
    )


def _toml_table(
    table: Mapping[str, Any],
    header: tuple[str, ...],
    lines: list[str],
    *,
    array_item: bool = False,
) -> None:
    scalars = [
        (k, v)
        for k, v in table.items()
        if v is not None and not isinstance(v, Mapping) and not _is_table_array(v)
    ]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping) or _is_table_array(v)]
    if array_item or (header and (scalars or not tables)):
        if lines:
            lines.append("")
        name = ".".join(header)
        lines.append(f"[[{name}]]" if array_item else f"[{name}]")
    for key, value in scalars:
        lines.append(f"{_toml_key(key)} = {_toml_value(value, '.'.join((*header, str(key))))}")
    for key, value in tables:
        sub = (*header, _toml_key(key))
        if isinstance(value, Mapping):
            _toml_table(value, sub, lines)
        else:
            # A list of dicts becomes an array of tables: one [[a.b]] header per item, and each
            # item's nested dicts become [a.b.c] tables that belong to that item (TOML 1.0).
            for item in value:
                _toml_table(item, sub, lines, array_item=True)


def dumps_toml(obj: object) -> str:
    """Write a config object or a nested dict as canonical TOML.

    Nested dicts become ``[a.b]`` tables, a non-empty list of dicts becomes an array of tables
    (``[[a.b]]``, one per item; dicts in any other list are inline tables), floats are written
    with ``repr`` (exact), and keys keep their order, scalars first within each table. TOML has
    no null: keys whose value is ``None`` are left out, so they must default to ``None`` for an
    exact round trip.

    Parameters
    ----------
    obj : config object or Mapping
        What to write; a config object is first converted with :func:`to_dict`.

    Returns
    -------
    str
        The TOML document, ending with a newline.

    Raises
    ------
    ParameterError
        If a value is not representable (not a bool, int, float, str, list or dict).

    Examples
    --------
    >>> from pulsetrain.devices import ALD, Device
    >>> print(dumps_toml(Device(response=ALD(tau=1.0))).splitlines()[0])
    kind = "device"
    """
    lines: list[str] = []
    _toml_table(_as_dict(obj), (), lines)
    return "\n".join(lines) + "\n"


def loads_toml(text: str) -> dict[str, Any]:
    r"""Read a TOML document (with :mod:`tomllib`) into a plain dict.

    Parameters
    ----------
    text : str
        TOML text, e.g. from :func:`dumps_toml`.

    Returns
    -------
    dict
        Plain data; pass it to :func:`from_dict` to rebuild a config object.

    Raises
    ------
    ParameterError
        If the text is not valid TOML.

    Examples
    --------
    >>> loads_toml('kind = "expected"\nnoise = false\n')
    {'kind': 'expected', 'noise': False}
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise parameter_error("text", "loads_toml", f"valid TOML ({exc})", text[:40]) from exc


def dumps_json(obj: object, *, indent: int | None = 2) -> str:
    """Write a config object or a nested dict as JSON (floats exact via ``repr``).

    Parameters
    ----------
    obj : config object or Mapping
        What to write; a config object is first converted with :func:`to_dict`.
    indent : int or None, optional
        Indentation, default 2; ``None`` gives one line.

    Returns
    -------
    str
        The JSON document.

    Raises
    ------
    ParameterError
        If a value is not JSON-serialisable.

    Examples
    --------
    >>> from pulsetrain.updates import ExpectedUpdate
    >>> dumps_json(ExpectedUpdate(), indent=None)
    '{"kind": "expected", "noise": false}'
    """
    data = _to_plain(_as_dict(obj))
    try:
        return json.dumps(data, indent=indent)
    except TypeError as exc:
        raise parameter_error("obj", "dumps_json", f"JSON-serialisable ({exc})", obj) from exc


def loads_json(text: str) -> Any:
    """Read a JSON document into plain data.

    Parameters
    ----------
    text : str
        JSON text, e.g. from :func:`dumps_json`.

    Returns
    -------
    Any
        Plain data; pass a dict to :func:`from_dict` to rebuild a config object.

    Raises
    ------
    ParameterError
        If the text is not valid JSON.

    Examples
    --------
    >>> loads_json('{"kind": "expected", "noise": false}')
    {'kind': 'expected', 'noise': False}
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise parameter_error("text", "loads_json", f"valid JSON ({exc})", text[:40]) from exc


class ConfigMixin:
    """Adds ``to_dict``/``from_dict`` methods that delegate to this module."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """Convert to a plain dict with ``kind`` (see :func:`pulsetrain.config.to_dict`).

        Returns
        -------
        dict
            Plain data; ``type(self).from_dict(self.to_dict()) == self``.
        """
        return to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build an instance from a plain dict (see :func:`pulsetrain.config.from_dict`).

        Parameters
        ----------
        data : Mapping
            Plain data; ``kind`` may be omitted and must otherwise equal ``cls.kind``.

        Returns
        -------
        Self
            The config object.

        Raises
        ------
        ParameterError
            If ``kind`` differs from ``cls.kind`` or :func:`pulsetrain.config.from_dict` fails.
        """
        kind = getattr(cls, "kind", None)
        given = data.get("kind", kind)
        if given != kind:
            raise parameter_error("kind", cls.__name__, repr(kind), given)
        return _build(cls, {**data, "kind": kind}, "")


# --------------------------------------------------------------------------- includes

#: Includes nested deeper than this (a file including a file ...) are refused.
MAX_INCLUDE_DEPTH = 16


def resolve_includes(
    data: object, base: str | Path, *, path: str = "", owner: str = "config"
) -> Any:
    """Replace every table ``{include = "FILE"}`` by the contents of FILE.

    Any table of a config file may be written as a table with the single key ``include``, e.g.
    ``device = {include = "fitted.toml"}`` for the device file that ``pulsetrain fit`` writes.
    FILE (``.toml`` or ``.json``) is read relative to ``base`` (the including file's folder)
    unless absolute; it must hold one table, and may include files itself (relative to its own
    folder). The result is plain data with no includes left, so a config written back from it
    embeds the included tables and no longer depends on the files.

    Parameters
    ----------
    data : object
        Plain data read from a config file (dicts, lists, scalars).
    base : str or pathlib.Path
        Folder that relative include paths start from.
    path : str, optional
        Key path of ``data`` (for error messages).
    owner : str, optional
        Who reads the config (for error messages), e.g. ``"pulsetrain run"``.

    Returns
    -------
    object
        ``data`` with every include replaced (a new structure; ``data`` is not changed).

    Raises
    ------
    ParameterError
        If an include names a missing, unreadable or invalid file, a file that is not one table,
        includes itself through a chain of files, or nests deeper than
        :data:`MAX_INCLUDE_DEPTH` files; the message names the key path and the file.

    Examples
    --------
    >>> resolve_includes({"a": 1, "b": [2, {"c": 3}]}, ".")
    {'a': 1, 'b': [2, {'c': 3}]}
    """
    return _resolve(data, Path(base), path, owner, ())


def _resolve(data: object, base: Path, path: str, owner: str, chain: tuple[Path, ...]) -> Any:
    if isinstance(data, Mapping):
        if set(data) == {"include"}:
            return _include(data["include"], base, path, owner, chain)
        return {k: _resolve(v, base, _join(path, str(k)), owner, chain) for k, v in data.items()}
    if isinstance(data, list):
        return [_resolve(v, base, f"{path}[{i}]", owner, chain) for i, v in enumerate(data)]
    return data


def _include(name: object, base: Path, table: str, owner: str, chain: tuple[Path, ...]) -> Any:
    # Errors name the include key; the included tables keep the including table's key path.
    path = _join(table, "include")
    if not isinstance(name, str) or not name:
        raise parameter_error(path, owner, "the path of a .toml or .json file", name)
    p = Path(name).expanduser()
    p = p if p.is_absolute() else base / p
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise parameter_error(path, owner, "the path of a .toml or .json file", str(p))
    if not p.is_file():
        raise parameter_error(path, owner, "an existing .toml or .json file", str(p))
    real = p.resolve()
    if real in chain:
        raise parameter_error(path, owner, "a file that does not include itself", str(p))
    if len(chain) >= MAX_INCLUDE_DEPTH:
        raise parameter_error(
            path, owner, f"includes nested at most {MAX_INCLUDE_DEPTH} files deep", str(p)
        )
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise parameter_error(path, owner, f"a readable file ({exc})", str(p)) from None
    try:
        loaded = loads_toml(text) if suffix == ".toml" else loads_json(text)
    except ParameterError as exc:
        raise parameter_error(path, owner, f"a valid {suffix[1:].upper()} file", str(p)) from exc
    except (ValueError, RecursionError, OverflowError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise parameter_error(
            path, owner, f"a {suffix[1:].upper()} file pulsetrain can read ({reason})", str(p)
        ) from None
    if not isinstance(loaded, Mapping):
        raise parameter_error(path, owner, "a file holding one table", str(p))
    return _resolve(loaded, p.parent, table, owner, (*chain, real))
