"""Onset of the rains, false starts and censoring, per series and season year (numpy core).

Works on ``rain`` [N, T] (mm/day, NaN = missing) over consecutive ``dates``; rules from
:class:`~sowcast.products.season_rules.SeasonRules` (``o = rules.onset``, A =
``accumulation_days``, M = ``max_dry_spell_days``, L = ``lookahead_days``).

* **Season year** y: the calendar year of ``o.earliest``. Candidates are the windows of A days
  ending on ``d``, from ``earliest + A - 1`` to ``latest`` of year y: the whole window lies
  on or after ``earliest``, and it ends by ``latest``. Every year whose search window
  [earliest, latest] the time axis touches is analysed.
* **Rain condition** at d: no missing day in the window, total >= ``accumulation_mm``,
  >= ``min_wet_days`` wet days (wet = rain >= ``dry_day_mm``), and, if ``first_day_wet``, a
  wet first day. (Sivakumar 1988: 20 mm in 3 days.)
* **Date** of the window ending on d: D = d (``window_end``) or its first wet day
  (``first_wet_day``, its first day when none is wet).
* **Dry-spell check** of d: no dry spell longer than M in the L days after the date,
  ``D+1 .. D+L`` (a run that began earlier counts from ``D+1``), as the published rules say
  ("no dry spell within the next 30 days exceeds 7 days", Sivakumar 1988): with
  ``first_wet_day`` a spell that starts inside the window counts in full. It *fails* if
  known dry days alone make such a spell; it is *incomplete* if a spell would exceed M only
  were the unknown days (missing, or past the series end) dry; else it *passes*. So the end of a series only censors a candidate
  whose unknown days could still complete a long spell.
* **Onset** = the first candidate meeting the rain condition whose check does not fail: if
  its check passes that is the onset (status ``onset``), if incomplete the year is
  ``censored`` ("rain condition met, dry-spell check incomplete") and its date goes to
  ``censored_date``, never to ``onset``. Candidates meeting the rain condition whose check
  failed before that are **false starts**.
* **Dates** (``onset``, ``censored_date``, ``false_start_date``, ``rain_condition_date``)
  are the windows' dates D.
* **Status** when nothing passed: ``not_yet`` if the series' last known day is before
  ``latest`` (more data may bring an onset), else ``none``. ``missing`` overrides all when
  more than ``max_missing_fraction`` of the search window's days between the series' first
  and last known days are missing, or none is known; for an onset (or a censored candidate)
  only the days up to the end of its look-ahead ``D+L`` count, so a gap later in the season
  does not undo an onset already confirmed (Niamey 1975: onset 9 June, August missing).
  Days before the first known day are not missing: a series that starts mid-season (e.g. in
  July) is searched from its start, and its onset is the first passing candidate the data
  show, which may be later than the true one. A ``missing`` year keeps ``rain_condition_date`` and its false starts
  as the data show; its onset, censoring and cessation fields are empty.
* ``longest_dry_spell``: the longest known dry spell in the ``dry_spell_risk.lookahead_days``
  after the onset date (a lower bound if some of those days are unknown);
  ``dry_spell_risk`` = it is longer than ``dry_spell_risk.days``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sowcast.products.dry_spells import (
    TOL_MM,
    dry_run_lengths,
    longest_dry_spell,
    spell_exceeds,
    trailing_dry_run,
    wet_dry_unknown,
)
from sowcast.products.season_rules import OnsetRules, SeasonRules

ONSET_STATUS = ("onset", "censored", "none", "not_yet", "missing")  # flag values 0..4
ONSET, CENSORED, NONE, NOT_YET, MISSING = range(5)
CENSOR_REASONS = ("not_censored", "series_end", "missing_days")  # flag values 0..2


def season_years(dates: pd.DatetimeIndex, onset: OnsetRules) -> np.ndarray:
    """Years whose search window [earliest, latest] overlaps ``dates``."""
    years = np.arange(dates[0].year - 1, dates[-1].year + 1)
    keep = [pd.Timestamp(f"{y}-{onset.latest}") >= dates[0] and pd.Timestamp(f"{y}-{onset.earliest}") <= dates[-1]
            for y in years]
    return years[np.array(keep, dtype=bool)]


def rain_condition(rain: np.ndarray, wet: np.ndarray, unknown: np.ndarray,
                   onset: OnsetRules) -> tuple[np.ndarray, np.ndarray]:
    """(met, first_wet): the rain condition of the window ending at each day, and the offset
    (0 .. A-1) of its first wet day from the window's first day (0 when none is wet).
    Windows reaching before the series' first day are not met."""
    A, T = onset.accumulation_days, rain.shape[-1]
    met = np.zeros(rain.shape, bool)
    first = np.zeros(rain.shape, np.int32)
    if T < A:
        return met, first
    filled = np.where(unknown, 0.0, rain)
    total = np.zeros((rain.shape[0], T - A + 1))
    n_wet = np.zeros(total.shape, np.int32)
    any_unknown = np.zeros(total.shape, bool)
    first_w = np.full(total.shape, A, np.int32)
    for k in range(A):  # day k of the windows ending on days A-1 .. T-1
        sl = slice(k, T - A + 1 + k)
        total += filled[:, sl]
        n_wet += wet[:, sl]
        any_unknown |= unknown[:, sl]
        first_w[(first_w == A) & wet[:, sl]] = k
    ok = ~any_unknown & (total >= onset.accumulation_mm - TOL_MM) & (n_wet >= onset.min_wet_days)
    if onset.first_day_wet:
        ok &= first_w == 0
    met[:, A - 1:] = ok
    first[:, A - 1:] = np.where(first_w == A, 0, first_w)
    return met, first


