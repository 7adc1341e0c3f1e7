"""Tests of sowcast.data.statistics against plain numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.data.statistics import STATS, compute_statistics
from sowcast.data.store import read_statistics, write_store
from sowcast.errors import SowcastError

TIMES = pd.date_range("2001-01-01", periods=12, freq="D")


def _dataset() -> xr.Dataset:
    """Small canonical dataset: a member+level field, a masked field with NaNs, a static field."""
    rng = np.random.default_rng(0)
    lat, lon = np.arange(4.0), np.arange(5.0) - 2
    t = (250 + 10 * rng.standard_normal((2, 12, 3, 4, 5))).astype(np.float32)
    t[0, 3, 1, 2, 2] = np.nan
    pr = rng.gamma(0.5, 4.0, (12, 4, 5)).astype(np.float32)
    pr[5, 0, 0] = np.nan
    valid = np.ones((4, 5), bool)
    valid[3, :] = False
    pr[:, 3, :] = 1e6  # fill values at invalid points: must not count
    return xr.Dataset(
        {"temperature": (("member", "time", "level", "lat", "lon"), t, {"units": "K"}),
         "total_precipitation": (("time", "lat", "lon"), pr, {"units": "mm"}),
         "total_precipitation_valid": (("lat", "lon"), valid),
         "orography": (("lat", "lon"), rng.random((4, 5)).astype(np.float32) * 500, {"units": "m"})},
        coords={"member": [0, 1], "time": TIMES, "level": [300, 500, 850], "lat": lat, "lon": lon},
    )


def _expected(values: np.ndarray, time_axis: int | None) -> np.ndarray:
    """numpy reference over all axes of ``values`` (float64, NaN-skipping, population std)."""
    x = values.astype(np.float64)
    out = [np.nanmean(x), np.nanstd(x), np.nanmin(x), np.nanmax(x)]
    if time_axis is None:
        return np.array(out + [np.nan, np.nan])
    d = np.diff(x, axis=time_axis)
    return np.array(out + [np.nanmean(d), np.nanstd(d)])


def _check(stats: xr.Dataset, ds: xr.Dataset) -> None:
    t = ds["temperature"].values
    for i, lev in enumerate(ds["level"].values):
        np.testing.assert_allclose(stats["temperature"].sel(level=lev).values,
                                   _expected(t[:, :, i], time_axis=1), rtol=1e-10)
    pr = ds["total_precipitation"].where(ds["total_precipitation_valid"]).values
    np.testing.assert_allclose(stats["total_precipitation"].values, _expected(pr, 0), rtol=1e-10)
    np.testing.assert_allclose(stats["orography"].values, _expected(ds["orography"].values, None),
                               rtol=1e-10)


def test_statistics_equal_numpy_with_nans_masks_levels_and_members():
    ds = _dataset()
    stats = compute_statistics(ds)
    assert list(stats["stat"].values) == list(STATS)
    assert set(stats.data_vars) == {"temperature", "total_precipitation", "orography"}
    assert stats["temperature"].dims == ("stat", "level") and stats["orography"].dims == ("stat",)
    assert all(v.dtype == np.float64 for v in stats.data_vars.values())
    _check(stats, ds)
    assert stats["total_precipitation"].sel(stat="max") < 1e5  # the masked fill is out
    assert np.isnan(stats["orography"].sel(stat=["diff_mean", "diff_std"])).all()
    assert stats.attrs["n_times"] == 12
    assert stats.attrs["period"] == ["2001-01-01T00:00:00", "2001-01-12T00:00:00"]
    assert stats["temperature"].attrs["units"] == "K"


def test_period_restricts_the_times_used():
    ds = _dataset()
    stats = compute_statistics(ds, period=("2001-01-03", "2001-01-09"))
    assert stats.attrs["n_times"] == 7
    assert stats.attrs["period"] == ["2001-01-03T00:00:00", "2001-01-09T00:00:00"]
    _check(stats, ds.sel(time=slice("2001-01-03", "2001-01-09")))
    full = compute_statistics(ds)
    assert not np.allclose(stats["temperature"].values, full["temperature"].values)
    with pytest.raises(SowcastError, match="holds no time"):
        compute_statistics(ds, period=("1990", "1991"))
    with pytest.raises(SowcastError, match="starts after it ends"):
        compute_statistics(ds, period=("2001-01-09", "2001-01-03"))
    with pytest.raises(SowcastError, match="period"):
        compute_statistics(ds, period=("not a date", "2001"))


def test_lazy_input_computes_to_the_same_numbers():
    ds = _dataset()
    lazy = ds.chunk({"time": 5, "lat": 2})
    stats = compute_statistics(lazy, period=("2001-01-02", "2001-01-11"))
    assert all(v.chunks is None for v in stats.data_vars.values())  # computed, not a graph
    xr.testing.assert_allclose(stats, compute_statistics(ds, period=("2001-01-02", "2001-01-11")), rtol=1e-12)


def test_large_offset_small_spread_keeps_precision():
    # Geopotential-like: mean 5e5, spread 1e-2; naive float32 sum of squares loses it all.
    rng = np.random.default_rng(5)
    z = 5e5 + 1e-2 * rng.standard_normal((40, 8, 9))
    ds = xr.Dataset({"geopotential_at_surface": (("time", "lat", "lon"), z.astype(np.float64))},
                    coords={"time": pd.date_range("2000", periods=40, freq="6h")})
    stats = compute_statistics(ds.chunk({"time": 7}))
    np.testing.assert_allclose(stats["geopotential_at_surface"].sel(stat="std"), z.std(), rtol=1e-8)
    np.testing.assert_allclose(stats["geopotential_at_surface"].sel(stat="mean"), z.mean(), rtol=1e-14)


def test_round_trip_through_the_store(tmp_path):
    ds = _dataset()
    ds.attrs.update({"time_step": "P1D", "precipitation_accumulation": "period_beginning"})
    ds = ds.drop_vars("orography")
    ds["temperature"].attrs.update({"standard_name": "air_temperature"})
    stats = compute_statistics(ds, period=("2001-01-01", "2001-01-10"))
    path = write_store(ds, tmp_path / "s.zarr", statistics=stats, progress=False)
    back = read_statistics(path)
    xr.testing.assert_allclose(back, stats, rtol=0)
    assert back.attrs["period"] == stats.attrs["period"] and back.attrs["n_times"] == 10
    assert back["temperature"].sel(stat="std", level=500).item() == stats["temperature"].sel(stat="std", level=500).item()


def test_static_only_dataset_and_single_step():
    ds = _dataset()
    stats = compute_statistics(ds[["orography"]])
    assert stats.attrs["n_times"] == 0 and stats.attrs["period"] == []
    one = compute_statistics(ds[["total_precipitation"]].isel(time=[0]))
    assert np.isnan(one["total_precipitation"].sel(stat="diff_std"))
    assert np.isfinite(one["total_precipitation"].sel(stat="mean"))
    with pytest.raises(SowcastError, match="no data variables"):
        compute_statistics(ds[["total_precipitation_valid"]])
