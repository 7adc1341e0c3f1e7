"""Initial conditions: read from a canonical store or an ERA5-like netCDF file, checked against the bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from forecast_helpers import era5_like_netcdf, make_store, one_line_error

from sowcast.bundle.reader import load_bundle
from sowcast.errors import SowcastError
from sowcast.forecast.initial_conditions import channel_specs, read_initial_conditions


@pytest.fixture(scope="module")
def bundle(forecast_data):
    return load_bundle(forecast_data["bundle"])


def _store_states(store, bundle, times) -> np.ndarray:
    with xr.open_zarr(store, consolidated=False, chunks=None) as ds:
        out = []
        for s in channel_specs(bundle):
            da = ds[s.variable].sel(time=times)
            out.append(da.sel(level=s.level).values if s.level is not None else da.values)
    return np.stack(out, axis=1)


def test_store_latest_and_chosen_init_time(forecast_data, bundle):
    store = forecast_data["store"]
    with xr.open_zarr(store, consolidated=False, chunks=None) as ds:
        times = ds["time"].values
    ic = read_initial_conditions(store, bundle)
    assert ic.init_time == pd.Timestamp(times[-1])
    np.testing.assert_array_equal(ic.times, times[-2:])
    np.testing.assert_array_equal(ic.states, _store_states(store, bundle, times[-2:]))
    assert ic.states.dtype == np.float32 and ic.states.shape == (2, 4, 8, 16)

    ic = read_initial_conditions(store, bundle, init_time=str(pd.Timestamp(times[5]).date()), n_times=4)
    np.testing.assert_array_equal(ic.times, times[2:6])
    np.testing.assert_array_equal(ic.states, _store_states(store, bundle, times[2:6]))
    assert ic.window(-1, 2).shape == (2, 4, 8, 16)
    np.testing.assert_array_equal(ic.window(1, 2), ic.states[:2])


def test_netcdf_analysis_normalised_like_ingest(forecast_data, bundle, tmp_path):
    store = forecast_data["store"]
    path, times = era5_like_netcdf(store, tmp_path / "era5.nc")
    ic = read_initial_conditions(path, bundle)
    # The period-ending precipitation moves to period-beginning: the last label goes, so the
    # latest init time is the store's last time, and every value equals the canonical one.
    assert ic.init_time == times[-1]
    want = _store_states(store, bundle, times[-2:].values)
    np.testing.assert_allclose(ic.states, want, rtol=1e-6, atol=1e-6)


def test_mismatches_are_one_line_errors(forecast_data, bundle, tmp_path):
    store = forecast_data["store"]
    no_temperature = make_store(tmp_path / "surface.zarr", level_variables=())
    one_line_error(lambda: read_initial_conditions(no_temperature, bundle), "lacks variable(s) temperature")

    wrong_level = make_store(tmp_path / "l700.zarr", n_times=6, levels=(500, 700))
    one_line_error(lambda: read_initial_conditions(wrong_level, bundle), "no temperature at 850 hPa", "500, 700")

    wrong_grid = make_store(tmp_path / "grid.zarr", grid=(8, 18))
    one_line_error(lambda: read_initial_conditions(wrong_grid, bundle), "grids differ", "8 x 18", "8 x 16")

    six_hourly = make_store(tmp_path / "6h.zarr", step="6h")
    one_line_error(lambda: read_initial_conditions(six_hourly, bundle), "time steps differ", "PT6H", "P1D")

    one_line_error(lambda: read_initial_conditions(store, bundle, init_time="2000-03-01"),
                 "no state at init_time 2000-03-01")
    one_line_error(lambda: read_initial_conditions(store, bundle, init_time="2000-01-01"),
                 "starts at 2000-01-01", "2 step(s)")
    one_line_error(lambda: read_initial_conditions(store, bundle, init_time="first of may"), "not a date")
    one_line_error(lambda: read_initial_conditions(tmp_path / "nowhere.zarr", bundle), "no initial conditions at")
    (tmp_path / "notes.txt").write_text("hello\n")
    one_line_error(lambda: read_initial_conditions(tmp_path / "notes.txt", bundle), "not weather data")


def test_nan_in_initial_state(forecast_data, bundle, tmp_path):
    path, times = era5_like_netcdf(forecast_data["store"], tmp_path / "era5.nc", extra_var=False)
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds["t"][-2, 1, 3, 4] = np.nan  # temperature 850 hPa at the last analysis time
    ds.to_netcdf(tmp_path / "nan.nc")
    one_line_error(lambda: read_initial_conditions(tmp_path / "nan.nc", bundle),
                 "NaN", "temperature_850", f"{times[-1]:%Y-%m-%d}", "1 grid point")
    # A NaN before the window does not matter.
    ds = ds.load()
    ds["t"][-2, 1, 3, 4] = ds["t"][-3, 1, 3, 4]
    ds["t"][0, 1, 3, 4] = np.nan
    ds.to_netcdf(tmp_path / "early_nan.nc")
    assert read_initial_conditions(tmp_path / "early_nan.nc", bundle).init_time == times[-1]


def test_real_era5_grib_analysis(real_data, tmp_path):
    """Real ERA5 GRIB1 (hourly t2m over the UK, latitude descending) as initial conditions of
    a bundle on that grid: values read through cfgrib and the ingest normalisation."""
    pytest.importorskip("cfgrib")
    from forecast_helpers import write_bundle

    from sowcast.data.grid import Grid

    grid = Grid.from_bounds(50, 58, -10, 2, 0.25)
    store = make_store(tmp_path / "uk.zarr", n_times=4, grid=grid, levels=None, step="1h",
                       surface=("2m_temperature",))
    bundle = load_bundle(write_bundle(tmp_path / "bundle", store))
    grib = real_data / "era5-2mt-2019-03-uk.grib"
    ic = read_initial_conditions(grib, bundle, init_time="2019-03-10T06:00")
    np.testing.assert_array_equal(ic.times, np.array(["2019-03-10T05:00", "2019-03-10T06:00"], "datetime64[ns]"))
    import cfgrib

    (raw,) = cfgrib.open_datasets(str(grib), backend_kwargs={"indexpath": ""})
    want = raw["t2m"].sel(time=ic.times).sortby("latitude").values
    np.testing.assert_array_equal(ic.states[:, 0], want)
    assert 250 < ic.states.min() and ic.states.max() < 300  # Kelvin, March in the UK
    # The ensemble GRIB (t and z at 500 and 850 hPa, 10 members, 3 degrees) is refused with a
    # clear reason by a bundle on its grid.
    store = make_store(tmp_path / "global.zarr", n_times=3, grid=Grid.global_grid(3.0), step="12h",
                       surface=(), level_variables=("temperature",))
    bundle = load_bundle(write_bundle(tmp_path / "bundle3", store))
    with pytest.raises(SowcastError, match="temperature is an ensemble \\(10 members\\)"):
        read_initial_conditions(real_data / "era5-levels-members.grib", bundle)
