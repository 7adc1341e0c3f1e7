"""The bulletin maps, as PNG bytes: matplotlib's Agg renderer through its object interface
(no pyplot state, no display), coastlines and borders from :mod:`.borders`, data over land.

* :func:`onset_map`: probability that the rains have started by the end of a week, filled
  contours in ten steps of 10 %;
* :func:`tercile_map`: the most likely rain tercile category coloured by its probability, in
  the convention of the WMO Lead Centre for long-range forecasts and IRI: below normal in
  yellows to browns, near normal in greys, above normal in greens to blues, each in steps of
  40-50, 50-60, 60-70 and 70-100 %; white where no category reaches 40 %. Where the period is
  climatologically dry (:mod:`sowcast.products.dry_season`) no category is coloured: a pale
  sand fill, hatched, with its own legend entry ("Dry season"), as IRI's maps mask their
  dry-season regions.

The gridded fields are drawn on a grid 8 times finer, bilinear between the cell centres
(:mod:`.grid_refine`), so boundaries follow the field instead of 1-degree squares; the
category is chosen on the fine grid from the blended probabilities. The table's locations
are marked on both maps and named by :mod:`.place_labels` (no collisions, inside the map).
"""

from __future__ import annotations

import io
import math
import textwrap

import numpy as np

from sowcast.bulletin.borders import Extent, clip_to_land, draw_borders, draw_land
from sowcast.bulletin.grid_refine import refine
from sowcast.bulletin.place_labels import freeze_layout, place_labels

BELOW = ("#fee391", "#fec44f", "#ec7014", "#8c2d04")
NEAR = ("#e0e0e0", "#bdbdbd", "#969696", "#737373")
ABOVE = ("#c7e9c0", "#74c476", "#2b8cbe", "#084081")
TERCILE_BOUNDS = (0.4, 0.5, 0.6, 0.7, 1.0)
OCEAN = "#dbe9f6"
FONT = "DejaVu Sans"
DRY_FILL = "#f4efe1"     # dry season: pale sand ...
DRY_HATCH = "#a89870"    # ... hatched
REFINE = 8               # fine cells per grid cell, each way


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


def _map_axes(ax, extent: Extent, aspect: float, title: str, credit: str):
    """The map frame (land, borders, title, ticks); returns the credit text (labels avoid it)."""
    ax.set_facecolor(OCEAN)
    draw_land(ax, extent)
    draw_borders(ax, extent)
    ax.set_aspect(aspect)
    ax.set_title(textwrap.fill(title, 60), fontsize=9, family=FONT)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_formatter(lambda v, _pos: f"{abs(v):g}°{'W' if v < 0 else 'E' if v > 0 else ''}")
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{abs(v):g}°{'S' if v < 0 else 'N' if v > 0 else ''}")
    return ax.text(0.995, 0.005, credit, transform=ax.transAxes, ha="right", va="bottom", fontsize=5.5,
                   color="#555555", zorder=5)


