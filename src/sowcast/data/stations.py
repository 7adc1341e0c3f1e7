"""Daily station records (CSV) into the canonical point form (see :mod:`sowcast.data.schema`).

A station CSV has one row per (station, day): a station column (``station_name``,
``station``, ``station_id``...), a ``date`` column and one column per element, e.g. the
Meteo-France records of Niger in the ``rpicsa``/``cdms.products`` R packages::

    station_name,date,year,month,doy,day,tmax,tmin,rain,hmax,hmin,sunh,ws,wd

Values are taken in the units of WMO daily climate reports; the columns map as follows
(the table is local to this module, the canonical names and units come from the schema):

=====================  ==========================  ====================================
column                 canonical variable          conversion
=====================  ==========================  ====================================
rain (precip, prcp)    ``total_precipitation``     mm per day, as is
tmax / tmin            ``maximum/minimum_2m_temp`` degC + 273.15 -> K
tmean (tavg, tas)      ``2m_temperature``          degC + 273.15 -> K
hmax and hmin          ``relative_humidity_2m``    (hmax + hmin) / 2, %: RHmean as
                                                   FAO-56 defines it (Allen et al. 1998,
                                                   ch. 3, with eq. 19)
rh (rhum, hurs)        ``relative_humidity_2m``    %, as is (wins over hmax/hmin)
sunh (sunshine)        ``sunshine_duration``       h, as is
ws (wind_speed)        ``10m_wind_speed``          m s-1, as is (anemometer at ~10 m)
=====================  ==========================  ====================================

A value outside the plausible range of its variable (:mod:`sowcast.data.plausible`, the
table gridded ingest uses too) or an infinite one is refused with its line.

Dropped: ``wd`` (daily mean wind direction: the schema has no direction variable, and a
daily mean speed and a mean direction do not give the mean wind vector, so u/v cannot be
recovered), ``year``/``month``/``doy``/``day`` (redundant with ``date``), and any other
column not in the table.

Rain is the amount of the observational day labelled by ``date`` and is stored as the
period-beginning accumulation over ``[date, date + 1 day)`` (the schema's convention);
a gauge's reading hour (often 06 UTC) is not corrected for.

The CSV has no coordinates: ``stations`` is a CSV ``station_name,lat,lon[,elevation]``
(``#`` lines are comments), e.g. ``data/stations/niger_stations.csv``; a data CSV with its
own ``lat``/``lon`` columns needs none. Output: dims ``(time, station)``, a complete daily
time axis (missing days and days outside a station's record are NaN), float32, CF
discrete sampling geometry ``featureType = "timeSeries"``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.plausible import bounds
from sowcast.data.schema import (
    CANONICAL_VARIABLES, COORD_ATTRS, PRECIPITATION_ACCUMULATION, cf_attrs, infer_time_step,
)
from sowcast.errors import SowcastError

STATION_COLUMNS = ("station_name", "station", "station_id", "stationname", "stn", "site")
DATE_COLUMNS = ("date", "time", "datetime")
LAT_COLUMNS = ("lat", "latitude")
LON_COLUMNS = ("lon", "longitude", "long")
ELEVATION_COLUMNS = ("elevation", "elev", "altitude", "alt", "height")
KELVIN = 273.15

# source column (lower case) -> (canonical name, offset added to reach canonical units)
SOURCE_COLUMNS: dict[str, tuple[str, float]] = {
    **{c: ("total_precipitation", 0.0) for c in ("rain", "precip", "prcp", "precipitation", "rainfall", "rr")},
    **{c: ("maximum_2m_temperature", KELVIN) for c in ("tmax", "tx", "tasmax")},
    **{c: ("minimum_2m_temperature", KELVIN) for c in ("tmin", "tn", "tasmin")},
    **{c: ("2m_temperature", KELVIN) for c in ("tmean", "tavg", "tas", "tm")},
    **{c: ("relative_humidity_2m", 0.0) for c in ("rh", "rhum", "hurs")},
    **{c: ("sunshine_duration", 0.0) for c in ("sunh", "sunshine", "sund")},
    **{c: ("10m_wind_speed", 0.0) for c in ("ws", "wind_speed", "wspd")},
}
RH_PAIR = ("hmax", "hmin")  # daily max and min relative humidity -> their mean


def _header(path: str | os.PathLike) -> list[str]:
    """The first line of a CSV as lower-case column names ([] if it is not text)."""
    with open(path, "rb") as f:
        line = f.readline(65536)
    if b"\0" in line:
        return []
    text = line.decode("utf-8-sig")
    return [c.strip().lower() for c in next(csv.reader([text]), [])]


def _find(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def is_station_csv(path: str | os.PathLike) -> bool:
    """True for a file whose first line names a station column and a date column."""
    try:
        cols = _header(path)
    except (OSError, UnicodeDecodeError):
        return False
    return _find(cols, STATION_COLUMNS) is not None and _find(cols, DATE_COLUMNS) is not None


def _read_csv(path: Path, what: str, comments: bool = False) -> pd.DataFrame:
    """All columns as stripped strings (empty fields NaN), lower-case column names."""
    try:
        df = pd.read_csv(path, comment="#" if comments else None, skipinitialspace=True, dtype=str)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SowcastError(f"cannot read {what} {path}: {exc}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    for c in df.columns:
        df[c] = df[c].str.strip()
    return df


def _numeric(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw != "")
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise SowcastError(f"{path}: column {col!r} has a non-numeric value {raw.iloc[i]!r} on line {i + 2}")
    inf = np.isinf(values.to_numpy(np.float64))
    if inf.any():
        i = int(np.argmax(inf))
        raise SowcastError(f"{path}: column {col!r} has an infinite value {raw.iloc[i]!r} on line {i + 2}; "
                           "leave missing values empty")
    return values.astype(np.float64)


def read_station_coordinates(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV ``station_name,lat,lon[,elevation]`` as a frame indexed by station name."""
    path = Path(path)
    if not path.is_file():
        raise SowcastError(f"no station coordinate file at {path}")
    df = _read_csv(path, "station coordinate file", comments=True)
    st, lat, lon = (_find(list(df.columns), c) for c in (STATION_COLUMNS, LAT_COLUMNS, LON_COLUMNS))
    if st is None or lat is None or lon is None:
        raise SowcastError(f"{path}: a station coordinate file needs columns station_name, lat, lon "
                           f"(found {', '.join(df.columns)})")
    out = pd.DataFrame({"lat": _numeric(df, lat, path), "lon": _numeric(df, lon, path)})
    elev = _find(list(df.columns), ELEVATION_COLUMNS)
    if elev is not None:
        out["elevation"] = _numeric(df, elev, path)
    out.index = df[st].str.strip()
    if out.index.has_duplicates:
        raise SowcastError(f"{path}: station {out.index[out.index.duplicated()][0]!r} is listed twice")
    if out[["lat", "lon"]].isna().any().any():
        raise SowcastError(f"{path}: station {out.index[out[['lat', 'lon']].isna().any(axis=1)][0]!r} lacks lat or lon")
    if ((out["lat"] < -90) | (out["lat"] > 90)).any():
        raise SowcastError(f"{path}: a latitude is outside [-90, 90]")
    out["lon"] = (out["lon"] + 180.0) % 360.0 - 180.0
    return out


