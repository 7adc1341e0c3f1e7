"""Loader throughput: windows/s from the real zarr store vs the same windows from memory.

Builds a canonical store of realistic size (default 2 years daily on a 64x128 global grid,
8 channels: five surface fields incl. precipitation and temperature on 3 levels), or takes
one with ``--store``, then in one run measures

* the core :class:`WindowSource` (zarr reads alone, forcings alone, whole windows);
* the torch DataLoader (batch 4, shuffled) over the real store and over
  :class:`InMemoryWindows`, with 0 and 2 workers;

and prints samples/second and the ratio real/memory. A ratio near 1 means reading the
store is not the bottleneck. ``--quick`` builds half a year and times 64 samples;
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

        rows = [
            ("core: zarr reads only", "-", _rate(zarr_read, n)),
            ("core: forcings only", "-", _rate(forcing_only, n)),
            ("core: WindowSource[i]", "-", _rate(lambda k: source[int(order[k])], n)),
            ("core: InMemoryWindows[i]", "-", _rate(lambda k: memory[int(order[k])], n)),
        ]
        ratios = []
        for workers in args.workers:
            real = _loader_rate(source, workers, args.batch_size, n)
            mem = _loader_rate(memory, workers, args.batch_size, n)
            rows += [(f"DataLoader real zarr (bs {args.batch_size})", str(workers), real),
                     (f"DataLoader memory    (bs {args.batch_size})", str(workers), mem)]
            ratios.append((workers, real / mem))

        print(f"{'what':<36}{'workers':>8}{'samples/s':>12}")
        for what, workers, rate in rows:
            print(f"{what:<36}{workers:>8}{rate:>12.1f}")
        print()
        core_ratio = rows[2][2] / rows[3][2]
        print(f"ratio real/memory, core WindowSource: {core_ratio:.2f}")
        for workers, ratio in ratios:
            print(f"ratio real/memory, DataLoader workers={workers}: {ratio:.2f}")
        if args.json:
            figures = [{"figure": "core WindowSource real/memory", "value": core_ratio, "unit": "ratio"}]
            figures += [{"figure": f"DataLoader real/memory, {w} workers", "value": r, "unit": "ratio"}
                        for w, r in ratios]
            atomic_write_text(args.json, json.dumps({
                "benchmark": "loader_throughput", "figures": figures,
                "details": {"rows": rows, "grid": args.grid, "years": args.years, "samples": n,
                            "store": str(args.store) if args.store else None}}, indent=1))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
