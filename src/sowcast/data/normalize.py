"""Bringing a source dataset's coordinates, time axis and missing values to canonical form.

Coordinates (see :mod:`sowcast.data.schema`):

* ``latitude``/``lat``/``y`` (or anything with ``standard_name: latitude``) -> ``lat``,
  ascending; ``longitude``/``lon``/``x`` -> ``lon`` wrapped from 0..360 to [-180, 180)
  and re-sorted (the values move with their longitudes: 357 E becomes -3);
* pressure levels ``isobaricInhPa``/``level``/``plev``/``pressure_level`` -> ``level`` in
  hPa (Pa divided by 100), **ascending** (500 before 850, as in WeatherBench 2); a scalar
  level (a one-level GRIB file) becomes a level dim of length 1;
* the GRIB ensemble dim ``number`` (and ``realization``) -> ``member``, the leading dim;
* cfgrib's ``time`` is the forecast reference time: where ``valid_time`` differs (forecast
  steps) it becomes the time axis, a ``(time, step)`` pair is flattened into valid times;
  helper coordinates (``step``, ``surface``, ``valid_time``, ``heightAboveGround``...) go.

Time: strictly increasing with one constant step (:func:`sowcast.data.schema.infer_time_step`
rejects duplicated, non-monotonic and irregular times).

Precipitation convention: canonical ``total_precipitation`` at label t is the amount over
``[t, t + step)`` (``period_beginning``). ERA5 accumulations are labelled with the *end*
of their period: hourly ``tp`` at valid time t covers ``(t - 1h, t]`` (ECMWF, "ERA5: data
documentation", section "Mean rates/fluxes and accumulations"), and so do the WeatherBench
2 ``total_precipitation_6hr`` sums. :func:`to_period_beginning` stores the value of valid
time t + step at label t (the last label, with nothing after it, goes), so the day D sum
adds valid times D 01:00 .. D+1 00:00.
Rates (``kg m-2 s-1``, WFDE5 and CMIP ``pr``) and gauge/CHIRPS amounts are taken as
labelled at the start of their period (the WFDEI/WFDE5 convention): a daily value is the
mean of the 24 hourly rates x 86400.

Resampling to a coarser step sums accumulations, averages states (``maximum_*``/``minimum_*``
take the max/min) over ``[t, t + step)`` bins labelled by their start; incomplete bins at
either end are dropped.

Missing values: gridded model input may not hold NaN. NaN at the same points at all times
(the sea of a land-only product such as WFDE5) is a *mask*: the points are filled with the
field's mean over its valid values (per level; over ``ingest.statistics_period`` when set) and flagged False in a static boolean
``<name>_valid`` named in the field's ``ancillary_variables``. NaN that come and go in time,
an all-NaN field or an all-NaN time slice are errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.schema import CANONICAL_VARIABLES, COORD_ATTRS, infer_time_step
from sowcast.errors import SowcastError

CANONICAL_DIMS = ("member", "time", "level", "lat", "lon")
PERIOD_BEGINNING = "period_beginning"
PERIOD_ENDING = "period_ending"

_LAT_NAMES = ("lat", "latitude", "lats", "nav_lat", "y", "rlat")
_LON_NAMES = ("lon", "longitude", "lons", "nav_lon", "x", "rlon")
_LEVEL_NAMES = ("level", "isobaricInhPa", "isobaricInPa", "pressure_level", "plev", "lev",
                "pressure", "air_pressure")
_TIME_NAMES = ("time", "valid_time", "t", "date", "Time", "times")
_MEMBER_NAMES = ("member", "number", "realization", "ensemble", "ens", "ensemble_member")
_LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
_LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}


# --- coordinates ---

def _find(ds: xr.Dataset, names: Sequence[str], standard_name: str, units: set[str]) -> str | None:
    """The coordinate that plays a role: by CF standard_name/units first, then by name."""
    for name, c in ds.coords.items():
        if c.attrs.get("standard_name") == standard_name or str(c.attrs.get("units", "")).lower() in units:
            return str(name)
    lower = {str(n).lower(): str(n) for n in ds.coords}
    for n in names:
        if n in ds.coords:
            return n
        if n.lower() in lower:
            return lower[n.lower()]
    for n in names:  # a dim without a coordinate variable (rare; CF requires one)
        if n in ds.dims:
            return n
    return None


def _flatten_forecast_steps(ds: xr.Dataset, what: str) -> xr.Dataset:
    """cfgrib's (time, step) forecast layout -> one valid-time axis."""
    if "step" in ds.dims and "time" in ds.dims and "valid_time" in ds.coords:
        vt = ds["valid_time"].transpose("time", "step").values.reshape(-1)
        ds = ds.drop_vars("valid_time").stack(_vt=("time", "step"))
        ds = ds.drop_vars(["_vt", "time", "step"]).rename({"_vt": "time"})
        ds = ds.assign_coords(time=("time", vt))
    elif "step" in ds.dims:
        raise SowcastError(f"{what} has forecast steps but no valid_time; cannot place it in time")
    elif "valid_time" in ds.coords and "time" in ds.dims and ds["valid_time"].dims == ("time",):
        vt = ds["valid_time"].values
        if not np.array_equal(vt, ds["time"].values):
            ds = ds.drop_vars("valid_time").assign_coords(time=("time", vt))
    return ds


