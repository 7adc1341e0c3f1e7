"""The products folder: the contract between ``sowcast products`` (the writer) and its readers
(``sowcast bulletin``, the service).

``products.json`` is a :class:`ProductsManifest`: what was made (issue date, files, locations)
and from what (forecast, bundle, climatology, calibration, rules, thresholds, sowcast
version), with a ``version`` that says which shape of the folder it describes. The reader
(:func:`read_manifest`) refuses a file that lacks a key, or that comes from before the folder
had a version, with one line that says to re-run ``sowcast products``, so that nothing shown
downstream is a guess.

The files beside it::

    weekly.nc         weekly_products on the grid: members, ensemble mean, anomalies, tercile
                      probabilities (category, period, lat, lon)
    planting_map.nc   planting_outlook on every grid point (when the observations are gridded)
    locations.nc      planting_outlook per location, and the weekly tercile probabilities and
                      anomalies at the locations (location dim); attributes
                      :data:`LOCATIONS_NC_ATTRIBUTES` among others
    locations.csv     one row per location: the key numbers (:data:`LOCATIONS_CSV_COLUMNS`,
                      ``onset_by_week<k>``) and the English advice
    scorecard/        scores.csv and summary.json: the bundle's held-out scorecard (its
                      scorecard.csv and scorecard.json), where it has one; listed in ``files``
                      (:func:`scorecard_folder`)
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.products.planting import PlantingThresholds

MANIFEST_FILE = "products.json"
PRODUCT = "sowcast products"
FOLDER_VERSION = 1   # 1: the first products.json with a version (sowcast 0.x, issue 19)
WEEKLY_FILE = "weekly.nc"
LOCATIONS_NC = "locations.nc"
LOCATIONS_CSV = "locations.csv"
PLANTING_MAP_FILE = "planting_map.nc"
SCORECARD_DIR = "scorecard"
SCORECARD_FILES = (f"{SCORECARD_DIR}/scores.csv", f"{SCORECARD_DIR}/summary.json")   # as 'sowcast verify' names them
LOCATIONS_CSV_COLUMNS = ("location", "advice", "advice_probability", "false_start_risk", "dry_spell_risk",
                         "planting_window_start", "planting_window_end")   # and onset_by_week<k>
LOCATIONS_NC_ATTRIBUTES = ("dry_spell_days", "dry_spell_lookahead_days")   # set by planting_outlook
RERUN = "re-run 'sowcast products'"


@dataclass(frozen=True)
class Place:
    """One location of the products, as the locations file gave it."""

    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class ProductsManifest:
    """``products.json``: one field per key, in the order they are written."""

    issue_date: str                       # YYYY-MM-DD, the forecast's init date
    init_time: str                        # YYYY-MM-DDTHH:MM:SS
    forecast: str                         # resolved path of the forecast
    forecast_bundle_sha256: str | None    # the bundle the forecast names
    bundle_sha256: str | None             # products.bundle's, when given
    climatology: str | None               # resolved path of climatology.nc, None without one
    climatology_start_doy: int | None
    calibrated: bool                      # products.calibrate (weekly rain quantile-mapped)
    members: int
    calibration: str | None               # resolved path of calibration.nc, None without one
    calibration_years: list[int] | None   # [first, last] of the calibration's fit
    rules: str                            # the season rules' name
    rules_citation: str                   # how a reader sees it ("Sivakumar (1988)")
    rules_source: str
    rules_source_fr: str
    thresholds: PlantingThresholds
    locations: list[Place]
    sowcast_version: str                  # of the writer
    created: str                          # UTC, YYYY-MM-DDTHH:MM:SSZ
    files: list[str]                      # the files written beside products.json
    onset_ocean_shift_days: float | None = None   # mean move of past onsets to this year's ocean; None: not moved
    onset_ocean_box: list[float] | None = None    # [lat_min, lat_max, lon_min, lon_max] of that ocean index
    product: str = PRODUCT
    version: int = FOLDER_VERSION

    def to_json(self) -> str:
        """The text of ``products.json`` (``product`` and ``version`` first)."""
        data = dataclasses.asdict(self)
        head = {"product": data.pop("product"), "version": data.pop("version")}
        return json.dumps({**head, **data}, indent=2, default=str) + "\n"

    def write(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(self.to_json())

    def rules_source_in(self, language: str) -> str:
        """The rules' source in ``language`` where the rules give one, else the English."""
        return (self.rules_source_fr if language == "fr" else "") or self.rules_source


