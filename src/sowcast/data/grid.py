"""Regular latitude-longitude grids, as the canonical store and the configs describe them.

A grid is given by cell-centre bounds and a spacing, e.g. in ``conf/data/demo.yaml``::

    grid: {lat_min: -2, lat_max: 24, lon_min: -20, lon_max: 16, resolution: 1.0}

Both bounds are included. A global grid at 1.5 degrees is ``lat -90..90, lon -180..178.5``
(121 x 240, the WeatherBench 2 layout with poles).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sowcast.config_values import flag, number
from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Grid:
    """A regular lat-lon grid of cell centres; latitude ascending, longitude in [-180, 180)."""

    lat: np.ndarray
    lon: np.ndarray

    @classmethod
    def from_bounds(cls, lat_min: float, lat_max: float, lon_min: float, lon_max: float,
                    resolution: float) -> Grid:
        if resolution <= 0:
            raise SowcastError(f"grid resolution must be positive, not {resolution}")
        if not (-90 <= lat_min < lat_max <= 90):
            raise SowcastError(f"grid latitudes must satisfy -90 <= lat_min < lat_max <= 90, got {lat_min}, {lat_max}")
        if not (-180 <= lon_min < lon_max < 180):
            raise SowcastError(f"grid longitudes must satisfy -180 <= lon_min < lon_max < 180, got {lon_min}, {lon_max}")
        n_lat = int(round((lat_max - lat_min) / resolution)) + 1
        n_lon = int(round((lon_max - lon_min) / resolution)) + 1
        lat = lat_min + resolution * np.arange(n_lat)
        lon = lon_min + resolution * np.arange(n_lon)
        return cls(lat=np.round(lat, 6), lon=np.round(lon, 6))

    @classmethod
    def global_grid(cls, resolution: float) -> Grid:
        """A global grid including both poles, longitudes from -180."""
        if not resolution > 0:
            raise SowcastError(f"grid resolution must be positive, not {resolution}")
        n_lon = int(round(360 / resolution))
        if not np.isclose(n_lon * resolution, 360):
            raise SowcastError(f"a global grid needs a resolution that divides 360, not {resolution}")
        return cls.from_bounds(-90, 90, -180, 180 - resolution, resolution)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], key: str = "grid") -> Grid:
        """From ``{global: true, resolution: r}`` or ``{lat_min, lat_max, lon_min, lon_max, resolution}``
        (``key``: the option's name in errors)."""
        if not isinstance(cfg, Mapping):
            raise SowcastError(f"{key} is {{lat_min, lat_max, lon_min, lon_max, resolution}} or "
                               f"{{global: true, resolution}}, not {cfg!r}")
        cfg = dict(cfg)
        try:
            if flag(cfg.get("global", False), f"{key}.global"):
                return cls.global_grid(number(cfg["resolution"], f"{key}.resolution"))
            return cls.from_bounds(*(number(cfg[k], f"{key}.{k}") for k in
                                     ("lat_min", "lat_max", "lon_min", "lon_max", "resolution")))
        except KeyError as exc:
            raise SowcastError(f"{key} lacks {exc.args[0]!r} (give global+resolution or lat/lon bounds+resolution)") from None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.lat), len(self.lon))

    @property
    def resolution(self) -> float:
        return float(self.lat[1] - self.lat[0]) if len(self.lat) > 1 else float("nan")

    @property
    def is_global(self) -> bool:
        """True when longitudes wrap around the whole circle."""
        if len(self.lon) < 2:
            return False
        step = self.lon[1] - self.lon[0]
        return bool(np.isclose(self.lon[-1] - self.lon[0] + step, 360))

    def cell_area_weights(self) -> np.ndarray:
        """Relative cell areas per latitude row, ``cos(lat)`` normalised to mean 1 (WB2)."""
        w = np.cos(np.deg2rad(self.lat))
        w = np.clip(w, 0, None)
        if w.sum() == 0:
            return np.ones_like(w)
        return w / w.mean()
