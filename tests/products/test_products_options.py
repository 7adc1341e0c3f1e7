"""The products and bulletin option groups: one truth for their defaults (the YAML Hydra
composes equals the options classes), and bad values refused in one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sowcast.bulletin.options import Agency, BulletinOptions
from sowcast.errors import SowcastError
from sowcast.options import default_mismatches
from sowcast.products.options import ProductsOptions
from sowcast.products.planting import PlantingThresholds

CONF = Path(__file__).resolve().parents[2] / "src" / "sowcast" / "conf"


def _yaml(group: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF / group / "default.yaml"), resolve=False)


@pytest.mark.parametrize("cls, group", [(ProductsOptions, "products"), (BulletinOptions, "bulletin")])
def test_yaml_defaults_equal_the_options_class(cls, group):
    assert default_mismatches(cls, _yaml(group), group) == {}


def test_the_planting_thresholds_have_one_default_each():
    assert ProductsOptions().thresholds == PlantingThresholds()
    assert _yaml("products")["thresholds"] == {k: getattr(PlantingThresholds(), k)
                                               for k in ("onset_probability", "false_start_max", "dry_spell_max",
                                                         "buy_seed_weeks", "no_onset_max")}


def test_products_options_parse_as_the_command_line_gives_them(tmp_path):
    forecast = tmp_path / "fc.zarr"
    forecast.mkdir()
    locations = tmp_path / "places.csv"
    locations.write_text("name,lat,lon\nTamale,9.4,-0.85\n")
    section = {**_yaml("products"), "forecast": str(forecast), "locations": str(locations), "stations": None,
               "calibration": "no", "maps": "off", "thresholds": {"onset_probability": "0.6", "buy_seed_weeks": 2}}
    options = ProductsOptions.from_config(section)
    assert options.forecast == forecast and options.calibration is None and options.maps is False
    assert options.thresholds == PlantingThresholds(onset_probability=0.6, buy_seed_weeks=2)
    assert ProductsOptions.from_config({**section, "calibration": "AUTO"}).calibration == "auto"
    assert ProductsOptions.from_config({**section, "calibration": str(locations)}).calibration == locations


def test_the_stations_file_is_needed_only_with_observations(tmp_path):
    section = {"forecast": str(tmp_path), "locations": str(tmp_path), "stations": "/no/such/stations.csv"}
    assert ProductsOptions.from_config(section).observed is None
    with pytest.raises(SowcastError, match="^products.stations: no such file or folder /no/such/stations.csv$"):
        ProductsOptions.from_config({**section, "observed": str(tmp_path)})


@pytest.mark.parametrize("change, message", [
    ({"forecast": None}, "products.forecast is not set: give the forecast"),
    ({"locations": None}, "products.locations is not set"),
    ({"bundle": "/no/such/bundle"}, "products.bundle: no such file or folder /no/such/bundle"),
    ({"calibration": "/no/such.nc"}, "products.calibration: no such file or folder /no/such.nc"),
    ({"calibration": 3}, "products.calibration must be auto, none or a path, not 3"),
    ({"maps": "maybe"}, "products.maps must be true or false"),
    ({"thresholds": {"onset_probability": 2}}, "products.thresholds.onset_probability must be between 0 and 1"),
    ({"thresholds": {"onset_prob": 0.5}}, "unknown option products.thresholds.onset_prob"),
    ({"dry_season_mm_per_day": -2}, "products.dry_season_mm_per_day must be a number of mm per day >= 0"),
    ({"colour": "red"}, "unknown option products.colour"),
])
def test_bad_products_options_are_one_line_naming_the_key(tmp_path, change, message):
    forecast = tmp_path / "fc.zarr"
    forecast.mkdir()
    section = {"forecast": str(forecast), "locations": str(forecast), "stations": None, **change}
    with pytest.raises(SowcastError) as err:
        ProductsOptions.from_config(section)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_bulletin_options_dedupe_lists_and_take_an_agency_by_name():
    options = BulletinOptions.from_config({"languages": ["fr", " fr", "en"], "agency": "GMet",
                                           "formats": "html", "map_weeks": [2, 2.0]})
    assert options.languages == ("fr", "en") and options.formats == ("html",) and options.map_weeks == (2,)
    assert options.agency == Agency("GMet", "GMet")
    assert BulletinOptions.from_config({"agency": {"name": "X", "signature": None}}).agency == Agency("X", "X")


@pytest.mark.parametrize("change, message", [
    ({"products": None}, "bulletin.products is not set"),
    ({"languages": []}, "bulletin.languages must be a list, not []"),
    ({"agency": {"name": " "}}, "bulletin.agency.name is not set"),
    ({"agency": {"nom": "X"}}, "unknown option bulletin.agency.nom"),
    ({"dpi": 20}, "bulletin.dpi must be between 50 and 400, not 20"),
    ({"map_weeks": [0]}, "bulletin.map_weeks[0] must be at least 1, not 0"),
])
def test_bad_bulletin_options_are_one_line_naming_the_key(change, message):
    with pytest.raises(SowcastError) as err:
        BulletinOptions.from_config(change)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
