"""The edge forecast's cost on this machine, measured in one run on one model and one input.

Prints, for each thread count (``--thread-counts``, default 1 and 2) and batch
(``--batches``, default 1, 4, 16), all taken in the same run so that the ratios hold on a
busy machine:
* onnxruntime step time against torch eager on the same weights and inputs (ratio); the
  onnxruntime session is the production one (:func:`sowcast.forecast.session.make_session`:
  sequential, idle spinning off) and torch runs with the same number of threads; the two
  are called in turn, best of ``--repeats``, in wall and in process CPU time;
* achieved FLOP/s of the onnxruntime step (GEMM FLOPs counted by torch's FlopCounterMode
  on the same forward: matmuls only; gathers and elementwise ops move memory and are not
  counted) against the machine's measured dense GEMM FLOP/s with the same threads (best of
  numpy and torch on a 2048^3 float32 matmul; every BLAS pool limited with threadpoolctl,
  torch with ``torch.set_num_threads``), as a percentage;
* for 2 threads and more, the way the forecast uses them (``forecast.parallel: members``):
  ``k`` calls at once, each with one intra-op thread, from one shared session; milliseconds
  per member-step and the share of the ``k``-thread GEMM rate (the rows above give one call
  with ``k`` intra-op threads, which the forecast runs only with ``parallel: intra_op``);
* the GEMM-only floor: the step's matrix products alone at the 1-thread GEMM rate, in CPU
  milliseconds per member-step, and the member-days per CPU-second it caps (a roofline:
  what the model could reach on this machine were every other operator free);
* a real ``sowcast forecast`` run (46 days, 16 members by default, ``--threads``) in a
  subprocess: wall and CPU seconds, member-days per CPU-second and the peak resident memory.

The model comes from a real chain run in a temporary folder: synthesise a year of the
monsoon on the chosen grid, ingest it, train a few steps (the weights do not change the
cost), export the bundle. Or give ``--checkpoint`` (and ``--store``) of a trained run.
``--quick`` forecasts 8 members x 20 days with 3 timing repeats; ``--json PATH`` also
writes the headline figures for ``benchmarks/run_all.py``.

The forecast run uses this interpreter unless ``--python`` names another: give an edge
install's to time what the box runs (``python3 -m venv /tmp/edge && /tmp/edge/bin/pip install
-c constraints.txt '.[edge]'``). In a development install xarray imports dask.array and scipy
on its first array, a fixed cost of about a second per command that the box, without dask,
does not pay; the line above the run's figures says which kind of install ran it.

    .venv/bin/python benchmarks/edge_forecast.py                                   # demo grid, small model
    .venv/bin/python benchmarks/edge_forecast.py --quick --json /tmp/edge.json
    .venv/bin/python benchmarks/edge_forecast.py --grid global1.5 --mesh-level 5   # a larger one
    .venv/bin/python benchmarks/edge_forecast.py --python /tmp/edge/bin/python      # the run in an edge install
    .venv/bin/python benchmarks/edge_forecast.py --checkpoint data/demo/checkpoints/small/checkpoints/step_00000300 \\
        --store data/demo/demo.zarr
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sowcast.atomic import atomic_write_text

QUICK = {"members": 8, "lead": "20D", "repeats": 3}
GRIDS = {
    "demo": "{lat_min: -2.0, lat_max: 24.0, lon_min: -20.0, lon_max: 16.0, resolution: 1.0}",
    "global1.5": "{lat_min: -90.0, lat_max: 90.0, lon_min: -180.0, lon_max: 178.5, resolution: 1.5}",
}


def sowcast(*args: str, cwd: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "sowcast", *args, "progress=false"], cwd=cwd,
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        sys.exit(f"sowcast {' '.join(args[:2])} failed:\n{r.stderr[-3000:]}")


def chain(work: Path, grid: str, model: str, mesh_level: int | None) -> tuple[Path, Path]:
    """Synthesise, ingest and train a few steps; returns (checkpoint, store)."""
    t0 = time.perf_counter()
    store = work / "store.zarr"
    level = [f"model.mesh_level={mesh_level}"] if mesh_level is not None else []
    sowcast("data", "synth", f"data.synth.grid={GRIDS[grid]}", "data.synth.start=2000-01-01",
            "data.synth.end=2000-12-31", f"data.synth.output={work / 'raw'}", cwd=work)
    sowcast("data", "ingest", f"data.ingest.sources=[{work / 'raw'}/*.nc]", f"data.store={store}", cwd=work)
    sowcast("train", f"data.store={store}", f"model={model}", *level, "train.max_steps=3",
            "train.validation_range=null", "train.train_range=null", "train.num_workers=0",
            "train.warmup_steps=1", f"train.run_dir={work / 'run'}", f"graph.cache_dir={work / 'graphs'}", cwd=work)
    checkpoint = max((work / "run" / "checkpoints").glob("step_*"))
    print(f"chain (synth, ingest, 3 training steps) on {grid}: {time.perf_counter() - t0:.0f} s")
    return checkpoint, store


def gemm_flops(threads: int, n: int = 2048) -> tuple[float, str, float]:
    """Best dense float32 GEMM FLOP/s of numpy and torch, each limited to ``threads`` threads
    (numpy's BLAS through threadpoolctl: ``torch.set_num_threads`` does not reach it), who,
    and the best FLOP per process CPU second (all threads' CPU time: per-core efficiency)."""
    import torch
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    best, who, best_cpu = 0.0, "", 0.0
    torch.set_num_threads(threads)
    with threadpool_limits(limits=threads):
        for name, mm in (("numpy", lambda: a @ b), ("torch", lambda: ta @ tb)):
            mm()
            for _ in range(3):
                t, c = time.perf_counter(), time.process_time()
                mm()
                rate = 2.0 * n ** 3 / (time.perf_counter() - t)
                best_cpu = max(best_cpu, 2.0 * n ** 3 / max(time.process_time() - c, 1e-9))
                if rate > best:
                    best, who = rate, name
    return best, who, best_cpu


def install_kind(python: str) -> str:
    """``edge install`` when ``python`` has neither torch nor dask (what the box runs), else
    ``development install``: there xarray imports dask.array (and scipy) on its first array,
    about a second the box does not pay (2026-12-07)."""
    probe = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ('torch', 'dask')))"
    r = subprocess.run([python, "-c", probe], capture_output=True, check=False)
    return "edge install" if r.returncode == 0 else "development install: torch or dask present"