def _header_or_error(path: Path, what: str) -> list[str]:
    try:
        return _header(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise SowcastError(f"cannot read {what} {path}: {exc}") from None


def _parse_dates(raw: pd.Series, path: Path) -> pd.DatetimeIndex:
    dates = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    bad = dates.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise SowcastError(f"{path}: unparsable date {raw.iloc[i]!r} on line {i + 2} (expected YYYY-MM-DD)")
    dates = pd.DatetimeIndex(dates)
    if dates.tz is not None:
        dates = dates.tz_convert("UTC").tz_localize(None)
    if (dates != dates.normalize()).any():
        i = int(np.argmax(dates != dates.normalize()))
        raise SowcastError(f"{path}: date {raw.iloc[i]!r} on line {i + 2} has a time of day; "
                           "station CSVs must hold daily records")
    return dates.as_unit("ns")


def _columns_to_variables(columns: list[str]) -> dict[str, list[str]]:
    """Canonical name -> the source column(s) it is made of."""
    out: dict[str, list[str]] = {}
    for c in columns:
        if c in SOURCE_COLUMNS and SOURCE_COLUMNS[c][0] not in out:
            out[SOURCE_COLUMNS[c][0]] = [c]
    if "relative_humidity_2m" not in out and all(c in columns for c in RH_PAIR):
        out["relative_humidity_2m"] = list(RH_PAIR)
    return out


def _select_variables(available: dict[str, list[str]], variables: list[str] | None,
                      path: Path) -> dict[str, list[str]]:
    if variables is None:
        if not available:
            raise SowcastError(f"{path}: no known variable columns (expected some of "
                               f"{', '.join(sorted(SOURCE_COLUMNS))}, hmax+hmin)")
        return available
    chosen: dict[str, list[str]] = {}
    for v in variables:
        name = SOURCE_COLUMNS[v.lower()][0] if v.lower() in SOURCE_COLUMNS else v
        if name not in available:
            raise SowcastError(f"variable {v!r} is not in {path} (available: {', '.join(available) or 'none'})")
        chosen[name] = available[name]
    return chosen


def read_station_csv(path: str | os.PathLike, stations: str | os.PathLike | None = None,
                     variables: list[str] | None = None,
                     time_range: tuple[str, str] | None = None) -> xr.Dataset:
    """Read a daily station CSV into a canonical point dataset (dims ``time, station``).

    ``stations``: CSV of station coordinates (``station_name,lat,lon[,elevation]``);
    ``variables``: canonical names (or source column names) to keep, default all that map;
    ``time_range``: ``(start, end)``, inclusive, partial dates allowed (``("1961", "1990")``).
    """
    path = Path(path)
    if not path.is_file():
        raise SowcastError(f"no station CSV at {path}")
    df, key = _station_records(path)
    chosen = _select_variables(_columns_to_variables(list(df.columns)), variables, path)
    values = {name: _canonical_values(df, key, name, src, path) for name, src in chosen.items()}
    names = sorted(key["station"].unique())
    coords = _coordinates_of(df, key, names, stations, path)
    axis = _daily_axis(key, time_range, path)
    data_vars = {}
    for name, v in values.items():
        table = pd.DataFrame({"station": key["station"], "date": key["date"], "v": v.to_numpy()})
        grid = table.pivot(index="date", columns="station", values="v").reindex(index=axis, columns=names)
        attrs = cf_attrs(name)
        if chosen[name] == list(RH_PAIR):
            attrs["comment"] = "(hmax + hmin) / 2, the FAO-56 daily mean relative humidity"
        data_vars[name] = (("time", "station"), grid.to_numpy(dtype=np.float32), attrs)
    return xr.Dataset(data_vars, coords=_point_coordinates(axis, names, coords), attrs={
        "featureType": "timeSeries",
        "Conventions": "CF-1.8",
        "time_step": "P1D",
        "precipitation_accumulation": PRECIPITATION_ACCUMULATION,
        "source": path.name,
        "history": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ} sowcast read_station_csv {path.name}",
    })


