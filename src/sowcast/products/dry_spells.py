"""Dry days and dry spells (runs of dry days) on numpy arrays with time on the last axis.

* **Wet / dry / unknown**: a day is wet if ``rain >= dry_day_mm`` and dry if below; NaN is
  unknown (neither). Comparisons allow ``TOL_MM`` of round-off, so a float32 ``0.7`` counts
  as 0.7 mm.
* **Run length** ``run[t]``: the number of consecutive dry days ending on day ``t``
  (0 on a day that is not dry). An unknown day breaks a run of known dry days; the run of
  "possibly dry" days (dry or unknown) is ``dry_run_lengths(~wet)``.
* **A spell inside a window** ``[start, stop)`` is counted from ``start`` only: a run that
  began before the window contributes ``min(run[t], t - start + 1)`` days at ``t``.

Sources: the dry-spell rules of the onset definitions in :mod:`.season_rules` (Sivakumar
1988; ENACTS maprooms; PICSA/R-Instat ``start_rains``).
"""

from __future__ import annotations

import numpy as np

TOL_MM = 1e-4  # mm of round-off allowed in threshold comparisons


def wet_dry_unknown(rain: np.ndarray, dry_day_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (wet, dry, unknown): wet = rain >= dry_day_mm, unknown = NaN."""
    rain = np.asarray(rain)
    unknown = np.isnan(rain)
    wet = rain >= dry_day_mm - TOL_MM  # False on NaN
    return wet, ~(wet | unknown), unknown


def dry_run_lengths(dry: np.ndarray) -> np.ndarray:
    """``run[..., t]`` = consecutive True values of ``dry`` ending at ``t`` (0 where False)."""
    dry = np.asarray(dry, dtype=bool)
    idx = np.arange(dry.shape[-1])
    last_break = np.maximum.accumulate(np.where(dry, -1, idx), axis=-1)
    return (idx - last_break).astype(np.int32)


def spell_exceeds(run: np.ndarray, max_days: int, lookahead: int) -> np.ndarray:
    """True at ``d`` where a spell longer than ``max_days`` lies in days ``d+1 .. d+lookahead``.

    The spell is counted from ``d+1``: a run ending at ``t`` qualifies when
    ``min(run[t], t - d) > max_days``, i.e. ``run[t] > max_days`` for some
    ``t`` in ``d+max_days+1 .. d+lookahead``. Days past the array's end are not looked at
    (pad the array to represent them).
    """
    n = run.shape[-1]
    if lookahead <= max_days:
        return np.zeros(run.shape, dtype=bool)
    counts = np.zeros((*run.shape[:-1], n + 1), dtype=np.int32)
    np.cumsum(run > max_days, axis=-1, out=counts[..., 1:])
    d = np.arange(n)
    hi = np.minimum(d + lookahead + 1, n)
    lo = np.minimum(d + max_days + 1, n)
    return counts[..., hi] > counts[..., lo]


def _window(arr: np.ndarray, start: np.ndarray, stop: np.ndarray, fill) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a [N, T] array gathered over per-row windows [start, stop): (values, in-window)."""
    start = np.asarray(start, dtype=np.int64)
    width = np.maximum(np.asarray(stop, dtype=np.int64) - start, 0)
    offs = np.arange(int(width.max(initial=0)))
    idx = start[:, None] + offs
    inside = (offs < width[:, None]) & (idx >= 0) & (idx < arr.shape[-1])
    vals = np.take_along_axis(arr, np.clip(idx, 0, arr.shape[-1] - 1), axis=-1)
    return np.where(inside, vals, fill), inside


def longest_dry_spell(run: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Longest dry spell within ``[start, stop)`` of each row of ``run`` [N, T], counted from start."""
    vals, inside = _window(run, start, stop, 0)
    counted = np.minimum(vals, np.arange(1, vals.shape[-1] + 1))
    return np.where(inside, counted, 0).max(axis=-1, initial=0)


def trailing_dry_run(run: np.ndarray, known: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Dry run at the last known day of ``[start, stop)`` (counted from start; 0 if none known)."""
    vals, inside = _window(run, start, stop, 0)
    kn, _ = _window(known, start, stop, False)
    kn &= inside
    width = vals.shape[-1]
    if width == 0:
        return np.zeros(run.shape[0], dtype=np.int32)
    last = width - 1 - np.argmax(kn[:, ::-1], axis=-1)
    at_last = np.take_along_axis(vals, last[:, None], axis=-1)[:, 0]
    return np.where(kn.any(axis=-1), np.minimum(at_last, last + 1), 0).astype(np.int32)
