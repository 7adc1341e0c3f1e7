"""products.dry_season: the dry-season mask of the rain terciles, in weekly.nc and on real
station climatology."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from weekly_helpers import make_forecast

from sowcast.errors import SowcastError
from sowcast.products.climatology import build_climatology
from sowcast.products.dry_season import dry_season_mask, period_days
from sowcast.products.periods import hindcast_periods, observed_periods
from sowcast.products.weekly import weekly_products

DRY = "total_precipitation_dry_season"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def climatology() -> xr.Dataset:
    """Hindcasts from 3 June 2001..2009 with rain (year - 2000) mm/day: a model mean of
    5 mm/day; the observations twice that (10 mm/day)."""
    years = range(2001, 2010)
    fcs = [make_forecast(init=f"{y}-06-03", rain=lambda m, h, y=y: (y - 2000) + 0.0 * (m + h), n_members=1)
           for y in years]
    h = hindcast_periods(fcs)
    times = pd.date_range("2001-01-01", "2009-12-31", freq="D")
    shape = (len(times), 1, 2)
    obs = xr.Dataset({"total_precipitation": (("time", "lat", "lon"), np.broadcast_to(
        2.0 * (times.year.values - 2000)[:, None, None], shape), {"units": "mm"}),
        "2m_temperature": (("time", "lat", "lon"), np.full(shape, 300.0), {"units": "K"})},
        coords={"time": times, "lat": fcs[0]["lat"].values, "lon": fcs[0]["lon"].values})
    return build_climatology(h, observed_periods(obs, h["start"].values))


def test_weekly_products_carry_the_dry_season_flag(climatology):
    f = make_forecast(init="2024-06-03")
    wet = weekly_products(f, climatology)                    # default 1 mm/day: 5 and 10 mm/day are wet
    assert wet[DRY].dims == ("period", "lat", "lon") and wet[DRY].dtype == np.int8
    assert int(wet[DRY].max()) == 0
    assert wet[DRY].attrs["flag_meanings"] == "not_dry dry_season"
    assert float(wet[DRY].attrs["threshold_mm_per_day"]) == 1.0
    # 6 mm/day: the model's 5 mm/day mean is below (7 x 6 = 42 > 35 mm a week, 84 > 70 a fortnight),
    # though the observed 10 mm/day is not: either makes the period dry
    dry = weekly_products(f, climatology, dry_mm_per_day=6.0)
    assert int(dry[DRY].min()) == 1
    # 4 mm/day: neither is below; the tercile probabilities are kept in either case
    assert int(weekly_products(f, climatology, dry_mm_per_day=4.0)[DRY].max()) == 0
    np.testing.assert_array_equal(dry["total_precipitation_tercile_probability"].values,
                                  wet["total_precipitation_tercile_probability"].values)
    assert int(weekly_products(f, climatology, dry_mm_per_day=0)[DRY].max()) == 0
    assert "2m_temperature_dry_season" not in dry                  # rain only
    assert DRY not in weekly_products(f, None)                     # no climatology, no mask


def test_the_mask_uses_the_days_of_each_period(climatology):
    clim = climatology.isel(start_doy=0)
    days = period_days(clim)
    assert dict(zip(clim["period"].values, days.values)) == {
        "week1": 7, "week2": 7, "week3": 7, "week4": 7, "week5": 7, "week6": 7, "weeks3-4": 14, "weeks5-6": 14}
    # only the model mean: 35 mm a week, 70 a fortnight; 5.0 mm/day is not below, 5.01 is
    model_only = clim.drop_vars([v for v in clim.data_vars if str(v).startswith("observed_")])
    assert int(dry_season_mask(model_only, days, mm_per_day=5.0).max()) == 0
    assert int(dry_season_mask(model_only, days, mm_per_day=5.01).min()) == 1


@pytest.mark.parametrize("bad", [-1, "wet", float("nan"), True])
def test_a_bad_threshold_is_a_one_line_error(climatology, bad):
    with pytest.raises(SowcastError, match="dry_season_mm_per_day must be a number of mm per day >= 0"):
        weekly_products(make_forecast(init="2024-06-03"), climatology, dry_mm_per_day=bad)


def test_the_niger_stations_dry_season_on_their_records(real_data):
    """The default threshold on the observed climatology of 1961-1980 (daily_niger.csv): in
    mid-May the week ahead is dry season at desert-edge Agades (17 N) and at Niamey (13.5 N),
    whose rains start in late May-June; in mid-July, within both rainy seasons, it is not."""
    from sowcast.data.stations import read_station_csv

    obs = read_station_csv(real_data / "daily_niger.csv", ROOT / "data/stations/niger_stations.csv",
                           variables=["total_precipitation"],
                           time_range=("1961", "1980"))
    names = [str(s) for s in obs["station"].values]
    for month_day, expected in (("05-15", 1), ("07-15", 0)):
        starts = [f"{y}-{month_day}" for y in range(1961, 1981)]
        per = observed_periods(obs[["total_precipitation"]], starts)
        clim = xr.Dataset({"total_precipitation_mean": per["total_precipitation"].mean("start")})
        clim = clim.assign_coords(first_lead_day=per["first_lead_day"], last_lead_day=per["last_lead_day"])
        dry = dry_season_mask(clim, period_days(clim)).sel(period="week1")
        for station in ("Agades", "Niamey_Aero"):
            assert int(dry.isel(station=names.index(station))) == expected, (station, month_day)


def test_the_products_command_refuses_a_bad_threshold_in_one_line(sowcast_cli, tmp_path):
    forecast = tmp_path / "forecast.nc"
    forecast.write_bytes(b"")                       # refused before the forecast is read
    out = tmp_path / "products"
    r = sowcast_cli("products", f"products.forecast={forecast}", f"products.output={out}",
                    "products.dry_season_mm_per_day=-2", cwd=ROOT)
    assert r.returncode != 0 and not out.exists()
    assert r.stderr.strip().splitlines() == [
        "sowcast: error: products.dry_season_mm_per_day must be a number of mm per day >= 0, not -2"]


def test_the_chain_products_carry_the_mask_on_the_grid_and_at_each_location(chain):
    """weekly.nc holds the mask on the grid; locations.nc the flag at each location (its grid
    cell, int8) and locations.csv the same as rain_<period>_dry_season."""
    out = chain["products"]
    with xr.open_dataset(out / "weekly.nc") as w, xr.open_dataset(out / "locations.nc") as loc:
        grid, at = w[DRY].load(), loc[f"weekly_{DRY}"].load()
    assert grid.dims == ("period", "lat", "lon") and set(np.unique(grid.values)) <= {0, 1}
    assert at.dtype == np.int8 and at.attrs["flag_meanings"] == "not_dry dry_season"
    table = pd.read_csv(out / "locations.csv")
    for k, name in enumerate(at["location"].values):
        cell = grid.sel(lat=float(at["lat"][k]), lon=float(at["lon"][k]), method="nearest")
        np.testing.assert_array_equal(at.sel(location=name).values, cell.values)
        row = table.set_index("location").loc[str(name)]
        for period in ("week1", "week2", "weeks3-4", "weeks5-6"):
            assert int(row[f"rain_{period}_dry_season"]) == int(cell.sel(period=period))
