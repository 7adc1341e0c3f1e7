"""The synthetic West African monsoon: climate shape, predictability hook, determinism, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.data.grid import Grid
from sowcast.data.schema import PRECIPITATION_ACCUMULATION, cf_attrs, validate_canonical
from sowcast.data.synthetic_monsoon import (
    STATIC,
    TIME_VARYING,
    land_sea_mask,
    orography,
    sivakumar_onset_doy,
    synthesize,
    write_raw,
)
from sowcast.errors import SowcastError

TINY = Grid.from_bounds(4.0, 14.0, -6.0, 2.0, 2.0)


@pytest.fixture(scope="module")
def region() -> xr.Dataset:
    """West Africa at 2 degrees, 6 years: the climate-shape tests."""
    return synthesize(Grid.from_bounds(-2, 24, -20, 16, 2.0), "2001-01-01", "2006-12-31", seed=0)


@pytest.fixture(scope="module")
def strip() -> xr.Dataset:
    """A 1-degree meridional strip from the Gulf of Guinea to the Sahel, 30 years: onsets."""
    return synthesize(Grid.from_bounds(-2, 14, -4, 0, 1.0), "1981-01-01", "2010-12-31", seed=0)


def _monthly_land(ds: xr.Dataset, name: str) -> xr.DataArray:
    """Monthly climatology of a field, zonal mean over land points (month, lat)."""
    field = ds[name].where(ds["land_sea_mask"] == 1)
    return field.groupby("time.month").mean().mean("lon")


def _dates(ds: xr.Dataset) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ds["time"].values)


# ----------------------------------------------------------------------------- climate shape
def test_rain_band_marches_north_and_back(region):
    clim = _monthly_land(region, "total_precipitation")

    def lat_of_max(months: list[int]) -> float:
        zonal = clim.sel(month=months).mean("month")
        return float(zonal["lat"][int(zonal.argmax("lat"))])

    spring, august, october = lat_of_max([4, 5]), lat_of_max([8]), lat_of_max([10])
    assert 4 <= spring <= 7, spring
    assert 9 <= august <= 13, august
    assert october <= august - 2, (october, august)


def test_sahel_one_season_coast_two(region):
    clim = _monthly_land(region, "total_precipitation") * 30.4   # mm/month
    sahel = clim.sel(lat=14).values
    coast = clim.sel(lat=6).values
    # Sahel: one season peaking July-September, nothing in the dry season.
    assert int(np.argmax(sahel)) + 1 in (7, 8, 9)
    assert sahel[[0, 1, 2, 10, 11]].max() < 0.05 * sahel.max()
    rising, falling = np.diff(sahel[2:11]) > 0, np.diff(sahel[2:11]) < 0
    assert rising[: np.argmax(~rising)].all() and falling[np.argmax(falling):].all(), sahel
    # Coast: a first season (April-June) and a second (September-November) around a
    # July-August little dry season.
    first, second, little = coast[3:6].max(), coast[8:11].max(), coast[6:8].min()
    assert little < 0.6 * first and little < 0.6 * second, coast


def test_annual_totals_and_desert(region):
    annual = region["total_precipitation"].sel(lon=slice(-10, 10)).groupby("time.year").sum().mean("year")
    land = region["land_sea_mask"].sel(lon=slice(-10, 10)) == 1
    zonal = annual.where(land).mean("lon")
    assert 900 < float(zonal.sel(lat=6)) < 1800, float(zonal.sel(lat=6))
    assert 350 < float(zonal.sel(lat=14)) < 800, float(zonal.sel(lat=14))
    assert float(zonal.sel(lat=slice(20, 24)).max()) < 100
    assert float(zonal.sel(lat=slice(4, 12)).min()) > 700


def test_dry_days_and_heavy_tail(region):
    sahel = region["total_precipitation"].sel(lat=14, lon=slice(-10, 10))
    months = sahel["time"].dt.month
    jjas = sahel.where(months.isin([6, 7, 8, 9]), drop=True).values
    dry_season = sahel.where(months.isin([12, 1, 2, 3]), drop=True).values
    assert 0.45 <= (jjas < 1).mean() <= 0.75
    assert (dry_season < 1).mean() > 0.97
    wet = jjas[jjas >= 1]
    assert 8 < wet.mean() < 20
    assert np.percentile(wet, 99) > 3 * wet.mean()   # heavy tail (gamma shape < 1)


def test_onset_varies_between_years_and_follows_the_ocean(strip):
    dates = _dates(strip)
    rain = strip["total_precipitation"].sel(lat=[12, 13]).values          # (time, 2, lon)
    onset = sivakumar_onset_doy(rain, dates)                               # (year, 2, lon)
    assert np.isnan(onset).mean() < 0.15
    spread = np.nanstd(onset, axis=0, ddof=1)
    assert 5 < float(np.median(spread)) < 25, spread
    # Predictability hook: the May-mean ocean index over the Gulf of Guinea foretells the
    # regional-mean onset (a warm Gulf delays it).
    gulf = strip["ocean_index"].sel(lat=slice(-2, 2)).mean(("lat", "lon")).to_series()
    may = gulf[gulf.index.month == 5].groupby(gulf.index[gulf.index.month == 5].year).mean()
    regional = np.nanmean(onset.reshape(len(onset), -1), axis=1)
    ok = np.isfinite(regional)
    corr = np.corrcoef(may.values[ok], regional[ok])[0, 1]
    assert corr > 0.4, corr


def test_ocean_index_is_slow(strip):
    gulf = strip["ocean_index"].sel(lat=0, lon=-2).values
    assert 0.2 < gulf.std() < 1.0
    lag30 = np.corrcoef(gulf[:-30], gulf[30:])[0, 1]
    assert lag30 > 0.6, lag30          # persists for months
    monthly = strip["ocean_index"].sel(lat=0, lon=-2).resample(time="MS").mean().values
    assert np.corrcoef(monthly[:-24], monthly[24:])[0, 1] < 0.5   # but not forever


def test_easterly_waves_travel_west_and_mjo_east():
    # African easterly waves: the 10 m meridional wind at 12 N one day later looks like
    # today's ~700 km (6 degrees) further west (8 m/s), and reverses after about 2 days.
    ds = synthesize(Grid.from_bounds(10, 14, -20, 16, 1.0), "2003-07-01", "2003-09-30", seed=0)
    v = ds["10m_v_component_of_wind"].sel(lat=12).values
    v = v - v.mean(axis=0)
    shift = 6
    west = np.corrcoef(v[:-1, shift:].ravel(), v[1:, :-shift].ravel())[0, 1]
    east = np.corrcoef(v[:-1, :-shift].ravel(), v[1:, shift:].ravel())[0, 1]
    assert west > 0.5 and east < 0, (west, east)
    lag2 = np.corrcoef(v[:-2].ravel(), v[2:].ravel())[0, 1]
    assert lag2 < 0, lag2                                   # period 3-5 days
    # MJO: the zonal wavenumber-1 pattern of tropical 10 m wind moves east, period 30-60 d.
    g = synthesize(Grid.global_grid(10.0), "2003-01-01", "2003-06-30", seed=0)
    u = g["10m_u_component_of_wind"].sel(lat=slice(-10, 10)).mean("lat").values
    u = u - u.mean(axis=0)
    phase = np.unwrap(np.angle((u * np.exp(-1j * np.deg2rad(g["lon"].values))).mean(axis=1)))
    speed = -np.polyfit(np.arange(len(phase)), np.rad2deg(phase), 1)[0]    # deg/day, east > 0
    assert 360 / 60 < speed < 360 / 30, speed


def test_coupled_fields_are_consistent(region):
    land = region["land_sea_mask"] == 1
    wa = region.sel(lat=slice(4, 20), lon=slice(-10, 10))
    wa_land = land.sel(lat=slice(4, 20), lon=slice(-10, 10))
    mean = wa.mean("time")
    # Humidity is higher where it rains more.
    q, r = mean["2m_specific_humidity"].where(wa_land), mean["total_precipitation"].where(wa_land)
    ok = q.notnull().values
    assert np.corrcoef(q.values[ok], r.values[ok])[0, 1] > 0.6
    # Sahel wet season: rainy days are cooler and moister than dry days.
    sahel = region.sel(lat=14, lon=slice(-6, 6))
    sahel = sahel.where(sahel["time"].dt.month.isin([7, 8, 9]), drop=True)
    rainy = sahel["total_precipitation"] >= 5
    t2m, hum = sahel["2m_temperature"], sahel["2m_specific_humidity"]
    assert float(t2m.where(~rainy).mean() - t2m.where(rainy).mean()) > 0.5
    assert float(hum.where(rainy).mean()) > float(hum.where(~rainy).mean())
    # Hot pre-monsoon Sahel, cooled by the rains; dry Harmattan in winter.
    t_clim = _monthly_land(region, "2m_temperature").sel(lat=14)
    assert 302 < float(t_clim.sel(month=5)) < 310
    assert float(t_clim.sel(month=5)) - float(t_clim.sel(month=8)) > 2
    q_clim = _monthly_land(region, "2m_specific_humidity")
    assert float(q_clim.sel(lat=14, month=1)) < 0.007 < float(q_clim.sel(lat=14, month=8))
    # Winds: south-westerly monsoon in August at 10 N, north-easterly Harmattan in January.
    u = _monthly_land(region, "10m_u_component_of_wind")
    v = _monthly_land(region, "10m_v_component_of_wind")
    assert float(u.sel(lat=10, month=8)) > 0 and float(v.sel(lat=10, month=8)) > 0
    assert float(u.sel(lat=16, month=1)) < 0 and float(v.sel(lat=16, month=1)) < 0
    # Saharan heat low in July: lower pressure at 18-20 N than over the Gulf.
    p = region["mean_sea_level_pressure"].groupby("time.month").mean().sel(month=7).mean("lon")
    assert float(p.sel(lat=slice(18, 20)).mean()) < float(p.sel(lat=slice(-2, 2)).mean()) - 300


def test_statics_trace_west_africa():
    g = Grid.from_bounds(-2, 24, -20, 16, 1.0)
    land = xr.DataArray(land_sea_mask(g), coords={"lat": g.lat, "lon": g.lon})
    orog = xr.DataArray(orography(g), coords={"lat": g.lat, "lon": g.lon})
    for lat, lon in [(8, 0), (12, -2), (14, -16), (20, 0), (0, 12), (10, -12), (6, -5)]:
        assert land.sel(lat=lat, lon=lon) == 1, (lat, lon)
    for lat, lon in [(2, 0), (4, -10), (14, -19), (3, 5), (20, -18), (0, 0)]:
        assert land.sel(lat=lat, lon=lon) == 0, (lat, lon)
    assert set(np.unique(land.values)) == {0.0, 1.0}
    assert float(orog.where(land == 0).max()) == 0
    assert float(orog.sel(lat=11, lon=-12)) > 600     # Fouta Djallon
    assert float(orog.sel(lat=10, lon=9)) > 800       # Jos plateau
    assert float(orog.sel(lat=12, lon=0)) < 500       # plains


# ----------------------------------------------------------------------------- form and grids
def test_canonical_form():
    ds = synthesize(TINY, "2003-02-27", "2003-03-02", seed=1)
    validate_canonical(ds, "synthetic")
    assert list(ds["time"].values) == list(pd.date_range("2003-02-27", "2003-03-02").values)
    assert set(ds.data_vars) == set(TIME_VARYING) | set(STATIC)
    for name in TIME_VARYING:
        assert ds[name].dims == ("time", "lat", "lon")
    for name in STATIC:
        assert ds[name].dims == ("lat", "lon")
    for name, da in ds.data_vars.items():
        assert da.dtype == np.float32, name
        for key, value in cf_attrs(name).items():
            assert da.attrs[key] == value
    assert ds.attrs["time_step"] == "P1D"
    assert ds.attrs["precipitation_accumulation"] == PRECIPITATION_ACCUMULATION
    source = ds.attrs["source"]
    assert source.startswith("sowcast synthetic monsoon v") and source.endswith("seed 1")
    assert ds.attrs["title"]
    assert np.array_equal(ds["lat"].values, TINY.lat) and np.array_equal(ds["lon"].values, TINY.lon)


def test_global_grid():
    g = Grid.global_grid(5.0)
    ds = synthesize(g, "2002-07-01", "2002-07-31", seed=2)
    validate_canonical(ds, "global")
    for name, da in ds.data_vars.items():
        assert np.isfinite(da.values).all(), name
    assert float(ds["total_precipitation"].min()) >= 0
    assert 180 < float(ds["2m_temperature"].min()) and float(ds["2m_temperature"].max()) < 330
    assert float(ds["2m_specific_humidity"].min()) >= 0 and float(ds["2m_specific_humidity"].max()) < 0.04
    assert 0.2 < float(ds["land_sea_mask"].mean()) < 0.5
    zonal = ds.mean(("time", "lon"))
    rain = zonal["total_precipitation"]
    # A northern-summer ITCZ, dry subtropics, a warm tropics and cold poles.
    assert float(rain.sel(lat=slice(5, 15)).max()) > 3 * float(rain.sel(lat=slice(-35, -20)).mean())
    t = zonal["2m_temperature"]
    assert float(t.sel(lat=0)) > float(t.sel(lat=60)) > float(t.sel(lat=-80))
    # The ocean index lives in the tropical Atlantic: far from it, only weak noise.
    assert float(np.abs(ds["ocean_index"].sel(lat=slice(-20, 20), lon=slice(120, 170))).max()) < 0.6


def test_same_seed_same_data_other_seed_other_data():
    a = synthesize(TINY, "2001-06-01", "2001-06-30", seed=5)
    b = synthesize(TINY, "2001-06-01", "2001-06-30", seed=5)
    c = synthesize(TINY, "2001-06-01", "2001-06-30", seed=6)
    xr.testing.assert_identical(a, b)
    for name in TIME_VARYING:
        assert not np.array_equal(a[name].values, c[name].values), name
    xr.testing.assert_equal(a[list(STATIC)], c[list(STATIC)])


def test_values_do_not_depend_on_the_requested_period():
    short = synthesize(TINY, "2000-01-01", "2001-12-31", seed=0)
    long = synthesize(TINY, "1995-01-01", "2005-12-31", seed=0)
    xr.testing.assert_identical(short, long.sel(time=slice("2000-01-01", "2001-12-31")))
    middle = synthesize(TINY, "2001-07-15", "2001-07-20", seed=0)
    xr.testing.assert_identical(middle, long.sel(time=slice("2001-07-15", "2001-07-20")))


def test_day_blocks_do_not_change_with_the_requested_period(monkeypatch):
    import sowcast.data.synthetic_monsoon as sm

    monkeypatch.setattr(sm, "BLOCK_POINTS", 100)     # 3-day blocks on TINY's 30 points
    year = synthesize(TINY, "2001-01-01", "2001-12-31", seed=4)
    for start, end in [("2001-03-02", "2001-03-02"), ("2001-03-01", "2001-03-08"),
                       ("2001-12-30", "2001-12-31")]:
        part = synthesize(TINY, start, end, seed=4)
        xr.testing.assert_identical(part, year.sel(time=slice(start, end)))


@pytest.mark.parametrize("start, end, match", [
    ("2001-01-10", "2001-01-01", "before start"),
    ("2001-13-01", "2001-12-31", "not a date"),
    ("yesterday-ish", "2001-12-31", "not a date"),
    ("1850-01-01", "1851-01-01", "outside"),
    ("2001-01-01T06:00", "2001-01-02", "calendar date"),
])
def test_bad_dates_are_one_line_errors(start, end, match):
    with pytest.raises(SowcastError, match=match) as info:
        synthesize(TINY, start, end)
    assert "\n" not in str(info.value)


def test_bad_seed_and_grid():
    with pytest.raises(SowcastError, match="seed"):
        synthesize(TINY, "2001-01-01", "2001-01-02", seed=-1)
    with pytest.raises(SowcastError, match="Grid"):
        synthesize({"lat": [0, 1]}, "2001-01-01", "2001-01-02")   # type: ignore[arg-type]


# ----------------------------------------------------------------------------- files
def test_write_raw_round_trip(tmp_path):
    out = tmp_path / "raw"
    paths = write_raw(out, TINY, "2000-12-20", "2001-01-10", seed=3, progress=False)
    assert [p.name for p in paths] == ["synthetic_monsoon_2000.nc", "synthetic_monsoon_2001.nc"]
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in paths]
    expected = synthesize(TINY, "2000-12-20", "2001-01-10", seed=3)
    with xr.open_mfdataset(paths, engine="netcdf4", combine="nested", concat_dim="time",
                           data_vars="minimal", coords="minimal", compat="override") as back:
        back = back.load()
    assert list(back["time"].values) == list(expected["time"].values)
    for name in (*TIME_VARYING, *STATIC):
        assert back[name].attrs["units"] == cf_attrs(name)["units"], name
        assert back[name].dtype == np.float32
        np.testing.assert_array_equal(back[name].values, expected[name].values)
    with xr.open_dataset(paths[0], engine="netcdf4", decode_times=False) as raw:
        assert raw["time"].attrs["units"] == "days since 1950-01-01"
        assert raw.attrs["precipitation_accumulation"] == PRECIPITATION_ACCUMULATION
        assert set(STATIC) <= set(raw.data_vars)
        assert raw["total_precipitation"].encoding["zlib"]


def test_write_raw_refuses_an_existing_folder(tmp_path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SowcastError, match="exists"):
        write_raw(out, TINY, "2001-01-01", "2001-01-05", progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]          # no temporary left over
    paths = write_raw(out, TINY, "2001-01-01", "2001-01-05", overwrite=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["synthetic_monsoon_2001.nc"] == [p.name for p in paths]


# ----------------------------------------------------------------------------- onset rule
def _season(year: int = 2001) -> tuple[np.ndarray, pd.DatetimeIndex]:
    dates = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
    return np.zeros(len(dates)), dates


def test_sivakumar_onset_rule():
    rain, dates = _season()
    doy = lambda text: pd.Timestamp(text).day_of_year  # noqa: E731
    # A false start on 10 May: 25 mm, then 10 dry days. Real onset on 1 June: 8+8+8 mm,
    # then rain every fifth day.
    rain[doy("2001-05-10") - 1] = 25.0
    june = doy("2001-06-01") - 1
    rain[june:june + 3] = 8.0
    rain[june + 3:june + 60:5] = 5.0
    onset = sivakumar_onset_doy(rain, dates)
    assert onset.shape == (1,)
    assert onset[0] == doy("2001-06-01")
    # Dry-day threshold: 0.5 mm days are dry at the default 1 mm, wet at 0.1 mm.
    rain2, _ = _season()
    rain2[june:june + 3] = 8.0
    rain2[june + 3:june + 40] = 0.5
    assert np.isnan(sivakumar_onset_doy(rain2, dates)[0])
    assert sivakumar_onset_doy(rain2, dates, dry_day_mm=0.1)[0] == doy("2001-06-01")
    # Nothing before 1 May counts; no rain at all means no onset.
    rain3, _ = _season()
    rain3[doy("2001-04-01") - 1:doy("2001-04-30")] = 10.0
    assert np.isnan(sivakumar_onset_doy(rain3, dates)[0])


def test_sivakumar_onset_many_points_and_years():
    dates = pd.date_range("2001-01-01", "2002-12-31", freq="D")
    rain = np.zeros((len(dates), 2, 3))
    rain[:, 0, :] = 7.0                     # 7 mm every day: onset on 1 May each year
    onset = sivakumar_onset_doy(rain, dates)
    assert onset.shape == (2, 2, 3)
    assert (onset[:, 0, :] == pd.Timestamp("2001-05-01").day_of_year).all()
    assert np.isnan(onset[:, 1, :]).all()
    with pytest.raises(SowcastError):
        sivakumar_onset_doy(rain[:-1], dates)


@pytest.mark.slow
def test_demo_configuration_statistics():
    """The demo as configured (27 x 37 at 1 degree, 1991-2010): totals and onset at 12-14 N."""
    ds = synthesize(Grid.from_bounds(-2, 24, -20, 16, 1.0), "1991-01-01", "2010-12-31", seed=0)
    assert len(ds["time"]) == 7305 and np.isfinite(ds["total_precipitation"].values).all()
    pts = ds["total_precipitation"].sel(lat=[12, 13, 14], lon=slice(-4, 4))
    onset = sivakumar_onset_doy(pts.values, _dates(ds))
    median = np.nanmedian(onset)
    assert pd.Timestamp("2001-06-05").day_of_year < median < pd.Timestamp("2001-07-20").day_of_year
    assert 5 < float(np.median(np.nanstd(onset, axis=0, ddof=1))) < 25
    annual = pts.groupby("time.year").sum().mean("year")
    assert 400 < float(annual.sel(lat=14).mean()) < 800
