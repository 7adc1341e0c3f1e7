"""``sowcast calibrate`` on the tiny real chain, what products do with it, and its one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.bundle.reader import load_bundle
from sowcast.calibrate.calibration import read_calibration


def test_the_calibration_is_in_the_bundle_and_checksummed(chain):
    bundle = load_bundle(chain["bundle"])
    assert bundle.calibration_path is not None and bundle.calibration_path.name == "calibration.nc"
    cal = read_calibration(bundle.calibration_path)
    for name in ("total_precipitation", "2m_temperature"):
        for key in ("theta_lower", "theta_upper", "slope", "cv_rpss", "skillful"):
            assert f"{name}_tercile_{key}" in cal
        # not skilful -> slope 0 (the climatological frequencies)
        no_skill = cal[f"{name}_tercile_skillful"] == 0
        assert bool((abs(cal[f"{name}_tercile_slope"].where(no_skill, 0)) < 1e-12).all())
    assert {"daily_rain_model_quantiles", "onset_blend_weight", "onset_cv_bss"} <= set(cal.data_vars)
    assert cal.attrs["first_year"] == 2000 and cal.attrs["last_year"] == 2001
    # the tiny store has no ocean index (calibrate.onset_ocean.variable=auto): said, not faked
    assert cal.attrs["onset_ocean"] == "not applied: the store has none of ocean_index, sea_surface_temperature"
    assert "onset_ocean_days_per_k" not in cal
    # one blend weight per period for rain, per point for 2 m temperature (tercile_fit, step 5)
    assert cal.attrs["total_precipitation_tercile_member_weight"] == "domain"
    assert cal.attrs["2m_temperature_tercile_member_weight"] == "point"


@pytest.fixture(scope="module")
def calibrated_products(chain, tmp_path_factory):
    """``sowcast products`` of the chain's forecast with the bundle's calibration (the default)."""
    from chain_helpers import LOCATIONS

    from sowcast.cli import products_command
    from sowcast.cli.main import compose

    out = tmp_path_factory.mktemp("calibrated") / "products"
    products_command.run(compose([f"products.forecast={chain['forecast']}", f"products.bundle={chain['bundle']}",
                                  f"products.observed={chain['store']}", f"products.locations={LOCATIONS}",
                                  f"products.output={out}", "progress=false"]))
    return out


def test_products_publish_calibrated_probabilities_within_bounds_and_keep_the_raw_ones(calibrated_products):
    weekly = xr.open_dataset(calibrated_products / "weekly.nc")
    floor = 0.02
    for name in ("total_precipitation", "2m_temperature"):
        p = weekly[f"{name}_tercile_probability"]
        raw = weekly[f"{name}_tercile_probability_raw"]
        assert float(p.min()) >= floor - 1e-6 and float(p.max()) <= 1 - 2 * floor + 1e-6
        np.testing.assert_allclose(p.sum("category"), 1.0, atol=1e-5)
        assert set(np.unique(raw.values[np.isfinite(raw.values)]) * 4) <= {0.0, 1.0, 2.0, 3.0, 4.0}   # member fractions
        skillful = weekly[f"{name}_tercile_skillful"]
        weight = weekly[f"{name}_tercile_member_weight"]
        assert float(weight.min()) >= 0 and float(weight.max()) <= 1
        assert bool((skillful == 1).where(weight > 0, True).all())     # a weight is skill the products show
        # where the hindcasts showed no skill the probabilities do not move with the forecast
        clim_like = p.where(skillful == 0)
        if bool(clim_like.notnull().any()):
            assert float((clim_like.max("period") - clim_like.min("period")).max()) < 0.35
        # calibrate.member_weight: rain's is one per period wherever the calibration has samples
        for period in weight["period"].values:
            w = weight.sel(period=period).values
            assert name != "total_precipitation" or np.unique(w[w > 0]).size <= 1
    assert "terciles" in weekly.attrs["calibrated"]
    loc = xr.open_dataset(calibrated_products / "locations.nc")
    assert "onset_by_week_expected_raw" in loc and "onset_skillful" in loc
    table = pd.read_csv(calibrated_products / "locations.csv")
    assert json.loads((calibrated_products / "products.json").read_text())["calibration_years"] == [2000, 2001]
    assert "advice_skillful" in table
    for _, row in table.iterrows():
        if row["advice_skillful"] == 0:
            assert "no better than the usual dates" in row["advice_text"]


def test_calibrate_without_hindcasts_is_one_line_error(sowcast_cli, tmp_path, chain):
    r = sowcast_cli("calibrate", f"calibrate.hindcast={tmp_path / 'none'}", f"calibrate.store={chain['store']}")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "calibrate.hindcast: no such file or folder" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(chain["hindcast"] / "climatology.nc", empty / "climatology.nc")
    out = tmp_path / "cal.nc"
    r = sowcast_cli("calibrate", f"calibrate.hindcast={empty}", f"calibrate.store={chain['store']}",
                    f"calibrate.output={out}")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "not a hindcast folder" in r.stderr and not out.exists()


@pytest.mark.parametrize("override, message", [
    ("calibrate.neighbourhood=-1", "calibrate.neighbourhood must be at least 0"),
    ("calibrate.probability_floor=0.5", "calibrate.probability_floor must be at least 0"),
    ("calibrate.add_to_bundle=maybe", "calibrate.add_to_bundle must be true or false"),
    ("calibrate.onset_region=[1,2]", "calibrate.onset_region must be"),
    ("+calibrate.nonsense=1", "unknown option calibrate.nonsense; known: hindcast,"),
    ("calibrate.onset_ocean.box=[3,-3,-20,0]", "calibrate.onset_ocean.box must be [lat_min, lat_max, lon_min, "
                                                "lon_max] with min < max"),
    ("calibrate.onset_ocean.days=0", "calibrate.onset_ocean.days must be between 1 and 366, not 0"),
    ("calibrate.member_weight.total_precipitation=region",
     "calibrate.member_weight.total_precipitation must be one of domain, point"),
])
def test_bad_calibrate_options_are_one_line_errors(sowcast_cli, chain, override, message):
    r = sowcast_cli("calibrate", f"calibrate.hindcast={chain['hindcast']}", f"calibrate.store={chain['store']}",
                    override)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr, r.stderr


def test_a_named_ocean_variable_the_store_lacks_is_one_line_error_and_nothing_written(sowcast_cli, chain, tmp_path):
    out = tmp_path / "calibration.nc"
    r = sowcast_cli("calibrate", f"calibrate.hindcast={chain['hindcast']}", f"calibrate.store={chain['store']}",
                    f"calibrate.output={out}", "calibrate.add_to_bundle=false", "calibrate.onset_ocean.variable=sst_gulf")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "has no 'sst_gulf' for the onset's ocean index" in r.stderr and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
