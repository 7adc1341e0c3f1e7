"""products.daily: engine output and stores to daily series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from weekly_helpers import make_forecast, write_zarr

from sowcast.data.testing import make_canonical_store
from sowcast.errors import SowcastError
from sowcast.products.daily import aggregation, forecast_daily, store_daily


def test_aggregation_comes_from_the_schema_kind():
    assert aggregation("total_precipitation") == "sum"
    assert aggregation("2m_temperature") == "mean"
    assert aggregation("land_sea_mask") is None
    assert aggregation("my_rain", {"cell_methods": "time: sum"}) == "sum"
    assert aggregation("mystery") is None


def test_daily_steps_one_lead_is_one_day():
    # rain: member m has 1 + m mm on lead day k plus k/10; 3 members, 46 daily leads, 1x2 grid.
    f = make_forecast(rain=lambda m, h: 1.0 + m + (h / 24) / 10)
    d = forecast_daily(f)
    assert d["total_precipitation"].dims == ("member", "time", "lat", "lon")
    assert d.sizes == {"member": 3, "time": 46, "lat": 1, "lon": 2}
    assert list(d["lead_day"].values) == list(range(1, 47))
    assert pd.Timestamp(d["time"].values[0]) == pd.Timestamp("2024-06-04")
    assert pd.Timestamp(d["init_time"].values) == pd.Timestamp("2024-06-03")
    expect = 1.0 + np.arange(3)[:, None] + np.arange(1, 47)[None, :] / 10
    np.testing.assert_allclose(d["total_precipitation"].values[:, :, 0, 1], expect, rtol=1e-6)
    assert d.attrs["bundle_sha256"] == "abc123"
    assert d["total_precipitation"].attrs["cell_methods"] == "time: sum"
    assert d["total_precipitation"].attrs["units"] == "mm"
    assert "coordinates" not in d["total_precipitation"].attrs
    assert d["2m_temperature"].attrs["cell_methods"] == "time: mean"


def test_six_hourly_steps_drop_the_partial_first_and_last_days():
    # init 00 UTC, leads 6 h .. 72 h: the init date has 06-18 UTC only, 3 days later only 00 UTC.
    f = make_forecast(step="6h", n_leads=12, rain=lambda m, h: 0.5 + m + 0 * h)
    d = forecast_daily(f)
    assert list(d["lead_day"].values) == [1, 2]
    assert [str(t)[:10] for t in d["time"].values] == ["2024-06-04", "2024-06-05"]
    np.testing.assert_allclose(d["total_precipitation"].values[:, 0, 0, 0], [2.0, 6.0, 10.0])
    # t2m = 300 + m + hours/24: day 1 has hours 24, 30, 36, 42 -> mean 301.375 (member 0)
    np.testing.assert_allclose(d["2m_temperature"].values[0, :, 0, 0], [301.375, 302.375])


def test_unwritten_steps_drop_the_day_and_nan_points_stay_nan():
    f = make_forecast(step="6h", n_leads=4 * 10)
    rain = f["total_precipitation"].values
    rain[1, -5:] = np.nan                    # member 1: the last 5 steps not written yet
    rain[0, 9, 0, 0] = np.nan                # one point missing in one step of lead day 2
    f["total_precipitation"] = f["total_precipitation"].copy(data=rain)
    d = forecast_daily(f)
    assert d["lead_day"].values.max() == 8   # days 9 (partly unwritten) and 10 (partial) dropped
    assert np.isnan(d["total_precipitation"].values[0, 1, 0, 0])
    assert np.isfinite(d["total_precipitation"].values[0, 1, 0, 1])
    assert np.isfinite(d["total_precipitation"].values[:, [0, 2, 3]]).all()


def test_a_real_zarr_lazily_opened_gives_the_same(tmp_path):
    f = make_forecast(step="12h", n_leads=20, levels=[500, 850])
    write_zarr(f, tmp_path / "fc.zarr")
    expect = forecast_daily(f)
    for chunks in (None, {}):
        with xr.open_zarr(tmp_path / "fc.zarr", chunks=chunks, consolidated=False) as ds:
            got = forecast_daily(ds)
        xr.testing.assert_allclose(got, expect)
    assert got["temperature"].dims == ("member", "time", "level", "lat", "lon")
    assert got.attrs["bundle_sha256"] == "abc123"


def test_variables_and_bad_inputs():
    f = make_forecast(n_leads=3)
    assert list(forecast_daily(f, ["2m_temperature"]).data_vars) == ["2m_temperature"]
    with pytest.raises(SowcastError, match="no variable 'sunshine_duration'"):
        forecast_daily(f, ["sunshine_duration"])
    with pytest.raises(SowcastError, match="lead_time"):
        forecast_daily(f.rename(lead_time="step"))
    with pytest.raises(SowcastError, match="does not divide a day"):
        forecast_daily(make_forecast(step="5h", n_leads=10))


def test_store_daily_resamples_sub_daily_and_passes_daily(tmp_path):
    path = make_canonical_store(tmp_path / "s6.zarr", n_times=10, grid=(2, 4), levels=None, step="6h")
    with xr.open_zarr(path, chunks=None, consolidated=False) as ds:
        d = store_daily(ds)
        raw = ds.load()
    assert set(d.data_vars) == {"2m_temperature", "total_precipitation"}   # static fields left out
    assert d.sizes["time"] == 3
    np.testing.assert_allclose(d["total_precipitation"].values[0], raw["total_precipitation"].values[:4].sum(0),
                               rtol=1e-5)
    np.testing.assert_allclose(d["2m_temperature"].values[1], raw["2m_temperature"].values[4:8].mean(0),
                               rtol=1e-6)
    assert np.isnan(d["total_precipitation"].values[2]).all()            # 2 of 4 steps only
    daily = make_canonical_store(tmp_path / "s1.zarr", n_times=5, grid=(2, 4), levels=None)
    with xr.open_zarr(daily, chunks=None, consolidated=False) as ds:
        d1 = store_daily(ds, ["total_precipitation"])
        np.testing.assert_array_equal(d1["total_precipitation"].values, ds["total_precipitation"].values)
    with pytest.raises(SowcastError, match="no variable"):
        store_daily(raw, ["sunshine_duration"])


def test_store_daily_masks_invalid_points():
    times = pd.date_range("2001-01-01", periods=3, freq="D")
    ds = xr.Dataset({"total_precipitation": (("time", "lat", "lon"), np.ones((3, 1, 2), np.float32),
                                             {"units": "mm"}),
                     "total_precipitation_valid": (("lat", "lon"), np.array([[True, False]]))},
                    coords={"time": times, "lat": [0.0], "lon": [0.0, 1.0]})
    d = store_daily(ds)
    assert np.isnan(d["total_precipitation"].values[:, 0, 1]).all()
    assert (d["total_precipitation"].values[:, 0, 0] == 1).all()
