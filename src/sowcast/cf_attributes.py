"""CF-1.8 attributes and encodings shared by every netCDF and zarr writer.

Source: the NetCDF Climate and Forecast (CF) Metadata Conventions, version 1.8
(https://cfconventions.org/Data/cf-conventions/cf-conventions-1.8/cf-conventions.html) and
its standard name table; checked with the IOOS compliance-checker (``cf:1.8``) in
tests/test_cf_compliance.py.

A writer calls :func:`cf_dataset` on the Dataset it is about to write and passes the
encoding it returns (merged with its own, which wins) to ``to_netcdf`` / ``to_zarr``:

* global attributes (:func:`global_attributes`): ``Conventions = "CF-1.8"``, a ``title``
  and a ``history`` line when the dataset has none;
* coordinates (:data:`COORDINATE_ATTRIBUTES`): ``standard_name``, ``long_name``,
  ``units``, ``axis`` of the coordinates sowcast uses, filled in where missing (set ones
  are kept); ``axis`` only on coordinates that CF lets carry it;
* encodings (:func:`cf_encoding`): no ``_FillValue`` on coordinates (CF 2.5.1), the
  netCDF classic integer types (CF 1.8, section 2.2 has no 64-bit or unsigned integers:
  ``int64`` is written as ``int``, ``uint8`` as ``byte``, times as ``int`` or ``double``
  "<unit> since <date>" with ``calendar``), ``flag_values`` of the variable's own type (CF 3.5), and a
  ``coordinates`` attribute that names only variables in the file (CF 5).

Values, names and shapes are never changed: a reader gets back what the writer held.
Variables' own attributes (``units``, ``long_name``, flags) are set by the code that makes
them; probabilities and fractions carry ``units = "1"`` (:data:`PROBABILITY`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

CONVENTIONS = "CF-1.8"
PROBABILITY = {"units": "1"}  # a probability or a fraction: dimensionless (CF 3.1, UDUNITS "1")

# Coordinates by name. ``axis`` is dropped where the coordinate is not the variable of its
# own dimension unless marked ``aux_axis`` (CF 5: at most one coordinate per axis and variable).
COORDINATE_ATTRIBUTES: dict[str, dict[str, str]] = {
    "lat": {"standard_name": "latitude", "long_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "lon": {"standard_name": "longitude", "long_name": "longitude", "units": "degrees_east", "axis": "X"},
    "level": {"standard_name": "air_pressure", "long_name": "pressure level", "units": "hPa",
              "positive": "down", "axis": "Z"},
    "time": {"standard_name": "time", "long_name": "time", "axis": "T"},
    "valid_time": {"standard_name": "time", "long_name": "valid time (init_time + lead_time)", "axis": "T"},
    "member": {"standard_name": "realization", "long_name": "ensemble member", "units": "1"},
    "lead_time": {"standard_name": "forecast_period", "long_name": "time since init_time"},
    "init_time": {"standard_name": "forecast_reference_time",
                  "long_name": "time of the latest analysis the forecast starts from"},
    "start_time": {"long_name": "analysis time the member started from (earlier for lagged starts)"},
    "period_start": {"standard_name": "time", "long_name": "first valid date of the period", "axis": "T"},
    "period_end": {"long_name": "last valid date of the period (included)"},
    "week": {"long_name": "week of the outlook (week k ends k x 7 days after the issue date)", "units": "1"},
    "week_end": {"standard_name": "time", "long_name": "last day of the week", "axis": "T"},
    "lead_week": {"long_name": "lead week", "units": "1"},
    "lead_day": {"long_name": "lead day (lead day k is the init date + k days)", "units": "1"},
    "first_lead_day": {"long_name": "first lead day of the period (lead day k is init date + k days)",
                       "units": "1"},
    "last_lead_day": {"long_name": "last lead day of the period (included)", "units": "1"},
    "period": {"long_name": "lead period"},
    "category": {"long_name": "tercile category"},
    "location": {"long_name": "location name", "cf_role": "timeseries_id"},
    "station": {"long_name": "station identifier", "cf_role": "timeseries_id"},
    "country": {"long_name": "country"},
    "region": {"long_name": "region"},
    "elevation": {"standard_name": "height_above_mean_sea_level", "long_name": "elevation", "units": "m"},
    "n_cells": {"long_name": "grid cells averaged (1 for a point)", "units": "1"},
    "quantile": {"long_name": "probability of not exceeding", "units": "1"},
    "daily_quantile": {"long_name": "probability of not exceeding", "units": "1"},
    "channel": {"long_name": "model channel (variable, or variable_level)"},
    "start_doy": {"long_name": "day of year of the forecast start (365-day calendar, 29 Feb = 28 Feb)",
                  "units": "1"},
    "start_month_day": {"long_name": "month and day of start_doy"},
    "n_starts": {"long_name": "number of hindcast starts pooled (all years)", "units": "1"},
    "year": {"long_name": "year", "units": "1"},
}
# Coordinates that keep their axis when they are not a dimension of their own (lat/lon of
# points, the time of a period or a week).
AUX_AXIS = frozenset({"lat", "lon", "valid_time", "period_start", "week_end"})
TIME_UNITS = {"days": 86400 * 10**9, "hours": 3600 * 10**9, "minutes": 60 * 10**9, "seconds": 10**9}  # in ns
INT32 = np.iinfo(np.int32)


def global_attributes(attrs: Mapping[str, Any], title: str, history: str | None = None) -> dict[str, Any]:
    """``attrs`` with ``Conventions = "CF-1.8"``, a ``title`` where absent, and a ``history``
    line ``<UTC time> <history>`` appended (CF 2.6.2; without ``history``, one line of the
    title where the dataset has no history)."""
    out = dict(attrs)
    out["Conventions"] = CONVENTIONS
    if not out.get("title"):
        out["title"] = title
    past = str(out.get("history") or "")
    if history or not past:
        line = f"{_dt.datetime.now(_dt.UTC):%Y-%m-%dT%H:%M:%SZ} {history or title}"
        out["history"] = f"{past}\n{line}" if past else line
    return out


def coordinate_attributes(name: Hashable, is_dimension: bool) -> dict[str, str]:
    """The CF attributes of the coordinate ``name`` (empty for one sowcast does not know)."""
    attrs = dict(COORDINATE_ATTRIBUTES.get(str(name), {}))
    if not is_dimension and str(name) not in AUX_AXIS:
        attrs.pop("axis", None)
    return attrs


def cf_dataset(ds: xr.Dataset, title: str, history: str | None = None) -> tuple[xr.Dataset, dict[str, dict]]:
    """A shallow copy of ``ds`` ready for CF-1.8 (module doc) and its encoding."""
    ds = ds.copy()
    ds.attrs = global_attributes(ds.attrs, title, history)
    for name in ds.coords:
        known = coordinate_attributes(name, name in ds.dims)
        var = ds[name].variable
        missing = {k: v for k, v in known.items() if k not in var.attrs and k not in var.encoding}
        if np.issubdtype(var.dtype, np.datetime64) or np.issubdtype(var.dtype, np.timedelta64):
            missing.pop("units", None)  # xarray writes a time's units from its encoding
        var.attrs.update(missing)
    return ds, cf_encoding(ds)


def described(da: xr.DataArray, **attrs: Any) -> xr.DataArray:
    """``da`` with exactly ``attrs``: none inherited from the arrays it was computed from
    (a fraction must not carry its inputs' ``flag_meanings`` or ``units``)."""
    return da.drop_attrs(deep=False).assign_attrs(attrs)


def _fits_int32(values: np.ndarray) -> bool:
    return values.size == 0 or (INT32.min < values.min() and values.max() <= INT32.max)


def _time_encoding(var: xr.Variable) -> dict[str, Any]:
    """``int`` "<unit> since <date>" where every value is whole in the coarsest unit and fits,
    else ``double`` (exact to 2**53 of the unit); NaT needs ``double`` (NaN) too."""
    import pandas as pd

    values = np.asarray(var.values)
    finite = values[~np.isnat(values)] if values.size else values
    is_time = np.issubdtype(values.dtype, np.datetime64)
    given = var.encoding.get("units")
    if given:
        unit = str(given).split()[0]
    else:
        ns = (finite.astype("datetime64[ns]").astype(np.int64) if is_time
              else finite.astype("timedelta64[ns]").astype(np.int64))
        unit = next((u for u, size in TIME_UNITS.items() if not (ns % size).any()), "seconds")
    if is_time and not given:
        ref = pd.Timestamp(finite.min()) if finite.size else pd.Timestamp("1970-01-01")
        units = f"{unit} since {ref:%Y-%m-%d %H:%M:%S}"
    else:
        units = str(given) if given else unit
    enc: dict[str, Any] = {"units": units}
    if is_time:
        enc["calendar"] = var.encoding.get("calendar", "proleptic_gregorian")
    step = TIME_UNITS.get(unit)
    if finite.size < values.size:
        return {**enc, "dtype": "float64"}
    if is_time:
        base = pd.Timestamp(units.split(" since ")[1]).value
        counts = finite.astype("datetime64[ns]").astype(np.int64) - base
    else:
        counts = finite.astype("timedelta64[ns]").astype(np.int64)
    whole = step is not None and not (counts % step).any()
    return {**enc, "dtype": "int32" if whole and _fits_int32(counts // step) else "float64"}


def cf_encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Encodings (and fixes to flag and ``coordinates`` attributes, in place) for CF-1.8:
    see the module doc."""
    encoding: dict[str, dict[str, Any]] = {}
    names = set(ds.variables)
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {}
        kind = var.dtype.kind
        if kind in "mM":
            enc.update(_time_encoding(var))
        elif kind == "i" and var.dtype.itemsize == 8 and _fits_int32(np.asarray(var.values)):
            enc["dtype"] = "int32"
        elif kind == "u" and name not in ds.coords:  # CF 1.8 has no unsigned types: the signed one of the size
            signed = np.dtype(f"int{min(8 * var.dtype.itemsize, 32)}")
            if np.asarray(var.values).max(initial=0) <= np.iinfo(signed).max:
                enc["dtype"] = signed.name
        if name in ds.coords and not (kind in "fc" and np.isnan(np.asarray(var.values)).any()) \
                and enc.get("dtype") != "float64":
            enc["_FillValue"] = None  # CF 2.5.1: coordinates have no missing values
        if "flag_values" in var.attrs:
            target = np.dtype(enc.get("dtype", var.dtype))
            var.attrs["flag_values"] = np.asarray(var.attrs["flag_values"]).astype(target)
        for holder in (var.attrs, var.encoding):
            if "coordinates" in holder:
                kept = [c for c in str(holder["coordinates"]).split() if c in names]
                if kept:
                    holder["coordinates"] = " ".join(kept)
                else:
                    del holder["coordinates"]
        if enc:
            encoding[str(name)] = enc
    return encoding


def merge_encoding(cf: Mapping[str, Mapping[str, Any]], own: Mapping[str, Mapping[str, Any]] | None
                   ) -> dict[str, dict[str, Any]]:
    """The writer's own encoding (chunks, compression, its choices) over the CF one."""
    out = {k: dict(v) for k, v in cf.items()}
    for k, v in (own or {}).items():
        out.setdefault(k, {}).update(v)
    return out
