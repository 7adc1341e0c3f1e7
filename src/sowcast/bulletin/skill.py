"""The skill statement's numbers, from a ``sowcast verify`` scorecard folder: ``scores.csv``
(columns metric, variable, period, value, reference, skill, n; see
:mod:`sowcast.verify.scorecard`) and, when present, ``summary.json`` (the reforecast years).

Shown: the RPSS of the weekly rain terciles (``value`` of the ``rpss`` rows of
``total_precipitation``: where the products issue terciles, outside the climatological dry
season; reference the categories' climatological frequencies) for the bulletin's periods,
with its 90 % interval over the years where the scorecard has one (``low``,
``high``),
and the mean absolute error of the onset date beside the climatological date (``onset_mae_days``).
For the onset as issued (calibrated where the scorecard has calibrated rows, else raw) also its
bias (``onset_bias_days``: the forecast's median date minus the observed one, the date the
bulletin's planting week follows) and the MAE's skill against the usual date
(``onset_mae_skill``), each with its 90 % interval over the years where there is one, and
the Brier skill of its chance of onset by each week (``onset_by_week_bss``, with its 90 %
interval over the years; in scorecards made before it, ``onset_by_week_brier``'s skill and no
interval: the chances the planting table shows, against the usual dates' chances).
A scorecard whose summary says its years are not held out (the model trained on them, its
checkpoint was chosen on them or the calibration was fitted on them:
:mod:`sowcast.verify.held_out`) is refused: its scores are a fit, not skill."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sowcast.errors import SowcastError
from sowcast.verify.scorecard import INTERVAL
from sowcast.verify.summary import SUMMARY_FILE, read_summary

COLUMNS = ("metric", "variable", "period", "value", "reference", "skill", "n")
RAIN = "total_precipitation"


@dataclass
class Skill:
    rpss: dict[str, float] = field(default_factory=dict)   # period -> RPSS
    rpss_calibrated: dict[str, float] = field(default_factory=dict)   # period -> RPSS, calibrated
    # period -> (low, high): the 90 % interval over the years (scores.csv's low, high)
    rpss_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    rpss_calibrated_interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    onset_mae_calibrated: float = math.nan
    years: list[int] = field(default_factory=list)
    onset_mae: float = math.nan
    onset_reference: float = math.nan
    onset_cases: int = 0
    members: int | None = None   # the reforecasts' ensemble size (summary.json)
    # the onset as issued: calibrated where the scorecard has it, else raw (module doc)
    onset_issued: OnsetScores | None = None
    # the chance of onset by each week as issued (calibrated where the scorecard has it): week ->
    # Brier skill score against the usual dates' chances (onset_by_week_bss), and its 90 %
    # interval over the years where the scorecard has one
    onset_by_week: dict[str, float] = field(default_factory=dict)
    onset_by_week_interval: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class OnsetScores:
    """The onset's bias (days; below 0: the forecast date came before the observed one) and
    its MAE's skill against the usual date (1 - MAE / MAE_usual), each with its 90 % interval
    over the years (NaN where the scorecard has none); ``bias_reference`` is the usual date's bias."""
    calibrated: bool
    bias: float = math.nan
    bias_low: float = math.nan
    bias_high: float = math.nan
    bias_reference: float = math.nan
    mae_skill: float = math.nan
    mae_skill_low: float = math.nan
    mae_skill_high: float = math.nan

    @property
    def bias_is_clear(self) -> bool:
        """Whether the bias's interval is known and excludes 0."""
        return math.isfinite(self.bias_low) and math.isfinite(self.bias_high) and (
            self.bias_high < 0 or self.bias_low > 0)


def _row(frame: pd.DataFrame, metric: str) -> dict[str, float] | None:
    """The first row of ``metric`` as numbers (value, reference, skill, low, high; NaN where
    empty or absent), or None when the scorecard has no such row."""
    rows = frame[frame.metric == metric]
    if not len(rows):
        return None
    row = rows.iloc[0]
    return {c: float(row[c]) if c in row and not pd.isna(row[c]) else math.nan
            for c in ("value", "reference", "skill", *INTERVAL)}


