"""Scores of rainy-season onset forecasts.

An onset is a date (``datetime64``) or a day number (float, e.g. day of year); a missing
value (NaT or NaN) means *no onset* in the season, which is an outcome, not a gap. Points
without data (outside the domain, a station that did not report) are left out with the
``valid`` mask, because NaN cannot mark them here. Forecast and observation must use the
same kind of value. Averages over ``dims`` are area weighted if ``lat`` is among them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.categorical import brier_score
from sowcast.verify.weights import Dims, aligned, as_dims, weighted_mean


def onset_days(onset) -> xr.DataArray:
    """Onsets as float days: dates as days since 1970-01-01, day numbers as they are; NaT -> NaN."""
    onset = onset if isinstance(onset, xr.DataArray) else xr.DataArray(onset)
    if np.issubdtype(onset.dtype, np.datetime64):
        return (onset - np.datetime64("1970-01-01")) / np.timedelta64(1, "D")
    if np.issubdtype(onset.dtype, np.number):
        return onset.astype(float)
    raise SowcastError(f"onsets must be dates or day numbers, got values of type {onset.dtype}")


def _same_kind(a: xr.DataArray, b: xr.DataArray, what: str) -> None:
    a_dates = np.issubdtype(np.asarray(a).dtype, np.datetime64)
    b_dates = np.issubdtype(np.asarray(b).dtype, np.datetime64)
    if a_dates != b_dates:
        raise SowcastError(f"{what}: one is given as dates and the other as day numbers; use one kind")


def onset_errors(forecast_onset: xr.DataArray, observed_onset: xr.DataArray, tolerance: float = 7.0,
                 dims: Dims = None, valid: xr.DataArray | None = None) -> xr.Dataset:
    """Errors of forecast onsets in days, reduced over ``dims`` (all if None).

    * ``mae``: mean ``|f - o|`` and ``bias``: mean ``f - o`` (positive = forecast too late),
      over the cases where both have an onset;
    * ``hit_rate``: fraction of all cases that are hits: both onsets within ``tolerance``
      days (``|f - o| <= tolerance``, so exactly 7 days apart is a hit), or neither has an
      onset (no onset correctly forecast). One onset missing is a miss;
    * counts: ``n_cases``, ``n_pairs`` (both onsets), ``n_both_missing``,
      ``n_missed_onset`` (observed, not forecast) and ``n_false_onset`` (forecast, not observed).
    """
    _same_kind(forecast_onset, observed_onset, "forecast and observed onsets")
    valid = xr.DataArray(True) if valid is None else valid.astype(bool)
    f, o, case = xr.broadcast(*aligned(onset_days(forecast_onset), onset_days(observed_onset), valid))
    dims = as_dims(f, dims)
    has_f, has_o = f.notnull() & case, o.notnull() & case
    both, neither = has_f & has_o, case & ~has_f & ~has_o
    error = (f - o).where(both)
    hit = (both & (abs(error) <= tolerance)) | neither
    return xr.Dataset({
        "mae": weighted_mean(abs(error), dims),
        "bias": weighted_mean(error, dims),
        "hit_rate": weighted_mean(hit.astype(float).where(case), dims),
        "n_cases": case.sum(dims),
        "n_pairs": both.sum(dims),
        "n_both_missing": neither.sum(dims),
        "n_missed_onset": (has_o & ~has_f).sum(dims),
        "n_false_onset": (has_f & ~has_o).sum(dims),
    }).assign_attrs(tolerance_days=float(tolerance))


def onset_by_date_brier(prob_onset_by_date: xr.DataArray, observed_onset: xr.DataArray, dates=None,
                        date_dim: str = "date", dims: Dims = None,
                        valid: xr.DataArray | None = None) -> xr.DataArray:
    """Brier score of the event "onset on or before date d", for each d on ``date_dim``.

    ``prob_onset_by_date`` is the forecast probability of that event (a CDF over the dates);
    the event happened if the observed onset exists and ``onset <= d`` (no onset: it did
    not). ``dates`` default to the ``date_dim`` coordinate. ``dims`` must not include
    ``date_dim``; None reduces every other dimension.
    """
    if date_dim not in prob_onset_by_date.dims:
        raise SowcastError(f"the onset probabilities have no {date_dim!r} dimension")
    dates = prob_onset_by_date[date_dim].values if dates is None else np.asarray(dates)
    if dates.shape != (prob_onset_by_date.sizes[date_dim],):
        raise SowcastError(f"give one date per {date_dim!r} value ({prob_onset_by_date.sizes[date_dim]})")
    _same_kind(dates, observed_onset, "dates and observed onsets")
    d = onset_days(xr.DataArray(dates, dims=date_dim))
    o = onset_days(observed_onset)
    event = (o.notnull() & (o <= d)).astype(float)
    if valid is not None:
        event, valid = aligned(event, valid.astype(bool))
        event = event.where(valid)
    prob = prob_onset_by_date.drop_vars(date_dim, errors="ignore")
    score = brier_score(prob, event)
    if date_dim in prob_onset_by_date.coords:
        score = score.assign_coords({date_dim: prob_onset_by_date[date_dim]})
    dims = tuple(d for d in score.dims if d != date_dim) if dims is None else as_dims(score, dims)
    if date_dim in dims:
        raise SowcastError(f"onset_by_date_brier keeps the {date_dim!r} dimension; do not reduce over it")
    return weighted_mean(score, dims)
