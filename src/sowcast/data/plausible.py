"""Plausible values of the canonical variables, and the checks that refuse the rest.

A field in canonical units whose observed range leaves these bounds is almost always a units
mistake (degrees Celsius labelled ``K``, hPa labelled ``Pa``, g/kg labelled kg/kg) or a fill
value that is not marked missing. The bounds are wide: they hold every real field on Earth
(2 m temperature from -93 to +57 degC, the 1825 mm rain day of La Reunion), not a climate.
Gridded ingest (:mod:`sowcast.data.ingest`) and station CSVs (:mod:`sowcast.data.stations`)
use the same table. NaN means missing and is allowed; +-inf is never a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.schema import canonical
from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    per_day: bool = False  # an amount per step: the bounds scale with steps longer than a day


_AIR_K = Bounds(150.0, 350.0)
PLAUSIBLE: dict[str, Bounds] = {
    "total_precipitation": Bounds(-1.0, 2000.0, per_day=True),           # mm per day
    "2m_temperature": _AIR_K, "maximum_2m_temperature": _AIR_K, "minimum_2m_temperature": _AIR_K,
    "2m_dewpoint_temperature": _AIR_K, "temperature": _AIR_K,
    "sea_surface_temperature": Bounds(260.0, 320.0),
    "ocean_index": Bounds(-20.0, 20.0),                                     # K, an anomaly
    "2m_specific_humidity": Bounds(-0.001, 0.1), "specific_humidity": Bounds(-0.001, 0.1),
    "relative_humidity_2m": Bounds(-1.0, 200.0), "relative_humidity": Bounds(-1.0, 200.0),
    "10m_u_component_of_wind": Bounds(-150.0, 150.0), "10m_v_component_of_wind": Bounds(-150.0, 150.0),
    "u_component_of_wind": Bounds(-150.0, 150.0), "v_component_of_wind": Bounds(-150.0, 150.0),
    "10m_wind_speed": Bounds(0.0, 150.0),
    "mean_sea_level_pressure": Bounds(80000.0, 110000.0), "surface_pressure": Bounds(30000.0, 110000.0),
    "sunshine_duration": Bounds(0.0, 24.0, per_day=True),                  # h per day
    "geopotential": Bounds(-10000.0, 1.0e6), "geopotential_at_surface": Bounds(-10000.0, 100000.0),
    "orography": Bounds(-500.0, 9000.0),
    "land_sea_mask": Bounds(-0.01, 1.01),
}


def bounds(name: str, step: pd.Timedelta | None = None) -> tuple[float, float] | None:
    """``(low, high)`` of canonical variable ``name`` for a time ``step``; None if unbounded."""
    b = PLAUSIBLE.get(name)
    if b is None:
        return None
    days = max(1.0, pd.Timedelta(step) / pd.Timedelta(days=1)) if (b.per_day and step is not None) else 1.0
    return b.low * days, b.high * days


def value_summary(da: xr.DataArray) -> dict[str, xr.DataArray]:
    """Lazy reductions for :func:`check_values`: where +-inf is, and the finite range."""
    inf = np.isinf(da)
    other = [d for d in da.dims if d != "time"]
    finite = da.where(~inf)
    out = {"inf_point": inf.any("time") if "time" in da.dims else inf,
           "min": finite.min(skipna=True), "max": finite.max(skipna=True)}
    if "time" in da.dims:
        out["inf_time"] = inf.any(other)
    return out


def _first(flags: xr.DataArray) -> str:
    idx = np.unravel_index(int(np.argmax(np.asarray(flags.values).reshape(-1))), flags.shape)
    parts = []
    for d, i in zip(flags.dims, idx):
        v = flags[d].values[i] if d in flags.coords else i
        parts.append(f"{d}={pd.Timestamp(v):%Y-%m-%d %H:%M}" if d == "time" else f"{d}={v:g}")
    return ", ".join(parts)


def check_values(name: str, summary: dict[str, xr.DataArray], units: str | None, what: str,
                 step: pd.Timedelta | None = None) -> None:
    """Refuse +-inf and a range outside :data:`PLAUSIBLE`; ``units``: the source's units."""
    point = summary["inf_point"]
    if bool(np.asarray(point.values).any()):
        where = f"first point {_first(point)}"
        if "inf_time" in summary:
            where = f"first at {_first(summary['inf_time']).removeprefix('time=')}; {where}"
        raise SowcastError(f"{what}: variable {name!r} holds infinite values ({where}); "
                           f"only NaN may mark a missing value")
    limits = bounds(name, step)
    lo, hi = float(summary["min"].values), float(summary["max"].values)
    if limits is None or np.isnan(lo):
        return
    if lo < limits[0] or hi > limits[1]:
        target = canonical(name).units
        given = f" (source units {units!r})" if units is not None and units != target else f" (labelled {target!r})"
        raise SowcastError(
            f"{what}: variable {name!r} ranges {lo:.6g} .. {hi:.6g} {target}{given}, outside the plausible "
            f"{limits[0]:g} .. {limits[1]:g} {target}: are its units right? (ingest.units sets them)"
        )
