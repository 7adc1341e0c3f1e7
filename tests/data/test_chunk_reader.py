"""The direct chunk reader gives exactly what zarr gives, on every layout."""

import numpy as np
import pytest
import zarr

from sowcast.data.chunk_reader import TimeSliceReader


def _array(path, data, chunks, **kw):
    a = zarr.create_array(str(path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                          fill_value=np.nan, **kw)
    a[:] = data
    return zarr.open_array(str(path), mode="r")


@pytest.fixture
def data():
    x = np.random.default_rng(1).normal(size=(21, 3, 5)).astype("f4")
    x[8:16] = np.nan  # a whole chunk of fill values: zarr does not write its file
    return x


@pytest.mark.parametrize("kw", [{}, {"compressors": None}])
def test_plain_layout_reads_files_directly_and_matches_zarr(tmp_path, data, kw):
    a = _array(tmp_path / "a", data, (8, 3, 5), **kw)
    assert not (tmp_path / "a" / "c" / "1" / "0" / "0").exists()  # the all-NaN chunk
    r = TimeSliceReader(a, tmp_path / "a")
    assert r._fast
    for t0, t1 in [(0, 3), (6, 10), (7, 17), (14, 21), (20, 21), (0, 21), (5, 5)]:
        np.testing.assert_array_equal(r.read(t0, t1), a[t0:t1])
    with pytest.raises(IndexError):
        r.read(19, 22)


def test_other_layouts_fall_back_to_zarr(tmp_path, data):
    a = _array(tmp_path / "b", data, (4, 2, 5))  # fields split along lat
    r = TimeSliceReader(a, tmp_path / "b")
    assert not r._fast
    np.testing.assert_array_equal(r.read(3, 11), a[3:11])
    sharded = _array(tmp_path / "c", data, (4, 3, 5), shards=(8, 3, 5))
    r = TimeSliceReader(sharded, tmp_path / "c")
    assert not r._fast
    np.testing.assert_array_equal(r.read(3, 11), data[3:11])


def test_returned_block_is_a_copy(tmp_path, data):
    a = _array(tmp_path / "d", data, (8, 3, 5))
    r = TimeSliceReader(a, tmp_path / "d")
    first = r.read(0, 2)
    first[:] = 0
    np.testing.assert_array_equal(r.read(0, 2), data[0:2])


def test_readers_share_one_cache_keyed_by_array_and_drop_the_least_recent(tmp_path, data):
    from sowcast.data.chunk_reader import ChunkCache

    a = _array(tmp_path / "e", data, (8, 3, 5))
    b = _array(tmp_path / "f", -data, (8, 3, 5))
    chunk = 8 * 3 * 5 * 4
    cache = ChunkCache(max_bytes=2 * chunk)
    ra, rb = TimeSliceReader(a, tmp_path / "e", cache), TimeSliceReader(b, tmp_path / "f", cache)
    np.testing.assert_array_equal(ra.read(0, 3), data[0:3])
    np.testing.assert_array_equal(rb.read(0, 3), -data[0:3])  # same chunk index, other array
    assert cache.decoded == 2 and cache.nbytes == 2 * chunk
    ra.read(2, 5)  # a hit: a's chunk 0 becomes the most recent
    assert cache.decoded == 2
    np.testing.assert_array_equal(ra.read(17, 21), data[17:21])  # chunk 2 drops b's chunk 0
    assert cache.decoded == 3 and list(cache._chunks) == [(ra._key, 0), (ra._key, 2)]
    with pytest.raises(ValueError):
        cache.get((ra._key, 0))[0, 0, 0] = 1  # cached chunks are read-only


def test_zarr_path_caches_whole_shards(tmp_path, data):
    sharded = _array(tmp_path / "g", data, (4, 3, 5), shards=(8, 3, 5))
    r = TimeSliceReader(sharded, tmp_path / "g")
    assert not r._fast and r.time_chunk == 8
    out = np.zeros((2, 8, 3, 5), "f4")
    r.read(3, 11, out=out[1])
    np.testing.assert_array_equal(out[1], data[3:11])
    assert (out[0] == 0).all() and r.cache.decoded == 2
    np.testing.assert_array_equal(r.read(17, 21), data[17:21])  # the short last shard
