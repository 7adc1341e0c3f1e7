"""The ``products:`` config group (conf/products/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's (tests/test_option_defaults.py);
:func:`sowcast.options.parse` checks types, bounds and unknown keys, :meth:`ProductsOptions.from_config`
adds what a stage needs before it starts: the forecast and the locations are set, and every
input path exists. Errors are one line naming ``products.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sowcast.config_values import FALSE_WORDS
from sowcast.errors import SowcastError
from sowcast.options import option, parse
from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, check_threshold
from sowcast.products.planting import PlantingThresholds

GROUP = "products"
INPUTS = ("forecast", "bundle", "climatology", "observed", "locations", "calibration")   # and stations


def _calibration(value: Any, key: str) -> Path | Literal["auto"] | None:
    """``auto`` (the bundle's calibration.nc, if it has one), off (false/no/off/0), or a path."""
    if value is False or (isinstance(value, str) and value.strip().lower() in FALSE_WORDS):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, str):
        raise SowcastError(f"{key} must be auto, none or a path, not {value!r}")
    return Path(value).expanduser()


def _dry_threshold(value: Any, key: str) -> float:
    return check_threshold(value)   # its own one-line error, naming products.dry_season_mm_per_day


@dataclass(frozen=True)
class ProductsOptions:
    """What ``sowcast products`` makes, from what (sowcast/products/stage.py)."""

    forecast: Path | None = option(None, "the ensemble forecast (.zarr or .nc) from 'sowcast forecast'")
    bundle: Path | None = option(None, "the bundle it came from: its climatology.nc gives anomalies and terciles")
    climatology: Path | None = option(None, "a climatology.nc (from 'sowcast hindcast'); null: the bundle's")
    observed: Path | None = option(None, "observed rain up to the issue date: a canonical store or a station "
                                         "CSV; null: no planting outlook")
    stations: Path | None = option(Path("data/stations/niger_stations.csv"),
                                   "coordinates for a station CSV without lat/lon")
    locations: Path | None = option(Path("data/locations/west_africa_demo.csv"),
                                    "points (CSV name,lat,lon) or districts (GeoJSON)")
    location_name_property: str = option("name", "the GeoJSON property that names a district")
    rules: str = option("sivakumar1988", "onset preset (conf/products/rules/) or a YAML file of an agency's rules")
    rules_overrides: Any = option({}, "overrides of those rules, e.g. +products.rules_overrides.onset."
                                      "accumulation_mm=25")
    calibration: Path | Literal["auto"] | None = option(
        "auto", "calibration.nc of 'sowcast calibrate': auto (the bundle's, if it has one), a path, or none",
        convert=_calibration)
    calibrate: bool = option(False, "quantile-map weekly rain to the observed climatology (needs it in "
                                    "climatology.nc)")
    thresholds: PlantingThresholds = field(default_factory=PlantingThresholds,
                                           metadata={"doc": "planting advice (sowcast/products/planting.py)"})
    maps: bool = option(True, "also the planting outlook on every grid point (maps)")
    dry_season_mm_per_day: float = option(
        DRY_SEASON_MM_PER_DAY, "no rain terciles where the period's climatological mean is below this x its "
                               "days (IRI practice, scaled to a week); 0: no mask", convert=_dry_threshold)
    output: Path = option(Path("products"), "folder (replaced as a whole): products.json, weekly.nc, "
                                            "planting_map.nc, locations.nc, locations.csv")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> ProductsOptions:
        """The group parsed (:func:`sowcast.options.parse`), with the forecast and the
        locations set and every input path existing (the stations file only with
        observations, as only they use it); a one-line error otherwise."""
        options = parse(cls, section, GROUP)
        if options.forecast is None:
            raise SowcastError(f"{GROUP}.forecast is not set: give the forecast (.zarr or .nc) from 'sowcast forecast'")
        for key in (*INPUTS, *(("stations",) if options.observed is not None else ())):
            path = getattr(options, key)
            if isinstance(path, Path) and not path.exists():
                raise SowcastError(f"{GROUP}.{key}: no such file or folder {path}")
        if options.locations is None:
            raise SowcastError(f"{GROUP}.locations is not set: give a CSV (name,lat,lon) or a GeoJSON of districts")
        return options
