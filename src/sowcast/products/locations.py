"""Named places for the planting products: towns (points) and districts (polygons).

Two file forms (:func:`read_locations`):

* **CSV** ``name,lat,lon`` plus the optional columns ``id,country,region,elevation``
  (degrees north/east, metres); whole-line ``#`` comments and blank lines are skipped;
  names must be unique (case-insensitive). Example: ``data/locations/west_africa_demo.csv``.
* **GeoJSON** (RFC 7946): a FeatureCollection (or one Feature) of ``Point``, ``Polygon`` or
  ``MultiPolygon`` features, coordinates ``[lon, lat]``; the name is the ``name`` property
  or another one (``name_property``).

:func:`extract` turns gridded fields (dims ``lat``, ``lon``) or station data (dim
``station``) into a ``location`` dimension:

* a point takes the nearest grid cell (latitude and longitude separately, longitudes
  compared modulo 360); a point farther than one grid spacing from every cell centre is
  outside the grid and an error;
* a district takes the area-weighted mean of the cells whose centres lie inside it,
  weights ``cos(lat)`` (cell area on a regular lat-lon grid), NaN cells left out
  (``xarray`` weighted-mean convention). Point-in-polygon is
  :meth:`matplotlib.path.Path.contains_points` on the ``(lon, lat)`` plane; holes are
  subtracted. A district holding no cell centre (smaller than a cell) falls back to the
  cell nearest its centroid (the area-weighted centroid of its rings, shoelace formula);
* station data (a Dataset/DataArray with a ``station`` dim, see
  :mod:`sowcast.data.stations`) is selected by name, case-insensitively; a district's
  name must then be a station's name.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.path import Path as MplPath

from sowcast.errors import SowcastError

REQUIRED_COLUMNS = ("name", "lat", "lon")
OPTIONAL_COLUMNS = ("id", "country", "region", "elevation")
GEOMETRIES = ("Point", "Polygon", "MultiPolygon")

Polygon = list[np.ndarray]  # rings as (n, 2) arrays of (lon, lat): the exterior, then holes


@dataclass(frozen=True)
class Locations:
    """Named points and districts.

    ``lat``/``lon``: the point, or a district's centroid; ``polygons[i]`` is ``None`` for a
    point, else a list of polygons (each a list of rings: exterior then holes, ``(n, 2)``
    arrays of lon, lat). ``extra``: optional per-location columns (``id``, ``country``,
    ``region``, ``elevation``), each a tuple as long as ``names``.
    """

    names: tuple[str, ...]
    lat: np.ndarray
    lon: np.ndarray
    polygons: tuple[list[Polygon] | None, ...] = ()
    extra: dict[str, tuple] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        n = len(self.names)
        object.__setattr__(self, "lat", np.asarray(self.lat, dtype=np.float64).reshape(n))
        object.__setattr__(self, "lon", np.asarray(self.lon, dtype=np.float64).reshape(n))
        if not self.polygons:
            object.__setattr__(self, "polygons", (None,) * n)
        if len(self.polygons) != n or any(len(v) != n for v in self.extra.values()):
            raise ValueError("Locations: names, lat, lon, polygons and extra columns differ in length")
        _check_names(list(self.names), self.source or "locations")
        _check_range(self.lat, self.lon, list(self.names), self.source or "locations")
        object.__setattr__(self, "lon", _wrap(self.lon))

    @classmethod
    def from_points(cls, names, lat, lon, source: str = "") -> Locations:
        """Points from sequences of names, latitudes and longitudes."""
        return cls(tuple(str(n) for n in names), np.atleast_1d(lat), np.atleast_1d(lon), source=source)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def is_district(self) -> np.ndarray:
        return np.array([p is not None for p in self.polygons], dtype=bool)

    def coords(self) -> dict[str, tuple]:
        """Coordinates on a ``location`` dimension: name, lat, lon and the extra columns."""
        out = {"location": ("location", np.array(self.names, dtype=object)),
               "lat": ("location", self.lat, {"standard_name": "latitude", "units": "degrees_north"}),
               "lon": ("location", self.lon, {"standard_name": "longitude", "units": "degrees_east"})}
        for k, v in self.extra.items():
            arr = np.array(v, dtype=np.float64 if k == "elevation" else object)
            out[k] = ("location", arr)
        return out


def _wrap(lon: np.ndarray) -> np.ndarray:
    """Longitudes in [-180, 180); values already there are kept exactly (no round-off)."""
    lon = np.asarray(lon, dtype=np.float64)
    return np.where((lon >= -180.0) & (lon < 180.0), lon, (lon + 180.0) % 360.0 - 180.0)


def _check_names(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for n in names:
        if not n.strip():
            raise SowcastError(f"{what}: a location has an empty name")
        key = n.strip().casefold()
        if key in seen:
            raise SowcastError(f"{what}: location name {n!r} is listed twice")
        seen[key] = n


def _check_range(lat: np.ndarray, lon: np.ndarray, names: list[str], what: str) -> None:
    for i, (la, lo) in enumerate(zip(lat, lon)):
        if not (np.isfinite(la) and -90 <= la <= 90):
            raise SowcastError(f"{what}: latitude {la:g} of {names[i]!r} is outside [-90, 90]")
        if not (np.isfinite(lo) and -180 <= lo <= 360):
            raise SowcastError(f"{what}: longitude {lo:g} of {names[i]!r} is outside [-180, 360]")


# ---------------------------------------------------------------------------- readers

def read_locations(path: str | os.PathLike, name_property: str = "name") -> Locations:
    """Read a CSV (``.csv``/``.txt``) or GeoJSON (``.geojson``/``.json``) locations file."""
    path = Path(path)
    if not path.is_file():
        raise SowcastError(f"no locations file at {path}")
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return read_locations_geojson(path, name_property=name_property)
    if suffix in (".csv", ".txt"):
        return read_locations_csv(path)
    raise SowcastError(f"{path}: locations must be a .csv or .geojson file")


def _number(text: str, col: str, name: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SowcastError(f"{path}: line {line}: {col} {text!r} of {name!r} is not a number") from None
    if not math.isfinite(value):
        raise SowcastError(f"{path}: line {line}: {col} {text!r} of {name!r} is not a finite number")
    return value


def read_locations_csv(path: str | os.PathLike) -> Locations:
    """``name,lat,lon[,id,country,region,elevation]``; other columns are ignored."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            lines = [(i + 1, ln) for i, ln in enumerate(f.read().splitlines())
                     if ln.strip() and not ln.lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise SowcastError(f"cannot read locations file {path}: {exc}") from None
    if not lines:
        raise SowcastError(f"{path}: no header line (expected {','.join(REQUIRED_COLUMNS)})")
    rows = list(csv.reader([ln for _, ln in lines], skipinitialspace=True))
    header = [c.strip().lower() for c in rows[0]]
    for c in REQUIRED_COLUMNS:
        if c not in header:
            raise SowcastError(f"{path}: no {c!r} column (a locations CSV needs name,lat,lon; "
                               f"found {','.join(header)})")
    col = {c: header.index(c) for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in header}
    names, lat, lon = [], [], []
    extra: dict[str, list] = {c: [] for c in OPTIONAL_COLUMNS if c in col}
    for (line, _), row in zip(lines[1:], rows[1:]):
        if len(row) < len(header):
            raise SowcastError(f"{path}: line {line} has {len(row)} fields, the header {len(header)}")
        cell = {c: row[i].strip() for c, i in col.items()}
        name = cell["name"]
        if not name:
            raise SowcastError(f"{path}: line {line}: empty name")
        la = _number(cell["lat"], "lat", name, path, line)
        lo = _number(cell["lon"], "lon", name, path, line)
        if not -90 <= la <= 90:
            raise SowcastError(f"{path}: line {line}: latitude {la:g} of {name!r} is outside [-90, 90]")
        if not -180 <= lo <= 360:
            raise SowcastError(f"{path}: line {line}: longitude {lo:g} of {name!r} is outside [-180, 360]")
        if name.casefold() in (n.casefold() for n in names):
            raise SowcastError(f"{path}: line {line}: location name {name!r} is listed twice")
        names.append(name)
        lat.append(la)
        lon.append(lo)
        for c, column in extra.items():
            if c == "elevation":
                column.append(_number(cell[c], c, name, path, line) if cell[c] else float("nan"))
            else:
                column.append(cell[c])
    if not names:
        raise SowcastError(f"{path}: no locations (only a header)")
    return Locations(tuple(names), np.array(lat), np.array(lon),
                     extra={k: tuple(v) for k, v in extra.items()}, source=str(path))


