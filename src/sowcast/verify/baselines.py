"""Reference forecasts that skill is measured against.

* :func:`climatology_probabilities`: the tercile frequencies of past years;
* :func:`equal_odds`: 1/3 for each tercile;
* :func:`persistence`: the latest observation, carried forward;
* :func:`climatological_onset`: the median past onset and the past years' empirical CDF.

Past years sit on a ``year`` dimension (as in ``products.season.analyse_seasons``).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.categorical import CATEGORIES, tercile_probabilities


def climatology_probabilities(past_values: xr.DataArray, lower, upper,
                              year_dim: str = "year") -> xr.DataArray:
    """Fractions of past years below ``lower``, near and above ``upper`` (on ``category``).

    The same boundary rule as :func:`sowcast.verify.categorical.tercile_probabilities`;
    years with a missing value are left out. When the terciles come from these same years
    each fraction is close to 1/3 (exactly 1/3 when the number of years divides by 3 and
    no value ties with a boundary).
    """
    return tercile_probabilities(past_values, lower, upper, member_dim=year_dim, skipna=True)


def equal_odds(like: xr.DataArray | None = None) -> xr.DataArray:
    """1/3 for each tercile on ``category``, broadcast to the dims of ``like`` if given."""
    odds = xr.DataArray(np.full(len(CATEGORIES), 1 / 3), dims="category",
                        coords={"category": list(CATEGORIES)})
    if like is None:
        return odds
    like = like.isel(category=0, drop=True) if "category" in like.dims else like
    return (xr.zeros_like(like, dtype=float) + odds).transpose(..., "category")


def persistence(observed: xr.DataArray, lag, dim: str = "time") -> xr.DataArray:
    """Persistence: the forecast for ``t`` is the observation at ``t - lag``.

    ``lag`` is a number of steps along ``dim`` (e.g. 1 period) or a time span
    (``numpy.timedelta64``/``pandas.Timedelta``) looked up by label; NaN where ``t - lag``
    is not observed. For a tercile forecast, pass the result to ``observed_category``.
    """
    if dim not in observed.dims:
        raise SowcastError(f"persistence: the observations have no {dim!r} dimension")
    if isinstance(lag, (int, np.integer)) and not isinstance(lag, np.timedelta64):
        return observed.shift({dim: int(lag)})
    times = pd.DatetimeIndex(observed[dim].values)
    earlier = observed.reindex({dim: times - pd.Timedelta(lag)})
    return earlier.assign_coords({dim: observed[dim]})


def day_of_year(onset: xr.DataArray) -> xr.DataArray:
    """Dates as day of a 365-day year (1 March is always day 60; 29 February shares it);
    numbers (already day of year) as floats; NaT -> NaN."""
    onset = onset if isinstance(onset, xr.DataArray) else xr.DataArray(onset)
    if np.issubdtype(onset.dtype, np.datetime64):
        leap_shift = (onset.dt.is_leap_year & (onset.dt.month > 2)).astype(float)
        return onset.dt.dayofyear - leap_shift
    if np.issubdtype(onset.dtype, np.number):
        return onset.astype(float)
    raise SowcastError(f"onsets must be dates or day numbers, got values of type {onset.dtype}")


def _median_no_onset_late(doy: np.ndarray) -> np.ndarray:
    """Median along the last axis, a missing onset counting as later than any date."""
    with np.errstate(invalid="ignore"):
        median = np.median(np.where(np.isnan(doy), np.inf, doy), axis=-1)
    return np.where(np.isfinite(median), median, np.nan)


def climatological_onset(past_onsets: xr.DataArray, dates=None, year_dim: Hashable = "year",
                         date_dim: str = "date") -> xr.Dataset:
    """Climatological onset forecast from past years' onsets (NaN/NaT = no onset that year).

    * ``median_onset`` (day of year): the median with no-onset years counted as later than
      any date; NaN when at least half the years (the middle ones) had no onset;
    * ``prob_onset_by_date`` on ``date_dim``: the empirical CDF, the fraction of all past
      years with an onset on or before each date (a no-onset year never counts);
    * ``no_onset_fraction``: the fraction of past years without onset.

    Dates compare by :func:`day_of_year`. ``dates`` are days of year or dates of the target
    season (kept as the ``date_dim`` coordinate); by default every day from the earliest
    to the latest past onset.
    """
    if year_dim not in past_onsets.dims:
        raise SowcastError(f"past onsets need a {year_dim!r} dimension")
    doy = day_of_year(past_onsets)
    if dates is None:
        found = doy.values[np.isfinite(doy.values)]
        if found.size == 0:
            raise SowcastError("no past year has an onset: give the dates explicitly")
        dates = np.arange(np.floor(found.min()), np.ceil(found.max()) + 1)
    dates = np.asarray(dates)
    by = day_of_year(xr.DataArray(dates, dims=date_dim))
    prob = (doy.notnull() & (doy <= by)).mean(year_dim)
    median = xr.apply_ufunc(_median_no_onset_late, doy, input_core_dims=[[year_dim]])
    return xr.Dataset({
        "median_onset": median.assign_attrs(units="day of year"),
        "prob_onset_by_date": prob.assign_coords({date_dim: dates}).transpose(..., date_dim),
        "no_onset_fraction": doy.isnull().mean(year_dim),
    })
