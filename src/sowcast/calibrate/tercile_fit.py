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
the same samples (``raw_rpss``: the fair RPS of its members, against the same LOYO
climatology) for the note and the bulletin: raw and calibrated side by side.

5. The members' own information is kept (:func:`blend_weight`): the issued probabilities are
   ``w P + (1 - w) Q``, ``P`` the member fractions, ``Q`` the ELR (or climatological)
   probabilities of 1-4, ``w`` in [0, 1] the weight that minimises the expected RPS of a
   forecast of ``M'`` members (the forecast's own count) on the training-year starts pooled
   over the neighbourhood. With ``a = P - Q``, ``b = Q - O`` on the cumulative categories and
   ``M`` the hindcasts' members, the sums ``A = sum(a^2) - V``, ``B = sum(a b)`` and ``S = M V``
   with ``V = sum(P (1 - P)) / (M - 1)`` are unbiased for an infinite ensemble (the fair-score
   correction, Ferro 2014), and ``w = clip(-B / (A + S / M'), 0, 1)`` (where the curvature
   ``A + S / M'`` is positive; else the better of 0 and 1): a few members get less
   weight than many, and a raw ensemble with no information gets none. The floor of step 4
   is applied last, so no category is ever certain. The sums are kept per point (over its
   neighbourhood); :func:`member_weight` pools them over the whole domain, one weight per
   period (``calibration.nc`` attribute ``<var>_tercile_member_weight: domain``), or uses each
   point's own (``point``, the rule before 2026-12-06, and of files without the attribute).
   Chosen per variable on the demo's training years (their hindcasts made again with 32
   members, scored with all 32 and with 4 of them; benchmarks/tercile_blend_weight.py): for
   rain the point weights, fitted on 2-member hindcasts, were noisy enough to cost skill
   (domain RPSS +0.125 / +0.013 / +0.016 / +0.014 at weeks 1 / 2 / 3-4 / 5-6 against +0.074 /
   +0.013 / +0.007 / +0.001 at 32 members; +0.030 / +0.003 / -0.001 / -0.001 against +0.022 /
   +0.002 / -0.005 / -0.005 at 4), so rain is ``domain``; 2 m temperature keeps ``point``
   (at 32 members +0.154 / +0.028 / +0.010 / +0.002 against the domain's +0.153 / +0.000 /
   -0.001 / -0.010, though at 4 members the domain's were higher).
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
    """``(ensemble mean - climatological mean) / climatological std``; 0 where the std is 0.

    A std of 0 is a model that gave the same value in every hindcast of that start day,
    period and point (a model bounded at 0 mm that never rains there then): its ensemble
    mean carries no anomaly the hindcasts could calibrate, so the regression is taken at
    ``z = 0`` (close to the climatological odds) rather than left out. Left out (NaN), the
    products issued no probability there and the scorecard scored the calibrated
    probabilities on fewer points than the raw ones (the demo's 2026-12-03 run: +0.15 at
    week 1 on the points kept, +0.02 on all the issued points)."""
    std = np.asarray(clim_std, np.float64)
    mean = np.asarray(ensemble_mean, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (mean - clim_mean) / std, 0.0)
    return np.where(np.isfinite(mean) & np.isfinite(clim_mean) & np.isfinite(std), z, np.nan)


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


def _cumulative(p: np.ndarray) -> np.ndarray:
    return np.cumsum(np.asarray(p, np.float64), axis=-1)[..., :2]


def _raw_rps(raw_prob: np.ndarray, category: np.ndarray, members: int | None) -> np.ndarray:
    """RPS of member fractions: fair (Ferro 2014: less ``sum_k P_k (1 - P_k) / (M - 1)``, so a
    2-member hindcast is judged as the ensemble it samples) when ``members`` >= 2, else plain."""
    score = tr.rps(raw_prob, category)
    if members is None or members < 2:
        return score
    p = _cumulative(raw_prob)
    return score - (p * (1 - p)).sum(-1) / (members - 1)


def blend_sums(raw_prob: np.ndarray, calibrated: np.ndarray, category: np.ndarray, members: int,
               where: np.ndarray) -> dict[str, np.ndarray]:
    """Per point sums over ``start`` (axis 0) of step 5 of the module doc: ``blend_a``,
    ``blend_b``, ``blend_s``, from member fractions of ``members`` hindcast members."""
    if members < 2:
        raise SowcastError("the blend of member fractions needs hindcasts of at least 2 members")
    cat = np.asarray(category)
    obs = np.stack([cat <= 0, cat <= 1], axis=-1).astype(np.float64)
    p, q = _cumulative(raw_prob), _cumulative(calibrated)
    a, b = p - q, q - obs
    v = p * (1 - p) / (members - 1)
    keep = where[..., None]
    total = {k: np.where(keep, x, 0.0).sum((0, -1)) for k, x in (("a2", a * a), ("ab", a * b), ("v", v))}
    return {"blend_a": total["a2"] - total["v"], "blend_b": total["ab"], "blend_s": members * total["v"]}


def blend_weight(blend_a, blend_b, blend_s, members: int):
    """The ``w`` in [0, 1] that minimises ``f(w) = (A + S / M') w^2 + 2 B w`` for a forecast of
    ``members`` (``M'``): ``clip(-B / (A + S / M'), 0, 1)`` where the curvature is positive,
    else the better end (module doc, step 5); 0 where a sum is unknown."""
    if members < 1:
        raise SowcastError("a forecast needs at least 1 member")
    a, b, s = (np.asarray(x, np.float64) for x in (blend_a, blend_b, blend_s))
    curvature = a + s / members
    with np.errstate(invalid="ignore", divide="ignore"):
        inside = np.clip(np.where(curvature > 0, -b / curvature, 0.0), 0.0, 1.0)
    candidates = np.stack([np.zeros_like(inside), inside, np.ones_like(inside)])
    cost = curvature * candidates**2 + 2 * b * candidates
    w = np.take_along_axis(candidates, np.nanargmin(np.where(np.isfinite(cost), cost, np.inf), axis=0)[None], 0)[0]
    return np.where(np.isfinite(curvature) & np.isfinite(b), w, 0.0)


def fit_tercile_calibration(z: np.ndarray, category: np.ndarray, raw_prob: np.ndarray, years: np.ndarray,
                            neighbourhood: int = 2, ridge: float = 1.0, floor: float = 0.02,
                            members: int | None = None) -> dict[str, np.ndarray]:
    """The module's fit for one period: ``z``, ``category`` ``(start, lat, lon)``, the raw
    member-fraction probabilities ``raw_prob (start, lat, lon, 3)`` of ``members`` hindcast
    members, ``years (start,)``.

    Returns arrays on ``(lat, lon)``: ``theta_lower``, ``theta_upper``, ``slope``,
    ``cv_rpss``, ``cv_rpss_equal_odds``, ``raw_rpss``, ``skillful``, ``n_samples``, the
    neighbourhood sums of the blend ``blend_a``, ``blend_b``, ``blend_s`` (with ``members``
    of at least 2), and the point's own summed RPS (not pooled; for area totals) ``rps_cv``,
    ``rps_climatology``, ``rps_equal_odds``, ``rps_raw``, ``rps_climatology_raw`` (over the
    samples the raw forecast has).
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
           "rps_raw": summed(_raw_rps(np.where(raw_known[..., None], raw_prob, 1 / 3), cat, members), raw_known),
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
    blend = {}
    if members is not None and members >= 2:
        # what the forecast would have issued without the members: the CV ELR where skilful,
        # the LOYO climatological frequencies elsewhere (unbounded: the floor comes last)
        q = np.where(skillful[None, ..., None], tr.probabilities(params_loyo[year_index], z), p_clim)
        sums = blend_sums(np.where(raw_known[..., None], raw_prob, 0.0), q, cat, members, raw_known)
        blend = {k: box_sum(v, neighbourhood, axes=(0, 1)) for k, v in sums.items()}
    return {"theta_lower": params[..., 0], "theta_upper": params[..., 1], "slope": params[..., 2],
            "cv_rpss": cv_rpss, "cv_rpss_equal_odds": cv_equal, "raw_rpss": raw_rpss,
            "skillful": skillful.astype(np.int8), "n_samples": n, **blend, **own}


MEMBER_WEIGHTS = ("domain", "point")   # calibration.nc's tercile_member_weight (module doc, step 5)


def member_weight(params: xr.Dataset, var: str, members: int | None) -> xr.DataArray | None:
    """The blend weight ``w (period, lat, lon)`` of the member fractions of a ``members``-member
    forecast (step 5 of the module doc): one per period from the sums pooled over the domain
    where ``params.attrs["<var>_tercile_member_weight"]`` is ``domain`` (the points'
    neighbourhood sums added: an interior point's samples count ``(2r+1)^2`` times, an edge
    point's fewer), else each point's own; 0 where a point has no sums. None for a
    calibration without the blend sums."""
    sums = [f"{var}_tercile_blend_{k}" for k in ("a", "b", "s")]
    if members is None or not all(k in params for k in sums):
        return None
    pooling = str(params.attrs.get(f"{var}_tercile_member_weight", "point"))
    if pooling not in MEMBER_WEIGHTS:
        raise SowcastError(f"the calibration's {var}_tercile_member_weight is {pooling!r}, not one of "
                           f"{', '.join(MEMBER_WEIGHTS)}")
    known = np.isfinite(np.stack([params[k].values for k in sums])).all(0)
    if pooling == "domain":
        space = [d for d in ("lat", "lon") if d in params[sums[0]].dims]
        pooled = [params[k].sum(space).broadcast_like(params[k]).values for k in sums]
        w = np.where(known, blend_weight(*pooled, members), 0.0)
    else:
        w = blend_weight(*(params[k].values for k in sums), members)
    out = xr.DataArray(w, dims=params[sums[0]].dims, coords=params[sums[0]].coords)
    out.attrs = {"long_name": f"weight of the member fractions of a {members}-member forecast in the calibrated "
                              "tercile probabilities", "units": "1"}
    return out


def calibrated_probabilities(params: xr.Dataset, var: str, ensemble_mean: xr.DataArray, clim: xr.Dataset,
                             floor: float, raw: xr.DataArray | None = None,
                             weight: xr.DataArray | None = None) -> xr.DataArray:
    """Calibrated tercile probabilities ``(category, ..., period, lat, lon)`` (float64) from the
    ensemble mean ``(..., period, lat, lon)`` (one forecast, or a ``start`` dim of many), the
    model climatology at each start day (``<var>_mean``, ``<var>_std`` on the same dims) and
    the fitted parameters in ``params`` ``(period, lat, lon)`` on the same periods and grid.
    With the member fractions ``raw`` (dims of ``ensemble_mean`` plus ``category``) and their
    blend ``weight`` (:func:`member_weight` for the ensemble's size), step 5 of the module doc."""
    theta = np.stack([params[f"{var}_tercile_{k}"].transpose("period", "lat", "lon").values
                      for k in ("theta_lower", "theta_upper", "slope")], axis=-1)
    mean = ensemble_mean.transpose(..., "period", "lat", "lon")
    z = standardised_anomaly(mean.values, clim[f"{var}_mean"].transpose(*mean.dims).values,
                             clim[f"{var}_std"].transpose(*mean.dims).values)
    p = tr.probabilities(theta, z)
    if raw is not None and weight is not None:
        w = weight.transpose("period", "lat", "lon").values
        r = raw.transpose(*mean.dims, "category").values
        p = np.where(np.isfinite(r).all(-1, keepdims=True), w[..., None] * r + (1 - w[..., None]) * p, p)
    p = tr.bounded(p, floor)
    p = np.where(np.isfinite(p).all(-1, keepdims=True), p, np.nan)
    out = xr.DataArray(np.moveaxis(p, -1, 0), dims=("category", *mean.dims),
                       coords={"category": list(CATEGORIES), **{d: mean[d] for d in mean.dims}})
    out.attrs = {"long_name": "calibrated probability of the tercile category (extended logistic regression on "
                              "the ensemble-mean anomaly; climatological frequencies where it showed no "
                              "cross-validated skill; blended with the member fractions by their fitted weight)",
                 "units": "1",
                 "comment": f"kept within [{floor:g}, {1 - 2 * floor:g}]"}
    return out