def _station_records(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The CSV as strings and its record key ``(station, date)``: every record names a station
    and a whole day, and no (station, day) comes twice."""
    cols = _header_or_error(path, "station CSV")
    st_col, date_col = _find(cols, STATION_COLUMNS), _find(cols, DATE_COLUMNS)
    if st_col is None or date_col is None:
        missing = "station" if st_col is None else "date"
        raise SowcastError(f"{path}: no {missing} column in the header (a station CSV needs one of "
                           f"{', '.join(STATION_COLUMNS if st_col is None else DATE_COLUMNS)})")
    df = _read_csv(path, "station CSV")
    if df.empty:
        raise SowcastError(f"{path}: no records")
    if df[st_col].isna().any() or (df[st_col] == "").any():
        i = int(np.argmax((df[st_col].isna() | (df[st_col] == "")).to_numpy()))
        raise SowcastError(f"{path}: empty station name on line {i + 2}")
    dates = _parse_dates(df[date_col], path)
    key = pd.DataFrame({"station": df[st_col].to_numpy(), "date": dates})
    dup = key.duplicated()
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        raise SowcastError(f"{path}: duplicated record for station {key['station'].iloc[i]!r} on "
                           f"{key['date'].iloc[i]:%Y-%m-%d} (line {i + 2})")
    return df, key


def _canonical_values(df: pd.DataFrame, key: pd.DataFrame, name: str, src: list[str], path: Path) -> pd.Series:
    """One canonical variable in its canonical units (the mean of its source columns plus the
    table's offset); temperatures that look like kelvin, negative rain and values outside the
    plausible range (:mod:`sowcast.data.plausible`) are refused with their line."""
    parts = [_numeric(df, c, path) for c in src]
    offset = SOURCE_COLUMNS[src[0]][1] if src[0] in SOURCE_COLUMNS else 0.0
    if offset == KELVIN:
        med = np.nanmedian(parts[0].to_numpy()) if parts[0].notna().any() else 0.0
        if med > 100:
            raise SowcastError(f"{path}: column {src[0]!r} (median {med:g}) looks like kelvin; "
                               "station CSV temperatures must be in degC")
    v = sum(parts) / len(parts) + offset
    if name == "total_precipitation" and (v < 0).any():
        i = int(np.argmax((v < 0).to_numpy()))
        raise SowcastError(f"{path}: negative rain {v.iloc[i]:g} at {key['station'].iloc[i]!r} on "
                           f"{key['date'].iloc[i]:%Y-%m-%d} (line {i + 2}); leave missing values empty")
    low, high = bounds(name, pd.Timedelta(days=1)) or (-np.inf, np.inf)
    out = (v < low) | (v > high)
    if out.any():
        i = int(np.argmax(out.to_numpy()))
        units = CANONICAL_VARIABLES[name].units
        raise SowcastError(f"{path}: {name} {v.iloc[i]:g} {units} (from {', '.join(src)}) at "
                           f"{key['station'].iloc[i]!r} on {key['date'].iloc[i]:%Y-%m-%d} (line {i + 2}) is "
                           f"outside the plausible {low:g} .. {high:g} {units}")
    return v


def _coordinates_of(df: pd.DataFrame, key: pd.DataFrame, names: list[str], stations: str | os.PathLike | None,
                    path: Path) -> pd.DataFrame:
    """lat, lon (and elevation) of each named station, in ``names``' order: from the data's own
    lat/lon columns when no ``stations`` file is given, else from that file (names matched
    without regard to case); longitudes in [-180, 180)."""
    lat_col, lon_col = _find(list(df.columns), LAT_COLUMNS), _find(list(df.columns), LON_COLUMNS)
    if lat_col is not None and lon_col is not None and stations is None:
        per = pd.DataFrame({"station": key["station"], "lat": _numeric(df, lat_col, path),
                            "lon": _numeric(df, lon_col, path)}).groupby("station")
        if (per.nunique() > 1).any().any():
            raise SowcastError(f"{path}: a station has more than one lat/lon in its records")
        coords = per.first()
        coords["lon"] = (coords["lon"] + 180.0) % 360.0 - 180.0
    else:
        if stations is None:
            raise SowcastError(f"{path} has no station coordinates; give a stations CSV "
                               "(station_name,lat,lon), e.g. data/stations/niger_stations.csv")
        coords = read_station_coordinates(stations)
    lookup = {str(k).casefold(): k for k in coords.index}
    missing = [n for n in names if n.casefold() not in lookup]
    if missing:
        raise SowcastError(f"no coordinates for station(s) {', '.join(repr(m) for m in missing)} "
                           f"in {stations or path}")
    coords = coords.loc[[lookup[n.casefold()] for n in names]]
    coords.index = names
    return coords


def _daily_axis(key: pd.DataFrame, time_range: tuple[str, str] | None, path: Path) -> pd.DatetimeIndex:
    """Every day from the first record to the last, cut to ``time_range`` (inclusive)."""
    axis = pd.date_range(key["date"].min(), key["date"].max(), freq="D").as_unit("ns")
    if time_range is None:
        return axis
    try:
        start, end = (None if v is None else str(v) for v in time_range)
        axis = pd.Series(0, index=axis).loc[start:end].index
    except (KeyError, ValueError, TypeError, IndexError):
        raise SowcastError(f"time_range must be [start, end] dates, not {time_range!r}") from None
    if len(axis) == 0:
        raise SowcastError(f"time_range {time_range[0]}..{time_range[1]} holds no record of {path} "
                           f"({key['date'].min():%Y-%m-%d} to {key['date'].max():%Y-%m-%d})")
    return axis


def _point_coordinates(axis: pd.DatetimeIndex, names: list[str], coords: pd.DataFrame) -> dict:
    """The CF timeSeries coordinates: time, station (the timeseries_id), lat, lon, elevation if known."""
    coord_vars = {
        "time": ("time", axis.values, dict(COORD_ATTRS["time"])),
        "station": ("station", np.array(names, dtype=object),
                    {"cf_role": "timeseries_id", "long_name": "station name"}),
        "lat": ("station", coords["lat"].to_numpy(np.float64),
                {k: COORD_ATTRS["lat"][k] for k in ("standard_name", "units")}),
        "lon": ("station", coords["lon"].to_numpy(np.float64),
                {k: COORD_ATTRS["lon"][k] for k in ("standard_name", "units")}),
    }
    if "elevation" in coords:
        coord_vars["elevation"] = ("station", coords["elevation"].to_numpy(np.float64),
                                   {"standard_name": "surface_altitude", "units": "m"})
    return coord_vars


def validate_points(ds: xr.Dataset, what: str = "station data") -> None:
    """Check the canonical point form (see module doc and schema); raise SowcastError if not."""
    if ds.attrs.get("featureType") != "timeSeries":
        raise SowcastError(f"{what}: attribute featureType must be 'timeSeries', not {ds.attrs.get('featureType')!r}")
    for c in ("time", "station", "lat", "lon"):
        if c not in ds.coords:
            raise SowcastError(f"{what} has no {c!r} coordinate")
    for c in ("lat", "lon"):
        if ds[c].dims != ("station",):
            raise SowcastError(f"{what}: {c!r} must be a coordinate on 'station', not on {ds[c].dims}")
    lat, lon = ds["lat"].values, ds["lon"].values
    if not np.isfinite(lat).all() or not np.isfinite(lon).all():
        raise SowcastError(f"{what}: a station has no lat/lon")
    if (np.abs(lat) > 90).any() or (lon < -180).any() or (lon >= 180).any():
        raise SowcastError(f"{what}: station latitudes must lie in [-90, 90] and longitudes in [-180, 180)")
    st = pd.Index(ds["station"].values)
    if st.has_duplicates:
        raise SowcastError(f"{what}: station {st[st.duplicated()][0]!r} appears twice")
    if ds.sizes["time"] >= 2:
        infer_time_step(ds["time"].values, what)
    for name, da in ds.data_vars.items():
        if da.dims != ("time", "station"):
            raise SowcastError(f"{what}: variable {name!r} has dims {da.dims}, expected ('time', 'station')")
        if name not in CANONICAL_VARIABLES:
            raise SowcastError(f"{what}: {name!r} is not a canonical variable name")
        if da.attrs.get("units") != CANONICAL_VARIABLES[name].units:
            raise SowcastError(f"{what}: {name!r} has units {da.attrs.get('units')!r}, canonical is "
                               f"{CANONICAL_VARIABLES[name].units!r}")
        if da.dtype.kind != "f":
            raise SowcastError(f"{what}: {name!r} must be floating point, not {da.dtype}")
