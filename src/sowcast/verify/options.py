"""The ``verify:`` config group (conf/verify/default.yaml) as one typed schema.

Each field's default is written here once and equals the YAML's (tests/test_option_defaults.py);
:func:`sowcast.options.parse` checks types, bounds and unknown keys, :meth:`VerifyOptions.from_config`
that the three inputs are set and exist. Errors are one line naming ``verify.<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.options import option, parse
from sowcast.products.dry_season import DRY_SEASON_MM_PER_DAY, check_threshold

GROUP = "verify"
REQUIRED = {"hindcast": "the folder of reforecasts ('sowcast hindcast hindcast.keep_daily=true')",
            "truth": "the canonical store with the truth",
            "climatology": "climatology.nc of the training-year hindcasts"}


def _dry_threshold(value: Any, key: str) -> float:
    try:
        return check_threshold(value)
    except SowcastError:
        raise SowcastError(f"{key} must be a number of mm per day >= 0, not {value!r}") from None


def _region(value: Any, key: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise SowcastError(f"{key} must be [lat_min, lat_max, lon_min, lon_max], not {value!r}")
    try:
        return tuple(float(v) for v in value)   # type: ignore[return-value]
    except (TypeError, ValueError):
        raise SowcastError(f"{key} must be [lat_min, lat_max, lon_min, lon_max] in degrees, not {value!r}") from None


@dataclass(frozen=True)
class VerifyOptions:
    """What ``sowcast verify`` scores, against what (sowcast/verify/stage.py)."""

    hindcast: Path | None = option(None, "folder of reforecasts of held-out years ('sowcast hindcast "
                                         "hindcast.keep_daily=true')")
    truth: Path | None = option(None, "canonical store with the observed (or analysed) truth")
    calibration: Path | None = option(None, "calibration.nc from 'sowcast calibrate': calibrated scores beside "
                                            "the raw ones")
    climatology: Path | None = option(None, "climatology.nc from the training-year hindcasts (model and observed "
                                            "terciles)")
    rules: str = option("sivakumar1988", "onset rules for the onset scores")
    rules_overrides: Any = option({}, "e.g. +verify.rules_overrides.onset.accumulation_mm=25")
    onset_region: tuple[float, float, float, float] | None = option(
        None, "[lat_min, lat_max, lon_min, lon_max] for the onset scores; null: every land point", convert=_region)
    tolerance_days: float = option(7.0, "onset hit: |forecast - observed| <= this many days", low=0.0)
    dry_season_mm_per_day: float = option(
        DRY_SEASON_MM_PER_DAY, "rain terciles scored where the products issue them: outside the period's "
                               "climatological dry season (the products' threshold); 0: everywhere",
        convert=_dry_threshold)
    bundle: Path | None = option(None, "a bundle folder of the reforecasts' model: the scorecard is added to it "
                                       "(scorecard.csv, scorecard.json), so every box that runs it states the skill; "
                                       "refused unless the years are held out")
    output: Path = option(Path("scorecard"), "folder: scores.csv, summary.json, reliability.png, "
                                             "skill_by_lead.png (replaced as a whole)")

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> VerifyOptions:
        """The group parsed, with the reforecasts, the truth and the climatology set and every
        input existing; a one-line error otherwise."""
        options = parse(cls, section, GROUP)
        for key, what in REQUIRED.items():
            if getattr(options, key) is None:
                raise SowcastError(f"{GROUP}.{key} is not set: give {what}")
        for key in (*REQUIRED, "calibration", "bundle"):
            path = getattr(options, key)
            if path is not None and not path.exists():
                raise SowcastError(f"{GROUP}.{key}: no such file or folder {path}")
        return options