def detect_onsets(rain: np.ndarray, dates: pd.DatetimeIndex, rules: SeasonRules) -> dict[str, np.ndarray]:
    """Onset analysis of ``rain`` [N, T] for every season year; arrays [N, Y] of day indices.

    Index arrays count days from ``dates[0]`` (-1 = none): ``onset``, ``censored``,
    ``rain_condition``, ``false_start_date``, ``window_start`` / ``window_end`` (the onset's
    accumulation window). Also ``status``, ``false_start``, ``censor_reason``,
    ``days_unchecked``, ``trailing_dry_days``, ``longest_dry_spell``, ``dry_spell_risk``,
    ``years`` [Y] and ``last_valid`` [N].
    """
    o = rules.onset
    s = _DailyFacts.of(rain, rules)
    years = season_years(dates, o)
    shape = (rain.shape[0], len(years))
    out = {k: np.full(shape, -1, dtype=np.int64) for k in
           ("onset", "censored", "rain_condition", "false_start_date", "window_start", "window_end")}
    out.update(status=np.full(shape, NONE, np.int8), false_start=np.zeros(shape, bool),
               censor_reason=np.zeros(shape, np.int8), days_unchecked=np.zeros(shape, np.int32),
               trailing_dry_days=np.zeros(shape, np.int32), longest_dry_spell=np.full(shape, np.nan),
               dry_spell_risk=np.zeros(shape, bool))
    for j, y in enumerate(years):
        earliest = (pd.Timestamp(f"{y}-{o.earliest}") - dates[0]).days
        latest = (pd.Timestamp(f"{y}-{o.latest}") - dates[0]).days
        for k, v in _season_year(s, rules, earliest, latest).items():
            out[k][:, j] = v
    out["years"], out["last_valid"] = years, s.last_valid
    return out


