"""Process-group set-up and tear-down for one process, torchrun, or srun alone.

Where the rank comes from, in this order:

1. ``torchrun`` (also ``srun torchrun`` on clusters): ``RANK``, ``LOCAL_RANK``,
   ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT`` are set by torchrun.
2. ``srun python -m sowcast train ...`` (one task per GPU or per process, no torchrun):
   ``SLURM_PROCID``, ``SLURM_LOCALID`` and ``SLURM_STEP_NUM_TASKS`` (else ``SLURM_NTASKS``);
   the rendezvous address is ``MASTER_ADDR`` if set, else the first host of
   ``SLURM_STEP_NODELIST`` / ``SLURM_JOB_NODELIST`` (task 0's node under the default block
   distribution), else ``SLURM_LAUNCH_NODE_IPADDR``; the port is ``MASTER_PORT`` if set,
   else ``train.master_port``, else ``15000 + SLURM_JOB_ID % 20000`` (so that jobs sharing
   a node do not collide). The torchrun variables are then set from these, so that
   anything reading them agrees.
3. Otherwise one process: no process group at all.

The backend is NCCL when the device is CUDA, gloo otherwise. :func:`teardown` is
``dist.barrier(); dist.destroy_process_group()``; the command-line entry then ends the
process with ``os._exit`` after flushing its streams, which avoids the abort at interpreter
exit that gloo can otherwise cause (PITFALLS.md, "Exit crash").
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from sowcast.errors import SowcastError
from sowcast.parent_death import die_with_parent_at_start


@dataclass
class DistInfo:
    """Who this process is, and on what it computes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None     # "nccl" | "gloo" | None (one process)
    launcher: str = "single"       # "torchrun" | "slurm" | "single"
    owns_group: bool = False       # True when init_distributed created the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()


def _int_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise SowcastError(f"environment variable {name}={value!r} is not an integer") from None


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: ``gpu[003-005,009],cpu1`` -> ``gpu003``."""
    nodelist = nodelist.strip()
    if not nodelist:
        raise SowcastError("empty SLURM node list")
    depth, end = 0, len(nodelist)
    for i, ch in enumerate(nodelist):  # first top-level comma ends the first entry
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            end = i
            break
    entry = nodelist[:end]
    m = re.fullmatch(r"([^\[]*)\[([^\]]+)\](.*)", entry)
    if not m:
        return entry
    prefix, ranges, suffix = m.groups()
    first = ranges.split(",")[0].split("-")[0]
    return f"{prefix}{first}{suffix}"


def launch_environment(master_port: int | None = None) -> tuple[int, int, int, str]:
    """(rank, local rank, world size, launcher) from the environment, and for a SLURM launch
    the rendezvous variables set (see the module docstring)."""
    rank, world = _int_env("RANK"), _int_env("WORLD_SIZE")
    if rank is not None and world is not None:
        local = _int_env("LOCAL_RANK")
        return rank, rank if local is None else local, world, "torchrun"
    rank = _int_env("SLURM_PROCID")
    world = _int_env("SLURM_STEP_NUM_TASKS") or _int_env("SLURM_NTASKS")
    if rank is None or world is None or world <= 1:
        return 0, 0, 1, "single"
    local = _int_env("SLURM_LOCALID")
    if not os.environ.get("MASTER_ADDR"):
        nodelist = os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST") \
            or os.environ.get("SLURM_NODELIST")
        if nodelist:
            os.environ["MASTER_ADDR"] = first_host(nodelist)
        elif os.environ.get("SLURM_LAUNCH_NODE_IPADDR"):
            os.environ["MASTER_ADDR"] = os.environ["SLURM_LAUNCH_NODE_IPADDR"]
        else:
            raise SowcastError("SLURM launch without SLURM_JOB_NODELIST, SLURM_LAUNCH_NODE_IPADDR or MASTER_ADDR")
    if not os.environ.get("MASTER_PORT"):
        if master_port is not None:
            port = int(master_port)
        else:
            port = 15000 + (_int_env("SLURM_JOB_ID") or 14500) % 20000
        os.environ["MASTER_PORT"] = str(port)
    local = rank if local is None else local
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(local), WORLD_SIZE=str(world))
    return rank, local, world, "slurm"


def select_device(device: str, local_rank: int) -> torch.device:
    """``auto`` (CUDA if available), ``cpu`` or ``cuda``; CUDA device ``local_rank`` modulo the
    visible devices (srun --gpus-per-task leaves one visible)."""
    device = str(device).lower()
    if device not in ("auto", "cpu", "cuda"):
        raise SowcastError(f"train.device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise SowcastError("train.device=cuda but CUDA is not available")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def configure_threads(threads: int | str | None) -> None:
    """Intra-op threads: an integer, or ``auto``: keep ``OMP_NUM_THREADS`` if set (torchrun
    sets 1), else ``SLURM_CPUS_PER_TASK`` if set, else torch's default."""
    if threads is None or str(threads).lower() == "auto":
        if os.environ.get("OMP_NUM_THREADS"):
            return
        cpus = _int_env("SLURM_CPUS_PER_TASK")
        if cpus:
            torch.set_num_threads(cpus)
        return
    try:
        n = int(threads)
    except ValueError:
        raise SowcastError(f"train.threads must be auto or a positive integer, not {threads!r}") from None
    if n < 1:
        raise SowcastError(f"train.threads must be auto or a positive integer, not {threads!r}")
    torch.set_num_threads(n)


def init_distributed(device: str = "auto", master_port: int | None = None,
                     timeout_minutes: float = 30.0) -> DistInfo:
    """Join (or create) the process group of this launch; one process needs none."""
    if dist.is_available() and dist.is_initialized():  # the caller set it up: use it as it is
        rank, world = dist.get_rank(), dist.get_world_size()
        local = _int_env("LOCAL_RANK") or 0
        dev = select_device(device, local)
        return DistInfo(rank, local, world, dev, dist.get_backend(), "existing", owns_group=False)
    rank, local, world, launcher = launch_environment(master_port)
    if launcher == "torchrun":  # a rank ends with torchrun, even a kill -9 of it (sowcast.parent_death)
        die_with_parent_at_start()
    dev = select_device(device, local)
    if world == 1:
        return DistInfo(0, 0, 1, dev, None, launcher, owns_group=False)
    if not dist.is_available():
        raise SowcastError("this torch build has no torch.distributed")
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    kwargs = {}
    if backend == "nccl":
        kwargs["device_id"] = dev
    try:
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                timeout=datetime.timedelta(minutes=timeout_minutes), **kwargs)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"rank {rank} could not join the process group at "
                           f"{os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}: {first}") from None
    return DistInfo(rank, local, world, dev, backend, launcher, owns_group=True)


def teardown(info: DistInfo | None, barrier: bool = True) -> None:
    """``dist.barrier(); dist.destroy_process_group()`` for a group this process created.

    ``barrier=False`` after an error: the other ranks may never reach a barrier.
    """
    if info is None or not info.owns_group or not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if barrier:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def broadcast_flag(value: bool, info: DistInfo) -> bool:
    """True on every rank if ``value`` is true on any rank."""
    if not info.distributed:
        return bool(value)
    t = torch.tensor([1.0 if value else 0.0], device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
