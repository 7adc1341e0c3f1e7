"""Members across cores: the edge forecast and the hindcasts with and without running batches
of members side by side (:mod:`sowcast.forecast.member_threads`), measured in one run.

Every configuration is a real ``sowcast forecast`` / ``sowcast hindcast`` in a subprocess on
the demo bundle and store (``data/demo``, made by ``sowcast demo``); configurations take turns
(A B C A B C ...) so that a machine busy with other work slows them alike, and the table
gives each one's best and median and the ratio to the first. Figures per run:

* wall seconds of the whole command (Python start-up included) and of the rollout alone (as
  the command reports it);
* CPU seconds of the process (user + system, every thread) and member-days per CPU-second;
* peak resident memory (VmHWM of the process, read from /proc while it runs).

First, in this process, one step of all the members (the engine's ``Stepper.run``, batches
of ``forecast.batch`` 4) is timed in each split, taking turns, ``--step-repeats`` times: the
best of many short timings is what a quiet machine gives, the whole runs after it are what
this machine gives now (on a machine busy with other work, they mostly measure the share of
the cores it leaves).

The forecast outputs of all configurations are compared array by array: they must be the
same bytes (the script exits 1 otherwise).

    .venv/bin/python benchmarks/forecast_parallel.py                 # 46 d x 16 members, hindcast 8 starts
    .venv/bin/python benchmarks/forecast_parallel.py --repeats 3 --json /tmp/parallel.json
    .venv/bin/python benchmarks/forecast_parallel.py --skip-hindcast --lead 20D
    .venv/bin/python benchmarks/forecast_parallel.py --python /tmp/edge/bin/python   # as the edge box runs it
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

FORECASTS = {   # name: overrides (forecast.batch is the configured 4: 16 members = 4 calls per step)
    "intra_op, 2 threads (before)": ["forecast.threads=2", "forecast.parallel=intra_op"],
    "members, 2 threads (after)": ["forecast.threads=2", "forecast.parallel=members"],
    "1 thread": ["forecast.threads=1"],
}
HINDCASTS = {
    "intra_op, 2 threads, batch 16 (before)": ["hindcast.threads=2", "hindcast.parallel=intra_op", "hindcast.batch=16"],
    "members, 2 threads, batch 16 (after)": ["hindcast.threads=2", "hindcast.parallel=members", "hindcast.batch=16"],
    "members, 2 threads, batch 4": ["hindcast.threads=2", "hindcast.parallel=members", "hindcast.batch=4"],
}


def step_times(bundle_dir: Path, members: int, batch: int, repeats: int) -> list[dict]:
    """Best and median milliseconds of one step of ``members`` members in each split."""
    import pandas as pd

    from sowcast.bundle.reader import load_bundle
    from sowcast.forecast.engine import Stepper, forcing_block, static_fields
    from sowcast.forecast.member_threads import CallRunner
    from sowcast.forecast.model_noise import TUNED_NOISE_SCALE, bundle_noise, start_key, step_keys
    from sowcast.forecast.session import StepModel

    bundle = load_bundle(bundle_dir)
    step = pd.Timedelta(bundle.time_step)
    splits = {"1 thread": (1, 1), "intra_op, 2 threads (before)": (2, 1), "members, 2 threads (after)": (1, 2)}
    steppers = {}
    keys = None
    for name, (intra_op, workers) in splits.items():
        model = StepModel(bundle.model_path("fp32"), intra_op)
        # a stochastic model's noise as the engine draws it (seed 0, the default scale): its cost is the step's too
        noise = bundle_noise(bundle.manifest, model.noise_shape, 0, "the bundle", TUNED_NOISE_SCALE)
        steppers[name] = Stepper(model, static_fields(bundle), bundle.grid, step, list(bundle.forcing_names),
                                 np.zeros(len(bundle.channels), bool), batch, noise, CallRunner(workers))
        if noise is not None:
            keys = step_keys(np.full(members, start_key("2009-05-01")), np.arange(members), 1)
    t_in = int(bundle.n_input_steps)
    rng = np.random.default_rng(0)
    window = rng.standard_normal((members, t_in, len(bundle.channels), *bundle.grid.shape)).astype(np.float32)
    times = pd.date_range("2009-05-01", periods=t_in + 1, freq=step).values
    forcings = forcing_block(times, bundle.grid, step, list(bundle.forcing_names))
    ms: dict[str, list[float]] = {name: [] for name in splits}
    cpu_ms: dict[str, list[float]] = {name: [] for name in splits}
    outputs = {}
    for _ in range(repeats):
        for name, stepper in steppers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            outputs[name] = stepper.run(window, forcings, "a timed step", keys)
            ms[name].append(1000 * (time.perf_counter() - t0))
            cpu_ms[name].append(1000 * (time.process_time() - c0))
    for stepper in steppers.values():
        stepper.runner.close()
    ref = outputs["1 thread"]
    rows = []
    print(f"\none step of {members} members, batch {batch}, best and median of {repeats} taking turns:")
    for name, values in ms.items():
        row = {"config": name, "best_ms": min(values), "median_ms": statistics.median(values),
               "cpu_median_ms": statistics.median(cpu_ms[name]),
               "same_bytes_as_1_thread": outputs[name].tobytes() == ref.tobytes()}
        row["speedup_vs_1_thread"] = min(ms["1 thread"]) / row["best_ms"]
        rows.append(row)
        print(f"  {name:<32} best {row['best_ms']:7.1f} ms, median {row['median_ms']:7.1f} ms, "
              f"x{row['speedup_vs_1_thread']:.2f} of 1 thread (best), CPU {row['cpu_median_ms']:6.1f} ms (median), "
              f"same bytes: {row['same_bytes_as_1_thread']}")
    return rows


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


PYTHON = [sys.executable]   # the interpreter of the measured commands (--python)


def run_measured(args: list[str], cwd: Path) -> dict[str, float | str]:
    """Run ``python -m sowcast *args``: wall, CPU (its rusage), peak RSS, its stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([PYTHON[0], "-m", "sowcast", *args, "progress=false"], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hwm = 0
    while proc.poll() is None:
        hwm = max(hwm, _vm_hwm_kib(proc.pid))
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"sowcast {args[0]} failed:\n{err[-3000:]}")
    # the child is reaped by poll(); its CPU is in RUSAGE_CHILDREN, read around each run by the caller
    return {"wall_s": wall, "peak_rss_mib": hwm / 1024, "stdout": out}


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def take_turns(configs: dict[str, list[str]], base: list[str], repeats: int, cwd: Path,
               output_of: callable, fresh: callable = lambda k: None) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for r in range(repeats):
        for k, (name, extra) in enumerate(configs.items()):
            fresh(k)   # a hindcast folder with every start done would be up to date, not run again
            cpu0 = _children_cpu()
            m = run_measured([*base, *extra, output_of(k)], cwd)
            m["cpu_s"] = _children_cpu() - cpu0
            rollout = re.search(r"computed now in ([0-9.]+) s", str(m["stdout"]))
            m["rollout_s"] = float(rollout.group(1)) if rollout else float("nan")
            rate = re.search(r"([0-9.]+) member-days per CPU-second", str(m["stdout"]))
            m["rollout_md_per_cpu_s"] = float(rate.group(1)) if rate else float("nan")
            results[name].append(m)
            print(f"  {name:<42} run {r + 1}: wall {m['wall_s']:.1f} s (rollout {m['rollout_s']:.1f} s), "
                  f"CPU {m['cpu_s']:.1f} s, peak RSS {m['peak_rss_mib']:.0f} MiB", flush=True)
    return results