def _normalise_time(ds: xr.Dataset, what: str) -> xr.Dataset:
    ds = _flatten_forecast_steps(ds, what)
    if "time" not in ds.dims:
        for name in _TIME_NAMES:
            if name in ds.dims:
                drop = ["time"] if "time" in ds.coords else []
                ds = ds.drop_vars(drop).rename({name: "time"})
                break
    if "time" not in ds.dims:
        scalar = [n for n in ("valid_time", *_TIME_NAMES) if n in ds.coords and ds[n].ndim == 0]
        if scalar:  # one time in the file: a time dim of length 1, concatenated later
            t = ds[scalar[0]].values
            ds = ds.drop_vars([n for n in _TIME_NAMES if n in ds.coords])
            ds = ds.expand_dims(time=[t])
    if "time" in ds.dims:
        if "time" not in ds.coords:
            raise SowcastError(f"{what} has a time dim without time values")
        if not np.issubdtype(ds["time"].dtype, np.datetime64):
            cal = ds["time"].attrs.get("calendar") or getattr(ds["time"].values[0], "calendar", "")
            raise SowcastError(
                f"{what}: time values are not standard dates (calendar {cal or 'unknown'}, "
                f"units {ds['time'].attrs.get('units', '?')}); sowcast needs the standard calendar"
            )
        ds = ds.assign_coords(time=ds["time"].values.astype("datetime64[ns]"))
        ds["time"].attrs = dict(COORD_ATTRS["time"])
    return ds


def _as_dim(ds: xr.Dataset, name: str, new: str, what: str) -> xr.Dataset:
    """Make coordinate ``name`` the 1-D dim ``new``."""
    c = ds[name]
    if c.ndim != 1:
        raise SowcastError(
            f"{what}: {name!r} is {c.ndim}-D ({', '.join(map(str, c.dims))}); only regular "
            f"latitude-longitude grids are supported (regrid curvilinear data first)"
        )
    dim = c.dims[0]
    if dim != name:  # e.g. coordinate lat(y): index y by lat
        ds = ds.swap_dims({dim: name})
    if name != new:
        ds = ds.rename({name: new})
    return ds


def _normalise_level(ds: xr.Dataset, what: str) -> xr.Dataset:
    name = next((n for n in _LEVEL_NAMES if n in ds.coords or n in ds.dims), None)
    if name is None:
        return ds
    if name not in ds.coords:
        raise SowcastError(f"{what} has a {name!r} dim without pressure values")
    c = ds[name]
    units = str(c.attrs.get("units", "")).strip().lower()
    values = np.atleast_1d(np.asarray(c.values, dtype=np.float64))
    if units in ("pa", "pascal", "pascals") or name == "isobaricInPa" or (not units and values.max() > 1100):
        values = values / 100.0
    elif units and units not in ("hpa", "mb", "mbar", "millibar", "millibars", "hectopascal", "hectopascals"):
        raise SowcastError(f"{what}: vertical coordinate {name!r} has units {units!r}; "
                           f"only pressure levels (hPa or Pa) are supported")
    if c.ndim == 0:
        ds = ds.drop_vars(name)
        ds = ds.assign(**{v: ds[v].expand_dims(level=values) for v in ds.data_vars})
    else:
        ds = _as_dim(ds, name, "level", what)
        ds = ds.assign_coords(level=values)
        ds = ds.sortby("level")
    ds["level"].attrs = dict(COORD_ATTRS["level"])
    return ds


