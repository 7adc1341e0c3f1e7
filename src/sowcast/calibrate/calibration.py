"""``sowcast calibrate``: fit the calibration of the products on training-year hindcasts.

Inputs: the hindcasts the model climatology was built from (``sowcast hindcast``, with
``keep_daily=true`` for the daily-rain and onset parts), their ``climatology.nc`` and the
store with the truth. Fitted on those years only; applied on the edge box by
``sowcast products`` (torch-free) and scored on held-out years by ``sowcast verify``.

``calibration.nc`` (added to the bundle with role ``calibration``):

* terciles, per variable (rain, 2 m temperature), period, grid point
  (:mod:`.tercile_fit`): ``<var>_tercile_theta_lower``, ``_theta_upper``, ``_slope``,
  ``_cv_rpss``, ``_cv_rpss_equal_odds``, ``_raw_rpss``, ``_skillful``, ``_n_samples``;
* daily rain quantiles by lead week (:mod:`.daily_rain`);
* onset by week, per week (:mod:`.onset_blend`): ``onset_blend_weight``, ``onset_cv_bss``,
  ``onset_raw_bss``, ``onset_n_cases``, fitted against the climatology that
  the ocean predictor (:mod:`.onset_ocean`) moves: ``onset_ocean_days_per_k`` (0: not
  applied), ``onset_ocean_slope``, ``_cv_mae``, ``_cv_mae_unshifted``, ``_n_cases``, attrs
  ``onset_ocean_variable``, ``_box``, ``_days``, ``_years``;
* attrs: ``probability_floor`` (no probability outside ``[floor, 1 - floor]``, terciles
  within ``[floor, 1 - 2 floor]``), the years, the rules, the neighbourhood, provenance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.cf_attributes import cf_dataset
from sowcast.config_values import number
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.options import option, parse
from sowcast.output_lock import output_lock

if TYPE_CHECKING:
    from sowcast.calibrate.onset_ocean import OceanPredictor

CALIBRATION_FILE = "calibration.nc"
PRODUCT = "products_calibration"
RAIN = "total_precipitation"
VARIABLES = (RAIN, "2m_temperature")
_LOG = get_logger("calibrate")


def _existing(path: Path | None, key: str) -> Path | None:
    if path is not None and not path.exists():
        raise SowcastError(f"calibrate.{key}: no such file or folder {path}")
    return path


def _floor(value: Any, key: str) -> float:
    out = number(value, key)
    if not 0 <= out < 1 / 3:
        raise SowcastError(f"{key} must be at least 0 and below 1/3, not {value!r}")
    return out


@dataclass(frozen=True)
class OnsetOceanOptions:
    """``calibrate.onset_ocean``: the ocean index of the onset's predictor (:mod:`.onset_ocean`)."""

    variable: str | None = option("auto", "store variable averaged over the box (an SST or its anomaly); "
                                          "auto: ocean_index, else sea_surface_temperature, else none; "
                                          "null: no ocean predictor")
    box: tuple[float, float, float, float] = option((-3.0, 3.0, -20.0, 0.0),
                                                    "[lat_min, lat_max, lon_min, lon_max]; ATL3 (Zebiak 1993)")
    days: int = option(45, "days of the index's mean, ending at the start", low=1, high=366)


