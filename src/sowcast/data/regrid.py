"""Regridding canonical fields between regular latitude-longitude grids.

Every method is *separable*: a target value is a weighted mean of source values,

    out = (W_lat @ (f * m) @ W_lon^T) / (W_lat @ m @ W_lon^T),

with ``W_lat`` (n_out_lat x n_in_lat) and ``W_lon`` (n_out_lon x n_in_lon) weights along
each axis and ``m`` the mask of valid (finite) source points, so NaNs never leak into a
target that has a valid source point with non-zero weight. A target whose weights touch
no valid source point is NaN. Only the weights differ between methods:

* ``conservative``: first-order conservative remapping (Jones 1999, Mon. Wea. Rev. 127,
  2204-2210; WeatherBench 2 regrids ERA5 the same way, Rasp et al. 2024, JAMES).
  ``W_lat[i, j] = |[sin a_i, sin b_i] n [sin a_j, sin b_j]|`` is the overlap of output cell i
  and input cell j in sin(latitude), i.e. in area on the sphere, and ``W_lon[i, j]`` the
  overlap of the longitude intervals on the circle (so a target cell across the dateline
  gathers source cells from both ends of a global grid). Cell edges are the midpoints
  between centres, the outer ones half a spacing out, latitudes clipped to +-90. The
  result is the area-weighted mean of the *valid* source area inside each target cell;
  the area-weighted integral is conserved wherever the target lies inside the source.
* ``linear``: bilinear interpolation between the two bracketing source centres along
  each axis (in degrees; periodic in longitude for a global source). The weights are
  renormalised over the valid corners, so a NaN source point removes itself from its
  neighbours' interpolation instead of spreading: a target is NaN only when all its
  corners with non-zero weight are NaN (a target exactly on a NaN point is NaN).
* ``nearest``: the source cell that contains the target (nearest centre along each axis,
  which on a regular grid is the nearest grid point).

For ``linear`` and ``nearest`` a target up to half a source spacing beyond the outermost
source centre takes the edge value (it lies inside the edge cell); farther out it is NaN.
A target grid that does not meet the source at all is an error.

Masks: a boolean variable (``<name>_valid``) is regridded as a fraction and is True where
the valid fraction is at least one half. A float variable with a ``<name>_valid`` companion
is regridded from its valid points only (the fill values the schema puts at invalid points
do not leak); target points that overlap no valid point come out NaN, so re-fill after
regridding (or regrid before masking). Integer variables come out as float64.

Lazy (dask) inputs stay lazy: the work is one :func:`xarray.apply_ufunc` per variable with
``dask="parallelized"``, chunk by chunk along the non-spatial dims (lat and lon are
rechunked to one chunk each).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.schema import COORD_ATTRS
from sowcast.errors import SowcastError

METHODS = ("conservative", "linear", "nearest")
_REL_TOL = 1e-9  # overlaps smaller than this fraction of a target cell are rounding noise


def _edges(centres: np.ndarray, spacing: float | None, what: str) -> np.ndarray:
    """Cell edges of ascending centres: midpoints, and half a spacing beyond each end."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size >= 2:
        first, last = c[1] - c[0], c[-1] - c[-2]
    elif c.size == 1 and spacing is not None and np.isfinite(spacing) and spacing > 0:
        first = last = float(spacing)
    else:
        raise SowcastError(f"{what} has {c.size} point(s); cannot infer its cell size")
    return np.concatenate([[c[0] - first / 2], (c[1:] + c[:-1]) / 2, [c[-1] + last / 2]])


