"""How often does the planting advice flip between two independent runs of the same start?

For each start, two ensemble forecasts of the demo's bundle are made with different seeds
(``forecast.noise_seed`` and ``forecast.perturbation.seed``: run A seeds 101, run B seeds
202), each with the largest ensemble size asked for. Members are independent draws (member
m's noise comes from ``default_rng([noise_seed, t, m, k, ...])``, its perturbation from
``default_rng([seed, m])``), so the n-member runs compared are disjoint blocks of n members
of A and of B: block j of A against block j of B (32 members: one pair per start and
location, 16: two, 8: four). Each block gets the planting outlook the products step makes
(:func:`sowcast.products.planting.planting_outlook`: the demo store's observed rain up to the
start, then each member; the bundle's calibration.nc; the demo locations; the default rule
and thresholds).

Printed per ensemble size: the number of compared pairs (start x location x block), the
share whose advice code differs (``flip``), the share where one says "plant now" and the
other does not (``plant flip``), and the mean absolute difference of the probability the
advice rests on, in percentage points.

Measured 2026-12-03 on the demo bundle (small stochastic model), 6 starts (1, 15, 29 May and
12 June 2009, 15 and 29 May 2010) x 11 locations:

    | members | pairs | flip | plant flip | mean abs diff (pp) |
    | 8       | 264   | 8%   | 4%         | 5.4                |
    | 16      | 132   | 6%   | 2%         | 4.1                |
    | 32      | 66    | 2%   | 0%         | 1.8                |

    nice .venv/bin/python benchmarks/advice_flip.py                  # the 6 starts above, sizes 8 16 32
    nice .venv/bin/python benchmarks/advice_flip.py --starts 2009-05-15 --sizes 8 16
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
RAIN = "total_precipitation"
SEEDS = (101, 202)


def forecast(bundle: Path, store: Path, start: str, members: int, seed: int, output: Path, threads: int) -> Path:
    """One ensemble forecast (46 days) of ``members`` members with noise and perturbation seed ``seed``."""
    from sowcast.forecast.engine import ForecastOptions, run_forecast

    options = ForecastOptions.from_config({
        "bundle": str(bundle), "init": str(store), "init_time": start, "output": str(output), "lead": "46D",
        "members": members, "noise_seed": seed, "perturbation": {"scale": 0.5, "length_scale": 3.0, "seed": seed},
        "threads": threads, "batch": 8})
    run_forecast(options, overwrite=True, progress=False, log=lambda _m: None)
    return output


def daily_rain(path: Path, calibration: xr.Dataset | None, issue: pd.Timestamp) -> xr.DataArray:
    """The forecast's daily rain, mapped as the products step maps it when the calibration has it."""
    from sowcast.products.daily import forecast_daily

    fc = xr.open_zarr(path, consolidated=False)
    rain = forecast_daily(fc, [RAIN])[RAIN].load()
    if calibration is not None and "daily_rain_model_quantiles" in calibration:
        from sowcast.calibrate.daily_rain import map_daily_rain

        rain = map_daily_rain(rain, calibration.assign_coords(lat=rain["lat"].values, lon=rain["lon"].values), issue)
    return rain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(ROOT / "data/demo/bundle/small"))
    ap.add_argument("--store", default=str(ROOT / "data/demo/demo.zarr"))
    ap.add_argument("--locations", default=str(ROOT / "data/locations/west_africa_demo.csv"))
    ap.add_argument("--starts", nargs="+", default=["2009-05-01", "2009-05-15", "2009-05-29", "2009-06-12",
                                                    "2010-05-15", "2010-05-29"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[8, 16, 32])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from sowcast.bundle.reader import load_bundle
    from sowcast.calibrate.calibration import read_calibration
    from sowcast.data.store import open_store
    from sowcast.products.daily import store_daily
    from sowcast.products.locations import extract, read_locations
    from sowcast.products.planting import ADVICE_CODES, planting_outlook
    from sowcast.products.season_rules import load_rules

    sizes = sorted(set(args.sizes))
    largest = sizes[-1]
    if any(largest % n for n in sizes):
        raise SystemExit(f"every size must divide the largest ({largest}): {sizes}")
    bundle = load_bundle(args.bundle)
    calibration = read_calibration(bundle.calibration_path) if getattr(bundle, "calibration_path", None) else None
    rules = load_rules("sivakumar1988")
    locations = read_locations(args.locations)
    observed = store_daily(open_store(args.store, chunks=None)[[RAIN]])[RAIN].load()
    obs_loc = extract(locations, observed)

    codes: dict[int, list[tuple[str, str]]] = {n: [] for n in sizes}
    diffs: dict[int, list[float]] = {n: [] for n in sizes}
    work = Path(tempfile.mkdtemp(prefix="advice_flip_"))
    t0 = time.perf_counter()
    try:
        for start in args.starts:
            issue = pd.Timestamp(start)
            runs = [daily_rain(forecast(Path(args.bundle), Path(args.store), start, largest, seed,
                                        work / f"{start}_{seed}.zarr", args.threads), calibration, issue)
                    for seed in SEEDS]
            history = obs_loc
            for n in sizes:
                for j in range(largest // n):
                    advice = []
                    for rain in runs:
                        block = rain.isel(member=slice(j * n, (j + 1) * n))
                        out = planting_outlook(obs_loc.sel(time=slice(None, issue)), extract(locations, block), issue,
                                               rules, history=history, calibration=calibration)
                        advice.append(([ADVICE_CODES[int(c)] for c in out["advice"].values],
                                       out["advice_probability"].values.astype(float)))
                    (ca, pa), (cb, pb) = advice
                    codes[n].extend(zip(ca, cb, strict=True))
                    diffs[n].extend(np.abs(pa - pb)[np.isfinite(pa) & np.isfinite(pb)].tolist())
            print(f"start {start} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nAdvice flips between two independent runs: {len(args.starts)} starts ({', '.join(args.starts)}), "
          f"{len(locations)} locations, bundle {Path(args.bundle).name}\n")
    print("| members | pairs | flip | plant flip | mean abs diff of advice probability (pp) |")
    print("|---:|---:|---:|---:|---:|")
    for n in sizes:
        pairs = codes[n]
        flip = np.mean([a != b for a, b in pairs])
        plant = np.mean([(a == "plant_now") != (b == "plant_now") for a, b in pairs])
        print(f"| {n} | {len(pairs)} | {100 * flip:.0f}% | {100 * plant:.0f}% | {100 * np.mean(diffs[n]):.1f} |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