@dataclass(frozen=True)
class CalibrateOptions:
    """The ``calibrate:`` config (conf/calibrate/default.yaml, whose defaults equal these:
    tests/test_option_defaults.py). :meth:`from_config` parses it
    (:func:`sowcast.options.parse`), checks the paths and fills ``climatology`` and ``output``."""

    hindcast: Path | None = option(None, "training-year hindcasts ('sowcast hindcast hindcast.keep_daily=true')")
    store: Path | None = option(None, "canonical store with the truth of those years")
    climatology: Path | None = option(None, "their climatology.nc; null: <hindcast>/climatology.nc")
    bundle: Path | None = option(None, "bundle folder: calibration.nc is added to it (role calibration)")
    output: Path | None = option(None, "calibration.nc; null: <hindcast>/calibration.nc")
    neighbourhood: int = option(2, "terciles: pool the grid points within +-N cells ((2N+1)^2) per fit", low=0)
    member_weight: dict[str, Literal["domain", "point"]] = option(
        {"total_precipitation": "domain", "2m_temperature": "point"},
        "terciles, per variable: the blend weight of the member fractions, one per period pooled over the "
        "domain (domain) or per point from its neighbourhood (point; also for a variable not named)")
    ridge: float = option(1.0, "terciles: weight of the prior (climatology, slope 0) in pseudo-observations",
                          low=0.0)
    probability_floor: float = option(0.02, "no probability below it or above 1 - it (terciles: up to 1 - 2 floor); "
                                            "number in [0, 1/3)", convert=_floor)
    rules: Any = option("sivakumar1988", "onset rules of the onset-by-week calibration (as products.rules)")
    rules_overrides: Any = option({}, "overrides of those rules (as products.rules_overrides)")
    onset_region: tuple[float, float, float, float] | None = option(
        None, "[lat_min, lat_max, lon_min, lon_max] of the onset cases; null: every land point")
    add_to_bundle: bool = option(True, "add calibration.nc to the bundle folder (its manifest is re-signed)")
    onset_ocean: OnsetOceanOptions = field(default_factory=OnsetOceanOptions, metadata={
        "doc": "onset: past onsets moved by the ocean index (sowcast/calibrate/onset_ocean.py), fitted on the "
               "store's record up to the last training year"})

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CalibrateOptions:
        o = parse(cls, cfg, "calibrate")
        hindcast = _existing(o.hindcast, "hindcast")
        if hindcast is None:
            raise SowcastError("calibrate.hindcast is not set: give the training-year hindcasts folder "
                               "('sowcast hindcast hindcast.keep_daily=true')")
        if _existing(o.store, "store") is None:
            raise SowcastError("calibrate.store is not set: give the canonical store with the truth")
        box = o.onset_ocean.box
        if not (box[0] < box[1] and box[2] < box[3]):
            raise SowcastError(f"calibrate.onset_ocean.box must be [lat_min, lat_max, lon_min, lon_max] with "
                               f"min < max, not {list(box)}")
        climatology = _existing(o.climatology, "climatology") or hindcast / "climatology.nc"
        if not climatology.is_file():
            raise SowcastError(f"no climatology {climatology}: run 'sowcast hindcast' (it builds climatology.nc) "
                               "or set calibrate.climatology")
        return replace(o, climatology=climatology, output=o.output or hindcast / CALIBRATION_FILE,
                       bundle=_existing(o.bundle, "bundle"), rules=o.rules or "sivakumar1988",
                       rules_overrides=o.rules_overrides or None)


def fit_terciles(periods: xr.Dataset, truth: xr.Dataset, clim: xr.Dataset, names: list[str],
                 options: CalibrateOptions) -> xr.Dataset:
    """The tercile part of ``calibration.nc`` (:mod:`.tercile_fit`) for every variable and period."""
    from sowcast.calibrate.tercile_fit import categories, fit_tercile_calibration, standardised_anomaly
    from sowcast.products.terciles import model_category_bounds, tercile_bounds, tercile_probabilities

    starts = pd.DatetimeIndex(periods["start"].values)
    years = starts.year.values
    out = xr.Dataset(coords={"period": periods["period"].values, "lat": periods["lat"].values,
                             "lon": periods["lon"].values})
    for name in names:
        f = periods[name].transpose("start", "member", "period", "lat", "lon")
        o = truth[name].transpose("start", "period", "lat", "lon")
        c = clim.transpose("start", "period", ..., "lat", "lon")
        z = standardised_anomaly(f.mean("member").values, c[f"{name}_mean"].values, c[f"{name}_std"].values)
        ol, ou = tercile_bounds(c, name, observed=True)
        cat = categories(o.values, ol.transpose(*o.dims).values, ou.transpose(*o.dims).values)
        ml, mu = model_category_bounds(c, name)
        raw = tercile_probabilities(f, ml, mu).transpose("start", "period", "lat", "lon", "category").values
        fields: dict[str, list[np.ndarray]] = {}
        for i in range(f.sizes["period"]):
            fitted = fit_tercile_calibration(z[:, i], cat[:, i], raw[:, i], years, options.neighbourhood,
                                             options.ridge, options.probability_floor, f.sizes["member"])
            for key, value in fitted.items():
                fields.setdefault(key, []).append(value)
        for key, values in fields.items():
            data = np.stack(values)
            out[f"{name}_tercile_{key}"] = (("period", "lat", "lon"),
                                            data.astype(np.int8 if key == "skillful" else np.float32))
        for key in fields:
            out[f"{name}_tercile_{key}"].attrs = dict(TERCILE_FIT_ATTRS.get(key, {}))
    return out


