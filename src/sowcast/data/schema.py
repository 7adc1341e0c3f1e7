"""The canonical data form that every ingest path ends in (see DESIGN.md, "Canonical data").

A canonical gridded store is a zarr v3 group holding one xarray Dataset with

* dims ``(time, [level,] lat, lon)``; an ensemble adds a leading ``member`` dim;
  static fields have ``(lat, lon)`` only;
* ``lat`` ascending in degrees north, ``lon`` in [-180, 180) ascending, degrees east;
  ``level`` in hPa; ``time`` strictly increasing with one constant step;
* float32 data with CF attributes ``standard_name``, ``units`` and ``long_name``;
* variable names as in the WeatherBench 2 ERA5 archive (``2m_temperature``,
  ``total_precipitation``...), so that WB2 data maps by identity;
* precipitation as ``total_precipitation`` in mm accumulated over the step that *begins*
  at the time label (``[t, t + step)``, the calendar-day convention of rain gauges and
  CHIRPS); ``cell_methods = "time: sum"`` says so;
* points where a field is missing for all times (sea points of a land-only product) are
  filled with the field's mean and flagged by a static ``<name>_valid`` boolean variable
  named in the field's ``ancillary_variables`` attribute: a mask, not NaN values;
* a ``statistics`` group beside the data (see :mod:`sowcast.data.statistics`).

Point (station) stores use dims ``(time, station)`` with ``lat``/``lon`` coordinates on
``station``, and keep NaN for missing observations: they are verification data, never
model input.

Root attributes: ``sowcast_format`` (:data:`FORMAT_VERSION`), ``time_step`` (ISO 8601
duration, e.g. ``P1D`` or ``PT6H``), ``precipitation_accumulation``, ``history`` and
``source``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError

FORMAT_VERSION = "sowcast-canonical-1"
PRECIPITATION_ACCUMULATION = "period_beginning"  # value at t covers [t, t + step)


@dataclass(frozen=True)
class CanonicalVariable:
    """One canonical variable: its CF identity, unit and role in the model."""

    name: str
    standard_name: str
    units: str
    long_name: str
    kind: str  # "state" (instantaneous or mean), "accumulation" (sum over the step), "static"
    has_level: bool = False
    # Other names the same quantity goes by: ERA5 short names, CF/CMIP names, CHIRPS...
    aliases: tuple[str, ...] = ()


CANONICAL_VARIABLES: dict[str, CanonicalVariable] = {
    v.name: v
    for v in [
        CanonicalVariable(
            "total_precipitation", "lwe_thickness_of_precipitation_amount", "mm",
            "Precipitation accumulated over the step", "accumulation",
            aliases=("tp", "pr", "precip", "precipitation", "prcp", "rain", "Rainf",
                     "rainfall", "total_precipitation_24hr", "total_precipitation_6hr",
                     "precipitation_flux", "precipitation_amount"),
        ),
        CanonicalVariable(
            "2m_temperature", "air_temperature", "K", "Temperature at 2 m", "state",
            aliases=("t2m", "2t", "tas", "t2", "Tair", "air_temperature_2m"),
        ),
        CanonicalVariable(
            "maximum_2m_temperature", "air_temperature", "K",
            "Daily maximum temperature at 2 m", "state",
            aliases=("tmax", "mx2t", "tasmax", "mx2t24"),
        ),
        CanonicalVariable(
            "minimum_2m_temperature", "air_temperature", "K",
            "Daily minimum temperature at 2 m", "state",
            aliases=("tmin", "mn2t", "tasmin", "mn2t24"),
        ),
        CanonicalVariable(
            "2m_specific_humidity", "specific_humidity", "kg kg-1",
            "Specific humidity at 2 m", "state", aliases=("huss", "q2m", "Qair"),
        ),
        CanonicalVariable(
            "2m_dewpoint_temperature", "dew_point_temperature", "K",
            "Dew point temperature at 2 m", "state", aliases=("d2m", "2d", "tdps"),
        ),
        CanonicalVariable(
            "relative_humidity_2m", "relative_humidity", "%", "Relative humidity at 2 m",
            "state", aliases=("hurs", "rh", "rh2m"),
        ),
        CanonicalVariable(
            "10m_u_component_of_wind", "eastward_wind", "m s-1", "Eastward wind at 10 m",
            "state", aliases=("u10", "10u", "uas"),
        ),
        CanonicalVariable(
            "10m_v_component_of_wind", "northward_wind", "m s-1", "Northward wind at 10 m",
            "state", aliases=("v10", "10v", "vas"),
        ),
        CanonicalVariable(
            "10m_wind_speed", "wind_speed", "m s-1", "Wind speed at 10 m", "state",
            aliases=("si10", "sfcWind", "ws", "Wind"),
        ),
        CanonicalVariable(
            "mean_sea_level_pressure", "air_pressure_at_mean_sea_level", "Pa",
            "Mean sea level pressure", "state", aliases=("msl", "psl", "slp", "mslp"),
        ),
        CanonicalVariable(
            "surface_pressure", "surface_air_pressure", "Pa", "Surface pressure", "state",
            aliases=("sp", "ps", "PSurf", "pres"),
        ),
        CanonicalVariable(
            "sea_surface_temperature", "sea_surface_temperature", "K",
            "Sea surface temperature", "state", aliases=("sst", "tos", "skt_sea"),
        ),
        CanonicalVariable(
            "ocean_index", "surface_temperature_anomaly", "K",  # a CF standard name (table v93)
            "Slowly varying ocean-like index field (synthetic SST anomaly)", "state",
            aliases=("ssta",),
        ),
        CanonicalVariable(
            "sunshine_duration", "duration_of_sunshine", "h", "Daily sunshine duration",
            "state", aliases=("sunh", "sund"),
        ),
        # Pressure-level fields.
        CanonicalVariable(
            "temperature", "air_temperature", "K", "Temperature", "state", True,
            aliases=("t", "ta", "air"),
        ),
        CanonicalVariable(
            "geopotential", "geopotential", "m2 s-2", "Geopotential", "state", True,
            aliases=("z", "zg_geopotential"),
        ),
        CanonicalVariable(
            "specific_humidity", "specific_humidity", "kg kg-1", "Specific humidity",
            "state", True, aliases=("q", "hus", "shum"),
        ),
        CanonicalVariable(
            "u_component_of_wind", "eastward_wind", "m s-1", "Eastward wind", "state", True,
            aliases=("u", "ua", "uwnd"),
        ),
        CanonicalVariable(
            "v_component_of_wind", "northward_wind", "m s-1", "Northward wind", "state", True,
            aliases=("v", "va", "vwnd"),
        ),
        CanonicalVariable(
            "relative_humidity", "relative_humidity", "%", "Relative humidity", "state", True,
            aliases=("r", "hur", "rhum"),
        ),
        # Static fields.
        CanonicalVariable(
            "land_sea_mask", "land_binary_mask", "1", "Land fraction (1 = land)", "static",
            aliases=("lsm", "sftlf", "land", "landmask"),
        ),
        CanonicalVariable(
            "geopotential_at_surface", "surface_geopotential", "m2 s-2",
            "Geopotential at the surface (orography times g)", "static",
            aliases=("orography_geopotential", "z_sfc", "zs"),
        ),
        CanonicalVariable(
            "orography", "surface_altitude", "m", "Height of the surface above sea level",
            "static", aliases=("orog", "elevation", "hgt", "height"),
        ),
    ]
}

GRAVITY = 9.80665  # m s-2, WMO standard gravity


def canonical(name: str) -> CanonicalVariable:
    """The canonical variable called ``name``; a clear error for an unknown one."""
    try:
        return CANONICAL_VARIABLES[name]
    except KeyError:
        known = ", ".join(sorted(CANONICAL_VARIABLES))
        raise SowcastError(f"unknown canonical variable {name!r}; known: {known}") from None


def cf_attrs(name: str) -> dict[str, str]:
    """CF attributes of a canonical variable, ready for ``DataArray.attrs``."""
    var = canonical(name)
    attrs = {"standard_name": var.standard_name, "units": var.units, "long_name": var.long_name}
    if var.kind == "accumulation":
        attrs["cell_methods"] = "time: sum"
    return attrs


COORD_ATTRS = {
    "lat": {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"},
    "lon": {"standard_name": "longitude", "units": "degrees_east", "axis": "X"},
    "level": {"standard_name": "air_pressure", "units": "hPa", "positive": "down", "axis": "Z"},
    "time": {"standard_name": "time", "axis": "T"},
    "member": {"standard_name": "realization", "long_name": "ensemble member", "units": "1"},
}


def time_step_iso(step: pd.Timedelta) -> str:
    """ISO 8601 duration of a time step: ``P1D``, ``PT6H``, ``PT1H``."""
    step = pd.Timedelta(step)
    if step % pd.Timedelta(days=1) == pd.Timedelta(0):
        return f"P{step // pd.Timedelta(days=1)}D"
    if step % pd.Timedelta(hours=1) == pd.Timedelta(0):
        return f"PT{step // pd.Timedelta(hours=1)}H"
    return f"PT{int(step.total_seconds())}S"


def parse_time_step(text: str) -> pd.Timedelta:
    """Inverse of :func:`time_step_iso`."""
    return pd.Timedelta(text)


def infer_time_step(times: np.ndarray, what: str = "data") -> pd.Timedelta:
    """The one constant step of a strictly increasing time axis, or a clear error.

    Raises on duplicated, non-monotonic or irregular times (a gap is irregular too).
    """
    t = pd.DatetimeIndex(times)
    if len(t) < 2:
        raise SowcastError(f"{what} has {len(t)} time step(s); at least 2 are needed")
    if t.has_duplicates:
        dup = t[t.duplicated()][0]
        raise SowcastError(f"{what} has duplicated times (first: {dup:%Y-%m-%d %H:%M})")
    diffs = np.diff(t.values)
    if (diffs <= np.timedelta64(0)).any():
        i = int(np.argmax(diffs <= np.timedelta64(0)))
        raise SowcastError(
            f"{what} has non-monotonic times ({t[i]:%Y-%m-%d %H:%M} is followed by "
            f"{t[i + 1]:%Y-%m-%d %H:%M})"
        )
    steps = np.unique(diffs)
    if len(steps) > 1:
        i = int(np.argmax(diffs != diffs[0]))
        raise SowcastError(
            f"{what} has an irregular time step ({pd.Timedelta(diffs[0])} then "
            f"{pd.Timedelta(diffs[i])} after {t[i]:%Y-%m-%d %H:%M})"
        )
    return pd.Timedelta(steps[0])


def channel_names(ds: xr.Dataset, variables: list[str] | None = None) -> list[str]:
    """Flat channel names, one per (variable, level): ``temperature_850``, ``2m_temperature``."""
    names = []
    for name in variables if variables is not None else list(ds.data_vars):
        da = ds[name]
        if "level" in da.dims:
            names += [f"{name}_{int(lev)}" for lev in da["level"].values]
        else:
            names.append(name)
    return names


def validate_canonical(ds: xr.Dataset, what: str = "store") -> None:
    """Check that ``ds`` is in canonical form; raise :class:`SowcastError` if not."""
    for dim in ("lat", "lon"):
        if dim not in ds.coords:
            raise SowcastError(f"{what} has no {dim!r} coordinate")
    lat, lon = ds["lat"].values, ds["lon"].values
    if lat.ndim != 1 or (np.diff(lat) <= 0).any():
        raise SowcastError(f"{what}: latitude must be 1-D and strictly ascending")
    if lon.ndim != 1 or (np.diff(lon) <= 0).any() or lon.min() < -180 or lon.max() >= 180:
        raise SowcastError(f"{what}: longitude must be strictly ascending in [-180, 180)")
    if "time" in ds.dims:
        infer_time_step(ds["time"].values, what)
    allowed = {"member", "time", "level", "lat", "lon"}
    for name, da in ds.data_vars.items():
        extra = set(da.dims) - allowed
        if extra:
            raise SowcastError(f"{what}: variable {name!r} has unexpected dims {sorted(extra)}")
        order = [d for d in ("member", "time", "level", "lat", "lon") if d in da.dims]
        if list(da.dims) != order:
            raise SowcastError(f"{what}: variable {name!r} dims {da.dims} are not in order {order}")
        if name.endswith("_valid"):
            continue
        if name not in CANONICAL_VARIABLES:
            raise SowcastError(f"{what}: {name!r} is not a canonical variable name")
        units = da.attrs.get("units")
        if units != CANONICAL_VARIABLES[name].units:
            raise SowcastError(
                f"{what}: {name!r} has units {units!r}, canonical is "
                f"{CANONICAL_VARIABLES[name].units!r}"
            )
