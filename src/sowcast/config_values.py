"""Strict parsing of option values: booleans and numbers, or a one-line error naming the key.

Hydra reads ``overwrite=no`` as the string ``"no"``, which Python's ``bool()`` calls true;
every boolean and numeric option goes through these instead. Booleans accept true/false,
yes/no, on/off and 1/0 (any case) and mean what they say; anything else is refused.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from sowcast.errors import SowcastError

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def flag(value: Any, key: str) -> bool:
    """``value`` as a boolean, or a :class:`SowcastError` naming ``key``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise SowcastError(f"{key} must be true or false (or yes/no, on/off, 1/0), not {value!r}")


def _bounded(out: float, value: Any, key: str, low: float | None, high: float | None) -> None:
    if (low is not None and out < low) or (high is not None and out > high):
        if high is None:
            span = f"at least {low:g}"
        elif low is None:
            span = f"at most {high:g}"
        else:
            span = f"between {low:g} and {high:g}"
        raise SowcastError(f"{key} must be {span}, not {value!r}")


def number(value: Any, key: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a finite float in ``[low, high]``, or a :class:`SowcastError` naming ``key``."""
    out = None
    if not isinstance(value, bool):
        try:
            out = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            out = None
    if out is None or not math.isfinite(out):
        raise SowcastError(f"{key} must be a number, not {value!r}")
    _bounded(out, value, key, low, high)
    return out


def whole(value: Any, key: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (1.0 and "8" are fine, 1.5 is not)."""
    try:
        out = number(value, key)
    except SowcastError:
        out = math.nan
    if not out.is_integer():
        raise SowcastError(f"{key} must be a whole number, not {value!r}")
    _bounded(out, value, key, low, high)
    return int(out)


def with_flags(section: MutableMapping, prefix: str, *keys: str) -> MutableMapping:
    """``section`` with each of ``keys`` it holds (not null) parsed by :func:`flag`, in place.

    For stages that read ``bool(cfg[key])`` themselves: the command parses first.
    """
    for key in keys:
        if key in section and section[key] is not None:
            section[key] = flag(section[key], f"{prefix}{key}")
    return section
