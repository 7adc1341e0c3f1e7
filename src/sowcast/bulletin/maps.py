"""The bulletin maps, as PNG bytes: matplotlib's Agg renderer through its object interface
(no pyplot state, no display), coastlines and borders from :mod:`.borders`, data over land.

* :func:`onset_map`: probability that the rains have started by the end of a week, in ten
  steps of 10 %, the table's locations marked;
* :func:`tercile_map`: the most likely rain tercile category coloured by its probability, in
  the convention of the WMO Lead Centre for long-range forecasts and IRI: below normal in
  yellows to browns, near normal in greys, above normal in greens to blues, each in steps of
  40-50, 50-60, 60-70 and 70-100 %; white where no category reaches 40 %.
"""

from __future__ import annotations

import io
import math
import textwrap

import numpy as np

from sowcast.bulletin.borders import Extent, clip_to_land, draw_borders, draw_land

BELOW = ("#fee391", "#fec44f", "#ec7014", "#8c2d04")
NEAR = ("#e0e0e0", "#bdbdbd", "#969696", "#737373")
ABOVE = ("#c7e9c0", "#74c476", "#2b8cbe", "#084081")
TERCILE_BOUNDS = (0.4, 0.5, 0.6, 0.7, 1.0)
OCEAN = "#dbe9f6"
FONT = "DejaVu Sans"


def grid_extent(lat: np.ndarray, lon: np.ndarray) -> Extent:
    """The grid's outer cell edges (centres +- half a step)."""
    def edges(c):
        c = np.sort(np.asarray(c, dtype=float))
        half = (c[1] - c[0]) / 2 if len(c) > 1 else 0.5
        return float(c[0] - half), float(c[-1] + half)

    x0, x1 = edges(lon)
    y0, y1 = edges(lat)
    return x0, x1, y0, y1


def _figure(extent: Extent, width: float = 5.2, side: float = 0.0, below: float = 0.0):
    """A figure whose map, ``side`` inches narrower than it (a colorbar), keeps its aspect
    with ``below`` inches under it (a legend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x0, x1, y0, y1 = extent
    aspect = 1 / math.cos(math.radians((y0 + y1) / 2))
    height = (width - 0.55 - side) * (y1 - y0) * aspect / (x1 - x0) + 0.65 + below
    fig = Figure(figsize=(width, min(max(height, 3.0), 9.0)), layout="constrained")
    FigureCanvasAgg(fig)
    fig.set_layout_engine("constrained", h_pad=0.04, w_pad=0.04)
    return fig, aspect


def _map_axes(ax, extent: Extent, aspect: float, title: str, credit: str) -> None:
    ax.set_facecolor(OCEAN)
    draw_land(ax, extent)
    draw_borders(ax, extent)
    ax.set_aspect(aspect)
    ax.set_title(textwrap.fill(title, 60), fontsize=9, family=FONT)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{abs(v):g}°{'W' if v < 0 else 'E' if v > 0 else ''}")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{abs(v):g}°{'S' if v < 0 else 'N' if v > 0 else ''}")
    ax.text(0.995, 0.005, credit, transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5, color="#555555",
            zorder=5)


def _png(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def onset_map(prob: np.ndarray, lat: np.ndarray, lon: np.ndarray, title: str, colorbar_label: str,
              credit: str, points: list[tuple[str, float, float]] = (), dpi: int = 120) -> bytes:
    """``prob(lat, lon)`` in [0, 1] (NaN: unknown, left blank); ``points``: (name, lat, lon)."""
    from matplotlib import colormaps, patheffects
    from matplotlib.colors import BoundaryNorm

    extent = grid_extent(lat, lon)
    fig, aspect = _figure(extent, side=0.9)
    ax = fig.add_subplot()
    _map_axes(ax, extent, aspect, title, credit)
    levels = np.linspace(0, 100, 11)
    cmap = colormaps["YlGnBu"].resampled(10)
    mesh = ax.pcolormesh(lon, lat, np.ma.masked_invalid(100 * np.asarray(prob, dtype=float)), cmap=cmap,
                         norm=BoundaryNorm(levels, 10), shading="nearest", zorder=1)
    clip_to_land(mesh, ax, extent)
    bar = fig.colorbar(mesh, ax=ax, shrink=0.85, ticks=levels[::2])
    bar.set_label(colorbar_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for name, y, x in points:
        ax.plot([x], [y], "o", ms=3.5, color="black", mec="white", mew=0.6, zorder=4)
        edge = x > extent[0] + 0.9 * (extent[1] - extent[0])  # near the right edge: label below, to the left
        ax.text(x + (-0.1 if edge else 0.25), y + (-0.3 if edge else 0.15), name, fontsize=7, zorder=4,
                path_effects=halo, family=FONT, clip_on=True, ha="right" if edge else "left",
                va="top" if edge else "baseline")
    return _png(fig, dpi)


def tercile_map(category: np.ndarray, prob: np.ndarray, lat: np.ndarray, lon: np.ndarray, title: str,
                category_names: tuple[str, str, str], probability_label: str, credit: str,
                dpi: int = 120) -> bytes:
    """``category(lat, lon)``: 0 below, 1 near, 2 above, -1 unknown; ``prob``: its probability."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap

    extent = grid_extent(lat, lon)
    fig, aspect = _figure(extent, below=0.75)
    grid = fig.add_gridspec(2, 3, height_ratios=[20, 1])
    ax = fig.add_subplot(grid[0, :])
    _map_axes(ax, extent, aspect, title, credit)
    palettes = (BELOW, NEAR, ABOVE)
    colours = [c for pal in palettes for c in pal] + ["#ffffff"]
    step = np.clip(np.searchsorted(TERCILE_BOUNDS, np.nan_to_num(prob, nan=0.0), side="right") - 1, -1, 3)
    index = np.where(step < 0, 12, category * 4 + step).astype(float)
    index = np.ma.masked_where((category < 0) | ~np.isfinite(prob), index)
    mesh = ax.pcolormesh(lon, lat, index, cmap=ListedColormap(colours),
                         norm=BoundaryNorm(np.arange(-0.5, 13.5), 13), shading="nearest", zorder=1)
    clip_to_land(mesh, ax, extent)
    bounds = [100 * b for b in TERCILE_BOUNDS]
    for i, (name, pal) in enumerate(zip(category_names, palettes, strict=True)):
        cax = fig.add_subplot(grid[1, i])
        sm = ScalarMappable(norm=BoundaryNorm(bounds, 4), cmap=ListedColormap(pal))
        bar = fig.colorbar(sm, cax=cax, orientation="horizontal", ticks=bounds, spacing="uniform")
        bar.ax.tick_params(labelsize=6.5, length=2)
        bar.ax.set_title(name, fontsize=7.5, pad=2)
        if i == 1:
            bar.set_label(probability_label, fontsize=7, labelpad=1)
    return _png(fig, dpi)