def _ring(coords, where: str) -> np.ndarray:
    try:
        ring = np.asarray(coords, dtype=np.float64)
    except (TypeError, ValueError):
        raise SowcastError(f"{where}: polygon coordinates must be [lon, lat] pairs") from None
    if ring.ndim != 2 or ring.shape[0] < 3 or ring.shape[1] < 2 or not np.isfinite(ring).all():
        raise SowcastError(f"{where}: a polygon ring needs at least 3 [lon, lat] pairs")
    ring = ring[:, :2]
    if (np.abs(ring[:, 1]) > 90).any() or (ring[:, 0] < -180).any() or (ring[:, 0] > 360).any():
        raise SowcastError(f"{where}: polygon coordinates outside lon [-180, 360], lat [-90, 90] "
                           "(GeoJSON order is [lon, lat])")
    return ring


def _ring_area_centroid(ring: np.ndarray) -> tuple[float, float, float]:
    """Signed area and centroid of a closed ring (shoelace formula) in the lon-lat plane."""
    x, y = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2.0
    if abs(a) < 1e-15:
        return 0.0, float(x.mean()), float(y.mean())
    return a, float(((x + x1) * cross).sum() / (6 * a)), float(((y + y1) * cross).sum() / (6 * a))


def polygon_centroid(polygons: list[Polygon]) -> tuple[float, float]:
    """Area-weighted centroid ``(lon, lat)`` of polygons with holes (holes subtract)."""
    total, cx, cy = 0.0, 0.0, 0.0
    for rings in polygons:
        for k, ring in enumerate(rings):
            a, x, y = _ring_area_centroid(ring)
            a = abs(a) * (1 if k == 0 else -1)
            total, cx, cy = total + a, cx + a * x, cy + a * y
    if abs(total) < 1e-15:
        pts = np.concatenate([rings[0] for rings in polygons])
        return float(pts[:, 0].mean()), float(pts[:, 1].mean())
    return cx / total, cy / total


