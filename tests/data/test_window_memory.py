"""Windows held in memory, streamed through the decoded-chunk cache, and read the way the
loader read them before (zarr slicing, one slice per variable and window) are the same bit
for bit, on real zarr stores: one ingested from the real ERA5 GRIB sample, two written by
:func:`make_canonical_store` (the plain layout, and fields split in chunks, which zarr reads)."""

import os
import shutil

import numpy as np
import pytest
import zarr
from real_samples import real

from sowcast.data.ingest import ingest
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import InMemoryWindows, WindowSource
from sowcast.errors import SowcastError


@pytest.fixture(scope="module", params=["era5", "plain", "split"])
def store(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "era5":  # 744 hourly 2 m temperatures on 33 x 49, chunks of 8 times
        shutil.copy(real("era5-2mt-2019-03-uk.grib"), folder / "t2m.grib")
        ingest({"sources": [str(folder / "t2m.grib")]}, folder / "era5.zarr", progress=False)
        return folder / "era5.zarr"
    chunks = {"time": 5, "lat": 3} if request.param == "split" else None
    return make_canonical_store(folder / "s.zarr", n_times=60, grid=(7, 11), levels=(850, 500), seed=4,
                                step="6h", surface=("2m_temperature", "total_precipitation"), chunks=chunks)


def _zarr_window(store, src, i):
    """Inputs and targets of window ``i`` by zarr slicing of each variable (the old path)."""
    group = zarr.open_group(str(store), mode="r")
    t = src._first + i
    t0, t1 = t - src.n_input_steps + 1, t + src.n_target_steps + 1
    parts = []
    for name in src.prognostic:
        block = np.asarray(group[name][t0:t1])
        parts.append(block if block.ndim == 4 else block[:, None])
    states = np.concatenate(parts, axis=1).astype(np.float32)
    return states[:src.n_input_steps], states[src.n_input_steps:]


def test_held_streamed_and_zarr_windows_are_identical(store):
    kw = dict(n_input_steps=2, n_target_steps=3)
    streamed = WindowSource(store, in_memory=False, **kw)
    one_chunk = WindowSource(store, in_memory=False, chunk_cache_mib=0, **kw)  # evicts at every step
    held = WindowSource(store, in_memory=True, **kw)
    assert held.load() and held.is_loaded and held._held.nbytes == held.state_bytes
    assert not streamed.load() and not streamed.is_loaded
    memory = InMemoryWindows(streamed)
    order = np.random.default_rng(0).permutation(len(streamed))
    for i in order[:150]:
        i = int(i)
        inputs, targets = _zarr_window(store, streamed, i)
        windows = [src[i] for src in (streamed, one_chunk, held, memory)]
        for w in windows:
            np.testing.assert_array_equal(w["inputs"], inputs, strict=True)
            np.testing.assert_array_equal(w["targets"], targets, strict=True)
            for key in ("forcings", "static", "time"):
                np.testing.assert_array_equal(w[key], windows[0][key], strict=True)
    assert len(one_chunk._arrays[one_chunk.prognostic[0]].cache) == 1
    # a window is the caller's copy: changing it changes neither the held states nor the cache
    for src in (held, streamed):
        w = src[int(order[0])]
        w["inputs"][:] = -1
        np.testing.assert_array_equal(src[int(order[0])]["inputs"], _zarr_window(store, src, int(order[0]))[0])


def test_held_states_cover_only_the_time_range_and_other_reads_go_to_the_store(store):
    full = WindowSource(store, in_memory=False)
    start = full.times[20]
    src = WindowSource(store, in_memory=True, time_range=[start, None])
    src.load()
    assert src._held.shape[0] == len(full.times) - 20
    np.testing.assert_array_equal(src[0]["inputs"], full[20]["inputs"])  # window time 21: inputs 20, 21
    np.testing.assert_array_equal(src._read_states(0, 25), full._read_states(0, 25))  # beyond the held range


def test_auto_holds_the_states_only_under_the_budget(store):
    src = WindowSource(store)  # auto, 2048 MiB
    assert src.holds_in_memory and not src.is_loaded  # nothing read until load()
    small = WindowSource(store, memory_budget_mib=src.state_bytes / 2**20 * 0.99)
    assert not small.holds_in_memory and not small.load()
    exact = WindowSource(store, memory_budget_mib=src.state_bytes / 2**20)
    assert exact.holds_in_memory
    assert WindowSource(store, in_memory="true", memory_budget_mib=0).holds_in_memory
    assert not WindowSource(store, in_memory="false").holds_in_memory


@pytest.mark.parametrize("kwargs, message", [
    ({"in_memory": "sometimes"}, "in_memory must be auto, true or false"),
    ({"memory_budget_mib": -1}, "memory_budget_mib must be a size in MiB"),
    ({"chunk_cache_mib": "lots"}, "chunk_cache_mib must be a size in MiB"),
])
def test_bad_loader_settings_are_one_line_errors(store, kwargs, message):
    with pytest.raises(SowcastError, match=message) as err:
        WindowSource(store, **kwargs)
    assert "\n" not in str(err.value)


def test_the_chunk_cache_decodes_each_chunk_once_within_its_budget(store):
    src = WindowSource(store, in_memory=False, n_target_steps=2)
    for i in range(len(src)):  # a whole epoch in order: every chunk of every variable once
        src[i]
    cache = src._arrays[src.prognostic[0]].cache
    per_var = {n: -(-len(src.times) // r.time_chunk) for n, r in src._arrays.items()}
    assert cache.decoded == sum(per_var.values()) == len(cache)
    chunk_bytes = max(cache._chunks[k].nbytes for k in cache._chunks)
    tight = WindowSource(store, in_memory=False, chunk_cache_mib=3.5 * chunk_bytes / 2**20)
    for i in np.random.default_rng(1).permutation(len(tight))[:100]:
        tight[int(i)]
        c = tight._arrays[tight.prognostic[0]].cache
        assert c.nbytes <= c.max_bytes and len(c) >= 1


def test_forked_workers_share_the_parents_held_states_and_spawned_ones_reload(store):
    src = WindowSource(store, in_memory=True)
    src.load()
    address = src._held.__array_interface__["data"][0]
    first = src[3]["inputs"]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: the same pages, no reload, same window
        try:
            ok = (src.is_loaded and src._held.__array_interface__["data"][0] == address
                  and np.array_equal(src[3]["inputs"], first) and src._arrays is None)
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    import pickle

    clone = pickle.loads(pickle.dumps(src))  # what a spawned worker gets: no states, it loads them
    assert not clone.is_loaded and clone.load()
    np.testing.assert_array_equal(clone[3]["inputs"], first)


def test_dataloader_batches_are_the_same_held_or_streamed_with_workers(store):
    torch = pytest.importorskip("torch")
    from sowcast.train.dataloader import make_dataloader

    def batches(src, workers):
        loader = make_dataloader(src, batch_size=4, rank=0, world_size=1, seed=3, num_workers=workers,
                                 multiprocessing_context="fork" if workers else None)
        out = [b for _, b in zip(range(6), loader)]
        del loader
        return out

    held = WindowSource(store)
    reference = batches(WindowSource(store, in_memory=False), 0)
    got = batches(held, 2)
    assert held.is_loaded  # loaded before the workers forked
    for a, b in zip(reference, got, strict=True):
        for key in a:
            assert torch.equal(a[key], b[key]), key