def _png(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _mark_and_name(fig, ax, points, reserved) -> None:
    """Dots at the locations, then their names placed once the layout is final."""
    from matplotlib import patheffects

    if not len(points):
        return
    for _name, y, x in points:
        ax.plot([x], [y], "o", ms=3.5, color="black", mec="white", mew=0.6, zorder=4)
    freeze_layout(fig)
    place_labels(ax, [(str(n), float(y), float(x)) for n, y, x in points], fontsize=7, reserved=reserved,
                 path_effects=[patheffects.withStroke(linewidth=2.2, foreground="white")], family=FONT)


def onset_map(prob: np.ndarray, lat: np.ndarray, lon: np.ndarray, title: str, colorbar_label: str,
              credit: str, points: list[tuple[str, float, float]] = (), dpi: int = 120) -> bytes:
    """``prob(lat, lon)`` in [0, 1] (NaN: unknown, left blank); ``points``: (name, lat, lon)."""
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm

    extent = grid_extent(lat, lon)
    fig, aspect = _figure(extent, side=0.9)
    ax = fig.add_subplot()
    credit_text = _map_axes(ax, extent, aspect, title, credit)
    levels = np.linspace(0, 100, 11)
    cmap = colormaps["YlGnBu"].resampled(10)
    f_lat, f_lon, fine = refine(100 * np.asarray(prob, dtype=float), lat, lon, REFINE)
    filled = ax.contourf(f_lon, f_lat, np.ma.masked_invalid(np.clip(fine, 0, 100)), levels=levels, cmap=cmap,
                         norm=BoundaryNorm(levels, 10), zorder=1)
    clip_to_land(filled, ax, extent)
    bar = fig.colorbar(filled, ax=ax, shrink=0.85, ticks=levels[::2])
    bar.set_label(colorbar_label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    _mark_and_name(fig, ax, points, [credit_text])
    return _png(fig, dpi)


def most_likely_on_fine_grid(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Category (0 below, 1 near, 2 above; -1 unknown) and its probability from ``prob(3, ...)``;
    ties go to near normal, then below (a tie is no signal for either tail)."""
    p = np.asarray(prob, dtype=float)
    order = np.array([1, 0, 2])
    known = np.isfinite(p).all(axis=0)
    stacked = np.where(np.isfinite(p[order]), p[order], -np.inf)
    category = np.where(known, order[np.argmax(stacked, axis=0)], -1)
    return category, np.where(known, stacked.max(axis=0), np.nan)


def tercile_map(prob: np.ndarray, lat: np.ndarray, lon: np.ndarray, title: str,
                category_names: tuple[str, str, str], probability_label: str, credit: str,
                dry: np.ndarray | None = None, dry_label: str = "Dry season",
                points: list[tuple[str, float, float]] = (), dpi: int = 120) -> bytes:
    """``prob(category, lat, lon)``: below, near, above; ``dry(lat, lon)``: 1 where the period is
    climatologically dry (no category shown there), None for no mask; ``points``: (name, lat, lon)."""
    import matplotlib
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Rectangle

    with matplotlib.rc_context({"hatch.color": DRY_HATCH, "hatch.linewidth": 0.7}):
        extent = grid_extent(lat, lon)
        fig, aspect = _figure(extent, below=0.75)
        grid = fig.add_gridspec(2, 4, height_ratios=[20, 1], width_ratios=[1, 1, 1, 0.62])
        ax = fig.add_subplot(grid[0, :])
        credit_text = _map_axes(ax, extent, aspect, title, credit)
        palettes = (BELOW, NEAR, ABOVE)
        colours = [c for pal in palettes for c in pal] + ["#ffffff"]
        f_lat, f_lon, fine = refine(prob, lat, lon, REFINE)
        category, top = most_likely_on_fine_grid(fine)
        step = np.clip(np.searchsorted(TERCILE_BOUNDS, np.nan_to_num(top, nan=0.0), side="right") - 1, -1, 3)
        index = np.where(step < 0, 12, category * 4 + step).astype(float)
        hidden = (category < 0) | ~np.isfinite(top)
        dry_fine = None
        if dry is not None:
            dry_fine = refine(np.where(np.isfinite(dry), np.asarray(dry, dtype=float), 0.0), lat, lon, REFINE)[2] >= 0.5
            hidden |= dry_fine
        mesh = ax.pcolormesh(f_lon, f_lat, np.ma.masked_where(hidden, index), cmap=ListedColormap(colours),
                             norm=BoundaryNorm(np.arange(-0.5, 13.5), 13), shading="nearest", zorder=1)
        clip_to_land(mesh, ax, extent)
        if dry_fine is not None and dry_fine.any():
            hatched = ax.contourf(f_lon, f_lat, dry_fine.astype(float), levels=[0.5, 1.5], colors=[DRY_FILL],
                                  hatches=["////"], zorder=1.5)
            clip_to_land(hatched, ax, extent)
        bounds = [100 * b for b in TERCILE_BOUNDS]
        for i, (name, pal) in enumerate(zip(category_names, palettes, strict=True)):
            cax = fig.add_subplot(grid[1, i])
            sm = ScalarMappable(norm=BoundaryNorm(bounds, 4), cmap=ListedColormap(pal))
            bar = fig.colorbar(sm, cax=cax, orientation="horizontal", ticks=bounds, spacing="uniform")
            bar.ax.tick_params(labelsize=6.5, length=2)
            bar.ax.set_title(name, fontsize=7.5, pad=2)
            if i == 1:
                bar.set_label(probability_label, fontsize=7, labelpad=1)
        if dry is not None:
            key = fig.add_subplot(grid[1, 3])
            key.add_patch(Rectangle((0.18, 0), 0.64, 1, facecolor=DRY_FILL, edgecolor="#555555", linewidth=0.6,
                                    hatch="////", transform=key.transAxes))
            key.set_axis_off()
            key.set_title(textwrap.fill(dry_label, 16), fontsize=7.5, pad=2)
        _mark_and_name(fig, ax, points, [credit_text])
        return _png(fig, dpi)