def read_locations_geojson(path: str | os.PathLike, name_property: str = "name") -> Locations:
    """Point / Polygon / MultiPolygon features, named by the ``name_property`` property."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SowcastError(f"cannot read GeoJSON {path}: {exc}") from None
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind == "Feature":
        features = [doc]
    elif kind == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = doc["features"]
    else:
        raise SowcastError(f"{path}: expected a GeoJSON FeatureCollection or Feature, not {kind!r}")
    if not features:
        raise SowcastError(f"{path}: the FeatureCollection has no features")
    names, lat, lon, polys = [], [], [], []
    ids: list = []
    for i, feat in enumerate(features):
        where = f"{path}: feature {i}"
        props = (feat.get("properties") or {}) if isinstance(feat, dict) else {}
        geom = feat.get("geometry") if isinstance(feat, dict) else None
        name = props.get(name_property)
        if name is None or not str(name).strip():
            raise SowcastError(f"{where} has no {name_property!r} property "
                               f"(properties: {', '.join(props) or 'none'})")
        name = str(name).strip()
        where = f"{path}: feature {name!r}"
        gtype = geom.get("type") if isinstance(geom, dict) else None
        if gtype not in GEOMETRIES:
            raise SowcastError(f"{where}: geometry {gtype!r} is not one of {', '.join(GEOMETRIES)}")
        coords = geom.get("coordinates")
        if gtype == "Point":
            try:
                lo, la = (float(v) for v in coords[:2])
            except (TypeError, ValueError, IndexError):
                raise SowcastError(f"{where}: a Point needs coordinates [lon, lat]") from None
            polys.append(None)
        else:
            parts = [coords] if gtype == "Polygon" else coords
            if not isinstance(parts, list) or not parts:
                raise SowcastError(f"{where}: empty {gtype}")
            poly = [[_ring(r, where) for r in rings] for rings in parts if rings]
            if not poly:
                raise SowcastError(f"{where}: empty {gtype}")
            lo, la = polygon_centroid(poly)
            polys.append(poly)
        names.append(name)
        lat.append(la)
        lon.append(lo)
        ids.append(str(props.get("id", feat.get("id", ""))))
    extra = {"id": tuple(ids)} if any(ids) else {}
    return Locations(tuple(names), np.array(lat), np.array(lon), tuple(polys), extra, str(path))


# ---------------------------------------------------------------------------- extraction

def _nearest(values: np.ndarray, target: float, periodic: bool) -> tuple[int, float]:
    """Index of the nearest coordinate and its distance (degrees; longitudes modulo 360)."""
    d = values - target
    if periodic:
        d = (d + 180.0) % 360.0 - 180.0
    i = int(np.argmin(np.abs(d)))
    return i, float(abs(d[i]))


def _spacing(values: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(values)))) if len(values) > 1 else float("inf")


def _inside(polygons: list[Polygon], lon2d: np.ndarray, lat2d: np.ndarray) -> np.ndarray:
    """Cells whose centre lies in any polygon (exterior minus holes)."""
    pts = np.column_stack([lon2d.ravel(), lat2d.ravel()])
    mask = np.zeros(len(pts), dtype=bool)
    for rings in polygons:
        ext = rings[0].copy()
        # a ring given in 0..360 longitudes meets the grid's convention
        shift = 0.0 if (ext[:, 0].max() <= 180 or lon2d.max() > 180) else -360.0
        inside = MplPath(ext + [shift, 0]).contains_points(pts)
        for hole in rings[1:]:
            inside &= ~MplPath(hole + [shift, 0]).contains_points(pts)
        mask |= inside
    return mask.reshape(lon2d.shape)


def _grid_weights(locations: Locations, lat: np.ndarray, lon: np.ndarray,
                  what: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(location, lat, lon)`` and the number of cells each location uses."""
    weights = np.zeros((len(locations), len(lat), len(lon)), dtype=np.float64)
    n_cells = np.zeros(len(locations), dtype=np.int64)
    dlat, dlon = _spacing(lat), _spacing(lon)
    lon2d, lat2d = np.meshgrid(lon, lat)
    coslat = np.clip(np.cos(np.deg2rad(lat2d)), 0.0, None)
    for k, name in enumerate(locations.names):
        poly = locations.polygons[k]
        if poly is not None:
            mask = _inside(poly, lon2d, lat2d)
            if mask.any():
                weights[k] = np.where(mask, coslat, 0.0)
                if weights[k].sum() == 0:  # only polar cells: equal weights
                    weights[k] = mask.astype(np.float64)
                n_cells[k] = int(mask.sum())
                continue
        la, lo = locations.lat[k], locations.lon[k]
        i, di = _nearest(lat, la, periodic=False)
        j, dj = _nearest(lon, lo, periodic=True)
        if di > dlat or dj > dlon:
            kind = "centroid of district" if poly is not None else "location"
            raise SowcastError(
                f"{kind} {name!r} ({la:.2f} N, {lo:.2f} E) is outside the grid of {what} "
                f"(lat {lat.min():g}..{lat.max():g}, lon {lon.min():g}..{lon.max():g})")
        weights[k, i, j] = 1.0
        n_cells[k] = 1
    return weights, n_cells