# The attributes of fit_tercile_calibration's fields (CF: long_name and units on each variable).
_RPS = "ranked probability score summed over the point's own samples"
TERCILE_FIT_ATTRS: dict[str, dict[str, Any]] = {
    "theta_lower": {"long_name": "extended logistic regression intercept of the lower tercile boundary",
                    "units": "1"},
    "theta_upper": {"long_name": "extended logistic regression intercept of the upper tercile boundary",
                    "units": "1"},
    "slope": {"long_name": "extended logistic regression slope on the standardised ensemble-mean anomaly",
              "units": "1"},
    "skillful": {"long_name": "1 where the calibrated terciles beat the climatological frequencies on left-out "
                              "years", "flag_values": np.array([0, 1], np.int8),
                 "flag_meanings": "climatological_frequencies calibrated_terciles"},
    "cv_rpss": {"long_name": "leave-one-year-out RPSS of the calibrated terciles against the climatological "
                             "frequencies", "units": "1"},
    "cv_rpss_equal_odds": {"long_name": "leave-one-year-out RPSS of the calibrated terciles against equal odds "
                                        "(1/3 each)", "units": "1"},
    "raw_rpss": {"long_name": "fair RPSS of the raw member fractions against the climatological frequencies",
                 "units": "1"},
    "n_samples": {"long_name": "hindcast samples in the fit (neighbourhood and all years)", "units": "1"},
    "blend_a": {"long_name": "blend of member fractions: sum of squared differences from the calibrated "
                             "probabilities less their sampling variance (neighbourhood, all years)", "units": "1"},
    "blend_b": {"long_name": "blend of member fractions: sum of their differences from the calibrated "
                             "probabilities times the calibrated errors (neighbourhood, all years)", "units": "1"},
    "blend_s": {"long_name": "blend of member fractions: sum of the infinite-ensemble variance p (1 - p) "
                             "(neighbourhood, all years)", "units": "1"},
    "rps_cv": {"long_name": f"{_RPS}: calibrated terciles, left-out years", "units": "1"},
    "rps_climatology": {"long_name": f"{_RPS}: climatological frequencies, left-out years", "units": "1"},
    "rps_equal_odds": {"long_name": f"{_RPS}: equal odds", "units": "1"},
    "rps_raw": {"long_name": f"{_RPS}: raw member fractions", "units": "1"},
    "rps_climatology_raw": {"long_name": f"{_RPS}: climatological frequencies, samples the raw forecast has",
                            "units": "1"},
}


MIN_OCEAN_YEARS = 8   # seasons of record the ocean predictor's slope needs (a slope on fewer is noise)


def fit_ocean(rain_truth: xr.DataArray, index: xr.DataArray, land, starts: pd.DatetimeIndex,
              options: CalibrateOptions, rules) -> tuple[OceanPredictor | None, xr.Dataset]:
    """The onset's ocean predictor (:mod:`.onset_ocean`) fitted on the store's years up to the
    last training year, at the points of the onset region; None (and why, in the attrs) with
    under :data:`MIN_OCEAN_YEARS` seasons."""
    from sowcast.calibrate.onset_ocean import OceanPredictor, calibration_fields, fit_days_per_k
    from sowcast.products.onset_climatology import past_onset_doy
    from sowcast.verify.reforecasts import _points, _region_mask

    o = options.onset_ocean
    variable = str(index.attrs["variable"])
    record = rain_truth.sel(time=rain_truth.time.dt.year <= int(starts.year.max()))
    points = _points(record, _region_mask(record.lat.values, record.lon.values, options.onset_region, land)).load()
    onset = past_onset_doy(points, rules)
    years = onset["year"].values
    if len(years) < MIN_OCEAN_YEARS:
        return None, xr.Dataset(attrs={"onset_ocean": f"not applied: the store's record up to the last training "
                                                      f"year has {len(years)} seasons (needs {MIN_OCEAN_YEARS})"})
    fit = fit_days_per_k(onset, index, starts, o.days)
    predictor = OceanPredictor(variable, o.box, o.days, fit["days_per_k"])
    verdict = "applied" if fit["days_per_k"] else "not applied: no better than the plain climatology on left-out years"
    _LOG.info(f"onset ocean predictor ({variable}, box {list(o.box)}, {o.days} days; {years.min()}-{years.max()}): "
              f"slope {fit['slope']:+.1f} d/K, left-out-year MAE {fit['cv_mae']:.2f} against "
              f"{fit['cv_mae_unshifted']:.2f} unmoved: {verdict}")
    fields = calibration_fields(predictor, fit, years)
    fields.attrs["onset_ocean"] = verdict
    return predictor, fields


