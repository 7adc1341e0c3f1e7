"""``sowcast hindcast`` -> ``sowcast products`` -> ``sowcast verify`` on the real chain at a tiny
size (tests/chain_helpers.py): the files, their agreement, and one-line errors that write nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

sys.path.insert(0, str(Path(__file__).parents[1]))

from chain_helpers import ISSUE_DATE, LOCATIONS

from sowcast.bundle.reader import load_bundle
from sowcast.cli import products_command, verify_command
from sowcast.cli.main import compose, main
from sowcast.errors import SowcastError


def test_hindcast_adds_a_climatology_the_bundle_verifies(chain):
    bundle = load_bundle(chain["bundle"])
    assert bundle.climatology_path is not None and bundle.climatology_path.name == "climatology.nc"
    with xr.open_dataset(bundle.climatology_path) as clim:
        assert {"total_precipitation_quantiles", "observed_total_precipitation_quantiles"} <= set(clim.data_vars)
        assert int(clim.attrs["first_year"]) == 2000 and int(clim.attrs["last_year"]) == 2001


def test_products_folder_holds_consistent_products(chain):
    out = chain["products"]
    meta = json.loads((out / "products.json").read_text())
    assert meta["issue_date"] == ISSUE_DATE and meta["rules"] == "sivakumar1988"
    assert set(meta["files"]) == {"weekly.nc", "locations.nc", "planting_map.nc", "locations.csv"}
    assert meta["bundle_sha256"] == load_bundle(chain["bundle"]).sha256
    table = pd.read_csv(out / "locations.csv")
    names = pd.read_csv(LOCATIONS, comment="#")["name"].tolist()
    assert table["location"].tolist() == names
    assert (table["advice_text"].str.len() > 10).all()
    with xr.open_dataset(out / "locations.nc") as loc, xr.open_dataset(out / "planting_map.nc") as grid, \
            xr.open_dataset(out / "weekly.nc") as weekly:
        assert loc.sizes["location"] == len(names) and loc.sizes["week"] == 6
        np.testing.assert_allclose(table["onset_by_week3"], loc["onset_by_week_expected"].sel(week=3), atol=1e-3)
        # a location's outlook equals the map's at its grid cell (points take the nearest cell)
        i = names.index("Niamey")
        cell = grid.sel(lat=loc["lat"].values[i], lon=loc["lon"].values[i], method="nearest")
        np.testing.assert_allclose(loc["onset_by_week_expected"].isel(location=i), cell["onset_by_week_expected"])
        probs = weekly["total_precipitation_tercile_probability"]
        np.testing.assert_allclose(probs.sum("category").values, 1.0, atol=1e-6)
        assert weekly.attrs["issue_date"] == ISSUE_DATE
        # week 1 rain = the members' sum of lead days 1..7 of the forecast
        with xr.open_zarr(chain["forecast"], consolidated=False) as fc:
            week1 = fc["total_precipitation"].isel(lead_time=slice(0, 7)).sum("lead_time").values
        np.testing.assert_allclose(weekly["total_precipitation"].sel(period="week1").values, week1, rtol=1e-5)


def _products(chain, tmp_path, *extra):
    return compose([f"products.forecast={chain['forecast']}", f"products.bundle={chain['bundle']}",
                    f"products.observed={chain['store']}", f"products.locations={LOCATIONS}",
                    f"products.output={tmp_path / 'out'}", *extra])


@pytest.mark.parametrize("extra, needle", [
    (["products.forecast=/no/such.zarr"], "no such file"),
    (["products.rules=no_such_preset"], "no_such_preset"),
    (["+products.colour=red"], "unknown option products.colour"),
    (["products.thresholds.onset_probability=2"], "onset_probability"),
])
def test_bad_input_is_one_line_and_writes_nothing(chain, tmp_path, extra, needle):
    with pytest.raises(SowcastError, match=needle) as info:
        products_command.run(_products(chain, tmp_path, *extra))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_observations_that_end_before_the_issue_date_are_refused(chain, tmp_path):
    from sowcast.data.store import open_store, write_store

    with open_store(chain["store"], chunks=None) as ds:
        short = ds.sel(time=slice(None, "2001-03-31")).load()
    write_store(short, tmp_path / "short.zarr", progress=False)
    with pytest.raises(SowcastError, match="before the issue date"):
        products_command.run(_products(chain, tmp_path, f"products.observed={tmp_path / 'short.zarr'}"))
    assert not (tmp_path / "out").exists()


def test_the_command_line_prints_one_line_on_error(chain, tmp_path, capsys):
    code = main(["products", f"products.forecast={tmp_path / 'none.zarr'}", f"products.output={tmp_path / 'o'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("sowcast: error:") and err.count("\n") == 1


def test_verify_scores_reforecasts_beside_baselines(chain, tmp_path):
    from sowcast.cli import hindcast_command

    hindcast_command.run(compose([
        f"hindcast.bundle={chain['bundle']}", f"hindcast.store={chain['store']}", "hindcast.years=[2001,2001]",
        "hindcast.first=04-20", "hindcast.last=06-29", "hindcast.every_days=14", "hindcast.members=3",
        "hindcast.keep_daily=true", "hindcast.climatology.build=false", f"hindcast.output={tmp_path / 'refc'}",
        "hindcast.threads=1", "progress=false"]))
    out = tmp_path / "scorecard"
    verify_command.run(compose([
        f"verify.hindcast={tmp_path / 'refc'}", f"verify.truth={chain['store']}",
        f"verify.climatology={chain['hindcast'] / 'climatology.nc'}", f"verify.output={out}"]))
    scores = pd.read_csv(out / "scores.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["starts"] == 6 and summary["members"] == 3
    rpss = scores[(scores.metric == "rpss") & (scores.variable == "total_precipitation")]
    assert list(rpss.period) == ["week1", "week2", "week3", "week4", "week5", "week6", "weeks3-4", "weeks5-6"]
    assert np.isfinite(rpss.value).all() and (rpss.value <= 1).all()
    rmse = scores[(scores.metric == "rmse") & (scores.variable == "2m_temperature")]
    assert (rmse.value > 0).all() and (rmse.reference > 0).all()
    bias = scores[(scores.metric == "bias") & (scores.variable == "2m_temperature")].set_index("period")
    assert bias.skill.isna().all() and (bias.reference.values == rmse.reference.values).all()
    assert (bias.value.abs() <= rmse.set_index("period").value + 1e-9).all()   # |mean error| <= RMSE
    assert {"onset_mae_days", "onset_hit_rate_7d", "onset_by_week_brier"} <= set(scores.metric)
    for png in ("reliability.png", "skill_by_lead.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