def _clean(w: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Zero overlaps that are rounding noise relative to each target cell's width."""
    w = np.clip(w, 0.0, None)
    w[w <= _REL_TOL * width[:, None]] = 0.0
    return w


def conservative_lat_weights(src_lat: np.ndarray, dst_lat: np.ndarray,
                             dst_spacing: float | None = None) -> np.ndarray:
    """Overlap in sin(latitude) of target cell i and source cell j (Jones 1999)."""
    a = np.sin(np.deg2rad(np.clip(_edges(src_lat, None, "source latitude"), -90, 90)))
    b = np.sin(np.deg2rad(np.clip(_edges(dst_lat, dst_spacing, "target latitude"), -90, 90)))
    hi = np.minimum(b[1:, None], a[None, 1:])
    lo = np.maximum(b[:-1, None], a[None, :-1])
    return _clean(hi - lo, b[1:] - b[:-1])


def conservative_lon_weights(src_lon: np.ndarray, dst_lon: np.ndarray,
                             dst_spacing: float | None = None) -> np.ndarray:
    """Overlap in degrees of longitude of target cell i and source cell j, on the circle."""
    a = _edges(src_lon, None, "source longitude")
    b = _edges(dst_lon, dst_spacing, "target longitude")
    w = np.zeros((len(b) - 1, len(a) - 1))
    for k in (-360.0, 0.0, 360.0):  # intervals on a circle: sum the overlaps of the copies
        hi = np.minimum(b[1:, None] + k, a[None, 1:])
        lo = np.maximum(b[:-1, None] + k, a[None, :-1])
        w += np.clip(hi - lo, 0.0, None)
    return _clean(w, b[1:] - b[:-1])


def _is_periodic(lon: np.ndarray) -> bool:
    """True when the source longitudes cover the whole circle (one spacing short of 360)."""
    if len(lon) < 2:
        return False
    return bool(np.isclose(lon[-1] - lon[0] + (lon[1] - lon[0]), 360.0, atol=1e-6))


def _point_weights(src: np.ndarray, dst: np.ndarray, method: str, periodic: bool) -> np.ndarray:
    """Linear or nearest weights along one axis (rows: targets, columns: source points)."""
    c = np.asarray(src, dtype=np.float64)
    x = np.asarray(dst, dtype=np.float64)
    n = len(c)
    if n < 2:
        raise SowcastError("the source grid needs at least 2 points along each axis")
    w = np.zeros((len(x), n))
    tol = 1e-9 * (c[1] - c[0])
    if periodic:
        cc = np.concatenate([c, [c[0] + 360.0]])
        xx = c[0] + np.mod(x - c[0], 360.0)
        idx = np.arange(n + 1) % n
    else:
        cc, xx, idx = c, x.copy(), np.arange(n)
        lo_edge = c[0] - (c[1] - c[0]) / 2 - tol
        hi_edge = c[-1] + (c[-1] - c[-2]) / 2 + tol
        inside = (x >= lo_edge) & (x <= hi_edge)
        xx = np.clip(xx, c[0], c[-1])  # within half a cell beyond the end: the edge value
    for i, xi in enumerate(xx):
        if not periodic and not inside[i]:
            continue
        j = int(np.clip(np.searchsorted(cc, xi, side="right") - 1, 0, len(cc) - 2))
        t = (xi - cc[j]) / (cc[j + 1] - cc[j])
        if method == "linear":
            w[i, idx[j]] += 1.0 - t
            w[i, idx[j + 1]] += t
        else:  # nearest; a tie goes to the lower index
            w[i, idx[j] if t <= 0.5 else idx[j + 1]] = 1.0
    return w


def regrid_weights(src_lat: np.ndarray, src_lon: np.ndarray, grid: Grid,
                   method: str = "conservative") -> tuple[np.ndarray, np.ndarray]:
    """``(W_lat, W_lon)`` for regridding from a source grid to ``grid`` (see module doc)."""
    if method not in METHODS:
        raise SowcastError(f"unknown regrid method {method!r}; choose one of {', '.join(METHODS)}")
    dst_lat, dst_lon = np.asarray(grid.lat, float), np.asarray(grid.lon, float)
    # A target axis with one point borrows the spacing of its other axis.
    lat_step = float(np.diff(dst_lon)[0]) if len(dst_lat) == 1 and len(dst_lon) > 1 else None
    lon_step = float(np.diff(dst_lat)[0]) if len(dst_lon) == 1 and len(dst_lat) > 1 else None
    if method == "conservative":
        w_lat = conservative_lat_weights(src_lat, dst_lat, lat_step)
        w_lon = conservative_lon_weights(src_lon, dst_lon, lon_step)
    else:
        w_lat = _point_weights(src_lat, dst_lat, method, periodic=False)
        w_lon = _point_weights(src_lon, dst_lon, method, periodic=_is_periodic(np.asarray(src_lon)))
    if not w_lat.any() or not w_lon.any():
        raise SowcastError(
            f"the target grid (lat {dst_lat[0]:g}..{dst_lat[-1]:g}, lon {dst_lon[0]:g}..{dst_lon[-1]:g}) "
            f"does not overlap the source (lat {src_lat[0]:g}..{src_lat[-1]:g}, "
            f"lon {src_lon[0]:g}..{src_lon[-1]:g})"
        )
    return w_lat, w_lon


def _apply(a: np.ndarray, w_lat: np.ndarray, w_lon: np.ndarray, full_den: np.ndarray,
           out_dtype: np.dtype) -> np.ndarray:
    """``(W_lat @ (f m) @ W_lon^T) / (W_lat @ m @ W_lon^T)`` over the last two axes."""
    a = np.asarray(a, dtype=np.float64)
    valid = np.isfinite(a)
    if valid.all():
        num = w_lat @ a @ w_lon.T
        den = np.broadcast_to(full_den, num.shape)
    else:
        num = w_lat @ np.where(valid, a, 0.0) @ w_lon.T
        den = w_lat @ valid.astype(np.float64) @ w_lon.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out.astype(out_dtype, copy=False)


def _regrid_array(da: xr.DataArray, w_lat: np.ndarray, w_lon: np.ndarray,
                  out_dtype: np.dtype) -> xr.DataArray:
    full_den = w_lat.sum(axis=1)[:, None] * w_lon.sum(axis=1)[None, :]
    if da.chunks is not None:
        da = da.chunk({"lat": -1, "lon": -1})
    # The core dims go last for the matrix products; the original order is restored after.
    order = da.dims
    out = xr.apply_ufunc(
        _apply, da,
        input_core_dims=[["lat", "lon"]], output_core_dims=[["lat", "lon"]],
        exclude_dims={"lat", "lon"},
        kwargs={"w_lat": w_lat, "w_lon": w_lon, "full_den": full_den, "out_dtype": out_dtype},
        dask="parallelized", output_dtypes=[out_dtype],
        dask_gufunc_kwargs={"output_sizes": {"lat": w_lat.shape[0], "lon": w_lon.shape[0]}},
        keep_attrs=True,
    )
    return out.transpose(*order)


def regrid(ds: xr.Dataset, grid: Grid, method: str = "conservative") -> xr.Dataset:
    """Regrid every (lat, lon) variable of a canonical dataset onto ``grid``.

    Other dims (time, level, member) are kept, attrs preserved, dask arrays stay lazy.
    Variables without lat/lon pass through. See the module docstring for the methods.
    """
    if method not in METHODS:
        raise SowcastError(f"unknown regrid method {method!r}; choose one of {', '.join(METHODS)}")
    for dim in ("lat", "lon"):
        if dim not in ds.coords or ds[dim].ndim != 1:
            raise SowcastError(f"regrid needs a 1-D {dim!r} coordinate")
    src_lat = np.asarray(ds["lat"].values, dtype=np.float64)
    src_lon = np.asarray(ds["lon"].values, dtype=np.float64)
    if len(src_lat) > 1 and (np.diff(src_lat) <= 0).any():
        raise SowcastError("regrid needs latitudes ascending (canonicalise the source first)")
    if len(src_lon) > 1 and ((np.diff(src_lon) <= 0).any() or src_lon.min() < -180 or src_lon.max() >= 180):
        raise SowcastError("regrid needs longitudes ascending in [-180, 180) (canonicalise the source first)")
    if len(grid.lat) > 1 and (np.diff(grid.lat) <= 0).any() or len(grid.lon) > 1 and (np.diff(grid.lon) <= 0).any():
        raise SowcastError("the target grid must have ascending latitudes and longitudes")
    w_lat, w_lon = regrid_weights(src_lat, src_lon, grid, method)

    out_vars: dict[str, xr.DataArray] = {}
    for name, da in ds.data_vars.items():
        has_lat, has_lon = "lat" in da.dims, "lon" in da.dims
        if not has_lat and not has_lon:
            out_vars[name] = da
            continue
        if has_lat != has_lon:
            raise SowcastError(f"variable {name!r} has only one of lat/lon; cannot regrid it")
        mask_name = f"{name}_valid"
        if da.dtype.kind == "b":
            frac = _regrid_array(da.astype(np.float64), w_lat, w_lon, np.dtype(np.float64))
            res = (frac >= 0.5).assign_attrs(da.attrs)
        else:
            src = da
            if mask_name in ds.data_vars and da.dtype.kind == "f":
                src = da.where(ds[mask_name].astype(bool))
            out_dtype = da.dtype if da.dtype.kind == "f" else np.dtype(np.float64)
            res = _regrid_array(src, w_lat, w_lon, out_dtype).assign_attrs(da.attrs)
        res.encoding = {}
        out_vars[name] = res

    coords = {k: v for k, v in ds.coords.items()
              if k not in ("lat", "lon") and not ({"lat", "lon"} & set(v.dims))}
    coords["lat"] = ("lat", np.asarray(grid.lat, dtype=np.float64),
                     dict(ds["lat"].attrs) or dict(COORD_ATTRS["lat"]))
    coords["lon"] = ("lon", np.asarray(grid.lon, dtype=np.float64),
                     dict(ds["lon"].attrs) or dict(COORD_ATTRS["lon"]))
    out_vars = {k: v.drop_vars([c for c in v.coords if c in ("lat", "lon")
                                or {"lat", "lon"} & set(v[c].dims)], errors="ignore")
                for k, v in out_vars.items()}
    return xr.Dataset(out_vars, coords=coords, attrs=dict(ds.attrs))
