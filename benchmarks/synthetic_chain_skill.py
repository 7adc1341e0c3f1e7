"""Skill of the whole chain on the synthetic monsoon, beside the climatology baseline.

A model trained on early years (give its bundle: ``sowcast train`` on the demo store, then
``sowcast export``), then, with the real commands:

1. ``sowcast hindcast`` over the bundle's training years (start dates ``--first`` to
   ``--last`` every 7 days, ``--train-members`` members): the model climatology
   (``climatology.nc``, added to a copy of the bundle);
2. ``sowcast hindcast`` again over the held-out years (``--test-members`` members, daily
   series kept): the reforecasts;
3. ``sowcast calibrate`` on the training-year hindcasts (terciles, daily rain, onset);
4. ``sowcast verify`` of the reforecasts against the synthetic truth (the demo store), raw
   and calibrated.

Prints RPSS and Brier skill (above and below normal) of weekly rain terciles at weeks 1, 2,
3-4 and 5-6 (reference: the categories' climatological frequencies; outside the dry season), the spread-skill ratio,
and the onset MAE beside the climatological onset. Both hindcast runs are resumable: run
the same command again after an interruption.

    .venv/bin/python benchmarks/synthetic_chain_skill.py --bundle /tmp/demo_bundle --work /tmp/chain
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from sowcast.bundle.reader import load_bundle
from sowcast.cli import calibrate_command, hindcast_command, verify_command
from sowcast.cli.main import compose
from sowcast.forecast.hindcast import bundle_training_years

ROWS = [("rpss", "RPSS"), ("bss_above", "BSS above"), ("bss_below", "BSS below"),
        ("roc_area_above", "ROC area above"), ("spread_skill", "spread/skill"), ("acc", "ACC")]
PERIODS = ["week1", "week2", "weeks3-4", "weeks5-6"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="bundle folder of a model trained on early years")
    parser.add_argument("--store", default="data/demo/demo.zarr", help="canonical store: analyses and truth")
    parser.add_argument("--work", default="/tmp/sowcast_chain", help="working folder (resumable)")
    parser.add_argument("--test-years", default="2007,2010")
    parser.add_argument("--first", default="04-01")
    parser.add_argument("--last", default="09-30")
    parser.add_argument("--train-years", default=None,
                        help="first,last year of the training-year hindcasts (default: the bundle's training years)")
    parser.add_argument("--train-members", type=int, default=4)
    parser.add_argument("--test-members", type=int, default=8)
    parser.add_argument("--rules", default="sivakumar1988")
    parser.add_argument("--onset-region", default="8,16,-18,16", help="lat_min,lat_max,lon_min,lon_max")
    args = parser.parse_args()

    train = bundle_training_years(load_bundle(args.bundle))
    first_test, last_test = (int(y) for y in args.test_years.split(","))
    if train[0] <= last_test and first_test <= train[1]:
        raise SystemExit(f"--test-years {args.test_years} overlap the model's training years {train[0]}-{train[1]}: "
                         "score on held-out years only")
    work = Path(args.work)
    bundle = work / "bundle"
    if not bundle.exists():
        work.mkdir(parents=True, exist_ok=True)
        shutil.copytree(args.bundle, bundle)
    print(f"model trained on {train[0]}-{train[1]}; held-out years {args.test_years}", flush=True)
    t0 = time.perf_counter()
    common = [f"hindcast.bundle={bundle}", f"hindcast.store={args.store}", f"hindcast.first={args.first}",
              f"hindcast.last={args.last}", "hindcast.every_days=7"]
    train_years = [f"hindcast.years=[{args.train_years}]"] if args.train_years else []
    hindcast_command.run(compose([*common, *train_years, f"hindcast.members={args.train_members}",
                                  f"hindcast.output={work / 'hc_train'}", "hindcast.keep_daily=true"]))
    t1 = time.perf_counter()
    hindcast_command.run(compose([*common, f"hindcast.years=[{args.test_years}]",
                                  f"hindcast.members={args.test_members}", "hindcast.keep_daily=true",
                                  "hindcast.climatology.build=false", f"hindcast.output={work / 'hc_test'}"]))
    t2 = time.perf_counter()
    calibration = work / "hc_train" / "calibration.nc"
    if not calibration.exists():
        calibrate_command.run(compose([f"calibrate.hindcast={work / 'hc_train'}", f"calibrate.store={args.store}",
                                       f"calibrate.rules={args.rules}", f"calibrate.onset_region=[{args.onset_region}]",
                                       "calibrate.add_to_bundle=false"]))
    t_cal = time.perf_counter()
    verify_command.run(compose([f"verify.hindcast={work / 'hc_test'}", f"verify.truth={args.store}",
                                f"verify.climatology={work / 'hc_train' / 'climatology.nc'}",
                                f"verify.calibration={calibration}",
                                f"verify.rules={args.rules}", f"verify.onset_region=[{args.onset_region}]",
                                f"verify.output={work / 'scorecard'}"]))
    t3 = time.perf_counter()

    scores = pd.read_csv(work / "scorecard" / "scores.csv")
    summary = json.loads((work / "scorecard" / "summary.json").read_text())
    rain = scores[scores.variable == "total_precipitation"].set_index(["metric", "period"])
    print(f"\nweekly rain terciles, {summary['starts']} starts x {summary['members']} members, "
          f"years {summary['years']} (reference: climatology, skill 0; rain outside the dry season)")
    print("| score | " + " | ".join(PERIODS) + " |")
    print("|---|" + "---|" * len(PERIODS))
    for metric, label in ROWS:
        cells = [_with_interval(rain.loc[(metric, p)]) for p in PERIODS]
        print(f"| {label} | " + " | ".join(cells) + " |")
        if (f"{metric}_calibrated", PERIODS[0]) in rain.index:
            cells = [_with_interval(rain.loc[(f'{metric}_calibrated', p)]) for p in PERIODS]
            print(f"| {label}, calibrated | " + " | ".join(cells) + " |")
    print("| bias of the period's rain total, mm (climatology's RMSE) | " + " | ".join(
        f"{rain.loc[('bias', p), 'value']:+.2f} ({rain.loc[('bias', p), 'reference']:.2f})" for p in PERIODS) + " |")
    for metric, label in (("rpss", "RPSS"), ("rpss_calibrated", "RPSS, calibrated"), ("spread_skill", "spread/skill"),
                          ("bias", "bias, K")):
        t2m = scores[(scores.variable == "2m_temperature") & (scores.metric == metric)].set_index("period")
        if len(t2m):
            print(f"| 2 m temperature {label} | " + " | ".join(f"{t2m.loc[p, 'value']:+.3f}" for p in PERIODS) + " |")
    onset = scores[scores.period == "onset"].set_index("metric")
    print(f"\nonset ({summary['rules']}, {int(onset.loc['onset_mae_days', 'n'])} cases: grid point x start "
          f"before the observed onset)")
    for metric in ("onset_mae_days", "onset_bias_days", "onset_mean_bias_days", "onset_hit_rate_7d"):
        for name in (metric, f"{metric}_calibrated"):
            if name in onset.index:
                print(f"  {name:<31} forecast {onset.loc[name, 'value']:7.2f} {_interval(onset.loc[name])}  "
                      f"climatology {onset.loc[name, 'reference']:7.2f}")
    for suffix in ("", "_calibrated"):
        brier = scores[scores.metric == f"onset_by_week_brier{suffix}"].set_index("period")
        print(f"  Brier 'onset by week k'{suffix.replace('_', ', ')} (forecast/climatology): " + "  ".join(
            f"{p} {brier.loc[p, 'value']:.3f}/{brier.loc[p, 'reference']:.3f}" for p in brier.index))
    print(f"\ntimes: training-year hindcasts {t1 - t0:.0f} s, reforecasts {t2 - t1:.0f} s, calibrate "
          f"{t_cal - t2:.0f} s, verify {t3 - t_cal:.0f} s")


def _interval(row: pd.Series, digits: int = 2) -> str:
    """``(low..high)``: the value's 90 % interval over the years (sowcast.verify.resampling), if any."""
    low, high = (row.get(c, float("nan")) for c in ("low", "high"))
    return f"({low:+.{digits}f}..{high:+.{digits}f})" if pd.notna(low) and pd.notna(high) else ""


def _with_interval(row: pd.Series) -> str:
    return f"{row['value']:+.3f} {_interval(row, 3)}".strip()


if __name__ == "__main__":
    main()
