"""The products stage: weekly and planting products of one ensemble forecast, written as a
products folder (:mod:`sowcast.products.folder`), replaced as a whole and atomically.

* weekly (weeks 1-6) and fortnightly (weeks 3-4, 5-6) rain totals and temperature means,
  anomalies and tercile probabilities against the lead-dependent model climatology
  (climatology.nc of the bundle, or ``products.climatology``; without one: totals only);
  ``products.calibrate`` quantile-maps rain to the observed climatology, and a calibration.nc
  (``products.calibration``) recalibrates the terciles and the daily rain;
* the planting outlook (``products.rules``): the observed rain up to the issue date joined to
  each member's forecast; chance of onset by each coming week, false-start and dry-spell
  risk, planting window and advice, per location and (gridded observations) as maps;
* the bundle's held-out scorecard, where it has one (``sowcast verify verify.bundle=...``),
  copied as ``scorecard/``: the skill the bulletin, the dashboard and ``/api/skill`` state.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.cf_attributes import cf_dataset
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.output_lock import output_lock
from sowcast.products.folder import (
    LOCATIONS_CSV,
    LOCATIONS_NC,
    PLANTING_MAP_FILE,
    SCORECARD_DIR,
    SCORECARD_FILES,
    WEEKLY_FILE,
    Place,
    ProductsManifest,
)
from sowcast.products.options import ProductsOptions

RAIN = "total_precipitation"
NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
PRODUCT_TITLES = {WEEKLY_FILE: "sowcast weekly outlook: rain and temperature by lead period on the grid",
                  LOCATIONS_NC: "sowcast planting outlook and weekly outlook at the locations",
                  PLANTING_MAP_FILE: "sowcast planting outlook on the grid"}


@dataclass(frozen=True)
class ProductsResult:
    """What :func:`run` wrote: the folder, the issue date, the files beside products.json and
    the English advice of each location (none without observations)."""

    output: Path
    issue: pd.Timestamp
    files: tuple[str, ...]
    advice: tuple[tuple[str, str], ...]   # (location, advice sentence)


@dataclass(frozen=True)
class _Sources:
    """The inputs beside the forecast, read and checked before the forecast is."""

    rules: Any                           # SeasonRules
    locations: Any                       # sowcast.products.locations.Locations
    bundle_sha: str | None
    climatology_path: Path | None
    climatology: xr.Dataset | None
    calibration_path: Path | None
    calibration: xr.Dataset | None
    scorecard: tuple[Path, Path] | None = None   # the bundle's scorecard.csv and scorecard.json, if it has them
    models: frozenset[str] = frozenset()         # sha256 of the bundle's model files (the scorecard's models)


def open_forecast(path: Path) -> xr.Dataset:
    """The forecast engine's output (.zarr or .nc), or a one-line error (any other file too)."""
    if not (path.suffix == ".zarr" or path.is_dir()):
        with open(path, "rb") as f:
            head = f.read(8)
        if not head.startswith(NETCDF_MAGIC):
            kind = ("a GRIB file" if head.startswith(b"GRIB") else "an empty file" if not head
                    else f"a file starting {head[:4]!r}")
            raise SowcastError(f"the forecast {path} is {kind}, not a sowcast forecast (.zarr or netCDF)")
    try:
        if path.suffix == ".zarr" or path.is_dir():
            return xr.open_zarr(path, consolidated=False)
        return xr.open_dataset(path, engine="netcdf4")
    except Exception as exc:  # noqa: BLE001 - zarr and netCDF raise many kinds for a damaged file
        raise SowcastError(f"cannot read the forecast {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None


def read_observed(path: Path, stations: Path | None, issue: pd.Timestamp) -> xr.DataArray:
    """Daily observed rain up to the issue date: from a canonical store (grid) or a station CSV."""
    from sowcast.data.stations import is_station_csv, read_station_csv
    from sowcast.products.daily import store_daily

    if path.suffix.lower() == ".csv" or is_station_csv(path):
        ds = read_station_csv(path, stations)
    else:
        from sowcast.data.store import open_store

        ds = open_store(path, chunks=None)
    if RAIN not in ds.data_vars:
        raise SowcastError(f"the observations {path} hold no {RAIN} (rain); they have {', '.join(map(str, ds.data_vars))}")
    rain = store_daily(ds[[RAIN]])[RAIN].sel(time=slice(None, issue)).load()
    if rain.sizes["time"] == 0 or pd.Timestamp(rain["time"].values[-1]) < issue:
        last = "nothing" if rain.sizes["time"] == 0 else f"{pd.Timestamp(rain['time'].values[-1]):%Y-%m-%d}"
        raise SowcastError(f"the observations {path} end at {last}, before the issue date {issue:%Y-%m-%d}: "
                           f"the season so far is unknown")
    return rain


def ocean_shift(path: Path, calibration: xr.Dataset | None, issue: pd.Timestamp,
                observed: xr.DataArray) -> xr.DataArray | None:
    """How far each past year's onset moves to this year's ocean (days, on ``year``;
    :mod:`sowcast.calibrate.onset_ocean`), from the ocean index in the observed store; None
    where the calibration has no ocean predictor, or (with a warning) where the observations
    cannot give this year's index: the onset climatology is then the plain one."""
    from sowcast.calibrate.onset_ocean import from_calibration, read_index

    ocean = from_calibration(calibration)
    if ocean is None:
        return None
    skip = f"the onset climatology is not moved by the ocean ({ocean.variable})"
    if path.suffix.lower() == ".csv" or not path.is_dir():
        _log(f"{skip}: the observations {path} are not a store with the ocean index", logging.WARNING)
        return None
    try:
        index = read_index(path, ocean, f"the observations {path}", until=issue)
    except SowcastError as exc:
        _log(f"{skip}: {exc}", logging.WARNING)
        return None
    years = sorted({int(y) for y in observed["time"].dt.year.values if int(y) < issue.year})
    shift = ocean.past_onset_shift(index, issue, years)
    if not years or not bool(shift.notnull().any()):
        _log(f"{skip}: the observations {path} lack the index of the {ocean.days} days to {issue:%Y-%m-%d}",
             logging.WARNING)
        return None
    _log(f"onset climatology moved to this year's ocean: {float(shift.mean()):+.1f} days on average "
         f"({ocean.days_per_k:.1f} days per K of {ocean.variable})")
    return shift.assign_attrs(box=[float(v) for v in ocean.box])   # where the index is read (the bulletin names it)


def _sources(options: ProductsOptions) -> _Sources:
    """Rules, locations, and the climatology and calibration (the bundle's where the options
    leave them to it)."""
    from sowcast.products.climatology import read_climatology
    from sowcast.products.locations import read_locations
    from sowcast.products.season_rules import load_rules

    rules = load_rules(options.rules, options.rules_overrides or None)
    locations = read_locations(options.locations, options.location_name_property)
    clim_path = options.climatology
    calibration_path = options.calibration if isinstance(options.calibration, Path) else None
    bundle_sha = scorecard = None
    models: frozenset[str] = frozenset()
    if options.bundle is not None:
        from sowcast.bundle.reader import load_bundle

        bundle = load_bundle(options.bundle)
        bundle_sha = str(bundle.sha256)
        if clim_path is None and bundle.climatology_path is not None:
            clim_path = Path(bundle.climatology_path)
        if calibration_path is None and options.calibration == "auto":
            calibration_path = getattr(bundle, "calibration_path", None)
        if bundle.scorecard_path is not None and bundle.scorecard_summary_path is not None:
            scorecard = (bundle.scorecard_path, bundle.scorecard_summary_path)
            models = bundle.model_digests
    climatology = read_climatology(clim_path, load=True) if clim_path is not None else None
    calibration = None
    if calibration_path is not None:
        from sowcast.calibrate.calibration import read_calibration

        calibration = read_calibration(calibration_path)
    return _Sources(rules, locations, bundle_sha, clim_path, climatology, calibration_path, calibration, scorecard,
                    models)


def _daily_rain(forecast: xr.Dataset, calibration: xr.Dataset | None, issue: pd.Timestamp) -> xr.DataArray:
    """The members' daily rain, quantile-mapped where the calibration has daily rain quantiles."""
    from sowcast.products.daily import forecast_daily

    rain = forecast_daily(forecast, [RAIN])[RAIN].load()
    if calibration is not None and "daily_rain_model_quantiles" in calibration:
        from sowcast.calibrate.daily_rain import map_daily_rain
        from sowcast.products.climatology import check_same_grid

        check_same_grid(calibration, rain, "the calibration's", "the forecast's")
        rain = map_daily_rain(rain, calibration.assign_coords(lat=rain["lat"].values, lon=rain["lon"].values), issue)
    return rain


def _planting(options: ProductsOptions, src: _Sources, rain: xr.DataArray,
              issue: pd.Timestamp) -> tuple[xr.Dataset | None, xr.Dataset | None]:
    """The planting outlook at the locations and on the grid (None where it is not made)."""
    from sowcast.products.locations import extract
    from sowcast.products.planting import planting_outlook

    if options.observed is None:
        _log("no products.observed: the planting outlook needs the observed rain of the season so far; skipped",
             logging.WARNING)
        return None, None
    observed = read_observed(options.observed, options.stations, issue)
    gridded = "lat" in observed.dims and "lon" in observed.dims
    obs_loc = extract(src.locations, observed)
    shift = ocean_shift(options.observed, src.calibration, issue, observed)
    outlook_loc = planting_outlook(obs_loc.sel(time=slice(None, issue)), extract(src.locations, rain), issue,
                                   src.rules, history=obs_loc, thresholds=options.thresholds,
                                   calibration=src.calibration, past_onset_shift=shift)
    outlook_map = None
    if gridded and options.maps:
        outlook_map = planting_outlook(observed, rain, issue, src.rules, history=observed,
                                       thresholds=options.thresholds, calibration=src.calibration,
                                       past_onset_shift=shift)
    return outlook_loc, outlook_map


def _weekly_at_locations(weekly: xr.Dataset, locations: Any) -> xr.Dataset:
    """The weekly products without members at the locations (the dry-season mask a flag again:
    a district is dry where most of its area is)."""
    from sowcast.products.locations import extract

    weekly_loc = extract(locations, weekly.drop_vars([v for v in weekly.data_vars if "member" in weekly[v].dims]))
    if f"{RAIN}_dry_season" in weekly_loc:
        weekly_loc[f"{RAIN}_dry_season"] = (weekly_loc[f"{RAIN}_dry_season"] >= 0.5).astype(np.int8).assign_attrs(
            weekly[f"{RAIN}_dry_season"].attrs)
    return weekly_loc


def _manifest(options: ProductsOptions, src: _Sources, forecast: xr.Dataset, weekly: xr.Dataset,
              issue: pd.Timestamp, files: list[str], outlook: xr.Dataset | None) -> ProductsManifest:
    import sowcast

    cal = src.calibration
    return ProductsManifest(
        issue_date=f"{issue:%Y-%m-%d}", init_time=f"{pd.Timestamp(forecast['init_time'].values):%Y-%m-%dT%H:%M:%S}",
        forecast=str(options.forecast.resolve()), forecast_bundle_sha256=forecast.attrs.get("bundle_sha256"),
        bundle_sha256=src.bundle_sha,
        climatology=None if src.climatology_path is None else str(src.climatology_path.resolve()),
        climatology_start_doy=int(weekly.attrs["climatology_start_doy"])
        if "climatology_start_doy" in weekly.attrs else None,
        calibrated=options.calibrate, members=int(forecast.sizes.get("member", 1)),
        calibration=None if src.calibration_path is None else str(Path(src.calibration_path).resolve()),
        calibration_years=None if cal is None else [int(cal.attrs["first_year"]), int(cal.attrs["last_year"])],
        rules=src.rules.name, rules_citation=src.rules.label, rules_source=src.rules.source,
        rules_source_fr=src.rules.source_fr, thresholds=options.thresholds,
        locations=[Place(n, float(a), float(b)) for n, a, b in
                   zip(src.locations.names, src.locations.lat, src.locations.lon, strict=True)],
        sowcast_version=sowcast.__version__, created=f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ}", files=files,
        onset_ocean_shift_days=None if outlook is None else outlook.attrs.get("onset_ocean_shift_days"),
        onset_ocean_box=None if outlook is None or "onset_ocean_box" not in outlook.attrs
        else [float(v) for v in str(outlook.attrs["onset_ocean_box"]).split()])