def _onset_scores(frame: pd.DataFrame) -> OnsetScores | None:
    """The issued onset's :class:`OnsetScores` (module doc), or None without an onset bias row."""
    for suffix, calibrated in (("_calibrated", True), ("", False)):
        bias = _row(frame, f"onset_bias_days{suffix}")
        if bias is None or not math.isfinite(bias["value"]):
            continue
        mae_skill = _row(frame, f"onset_mae_skill{suffix}") or {}
        low, high = INTERVAL
        return OnsetScores(calibrated, bias["value"], bias[low], bias[high], bias["reference"],
                           mae_skill.get("value", math.nan), mae_skill.get(low, math.nan),
                           mae_skill.get(high, math.nan))
    return None


def _onset_by_week(frame: pd.DataFrame) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Week -> the Brier skill of the issued chance of onset by that week (calibrated rows where
    the scorecard has them, else raw), and week -> its 90 % interval over the years where the
    scorecard has one (``onset_by_week_bss``; the ``onset_by_week_brier`` rows of older
    scorecards give the skill alone); empty without such rows."""
    low, high = INTERVAL
    for suffix in ("_calibrated", ""):
        rows = frame[(frame.metric == f"onset_by_week_bss{suffix}") & frame["value"].notna()]
        if len(rows):
            values = {str(p): float(v) for p, v in zip(rows["period"], rows["value"], strict=True)}
            intervals = {str(p): (float(lo), float(hi)) for p, lo, hi in zip(rows["period"], rows[low], rows[high],
                                                                             strict=True)
                         if math.isfinite(float(lo)) and math.isfinite(float(hi))}
            return values, intervals
        rows = frame[(frame.metric == f"onset_by_week_brier{suffix}") & frame["skill"].notna()]
        if len(rows):
            return {str(p): float(v) for p, v in zip(rows["period"], rows["skill"], strict=True)}, {}
    return {}, {}


def read_scorecard(folder: str | os.PathLike, periods: list[str]) -> Skill:
    """The scorecard's numbers for ``periods``; a one-line error if it is not a scorecard."""
    folder = Path(os.path.expanduser(str(folder)))
    scores = folder / "scores.csv"
    if not scores.is_file():
        raise SowcastError(f"bulletin.scorecard: no scores.csv in {folder} (give a 'sowcast verify' output folder)")
    try:
        frame = pd.read_csv(scores)
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {scores}: {exc}") from None
    if set(COLUMNS) - set(frame.columns):
        raise SowcastError(f"{scores} is not a sowcast scorecard (columns {', '.join(map(str, frame.columns))}; "
                           f"expected {', '.join(COLUMNS)})")
    skill = Skill()
    for metric, values, intervals in (("rpss", skill.rpss, skill.rpss_interval),
                                      ("rpss_calibrated", skill.rpss_calibrated, skill.rpss_calibrated_interval)):
        rain = frame[(frame.metric == metric) & (frame.variable == RAIN)]
        for period in periods:
            row = rain[rain.period == period]
            if len(row) and math.isfinite(float(row["value"].iloc[0])):
                values[period] = float(row["value"].iloc[0])
                low, high = (float(row[c].iloc[0]) if c in row else math.nan for c in INTERVAL)
                if math.isfinite(low) and math.isfinite(high):
                    intervals[period] = (low, high)
    onset_cal = frame[frame.metric == "onset_mae_days_calibrated"]
    if len(onset_cal):
        skill.onset_mae_calibrated = float(onset_cal["value"].iloc[0])
    onset = frame[frame.metric == "onset_mae_days"]
    if len(onset):
        skill.onset_mae = float(onset["value"].iloc[0])
        skill.onset_reference = float(onset["reference"].iloc[0])
        n = onset["n"].iloc[0]
        skill.onset_cases = 0 if pd.isna(n) else int(n)
    skill.onset_issued = _onset_scores(frame)
    skill.onset_by_week, skill.onset_by_week_interval = _onset_by_week(frame)
    if (folder / SUMMARY_FILE).is_file():
        summary = read_summary(folder)
        if summary.held_out is False:   # a fit is not skill: the bulletin would tell readers otherwise
            kinds = ", ".join(k for k in ("training", "selection", "calibration") if summary.in_sample_years.get(k))
            raise SowcastError(f"bulletin.scorecard: {folder} scores years that are not held out ({kinds}: "
                               f"see its 'sowcast verify' warnings); give a scorecard of held-out years")
        skill.years = [int(y) for y in summary.years]
        skill.members = int(summary.members)
    return skill