def table(results: dict[str, list[dict]], member_days: float) -> list[dict]:
    rows = []
    first = None
    for name, runs in results.items():
        row = {"config": name,
               "wall_best_s": min(r["wall_s"] for r in runs), "wall_median_s": statistics.median(r["wall_s"] for r in runs),
               "rollout_best_s": min(r["rollout_s"] for r in runs),
               "cpu_median_s": statistics.median(r["cpu_s"] for r in runs),
               "peak_rss_mib": max(r["peak_rss_mib"] for r in runs)}
        row["member_days_per_cpu_s"] = member_days / row["cpu_median_s"]
        row["rollout_member_days_per_cpu_s"] = statistics.median(r["rollout_md_per_cpu_s"] for r in runs)
        first = first or row
        row["wall_ratio_to_first"] = row["wall_best_s"] / first["wall_best_s"]
        row["rollout_ratio_to_first"] = row["rollout_best_s"] / first["rollout_best_s"]
        rows.append(row)
    print(f"\n{'configuration':<42}{'wall best':>10}{'median':>8}{'rollout':>9}{'x first':>8}{'CPU s':>7}"
          f"{'md/CPU-s':>9}{'rollout':>8}{'RSS MiB':>8}")
    for row in rows:
        print(f"{row['config']:<42}{row['wall_best_s']:>10.1f}{row['wall_median_s']:>8.1f}{row['rollout_best_s']:>9.1f}"
              f"{row['rollout_ratio_to_first']:>8.2f}{row['cpu_median_s']:>7.1f}{row['member_days_per_cpu_s']:>9.1f}"
              f"{row['rollout_member_days_per_cpu_s']:>8.1f}{row['peak_rss_mib']:>8.0f}")
    print("wall/rollout: seconds (best of the runs); x first: rollout time over the first row's; md/CPU-s: "
          "member-days per CPU-second of the whole process, and of the rollout as the command reports it")
    return rows


