"""The training loop: one code path for one process, torchrun (one node or many) and srun alone.

:func:`train` takes the composed config (``cfg.data``, ``cfg.graph``, ``cfg.model``,
``cfg.train``; see ``conf/train/default.yaml``) and

1. joins the process group if launched as several processes
   (:mod:`sowcast.train.distributed`: NCCL on CUDA, gloo on CPU);
2. opens the training windows (``train.train_range``; ``data.loader`` gives
   ``n_input_steps``, ``prognostic`` and ``static``; the windows hold as many targets as
   the longest rollout of ``train.rollout``, whatever ``data.loader.n_target_steps`` says)
   and the validation windows (``train.validation_range``, ``max(validation_leads)`` targets);
3. builds the graph (rank 0 first, into ``graph.cache_dir``; the others then read the
   cache) and the model (``cfg.model``), wrapped in
   ``DistributedDataParallel(find_unused_parameters=False, broadcast_buffers=False)``
   when there are several ranks; the DDP module's forward is the model's rollout, so the
   gradient all-reduce also covers multi-step rollouts;
4. resumes from a checkpoint (``train.resume``: ``auto`` = the latest one that verifies),
   restoring model, optimiser, scheduler, step, epoch, RNG states and the loader position,
   so that an interrupted and resumed run ends with the same weights as an uninterrupted
   one (bitwise on CPU with the same number of ranks and threads);
5. trains to ``train.max_steps``: AdamW, warm-up + cosine schedule, the rollout
   curriculum, area-weighted MSE of the normalised increment, gradient clipping, bf16
   autocast on CUDA only; validates every ``validate_every`` steps; checkpoints every
   ``checkpoint_every`` steps, at the end and when SIGTERM/SIGUSR1 asks to stop
   (:mod:`sowcast.train.signals`), which all ranks agree on each step.

Outputs in ``train.run_dir``: ``checkpoints/`` (:mod:`sowcast.train.checkpoint`),
``metrics.csv`` (:mod:`sowcast.train.metrics_log`), ``status.json`` (``running``, updated
atomically at every ``log_every`` step and checkpoint with the step, loss and samples/s;
then ``finished`` / ``stopped``, the step and the checkpoint), ``config.yaml`` and a cached
climatology for validation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import shutil
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from sowcast.atomic import atomic_write_text
from sowcast.config import plain
from sowcast.config_values import number
from sowcast.data.time_ranges import auto_ranges, inclusive_end, is_auto
from sowcast.data.windows import DEFAULT_CHUNK_CACHE_MIB, DEFAULT_MEMORY_BUDGET_MIB, WindowSource
from sowcast.errors import SowcastError
from sowcast.output_lock import acquire
from sowcast.train import distributed as D
from sowcast.train.checkpoint import CheckpointManager, capture_rng, load_checkpoint, parameter_digest, restore_rng
from sowcast.train.dataloader import make_dataloader
from sowcast.train.losses import make_loss
from sowcast.train.metrics_log import MetricsLog
from sowcast.train.schedule import RolloutCurriculum, make_optimizer, make_scheduler
from sowcast.train.signals import StopFlag
from sowcast.train.validation import Validator, load_or_compute_climatology


@dataclass
class TrainResult:
    state: str                      # "finished" | "stopped"
    step: int
    run_dir: Path
    launcher: str                   # "single" | "torchrun" | "slurm" | "existing"
    rank: int = 0
    world_size: int = 1
    last_loss: float | None = None
    samples_per_s: float | None = None   # global training samples per second (validation excluded)
    validation: Any = None               # the last ValidationResult, if any
    checkpoint: str | None = None
    signal: str | None = None


class RolloutStep(nn.Module):
    """The module DDP wraps: its forward is the model's rollout, so DDP sees every call."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor, forcings: torch.Tensor, static: torch.Tensor, n_steps: int,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.rollout(inputs, forcings, static, n_steps, noise)


