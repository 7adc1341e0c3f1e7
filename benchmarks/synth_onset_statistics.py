"""Onset statistics of the synthetic West African monsoon along a meridian.

Prints, for land points at a few latitudes: the Sivakumar (1988) onset (median date,
interquartile range and standard deviation in days, share of years without onset), its
correlation with the May-mean ``ocean_index`` over the Gulf of Guinea (the predictability
hook), the mean annual rain, the share of dry days (< 1 mm) in June-September and the
wet-day mean; then the timing of the little dry season at the southernmost land point.
Where ``../shared/data/real/daily_niger.csv`` exists, the same rain statistics of the
Niamey station (13.5 N, 1940-1980) are printed for comparison. ``--json PATH`` also
writes the 12-14 N onset figures for ``benchmarks/run_all.py``.

    .venv/bin/python benchmarks/synth_onset_statistics.py [--lon -2] [--seed 0] [--json PATH] ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sowcast.atomic import atomic_write_text
from sowcast.data.grid import Grid
from sowcast.data.synthetic_monsoon import sivakumar_onset_doy, synthesize

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "daily_niger.csv"


def _date(doy: float) -> str:
    if not np.isfinite(doy):
        return "-"
    return (pd.Timestamp("2001-01-01") + pd.Timedelta(days=round(doy) - 1)).strftime("%d %b")


def _row(label: str, rain: np.ndarray, dates: pd.DatetimeIndex, index: np.ndarray | None) -> str:
    onset = sivakumar_onset_doy(rain, dates)
    ok = onset[np.isfinite(onset)]
    q25, q50, q75 = np.percentile(ok, [25, 50, 75]) if ok.size else (np.nan,) * 3
    sd = ok.std(ddof=1) if ok.size > 1 else np.nan
    years = pd.Index(dates.year)
    annual = pd.Series(rain, index=years).groupby(level=0).sum().mean()
    jjas = rain[dates.month.isin([6, 7, 8, 9])]
    jjas = jjas[np.isfinite(jjas)]
    wet = rain[rain >= 1.0]
    corr = "-"
    if index is not None:
        both = np.isfinite(onset)
        if both.sum() > 3:
            corr = f"{np.corrcoef(index[both], onset[both])[0, 1]:+.2f}"
    return (f"{label:<14} {_date(q50):>7} {q75 - q25:5.0f} {sd:5.1f} {np.isnan(onset).mean():6.0%} "
            f"{corr:>6} {annual:7.0f} {(jjas < 1).mean():7.0%} {wet.mean():6.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lat-min", type=float, default=-2.0)
    ap.add_argument("--lat-max", type=float, default=24.0)
    ap.add_argument("--lon-min", type=float, default=-20.0)
    ap.add_argument("--lon-max", type=float, default=16.0)
    ap.add_argument("--resolution", type=float, default=1.0)
    ap.add_argument("--start", default="1991-01-01")
    ap.add_argument("--end", default="2010-12-31")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lon", type=float, default=-2.0, help="meridian of the table")
    ap.add_argument("--lats", default="6,8,10,12,14,16", help="comma-separated latitudes")
    ap.add_argument("--json", type=Path, help="also write the 12-14 N onset figures here (for benchmarks/run_all.py)")
    args = ap.parse_args()

    grid = Grid.from_bounds(args.lat_min, args.lat_max, args.lon_min, args.lon_max, args.resolution)
    t = time.perf_counter()
    ds = synthesize(grid, args.start, args.end, seed=args.seed)
    elapsed = time.perf_counter() - t
    dates = pd.DatetimeIndex(ds["time"].values)
    n_years = len(np.unique(dates.year))
    print(f"synthetic monsoon seed {args.seed}, grid {grid.shape[0]}x{grid.shape[1]} at "
          f"{args.resolution:g} deg, {args.start}..{args.end} ({n_years} years): "
          f"synthesised in {elapsed:.1f} s")

    gulf = ds["ocean_index"].sel(lat=slice(-2, 2), lon=slice(-15, 5))
    may = gulf.where(gulf["time"].dt.month == 5).mean(("lat", "lon")).groupby("time.year").mean()
    index = may.values

    lon = float(ds["lon"].sel(lon=args.lon, method="nearest"))
    print(f"\nSivakumar onset (>= 20 mm in 3 days from 1 May, no dry spell > 7 days in 30) at lon {lon:g}")
    print("corr = correlation of onset with the May-mean ocean_index over 2S-2N, 15W-5E")
    print(f"{'point':<14} {'median':>7} {'IQR d':>5} {'sd d':>5} {'none':>6} {'corr':>6} "
          f"{'mm/yr':>7} {'JJAS dry':>7} {'mm/wet':>6}")
    lats = [float(x) for x in args.lats.split(",")]
    for lat in lats:
        pt = ds.sel(lat=lat, lon=lon, method="nearest")
        label = f"{float(pt.lat):g}N"
        if float(pt["land_sea_mask"]) < 0.5:
            print(f"{label:<14} (sea)")
            continue
        print(_row(label, pt["total_precipitation"].values.astype(float), dates, index))

    box = ds["total_precipitation"].sel(lat=slice(12, 14), lon=slice(lon - 2, lon + 2))
    box_onset = sivakumar_onset_doy(box.values, dates)
    regional = np.nanmean(box_onset.reshape(len(box_onset), -1), axis=1)
    ok = np.isfinite(regional)
    print(f"{'12-14N mean':<14} {_date(np.median(regional[ok])):>7} "
          f"{np.subtract(*np.percentile(regional[ok], [75, 25])):5.0f} {regional[ok].std(ddof=1):5.1f} "
          f"{1 - ok.mean():6.0%} {np.corrcoef(index[ok], regional[ok])[0, 1]:+6.2f}   "
          f"(onset averaged over {box.sizes['lat'] * box.sizes['lon']} points, lon {lon - 2:g}..{lon + 2:g})")
    figures = [
        {"figure": f"synthetic 12-14N median onset ({n_years} years)", "value": _date(np.median(regional[ok])),
         "unit": "date"},
        {"figure": "synthetic 12-14N onset sd", "value": float(regional[ok].std(ddof=1)), "unit": "days"},
        {"figure": "synthetic 12-14N onset vs May ocean_index", "value": float(np.corrcoef(index[ok], regional[ok])[0, 1]),
         "unit": "correlation"},
    ]
    if REAL.is_file():
        st = pd.read_csv(REAL, parse_dates=["date"])
        st = st[st["station_name"] == "Niamey_Aero"].set_index("date")["rain"]
        st = st.reindex(pd.date_range(st.index.min(), st.index.max(), freq="D"))
        print(_row("Niamey (obs)", st.values, st.index, None)
              + f"   ({st.index.year.min()}-{st.index.year.max()}, station, not 1-degree)")

    # Little dry season at the southernmost land latitude of the table.
    for lat in lats:
        pt = ds.sel(lat=lat, lon=lon, method="nearest")
        if float(pt["land_sea_mask"]) >= 0.5:
            break
    rain = pt["total_precipitation"].to_series()
    clim = rain.groupby(rain.index.day_of_year).mean().reindex(range(1, 366))
    smooth = pd.Series(np.convolve(np.tile(clim.values, 3), np.ones(31) / 31, "same")[365:730],
                       index=clim.index)
    first = smooth.loc[60:210].idxmax()
    second = smooth.loc[240:330].idxmax()
    low = smooth.loc[first:second].idxmin()
    print(f"\nlittle dry season at {float(pt.lat):g}N {lon:g}E (31-day mean climatology): "
          f"peaks {_date(first)} ({smooth[first]:.1f} mm/d) and {_date(second)} "
          f"({smooth[second]:.1f} mm/d), minimum {_date(low)} ({smooth[low]:.1f} mm/d, "
          f"{smooth[low] / smooth[first]:.0%} of the first peak)")
    if args.json:
        atomic_write_text(args.json, json.dumps({"benchmark": "synth_onset_statistics", "figures": figures,
                                                 "details": {"seed": args.seed, "lon": lon, "start": args.start,
                                                             "end": args.end}}, indent=1))


if __name__ == "__main__":
    main()
