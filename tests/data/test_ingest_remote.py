"""Archives in other layouts: fsspec URLs (an ERA5-like zarr with WeatherBench 2 names in
``memory://``), the CDS netCDF and cfgrib forecast layouts of ERA5 precipitation, CMIP levels.

The real archive is read the same way, e.g. with
``sources: [gs://weatherbench2/datasets/era5/1959-2023_01_10-wb13-6h-1440x721_with_derived_variables.zarr]``
and ``storage_options: {token: anon}`` (needs gcsfs and network access).
"""

from __future__ import annotations

import uuid

import fsspec
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.data.ingest import ingest
from sowcast.data.store import open_store, read_statistics
from sowcast.errors import SowcastError


def wb2_like(n_times: int = 12) -> xr.Dataset:
    """Names, units and layout of the WB2 ERA5 zarr: latitude ascending, longitude 0..360."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2020-07-01", periods=n_times, freq="6h")
    lat = np.arange(-10.0, 20.1, 5.0)          # 7, ascending as in WB2
    lon = np.arange(0.0, 360.0, 30.0)          # 12, 0..330
    shape = (n_times, len(lat), len(lon))
    return xr.Dataset(
        {
            "2m_temperature": (("time", "latitude", "longitude"), 290 + rng.normal(size=shape),
                               {"units": "K", "long_name": "2 metre temperature"}),
            "total_precipitation_6hr": (("time", "latitude", "longitude"),
                                        rng.gamma(0.5, 0.002, size=shape), {"units": "m"}),
            # A 24-hour running sum beside it, as in WB2: the 6-hour one matches the step.
            "total_precipitation_24hr": (("time", "latitude", "longitude"),
                                         rng.gamma(2.0, 0.002, size=shape), {"units": "m"}),
            "geopotential": (("time", "level", "latitude", "longitude"),
                             5.5e4 + rng.normal(size=(n_times, 3, len(lat), len(lon))),
                             {"units": "m**2 s**-2", "standard_name": "geopotential"}),
            "land_sea_mask": (("latitude", "longitude"), (rng.random((len(lat), len(lon))) > 0.5) * 1.0,
                              {"units": "(0 - 1)"}),
        },
        coords={"time": times, "latitude": lat, "longitude": lon, "level": [50, 500, 850]},
    )


@pytest.fixture
def memory_zarr():
    url = f"memory://wb2-{uuid.uuid4().hex[:8]}/era5.zarr"
    src = wb2_like()
    src.chunk({"time": 4}).to_zarr(url, zarr_format=2, consolidated=True, mode="w")
    yield url, src
    fs = fsspec.filesystem("memory")
    fs.rm(url.split("://", 1)[1].split("/")[0], recursive=True)


def test_remote_zarr_wb2_names(tmp_path, memory_zarr):
    url, src = memory_zarr
    store = tmp_path / "wb2.zarr"
    ingest({"sources": [url], "storage_options": {}, "level": [850, 500]}, store, progress=False)
    ds = open_store(store).load()
    assert ds.attrs["source"] == [url] and ds.attrs["time_step"] == "PT6H"
    assert set(ds.data_vars) == {"2m_temperature", "total_precipitation", "geopotential", "land_sea_mask"}
    assert list(ds["level"].values) == [500.0, 850.0]
    assert list(ds["lon"].values) == list(np.arange(-180.0, 180.0, 30.0))
    assert ds["land_sea_mask"].dims == ("lat", "lon")
    # 2m temperature maps by identity; lon 330 E is -30.
    np.testing.assert_allclose(ds["2m_temperature"].sel(lon=-30.0).values,
                               src["2m_temperature"].sel(longitude=330.0).values[:-1], rtol=1e-6)
    # ERA5 accumulations end at their label: the canonical value at t is WB2's at t + 6h, in mm.
    tp = ds["total_precipitation"]
    assert tp.attrs["units"] == "mm" and tp.attrs["cell_methods"] == "time: sum"
    assert ds.sizes["time"] == src.sizes["time"] - 1
    np.testing.assert_allclose(tp.sel(lon=-30.0).values,
                               src["total_precipitation_6hr"].sel(longitude=330.0).values[1:] * 1000.0, rtol=1e-5)
    assert "geopotential" in read_statistics(store)


def test_remote_zarr_daily_sums(tmp_path, memory_zarr):
    url, src = memory_zarr
    store = tmp_path / "daily.zarr"
    ingest({"sources": [url], "time_step": "1D", "variables": ["total_precipitation", "2m_temperature"]},
           store, progress=False)
    ds = open_store(store).load()
    assert ds.attrs["time_step"] == "P1D" and set(ds.data_vars) == {"total_precipitation", "2m_temperature"}
    # 12 six-hourly steps from 07-01 00Z: the sums covering 07-01 and 07-02 end at 06, 12, 18, 00Z.
    assert [str(t)[:10] for t in ds["time"].values] == ["2020-07-01", "2020-07-02"]
    wb2 = src["total_precipitation_6hr"].sel(longitude=0.0, latitude=5.0)
    day1 = wb2.sel(time=slice("2020-07-01T06", "2020-07-02T00")).sum().item() * 1000
    assert float(ds["total_precipitation"].sel(time="2020-07-01", lat=5.0, lon=0.0)) == pytest.approx(day1, rel=1e-5)
    t2m = src["2m_temperature"].sel(longitude=0.0, latitude=5.0, time="2020-07-02").mean().item()
    assert float(ds["2m_temperature"].sel(time="2020-07-02", lat=5.0, lon=0.0)) == pytest.approx(t2m, rel=1e-6)


def test_remote_missing_store(tmp_path):
    with pytest.raises(SowcastError, match="no such file or store: memory://"):
        ingest({"sources": ["memory://nowhere/era5.zarr"]}, tmp_path / "x.zarr", progress=False)
    assert not (tmp_path / "x.zarr").exists()


def test_remote_store_is_not_an_output(tmp_path, memory_zarr):
    url, _ = memory_zarr
    with pytest.raises(SowcastError, match="local path"):
        ingest({"sources": [url]}, "memory://out/store.zarr", progress=False)


def era5_hourly_tp(days: int = 3) -> xr.Dataset:
    """ERA5 hourly tp as the CDS netCDF gives it: valid_time, latitude descending, 0..360, metres."""
    rng = np.random.default_rng(1)
    times = pd.date_range("2021-08-01", periods=24 * days, freq="h")
    lat, lon = np.array([14.0, 13.0, 12.0]), np.array([0.0, 1.0, 359.0])
    tp = rng.gamma(0.3, 0.0005, size=(len(times), 3, 3))
    return xr.Dataset({"tp": (("valid_time", "latitude", "longitude"), tp, {"units": "m", "GRIB_stepType": "accum"})},
                      coords={"valid_time": times, "latitude": lat, "longitude": lon, "number": 0,
                              "expver": ("valid_time", np.array(["0001"] * len(times)))})


def test_era5_hourly_precipitation_convention(tmp_path):
    """tp at valid time t covers (t - 1h, t]: day D sums valid times D 01:00 .. D+1 00:00."""
    src = era5_hourly_tp()
    src.to_netcdf(tmp_path / "tp.nc")
    ingest({"sources": [str(tmp_path / "tp.nc")], "time_step": "1D"}, tmp_path / "tp.zarr", progress=False)
    ds = open_store(tmp_path / "tp.zarr").load()
    # Aug 1 and 2 are complete; Aug 3 lacks the value ending at Aug 4 00:00 and is dropped.
    assert [str(t)[:10] for t in ds["time"].values] == ["2021-08-01", "2021-08-02"]
    point = src["tp"].sel(latitude=13.0, longitude=359.0)
    day = point.sel(valid_time=slice("2021-08-01T01", "2021-08-02T00")).sum().item() * 1000.0
    assert float(ds["total_precipitation"].sel(time="2021-08-01", lat=13.0, lon=-1.0)) == pytest.approx(day, rel=1e-5)
    assert ds["total_precipitation"].attrs["units"] == "mm"
    # Hourly: label t holds the amount over [t, t + 1h), i.e. ERA5's value at t + 1h.
    ingest({"sources": [str(tmp_path / "tp.nc")]}, tmp_path / "tph.zarr", progress=False)
    hourly = open_store(tmp_path / "tph.zarr")["total_precipitation"].sel(lat=13.0, lon=-1.0).values
    np.testing.assert_allclose(hourly, point.values[1:] * 1000.0, rtol=1e-5)


def test_forecast_steps_become_valid_times(tmp_path):
    """cfgrib's ERA5 accumulation layout: (time, step) with a 2-D valid_time, flattened."""
    init = pd.to_datetime(["2021-08-01T06", "2021-08-01T18"])
    step = pd.to_timedelta(np.arange(1, 13), unit="h")
    valid = init.values[:, None] + step.values[None, :]
    tp = np.arange(2 * 12 * 4, dtype=float).reshape(2, 12, 2, 2) * 1e-4
    src = xr.Dataset({"tp": (("time", "step", "latitude", "longitude"), tp, {"units": "m", "GRIB_stepType": "accum"})},
                     coords={"time": init, "step": step, "latitude": [10.0, 11.0], "longitude": [0.0, 1.0],
                             "valid_time": (("time", "step"), valid)})
    src.to_netcdf(tmp_path / "fc.nc")
    ingest({"sources": [str(tmp_path / "fc.nc")]}, tmp_path / "fc.zarr", progress=False)
    ds = open_store(tmp_path / "fc.zarr").load()
    assert ds.attrs["time_step"] == "PT1H"
    # Valid times 07:00 .. next 06:00, one axis; the label 07:00 holds [07:00, 08:00), which
    # ERA5 labels 08:00, so the last label (nothing after it) goes.
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2021-08-01T07")
    assert pd.Timestamp(ds["time"].values[-1]) == pd.Timestamp("2021-08-02T05")
    np.testing.assert_allclose(ds["total_precipitation"].values[:, 0, 0], tp.reshape(24, 2, 2)[1:, 0, 0] * 1000,
                               rtol=1e-6)


