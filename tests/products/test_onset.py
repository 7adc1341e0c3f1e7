"""Onset, false starts and censoring on small hand-worked daily series (sowcast.products.onset).

Unless a test overrides them the rules are: wet day >= 1 mm, search 1 May - 30 Sep, 20 mm in
3 days with a wet first day, no dry spell longer than 7 days in the 30 days after the
window, onset dated at the window's end. The "season" below is: 10 mm on 10 and 11 June
(window 10-12 June), then 5 mm showers every 5 days from 15 June to 25 September: runs of
at most 4 dry days, so the onset is 12 June (window end) or 10 June (first wet day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.season import analyse_seasons
from sowcast.products.season_rules import load_rules

BASE = {"dry_day_mm": 1.0, "onset.earliest": "05-01", "onset.latest": "09-30", "onset.accumulation_mm": 20,
        "onset.accumulation_days": 3, "onset.min_wet_days": 1, "onset.first_day_wet": True,
        "onset.max_dry_spell_days": 7, "onset.lookahead_days": 30, "onset.date_convention": "window_end",
        "dry_spell_risk.days": 10, "dry_spell_risk.lookahead_days": 30}


def rules(**over):
    return load_rules("sivakumar1988", {**BASE, **{k.replace("__", "."): v for k, v in over.items()}})


def showers(first: str, last: str, every: int = 5, mm: float = 5.0) -> dict[str, float]:
    return {str(d.date()): mm for d in pd.date_range(first, last, freq=f"{every}D")}


SEASON = {"2001-06-10": 10.0, "2001-06-11": 10.0, **showers("2001-06-15", "2001-09-25")}


def series(rain: dict[str, float], start="2001-04-01", end="2001-12-31", nan=()) -> xr.DataArray:
    t = pd.date_range(start, end)
    v = np.zeros(len(t))
    for day, mm in rain.items():
        if pd.Timestamp(day) in t:
            v[t.get_loc(pd.Timestamp(day))] = mm
    for days in nan:
        v[t.slice_indexer(*days) if isinstance(days, tuple) else t.get_loc(pd.Timestamp(days))] = np.nan
    return xr.DataArray(v, dims="time", coords={"time": t}, attrs={"units": "mm"})


def year(ds: xr.Dataset, y: int = 2001) -> dict:
    return {k: v.values[()] for k, v in ds.sel(year=y).data_vars.items()}


def day(text: str) -> np.datetime64:
    return np.datetime64(pd.Timestamp(text), "ns")


STATUS = {"onset": 0, "censored": 1, "none": 2, "not_yet": 3, "missing": 4}


def test_onset_window_end_and_first_wet_day():
    end = year(analyse_seasons(series(SEASON), rules()))
    assert end["onset"] == day("2001-06-12") and end["onset_doy"] == 163
    assert end["onset_status"] == STATUS["onset"] and not end["false_start"]
    assert end["rain_condition_date"] == day("2001-06-12")
    first = year(analyse_seasons(series(SEASON), rules(onset__date_convention="first_wet_day")))
    assert first["onset"] == day("2001-06-10") and first["onset_doy"] == 161


def test_onset_day_of_year_is_the_same_calendar_date_in_a_leap_year():
    """Past years' days of year make a climatology, so 12 June is 163 in 2004 as in 2001 (a
    365-day calendar), and the verification turns that day back into 12 June of any year."""
    from sowcast.products.climatology import day_of_year_in

    def shifted(y: int) -> dict[str, float]:
        return {f"{y}{d[4:]}": mm for d, mm in SEASON.items()}

    rain = series({**SEASON, **shifted(2004)}, "2001-01-01", "2004-12-31")
    seasons = analyse_seasons(rain, rules())
    assert seasons["onset"].sel(year=2004).values == day("2004-06-12")
    assert seasons["onset_doy"].sel(year=2004) == seasons["onset_doy"].sel(year=2001) == 163
    for y in (2004, 2010):
        back = np.datetime64("1970-01-01") + np.timedelta64(int(day_of_year_in(y, 163)), "D")
        assert back == np.datetime64(f"{y}-06-12")


def test_first_day_wet_and_min_wet_days_and_amount():
    # Without a wet first day the window 9-11 June (0 + 10 + 10) already qualifies.
    loose = year(analyse_seasons(series(SEASON), rules(onset__first_day_wet=False)))
    assert loose["onset"] == day("2001-06-11")
    # Three wet days in 3 never happen; nor do 25 mm: no rain condition at all.
    for over in ({"onset__min_wet_days": 3}, {"onset__accumulation_mm": 25}):
        out = year(analyse_seasons(series(SEASON), rules(**over)))
        assert out["onset_status"] == STATUS["none"] and np.isnat(out["onset"])
        assert np.isnat(out["rain_condition_date"]) and not out["false_start"]


def test_false_start_then_true_onset():
    rain = {**SEASON, "2001-05-20": 25.0}  # then dry until 10 June: an 18-day spell after 22 May
    out = year(analyse_seasons(series(rain), rules()))
    assert out["false_start"] and out["false_start_date"] == day("2001-05-22")
    assert out["rain_condition_date"] == day("2001-05-22")
    assert out["onset"] == day("2001-06-12") and out["onset_status"] == STATUS["onset"]
    first = year(analyse_seasons(series(rain), rules(onset__date_convention="first_wet_day")))
    assert first["false_start_date"] == day("2001-05-20") and first["onset"] == day("2001-06-10")


@pytest.mark.parametrize("dry_days, passes", [(7, True), (8, False)])
def test_dry_spell_limit_is_longer_than(dry_days, passes):
    # Window 10-12 June, rain on 13 June, `dry_days` dry days, then showers again.
    back = pd.Timestamp("2001-06-14") + pd.Timedelta(days=dry_days)
    rain = {"2001-06-10": 10.0, "2001-06-11": 10.0, "2001-06-13": 5.0,
            **showers(str(back.date()), "2001-09-25")}
    out = year(analyse_seasons(series(rain), rules()))
    if passes:
        assert out["onset"] == day("2001-06-12")
    else:
        assert out["onset_status"] == STATUS["none"] and out["false_start"]
        assert out["false_start_date"] == day("2001-06-12")


def test_spell_running_into_the_lookahead_counts_from_the_day_after_the_window():
    # 20 mm on 10 June, dry 11-19 June (9 days), of which 13-19 June (7) lie in the look-ahead.
    rain = {"2001-06-10": 20.0, **showers("2001-06-20", "2001-09-25")}
    assert year(analyse_seasons(series(rain), rules()))["onset"] == day("2001-06-12")
    # One more dry day inside the look-ahead makes it 8: a false start.
    rain = {"2001-06-10": 20.0, **showers("2001-06-21", "2001-09-25")}
    assert year(analyse_seasons(series(rain), rules()))["false_start"]


@pytest.mark.parametrize("first_shower, onset", [("2001-06-18", "2001-06-10"), ("2001-06-19", None)])
def test_first_wet_day_looks_ahead_from_the_onset_date(first_shower, onset):
    # 20 mm on 10 June, then dry until the showers: 7 or 8 dry days from 11 June, two of them
    # inside the window 10-12 June (Sivakumar 1988: "no dry spell within the next 30 days").
    rain = {"2001-06-10": 20.0, **showers(first_shower, "2001-09-25")}
    out = year(analyse_seasons(series(rain), rules(onset__date_convention="first_wet_day")))
    if onset:
        assert out["onset"] == day(onset) and not out["false_start"]
    else:
        assert out["onset_status"] == STATUS["none"] and out["false_start_date"] == day("2001-06-10")
    # Dated at the window's end, the look-ahead starts on 13 June: 5 or 6 dry days, an onset.
    assert year(analyse_seasons(series(rain), rules()))["onset"] == day("2001-06-12")


def test_window_need_not_start_wet_when_dated_on_its_first_wet_day():
    # 8 + 12 mm on 10-11 June, 12 June missing: 9-11 June (0 + 8 + 12) is the window.
    rain = {"2001-06-10": 8.0, "2001-06-11": 12.0, **showers("2001-06-15", "2001-09-25")}
    loose = rules(onset__date_convention="first_wet_day", onset__first_day_wet=False)
    assert year(analyse_seasons(series(rain, nan=["2001-06-12"]), loose))["onset"] == day("2001-06-10")
    strict = year(analyse_seasons(series(rain, nan=["2001-06-12"]), rules(onset__date_convention="first_wet_day")))
    assert strict["onset_status"] == STATUS["none"]  # 10-12 June holds the missing day


def test_onset_on_the_last_day_of_the_search():
    late = {"2001-09-28": 20.0, **showers("2001-10-02", "2001-11-30")}
    out = year(analyse_seasons(series(late), rules()))
    assert out["onset"] == day("2001-09-30") and out["onset_status"] == STATUS["onset"]
    # One day later the window ends on 1 October, after `latest`: no onset.
    later = {"2001-09-29": 20.0, **showers("2001-10-02", "2001-11-30")}
    out = year(analyse_seasons(series(later), rules()))
    assert out["onset_status"] == STATUS["none"] and np.isnat(out["rain_condition_date"])


def test_window_must_start_on_or_after_earliest():
    rain = {"2001-04-30": 15.0, "2001-05-01": 3.0, "2001-05-02": 3.0, **showers("2001-05-05", "2001-09-25")}
    out = year(analyse_seasons(series(rain), rules()))
    assert np.isnat(out["rain_condition_date"])  # the 20 mm window starts on 30 April


def test_all_dry_year():
    out = year(analyse_seasons(series({}), rules()))
    assert out["onset_status"] == STATUS["none"] and np.isnat(out["onset"]) and np.isnan(out["onset_doy"])
    assert not out["false_start"] and np.isnat(out["false_start_date"]) and np.isnat(out["rain_condition_date"])
    assert np.isnan(out["longest_dry_spell"]) and not out["dry_spell_risk"]
    assert out["days_unchecked"] == 0 and out["trailing_dry_days"] == 0


def test_missing_day_in_the_window_never_meets_the_condition():
    rain = {**SEASON, "2001-06-12": 10.0, "2001-06-13": 10.0}
    out = year(analyse_seasons(series(rain, nan=["2001-06-11"]), rules()))
    # 10-12 and 11-13 June hold the missing day; 12-14 June (10 + 10 + 0) is the first window.
    assert out["onset"] == day("2001-06-14")


def test_missing_days_in_the_lookahead():
    base = {"2001-06-10": 10.0, "2001-06-11": 10.0, "2001-06-13": 5.0, **showers("2001-06-22", "2001-09-25")}
    # Known dry 14-18 June and 21 June, missing 19-20 June: too long only if they were dry.
    out = year(analyse_seasons(series(base, nan=[("2001-06-19", "2001-06-20")]), rules()))
    assert out["onset_status"] == STATUS["censored"] and np.isnat(out["onset"])
    assert out["censored_date"] == day("2001-06-12") and out["censor_reason"] == 2
    assert out["days_unchecked"] == 2 and out["trailing_dry_days"] == 0
    assert out["cessation_status"] == 2 and np.isnan(out["season_length"])
    # Known dry days alone exceed the limit (14-21 June): a false start whatever was missing.
    out = year(analyse_seasons(series(base, nan=["2001-06-25"]), rules()))
    assert out["false_start"] and out["onset_status"] == STATUS["none"]
    # A missing day that cannot complete a long spell does not matter.
    ok = {"2001-06-10": 10.0, "2001-06-11": 10.0, "2001-06-13": 5.0, **showers("2001-06-17", "2001-09-25")}
    out = year(analyse_seasons(series(ok, nan=["2001-06-15"]), rules()))
    assert out["onset"] == day("2001-06-12") and out["days_unchecked"] == 0


def test_censored_at_the_series_end():
    rain = {"2001-06-10": 10.0, "2001-06-11": 10.0, "2001-06-13": 5.0, "2001-06-17": 5.0}
    out = year(analyse_seasons(series(rain, end="2001-06-22"), rules()))  # dry 18-22 June, then unknown
    assert out["onset_status"] == STATUS["censored"] and np.isnat(out["onset"])
    assert out["censored_date"] == day("2001-06-12") and out["censor_reason"] == 1
    assert out["days_unchecked"] == 20 and out["trailing_dry_days"] == 5
    assert out["rain_condition_date"] == day("2001-06-12") and not out["false_start"]


def test_series_end_that_cannot_complete_a_spell_is_an_onset():
    rain = {"2001-06-10": 10.0, "2001-06-11": 10.0, **showers("2001-06-16", "2001-07-11")}
    out = year(analyse_seasons(series(rain, end="2001-07-11"), rules()))  # 11 July wet, 12 July unknown
    assert out["onset"] == day("2001-06-12") and out["onset_status"] == STATUS["onset"]


def test_not_yet_when_the_series_ends_before_latest():
    out = year(analyse_seasons(series({}, end="2001-05-31"), rules()))
    assert out["onset_status"] == STATUS["not_yet"] and not out["false_start"]
    fs = year(analyse_seasons(series({"2001-05-20": 25.0}, end="2001-07-15"), rules()))
    assert fs["onset_status"] == STATUS["not_yet"] and fs["false_start"]


def test_series_starting_mid_season_shows_what_the_data_show():
    late = {**SEASON, "2001-07-10": 10.0, "2001-07-11": 10.0}
    cut = year(analyse_seasons(series(late, start="2001-07-01"), rules()))
    assert cut["onset"] == day("2001-07-12") and cut["onset_status"] == STATUS["onset"]
    # Leading missing days (a record that starts in July) are the same, not "missing".
    lead = year(analyse_seasons(series(late, nan=[("2001-04-01", "2001-06-30")]), rules()))
    assert lead["onset"] == day("2001-07-12") and lead["onset_status"] == STATUS["onset"]
    # Without a July window the June onset is out of sight: none.
    assert year(analyse_seasons(series(SEASON, start="2001-07-01"), rules()))["onset_status"] == STATUS["none"]


@pytest.mark.parametrize("last_missing, status", [("2001-05-16", "onset"), ("2001-05-17", "missing")])
def test_too_many_missing_days_before_the_onset_is_confirmed(last_missing, status):
    # The onset of 12 June is confirmed on 12 July: 7 of the 73 days from 1 May missing is
    # 9.6 %, 8 is 11.0 % (limit 10 %).
    out = year(analyse_seasons(series(SEASON, nan=[("2001-05-10", last_missing)]), rules()))
    assert out["onset_status"] == STATUS[status]
    assert (out["onset"] == day("2001-06-12")) if status == "onset" else np.isnat(out["onset"])


def test_a_gap_after_the_onset_is_confirmed_does_not_undo_it():
    out = year(analyse_seasons(series(SEASON, nan=[("2001-07-13", "2001-09-30")]), rules()))
    assert out["onset"] == day("2001-06-12") and out["onset_status"] == STATUS["onset"]
    # Without an onset the whole search window counts: 16 of 153 days (10.5 %) is too many.
    dry = year(analyse_seasons(series({}, nan=[("2001-09-01", "2001-09-16")]), rules()))
    assert dry["onset_status"] == STATUS["missing"]
    assert year(analyse_seasons(series({}, nan=[("2001-09-01", "2001-09-15")]), rules()))["onset_status"] == 2


def test_dry_spell_risk_after_onset():
    rain = {"2001-06-10": 10.0, "2001-06-11": 10.0, **showers("2001-06-15", "2001-07-10"), "2001-07-14": 5.0,
            **showers("2001-07-27", "2001-09-25")}  # dry 15-26 July: 12 days
    short = year(analyse_seasons(series(rain), rules()))
    assert short["longest_dry_spell"] == 4 and not short["dry_spell_risk"]
    long = year(analyse_seasons(series(rain), rules(dry_spell_risk__lookahead_days=45)))
    assert long["longest_dry_spell"] == 12 and long["dry_spell_risk"]
    assert not year(analyse_seasons(series(rain), rules(dry_spell_risk__lookahead_days=45,
                                                         dry_spell_risk__days=12)))["dry_spell_risk"]


def test_dims_years_dtypes_and_attrs():
    two = pd.date_range("2001-04-01", "2002-12-31")
    a = series(SEASON, end="2002-12-31")
    b = series({}, end="2002-12-31")
    rain = xr.concat([a, b], dim="member").assign_coords(member=[0, 1], time=two)
    ds = analyse_seasons(rain, rules())
    assert ds["onset"].dims == ("member", "year") and ds["year"].values.tolist() == [2001, 2002]
    assert ds["year"].dtype == np.int64
    assert ds["onset"].values[0, 0] == day("2001-06-12") and np.isnat(ds["onset"].values[0, 1])
    assert ds["onset_status"].values.tolist() == [[0, 2], [2, 2]]
    dtypes = {"onset": "M", "onset_doy": "f", "onset_status": "i", "rain_condition_date": "M", "false_start": "b",
              "false_start_date": "M", "days_unchecked": "i", "trailing_dry_days": "i", "longest_dry_spell": "f",
              "dry_spell_risk": "b", "cessation": "M", "cessation_doy": "f", "cessation_status": "i",
              "season_length": "f", "censored_date": "M", "censor_reason": "i"}
    assert {k: ds[k].dtype.kind for k in dtypes} == dtypes
    assert ds["onset_status"].dtype == np.int8
    assert ds["onset_status"].attrs["flag_meanings"] == "onset censored none not_yet missing"
    assert ds["onset_status"].attrs["flag_values"].tolist() == [0, 1, 2, 3, 4]
    assert ds.attrs["season_rules"] == "sivakumar1988" and ds["onset"].attrs["season_rules"] == "sivakumar1988"
    # One call over both members equals one call per member.
    single = analyse_seasons(rain.sel(member=1), rules())
    xr.testing.assert_identical(single.drop_vars("member"), ds.sel(member=1).drop_vars("member"))


def test_years_covered_and_not_yet_next_year():
    ds = analyse_seasons(series(SEASON, end="2002-05-10"), rules())
    assert ds["year"].values.tolist() == [2001, 2002]
    assert ds["onset_status"].values.tolist() == [STATUS["onset"], STATUS["not_yet"]]


def test_bad_input_is_a_one_line_error():
    good = series(SEASON)
    bad = [good.rename(time="day"), good.isel(time=[0, 1, 3, 4]), good.assign_attrs(units="m"),
           good.to_dataset(name="rain")]
    for rain in bad:
        with pytest.raises(SowcastError) as err:
            analyse_seasons(rain, rules())
        assert "\n" not in str(err.value)


def test_many_series_at_once_is_fast():
    import time

    t = pd.date_range("2025-04-15", "2025-12-31")
    rng = np.random.default_rng(0)
    shape = (4, 27, 37, len(t))
    r = np.where(rng.random(shape) < 0.3, rng.gamma(0.8, 12, shape), 0.0)
    rain = xr.DataArray(r, dims=("member", "lat", "lon", "time"), coords={"time": t})
    start = time.perf_counter()
    ds = analyse_seasons(rain, "agrhymet_sahel")
    assert time.perf_counter() - start < 10  # under a second; a loop per series would take minutes
    assert ds["onset"].dims == ("member", "lat", "lon", "year") and (ds["onset_status"] == 0).mean() > 0.9
