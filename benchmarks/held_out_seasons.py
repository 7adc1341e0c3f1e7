"""The demo's model scored on many held-out seasons: its synthetic climate run on beyond the demo.

The demo holds out two years, and two years cannot tell a model's systematic error from the
years' own: 2009 and 2010 of the synthetic monsoon are late, so even the usual onset date is
days early there. The synthetic monsoon is prefix-stable (:mod:`sowcast.data.synthetic_monsoon`):
the same seed run to a later end gives the demo's years bit for bit, then more years of the
same climate, none of which the model saw. With the real commands and the settings the demo
ran with (``ROOT/.stamps``):

1. ``sowcast data synth`` with ``data.synth.end`` moved to ``--to``, into ``WORK/raw``, and
   ``sowcast data ingest`` into ``WORK/truth.zarr`` (the training years' statistics period);
   the demo's years are checked to be identical in both stores;
2. ``sowcast hindcast`` with the demo's reforecast settings over its first reforecast year to
   ``--to`` (``WORK/reforecasts``; resumable: run the same command again after a stop);
3. ``sowcast verify`` with the demo's climatology, calibration, rules and onset region
   (``WORK/scorecard``; the onset climatology cross-validated, every other year of the truth).

Then, by year, how late the truth's rains came over the onset region (the mean onset day of
its land points minus that of the other years) beside the raw onset's bias that year
(``scores_by_year.csv``), and over all years the raw and calibrated scores with their 90 %
intervals, beside the climatology's. The model, its climatology and calibration are not
changed: only the years scored are more.

    .venv/bin/python benchmarks/held_out_seasons.py --root /tmp/demo --to 2040 --work /tmp/held_out

32 seasons (2009-2040) of 8 starts x 4 members took 9 minutes of hindcasts and 10-15 of verify
on 2 cores (2026-12-07; README, "What skill to expect, on 32 held-out seasons").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

RAIN = "total_precipitation"


def stamp(root: Path, step: str) -> dict:
    path = root / ".stamps" / f"{step}.json"
    if not path.is_file():
        sys.exit(f"no {path}: --root must be a finished 'sowcast demo' root")
    return json.loads(path.read_text())["config"]


def configured(settings: dict, changes: dict):
    """The package's config with a demo step's settings (``{"data.synth": {...}}`` etc.) and
    ``changes`` (dotted keys) set over it."""
    from sowcast.cli.main import compose

    cfg = compose(["progress=false"])
    for key, value in {**settings, **changes}.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def make_truth(root: Path, work: Path, last_year: int) -> Path:
    """The demo's synthetic climate to ``last_year`` (steps 1 of the module doc), checked."""
    import xarray as xr

    from sowcast.cli import data_commands

    store = work / "truth.zarr"
    if not store.exists():
        data_commands.synth(configured(stamp(root, "synthesise"), {
            "data.synth.end": f"{last_year}-12-31", "data.synth.output": str(work / "raw"), "overwrite": True}))
        data_commands.ingest(configured(stamp(root, "ingest"), {
            "data.ingest.sources": [str(work / "raw" / "*.nc")], "data.store": str(store)}))
    demo = xr.open_zarr(stamp(root, "ingest")["data.store"])
    longer = xr.open_zarr(store)
    for name, var in demo.data_vars.items():
        if "time" in var.dims and not np.array_equal(var.values, longer[name].sel(time=demo.time).values,
                                                     equal_nan=True):
            sys.exit(f"{store}: {name} differs from the demo's store on the demo's years: not the same climate")
    years = demo.time.dt.year.values
    print(f"{store}: the demo's years {years.min()}-{years.max()} identical, then to {last_year}", flush=True)
    return store