@dataclass(frozen=True)
class _DailyFacts:
    """What the onset rules read of each day of ``rain`` [N, T], padded with ``pad`` unknown
    days so that every look-ahead fits; day indices count from the series' first day."""

    days: int                   # T
    pad: int
    run_dry: np.ndarray         # [N, T + pad] the run of known dry days ending on each day
    unknown: np.ndarray         # [N, T + pad] missing or past the series end
    fails: np.ndarray           # [N, T] known dry days make a spell longer than M in day+1 .. day+L
    maybe: np.ndarray           # [N, T] such a spell, were the unknown days dry
    met: np.ndarray             # [N, T] the rain condition of the window ending on each day
    date_of: np.ndarray         # [N, T] the date of the window ending on each day
    n_unknown: np.ndarray       # [N, T + pad + 1] unknown days before each day
    first_valid: np.ndarray     # [N] first known day (T: none)
    last_valid: np.ndarray      # [N] last known day (-1: none)

    @classmethod
    def of(cls, rain: np.ndarray, rules: SeasonRules) -> _DailyFacts:
        o = rules.onset
        A, M, L = o.accumulation_days, o.max_dry_spell_days, o.lookahead_days
        n, T = rain.shape
        pad = max(L, rules.dry_spell_risk.lookahead_days) + 1
        r = np.concatenate([np.asarray(rain, dtype=np.float64), np.full((n, pad), np.nan)], axis=1)
        wet, dry, unknown = wet_dry_unknown(r, rules.dry_day_mm)
        run_dry = dry_run_lengths(dry)
        met, first_wet = rain_condition(r[:, :T], wet[:, :T], unknown[:, :T], o)
        offset = first_wet if o.date_convention == "first_wet_day" else np.full((n, T), A - 1)
        has_data = ~unknown[:, :T].all(axis=1)
        return cls(
            days=T, pad=pad, run_dry=run_dry, unknown=unknown,
            fails=spell_exceeds(run_dry, M, L)[:, :T],
            maybe=spell_exceeds(dry_run_lengths(~wet), M, L)[:, :T],
            met=met, date_of=np.maximum(np.arange(T) - (A - 1) + offset, 0),
            n_unknown=np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(unknown, axis=1, dtype=np.int32)],
                                     axis=1),
            first_valid=np.where(has_data, np.argmax(~unknown[:, :T], axis=1), T),
            last_valid=np.where(has_data, T - 1 - np.argmax(~unknown[:, T - 1::-1], axis=1), -1))

    def unknown_days(self, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Unknown days in ``[start, stop)`` of each row."""
        ix, end = np.arange(self.n_unknown.shape[0]), self.days + self.pad
        return self.n_unknown[ix, np.clip(stop, 0, end)] - self.n_unknown[ix, np.clip(start, 0, end)]


def _season_year(s: _DailyFacts, rules: SeasonRules, e: int, last: int) -> dict[str, np.ndarray]:
    """The onset analysis of one season year (module doc), its search window from day ``e``
    (earliest) to ``last`` (latest): one value per row for each of :func:`detect_onsets`' arrays."""
    o = rules.onset
    A, L, T = o.accumulation_days, o.lookahead_days, s.days
    ix = np.arange(s.met.shape[0])
    cand = np.arange(max(e + A - 1, 0), min(last, T - 1) + 1)  # candidate window ends
    if cand.size == 0:
        cand = np.array([0])  # a window that cannot hold a candidate: nothing is met
        rc = np.zeros((len(ix), 1), bool)
    else:
        rc = s.met[:, cand]
    bad = s.fails[ix[:, None], s.date_of[:, cand]]  # the look-ahead follows each candidate's date
    ok = rc & ~bad
    has_ok = ok.any(axis=1)
    first_ok = np.where(has_ok, np.argmax(ok, axis=1), cand.size)
    fs = rc & bad & (np.arange(cand.size) < first_ok[:, None])
    d = cand[np.minimum(first_ok, cand.size - 1)]
    on_day = s.date_of[ix, d]
    status = np.where(has_ok, np.where(s.maybe[ix, on_day], CENSORED, ONSET),
                      np.where(last > s.last_valid, NOT_YET, NONE))
    a, b = np.maximum(e, s.first_valid), np.minimum(last, s.last_valid)
    b = np.where(has_ok, np.minimum(b, on_day + L), b)  # a candidate is judged by the end of its look-ahead
    covered = b - a + 1
    status = np.where((covered <= 0) | (s.unknown_days(a, b + 1) > rules.max_missing_fraction * covered),
                      MISSING, status)
    is_onset, is_cens = status == ONSET, status == CENSORED

    def date(mask, at):
        return np.where(mask, s.date_of[ix, at], -1)

    onset = date(is_onset, d)
    ahead = (on_day + 1, on_day + L + 1)
    on = np.where(is_onset, onset, 0)
    longest = longest_dry_spell(s.run_dry, on + 1, on + 1 + rules.dry_spell_risk.lookahead_days)
    return {
        "status": status,
        "rain_condition": date(rc.any(axis=1), cand[np.argmax(rc, axis=1)]),
        "false_start": fs.any(axis=1),
        "false_start_date": date(fs.any(axis=1), cand[np.argmax(fs, axis=1)]),
        "onset": onset,
        "censored": date(is_cens, d),
        "window_end": np.where(is_onset, d, -1),
        "window_start": np.where(is_onset, d - A + 1, -1),
        "days_unchecked": np.where(is_cens, s.unknown_days(*ahead), 0),
        "trailing_dry_days": np.where(is_cens, trailing_dry_run(s.run_dry, ~s.unknown, *ahead), 0),
        "censor_reason": np.where(is_cens, np.where(on_day + L > s.last_valid, 1, 2), 0),
        "longest_dry_spell": np.where(is_onset, longest, np.nan),
        "dry_spell_risk": is_onset & (longest > rules.dry_spell_risk.days),
    }
