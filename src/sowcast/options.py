"""Typed options of a config group: frozen dataclasses, parsed once at the command boundary.

Hydra composes the config; each stage's options class says what its group may hold. Every
field is written ``name: type = field(default=..., metadata={"doc": "..."})`` (or
:func:`option`, which builds that same field), so the default and its documentation are
written once. Optional metadata: ``low``/``high`` (bounds of numbers), ``convert`` (a
function ``(value, key) -> value`` that replaces the type's own coercion, for values such as
``"06:00"``), ``options`` (the options class that ``convert`` parses a mapping with, so that
:func:`describe` shows its keys).

:func:`parse` turns a group as Hydra gives it (a ``DictConfig`` or a mapping) into an
instance: an unknown key, a wrong type or a value out of bounds is one
:class:`~sowcast.errors.SowcastError` line naming ``group.key``. Coercion by annotation:

* ``bool``: :func:`sowcast.config_values.flag` (true/false, yes/no, on/off, 1/0; ``no`` is
  False, anything else is refused);
* ``int``, ``float``: :func:`~sowcast.config_values.whole`, :func:`~sowcast.config_values.number`;
* ``str``: text or a number written as text, never a list or a mapping;
* ``Path``: ``~`` expanded (existence is the stage's business);
* ``Literal[...]``: one of the values; ``X | Y``: the first that fits, in order;
* ``tuple[X, ...]``, ``list[X]`` (a single value is a list of one), ``tuple[X, Y]`` (that
  length), ``dict[str, X]``; a nested options dataclass is parsed as a sub-group;
* ``Any``: the plain value (dicts and lists), unchecked.

Null is decided here only (:func:`is_null`): ``None``, ``""``, ``"none"``, ``"null"`` (any
case). It is ``None`` for an optional field (``X | None``) and an error for any other.

:func:`describe` writes the options with their defaults and docs for ``sowcast COMMAND --help``.
"""

from __future__ import annotations

import dataclasses
import os
import textwrap
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

from sowcast.config_values import flag, number, whole
from sowcast.errors import SowcastError

T = TypeVar("T")
NULL_WORDS = ("", "none", "null")
HELP_WIDTH = 100  # characters a line of describe()