def truth_lateness(truth: Path, region, rules_name: str, years: list[int]) -> pd.Series:
    """Per scored year, the mean onset day over the region's land points (the verification's
    points) minus the other years' mean (days; > 0: late)."""
    from sowcast.products.daily import read_truth_daily
    from sowcast.products.onset_climatology import past_onset_doy
    from sowcast.products.season_rules import load_rules
    from sowcast.verify.reforecasts import _points, _region_mask

    rain, land = read_truth_daily(truth, [RAIN])
    rain = rain[RAIN]
    points = _points(rain, _region_mask(rain.lat.values, rain.lon.values, region, land)).load()
    by_year = past_onset_doy(points, load_rules(rules_name)).mean("point").to_series()
    return pd.Series({y: by_year[y] - by_year.drop(y).mean() for y in years})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="a finished 'sowcast demo' root")
    parser.add_argument("--to", required=True, type=int, help="the last held-out year (after the demo's end)")
    parser.add_argument("--work", required=True, type=Path, help="working folder (resumable)")
    parser.add_argument("--members", type=int, default=None, help="reforecast members (default: the demo's)")
    args = parser.parse_args()
    from sowcast.cli import hindcast_command, verify_command

    root, work = args.root.resolve(), args.work.resolve()
    demo_end = pd.Timestamp(str(stamp(root, "synthesise")["data.synth"]["end"])).year
    if args.to <= demo_end:
        sys.exit(f"--to {args.to}: give a year after the demo's last, {demo_end}")
    work.mkdir(parents=True, exist_ok=True)
    truth = make_truth(root, work, args.to)

    reforecast = stamp(root, "reforecast")
    first = int(reforecast["hindcast"]["years"][0])
    members = args.members or int(reforecast["hindcast"]["members"])
    hindcast_command.run(configured(reforecast, {
        "hindcast.store": str(truth), "hindcast.years": [first, args.to], "hindcast.members": members,
        "hindcast.output": str(work / "reforecasts")}))

    verify = stamp(root, "verify")
    verify_command.run(configured(verify, {"verify.hindcast": str(work / "reforecasts"), "verify.truth": str(truth),
                                           "verify.output": str(work / "scorecard"), "verify.bundle": None,
                                           "overwrite": True}))

    years = list(range(first, args.to + 1))
    region = verify["verify"]["onset_region"]
    late = truth_lateness(truth, region, verify["verify"]["rules"], years)
    by_year = pd.read_csv(work / "scorecard" / "scores_by_year.csv")
    bias = by_year[by_year.metric.isin(["onset_bias_days", "onset_mean_bias_days"])].pivot(
        index="year", columns="metric", values="value")
    table = pd.DataFrame({"rains later than the other years (days)": late,
                          "raw onset bias, median date": bias["onset_bias_days"],
                          "raw onset bias, mean date": bias["onset_mean_bias_days"]}).round(1)
    print(f"\nonset region {region}, {verify['verify']['rules']}; by year:\n{table.to_string()}")
    r = np.corrcoef(table.iloc[:, 0], table.iloc[:, 2])[0, 1]
    print(f"correlation of the years' lateness with the raw mean date's bias: {r:+.2f} over {len(years)} years")

    scores = pd.read_csv(work / "scorecard" / "scores.csv")
    print(f"\n{len(years)} held-out seasons {first}-{args.to}, {members} members:")
    for metric in ("onset_mae_days", "onset_bias_days", "onset_mean_bias_days",
                   "onset_mae_days_calibrated", "onset_bias_days_calibrated", "onset_mean_bias_days_calibrated"):
        row = scores[(scores.metric == metric) & (scores.period == "onset")].iloc[0]
        print(f"  {metric:34s} {row.value:+6.1f} ({row.low:+.1f}..{row.high:+.1f}); climatology {row.reference:+.1f}")
    for metric in ("rpss", "rpss_calibrated", "spread_skill"):
        rows = scores[(scores.metric == metric) & (scores.variable == RAIN)
                      & scores.period.isin(["week1", "week2", "weeks3-4", "weeks5-6"])]
        print(f"  weekly rain {metric:22s} " + "  ".join(f"{r.period} {r.value:+.3f} ({r.low:+.3f}..{r.high:+.3f})"
                                                        for r in rows.itertuples()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
