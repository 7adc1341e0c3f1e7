"""Fit and apply the tercile calibration of one variable: ELR per grid point, pooled over a
neighbourhood, with leave-one-year-out skill and a fall-back to climatology.

For each period and grid point (:mod:`.tercile_regression`):

1. ``z``: the hindcast ensemble-mean anomaly over the model climatology's std at that start
   day and lead; the observed category against the observed climatology's terciles (the rule
   of :mod:`sowcast.verify.categorical`: a value on a bound is near normal).
2. Counts of (z bin, category) of every training-year start, summed over the
   ``(2r+1) x (2r+1)`` cells around the point (``neighbourhood`` r; cells outside the grid
   add nothing): a few years of starts are too few for one point alone.
3. Leave-one-year-out (LOYO): for each year, the fit on the other years predicts that year's
   starts; the cross-validated RPS, pooled over the same neighbourhood, against the RPS of
   the LOYO climatological frequencies gives ``cv_rpss`` (> 0: the calibrated forecast beat
   climatology on years it had not seen). The same CV probabilities scored against equal
   odds give ``cv_rpss_equal_odds``, the reference that ``sowcast verify`` uses.
4. Where ``cv_rpss > 0`` the parameters are the fit on all years; elsewhere the slope is 0
   and the forecast is the climatological frequency of each category (``skillful`` = 0): no
   signal is printed where the hindcasts show none (IRI's maprooms mask such regions).

The raw forecast (member fractions against the model climatology's terciles) is scored on
the same samples (``raw_rpss``, against the same LOYO climatology) for the note and the
bulletin: raw and calibrated side by side.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.calibrate import tercile_regression as tr
from sowcast.errors import SowcastError
from sowcast.verify.categorical import CATEGORIES


def categories(values: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """0 below (< lower), 1 near (bounds included), 2 above (> upper); -1 where unknown."""
    v, lo, up = (np.asarray(a, np.float64) for a in (values, lower, upper))
    known = np.isfinite(v) & np.isfinite(lo) & np.isfinite(up)
    code = np.where(v < lo, 0, np.where(v > up, 2, 1))
    return np.where(known, code, -1).astype(np.int64)


def standardised_anomaly(ensemble_mean: np.ndarray, clim_mean: np.ndarray, clim_std: np.ndarray) -> np.ndarray:
    """``(ensemble mean - climatological mean) / climatological std``; NaN where the std is 0."""
    std = np.asarray(clim_std, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, (np.asarray(ensemble_mean, np.float64) - clim_mean) / std, np.nan)


def box_sum(a: np.ndarray, radius: int, axes: tuple[int, int]) -> np.ndarray:
    """Sum of ``a`` over the ``(2r+1)^2`` cells around each cell of the two ``axes``."""
    if radius <= 0:
        return a.copy()
    out = np.zeros_like(a)
    n0, n1 = a.shape[axes[0]], a.shape[axes[1]]
    for d0 in range(-radius, radius + 1):
        for d1 in range(-radius, radius + 1):
            src = [slice(None)] * a.ndim
            dst = [slice(None)] * a.ndim
            src[axes[0]], dst[axes[0]] = slice(max(d0, 0), n0 + min(d0, 0)), slice(max(-d0, 0), n0 + min(-d0, 0))
            src[axes[1]], dst[axes[1]] = slice(max(d1, 0), n1 + min(d1, 0)), slice(max(-d1, 0), n1 + min(-d1, 0))
            out[tuple(dst)] += a[tuple(src)]
    return out


def _climatological_params(counts: np.ndarray, ridge: float) -> np.ndarray:
    """The slope-0 fit: all counts put in the z = 0 bin (the frequencies, shrunk by the prior)."""
    at_zero = np.zeros_like(counts)
    at_zero[..., tr.N_BINS // 2, :] = counts.sum(-2)
    params = tr.fit(at_zero, ridge)
    params[..., 2] = 0.0
    return params


def fit_tercile_calibration(z: np.ndarray, category: np.ndarray, raw_prob: np.ndarray, years: np.ndarray,
                            neighbourhood: int = 2, ridge: float = 1.0, floor: float = 0.02) -> dict[str, np.ndarray]:
    """The module's fit for one period: ``z``, ``category`` ``(start, lat, lon)``, the raw
    member-fraction probabilities ``raw_prob (start, lat, lon, 3)``, ``years (start,)``.

    Returns arrays on ``(lat, lon)``: ``theta_lower``, ``theta_upper``, ``slope``,
    ``cv_rpss``, ``cv_rpss_equal_odds``, ``raw_rpss``, ``skillful``, ``n_samples``, and the
    point's own summed RPS (not pooled; for area totals) ``rps_cv``, ``rps_climatology``,
    ``rps_equal_odds``, ``rps_raw``, ``rps_climatology_raw`` (over the samples the raw
    forecast has).
    """
    z = np.asarray(z, np.float64)
    category = np.asarray(category, np.int64)
    n_start, *space = z.shape
    years = np.asarray(years)
    year_values = np.unique(years)
    if year_values.size < 2:
        raise SowcastError(f"the tercile calibration needs hindcasts of at least 2 years for its "
                           f"leave-one-year-out check; got {year_values.size}")
    per_year = np.stack([tr.bin_counts(z[years == y], category[years == y], tuple(space)) for y in year_values])
    pooled = box_sum(per_year, neighbourhood, axes=(1, 2))                      # (Y, lat, lon, B, 3)
    total = pooled.sum(0)
    loyo = total[None] - pooled
    params_loyo = tr.fit(loyo, ridge)
    clim_loyo = _climatological_params(loyo, ridge)
    year_index = np.searchsorted(year_values, years)
    p_cv = tr.bounded(tr.probabilities(params_loyo[year_index], z), floor)       # (start, lat, lon, 3)
    p_clim = tr.probabilities(clim_loyo[year_index], np.zeros_like(z))
    known = (category >= 0) & np.isfinite(z)
    cat = np.where(known, category, -1)
    raw_known = known & np.isfinite(raw_prob).all(-1)

    def summed(score: np.ndarray, where: np.ndarray) -> np.ndarray:
        return np.where(where, score, 0.0).sum(0)

    own = {"rps_cv": summed(tr.rps(p_cv, cat), known), "rps_climatology": summed(tr.rps(p_clim, cat), known),
           "rps_equal_odds": summed(tr.rps(np.full(p_cv.shape, 1 / 3), cat), known),
           "rps_raw": summed(tr.rps(np.where(raw_known[..., None], raw_prob, 1 / 3), cat), raw_known),
           "rps_climatology_raw": summed(tr.rps(p_clim, cat), raw_known)}
    s_cv, s_clim, s_equal, s_raw, s_clim_raw = (box_sum(own[k], neighbourhood, axes=(0, 1)) for k in
                                                ("rps_cv", "rps_climatology", "rps_equal_odds", "rps_raw",
                                                 "rps_climatology_raw"))
    with np.errstate(invalid="ignore", divide="ignore"):
        cv_rpss = np.where(s_clim > 0, 1.0 - s_cv / s_clim, np.nan)
        cv_equal = np.where(s_equal > 0, 1.0 - s_cv / s_equal, np.nan)
        raw_rpss = np.where(s_clim_raw > 0, 1.0 - s_raw / s_clim_raw, np.nan)
    skillful = np.isfinite(cv_rpss) & (cv_rpss > 0)
    params = np.where(skillful[..., None], tr.fit(total, ridge), _climatological_params(total, ridge))
    n = total.sum((-1, -2))
    params = np.where((n > 0)[..., None], params, np.nan)
    return {"theta_lower": params[..., 0], "theta_upper": params[..., 1], "slope": params[..., 2],
            "cv_rpss": cv_rpss, "cv_rpss_equal_odds": cv_equal, "raw_rpss": raw_rpss,
            "skillful": skillful.astype(np.int8), "n_samples": n, **own}


def calibrated_probabilities(params: xr.Dataset, var: str, ensemble_mean: xr.DataArray, clim: xr.Dataset,
                             floor: float) -> xr.DataArray:
    """Calibrated tercile probabilities ``(category, ..., period, lat, lon)`` (float64) from the
    ensemble mean ``(..., period, lat, lon)`` (one forecast, or a ``start`` dim of many), the
    model climatology at each start day (``<var>_mean``, ``<var>_std`` on the same dims) and
    the fitted parameters in ``params`` ``(period, lat, lon)`` on the same periods and grid."""
    theta = np.stack([params[f"{var}_tercile_{k}"].transpose("period", "lat", "lon").values
                      for k in ("theta_lower", "theta_upper", "slope")], axis=-1)
    mean = ensemble_mean.transpose(..., "period", "lat", "lon")
    z = standardised_anomaly(mean.values, clim[f"{var}_mean"].transpose(*mean.dims).values,
                             clim[f"{var}_std"].transpose(*mean.dims).values)
    p = tr.bounded(tr.probabilities(theta, z), floor)
    p = np.where(np.isfinite(p).all(-1, keepdims=True), p, np.nan)
    out = xr.DataArray(np.moveaxis(p, -1, 0), dims=("category", *mean.dims),
                       coords={"category": list(CATEGORIES), **{d: mean[d] for d in mean.dims}})
    out.attrs = {"long_name": "calibrated probability of the tercile category (extended logistic regression on "
                              "the ensemble-mean anomaly; climatological frequencies where it showed no "
                              "cross-validated skill)", "units": "1",
                 "comment": f"kept within [{floor:g}, {1 - 2 * floor:g}]"}
    return out