def option(default: Any = dataclasses.MISSING, doc: str = "", **metadata: Any) -> Any:
    """``field(default=default, metadata={"doc": doc, **metadata})``; a dict or list default
    becomes a ``default_factory`` that copies it (dataclasses refuse mutable defaults)."""
    meta = {"doc": doc, **metadata}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: _copy(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def is_null(value: Any) -> bool:
    """``None``, or text that says nothing: ``""``, ``none``, ``null`` (any case, spaces around)."""
    return value is None or (isinstance(value, str) and value.strip().lower() in NULL_WORDS)


def _plain(section: Any) -> Any:
    from sowcast.config import plain

    try:
        return plain(section)
    except Exception as exc:  # an OmegaConf interpolation that does not resolve
        if type(exc).__module__.startswith("omegaconf"):
            raise SowcastError(f"config: {exc}") from None
        raise


def parse(cls: type[T], section: Mapping[str, Any] | None, group: str) -> T:
    """``section`` (the ``group`` of the composed config) as a ``cls`` instance, or one
    :class:`SowcastError` line naming ``group.key``."""
    values = _plain(section)
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise SowcastError(f"{group} must be a mapping of options, not {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in values if str(k) not in fields)
    if unknown:
        names = ", ".join(_key(group, k) for k in unknown)
        raise SowcastError(f"unknown option{'s' if len(unknown) > 1 else ''} {names}; known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    out = {}
    for name, f in fields.items():
        key = _key(group, name)
        if name in values:
            out[name] = _coerce(values[name], hints[name], key, f.metadata)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SowcastError(f"{key} is not set")
    return cls(**out)


def _key(group: str, name: str) -> str:
    return f"{group}.{name}" if group else name


def _optional(tp: Any) -> tuple[bool, tuple[Any, ...]]:
    """Whether ``tp`` admits None, and its other members (``(tp,)`` for a plain type)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = typing.get_args(tp)
        return type(None) in args, tuple(a for a in args if a is not type(None))
    return tp is Any, (tp,)


def _coerce(value: Any, tp: Any, key: str, meta: Mapping[str, Any]) -> Any:
    optional, members = _optional(tp)
    if len(members) == 1 and dataclasses.is_dataclass(members[0]) and is_null(value):
        return parse(members[0], {}, key)  # a null sub-group: its defaults
    if is_null(value) and (optional or value is None):
        if optional:
            return None
        raise SowcastError(f"{key} must be set, not null")
    convert: Callable[[Any, str], Any] | None = meta.get("convert")
    if convert is not None:
        return convert(value, key)
    if len(members) == 1:
        return _one(value, members[0], key, meta)
    for member in members:
        try:
            return _one(value, member, key, meta)
        except SowcastError:
            continue
    raise SowcastError(f"{key} must be {' or '.join(_kind(m, meta) for m in members)}, not {value!r}")


def _one(value: Any, tp: Any, key: str, meta: Mapping[str, Any]) -> Any:
    """``value`` as the single (non-union) type ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    low, high = meta.get("low"), meta.get("high")
    if tp is Any:
        return value
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and isinstance(choice, str)
                                   and value.strip().lower() == choice.lower()):
                return choice
        raise SowcastError(f"{key} must be one of {', '.join(map(str, args))}, not {value!r}")
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, key)
    if tp is bool:
        return flag(value, key)
    if tp is int:
        return whole(value, key, low, high)
    if tp is float:
        return number(value, key, low, high)
    if tp is str:
        if isinstance(value, (Mapping, list, tuple)):
            raise SowcastError(f"{key} must be text, not {value!r}")
        return str(value)
    if tp is Path:
        if not isinstance(value, (str, os.PathLike)):
            raise SowcastError(f"{key} must be a path, not {value!r}")
        return Path(os.path.expanduser(str(value)))
    if origin in (tuple, list):
        return _sequence(value, origin, args, key, meta)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise SowcastError(f"{key} must be a mapping, not {value!r}")
        kind = args[1] if args else Any
        return {str(k): _coerce(v, kind, f"{key}.{k}", meta) for k, v in value.items()}
    raise TypeError(f"sowcast.options cannot parse the annotation {tp!r} of {key}")  # a programming error


def _sequence(value: Any, origin: type, args: tuple[Any, ...], key: str, meta: Mapping[str, Any]) -> Any:
    fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
    if not isinstance(value, (list, tuple)):
        if fixed or isinstance(value, Mapping):
            raise SowcastError(f"{key} must be a list of {len(args) if fixed else 'values'}, not {value!r}")
        value = [value]
    if fixed:
        if len(value) != len(args):
            raise SowcastError(f"{key} must be a list of {len(args)} values, not {value!r}")
        kinds = args
    else:
        kinds = (args[0] if args else Any,) * len(value)
    items = [_coerce(v, kind, f"{key}[{i}]", meta) for i, (v, kind) in enumerate(zip(value, kinds))]
    return tuple(items) if origin is tuple else items


def _kind(tp: Any, meta: Mapping[str, Any] | None = None) -> str:
    """The type in words, for errors and help (with the bounds in ``meta`` on numbers)."""
    optional, members = _optional(tp)
    if len(members) > 1 or optional and tp is not Any:
        words = " or ".join(_kind(m, meta) for m in members)
        return f"{words} or null" if optional else words
    tp = members[0]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return " | ".join(map(str, args))
    if origin in (tuple, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return f"[{', '.join(_kind(a) for a in args)}]"
        return f"list of {_element(args[0]) if args else 'values'}"
    if origin is dict:
        return f"mapping to {_element(args[1], meta)}" if args and args[1] is not Any else "mapping"
    if tp in (int, float):
        return ("whole number" if tp is int else "number") + _bounds(meta or {})
    return {bool: "true/false", str: "text", Path: "path", Any: ""}.get(tp, getattr(tp, "__name__", str(tp)))


def _element(tp: Any, meta: Mapping[str, Any] | None = None) -> str:
    """The kind of a list's items or a mapping's values, in parentheses when it has alternatives,
    so that they stay apart from the container's own: ``list of (text or null) or null``."""
    words = _kind(tp, meta)
    return f"({words})" if " or " in words else words


def show(value: Any) -> str:
    """A default as it is written on the command line or in YAML (null, true, [a, b], {k: v})."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    if dataclasses.is_dataclass(value):
        return show({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)


def defaults(cls: type) -> dict[str, Any]:
    """Each field's default (a nested options class: its own defaults); ``MISSING`` where none."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = dataclasses.MISSING
    return out


def describe(cls: type, group: str, keys: tuple[str, ...] | None = None) -> str:
    """The options of ``cls`` (those named in ``keys``, else all) as help text under a
    ``group:`` line: ``key: default  # doc <type>``, wrapped at :data:`HELP_WIDTH`, a nested
    options class as an indented block."""
    rows = list(_rows(cls, group, 1, keys))
    width = min(max((len(left) for left, _ in rows), default=0), 36)
    lines = [f"{group}:" if group else "top-level keys:"]
    for left, (doc, kind) in rows:
        if not (doc or kind):
            lines.append(left)
            continue
        text = _wrapped(doc, kind, max(HELP_WIDTH - width - 4, 40))
        lines.append(f"{left:<{width}}  # {text[0]}" if len(left) <= width else f"{left}\n{'':<{width}}  # {text[0]}")
        lines += [f"{'':<{width}}  # {more}" for more in text[1:]]
    return "\n".join(lines)


def _rows(cls: type, group: str, depth: int, keys: tuple[str, ...] | None = None):
    hints = typing.get_type_hints(cls)
    values = defaults(cls)
    for f in dataclasses.fields(cls):
        if keys is not None and f.name not in keys:
            continue
        indent = "  " * depth
        doc = str(f.metadata.get("doc", "")).strip()
        tp = hints[f.name]
        sub = f.metadata.get("options") or (tp if dataclasses.is_dataclass(tp) else None)
        if sub is not None:
            yield f"{indent}{f.name}:", (doc, "")
            yield from _rows(sub, _key(group, f.name), depth + 1)
            continue
        default = values[f.name]
        shown = "(required)" if default is dataclasses.MISSING else show(default)
        kind = _kind(tp, f.metadata) if "convert" not in f.metadata else ""
        yield f"{indent}{f.name}: {shown}", (doc, f"<{kind}>" if kind not in ("", "text") else "")


def _wrapped(doc: str, kind: str, width: int) -> list[str]:
    """``doc`` wrapped at ``width``, then ``kind`` (never broken) on its last line if it fits."""
    lines = textwrap.wrap(doc, width, break_on_hyphens=False) or [""]
    if kind and len(lines[-1]) + 1 + len(kind) <= width:
        lines[-1] = f"{lines[-1]} {kind}".strip()
    elif kind:
        lines.append(kind)
    return lines


def _bounds(meta: Mapping[str, Any]) -> str:
    low, high = meta.get("low"), meta.get("high")
    if low is not None and high is not None:
        return f" in [{low:g}, {high:g}]"
    if low is not None:
        return f" >= {low:g}"
    if high is not None:
        return f" <= {high:g}"
    return ""


def as_plain(options: Any) -> Any:
    """An options instance (or a value in it) as plain config values: dict, list, str for a path."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return {f.name: as_plain(getattr(options, f.name)) for f in dataclasses.fields(options)}
    if isinstance(options, Mapping):
        return {str(k): as_plain(v) for k, v in options.items()}
    if isinstance(options, (list, tuple)):
        return [as_plain(v) for v in options]
    if isinstance(options, Path):
        return str(options)
    return options


def default_mismatches(cls: type, yaml_section: Mapping[str, Any], group: str) -> dict[str, tuple[Any, Any]]:
    """Where the group's YAML (as written, interpolations unresolved) and the class's defaults
    differ: ``{group.key: (yaml, class)}``. Keys that are interpolations (``${...}``) are
    skipped: Hydra fills them from elsewhere. For the test that keeps one truth."""
    written = {k: v for k, v in yaml_section.items() if not (isinstance(v, str) and "${" in v)}
    parsed = parse(cls, written, group)
    out = {}
    for name, default in defaults(cls).items():
        if name not in written:
            if name in yaml_section:
                continue
            out[_key(group, name)] = ("(absent)", as_plain(default))
            continue
        if as_plain(getattr(parsed, name)) != as_plain(default):
            out[_key(group, name)] = (written[name], as_plain(default))
    return out
