"""The verify stage: scores of reforecasts of held-out years (a ``sowcast hindcast`` folder run
with ``hindcast.keep_daily=true``) against the truth (a canonical store), beside their baselines,
with the model and observed climatology of the training years (climatology.nc).

Weekly and fortnightly rain and 2 m temperature (:mod:`sowcast.verify.reforecasts`): RMSE
beside climatology and persistence, ACC, fair CRPS, spread-skill, RPSS of terciles and Brier
skill of the outer terciles against the categories' climatological frequencies (rain where the
products issue terciles, and over every point), ROC area, a reliability diagram; onset of the
rains: MAE, bias, hit rate and the Brier score of "onset by week k" beside the climatological
onset of the truth's other years (cross-validated); calibrated scores beside the raw ones
with a calibration.nc. Writes scores.csv, scores_by_year.csv (each year's own RPSS, BSS and onset figures),
summary.json (:mod:`sowcast.verify.summary`), reliability.png and skill_by_lead.png into the
output folder, replaced as a whole and atomically. Years the
model trained on, its checkpoint was chosen on or the calibration was fitted on are scored
with a warning, and the summary says they are not held out (:mod:`sowcast.verify.held_out`).
With ``verify.bundle`` the scorecard is also added to that bundle (:mod:`sowcast.verify.bundle_scorecard`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.verify.held_out import HeldOut, check_held_out
from sowcast.verify.options import VerifyOptions
from sowcast.verify.summary import HEADLINE, ScorecardSummary

_LOG = get_logger("verify")
RAIN = "total_precipitation"
NAMES = (RAIN, "2m_temperature")


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`run` wrote: the folder and its summary."""

    output: Path
    summary: ScorecardSummary


@dataclass(frozen=True)
class _Inputs:
    periods: xr.Dataset
    daily: xr.Dataset
    climatology: xr.Dataset
    calibration: xr.Dataset | None
    truth_daily: xr.Dataset
    land: xr.DataArray | None
    names: list[str]


def _read_inputs(options: VerifyOptions) -> _Inputs:
    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import read_truth_daily

    periods = open_hindcast(options.hindcast, "periods")
    daily = open_hindcast(options.hindcast, "daily")
    climatology = read_climatology(options.climatology, load=True)
    calibration = None
    if options.calibration is not None:
        from sowcast.calibrate.calibration import read_calibration

        calibration = read_calibration(options.calibration)
    names = [n for n in NAMES if n in periods.data_vars]
    if not names:
        raise SowcastError(f"{options.hindcast} holds neither total_precipitation nor 2m_temperature")
    truth_daily, land = read_truth_daily(options.truth, names)
    return _Inputs(periods, daily, climatology, calibration, truth_daily, land, names)


def onset_history(rain: xr.DataArray, starts: pd.DatetimeIndex) -> xr.DataArray:
    """The truth's rain as the onset climatology's record: :func:`onset_cases` takes every year
    of it but each start's own (cross-validated, as WMO's SVS for long-range forecasts asks of a
    hindcast's climatology); a one-line error when it holds no other year."""
    if len(set(rain.time.dt.year.values.tolist()) - {int(starts.min().year)}) == 0:
        raise SowcastError(f"the truth holds no year but {starts.min().year} for the onset climatology")
    return rain


def _score(options: VerifyOptions, inputs: _Inputs, rules):
    from sowcast.calibrate.onset_ocean import from_calibration, read_index
    from sowcast.verify.reforecasts import (
        OnsetSetup,
        calibrated_onset_cases,
        onset_cases,
        score_onset,
        verify_reforecasts,
    )

    starts = pd.DatetimeIndex(inputs.periods["start"].values)
    _LOG.info(f"{len(starts)} starts x {inputs.periods.sizes['member']} members "
              f"({starts.min():%Y-%m-%d} .. {starts.max():%Y-%m-%d})")
    card, tables = verify_reforecasts(inputs.periods, inputs.truth_daily, inputs.climatology, inputs.names,
                                      inputs.calibration, options.dry_season_mm_per_day)
    rain = inputs.truth_daily[RAIN]
    past = onset_history(rain, starts)
    held_out = rain.sel(time=rain.time.dt.year.isin(sorted(set(starts.year))))
    setup = OnsetSetup(rules, options.onset_region, options.tolerance_days)
    score_onset(card, onset_cases(inputs.daily, held_out, past, setup, land=inputs.land), options.tolerance_days)
    if inputs.calibration is not None:
        ocean = from_calibration(inputs.calibration)
        index = None if ocean is None else read_index(options.truth, ocean, f"the truth {options.truth}")
        cases = calibrated_onset_cases(inputs.daily, held_out, past, setup, inputs.calibration, land=inputs.land,
                                       ocean_index=index)
        score_onset(card, cases, options.tolerance_days, suffix="_calibrated")
        if ocean is not None:   # what the ocean alone gives: the moved climatology's median onset
            prior = cases.assign(forecast=cases["prior"], forecast_mean=cases["prior_mean"],
                                 prob_by_week=cases["prior_prob_by_week"])
            score_onset(card, prior, options.tolerance_days, suffix="_ocean_climatology")
    return card, tables


def _value(frame: pd.DataFrame, metric: str, period: str = "onset", column: str = "value") -> float:
    rows = frame[(frame.metric == metric) & (frame.period == period) & (frame.variable == RAIN)]
    return float(rows[column].iloc[0]) if len(rows) else float("nan")


def _headline(frame: pd.DataFrame, suffix: str = "") -> dict[str, float]:
    return {f"{m} {p}": _value(frame, f"{m}{suffix}", p) for m, p in HEADLINE}


