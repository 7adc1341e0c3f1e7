"""Tiny canonical stores for tests and benchmarks: random but smooth, written like the real thing.

:func:`make_canonical_store` builds surface variables, pressure-level variables, the
precipitation accumulation and the static ``land_sea_mask`` and ``orography``, each field a
sum of a few low-order spherical-ish waves with AR(1) amplitudes in time (smooth in space,
correlated in time), and writes it with :func:`sowcast.data.store.write_store` together
with its statistics from :func:`sowcast.data.statistics.compute_statistics`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.schema import COORD_ATTRS, PRECIPITATION_ACCUMULATION, cf_attrs, time_step_iso

# name -> (base value, anomaly amplitude); level variables: base per hPa below.
_SURFACE = {
    "2m_temperature": (288.0, 6.0),
    "mean_sea_level_pressure": (101325.0, 900.0),
    "10m_u_component_of_wind": (0.0, 5.0),
    "10m_v_component_of_wind": (0.0, 5.0),
    "2m_specific_humidity": (0.01, 0.003),
    "total_precipitation": (0.0, 4.0),
}
_LEVEL_AMPLITUDE = {"temperature": 5.0, "geopotential": 600.0, "specific_humidity": 0.002,
                    "u_component_of_wind": 8.0, "v_component_of_wind": 6.0}


def _level_base(name: str, level: float) -> float:
    if name == "temperature":
        return 288.0 * (level / 1000.0) ** 0.19  # dry-adiabat-like profile
    if name == "geopotential":
        return 9.80665 * 44330.0 * (1 - (level / 1013.25) ** 0.19)
    if name == "specific_humidity":
        return 0.012 * (level / 1000.0) ** 3
    return 0.0


def _smooth_fields(rng: np.random.Generator, n_times: int, lat: np.ndarray, lon: np.ndarray,
                   n_modes: int = 6, rho: float = 0.9) -> np.ndarray:
    """Standardised smooth anomalies ``[T, lat, lon]`` float32: AR(1) amplitudes x low waves."""
    phi = np.deg2rad(lat)[:, None]
    lam = np.deg2rad(lon)[None, :]
    patterns = np.empty((n_modes, len(lat), len(lon)))
    for k in range(n_modes):
        m, n = rng.integers(0, 4), rng.integers(1, 4)
        patterns[k] = np.cos(m * lam + rng.uniform(0, 2 * np.pi)) * np.cos(n * phi + rng.uniform(0, 2 * np.pi))
    amp = np.empty((n_times, n_modes))
    amp[0] = rng.standard_normal(n_modes)
    noise = rng.standard_normal((n_times, n_modes)) * np.sqrt(1 - rho**2)
    for t in range(1, n_times):
        amp[t] = rho * amp[t - 1] + noise[t]
    season = np.sin(2 * np.pi * np.arange(n_times) / 365.25)[:, None, None] * np.sin(phi)[None]
    field = np.einsum("tk,kij->tij", amp, patterns) / np.sqrt(n_modes / 4) + season
    return field.astype(np.float32)


def make_canonical_store(
    path: str | os.PathLike,
    n_times: int = 24,
    grid: Grid | tuple[int, int] | None = None,
    levels: Sequence[float] | None = (500, 850),
    seed: int = 0,
    *,
    start: str = "2000-01-01",
    step: str | pd.Timedelta = "1D",
    surface: Sequence[str] = ("2m_temperature", "total_precipitation"),
    level_variables: Sequence[str] = ("temperature",),
    chunks: dict[str, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a small canonical store at ``path`` and return the path.

    ``grid`` is a :class:`Grid` or ``(n_lat, n_lon)`` for a global grid of cell centres
    (default ``(8, 16)``). ``levels=None`` or empty drops the level variables. Levels are
    stored in the order given. Statistics cover all times.
    """
    from sowcast.data.statistics import compute_statistics
    from sowcast.data.store import write_store

    if grid is None:
        grid = (8, 16)
    if not isinstance(grid, Grid):
        n_lat, n_lon = grid
        dlat, dlon = 180.0 / n_lat, 360.0 / n_lon
        grid = Grid(lat=np.round(-90 + dlat / 2 + dlat * np.arange(n_lat), 6),
                    lon=np.round(-180 + dlon * np.arange(n_lon), 6))
    rng = np.random.default_rng(seed)
    step = pd.Timedelta(step)
    times = pd.date_range(start, periods=n_times, freq=step)
    lat, lon = np.asarray(grid.lat, np.float64), np.asarray(grid.lon, np.float64)
    cos_lat = np.cos(np.deg2rad(lat))[:, None].astype(np.float32)

    data_vars: dict[str, tuple] = {}
    for name in surface:
        base, amp = _SURFACE[name]
        anom = _smooth_fields(rng, n_times, lat, lon)
        if name == "total_precipitation":
            values = amp * np.maximum(anom, 0.0) ** 1.5
        elif name == "2m_temperature":
            values = base - 25.0 + 30.0 * cos_lat + amp * anom
        else:
            values = base + amp * anom
        data_vars[name] = (("time", "lat", "lon"), values.astype(np.float32))
    levels = list(levels or [])
    if levels:
        for name in level_variables:
            amp = _LEVEL_AMPLITUDE[name]
            stack = [_level_base(name, lev) + amp * _smooth_fields(rng, n_times, lat, lon) for lev in levels]
            data_vars[name] = (("time", "level", "lat", "lon"), np.stack(stack, axis=1).astype(np.float32))
    land = _smooth_fields(rng, 1, lat, lon)[0]
    data_vars["land_sea_mask"] = (("lat", "lon"), (land > 0).astype(np.float32))
    data_vars["orography"] = (("lat", "lon"), (np.maximum(land, 0) * 1500.0).astype(np.float32))

    coords: dict[str, tuple] = {"time": ("time", times.values, COORD_ATTRS["time"]),
                                "lat": ("lat", lat, COORD_ATTRS["lat"]),
                                "lon": ("lon", lon, COORD_ATTRS["lon"])}
    if levels:
        coords["level"] = ("level", np.asarray(levels, np.float64), COORD_ATTRS["level"])
    ds = xr.Dataset({n: (*v, cf_attrs(n)) for n, v in data_vars.items()}, coords=coords)
    ds.attrs.update(time_step=time_step_iso(step), precipitation_accumulation=PRECIPITATION_ACCUMULATION,
                    source=f"sowcast.data.testing.make_canonical_store(seed={seed})", history="")

    statistics = compute_statistics(ds)
    return write_store(ds, path, statistics=statistics, chunks=chunks, overwrite=overwrite, progress=False)
