"""Loader throughput: windows/s from the real zarr store vs the same windows from memory.

Builds a canonical store of realistic size (default 2 years daily on a 64x128 global grid,
8 channels: five surface fields incl. precipitation and temperature on 3 levels), or takes
one with ``--store``, then in one run measures

* the core :class:`WindowSource`: zarr reads alone (streamed through the decoded-chunk
  cache), forcings alone, whole windows streamed, held in memory, and from
  :class:`InMemoryWindows`;
* the torch DataLoader (batch 4, shuffled) with 0 and 2 workers over the store as training
  opens it (``in_memory: auto``: held in memory when under ``--budget-mib``), over the store
  streamed (``in_memory: false``: whole time chunks decoded once and kept in the chunk cache
  of ``--chunk-cache-mib`` per process, timed from an empty cache: the first epoch) and
  over :class:`InMemoryWindows` (the reference);

and prints samples/second and the ratio real/memory. A ratio near 1 means reading the
store is not the bottleneck. Each source's forcing cache is filled first (the forcings
are the same code for all three), and the DataLoader rows are measured ``--rounds`` times
taking turns (each round its own shuffle seed and first kind), the median kept, so the ratios compare within one run on a busy machine.
``--quick`` builds half a year and times 64 samples; ``--json PATH`` also writes the
ratios for ``benchmarks/run_all.py``. This process collates the batches of 0 workers with
``--torch-threads`` (default 1; DataLoader workers use 1): on a 2-core machine busy with
other work, collating a batch with 2 intra-op threads took 0.3 ms or 150 ms depending on
whether the second thread got a core (one thread: 0.4 ms), which swamped the comparison.
Usage::

    .venv/bin/python benchmarks/loader_throughput.py [--store PATH] [--grid 64x128|demo]
        [--years 2] [--samples 160] [--workers 0 2] [--rounds 3] [--budget-mib 2048]
        [--chunk-cache-mib 256] [--torch-threads 1] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from sowcast.atomic import atomic_write_text
from sowcast.data.grid import Grid
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import DEFAULT_CHUNK_CACHE_MIB, DEFAULT_MEMORY_BUDGET_MIB, InMemoryWindows, WindowSource

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"years": 0.5, "samples": 64}


def _grid(text: str) -> Grid | tuple[int, int]:
    if text == "demo":
        import yaml  # hydra-core depends on PyYAML

        cfg = yaml.safe_load((ROOT / "src/sowcast/conf/data/demo.yaml").read_text())
        return Grid.from_config(cfg["synth"]["grid"])
    n_lat, n_lon = (int(v) for v in text.lower().split("x"))
    return (n_lat, n_lon)


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    for k in range(n):
        fn(k)
    return n / (time.perf_counter() - start)


def _cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of this process and of ``pids`` (DataLoader workers): for the workers the
    nanosecond run time of each thread, ``/proc/PID/task/TID/schedstat`` (proc(5)); the
    clock ticks of ``/proc/PID/stat`` are too coarse for runs of a fraction of a second."""
    total = time.process_time()
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                total += int((task / "schedstat").read_text().split()[0]) / 1e9
            except (OSError, IndexError, ValueError):
                pass
    return total