_REQUIRED = tuple(f.name for f in dataclasses.fields(ProductsManifest)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def _typed(meta: dict[str, Any], path: Path) -> ProductsManifest:
    """The manifest of ``meta`` (every key present), or a one-line error naming the bad key."""
    def bad(key: str, what: str) -> SowcastError:
        return SowcastError(f"{path}: {key} must be {what}, not {meta[key]!r}; {RERUN}")

    for key in ("issue_date", "init_time", "forecast", "rules", "rules_citation", "rules_source",
                "rules_source_fr", "sowcast_version", "created"):
        if not isinstance(meta[key], str):
            raise bad(key, "a string")
    for key in ("forecast_bundle_sha256", "bundle_sha256", "climatology", "calibration"):
        if meta[key] is not None and not isinstance(meta[key], str):
            raise bad(key, "a string or null")
    if isinstance(meta["members"], bool) or not isinstance(meta["members"], int) or meta["members"] < 1:
        raise bad("members", "a whole number >= 1")
    if meta["climatology_start_doy"] is not None and not isinstance(meta["climatology_start_doy"], int):
        raise bad("climatology_start_doy", "a day of the year or null")
    if not isinstance(meta["calibrated"], bool):
        raise bad("calibrated", "true or false")
    years = meta["calibration_years"]
    if years is not None and not (isinstance(years, list) and len(years) == 2
                                  and all(isinstance(y, int) for y in years)):
        raise bad("calibration_years", "[first, last] or null")
    if not isinstance(meta["files"], list) or not all(isinstance(f, str) for f in meta["files"]):
        raise bad("files", "a list of file names")
    if not isinstance(meta["thresholds"], dict):
        raise bad("thresholds", "a mapping")
    places = meta["locations"]
    if not isinstance(places, list) or not all(isinstance(p, dict) and {"name", "lat", "lon"} <= set(p)
                                               for p in places):
        raise bad("locations", "a list of {name, lat, lon}")
    shift = meta.get("onset_ocean_shift_days")
    if shift is not None and (isinstance(shift, bool) or not isinstance(shift, (int, float))):
        raise bad("onset_ocean_shift_days", "a number of days or null")
    box = meta.get("onset_ocean_box")
    if box is not None and not (isinstance(box, list) and len(box) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
        raise bad("onset_ocean_box", "[lat_min, lat_max, lon_min, lon_max] or null")
    try:
        thresholds = PlantingThresholds.from_mapping(meta["thresholds"])
    except SowcastError as exc:
        raise SowcastError(f"{path}: {exc}; {RERUN}") from None
    return ProductsManifest(**{
        **{k: meta[k] for k in _REQUIRED}, "thresholds": thresholds,
        "locations": [Place(str(p["name"]), float(p["lat"]), float(p["lon"])) for p in places],
        "onset_ocean_shift_days": None if shift is None else float(shift),
        "onset_ocean_box": None if box is None else [float(v) for v in box],
        "product": PRODUCT, "version": FOLDER_VERSION})


def read_manifest(folder: str | os.PathLike) -> ProductsManifest:
    """``products.json`` of ``folder``, or a one-line error: no such file, not JSON, not written
    by ``sowcast products``, written before the folder had a version (re-run ``sowcast
    products``), of a newer version, or lacking a key."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise SowcastError(f"{folder} is not a 'sowcast products' folder (no {MANIFEST_FILE})") from None
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("product") != PRODUCT:
        raise SowcastError(f"{path} was not written by 'sowcast products'")
    if "version" not in meta:
        raise SowcastError(f"{path} was written by an older sowcast (no version): {RERUN} to remake the folder")
    if meta["version"] != FOLDER_VERSION:
        raise SowcastError(f"{path} is version {meta['version']!r}; this sowcast reads version {FOLDER_VERSION}: "
                           f"{RERUN} with this sowcast")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise SowcastError(f"{path} lacks {', '.join(missing)}: {RERUN}")
    return _typed(meta, path)


def scorecard_folder(folder: str | os.PathLike, manifest: ProductsManifest) -> Path | None:
    """The products' held-out scorecard folder (a ``sowcast verify`` folder's scores.csv and
    summary.json, from the bundle), or None where the products have none."""
    return Path(folder) / SCORECARD_DIR if set(SCORECARD_FILES) <= set(manifest.files) else None
