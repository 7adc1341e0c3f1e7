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

    .venv/bin/python benchmarks/niger_onset_table.py [--years] [--csv PATH] [--json PATH]
"""

from __future__ import annotations

import argparse
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
    if args.years:
        print("\n### every station and year (onset | cessation | length per preset)\n")
        heads = " | ".join(f"{p} onset | cessation | length" for p in PRESETS)
        print(f"| station | year | {heads} |")
        print("|---|---|" + "---|" * 3 * len(PRESETS))
        print("\n".join(per_year(results)))
    if args.json:
        figures = [f for preset, ds in results.items() for f in median_onsets(preset, ds)]
        atomic_write_text(args.json, json.dumps({"benchmark": "niger_onset_table", "figures": figures,
                                                 "details": {"csv": str(args.csv), "span": span}}, indent=1))


if __name__ == "__main__":
    main()
