"""Training samples per second: the real zarr loader against the same batches from memory.

One run, same model, same batches, same optimiser: (a) batches drawn by the torch
DataLoader from the canonical store on disk (with 0 and with N worker processes), (b) the
very same batches, collated in advance and held in memory. The ratio (a)/(b) says whether
the loader starves the model (target >= 0.9; Anemoi reports about 0.57 on one GPU).

Then the cost of the loss, from memory batches in the same run: MSE on the deterministic
model against the afCRPS on the stochastic one (``--members`` draws per window, side by
side in the batch as ``sowcast train`` does): windows per second of each and their ratio.
``--quick`` times 10 steps after 2 warm-up steps; ``--json PATH`` also writes the ratios
for ``benchmarks/run_all.py``.

    .venv/bin/python benchmarks/train_throughput.py                     # demo store, small model
    .venv/bin/python benchmarks/train_throughput.py --model tiny --steps 20
    .venv/bin/python benchmarks/train_throughput.py --quick --json /tmp/train.json
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
import time
from pathlib import Path

import torch

from sowcast.atomic import atomic_write_text
from sowcast.cli.main import compose
from sowcast.data.windows import WindowSource
from sowcast.graph.build import build_graph
from sowcast.model.forecaster import build_forecaster
from sowcast.train.dataloader import make_dataloader
from sowcast.train.distributed import select_device
from sowcast.train.losses import AreaWeightedAFCRPS, AreaWeightedMSE
from sowcast.train.trainer import autocast_dtype

QUICK = {"steps": 10, "warmup": 2}


def _step(model, loss_fn, opt, batch, device: torch.device, autocast, forward=None) -> torch.Tensor:
    """One training step as ``sowcast train`` takes it (``forward``: the model's forward, e.g.
    compiled; default the model); the loss stays on the device."""
    opt.zero_grad(set_to_none=True)
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    inputs, forcings = batch["inputs"], batch["forcings"][:, : batch["inputs"].shape[1] + 1]
    inputs, forcings, static = loss_fn.side_by_side(inputs, forcings, batch["static"])
    noise = model.draw_noise(inputs.shape[0], 1, inputs)
    with autocast:
        pred = (model if forward is None else forward)(inputs, forcings, static, None if noise is None else noise[:, 0])
    loss = loss_fn(loss_fn.grouped(pred.float()), batch["targets"][:, 0])
    loss.backward()
    opt.step()
    return loss.detach()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_training(model, loss_fn, opt, batches, steps: int, warmup: int, device: torch.device, autocast,
                   host_sync: bool = False, forward=None) -> float:
    """Samples per second over ``steps`` training steps after ``warmup`` untimed ones.

    ``host_sync``: read each step's loss on the host (``loss.item()``), as the training loop
    did before 2026-12-04; otherwise the device runs ahead and is synchronised once at the end."""
    it = iter(batches)
    for batch in itertools.islice(it, warmup):
        _step(model, loss_fn, opt, batch, device, autocast, forward)
    _sync(device)
    n = 0
    t0 = time.perf_counter()
    for batch in itertools.islice(it, steps):
        loss = _step(model, loss_fn, opt, batch, device, autocast, forward)
        if host_sync:
            loss.item()
        n += batch["inputs"].shape[0]
    _sync(device)
    return n / (time.perf_counter() - t0)


def _peak_memory_mib(device: torch.device) -> float | None:
    """The device's peak allocated memory since the last reset (CUDA only), then reset."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    torch.cuda.reset_peak_memory_stats(device)
    return peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default="data/demo/demo.zarr", help="canonical store (make demo writes one)")
    p.add_argument("--model", default="small", help="model preset in conf/model")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    p.add_argument("--members", type=int, default=2, help="afCRPS members per window (train.ensemble_members)")
    p.add_argument("--noise-channels", type=int, default=8, help="the stochastic model's model.noise_channels")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when there is one")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 autocast on CUDA, fp32 on CPU (as train.precision)")
    p.add_argument("--compile", action="store_true",
                   help="also time afCRPS with the model under torch.compile (default mode)")
    p.add_argument("--quick", action="store_true",
                   help="smaller defaults: " + ", ".join(f"--{k} {v}" for k, v in QUICK.items()))
    p.add_argument("--json", type=Path, help="also write the ratios here (for benchmarks/run_all.py)")
    args = p.parse_args()
    if args.quick:  # explicit options win
        for key, value in QUICK.items():
            if getattr(args, key) == p.get_default(key):
                setattr(args, key, value)
    if not Path(args.store).exists():
        sys.exit(f"no store at {args.store}: run 'make demo' first or pass --store")
    torch.set_num_threads(args.threads)
    device = select_device(args.device, 0)
    dtype = autocast_dtype(args.precision, device)
    autocast = torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()
    cfg = compose([f"model={args.model}"])
    source = WindowSource(args.store, n_input_steps=2, n_target_steps=1)
    t = time.perf_counter()
    from sowcast.graph.mesh_level import is_auto_level

    if is_auto_level(cfg.model.mesh_level):  # as the demo trains it (demo.mesh_level)
        cfg.model.mesh_level = int(cfg.demo.mesh_level)
    graph = build_graph(source.grid, int(cfg.model.mesh_level), dict(cfg.graph), cache_dir=None)
    graph_s = time.perf_counter() - t
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu count {os.cpu_count()}"
    print(f"store {args.store}: {len(source)} windows, {len(source.channels)} channels, grid {source.grid.shape}")
    print(f"model {args.model}: mesh level {cfg.model.mesh_level}, graph built in {graph_s:.2f} s, "
          f"batch {args.batch_size}, {args.threads} torch threads; {device.type} ({where}), "
          f"{'bf16 autocast' if dtype is not None else 'fp32'}")

    def fresh(noise_channels: int, loss: str):
        torch.manual_seed(0)
        model = build_forecaster(dict(cfg.model, noise_channels=noise_channels), graph, source).to(device)
        loss_fn = (AreaWeightedAFCRPS.from_source(source, members=args.members) if loss == "afcrps"
                   else AreaWeightedMSE.from_source(source)).to(device)
        return model, loss_fn, torch.optim.AdamW(model.parameters(), lr=1e-4)

    def timed(batches, noise_channels: int, loss: str, host_sync: bool = False,
              compiled: bool = False) -> tuple[float, float | None]:
        model, loss_fn, opt = fresh(noise_channels, loss)
        forward = torch.compile(model) if compiled else None  # draw_noise stays the module's
        _peak_memory_mib(device)
        rate = _time_training(model, loss_fn, opt, batches, args.steps, args.warmup, device, autocast, host_sync,
                              forward)
        return rate, _peak_memory_mib(device)

    n_batches = args.warmup + args.steps
    results = []
    for workers in args.workers:
        loader = make_dataloader(source, args.batch_size, rank=0, world_size=1, num_workers=workers, seed=0)
        real, _ = timed(loader, 0, "mse")
        # The same batches (same seed, same order), collated up front and held in memory.
        memory_batches = list(itertools.islice(make_dataloader(source, args.batch_size, rank=0, world_size=1,
                                                               num_workers=0, seed=0), n_batches))
        memory, _ = timed(memory_batches, 0, "mse")
        results.append((workers, real, memory))
        print(f"  workers={workers}: real {real:7.1f} samples/s   memory {memory:7.1f} samples/s   "
              f"ratio {real / memory:.2f}", flush=True)
    print(f"\n{'loader workers':>14} {'real zarr':>10} {'memory':>10} {'ratio':>6}")
    for workers, real, memory in results:
        print(f"{workers:>14} {real:>10.1f} {memory:>10.1f} {real / memory:>6.2f}")

    # The loss: MSE (deterministic) against afCRPS (stochastic, members side by side), same
    # batches; and afCRPS again with the loss read on the host after every step.
    losses, peaks = {}, {}
    runs = [("mse", 0, "mse", False, False), ("afcrps", args.noise_channels, "afcrps", False, False),
            ("afcrps, loss read every step", args.noise_channels, "afcrps", True, False)]
    if args.compile:
        runs.append(("afcrps, torch.compile", args.noise_channels, "afcrps", False, True))
    for name, noise, loss, sync, compiled in runs:
        losses[name], peaks[name] = timed(memory_batches, noise, loss, sync, compiled)
    parameters = fresh(args.noise_channels, "afcrps")[0].count_parameters()
    ratio = losses["mse"] / losses["afcrps"]
    sync_ratio = losses["afcrps"] / losses["afcrps, loss read every step"]
    print(f"parameters: {parameters:,} (stochastic)")
    print(f"\n{'memory batches':>30} {'windows/s':>10} {'peak MiB':>9}")
    for name in losses:
        peak = f"{peaks[name]:.0f}" if peaks[name] is not None else "n/a"
        print(f"{name:>30} {losses[name]:>10.1f} {peak:>9}")
    print(f"afCRPS over {args.members} members costs {ratio:.2f} x MSE per window; "
          f"no per-step host sync is {sync_ratio:.2f} x as fast as a sync every step")
    if args.compile:
        print(f"torch.compile: afCRPS {losses['afcrps, torch.compile'] / losses['afcrps']:.2f} x eager "
              f"(timed after {args.warmup} warm-up steps, compilation excluded)")
    if args.json:
        figures = [{"figure": f"afCRPS ({args.members} members) / MSE cost per window", "value": ratio, "unit": "ratio"},
                   {"figure": "afCRPS without / with a per-step host sync", "value": sync_ratio, "unit": "ratio"}]
        for workers, real, memory in results:
            figures += [{"figure": f"real loader/memory, {workers} workers", "value": real / memory, "unit": "ratio"},
                        {"figure": f"samples/s real loader, {workers} workers", "value": real, "unit": "samples/s"}]
        atomic_write_text(args.json, json.dumps({
            "benchmark": "train_throughput", "figures": figures,
            "details": {"store": args.store, "model": args.model, "batch_size": args.batch_size,
                        "steps": args.steps, "threads": args.threads, "device": str(device),
                        "precision": "bf16" if dtype is not None else "fp32", "parameters": parameters,
                        "results": results, "windows_per_s": losses, "peak_mib": peaks}}, indent=1))


if __name__ == "__main__":
    main()