def _headline_interval(frame: pd.DataFrame, suffix: str = "") -> dict[str, list[float]]:
    return {f"{m} {p}": [_value(frame, f"{m}{suffix}", p, "low"), _value(frame, f"{m}{suffix}", p, "high")]
            for m, p in HEADLINE}


def held_out_check(inputs: _Inputs) -> HeldOut:
    """Which of the reforecasts' years the model, its checkpoint choice, the calibration or the
    climatology saw (:mod:`sowcast.verify.held_out`)."""
    starts = pd.DatetimeIndex(inputs.periods["start"].values)
    lead = pd.Timedelta(days=int(inputs.daily.sizes["lead_day"]))
    return check_held_out(inputs.periods.attrs, starts, lead, inputs.climatology.attrs,
                          None if inputs.calibration is None else inputs.calibration.attrs)


def summarise(frame: pd.DataFrame, periods: xr.Dataset, rules_name: str, options: VerifyOptions,
              check: HeldOut | None = None) -> ScorecardSummary:
    """The scorecard's headline numbers (:class:`ScorecardSummary`) from its scores, and whether
    its years are held out (``check``)."""
    starts = pd.DatetimeIndex(periods["start"].values)
    onset = frame[frame.metric == "onset_mae_days"].iloc[0]
    calibrated = options.calibration is not None
    return ScorecardSummary(
        starts=len(starts), members=int(periods.sizes["member"]), years=sorted({int(y) for y in starts.year}),
        rules=rules_name, weekly_rain=_headline(frame), weekly_rain_all_points=_headline(frame, "_all_points"),
        onset_mae_days=float(onset["value"]), onset_mae_days_climatology=float(onset["reference"]),
        onset_cases=int(onset["n"]), onset_bias_days=_value(frame, "onset_bias_days"),
        onset_bias_days_climatology=_value(frame, "onset_bias_days", column="reference"),
        dry_season_mm_per_day=options.dry_season_mm_per_day,
        calibration=str(options.calibration.resolve()) if calibrated else None,
        weekly_rain_calibrated=_headline(frame, "_calibrated") if calibrated else {},
        weekly_rain_calibrated_all_points=_headline(frame, "_calibrated_all_points") if calibrated else {},
        onset_mae_days_calibrated=_value(frame, "onset_mae_days_calibrated"),
        onset_bias_days_calibrated=_value(frame, "onset_bias_days_calibrated"),
        onset_mae_days_ocean_climatology=_value(frame, "onset_mae_days_ocean_climatology"),
        onset_bias_days_ocean_climatology=_value(frame, "onset_bias_days_ocean_climatology"),
        onset_mean_bias_days=_value(frame, "onset_mean_bias_days"),
        onset_mean_bias_days_climatology=_value(frame, "onset_mean_bias_days", column="reference"),
        onset_mean_bias_days_calibrated=_value(frame, "onset_mean_bias_days_calibrated"),
        weekly_rain_interval=_headline_interval(frame),
        onset_interval={f"{m}{suffix}": [_value(frame, f"onset_{m}{suffix}", column=c) for c in ("low", "high")]
                        for m in ("mae_days", "bias_days", "mean_bias_days", "mae_skill") for suffix in ("", "_calibrated")
                        if not suffix or calibrated},
        weekly_rain_calibrated_interval=_headline_interval(frame, "_calibrated") if calibrated else {},
        held_out=None if check is None else check.held_out,
        in_sample_years={} if check is None else dict(check.years))


def run(options: VerifyOptions) -> VerifyResult:
    """Score the reforecasts (module doc) and write the scorecard folder."""
    from sowcast.atomic import atomic_path
    from sowcast.output_lock import output_lock
    from sowcast.products.season_rules import load_rules
    from sowcast.verify.scorecard import plot_reliability, plot_skill_by_lead

    rules = load_rules(options.rules or "sivakumar1988", options.rules_overrides or None)
    inputs = _read_inputs(options)
    check = held_out_check(inputs)
    for line in check.warnings():
        _LOG.warning(line)
    if options.bundle is not None:
        from sowcast.verify.bundle_scorecard import check_bundle

        check_bundle(options.bundle, options.hindcast, check.held_out)
    card, tables = _score(options, inputs, rules)
    frame = card.to_frame()
    summary = summarise(frame, inputs.periods, rules.name, options, check)
    with output_lock(options.output), atomic_path(options.output, overwrite=True, directory=True) as tmp:
        card.to_csv(tmp / "scores.csv")
        card.by_year_frame().to_csv(tmp / "scores_by_year.csv", index=False)
        summary.write(tmp)
        rain = frame[(frame.variable == RAIN) & (frame.metric == "rpss")]
        plot_skill_by_lead(rain.assign(skill=rain["value"]), tmp / "skill_by_lead.png",
                           title="RPSS of weekly rain terciles (reference: climatology; dry season left out)")
        plot_reliability(tables[RAIN].sel(period="weeks3-4"), tmp / "reliability.png",
                         title="Above-normal rain, weeks 3-4 (raw)")
        if f"{RAIN}_calibrated" in tables:
            plot_reliability(tables[f"{RAIN}_calibrated"].sel(period="weeks3-4"),
                             tmp / "reliability_calibrated.png", title="Above-normal rain, weeks 3-4 (calibrated)")
    if options.bundle is not None:
        from sowcast.verify.bundle_scorecard import add_to_bundle

        _LOG.info(add_to_bundle(options.bundle, options.output))
    return VerifyResult(options.output, summary)
