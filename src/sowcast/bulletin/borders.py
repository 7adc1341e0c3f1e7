"""Coastlines and country borders for the maps, from the Natural Earth countries shipped with
sowcast (``data/africa_countries.geojson``, public domain; see ``data/README.md``). Nothing is
fetched at run time. Longitude/latitude degrees, drawn as they are (plate carrée)."""

from __future__ import annotations

import functools
import json
from importlib import resources

import numpy as np

BORDERS_FILE = "africa_countries.geojson"

Extent = tuple[float, float, float, float]  # lon_min, lon_max, lat_min, lat_max


@functools.cache
def country_rings() -> tuple[np.ndarray, ...]:
    """Every ring (outer boundaries and holes) of every country, as ``(n, 2)`` lon/lat arrays."""
    text = (resources.files("sowcast.bulletin") / "data" / BORDERS_FILE).read_text(encoding="utf-8")
    rings = []
    for feature in json.loads(text)["features"]:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        rings.extend(np.asarray(ring, dtype=float) for polygon in polygons for ring in polygon)
    return tuple(rings)


def rings_in(extent: Extent) -> list[np.ndarray]:
    """The rings whose bounding box meets the extent."""
    x0, x1, y0, y1 = extent
    return [r for r in country_rings()
            if r[:, 0].max() >= x0 and r[:, 0].min() <= x1 and r[:, 1].max() >= y0 and r[:, 1].min() <= y1]


def land_path(extent: Extent):
    """One matplotlib Path of the land in the extent (holes wind the other way, so the
    nonzero rule leaves them out): to fill the land or clip gridded data to it."""
    from matplotlib.path import Path

    rings = rings_in(extent)
    if not rings:
        return None
    return Path.make_compound_path(*[Path(r, closed=True) for r in rings])


def draw_land(ax, extent: Extent, color: str = "#f2f2f2") -> None:
    """Fill the land under everything else."""
    from matplotlib.patches import PathPatch

    path = land_path(extent)
    if path is not None:
        ax.add_patch(PathPatch(path, facecolor=color, edgecolor="none", zorder=0))


def clip_to_land(artist, ax, extent: Extent) -> None:
    """Show ``artist`` (e.g. a pcolormesh) over land only."""
    from matplotlib.patches import PathPatch

    path = land_path(extent)
    if path is not None:
        artist.set_clip_path(PathPatch(path, transform=ax.transData))


def draw_borders(ax, extent: Extent, color: str = "#333333", linewidth: float = 0.6) -> None:
    """Coastlines and country borders, clipped to the axes (set to ``extent``): a dark line
    on a light casing, so that they show on dark and light colours alike."""
    from matplotlib.collections import LineCollection

    rings = rings_in(extent)
    ax.add_collection(LineCollection(rings, colors="white", linewidths=linewidth * 2.4, alpha=0.55, zorder=3))
    ax.add_collection(LineCollection(rings, colors=color, linewidths=linewidth, zorder=3))
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
