"""Ingest of the real sample files in ../shared/data/real, checked against the files read directly."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from real_samples import real

from sowcast.data.ingest import ingest
from sowcast.data.store import open_store, read_statistics


def open_grib(path: Path) -> xr.Dataset:
    return xr.open_dataset(path, engine="cfgrib", backend_kwargs={"indexpath": ""})


def run(sources, store: Path, **cfg) -> xr.Dataset:
    ingest({"sources": [str(s) for s in sources], **cfg}, store, progress=False)
    return open_store(store).load()


def test_era5_t2m_grib_hourly(tmp_path):
    src_path = tmp_path / "in" / "era5-2mt.grib"
    src_path.parent.mkdir()
    shutil.copy(real("era5-2mt-2019-03-uk.grib"), src_path)
    ds = run([src_path], tmp_path / "t2m.zarr")
    assert not list(src_path.parent.glob("*.idx")), "cfgrib wrote an index file beside the source"

    src = open_grib(src_path)["t2m"]
    assert ds.attrs["time_step"] == "PT1H"
    assert ds.attrs["source"] == [str(src_path)]
    assert "sowcast" in ds.attrs["history"]
    t2m = ds["2m_temperature"]
    assert t2m.dims == ("time", "lat", "lon") and t2m.shape == (744, 33, 49)
    assert t2m.dtype == np.float32 and t2m.attrs["units"] == "K"
    assert t2m.attrs["standard_name"] == "air_temperature"
    assert (np.diff(ds["lat"].values) > 0).all() and src["latitude"].values[0] > src["latitude"].values[-1]
    expected = src.sel(latitude=ds["lat"].values, longitude=ds["lon"].values).values
    np.testing.assert_array_equal(t2m.values, expected)
    # A corner: the north-west point is the first value of the GRIB's first row.
    assert t2m.sel(lat=58.0, lon=-10.0).values[0] == src.values[0, 0, 0]
    stats = read_statistics(tmp_path / "t2m.zarr")
    assert stats["2m_temperature"].sel(stat="mean") == pytest.approx(float(src.mean()), rel=1e-6)


def test_era5_t2m_grib_daily_means(tmp_path):
    path = real("era5-2mt-2019-03-uk.grib")
    ds = run([path], tmp_path / "daily.zarr", time_step="1D")
    src = open_grib(path)["t2m"]
    daily = src.resample(time="1D").mean().sortby("latitude")
    assert ds.attrs["time_step"] == "P1D"
    assert ds.sizes["time"] == 31 and str(ds["time"].values[0])[:10] == "2019-03-01"
    np.testing.assert_allclose(ds["2m_temperature"].values, daily.values, rtol=1e-6)


def test_era5_levels_members_grib(tmp_path):
    path = real("era5-levels-members.grib")
    ds = run([path], tmp_path / "levels.zarr")
    src = open_grib(path)
    z = ds["geopotential"]
    assert z.dims == ("member", "time", "level", "lat", "lon")
    assert ds.sizes["member"] == 10 and list(ds["member"].values) == list(range(10))
    assert list(ds["level"].values) == [500.0, 850.0]  # ascending hPa, as WeatherBench 2
    assert ds["lon"].values[0] == -180.0 and ds["lon"].values[-1] == 177.0
    assert (np.diff(ds["lon"].values) > 0).all() and (np.diff(ds["lat"].values) > 0).all()
    assert ds.attrs["time_step"] == "PT12H" and ds.sizes["time"] == 4
    assert z.attrs["units"] == "m2 s-2" and ds["temperature"].attrs["units"] == "K"
    # Values move with their longitudes: 357 E is -3; 0 E stays 0.
    np.testing.assert_array_equal(
        z.sel(lon=-3.0, level=500.0).values,
        src["z"].sel(longitude=357.0, isobaricInhPa=500.0).sortby("latitude").values)
    np.testing.assert_array_equal(
        ds["temperature"].sel(lon=0.0, level=850.0, lat=12.0).values,
        src["t"].sel(longitude=0.0, isobaricInhPa=850.0, latitude=12.0).values)
    # Geopotential in m2 s-2 (not metres): 500 hPa is near 5500 gpm x g.
    assert 45000 < float(z.sel(level=500.0).mean()) < 57000


def test_ncep_netcdf(tmp_path):
    path = real("ncep_air_temperature_small.nc")
    ds = run([path], tmp_path / "ncep.zarr")
    src = xr.open_dataset(path)["air"]
    assert src.dtype == np.float64
    t = ds["2m_temperature"]  # 'air' at sigma 0.995, no level dim: the near-surface temperature
    assert t.dtype == np.float32 and t.attrs["units"] == "K"
    assert ds["lon"].values[0] == -160.0 and ds["lon"].values[-1] == -30.0
    assert ds["lat"].values[0] == 15.0 and ds["lat"].values[-1] == 75.0
    assert ds.attrs["time_step"] == "PT6H"
    expected = src.sel(lat=ds["lat"].values, lon=ds["lon"].values + 360.0).values
    np.testing.assert_allclose(t.values, expected, rtol=1e-6)


def test_wfde5_hourly_mask(tmp_path):
    path = real("wfde5_gb_2017-01_precipitation_flux.nc")
    ds = run([path], tmp_path / "wfde5.zarr")
    src = xr.open_dataset(path)["pr"]
    pr = ds["total_precipitation"]
    valid = ds["total_precipitation_valid"]
    assert ds.attrs["time_step"] == "PT1H"
    assert pr.attrs["units"] == "mm" and pr.attrs["ancillary_variables"] == "total_precipitation_valid"
    assert valid.dims == ("lat", "lon") and valid.dtype == bool
    assert not np.isnan(pr.values).any()
    np.testing.assert_array_equal(valid.values, src.isel(time=0).notnull().values)
    assert 0.5 < 1 - float(valid.mean()) < 0.6  # 55 % sea points
    land = valid.values
    np.testing.assert_allclose(pr.values[:, land], src.values[:, land] * 3600.0, rtol=1e-5)
    fill = np.unique(pr.values[:, ~land])
    assert fill.size == 1
    assert fill[0] == pytest.approx(float(src.mean()) * 3600.0, rel=1e-5)  # the field's mean


def test_wfde5_daily(tmp_path):
    path = real("wfde5_gb_2017-01_precipitation_flux.nc")
    ds = run([path], tmp_path / "wfde5d.zarr", time_step="1D")
    src = xr.open_dataset(path)["pr"]
    assert ds.attrs["time_step"] == "P1D" and ds.sizes["time"] == 31
    # Hand check: day 2017-01-05 at a land point = mean of its 24 hourly rates x 86400.
    valid = ds["total_precipitation_valid"].values
    j, i = np.argwhere(valid)[len(np.argwhere(valid)) // 2]
    lat, lon = float(ds["lat"][j]), float(ds["lon"][i])
    rates = src.sel(lat=lat, lon=lon, time=slice("2017-01-05T00", "2017-01-05T23")).values
    assert len(rates) == 24
    value = float(ds["total_precipitation"].sel(time="2017-01-05", lat=lat, lon=lon))
    assert value == pytest.approx(rates.mean() * 86400.0, rel=1e-5)
    assert value > 0.1  # mm/day, not kg m-2 s-1


def test_yearly_files_concatenate(tmp_path):
    """Files of the same variables (the demo's yearly files) join in time through a glob."""
    src = xr.open_dataset(real("ncep_air_temperature_small.nc")).load()
    for v in src.variables.values():
        v.encoding = {}
    (tmp_path / "raw").mkdir()
    src.isel(time=slice(0, 8)).to_netcdf(tmp_path / "raw" / "part1.nc")
    src.isel(time=slice(8, None)).to_netcdf(tmp_path / "raw" / "part2.nc")
    ds = run([tmp_path / "raw" / "*.nc"], tmp_path / "joined.zarr")
    whole = run([real("ncep_air_temperature_small.nc")], tmp_path / "whole.zarr")
    xr.testing.assert_equal(ds["2m_temperature"], whole["2m_temperature"])
    assert len(ds.attrs["source"]) == 2


def test_regrid_to_target_grid(tmp_path):
    path = real("wfde5_gb_2017-01_precipitation_flux.nc")
    grid = {"lat_min": 51.0, "lat_max": 58.0, "lon_min": -8.0, "lon_max": 1.0, "resolution": 1.0}
    ds = run([path], tmp_path / "rg.zarr", grid=grid, time_step="1D")
    assert ds.sizes["lat"] == 8 and ds.sizes["lon"] == 10
    assert not np.isnan(ds["total_precipitation"].values).any()
    valid = ds["total_precipitation_valid"].values
    assert valid.any() and not valid.all()


@pytest.mark.slow
def test_distributed_local_cluster(tmp_path):
    path = real("ncep_air_temperature_small.nc")
    cluster = {"scheduler": "distributed", "address": "local-cluster", "n_workers": 2,
               "threads_per_worker": 1}
    t0 = time.monotonic()
    ingest({"sources": [str(path)], "time_step": "1D"}, tmp_path / "dist.zarr", cluster=cluster,
           progress=False)
    ds = open_store(tmp_path / "dist.zarr").load()
    src = xr.open_dataset(path)["air"].resample(time="1D").mean()
    np.testing.assert_allclose(ds["2m_temperature"].values,
                               src.sortby("lat").sel(lon=ds["lon"].values + 360.0).values, rtol=1e-6)
    assert pd.Timestamp(ds["time"].values[0]) == pd.Timestamp("2014-02-24")
    assert time.monotonic() - t0 < 120
