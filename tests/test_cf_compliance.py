"""Every netCDF and zarr output is CF-1.8: the IOOS compliance-checker's ``cf:1.8`` suite (its
Python API) finds no high-priority failure, and cf_xarray finds the X, Y, T (and Z) axes.

The tiny chain (tests/chain_helpers.py) gives the canonical store, the forecast, the hindcast
daily and period files, the climatology, the calibration and the products; a real ingest of
the ERA5 levels-and-members GRIB sample gives a store with a level; the bundle's static.nc
and statistics.nc are written by the export's own (torch-free) writers.

The checker reads netCDF only (its zarr route is netCDF-C's NCZarr, which does not read
zarr v3): a zarr store is copied to a netCDF file first, a few time steps, undecoded
(``decode_cf=False``), so the file holds the store's own attributes and stored dtypes. The
checker runs in a child process (:func:`cf_check`).

The one medium-priority failure left is CF 2.3 (a name begins with a letter): the
canonical variable names are WeatherBench 2's (``2m_temperature``) and readers depend on
them. The checker also stops with an exception in one check (strict monotonicity) on string
label coordinates (``period``, ``category``, ``location``, ``channel``); that check's
error is allowed, no other.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("compliance_checker")
pytest.importorskip("cf_xarray")

LABEL_CHECK = "check_coordinate_variables_strict_monotonicity"  # raises on string coordinates
NAMING = "§2.3 Naming Conventions"                               # 2m_temperature


def as_netcdf(path: Path, folder: Path) -> Path:
    """``path`` itself, or for a zarr store a netCDF copy of its first 3 times/leads/members,
    undecoded (the store's attributes and stored dtypes as they are)."""
    if not path.is_dir():
        return path
    ds = xr.open_zarr(path, decode_cf=False)
    ds = ds.isel({d: slice(0, 3) for d in ("time", "lead_time", "member") if d in ds.dims})
    for var in ds.variables.values():
        var.encoding = {} if "_FillValue" in var.attrs else {"_FillValue": None}  # a zarr fill_value is no attribute
    out = folder / f"{path.name}.nc"
    ds.to_netcdf(out, engine="netcdf4")
    return out


def cf_check(path: Path, folder: Path) -> dict:
    """:func:`cf_check_here` in a child process: the checker loads pyproj, whose bundled
    libraries and eccodes' (cfgrib, loaded by the ingest tests) abort the process at exit
    when both are loaded in one interpreter."""
    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from test_cf_compliance import cf_check_here; "
            "print(json.dumps(cf_check_here(Path(sys.argv[2]), Path(sys.argv[3]))))")
    run = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(path), str(folder)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def cf_check_here(path: Path, folder: Path) -> dict:
    """The cf:1.8 suite on ``path``: failed checks by priority (name: messages) and the
    checks that raised."""
    from compliance_checker.runner import CheckSuite

    suite = CheckSuite()
    suite.load_all_available_checkers()
    nc = as_netcdf(path, folder)
    ds = suite.load_dataset(str(nc))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            groups, errors = suite.run_all(ds, ["cf:1.8"], skip_checks=[])["cf:1.8"]
        report = suite.build_structure("cf:1.8", groups, str(nc), 1)
    finally:
        ds.close()
    failed = {level: {r.name: [str(m) for m in r.msgs] for r in report[f"{level}_priorities"]
                      if r.value[0] < r.value[1]} for level in ("high", "medium", "low")}
    return {**failed, "errors": sorted(errors)}


def cf_axes(path: Path) -> set[str]:
    import cf_xarray  # noqa: F401 - registers the .cf accessor

    ds = xr.open_zarr(path) if path.is_dir() else xr.open_dataset(path)
    with ds:
        return set(ds.cf.axes)


def assert_cf_clean(path: Path, folder: Path, axes: set[str]) -> None:
    result = cf_check(path, folder)
    assert result["high"] == {}, f"{path.name}: {result['high']}"
    assert set(result["medium"]) <= {NAMING}, f"{path.name}: {result['medium']}"
    assert set(result["errors"]) <= {LABEL_CHECK}, f"{path.name}: the checker raised in {result['errors']}"
    assert cf_axes(path) >= axes, f"{path.name}: cf_xarray finds axes {cf_axes(path)}, expected {axes}"


def chain_outputs(chain: dict[str, Path]) -> dict[str, tuple[Path, set[str]]]:
    """Each output of the tiny chain and the CF axes it must show."""
    hindcast = chain["hindcast"]
    return {
        "store": (chain["store"], {"X", "Y", "T"}),
        "forecast": (chain["forecast"], {"X", "Y", "T"}),
        "hindcast daily": (sorted((hindcast / "daily").glob("*.nc"))[0], {"X", "Y", "T"}),
        "hindcast periods": (sorted((hindcast / "periods").glob("*.nc"))[0], {"X", "Y", "T"}),
        "climatology": (hindcast / "climatology.nc", {"X", "Y"}),  # by start day of year: no time axis
        "calibration": (chain["calibration"], {"X", "Y"}),
        "weekly": (chain["products"] / "weekly.nc", {"X", "Y", "T"}),
        "locations": (chain["products"] / "locations.nc", {"X", "Y", "T"}),
        "planting map": (chain["products"] / "planting_map.nc", {"X", "Y", "T"}),
    }


@pytest.mark.slow
@pytest.mark.parametrize("name", ["store", "forecast", "hindcast daily", "hindcast periods", "climatology",
                                  "calibration", "weekly", "locations", "planting map"])
