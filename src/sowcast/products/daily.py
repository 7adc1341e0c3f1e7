"""Daily series from the forecast engine's output or from a store (``products`` conventions).

A day ``D`` is ``[D 00:00, D + 1 day)``. With period-beginning precipitation (the engine and
the canonical store: the value at ``t`` is the rain over ``[t, t + step)``) the day's rain is
the sum over the steps whose label falls on ``D``; a state variable's daily value is the mean
of those steps (e.g. 00, 06, 12, 18 UTC). How a variable is aggregated comes from the schema
(:func:`aggregation`): ``kind == "accumulation"`` is summed, ``"state"`` averaged; static and
unknown variables are left out.

Forecast (:func:`forecast_daily`): dims ``member, lead_time, [level,] lat, lon`` become
``member, time, [level,] lat, lon``; ``lead_day(time)`` = (date - init date) in days, so
lead day ``k`` is the date ``init date + k``. A day is kept only when it is complete: all
``1 day / step`` steps are in the output and every (variable, member, step) has been written
(is not all-NaN; the engine's zarr is NaN until a step is written). With 6-hourly steps from
00 UTC the init date has only 06-18 UTC (lead day 0) and is dropped; with daily steps each
lead time is one day. A grid point that is NaN in any step of the day is NaN that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.schema import CANONICAL_VARIABLES
from sowcast.errors import SowcastError

DAY = pd.Timedelta(days=1)
# Attributes of the engine output that no longer hold for a daily series.
_DROP_ATTRS = ("coordinates", "cell_methods", "comment")


def aggregation(name: str, attrs: dict[str, Any] | None = None) -> str | None:
    """``"sum"`` for an accumulation, ``"mean"`` for a state, ``None`` if unknown or static.

    Canonical names use the schema's ``kind``; other names fall back on CF ``cell_methods``
    (``time: sum`` / ``time: mean``).
    """
    var = CANONICAL_VARIABLES.get(name)
    if var is not None:
        return {"accumulation": "sum", "state": "mean"}.get(var.kind)
    methods = str((attrs or {}).get("cell_methods", ""))
    if "time: sum" in methods:
        return "sum"
    if "time: mean" in methods:
        return "mean"
    return None


def daily_attrs(name: str, attrs: dict[str, Any], how: str, period: str = "day") -> dict[str, Any]:
    """The variable's attributes with ``cell_methods`` (and a comment for sums) for an aggregate."""
    out = {k: v for k, v in attrs.items() if k not in _DROP_ATTRS}
    out["cell_methods"] = f"time: {how}"
    if how == "sum":
        out["comment"] = f"total over the {period}" + (" ([date, date + 1 day))" if period == "day" else "")
    return out


def _select(ds: xr.Dataset, variables: Sequence[str] | None, dim: str, what: str) -> list[str]:
    """Variables to aggregate: those asked for (all must exist and be known), else all known."""
    if variables is None:
        return [n for n, da in ds.data_vars.items() if dim in da.dims and aggregation(n, da.attrs)]
    names = [variables] if isinstance(variables, str) else list(variables)
    for n in names:
        if n not in ds.data_vars:
            raise SowcastError(f"{what} has no variable {n!r} (it has: {', '.join(map(str, ds.data_vars))})")
        if dim not in ds[n].dims:
            raise SowcastError(f"{what}: {n!r} has no {dim!r} dimension")
        if aggregation(n, ds[n].attrs) is None:
            raise SowcastError(f"{what}: do not know how to aggregate {n!r} to days (not an accumulation or a state)")
    return names


def _step(deltas: np.ndarray, what: str) -> pd.Timedelta:
    """The one step of a lead-time (or time) axis, which must divide a day."""
    if len(deltas) == 0:
        raise SowcastError(f"{what} has no time steps")
    diffs = np.unique(np.diff(deltas)) if len(deltas) > 1 else np.asarray([deltas[0]])
    if len(diffs) != 1 or diffs[0] <= np.timedelta64(0):
        raise SowcastError(f"{what} has an irregular or non-increasing time step")
    step = pd.Timedelta(diffs[0])
    if step > DAY or DAY % step != pd.Timedelta(0):
        raise SowcastError(f"{what}: time step {step} does not divide a day")
    return step


