"""The chance of onset by week k: the ensemble's estimate blended with climatology.

``p = w_k p_model + (1 - w_k) p_clim`` (ICPAC's onset outlooks: the ensemble blended with
climatology beats the raw ensemble), ``p_model`` the planting outlook's raw
``onset_by_week_expected`` (confirmed onsets plus candidates the forecast's end left
unchecked, :func:`sowcast.products.planting.expected_onset_by_week`: the probability the
blend is applied to), ``p_clim`` the climatological chance given no onset by
the issue date (:mod:`sowcast.products.onset_climatology`), its past onsets moved to this
year's ocean where the calibration has an ocean predictor (:mod:`.onset_ocean`). ``w_k`` in
0, 0.05, .., 1 minimises the Brier score over the training-year hindcast cases (every start
and point without an observed onset yet, :func:`sowcast.verify.reforecasts.onset_cases`),
pooled over the region.

Leave-one-year-out: each year's cases are scored with the weight chosen on the other years,
which gives the cross-validated Brier skill against climatology ``cv_bss``. Where it is not
positive the weight is 0: the outlook is the climatological one, and says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError

WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 4)


def _brier_by_weight(p: np.ndarray, pc: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Summed squared error of each blend weight in :data:`WEIGHTS`."""
    blend = WEIGHTS[:, None] * p[None] + (1 - WEIGHTS[:, None]) * pc[None]
    return ((blend - e[None]) ** 2).sum(-1)


def fit_onset_blend(cases: xr.Dataset) -> xr.Dataset:
    """Per ``week``: ``onset_blend_weight``, ``onset_cv_bss`` (cross-validated), ``onset_raw_bss``
    (the raw ensemble fraction against climatology on the same cases) and ``onset_n_cases``.

    ``cases``: ``observed`` (days since 1970), ``prob_by_week``, ``clim_prob_by_week`` on
    ``(start, point, week)``, as :func:`sowcast.verify.reforecasts.onset_cases` gives; with
    ``prior_prob_by_week`` (the climatology moved by the ocean, :mod:`.onset_ocean`), that is
    the climatology blended with and scored against.
    """
    years = pd.DatetimeIndex(cases["start"].values).year.values
    if np.unique(years).size < 2:
        raise SowcastError("the onset calibration needs hindcasts of at least 2 years")
    out = {k: [] for k in ("onset_blend_weight", "onset_cv_bss", "onset_raw_bss", "onset_n_cases")}
    start_days = cases["start"].values.astype("datetime64[ns]").astype(np.int64) / 86400e9
    prior = cases["prior_prob_by_week"] if "prior_prob_by_week" in cases else cases["clim_prob_by_week"]
    for k in cases["week"].values:
        p = cases["prob_by_week"].sel(week=k).transpose("start", ...).values.reshape(len(years), -1)
        pc = prior.sel(week=k).transpose("start", ...).values.reshape(len(years), -1)
        obs = cases["observed"].transpose("start", ...).values.reshape(len(years), -1)
        e = (np.isfinite(obs) & (obs <= start_days[:, None] + 7.0 * k)).astype(np.float64)
        ok = np.isfinite(p) & np.isfinite(pc)
        yr = np.broadcast_to(years[:, None], p.shape)[ok]
        p, pc, e = p[ok], pc[ok], e[ok]
        if p.size == 0:
            for key, value in zip(out, (0.0, np.nan, np.nan, 0), strict=True):
                out[key].append(value)
            continue
        cv_sq = 0.0
        for y in np.unique(yr):
            train, test = yr != y, yr == y
            w = WEIGHTS[int(np.argmin(_brier_by_weight(p[train], pc[train], e[train])))]
            cv_sq += float((((w * p[test] + (1 - w) * pc[test]) - e[test]) ** 2).sum())
        clim_sq = float(((pc - e) ** 2).sum())
        raw_sq = float(((p - e) ** 2).sum())
        cv_bss = 1.0 - cv_sq / clim_sq if clim_sq > 0 else np.nan
        w_all = WEIGHTS[int(np.argmin(_brier_by_weight(p, pc, e)))]
        out["onset_blend_weight"].append(float(w_all) if np.isfinite(cv_bss) and cv_bss > 0 else 0.0)
        out["onset_cv_bss"].append(cv_bss)
        out["onset_raw_bss"].append(1.0 - raw_sq / clim_sq if clim_sq > 0 else np.nan)
        out["onset_n_cases"].append(int(p.size))
    week = cases["week"].values
    attrs = {
        "onset_blend_weight": {"long_name": "weight of the ensemble's onset-by-week probability against the "
                                            "climatological one (0: climatology)", "units": "1"},
        "onset_cv_bss": {"long_name": "leave-one-year-out Brier skill score of the blended onset-by-week "
                                      "probability against climatology", "units": "1"},
        "onset_raw_bss": {"long_name": "Brier skill score of the raw ensemble fraction against climatology "
                                       "(training-year hindcasts)", "units": "1"},
        "onset_n_cases": {"long_name": "start and point cases with no onset observed by the start"},
    }
    return xr.Dataset({k: ("week", np.asarray(v, np.float64 if k != "onset_n_cases" else np.int64), attrs[k])
                       for k, v in out.items()}, coords={"week": week})


def blend(p_model: xr.DataArray, p_clim: xr.DataArray, weight: xr.DataArray) -> xr.DataArray:
    """``w p_model + (1 - w) p_clim`` per week, non-decreasing over the weeks; where the
    climatology is unknown (NaN) the model's value is kept."""
    mixed = weight * p_model + (1 - weight) * p_clim
    return _cummax(xr.where(p_clim.notnull(), mixed, p_model))


def blend_weights(calibration: xr.Dataset, weeks) -> xr.DataArray:
    """The fitted ``onset_blend_weight`` on ``weeks``; 0 (climatology) beyond the fitted weeks."""
    return calibration["onset_blend_weight"].reindex(week=np.asarray(weeks), fill_value=0.0)


def calibrated_onset_probability(p_model: xr.DataArray, p_clim: xr.DataArray, calibration: xr.Dataset) -> xr.DataArray:
    """:func:`blend` with the fitted weights, kept within ``[floor, 1 - floor]``
    (``calibration.attrs["probability_floor"]``): the rule of products and verification."""
    floor = float(calibration.attrs.get("probability_floor", 0.02))
    weight = blend_weights(calibration, p_model["week"].values)
    return blend(p_model, p_clim, weight).clip(floor, 1 - floor)


def _cummax(da: xr.DataArray) -> xr.DataArray:
    axis = da.get_axis_num("week")
    values = np.asarray(da.values, np.float64)
    filled = np.where(np.isfinite(values), values, -np.inf)
    out = np.maximum.accumulate(filled, axis=axis)
    return da.copy(data=np.where(np.isfinite(values), out, np.nan))