def _optional_list(value: Any) -> list | None:
    value = plain(value)
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _range(value: Any, what: str) -> list | str | None:
    value = plain(value)
    if value is None or is_auto(value):
        return value
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise SowcastError(f"{what} must be [start, end], auto or null, not {value!r}")
    return [None if v is None else str(v) for v in value]


def autocast_dtype(name: str, device: torch.device) -> torch.dtype | None:
    name = str(name).lower()
    if name not in ("auto", "fp32", "bf16"):
        raise SowcastError(f"train.precision must be auto, fp32 or bf16, not {name!r}")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return torch.bfloat16 if name == "bf16" else None


def _span(value: list | None) -> str:
    return "null" if value is None else f"{value[0]}..{value[1]}"


def _ranges_overlap(a: list | None, b: list | None) -> bool:
    if a is None or b is None:
        return True
    lo = max(pd.Timestamp(a[0] or "1677-09-22"), pd.Timestamp(b[0] or "1677-09-22"))
    hi = min(inclusive_end(a[1] or "2262-04-10", "train.train_range end"),
             inclusive_end(b[1] or "2262-04-10", "train.validation_range end"))
    return lo <= hi


def _gather(obj: Any, info: D.DistInfo) -> list[Any]:
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def _broadcast(obj: Any, info: D.DistInfo) -> Any:
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _rank0_first(fn, info: D.DistInfo) -> Any:
    """Run ``fn`` on rank 0, then (if it worked) on the other ranks; a :class:`SowcastError`
    on rank 0 is raised on every rank instead of leaving the others waiting at a collective."""
    error, result = None, None
    if info.is_main:
        try:
            result = fn()
        except SowcastError as exc:
            error = str(exc)
    error = _broadcast(error, info)
    if error is not None:
        raise SowcastError(error)
    if not info.is_main:
        result = fn()
    return result


