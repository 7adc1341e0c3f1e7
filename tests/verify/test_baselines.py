"""Reference forecasts: climatological terciles, equal odds, persistence, climatological onset."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.verify.baselines import (
    climatological_onset,
    climatology_probabilities,
    day_of_year,
    equal_odds,
    persistence,
)
from sowcast.verify.categorical import observed_category, rps, rpss


def test_climatology_probabilities_from_the_same_years_are_a_third_each():
    rng = np.random.default_rng(8)
    past = xr.DataArray(rng.gamma(2.0, size=(4, 30)), dims=("location", "year"))
    lower, upper = past.quantile(1 / 3, "year", method="linear"), past.quantile(2 / 3, "year")
    clim = climatology_probabilities(past, lower.drop_vars("quantile"), upper.drop_vars("quantile"))
    assert clim.dims == ("location", "category")
    np.testing.assert_allclose(clim, 1 / 3, atol=1 / 30 + 1e-12)
    np.testing.assert_allclose(clim.sum("category"), 1.0)


def test_climatology_probabilities_by_hand_skip_missing_years():
    # lower 1, upper 2: years 0.5 | 1.5 | 2.5 2.6 | NaN  ->  1/4, 1/4, 2/4.
    past = xr.DataArray([0.5, 1.5, 2.5, 2.6, np.nan], dims="year")
    np.testing.assert_allclose(climatology_probabilities(past, 1.0, 2.0), [0.25, 0.25, 0.5])


def test_rpss_of_climatology_against_itself_is_zero_and_equal_odds():
    truth = xr.DataArray([0.5, 1.5, 2.5], dims="x")
    obs = observed_category(truth, 1.0, 2.0)
    odds = equal_odds(truth)
    assert odds.dims == ("x", "category")
    np.testing.assert_allclose(odds, 1 / 3)
    score = rps(odds, obs)
    assert float(rpss(score, score)) == 0.0
    np.testing.assert_allclose(equal_odds(), [1 / 3] * 3)


def test_persistence_by_steps_and_by_time_span():
    time = pd.date_range("2020-06-01", periods=4, freq="7D")
    obs = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="time", coords={"time": time})
    np.testing.assert_allclose(persistence(obs, 1), [np.nan, 1, 2, 3])
    np.testing.assert_allclose(persistence(obs, np.timedelta64(14, "D")), [np.nan, np.nan, 1, 2])
    assert (persistence(obs, 1)["time"] == obs["time"]).all()


def test_day_of_year_ignores_leap_days():
    d = xr.DataArray(pd.to_datetime(["2019-03-01", "2020-03-01", "2020-02-29", "NaT"]).values, dims="x")
    np.testing.assert_allclose(day_of_year(d), [60, 60, 60, np.nan])


def test_climatological_onset_by_hand():
    # day-of-year onsets 130, 140, none, 135, 152: sorted 130 135 140 152 (none last) -> median 140;
    # P(onset by 135) = 2/5, by 152 = 4/5 (the no-onset year never counts).
    past = xr.DataArray(pd.to_datetime(["2001-05-10", "2002-05-20", "NaT", "2004-05-15", "2005-06-01"]).values,
                        dims="year")
    np.testing.assert_allclose(day_of_year(past), [130, 140, np.nan, 135, 152])
    clim = climatological_onset(past, dates=[129, 135, 152])
    assert float(clim.median_onset) == 140.0
    np.testing.assert_allclose(clim.prob_onset_by_date, [0.0, 0.4, 0.8])
    assert float(clim.no_onset_fraction) == pytest.approx(0.2)
    # default dates: every day from the first to the last onset
    assert climatological_onset(past).sizes["date"] == 152 - 130 + 1
    # target-season dates (leap year 2024: 15 May is day 135 of a 365-day year) stay as the coordinate
    target = pd.to_datetime(["2024-05-15", "2024-06-01"]).values
    by_date = climatological_onset(past, dates=target).prob_onset_by_date
    np.testing.assert_allclose(by_date, [0.4, 0.8])
    np.testing.assert_array_equal(by_date["date"].values, target)


def test_climatological_onset_median_missing_when_most_years_have_none():
    past = xr.DataArray([[120.0, np.nan, np.nan], [120.0, 130.0, np.nan]], dims=("x", "year"))
    np.testing.assert_allclose(climatological_onset(past, dates=[125]).median_onset, [np.nan, 130.0])
