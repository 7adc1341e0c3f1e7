"""How a model's hindcast rain drifts from the season: the mean daily rain of the ensemble
minus the truth's, by start day (rows) and lead week (columns), over a box (default the
onset region 8-16 N, 18 W-16 E), averaged over the hindcast years.

A model that forgets the forced seasonal cycle drifts towards its annual mean: too wet
before the onset and too dry after it, the more so the longer the lead, which brings the
Sivakumar onset forward. Reads the daily series of a ``sowcast hindcast`` folder
(``hindcast.keep_daily=true``; the demo keeps them for the training years under
``<root>/hindcast``) and the store's truth on the same days.

    .venv/bin/python benchmarks/seasonal_drift.py --root /tmp/demo      # training-year hindcasts
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="a 'sowcast demo' root (hindcast/, demo.zarr)")
    parser.add_argument("--hindcast", help="a hindcast folder with daily series (default: ROOT/hindcast)")
    parser.add_argument("--box", type=float, nargs=4, default=[8, 16, -18, 16], metavar=("LAT0", "LAT1", "LON0", "LON1"))
    args = parser.parse_args()

    import pandas as pd

    from rain_occurrence import paired_daily

    daily, pairs = paired_daily(Path(args.root), args.hindcast, slice(args.box[0], args.box[1]),
                                slice(args.box[2], args.box[3]))
    rows = []
    for start, fc, observed in pairs:
        mean = fc.mean("member").values
        for week in range(fc.sizes["lead_day"] // 7):
            lead = slice(7 * week, 7 * week + 7)
            rows.append((start.strftime("%m-%d"), week + 1, float(mean[lead].mean()), float(observed[lead].mean())))
    table = pd.DataFrame(rows, columns=["start", "week", "model", "truth"]).groupby(["start", "week"]).mean()
    print(f"{daily.sizes['start']} starts x {daily.sizes['member']} members; box {args.box}")
    print("model - truth, mean daily rain (mm/day), by start day and lead week")
    print((table["model"] - table["truth"]).unstack("week").round(2).to_string())
    print("truth (mm/day)")
    print(table["truth"].unstack("week").round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
