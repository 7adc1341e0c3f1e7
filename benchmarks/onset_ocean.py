"""Do the forecast onsets follow the ocean? The synthetic monsoon's designed onset signal, truth and members.

The synthetic monsoon delays the rain band's march by 12 days per K of the Gulf of Guinea's
lagged SST anomaly (``sowcast.data.synthetic_monsoon``: ``D(t) = DELAY_PER_K a1_lag(t) + ...``),
so a warm spring means a late onset. This script measures that signal in the truth and asks
whether the forecasts carry it:

1. the truth, every year of the store: the mean onset day (``--rules``, points of ``--region``
   with an onset) against the ocean index averaged over ``--ocean-box`` and ``--ocean-months``;
   the correlation and the regression slope (days per K);
2. the hindcasts (a folder with daily series, as ``sowcast verify`` reads it): per year, over
   the starts up to ``--until`` and the points without an onset at the start (the cases
   ``sowcast verify`` scores, :func:`sowcast.verify.reforecasts.onset_cases`), the observed and
   the forecast onset minus the climatological onset, and the slope of each on the ocean index.
   A model that carries the ocean's delay has a forecast slope near the observed one; one that
   does not has a forecast anomaly that is the same every year (its bias).

    .venv/bin/python benchmarks/onset_ocean.py --hindcast data/demo/reforecasts \\
        --truth data/demo/demo.zarr --climatology data/demo/hindcast/climatology.nc

Scored over more held-out years: the synthetic monsoon's days do not depend on the requested
period, so a store synthesised to 2016 (``sowcast data synth data.synth.end=2016-12-31``, then
``sowcast data ingest`` with the demo's statistics period) holds the demo's 1991-2010 unchanged
and eight held-out seasons for ``sowcast hindcast hindcast.years=[2009,2016]``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

RAIN = "total_precipitation"


def slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(least-squares slope of ``y`` on ``x``, correlation); NaN with fewer than 3 years."""
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan"), float("nan")
    return float(np.polyfit(x, y, 1)[0]), float(np.corrcoef(x, y)[0, 1])


