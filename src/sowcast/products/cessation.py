"""Cessation of the rains by a soil water balance (the AGRHYMET "bucket").

A bucket of capacity C (``cessation.capacity_mm``) fills with rain P_t and loses a fixed
evaporation E (``cessation.evaporation_mm``) a day:

    W_t = min(C, max(0, W_{t-1} + P_t - E))

It starts empty on the day before the onset's accumulation window, so it holds the onset
rain (with ``window_end`` dating the onset date may be a dry day after that rain).
**Cessation** is the first day on or after ``cessation.earliest`` of the season year, and
after the onset's accumulation window, on which W_t = 0. The search stops on the day before
the next season's ``onset.earliest``.

AGRHYMET practice (CILSS regional centre, Niamey) with C = 70 mm and E = 5 mm/day from
1 September; the PICSA tools (R-Instat / rpicsa ``end_season``) use the same balance with
C = 60 mm. See also Traore et al. (2011), Atmos. Sci. Lett. 12, 89-95.

Missing days: the bucket is run twice, a missing day counting once as no rain (W_low) and
once as filling the bucket (W_high). Cessation is the day both reach 0 (``ended``); if W_low
empties first the date depends on the missing rain (``missing``). ``censored``: the series'
known days end before the bucket empties. ``none``: the bucket never empties before the
next season. ``no_onset``: the year has no confirmed onset.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sowcast.products.season_rules import SeasonRules

CESSATION_STATUS = ("ended", "censored", "no_onset", "missing", "none")  # flag values 0..4
ENDED, CENSORED, NO_ONSET, MISSING, NONE = range(5)


def water_balance(rain: np.ndarray, capacity: float, evaporation: float, start: np.ndarray | int = 0,
                  missing_as: str = "dry") -> np.ndarray:
    """The bucket W [N, T] of ``rain`` [N, T], empty before day index ``start`` (per row).

    ``missing_as``: a missing day adds no rain (``"dry"``) or fills the bucket (``"full"``).
    """
    rain = np.atleast_2d(np.asarray(rain, dtype=np.float64))
    before = np.arange(rain.shape[1]) < np.reshape(start, (-1, 1))
    gain = np.where(before, 0.0, np.nan_to_num(rain) - evaporation)
    full = ~before & np.isnan(rain) if missing_as == "full" else np.zeros(rain.shape, bool)
    w = np.zeros(rain.shape)
    level = np.zeros(rain.shape[0])
    for t in range(rain.shape[1]):
        level = np.minimum(np.maximum(level + gain[:, t], 0.0), capacity)
        level[full[:, t]] = capacity
        w[:, t] = level
    return w


def detect_cessation(rain: np.ndarray, dates: pd.DatetimeIndex, onsets: dict[str, np.ndarray],
                     rules: SeasonRules, block: int = 4_000_000) -> dict[str, np.ndarray]:
    """Cessation per series and season year from :func:`~.onset.detect_onsets` output.

    Returns ``cessation`` (day index from ``dates[0]``, -1 if none) and ``status`` [N, Y]. All
    (series, year) pairs with an onset run together, ``block`` bucket-days at a time.
    """
    c = rules.cessation
    rain = np.asarray(rain, dtype=np.float64)
    T = rain.shape[1]
    out = {"cessation": np.full(onsets["window_start"].shape, -1, np.int64),
           "status": np.full(onsets["window_start"].shape, NO_ONSET, np.int8)}
    series, year = np.nonzero(onsets["window_start"] >= 0)
    if series.size == 0:
        return out
    day0 = {k: np.array([(pd.Timestamp(f"{y + dy}-{md}") - dates[0]).days for y in onsets["years"]])
            for k, dy, md in (("cess", 0, c.earliest), ("next", 1, rules.onset.earliest))}
    start = onsets["window_start"][series, year]
    first = np.maximum(onsets["window_end"][series, year] + 1, day0["cess"][year])
    season_end = day0["next"][year] - 1
    last = np.minimum(onsets["last_valid"][series], season_end)  # last day searched per pair
    span = int((np.minimum(season_end, T - 1) - start).max()) + 1
    step = max(1, block // span)
    for b in range(0, series.size, step):
        sl = slice(b, b + step)
        days = start[sl, None] + np.arange(span)
        slab = np.where(days < T, rain[series[sl, None], np.minimum(days, T - 1)], np.nan)
        search = (days >= first[sl, None]) & (days <= last[sl, None])
        ends = []
        for missing_as in ("dry", "full"):
            hit = search & (water_balance(slab, c.capacity_mm, c.evaporation_mm, 0, missing_as) <= 0)
            ends.append(np.where(hit.any(axis=1), days[np.arange(len(days)), np.argmax(hit, axis=1)], -1))
        end_low, end_high = ends
        ended = (end_low >= 0) & (end_low == end_high)
        out["status"][series[sl], year[sl]] = np.where(
            end_low >= 0, np.where(ended, ENDED, MISSING), np.where(last[sl] < season_end[sl], CENSORED, NONE))
        out["cessation"][series[sl], year[sl]] = np.where(ended, end_low, -1)
    return out
