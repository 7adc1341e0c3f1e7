"""Scores of an ensemble forecast: CRPS (fair and plain), spread/skill ratio, ensemble-mean RMSE.

The ensemble has a member dimension (``member`` by default) that the truth lacks. A
forecast counts at a point only where the truth and every member are finite (an ensemble
with a missing member is not the forecast that was issued); ``dims`` are then reduced with
:func:`sowcast.verify.weights.weighted_mean`, NaN points skipped. ``dims=None`` in
:func:`crps_ensemble` keeps the score per point.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.verify.deterministic import rmse
from sowcast.verify.weights import Dims, aligned, as_float, weighted_mean


def n_members(forecast: xr.DataArray, member_dim: str = "member", minimum: int = 1) -> int:
    """Ensemble size ``M``; fewer than ``minimum`` members is a :class:`SowcastError`."""
    if member_dim not in forecast.dims:
        raise SowcastError(f"the forecast has no member dimension {member_dim!r} (it has {list(forecast.dims)})")
    m = forecast.sizes[member_dim]
    if m < minimum:
        raise SowcastError(f"this score needs an ensemble of at least {minimum} members, got {m}")
    return m


def _valid_ensemble(forecast: xr.DataArray, truth: xr.DataArray, member_dim: str):
    """Forecast and truth as aligned floats, and where the truth and all members are finite."""
    forecast, truth = aligned(as_float(forecast), as_float(truth))
    valid = np.isfinite(forecast).all(member_dim) & np.isfinite(truth)
    return forecast, truth, valid


def crps_ensemble(forecast: xr.DataArray, truth: xr.DataArray, member_dim: str = "member",
                  fair: bool = True, dims: Dims = None) -> xr.DataArray:
    """Continuous ranked probability score of an ensemble ``x_1..x_M`` against ``y``::

        CRPS = (1/M) sum_i |x_i - y|  -  sum_i sum_j |x_i - x_j| / (2 K)

    ``fair=True``: ``K = M(M - 1)``, the fair CRPS (Ferro 2014 QJRMS; WeatherBench 2's
    "CRPS with the spread term corrected"): an unbiased estimate of the CRPS the ensemble's
    parent distribution would get, so ensembles of different sizes compare fairly; it needs
    ``M >= 2``. ``fair=False``: ``K = M^2``, the CRPS of the ensemble's empirical CDF.
    Example: members {0, 2}, y = 1: plain 1 - 4/8 = 0.5, fair 1 - 4/4 = 0.

    The double sum uses the sorted members, ``sum_ij |x_i - x_j| = 2 sum_i (2i - M - 1) x_(i)``.
    Returns the score per point if ``dims`` is None, else its mean over ``dims``.
    """
    m = n_members(forecast, member_dim, minimum=2 if fair else 1)
    forecast, truth, valid = _valid_ensemble(forecast, truth, member_dim)
    skill = abs(forecast - truth).mean(member_dim)
    ordered = xr.apply_ufunc(np.sort, forecast.drop_vars(member_dim, errors="ignore"),
                             input_core_dims=[[member_dim]], output_core_dims=[[member_dim]],
                             kwargs={"axis": -1})
    rank_weight = xr.DataArray(2.0 * np.arange(1, m + 1) - m - 1, dims=member_dim)
    pair_sum = 2.0 * (ordered * rank_weight).sum(member_dim)
    k = m * (m - 1) if fair else m * m
    score = (skill - pair_sum / (2.0 * k)).where(valid)
    return score if dims is None else weighted_mean(score, dims)


def ensemble_mean_rmse(forecast: xr.DataArray, truth: xr.DataArray, dims: Dims,
                       member_dim: str = "member") -> xr.DataArray:
    """RMSE of the ensemble mean, ``sqrt(mean_w((mean_i x_i - y)^2))`` over ``dims``."""
    n_members(forecast, member_dim)
    forecast, truth, valid = _valid_ensemble(forecast, truth, member_dim)
    return rmse(forecast.mean(member_dim).where(valid), truth, dims)


def spread_skill_ratio(forecast: xr.DataArray, truth: xr.DataArray, dims: Dims,
                       member_dim: str = "member") -> xr.DataArray:
    """Spread/skill ratio (WeatherBench 2; Fortin et al. 2014 MWR; Leutbecher & Palmer 2008)::

        SSR = sqrt((M + 1)/M * mean_w(s^2)) / sqrt(mean_w((xbar - y)^2))

    with ``s^2`` the unbiased (ddof = 1) ensemble variance and ``xbar`` the ensemble mean,
    both averaged over ``dims`` on the same points. For a reliable ensemble the ensemble-mean
    error variance is ``(M + 1)/M`` times the mean ensemble variance, so SSR is 1; below 1
    the ensemble is under-dispersive. Needs ``M >= 2``.
    """
    m = n_members(forecast, member_dim, minimum=2)
    forecast, truth, valid = _valid_ensemble(forecast, truth, member_dim)
    variance = forecast.var(member_dim, ddof=1).where(valid)
    error2 = ((forecast.mean(member_dim) - truth) ** 2).where(valid)
    spread = np.sqrt((m + 1) / m * weighted_mean(variance, dims))
    return spread / np.sqrt(weighted_mean(error2, dims))