def _wrap_ddp(module: nn.Module, info: D.DistInfo) -> nn.Module:
    """DDP without unused-parameter search and without buffer sync in forward: the buffers
    (statistics, graph tables) are constants, equal on every rank. torch >= 2.13 names the
    option ``forward_sync_buffers`` (``broadcast_buffers`` warns as deprecated there)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    kwargs: dict[str, Any] = dict(find_unused_parameters=False)
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
        kwargs["forward_sync_buffers"] = False
    else:
        kwargs["broadcast_buffers"] = False
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, **kwargs)


def train(cfg: DictConfig | Mapping[str, Any]) -> TrainResult:
    """Train as the config says (module docstring); returns how the run ended.

    Joins (and afterwards leaves) the process group when launched as several processes;
    a group set up by the caller is used as it is and left alone.
    """
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(dict(cfg))
    t = cfg.train
    info = D.init_distributed(str(t.get("device", "auto")), t.get("master_port"))
    ok = False
    try:
        result = _Trainer(cfg, info).run()
        ok = True
        return result
    finally:
        D.teardown(info, barrier=ok)


class _Trainer:
    def __init__(self, cfg: DictConfig, info: D.DistInfo):
        self.cfg, self.info, self.t = cfg, info, cfg.train
        self.progress = bool(cfg.get("progress", True)) and info.is_main
        self._flag_group = None   # on CUDA with several ranks: a gloo group for the stop flag

    def log(self, message: str) -> None:
        if self.info.is_main:
            from tqdm import tqdm

            tqdm.write(f"sowcast train: {message}", file=sys.stderr)

    # -- set-up --------------------------------------------------------------------------------
    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def _sources(self, curriculum: RolloutCurriculum) -> tuple[WindowSource, WindowSource | None]:
        t, loader = self.t, self.cfg.data.get("loader", {}) or {}
        store = self.cfg.data.get("store")
        if not store:
            raise SowcastError("data.store is not set")
        common = dict(n_input_steps=int(loader.get("n_input_steps", 2)),
                      prognostic=_optional_list(loader.get("prognostic")),
                      static=_optional_list(loader.get("static")),
                      in_memory=loader.get("in_memory", "auto"),
                      memory_budget_mib=number(loader.get("memory_budget_mib", DEFAULT_MEMORY_BUDGET_MIB),
                                               "data.loader.memory_budget_mib", 0),
                      chunk_cache_mib=number(loader.get("chunk_cache_mib", DEFAULT_CHUNK_CACHE_MIB),
                                             "data.loader.chunk_cache_mib", 0))
        train_range = _range(t.get("train_range"), "train.train_range")
        val_range = _range(t.get("validation_range"), "train.validation_range")
        leads = [int(x) for x in plain(t.validation_leads)] if val_range is not None else [1]
        if not leads or min(leads) < 1:
            raise SowcastError(f"train.validation_leads must be positive step counts, not {leads}")
        if is_auto(train_range) or is_auto(val_range):
            times = WindowSource(store, n_target_steps=1, **common).times
            train_range, val_range = auto_ranges(times, train_range, val_range, common["n_input_steps"],
                                                 curriculum.max_steps, max(leads))
            with open_dict(self.cfg):  # the checkpoints, config.yaml and the bundle record the ranges used
                t.train_range, t.validation_range = train_range, val_range
            self.log(f"train.train_range {_span(train_range)}, train.validation_range {_span(val_range)} "
                     "(auto: from the store's span)")
        train_source = WindowSource(store, n_target_steps=curriculum.max_steps, time_range=train_range,
                                    range_setting="train.train_range", targets_setting="train.rollout", **common)
        val_source = None
        if val_range is not None and int(t.validate_every) > 0:
            if _ranges_overlap(train_range, val_range):
                warnings.warn(f"train.train_range {train_range} and train.validation_range {val_range} overlap: "
                              "validation is not on held-out data", stacklevel=2)
            val_source = WindowSource(store, n_target_steps=max(leads), time_range=val_range,
                                      range_setting="train.validation_range",
                                      targets_setting="train.validation_leads", **common)
        return train_source, val_source

    def _graph(self, source: WindowSource):
        from sowcast.graph.build import build_graph

        graph_cfg = plain(self.cfg.get("graph", {})) or {}
        cache_dir = graph_cfg.pop("cache_dir", None)
        from sowcast.graph.mesh_level import resolve_mesh_level

        mesh_level, chosen = resolve_mesh_level(plain(self.cfg.model.get("mesh_level")), source.grid)
        if chosen:  # the checkpoints, config.yaml and the bundle record the level used
            with open_dict(self.cfg):
                self.cfg.model.mesh_level = mesh_level
            self.log(f"model.mesh_level {mesh_level} (auto: the finest level with mesh edges of at least "
                     "4 grid spacings, sowcast/graph/mesh_level.py)")
        # Rank 0 builds and caches the graph; the others then read the cache.
        return _rank0_first(lambda: build_graph(source.grid, int(mesh_level), graph_cfg, cache_dir=cache_dir),
                            self.info)

    def _climatology_path(self, source: WindowSource) -> Path:
        key = json.dumps([str(Path(source.store_path).resolve()), source.channels,
                          str(source.times[source._first]), len(source)])
        return self.run_dir / f"climatology-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"

    def _prepare_run_dir(self, manager: CheckpointManager, resume: str) -> None:
        """resume=never on a run_dir with checkpoints: an error, or with overwrite=true a fresh start."""
        if resume != "never" or not manager.steps():
            return
        if not bool(self.cfg.get("overwrite", False)):
            raise SowcastError(f"{self.run_dir} holds checkpoints of an earlier run; use train.resume=auto "
                               "to go on with it, another train.run_dir, or overwrite=true to start afresh")
        if self.info.is_main:
            shutil.rmtree(manager.directory, ignore_errors=True)
            for name in ("metrics.csv", "status.json"):
                (self.run_dir / name).unlink(missing_ok=True)
        D.barrier(self.info)

    def _write_status(self, state: str, step: int, **extra: Any) -> None:
        """``<run_dir>/status.json``, replaced atomically: ``state`` (``running`` / ``finished`` /
        ``stopped``: the sbatch scripts grep for ``"stopped"``), ``step``, ``max_steps``, the UTC
        ``time`` and ``extra``: while running, at every ``log_every`` step and checkpoint, the
        interval's mean ``loss``, ``lr``, ``rollout``, ``samples_per_s`` and the latest ``checkpoint``."""
        if self.info.is_main:
            status = {"state": state, "step": int(step), "max_steps": int(self.t.max_steps),
                      "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
            atomic_write_text(self.run_dir / "status.json", json.dumps(status, indent=1) + "\n")

    # -- checkpoints ---------------------------------------------------------------------------
    def _resume(self, manager: CheckpointManager, resume: str) -> dict[str, Any] | None:
        """Rank 0 finds the checkpoint; every rank loads that same one."""
        found: dict[str, Any] = {}

        def resolve() -> str | None:
            if not self.info.is_main:
                return found.get("path")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                found["payload"] = manager.resolve(resume)
            for w in caught:
                self.log(str(w.message))
            return found["payload"]["path"] if found["payload"] is not None else None

        path = _broadcast(_rank0_first(resolve, self.info), self.info)
        if path is None:
            return None
        if self.info.is_main:
            return found["payload"]
        return load_checkpoint(path)

    def _check_compatible(self, payload: Mapping[str, Any], model: nn.Module, source: WindowSource) -> None:
        mine = model.hyperparameters()
        theirs = dict(payload.get("hyperparameters") or {})
        if theirs != mine:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise SowcastError(f"checkpoint {payload.get('path')} was made by another model "
                               f"({', '.join(f'{k}: {theirs.get(k)} vs {mine.get(k)}' for k in diff)}); "
                               "use train.resume=never overwrite=true or another train.run_dir")
        if list(payload.get("channels", [])) != list(source.channels):
            raise SowcastError(f"checkpoint {payload.get('path')} has channels {payload.get('channels')}, "
                               f"the data has {source.channels}")

    def _save(self, manager: CheckpointManager, step: int, epoch: int, val_loss: float | None,
              best_val: float | None) -> str | None:
        info = self.info
        gathered = _gather({"rng": capture_rng(), "noise_rng": self.noise_generator.get_state().cpu(),
                            "digest": parameter_digest(self.model)}, info)
        if not info.is_main:
            return None
        digests = [g["digest"] for g in gathered]
        if len(set(digests)) > 1:
            warnings.warn(f"DDP ranks hold different parameters at step {step}: {digests}", stacklevel=2)
        sampler_state = dict(self.loader.sampler.state_dict(), world_size=info.world_size)
        src = self.train_source
        payload = {
            "step": int(step), "epoch": int(epoch),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": sampler_state,
            "rng": [g["rng"] for g in gathered],
            "noise_rng": [g["noise_rng"] for g in gathered],
            "hyperparameters": self.model.hyperparameters(),
            "channels": list(src.channels), "forcings": list(src.forcing_names), "static": list(src.static_names),
            "statistics": {k: [float(x) for x in v] for k, v in src.statistics.items()},
            "static_statistics": {k: [float(x) for x in v] for k, v in src.static_statistics.items()},
            "grid": {"lat": [float(x) for x in src.grid.lat], "lon": [float(x) for x in src.grid.lon]},
            "time_step": str(pd.Timedelta(src.time_step).isoformat()),
            "n_input_steps": int(src.n_input_steps),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "best_val_loss": best_val,
            "param_digests": digests,
            "world_size": info.world_size,
        }
        return str(manager.save(payload, step, val_loss))

    def _restore(self, payload: Mapping[str, Any]) -> tuple[int, int, float | None]:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        sampler = self.loader.sampler
        state = dict(payload["sampler"])
        saved_world = int(state.pop("world_size", self.info.world_size))
        if saved_world != self.info.world_size:
            # Same number of samples seen overall; the shards of the epoch differ, so the
            # rest of this epoch is only approximately the one an unbroken run would see.
            state["position"] = int(state["position"]) * saved_world // self.info.world_size
            self.log(f"resuming a {saved_world}-rank run on {self.info.world_size} ranks: the loader position is approximate")
        sampler.load_state_dict(state)
        rngs = payload.get("rng") or []
        if rngs:
            restore_rng(rngs[self.info.rank] if len(rngs) == self.info.world_size else rngs[0])
        noise = payload.get("noise_rng") or []
        if len(noise) == self.info.world_size:
            self.noise_generator.set_state(noise[self.info.rank])
        return int(payload["step"]), int(payload["epoch"]), payload.get("best_val_loss")

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        t, info = self.t, self.info
        previous_threads = torch.get_num_threads()
        D.configure_threads(t.get("threads", "auto"))
        seed = int(t.seed)
        self._seed(seed)
        det = str(t.get("deterministic", "auto")).lower()
        deterministic = info.device.type == "cpu" if det == "auto" else det in ("true", "1", "yes")
        previous_det = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
        try:
            return self._run(seed)
        finally:  # leave the process as it was for in-process callers
            if getattr(self, "_run_lock", None) is not None:
                self._run_lock.release()
                self._run_lock = None
            torch.use_deterministic_algorithms(previous_det)
            torch.set_num_threads(previous_threads)

    def _run(self, seed: int) -> TrainResult:
        from sowcast.model.forecaster import build_forecaster

        cfg, t, info = self.cfg, self.t, self.info
        max_steps, batch_size = int(t.max_steps), int(t.batch_size)
        if max_steps < 0 or batch_size < 1:
            raise SowcastError(f"train.max_steps must be >= 0 and train.batch_size >= 1 (got {max_steps}, {batch_size})")
        dtype = autocast_dtype(t.get("precision", "auto"), info.device)
        autocast = (torch.autocast(info.device.type, dtype=dtype) if dtype is not None
                    else contextlib.nullcontext())
        curriculum = RolloutCurriculum(plain(t.rollout))
        self.run_dir = Path(str(t.run_dir))
        # One writer per run folder (sowcast.output_lock): only rank 0 writes it, so only rank 0
        # holds the lock, until run() ends; a refusal there is raised on every rank.
        self._run_lock = _rank0_first(lambda: acquire(self.run_dir) if info.is_main else None, info)
        resume = str(t.get("resume", "auto"))

        train_source, val_source = self._sources(curriculum)
        self.train_source = train_source
        graph = self._graph(train_source)
        model = build_forecaster(plain(cfg.model), graph, train_source).to(info.device)
        self.model = model
        # The members' noise: its own generator, one stream per rank, saved in the checkpoints
        # (the global one also serves the data loader, whose draws differ after a resume).
        self.noise_generator = torch.Generator(device=info.device)
        self.noise_generator.manual_seed(int(np.random.SeedSequence([seed, info.rank]).generate_state(1)[0]))
        loss_fn = make_loss(t, train_source, model).to(info.device)
        self.optimizer = make_optimizer(model, float(t.lr), float(t.weight_decay), plain(t.get("betas", [0.9, 0.95])))
        self.scheduler = make_scheduler(self.optimizer, float(t.lr), int(t.warmup_steps), max_steps, float(t.lr_min))
        if len(train_source) < batch_size * info.world_size:
            raise SowcastError(f"{len(train_source)} training windows are fewer than one global batch "
                               f"({batch_size} x {info.world_size} ranks)")
        self.loader = make_dataloader(train_source, batch_size, info.rank, info.world_size,
                                      num_workers=int(t.num_workers), shuffle=True, seed=seed, drop_last=True)
        manager = CheckpointManager(self.run_dir / "checkpoints", int(t.keep_last), writer=info.is_main)
        self._prepare_run_dir(manager, resume)

        step, epoch, best_val = 0, 0, None
        payload = self._resume(manager, resume)
        if payload is not None:
            self._check_compatible(payload, model, train_source)
            step, epoch, best_val = self._restore(payload)
            self.log(f"resuming from {payload['path']} at step {step}")
            del payload
        else:
            self.loader.sampler.set_epoch(0)
        if info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        metrics = MetricsLog(self.run_dir / "metrics.csv", enabled=info.is_main, tensorboard=bool(t.get("tensorboard", False)))
        metrics.truncate_after(step)

        validator = None
        if val_source is not None:
            clim = load_or_compute_climatology(train_source, self._climatology_path(train_source), info.is_main,
                                               info.distributed, progress=self.progress)
            validator = Validator(val_source, plain(t.validation_leads), int(t.validation_windows), loss_fn, clim,
                                  batch_size=batch_size, rank=info.rank, world_size=info.world_size)
            if clim.kind != "day_of_year":
                self.log("the training range holds less than a year (or is too big): climatology is the store mean")

        ddp: nn.Module = RolloutStep(model)
        if info.distributed:
            ddp = _wrap_ddp(ddp, info)
            if info.device.type != "cpu":  # the stop flag's own host-side group (_agree_stop)
                self._flag_group = dist.new_group(backend="gloo")
        if bool(t.get("compile", False)):  # the step only: checkpoints and validation use `model`
            ddp = torch.compile(ddp)
        kind = (f"stochastic, afCRPS (alpha {loss_fn.alpha}) over {loss_fn.members} members per window"
                if loss_fn.members > 1 else "deterministic, MSE")
        self.log(f"{model.count_parameters():,} parameters ({kind}); {len(train_source)} training windows; "
                 f"{info.world_size} rank(s) on {info.device.type}"
                 f"{' (' + info.launcher + ')' if info.world_size > 1 else ''}; "
                 f"global batch {batch_size * info.world_size}; steps {step}..{max_steps}")
        anchor = getattr(model, "ocean_anchor_note", "off")
        if anchor != "off":   # model.direct_ocean_index (sowcast.data.ocean_anchor)
            self.log(f"direct channels' centre moved by the ocean: {anchor}")
        self._write_status("running", step)

        result = self._loop(ddp, model, loss_fn, curriculum, autocast, manager, metrics, validator,
                            step, epoch, best_val, max_steps)
        metrics.close()
        return result

    def _loop(self, ddp, model, loss_fn, curriculum, autocast, manager, metrics, validator,
              step: int, epoch: int, best_val: float | None, max_steps: int) -> TrainResult:
        """Train from ``step`` to ``max_steps`` or until a rank is signalled: each step is
        :meth:`_train_step`, then the ranks agree on stopping (:meth:`_agree_stop`);
        the interval is logged every ``log_every`` steps, validated every ``validate_every``
        and checkpointed every ``checkpoint_every``, at the end, on a stop and after a validation."""
        from tqdm import tqdm

        t, info = self.t, self.info
        grad_clip = t.get("grad_clip")
        log_every = max(int(t.get("log_every", 10)), 1)
        validate_every = int(t.get("validate_every", 0))
        checkpoint_every = max(int(t.checkpoint_every), 1)
        global_batch = int(t.batch_size) * info.world_size
        loader, sampler = self.loader, self.loader.sampler
        params = [p for p in model.parameters() if p.requires_grad]
        s = _LoopState(step=step, epoch=epoch, best_val=best_val,
                       last_saved=step if manager.steps() and manager.steps()[-1][0] == step else None)
        flag = StopFlag()
        bar = tqdm(total=max_steps, initial=step, desc="train", unit="step", disable=not self.progress,
                   dynamic_ncols=True, mininterval=1.0)
        it = None
        flag.install()
        try:
            it = iter(loader)
            while s.step < max_steps:
                t0 = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    s.epoch += 1
                    sampler.set_epoch(s.epoch)
                    it = iter(loader)
                    continue
                n = curriculum(s.step)
                lr = self.optimizer.param_groups[0]["lr"]
                loss = self._train_step(ddp, model, loss_fn, batch, n, autocast, params, grad_clip)
                s.step += 1
                s.stop = self._agree_stop(flag)
                s.count_step(loss.detach(), time.perf_counter() - t0, global_batch)
                bar.update(1)

                logged = s.step % log_every == 0 or s.step == max_steps or s.stop
                if logged:
                    self._log_interval(s, metrics, bar, lr, n)
                val_loss = None
                if validator is not None and (s.step % validate_every == 0 or s.step == max_steps) and not s.stop:
                    val_loss = self._validate(s, validator, model, autocast, metrics)
                if (s.step % checkpoint_every == 0 or s.step == max_steps or s.stop or val_loss is not None) \
                        and s.last_saved != s.step:
                    s.checkpoint = self._save(manager, s.step, s.epoch, val_loss, s.best_val) or s.checkpoint
                    s.last_saved = s.step
                    logged = True
                if logged and s.step < max_steps and not s.stop:  # live progress (the end writes its own)
                    self._write_status("running", s.step, checkpoint=s.checkpoint, **s.progress)
                if s.stop:
                    break
        finally:
            flag.restore()
            bar.close()
            _shutdown_workers(it, loader)
        return self._finish(s, manager, flag, max_steps)

    def _train_step(self, ddp, model, loss_fn, batch: Mapping[str, torch.Tensor], n: int, autocast,
                    params: list[torch.Tensor], grad_clip) -> torch.Tensor:
        """One optimiser and scheduler step on ``batch`` with an ``n``-step rollout (the members
        of a window side by side, their noise from this rank's generator; gradients clipped to
        ``grad_clip`` when it is > 0); returns this rank's loss."""
        device, t_in = self.info.device, self.train_source.n_input_steps
        inputs = batch["inputs"].to(device, non_blocking=True)
        targets = batch["targets"][:, :n].to(device, non_blocking=True)
        forcings = batch["forcings"][:, :t_in + n].to(device, non_blocking=True)
        static = batch["static"].to(device, non_blocking=True)
        inputs, forcings, static = loss_fn.side_by_side(inputs, forcings, static)
        noise = model.draw_noise(inputs.shape[0], n, inputs, self.noise_generator)
        with autocast:
            pred = ddp(inputs, forcings, static, n, noise)
        loss = loss_fn(loss_fn.grouped(pred.float()), targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None and float(grad_clip) > 0:
            torch.nn.utils.clip_grad_norm_(params, float(grad_clip))
        self.optimizer.step()
        self.scheduler.step()
        return loss

    def _agree_stop(self, flag: StopFlag) -> bool:
        """Whether any rank was signalled: one collective per step, on the host.

        No device sync: on CUDA the flag goes over a gloo group of its own
        (:attr:`_flag_group`), so the host queues the next step while the GPU runs this one;
        the loss stays on the device until the interval is logged (:meth:`_log_interval`)."""
        if not self.info.distributed:
            return flag.set
        t = torch.tensor([float(flag.set)])
        if self.info.device.type == "cpu":
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        else:
            dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self._flag_group)
        return bool(t.item() > 0)

    def _mean_over_ranks(self, values: torch.Tensor) -> list[float]:
        """``values`` (this rank's, on the device) averaged over the ranks, read on the host."""
        if self.info.distributed:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.info.world_size
        return [float(v) for v in values.cpu()]

    def _log_interval(self, s: _LoopState, metrics: MetricsLog, bar, lr: float, n: int) -> None:
        """The interval's mean loss, the lr, the rollout and samples/s to ``metrics.csv``, the
        progress bar and (kept in ``s.progress``) ``status.json``; a new interval starts."""
        rate = s.train_samples / s.train_time if s.train_time > 0 else float("nan")
        total, s.last_loss = self._mean_over_ranks(torch.stack([s.interval_loss, s.step_loss]))
        loss = total / s.interval_n
        s.progress = {"loss": loss, "lr": lr, "rollout": n, "samples_per_s": None if rate != rate else round(rate, 4)}
        metrics.log(s.step, {"loss": loss, "lr": lr, "rollout": n, "samples_per_s": rate}, split="train", epoch=s.epoch)
        bar.set_postfix(loss=f"{loss:.4g}", lr=f"{lr:.2e}", n=n, refresh=False)
        s.interval_loss, s.interval_n = 0.0, 0

    def _validate(self, s: _LoopState, validator: Validator, model: nn.Module, autocast,
                  metrics: MetricsLog) -> float:
        """Validate (bf16 autocast on CUDA only), log the scores and keep the best loss; returns the loss."""
        device = self.info.device
        res = validator.run(model, device, autocast if device.type == "cuda" else None)
        metrics.log_rows(res.rows(s.step, s.epoch))
        s.last_val = res
        self.log(f"step {s.step}: {res.summary()}")
        if s.best_val is None or res.loss < s.best_val:
            s.best_val = res.loss
        return res.loss

    def _finish(self, s: _LoopState, manager: CheckpointManager, flag: StopFlag, max_steps: int) -> TrainResult:
        """``status.json`` says ``finished`` or ``stopped`` (with the signal) and the last
        checkpoint; the result of the run."""
        info = self.info
        state = "stopped" if s.stop and s.step < max_steps else "finished"
        signal_name = flag.name
        checkpoint = s.checkpoint
        if checkpoint is None and manager.steps():
            checkpoint = str(manager.steps()[-1][1])
        self._write_status(state, s.step, checkpoint=checkpoint, signal=signal_name if state == "stopped" else None,
                           **s.progress)
        if state == "stopped":
            self.log(f"stopped at step {s.step} ({signal_name or 'signal on another rank'}); checkpoint {checkpoint}; "
                     "resume with train.resume=auto")
        else:
            self.log(f"finished at step {s.step}; checkpoint {checkpoint}")
        return TrainResult(state=state, step=s.step, run_dir=self.run_dir, launcher=info.launcher, rank=info.rank,
                           world_size=info.world_size, last_loss=s.last_loss,
                           samples_per_s=s.train_samples / s.train_time if s.train_time > 0 else None,
                           validation=s.last_val, checkpoint=checkpoint, signal=signal_name)


@dataclass
class _LoopState:
    """Where the training loop stands: its counters, the interval being logged and the last results."""

    step: int
    epoch: int
    best_val: float | None
    last_saved: int | None              # the step of the newest checkpoint, if it is the current one
    checkpoint: str | None = None       # the path of the last checkpoint written by this run
    stop: bool = False                  # a rank was signalled
    last_loss: float | None = None      # the last logged step's loss, averaged over the ranks
    last_val: Any = None                # the last ValidationResult
    interval_loss: Any = 0.0            # this rank's losses of the steps since the last log (a device tensor)
    step_loss: Any = 0.0                # this rank's loss of the last step (a device tensor)
    interval_n: int = 0
    progress: dict[str, Any] = field(default_factory=dict)   # the last logged interval, for status.json
    train_time: float = 0.0             # seconds of the steps after the first
    train_samples: int = 0
    first_step: bool = True

    def count_step(self, loss: torch.Tensor, seconds: float, samples: int) -> None:
        """Add a step (this rank's loss, left on the device: no sync) to the interval and, but
        for the first (worker start-up, warm-up), to the throughput."""
        if not self.first_step:
            self.train_time += seconds
            self.train_samples += samples
        self.first_step = False
        self.step_loss = loss.double()
        self.interval_loss = self.interval_loss + self.step_loss
        self.interval_n += 1


def _shutdown_workers(it, loader) -> None:
    """Stop the loader's persistent workers now, not at exit."""
    if it is not None and hasattr(it, "_shutdown_workers"):
        it._shutdown_workers()
    if getattr(loader, "_iterator", None) is not None and hasattr(loader._iterator, "_shutdown_workers"):
        loader._iterator._shutdown_workers()
