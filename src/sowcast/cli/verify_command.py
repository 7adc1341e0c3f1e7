"""``sowcast verify``: scores of reforecasts against the truth, beside their baselines."""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import DictConfig

from sowcast.config import plain
from sowcast.config_values import number
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.output_lock import output_lock

_LOG = get_logger("verify")

VERIFY_OPTIONS = ("hindcast", "truth", "climatology", "calibration", "rules", "rules_overrides", "onset_region",
                  "tolerance_days", "dry_season_mm_per_day", "output")
HEADLINE = [("rpss", "week1"), ("rpss", "week2"), ("rpss", "weeks3-4"), ("rpss", "weeks5-6"),
            ("bss_above", "week1"), ("bss_above", "week2"), ("bss_above", "weeks3-4"), ("bss_above", "weeks5-6")]


def _need(cfg: dict, key: str, what: str) -> Path:
    value = cfg.get(key)
    if value is None or str(value).strip() in ("", "None", "null"):
        raise SowcastError(f"verify.{key} is not set: give {what}")
    path = Path(os.path.expanduser(str(value)))
    if not path.exists():
        raise SowcastError(f"verify.{key}: no such file or folder {path}")
    return path


def run(cfg: DictConfig) -> int:
    """Verify reforecasts of held-out years (a 'sowcast hindcast' folder run with
    hindcast.keep_daily=true) against the truth (a canonical store), with the model and observed
    climatology of the training years (climatology.nc from 'sowcast hindcast'):

        sowcast verify verify.hindcast=reforecasts verify.truth=data/demo/demo.zarr \\
            verify.climatology=hindcast/climatology.nc verify.output=scorecard

    Weekly and fortnightly rain and 2 m temperature: RMSE (beside climatology and persistence),
    ACC, fair CRPS, spread-skill, RPSS of terciles and Brier skill of the outer terciles (the
    categories' climatological frequencies as reference; rain where the products issue terciles,
    outside the dry season of verify.dry_season_mm_per_day, and over all points), ROC area, a reliability diagram; onset of the rains (verify.rules):
    MAE, bias, hit rate within verify.tolerance_days and the Brier score of "onset by week k",
    beside the climatological onset of the training years. Writes scores.csv, summary.json,
    reliability.png and skill_by_lead.png into verify.output (replaced as a whole).
    """
    import pandas as pd

    from sowcast.atomic import atomic_path
    from sowcast.data.store import open_store
    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import store_daily
    from sowcast.products.season_rules import load_rules
    from sowcast.verify.reforecasts import (
        OnsetSetup,
        calibrated_onset_cases,
        onset_cases,
        score_onset,
        verify_reforecasts,
    )
    from sowcast.verify.scorecard import plot_reliability, plot_skill_by_lead

    v = dict(plain(cfg.verify) or {})
    unknown = sorted(set(v) - set(VERIFY_OPTIONS))
    if unknown:
        raise SowcastError(f"unknown verify option(s) {', '.join(unknown)}; known: {', '.join(VERIFY_OPTIONS)}")
    hindcast = _need(v, "hindcast", "the folder of reforecasts ('sowcast hindcast hindcast.keep_daily=true')")
    truth_path = _need(v, "truth", "the canonical store with the truth")
    clim_path = _need(v, "climatology", "climatology.nc of the training-year hindcasts")
    output = Path(os.path.expanduser(str(v.get("output") or "scorecard")))
    rules = load_rules(v.get("rules") or "sivakumar1988", v.get("rules_overrides") or None)
    region = v.get("onset_region")
    if region is not None and (not isinstance(region, (list, tuple)) or len(region) != 4):
        raise SowcastError(f"verify.onset_region must be [lat_min, lat_max, lon_min, lon_max], not {region!r}")
    tolerance = number(v.get("tolerance_days", 7), "verify.tolerance_days", 0)
    from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, check_threshold

    try:
        dry_mm = check_threshold(v.get("dry_season_mm_per_day", DRY_SEASON_MM_PER_DAY))
    except SowcastError:
        raise SowcastError("verify.dry_season_mm_per_day must be a number of mm per day >= 0, "
                           f"not {v.get('dry_season_mm_per_day')!r}") from None

    periods = open_hindcast(hindcast, "periods")
    daily = open_hindcast(hindcast, "daily")
    climatology = read_climatology(clim_path, load=True)
    calibration = None
    if v.get("calibration") is not None and str(v.get("calibration")).strip() not in ("", "None", "null"):
        from sowcast.calibrate.calibration import read_calibration

        calibration = read_calibration(_need(v, "calibration", "calibration.nc from 'sowcast calibrate'"))
    names = [n for n in ("total_precipitation", "2m_temperature") if n in periods.data_vars]
    if not names:
        raise SowcastError(f"{hindcast} holds neither total_precipitation nor 2m_temperature")
    with open_store(truth_path, chunks=None) as store:
        missing = [n for n in names if n not in store.data_vars]
        if missing:
            raise SowcastError(f"the truth {truth_path} lacks {', '.join(missing)}")
        truth_daily = store_daily(store[names]).load()
        land = store["land_sea_mask"].load() if "land_sea_mask" in store.data_vars else None
    start_times = pd.DatetimeIndex(periods["start"].values)
    rain_truth = truth_daily["total_precipitation"]
    if "first_year" in climatology.attrs and "last_year" in climatology.attrs:
        past = rain_truth.sel(time=slice(f"{int(climatology.attrs['first_year'])}",
                                         f"{int(climatology.attrs['last_year'])}"))
    else:
        past = rain_truth.sel(time=rain_truth.time.dt.year < start_times.min().year)
    if past.sizes["time"] < 365:
        raise SowcastError("the truth holds no full year before the reforecasts for the onset climatology")
    _LOG.info(f"{len(start_times)} starts x {periods.sizes['member']} members "
              f"({start_times.min():%Y-%m-%d} .. {start_times.max():%Y-%m-%d})")
    card, tables = verify_reforecasts(periods, truth_daily, climatology, names, calibration, dry_mm)
    held_out_truth = rain_truth.sel(time=rain_truth.time.dt.year.isin(sorted(set(start_times.year))))
    setup = OnsetSetup(rules, region, tolerance)
    cases = onset_cases(daily, held_out_truth, past, setup, land=land)
    score_onset(card, cases, tolerance)
    if calibration is not None:
        score_onset(card, calibrated_onset_cases(daily, held_out_truth, past, setup, calibration, land=land),
                    tolerance, suffix="_calibrated")

    frame = card.to_frame()
    headline = {f"{m} {p}": float(frame[(frame.metric == m) & (frame.period == p) &
                                         (frame.variable == "total_precipitation")]["value"].iloc[0])
                for m, p in HEADLINE}
    onset = frame[frame.metric == "onset_mae_days"].iloc[0]
    summary = {"starts": len(start_times), "members": int(periods.sizes["member"]),
               "years": sorted({int(y) for y in start_times.year}), "rules": rules.name,
               "weekly_rain": headline, "onset_mae_days": float(onset["value"]),
               "onset_mae_days_climatology": float(onset["reference"]), "onset_cases": int(onset["n"]),
               "onset_bias_days": _value(frame, "onset_bias_days"),
               "onset_bias_days_climatology": _value(frame, "onset_bias_days", column="reference"),
               "dry_season_mm_per_day": dry_mm,
               "weekly_rain_all_points": {f"{m} {p}": _value(frame, f"{m}_all_points", p) for m, p in HEADLINE}}
    if calibration is not None:
        summary["calibration"] = str(Path(str(v.get("calibration"))).resolve())
        summary["weekly_rain_calibrated"] = {
            f"{m} {p}": _value(frame, f"{m}_calibrated", p) for m, p in HEADLINE}
        summary["weekly_rain_calibrated_all_points"] = {
            f"{m} {p}": _value(frame, f"{m}_calibrated_all_points", p) for m, p in HEADLINE}
        summary["onset_mae_days_calibrated"] = _value(frame, "onset_mae_days_calibrated")
        summary["onset_bias_days_calibrated"] = _value(frame, "onset_bias_days_calibrated")
    with output_lock(output), atomic_path(output, overwrite=True, directory=True) as tmp:
        card.to_csv(tmp / "scores.csv")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        rain = frame[(frame.variable == "total_precipitation") & (frame.metric == "rpss")]
        plot_skill_by_lead(rain.assign(skill=rain["value"]), tmp / "skill_by_lead.png",
                           title="RPSS of weekly rain terciles (reference: climatology; dry season left out)")
        plot_reliability(tables["total_precipitation"].sel(period="weeks3-4"), tmp / "reliability.png",
                         title="Above-normal rain, weeks 3-4 (raw)")
        if "total_precipitation_calibrated" in tables:
            plot_reliability(tables["total_precipitation_calibrated"].sel(period="weeks3-4"),
                             tmp / "reliability_calibrated.png", title="Above-normal rain, weeks 3-4 (calibrated)")
    print(f"scorecard in {output}: RPSS of weekly rain {' '.join(f'{k.split()[1]} {x:+.3f}' for k, x in headline.items() if k.startswith('rpss'))}; "
          f"onset MAE {summary['onset_mae_days']:.1f} days (climatology {summary['onset_mae_days_climatology']:.1f})")
    if calibration is not None:
        cal = summary["weekly_rain_calibrated"]
        print(f"calibrated: RPSS of weekly rain {' '.join(f'{k.split()[1]} {x:+.3f}' for k, x in cal.items() if k.startswith('rpss'))}; "
              f"onset MAE {summary['onset_mae_days_calibrated']:.1f} days, bias {summary['onset_bias_days_calibrated']:+.1f}")
    return 0


def _value(frame, metric: str, period: str = "onset", variable: str = "total_precipitation",
           column: str = "value") -> float:
    rows = frame[(frame.metric == metric) & (frame.period == period) & (frame.variable == variable)]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")
