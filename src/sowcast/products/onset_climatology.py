"""The climatological chance that the rains start by the end of each coming week.

From past years' onsets (day of year, 365-day calendar) at each point, given that the rains
have not started by the issue date: ``P_k = #{years: issue_doy < onset <= doy(issue + 7k)} /
#{years: onset > issue_doy}``, k = 1..weeks. Years with no onset (or none known) are left out
of both counts. The verification's climatological baseline is this one (:mod:`sowcast.verify.
reforecasts`). NaN where fewer than ``min_years`` past onsets lie after the issue date.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.products.climatology import day_of_year

DAY = pd.Timedelta(days=1)


def past_onset_doy(history: xr.DataArray, rules, before_year: int | None = None,
                   exclude_year: int | None = None) -> xr.DataArray:
    """Onset day of year per past ``year`` (NaN when no confirmed onset): ``history`` is
    observed daily rain ``(time, ...)``; only years before ``before_year`` and not
    ``exclude_year`` are used."""
    from sowcast.products.onset import ONSET
    from sowcast.products.season import analyse_seasons

    years = history["time"].dt.year
    keep = xr.ones_like(years, dtype=bool)
    if before_year is not None:
        keep = keep & (years < before_year)
    if exclude_year is not None:
        keep = keep & (years != exclude_year)
    seasons = analyse_seasons(history.isel(time=np.flatnonzero(keep.values)), rules)
    return seasons["onset_doy"].where(seasons["onset_status"] == ONSET)


def onset_by_week_climatology(onset_doy: xr.DataArray, issue, weeks: int = 6,
                              min_years: int = 5) -> xr.DataArray:
    """``P_k`` of the module doc on ``(week, ...)`` from ``onset_doy (year, ...)``."""
    issue = pd.Timestamp(issue).floor("D")
    issue_doy = float(day_of_year([issue])[0])
    later = onset_doy.where(onset_doy > issue_doy)
    n_later = later.notnull().sum("year")
    parts = []
    for k in range(1, weeks + 1):
        end = issue + 7 * k * DAY
        end_doy = float(day_of_year([end])[0]) if end.year == issue.year else np.inf
        parts.append((later <= end_doy).sum("year") / n_later.where(n_later >= min_years))
    out = xr.concat(parts, dim="week").assign_coords(week=np.arange(1, weeks + 1))
    out.name = "onset_by_week_climatology"
    out.attrs = {"long_name": "climatological probability of an onset by the end of the week, given none by "
                              "the issue date (past years' onsets)", "units": "1"}
    return out
