"""Season analysis of the real Niger station records (1940-1980): physically sensible results.

Reads ``../shared/data/real/daily_niger.csv`` (rpicsa sample data, Meteo-France records)
through sowcast.data.stations; skipped where the file is absent. The station-years named
below are those of issue 15, where sowcast's onsets differed from the published rules.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sowcast.data.stations import read_station_csv
from sowcast.products.season import analyse_seasons
from sowcast.products.season_rules import load_rules

ROOT = Path(__file__).parents[2]
REAL = ROOT.parent / "shared/data/real/daily_niger.csv"
COORDS = ROOT / "data/stations/niger_stations.csv"
PRESETS = ("sivakumar1988", "agrhymet_sahel")
ALL_PRESETS = ("sivakumar1988", "agrhymet_sahel", "anacim", "picsa")


@pytest.fixture(scope="module")
def rain() -> xr.DataArray:
    if not REAL.is_file():
        pytest.skip(f"real sample data absent: {REAL}")
    return read_station_csv(REAL, stations=COORDS, variables=["rain"])["total_precipitation"]


@pytest.fixture(scope="module")
def seasons(rain) -> dict[str, xr.Dataset]:
    return {p: analyse_seasons(rain, p) for p in ALL_PRESETS}


def onset(ds: xr.Dataset, station: str, year: int) -> str:
    s = ds.sel(station=station, year=year)
    return str(s["onset"].values)[:10] if int(s["onset_status"]) == 0 else f"status {int(s['onset_status'])}"


def test_dry_spell_starting_inside_the_rain_window_rules_the_onset_out(seasons):
    # Birni N'Konni 1960: 24.2 mm on 28 May, then 8 dry days from 29 May (Sivakumar: > 7 days).
    ds = seasons["sivakumar1988"].sel(station="Birni N'Konni", year=1960)
    assert onset(seasons["sivakumar1988"], "Birni N'Konni", 1960) == "1960-06-18"
    assert bool(ds["false_start"]) and str(ds["false_start_date"].values)[:10] == "1960-05-28"
    # Zinder 1960: 48.7 mm on 11 May, then 22 dry days (AGRHYMET: > 20 days).
    assert onset(seasons["agrhymet_sahel"], "Zinder", 1960) == "1960-06-03"


def test_the_rain_window_need_not_start_wet(seasons, rain):
    # Birni N'Konni 1969: 19.7 mm on 5 June, 1.1 mm on 6 June, 7 June missing. 4-6 June holds
    # 20.8 mm and its first wet day is 5 June; asking for a wet first day (5-7 June holds the
    # missing day) pushed the onset to 1 July.
    assert onset(seasons["sivakumar1988"], "Birni N'Konni", 1969) == "1969-06-05"
    assert onset(seasons["agrhymet_sahel"], "Birni N'Konni", 1969) == "1969-06-05"
    wet_first = load_rules("sivakumar1988", {"onset.first_day_wet": True})
    assert onset(analyse_seasons(rain.sel(time="1969"), wet_first), "Birni N'Konni", 1969) == "1969-07-01"


def test_a_late_gap_keeps_a_confirmed_onset(seasons):
    # Niamey 1975: onset 9 June, confirmed within 30 days; August is missing.
    assert onset(seasons["sivakumar1988"], "Niamey_Aero", 1975) == "1975-06-09"
    assert int(seasons["sivakumar1988"]["cessation_status"].sel(station="Niamey_Aero", year=1975)) != 0


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("niger_onset_table", ROOT / "benchmarks" / "niger_onset_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_reads_the_published_rule(table):
    # The independent implementation itself, on hand-made records (tenths of mm).
    siv = table.PUBLISHED["sivakumar1988"]
    days = {f"2001-05-{d:02d}": 0 for d in range(1, 32)} | {f"2001-06-{d:02d}": 0 for d in range(1, 31)}
    rain = {**days, "2001-05-10": 242, "2001-05-19": 200, **{f"2001-05-{d:02d}": 20 for d in range(23, 32, 4)},
            **{f"2001-06-{d:02d}": 50 for d in range(1, 31, 3)}}
    assert table.reference_onset(rain, 2001, siv, 0) == "2001-05-19"  # 8 dry days after 10 May
    rain["2001-05-18"] = 1  # 0.1 mm: a rain day; the spell is 7 days
    assert table.reference_onset(rain, 2001, siv, 0) == "2001-05-10"
    rain["2001-05-08"] = None  # could be the onset: read dry and very wet it gives two answers
    assert (table.reference_onset(rain, 2001, siv, 0), table.reference_onset(rain, 2001, siv, 1000)) == (
        "2001-05-10", "2001-05-08")


def test_every_preset_matches_its_published_rule(table, rain):
    """100 % identical onsets on the comparable station-years (see benchmarks/niger_onset_table.py)."""
    for row in table.against_definitions(REAL, rain):
        assert row["comparable"] >= 135 and row["differ"] == [], row


@pytest.mark.parametrize("preset", PRESETS)
def test_niamey_median_onset_between_late_may_and_mid_july(seasons, preset):
    doy = seasons[preset]["onset_doy"].sel(station="Niamey_Aero")
    assert 145 <= float(doy.median()) <= 196  # 25 May .. 15 July
    assert int(doy.count()) >= 35  # 41 years, a few with missing data


@pytest.mark.parametrize("preset", PRESETS)
def test_arid_agades_has_more_years_without_onset(seasons, preset):
    none = (seasons[preset]["onset_status"] == 2).sum("year")
    assert none.sel(station="Agades") > none.sel(station="Niamey_Aero")
    doy = seasons[preset]["onset_doy"].median("year")
    assert doy.sel(station="Agades") > doy.sel(station="Niamey_Aero") + 20  # the monsoon reaches 17 N later


@pytest.mark.parametrize("preset", PRESETS)
def test_cessation_after_onset_and_sensible_lengths(seasons, preset):
    ds = seasons[preset]
    both = ds["onset"].notnull() & ds["cessation"].notnull()
    assert int(both.sum()) > 100
    assert bool((ds["cessation"] > ds["onset"]).where(both, True).all())
    assert bool(((ds["cessation_doy"] >= 244) & (ds["cessation_doy"] <= 305)).where(both, True).all())  # Sep-Oct
    length = ds["season_length"]
    assert float(length.min()) >= 1 and float(length.max()) <= 170
    medians = length.median("year")
    for st in ("Niamey_Aero", "Birni N'Konni", "Zinder"):
        assert 30 <= float(medians.sel(station=st)) <= 150
    assert medians.sel(station="Agades") < medians.sel(station="Niamey_Aero")


def test_longer_allowed_dry_spell_means_fewer_false_starts(seasons):
    assert int(seasons["agrhymet_sahel"]["false_start"].sum()) < int(seasons["sivakumar1988"]["false_start"].sum())


def test_years_before_a_record_starts_are_missing(seasons):
    status = seasons["sivakumar1988"]["onset_status"]
    for st in ("Agades", "Birni N'Konni", "Zinder"):  # records start in 1945
        assert status.sel(station=st, year=slice(1940, 1944)).values.tolist() == [4] * 5
    assert status.sel(station="Niamey_Aero", year=1940) == 0


def test_matches_rpicsa_start_rains(rain):
    """The rpicsa README (IDEMSInternational/rpicsa) example: start_rains(daily_niger, over_days = 3,
    amount_rain = 25, dry_spell = TRUE, spell_interval = 21, spell_max_dry_days = 9), threshold
    0.85 mm, the whole year searched. R-Instat dates the window's last day, needs a total over
    (not at) 25 mm and counts days in a 366-day year (1 March = 61). Its years with missing
    days (NA there) are left out."""
    expected = {("Agades", 1947): 212, ("Agades", 1950): 231, ("Birni N'Konni", 1946): 156,
                ("Birni N'Konni", 1947): 180, ("Birni N'Konni", 1948): 195, ("Birni N'Konni", 1949): 188,
                ("Birni N'Konni", 1950): 157, ("Niamey_Aero", 1943): 144, ("Niamey_Aero", 1945): 170,
                ("Niamey_Aero", 1946): 166, ("Niamey_Aero", 1947): 166, ("Niamey_Aero", 1948): 160,
                ("Niamey_Aero", 1949): 206, ("Niamey_Aero", 1950): 188, ("Zinder", 1946): 149,
                ("Zinder", 1947): 183, ("Zinder", 1948): 183, ("Zinder", 1949): 203, ("Zinder", 1950): 201}
    rules = load_rules("picsa", {"onset.earliest": "01-01", "onset.latest": "12-31", "onset.accumulation_mm": 25.05,
                                 "onset.accumulation_days": 3, "onset.first_day_wet": False,
                                 "onset.max_dry_spell_days": 9, "onset.lookahead_days": 21,
                                 "onset.date_convention": "window_end"})
    doy = analyse_seasons(rain.sel(time=slice("1940", "1950")), rules)["onset_doy"]
    got = {}
    for st, y in expected:
        d = float(doy.sel(station=st, year=y))
        got[st, y] = d + (1 if d >= 60 else 0)   # sowcast's 365-day calendar: 1 March = 60 in every year
    assert got == {k: float(v) for k, v in expected.items()}
    assert np.isnan(float(doy.sel(station="Agades", year=1948)))  # no row for it in the README either