def _vm_hwm_kib(pid: int) -> int:
    """Peak resident memory of a running process (Linux /proc), in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children_cpu() -> float:
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def best_ms_in_turn(fns, repeats: int) -> list[tuple[float, float]]:
    """Best wall and best CPU milliseconds (``time.process_time``: this process's threads,
    which other processes on a busy machine do not add to) per call of each function, called
    in turn (one warm-up each), so a machine that gets busier or quieter slows all alike."""
    for fn in fns:
        fn()
    best, best_cpu = [float("inf")] * len(fns), [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t, c = time.perf_counter(), time.process_time()
            fn()
            best_cpu[i] = min(best_cpu[i], time.process_time() - c)
            best[i] = min(best[i], time.perf_counter() - t)
    return [(1000.0 * b, 1000.0 * c) for b, c in zip(best, best_cpu)]


def side_by_side_rows(session, batches: dict, args) -> list[tuple[int, int, float]]:
    """``(k, batch, best ms)`` of ``k`` calls at once on one 1-thread session from ``k`` Python
    threads, for each thread count ``k`` >= 2 of ``--thread-counts``: how the forecast uses ``k``
    cores (:mod:`sowcast.forecast.member_threads`), where the rows above time one call with
    ``k`` intra-op threads."""
    from concurrent.futures import ThreadPoolExecutor

    from sowcast.export import parity as P

    rows = []
    for k in sorted({t for t in args.thread_counts if t >= 2}):
        with ThreadPoolExecutor(k) as pool:
            for batch_size, batch in batches.items():
                def at_once(b=batch):
                    for f in [pool.submit(P.run_ort, session, b) for _ in range(k)]:
                        f.result()
                ((ms, _cpu),) = best_ms_in_turn([at_once], args.repeats)
                rows.append((k, batch_size, ms))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--grid", choices=sorted(GRIDS), default="demo")
    p.add_argument("--model", default="small", help="model preset (conf/model)")
    p.add_argument("--mesh-level", type=int, default=None, help="override the preset's mesh level")
    p.add_argument("--checkpoint", default=None, help="a trained checkpoint folder instead of the chain")
    p.add_argument("--store", default=None, help="the checkpoint's store (initial conditions)")
    p.add_argument("--members", type=int, default=16)
    p.add_argument("--lead", default="46D")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="threads of the forecast run")
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2], help="threads of the step timings")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16], help="batch sizes of the step timings")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--forecast-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an override of the forecast run, e.g. forecast.batch=1 (repeatable)")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter of the forecast run: an edge install's (module doc) to time what the "
                        "box runs; default this one")
    p.add_argument("--workdir", default=None, help="keep intermediate files here (default: a temp folder)")
    p.add_argument("--quick", action="store_true",
                   help="smaller defaults: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()))
    p.add_argument("--json", type=Path, help="also write the headline figures here (for benchmarks/run_all.py)")
    args = p.parse_args()
    if args.quick:  # explicit options win
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from sowcast.bundle.reader import load_bundle
    from sowcast.errors import SowcastError
    from sowcast.export import parity as P
    from sowcast.export.bundle_writer import export_bundle
    from sowcast.export.onnx_export import load_model

    work = Path(args.workdir or tempfile.mkdtemp(prefix="sowcast-edge-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if not args.workdir:
        atexit.register(shutil.rmtree, work, ignore_errors=True)
    if args.checkpoint:
        checkpoint = Path(args.checkpoint).resolve()
        store = Path(args.store).resolve() if args.store else None
        if store is None:
            sys.exit("--checkpoint needs --store (the initial conditions)")
    else:
        checkpoint, store = chain(work, args.grid, args.model, args.mesh_level)
    bundle_dir = work / "bundle"
    try:
        export_bundle(checkpoint, bundle_dir, archive=False, store=store, overwrite=True, threads=args.threads,
                      log=lambda m: None)
    except SowcastError as exc:  # a wrong --checkpoint or --store: one line, as every command
        sys.exit(f"edge_forecast.py: {exc}")
    bundle = load_bundle(bundle_dir)
    torch_model = load_model(checkpoint).model
    n_params = sum(p.numel() for p in torch_model.parameters())
    print(f"model: {n_params:,} parameters, grid {bundle.grid.shape}, {len(bundle.channels)} channels, "
          f"step {bundle.time_step}, forecast threads {args.threads}"
          + (f", stochastic ({bundle.noise['channels']} noise channels)" if bundle.stochastic else ""))

    # -- onnxruntime vs torch eager: same weights, same inputs, same threads ----------------
    from sowcast.forecast.session import make_session

    batches, flops = {}, {}
    for batch_size in sorted(set(args.batches)):
        batch = P.random_batch(bundle.n_input_steps, bundle.statistics, bundle.grid.lat, bundle.grid.lon,
                               bundle.time_step, batch_size, bundle.forcing_names, static=bundle.static)
        noise = bundle.noise  # a stochastic model takes noise [B, nodes, channels] too
        batches[batch_size] = P.add_noise(batch, None if noise is None else (noise["nodes"], noise["channels"]))
        tensors = [torch.from_numpy(np.ascontiguousarray(batches[batch_size][k], np.float32))
                   for k in P.MODEL_INPUTS if k in batches[batch_size]]
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            torch_model(*tensors)
        flops[batch_size] = counter.get_total_flops()
    rows, peaks = [], {}
    for threads in args.thread_counts:
        torch.set_num_threads(threads)
        session = make_session(bundle.model_path("fp32"), threads=threads)  # production options: no spinning
        for batch_size, batch in batches.items():
            (torch_ms, torch_cpu), (ort_ms, ort_cpu) = best_ms_in_turn(
                [lambda b=batch: P.run_torch(torch_model, b), lambda b=batch: P.run_ort(session, b)], args.repeats)
            rows.append((threads, batch_size, torch_ms, ort_ms, flops[batch_size], torch_cpu, ort_cpu))
        peaks[threads] = gemm_flops(threads)
    side_rows = side_by_side_rows(make_session(bundle.model_path("fp32"), threads=1), batches, args)

    # -- a real forecast: 46 days x 16 members by default ----------------------------------
    out = work / "forecast.zarr"
    cpu_before = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen([args.python, "-m", "sowcast", "forecast", f"forecast.bundle={bundle_dir}",
                             f"forecast.init={store}", f"forecast.lead={args.lead}", f"forecast.members={args.members}",
                             f"forecast.threads={args.threads}", f"forecast.output={out}", "overwrite=true",
                             "progress=false", *args.forecast_option], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # ru_maxrss of a child includes this (big) parent's RSS at fork: read the child's own
    # high-water mark (VmHWM, reset at exec) from /proc while it runs instead.
    hwm_kib = 0
    while proc.poll() is None:
        hwm_kib = max(hwm_kib, _vm_hwm_kib(proc.pid))
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"sowcast forecast failed:\n{proc.stderr.read().decode()[-3000:]}")
    cpu = _children_cpu() - cpu_before
    import pandas as pd
    days = pd.Timedelta(args.lead) / pd.Timedelta("1D")

    print(f"\n{'threads':>7} {'batch':>5} {'torch ms':>9} {'ORT ms':>8} {'torch/ORT':>9} {'CPU ms':>15} "
          f"{'CPU ratio':>9} {'GFLOP/step':>10} {'ORT GFLOP/s':>11} {'GEMM GFLOP/s':>12} {'% of GEMM':>9} "
          f"{'CPU %':>6}")
    for threads, batch_size, torch_ms, ort_ms, n_flops, torch_cpu, ort_cpu in rows:
        achieved = n_flops / (ort_ms / 1000.0)
        peak = peaks[threads][0]
        print(f"{threads:>7} {batch_size:>5} {torch_ms:>9.1f} {ort_ms:>8.1f} {torch_ms / ort_ms:>9.2f} "
              f"{torch_cpu:>7.1f}/{ort_cpu:<7.1f} {torch_cpu / ort_cpu:>9.2f} "
              f"{n_flops / 1e9:>10.3f} {achieved / 1e9:>11.2f} {peak / 1e9:>12.1f} {100 * achieved / peak:>8.1f}% "
              f"{100 * n_flops / (ort_cpu / 1000.0) / peaks[threads][2]:>5.1f}%")
    print("CPU ms: best process CPU time per call, torch/ORT (all threads of the process; on a busy machine "
          "the wall ratios move, these less); CPU %: ORT FLOP per CPU second / GEMM FLOP per CPU second")
    print("GEMM: best of numpy and torch, 2048^3 float32, BLAS pools and torch limited to the threads: "
          + ", ".join(f"{t} thread{'s' if t > 1 else ''} {p / 1e9:.1f} GFLOP/s ({who}; {c / 1e9:.1f} per CPU second)"
                      for t, (p, who, c) in peaks.items()))
    print(ceiling_text(rows, peaks))
    if side_rows:
        print("\nmembers side by side, as the forecast runs them with 2+ threads (forecast.parallel=members): "
              "k calls at once from one session, 1 intra-op thread each")
        print(f"{'threads':>7} {'batch':>5} {'ms per k calls':>14} {'ms per member-step':>18} {'ORT GFLOP/s':>11} "
              f"{'GEMM GFLOP/s':>12} {'% of GEMM':>9}")
        for k, batch_size, ms in side_rows:
            achieved = k * flops[batch_size] / (ms / 1000.0)
            peak = peaks[k][0]   # k is one of --thread-counts: measured above
            print(f"{k:>7} {batch_size:>5} {ms:>14.1f} {ms / (k * batch_size):>18.2f} {achieved / 1e9:>11.2f} "
                  f"{peak / 1e9:>12.1f} {100 * achieved / peak:>8.1f}%")
    install = install_kind(args.python)
    print(f"\nforecast run by {args.python} ({install})")
    print(f"forecast {args.members} members x {days:g} days ({args.threads} threads"
          + "".join(f", {o}" for o in args.forecast_option) + f"): wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s, {args.members * days / cpu:.1f} member-days per CPU-second, "
          f"peak RSS {hwm_kib / 1024:.0f} MiB")
    summary = {"grid": args.grid, "parameters": n_params,
               "rows": [dict(zip(("threads", "batch", "torch_ms", "ort_ms", "gemm_flops_per_step", "torch_cpu_ms",
                                  "ort_cpu_ms"), r)) for r in rows],
               "gemm_peak_flops": {str(t): p for t, (p, _who, _cpu) in peaks.items()},
               "forecast_wall_s": wall, "forecast_cpu_s": cpu, "member_days_per_cpu_s": args.members * days / cpu,
               "peak_rss_mib": hwm_kib / 1024, "members": args.members, "lead_days": days, "threads": args.threads,
               "python": args.python, "install": install,
               "side_by_side": [{"threads": k, "batch": b, "ms_per_k_calls": ms} for k, b, ms in side_rows]}
    print(json.dumps(summary))
    if args.json:
        figures = []
        for threads, batch_size, torch_ms, ort_ms, n_flops, _torch_cpu, _ort_cpu in rows:
            figures.append({"figure": f"torch eager / onnxruntime step time, batch {batch_size}, {threads} thread(s)",
                            "value": torch_ms / ort_ms, "unit": "ratio"})
            figures.append({"figure": f"onnxruntime GEMM FLOP/s vs dense GEMM peak, batch {batch_size}, "
                                      f"{threads} thread(s)",
                            "value": 100 * n_flops / (ort_ms / 1000.0) / peaks[threads][0], "unit": "%"})
        figures += [{"figure": f"dense GEMM peak ({who}, {t} thread(s))", "value": p / 1e9, "unit": "GFLOP/s"}
                    for t, (p, who, _cpu) in peaks.items()]
        figures += [
            {"figure": f"forecast {args.members} members x {days:g} days", "value": args.members * days / cpu,
             "unit": "member-days/CPU-s"},
            {"figure": "forecast peak resident memory", "value": hwm_kib / 1024, "unit": "MiB"},
        ]
        atomic_write_text(args.json, json.dumps({"benchmark": "edge_forecast", "figures": figures,
                                                 "details": summary}, indent=1))


def ceiling_text(rows: list[tuple], peaks: dict[int, tuple[float, str, float]]) -> str:
    """What the matrix products alone cost: the step's GEMM FLOPs at the machine's dense GEMM
    rate per CPU-second (the roofline of a step made of nothing else), per batch of the
    1-thread rows, beside the CPU the onnxruntime step took. ``1000 / floor`` is the most
    member-days per CPU-second this model could reach on this machine were every Gather,
    Add, LayerNorm and sum free."""
    parts = []
    for threads, batch_size, _torch_ms, _ort_ms, n_flops, _torch_cpu, ort_cpu in rows:
        if threads != 1:
            continue
        floor_ms = 1000.0 * n_flops / batch_size / peaks[threads][2]
        parts.append(f"batch {batch_size}: {floor_ms:.1f} ms per member-step of CPU (the step took "
                     f"{ort_cpu / batch_size:.1f}), at most {1000.0 / floor_ms:.0f} member-days per CPU-second")
    if not parts:
        return "GEMM-only floor: needs a 1-thread row (--thread-counts 1)"
    return "GEMM-only floor, the matrix products alone at the 1-thread GEMM rate: " + "; ".join(parts)


if __name__ == "__main__":
    main()