def same_bytes(paths: list[Path]) -> bool:
    import xarray as xr

    def arrays(p: Path) -> dict[str, np.ndarray]:
        with xr.open_dataset(p, engine="zarr", consolidated=False, chunks=None) as ds:
            return {n: ds[n].values for n in ds.data_vars}

    ref = arrays(paths[0])
    return all(set(a) == set(ref) and all(a[n].tobytes() == ref[n].tobytes() for n in ref)
               for a in map(arrays, paths[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "data/demo/bundle/small")
    parser.add_argument("--store", type=Path, default=ROOT / "data/demo/demo.zarr")
    parser.add_argument("--init-time", default="2009-05-15")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--lead", default="46D")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the measured commands, e.g. an edge-only environment (pip install "
                             "'.[edge]': no dask, which xarray imports whenever it is installed); default: this one")
    parser.add_argument("--hindcast-starts", default="2009:05-01:06-19", help="YEAR:FIRST:LAST, every 7 days (8 starts)")
    parser.add_argument("--hindcast-members", type=int, default=4)
    parser.add_argument("--skip-hindcast", action="store_true")
    parser.add_argument("--step-repeats", type=int, default=30, help="timed steps per split (0: none)")
    parser.add_argument("--batch", type=int, default=4, help="members per call in the step timing")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    PYTHON[0] = args.python
    for path in (args.bundle, args.store):
        if not path.exists():
            sys.exit(f"{path} is missing: run 'sowcast demo' first, or give --bundle/--store")

    import pandas as pd

    steps = step_times(args.bundle, args.members, args.batch, args.step_repeats) if args.step_repeats else []
    work = Path(tempfile.mkdtemp(prefix="sowcast-parallel-"))
    try:
        print(f"forecast {args.members} members x {args.lead}, {args.bundle} from {args.store} at {args.init_time}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        base = ["forecast", f"forecast.bundle={args.bundle}", f"forecast.init={args.store}",
                f"forecast.init_time={args.init_time}", f"forecast.members={args.members}", f"forecast.lead={args.lead}",
                "overwrite=true"]
        outputs = [work / f"fc{k}.zarr" for k in range(len(FORECASTS))]
        fc = take_turns(FORECASTS, base, args.repeats, work, lambda k: f"forecast.output={outputs[k]}")
        days = pd.Timedelta(args.lead) / pd.Timedelta("1D")
        fc_rows = table(fc, args.members * days)
        identical = same_bytes(outputs)
        print(f"forecast outputs of all configurations the same bytes: {identical}")

        hc_rows = []
        if not args.skip_hindcast:
            year, first, last = args.hindcast_starts.split(":")
            base = ["hindcast", f"hindcast.bundle={args.bundle}", f"hindcast.store={args.store}",
                    f"hindcast.years=[{year},{year}]", f"hindcast.first={first}", f"hindcast.last={last}",
                    f"hindcast.members={args.hindcast_members}", f"hindcast.lead={args.lead}",
                    "hindcast.climatology.build=false", "overwrite=true"]
            n_starts = len(pd.date_range(f"{year}-{first}", f"{year}-{last}", freq="7D"))
            print(f"\nhindcast {n_starts} starts x {args.hindcast_members} members x {args.lead}")
            hc = take_turns(HINDCASTS, base, args.repeats, work, lambda k: f"hindcast.output={work / f'hc{k}'}",
                            lambda k: shutil.rmtree(work / f"hc{k}", ignore_errors=True))
            hc_rows = table(hc, n_starts * args.hindcast_members * days)
        if args.json:
            from sowcast.atomic import atomic_write_text

            atomic_write_text(args.json, json.dumps({
                "benchmark": "forecast_parallel", "step": steps, "forecast": fc_rows, "hindcast": hc_rows,
                "forecast_outputs_identical": identical, "load_average": os.getloadavg()[0]}, indent=1))
        if not identical or not all(r["same_bytes_as_1_thread"] for r in steps):
            sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