def _extract_grid(locations: Locations, data, what: str):
    for c in ("lat", "lon"):
        if c not in data.dims:
            raise SowcastError(f"{what} has no {c!r} dimension (dims {tuple(data.dims)}); "
                               "give a lat/lon grid or station data")
    lat = np.asarray(data["lat"].values, dtype=np.float64)
    lon = np.asarray(data["lon"].values, dtype=np.float64)
    weights, n_cells = _grid_weights(locations, lat, lon, what)
    w = xr.DataArray(weights, dims=("location", "lat", "lon"), coords={"lat": data["lat"], "lon": data["lon"]})
    used_lat = weights.any(axis=(0, 2))
    used_lon = weights.any(axis=(0, 1))
    # only the rows and columns some location uses take part (big grids, few places)
    sub = data.isel(lat=np.flatnonzero(used_lat), lon=np.flatnonzero(used_lon))
    w = w.isel(lat=np.flatnonzero(used_lat), lon=np.flatnonzero(used_lon))

    def mean(da: xr.DataArray) -> xr.DataArray:
        if "lat" not in da.dims or "lon" not in da.dims:
            return da
        valid = da.notnull()
        num = xr.dot(da.fillna(0.0), w, dim=("lat", "lon"))
        den = xr.dot(valid.astype(np.float64), w, dim=("lat", "lon"))
        out = (num / den.where(den > 0)).astype(da.dtype if da.dtype.kind == "f" else np.float64)
        out.attrs = dict(da.attrs)
        return out

    if isinstance(sub, xr.Dataset):
        out = sub.map(mean, keep_attrs=True)
    else:
        out = mean(sub)
        out.name = data.name
    out = out.drop_vars([c for c in ("lat", "lon") if c in out.coords])
    coords = locations.coords()
    coords["n_cells"] = ("location", n_cells, {"long_name": "grid cells averaged (1 for a point)"})
    out = out.assign_coords(coords)
    out.attrs = dict(data.attrs)
    return out


