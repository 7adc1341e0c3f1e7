"""products.climatology: lead-dependent model climatology from pooled hindcast starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from weekly_helpers import LAT, LON

from sowcast.errors import SowcastError
from sowcast.products import climatology as climatology_module
from sowcast.products.climatology import (
    QUANTILE_LEVELS,
    build_climatology,
    circular_distance,
    climatology_for,
    day_of_year,
    pooled_statistics,
    read_climatology,
    write_climatology,
)

PERIODS = ["week1", "week2"]


def hindcasts(starts: list[str], value, n_members: int = 3, lat=LAT, lon=LON) -> xr.Dataset:
    """Period aggregates (start, member, period, lat, lon): value(start_index, member, period)."""
    s, m, p = np.meshgrid(np.arange(len(starts)), np.arange(n_members), np.arange(len(PERIODS)), indexing="ij")
    v = np.asarray(value(s, m, p), np.float64)[..., None, None] * np.ones((len(lat), len(lon)))
    dims = ("start", "member", "period", "lat", "lon")
    return xr.Dataset(
        {"total_precipitation": (dims, v.astype(np.float32), {"units": "mm", "long_name": "rain"}),
         "2m_temperature": (dims, (290 + v).astype(np.float32), {"units": "K"})},
        coords={"start": pd.to_datetime(starts), "member": np.arange(n_members), "period": PERIODS,
                "first_lead_day": ("period", [1, 8]), "last_lead_day": ("period", [7, 14]),
                "lat": lat, "lon": lon},
        attrs={"bundle_sha256": "abc123"})


# Starts on 28 Dec and 4 Jan (7 days apart across the year end) and 1 Jun, three years.
STARTS = [f"{y}-{md}" for y in (2001, 2002, 2003) for md in ("01-04", "06-01", "12-28")]


def test_days_of_year_on_a_365_day_calendar():
    assert list(day_of_year(pd.to_datetime(["2001-03-01", "2004-03-01", "2004-02-29", "2004-12-31"]))) == [
        60, 60, 59, 365]
    assert list(circular_distance([362, 4, 152], 4)) == [7, 0, 148]
    assert len(QUANTILE_LEVELS) == 21 and list(QUANTILE_LEVELS) == sorted(QUANTILE_LEVELS)
    assert 1 / 3 in QUANTILE_LEVELS and 2 / 3 in QUANTILE_LEVELS and QUANTILE_LEVELS[0] == 0.05


def test_pooled_statistics_match_numpy():
    x = np.random.default_rng(1).gamma(1.0, 3.0, (40, 2, 3))
    x[:5, 0, 0] = np.nan
    mean, std, q, n = pooled_statistics(x, QUANTILE_LEVELS)
    np.testing.assert_allclose(mean, np.nanmean(x, 0))
    np.testing.assert_allclose(std, np.nanstd(x, 0, ddof=1))
    np.testing.assert_allclose(q, np.nanquantile(x, QUANTILE_LEVELS, axis=0))
    assert n[0, 0] == 35 and n[1, 1] == 40


def test_pooling_crosses_the_year_end():
    # value = index of the start in STARTS (so we know which starts went in), + 100 * member.
    h = hindcasts(STARTS, lambda s, m, p: s + 100 * m + 1000 * p)
    c = build_climatology(h, window_days=10)
    assert list(c["start_doy"].values) == [4, 152, 362]
    assert list(c["start_month_day"].values) == ["01-04", "06-01", "12-28"]
    assert list(c["n_starts"].values) == [6, 3, 6]
    winter = [i for i, s in enumerate(STARTS) if not s.endswith("06-01")]
    pooled = np.array([s + 100 * m for s in winter for m in range(3)], np.float64)
    np.testing.assert_allclose(c["total_precipitation_mean"].sel(start_doy=4, period="week1").values, pooled.mean())
    np.testing.assert_allclose(c["total_precipitation_mean"].sel(start_doy=362, period="week2").values,
                               pooled.mean() + 1000)
    np.testing.assert_allclose(c["total_precipitation_std"].sel(start_doy=4, period="week1").values,
                               pooled.std(ddof=1), rtol=1e-6)
    np.testing.assert_allclose(c["total_precipitation_quantiles"].sel(start_doy=4, period="week1").values[:, 0, 0],
                               np.quantile(pooled, QUANTILE_LEVELS), rtol=1e-6)
    assert (c["total_precipitation_count"].sel(start_doy=152).values == 9).all()
    assert c["total_precipitation_quantiles"].dims == ("start_doy", "period", "quantile", "lat", "lon")
    assert c.attrs["years"] == "2001 2002 2003" and c.attrs["n_starts"] == 9 and c.attrs["window_days"] == 10
    assert c.attrs["hindcast_bundle_sha256"] == "abc123"
    # a window of 5 days no longer reaches across: 4 Jan pools only its own date
    assert list(build_climatology(h, window_days=5)["n_starts"].values) == [3, 3, 3]


def test_fixed_bins_and_nan_periods():
    h = hindcasts(STARTS, lambda s, m, p: np.where(p == 1, np.nan, 1.0 * s))
    c = build_climatology(h, window_days=15, start_doys=[1, 100])
    assert list(c["n_starts"].values) == [6, 0]
    assert (c["total_precipitation_count"].sel(start_doy=1, period="week2").values == 0).all()
    assert np.isnan(c["total_precipitation_quantiles"].sel(start_doy=1, period="week2")).all()
    assert np.isnan(c["total_precipitation_mean"].sel(start_doy=100)).all()
    with pytest.raises(SowcastError, match="no start day within 15 days"):
        climatology_for(c, "2024-04-09")       # nearest non-empty bin is day 1


def test_observed_climatology_from_the_same_starts():
    h = hindcasts(STARTS, lambda s, m, p: 1.0 * s)
    obs_starts = [s for s in STARTS if s != "2003-12-28"]            # one start lacks observations
    o = hindcasts(obs_starts, lambda s, m, p: 10.0 * s, n_members=1).isel(member=0, drop=True)
    c = build_climatology(h, o, window_days=10)
    winter = [10.0 * i for i, s in enumerate(obs_starts) if not s.endswith("06-01")]
    np.testing.assert_allclose(c["observed_total_precipitation_mean"].sel(start_doy=4).values, np.mean(winter))
    assert (c["observed_total_precipitation_count"].sel(start_doy=4).values == 5).all()
    np.testing.assert_allclose(c["observed_total_precipitation_quantiles"].sel(start_doy=4, period="week1")
                               .values[:, 0, 0], np.quantile(winter, QUANTILE_LEVELS), rtol=1e-6)
    assert "observed_total_precipitation_std" not in c
    with pytest.raises(SowcastError, match="grid"):
        build_climatology(h, o.assign_coords(lon=o["lon"] + 1.5))
    with pytest.raises(SowcastError, match="lack period"):
        build_climatology(h, o.sel(period=["week1"]))


def test_blocks_and_lazy_input_give_the_same(tmp_path, monkeypatch):
    lat, lon = np.array([0.0, 1.5, 3.0]), np.array([0.0, 1.5])
    rng = np.random.default_rng(0)
    h = hindcasts(STARTS, lambda s, m, p: rng.gamma(1.0, 5.0, s.shape), lat=lat, lon=lon)
    h["total_precipitation"] = h["total_precipitation"] * xr.DataArray([1.0, 2.0, 3.0], dims="lat",
                                                                        coords={"lat": lat})
    whole = build_climatology(h)
    h.to_netcdf(tmp_path / "h.nc")
    monkeypatch.setattr(climatology_module, "_BLOCK_ELEMENTS", 1)   # one latitude row at a time
    with xr.open_dataset(tmp_path / "h.nc") as lazy:
        blocked = build_climatology(lazy)
    xr.testing.assert_allclose(whole.drop_attrs(), blocked.drop_attrs())


def test_write_read_and_pick_for_an_init_date(tmp_path):
    c = build_climatology(hindcasts(STARTS, lambda s, m, p: 1.0 * s + m), window_days=10)
    path = write_climatology(c, tmp_path / "climatology.nc")
    r = read_climatology(path, load=True)
    xr.testing.assert_allclose(r.drop_attrs(), c.drop_attrs())
    assert r.attrs["sowcast_product"] == "model_climatology"
    one = climatology_for(r, "2024-12-31")              # day 365: 3 days from 28 Dec, 4 from 4 Jan
    assert one.attrs["climatology_start_doy"] == 362
    assert one.attrs["climatology_start_doy_distance_days"] == 3
    assert one["total_precipitation_quantiles"].dims == ("period", "quantile", "lat", "lon")
    assert climatology_for(r, pd.Timestamp("2025-01-02T12:00")).attrs["climatology_start_doy"] == 4
    with pytest.raises(SowcastError, match="no start day within 10 days"):
        climatology_for(r, "2024-03-01")


def test_wrong_files_are_one_line_errors(tmp_path):
    with pytest.raises(SowcastError, match="no climatology file"):
        read_climatology(tmp_path / "absent.nc")
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(SowcastError, match="not a readable netCDF"):
        read_climatology(tmp_path / "text.nc")
    xr.Dataset({"x": ("t", [1.0])}).to_netcdf(tmp_path / "other.nc")
    with pytest.raises(SowcastError, match="not a sowcast model climatology"):
        read_climatology(tmp_path / "other.nc")
    with pytest.raises(SowcastError, match=r"no variable with dims \(start"):
        build_climatology(hindcasts(STARTS, lambda s, m, p: 1.0 * s).isel(start=0))
    with pytest.raises(SowcastError, match="window_days"):
        build_climatology(hindcasts(STARTS, lambda s, m, p: 1.0 * s), window_days=400)