def _normalise_member(ds: xr.Dataset) -> xr.Dataset:
    for name in _MEMBER_NAMES:
        if name in ds.dims:
            ds = ds.rename({name: "member"}) if name != "member" else ds
            if "member" not in ds.coords:
                ds = ds.assign_coords(member=np.arange(ds.sizes["member"]))
            ds["member"].attrs = dict(COORD_ATTRS["member"])
            return ds
    return ds


def normalise_coords(ds: xr.Dataset, what: str = "source") -> xr.Dataset:
    """Canonical coordinates: lat ascending, lon in [-180, 180), level hPa, member, time."""
    ds = _normalise_time(ds, what)
    lat = _find(ds, _LAT_NAMES, "latitude", _LAT_UNITS)
    lon = _find(ds, _LON_NAMES, "longitude", _LON_UNITS)
    if lat is None or lon is None:
        raise SowcastError(f"{what} is not gridded weather data: it has no latitude/longitude coordinates")
    if lat not in ds.coords or lon not in ds.coords:
        raise SowcastError(f"{what} has latitude/longitude dims without coordinate values")
    for name, kind in ((lat, "latitude"), (lon, "longitude")):
        units = str(ds[name].attrs.get("units", "")).lower()
        if units in ("m", "km", "meters", "metres"):
            raise SowcastError(f"{what}: {name!r} is in {units} (a projected grid); "
                               f"only latitude-longitude grids are supported")
    ds = _as_dim(ds, lat, "lat", what)
    ds = _as_dim(ds, lon, "lon", what)
    ds = _normalise_level(ds, what)
    ds = _normalise_member(ds)
    keep = {"time", "level", "lat", "lon", "member"}
    ds = ds.drop_vars([c for c in ds.coords if c not in keep])

    lat_v = np.asarray(ds["lat"].values, dtype=np.float64)
    if not np.isfinite(lat_v).all() or np.abs(lat_v).max() > 90 + 1e-6:
        raise SowcastError(f"{what}: latitudes outside [-90, 90] (is it really a latitude-longitude grid?)")
    lon_v = np.asarray(ds["lon"].values, dtype=np.float64)
    if not np.isfinite(lon_v).all():
        raise SowcastError(f"{what}: longitudes contain NaN")
    wrapped = (lon_v + 180.0) % 360.0 - 180.0
    ds = ds.assign_coords(lat=lat_v, lon=wrapped)
    _, first = np.unique(wrapped, return_index=True)
    if len(first) < len(wrapped):  # a grid that repeats its first longitude at +360
        ds = ds.isel(lon=np.sort(first))
    if len(np.unique(lat_v)) < len(lat_v):
        raise SowcastError(f"{what}: duplicated latitudes")
    ds = ds.sortby(["lat", "lon"])
    ds["lat"].attrs = dict(COORD_ATTRS["lat"])
    ds["lon"].attrs = dict(COORD_ATTRS["lon"])
    return ds


