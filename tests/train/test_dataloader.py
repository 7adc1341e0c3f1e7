"""DataLoader over windows: tensors, sharding, epochs, exact resume, forked workers after dask."""

import numpy as np
import pytest
import torch

from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.train.dataloader import (ShardedWindowSampler, WindowDataset, distributed_rank_world,
                                      make_dataloader)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = make_canonical_store(tmp_path_factory.mktemp("dl") / "tiny.zarr", n_times=30, grid=(4, 8),
                                levels=(500, 850), seed=1)
    return WindowSource(path)


def _times(batches) -> list[int]:
    return [int(t) for b in batches for t in b["time"]]


def test_dataset_returns_the_source_windows_as_tensors(source):
    ds = WindowDataset(source)
    item, ref = ds[5], source[5]
    assert len(ds) == len(source) == 28
    for key in ("inputs", "targets", "forcings", "static"):
        assert item[key].dtype == torch.float32
        np.testing.assert_array_equal(item[key].numpy(), ref[key])
    assert item["time"].dtype == torch.int64 and int(item["time"]) == int(ref["time"])


@pytest.mark.parametrize("drop_last", [True, False])
def test_shards_are_disjoint_equal_and_cover_the_epoch(drop_last):
    n, world = 23, 4
    shards = [list(ShardedWindowSampler(n, r, world, seed=7, drop_last=drop_last)) for r in range(world)]
    sizes = {len(s) for s in shards}
    assert sizes == ({5} if drop_last else {6})
    flat = [i for s in shards for i in s]
    if drop_last:
        assert len(set(flat)) == 20 and set(flat) <= set(range(n))
    else:
        assert set(flat) == set(range(n))  # padded by repeating the start
    assert len(set(shards[0]) & set(shards[1])) == 0


def test_epochs_reorder_and_seed_reproduces():
    s = ShardedWindowSampler(50, 1, 2, seed=3)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert e0 != e1 and sorted(e0) != sorted(range(50))
    again = ShardedWindowSampler(50, 1, 2, seed=3)
    again.set_epoch(1)
    assert list(again) == e1
    assert list(ShardedWindowSampler(50, 1, 2, seed=4)) != e0
    assert list(ShardedWindowSampler(10, 0, 1, shuffle=False)) == list(range(10))


def test_resumed_sampler_continues_exactly(source):
    full = make_dataloader(source, batch_size=4, rank=0, world_size=1, seed=5)
    full.sampler.set_epoch(2)
    reference = _times(full)

    first = make_dataloader(source, batch_size=4, rank=0, world_size=1, seed=5)
    first.sampler.set_epoch(2)
    taken = []
    for k, batch in enumerate(first):
        taken.append(batch)
        if k == 2:
            break
    state = first.sampler.state_dict()
    assert state == {"epoch": 2, "seed": 5, "position": 12}

    resumed = make_dataloader(source, batch_size=4, rank=0, world_size=1, seed=0)
    resumed.sampler.load_state_dict(state)
    resumed.sampler.set_epoch(2)  # the training loop calls this again: it must not rewind
    assert len(resumed) == 4  # 28 windows = 7 batches, 3 done
    assert _times(taken) + _times(resumed) == reference
    # after the epoch ends, the same epoch starts over; the next epoch is another order
    assert _times(resumed) == reference
    resumed.sampler.set_epoch(3)
    assert _times(resumed) != reference


def test_rank_and_world_from_environment(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    assert distributed_rank_world() == (0, 1)
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    assert distributed_rank_world() == (3, 8)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed_rank_world() == (1, 2)  # torchrun's variables win over srun's


def test_bad_rank_is_a_sowcast_error(source):
    with pytest.raises(SowcastError, match="rank 2"):
        make_dataloader(source, batch_size=2, rank=2, world_size=2)


@pytest.mark.timeout(60)
def test_forked_workers_after_parent_dask_computation(source):
    """PITFALLS.md: dask in the parent, then forked workers. A hang fails through the timeout."""
    da = pytest.importorskip("dask.array")
    import dask

    with dask.config.set(scheduler="threads"):
        assert float(da.ones((400, 400), chunks=100).sum().compute()) == 160000.0

    serial = make_dataloader(source, batch_size=4, rank=1, world_size=2, seed=2)
    reference = list(serial)
    loader = make_dataloader(source, batch_size=4, rank=1, world_size=2, seed=2, num_workers=2,
                             multiprocessing_context="fork")
    assert loader.persistent_workers and not loader.pin_memory
    batches = list(loader)
    assert _times(batches) == _times(reference)
    for a, b in zip(batches, reference):
        torch.testing.assert_close(a["inputs"], b["inputs"], rtol=0, atol=0)
        torch.testing.assert_close(a["forcings"], b["forcings"], rtol=0, atol=0)

    # workers prefetch ahead; the checkpointed position still counts delivered samples only
    loader.sampler.set_epoch(1)
    it = iter(loader)
    got = [next(it), next(it)]
    assert loader.sampler.state_dict()["position"] == 8
    del it
    rest = list(loader)  # same epoch: continues after the two delivered batches
    serial.sampler.set_epoch(1)
    assert _times(got) + _times(rest) == _times(serial)
