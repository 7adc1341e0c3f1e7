"""``sowcast products``: weekly and planting products of one ensemble forecast.

The output folder (replaced as a whole, atomically) is what ``sowcast bulletin`` and
``sowcast serve`` read::

    products.json     issue date, init time, provenance (forecast, bundle sha256, climatology,
                      rules, thresholds, sowcast version), the files below, the locations
    weekly.nc         weekly_products on the grid: members, ensemble mean, anomalies, tercile
                      probabilities (category, period, lat, lon)
    planting_map.nc   planting_outlook on every grid point (when the observations are gridded)
    locations.nc      planting_outlook per location, and the weekly tercile probabilities and
                      anomalies at the locations (location dim)
    locations.csv     one row per location: the key numbers and the English advice
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from omegaconf import DictConfig

from sowcast.cf_attributes import cf_dataset
from sowcast.config import plain
from sowcast.config_values import flag
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.output_lock import output_lock

PRODUCTS_OPTIONS = ("forecast", "bundle", "climatology", "observed", "stations", "locations",
                    "location_name_property", "rules", "rules_overrides", "calibrate", "calibration", "thresholds", "maps", "output",
                    "dry_season_mm_per_day")
RAIN = "total_precipitation"
PRODUCTS_FILE = "products.json"
PRODUCT_TITLES = {"weekly.nc": "sowcast weekly outlook: rain and temperature by lead period on the grid",
                  "locations.nc": "sowcast planting outlook and weekly outlook at the locations",
                  "planting_map.nc": "sowcast planting outlook on the grid"}


def _is_null(value: Any) -> bool:
    return value is None or str(value).strip() in ("", "None", "null")


def _is_auto(value: Any) -> bool:
    return str(value).strip().lower() == "auto"


def _is_off(value: Any) -> bool:
    return _is_null(value) or value is False or str(value).strip().lower() in ("none", "false", "no", "off")


def _path(value: Any, key: str, must_exist: bool = True) -> Path | None:
    if _is_null(value):
        return None
    path = Path(os.path.expanduser(str(value)))
    if must_exist and not path.exists():
        raise SowcastError(f"products.{key}: no such file or folder {path}")
    return path


NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


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


def _location_table(outlook: xr.Dataset, weekly: xr.Dataset | None, locations: Any) -> pd.DataFrame:
    """One row per location: the numbers a bulletin table shows, and the advice in English."""
    from sowcast.products.planting import ADVICE_CODES, advice_text

    rows = []
    for i, name in enumerate(locations.names):
        o = outlook.isel(location=i)
        row = {"location": name, "lat": float(locations.lat[i]), "lon": float(locations.lon[i])}
        for k in o["week"].values:
            row[f"onset_by_week{int(k)}"] = round(float(o["onset_by_week_expected"].sel(week=k)), 3)
        row["false_start_risk"] = round(float(o["false_start_risk"]), 3)
        row["dry_spell_risk"] = round(float(o["dry_spell_risk"]), 3)
        for key in ("planting_window_start", "planting_window_end"):
            t = o[key].values
            row[key] = "" if np.isnat(t) else f"{pd.Timestamp(t):%Y-%m-%d}"
        row["advice"] = ADVICE_CODES[int(o["advice"])]
        row["advice_probability"] = round(float(o["advice_probability"]), 3)
        if "onset_skillful" in o:
            week = int(o["advice_week"])
            row["advice_skillful"] = 1 if week < 1 else int(o["onset_skillful"].sel(
                week=min(week, int(o["week"].max()))))
        row["advice_text"] = advice_text(outlook, name, lang="en")
        if weekly is not None and f"{RAIN}_tercile_probability" in weekly:
            tp = weekly[f"{RAIN}_tercile_probability"].isel(location=i)
            for period in ("week1", "week2", "weeks3-4", "weeks5-6"):
                for cat in ("below", "above"):
                    row[f"rain_{period}_{cat}"] = round(float(tp.sel(period=period, category=cat)), 3)
                if f"{RAIN}_dry_season" in weekly:
                    row[f"rain_{period}_dry_season"] = int(weekly[f"{RAIN}_dry_season"].isel(location=i).sel(
                        period=period) >= 0.5)
        rows.append(row)
    return pd.DataFrame(rows)


def run(cfg: DictConfig) -> int:
    """Weekly and planting products of one ensemble forecast (issue date = its init date):

        sowcast products products.forecast=fc.zarr products.bundle=bundles/demo \\
            products.observed=data/demo/demo.zarr products.locations=data/locations/west_africa_demo.csv

    * weekly (weeks 1-6) and fortnightly (weeks 3-4, 5-6) rain totals and temperature means,
      anomalies and tercile probabilities against the lead-dependent model climatology
      (climatology.nc of the bundle, or products.climatology; without one: totals only);
      products.calibrate=true quantile-maps rain to the observed climatology;
    * planting outlook (products.rules: sivakumar1988, agrhymet_sahel, anacim, picsa or a
      YAML file): the observed rain up to the issue date (products.observed: a canonical
      store or a station CSV) joined to each member's forecast; probability of onset by each
      coming week, false-start and dry-spell risk, planting window and seed advice, per
      location (products.locations: CSV name,lat,lon or GeoJSON districts) and as maps.

    Writes products.json, weekly.nc, locations.nc, locations.csv and planting_map.nc into
    products.output (replaced as a whole).
    """
    from sowcast.atomic import atomic_path
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import forecast_daily
    from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, check_threshold
    from sowcast.products.locations import extract, read_locations
    from sowcast.products.planting import PlantingThresholds, planting_outlook
    from sowcast.products.season_rules import load_rules
    from sowcast.products.weekly import weekly_products

    p = dict(plain(cfg.products) or {})
    unknown = sorted(set(p) - set(PRODUCTS_OPTIONS))
    if unknown:
        raise SowcastError(f"unknown products option(s) {', '.join(unknown)}; known: {', '.join(PRODUCTS_OPTIONS)}")
    calibrate = flag(p.get("calibrate", False), "products.calibrate")
    maps = flag(p.get("maps", True), "products.maps")
    fc_path = _path(p.get("forecast"), "forecast")
    if fc_path is None:
        raise SowcastError("products.forecast is not set: give the forecast (.zarr or .nc) from 'sowcast forecast'")
    output = _path(p.get("output") or "products", "output", must_exist=False)
    rules = load_rules(p.get("rules") or "sivakumar1988", p.get("rules_overrides") or None)
    thresholds = PlantingThresholds.from_mapping(p.get("thresholds") or None)
    dry_mm_per_day = check_threshold(p.get("dry_season_mm_per_day", DRY_SEASON_MM_PER_DAY))
    locations = read_locations(_path(p.get("locations"), "locations") or _need_locations(),
                               str(p.get("location_name_property") or "name"))
    clim_path = _path(p.get("climatology"), "climatology")
    calibration_path = None if _is_auto(p.get("calibration", "auto")) or _is_off(p.get("calibration")) \
        else _path(p.get("calibration"), "calibration")
    bundle_sha = None
    if not _is_null(p.get("bundle")):
        from sowcast.bundle.reader import load_bundle

        bundle = load_bundle(_path(p.get("bundle"), "bundle"))
        bundle_sha = str(bundle.sha256)
        if clim_path is None and bundle.climatology_path is not None:
            clim_path = Path(bundle.climatology_path)
        if calibration_path is None and _is_auto(p.get("calibration", "auto")):
            calibration_path = getattr(bundle, "calibration_path", None)
    climatology = read_climatology(clim_path, load=True) if clim_path is not None else None
    calibration = None
    if calibration_path is not None:
        from sowcast.calibrate.calibration import read_calibration

        calibration = read_calibration(calibration_path)

    forecast = open_forecast(fc_path)
    if "init_time" not in forecast.coords:
        raise SowcastError(f"{fc_path} is not a sowcast forecast (no init_time)")
    if bundle_sha is not None and forecast.attrs.get("bundle_sha256") not in (None, bundle_sha):
        _log(f"note: the forecast was made with bundle {str(forecast.attrs.get('bundle_sha256'))[:12]}, "
             f"products.bundle is {bundle_sha[:12]} (its climatology.nc was added later, or another bundle)")
    issue = pd.Timestamp(forecast["init_time"].values).floor("D")
    if climatology is None:
        _log("no climatology (run 'sowcast hindcast'): weekly totals only, no anomalies or terciles", logging.WARNING)
    if calibration is not None and climatology is None:
        raise SowcastError("the calibration needs the model climatology (climatology.nc) it was fitted with")
    weekly = weekly_products(forecast, climatology, calibrate=calibrate, calibration=calibration,
                             dry_mm_per_day=dry_mm_per_day)
    rain = forecast_daily(forecast, [RAIN])[RAIN].load()
    if calibration is not None and "daily_rain_model_quantiles" in calibration:
        from sowcast.calibrate.daily_rain import map_daily_rain
        from sowcast.products.climatology import check_same_grid

        check_same_grid(calibration, rain, "the calibration's", "the forecast's")
        rain = map_daily_rain(rain, calibration.assign_coords(lat=rain["lat"].values, lon=rain["lon"].values), issue)

    obs_path = _path(p.get("observed"), "observed")
    outlook_loc = outlook_map = None
    if obs_path is None:
        _log("no products.observed: the planting outlook needs the observed rain of the season so far; skipped",
             logging.WARNING)
    else:
        observed = read_observed(obs_path, _path(p.get("stations"), "stations"), issue)
        gridded = "lat" in observed.dims and "lon" in observed.dims
        obs_loc = extract(locations, observed)
        outlook_loc = planting_outlook(obs_loc.sel(time=slice(None, issue)), extract(locations, rain), issue, rules,
                                       history=obs_loc, thresholds=thresholds, calibration=calibration)
        if gridded and maps:
            outlook_map = planting_outlook(observed, rain, issue, rules, history=observed, thresholds=thresholds,
                                           calibration=calibration)

    weekly_loc = extract(locations, weekly.drop_vars([v for v in weekly.data_vars if "member" in weekly[v].dims]))
    if f"{RAIN}_dry_season" in weekly_loc:   # a flag again (a district: dry where most of its area is)
        weekly_loc[f"{RAIN}_dry_season"] = (weekly_loc[f"{RAIN}_dry_season"] >= 0.5).astype(np.int8).assign_attrs(
            weekly[f"{RAIN}_dry_season"].attrs)
    files = {"weekly.nc": weekly, "locations.nc": None if outlook_loc is None else xr.merge(
        [outlook_loc, weekly_loc.rename({v: f"weekly_{v}" for v in weekly_loc.data_vars})], compat="override",
        combine_attrs="drop_conflicts"),
        "planting_map.nc": outlook_map}
    meta = {
        "product": "sowcast products", "issue_date": f"{issue:%Y-%m-%d}",
        "init_time": f"{pd.Timestamp(forecast['init_time'].values):%Y-%m-%dT%H:%M:%S}",
        "forecast": str(fc_path.resolve()), "forecast_bundle_sha256": forecast.attrs.get("bundle_sha256"),
        "bundle_sha256": bundle_sha, "climatology": None if clim_path is None else str(clim_path.resolve()),
        "climatology_start_doy": int(weekly.attrs["climatology_start_doy"]) if "climatology_start_doy" in weekly.attrs else None,
        "calibrated": calibrate, "members": int(forecast.sizes.get("member", 1)),
        "calibration": None if calibration_path is None else str(Path(calibration_path).resolve()),
        "calibration_years": None if calibration is None else
        [int(calibration.attrs["first_year"]), int(calibration.attrs["last_year"])],
        "rules": rules.name, "rules_citation": rules.label, "rules_source": rules.source,
        "rules_source_fr": rules.source_fr, "thresholds": thresholds.__dict__,
        "locations": [{"name": n, "lat": float(a), "lon": float(b)}
                      for n, a, b in zip(locations.names, locations.lat, locations.lon, strict=True)],
        "sowcast_version": __import__("sowcast").__version__,
        "created": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ}",
    }
    attrs = {"issue_date": meta["issue_date"], "bundle_sha256": str(bundle_sha or forecast.attrs.get("bundle_sha256", "")),
             "sowcast_version": meta["sowcast_version"], "season_rules": rules.name}
    with output_lock(output), atomic_path(output, overwrite=True, directory=True) as tmp:
        written = []
        for name, ds in files.items():
            if ds is None:
                continue
            ds = ds.copy()
            ds.attrs.update(attrs)
            _to_netcdf(ds, tmp / name)
            written.append(name)
        if outlook_loc is not None:
            table = _location_table(outlook_loc, weekly_loc, locations)
            table.to_csv(tmp / "locations.csv", index=False)
            written.append("locations.csv")
        meta["files"] = written
        (tmp / PRODUCTS_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    print(f"products of {issue:%Y-%m-%d} in {output}: {', '.join(written)}")
    if outlook_loc is not None:
        for name, line in zip(table["location"].head(12), table["advice_text"].head(12), strict=True):
            print(f"  {name}: {line}")
    return 0


def _need_locations():
    raise SowcastError("products.locations is not set: give a CSV (name,lat,lon) or a GeoJSON of districts")


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


def _log(message: str, level: int = logging.INFO) -> None:
    get_logger("products").log(level, message)  # "sowcast products: [warning: ]..." (sowcast.log)
