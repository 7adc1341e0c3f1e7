"""Training and validation time ranges: inclusive end dates and ranges from a store's own span.

* A date without a time of day as the end of a range means the whole of that day (or month,
  or year, for ``"2019-03"`` / ``"2019"``): ``["2019-03-01", "2019-03-21"]`` holds 21 March 18Z
  of a 6-hourly store.
* ``auto`` ranges (``train.train_range``, ``train.validation_range``): validation is the last
  ``VALIDATION_FRACTION`` of the store's times, at least what one validation window needs,
  starting at 00Z of a day; training is every time before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sowcast.errors import SowcastError

AUTO = "auto"
VALIDATION_FRACTION = 0.15
_HAS_TIME = re.compile(r"[T ]\d|\d:\d")


def timestamp(value: Any, what: str) -> pd.Timestamp:
    """``value`` as a Timestamp, or a one-line error naming ``what``."""
    try:
        return pd.Timestamp(str(value) if not isinstance(value, (pd.Timestamp, np.datetime64)) else value)
    except (TypeError, ValueError):
        raise SowcastError(f"{what} {value!r} is not a date") from None


def inclusive_end(value: Any, what: str) -> pd.Timestamp:
    """The last instant of ``value``: a date-only string is the end of that day (month, year)."""
    text = str(value).strip()
    stamp = timestamp(value, what)
    if isinstance(value, str) and not _HAS_TIME.search(text):
        try:
            return (pd.Period(text) + 1).start_time - pd.Timedelta(1, "ns")
        except (TypeError, ValueError):
            return stamp + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp


def is_auto(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == AUTO


def _iso(t: pd.Timestamp) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%S}"


def auto_ranges(times: Sequence[Any], train_value: Any, validation_value: Any, n_input_steps: int,
                n_train_targets: int, n_validation_targets: int) -> tuple[Any, Any]:
    """``(train_range, validation_range)`` with ``auto`` entries resolved against ``times``.

    Explicit ranges (and ``None``) come back as given; a resolved range is ``[start, end]``
    as ISO timestamps of store times."""
    t = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"))
    if not (is_auto(train_value) or is_auto(validation_value)):
        return train_value, validation_value
    span = f"{t[0]:%Y-%m-%d %H:%M} .. {t[-1]:%Y-%m-%d %H:%M}" if len(t) else "no time"
    val_range = validation_value
    if is_auto(validation_value):
        need = n_input_steps + n_validation_targets
        n_val = max(math.ceil(VALIDATION_FRACTION * len(t)), need)
        if len(t) < n_val + n_input_steps + n_train_targets:
            raise SowcastError(
                f"the store holds {len(t)} time(s) ({span}): too few for train.validation_range=auto "
                f"({need} for one validation window of {n_input_steps} inputs + max(train.validation_leads) "
                f"{n_validation_targets}, and {n_input_steps + n_train_targets} for training); set "
                f"train.validation_range=null or shorten train.validation_leads")
        start = t[len(t) - n_val].normalize()
        if start <= t[0] or int(t.searchsorted(start)) < n_input_steps + n_train_targets:
            start = t[len(t) - n_val]  # a store shorter than a few days: no whole-day rounding
        val_range = [_iso(start), _iso(t[-1])]
    train_range = train_value
    if is_auto(train_value):
        if val_range is None:
            train_range = [_iso(t[0]), _iso(t[-1])]
        else:
            v0 = t[0] if val_range[0] is None else timestamp(val_range[0], "train.validation_range start")
            before = t[t < v0]
            if not len(before):
                raise SowcastError(f"train.train_range=auto: the store ({span}) has no time before "
                                   f"train.validation_range {val_range[0]}..{val_range[1]}; set train.train_range")
            train_range = [_iso(before[0]), _iso(before[-1])]
    return train_range, val_range
