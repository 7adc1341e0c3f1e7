"""products.json, the contract between 'sowcast products' and its readers: what the writer
writes the reader reads back field for field; a folder from before the version, of another
version, or lacking a key is one line that says to re-run 'sowcast products'."""

from __future__ import annotations

import dataclasses
import json

import pytest

from sowcast.errors import SowcastError
from sowcast.products.folder import FOLDER_VERSION, MANIFEST_FILE, Place, ProductsManifest, read_manifest
from sowcast.products.planting import PlantingThresholds


def manifest() -> ProductsManifest:
    return ProductsManifest(
        issue_date="2001-04-27", init_time="2001-04-27T00:00:00", forecast="/runs/fc.zarr",
        forecast_bundle_sha256="ab" * 32, bundle_sha256=None, climatology="/b/climatology.nc",
        climatology_start_doy=110, calibrated=False, members=8, calibration=None, calibration_years=[2000, 2001],
        rules="sivakumar1988", rules_citation="Sivakumar (1988)", rules_source="AFM 42(4)", rules_source_fr="",
        thresholds=PlantingThresholds(onset_probability=0.6), locations=[Place("Tamale", 9.4, -0.85)],
        sowcast_version="0.1.0", created="2026-12-03T18:00:00Z", files=["weekly.nc", "locations.csv"])


def test_what_the_writer_writes_the_reader_reads(tmp_path):
    manifest().write(tmp_path)
    text = (tmp_path / MANIFEST_FILE).read_text()
    assert list(json.loads(text))[:3] == ["product", "version", "issue_date"]
    assert read_manifest(tmp_path) == manifest()
    assert manifest().rules_source_in("fr") == "AFM 42(4)"
    moved = dataclasses.replace(manifest(), onset_ocean_shift_days=3.78,     # the ocean moved the usual dates
                                onset_ocean_box=[-3.0, 3.0, -20.0, 0.0])
    moved.write(tmp_path)
    assert read_manifest(tmp_path) == moved


def test_a_folder_written_before_the_ocean_shift_reads_as_not_moved(tmp_path):
    meta = json.loads(manifest().to_json())
    del meta["onset_ocean_shift_days"], meta["onset_ocean_box"]
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(meta))
    assert read_manifest(tmp_path).onset_ocean_shift_days is None
    assert read_manifest(tmp_path).onset_ocean_box is None


def _broken(tmp_path, change: dict, drop: str | None = None):
    meta = json.loads(manifest().to_json())
    meta.update(change)
    meta.pop(drop, None)
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(meta))
    with pytest.raises(SowcastError) as err:
        read_manifest(tmp_path)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_older_folder_is_refused_with_what_to_do(tmp_path):
    assert _broken(tmp_path, {}, drop="version").endswith(
        "was written by an older sowcast (no version): re-run 'sowcast products' to remake the folder")
    assert f"this sowcast reads version {FOLDER_VERSION}" in _broken(tmp_path, {"version": FOLDER_VERSION + 1})


@pytest.mark.parametrize("key", ["members", "thresholds", "rules_citation", "created", "files"])
def test_a_missing_key_is_an_error_at_the_reader(tmp_path, key):
    assert _broken(tmp_path, {}, drop=key).endswith(f"lacks {key}: re-run 'sowcast products'")


@pytest.mark.parametrize("change, needle", [
    ({"members": "8"}, "members must be a whole number >= 1"),
    ({"calibrated": "no"}, "calibrated must be true or false"),
    ({"thresholds": {"onset_probability": 3}}, "onset_probability must be a probability"),
    ({"locations": [{"name": "Tamale"}]}, "locations must be a list of {name, lat, lon}"),
    ({"product": "sowcast verify"}, "was not written by 'sowcast products'"),
    ({"onset_ocean_shift_days": "late"}, "onset_ocean_shift_days must be a number of days or null"),
    ({"onset_ocean_box": [-3, 3, -20]}, "onset_ocean_box must be [lat_min, lat_max, lon_min, lon_max] or null"),
])
def test_a_wrong_value_is_an_error_at_the_reader(tmp_path, change, needle):
    assert needle in _broken(tmp_path, change)
