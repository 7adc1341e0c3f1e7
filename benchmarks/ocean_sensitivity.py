"""How much the model's rain answers a warm or cold Gulf of Guinea, against the truth's answer.

The synthetic monsoon holds the rain band back by 12 days per K of the Gulf of Guinea's lagged
SST anomaly (``sowcast.data.synthetic_monsoon``), the designed source of its onset
predictability. This script asks whether a bundle's model learnt it:

* **model**: from each ``--inits`` date, ``sowcast forecast`` (``--members`` members, 42 days)
  from the analysis as it is and from copies with the ocean index raised and lowered by
  ``--dk`` K times the Gulf mode's pattern (Gaussian at 1 S, 10 W, sd 5 x 18 degrees, the
  generator's ``P1``), the same seeds in all three, so that the runs differ by the ocean alone;
  the response is ``(warm - cold) / (2 dk)``, the ensemble-mean rain over ``--band`` per lead
  week, in mm/day per K, averaged over the starts;
* **truth**: the least-squares slope, over every year of the store, of the band's mean rain in
  the same calendar weeks after the first start's day on the ocean index averaged over the
  ``--index-days`` days before it (the index the forecast starts from).

A model that carries the ocean's delay answers with the truth's sign and size (the truth: less
rain at 10-15 N in May-June in a warm year).

    .venv/bin/python benchmarks/ocean_sensitivity.py --bundle data/demo/bundle/small \\
        --store data/demo/demo.zarr --inits 2005-05-01 2006-05-01 2007-05-01 2008-05-01
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
GULF = dict(lat=slice(-1, 1), lon=slice(-12, -8))   # the Gulf mode's centre (index average)


def gulf_pattern(lat: xr.DataArray, lon: xr.DataArray) -> xr.DataArray:
    """The generator's ocean-mode pattern P1: a Gaussian at (1 S, 10 W), sd 5 x 18 degrees."""
    return np.exp(-0.5 * (((lat + 1) / 5) ** 2 + ((lon + 10) / 18) ** 2))


def model_response(bundle: Path, store: xr.Dataset, init: pd.Timestamp, dk: float, members: int,
                   band: dict, work: Path) -> np.ndarray:
    """``[6]`` ensemble-mean rain response over ``band`` per lead week (mm/day per K)."""
    window = store.sel(time=slice(init - pd.Timedelta("5D"), init)).load()
    p1 = gulf_pattern(window.lat, window.lon)
    weekly = {}
    for name, sign in (("warm", 1.0), ("cold", -1.0)):
        analysis = window.copy()
        analysis["ocean_index"] = analysis["ocean_index"] + sign * dk * p1
        path, out = work / f"{name}.nc", work / f"{name}.zarr"
        analysis.to_netcdf(path)
        run = subprocess.run([str(ROOT / ".venv/bin/sowcast"), "forecast", f"forecast.bundle={bundle}",
                              f"forecast.init={path}", f"forecast.init_time={init:%Y-%m-%d}",
                              f"forecast.members={members}", "forecast.lead=42D", f"forecast.output={out}",
                              "overwrite=true", "-q"], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"ocean_sensitivity: the forecast from {init:%Y-%m-%d} failed:\n{run.stderr[-2000:]}")
        with xr.open_zarr(out, consolidated=False) as fc:
            rain = fc["total_precipitation"].sel(**band).mean(["member", "lat", "lon"]).values
        weekly[name] = rain.reshape(6, 7).mean(axis=1)
    return (weekly["warm"] - weekly["cold"]) / (2 * dk)


def truth_slope(store: xr.Dataset, first: pd.Timestamp, band: dict, index_days: int) -> tuple[np.ndarray, np.ndarray]:
    """``([6] slope mm/day per K, [6] correlation)`` of the band's weekly rain after ``first``'s calendar
    day on the Gulf index of the ``index_days`` before it, over every year of the store."""
    rain = store["total_precipitation"].sel(**band).mean(["lat", "lon"]).load()
    index = store["ocean_index"].sel(**GULF).mean(["lat", "lon"]).load()
    years = sorted(set(pd.DatetimeIndex(store.time.values).year))
    x, y = [], []
    for year in years:
        start = pd.Timestamp(year=year, month=first.month, day=first.day)
        weeks = rain.sel(time=slice(start + pd.Timedelta("1D"), start + pd.Timedelta("42D"))).values
        before = index.sel(time=slice(start - pd.Timedelta(days=index_days - 1), start)).values
        if weeks.size == 42 and before.size == index_days:
            x.append(before.mean())
            y.append(weeks.reshape(6, 7).mean(axis=1))
    x, y = np.asarray(x), np.asarray(y)
    slopes = np.array([np.polyfit(x, y[:, w], 1)[0] for w in range(6)])
    corr = np.array([np.corrcoef(x, y[:, w])[0, 1] for w in range(6)])
    return slopes, corr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "data/demo/bundle/small")
    parser.add_argument("--store", type=Path, default=ROOT / "data/demo/demo.zarr")
    parser.add_argument("--inits", nargs="+", default=["2005-05-01", "2006-05-01", "2007-05-01", "2008-05-01"],
                        help="start dates (the same calendar day is used for the truth's slope)")
    parser.add_argument("--dk", type=float, default=1.0, help="ocean index change at the pattern's centre, K")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--band", type=float, nargs=4, default=[10, 15, -18, 16],
                        metavar=("LAT_MIN", "LAT_MAX", "LON_MIN", "LON_MAX"))
    parser.add_argument("--index-days", type=int, default=45, help="days of the Gulf index before the start")
    args = parser.parse_args()
    for path in (args.bundle, args.store):
        if not path.exists():
            sys.exit(f"{path} is missing: run 'sowcast demo' first, or give --bundle/--store")
    store = xr.open_zarr(args.store)
    if "ocean_index" not in store:
        sys.exit(f"{args.store} has no ocean_index (a synthetic monsoon store has)")
    band = dict(lat=slice(args.band[0], args.band[1]), lon=slice(args.band[2], args.band[3]))
    inits = [pd.Timestamp(d) for d in args.inits]
    with tempfile.TemporaryDirectory(prefix="sowcast-ocean-") as tmp:
        model = np.mean([model_response(args.bundle, store, t, args.dk, args.members, band, Path(tmp)) for t in inits],
                        axis=0)
    truth, corr = truth_slope(store, inits[0], band, args.index_days)
    print(f"{args.bundle}: rain over {args.band} per K of the Gulf of Guinea index, mm/day per K, by lead week; "
          f"model: {len(inits)} starts x {args.members} members, +-{args.dk:g} K; truth: every year of {args.store}, "
          f"the index of the {args.index_days} days before {inits[0]:%d %b}")
    print("week   model   truth (r)")
    for w in range(6):
        print(f"  {w + 1}   {model[w]:+.2f}   {truth[w]:+.2f} ({corr[w]:+.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