def test_chain_output_is_cf_clean(chain, tmp_path, name):
    path, axes = chain_outputs(chain)[name]
    assert_cf_clean(path, tmp_path, axes)


@pytest.mark.slow
def test_forecast_netcdf_output_is_cf_clean(chain, tmp_path):
    from chain_helpers import ISSUE_DATE

    from sowcast.forecast.engine import ForecastOptions, run_forecast

    result = run_forecast(ForecastOptions.from_config(
        {"bundle": str(chain["bundle"]), "init": str(chain["store"]), "init_time": ISSUE_DATE,
         "output": str(tmp_path / "forecast.nc"), "members": 2, "lead": "4D", "threads": 1}))
    assert_cf_clean(Path(result.output), tmp_path, {"X", "Y", "T"})
    with xr.open_dataset(result.output) as ds:
        assert ds["member"].attrs["units"] == "1" and ds["lead_time"].dtype.kind == "m"


@pytest.mark.slow
def test_ingested_store_with_levels_and_members_is_cf_clean(real_data, tmp_path):
    pytest.importorskip("cfgrib")
    from sowcast.data.ingest import ingest

    store = tmp_path / "levels.zarr"
    ingest({"sources": [str(real_data / "era5-levels-members.grib")]}, store, progress=False)
    assert_cf_clean(store, tmp_path, {"X", "Y", "Z", "T"})
    with xr.open_zarr(store) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds["level"].attrs["axis"] == "Z"


def test_bundle_static_and_statistics_files_are_cf_clean(tmp_path):
    from chain_helpers import west_africa_grid

    from sowcast.export.bundle_writer import write_static_nc, write_statistics_nc

    grid = west_africa_grid()
    fields = np.random.default_rng(0).random((2, *grid.shape)).astype(np.float32)
    static = write_static_nc(tmp_path / "static.nc", grid, ["land_sea_mask", "orography"], fields,
                             masks={"total_precipitation_valid": fields[0] > 0.5})
    stats = write_statistics_nc(tmp_path / "statistics.nc", ["2m_temperature", "total_precipitation"],
                                {k: np.ones(2) for k in ("mean", "std", "diff_mean", "diff_std", "min", "max")})
    assert_cf_clean(static, tmp_path, {"X", "Y"})
    assert_cf_clean(stats, tmp_path, set())
    with xr.open_dataset(static) as ds:  # the mask reads back as the same 0/1 flags
        np.testing.assert_array_equal(ds["total_precipitation_valid"].values, (fields[0] > 0.5).astype(np.int8))
        assert list(ds["total_precipitation_valid"].attrs["flag_values"]) == [0, 1]


@pytest.mark.slow
def test_flags_only_on_flag_variables_and_probabilities_in_units_of_one(chain):
    """A fraction or a probability has units "1" and no flag attributes; every variable with
    flag_meanings is an integer code with flag_values of its own type."""
    for name in ("planting_map.nc", "locations.nc", "weekly.nc"):
        with xr.open_dataset(chain["products"] / name, decode_times=False) as ds:
            for var in ds.data_vars.values():
                if "flag_meanings" in var.attrs:
                    values = np.asarray(var.attrs["flag_values"])
                    assert values.dtype == var.dtype or var.dtype.kind == "f", (name, var.name)
                    assert len(var.attrs["flag_meanings"].split()) == values.size, (name, var.name)
                    assert "units" not in var.attrs, (name, var.name)
    with xr.open_dataset(chain["products"] / "planting_map.nc") as ds:
        for var in ("false_start_risk", "dry_spell_risk", "dry_spell_risk_undetermined", "advice_probability",
                    "onset_by_week", "onset_by_week_expected", "most_likely_onset_week_probability"):
            assert ds[var].attrs["units"] == "1", var
            assert "flag_values" not in ds[var].attrs and "flag_meanings" not in ds[var].attrs, var
        assert "units" not in ds["onset_status_observed"].attrs
        assert "flag_meanings" not in ds["n_members_valid"].attrs


@pytest.mark.slow
def test_station_store_is_cf_clean(real_data, tmp_path):
    """A point store (time, station): 0 high-priority failures. The checker's medium advice
    to put station before time (CF 9, orthogonal time series) is not followed: the schema's
    point stores are (time, station), as their readers expect."""
    from sowcast.data.statistics import compute_statistics
    from sowcast.data.stations import read_station_csv
    from sowcast.data.store import write_store

    coords = Path(__file__).resolve().parents[1] / "data" / "stations" / "niger_stations.csv"
    ds = read_station_csv(real_data / "daily_niger.csv", stations=coords, variables=["total_precipitation", "tmax"],
                          time_range=("1975", "1976"))
    store = write_store(ds, tmp_path / "points.zarr", statistics=compute_statistics(ds), validate=False,
                        progress=False)
    result = cf_check(store, tmp_path)
    assert result["high"] == {}, result["high"]
    assert set(result["medium"]) <= {"§2.4 Dimensions"}, result["medium"]
    assert cf_axes(store) >= {"X", "Y", "T"}


def test_synthetic_raw_files_are_cf_clean(tmp_path):
    from chain_helpers import west_africa_grid

    from sowcast.data.synthetic_monsoon import write_raw

    files = write_raw(tmp_path / "raw", west_africa_grid(), "2001-01-01", "2001-01-10", progress=False)
    assert_cf_clean(files[0], tmp_path, {"X", "Y", "T"})
