"""Why the members' onsets come early: the steps of the onset rule, members against the truth.

For each start of a hindcast folder with daily series (``hindcast.keep_daily=true``) and each
point of ``--region`` whose season has no onset yet at the start, the season is analysed as
``sowcast verify`` does (:func:`sowcast.verify.reforecasts.onset_cases`): the truth up to the
start joined to each member's 46 days, and the truth itself cut at the same last day, so that
both see the same window. Per start day (averaged over years, points and members) it prints
how often the rule's rain condition (Sivakumar 1988: 20 mm in 3 days) is met after the start
and how many days in, how often the season holds a false start (the rain condition met, then
a dry spell over 7 days within 30 days), and how often and when an onset is confirmed inside
the window. The onset climatology and the rules are the verification's
(``sowcast.products.season``).

    .venv/bin/python benchmarks/onset_mechanics.py --hindcast /tmp/chain/hc_train \\
        --truth data/demo/demo.zarr --climatology /tmp/chain/hc_train/climatology.nc
"""

from __future__ import annotations

import argparse
import warnings
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

RAIN = "total_precipitation"


def window_seasons(obs: xr.DataArray, daily: xr.DataArray, start: pd.Timestamp, rules):
    """Season of ``start``'s year: so far (truth to the start), the truth to the forecast's last
    day and each member (truth to the start + forecast), over the ``point`` dim."""
    from sowcast.products.season import analyse_seasons
    from sowcast.verify.reforecasts import _season_of

    year = start.year
    before = obs.sel(time=slice(pd.Timestamp(year, 1, 1), start))
    lead = daily["lead_day"].values
    fc = daily.rename(lead_day="time").assign_coords(time=np.asarray(start + pd.to_timedelta(lead, "D")))
    end = start + pd.Timedelta(days=int(lead.max()))
    joined = xr.concat([before.expand_dims(member=fc.member.values), fc.transpose("member", "time", "point")],
                       dim="time", coords="minimal", compat="override")
    return (_season_of(analyse_seasons(before, rules), year),
            _season_of(analyse_seasons(obs.sel(time=slice(pd.Timestamp(year, 1, 1), end)), rules), year),
            _season_of(analyse_seasons(joined.transpose("member", "point", "time"), rules), year))


def _lead(dates: xr.DataArray, start: pd.Timestamp) -> np.ndarray:
    """Days from ``start`` to ``dates`` (NaN for NaT or a date on or before the start)."""
    v = dates.values.astype("datetime64[ns]")
    days = (v - np.datetime64(start)) / np.timedelta64(1, "D")
    return np.where(np.isnat(v) | (days <= 0), np.nan, days)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hindcast", required=True, type=Path, help="hindcast folder with daily series")
    parser.add_argument("--truth", required=True, type=Path, help="the canonical store")
    parser.add_argument("--climatology", required=True, type=Path, help="climatology.nc of the hindcasts")
    parser.add_argument("--region", type=float, nargs=4, default=[8, 16, -18, 16],
                        metavar=("LAT_MIN", "LAT_MAX", "LON_MIN", "LON_MAX"))
    parser.add_argument("--rules", default="sivakumar1988")
    args = parser.parse_args()

    from sowcast.products.season_rules import load_rules
    from sowcast.verify import stage
    from sowcast.verify.options import VerifyOptions
    from sowcast.verify.reforecasts import _points, _region_mask

    from sowcast.errors import SowcastError

    try:
        inputs = stage._read_inputs(VerifyOptions.from_config(
            {"hindcast": args.hindcast, "truth": args.truth, "climatology": args.climatology}))
    except SowcastError as exc:
        sys.exit(f"onset_mechanics: {exc}")
    rules = load_rules(args.rules)
    warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)  # a start with no such date
    mask = _region_mask(inputs.daily.lat.values, inputs.daily.lon.values, tuple(args.region), inputs.land)
    obs = _points(inputs.truth_daily[RAIN], mask).load()
    rows = []
    for start in pd.DatetimeIndex(inputs.daily["start"].values):
        daily = _points(inputs.daily[RAIN].sel(start=start), mask)
        so_far, truth, members = window_seasons(obs, daily, start, rules)
        open_ = (so_far["onset_status"] != 0).values
        if not open_.any():
            continue
        pick = lambda ds, name: ds[name].isel(point=np.flatnonzero(open_))  # noqa: E731
        row = {"start": start.strftime("%m-%d"), "points": int(open_.sum())}
        for who, ds in (("truth", truth), ("members", members)):
            rc = _lead(pick(ds, "rain_condition_date"), start)
            onset = pick(ds, "onset_status").values == 0
            row |= {f"rain condition {who}": np.isfinite(rc).mean(), f"its day {who}": np.nanmean(rc),
                    f"false start {who}": pick(ds, "false_start").values.mean(),
                    f"onset {who}": onset.mean(), f"onset day {who}": np.nanmean(_lead(pick(ds, "onset"), start))}
        rows.append(row)
    if not rows:
        sys.exit("no start has a point without an onset yet")
    table = pd.DataFrame(rows).groupby("start").mean(numeric_only=True)
    print(f"{args.hindcast}: {inputs.daily.sizes['start']} starts x {inputs.daily.sizes['member']} members, "
          f"region {args.region}, rules {args.rules}; per start day, points without an onset at the start")
    print("rain condition: met after the start in the 46 days (share; its day: days in); false start: the "
          "season holds one; onset: confirmed inside the window (share; its day)")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