def forecast_daily(forecast: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Daily series (dims ``member, time, [level,] lat, lon``) from the engine output (module doc).

    ``variables``: the variables to keep (default: every accumulation and state variable).
    Reads one day of lead times at a time, so a lazily opened zarr is never loaded whole.
    """
    what = "forecast"
    for key in ("lead_time", "init_time"):
        if key not in forecast.coords:
            raise SowcastError(f"{what} has no {key!r} coordinate (not the forecast engine's output layout)")
    names = _select(forecast, variables, "lead_time", what)
    if not names:
        raise SowcastError(f"{what} has no variable that can be aggregated to days")
    leads = np.asarray(forecast["lead_time"].values, "timedelta64[ns]")
    step = _step(leads, what)
    per_day = int(DAY // step)
    init = pd.Timestamp(forecast["init_time"].values)
    valid = (init + pd.TimedeltaIndex(leads)).floor("D")
    dates = pd.DatetimeIndex(valid.unique())
    groups = [np.flatnonzero(valid == d) for d in dates]

    out: dict[str, np.ndarray] = {}
    keep = np.array([len(g) == per_day for g in groups])
    for name in names:
        da = forecast[name]
        if da.dims[:2] != ("member", "lead_time"):
            raise SowcastError(f"{what}: {name!r} dims {da.dims} do not start with (member, lead_time)")
        how = aggregation(name, da.attrs)
        block = np.full((da.sizes["member"], len(dates), *da.shape[2:]), np.nan, np.float32)
        for i, idx in enumerate(groups):
            if not keep[i]:
                continue
            part = np.asarray(da.isel(lead_time=slice(idx[0], idx[-1] + 1)).values, np.float64)
            written = np.isfinite(part).reshape(part.shape[0], part.shape[1], -1).any(axis=2)
            if not written.all():
                keep[i] = False
                continue
            block[:, i] = part.sum(axis=1) if how == "sum" else part.mean(axis=1)
        out[name] = block

    dates_kept = dates[keep]
    init_date = init.floor("D")
    coords: dict[str, Any] = {
        "time": ("time", dates_kept.values.astype("datetime64[ns]"),
                 {"standard_name": "time", "long_name": "valid date (a day is [date, date + 1 day))", "axis": "T"}),
        "lead_day": ("time", np.asarray((dates_kept - init_date).days, np.int32),
                     {"long_name": "days from the init date", "units": "1"}),
        "init_time": forecast["init_time"].variable,
    }
    for name, c in forecast.coords.items():
        if name not in coords and "lead_time" not in c.dims and name != "valid_time":
            coords[name] = c.variable
    data_vars = {}
    for name in names:
        da = forecast[name]
        arr = out[name][:, keep]
        data_vars[name] = xr.Variable(("member", "time", *da.dims[2:]), arr,
                                      daily_attrs(name, da.attrs, aggregation(name, da.attrs)))
    return xr.Dataset(data_vars, coords=coords, attrs=dict(forecast.attrs))


def _apply_valid_mask(ds: xr.Dataset, name: str) -> xr.DataArray:
    """The variable with NaN where its ``<name>_valid`` mask (canonical store) says invalid."""
    da = ds[name]
    mask = f"{name}_valid"
    if mask in ds.data_vars and "time" not in ds[mask].dims:
        da = da.where(ds[mask].astype(bool))
    return da


def store_daily(ds: xr.Dataset, variables: Sequence[str] | None = None) -> xr.Dataset:
    """Daily series from a canonical store or observations with a ``time`` dim.

    Sub-daily data is aggregated to days (rain summed, states averaged; a day lacking any
    step, or NaN in any step, is NaN); daily data passes through (times at 00:00). Points
    flagged invalid by a ``<name>_valid`` mask become NaN. Static variables are left out.
    """
    what = "store"
    if "time" not in ds.dims:
        raise SowcastError(f"{what} has no 'time' dimension")
    names = _select(ds, variables, "time", what)
    if not names:
        raise SowcastError(f"{what} has no variable that can be aggregated to days")
    times = pd.DatetimeIndex(ds["time"].values)
    step = _step(times.values, what) if len(times) > 1 else DAY
    if step == DAY:
        if (times != times.floor("D")).any():
            raise SowcastError(f"{what}: daily times must be at 00:00 (the day [D, D + 1 day))")
        out = xr.Dataset({n: _apply_valid_mask(ds, n) for n in names}, attrs=dict(ds.attrs))
        for n in names:
            out[n].attrs = daily_attrs(n, ds[n].attrs, aggregation(n, ds[n].attrs))
        return out
    per_day = int(DAY // step)
    data_vars = {}
    for n in names:
        da = _apply_valid_mask(ds, n)
        resampled = da.resample(time="1D")
        agg = resampled.sum(skipna=False) if aggregation(n, da.attrs) == "sum" else resampled.mean(skipna=False)
        counts = da["time"].resample(time="1D").count()
        agg = agg.where(counts == per_day)
        agg.attrs = daily_attrs(n, ds[n].attrs, aggregation(n, ds[n].attrs))
        data_vars[n] = agg
    out = xr.Dataset(data_vars, attrs=dict(ds.attrs))
    out["time"].attrs = {"standard_name": "time", "long_name": "date (a day is [date, date + 1 day))", "axis": "T"}
    out.attrs["time_step"] = "P1D"
    return out


def read_truth_daily(path, names: Sequence[str]) -> tuple[xr.Dataset, xr.DataArray | None]:
    """The daily series of ``names`` (:func:`store_daily`) and the land-sea mask (None if the
    store has none) from the canonical store at ``path``, loaded: the truth that calibration
    and verification score against. One-line error if the store lacks a variable."""
    from sowcast.data.store import open_store

    with open_store(path, chunks=None) as store:
        missing = [n for n in names if n not in store.data_vars]
        if missing:
            raise SowcastError(f"the truth {path} lacks {', '.join(missing)}")
        truth_daily = store_daily(store[list(names)]).load()
        land = store["land_sea_mask"].load() if "land_sea_mask" in store.data_vars else None
    return truth_daily, land