def _loader_rate(source: WindowSource, workers: int, batch_size: int, n_samples: int,
                 seed: int) -> tuple[float, float]:
    """Samples per wall second and per CPU second (this process and its workers)."""
    from sowcast.train.dataloader import make_dataloader

    source.reopen()  # an empty chunk cache (workers reopen the store themselves)
    loader = make_dataloader(source, batch_size=batch_size, rank=0, world_size=1, num_workers=workers,
                             seed=seed, multiprocessing_context="fork" if workers else None)
    n_batches = min(n_samples // batch_size, len(loader) - 1)
    it = iter(loader)
    next(it)  # warm-up: worker start, first prefetch
    pids = [w.pid for w in getattr(getattr(loader, "_iterator", None), "_workers", [])]  # persistent workers
    start, cpu = time.perf_counter(), _cpu_seconds(pids)
    for _ in range(n_batches):
        next(it)
    wall, cpu = time.perf_counter() - start, _cpu_seconds(pids) - cpu
    del it, loader
    return n_batches * batch_size / wall, n_batches * batch_size / max(cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="an existing canonical store (default: build one)")
    parser.add_argument("--grid", default="64x128", help="NLATxNLON (global) or 'demo' (default 64x128)")
    parser.add_argument("--years", type=float, default=2.0, help="years of daily data to build")
    parser.add_argument("--samples", type=int, default=160, help="samples timed per measurement")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--rounds", type=int, default=3, help="DataLoader measurements per row, taking turns")
    parser.add_argument("--budget-mib", type=float, default=DEFAULT_MEMORY_BUDGET_MIB,
                        help="data.loader.memory_budget_mib of the 'auto' source")
    parser.add_argument("--chunk-cache-mib", type=float, default=DEFAULT_CHUNK_CACHE_MIB,
                        help="data.loader.chunk_cache_mib of the streamed sources")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads of this process, which collates the batches of 0 workers (module doc)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller defaults: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()))
    parser.add_argument("--json", type=Path, help="also write the ratios here (for benchmarks/run_all.py)")
    args = parser.parse_args()
    if args.quick:  # explicit options win
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)

    import torch

    torch.set_num_threads(args.torch_threads)
    tmp = None
    store = args.store
    if store is None:
        tmp = Path(tempfile.mkdtemp(prefix="sowcast-bench-"))
        t0 = time.perf_counter()
        store = make_canonical_store(
            tmp / "bench.zarr", n_times=round(365 * args.years), grid=_grid(args.grid),
            levels=(250, 500, 850), seed=0,
            surface=("2m_temperature", "mean_sea_level_pressure", "10m_u_component_of_wind",
                     "10m_v_component_of_wind", "total_precipitation"),
            level_variables=("temperature",))
        print(f"built {store} in {time.perf_counter() - t0:.1f} s")
    try:
        cache = dict(chunk_cache_mib=args.chunk_cache_mib)
        streamed = WindowSource(store, in_memory=False, **cache)
        auto = WindowSource(store, in_memory="auto", memory_budget_mib=args.budget_mib, **cache)
        size = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        print(f"store: {len(streamed.times)} times x {len(streamed.channels)} channels x "
              f"{streamed.grid.shape[0]}x{streamed.grid.shape[1]}, {size / 2**20:.0f} MiB on disk, "
              f"{len(streamed)} windows ({streamed.n_input_steps} in + {streamed.n_target_steps} out), "
              f"states {streamed.state_bytes / 2**20:.0f} MiB")
        rng = np.random.default_rng(0)
        order = rng.permutation(len(streamed))
        n = min(args.samples, len(streamed))

        t0 = time.perf_counter()
        memory = InMemoryWindows(streamed)
        print(f"InMemoryWindows loaded in {time.perf_counter() - t0:.2f} s ({memory._data.nbytes / 2**20:.0f} MiB)")
        t0 = time.perf_counter()
        held = auto.load()
        print(f"in_memory auto, budget {args.budget_mib:g} MiB: " + (
            f"held in memory, loaded in {time.perf_counter() - t0:.2f} s" if held else "streamed (over the budget)"))
        t0 = time.perf_counter()
        for src in (streamed, auto, memory):
            src.forcings(src._lo, src._hi)
        print(f"forcing caches filled in {time.perf_counter() - t0:.2f} s (3 sources)\n")

        def zarr_read(k: int) -> None:
            t = streamed._first + int(order[k % len(order)])
            streamed._read_store(t - streamed.n_input_steps + 1, t + streamed.n_target_steps + 1)

        def forcing_only(k: int) -> None:
            from sowcast.data.forcings import compute_forcings
            compute_forcings(streamed.window_times(int(order[k])), streamed.grid.lat, streamed.grid.lon,
                             streamed.time_step)

        cached = WindowSource(store)   # a fresh forcing cache (sowcast.data.forcing_cache)

        def forcing_cached(k: int) -> None:
            t = cached._first + int(order[k % len(order)])
            cached.forcings(t - cached.n_input_steps + 1, t + cached.n_target_steps + 1)

        streamed.reopen()  # an empty chunk cache
        rows = [
            ("core: zarr reads, chunk cache's first pass", "-", _rate(zarr_read, n)),
            ("core: zarr reads, chunk cache's next pass", "-", _rate(zarr_read, n)),
            ("core: forcings only, per window", "-", _rate(forcing_only, n)),
            ("core: forcings, cache's first epoch", "-", _rate(forcing_cached, n)),
            ("core: forcings, cache's next epochs", "-", _rate(forcing_cached, n)),
            ("core: WindowSource[i], streamed", "-", _rate(lambda k: streamed[int(order[k])], n)),
            ("core: WindowSource[i], in_memory auto", "-", _rate(lambda k: auto[int(order[k])], n)),
            ("core: InMemoryWindows[i]", "-", _rate(lambda k: memory[int(order[k])], n)),
        ]
        core_ratio = rows[6][2] / rows[7][2]
        kinds = (("auto", auto), ("streamed", streamed), ("memory", memory))
        ratios = []
        for workers in args.workers:
            rates: dict[str, list[float]] = {kind: [] for kind, _ in kinds}
            cpu_rates: dict[str, list[float]] = {kind: [] for kind, _ in kinds}
            for round_ in range(max(1, args.rounds)):
                turn = kinds[round_ % len(kinds):] + kinds[:round_ % len(kinds)]  # who goes first rotates
                for kind, src in turn:  # the same samples for each kind within a round
                    wall_rate, cpu_rate = _loader_rate(src, workers, args.batch_size, n, seed=round_)
                    rates[kind].append(wall_rate)
                    cpu_rates[kind].append(cpu_rate)
            median = {kind: statistics.median(r) for kind, r in rates.items()}
            per_cpu = {kind: statistics.median(r) for kind, r in cpu_rates.items()}
            names = {"auto": "real zarr, in_memory auto", "streamed": "real zarr, streamed cold",
                     "memory": "InMemoryWindows"}
            rows += [(f"DataLoader {names[k]} (bs {args.batch_size})", str(workers), median[k], per_cpu[k])
                     for k in ("auto", "streamed", "memory")]
            ratios.append((workers, median["auto"] / median["memory"], median["streamed"] / median["memory"],
                           {kind: [round(v, 1) for v in r] for kind, r in rates.items()},
                           per_cpu["auto"] / per_cpu["memory"], per_cpu["streamed"] / per_cpu["memory"]))

        print(f"{'what':<50}{'workers':>8}{'samples/s':>12}{'per CPU-s':>11}")
        for what, workers, rate, *cpu_rate in rows:
            print(f"{what:<50}{workers:>8}{rate:>12.1f}" + (f"{cpu_rate[0]:>11.1f}" if cpu_rate else ""))
        print(f"\nDataLoader rows: median of {max(1, args.rounds)} rounds taking turns")
        print(f"ratio real/memory, core WindowSource in_memory auto: {core_ratio:.2f}")
        for workers, ratio, ratio_streamed, each, cpu_ratio, cpu_ratio_streamed in ratios:
            print(f"ratio real/memory, DataLoader workers={workers}: {ratio:.2f} per wall second, {cpu_ratio:.2f} "
                  f"per CPU second (in_memory auto, {'held' if held else 'streamed'}); streamed cold: "
                  f"{ratio_streamed:.2f}, {cpu_ratio_streamed:.2f}   wall rounds: {each}")
        if args.json:
            figures = [{"figure": "core WindowSource real/memory", "value": core_ratio, "unit": "ratio"}]
            figures += [{"figure": f"DataLoader real/memory, {r[0]} workers", "value": r[1], "unit": "ratio"}
                        for r in ratios]
            figures += [{"figure": f"DataLoader real/memory per CPU-s, {r[0]} workers", "value": r[4], "unit": "ratio"}
                        for r in ratios]
            figures += [{"figure": f"DataLoader real/memory, {r[0]} workers, streamed cold", "value": r[2],
                         "unit": "ratio"} for r in ratios]
            atomic_write_text(args.json, json.dumps({
                "benchmark": "loader_throughput", "figures": figures,
                "details": {"rows": rows, "grid": args.grid, "years": args.years, "samples": n,
                            "held_in_memory": held, "rounds": [list(r) for r in ratios],
                            "store": str(args.store) if args.store else None}}, indent=1))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
