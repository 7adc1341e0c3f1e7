"""The dates of a forecast distribution of the onset (sowcast.verify.onset_dates): the median
the MAE judges and the mean a bias judges, by hand, and why the two differ: with the wait for
the rains skewed late, a perfectly reliable forecast's median is early on average, its mean
is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.verify.onset_dates import mean_onset_day, median_onset_day

START = pd.Timestamp("2009-04-17")          # day of year 107; the end of week 6 is 29 May, day 149
DAY0 = (START - pd.Timestamp("1970-01-01")).days


def _prob(*rows: list[float]) -> xr.DataArray:
    return xr.DataArray(np.array(rows, np.float64), dims=("point", "week"),
                        coords={"point": np.arange(len(rows)), "week": np.arange(1, 7)})


def test_median_onset_day_inside_the_forecast_by_hand():
    # P reaches 1/2 in week 3: 0.3 at day 14, 0.7 at day 21 -> day 14 + 7 * (0.2 / 0.4) = 17.5
    prob = _prob([0.1, 0.3, 0.7, 0.8, 0.9, 0.9], [0.5, 0.5, 0.6, 0.7, 0.8, 0.9])
    past = xr.DataArray(np.full((2, 3), 150.0), dims=("point", "year"))
    day = median_onset_day(prob, START, past)
    np.testing.assert_allclose(day.values, [DAY0 + 17.5, DAY0 + 7.0])


def test_median_onset_day_beyond_the_forecast_follows_climatology():
    # P_6 = 0.2: the median is the (0.5 - 0.2) / 0.8 = 0.375 quantile of the past onsets after
    # day 149 (150, 160, 170, 180; 140 came earlier, NaN had none): 150 + 0.375 * 3 * 10 = 161.25
    prob = _prob([0.0, 0.1, 0.1, 0.2, 0.2, 0.2], [0.0] * 6, [np.nan] * 6)
    past = xr.DataArray([[140.0, 150.0, 160.0, 170.0, 180.0, np.nan],
                         [120.0, 130.0, 140.0, 145.0, 149.0, np.nan],
                         [150.0] * 6], dims=("point", "year"))
    day = median_onset_day(prob, START, past).values
    assert day[0] == pytest.approx(DAY0 + 42 + (161.25 - 149))
    assert day[1] == DAY0 + 42          # no past onset came later: the end of the last week
    assert np.isnan(day[2])             # no member analysed


def test_mean_onset_day_by_hand():
    # masses 0.1, 0.2, 0.4, 0.1, 0.1, 0 at the weeks' middles 3.5 .. 38.5 days: 15.05; the 0.1
    # left after day 42 waits as the past onsets later than day 149 do (160 and 180: 21 days on
    # average) -> 0.1 * (42 + 21) = 6.3; in all 21.35 days after the start
    prob = _prob([0.1, 0.3, 0.7, 0.8, 0.9, 0.9], [0.0] * 6, [1.0] * 6, [np.nan] * 6)
    past = xr.DataArray([[140.0, 160.0, 180.0, np.nan]] * 2 + [[140.0, 140.0, np.nan, np.nan]] * 2,
                        dims=("point", "year"))
    mean = mean_onset_day(prob, START, past).values
    assert mean[0] == pytest.approx(DAY0 + 21.35)
    assert mean[1] == pytest.approx(DAY0 + 42 + 21)     # nothing in six weeks: the past's later onsets
    assert mean[2] == pytest.approx(DAY0 + 3.5)         # all in week 1
    assert np.isnan(mean[3])                            # no member analysed


def test_mean_onset_day_without_later_past_onsets_and_with_a_dip():
    # no past onset after day 149: what is left after six weeks counts at its end, day 42; a
    # chance that dips (0.6 then 0.5) is read as no new onsets that week, never as negative mass
    prob = _prob([0.0, 0.0, 0.0, 0.0, 0.0, 0.5], [0.2, 0.6, 0.5, 0.5, 0.5, 0.5])
    past = xr.DataArray(np.full((2, 3), 120.0), dims=("point", "year"))
    mean = mean_onset_day(prob, START, past).values
    assert mean[0] == pytest.approx(DAY0 + 0.5 * 38.5 + 0.5 * 42)
    assert mean[1] == pytest.approx(DAY0 + 0.2 * 3.5 + 0.4 * 10.5 + 0.4 * 42)


def test_a_reliable_forecast_has_an_early_median_and_an_unbiased_mean():
    # Onsets after the start wait a skewed time (gamma, shape 1.5, mean 24 days). The forecast is
    # that very distribution (perfectly reliable), by week from a large sample; the truths are
    # fresh draws from it. The median's error averages about -5 days, the mean's about 0.
    rng = np.random.default_rng(0)
    wait = rng.gamma(1.5, 16.0, 200_000)
    prob = _prob([float(np.mean(wait <= 7 * k)) for k in range(1, 7)])
    past = xr.DataArray((START.day_of_year + wait[:20_000])[None, :], dims=("point", "year"))
    truth = DAY0 + rng.gamma(1.5, 16.0, 20_000)
    median = float(median_onset_day(prob, START, past)[0])
    mean = float(mean_onset_day(prob, START, past)[0])
    assert np.mean(median - truth) < -4.0
    assert abs(np.mean(mean - truth)) < 0.5
    assert np.mean(abs(median - truth)) < np.mean(abs(mean - truth))   # and the median has the smaller MAE