def ocean_by_year(store: xr.Dataset, box: list[float], months: tuple[int, int]) -> pd.Series:
    """The ocean index over ``box`` (lat_min lat_max lon_min lon_max) averaged over ``months`` of each year."""
    oi = store["ocean_index"].sel(lat=slice(box[0], box[1]), lon=slice(box[2], box[3])).mean(["lat", "lon"])
    oi = oi.where(oi.time.dt.month.isin(list(range(months[0], months[1] + 1))), drop=True)
    return oi.groupby("time.year").mean().to_series()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hindcast", required=True, type=Path, help="hindcast folder with daily series")
    parser.add_argument("--truth", required=True, type=Path, help="the canonical store (with ocean_index)")
    parser.add_argument("--climatology", required=True, type=Path, help="climatology.nc of the training-year hindcasts")
    parser.add_argument("--region", type=float, nargs=4, default=[10, 16, -18, 16],
                        metavar=("LAT_MIN", "LAT_MAX", "LON_MIN", "LON_MAX"))
    parser.add_argument("--ocean-box", type=float, nargs=4, default=[-1, 1, -12, -8],
                        metavar=("LAT_MIN", "LAT_MAX", "LON_MIN", "LON_MAX"),
                        help="where the ocean index is averaged (default: the Gulf of Guinea mode's centre)")
    parser.add_argument("--ocean-months", default="3-5", help="FIRST-LAST month of the average (default March-May)")
    parser.add_argument("--until", default="05-15", help="starts up to this day of the year (MM-DD)")
    parser.add_argument("--rules", default="sivakumar1988")
    args = parser.parse_args()

    from sowcast.errors import SowcastError
    from sowcast.products.season import analyse_seasons
    from sowcast.products.season_rules import load_rules
    from sowcast.verify import stage
    from sowcast.verify.options import VerifyOptions
    from sowcast.verify.reforecasts import OnsetSetup, _points, _region_mask, onset_cases

    first, _, last = args.ocean_months.partition("-")
    months = (int(first), int(last or first))
    try:
        inputs = stage._read_inputs(VerifyOptions.from_config(
            {"hindcast": args.hindcast, "truth": args.truth, "climatology": args.climatology}))
        store = xr.open_zarr(args.truth)
        if "ocean_index" not in store:
            raise SowcastError(f"{args.truth} has no ocean_index (a synthetic monsoon store has)")
    except SowcastError as exc:
        sys.exit(f"onset_ocean: {exc}")
    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
    rules = load_rules(args.rules)
    ocean = ocean_by_year(store, args.ocean_box, months)
    rain = inputs.truth_daily[RAIN]

    # 1. The truth, every year.
    mask = _region_mask(rain.lat.values, rain.lon.values, tuple(args.region), inputs.land)
    seasons = analyse_seasons(_points(rain, mask).load(), rules)
    onset = seasons["onset_doy"].where(seasons["onset_status"] == 0).mean("point").to_series()
    years = onset.index.intersection(ocean.index)
    b, r = slope(ocean[years].values, onset[years].values)
    print(f"truth {args.truth}, region {args.region}, ocean index over {args.ocean_box}, months {months[0]}-{months[1]}")
    print(f"  every year {years.min()}-{years.max()}: onset day of year against the ocean index: "
          f"slope {b:+.1f} days/K, r {r:+.2f} ({len(years)} years)")

    # 2. The hindcasts' cases.
    starts = pd.DatetimeIndex(inputs.daily["start"].values)
    past = stage.onset_history(rain, starts)
    held = rain.sel(time=rain.time.dt.year.isin(sorted(set(starts.year))))
    cases = onset_cases(inputs.daily, held, past, OnsetSetup(rules, tuple(args.region)), land=inputs.land)
    df = cases[["observed", "forecast", "climatology"]].to_dataframe().reset_index()
    df = df.dropna(subset=["observed", "forecast", "climatology"])
    df = df[pd.DatetimeIndex(df["start"]).strftime("%m-%d") <= args.until]
    if df.empty:
        sys.exit(f"onset_ocean: no case with a start up to {args.until}")
    df["year"] = pd.DatetimeIndex(df["start"]).year
    per_year = df.groupby("year").agg(cases=("observed", "size"),
                                      observed=("observed", "mean"), forecast=("forecast", "mean"),
                                      climatology=("climatology", "mean"))
    table = pd.DataFrame({"cases": per_year["cases"],
                          "observed - clim": per_year["observed"] - per_year["climatology"],
                          "forecast - clim": per_year["forecast"] - per_year["climatology"],
                          "ocean index (K)": ocean.reindex(per_year.index)})
    past_years = sorted(set(past.time.dt.year.values))
    print(f"  onset climatology from {past_years[0]}-{past_years[-1]}: mean onset day {onset.reindex(past_years).mean():.1f}, "
          f"ocean {ocean.reindex(past_years).mean():+.2f} K; hindcast years: onset {onset.reindex(per_year.index).mean():.1f}, "
          f"ocean {ocean.reindex(per_year.index).mean():+.2f} K")
    print(f"hindcasts {args.hindcast}: starts up to {args.until}, points without an onset at the start; days")
    with pd.option_context("display.width", 200):
        print(table.round(2).to_string())
    x = table["ocean index (K)"].values
    b_obs, r_obs = slope(x, table["observed - clim"].values)
    b_fc, r_fc = slope(x, table["forecast - clim"].values)
    _, r_both = slope(table["observed - clim"].values, table["forecast - clim"].values)
    print(f"  on the ocean index: observed {b_obs:+.1f} days/K (r {r_obs:+.2f}), forecast {b_fc:+.1f} days/K "
          f"(r {r_fc:+.2f}); forecast against observed anomaly r {r_both:+.2f}; mean forecast - observed "
          f"{(table['forecast - clim'] - table['observed - clim']).mean():+.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
