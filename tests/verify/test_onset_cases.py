"""Onset cases of reforecasts (sowcast.verify.reforecasts): the scorecard and the onset
calibration judge the onset-by-week probability the planting outlook issues, and the onset
date is the median of that distribution, climatology beyond the forecast's last week
(tests/verify/test_onset_dates.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.products.planting import expected_onset_by_week, planting_outlook
from sowcast.products.season_rules import load_rules
from sowcast.verify.onset_dates import mean_onset_day, median_onset_day
from sowcast.verify.reforecasts import OnsetSetup, onset_cases

START = pd.Timestamp("2009-04-17")          # day of year 107; the end of week 6 is 29 May, day 149
DAY0 = (START - pd.Timestamp("1970-01-01")).days
RULES = load_rules("sivakumar1988")


def _season(rng: np.random.Generator, days: pd.DatetimeIndex, shape: tuple[int, ...]) -> np.ndarray:
    """Daily rain whose chance of a wet day rises from 5 % in April to 60 % in August."""
    doy = days.day_of_year.values.astype(float)
    p_wet = np.clip(0.05 + 0.55 * (doy - 100) / 120, 0.05, 0.6)
    wet = rng.random(shape + (len(days),)) < p_wet
    return np.where(wet, rng.gamma(0.8, 12.0, shape + (len(days),)), 0.0).astype(np.float32)


@pytest.fixture(scope="module")
def chain():
    rng = np.random.default_rng(3)
    lat, lon = np.array([10.0, 11.0, 12.0]), np.array([-1.0, 0.0])
    days = pd.date_range("2001-01-01", "2009-12-31")
    truth = xr.DataArray(np.moveaxis(_season(rng, days, (3, 2)), -1, 0), dims=("time", "lat", "lon"),
                         coords={"time": days, "lat": lat, "lon": lon}, name="total_precipitation")
    fc_days = pd.date_range(START + pd.Timedelta(days=1), periods=46)
    members = np.moveaxis(_season(rng, fc_days, (6, 3, 2)), -1, 1)            # (member, time, lat, lon)
    daily = xr.Dataset({"total_precipitation": (("start", "member", "lead_day", "lat", "lon"), members[None])},
                       coords={"start": [START], "member": np.arange(6), "lead_day": np.arange(1, 47),
                               "lat": lat, "lon": lon})
    member_series = xr.DataArray(members, dims=("member", "time", "lat", "lon"),
                                 coords={"member": np.arange(6), "time": fc_days, "lat": lat, "lon": lon})
    return truth, daily, member_series


def test_cases_score_the_probability_the_outlook_issues(chain):
    truth, daily, members = chain
    held_out, past = truth.sel(time=slice("2009", None)), truth.sel(time=slice(None, "2008"))
    cases = onset_cases(daily, held_out, past, OnsetSetup(RULES))
    outlook = planting_outlook(held_out, members, START, RULES, history=past)
    issued = outlook["onset_by_week_expected"].stack(point=("lat", "lon")).transpose("point", "week").values
    open_cases = cases["observed"].isel(start=0).notnull() | cases["forecast"].isel(start=0).notnull()
    assert bool(open_cases.any())
    scored = cases["prob_by_week"].isel(start=0).transpose("point", "week").values
    np.testing.assert_allclose(scored[open_cases.values], issued[open_cases.values], rtol=1e-6)
    # the same as the public function the scorecard calls, and censored candidates count:
    # the estimate is above the confirmed fraction somewhere in the last weeks
    direct = expected_onset_by_week(held_out, members, START, RULES, history=past)
    np.testing.assert_allclose(direct.transpose("week", ...).values, outlook["onset_by_week_expected"].values)
    assert bool((outlook["onset_by_week_expected"] > outlook["onset_by_week"] + 1e-6).any())
    # the forecast date is the median of that distribution, and its mean date the mean
    prob, past_onsets = cases["prob_by_week"].isel(start=0), _past_onsets(past)
    day = median_onset_day(prob, START, past_onsets).where(open_cases)
    np.testing.assert_allclose(cases["forecast"].isel(start=0).values, day.values)
    mean = mean_onset_day(prob, START, past_onsets).where(open_cases)
    np.testing.assert_allclose(cases["forecast_mean"].isel(start=0).values, mean.values)
    # the climatological mean date: the mean of the past onsets later than the start
    later = past_onsets.where(past_onsets > START.day_of_year).mean("year") + DAY0 - START.day_of_year
    np.testing.assert_allclose(cases["climatology_mean"].isel(start=0).where(open_cases).values,
                               later.where(open_cases).values)


def _past_onsets(past: xr.DataArray) -> xr.DataArray:
    from sowcast.products.season import analyse_seasons

    seasons = analyse_seasons(past.stack(point=("lat", "lon")).drop_vars(["point", "lat", "lon"])
                              .assign_coords(point=np.arange(6)), RULES)
    return seasons["onset_doy"].where(seasons["onset_status"] == 0)


def _ocean_calibration(days_per_k: float = 10.0):
    """An ocean index over 2001-2009 (a warm 2009) and a calibration that blends half and half
    and moves past onsets by ``days_per_k`` per K (sowcast/calibrate/onset_ocean.py)."""
    from sowcast.calibrate.onset_ocean import OceanPredictor, calibration_fields

    time = pd.date_range("2001-01-01", "2009-12-31")
    anomaly = np.array([-0.4, 0.2, -0.1, 0.3, -0.6, 0.0, 0.5, -0.2, 0.8])[time.year - 2001]
    index = xr.DataArray(anomaly, dims="time", coords={"time": time})
    predictor = OceanPredictor("ocean_index", (-3.0, 3.0, -20.0, 0.0), 45, days_per_k)
    fit = {"days_per_k": days_per_k, "slope": days_per_k, "cv_mae": 1.0, "cv_mae_unshifted": 2.0, "n_cases": 10}
    week = np.arange(1, 7)
    cal = xr.Dataset({"onset_blend_weight": ("week", np.full(6, 0.5)), "onset_cv_bss": ("week", np.full(6, 0.1))},
                     coords={"week": week}, attrs={"probability_floor": 0.02})
    cal = xr.merge([cal, calibration_fields(predictor, fit, [2001, 2008])], combine_attrs="no_conflicts")
    return predictor, index, cal


def test_the_ocean_moves_the_prior_and_products_and_verification_apply_the_same_move(chain):
    from sowcast.products.onset_climatology import onset_by_week_climatology

    truth, daily, members = chain
    held_out, past = truth.sel(time=slice("2009", None)), truth.sel(time=slice(None, "2008"))
    predictor, index, cal = _ocean_calibration()
    cases = onset_cases(daily, held_out, past, OnsetSetup(RULES), calibration=cal, ocean=predictor,
                        ocean_index=index).isel(start=0)
    shift = predictor.past_onset_shift(index, START, list(range(2001, 2009)))
    np.testing.assert_allclose(shift.values, 10.0 * (0.8 - np.array([-0.4, 0.2, -0.1, 0.3, -0.6, 0.0, 0.5, -0.2])))
    open_cases = (cases["observed"].notnull() | cases["forecast"].notnull()).values
    moved = onset_by_week_climatology(_past_onsets(past) + shift, START, 6, min_years=1)
    np.testing.assert_allclose(cases["prior_prob_by_week"].transpose("week", "point").values[:, open_cases],
                               moved.values[:, open_cases])
    # a warm ocean: the moved climatology expects the rains later than the plain one
    assert float(cases["prior"].where(open_cases).mean()) > float(cases["climatology"].where(open_cases).mean())
    plain = onset_cases(daily, held_out, past, OnsetSetup(RULES)).isel(start=0)
    np.testing.assert_allclose(plain["prior_prob_by_week"].values, plain["clim_prob_by_week"].values)
    # the planting outlook issues the probability the verification scores
    outlook = planting_outlook(held_out, members, START, RULES, history=past, calibration=cal,
                               past_onset_shift=shift)
    issued = outlook["onset_by_week_expected"].sel(week=slice(1, None)).stack(point=("lat", "lon"))
    np.testing.assert_allclose(cases["prob_by_week"].transpose("week", "point").values[:, open_cases],
                               issued.transpose("week", "point").values[:, open_cases], rtol=1e-6)
    assert outlook.attrs["onset_ocean_shift_days"] == pytest.approx(float(shift.mean()), abs=0.01)


def test_verification_of_an_ocean_calibration_needs_the_ocean_index(chain):
    from sowcast.errors import SowcastError
    from sowcast.verify.reforecasts import calibrated_onset_cases

    truth, daily, _ = chain
    _, _, cal = _ocean_calibration()
    with pytest.raises(SowcastError, match="ocean index"):
        calibrated_onset_cases(daily, truth.sel(time=slice("2009", None)), truth.sel(time=slice(None, "2008")),
                               OnsetSetup(RULES), cal)


def test_the_scored_year_never_enters_its_own_onset_climatology(chain):
    """Cross-validated (WMO's SVS for long-range forecasts): a history holding the scored year
    2009 gives the cases of a history without it, and any other year, before or after, counts."""
    truth, daily, _ = chain
    held_out = truth.sel(time=slice("2009", None))
    without = onset_cases(daily, held_out, truth.sel(time=slice(None, "2008")), OnsetSetup(RULES))
    holding = onset_cases(daily, held_out, truth, OnsetSetup(RULES))
    xr.testing.assert_identical(holding, without)
    # a later year (2010, here 2007's rain three years on) is another year: it changes the climatology
    later = truth.sel(time=slice("2007", "2007")).assign_coords(time=pd.date_range("2010-01-01", "2010-12-31"))
    more = onset_cases(daily, held_out, xr.concat([truth, later], "time"), OnsetSetup(RULES))
    open_cases = (without["observed"].notnull() | without["forecast"].notnull()).values
    assert not np.allclose(more["clim_prob_by_week"].values[..., open_cases[0]],
                           without["clim_prob_by_week"].values[..., open_cases[0]])