def run(options: ProductsOptions) -> ProductsResult:
    """Weekly and planting products of the forecast ``options.forecast`` (issue date = its init
    date), written into ``options.output`` (replaced as a whole): module doc."""
    from sowcast.atomic import atomic_path
    from sowcast.products.location_table import location_table
    from sowcast.products.weekly import weekly_products

    src = _sources(options)
    forecast = open_forecast(options.forecast)
    if "init_time" not in forecast.coords:
        raise SowcastError(f"{options.forecast} is not a sowcast forecast (no init_time)")
    if src.bundle_sha is not None and forecast.attrs.get("bundle_sha256") not in (None, src.bundle_sha):
        _log(f"note: the forecast was made with bundle {str(forecast.attrs.get('bundle_sha256'))[:12]}, "
             f"products.bundle is {src.bundle_sha[:12]} (its climatology.nc was added later, or another bundle)")
    issue = pd.Timestamp(forecast["init_time"].values).floor("D")
    model = forecast.attrs.get("model_sha256")
    if src.scorecard is not None and model is not None and model not in src.models:
        _log(f"the bundle's scorecard scores another model than the forecast's ({str(model)[:12]}): not carried, "
             f"so the bulletin will not state a skill that is not this forecast's", logging.WARNING)
        src = replace(src, scorecard=None)
    if src.climatology is None:
        _log("no climatology (run 'sowcast hindcast'): weekly totals only, no anomalies or terciles", logging.WARNING)
    if src.calibration is not None and src.climatology is None:
        raise SowcastError("the calibration needs the model climatology (climatology.nc) it was fitted with")
    _check_noise_scale(forecast.attrs, src.climatology)
    weekly = weekly_products(forecast, src.climatology, calibrate=options.calibrate, calibration=src.calibration,
                             dry_mm_per_day=options.dry_season_mm_per_day)
    outlook_loc, outlook_map = _planting(options, src, _daily_rain(forecast, src.calibration, issue), issue)
    weekly_loc = _weekly_at_locations(weekly, src.locations)
    datasets = {WEEKLY_FILE: weekly, LOCATIONS_NC: None if outlook_loc is None else xr.merge(
        [outlook_loc, weekly_loc.rename({v: f"weekly_{v}" for v in weekly_loc.data_vars})], compat="override",
        combine_attrs="drop_conflicts"), PLANTING_MAP_FILE: outlook_map}
    datasets = {name: ds for name, ds in datasets.items() if ds is not None}
    table = None if outlook_loc is None else location_table(outlook_loc, weekly_loc, src.locations)
    files = [*datasets, *([LOCATIONS_CSV] if table is not None else []), *(SCORECARD_FILES if src.scorecard else [])]
    manifest = _manifest(options, src, forecast, weekly, issue, files, outlook_loc)
    attrs = {"issue_date": manifest.issue_date,
             "bundle_sha256": str(src.bundle_sha or forecast.attrs.get("bundle_sha256", "")),
             "sowcast_version": manifest.sowcast_version, "season_rules": src.rules.name}
    with output_lock(options.output), atomic_path(options.output, overwrite=True, directory=True) as tmp:
        for name, ds in datasets.items():
            _to_netcdf(ds.copy().assign_attrs(attrs), tmp / name)
        if table is not None:
            table.to_csv(tmp / LOCATIONS_CSV, index=False)
        if src.scorecard is not None:   # the bundle's held-out skill, for the bulletin, the dashboard and the API
            (tmp / SCORECARD_DIR).mkdir()
            for source, name in zip(src.scorecard, SCORECARD_FILES, strict=True):
                shutil.copyfile(source, tmp / name)
        manifest.write(tmp)
    advice = () if table is None else tuple(zip(table["location"], table["advice_text"], strict=True))
    return ProductsResult(options.output, issue, tuple(files), advice)


