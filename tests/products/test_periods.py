"""products.periods: weekly and fortnightly aggregates of forecasts and observations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from weekly_helpers import daily_obs, make_forecast

from sowcast.errors import SowcastError
from sowcast.products.daily import forecast_daily
from sowcast.products.periods import (
    PERIODS,
    hindcast_periods,
    observed_periods,
    period_aggregates,
)

NAMES = ["week1", "week2", "week3", "week4", "week5", "week6", "weeks3-4", "weeks5-6"]


def test_the_periods():
    assert [p.name for p in PERIODS] == NAMES
    assert [(p.first_lead_day, p.last_lead_day) for p in PERIODS] == [
        (1, 7), (8, 14), (15, 21), (22, 28), (29, 35), (36, 42), (15, 28), (29, 42)]
    assert PERIODS[6].n_days == 14


def test_rain_is_summed_and_temperature_averaged():
    # member m: rain 1 + m mm every day, plus lead day k / 100; t2m 300 + m + k.
    f = make_forecast(rain=lambda m, h: 1.0 + m + (h / 24) / 100)
    p = period_aggregates(forecast_daily(f))
    assert p["total_precipitation"].dims == ("member", "period", "lat", "lon")
    assert list(p["period"].values) == NAMES
    rain = p["total_precipitation"].values[:, :, 0, 0]
    days = {name: np.arange(a, b + 1) for name, a, b in
            [(q.name, q.first_lead_day, q.last_lead_day) for q in PERIODS]}
    for i, name in enumerate(NAMES):
        k = days[name]
        np.testing.assert_allclose(rain[:, i], [(1 + m) * len(k) + k.sum() / 100 for m in range(3)], rtol=1e-5)
        np.testing.assert_allclose(p["2m_temperature"].values[:, i, 0, 1], 300 + np.arange(3) + k.mean(), rtol=1e-6)
    assert list(p["first_lead_day"].values) == [1, 8, 15, 22, 29, 36, 15, 29]
    assert str(p["period_start"].values[0])[:10] == "2024-06-04"
    assert str(p["period_end"].values[0])[:10] == "2024-06-10"
    assert str(p["period_end"].values[-1])[:10] == "2024-07-15"
    assert p["total_precipitation"].attrs["cell_methods"] == "time: sum"
    assert p.attrs["bundle_sha256"] == "abc123"


def test_a_short_forecast_gives_nan_periods_not_an_error():
    p = period_aggregates(forecast_daily(make_forecast(n_leads=20)))
    rain = p["total_precipitation"].sel(lat=12.0, lon=0.0, member=0)
    assert rain.sel(period="week1") == 7 and rain.sel(period="week2") == 7
    for name in ("week3", "week4", "week6", "weeks3-4", "weeks5-6"):
        assert np.isnan(rain.sel(period=name))


def test_a_dropped_day_in_the_middle_makes_the_period_nan():
    f = make_forecast(n_leads=14)
    rain = f["total_precipitation"].values
    rain[2, 9] = np.nan                          # lead day 10 of member 2 never written
    f["total_precipitation"] = f["total_precipitation"].copy(data=rain)
    p = period_aggregates(forecast_daily(f))
    assert np.isfinite(p["total_precipitation"].sel(period="week1")).all()
    assert np.isnan(p["total_precipitation"].sel(period="week2")).all()


def test_observed_periods_line_up_with_the_forecast():
    obs = daily_obs("2024-05-01", 120)           # rain on 2024-05-01 + k is k mm
    inits = pd.to_datetime(["2024-06-03T00:00", "2024-06-10T12:00"])
    o = observed_periods(obs, inits)
    assert o["total_precipitation"].dims == ("start", "period", "lat", "lon")
    k0 = (pd.Timestamp("2024-06-04") - pd.Timestamp("2024-05-01")).days
    assert o["total_precipitation"].sel(period="week1").values[0, 0, 0] == sum(range(k0, k0 + 7))
    k1 = (pd.Timestamp("2024-06-11") - pd.Timestamp("2024-05-01")).days
    assert o["total_precipitation"].sel(period="week1").values[1, 0, 0] == sum(range(k1, k1 + 7))
    np.testing.assert_allclose(o["2m_temperature"].sel(period="week2").values[0, 0, 0],
                               295 + np.arange(k0 + 7, k0 + 14).mean() / 100, rtol=1e-6)
    f = period_aggregates(forecast_daily(make_forecast(init="2024-06-03")))
    np.testing.assert_array_equal(o["period_start"].values[0], f["period_start"].values)
    np.testing.assert_array_equal(o["period_end"].values[0], f["period_end"].values)
    # beyond the observations: NaN
    late = observed_periods(obs, ["2024-08-01"])
    assert np.isfinite(late["total_precipitation"].sel(period="week1")).all()
    assert np.isnan(late["total_precipitation"].sel(period="week6")).all()
    with pytest.raises(SowcastError, match="daily series"):
        observed_periods(obs.assign_coords(time=obs["time"] + pd.Timedelta(hours=6)), inits)


def test_hindcast_periods_stack_starts():
    fcs = [make_forecast(init=d, n_leads=21) for d in ("2020-06-03", "2021-06-03", "2022-06-03")]
    h = hindcast_periods(fcs)
    assert h["total_precipitation"].dims == ("start", "member", "period", "lat", "lon")
    assert [str(s)[:10] for s in h["start"].values] == ["2020-06-03", "2021-06-03", "2022-06-03"]
    assert np.isnan(h["total_precipitation"].sel(period="week4")).all()
    with pytest.raises(SowcastError, match="same init time"):
        hindcast_periods([fcs[0], fcs[0]])
