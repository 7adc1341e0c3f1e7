"""Lead periods: weekly and fortnightly aggregates of daily series (``products`` conventions).

``week k`` is lead days ``7(k-1)+1 .. 7k`` (k = 1..6); ``weeks3-4`` is 15-28 and
``weeks5-6`` 29-42, the usual S2S verification windows (Vitart et al. 2017, BAMS, the S2S
database). Over a period accumulations are summed and states averaged
(:func:`sowcast.products.daily.aggregation`: the schema's ``kind``; rain is
``total_precipitation``, temperature ``2m_temperature``); variables of unknown kind are
left out. A period with any day missing (NaN, or beyond the forecast) is NaN, not an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.daily import aggregation, daily_attrs, forecast_daily


@dataclass(frozen=True)
class Period:
    """A lead period: lead days ``first .. last`` (both included)."""

    name: str
    first_lead_day: int
    last_lead_day: int

    @property
    def n_days(self) -> int:
        return self.last_lead_day - self.first_lead_day + 1


PERIODS: list[Period] = [Period(f"week{k}", 7 * (k - 1) + 1, 7 * k) for k in range(1, 7)] + [
    Period("weeks3-4", 15, 28), Period("weeks5-6", 29, 42)]


def _period_coords(periods: Sequence[Period]) -> dict[str, Any]:
    return {
        "period": ("period", np.asarray([p.name for p in periods], dtype=object), {"long_name": "lead period"}),
        "first_lead_day": ("period", np.asarray([p.first_lead_day for p in periods], np.int32),
                           {"long_name": "first lead day of the period (lead day k is init date + k days)"}),
        "last_lead_day": ("period", np.asarray([p.last_lead_day for p in periods], np.int32),
                          {"long_name": "last lead day of the period (included)"}),
    }


def _names(ds: xr.Dataset, dim: str) -> list[str]:
    return [n for n, da in ds.data_vars.items() if dim in da.dims and aggregation(n, da.attrs)]


def _aggregate(da: xr.DataArray, dim: str, how: str) -> xr.DataArray:
    return da.sum(dim, skipna=False) if how == "sum" else da.mean(dim, skipna=False)


def period_aggregates(daily: xr.Dataset, periods: Sequence[Period] = PERIODS) -> xr.Dataset:
    """Replace ``time`` by ``period`` using the ``lead_day`` coordinate (module doc).

    Coordinates ``first_lead_day``/``last_lead_day`` and, when ``init_time`` is known,
    ``period_start``/``period_end``: the first and last valid dates (both included).
    """
    if "time" not in daily.dims or "lead_day" not in daily.coords:
        raise SowcastError("period_aggregates needs a daily forecast series with a 'lead_day' coordinate "
                           "(products.daily.forecast_daily)")
    names = _names(daily, "time")
    if not names:
        raise SowcastError("the daily series has no variable that can be aggregated over lead periods")
    lead = np.asarray(daily["lead_day"].values)
    parts = []
    for p in periods:
        idx = np.flatnonzero((lead >= p.first_lead_day) & (lead <= p.last_lead_day))
        if len(np.unique(lead[idx])) == p.n_days:
            sub = daily[names].isel(time=idx)
            agg = xr.Dataset({n: _aggregate(sub[n], "time", aggregation(n, daily[n].attrs)) for n in names})
        else:  # a day beyond the forecast or dropped as incomplete: the period is NaN
            agg = daily[names].isel(time=slice(0, 0)).sum("time").where(False)
        parts.append(agg.drop_vars([c for c in agg.coords if "time" in agg[c].dims or c == "lead_day"],
                                   errors="ignore"))
    out = xr.concat(parts, dim="period", coords="minimal", compat="override", join="override")
    out = out.assign_coords({k: xr.Variable(*v) for k, v in _period_coords(periods).items()})
    for n in names:
        dims = list(daily[n].dims)
        out[n] = out[n].transpose(*[("period" if d == "time" else d) for d in dims])
        out[n].attrs = daily_attrs(n, daily[n].attrs, aggregation(n, daily[n].attrs), period="period")
    if "init_time" in daily.coords and daily["init_time"].ndim == 0:
        init_date = pd.Timestamp(daily["init_time"].values).floor("D")
        out = out.assign_coords(_dates(init_date, periods))
    out.attrs = dict(daily.attrs)
    return out


def _dates(init_date: pd.Timestamp, periods: Sequence[Period]) -> dict[str, xr.Variable]:
    first = np.asarray([init_date + pd.Timedelta(days=p.first_lead_day) for p in periods], "datetime64[ns]")
    last = np.asarray([init_date + pd.Timedelta(days=p.last_lead_day) for p in periods], "datetime64[ns]")
    return {"period_start": xr.Variable("period", first, {"long_name": "first valid date of the period"}),
            "period_end": xr.Variable("period", last, {"long_name": "last valid date of the period (included)"})}


def observed_periods(obs_daily: xr.Dataset, init_times: Iterable[Any],
                     periods: Sequence[Period] = PERIODS) -> xr.Dataset:
    """Period aggregates of an observed daily series for each init time (dim ``start``).

    For init date ``D`` period ``p`` covers the dates ``D + first .. D + last`` days, as for a
    forecast from ``D``; so ``observed_periods(obs, [t]).sel(start=t)`` lines up with
    ``period_aggregates(forecast_daily(f))`` of a forecast from ``t``. Coordinates
    ``period_start``/``period_end`` have dims ``(start, period)``.
    """
    if "time" not in obs_daily.dims:
        raise SowcastError("observed_periods needs a daily series with a 'time' dimension")
    times = pd.DatetimeIndex(obs_daily["time"].values)
    if (times != times.floor("D")).any() or times.has_duplicates:
        raise SowcastError("observations must be a daily series (times at 00:00, no duplicates; "
                           "use products.daily.store_daily)")
    names = _names(obs_daily, "time")
    if not names:
        raise SowcastError("the observed series has no variable that can be aggregated over lead periods")
    if isinstance(init_times, str | pd.Timestamp | np.datetime64):
        init_times = [init_times]
    arr = np.atleast_1d(np.asarray(init_times))
    starts = pd.DatetimeIndex(arr if arr.dtype.kind == "M" else [pd.Timestamp(t) for t in arr.ravel()])
    if len(starts) == 0:
        raise SowcastError("observed_periods needs at least one init time")
    start_dates = starts.floor("D")
    parts = []
    for p in periods:
        offsets = np.arange(p.first_lead_day, p.last_lead_day + 1) * np.timedelta64(1, "D")
        want = start_dates.values[:, None] + offsets[None, :]                  # [start, day]
        needed = pd.DatetimeIndex(np.unique(want))
        sub = obs_daily[names].reindex(time=needed)                            # missing dates: NaN
        picked = sub.sel(time=xr.DataArray(want, dims=("start", "day")))
        agg = xr.Dataset({n: _aggregate(picked[n], "day", aggregation(n, obs_daily[n].attrs)) for n in names})
        parts.append(agg.drop_vars([c for c in agg.coords if c in ("time", "day")], errors="ignore"))
    out = xr.concat(parts, dim="period", coords="minimal", compat="override", join="override")
    out = out.assign_coords({k: xr.Variable(*v) for k, v in _period_coords(periods).items()})
    out = out.assign_coords(start=("start", starts.values.astype("datetime64[ns]"),
                                   {"long_name": "init time of the forecast the periods belong to"}))
    for n in names:
        rest = [d for d in obs_daily[n].dims if d != "time"]
        out[n] = out[n].transpose("start", "period", *rest)
        out[n].attrs = daily_attrs(n, obs_daily[n].attrs, aggregation(n, obs_daily[n].attrs), period="period")
    first = np.stack([(start_dates + pd.Timedelta(days=p.first_lead_day)).values for p in periods], axis=1)
    last = np.stack([(start_dates + pd.Timedelta(days=p.last_lead_day)).values for p in periods], axis=1)
    out = out.assign_coords(
        period_start=(("start", "period"), first.astype("datetime64[ns]"), {"long_name": "first valid date"}),
        period_end=(("start", "period"), last.astype("datetime64[ns]"), {"long_name": "last valid date (included)"}))
    out.attrs = dict(obs_daily.attrs)
    return out


def hindcast_periods(forecasts: Iterable[xr.Dataset], periods: Sequence[Period] = PERIODS,
                     variables: Sequence[str] | None = None) -> xr.Dataset:
    """Period aggregates of many forecasts (hindcasts) stacked along ``start`` (their init times).

    The input of :func:`sowcast.products.climatology.build_climatology`: dims
    ``(start, member, period, [level,] lat, lon)``. Each forecast is read one day at a time.
    """
    parts, starts = [], []
    for f in forecasts:
        agg = period_aggregates(forecast_daily(f, variables), periods)
        starts.append(np.datetime64(pd.Timestamp(agg["init_time"].values).to_datetime64(), "ns"))
        parts.append(agg.drop_vars(["init_time", "period_start", "period_end", "start_time"], errors="ignore"))
    if not parts:
        raise SowcastError("no hindcasts given")
    if len(set(starts)) != len(starts):
        raise SowcastError("two hindcasts have the same init time")
    out = xr.concat(parts, dim=pd.Index(starts, name="start"), coords="minimal", compat="override",
                    join="exact")
    out["start"].attrs = {"long_name": "init time of the hindcast"}
    for n in out.data_vars:
        out[n] = out[n].transpose("start", ...)
    return out