def _to_netcdf(ds: xr.Dataset, path: Path) -> None:
    """netCDF with string coordinates and booleans in forms netCDF-4 stores."""
    ds = ds.copy()
    for name, var in list(ds.variables.items()):
        if var.dtype == bool:
            ds[name] = var.astype(np.int8)
        elif var.dtype.kind in ("O", "U"):
            ds[name] = var.astype(str)
    for name in ds.variables:
        ds[name].attrs = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                          for k, v in ds[name].attrs.items() if v is not None}
    ds.attrs = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in ds.attrs.items() if v is not None}
    ds.attrs["title"] = PRODUCT_TITLES.get(path.name, "sowcast products")
    ds, encoding = cf_dataset(ds, ds.attrs["title"], "sowcast products")
    ds.to_netcdf(path, encoding=encoding)


def _check_noise_scale(forecast_attrs: dict, climatology: xr.Dataset | None) -> None:
    """A warning when a stochastic forecast's ``noise_scale`` or ``noise_memory_days`` differs
    from that of the hindcasts behind the model climatology (1 and 0 where a file predates the
    option): the terciles would compare members of a different spread with that climatology."""
    if climatology is None or "model_noise" not in forecast_attrs:
        return
    for key, before, what in (("noise_scale", 1.0, "x {:g}"), ("noise_memory_days", 0.0, "{:g} days' memory")):
        ours = float(forecast_attrs.get(key, before))
        theirs = float(climatology.attrs.get(f"hindcast_{key}", before))
        if not np.isclose(ours, theirs):
            _log(f"the forecast's model noise is {what.format(ours)} but the climatology's hindcasts had "
                 f"{what.format(theirs)}: the terciles compare members of another spread; make the hindcasts (and "
                 f"the calibration) again with hindcast.{key}={ours:g}, or forecast with forecast.{key}={theirs:g}",
                 logging.WARNING)


def _log(message: str, level: int = logging.INFO) -> None:
    get_logger("products").log(level, message)  # "sowcast products: [warning: ]..." (sowcast.log)
