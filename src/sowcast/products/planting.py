"""Planting outlook: when will the rains start, and is it safe to plant? Per location or map.

The season so far (observed daily rain up to and including the issue date) is joined to each
member's forecast (:func:`join_observed_forecast`) and every joined series is analysed with
the season rules (:func:`~sowcast.products.season.analyse_seasons`, season year = the
calendar year of the issue date; observations before 1 January of that year are not used).
Week ``k`` (1..``weeks``) is the days ``issue + 7(k-1) + 1 .. issue + 7k``; "by week k" means
on or before ``issue + 7k``; week 0 is "on or before the issue date". Fractions are over the
members whose analysis is not ``missing``. Outputs of :func:`planting_outlook`:

* ``onset_by_week(week)``: P(confirmed onset, dated on or before the end of week k): the
  member's onset passed its dry-spell check within the joined series;
* ``onset_by_week_censored(week)``: P(the rain condition was met by the end of week k but the
  dry-spell check is incomplete because the series ended; ``censored_date`` <= week end;
  the season analysis keeps a censored candidate's date there, never in ``onset``);
* ``onset_by_week_expected(week)``: an estimate, confirmed + censored x (1 - q), q the
  climatological probability that the unknown look-ahead days still bring a disqualifying
  dry spell (:func:`remaining_dry_spell_probability`, from ``history``); where q is unknown
  (no history, fewer than 5 past years) censored candidates count 0, so the estimate falls
  back to the confirmed lower bound. q takes the unknown days as the ones after the series
  end (a candidate censored by missing observed days is treated alike). An onset confirmed
  in the observations alone sets all three to 1 (confirmed, expected) and 0 (censored);
* ``onset_status_observed``: the observations' own onset status (flags of
  :data:`~sowcast.products.onset.ONSET_STATUS`: 0 started (confirmed), 1 rain condition
  met, dry-spell check running, 2 no onset and the search window is over, 3 not yet,
  4 missing);
* ``most_likely_onset_week`` (0 = already started, 1..weeks, weeks+1 = later or never,
  -1 = no data) and its probability, from the expected masses ``E_0, E_k - E_{k-1}, 1 - E_weeks`` (ties: the
  earliest week);
* ``false_start_risk``: fraction of members in which a false start (rain condition met,
  then a dry spell longer than the onset rule allows, before any onset) happens in the
  forecast: a candidate whose window starts after the issue date fails, or the candidate
  the observations were still checking (status 1) fails. 0 where the onset is confirmed on
  or before the issue date;
* ``dry_spell_risk``: among members with an onset (confirmed or censored), the fraction with
  a known dry spell longer than ``dry_spell_risk.days`` in the ``dry_spell_risk.lookahead_days``
  days after the onset date; ``dry_spell_risk_undetermined``: the fraction for which such a
  spell is neither seen nor excluded (the days after the series end could complete it);
  the true risk lies between ``dry_spell_risk`` and their sum. NaN when no member has an onset.
  (Computed here with the rules of :mod:`.onset`, whose own ``dry_spell_risk`` covers confirmed
  onsets only and counts unknown days as not dry);
* ``planting_window_start``/``_end``: see :func:`planting_outlook`; ``advice``,
  ``advice_probability``, ``advice_week``: see :data:`ADVICE_CODES` and :func:`advice_text`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.cf_attributes import PROBABILITY, described
from sowcast.errors import SowcastError
from sowcast.options import option
from sowcast.products.dry_spells import (
    dry_run_lengths,
    longest_dry_spell,
    wet_dry_unknown,
)
from sowcast.products.advice import ENGLISH as ENGLISH_ADVICE
from sowcast.products.advice import advice_sentence
from sowcast.products.onset import CENSORED, MISSING, NOT_YET, ONSET
from sowcast.products.season import RAIN, analyse_seasons
from sowcast.products.season_rules import SeasonRules, load_rules

DAY = pd.Timedelta(days=1)
MIN_HISTORY_YEARS = 5

ADVICE_CODES = ("plant_now", "buy_seed_now", "wait", "wait_false_start_risk", "wait_dry_spell_risk",
                "season_started_dry_spell_risk", "no_onset_expected", "no_data")  # flag values 0..7
(PLANT_NOW, BUY_SEED_NOW, WAIT, WAIT_FALSE_START, WAIT_DRY_SPELL, STARTED_DRY_SPELL, NO_ONSET,
 NO_DATA) = range(len(ADVICE_CODES))

# The advice sentences by language (see sowcast.products.advice; the bulletin has the others).
ADVICE_TEMPLATES: dict[str, dict[str, str]] = {"en": ENGLISH_ADVICE}


@dataclass(frozen=True)
class PlantingThresholds:
    """Decision thresholds of the planting window and advice (probabilities in [0, 1]).

    ``onset_probability``: expected onset-by-week probability that opens the window;
    ``false_start_max``: a false-start risk at or above this closes it; ``dry_spell_max``: a
    post-onset dry-spell risk at or above this turns planting advice into a warning;
    ``buy_seed_weeks``: a window in weeks 2..this means "buy seed now"; ``no_onset_max``: the
    upper bound (confirmed + censored) of onset by the last week below this means "no onset
    expected".
    """

    onset_probability: float = option(0.5, "a week is the planting window when P(onset by then) reaches this ...",
                                      low=0.0, high=1.0)
    false_start_max: float = option(0.3, "... and the false-start risk is below this", low=0.0, high=1.0)
    dry_spell_max: float = option(0.3, "dry-spell risk from which the advice warns", low=0.0, high=1.0)
    buy_seed_weeks: int = option(3, "'buy seed now' when the onset is likely within this many weeks", low=1)
    no_onset_max: float = option(0.1, "'no onset expected' when P(onset within the forecast) is below this",
                                 low=0.0, high=1.0)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "buy_seed_weeks":
                if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                    raise SowcastError(f"planting threshold buy_seed_weeks must be a whole number >= 1, not {v!r}")
            elif isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise SowcastError(f"planting threshold {f.name} must be a probability in [0, 1], not {v!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> PlantingThresholds:
        """Defaults overridden by ``mapping``; an unknown key is a one-line error."""
        mapping = dict(mapping or {})
        known = [f.name for f in dataclasses.fields(cls)]
        for k in mapping:
            if k not in known:
                raise SowcastError(f"unknown planting threshold {k!r} (known: {', '.join(known)})")
        return cls(**mapping)

    def as_attrs(self) -> dict[str, float]:
        return {f"threshold_{k}": v for k, v in dataclasses.asdict(self).items()}


# ---------------------------------------------------------------------------- helpers

def _day(value, what: str = "issue date") -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise SowcastError(f"{what} {value!r} is not a date") from None
    if ts is pd.NaT or ts != ts.normalize():
        raise SowcastError(f"{what} {value!r} must be a whole day (YYYY-MM-DD)")
    return ts.tz_localize(None) if ts.tz is not None else ts


def _rain(data: xr.DataArray | xr.Dataset, what: str) -> xr.DataArray:
    if isinstance(data, xr.Dataset):
        if RAIN not in data:
            raise SowcastError(f"{what} has no {RAIN!r} variable (found {', '.join(map(str, data.data_vars))})")
        data = data[RAIN]
    if "time" not in data.dims:
        raise SowcastError(f"{what} has no 'time' dimension (dims {data.dims})")
    return data


def _check_daily(times: np.ndarray, what: str) -> None:
    t = pd.DatetimeIndex(times)
    if (t != t.normalize()).any():
        raise SowcastError(f"{what}: times must be whole days (00:00)")
    if len(t) > 1:
        step = np.diff(t.values)
        if (step != np.timedelta64(1, "D")).any():
            i = int(np.argmax(step != np.timedelta64(1, "D")))
            raise SowcastError(f"{what}: days are not consecutive after {t[i]:%Y-%m-%d} "
                               f"(next day {t[i + 1]:%Y-%m-%d})")


def _check_same_points(a: xr.DataArray, b: xr.DataArray, what_a: str, what_b: str) -> None:
    """The non-time, non-member dims of ``a`` and ``b`` are the same, with equal coordinates."""
    da = [d for d in a.dims if d not in ("time", "member")]
    db = [d for d in b.dims if d not in ("time", "member")]
    if sorted(da) != sorted(db):
        raise SowcastError(f"{what_a} has dims {tuple(da)} besides time, {what_b} {tuple(db)}")
    for d in da:
        if a.sizes[d] != b.sizes[d]:
            raise SowcastError(f"{what_a} and {what_b} differ in size along {d!r} ({a.sizes[d]} vs {b.sizes[d]})")
        if d in a.indexes and d in b.indexes and not a.indexes[d].equals(b.indexes[d]):
            raise SowcastError(f"{what_a} and {what_b} have different {d!r} coordinates")


def _points_dims(da: xr.DataArray) -> list[str]:
    return [d for d in da.dims if d not in ("time", "member")]


# ---------------------------------------------------------------------------- join

def join_observed_forecast(observed_daily: xr.DataArray | xr.Dataset,
                           forecast_daily: xr.DataArray | xr.Dataset, issue_date) -> xr.DataArray:
    """Observed rain up to and including ``issue_date`` + each member's forecast after it.

    ``observed_daily``: dims ``(time, ...)``; ``forecast_daily``: ``(member, time, ...)``
    (no ``member`` dim: one member). Observed days after the issue date are ignored (the
    forecast stands for them, as it would at the time of issue); forecast days on or before
    it are dropped. The observations must reach the issue date and the forecast must start
    the day after: a gap is an error. Output ``(member, time, ...)`` (the forecast's order)
    with the bool coordinate ``observed(time)``; attrs ``issue_date``.
    """
    issue = _day(issue_date)
    obs = _rain(observed_daily, "observed rain")
    fc = _rain(forecast_daily, "forecast rain")
    if "member" not in fc.dims:
        fc = fc.expand_dims(member=[0])
    _check_same_points(obs, fc, "observed rain", "forecast rain")
    _check_daily(obs["time"].values, "observed rain")
    _check_daily(fc["time"].values, "forecast rain")
    obs = obs.sel(time=slice(None, issue))
    if obs.sizes["time"] == 0:
        raise SowcastError(f"observed rain starts after the issue date {issue:%Y-%m-%d}")
    last = pd.Timestamp(obs["time"].values[-1])
    if last < issue:
        raise SowcastError(f"observed rain ends on {last:%Y-%m-%d}, before the issue date {issue:%Y-%m-%d}: "
                           f"{(issue - last).days} day(s) missing between observations and forecast")
    fc = fc.sel(time=slice(issue + DAY, None))
    if fc.sizes["time"] == 0:
        raise SowcastError(f"the forecast has no day after the issue date {issue:%Y-%m-%d}")
    first = pd.Timestamp(fc["time"].values[0])
    if first > issue + DAY:
        raise SowcastError(f"the forecast starts on {first:%Y-%m-%d}, not the day after the issue date "
                           f"{issue:%Y-%m-%d}: {(first - issue).days - 1} day(s) missing")
    drop = [c for c in fc.coords if c not in fc.dims and ("time" in fc[c].dims or fc[c].ndim == 0)]
    fc = fc.drop_vars(drop)
    obs = obs.drop_vars([c for c in obs.coords if c not in obs.dims and "time" in obs[c].dims])
    other = _points_dims(fc)
    obs = obs.expand_dims(member=fc["member"].values).transpose("member", "time", *other)
    fc = fc.transpose("member", "time", *other)
    obs = obs.assign_coords({d: fc[d] for d in other if d in fc.indexes})
    joined = xr.concat([obs.astype(np.float32), fc.astype(np.float32)], dim="time",
                       coords="minimal", compat="override", join="override")
    flag = np.r_[np.ones(obs.sizes["time"], bool), np.zeros(fc.sizes["time"], bool)]
    joined = joined.assign_coords(observed=("time", flag, {"long_name": "day taken from the observations"}))
    joined.name = RAIN
    joined.attrs = {"units": "mm", "long_name": "observed then forecast daily rain",
                    "issue_date": f"{issue:%Y-%m-%d}"}
    return joined


# ---------------------------------------------------------------------------- remaining dry spell

def _same_day(year: int, day: pd.Timestamp) -> pd.Timestamp:
    """``day``'s month and day in ``year`` (29 February -> 28 February)."""
    return pd.Timestamp(year=year, month=day.month, day=min(day.day, 28) if (day.month, day.day) == (2, 29)
                        else day.day)


def remaining_dry_spell_probability(history: xr.DataArray | xr.Dataset, rules, day,
                                    trailing_dry_days, days_remaining) -> xr.DataArray:
    """Climatological P(a dry spell longer than ``onset.max_dry_spell_days`` in the unknown days).

    For a censored onset candidate: ``day`` is the first look-ahead day not yet known,
    ``days_remaining`` (r) how many look-ahead days are unknown and ``trailing_dry_days`` (t)
    the dry run at the end of the known ones. In each past year y (years before ``day``'s,
    in ``history``: observed daily rain ``(time, ...)``) take the same calendar days
    ``[day_y, day_y + r)``; the event is ``max(t + lead_y, longest_y) > M``: ``lead_y`` the
    dry days at its start (they extend the trailing run), ``longest_y`` its longest dry run.
    P = events / years with no missing day in those r days. NaN where fewer than 5 such
    years (attr ``reason``); 0 where r = 0. ``t``/``r``: scalars or DataArrays whose dims are
    ``history``'s non-time dims plus any others (e.g. ``member``); the result has them all.
    Wet/dry as :mod:`.dry_spells` (rain >= ``dry_day_mm`` is wet).
    """
    rules = rules if isinstance(rules, SeasonRules) else load_rules(rules)
    hist = _rain(history, "history")
    day = _day(day, "day")
    limit = rules.onset.max_dry_spell_days
    t = xr.DataArray(trailing_dry_days) if not isinstance(trailing_dry_days, xr.DataArray) else trailing_dry_days
    r = xr.DataArray(days_remaining) if not isinstance(days_remaining, xr.DataArray) else days_remaining
    t, r = t.fillna(0).astype(np.int64), r.fillna(0).astype(np.int64)
    other = [d for d in hist.dims if d != "time"]
    R = int(r.max()) if r.size else 0
    hist_years = np.unique(pd.DatetimeIndex(hist["time"].values).year)
    years = hist_years[hist_years < day.year]
    template = xr.zeros_like(hist.isel(time=0, drop=True), dtype=np.float64)
    template = template.drop_vars([c for c in template.coords if c not in template.dims])
    p = xr.zeros_like(xr.broadcast(t, r, template)[2], dtype=np.float64)
    attrs = {"long_name": f"climatological probability of a dry spell longer than {limit} days in the "
                          "unknown look-ahead days", "units": "1", "n_years": len(years)}
    p.name = "remaining_dry_spell_probability"
    if R == 0:  # nothing unknown: probability 0
        return p.assign_attrs(attrs)
    if len(years) == 0:
        return xr.full_like(p, np.nan).assign_attrs(attrs, reason=f"no past years before {day.year} in the history")
    starts = [_same_day(int(y), day) for y in years]
    dates = pd.DatetimeIndex([s + k * DAY for s in starts for k in range(R)])
    h = hist.drop_vars([c for c in hist.coords if c not in hist.dims and "time" in hist[c].dims])
    h = h.transpose("time", *other).reindex(time=dates)
    vals = h.values.astype(np.float64).reshape(len(years), R, *[h.sizes[d] for d in other])
    vals = np.moveaxis(vals, 1, -1)  # (year, *other, day)
    _, dry, unknown = wet_dry_unknown(vals, rules.dry_day_mm)
    run = dry_run_lengths(dry)
    prefix_longest = np.maximum.accumulate(run, axis=-1)
    lead = np.where(dry.all(axis=-1), R, np.argmax(~dry, axis=-1))
    first_unknown = np.where(unknown.any(axis=-1), np.argmax(unknown, axis=-1), R)
    # each case (t, r) against every past year at once: the history's arrays broadcast onto the
    # cases' dims (those of t, r and the points), the longest run read at each case's own r
    t_b, r_b, order = xr.broadcast(t, r, template)
    t_b, r_b = t_b.transpose(*order.dims), r_b.transpose(*order.dims)
    cases = t_b.dims
    shape = t_b.shape

    def on_cases(values: np.ndarray, extra: tuple[str, ...] = ()) -> np.ndarray:
        da = xr.DataArray(values, dims=("year", *other, *extra))
        return np.broadcast_to(da.transpose("year", *[d for d in cases if d in other], *extra)
                               .expand_dims({d: 1 for d in cases if d not in other})
                               .transpose("year", *cases, *extra).values, (len(years), *shape, *[R] * len(extra)))

    tv, rv = t_b.values, r_b.values
    at = np.clip(rv - 1, 0, R - 1)[None, ..., None]
    longest = np.take_along_axis(on_cases(prefix_longest, ("day",)), np.broadcast_to(at, (len(years), *shape, 1)),
                                 axis=-1)[..., 0]
    valid = on_cases(first_unknown) >= rv
    event = ((tv + np.minimum(on_cases(lead), rv) > limit) | (longest > limit)) & valid
    n_valid = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(n_valid >= MIN_HISTORY_YEARS, event.sum(axis=0) / n_valid, np.nan)
    p = t_b.copy(data=np.where(rv > 0, frac, 0.0)).astype(np.float64)
    if bool(p.isnull().any()):
        attrs["reason"] = (f"fewer than {MIN_HISTORY_YEARS} past years with complete data in the same calendar "
                           "days at some points")
    p.attrs = attrs
    p.name = "remaining_dry_spell_probability"
    return p


# ---------------------------------------------------------------------------- the outlook

_SEASON_FIELDS = ("onset", "onset_status", "censored_date", "days_unchecked", "trailing_dry_days",
                  "false_start", "false_start_date")


def _season_of(ds: xr.Dataset, year: int, like: xr.DataArray) -> xr.Dataset:
    """One season year of an analysis; a year the series never reaches is ``not_yet``."""
    if year in ds["year"].values:
        return ds[list(_SEASON_FIELDS)].sel(year=year, drop=True)
    nat = xr.full_like(like, np.datetime64("NaT", "ns"), dtype="datetime64[ns]")
    zero = xr.zeros_like(like, dtype=np.int32)
    return xr.Dataset({"onset": nat, "onset_status": xr.full_like(like, NOT_YET, dtype=np.int8),
                       "censored_date": nat, "days_unchecked": zero, "trailing_dry_days": zero,
                       "false_start": xr.zeros_like(like, dtype=bool), "false_start_date": nat})


def _shifted_rules(rules: SeasonRules, first: pd.Timestamp) -> SeasonRules | None:
    """Rules whose candidate windows start on or after ``first`` (None: no candidate left)."""
    o = rules.onset
    if (first.month, first.day) == (2, 29):
        first += DAY
    earliest = pd.Timestamp(f"{first.year}-{o.earliest}")
    latest = pd.Timestamp(f"{first.year}-{o.latest}")
    if first <= earliest:
        return rules
    if first >= latest or first > latest - (o.accumulation_days - 1) * DAY:
        return None
    over = {"onset.earliest": f"{first:%m-%d}"}
    if rules.cessation.earliest <= over["onset.earliest"]:
        over["cessation.earliest"] = "12-31"
    return load_rules(rules, over)


def _fraction(mask: xr.DataArray, valid: xr.DataArray, n_valid: xr.DataArray) -> xr.DataArray:
    return ((mask & valid).sum("member") / n_valid.where(n_valid > 0)).astype(np.float32)


def _post_onset_dry_spell(series: xr.DataArray, onset: xr.DataArray, rules: SeasonRules):
    """(seen, possible): a dry spell longer than ``dry_spell_risk.days`` in the look-ahead after
    each member's onset is seen in the known days / could exist were the unknown days dry."""
    D, L = rules.dry_spell_risk.days, rules.dry_spell_risk.lookahead_days
    other = list(onset.dims)
    x = series.transpose(*other, "time")
    flat = x.values.reshape(-1, x.sizes["time"]).astype(np.float64)
    flat = np.concatenate([flat, np.full((flat.shape[0], L + 1), np.nan)], axis=1)
    t0 = np.datetime64(pd.Timestamp(series["time"].values[0]), "D")
    on = onset.transpose(*other).values.reshape(-1)
    has = ~np.isnat(on)
    idx = np.where(has, (on.astype("datetime64[D]") - t0).astype(np.int64), 0)
    wet, dry, _ = wet_dry_unknown(flat, rules.dry_day_mm)
    start = np.clip(idx + 1, 0, flat.shape[1])
    seen = longest_dry_spell(dry_run_lengths(dry), start, start + L) > D
    possible = longest_dry_spell(dry_run_lengths(~wet), start, start + L) > D
    shape = onset.shape
    return (xr.DataArray((seen & has).reshape(shape), dims=other, coords=onset.coords),
            xr.DataArray((possible & has).reshape(shape), dims=other, coords=onset.coords))


def planting_outlook(observed_daily: xr.DataArray | xr.Dataset, forecast_daily: xr.DataArray | xr.Dataset,
                     issue_date, rules: SeasonRules | str | os.PathLike,
                     history: xr.DataArray | xr.Dataset | None = None, weeks: int = 6,
                     thresholds: PlantingThresholds | Mapping | None = None,
                     calibration: xr.Dataset | None = None,
                     past_onset_shift: xr.DataArray | None = None) -> xr.Dataset:
    """The planting outlook per point (``location``, ``station`` or ``lat``/``lon``): module doc.

    ``observed_daily`` ``(time, ...)`` and ``forecast_daily`` ``(member, time, ...)``: daily
    rain (mm) on the same points; ``history``: past years of observed rain on those points
    (may include the current year, which is left out), for the expected onset probability.

    **Planting window**: the earliest week k in 1..weeks with ``onset_by_week_expected >=
    onset_probability``, provided ``false_start_risk < false_start_max``; the window is that
    week, ``issue + 7(k-1) + 1`` to ``issue + 7k`` (both included); NaT when there is none.

    **Advice** (first rule that applies; p = ``advice_probability``, w = ``advice_week``):

    1. ``no_data``: no member can be analysed (all ``missing``); p NaN, w 0.
    2. onset confirmed in the observations: ``season_started_dry_spell_risk`` if
       ``dry_spell_risk >= dry_spell_max`` (p = dry_spell_risk), else ``plant_now`` (p = 1);
       w 0.
    3. some week k reaches ``onset_probability`` (first such k): ``wait_false_start_risk`` if
       ``false_start_risk >= false_start_max`` (p = that risk, w = weeks); else for k = 1
       ``wait_dry_spell_risk`` if ``dry_spell_risk >= dry_spell_max`` (p = that risk), else
       ``plant_now`` (p = E_1); for 2 <= k <= ``buy_seed_weeks`` ``buy_seed_now`` (p = E_k);
       later ``wait`` (p = E_k); w = k.
    4. ``no_onset_expected`` if confirmed + censored by the last week < ``no_onset_max``;
       p = 1 - that, w = weeks.
    5. ``wait``: p = E_weeks, w = weeks.

    **Calibration** (``calibration``: the onset part of ``calibration.nc``, and ``history``):
    ``E_k`` becomes ``w_k E_k + (1 - w_k) C_k`` (:mod:`sowcast.calibrate.onset_blend`), C_k the
    climatological chance of onset by week k given none by the issue date
    (:mod:`sowcast.products.onset_climatology`), kept non-decreasing and within
    ``[floor, 1 - floor]`` unless the observations confirm the onset; the raw ``E_k`` stays as
    ``onset_by_week_expected_raw``. "No onset expected" then rests on ``1 - E_weeks``.
    ``past_onset_shift`` (days, on ``year``): each past year's onset moved to this year's ocean
    before ``C_k`` is made (:mod:`sowcast.calibrate.onset_ocean`; a year where it is NaN is
    left out); its mean is the attribute ``onset_ocean_shift_days`` (and its ``box`` attribute,
    where the index was read, ``onset_ocean_box``).
    The false-start and dry-spell risks are kept within ``[floor, 1 - floor]`` (raw values
    beside them); they are bounded, not yet recalibrated against their climatology.
    ``onset_skillful(week)`` is 1 where the blend beat climatology on left-out hindcast years.
    """
    th = thresholds if isinstance(thresholds, PlantingThresholds) else PlantingThresholds.from_mapping(thresholds)
    rules = rules if isinstance(rules, SeasonRules) else load_rules(rules)
    _check_weeks(weeks)
    issue = _day(issue_date)
    obs = _season_so_far(observed_daily, issue)
    seasons = _member_seasons(obs, forecast_daily, issue, weeks, rules)
    onset = _onset_by_week(seasons, obs, history, rules, weeks)
    expected, upper, extra = onset.expected, onset.confirmed + onset.censored, {}
    if calibration is not None and "onset_blend_weight" in calibration and history is not None:
        expected, extra = _calibrated_onset(expected, seasons.started, history, rules, issue, weeks, calibration,
                                            past_onset_shift)
        upper = expected
    onset_any = _onset_or_candidate(seasons.full)
    fs_risk = _false_start_risk(seasons, onset_any, rules)
    ds_risk, ds_undetermined = _post_onset_dry_spell_risks(seasons, onset_any, rules)
    if extra:
        fs_risk, ds_risk, raw = _bounded_risks(fs_risk, ds_risk, seasons.started,
                                               np.float32(calibration.attrs.get("probability_floor", 0.02)))
        extra.update(raw)
    out = xr.Dataset({
        **_onset_variables(onset, expected, seasons, weeks),
        **_risk_variables(fs_risk, ds_risk, ds_undetermined, rules),
        **_window_and_advice_variables(seasons, expected, upper, fs_risk, ds_risk, weeks, th),
        "n_members_valid": described(seasons.n_valid.astype(np.int16), long_name="members analysed (not missing)"),
    }, coords={"week": np.arange(1, weeks + 1)})
    if extra:
        out["onset_by_week_expected_raw"] = _per_week(onset.expected, onset.week_end,
                                                      "raw estimated probability of an onset by the end of "
                                                      "the week (before calibration)")
        for key, da in extra.items():
            out[key] = da
    out = out.drop_vars([c for c in out.coords if c in ("member", "year")], errors="ignore")
    out.attrs = _outlook_attrs(seasons, rules, weeks, th, onset.q_reason, calibrated=bool(extra))
    if extra and past_onset_shift is not None:
        out.attrs["onset_ocean_shift_days"] = round(float(past_onset_shift.mean()), 2)
        if "box" in past_onset_shift.attrs:   # [lat_min, lat_max, lon_min, lon_max] of the ocean index
            out.attrs["onset_ocean_box"] = " ".join(f"{float(v):g}" for v in past_onset_shift.attrs["box"])
    return out


def expected_onset_by_week(observed_daily: xr.DataArray | xr.Dataset, forecast_daily: xr.DataArray | xr.Dataset,
                           issue_date, rules: SeasonRules | str | os.PathLike,
                           history: xr.DataArray | xr.Dataset | None = None, weeks: int = 6) -> xr.DataArray:
    """The outlook's raw ``onset_by_week_expected`` (weeks 1..``weeks``): confirmed + censored
    x (1 - q) over the members (module doc), before any calibration. Verification and the onset
    calibration score this, so that they judge the probability :func:`planting_outlook` issues."""
    rules = rules if isinstance(rules, SeasonRules) else load_rules(rules)
    _check_weeks(weeks)
    issue = _day(issue_date)
    obs = _season_so_far(observed_daily, issue)
    onset = _onset_by_week(_member_seasons(obs, forecast_daily, issue, weeks, rules), obs, history, rules, weeks)
    return _per_week(onset.expected, onset.week_end, "estimated probability of an onset by the end of the week "
                                                     "(raw: confirmed + censored x (1 - remaining dry-spell probability))")


def _check_weeks(weeks) -> None:
    if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or weeks < 1:
        raise SowcastError(f"weeks must be a whole number >= 1, not {weeks!r}")


def _season_so_far(observed_daily: xr.DataArray | xr.Dataset, issue: pd.Timestamp) -> xr.DataArray:
    """Observed rain of the issue year (from 1 January): the season the members continue."""
    obs = _rain(observed_daily, "observed rain")
    return obs.sel(time=slice(pd.Timestamp(year=issue.year, month=1, day=1), None))


def _outlook_attrs(s: _MemberSeasons, rules: SeasonRules, weeks: int, th: PlantingThresholds,
                   q_reason: str, calibrated: bool) -> dict:
    """The outlook's global attributes: the rules, dates, sizes and thresholds it rests on."""
    return {
        "title": "planting outlook",
        "season_rules": rules.name,
        "season_rules_citation": rules.label,
        "season_rules_source": rules.source,
        "issue_date": f"{s.issue:%Y-%m-%d}",
        "forecast_end": f"{s.end:%Y-%m-%d}",
        "n_members": int(s.series.sizes["member"]),
        "weeks": int(weeks),
        "dry_spell_days": int(rules.dry_spell_risk.days),
        "dry_spell_lookahead_days": int(rules.dry_spell_risk.lookahead_days),
        "remaining_dry_spell_probability": q_reason or "from history",
        "onset_calibrated": int(calibrated),
        **th.as_attrs(),
    }


@dataclass(frozen=True)
class _MemberSeasons:
    """Each member's season in the issue year (observed then forecast rain) and the observations' own."""

    issue: pd.Timestamp
    end: pd.Timestamp           # the last forecast day
    series: xr.DataArray        # joined daily rain (member, time, ...)
    like: xr.DataArray          # a (member, ...) template of the points
    full: xr.Dataset            # season analysis of each member's joined series (_SEASON_FIELDS)
    seen: xr.Dataset            # season analysis of the observations alone
    valid: xr.DataArray         # (member, ...): the member's analysis is not ``missing``
    n_valid: xr.DataArray       # members analysed
    started: xr.DataArray       # onset confirmed in the observations alone


def _member_seasons(obs: xr.DataArray, forecast_daily, issue: pd.Timestamp, weeks: int,
                    rules: SeasonRules) -> _MemberSeasons:
    """Join observations and forecast (which must cover ``weeks`` weeks) and analyse the seasons."""
    joined = join_observed_forecast(obs, forecast_daily, issue)
    end = pd.Timestamp(joined["time"].values[-1])
    if (end - issue).days < 7 * weeks:
        raise SowcastError(f"the forecast covers {(end - issue).days} days after the issue date; "
                           f"{weeks} weeks need {7 * weeks}")
    obs_now = joined.isel(member=0, drop=True).sel(time=slice(None, issue)).drop_vars("observed")
    like = joined.isel(time=0, drop=True).drop_vars("observed", errors="ignore")
    series = joined.drop_vars("observed")
    full = _season_of(analyse_seasons(series, rules), issue.year, like)
    seen = _season_of(analyse_seasons(obs_now, rules), issue.year, like.isel(member=0, drop=True))
    valid = full["onset_status"] != MISSING
    return _MemberSeasons(issue=issue, end=end, series=series, like=like, full=full, seen=seen, valid=valid,
                          n_valid=valid.sum("member"), started=seen["onset_status"] == ONSET)


@dataclass(frozen=True)
class _OnsetByWeek:
    """P(onset by the end of week k), k = 0..weeks, over the valid members (module doc)."""

    week_end: xr.DataArray      # (week): issue + 7k
    confirmed: xr.DataArray
    censored: xr.DataArray
    expected: xr.DataArray      # confirmed + censored x (1 - q)
    q_reason: str               # why q is unknown somewhere ('' where it is known everywhere)


def _onset_by_week(s: _MemberSeasons, obs: xr.DataArray, history, rules: SeasonRules,
                   weeks: int) -> _OnsetByWeek:
    """Confirmed, censored and expected onset-by-week probabilities; all 1, 0, 1 where the
    observations confirm the onset."""
    status, full = s.full["onset_status"], s.full
    week = np.arange(0, weeks + 1)
    week_end = xr.DataArray(np.array([s.issue + 7 * k * DAY for k in week], dtype="datetime64[ns]"),
                            dims="week", coords={"week": week})
    confirmed = (status == ONSET) & (full["onset"] <= week_end)
    censored = (status == CENSORED) & (full["censored_date"] <= week_end)
    if history is not None:
        _check_same_points(_rain(history, "history"), obs, "history", "observed rain")
        q = remaining_dry_spell_probability(
            history, rules, s.end + DAY, full["trailing_dry_days"].where(status == CENSORED, 0),
            full["days_unchecked"].where(status == CENSORED, 0))
        q_reason = q.attrs.get("reason", "")
    else:
        q = xr.full_like(full["days_unchecked"], np.nan, dtype=np.float64)
        q_reason = "no history given"
    expected_m = confirmed.astype(np.float64) + censored * (1.0 - q).fillna(0.0)
    conf_p = _fraction(confirmed, s.valid, s.n_valid)
    cens_p = _fraction(censored, s.valid, s.n_valid)
    exp_p = (expected_m.where(s.valid).sum("member") / s.n_valid.where(s.n_valid > 0)).astype(np.float32)
    return _OnsetByWeek(week_end=week_end,
                        confirmed=xr.where(s.started, np.float32(1), conf_p),
                        censored=xr.where(s.started, np.float32(0), cens_p),
                        expected=xr.where(s.started, np.float32(1), exp_p), q_reason=q_reason)


def _onset_or_candidate(full: xr.Dataset) -> xr.DataArray:
    """Each member's confirmed onset date, else its censored candidate's date, else NaT."""
    status = full["onset_status"]
    return xr.where(status == ONSET, full["onset"], xr.where(status == CENSORED, full["censored_date"],
                                                             np.datetime64("NaT", "ns")))


def _false_start_risk(s: _MemberSeasons, onset_any: xr.DataArray, rules: SeasonRules) -> xr.DataArray:
    """Fraction of members with a false start in the forecast: a candidate starting after the
    issue date fails before the member's onset, or the candidate the observations were checking fails."""
    status = s.full["onset_status"]
    shifted = _shifted_rules(rules, s.issue + DAY)
    if shifted is None:
        fs_new = xr.zeros_like(status, dtype=bool)
    else:
        after = _season_of(analyse_seasons(s.series, shifted), s.issue.year, s.like)
        fs_new = after["false_start"] & (onset_any.isnull() | (after["false_start_date"] < onset_any))
    fails_checked = (s.seen["onset_status"] == CENSORED) & (onset_any != s.seen["censored_date"])
    false_start = (fs_new | fails_checked) & s.valid
    return _fraction(false_start, s.valid, s.n_valid)


def _post_onset_dry_spell_risks(s: _MemberSeasons, onset_any: xr.DataArray,
                                rules: SeasonRules) -> tuple[xr.DataArray, xr.DataArray]:
    """(``dry_spell_risk``, ``dry_spell_risk_undetermined``) among members with an onset
    (confirmed or censored): module doc."""
    status = s.full["onset_status"]
    spell_seen, spell_possible = _post_onset_dry_spell(s.series, onset_any, rules)
    has_onset = ((status == ONSET) | (status == CENSORED)) & s.valid
    n_onset = has_onset.sum("member")
    return (_fraction(spell_seen, has_onset, n_onset),
            _fraction(spell_possible & ~spell_seen, has_onset, n_onset))


def _bounded_risks(fs_risk: xr.DataArray, ds_risk: xr.DataArray, started: xr.DataArray,
                   floor: np.float32) -> tuple[xr.DataArray, xr.DataArray, dict[str, xr.DataArray]]:
    """The risks kept within ``[floor, 1 - floor]`` (the false-start risk not where the season
    has started), and the raw ones as variables: bounded, not yet recalibrated, since a handful
    of members cannot make them certain."""
    raw = {"false_start_risk_raw": described(fs_risk, long_name="raw fraction of members with a false start",
                                             units="1"),
           "dry_spell_risk_raw": described(ds_risk, long_name="raw dry-spell risk", units="1")}
    fs_risk = xr.where(started, fs_risk, fs_risk.clip(floor, 1 - floor)).astype(np.float32)
    return fs_risk, ds_risk.clip(floor, 1 - floor).astype(np.float32), raw


def _per_week(da: xr.DataArray, week_end: xr.DataArray, long_name: str) -> xr.DataArray:
    """Weeks 1.. of a week 0.. probability, with their ``week_end`` coordinate."""
    week_end_1 = week_end.sel(week=slice(1, None))
    return described(da.sel(week=slice(1, None)).assign_coords(week_end=week_end_1).transpose("week", ...),
                     long_name=long_name, units="1")


def _most_likely_onset_week(expected: xr.DataArray, n_valid: xr.DataArray,
                            weeks: int) -> tuple[xr.DataArray, xr.DataArray]:
    """The week of the largest expected mass ``E_0, E_k - E_{k-1}, 1 - E_weeks`` (ties: the
    earliest; -1 where no member is valid) and that mass."""
    masses = xr.concat([expected.isel(week=0), expected.diff("week"), 1 - expected.isel(week=-1)], dim="week")
    masses = masses.assign_coords(week=np.arange(weeks + 2))
    most_likely = masses.fillna(-1).argmax("week").where(n_valid > 0, -1).astype(np.int8)
    return most_likely, masses.max("week", skipna=False).astype(np.float32)


def _onset_variables(onset: _OnsetByWeek, expected: xr.DataArray, s: _MemberSeasons,
                     weeks: int) -> dict[str, xr.DataArray]:
    """The onset-by-week probabilities, the observed status and the most likely onset week."""
    most_likely, most_likely_p = _most_likely_onset_week(expected, s.n_valid, weeks)
    return {
        "onset_by_week": _per_week(onset.confirmed, onset.week_end,
                                   "probability of a confirmed onset on or before the end of the week"),
        "onset_by_week_censored": _per_week(onset.censored, onset.week_end,
                                            "probability that the rain condition is met by the end of "
                                            "the week with the dry-spell check incomplete"),
        "onset_by_week_expected": _per_week(expected, onset.week_end,
                                            "estimated probability of an onset by the end of the week: "
                                            "confirmed + censored x (1 - remaining dry-spell probability)"),
        "onset_status_observed": described(s.seen["onset_status"].astype(np.int8),
            long_name="onset status in the observations alone", flag_values=np.arange(5, dtype=np.int8),
            flag_meanings="started rain_condition_met_check_running no_onset_window_over not_yet missing"),
        "most_likely_onset_week": described(most_likely,
            long_name=f"most likely onset week (0 = already started, {weeks + 1} = after week {weeks}, "
                      "-1 = no data)"),
        "most_likely_onset_week_probability": described(most_likely_p, long_name="its probability",
                                                        **PROBABILITY),
    }


def _risk_variables(fs_risk: xr.DataArray, ds_risk: xr.DataArray, ds_undetermined: xr.DataArray,
                    rules: SeasonRules) -> dict[str, xr.DataArray]:
    """The false-start and post-onset dry-spell risks, described."""
    return {
        "false_start_risk": described(fs_risk, long_name="fraction of members with a false start in the "
                                                        "forecast", **PROBABILITY),
        "dry_spell_risk": described(ds_risk,
            long_name=f"among members with an onset, fraction with a dry spell longer than "
                      f"{rules.dry_spell_risk.days} days within {rules.dry_spell_risk.lookahead_days} days of it",
            **PROBABILITY),
        "dry_spell_risk_undetermined": described(ds_undetermined,
            long_name="among members with an onset, fraction for which the post-onset dry spell is not yet "
                      "determined (the series ends first)", **PROBABILITY),
    }


def _first_case(template: xr.DataArray, default: tuple, cases: list[tuple]):
    """(code, probability, week) of the first case ``(condition, code, probability, week)``
    that holds at each point, ``default`` ``(code, probability, week)`` where none does."""
    code = xr.full_like(template, default[0], dtype=np.int8)
    prob, wk = default[1].copy(), xr.full_like(template, default[2])
    for cond, c, p, w in reversed(cases):  # first case wins
        code = xr.where(cond, np.int8(c), code)
        prob = xr.where(cond, p, prob)
        wk = xr.where(cond, w, wk)
    return code.astype(np.int8), prob.astype(np.float32), wk.astype(np.int8)


def _window_and_advice_variables(s: _MemberSeasons, expected: xr.DataArray, upper: xr.DataArray,
                                 fs_risk: xr.DataArray, ds_risk: xr.DataArray, weeks: int,
                                 th: PlantingThresholds) -> dict[str, xr.DataArray]:
    """The planting window and the advice: the rules of :func:`planting_outlook`."""
    reaches = expected.sel(week=slice(1, None)) >= th.onset_probability
    any_week = reaches.any("week")
    first_week = xr.where(any_week, reaches.argmax("week") + 1, 0)
    window_ok = any_week & (fs_risk < th.false_start_max)
    nat = np.datetime64("NaT", "ns")
    issue64 = np.datetime64(s.issue, "ns")
    win_start = xr.where(window_ok, issue64 + ((first_week - 1) * 7 + 1).astype("timedelta64[D]"), nat)
    win_end = xr.where(window_ok, issue64 + (first_week * 7).astype("timedelta64[D]"), nat)
    e_first = expected.sel(week=first_week.clip(1, weeks)).drop_vars("week")
    e_last = expected.sel(week=weeks, drop=True)
    dry_risky = ds_risk >= th.dry_spell_max
    fs_risky = fs_risk >= th.false_start_max
    no_onset = upper.sel(week=weeks, drop=True) < th.no_onset_max
    started, n_valid = s.started, s.n_valid
    advice, advice_p, advice_w = _first_case(n_valid, (WAIT, e_last, weeks), [
        (n_valid == 0, NO_DATA, np.float32(np.nan), 0),
        (started & dry_risky, STARTED_DRY_SPELL, ds_risk, 0),
        (started, PLANT_NOW, np.float32(1), 0),
        (any_week & fs_risky, WAIT_FALSE_START, fs_risk, weeks),
        (any_week & (first_week == 1) & dry_risky, WAIT_DRY_SPELL, ds_risk, 1),
        (any_week & (first_week == 1), PLANT_NOW, e_first, 1),
        (any_week & (first_week <= th.buy_seed_weeks), BUY_SEED_NOW, e_first, first_week),
        (any_week, WAIT, e_first, first_week),
        (no_onset, NO_ONSET, 1 - upper.sel(week=weeks, drop=True), weeks),
    ])
    return {
        "planting_window_start": described(win_start, long_name="first day of the recommended planting week"),
        "planting_window_end": described(win_end, long_name="last day of the recommended planting week"),
        "advice": described(advice, long_name="planting advice", flag_values=np.arange(len(ADVICE_CODES),
                            dtype=np.int8), flag_meanings=" ".join(ADVICE_CODES)),
        "advice_probability": described(advice_p, long_name="probability the advice rests on", **PROBABILITY),
        "advice_week": described(advice_w, long_name="weeks the advice refers to (0: now)"),
    }


def _calibrated_onset(exp_p: xr.DataArray, started: xr.DataArray, history, rules: SeasonRules,
                      issue: pd.Timestamp, weeks: int, calibration: xr.Dataset,
                      past_onset_shift: xr.DataArray | None = None) -> tuple[xr.DataArray, dict]:
    """The blended, bounded onset-by-week probability (``planting_outlook`` doc) and the
    variables that say how it was made."""
    from sowcast.calibrate.onset_blend import blend_weights, calibrated_onset_probability
    from sowcast.products.onset_climatology import onset_by_week_climatology, past_onset_doy

    week = np.arange(1, weeks + 1)
    weight = blend_weights(calibration, week)
    cv_bss = calibration["onset_cv_bss"].reindex(week=week)
    doy = past_onset_doy(_rain(history, "history"), rules, before_year=issue.year)
    if past_onset_shift is not None:
        doy = doy + past_onset_shift.reindex(year=doy["year"].values)
    clim = onset_by_week_climatology(doy, issue, weeks, MIN_HISTORY_YEARS)
    mixed = calibrated_onset_probability(exp_p.sel(week=slice(1, None)), clim, calibration)
    calibrated = xr.concat([exp_p.sel(week=[0]), mixed.transpose(*exp_p.dims)], dim="week")
    calibrated = xr.where(started, np.float32(1), calibrated).astype(np.float32).transpose(*exp_p.dims)
    skillful = ((weight > 0) & (cv_bss > 0)).astype(np.int8)
    extra = {
        "onset_by_week_climatology": clim.transpose("week", ...).assign_attrs(units="1"),
        "onset_skillful": described(skillful,
            long_name="1 where the onset-by-week forecast beat climatology on left-out hindcast years "
                      "(0: the probability is the climatological one)", flag_values=np.array([0, 1], np.int8),
            flag_meanings="no_skill_climatology skillful"),
        "onset_blend_weight": described(weight, long_name="weight of the ensemble against climatology", units="1"),
    }
    return calibrated, extra


# ---------------------------------------------------------------------------- text

def advice_text(outlook: xr.Dataset, location=None, lang: str = "en") -> str:
    """The advice at one point as a sentence from :data:`ADVICE_TEMPLATES`.

    ``location``: a name on the ``location`` (or ``station``) dim, a mapping of indexers
    (``{"lat": 9.4, "lon": -0.85}``, nearest point), or None for an outlook of one point.
    """
    if lang not in ADVICE_TEMPLATES:
        raise SowcastError(f"no advice texts in language {lang!r} (have: {', '.join(ADVICE_TEMPLATES)})")
    point = outlook
    if isinstance(location, Mapping):
        point = outlook.sel(dict(location), method="nearest")
    elif location is not None:
        dim = next((d for d in ("location", "station") if d in outlook.dims), None)
        if dim is None:
            raise SowcastError(f"the outlook has no location dimension (dims {tuple(outlook.dims)}); "
                               "give lat/lon indexers")
        names = [str(n) for n in outlook[dim].values]
        match = [i for i, n in enumerate(names) if n.casefold() == str(location).casefold()]
        if not match:
            raise SowcastError(f"no location {location!r} in the outlook (have: {', '.join(names)})")
        point = outlook.isel({dim: match[0]})
    code = point["advice"]
    if code.ndim:
        raise SowcastError(f"advice_text needs one point; the outlook still has dims {code.dims}")
    name = ADVICE_CODES[int(code)]
    skillful = None
    if "onset_skillful" in point and int(point["advice_week"]) >= 1:
        week = min(int(point["advice_week"]), int(point["onset_skillful"]["week"].max()))
        skillful = int(point["onset_skillful"].sel(week=week))
    return advice_sentence(name, float(point["advice_probability"]), int(point["advice_week"]),
                           outlook.attrs.get("dry_spell_days", "?"), outlook.attrs.get("dry_spell_lookahead_days", "?"),
                           skillful, message=ADVICE_TEMPLATES[lang].__getitem__,
                           ocean_shift_days=outlook.attrs.get("onset_ocean_shift_days"))
