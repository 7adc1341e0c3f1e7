"""A coarse grid field on a finer grid for drawing: bilinear interpolation between the cell
centres, so that a map shows smooth boundaries instead of 1-degree squares (the values are
the same at the centres; nothing is invented between them but a straight-line blend).

The fine grid covers the whole map extent, cell edges included: outside the outermost
centres the edge values are held (nearest). Missing values (NaN) are left out of the blend
(normalised convolution: the weights of the known neighbours are renormalised), and a fine
point whose known neighbours hold less than half of the weight stays NaN, so a coast or a
gap keeps its place to within half a cell.
"""

from __future__ import annotations

import numpy as np


def fine_axis(centres: np.ndarray, factor: int) -> np.ndarray:
    """``factor`` points per coarse cell, evenly spread over the cells' full width (edges
    at the centres +- half a step), at the centres of the fine cells."""
    c = np.sort(np.asarray(centres, dtype=float))
    step = c[1] - c[0] if len(c) > 1 else 1.0
    n = len(c) * factor
    return c[0] - step / 2 + (np.arange(n) + 0.5) * step / factor


def _weights(centres: np.ndarray, fine: np.ndarray) -> np.ndarray:
    """``(n_fine, n_coarse)`` linear interpolation weights, edge values held outside."""
    c = np.asarray(centres, dtype=float)
    order = np.argsort(c)
    cs = c[order]
    w = np.zeros((len(fine), len(c)))
    if len(c) == 1:
        w[:, 0] = 1.0
        return w
    x = np.clip(fine, cs[0], cs[-1])
    hi = np.clip(np.searchsorted(cs, x, side="right"), 1, len(cs) - 1)
    lo = hi - 1
    t = (x - cs[lo]) / (cs[hi] - cs[lo])
    rows = np.arange(len(fine))
    w[rows, order[lo]] += 1 - t
    w[rows, order[hi]] += t
    return w


def refine(field: np.ndarray, lat: np.ndarray, lon: np.ndarray, factor: int = 8
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``field(lat, lon)`` (or ``(k, lat, lon)``) on a grid ``factor`` times finer: returns
    ``(fine_lat, fine_lon, fine_field)``, the fine axes ascending (module doc)."""
    values = np.asarray(field, dtype=float)
    flat = values.reshape((-1, *values.shape[-2:]))
    f_lat, f_lon = fine_axis(lat, factor), fine_axis(lon, factor)
    wy, wx = _weights(lat, f_lat), _weights(lon, f_lon)
    known = np.isfinite(flat)
    num = wy @ np.where(known, flat, 0.0) @ wx.T
    den = wy @ known.astype(float) @ wx.T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den >= 0.5, num / den, np.nan)
    return f_lat, f_lon, out.reshape((*values.shape[:-2], len(f_lat), len(f_lon)))
