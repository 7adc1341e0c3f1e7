"""Water-balance cessation and season length on hand-worked buckets (sowcast.products.cessation).

Bucket W_t = min(C, max(0, W_{t-1} + P_t - E)), C = 70 mm, E = 5 mm/day, from the first day of
the onset window; cessation = first day from 1 September (and after the onset window) with
W = 0. Onset rules as in test_onset.py: 20 mm in 3 days, onset dated at the window end.
The season: 10 mm on 10 and 11 June (window 10-12 June: W = 5, 10, 5), then 5 mm every day
to 30 August (W stays 5), then a last rain on 31 August and dry days after.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.products.cessation import water_balance
from sowcast.products.season import analyse_seasons
from sowcast.products.season_rules import load_rules

BASE = {"dry_day_mm": 1.0, "onset.earliest": "05-01", "onset.latest": "09-30", "onset.accumulation_mm": 20,
        "onset.accumulation_days": 3, "onset.first_day_wet": True, "onset.max_dry_spell_days": 7,
        "onset.lookahead_days": 30, "onset.date_convention": "window_end",
        "cessation.earliest": "09-01", "cessation.capacity_mm": 70, "cessation.evaporation_mm": 5}
ENDED, CENSORED, NO_ONSET, MISSING = 0, 1, 2, 3


def rules(**over):
    return load_rules("agrhymet_sahel", {**BASE, **{k.replace("__", "."): v for k, v in over.items()}})


def season(last_rain: float, end: str = "2001-12-31", nan=()) -> xr.DataArray:
    t = pd.date_range("2001-04-01", end)
    v = np.where((t >= "2001-06-13") & (t <= "2001-08-30"), 5.0, 0.0)
    v[t.get_indexer(pd.to_datetime(["2001-06-10", "2001-06-11", "2001-08-31"]))] = [10.0, 10.0, last_rain]
    for d in nan:
        v[t.get_loc(pd.Timestamp(d))] = np.nan
    return xr.DataArray(v, dims="time", coords={"time": t}, attrs={"units": "mm"})


def result(rain, **over) -> dict:
    ds = analyse_seasons(rain, rules(**over)).sel(year=2001)
    return {k: v.values[()] for k, v in ds.data_vars.items()}


def day(text):
    return np.datetime64(pd.Timestamp(text), "ns")


def test_water_balance_by_hand():
    rain = np.array([[10, 0, 80, 0, 0, np.nan, 0, 3]], dtype=float)
    assert water_balance(rain, 70, 5).tolist() == [[5, 0, 70, 65, 60, 55, 50, 48]]
    assert water_balance(rain, 70, 5, missing_as="full").tolist() == [[5, 0, 70, 65, 60, 70, 65, 63]]
    assert water_balance(rain, 70, 5, start=2).tolist() == [[0, 0, 70, 65, 60, 55, 50, 48]]
    assert water_balance(rain, 100, 5).tolist()[0][2] == 75


def test_cessation_and_season_length():
    out = result(season(30.0))  # W(31 Aug) = 5 + 30 - 5 = 30, then 25, 20, 15, 10, 5, 0 on 6 Sep
    assert out["onset"] == day("2001-06-12")
    assert out["cessation"] == day("2001-09-06") and out["cessation_status"] == ENDED
    assert out["cessation_doy"] == 249 and out["season_length"] == 86
    first = result(season(30.0), onset__date_convention="first_wet_day")
    assert first["onset"] == day("2001-06-10") and first["season_length"] == 88


def test_capacity_caps_the_bucket():
    assert result(season(200.0))["cessation"] == day("2001-09-14")  # 70 mm lasts 14 days
    assert result(season(200.0), cessation__capacity_mm=500)["cessation"] == day("2001-10-10")  # 200 mm: 40 days
    assert result(season(200.0), cessation__evaporation_mm=7)["cessation"] == day("2001-09-10")  # 70 / 7


def test_empty_bucket_before_earliest_waits_for_earliest():
    # The bucket is empty from 31 August (5 + 0 - 5): cessation is the earliest allowed day.
    out = result(season(0.0))
    assert out["cessation"] == day("2001-09-01") and out["season_length"] == 81
    assert result(season(0.0), cessation__earliest="09-10")["cessation"] == day("2001-09-10")


def test_cessation_censored_when_the_series_ends_with_water_left():
    out = result(season(30.0, end="2001-09-04"))
    assert out["cessation_status"] == CENSORED and np.isnat(out["cessation"]) and np.isnan(out["season_length"])
    assert out["onset_status"] == 0


def test_missing_day_while_draining_makes_the_date_uncertain():
    # W_low (missing = no rain) empties on 6 Sep; W_high (missing = full) only on 17 Sep.
    out = result(season(30.0, nan=["2001-09-03"]))
    assert out["cessation_status"] == MISSING and np.isnat(out["cessation"])


def test_missing_day_forgotten_once_the_bucket_fills():
    # A missing day in July, then 100 mm on 31 August fills both buckets: they agree again.
    out = result(season(100.0, nan=["2001-07-01"]))
    assert out["cessation_status"] == ENDED and out["cessation"] == day("2001-09-14")


def test_no_onset_no_cessation():
    dry = xr.DataArray(np.zeros(200), dims="time", coords={"time": pd.date_range("2001-04-01", periods=200)})
    out = result(dry)
    assert out["cessation_status"] == NO_ONSET and np.isnat(out["cessation"]) and np.isnan(out["cessation_doy"])


def test_cessation_searched_only_after_a_late_onset_window():
    # Onset window 10-12 Sep (10, 10, 0 mm), showers every 5 days to 20 October.
    t = pd.date_range("2001-04-01", "2001-12-31")
    v = np.zeros(len(t))
    v[t.get_indexer(pd.to_datetime(["2001-09-10", "2001-09-11"]))] = 10.0
    v[t.get_indexer(pd.date_range("2001-09-15", "2001-10-20", freq="5D"))] = 5.0
    out = result(xr.DataArray(v, dims="time", coords={"time": t}))
    # W: 5, 10, 5 (12 Sep), 0 on 13 Sep; the 5 mm showers keep it at 0: cessation 13 Sep.
    assert out["onset"] == day("2001-09-12") and out["cessation"] == day("2001-09-13")
    assert out["season_length"] == 1


@pytest.mark.parametrize("preset, capacity", [("agrhymet_sahel", 70), ("sivakumar1988", 70), ("anacim", 70),
                                              ("picsa", 60)])
def test_presets_cessation_parameters(preset, capacity):
    c = load_rules(preset).cessation
    assert (c.earliest, c.capacity_mm, c.evaporation_mm) == ("09-01", capacity, 5)