def canonical_dims(ds: xr.Dataset, what: str = "source") -> xr.Dataset:
    """Squeeze stray length-1 dims, drop time from static fields, order dims canonically."""
    out = {}
    for name, da in ds.data_vars.items():
        extra = [d for d in da.dims if d not in CANONICAL_DIMS]
        for d in extra:
            if da.sizes[d] != 1:
                raise SowcastError(f"{what}: variable {name!r} has an unsupported dim {d!r} of size {da.sizes[d]}")
        da = da.squeeze(extra, drop=True) if extra else da
        var = CANONICAL_VARIABLES.get(str(name))
        if var is not None and var.kind == "static" and "time" in da.dims:
            da = da.isel(time=0, drop=True)
        elif var is not None and var.kind != "static" and "time" not in da.dims:
            raise SowcastError(f"{what}: variable {name!r} has no time axis")
        for d in ("lat", "lon"):
            if d not in da.dims:
                raise SowcastError(f"{what}: variable {name!r} is not on the latitude-longitude grid (no {d!r} dim)")
        out[name] = da.transpose(*[d for d in CANONICAL_DIMS if d in da.dims])
    res = xr.Dataset(out, attrs=ds.attrs)
    return res.drop_vars([c for c in res.coords if c not in res.dims])


# --- time ---

def time_step(ds: xr.Dataset, what: str = "source") -> pd.Timedelta | None:
    """The constant step of ``ds`` (None without a time dim); errors as infer_time_step."""
    if "time" not in ds.dims:
        return None
    return infer_time_step(ds["time"].values, what)


def select(ds: xr.Dataset, time_range: Sequence[Any] | None = None, levels: Sequence[float] | None = None,
           what: str = "source") -> xr.Dataset:
    """Keep the times ``[start, end]`` (inclusive, pandas partial dates) and pressure ``levels``."""
    if time_range and "time" in ds.dims:
        if len(time_range) != 2:
            raise SowcastError(f"ingest.time_range must be [start, end], not {list(time_range)!r}")
        start, end = (None if t is None else str(t) for t in time_range)
        for t in (start, end):
            try:
                if t is not None:
                    pd.Timestamp(t)
            except ValueError:
                raise SowcastError(f"ingest.time_range: {t!r} is not a date (YYYY-MM-DD, or a part of one)") from None
        ds = ds.sel(time=slice(start, end))
        if ds.sizes["time"] == 0:
            raise SowcastError(f"{what} has no times in ingest.time_range {start}..{end}")
    if levels and "level" in ds.dims:
        want = np.asarray([float(lev) for lev in levels])
        have = ds["level"].values
        missing = [f"{w:g}" for w in want if not np.isclose(have, w).any()]
        if missing:
            raise SowcastError(
                f"{what} has no pressure level {', '.join(missing)} hPa (it has {', '.join(f'{h:g}' for h in have)})"
            )
        ds = ds.sel(level=np.sort(want), method="nearest")
    return ds


def to_period_beginning(ds: xr.Dataset, names: Sequence[str]) -> xr.Dataset:
    """Accumulations labelled at the end of their step -> labelled at its start (see module doc).

    The value at valid time t + step moves to label t; the last label has no value left
    and is dropped from the whole dataset, so states stay at their own times.
    """
    if not names:
        return ds
    ds = ds.assign(**{n: ds[n].shift(time=-1) for n in names})
    return ds.isel(time=slice(0, -1))


def resample(ds: xr.Dataset, target: pd.Timedelta, source: pd.Timedelta, what: str = "source") -> xr.Dataset:
    """Sum accumulations, average states over ``[t, t + target)``; drop incomplete bins."""
    target, source = pd.Timedelta(target), pd.Timedelta(source)
    if target == source:
        return ds
    if target < source or target % source != pd.Timedelta(0):
        raise SowcastError(
            f"{what}: cannot resample a {source} step to {target}; the new step must be a whole multiple of the old"
        )
    n = int(target / source)
    freq = pd.tseries.frequencies.to_offset(target)
    static = [v for v in ds.data_vars if "time" not in ds[v].dims]
    timed = ds.drop_vars(static)
    counts = timed["time"].resample(time=freq, label="left", closed="left").count()
    out = {}
    for name, da in timed.data_vars.items():
        r = da.resample(time=freq, label="left", closed="left")
        kind = CANONICAL_VARIABLES[str(name)].kind if name in CANONICAL_VARIABLES else "state"
        if kind == "accumulation":
            res = r.sum(skipna=False)
        elif str(name).startswith("maximum_"):
            res = r.max(skipna=False)
        elif str(name).startswith("minimum_"):
            res = r.min(skipna=False)
        else:
            res = r.mean(skipna=False)
        out[name] = res.assign_attrs(da.attrs)
    res = xr.Dataset(out, attrs=ds.attrs)
    complete = counts.values == n
    if not complete.any():
        raise SowcastError(f"{what}: no complete {target} period in the data")
    res = res.isel(time=np.flatnonzero(complete))
    res["time"].attrs = dict(COORD_ATTRS["time"])
    for name in static:
        res[name] = ds[name]
    return res


