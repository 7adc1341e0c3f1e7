"""One date from a forecast distribution of the onset: its median and its mean.

The distribution is ``P_k = P(onset by the end of week k)`` (``(..., week)``, weeks 1..K, no
onset by ``start``), taken linear between the week ends (0 at the start: onsets spread evenly
over each week); the onsets it leaves after the end of week K, ``e``, follow climatology: the
past years' onsets later than ``e`` (``past_onset_doy``, ``(..., year)``, day of year), or ``e``
itself where no past onset came later.

Which date a score should see follows from the score (Gneiting 2011, "Making and evaluating
point forecasts", JASA 106: a scoring function is consistent for one functional): the
**median** minimises the expected absolute error, so it is the date the MAE judges; the
**mean** is the only date whose expected error is zero, so it is the date a bias judges. The
two differ wherever the distribution is skewed, and the wait for the rains, given that they
have not come, is skewed to the late side: a perfectly reliable forecast's median is early
on average. Days are counted since 1970-01-01; NaN where ``P`` is NaN (no member analysed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.products.climatology import day_of_year


@dataclass(frozen=True)
class _Distribution:
    cdf: np.ndarray          # (..., K + 1): 0 at the start, then P_1..P_K
    days: np.ndarray         # (K + 1,): 0, 7, ..., 7K days after the start
    later: np.ndarray        # (..., year): past onsets (day of year) after the end of week K, else NaN
    end_doy: float           # day of year of the end of week K (inf in the next year)
    start_day: float         # the start, days since 1970
    dims: tuple
    coords: dict


def _distribution(prob_by_week: xr.DataArray, start: pd.Timestamp, past_onset_doy: xr.DataArray) -> _Distribution:
    p = prob_by_week.transpose(..., "week")
    weeks = np.asarray(p["week"].values, np.float64)
    values = np.asarray(p.values, np.float64)
    cdf = np.concatenate([np.zeros(values.shape[:-1] + (1,)), values], axis=-1)
    days = np.concatenate([[0.0], 7.0 * weeks])
    start = pd.Timestamp(start)
    end = start + pd.Timedelta(days=float(days[-1]))
    end_doy = float(day_of_year([end])[0]) if end.year == start.year else np.inf
    past = past_onset_doy.transpose(*[d for d in p.dims if d != "week"], "year")
    later = np.asarray(past.where(past > end_doy).values, np.float64)
    start_day = float((start - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1))
    return _Distribution(cdf, days, later, end_doy, start_day, p.dims[:-1],
                         {c: v for c, v in p.coords.items() if "week" not in v.dims})


def _as_array(d: _Distribution, values: np.ndarray) -> xr.DataArray:
    return xr.DataArray(values, dims=d.dims, coords=d.coords)


def median_onset_day(prob_by_week: xr.DataArray, start: pd.Timestamp, past_onset_doy: xr.DataArray) -> xr.DataArray:
    """The median onset (days since 1970): where ``P`` reaches 1/2 by week K, the day it does
    (linear between the week ends); else the ``(1/2 - P_K) / (1 - P_K)`` quantile of the past
    onsets later than ``e`` (module doc)."""
    d = _distribution(prob_by_week, start, past_onset_doy)
    cdf, days = d.cdf, d.days
    reached = cdf >= 0.5
    k = np.clip(np.argmax(reached, axis=-1), 1, cdf.shape[-1] - 1)
    lo = np.take_along_axis(cdf, (k - 1)[..., None], -1)[..., 0]
    hi = np.take_along_axis(cdf, k[..., None], -1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(hi > lo, (0.5 - lo) / (hi - lo), 1.0)
    lead = days[k - 1] + frac * (days[k] - days[k - 1])
    p_end = cdf[..., -1]
    level = np.clip((0.5 - p_end) / np.maximum(1.0 - p_end, 1e-12), 0.0, 1.0)
    beyond = np.full(p_end.shape, np.nan)
    for i in np.ndindex(p_end.shape):
        if np.isfinite(p_end[i]) and p_end[i] < 0.5:
            kept = d.later[i][np.isfinite(d.later[i])]
            beyond[i] = np.quantile(kept, level[i]) - d.end_doy if kept.size else 0.0
    out = np.where(np.isnan(p_end), np.nan, np.where(reached.any(-1), d.start_day + lead,
                                                        d.start_day + days[-1] + beyond))
    return _as_array(d, out)


def mean_onset_day(prob_by_week: xr.DataArray, start: pd.Timestamp, past_onset_doy: xr.DataArray) -> xr.DataArray:
    """The mean onset (days since 1970): ``start + sum_k (P_k - P_{k-1}) (7k - 3.5) + (1 - P_K)
    (7K + m)``, each week's onsets at its middle, and ``m`` the mean wait after ``e`` of the past
    onsets later than ``e`` (0 where none came later; module doc)."""
    d = _distribution(prob_by_week, start, past_onset_doy)
    cdf = np.fmax.accumulate(d.cdf, axis=-1)                          # no negative mass where P dips
    mass = np.diff(cdf, axis=-1)                                      # (..., K)
    middle = 0.5 * (d.days[:-1] + d.days[1:])
    known = np.isfinite(d.later)
    n_later = known.sum(-1)
    wait = np.where(n_later > 0, np.where(known, d.later, 0.0).sum(-1) / np.maximum(n_later, 1) - d.end_doy, 0.0)
    p_end = np.where(np.isnan(d.cdf[..., -1]), np.nan, cdf[..., -1])
    out = d.start_day + (mass * middle).sum(-1) + (1.0 - p_end) * (d.days[-1] + wait)
    return _as_array(d, np.where(np.isnan(p_end), np.nan, out))
