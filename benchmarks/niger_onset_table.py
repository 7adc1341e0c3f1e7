"""Onset, cessation and season length at the four Niger stations (1940-1980) under two rule sets.

Reads ``../shared/data/real/daily_niger.csv`` (rpicsa sample data, Meteo-France records)
through :func:`sowcast.data.stations.read_station_csv`, runs
:func:`sowcast.products.season.analyse_seasons` with ``sivakumar1988`` and
``agrhymet_sahel`` and prints markdown: per station the median onset date, its
interquartile range (days), median cessation, median season length, and the number of
years with an onset and without (none / censored / not_yet / missing) and with a false
start. Medians and IQR are over the years with an onset (ended seasons for cessation and
length); days of year are printed as dates of a non-leap year. ``--years`` adds the station-year table;
``--json PATH`` also writes each station's median onset for ``benchmarks/run_all.py``.

Then every preset against its published definition: :func:`reference_onset` implements each
rule again from its text (plain loops over the CSV's own values, in tenths of mm, nothing
from sowcast), and the table gives the share of comparable station-years where sowcast's
onset is identical (same date, or no onset in both). A station-year is comparable when its
missing days cannot change the published rule's answer: the reference gives the same onset
with every missing day read as dry (0 mm) and as very wet (100 mm).

    .venv/bin/python benchmarks/niger_onset_table.py [--years] [--csv PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.atomic import atomic_write_text
from sowcast.data.stations import read_station_csv
from sowcast.products.onset import ONSET_STATUS
from sowcast.products.season import analyse_seasons

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real" / "daily_niger.csv"
COORDS = ROOT / "data" / "stations" / "niger_stations.csv"
PRESETS = ("sivakumar1988", "agrhymet_sahel")

# The published rules, as read in each preset's yaml: a day is wet if rain >= WET mm; onset =
# the first window of DAYS consecutive days, from 1 May and ending by 30 September, holding
# >= MM mm, dated on its first wet day (or its last day), after which no dry spell is longer
# than MAX_DRY days within the LOOKAHEAD days after the onset date.
PUBLISHED = {  # preset: (WET, DAYS, MM, MAX_DRY, LOOKAHEAD, date)
    "sivakumar1988": (0.1, 3, 20, 7, 30, "first wet day"),   # Sivakumar (1988)
    "agrhymet_sahel": (0.85, 3, 20, 20, 30, "first wet day"),  # AGRHYMET criteria (project values)
    "anacim": (1.0, 3, 20, 6, 21, "first wet day"),          # ENACTS maproom: "no 7-day dry spell"
    "picsa": (0.85, 2, 20, 9, 21, "window end"),             # PICSA tools (rpicsa start_rains)
}


def _date(doy: float) -> str:
    if not np.isfinite(doy):
        return "-"
    return (pd.Timestamp("2001-01-01") + pd.Timedelta(days=round(doy) - 1)).strftime("%d %b")


def _stat(values: np.ndarray, q: float) -> float:
    ok = values[np.isfinite(values)]
    return float(np.percentile(ok, q)) if ok.size else np.nan


def summary(ds: xr.Dataset) -> list[str]:
    """One markdown row per station."""
    rows = []
    for st in ds["station"].values:
        s = ds.sel(station=st)
        onset, status = s["onset_doy"].values, s["onset_status"].values
        counts = {name: int((status == k).sum()) for k, name in enumerate(ONSET_STATUS)}
        iqr = _stat(onset, 75) - _stat(onset, 25)
        rows.append(f"| {st} | {_date(_stat(onset, 50))} | {iqr:.0f} | {_date(_stat(s['cessation_doy'].values, 50))} "
                    f"| {_stat(s['season_length'].values, 50):.0f} | {counts['onset']} | {counts['none']} "
                    f"| {counts['censored']} | {counts['not_yet']} | {counts['missing']} "
                    f"| {int(s['false_start'].sum())} |")
    return rows


def median_onsets(preset: str, ds: xr.Dataset) -> list[dict]:
    """Each station's median onset and its interquartile range, as run_all figures."""
    out = []
    for st in ds["station"].values:
        onset = ds.sel(station=st)["onset_doy"].values
        out.append({"figure": f"{st} median onset, {preset}",
                    "value": f"{_date(_stat(onset, 50))} (IQR {_stat(onset, 75) - _stat(onset, 25):.0f} d)",
                    "unit": "date"})
    return out


def per_year(results: dict[str, xr.Dataset]) -> list[str]:
    """One markdown row per station and year: onset, cessation and length under each preset."""
    def cell(s: xr.Dataset) -> str:
        status = ONSET_STATUS[int(s["onset_status"])]
        if status != "onset":
            return f"{status} | - | -"
        ces = pd.Timestamp(s["cessation"].values)
        length = s["season_length"].values
        return (f"{pd.Timestamp(s['onset'].values):%d %b} | {'-' if pd.isna(ces) else f'{ces:%d %b}'} "
                f"| {'-' if np.isnan(length) else f'{length:.0f}'}")

    first = next(iter(results.values()))
    rows = []
    for st in first["station"].values:
        for y in first["year"].values:
            cells = " | ".join(cell(ds.sel(station=st, year=y)) for ds in results.values())
            rows.append(f"| {st} | {y} | {cells} |")
    return rows


