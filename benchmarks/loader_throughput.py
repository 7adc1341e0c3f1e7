"""Loader throughput: windows/s from the real zarr store vs the same windows from memory.

Builds a canonical store of realistic size (default 2 years daily on a 64x128 global grid,
8 channels: five surface fields incl. precipitation and temperature on 3 levels), or takes
one with ``--store``, then in one run measures

* the core :class:`WindowSource` (zarr reads alone, forcings alone, whole windows);
* the torch DataLoader (batch 4, shuffled) over the real store and over
  :class:`InMemoryWindows`, with 0 and 2 workers;

and prints samples/second and the ratio real/memory. A ratio near 1 means reading the
store is not the bottleneck. The DataLoader rows are measured twice, taking turns: with the
forcings computed once per time index (:mod:`sowcast.data.forcing_cache`, the loader now)
and computed for every window (the loader before issue 17), so the two compare within one
run on a busy machine. ``--quick`` builds half a year and times 64 samples;
``--json PATH`` also writes the ratios for ``benchmarks/run_all.py``. Usage::

    .venv/bin/python benchmarks/loader_throughput.py [--store PATH] [--grid 64x128|demo]
        [--years 2] [--samples 160] [--workers 0 2] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sowcast.atomic import atomic_write_text
from sowcast.data.grid import Grid
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import InMemoryWindows, WindowSource

ROOT = Path(__file__).resolve().parents[1]


class _ForcingsPerWindow:
    """The loader before issue 17: the forcings computed afresh for every window."""

    def forcings(self, t0: int, t1: int) -> np.ndarray:
        from sowcast.data.forcings import compute_forcings

        f = compute_forcings(self.times[t0:t1], self.grid.lat, self.grid.lon, self.time_step)
        return np.stack([f[name] for name in self.forcing_names], axis=1)


class RealPerWindow(_ForcingsPerWindow, WindowSource):
    pass


class MemoryPerWindow(_ForcingsPerWindow, InMemoryWindows):
    pass


def _as(cls: type, source: WindowSource) -> WindowSource:
    """``source``'s windows served by ``cls`` (same store, statistics, data in memory)."""
    out = cls.__new__(cls)
    out.__dict__.update(source.__getstate__())
    return out
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


