"""Held-out years (sowcast.verify.held_out): which scored starts the model trained on, whose
validation loss chose its checkpoint, or that the calibration or climatology were fitted on;
``sowcast hindcast`` records the model's periods, ``sowcast verify`` warns and says so in
summary.json, and the bulletin refuses a scorecard that is not held out."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import zarr

sys.path.insert(0, str(Path(__file__).parents[1]))

from chain_helpers import LOCATIONS, write_bundle  # noqa: E402  (tests/forecast/forecast_helpers.py's)

from sowcast.bundle import load_bundle
from sowcast.errors import SowcastError
from sowcast.forecast.hindcast import model_period_attrs
from sowcast.verify.held_out import check_held_out

LEAD = pd.Timedelta(days=46)
MODEL = {"model_train_range": "2000-01-01 2008-12-31", "model_validation_range": "2009-01-01 2010-12-31",
         "model_checkpoint": "chosen by step"}


def starts(*dates: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(dates)))


def test_held_out_years_are_held_out_and_validation_seen_only_is_not_counted():
    check = check_held_out(MODEL, starts("2009-04-17", "2010-07-31"), LEAD)
    assert check.held_out is True and check.years == {} and check.warnings() == []


def test_a_forecast_window_that_reaches_the_training_period_is_in_sample():
    """Dec 2008 + 46 days reaches 2009, but its first weeks are training targets; a model
    trained on later years is in-sample for a start whose window reaches them."""
    check = check_held_out(MODEL, starts("2008-12-20", "2009-01-01"), LEAD)
    assert check.held_out is False and check.years == {"training": [2008]}
    (line,) = check.warnings()
    assert "2008" in line and "2000-01-01 .. 2008-12-31" in line and "fit, not skill" in line and "\n" not in line
    later = dict(MODEL, model_train_range="2011-01-01 2020-12-31")
    assert check_held_out(later, starts("2010-12-01"), LEAD).years == {"training": [2010]}
    assert check_held_out(later, starts("2010-11-01"), LEAD).held_out is True   # ends 2010-12-17


def test_the_validation_period_counts_when_it_chose_the_checkpoint():
    best = dict(MODEL, model_checkpoint="best")
    check = check_held_out(best, starts("2009-05-01", "2011-05-01"), LEAD)
    assert check.held_out is False and check.years == {"selection": [2009]}
    assert "'best'" in check.warnings()[0] and "2009-01-01 .. 2010-12-31" in check.warnings()[0]


def test_calibration_years_make_the_scores_in_sample_and_climatology_years_are_reported():
    check = check_held_out(MODEL, starts("2009-05-01", "2010-05-01"), LEAD,
                           climatology_attrs={"years": "2009 2010 2011"},
                           calibration_attrs={"first_year": "2010", "last_year": "2012"})
    assert check.years == {"calibration": [2010], "climatology": [2009, 2010]}
    assert check.held_out is False
    only_climatology = check_held_out(MODEL, starts("2009-05-01"), LEAD, climatology_attrs={"years": "2009"})
    assert only_climatology.held_out is True and "baseline knows them" in only_climatology.warnings()[0]


def test_reforecasts_that_do_not_record_the_model_are_unknown_not_held_out():
    check = check_held_out({}, starts("2009-05-01"), LEAD)
    assert check.held_out is None and "not known" in check.warnings()[0]
    assert check_held_out({"model_train_range": "not dates"}, starts("2009-05-01"), LEAD).held_out is None


@pytest.mark.parametrize("provenance, expected", [
    ({"train_range": ["1991-01-01", "2008-12-31"], "validation_range": ["2009-01-01", "2010-12-31"],
      "checkpoint": "/runs/small/checkpoints/step_00001440"},
     {"model_train_range": "1991-01-01 2008-12-31", "model_validation_range": "2009-01-01 2010-12-31",
      "model_checkpoint": "chosen by step"}),
    ({"train_range": ["1991-01-01", "2008-12-31"], "validation_range": None,
      "checkpoint": "/runs/small/checkpoints/best"},
     {"model_train_range": "1991-01-01 2008-12-31", "model_checkpoint": "best"}),
    (None, {}),
])
def test_hindcasts_record_the_periods_of_the_bundles_provenance(provenance, expected):
    assert model_period_attrs(provenance) == expected


def test_verify_says_which_scored_years_are_not_held_out_and_the_bulletin_refuses_them(chain, tmp_path, caplog):
    """A real hindcast and verify: the bundle trained on 2000, reforecasts of 2000 and 2001; only
    2001's scorecard goes into the bundle (verify.bundle), and from there into the products and
    the bulletin."""
    from sowcast.bulletin.skill import read_scorecard
    from sowcast.cli import hindcast_command, verify_command
    from sowcast.cli.main import compose

    bundle = write_bundle(tmp_path / "bundle", chain["store"], provenance={
        "train_range": ["2000-01-01", "2000-12-31"], "validation_range": ["2001-01-01", "2001-12-31"],
        "checkpoint": "/runs/tiny/checkpoints/step_00000010"})
    summaries = {}
    for year in (2000, 2001):
        hindcast_command.run(compose([
            f"hindcast.bundle={bundle}", f"hindcast.store={chain['store']}", f"hindcast.years=[{year},{year}]",
            "hindcast.first=04-20", "hindcast.last=05-04", "hindcast.every_days=14", "hindcast.members=2",
            "hindcast.keep_daily=true", "hindcast.climatology.build=false", f"hindcast.output={tmp_path / str(year)}",
            "hindcast.threads=1", "progress=false"]))
        with xr.open_dataset(next((tmp_path / str(year) / "periods").glob("*.nc"))) as one:
            assert one.attrs["model_train_range"] == "2000-01-01 2000-12-31"
        out = tmp_path / f"scorecard_{year}"
        verify_command.run(compose([
            f"verify.hindcast={tmp_path / str(year)}", f"verify.truth={chain['store']}",
            f"verify.climatology={chain['hindcast'] / 'climatology.nc'}", f"verify.output={out}"]))
        summaries[year] = json.loads((out / "summary.json").read_text())
    assert summaries[2000]["held_out"] is False
    assert summaries[2000]["in_sample_years"] == {"training": [2000], "climatology": [2000]}
    assert summaries[2001]["held_out"] is True                 # the chain's climatology holds 2001: reported
    assert summaries[2001]["in_sample_years"] == {"climatology": [2001]}
    with pytest.raises(SowcastError, match="not held out \\(training") as info:
        read_scorecard(tmp_path / "scorecard_2000", ["week1"])
    assert "\n" not in str(info.value)
    assert read_scorecard(tmp_path / "scorecard_2001", ["week1"]).years == [2001]

    # verify.bundle: only a held-out scorecard of the bundle's own model is added to it, before
    # anything is written; then the products carry it and the bulletin states it by default
    def card(year: int, out: Path, hindcast: Path | None = None) -> None:
        verify_command.run(compose([
            f"verify.hindcast={hindcast or tmp_path / str(year)}", f"verify.truth={chain['store']}",
            f"verify.climatology={chain['hindcast'] / 'climatology.nc'}", f"verify.output={out}",
            f"verify.bundle={bundle}"]))

    before = (bundle / "manifest.json").read_bytes()
    with pytest.raises(SowcastError, match=r"^verify\.bundle: the reforecasts .* are not held out"):
        card(2000, tmp_path / "refused")
    other = tmp_path / "other_model"
    shutil.copytree(tmp_path / "2001", other)
    meta = json.loads((other / "hindcast.json").read_text())
    (other / "hindcast.json").write_text(json.dumps(meta | {"model_sha256": "0" * 64}))
    with pytest.raises(SowcastError, match=r"were not made by the model of .*model_sha256 000000000000"):
        card(2001, tmp_path / "refused", other)
    assert not (tmp_path / "refused").exists() and (bundle / "manifest.json").read_bytes() == before
    card(2001, tmp_path / "added")
    assert load_bundle(bundle).scorecard_path.read_bytes() == (tmp_path / "added" / "scores.csv").read_bytes()

    from sowcast.bulletin.options import BulletinOptions
    from sowcast.bulletin.stage import run as bulletin
    from sowcast.products.options import ProductsOptions
    from sowcast.products.stage import run as products

    products(ProductsOptions.from_config(compose([
        f"products.forecast={chain['forecast']}", f"products.bundle={bundle}", f"products.observed={chain['store']}",
        f"products.locations={LOCATIONS}", f"products.output={tmp_path / 'products'}",
        "products.calibration=none"]).products))
    assert (tmp_path / "products" / "scorecard" / "summary.json").read_bytes() == (
        tmp_path / "added" / "summary.json").read_bytes()
    # a forecast of another model (its model_sha256) does not get this model's scorecard
    other_forecast = tmp_path / "other_forecast.zarr"
    shutil.copytree(chain["forecast"], other_forecast)
    zarr.open_group(other_forecast, mode="r+").attrs["model_sha256"] = "f" * 64
    products(ProductsOptions.from_config(compose([
        f"products.forecast={other_forecast}", f"products.bundle={bundle}", f"products.observed={chain['store']}",
        f"products.locations={LOCATIONS}", f"products.output={tmp_path / 'products_other'}",
        "products.calibration=none"]).products))
    assert not (tmp_path / "products_other" / "scorecard").exists()
    assert "scores another model than the forecast's (ffffffffffff)" in caplog.text
    bulletin(BulletinOptions.from_config(compose([
        f"bulletin.products={tmp_path / 'products'}", f"bulletin.output={tmp_path / 'bulletin'}",
        "bulletin.languages=[en]", "bulletin.formats=[html]"]).bulletin))
    meta = json.loads((tmp_path / "bulletin" / "bulletin.json").read_text())
    assert meta["provenance"]["scorecard"] == str((tmp_path / "products" / "scorecard").resolve())
    assert meta["skill"]["assessed"] is True and meta["skill"]["years"] == [2001]
    assert "2001" in meta["skill"]["statement"]["en"][0]