def read_tenths(path: Path) -> dict[str, dict[str, int | None]]:
    """The CSV's rain per station and ISO date, in whole tenths of mm (None = missing)."""
    out: dict[str, dict[str, int | None]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            value = row["rain"].strip()
            out.setdefault(row["station_name"], {})[row["date"]] = round(float(value) * 10) if value else None
    return out


def reference_onset(rain: dict[str, int | None], year: int, rule: tuple, fill: int) -> str | None:
    """The published rule's onset date (ISO) in ``year``, or None; missing days read as ``fill`` tenths."""
    wet_mm, days, mm, max_dry, lookahead, dating = rule
    start = pd.Timestamp(f"{year}-05-01")
    dates = [f"{d:%Y-%m-%d}" for d in pd.date_range(start, f"{year}-12-31")]
    tenths = [fill if rain.get(d) is None else rain[d] for d in dates]
    last_start = (pd.Timestamp(f"{year}-09-30") - start).days - days + 1
    for s in range(last_start + 1):
        window = tenths[s:s + days]
        if sum(window) < mm * 10:
            continue
        wet = [i for i, t in enumerate(window) if t >= wet_mm * 10]
        onset = s + wet[0] if dating == "first wet day" else s + days - 1
        spell = longest = 0
        for t in tenths[onset + 1:onset + 1 + lookahead]:
            spell = spell + 1 if t < wet_mm * 10 else 0
            longest = max(longest, spell)
        if longest <= max_dry:
            return dates[onset]
    return None


def against_definitions(csv_path: Path, rain: xr.DataArray, presets=tuple(PUBLISHED)) -> list[dict]:
    """Per preset: comparable station-years, identical onsets, and the station-years that differ."""
    records = read_tenths(csv_path)
    rows = []
    for preset in presets:
        ds = analyse_seasons(rain, preset)
        comparable, differ = 0, []
        for st in ds["station"].values:
            for y in ds["year"].values:
                ref = reference_onset(records.get(str(st), {}), int(y), PUBLISHED[preset], 0)
                if ref != reference_onset(records.get(str(st), {}), int(y), PUBLISHED[preset], 1000):
                    continue
                comparable += 1
                s = ds.sel(station=st, year=y)
                status = ONSET_STATUS[int(s["onset_status"])]
                got = f"{pd.Timestamp(s['onset'].values):%Y-%m-%d}" if status == "onset" else None
                if got != ref or status not in ("onset", "none"):
                    differ.append(f"{st} {y}: sowcast {got or status}, rule {ref or 'none'}")
        rows.append({"preset": preset, "comparable": comparable, "identical": comparable - len(differ),
                     "differ": differ})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=REAL, help="daily station CSV (default: the Niger sample)")
    ap.add_argument("--years", action="store_true", help="also print the table of every station and year")
    ap.add_argument("--json", type=Path, help="also write the median onsets here (for benchmarks/run_all.py)")
    args = ap.parse_args()
    if not args.csv.is_file():
        raise SystemExit(f"no station CSV at {args.csv}")
    rain = read_station_csv(args.csv, stations=COORDS, variables=["rain"])["total_precipitation"]
    span = f"{pd.Timestamp(rain['time'].values[0]):%Y-%m-%d} to {pd.Timestamp(rain['time'].values[-1]):%Y-%m-%d}"
    results = {}
    for preset in PRESETS:
        start = time.perf_counter()
        results[preset] = analyse_seasons(rain, preset)
        took = time.perf_counter() - start
        print(f"\n### {preset} ({rain.sizes['station']} stations, {span}, {took:.2f} s)\n")
        print("| station | median onset | onset IQR (d) | median cessation | median length (d) | onset | none "
              "| censored | not_yet | missing | false starts |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(summary(results[preset])))
    print("\n### every preset against its published definition (see PUBLISHED)\n")
    print("| preset | comparable station-years | identical onsets | % | wet day, window, dry spell, look-ahead, date |")
    print("|---|---|---|---|---|")
    checks = against_definitions(args.csv, rain)
    for c in checks:
        wet, days, mm, max_dry, ahead, dating = PUBLISHED[c["preset"]]
        print(f"| {c['preset']} | {c['comparable']} | {c['identical']} | {100 * c['identical'] / c['comparable']:.0f} "
              f"| >= {wet} mm, {mm} mm in {days} d, no spell > {max_dry} d in {ahead} d, {dating} |")
    for c in checks:
        for line in c["differ"]:
            print(f"- {c['preset']}: {line}")
    if args.years:
        print("\n### every station and year (onset | cessation | length per preset)\n")
        heads = " | ".join(f"{p} onset | cessation | length" for p in PRESETS)
        print(f"| station | year | {heads} |")
        print("|---|---|" + "---|" * 3 * len(PRESETS))
        print("\n".join(per_year(results)))
    if args.json:
        figures = [f for preset, ds in results.items() for f in median_onsets(preset, ds)]
        figures += [{"figure": f"identical onsets vs the published rule, {c['preset']} ({c['comparable']} "
                               "station-years)", "value": round(100 * c["identical"] / c["comparable"], 1), "unit": "%"}
                    for c in checks]
        atomic_write_text(args.json, json.dumps({"benchmark": "niger_onset_table", "figures": figures,
                                                 "details": {"csv": str(args.csv), "span": span}}, indent=1))


if __name__ == "__main__":
    main()