def _extract_stations(locations: Locations, data, what: str):
    stations = [str(s) for s in data["station"].values]
    lookup = {s.casefold(): i for i, s in enumerate(stations)}
    missing = [n for n in locations.names if n.casefold() not in lookup]
    if missing:
        raise SowcastError(f"{what} has no station named {', '.join(repr(m) for m in missing)} "
                           f"(stations: {', '.join(stations)})")
    idx = [lookup[n.casefold()] for n in locations.names]
    out = data.isel(station=idx).rename({"station": "location"})
    out = out.drop_vars([c for c in ("lat", "lon", "elevation", "location") if c in out.coords])
    coords = locations.coords()
    coords["station"] = ("location", np.array([stations[i] for i in idx], dtype=object))
    return out.assign_coords(coords)


def extract(locations: Locations, data: xr.DataArray | xr.Dataset,
            what: str | None = None) -> xr.DataArray | xr.Dataset:
    """Values at the locations: a ``location`` dim replaces ``lat``/``lon`` (or ``station``).

    Grids: the nearest cell for a point, the cos(lat)-weighted mean of the cells inside for
    a district (see the module doc for the fallback); station data: selected by name. The
    result's ``location`` coordinate holds the names, with ``lat``/``lon`` the location's
    point or centroid (not the cell's) and the extra columns as coordinates.
    """
    what = what or (f"{data.name!r}" if isinstance(data, xr.DataArray) and data.name else "the data")
    if len(locations) == 0:
        raise SowcastError("no locations to extract")
    if "station" in data.dims:
        return _extract_stations(locations, data, what)
    return _extract_grid(locations, data, what)
