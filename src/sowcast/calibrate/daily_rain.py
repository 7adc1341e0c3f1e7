"""Quantile mapping of the forecast's daily rain onto the observed daily climate, by lead week.

The season rules count wet days and dry spells, so they need the observed frequency of dry
days and of heavy days, which a network trained on a mean-squared error does not have (it
drizzles: no dry spell ever breaks its onsets, which come early). Before the rules run,
daily rain at lead day ``d`` is mapped ``x -> F_obs^-1(F_model(x))``
(:func:`sowcast.products.quantile_mapping.quantile_map_numpy`, multiplicative beyond the
stored quantiles) with the CDFs of lead week ``ceil(d / 7)``:

* model: every training-year hindcast start, member and day of that lead week, per point;
* observed: the truth on the same dates, per point.

Pooled over all the hindcast's starts (their season, e.g. April to July), not per start
day: a few years of starts give too few days per start day for 50 quantiles.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.quantile_mapping import quantile_map_numpy

LEVELS = tuple(round(x, 4) for x in (*np.arange(0.02, 0.99, 0.02), 0.99))
RAIN = "total_precipitation"


def lead_week(lead_day: np.ndarray) -> np.ndarray:
    """1 for lead days 1-7, 2 for 8-14, ...; lead day 0 (the init day) counts as week 1."""
    return np.maximum((np.asarray(lead_day, np.int64) + 6) // 7, 1)


def fit_daily_rain_quantiles(daily: xr.DataArray, truth_daily: xr.DataArray) -> xr.Dataset:
    """``daily_rain_model_quantiles`` and ``daily_rain_observed_quantiles`` on
    ``(lead_week, daily_quantile, lat, lon)`` from hindcast daily rain ``(start, member,
    lead_day, lat, lon)`` and the observed daily rain ``(time, lat, lon)``."""
    lead = np.asarray(daily["lead_day"].values, np.int64)
    weeks = lead_week(lead)
    starts = daily["start"].values.astype("datetime64[D]")
    dates = starts[:, None] + lead[None, :].astype("timedelta64[D]")              # (start, lead_day)
    obs = truth_daily.reindex(time=np.unique(dates).astype("datetime64[ns]"))
    obs = obs.sel(time=xr.DataArray(dates.astype("datetime64[ns]"), dims=("start", "lead_day")))
    obs = obs.transpose("start", "lead_day", "lat", "lon").values
    model = daily.transpose("start", "member", "lead_day", "lat", "lon").values
    model_q, obs_q = [], []
    for w in np.unique(weeks):
        m = model[:, :, weeks == w].reshape(-1, *model.shape[-2:])
        o = obs[:, weeks == w].reshape(-1, *obs.shape[-2:])
        if not np.isfinite(o).any() or not np.isfinite(m).any():
            raise SowcastError(f"no observed or forecast daily rain at lead week {w} to map daily rain with")
        model_q.append(np.nanquantile(m, LEVELS, axis=0))
        obs_q.append(np.nanquantile(o, LEVELS, axis=0))
    coords = {"lead_week": np.unique(weeks), "daily_quantile": np.asarray(LEVELS),
              "lat": daily["lat"].values, "lon": daily["lon"].values}
    dims = ("lead_week", "daily_quantile", "lat", "lon")
    attrs = {"units": "mm", "comment": "per lead week: all training-year hindcast starts (and members) pooled"}
    return xr.Dataset({
        "daily_rain_model_quantiles": (dims, np.stack(model_q).astype(np.float32),
                                       {**attrs, "long_name": "quantiles of the model's daily rain"}),
        "daily_rain_observed_quantiles": (dims, np.stack(obs_q).astype(np.float32),
                                          {**attrs, "long_name": "quantiles of the observed daily rain on the "
                                                                 "same dates"})}, coords=coords)


def map_daily_rain(rain: xr.DataArray, calibration: xr.Dataset, init_date) -> xr.DataArray:
    """Daily forecast rain ``(member, time, lat|location...)`` mapped by lead week (module doc);
    lead day = days after ``init_date``. See :func:`map_by_lead_day`."""
    init = np.datetime64(np.datetime64(init_date, "D"), "ns")
    lead = ((rain["time"].values.astype("datetime64[ns]") - init) // np.timedelta64(1, "D")).astype(np.int64)
    return map_by_lead_day(rain, calibration, lead, "time")


def map_by_lead_day(rain: xr.DataArray, calibration: xr.Dataset, lead_days=None, dim: str = "lead_day") -> xr.DataArray:
    """Daily rain with lead days along ``dim`` (by default the ``lead_day`` coordinate) mapped
    with the quantiles of their lead week; weeks beyond the fitted ones use the last.
    ``calibration`` holds the two quantile arrays on the same points as ``rain``."""
    if "daily_rain_model_quantiles" not in calibration:
        return rain
    lead = np.asarray(rain[dim].values if lead_days is None else lead_days, np.int64)
    weeks = np.minimum(lead_week(lead), int(calibration["lead_week"].values.max()))
    qm = calibration["daily_rain_model_quantiles"]
    qo = calibration["daily_rain_observed_quantiles"]
    space = [d for d in qm.dims if d not in ("lead_week", "daily_quantile")]
    levels = np.asarray(calibration["daily_quantile"].values, np.float64)
    extra = [d for d in rain.dims if d not in space and d != dim]
    r = rain.transpose(*extra, dim, *space)
    values = np.asarray(r.values, np.float64)
    out = np.empty_like(values)
    for w in np.unique(weeks):
        at = np.flatnonzero(weeks == w)
        qm_w = np.moveaxis(qm.sel(lead_week=w).transpose("daily_quantile", *space).values, 0, -1)
        qo_w = np.moveaxis(qo.sel(lead_week=w).transpose("daily_quantile", *space).values, 0, -1)
        sub = np.take(values, at, axis=len(extra))
        out_w = quantile_map_numpy(sub, np.broadcast_to(qm_w, sub.shape + (levels.size,)),
                                   np.broadcast_to(qo_w, sub.shape + (levels.size,)), levels, "multiplicative")
        idx = [slice(None)] * values.ndim
        idx[len(extra)] = at
        out[tuple(idx)] = out_w
    mapped = r.copy(data=out.astype(rain.dtype if rain.dtype.kind == "f" else np.float64))
    mapped.attrs = {**rain.attrs, "comment": "daily rain quantile mapped to the observed daily climate by lead week"}
    return mapped.transpose(*rain.dims)
