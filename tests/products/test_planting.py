"""Planting outlook on hand-worked daily series (sowcast.products.planting).

Rules: Sivakumar (1988) with wet day >= 1 mm: a candidate is a 3-day window starting on a wet
day with >= 20 mm, dated at its first wet day; it fails if a dry spell longer than 7 days
follows within the 30 days after the window; post-onset dry-spell risk: a spell longer than
10 days within 30 days of the onset. Issue date 1 June 2001; the forecast covers 2 June to
17 July (46 days); week k ends on 1 June + 7k: week 1 = 2-8 June, week 2 = 9-15 June,
week 3 = 16-22 June, ..., week 6 = 7-13 July.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.locations import Locations, extract
from sowcast.products.planting import (
    ADVICE_CODES,
    PlantingThresholds,
    advice_text,
    join_observed_forecast,
    planting_outlook,
    remaining_dry_spell_probability,
)
from sowcast.products.season_rules import load_rules

RULES = load_rules("sivakumar1988", {"dry_day_mm": 1.0})
ISSUE = pd.Timestamp("2001-06-01")
FC_DAYS = pd.date_range("2001-06-02", "2001-07-17")
OBS_DAYS = pd.date_range("2001-04-01", ISSUE)


def showers(first: str, last: str, every: int = 3, mm: float = 5.0) -> dict[str, float]:
    return {str(d.date()): mm for d in pd.date_range(first, last, freq=f"{every}D")}


def values(rain: dict[str, float], dates: pd.DatetimeIndex) -> np.ndarray:
    v = np.zeros(len(dates))
    for day, mm in rain.items():
        if pd.Timestamp(day) in dates:
            v[dates.get_loc(pd.Timestamp(day))] = mm
    return v


def observed(rain: dict[str, float] | None = None) -> xr.DataArray:
    return xr.DataArray(values(rain or {}, OBS_DAYS), dims="time", coords={"time": OBS_DAYS},
                        attrs={"units": "mm"})


def forecast(members: list[dict[str, float]]) -> xr.DataArray:
    data = np.stack([values(m, FC_DAYS) for m in members])
    return xr.DataArray(data, dims=("member", "time"), attrs={"units": "mm"},
                        coords={"member": np.arange(len(members)), "time": FC_DAYS,
                                "lead_day": ("time", np.arange(1, len(FC_DAYS) + 1))})


def code(out: xr.Dataset) -> str:
    return ADVICE_CODES[int(out["advice"])]


STARTED_MAY = {"2001-05-01": 25.0, **showers("2001-05-04", "2001-06-01")}  # onset 1 May, confirmed
WEEK1_ONSET = {"2001-06-05": 25.0, **showers("2001-06-08", "2001-07-17")}  # onset 5 June
FALSE_START = {"2001-06-05": 25.0, "2001-06-20": 25.0, **showers("2001-06-23", "2001-07-17")}  # 8-19 June dry
WEEK3_ONSET = {"2001-06-17": 25.0, **showers("2001-06-20", "2001-07-17")}  # onset 17 June
LATE_RAIN = {"2001-07-10": 25.0}  # rain condition in week 6, then dry: censored


# ---------------------------------------------------------------------------- join

def test_join_ignores_observations_after_issue_and_flags_observed_days():
    obs = xr.DataArray(np.arange(70.0), dims="time", coords={"time": pd.date_range("2001-04-01", periods=70)})
    fc = forecast([{}, {"2001-06-02": 9.0}])
    j = join_observed_forecast(obs, fc, "2001-06-01")
    assert j.dims == ("member", "time") and j.sizes == {"member": 2, "time": 62 + 46}
    assert str(j["time"].values[61])[:10] == "2001-06-01" and j["observed"].values.sum() == 62
    np.testing.assert_array_equal(j.isel(time=62).values, [0.0, 9.0])  # 2 June from the forecast
    np.testing.assert_array_equal(j.isel(member=1, time=slice(0, 62)).values, np.arange(62.0))
    assert j.attrs["issue_date"] == "2001-06-01" and "lead_day" not in j.coords
    one = join_observed_forecast(obs, forecast([{}]).isel(member=0, drop=True), "2001-06-01")
    assert one.sizes["member"] == 1


def test_join_gap_is_an_error():
    obs = observed()
    with pytest.raises(SowcastError, match="observed rain ends on 2001-05-30, before the issue date 2001-06-01: "
                                           "2 day"):
        join_observed_forecast(obs.sel(time=slice(None, "2001-05-30")), forecast([{}]), ISSUE)
    with pytest.raises(SowcastError, match=r"forecast starts on 2001-06-04, .* 2 day\(s\) missing"):
        join_observed_forecast(obs, forecast([{}]).sel(time=slice("2001-06-04", None)), ISSUE)
    with pytest.raises(SowcastError, match="observed rain has dims"):
        join_observed_forecast(obs.expand_dims(location=["a"]), forecast([{}]), ISSUE)


# ---------------------------------------------------------------------------- outlook cases

def test_season_already_started_in_the_observations_gives_probability_one():
    out = planting_outlook(observed(STARTED_MAY), forecast([{}, {}, WEEK3_ONSET]), ISSUE, RULES)
    assert int(out["onset_status_observed"]) == 0
    np.testing.assert_array_equal(out["onset_by_week"].values, 1.0)
    np.testing.assert_array_equal(out["onset_by_week_expected"].values, 1.0)
    np.testing.assert_array_equal(out["onset_by_week_censored"].values, 0.0)
    assert int(out["most_likely_onset_week"]) == 0 and float(out["most_likely_onset_week_probability"]) == 1
    assert float(out["false_start_risk"]) == 0 and float(out["dry_spell_risk"]) == 0
    assert float(out["dry_spell_risk_undetermined"]) == 0  # 2-31 May: all observed
    assert str(out["planting_window_start"].values)[:10] == "2001-06-02"
    assert str(out["planting_window_end"].values)[:10] == "2001-06-08"
    assert code(out) == "plant_now" and float(out["advice_probability"]) == 1 and int(out["advice_week"]) == 0
    assert advice_text(out) == "Plant now: 100% chance the rains have started or start within 1 week."


def test_season_started_with_a_dry_spell_risk():
    rules = load_rules(RULES, {"dry_spell_risk.days": 5})  # 6-day dry runs between weekly showers
    weekly = {"2001-05-01": 25.0, **showers("2001-05-08", "2001-06-01", every=7)}
    out = planting_outlook(observed(weekly), forecast([{}, {}]), ISSUE, rules)
    assert int(out["onset_status_observed"]) == 0
    assert code(out) == "season_started_dry_spell_risk" and float(out["advice_probability"]) == 1
    assert advice_text(out) == ("The season has started: 100% chance of a dry spell longer than 5 days "
                                "within 30 days of the onset.")


def test_censored_onset_at_the_end_of_the_forecast():
    out = planting_outlook(observed(), forecast([LATE_RAIN, {}]), ISSUE, RULES)
    np.testing.assert_array_equal(out["onset_by_week"].values, 0.0)
    np.testing.assert_array_equal(out["onset_by_week_censored"].values, [0, 0, 0, 0, 0, 0.5])
    np.testing.assert_array_equal(out["onset_by_week_expected"].values, 0.0)  # no history: lower bound
    assert out.attrs["remaining_dry_spell_probability"] == "no history given"
    # 10 July + 1 .. + 30: 7 dry days known (11-17 July), the rest unknown
    assert float(out["dry_spell_risk"]) == 0 and float(out["dry_spell_risk_undetermined"]) == 1
    assert code(out) == "wait" and float(out["advice_probability"]) == 0 and int(out["advice_week"]) == 6


def history(n_wet: int, n_dry: int, first_year: int = 1991) -> xr.DataArray:
    """Past years: in ``n_wet`` of them it rains daily from 18 July, in ``n_dry`` none falls.
    1990 has a missing day on 20 July (not counted); 2001 (the current year) is wet (ignored)."""
    t = pd.date_range("1990-01-01", "2001-12-31")
    v = np.zeros(len(t))
    wet_years = [1990, 2001, *range(first_year, first_year + n_wet)]
    for y in wet_years:
        v[(t >= f"{y}-07-18") & (t <= f"{y}-08-31")] = 5.0
    v[t == pd.Timestamp("1990-07-20")] = np.nan
    keep = (t.year == 1990) | (t.year == 2001) | ((t.year >= first_year) & (t.year < first_year + n_wet + n_dry))
    return xr.DataArray(v[keep], dims="time", coords={"time": t[keep]})


def test_remaining_dry_spell_probability_hand_worked():
    h = history(5, 5)
    t = xr.DataArray([0, 5, 5, 0], dims="member")
    r = xr.DataArray([3, 3, 25, 0], dims="member")
    p = remaining_dry_spell_probability(h, RULES, "2001-07-18", t, r)
    # dry years: 0 + 3 days is no spell > 7; 5 + 3 = 8 is; r = 0: nothing unknown
    np.testing.assert_array_equal(p.values, [0.0, 0.5, 0.5, 0.0])
    assert p.attrs["n_years"] == 11 and "reason" not in p.attrs
    few = remaining_dry_spell_probability(history(2, 2), RULES, "2001-07-18", 5, 25)
    assert np.isnan(float(few)) and "fewer than 5 past years" in few.attrs["reason"]


def test_censored_onset_expected_with_history():
    out = planting_outlook(observed(), forecast([LATE_RAIN, {}]), ISSUE, RULES, history=history(5, 5))
    # q = 0.5 (trailing 5 dry days + an all-dry year exceed 7), so member 0 counts 0.5
    np.testing.assert_allclose(out["onset_by_week_expected"].values, [0, 0, 0, 0, 0, 0.25])
    assert out.attrs["remaining_dry_spell_probability"] == "from history"
    low = planting_outlook(observed(), forecast([LATE_RAIN, {}]), ISSUE, RULES, history=history(5, 5),
                           thresholds={"onset_probability": 0.25})
    assert str(low["planting_window_start"].values)[:10] == "2001-07-07"
    assert str(low["planting_window_end"].values)[:10] == "2001-07-13"
    assert code(low) == "wait" and int(low["advice_week"]) == 6
    few = planting_outlook(observed(), forecast([LATE_RAIN, {}]), ISSUE, RULES, history=history(2, 2))
    np.testing.assert_array_equal(few["onset_by_week_expected"].values, 0.0)
    assert "fewer than 5" in few.attrs["remaining_dry_spell_probability"]


def test_false_start_in_some_members_closes_the_window():
    out = planting_outlook(observed(), forecast([FALSE_START, FALSE_START, WEEK1_ONSET, WEEK1_ONSET]),
                           ISSUE, RULES)
    assert float(out["false_start_risk"]) == 0.5
    np.testing.assert_array_equal(out["onset_by_week"].values, [0.5, 0.5, 1, 1, 1, 1])  # 5 and 20 June
    assert int(out["most_likely_onset_week"]) == 1 and float(out["most_likely_onset_week_probability"]) == 0.5
    assert np.isnat(out["planting_window_start"].values)
    assert code(out) == "wait_false_start_risk" and float(out["advice_probability"]) == 0.5
    assert advice_text(out) == "Wait: 50% chance of a false start (rain, then a long dry spell) within 6 weeks."
    lenient = planting_outlook(observed(), forecast([FALSE_START, FALSE_START, WEEK1_ONSET, WEEK1_ONSET]),
                               ISSUE, RULES, thresholds={"false_start_max": 0.6})
    assert code(lenient) == "plant_now" and float(lenient["advice_probability"]) == 0.5
    assert str(lenient["planting_window_start"].values)[:10] == "2001-06-02"
    assert float(lenient["dry_spell_risk"]) == 0 and float(lenient["dry_spell_risk_undetermined"]) == 0


def test_candidate_observed_on_the_issue_date_fails_in_some_members():
    obs = observed({"2001-05-30": 25.0})  # rain condition met 30 May, check running
    out = planting_outlook(obs, forecast([showers("2001-06-02", "2001-07-17"), {}]), ISSUE, RULES)
    assert int(out["onset_status_observed"]) == 1
    assert float(out["false_start_risk"]) == 0.5
    np.testing.assert_array_equal(out["onset_by_week"].values, 0.5)
    assert int(out["most_likely_onset_week"]) == 0  # tie of week 0 and "later": the earliest


def test_all_dry_members_no_onset_expected():
    out = planting_outlook(observed(), forecast([{}, {}, {}]), ISSUE, RULES)
    np.testing.assert_array_equal(out["onset_by_week"].values, 0.0)
    assert int(out["onset_status_observed"]) == 3  # not yet
    assert int(out["most_likely_onset_week"]) == 7 and float(out["most_likely_onset_week_probability"]) == 1
    assert np.isnan(float(out["dry_spell_risk"]))  # no member has an onset
    assert code(out) == "no_onset_expected"
    assert advice_text(out) == "No onset expected: 100% chance the rains do not start within 6 weeks."


def test_advice_thresholds_buy_seed_and_wait():
    members = [WEEK3_ONSET] * 7 + [{}] * 3
    out = planting_outlook(observed(), forecast(members), ISSUE, RULES)
    np.testing.assert_allclose(out["onset_by_week_expected"].values, [0, 0, 0.7, 0.7, 0.7, 0.7], rtol=1e-6)
    assert str(out["planting_window_start"].values)[:10] == "2001-06-16"
    assert code(out) == "buy_seed_now" and int(out["advice_week"]) == 3
    assert advice_text(out) == "Buy seed now: 70% chance the rains start within 3 weeks."
    later = planting_outlook(observed(), forecast(members), ISSUE, RULES, thresholds={"buy_seed_weeks": 2})
    assert advice_text(later) == "Wait: 70% chance the rains start within 3 weeks."
    strict = planting_outlook(observed(), forecast(members), ISSUE, RULES, thresholds={"onset_probability": 0.8})
    assert np.isnat(strict["planting_window_start"].values) and code(strict) == "wait"
    assert int(strict["advice_week"]) == 6
    assert out.attrs["n_members"] == 10 and out.attrs["season_rules"] == "sivakumar1988"
    assert out.attrs["issue_date"] == "2001-06-01" and out.attrs["threshold_onset_probability"] == 0.5


def test_wait_for_a_dry_spell_risk_after_a_week1_onset():
    rules = load_rules(RULES, {"dry_spell_risk.days": 5})
    weekly = {"2001-06-03": 25.0, **showers("2001-06-10", "2001-07-17", every=7)}
    out = planting_outlook(observed(), forecast([weekly, weekly]), ISSUE, rules)
    assert float(out["dry_spell_risk"]) == 1 and code(out) == "wait_dry_spell_risk"


def test_thresholds_mapping_errors():
    assert PlantingThresholds.from_mapping({"no_onset_max": 0.2}).no_onset_max == 0.2
    with pytest.raises(SowcastError, match="unknown planting threshold 'onset_prob' "):
        PlantingThresholds.from_mapping({"onset_prob": 0.5})
    with pytest.raises(SowcastError, match="false_start_max must be a probability"):
        PlantingThresholds.from_mapping({"false_start_max": 1.5})
    with pytest.raises(SowcastError, match="weeks need 49"):
        planting_outlook(observed(), forecast([{}]), ISSUE, RULES, weeks=7)
    with pytest.raises(SowcastError, match="no advice texts in language 'fr'"):
        advice_text(planting_outlook(observed(), forecast([{}]), ISSUE, RULES), lang="fr")


def test_map_gives_the_same_numbers_as_the_location_version():
    lat, lon = np.array([9.0, 10.0]), np.array([-1.0, 0.0, 1.0])
    scenarios = [[FALSE_START, WEEK1_ONSET, {}, WEEK3_ONSET], [LATE_RAIN, {}, LATE_RAIN, WEEK3_ONSET],
                 [WEEK3_ONSET] * 4, [{}] * 4, [WEEK1_ONSET, LATE_RAIN, FALSE_START, {}], [LATE_RAIN] * 4]
    fc = np.zeros((4, len(FC_DAYS), 2, 3))
    for c, members in enumerate(scenarios):
        fc[:, :, c // 3, c % 3] = np.stack([values(m, FC_DAYS) for m in members])
    grid = {"lat": lat, "lon": lon}
    fc = xr.DataArray(fc, dims=("member", "time", "lat", "lon"), coords={"time": FC_DAYS, **grid})
    obs = observed().expand_dims(lat=lat, lon=lon).transpose("time", "lat", "lon").copy()
    obs.loc[{"time": "2001-05-30", "lat": 10.0, "lon": 1.0}] = 25.0
    hist = history(5, 5).expand_dims(lat=lat, lon=lon).transpose("time", "lat", "lon")
    maps = planting_outlook(obs, fc, ISSUE, RULES, history=hist)
    assert maps["onset_by_week"].dims == ("week", "lat", "lon") and maps["advice"].dims == ("lat", "lon")
    assert maps["advice"].dtype == np.int8 and maps["planting_window_start"].dtype == "datetime64[ns]"
    assert len(set(maps["advice"].values.ravel())) > 2
    places = Locations.from_points([f"cell{c}" for c in range(6)], np.repeat(lat, 3) + 0.2, np.tile(lon, 2) - 0.1)
    at = planting_outlook(extract(places, obs), extract(places, fc), ISSUE, RULES, history=extract(places, hist))
    assert at["advice"].dims == ("location",)
    for name in maps.data_vars:
        m = maps[name].stack(cell=("lat", "lon")).transpose(..., "cell").values
        np.testing.assert_array_equal(at[name].transpose(..., "location").values, m, err_msg=name)
    assert advice_text(maps, {"lat": 9.1, "lon": 0.2}) == advice_text(at, "cell1")


def test_post_onset_dry_spell_matches_the_season_analysis_for_confirmed_onsets():
    from sowcast.products.planting import _post_onset_dry_spell
    from sowcast.products.season import analyse_seasons

    t = pd.date_range("2001-04-01", "2001-10-31")
    rain = np.random.default_rng(3).gamma(0.25, 14.0, (200, len(t)))
    da = xr.DataArray(rain, dims=("series", "time"), coords={"time": t})
    rules = load_rules(RULES, {"dry_spell_risk.days": 5})  # shorter than the onset rule's 7
    ds = analyse_seasons(da, rules).sel(year=2001)
    confirmed = ds["onset_status"] == 0
    seen, possible = _post_onset_dry_spell(da, ds["onset"].where(confirmed), rules)
    assert 20 < int(confirmed.sum()) and 0 < int(seen.sum()) < int(confirmed.sum())
    np.testing.assert_array_equal(seen.values, ds["dry_spell_risk"].values)
    np.testing.assert_array_equal(possible.values, seen.values)  # all days known
