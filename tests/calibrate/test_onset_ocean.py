"""The onset's ocean predictor (sowcast/calibrate/onset_ocean.py): the fit finds a designed
slope and refuses a pure-noise one, the shift of past onsets is the regression's, the index is a
latitude-weighted box mean, and the predictor's fields round-trip through calibration.nc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.calibrate.onset_ocean import (
    OceanPredictor,
    calibration_fields,
    fit_days_per_k,
    from_calibration,
    index_series,
    window_mean,
)
from sowcast.errors import SowcastError

YEARS = np.arange(1991, 2011)
STARTS = pd.to_datetime(["2005-04-15", "2005-05-01", "2005-05-15"])


def _index(anomaly_by_year: np.ndarray) -> xr.DataArray:
    """A daily index: a seasonal cycle (the same every year) plus a per-year constant anomaly."""
    time = pd.date_range(f"{YEARS[0]}-01-01", f"{YEARS[-1]}-12-31", freq="D")
    year_pos = np.searchsorted(YEARS, time.year)
    calendar = time.month - 1 + (time.day - 1) / 31             # the same on a calendar day of every year
    values = 300 + 2 * np.sin(2 * np.pi * calendar / 12) + anomaly_by_year[year_pos]
    return xr.DataArray(values, dims="time", coords={"time": time})


def _onsets(anomaly: np.ndarray, days_per_k: float, noise_sd: float, points: int = 40, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    doy = 160 + days_per_k * anomaly[:, None] + rng.normal(0, noise_sd, (len(YEARS), points))
    return xr.DataArray(doy, dims=("year", "point"), coords={"year": YEARS})


def test_the_fit_finds_the_designed_slope_and_beats_the_plain_climatology_on_left_out_years():
    anomaly = np.random.default_rng(1).normal(0, 0.5, len(YEARS))
    fit = fit_days_per_k(_onsets(anomaly, 12.0, 8.0), _index(anomaly), STARTS, days=45)
    assert fit["slope"] == pytest.approx(12.0, abs=1.5)
    assert fit["days_per_k"] == fit["slope"]
    assert fit["cv_mae"] < fit["cv_mae_unshifted"]
    assert fit["n_years"] == len(YEARS) and fit["n_cases"] > 0


def test_an_index_without_signal_is_not_applied():
    anomaly = np.random.default_rng(2).normal(0, 0.5, len(YEARS))
    onsets = _onsets(np.random.default_rng(3).normal(0, 0.5, len(YEARS)), 12.0, 8.0)   # another ocean's onsets
    fit = fit_days_per_k(onsets, _index(anomaly), STARTS, days=45)
    assert fit["cv_mae"] >= fit["cv_mae_unshifted"]
    assert fit["days_per_k"] == 0.0


def test_onsets_before_the_start_do_not_enter_the_fit():
    anomaly = np.random.default_rng(4).normal(0, 0.5, len(YEARS))
    early = _onsets(anomaly, 12.0, 1.0) - 100      # every onset in February: none after the starts
    with pytest.raises(SowcastError, match="no case"):
        fit_days_per_k(early, _index(anomaly), STARTS, days=45)


def test_past_onsets_move_by_the_slope_times_the_index_difference():
    anomaly = np.linspace(-1, 1, len(YEARS))
    index = _index(anomaly)
    ocean = OceanPredictor(days=30, days_per_k=10.0)
    start = pd.Timestamp("2010-05-01")
    shift = ocean.past_onset_shift(index, start, [1991, 2000])
    # the seasonal cycle cancels in the same calendar window: 10 d/K x (this year's - that year's anomaly)
    np.testing.assert_allclose(shift.values, 10.0 * (anomaly[-1] - anomaly[[0, 9]]), atol=1e-9)
    assert list(shift["year"].values) == [1991, 2000] and shift.attrs["units"] == "d"
    assert np.isnan(ocean.past_onset_shift(index, start, [1980]).values[0])      # no index that year


def test_a_window_with_too_few_days_is_unknown():
    index = _index(np.zeros(len(YEARS)))
    assert np.isfinite(window_mean(index, pd.Timestamp("1991-03-01"), 45))
    assert np.isnan(window_mean(index, pd.Timestamp("1991-01-10"), 45))   # 10 of 45 days in the record
    assert np.isnan(window_mean(index.where(index.time.dt.month != 4), pd.Timestamp("1995-04-30"), 30))


def test_the_index_is_the_latitude_weighted_mean_over_the_box():
    lat, lon = np.array([-4.0, 0.0, 2.0, 10.0]), np.array([-25.0, -10.0, -5.0, 5.0])
    time = pd.date_range("2000-01-01", periods=3, freq="D")
    field = np.zeros((3, 4, 4))
    field[:, 1, 1:3] = 1.0          # lat 0 (inside), lon -10, -5 (inside)
    field[:, 2, 1:3] = 3.0          # lat 2 (inside)
    field[:, 3, :] = 100.0          # lat 10: outside
    field[:, :, 0] = 100.0          # lon -25: outside
    ds = xr.Dataset({"sea_surface_temperature": (("time", "lat", "lon"), field)},
                    coords={"time": time, "lat": lat, "lon": lon})
    got = index_series(ds, OceanPredictor("sea_surface_temperature"))
    w0, w2 = 1.0, np.cos(np.deg2rad(2.0))
    np.testing.assert_allclose(got.values, (w0 * 1.0 + w2 * 3.0) / (w0 + w2))
    assert got.sizes["time"] == 3 and (got.time.values == time.values).all()
    # 6-hourly states: one daily mean per day, at midnight
    six = ds.interp(time=pd.date_range("2000-01-01", periods=8, freq="6h")) + xr.DataArray(
        np.arange(8.0), dims="time", coords={"time": pd.date_range("2000-01-01", periods=8, freq="6h")})
    daily = index_series(six, OceanPredictor("sea_surface_temperature"))
    assert list(daily.time.values) == list(time.values[:2])
    np.testing.assert_allclose(daily.values, (w0 * 1.0 + w2 * 3.0) / (w0 + w2) + np.array([1.5, 5.5]))
    with pytest.raises(SowcastError, match="no 'ocean_index'"):
        index_series(ds, OceanPredictor("ocean_index"))
    with pytest.raises(SowcastError, match="holds no grid point"):
        index_series(ds, OceanPredictor("sea_surface_temperature", box=(30.0, 40.0, 0.0, 10.0)))


def test_the_predictor_round_trips_through_the_calibration_fields(tmp_path):
    fit = {"days_per_k": 9.5, "slope": 9.5, "cv_mae": 11.1, "cv_mae_unshifted": 11.5, "n_cases": 1200}
    predictor = OceanPredictor("ocean_index", (-3.0, 3.0, -20.0, 0.0), 45, 9.5)
    path = tmp_path / "cal.nc"
    calibration_fields(predictor, fit, [1991, 2008]).to_netcdf(path)
    with xr.open_dataset(path) as ds:
        assert from_calibration(ds.load()) == predictor
        assert ds.attrs["onset_ocean_years"] == "1991 2008"
    off = calibration_fields(predictor, {**fit, "days_per_k": 0.0}, [1991, 2008])
    assert from_calibration(off) is None and from_calibration(xr.Dataset()) is None and from_calibration(None) is None


def test_the_fit_finds_the_synthetic_monsoons_designed_delay():
    """The synthetic monsoon delays its march by 12 days per K of the lagged Gulf of Guinea
    index (sowcast/data/synthetic_monsoon.py); the calibration's fit on 18 seasons of it, at
    the points the demo scores (8-16 N), finds a delay of that size and keeps it."""
    from sowcast.calibrate.calibration import CalibrateOptions, fit_ocean
    from sowcast.data.grid import Grid
    from sowcast.data.synthetic_monsoon import synthesize
    from sowcast.products.season_rules import load_rules

    ds = synthesize(Grid.from_bounds(-4, 16, -20, 2, 2.0), "1991-01-01", "2008-12-31", seed=0)
    options = CalibrateOptions(onset_region=(8.0, 16.0, -18.0, 16.0))
    index = index_series(ds, OceanPredictor("ocean_index"))
    starts = pd.date_range("2003-04-17", "2003-07-24", freq="14D").append(pd.date_range("2008-04-17", periods=3,
                                                                                         freq="14D"))
    land = ds["land_sea_mask"]
    predictor, fields = fit_ocean(ds["total_precipitation"], index, land, starts, options, load_rules("sivakumar1988"))
    assert 6.0 < predictor.days_per_k < 18.0 and predictor.variable == "ocean_index"
    assert float(fields["onset_ocean_cv_mae"]) < float(fields["onset_ocean_cv_mae_unshifted"])
    assert fields.attrs["onset_ocean"] == "applied" and fields.attrs["onset_ocean_years"] == "1991 2008"
    # a record of fewer seasons than the fit needs: not applied, and the calibration says why
    short = ds["total_precipitation"].sel(time=slice("2003", None))
    none, why = fit_ocean(short, index, land, starts, options, load_rules("sivakumar1988"))
    assert none is None and why.attrs["onset_ocean"].startswith("not applied: the store's record")
