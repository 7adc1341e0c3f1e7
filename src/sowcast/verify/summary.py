"""The scorecard folder's ``summary.json``: one typed contract for ``sowcast verify`` (writer),
the demo's summary and the bulletin (readers), with a version, so that a missing key is a
one-line error at the reader, not a "?" or a NaN in a bulletin.

Headline figures of weekly rain (``"<metric> <period>"`` for RPSS and the Brier skill of above
normal at weeks 1, 2, 3-4, 5-6): where the products issue terciles (``weekly_rain``) and over
every point (``weekly_rain_all_points``); ``*_calibrated`` with a calibration; each one's 90 %
interval over the years in ``weekly_rain_interval`` (and ``weekly_rain_calibrated_interval``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError

SUMMARY_FILE = "summary.json"
VERSION = 1
HEADLINE = [("rpss", "week1"), ("rpss", "week2"), ("rpss", "weeks3-4"), ("rpss", "weeks5-6"),
            ("bss_above", "week1"), ("bss_above", "week2"), ("bss_above", "weeks3-4"), ("bss_above", "weeks5-6")]


@dataclass(frozen=True)
class ScorecardSummary:
    """What ``summary.json`` holds (module doc); NaN where a score could not be computed."""

    starts: int
    members: int
    years: list[int]
    rules: str
    weekly_rain: dict[str, float]
    weekly_rain_all_points: dict[str, float]
    onset_mae_days: float
    onset_mae_days_climatology: float
    onset_cases: int
    onset_bias_days: float
    onset_bias_days_climatology: float
    dry_season_mm_per_day: float
    calibration: str | None = None
    weekly_rain_calibrated: dict[str, float] = field(default_factory=dict)
    weekly_rain_calibrated_all_points: dict[str, float] = field(default_factory=dict)
    onset_mae_days_calibrated: float = math.nan
    onset_bias_days_calibrated: float = math.nan
    onset_mae_days_ocean_climatology: float = math.nan   # the climatology moved by the ocean alone
    onset_bias_days_ocean_climatology: float = math.nan
    # the bias of the onset distribution's mean date, the one a reliable forecast has unbiased
    # (the dates above are medians, early on average; sowcast.verify.onset_dates)
    onset_mean_bias_days: float = math.nan
    onset_mean_bias_days_climatology: float = math.nan
    onset_mean_bias_days_calibrated: float = math.nan
    # sowcast.verify.held_out: False when the model trained on, or its checkpoint was chosen on,
    # or the calibration was fitted on, years scored; None when the reforecasts do not say
    held_out: bool | None = None
    in_sample_years: dict[str, list[int]] = field(default_factory=dict)   # kind -> start years
    # the headline skill scores' 90 % intervals over the years, [low, high] (sowcast.verify.resampling)
    weekly_rain_interval: dict[str, list[float]] = field(default_factory=dict)
    weekly_rain_calibrated_interval: dict[str, list[float]] = field(default_factory=dict)
    # the onset's: "mae_days", "bias_days", "mean_bias_days", "mae_skill" (1 - MAE / the climatological date's MAE),
    # and each with "_calibrated" -> [low, high]
    onset_interval: dict[str, list[float]] = field(default_factory=dict)
    version: int = VERSION

    def write(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / SUMMARY_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def read_summary(folder: str | os.PathLike) -> ScorecardSummary:
    """``<folder>/summary.json`` as a :class:`ScorecardSummary`; one-line errors for a missing
    file, an older scorecard (no version) or a missing key."""
    path = Path(os.path.expanduser(str(folder))) / SUMMARY_FILE
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise SowcastError(f"no {SUMMARY_FILE} in {path.parent} (give a 'sowcast verify' output folder)") from None
    except (OSError, ValueError) as exc:
        raise SowcastError(f"cannot read {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise SowcastError(f"{path} is not a sowcast scorecard summary")
    if "version" not in raw:
        raise SowcastError(f"{path} was written by an older sowcast (no version): re-run 'sowcast verify'")
    if raw["version"] != VERSION:
        raise SowcastError(f"{path} has version {raw['version']!r}; this sowcast reads version {VERSION}")
    known = {f.name: f for f in fields(ScorecardSummary)}
    required = [n for n, f in known.items() if f.default is MISSING and f.default_factory is MISSING]
    missing = [n for n in required if n not in raw]
    if missing:
        raise SowcastError(f"{path} lacks {', '.join(missing)}: re-run 'sowcast verify'")
    return ScorecardSummary(**{k: v for k, v in raw.items() if k in known})