def test_cmip_levels_in_pa_and_celsius(tmp_path):
    times = pd.date_range("2000-01-01", periods=3, freq="D")
    src = xr.Dataset(
        {"ta": (("time", "plev", "lat", "lon"), np.full((3, 2, 2, 2), 10.0), {"units": "degC"}),
         "tas": (("time", "lat", "lon"), np.full((3, 2, 2), 300.0), {"units": "K"})},
        coords={"time": times, "plev": ("plev", [85000.0, 50000.0], {"units": "Pa"}),
                "lat": [0.0, 1.0], "lon": [0.0, 1.0]})
    src.to_netcdf(tmp_path / "cmip.nc")
    ingest({"sources": [str(tmp_path / "cmip.nc")]}, tmp_path / "cmip.zarr", progress=False)
    ds = open_store(tmp_path / "cmip.zarr").load()
    assert list(ds["level"].values) == [500.0, 850.0]
    assert float(ds["temperature"].max()) == pytest.approx(283.15)
    assert ds["2m_temperature"].dims == ("time", "lat", "lon")


def test_remote_netcdf_file(tmp_path):
    """A netCDF file behind a URL is fetched to a local cache (netCDF4 needs a path)."""
    src = xr.Dataset({"t2m": (("time", "lat", "lon"), np.arange(24.0).reshape(4, 2, 3) + 280, {"units": "K"})},
                     coords={"time": pd.date_range("2000-01-01", periods=4, freq="6h"),
                             "lat": [1.0, 0.0], "lon": [10.0, 11.0, 12.0]})
    src.to_netcdf(tmp_path / "t.nc")
    fs = fsspec.filesystem("memory")
    folder = f"/remote-{uuid.uuid4().hex[:8]}"
    fs.pipe(f"{folder}/t.nc", (tmp_path / "t.nc").read_bytes())
    try:
        ingest({"sources": [f"memory://{folder}/*.nc"]}, tmp_path / "r.zarr", progress=False)
    finally:
        fs.rm(folder, recursive=True)
    ds = open_store(tmp_path / "r.zarr").load()
    np.testing.assert_array_equal(ds["2m_temperature"].values, src["t2m"].values[:, ::-1, :])
    assert ds.attrs["source"] == [f"memory://{folder}/t.nc"]