# --- missing values ---

def nan_summary(da: xr.DataArray) -> dict[str, xr.DataArray]:
    """Lazy reductions that tell masks from gaps (see :func:`check_nans`)."""
    isnan = da.isnull()
    if "time" not in da.dims:
        return {"all": isnan, "any": isnan}
    other = [d for d in da.dims if d != "time"]
    return {"all": isnan.all("time"), "any": isnan.any("time"), "slice_valid": (~isnan).any(other)}


def check_nans(name: str, summary: Mapping[str, xr.DataArray], what: str = "source") -> bool:
    """Raise on all-NaN fields, all-NaN time slices and time-varying NaN; True if a mask is needed."""
    nan_all = np.asarray(summary["all"].values)
    nan_any = np.asarray(summary["any"].values)
    if nan_all.all():
        raise SowcastError(f"{what}: variable {name!r} is NaN everywhere")
    if "slice_valid" in summary:
        sv = summary["slice_valid"]
        bad = np.flatnonzero(~np.asarray(sv.values))
        if bad.size:
            t = pd.Timestamp(sv["time"].values[bad[0]])
            raise SowcastError(
                f"{what}: variable {name!r} is NaN everywhere at {t:%Y-%m-%d %H:%M}"
                + (f" and {bad.size - 1} other time(s)" if bad.size > 1 else "")
            )
    varying = nan_any & ~nan_all
    if varying.any():
        arr = summary["any"]
        idx = np.unravel_index(int(np.flatnonzero(varying.reshape(-1))[0]), varying.shape)
        where = ", ".join(f"{d}={arr[d].values[i]:g}" for d, i in zip(arr.dims, idx) if d in arr.coords)
        raise SowcastError(
            f"{what}: variable {name!r} has NaN at some times but not others at {int(varying.sum())} "
            f"point(s) (first at {where}); gridded data must be complete, or missing at the same points at all times"
        )
    return bool(nan_all.any())


def mask_summary(da: xr.DataArray, period: Sequence[Any] | None = None) -> dict[str, xr.DataArray]:
    """Lazy: the static valid mask and the mean over valid values (per level), over the times
    of ``period`` (``ingest.statistics_period``, the training years) when given."""
    valid = da.isel(time=0, drop=True).notnull() if "time" in da.dims else da.notnull()
    keep = [d for d in da.dims if d == "level"]
    if period and "time" in da.dims:
        start, end = (None if t is None else str(t) for t in period)
        if da.sel(time=slice(start, end)).sizes["time"]:
            da = da.sel(time=slice(start, end))
    mean = da.mean([d for d in da.dims if d not in keep], skipna=True, dtype=np.float64)
    return {"valid": valid, "mean": mean}


def apply_mask(ds: xr.Dataset, name: str, valid: xr.DataArray, mean: xr.DataArray) -> xr.Dataset:
    """Fill the invalid points of ``name`` with ``mean`` and add the ``<name>_valid`` flag."""
    da = ds[name]
    filled = da.where(valid, mean.astype(da.dtype)).transpose(*da.dims).assign_attrs(da.attrs)
    mask_name = f"{name}_valid"
    filled.attrs["ancillary_variables"] = mask_name
    flag = valid.astype(bool).drop_vars([c for c in valid.coords if c not in valid.dims])
    flag.attrs = {"long_name": f"{name} has source data here (else filled with its mean)",
                  "flag_values": [0, 1], "flag_meanings": "filled valid"}
    return ds.assign({name: filled, mask_name: flag})
