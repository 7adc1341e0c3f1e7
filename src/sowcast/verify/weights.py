"""How scores are averaged: latitude area weights and a NaN-skipping mean.

Every score in :mod:`sowcast.verify` reduces over the dimensions it is given with
:func:`weighted_mean`: where ``lat`` is among them, each grid row counts in proportion to
its area, ``w(lat) = cos(lat) / mean(cos(lat))`` (weights of mean 1, as in WeatherBench 2,
Rasp et al. 2024 JAMES, section 3); without ``lat`` (points, stations) it is the plain mean.
WeatherBench 2 integrates cos(lat) over each cell of a global grid; on a regional grid with
even spacing that integral is proportional to cos(lat) at the centre, so the two agree.

Missing values (NaN) are skipped: the weighted mean is ``sum(w x) / sum(w)`` over the
points where ``x`` is finite. :func:`paired` makes several inputs miss together, so that a
forecast/observation pair counts only where both are finite.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError

Dims = str | Iterable[Hashable] | None


def lat_weights(lat: xr.DataArray) -> xr.DataArray:
    """Area weights ``cos(lat) / mean(cos(lat))`` on the ``lat`` coordinate (degrees north)."""
    lat = xr.DataArray(lat) if not isinstance(lat, xr.DataArray) else lat
    values = np.asarray(lat, dtype=float)
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(np.abs(values) > 90):
        raise SowcastError("latitudes must be finite values within [-90, 90] degrees north")
    # A row at a pole has no area (cos(90 degrees) rounds to 6e-17, not 0).
    weights = np.cos(np.deg2rad(lat.astype(float))).where(abs(lat) < 90, 0.0)
    return weights / weights.mean()


def as_dims(x: xr.DataArray | xr.Dataset, dims: Dims) -> tuple[Hashable, ...]:
    """``dims`` as a tuple; ``None`` means every dimension of ``x``. Unknown names fail."""
    if dims is None:
        return tuple(x.dims)
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    missing = [d for d in dims if d not in x.dims]
    if missing:
        raise SowcastError(f"cannot reduce over {missing}: the data has dimensions {list(x.dims)}")
    return dims


def weighted_mean(x: xr.DataArray, dims: Dims = None) -> xr.DataArray:
    """Mean of ``x`` over ``dims`` (all if None), area-weighted if ``lat`` is among them.

    NaNs are skipped; a result with no finite value is NaN.
    """
    dims = as_dims(x, dims)
    if "lat" in dims:
        if "lat" not in x.coords:
            raise SowcastError("the 'lat' dimension has no coordinate values to weight by")
        return x.weighted(lat_weights(x["lat"])).mean(dims, skipna=True)
    return x.mean(dims, skipna=True)


def as_float(x: xr.DataArray) -> xr.DataArray:
    """``x`` as floats (booleans and integers too), so that NaN can mark a missing value."""
    if not isinstance(x, xr.DataArray):
        x = xr.DataArray(x)
    if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
        raise SowcastError(f"expected numbers, got values of type {x.dtype}")
    return x.astype(float)


def aligned(*arrays: xr.DataArray) -> tuple[xr.DataArray, ...]:
    """The arrays aligned on identical coordinates; a mismatch is an error, not a silent cut."""
    try:
        return xr.align(*arrays, join="exact")
    except ValueError as exc:
        raise SowcastError(f"the inputs do not share the same coordinates: {exc}") from None


def paired(*arrays: xr.DataArray) -> tuple[xr.DataArray, ...]:
    """The arrays (as floats, aligned exactly, broadcast) with NaN wherever any is not finite."""
    arrays = aligned(*(as_float(a) for a in arrays))
    valid = np.isfinite(arrays[0])
    for a in arrays[1:]:
        valid = valid & np.isfinite(a)
    return tuple(a.where(valid) for a in arrays)
