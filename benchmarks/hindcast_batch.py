"""Hindcast members per onnxruntime call (``hindcast.batch``): member-days per CPU-second.

Runs the same ``sowcast hindcast`` (demo bundle and store from ``sowcast demo``, 8 starts x 4
members x 46 days, 2 threads, members side by side) once per batch size, taking turns
(1 2 4 8 1 2 4 8 ...) so that a machine busy with other work slows them alike, with the
measuring helpers of ``benchmarks/forecast_parallel.py``: wall, CPU seconds of the process
(user + system), member-days per CPU-second of the whole process and of the rollout as the
command reports it, peak RSS. The hindcasts of every batch size must be the same to float32
round-off: the script prints whether they are the same bytes and the largest difference per
variable, and exits 1 when a value differs by more than 1e-5 of its size plus 1e-3
(onnxruntime's matrix products block a batch of 4 members differently from 1, so a real
model's members differ in the last bits: 2026-12-06, the demo's stochastic model, 1 ulp on
day 1, 7e-4 mm of rain at most over 46 days; ``tests/forecast/test_hindcast.py`` checks the
grouping on tiny chains).

    .venv/bin/python benchmarks/hindcast_batch.py                      # batch 1 2 4 8, 2 repeats
    .venv/bin/python benchmarks/hindcast_batch.py --batches 4 16 --repeats 3 --json /tmp/hb.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
from forecast_parallel import ROOT, table, take_turns


def _compare(folders: list[Path]) -> tuple[bool, bool, dict[str, float]]:
    """(same bytes, same to round-off, largest absolute difference per variable) of every
    hindcast file of the first folder against the others."""
    import numpy as np
    import xarray as xr

    def arrays(folder: Path) -> dict[str, np.ndarray]:
        out = {}
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".nc", ".zarr") and path.name != "climatology.nc":
                with xr.open_dataset(path, chunks=None) as ds:
                    out.update({f"{path.relative_to(folder)}:{n}": ds[n].values for n in ds.data_vars})
        return out

    ref = arrays(folders[0])
    same, close, largest = bool(ref), bool(ref), {}
    for folder in folders[1:]:
        other = arrays(folder)
        if other.keys() != ref.keys():
            return False, False, {}
        for key, a in ref.items():
            b = other[key]
            same &= a.tobytes() == b.tobytes()
            close &= bool(np.allclose(a, b, rtol=1e-5, atol=1e-3, equal_nan=True))
            name = key.rpartition(":")[2]
            diff = np.abs(a.astype(np.float64) - b)
            largest[name] = max(largest.get(name, 0.0), float(np.nanmax(diff)) if diff.size else 0.0)
    return same, close, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "data/demo/bundle/small")
    parser.add_argument("--store", type=Path, default=ROOT / "data/demo/demo.zarr")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--starts", default="2009:05-01:06-19", help="YEAR:FIRST:LAST, every 7 days (8 starts)")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--lead", default="46D")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for path in (args.bundle, args.store):
        if not path.exists():
            sys.exit(f"{path} is missing: run 'sowcast demo' first, or give --bundle/--store")
    year, first, last = args.starts.split(":")
    n_starts = len(pd.date_range(f"{year}-{first}", f"{year}-{last}", freq="7D"))
    base = ["hindcast", f"hindcast.bundle={args.bundle}", f"hindcast.store={args.store}",
            f"hindcast.years=[{year},{year}]", f"hindcast.first={first}", f"hindcast.last={last}",
            f"hindcast.members={args.members}", f"hindcast.lead={args.lead}", f"hindcast.threads={args.threads}",
            "hindcast.parallel=members", "hindcast.climatology.build=false", "overwrite=true"]
    configs = {f"batch {b}": [f"hindcast.batch={b}"] for b in args.batches}
    work = Path(tempfile.mkdtemp(prefix="sowcast-hindcast-batch-"))
    try:
        print(f"hindcast {n_starts} starts x {args.members} members x {args.lead}, {args.threads} threads, "
              f"members side by side; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        folders = [work / f"hc{k}" for k in range(len(configs))]
        results = take_turns(configs, base, args.repeats, work, lambda k: f"hindcast.output={folders[k]}",
                             lambda k: shutil.rmtree(folders[k], ignore_errors=True))
        days = pd.Timedelta(args.lead) / pd.Timedelta("1D")
        rows = table(results, n_starts * args.members * days)
        identical, close, largest = _compare(folders)
        print(f"hindcasts of all batch sizes the same bytes: {identical}; the same to float32 round-off: {close}; "
              "largest difference: " + ", ".join(f"{k} {v:.2g}" for k, v in largest.items()))
        if args.json:
            from sowcast.atomic import atomic_write_text

            atomic_write_text(args.json, json.dumps({
                "benchmark": "hindcast_batch",
                "figures": [{"figure": f"hindcast member-days per CPU-s, {r['config']}",
                             "value": r["member_days_per_cpu_s"], "unit": "member-days/CPU-s"} for r in rows],
                "details": {"rows": rows, "identical": identical, "close": close, "largest_difference": largest,
                            "load_average": os.getloadavg()[0]}}, indent=1))
        if not close:
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
