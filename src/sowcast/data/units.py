"""Conversion of source units to the canonical units of :mod:`sowcast.data.schema`.

A table, not a units library: each canonical unit lists the source spellings it accepts
and how to convert them. Spellings are compared after a light normalisation (case,
``**`` and ``^`` powers, ``/`` as a negative power: ``kg m**-2 s**-1`` = ``kg/m2/s``).

* temperature: K, degK; degC/Celsius (+273.15); degF.
* precipitation, canonical *mm per time step* (CF ``lwe_thickness_of_precipitation_amount``):
  amounts ``mm`` and ``kg m-2`` (1 kg of water per m2 is 1 mm) as they are; ERA5
  ``m`` of water equivalent x 1000 (ECMWF, "ERA5: data documentation", parameter 228);
  rates (``kg m-2 s-1`` = mm/s as in WFDE5 and CMIP ``pr``, ``mm/h``, ``mm/day`` as in
  CHIRPS) times the step length: for an hourly step 1 kg m-2 s-1 = 3600 mm per step.
* pressure: Pa; hPa, mb, mbar (x 100); kPa (x 1000).
* geopotential (m2 s-2): as is; geopotential height in ``gpm`` or ``m`` (and ``dam``)
  times standard gravity :data:`sowcast.data.schema.GRAVITY` (WMO, 9.80665 m s-2).
* humidity: kg/kg as is, g/kg / 1000; relative humidity %, or fraction x 100.
* wind m/s; knots, km/h. Fractions: 1, 0-1, %. Durations: h, s, min.

A unit missing from the table is an error that names the variable and the unit; a file
that lacks units can be given them in ``ingest.units`` (e.g. ``{rain: mm}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd
import xarray as xr

from sowcast.data.schema import GRAVITY, canonical
from sowcast.errors import SowcastError

# A conversion takes (values, time step) and returns values in canonical units.
Convert = Callable[[xr.DataArray, "pd.Timedelta | None"], xr.DataArray]


def _scale(factor: float) -> Convert:
    return lambda da, step: da * factor if factor != 1 else da


def _offset(offset: float, factor: float = 1.0) -> Convert:
    return lambda da, step: (da + offset) * factor


def _per(seconds: float) -> Convert:
    """A rate per ``seconds`` (mm/s, mm/h, mm/day) -> an amount per time step."""

    def convert(da: xr.DataArray, step: pd.Timedelta | None) -> xr.DataArray:
        if step is None:
            raise SowcastError("a precipitation rate needs a time step to become mm per step")
        return da * (pd.Timedelta(step).total_seconds() / seconds)

    return convert


_IDENTITY = _scale(1.0)
_FRACTION = ("1", "", "0-1", "(0 - 1)", "fraction", "dimensionless", "none", "proportion")

# canonical unit -> {normalised source spelling: conversion}
_TABLE: dict[str, dict[str, Convert]] = {
    "K": {**dict.fromkeys(["k", "kelvin", "degk", "deg_k", "degreek", "degrees_k", "degree_kelvin", "°k"], _IDENTITY),
          **dict.fromkeys(["degc", "deg_c", "degreec", "degrees_c", "degree_celsius", "degrees_celsius",
                           "celsius", "°c", "c"], _offset(273.15)),
          **dict.fromkeys(["degf", "deg_f", "fahrenheit", "°f", "f"], _offset(459.67, 5 / 9))},
    "mm": {**dict.fromkeys(["mm", "millimeter", "millimeters", "millimetre", "millimetres",
                            "kg m-2", "mm/step", "mm per step"], _IDENTITY),
           **dict.fromkeys(["m", "meter", "meters", "metre", "metres", "m of water equivalent"], _scale(1000.0)),
           "cm": _scale(10.0),
           **dict.fromkeys(["kg m-2 s-1", "mm s-1", "mm/s"], _per(1.0)),
           **dict.fromkeys(["mm h-1", "mm hr-1", "mm hour-1", "mm/h", "mm/hr", "mm/hour"], _per(3600.0)),
           **dict.fromkeys(["mm d-1", "mm day-1", "mm/d", "mm/day", "mm per day", "mm/24h",
                            "kg m-2 d-1", "kg m-2 day-1"], _per(86400.0))},
    "Pa": {"pa": _IDENTITY, **dict.fromkeys(["hpa", "mb", "mbar", "millibar", "millibars"], _scale(100.0)),
           "kpa": _scale(1000.0)},
    "m2 s-2": {**dict.fromkeys(["m2 s-2", "m2s-2"], _IDENTITY),
               **dict.fromkeys(["gpm", "m", "meter", "meters", "metre", "metres"], _scale(GRAVITY)),
               "dam": _scale(10 * GRAVITY)},
    "kg kg-1": {**dict.fromkeys(["kg kg-1", "kg/kg", "1", "", "dimensionless"], _IDENTITY),
                **dict.fromkeys(["g kg-1", "g/kg"], _scale(1e-3))},
    "%": {**dict.fromkeys(["%", "percent", "percentage"], _IDENTITY),
          **dict.fromkeys([f for f in _FRACTION if f], _scale(100.0))},
    "m s-1": {**dict.fromkeys(["m s-1", "m/s", "ms-1", "meters/second", "metres/second"], _IDENTITY),
              **dict.fromkeys(["knots", "knot", "kt", "kts", "kn"], _scale(0.514444)),
              **dict.fromkeys(["km h-1", "km/h", "kmh-1", "kph"], _scale(1 / 3.6))},
    "h": {**dict.fromkeys(["h", "hr", "hour", "hours"], _IDENTITY),
          **dict.fromkeys(["s", "sec", "second", "seconds"], _scale(1 / 3600)),
          **dict.fromkeys(["min", "minute", "minutes"], _scale(1 / 60))},
    "1": {**dict.fromkeys(_FRACTION, _IDENTITY), "%": _scale(0.01)},
    "m": {**dict.fromkeys(["m", "meter", "meters", "metre", "metres"], _IDENTITY), "km": _scale(1000.0),
          "gpm": _IDENTITY},
}


def normalise_units(units: str) -> str:
    """Lower case, single spaces, ``**``/``^`` powers dropped, ``a/b2`` written ``a b-2``."""
    u = " ".join(str(units).strip().lower().split()).replace("**", "").replace("^", "")
    if "/" in u:
        head, *tails = u.split("/")
        parts = [head.strip()]
        for t in tails:
            m = re.fullmatch(r"([a-z°]+)(\d*)", t.strip())
            if not m:
                return u
            parts.append(f"{m.group(1)}-{m.group(2) or 1}")
        u = " ".join(parts)
    return u


_NORMALISED = {target: {normalise_units(k): f for k, f in table.items()} for target, table in _TABLE.items()}


def convert_units(da: xr.DataArray, name: str, units: str | None, step: pd.Timedelta | None = None,
                  what: str = "") -> xr.DataArray:
    """``da`` (canonical variable ``name``, source ``units``) in canonical units, CF attrs kept."""
    target = canonical(name).units
    where = f" in {what}" if what else ""
    if units is None:
        if target == "1":
            units = "1"
        else:
            raise SowcastError(
                f"variable {name!r}{where} has no units attribute; give them in ingest.units, e.g. {{{name}: {target}}}"
            )
    table = _NORMALISED.get(target, {})
    convert = table.get(normalise_units(units))
    if convert is None:
        raise SowcastError(
            f"variable {name!r}{where} has units {units!r}, which sowcast cannot convert to {target!r}"
        )
    try:
        out = convert(da, step)
    except SowcastError as exc:
        raise SowcastError(f"variable {name!r}{where}: {exc}") from None
    out.attrs = dict(da.attrs)
    out.attrs["units"] = target
    return out
