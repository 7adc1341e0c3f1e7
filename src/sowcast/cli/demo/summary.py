"""The summary the demo prints at the end: each stage's time, where each output is, and the
key skill figures read back from the outputs themselves:

* validation (``<run_dir>/metrics.csv``, last validation): latitude-weighted RMSE of the
  model over the held-out years as a fraction of persistence's and of climatology's, mean
  over channels, per lead (below 1: better);
* the scorecard (``<verify.output>/summary.json`` and ``scores.csv``): RPSS of weekly rain
  terciles at weeks 1, 2, 3-4, 5-6 (reference: the categories' climatological frequencies,
  climatology = 0; outside the dry season, and over every point), of 2 m temperature, the
  ensemble's spread over its error (under 1: under-dispersed, over-confident terciles),
  and the onset MAE beside the climatological onset's; raw, and calibrated where the
  scorecard was made with a calibration.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sowcast.verify.summary import SUMMARY_FILE, ScorecardSummary, read_summary

PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")
RAIN = "total_precipitation"


def validation_ratios(run_dir: str | Path) -> dict[str, Any] | None:
    """{"step", "leads": {lead: (RMSE / persistence, RMSE / climatology)}, "rain_bias": {lead: (the
    model's mean error, the climatology's)} (mm per step; empty without rain or from a run before
    the bias was validated)} of the last validation."""
    from sowcast.train.metrics_log import read_metrics

    rows = [r for r in read_metrics(Path(run_dir) / "metrics.csv") if r.get("split") == "val"]
    if not rows:
        return None
    step = max(int(r["step"]) for r in rows)
    table: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    for r in rows:
        if int(r["step"]) == step and r["metric"] in ("rmse", "rmse_persistence", "rmse_climatology", "bias",
                                                      "bias_climatology"):
            table[(r["metric"], int(r["lead"]))][r["channel"]] = float(r["value"])
    leads, rain_bias = {}, {}
    for lead in sorted({lead for metric, lead in table if metric == "rmse"}):
        if RAIN in table.get(("bias", lead), {}):
            rain_bias[lead] = (table[("bias", lead)][RAIN], table[("bias_climatology", lead)][RAIN])
        model = table[("rmse", lead)]
        ratios = []
        for ref in ("rmse_persistence", "rmse_climatology"):
            base = table[(ref, lead)]
            shared = [c for c in model if base.get(c, 0) > 0]
            ratios.append(sum(model[c] / base[c] for c in shared) / len(shared) if shared else float("nan"))
        leads[lead] = tuple(ratios)
    return {"step": step, "leads": leads, "rain_bias": rain_bias}


def weekly_rain_scores(folder: str | Path, metric: str, variable: str = "total_precipitation",
                       column: str = "value") -> dict[str, float]:
    """{period: value} of one metric of weekly rain (or ``variable``) in the scorecard's
    scores.csv (or of another ``column``: ``low``, ``high``, the 90 % interval's ends)."""
    import csv

    try:
        with open(Path(folder) / "scores.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return {}
    return {r["period"]: float(r[column]) for r in rows
            if r["metric"] == metric and r["variable"] == variable and r.get(column) not in (None, "", "nan")}


def scorecard(folder: str | Path) -> ScorecardSummary | None:
    """The scorecard's summary (:mod:`sowcast.verify.summary`); None where there is none yet."""
    if not (Path(folder) / SUMMARY_FILE).is_file():
        return None
    return read_summary(folder)


def _years(years: tuple[int, int]) -> str:
    return str(years[0]) if years[0] == years[1] else f"{years[0]}-{years[1]}"


def _bulletin_files(folder: Path) -> str:
    try:
        files = json.loads((folder / "bulletin.json").read_text()).get("files", [])
    except (OSError, ValueError):
        return str(folder)
    shown = [f for f in files if f.endswith((".html", ".pdf", ".csv"))]
    return f"{folder}/  {' '.join(shown)}"


def summary_lines(records: list[tuple[str, str, float]], d: DictConfig, plan: Any, checkpoint: Path | None,
                  total: float) -> list[str]:
    """The lines of the summary (module doc); ``records`` are (step, done|reused, seconds)."""
    head = (f"sowcast demo finished in {total:.1f} s (model {d.model.name}, {d.demo.nproc}-process training; "
            f"trained on {_years(plan.train_years)}, held out {_years(plan.held_out_years)})")
    lines = [head, "", "stages (seconds; a reused stage: the time it took when it was made)"]
    lines += [f"  {name:<11} {state:<7} {seconds:7.1f} s" for name, state, seconds in records]
    lines.append(f"  {'all':<11} {'':<7} {sum(s for _, _, s in records):7.1f} s")
    bulletin = Path(str(d.bulletin.output))
    reforecasts = Path(str(d.verify.hindcast))
    lines += ["", "outputs",
              f"  store        {d.data.store}",
              f"  training     {d.train.run_dir}  (checkpoint {checkpoint})",
              f"  bundle       {d.export.output}  and {d.export.output}.tar.gz",
              f"  climatology  {Path(str(d.hindcast.output)) / 'climatology.nc'}",
              f"  calibration  {d.calibrate.output}",
              f"  forecast     {d.forecast.output}  ({d.forecast.init_time}, {d.forecast.members} x {d.forecast.lead})",
              f"  products     {d.products.output}",
              f"  bulletins    {_bulletin_files(bulletin)}",
              f"  reforecasts  {reforecasts}",
              f"  scorecard    {Path(str(d.verify.output)) / 'scores.csv'}"]
    lines += ["", f"skill on the held-out years {_years(plan.held_out_years)} (synthetic truth)"]
    val = validation_ratios(d.train.run_dir)
    if val:
        for i, ref in enumerate(("persistence", "climatology")):
            cells = "  ".join(f"lead {lead} {r[i]:.2f}" for lead, r in val["leads"].items())
            lines.append(f"  {'validation RMSE / ' + ref:<40} {cells}   (mean over channels; below 1: better)")
        if val["rain_bias"]:
            cells = "  ".join(f"lead {lead} {b[0]:+.2f}" for lead, b in val["rain_bias"].items())
            clim = " ".join(f"{b[1]:+.2f}" for b in val["rain_bias"].values())
            lines.append(f"  {'validation bias of daily rain (mm)':<40} {cells}   (the climatology's: {clim}, "
                         "the years' own; a gap that grows with lead is drift)")
    card = scorecard(d.verify.output)
    if card:
        cells = "  ".join(f"{p} {card.weekly_rain.get(f'rpss {p}', float('nan')):+.2f}" for p in PERIODS)
        lines.append(f"  {'RPSS of weekly rain terciles':<40} {cells}   (climatology 0; {card.starts} starts x "
                     f"{card.members} members; outside the dry season, where the products issue terciles)")
        if card.weekly_rain_interval:
            cells = "  ".join(f"{p} {_interval(card.weekly_rain_interval.get(f'rpss {p}'))}" for p in PERIODS)
            lines.append(f"  {'  90 % interval, years resampled':<40} {cells}   ({len(card.years)} years: "
                         "sowcast.verify.resampling)")
        if card.held_out is False:
            kinds = "; ".join(f"{k} {', '.join(map(str, y))}" for k, y in card.in_sample_years.items() if y)
            lines.append(f"  NOT HELD OUT ({kinds}): the scores below measure the fit, not skill")
        issued = weekly_rain_scores(d.verify.output, "rpss_as_issued")
        if issued:
            cells = "  ".join(f"{p} {issued.get(p, float('nan')):+.2f}" for p in PERIODS)
            lines.append(f"  {'  raw member fractions as issued':<40} {cells}   (plain RPS of {card.members} members; "
                         "the line above is fair: what the ensemble samples)")
        cells = "  ".join(f"{p} {card.weekly_rain_all_points.get(f'rpss {p}', float('nan')):+.2f}" for p in PERIODS)
        lines.append(f"  {'  fair, over every point':<40} {cells}")
        spread = weekly_rain_scores(d.verify.output, "spread_skill")
        if spread:
            cells = "  ".join(f"{p} {spread.get(p, float('nan')):.2f}" for p in PERIODS)
            lines.append(f"  {'spread / error of weekly rain':<40} {cells}   (1: the spread matches the error)")
            low = weekly_rain_scores(d.verify.output, "spread_skill", column="low")
            high = weekly_rain_scores(d.verify.output, "spread_skill", column="high")
            if low and high:
                cells = "  ".join(f"{p} {_interval([low.get(p, math.nan), high.get(p, math.nan)], sign='')}"
                                  for p in PERIODS)
                lines.append(f"  {'  90 % interval, years resampled':<40} {cells}")
        if card.weekly_rain_calibrated:
            cells = "  ".join(f"{p} {card.weekly_rain_calibrated.get(f'rpss {p}', float('nan')):+.2f}"
                              for p in PERIODS)
            lines.append(f"  {'RPSS, calibrated (sowcast calibrate)':<40} {cells}   (fitted on the training years)")
        two_metre = weekly_rain_scores(d.verify.output, "rpss", "2m_temperature")
        if two_metre:
            cells = "  ".join(f"{p} {two_metre.get(p, float('nan')):+.2f}" for p in PERIODS)
            lines.append(f"  {'RPSS of weekly 2 m temperature terciles':<40} {cells}")
        lines.append(f"  {'onset MAE (' + card.rules + ')':<40} {card.onset_mae_days:.1f} days, climatology "
                     f"{card.onset_mae_days_climatology:.1f} days   ({card.onset_cases} cases); bias "
                     f"{card.onset_bias_days:+.1f} days (climatology {card.onset_bias_days_climatology:+.1f}: "
                     "the held-out years' own onsets)")
        if card.onset_interval.get("bias_days"):
            lines.append(f"  {'  90 % interval, years resampled':<40} MAE "
                         f"{_interval(card.onset_interval['mae_days'], 1, '')} days, bias "
                         f"{_interval(card.onset_interval['bias_days'], 1)} days; the MAE's skill against the "
                         f"climatology's {1 - card.onset_mae_days / card.onset_mae_days_climatology:+.2f} "
                         f"({_interval(card.onset_interval.get('mae_skill'))}, paired case by case)")
        if math.isfinite(card.onset_mean_bias_days):
            lines.append(f"  {'onset bias of the mean date':<40} {card.onset_mean_bias_days:+.1f} days "
                         f"({_interval(card.onset_interval.get('mean_bias_days'), 1)}), climatology "
                         f"{card.onset_mean_bias_days_climatology:+.1f}   (the dates above are medians, early "
                         "on average when the wait is skewed late)")
        if card.calibration is not None:
            lines.append(f"  {'onset MAE, calibrated':<40} {card.onset_mae_days_calibrated:.1f} days; bias "
                         f"{card.onset_bias_days_calibrated:+.1f} days, the mean date's "
                         f"{card.onset_mean_bias_days_calibrated:+.1f}")
            if math.isfinite(card.onset_mae_days_ocean_climatology):
                lines.append(f"  {'onset MAE, ocean-moved climatology':<40} "
                             f"{card.onset_mae_days_ocean_climatology:.1f} days; bias "
                             f"{card.onset_bias_days_ocean_climatology:+.1f} days   (no model: the calibration's "
                             "ocean predictor alone)")
    return lines


def _interval(pair: list[float] | None, digits: int = 2, sign: str = "+") -> str:
    low, high = pair if pair else (float("nan"), float("nan"))
    return f"{low:{sign}.{digits}f}..{high:{sign}.{digits}f}"
