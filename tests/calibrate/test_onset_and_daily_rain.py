"""Onset-by-week blend weights and daily-rain quantile mapping on constructed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.calibrate.daily_rain import fit_daily_rain_quantiles, lead_week, map_daily_rain
from sowcast.calibrate.onset_blend import blend, fit_onset_blend


def _cases(rng, informative: bool, years=range(2001, 2009), starts_per_year=4, points=30) -> xr.Dataset:
    """Cases with an observed onset 1..60 days after each start; the model's probability of
    "onset by week k" knows the truth (informative) or is noise; climatology is uniform."""
    starts = pd.DatetimeIndex([pd.Timestamp(f"{y}-05-{1 + 7 * i:02d}") for y in years for i in range(starts_per_year)])
    s_days = (starts - pd.Timestamp("1970-01-01")).days.values.astype(float)
    delay = rng.integers(1, 61, size=(len(starts), points)).astype(float)
    observed = s_days[:, None] + delay
    week = np.arange(1, 7)
    clim = np.broadcast_to(np.minimum(7 * week / 60, 1.0), (len(starts), points, 6))
    if informative:
        model = (delay[..., None] <= 7 * week + rng.normal(0, 4, size=(len(starts), points, 6))).astype(float)
        model = 0.1 + 0.8 * model
    else:
        model = rng.random((len(starts), points, 6))
    return xr.Dataset({"observed": (("start", "point"), observed),
                       "prob_by_week": (("start", "point", "week"), model),
                       "clim_prob_by_week": (("start", "point", "week"), clim)},
                      coords={"start": starts.values, "week": week})


def test_an_informative_ensemble_gets_weight_and_positive_cross_validated_skill():
    fit = fit_onset_blend(_cases(np.random.default_rng(1), informative=True))
    assert (fit["onset_blend_weight"] > 0.5).all()
    assert (fit["onset_cv_bss"] > 0.2).all()


def test_a_noise_ensemble_falls_back_to_climatology():
    fit = fit_onset_blend(_cases(np.random.default_rng(2), informative=False))
    assert (fit["onset_raw_bss"] < 0).all()
    bad = fit["onset_cv_bss"] <= 0
    assert (fit["onset_blend_weight"].where(bad, 0) == 0).all()
    assert (fit["onset_blend_weight"] <= 0.3).all()


def test_blend_is_non_decreasing_over_weeks_and_keeps_the_model_where_climatology_is_unknown():
    p = xr.DataArray([[0.5, 0.2, 0.9]], dims=("point", "week"), coords={"week": [1, 2, 3]})
    c = xr.DataArray([[0.1, np.nan, 0.3]], dims=("point", "week"), coords={"week": [1, 2, 3]})
    w = xr.DataArray([0.5, 0.5, 0.5], dims="week", coords={"week": [1, 2, 3]})
    out = blend(p, c, w).values[0]
    np.testing.assert_allclose(out, [0.3, 0.3, 0.6])


def test_lead_weeks():
    assert lead_week(np.array([0, 1, 7, 8, 14, 15, 46])).tolist() == [1, 1, 1, 2, 2, 3, 7]


def test_a_drizzling_model_gets_the_observed_dry_days_back():
    """Observed: dry on 60 % of days, else exponential; model: 0.3-3 mm every day. After the
    mapping the share of days under 0.85 mm is the observed one, and rain stays >= 0."""
    rng = np.random.default_rng(3)
    starts = pd.date_range("2001-05-01", periods=40, freq="9D")
    lead = np.arange(1, 29)
    times = pd.date_range("2001-04-01", "2002-12-31", freq="D")
    obs = np.where(rng.random((len(times), 2, 2)) < 0.6, 0.0, rng.exponential(8.0, (len(times), 2, 2)))
    truth = xr.DataArray(obs, dims=("time", "lat", "lon"), coords={"time": times, "lat": [10.0, 11.0],
                                                                     "lon": [0.0, 1.0]})
    model = rng.uniform(0.3, 3.0, size=(len(starts), 3, len(lead), 2, 2))
    daily = xr.DataArray(model, dims=("start", "member", "lead_day", "lat", "lon"),
                         coords={"start": starts.values, "lead_day": lead, "lat": [10.0, 11.0], "lon": [0.0, 1.0]})
    q = fit_daily_rain_quantiles(daily, truth)
    assert q["daily_rain_model_quantiles"].sizes["lead_week"] == 4
    init = pd.Timestamp("2003-06-01")
    fc = xr.DataArray(rng.uniform(0.3, 3.0, size=(5, 28, 2, 2)), dims=("member", "time", "lat", "lon"),
                      coords={"time": pd.date_range(init + pd.Timedelta(days=1), periods=28), "lat": [10.0, 11.0],
                              "lon": [0.0, 1.0]})
    mapped = map_daily_rain(fc, q, init)
    dry = float((mapped < 0.85).mean())
    assert abs(dry - 0.6) < 0.05, dry
    assert float(mapped.min()) >= 0.0 and mapped.dims == fc.dims
