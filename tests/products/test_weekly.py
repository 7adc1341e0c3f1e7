"""products.weekly: weekly values, anomalies and tercile probabilities of one forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from weekly_helpers import make_forecast, write_zarr

from sowcast.errors import SowcastError
from sowcast.products.climatology import build_climatology
from sowcast.products.periods import hindcast_periods, observed_periods
from sowcast.products.weekly import weekly_products

YEARS = range(2001, 2010)


def _rain_of_year(year: int):
    return lambda m, h: (year - 2000) + 0.0 * (m + h)    # every member, every day: (year - 2000) mm


@pytest.fixture(scope="module")
def climatology() -> xr.Dataset:
    """One-member hindcasts from 3 June 2001..2009: rain (year - 2000) mm/day; observed twice that."""
    fcs = [make_forecast(init=f"{y}-06-03", rain=_rain_of_year(y), n_members=1) for y in YEARS]
    h = hindcast_periods(fcs)
    times = pd.date_range("2001-01-01", "2009-12-31", freq="D")
    obs_rain = 2.0 * (times.year.values - 2000)
    shape = (len(times), 1, 2)
    obs = xr.Dataset({"total_precipitation": (("time", "lat", "lon"), np.broadcast_to(obs_rain[:, None, None], shape),
                                              {"units": "mm"}),
                      "2m_temperature": (("time", "lat", "lon"), np.full(shape, 300.0), {"units": "K"})},
                     coords={"time": times, "lat": fcs[0]["lat"].values, "lon": fcs[0]["lon"].values})
    return build_climatology(h, observed_periods(obs, h["start"].values))


def test_without_a_climatology_only_values_and_means():
    w = weekly_products(make_forecast(), None)
    assert set(w.data_vars) == {"total_precipitation", "total_precipitation_ensemble_mean",
                                "2m_temperature", "2m_temperature_ensemble_mean"}
    assert w["total_precipitation"].dims == ("member", "period", "lat", "lon")
    np.testing.assert_allclose(w["total_precipitation_ensemble_mean"].sel(period="week1"), 14.0)  # (7+14+21)/3
    np.testing.assert_allclose(w["total_precipitation_ensemble_mean"].sel(period="weeks3-4"), 28.0)
    assert w.attrs["bundle_sha256"] == "abc123" and "no climatology" in w.attrs["comment"]
    with pytest.raises(SowcastError, match="needs a climatology"):
        weekly_products(make_forecast(), None, calibrate=True)


def test_terciles_and_anomalies_against_the_model_climatology(climatology):
    # pooled week-1 totals: 7k mm (k = 1..9): terciles 25.67 and 44.33 mm, mean 35 mm.
    f = make_forecast(init="2024-06-03", rain=lambda m, h: 3.0 + 3.0 * m + 0 * h)   # 21, 42, 63 mm a week
    w = weekly_products(f, climatology)
    week1 = {k: w[k].sel(period="week1").values[0, 0] for k in ("total_precipitation_lower_tercile",
                                                                 "total_precipitation_upper_tercile",
                                                                 "total_precipitation_anomaly")}
    np.testing.assert_allclose(week1["total_precipitation_lower_tercile"], 21 + 2 / 3 * 7, rtol=1e-6)
    np.testing.assert_allclose(week1["total_precipitation_upper_tercile"], 42 + 1 / 3 * 7, rtol=1e-6)
    np.testing.assert_allclose(week1["total_precipitation_anomaly"], 42.0 - 35.0, rtol=1e-6)
    p = w["total_precipitation_tercile_probability"]
    assert p.dims == ("category", "period", "lat", "lon")
    np.testing.assert_allclose(p.sel(period="week1").values[:, 0, 0], [1 / 3, 1 / 3, 1 / 3])
    np.testing.assert_allclose(p.sum("category"), 1.0)
    assert w["total_precipitation_most_likely_category"].sel(period="week1").values[0, 0] == 1   # tie: near
    assert w["2m_temperature_tercile_probability"].sizes["category"] == 3
    assert w.attrs["climatology_start_doy"] == 154 and w.attrs["climatology_start_doy_distance_days"] == 0
    assert w.attrs["calibrated"] == "none"
    # a week later still uses the 3 June climatology (7 days away, within the 15-day window)
    assert weekly_products(make_forecast(init="2024-06-10"), climatology).attrs[
        "climatology_start_doy_distance_days"] == 7


def test_calibration_maps_rain_onto_the_observed_climate(climatology):
    f = make_forecast(init="2024-06-03", rain=lambda m, h: 3.0 + 3.0 * m + 0 * h)
    raw = weekly_products(f, climatology)
    cal = weekly_products(f, climatology, calibrate=True)
    np.testing.assert_allclose(cal["total_precipitation"], 2 * raw["total_precipitation"], rtol=1e-5)
    np.testing.assert_allclose(cal["total_precipitation_anomaly"], 2 * raw["total_precipitation_anomaly"], rtol=1e-5)
    np.testing.assert_allclose(cal["total_precipitation_tercile_probability"],
                               raw["total_precipitation_tercile_probability"])
    xr.testing.assert_allclose(cal["2m_temperature"], raw["2m_temperature"])       # not mapped
    assert cal.attrs["calibrated"] == "total_precipitation"
    no_obs = climatology.drop_vars([v for v in climatology.data_vars if v.startswith("observed_")])
    with pytest.raises(SowcastError, match="observed_total_precipitation_quantiles"):
        weekly_products(f, no_obs, calibrate=True)


def test_a_real_zarr_and_a_short_forecast(tmp_path, climatology):
    f = make_forecast(init="2024-06-03", n_leads=20)
    write_zarr(f, tmp_path / "fc.zarr")
    with xr.open_zarr(tmp_path / "fc.zarr", consolidated=False) as ds:
        w = weekly_products(ds, climatology)
    xr.testing.assert_allclose(w, weekly_products(f, climatology))
    assert np.isfinite(w["total_precipitation_tercile_probability"].sel(period="week2")).all()
    assert np.isnan(w["total_precipitation"].sel(period="week3")).all()
    assert np.isnan(w["total_precipitation_tercile_probability"].sel(period="weeks3-4")).all()
    assert (w["total_precipitation_most_likely_category"].sel(period="week4") == -1).all()


def test_bad_inputs_are_one_line_errors(climatology):
    f = make_forecast()
    with pytest.raises(SowcastError, match="grid"):
        weekly_products(make_forecast(lon=np.array([10.0, 11.5])), climatology)
    with pytest.raises(SowcastError, match="neither"):
        weekly_products(f.drop_vars(["total_precipitation", "2m_temperature"]), None)
    with pytest.raises(SowcastError, match="no variable 'sunshine_duration'"):
        weekly_products(f, None, variables=["sunshine_duration"])
    only_rain = weekly_products(f.drop_vars("2m_temperature"), climatology)
    assert "2m_temperature" not in only_rain and "total_precipitation_anomaly" in only_rain
    no_t2m = climatology.drop_vars([v for v in climatology.data_vars if "2m_temperature" in v])
    with pytest.raises(SowcastError, match="2m_temperature"):
        weekly_products(f, no_t2m)
    with pytest.raises(SowcastError, match="no start day within 15 days"):
        weekly_products(make_forecast(init="2024-12-01"), climatology)
