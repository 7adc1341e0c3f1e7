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
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from sowcast.verify.weights import lat_weights, paired

LEVEL = 0.9          # the central 90 %: 5th to 95th percentile
DRAWS = 2000
SEED = 20_251_207


@dataclass(frozen=True)
class YearSums:
    """Each year's weighted sums of a numerator and a denominator (``[year, ...]``, the other
    dimensions kept, e.g. ``period``): a mean is ``N / D`` (D the weights), a skill score
    ``1 - N / D`` (N, D the score's and the reference's sums). Made once per score, they give
    each year's own figure and the interval."""

    years: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    kept: list[Hashable]
    coords: dict[Hashable, Any]

    def per_year(self, skill: bool = False) -> xr.DataArray:
        """Each year's own mean (or, with ``skill``, skill score)."""
        ratio = _ratio(self.numerator, self.denominator)
        return xr.DataArray(1.0 - ratio if skill else ratio, dims=["year", *self.kept],
                            coords={"year": self.years, **self.coords})

    def interval(self, skill: bool = False, level: float = LEVEL, draws: int = DRAWS,
                 seed: int = SEED) -> tuple[xr.DataArray, xr.DataArray]:
        """The ``level`` interval ``(low, high)`` of the mean (or skill score) over all years, by
        the year-block bootstrap (module doc); NaN with fewer than 2 years, and where a draw's
        denominator is 0."""
        if len(self.years) < 2:   # one year (or none) says nothing about how the score varies between years
            nan = np.full(self.numerator.shape[1:], np.nan)
            return (xr.DataArray(nan, dims=self.kept, coords=self.coords),) * 2
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(len(self.years), np.full(len(self.years), 1.0 / len(self.years)), size=draws)
        ratio = _ratio(np.tensordot(counts, self.numerator, axes=(1, 0)),
                       np.tensordot(counts, self.denominator, axes=(1, 0)))
        tail = 100.0 * (1.0 - level) / 2.0
        with warnings.catch_warnings():   # a period with no finite draw is NaN, as its score is
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanpercentile(ratio, [tail, 100.0 - tail], axis=0)
        if skill:
            low, high = 1.0 - high, 1.0 - low
        return (xr.DataArray(low, dims=self.kept, coords=self.coords),
                xr.DataArray(high, dims=self.kept, coords=self.coords))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


def year_sums(numerator: xr.DataArray, denominator: xr.DataArray | None, dims: Sequence[Hashable],
              start_dim: str = "start") -> YearSums:
    """The area-weighted sums of ``numerator`` and ``denominator`` (None: the weights, for a
    mean) over ``dims`` for each year of ``start_dim``, on the points where both are finite."""
    if denominator is None:
        denominator = xr.ones_like(numerator, dtype=float)
    s, r = paired(numerator, denominator)
    w = np.isfinite(s) * (lat_weights(s["lat"]) if "lat" in dims else 1.0)
    years = s[start_dim].dt.year
    over = list(dims)

    def summed(x: xr.DataArray) -> xr.DataArray:
        return (w * x.fillna(0.0)).groupby(years).sum(over).transpose("year", ...)

    ws, wr = summed(s), summed(r)
    kept = [d for d in numerator.dims if d not in dims]
    return YearSums(ws["year"].values, ws.values, wr.values, kept,
                    {d: numerator[d] for d in kept if d in numerator.coords})