def fit_onset(daily: xr.Dataset, rain_truth: xr.DataArray, land, options: CalibrateOptions, rules,
              ocean_index: xr.DataArray | str | None = None) -> xr.Dataset:
    """The onset part: cases of every training year, climatology from the truth's other years up
    to the last of them (every earlier year too, as the planting outlook takes them); with
    ``ocean_index`` (the store's daily ocean index; text: why there is none), the ocean
    predictor first, and the blend fitted against the climatology it moves."""
    from sowcast.calibrate.onset_blend import fit_onset_blend
    from sowcast.verify.reforecasts import OnsetSetup, onset_cases

    starts = pd.DatetimeIndex(daily["start"].values)
    years = sorted(set(starts.year))
    setup = OnsetSetup(rules, options.onset_region)
    ocean, ocean_fields = None, xr.Dataset(attrs={"onset_ocean": "not applied"})
    if isinstance(ocean_index, str):
        ocean_fields.attrs["onset_ocean"], ocean_index = ocean_index, None
    if ocean_index is not None:
        ocean, ocean_fields = fit_ocean(rain_truth, ocean_index, land, starts, options, rules)
        ocean = ocean if ocean is not None and ocean.days_per_k else None
    if ocean is None:
        _LOG.info(f"onset ocean predictor: {ocean_fields.attrs['onset_ocean']}")
    # the record up to the last hindcast year (later ones may be held out), as the products' and
    # the verification's onset climatology; each year's cases take its other years
    record = rain_truth.sel(time=rain_truth.time.dt.year <= years[-1])
    parts = []
    for y in years:
        these = daily.sel(start=starts[starts.year == y].values)
        truth_y = rain_truth.sel(time=rain_truth.time.dt.year == y)
        past = record.where(record.time.dt.year != y)   # year y blanked (a missing season): the series stays regular
        parts.append(onset_cases(these, truth_y, past, setup, land=land, ocean=ocean, ocean_index=ocean_index))
    cases = xr.concat(parts, dim="start", coords="minimal", compat="override", join="outer")
    out = fit_onset_blend(cases)
    out.attrs.update(ocean_fields.attrs)
    return xr.merge([out, ocean_fields], combine_attrs="override")