def _loader_rate(source: WindowSource, workers: int, batch_size: int, n_samples: int) -> float:
    from sowcast.train.dataloader import make_dataloader

    loader = make_dataloader(source, batch_size=batch_size, rank=0, world_size=1, num_workers=workers,
                             seed=0, multiprocessing_context="fork" if workers else None)
    n_batches = min(n_samples // batch_size, len(loader) - 1)
    it = iter(loader)
    next(it)  # warm-up: worker start, first prefetch
    start = time.perf_counter()
    for _ in range(n_batches):
        next(it)
    rate = n_batches * batch_size / (time.perf_counter() - start)
    del it, loader
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, help="an existing canonical store (default: build one)")
    parser.add_argument("--grid", default="64x128", help="NLATxNLON (global) or 'demo' (default 64x128)")
    parser.add_argument("--years", type=float, default=2.0, help="years of daily data to build")
    parser.add_argument("--samples", type=int, default=160, help="samples timed per measurement")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--quick", action="store_true",
                        help="smaller defaults: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()))
    parser.add_argument("--json", type=Path, help="also write the ratios here (for benchmarks/run_all.py)")
    args = parser.parse_args()
    if args.quick:  # explicit options win
        for key, value in QUICK.items():
            if getattr(args, key) == parser.get_default(key):
                setattr(args, key, value)

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
        source = WindowSource(store)
        size = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        print(f"store: {len(source.times)} times x {len(source.channels)} channels x "
              f"{source.grid.shape[0]}x{source.grid.shape[1]}, {size / 2**20:.0f} MiB on disk, "
              f"{len(source)} windows ({source.n_input_steps} in + {source.n_target_steps} out)")
        rng = np.random.default_rng(0)
        order = rng.permutation(len(source))
        n = min(args.samples, len(source))

        t0 = time.perf_counter()
        memory = InMemoryWindows(source)
        print(f"loaded into memory in {time.perf_counter() - t0:.1f} s "
              f"({memory._data.nbytes / 2**20:.0f} MiB)\n")

        def zarr_read(k: int) -> None:
            t = source._first + int(order[k % len(order)])
            source._read_states(t - source.n_input_steps + 1, t + source.n_target_steps + 1)

        def forcing_only(k: int) -> None:
            from sowcast.data.forcings import compute_forcings
            compute_forcings(source.window_times(int(order[k])), source.grid.lat, source.grid.lon,
                             source.time_step)

        cached = WindowSource(store)   # a fresh forcing cache (sowcast.data.forcing_cache)

        def forcing_cached(k: int) -> None:
            t = cached._first + int(order[k % len(order)])
            cached.forcings(t - cached.n_input_steps + 1, t + cached.n_target_steps + 1)

        rows = [
            ("core: zarr reads only", "-", _rate(zarr_read, n)),
            ("core: forcings only, per window (before)", "-", _rate(forcing_only, n)),
            ("core: forcings, cache's first epoch", "-", _rate(forcing_cached, n)),
            ("core: forcings, cache's next epochs", "-", _rate(forcing_cached, n)),
            ("core: WindowSource[i]", "-", _rate(lambda k: source[int(order[k])], n)),
            ("core: InMemoryWindows[i]", "-", _rate(lambda k: memory[int(order[k])], n)),
        ]
        ratios, before = [], []
        real_old, memory_old = _as(RealPerWindow, source), _as(MemoryPerWindow, memory)
        for workers in args.workers:
            real_b = _loader_rate(real_old, workers, args.batch_size, n)
            real = _loader_rate(source, workers, args.batch_size, n)
            mem_b = _loader_rate(memory_old, workers, args.batch_size, n)
            mem = _loader_rate(memory, workers, args.batch_size, n)
            rows += [(f"DataLoader real zarr (bs {args.batch_size})", str(workers), real),
                     (f"DataLoader memory    (bs {args.batch_size})", str(workers), mem),
                     ("  forcings per window (before): real", str(workers), real_b),
                     ("  forcings per window (before): memory", str(workers), mem_b)]
            ratios.append((workers, real / mem))
            before.append((workers, real_b / mem_b, real / real_b, mem / mem_b))

        print(f"{'what':<42}{'workers':>8}{'samples/s':>12}")
        for what, workers, rate in rows:
            print(f"{what:<42}{workers:>8}{rate:>12.1f}")
        print()
        core_ratio = rows[4][2] / rows[5][2]
        print(f"ratio real/memory, core WindowSource: {core_ratio:.2f}")
        for (workers, ratio), (_, ratio_b, gain_real, gain_mem) in zip(ratios, before):
            print(f"ratio real/memory, DataLoader workers={workers}: {ratio:.2f} (forcings per window: {ratio_b:.2f}); "
                  f"forcings once per time vs per window: real x{gain_real:.2f}, memory x{gain_mem:.2f}")
        if args.json:
            figures = [{"figure": "core WindowSource real/memory", "value": core_ratio, "unit": "ratio"}]
            figures += [{"figure": f"DataLoader real/memory, {w} workers", "value": r, "unit": "ratio"}
                        for w, r in ratios]
            figures += [{"figure": f"DataLoader real/memory, {w} workers, forcings per window", "value": r,
                         "unit": "ratio"} for w, r, _, _ in before]
            atomic_write_text(args.json, json.dumps({
                "benchmark": "loader_throughput", "figures": figures,
                "details": {"rows": rows, "grid": args.grid, "years": args.years, "samples": n,
                            "store": str(args.store) if args.store else None}}, indent=1))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
