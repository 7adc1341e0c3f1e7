"""Whether the years a scorecard scores are held out: skill is measured on years the model,
its checkpoint choice and its calibration never saw; scored on the years it was fitted to, a
model shows its fit, not its skill (Michaelsen 1987, "Cross-validation in statistical climate
forecast models", J. Climate Appl. Meteor. 26; the hindcast scores of WMO's Standardised
Verification System for Long-Range Forecasts, Manual on the GDPFS, WMO-No. 485, are of
cross-validated or independent forecasts).

The reforecasts' files carry the model's periods (``sowcast hindcast`` copies them from the
bundle's provenance: :func:`sowcast.forecast.hindcast.model_period_attrs`). A start is
in-sample for

* ``training``: its forecast window ``[start, start + lead]`` meets the model's training
  period (``model_train_range``);
* ``selection``: the bundle's checkpoint is the run's ``best`` (lowest validation loss) and
  the window meets the validation period it was chosen on (``model_validation_range``);
  a checkpoint chosen by step only looked at that period, so it is not counted;
* ``calibration``: its year is one of the years the calibration was fitted on
  (calibration.nc's ``first_year`` .. ``last_year``): the calibrated scores are in-sample;
* ``climatology``: its year is one of the climatology's years: the baseline and the tercile
  categories were taken from the years scored. This makes the scores against climatology
  lower, not higher, so it is reported but does not make the scores in-sample.

``held_out`` is False when any start is in-sample for the first three, None when the
reforecasts do not record the model's training period (older files, or a bundle without
provenance), else True.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

KINDS = ("training", "selection", "calibration", "climatology")


@dataclass(frozen=True)
class HeldOut:
    """The scored start years that are in-sample, by kind (module doc); ``recorded``: the
    reforecasts record the model's training period."""

    recorded: bool
    years: dict[str, list[int]] = field(default_factory=dict)
    periods: dict[str, str] = field(default_factory=dict)   # kind -> "first .. last" of what was met

    @property
    def held_out(self) -> bool | None:
        if any(self.years.get(k) for k in KINDS[:3]):
            return False
        return True if self.recorded else None

    def warnings(self) -> list[str]:
        """One line per kind of overlap (and one when the periods are not recorded)."""
        out = []
        y = {k: _years_text(v) for k, v in self.years.items() if v}
        if "training" in y:
            out.append(f"the reforecasts of {y['training']} forecast the model's training period "
                       f"({self.periods['training']}): their scores measure the fit, not skill; "
                       f"score years the training did not see")
        if "selection" in y:
            out.append(f"the model's checkpoint ('best') was chosen on its validation loss over "
                       f"{self.periods['selection']}, which the reforecasts of {y['selection']} forecast: "
                       f"their scores flatter the model")
        if "calibration" in y:
            out.append(f"the calibration was fitted on the years scored ({y['calibration']}): "
                       f"the calibrated scores are in-sample")
        if "climatology" in y:
            out.append(f"the climatology (the baseline and the tercile categories) includes the years scored "
                       f"({y['climatology']}): the baseline knows them")
        if not self.recorded:
            out.append("the reforecasts do not record the model's training period (files of an older sowcast, or "
                       "a bundle without provenance): whether the years scored are held out is not known")
        return out


def _years_text(years: list[int]) -> str:
    return str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}" \
        if years == list(range(years[0], years[-1] + 1)) else ", ".join(map(str, years))


def _date_range(text: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    parts = str(text or "").split()
    if len(parts) != 2:
        return None
    try:
        first, last = pd.Timestamp(parts[0]), pd.Timestamp(parts[1])
    except ValueError:
        return None
    return first, last + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")   # the whole last day


def _year_set(attrs: Mapping[str, Any] | None) -> set[int]:
    """A climatology's or calibration's years: ``years`` ("2003 2004 ..."), else ``first_year``
    .. ``last_year``; empty when neither is there."""
    attrs = attrs or {}
    try:
        if attrs.get("years"):
            return {int(y) for y in str(attrs["years"]).split()}
        if attrs.get("first_year") is not None and attrs.get("last_year") is not None:
            return set(range(int(attrs["first_year"]), int(attrs["last_year"]) + 1))
    except ValueError:
        return set()
    return set()


def check_held_out(reforecast_attrs: Mapping[str, Any], starts: pd.DatetimeIndex, lead: pd.Timedelta,
                   climatology_attrs: Mapping[str, Any] | None = None,
                   calibration_attrs: Mapping[str, Any] | None = None) -> HeldOut:
    """Which of ``starts`` (forecasts of ``lead``) are in-sample, by kind (module doc)."""
    starts = pd.DatetimeIndex(starts)
    ends = starts + lead
    years: dict[str, list[int]] = {}
    periods: dict[str, str] = {}

    def meets(kind: str, rng: tuple[pd.Timestamp, pd.Timestamp] | None) -> None:
        if rng is None:
            return
        hit = (starts <= rng[1]) & (ends >= rng[0])
        if hit.any():
            years[kind] = sorted({int(y) for y in starts[hit].year})
            periods[kind] = f"{rng[0]:%Y-%m-%d} .. {rng[1]:%Y-%m-%d}"

    train = _date_range(reforecast_attrs.get("model_train_range"))
    meets("training", train)
    if reforecast_attrs.get("model_checkpoint") == "best":
        meets("selection", _date_range(reforecast_attrs.get("model_validation_range")))
    for kind, attrs in (("calibration", calibration_attrs), ("climatology", climatology_attrs)):
        fitted = _year_set(attrs)
        hit = sorted({int(y) for y in starts.year} & fitted)
        if hit:
            years[kind] = hit
    return HeldOut(recorded=train is not None, years=years, periods=periods)