def run(options: CalibrateOptions, overwrite: bool = False) -> Path:
    """Fit and write ``calibration.nc`` (module doc); add it to ``options.bundle``'s folder
    unless ``options.add_to_bundle`` is false."""
    from sowcast.atomic import atomic_path
    from sowcast.calibrate.daily_rain import fit_daily_rain_quantiles, map_by_lead_day
    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import read_truth_daily
    from sowcast.products.periods import observed_periods
    from sowcast.products.season_rules import load_rules
    from sowcast.verify.reforecasts import per_start_climatology

    if options.output.exists() and not overwrite:
        raise SowcastError(f"{options.output} exists; pass overwrite=true to replace it")
    rules = load_rules(options.rules, options.rules_overrides)
    periods = open_hindcast(options.hindcast, "periods")
    clim = read_climatology(options.climatology, load=True)
    names = [n for n in VARIABLES if n in periods.data_vars and f"observed_{n}_quantiles" in clim.data_vars]
    if not names:
        raise SowcastError(f"{options.hindcast} and {options.climatology} share neither rain nor 2 m temperature "
                           "with observed quantiles (build the climatology with observations)")
    starts = periods["start"].values
    truth_daily, land = read_truth_daily(options.store, names)
    truth = observed_periods(truth_daily, starts)
    out = fit_terciles(periods, truth, per_start_climatology(clim, starts), names, options)
    daily_note, ocean_attrs = "daily rain and onset: calibrated", {}
    try:
        daily = open_hindcast(options.hindcast, "daily")
    except SowcastError:
        daily = None
        daily_note = ("daily rain and onset: not calibrated (the hindcasts have no daily series; run "
                      "'sowcast hindcast' with hindcast.keep_daily=true)")
    if daily is not None and RAIN in daily.data_vars and RAIN in truth_daily.data_vars:
        quantiles = fit_daily_rain_quantiles(daily[RAIN], truth_daily[RAIN])
        mapped = map_by_lead_day(daily[RAIN], quantiles.assign_coords(lat=daily["lat"].values, lon=daily["lon"].values))
        index = read_ocean_index(options)
        onset = fit_onset(daily.assign({RAIN: mapped}), truth_daily[RAIN], land, options, rules, index)
        ocean_attrs = {k: v for k, v in onset.attrs.items() if k.startswith("onset_ocean")}
        out = xr.merge([out, quantiles, onset])
    years = sorted({int(y) for y in pd.DatetimeIndex(starts).year})
    out.attrs = {
        "title": "sowcast products calibration", "product": PRODUCT, "Conventions": "CF-1.8",
        "first_year": years[0], "last_year": years[-1], "n_starts": len(starts),
        "members": int(periods.sizes.get("member", 1)), "neighbourhood": options.neighbourhood,
        "ridge": options.ridge, "probability_floor": options.probability_floor, "season_rules": rules.name,
        **{f"{n}_tercile_member_weight": options.member_weight.get(n, "point") for n in names},
        "onset_region": "" if options.onset_region is None else " ".join(map(str, options.onset_region)),
        "method": "terciles: extended logistic regression (Wilks 2009) on the ensemble-mean anomaly, "
                  "leave-one-year-out skill, climatological frequencies where not skillful; daily rain: "
                  "quantile mapping by lead week; onset by week: ensemble blended with climatology",
        "daily": daily_note, "climatology_sha256": _sha256(options.climatology),
        "hindcast_bundle_sha256": str(clim.attrs.get("bundle_sha256", "")),
        "sowcast_version": __import__("sowcast").__version__,
        "created": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M:%SZ}",
        **ocean_attrs,
    }
    options.output.parent.mkdir(parents=True, exist_ok=True)
    out, encoding = cf_dataset(out, out.attrs["title"], "sowcast calibrate")
    with output_lock(options.output), atomic_path(options.output, overwrite=True) as tmp:
        out.to_netcdf(tmp, encoding=encoding)
    if options.bundle is not None and options.add_to_bundle:
        from sowcast.bundle.reader import offer_file_to_bundle

        _LOG.info(offer_file_to_bundle(options.bundle, options.output, "calibration", "products.calibration"))
    return options.output


OCEAN_VARIABLES = ("ocean_index", "sea_surface_temperature")   # calibrate.onset_ocean.variable=auto, in order


def read_ocean_index(options: CalibrateOptions) -> xr.DataArray | str:
    """The store's daily ocean index of ``options.onset_ocean`` (:func:`.onset_ocean.index_series`),
    or why there is none (off, or ``auto`` and the store has no :data:`OCEAN_VARIABLES` or
    none inside the box). A variable named but missing, or outside the box, is a one-line error."""
    from sowcast.calibrate.onset_ocean import OceanPredictor, read_index
    from sowcast.data.store import open_store

    o = options.onset_ocean
    if o.variable is None:
        return "not applied: calibrate.onset_ocean.variable is null"
    variable = o.variable
    if variable == "auto":
        with open_store(options.store, chunks=None) as store:
            variable = next((v for v in OCEAN_VARIABLES if v in store.data_vars), None)
        if variable is None:
            return f"not applied: the store has none of {', '.join(OCEAN_VARIABLES)}"
    try:
        return read_index(options.store, OceanPredictor(variable, o.box, o.days),
                          f"the store {options.store} (calibrate.onset_ocean)")
    except SowcastError as exc:
        if o.variable != "auto":
            raise
        return f"not applied: {exc}"


def read_calibration(path: str | os.PathLike) -> xr.Dataset:
    """A ``calibration.nc`` loaded in memory, or a one-line error."""
    try:
        with xr.open_dataset(path) as ds:
            ds = ds.load()
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read the calibration {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if ds.attrs.get("product") != PRODUCT:
        raise SowcastError(f"{path} is not a sowcast calibration (made by 'sowcast calibrate')")
    return ds


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
