"""How sure a skill score is: a bootstrap over years.

A skill score of mean scores, ``skill = 1 - mean(s) / mean(r)`` (area-weighted, over starts and
points), is ``1 - S / R`` with ``S = sum_y S_y`` and ``R = sum_y R_y`` the weighted sums of
each year ``y``'s starts (the weights cancel). The starts of one year share its ocean and
its season, so they are not independent draws: the years are resampled as blocks (the block
bootstrap, Wilks 2011, "Statistical Methods in the Atmospheric Sciences", 3rd ed., 5.3.5;
the moving-block choice for dependent data, Kunsch 1989), ``draws`` times with replacement,
each draw's skill ``1 - sum_y c_y S_y / sum_y c_y R_y`` with ``c`` the times year ``y`` was
drawn. The interval is the draws' central ``level`` (the percentile bootstrap, Efron and
Tibshirani 1993, ch. 13). With few years it is wide, as it should be: with two, it runs
between the two years' own skills; with one there is none (NaN). Seeded, so a scorecard is the same each time it is made.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from sowcast.verify.weights import lat_weights, paired

LEVEL = 0.9          # the central 90 %: 5th to 95th percentile
DRAWS = 2000
SEED = 20_251_207


def year_sums(score: xr.DataArray, reference: xr.DataArray, dims: Sequence[Hashable],
              start_dim: str = "start") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(years, S [Y, ...], R [Y, ...])``: the area-weighted sums of ``score`` and
    ``reference`` over ``dims`` for each year of ``start_dim`` (the other dimensions kept, e.g.
    ``period``), on the points where both are finite."""
    s, r = paired(score, reference)
    w = np.isfinite(s) * (lat_weights(s["lat"]) if "lat" in dims else 1.0)
    years = s[start_dim].dt.year
    over = list(dims)

    def by_year(x: xr.DataArray) -> xr.DataArray:
        return (w * x.fillna(0.0)).groupby(years).sum(over).transpose("year", ...)

    ws, wr = by_year(s), by_year(r)
    return ws["year"].values, ws.values, wr.values


def by_year(numerator: xr.DataArray, denominator: xr.DataArray | None, dims: Sequence[Hashable],
            skill: bool = False, start_dim: str = "start") -> xr.DataArray:
    """Each year's own figure, ``[year, ...]``: its weighted mean of ``numerator`` (``denominator``
    None), or, with ``skill``, its ``1 - mean(numerator) / mean(denominator)``; what the
    intervals resample."""
    if denominator is None:
        denominator = xr.ones_like(numerator, dtype=float)
    years, num, den = year_sums(numerator, denominator, dims, start_dim)
    kept = [d for d in numerator.dims if d not in dims]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    coords = {"year": years, **{d: numerator[d] for d in kept if d in numerator.coords}}
    return xr.DataArray(1.0 - ratio if skill else ratio, dims=["year", *kept], coords=coords)


def skill_interval(score: xr.DataArray, reference: xr.DataArray, dims: Sequence[Hashable],
                   level: float = LEVEL, draws: int = DRAWS, seed: int = SEED,
                   start_dim: str = "start") -> tuple[xr.DataArray, xr.DataArray]:
    """The ``level`` interval ``(low, high)`` of ``1 - mean(score) / mean(reference)`` over
    ``dims`` by the year-block bootstrap (module doc); the dimensions not in ``dims`` are kept
    (one interval per period). NaN with fewer than 2 years, and where a draw's reference sum is 0."""
    low, high = _ratio_interval(score, reference, dims, level, draws, seed, start_dim)
    return 1.0 - high, 1.0 - low


def mean_interval(values: xr.DataArray, dims: Sequence[Hashable], level: float = LEVEL, draws: int = DRAWS,
                  seed: int = SEED, start_dim: str = "start") -> tuple[xr.DataArray, xr.DataArray]:
    """The ``level`` interval of the (area-weighted, finite) mean of ``values`` over ``dims``,
    by the same bootstrap: ``sum_y c_y S_y / sum_y c_y W_y`` with ``W_y`` the year's weights."""
    return _ratio_interval(values, xr.ones_like(values, dtype=float), dims, level, draws, seed, start_dim)


def _ratio_interval(numerator: xr.DataArray, denominator: xr.DataArray, dims: Sequence[Hashable], level: float,
                    draws: int, seed: int, start_dim: str) -> tuple[xr.DataArray, xr.DataArray]:
    """The percentile interval of ``sum_y c_y N_y / sum_y c_y D_y`` over the draws ``c``."""
    years, num, den = year_sums(numerator, denominator, dims, start_dim)
    kept = [d for d in numerator.dims if d not in dims]
    coords = {d: numerator[d] for d in kept if d in numerator.coords}
    if len(years) < 2:   # one year (or none) says nothing about how the score varies between years
        nan = xr.DataArray(np.full([numerator.sizes[d] for d in kept], np.nan), dims=kept, coords=coords)
        return nan, nan
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(years), np.full(len(years), 1.0 / len(years)), size=draws)   # [draws, Y]
    n_draw = np.tensordot(counts, num, axes=(1, 0))
    d_draw = np.tensordot(counts, den, axes=(1, 0))
    ratio = np.where(d_draw != 0, n_draw / np.where(d_draw != 0, d_draw, 1.0), np.nan)
    tail = 100.0 * (1.0 - level) / 2.0
    with warnings.catch_warnings():   # a period with no finite draw is NaN, as its score is
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(ratio, [tail, 100.0 - tail], axis=0)
    return xr.DataArray(low, dims=kept, coords=coords), xr.DataArray(high, dims=kept, coords=coords)
