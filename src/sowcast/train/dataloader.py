"""torch DataLoader over :class:`sowcast.data.windows.WindowSource`, sharded and resumable.

* :class:`WindowDataset`: the windows as torch tensors.
* :class:`ShardedWindowSampler`: like ``torch.utils.data.DistributedSampler`` (a permutation
  seeded by ``seed + epoch``, cut into disjoint equal shards, rank ``r`` taking every
  ``world_size``-th index from ``r``), plus a position within the epoch that
  :meth:`state_dict` / :meth:`load_state_dict` carry, so training resumes mid-epoch on
  exactly the next sample.
* :func:`make_dataloader`: rank and world size from ``torch.distributed``, ``RANK`` /
  ``WORLD_SIZE`` (torchrun) or ``SLURM_PROCID`` / ``SLURM_NTASKS`` (srun); workers reopen
  the store and run dask synchronously (the fork deadlock in PITFALLS.md). A source that
  holds its states in memory (``WindowSource(in_memory=...)``) loads them in this process
  before forked workers start, so they share one copy; a spawned worker loads its own.

The position counts samples *delivered to the training loop*: with worker processes the
DataLoader draws indices ahead of consumption (prefetch), so :class:`WindowDataLoader`
rewinds the sampler's position to the delivered count after each batch. Checkpoint
``loader.sampler.state_dict()`` between batches.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError


class WindowDataset(Dataset):
    """:class:`WindowSource` windows as tensors: inputs, targets, forcings, static, time."""

    def __init__(self, source: WindowSource):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        window = self.source[i]
        return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray)
                else torch.tensor(v) for k, v in window.items()}


class ShardedWindowSampler(Sampler[int]):
    """This rank's share of a seeded per-epoch permutation of ``range(n)``, resumable.

    ``drop_last=True`` drops the tail that does not divide by ``world_size``; otherwise the
    permutation is padded by repeating its start (as ``DistributedSampler`` does). Every
    rank yields ``num_samples`` indices per epoch; shards of one epoch are disjoint (with
    ``drop_last``) and together cover the (trimmed) permutation.
    """

    def __init__(self, n: int, rank: int = 0, world_size: int = 1, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True):
        if world_size < 1 or not 0 <= rank < world_size:
            raise SowcastError(f"rank {rank} is not in a world of size {world_size}")
        if n < 1:
            raise SowcastError("no windows to sample from")
        if drop_last and n < world_size:
            raise SowcastError(f"{n} windows cannot be shared among {world_size} ranks")
        self.n, self.rank, self.world_size = int(n), int(rank), int(world_size)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.num_samples = n // world_size if drop_last else -(-n // world_size)
        self.epoch = 0
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` (from its beginning), unless it is the epoch already under way."""
        if int(epoch) != self.epoch:
            self.epoch = int(epoch)
            self.position = 0

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """This rank's whole index list for ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        else:
            order = np.arange(self.n)
        total = self.num_samples * self.world_size
        if total > self.n:
            order = np.concatenate([order, np.resize(order, total - self.n)])
        return order[self.rank:total:self.world_size]

    def _start(self) -> int:
        """Where the next iteration starts: the saved position, or 0 after a finished epoch."""
        if self.position >= self.num_samples:
            self.position = 0
        return self.position

    def __iter__(self) -> Iterator[int]:
        start = self._start()
        return self._generate(self.indices()[start:], start)

    def _generate(self, todo: np.ndarray, start: int) -> Iterator[int]:
        for k, i in enumerate(todo):
            self.position = start + k + 1
            yield int(i)

    def __len__(self) -> int:
        return self.num_samples - (self.position if self.position < self.num_samples else 0)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "seed": self.seed, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.seed = int(state["seed"])
        self.position = int(state["position"])


class WindowDataLoader(DataLoader):
    """A DataLoader that keeps its :class:`ShardedWindowSampler` position at the samples
    delivered so far (not those prefetched by workers), so a checkpoint resumes exactly."""

    def __iter__(self) -> Iterator[Any]:
        sampler = self.sampler
        if not isinstance(sampler, ShardedWindowSampler):
            yield from super().__iter__()
            return
        start = sampler._start()
        delivered = 0
        for batch in super().__iter__():
            delivered += _batch_size(batch)
            sampler.position = start + delivered
            yield batch
        sampler.position = sampler.num_samples  # epoch finished (a dropped tail included)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        batch = next(iter(batch.values()))
    if isinstance(batch, (list, tuple)):
        batch = batch[0]
    return int(batch.shape[0])


def distributed_rank_world() -> tuple[int, int]:
    """(rank, world size) from torch.distributed, torchrun's or SLURM's environment, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    for rank_var, world_var in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        if rank_var in os.environ and world_var in os.environ:
            try:
                return int(os.environ[rank_var]), int(os.environ[world_var])
            except ValueError:
                raise SowcastError(f"{rank_var}={os.environ[rank_var]!r} / {world_var}={os.environ[world_var]!r} are not integers") from None
    return 0, 1


def worker_init(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: dask synchronous, reopen the store in this process, and
    hold the states in memory if the source holds them and this worker has no copy yet."""
    if "dask" in sys.modules:
        import dask

        dask.config.set(scheduler="synchronous")
    info = get_worker_info()
    dataset = info.dataset if info is not None else None
    source = getattr(dataset, "source", None)
    if source is not None:
        source.reopen()
        source.load()


def _start_method(context: Any) -> str:
    """The start method of DataLoader workers for ``multiprocessing_context`` (None: the default)."""
    if isinstance(context, str):
        return context
    return (context or multiprocessing.get_context()).get_start_method()


def make_dataloader(source: WindowSource, batch_size: int, rank: int | None = None,
                    world_size: int | None = None, num_workers: int = 0, shuffle: bool = True,
                    seed: int = 0, drop_last: bool = True,
                    multiprocessing_context: str | None = None) -> WindowDataLoader:
    """A DataLoader over this rank's shard of ``source``'s windows (batches of dicts of tensors).

    The sampler is ``loader.sampler``; call ``loader.sampler.set_epoch(e)`` every epoch and
    checkpoint ``loader.sampler.state_dict()``.
    """
    if batch_size < 1:
        raise SowcastError(f"batch_size must be at least 1, not {batch_size}")
    if rank is None or world_size is None:
        env_rank, env_world = distributed_rank_world()
        rank = env_rank if rank is None else rank
        world_size = env_world if world_size is None else world_size
    sampler = ShardedWindowSampler(len(source), rank, world_size, shuffle=shuffle, seed=seed,
                                   drop_last=drop_last)
    if num_workers == 0 or _start_method(multiprocessing_context) == "fork":
        source.load()  # before the workers fork: one copy in memory for all of them
    workers: dict[str, Any] = {}
    if num_workers > 0:
        workers = dict(worker_init_fn=worker_init, persistent_workers=True,
                       multiprocessing_context=multiprocessing_context)
    return WindowDataLoader(WindowDataset(source), batch_size=batch_size, sampler=sampler,
                            num_workers=num_workers, drop_last=drop_last,
                            pin_memory=torch.cuda.is_available(), **workers)
