"""Rainy-season analysis: onset, false starts, dry-spell risk and cessation per season year.

``analyse_seasons(rain, rules)`` takes daily rain (mm, a ``time`` dim of consecutive whole
days, NaN = missing, any other dims) and a :class:`~.season_rules.SeasonRules` (or a preset
name), and returns a Dataset with dims ``(<other dims>, year)`` (``year`` int, the calendar
year of ``onset.earliest``). Rules in :mod:`.onset` (onset, false starts, censoring,
status) and :mod:`.cessation` (water balance); every series is analysed at once (numpy over
[series, day]; loops run over years and days only).

Variables (dtype): ``onset``, ``censored_date``, ``rain_condition_date``,
``false_start_date``, ``cessation`` (datetime64[ns], NaT); ``onset_doy``, ``cessation_doy``
(float64 day of year counted from 1 January of the season year on a 365-day calendar,
29 February counting as 28 February, so that the same calendar date has the same day in
every year and a climatology of past years' days compares like with like; NaN); ``onset_status``
(int8 flags: onset censored none not_yet missing); ``censor_reason`` (int8 flags:
not_censored series_end missing_days); ``cessation_status`` (int8 flags: ended censored
no_onset missing none); ``false_start``, ``dry_spell_risk`` (bool); ``days_unchecked``,
``trailing_dry_days`` (int32, 0 unless censored); ``longest_dry_spell``,
``season_length`` (float64 days, NaN).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.schema import infer_time_step
from sowcast.errors import SowcastError
from sowcast.products.cessation import CESSATION_STATUS, ENDED, detect_cessation
from sowcast.products.climatology import YEAR_DAYS, day_of_year
from sowcast.products.onset import CENSOR_REASONS, ONSET_STATUS, detect_onsets
from sowcast.products.season_rules import SeasonRules, load_rules

RAIN = "total_precipitation"
RAIN_UNITS = {"mm", "mm/day", "mm/d", "mm d-1", "mm day-1", "kg m-2"}
BLOCK = 1_000_000  # series x days analysed at once: bounds memory, keeps temporaries small


def _daily_axis(rain: xr.DataArray) -> pd.DatetimeIndex:
    if "time" not in rain.dims:
        raise SowcastError(f"season analysis needs a 'time' dimension (rain has dims {rain.dims})")
    dates = pd.DatetimeIndex(rain["time"].values)
    if infer_time_step(dates.values, "daily rain") != pd.Timedelta(days=1) or (dates != dates.normalize()).any():
        raise SowcastError("season analysis needs daily rain on whole days (00:00), one step a day")
    units = rain.attrs.get("units")
    if units is not None and units not in RAIN_UNITS:
        raise SowcastError(f"season analysis needs rain in mm per day, not {units!r}")
    return dates


def _analyse(flat: np.ndarray, dates: pd.DatetimeIndex, rules: SeasonRules) -> tuple[dict, dict]:
    """Onset and cessation arrays of ``flat`` [N, T], a block of series at a time."""
    step = max(1, BLOCK // len(dates))
    parts = []
    for i in range(0, max(flat.shape[0], 1), step):
        on = detect_onsets(flat[i:i + step], dates, rules)
        parts.append((on, detect_cessation(flat[i:i + step], dates, on, rules)))
    years = parts[0][0].pop("years")
    on, ce = ({k: np.concatenate([p[j][k] for p in parts]) for k in parts[0][j] if k != "years"} for j in (0, 1))
    return {**on, "years": years}, ce


def _flags(meanings: tuple[str, ...], long_name: str) -> dict:
    return {"long_name": long_name, "flag_values": np.arange(len(meanings), dtype=np.int8),
            "flag_meanings": " ".join(meanings)}


def analyse_seasons(rain: xr.DataArray | xr.Dataset, rules: SeasonRules | str) -> xr.Dataset:
    """Onset, false start, dry-spell risk, cessation and season length per series and year."""
    if isinstance(rain, xr.Dataset):
        if RAIN not in rain:
            raise SowcastError(f"season analysis needs the variable {RAIN!r} (found {', '.join(rain.data_vars)})")
        rain = rain[RAIN]
    rules = rules if isinstance(rules, SeasonRules) else load_rules(rules)
    dates = _daily_axis(rain)
    other = [d for d in rain.dims if d != "time"]
    values = rain.transpose(*other, "time").values.astype(np.float64)
    flat = values.reshape(-1, len(dates))

    on, ce = _analyse(flat, dates, rules)
    years = on["years"]
    t0 = dates[0].to_datetime64().astype("datetime64[D]")

    def when(idx):
        return np.where(idx >= 0, t0 + idx.astype("timedelta64[D]"), np.datetime64("NaT")).astype("datetime64[ns]")

    def doy(idx):   # 365-day calendar (29 February counts as 28 February), from 1 January of the season year
        known = idx >= 0
        date = t0 + np.where(known, idx, 0).astype("timedelta64[D]")
        years_on = date.astype("datetime64[Y]").astype(np.int64) + 1970 - np.asarray(years, np.int64)
        day = day_of_year(date.ravel()).reshape(date.shape)
        return np.where(known, day + YEAR_DAYS * years_on, np.nan)

    ended = ce["status"] == ENDED
    conv = rules.onset.date_convention
    days = {"units": "days"}
    fields = {
        "onset": (when(on["onset"]), {"long_name": "onset of the rainy season", "comment": f"date convention {conv}"}),
        "onset_doy": (doy(on["onset"]), {"long_name": "day of year of the onset (1 January = 1; 365-day "
                                                      "calendar, 29 February counts as 28 February)", "units": "1"}),
        "onset_status": (on["status"], _flags(ONSET_STATUS, "onset status")),
        "censored_date": (when(on["censored"]), {"long_name": "candidate onset whose dry-spell check is incomplete"}),
        "censor_reason": (on["censor_reason"], _flags(CENSOR_REASONS, "why the dry-spell check is incomplete")),
        "days_unchecked": (on["days_unchecked"], {"long_name": "look-ahead days not yet known", **days}),
        "trailing_dry_days": (on["trailing_dry_days"],
                              {"long_name": "dry run at the end of the known look-ahead days", **days}),
        "rain_condition_date": (when(on["rain_condition"]), {"long_name": "first date the rain condition was met"}),
        "false_start": (on["false_start"], {"long_name": "rain condition met, then a long dry spell, before onset"}),
        "false_start_date": (when(on["false_start_date"]), {"long_name": "first false start"}),
        "longest_dry_spell": (on["longest_dry_spell"], {
            "long_name": f"longest dry spell in the {rules.dry_spell_risk.lookahead_days} days after the onset",
            **days}),
        "dry_spell_risk": (on["dry_spell_risk"], {
            "long_name": f"a dry spell longer than {rules.dry_spell_risk.days} days followed the onset"}),
        "cessation": (when(ce["cessation"]), {"long_name": "end of the rainy season (water balance)"}),
        "cessation_doy": (doy(ce["cessation"]), {"long_name": "day of year of the cessation (1 January of "
                                                              "the season year = 1; 365-day calendar)", "units": "1"}),
        "cessation_status": (ce["status"], _flags(CESSATION_STATUS, "cessation status")),
        "season_length": (np.where(ended, ce["cessation"] - on["onset"], np.nan).astype(np.float64),
                          {"long_name": "days from onset to cessation", **days}),
    }
    shape = [rain.sizes[d] for d in other] + [len(years)]
    coords = {k: v for k, v in rain.coords.items() if "time" not in v.dims}
    coords["year"] = ("year", years.astype(np.int64), {"long_name": f"season year (year of {rules.onset.earliest})"})
    data = {k: ((*other, "year"), v.reshape(shape), {**a, "season_rules": rules.name})
            for k, (v, a) in fields.items()}
    return xr.Dataset(data, coords=coords, attrs={
        "title": "rainy season analysis",
        "season_rules": rules.name,
        "season_rules_citation": rules.label,
        "season_rules_source": rules.source,
        "season_rules_config": json.dumps(rules.to_dict()),
    })
