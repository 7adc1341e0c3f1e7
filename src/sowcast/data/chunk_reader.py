"""Reads of time slices from a canonical zarr array, whole time chunks at a time, with the
decoded chunks kept in a bounded least-recently-used cache.

A training window reads one short time slice (``n_input_steps + n_target_steps`` times) of
every variable, in shuffled order. Reading it slice by slice decodes a whole time chunk
(8 times by default, :func:`sowcast.data.store.encoding_for`) for every variable of every
window, however few of its times the window uses: on the 27 x 37 demo store that was 8.6
chunk decodes and 1.4 ms per window, 90 % of it in decoding (cProfile, this project's
2-core machine). So, as mature loaders do (anemoi-datasets caches decoded chunks per worker;
WeatherBench 2 reads whole chunks), the reader decodes a time chunk once and keeps it in a
:class:`ChunkCache` shared by the variables of one source, bounded in bytes per process;
the least recently used chunk is dropped beyond the budget.

How a time chunk is decoded:

* the plain local layout that :func:`sowcast.data.store.write_store` produces (zarr v3,
  regular chunks, whole fields per chunk, ``bytes`` codec then optional ``zstd``, default
  ``/`` chunk keys, no sharding): the chunk file is read and decoded with numcodecs (zarr's
  own codec library). zarr-python 3 routes every read through its asyncio machinery, about
  1.5 ms per call however small the read against about 0.2 ms to read and decompress the
  file directly (the loader benchmark). Chunk files that zarr did not write (chunks equal to
  the fill value everywhere) read as the fill value, as the zarr specification says;
* any other layout (fields split in several chunks, sharding, zarr v2): ordinary zarr
  slicing of the whole time chunk (of the whole shard when sharded).

Either way a read returns exactly ``array[t0:t1]`` (tests compare both paths with zarr).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CHUNK_CACHE_BYTES = 256 * 2**20


class ChunkCache:
    """Decoded chunks by key, at most ``max_bytes`` of them (least recently used dropped
    first; the chunk just added is always kept, so a budget below one chunk keeps one)."""

    def __init__(self, max_bytes: int = DEFAULT_CHUNK_CACHE_BYTES):
        self.max_bytes = max(0, int(max_bytes))
        self.nbytes = 0
        self.decoded = 0  # chunks decoded so far (for tests and benchmarks)
        self._chunks: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def get(self, key: Hashable) -> np.ndarray | None:
        block = self._chunks.get(key)
        if block is not None:
            self._chunks.move_to_end(key)
        return block

    def put(self, key: Hashable, block: np.ndarray) -> None:
        block.flags.writeable = False  # shared by every later read: callers get copies
        self._chunks[key] = block
        self.nbytes += block.nbytes
        self.decoded += 1
        while self.nbytes > self.max_bytes and len(self._chunks) > 1:
            _, dropped = self._chunks.popitem(last=False)
            self.nbytes -= dropped.nbytes

    def __len__(self) -> int:
        return len(self._chunks)


class TimeSliceReader:
    """Reads ``array[t0:t1]`` (all other dims whole) of one zarr array through ``cache``.

    ``cache``: shared by the readers of one source (a fresh one of
    :data:`DEFAULT_CHUNK_CACHE_BYTES` when None); ``path``: the array's folder, for the
    direct reads of the plain local layout (None: zarr slicing always).
    """

    def __init__(self, array: Any, path: str | os.PathLike | None, cache: ChunkCache | None = None):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.cache = cache if cache is not None else ChunkCache()
        self._path = Path(path) if path is not None else None
        self._key = str(self._path) if self._path is not None else id(array)
        self._fast = self._path is not None and self._plain_layout(array)
        if self._fast:
            meta = array.metadata
            self.chunk_shape = tuple(meta.chunk_grid.chunk_shape)
            codecs = [c.to_dict() for c in meta.codecs]
            endian = codecs[0].get("configuration", {}).get("endian", "little")
            self._file_dtype = self.dtype.newbyteorder("<" if endian == "little" else ">")
            self._zstd = None
            if len(codecs) == 2:
                import numcodecs

                self._zstd = numcodecs.Zstd()
            fill = meta.fill_value
            self._fill = np.asarray(fill if fill is not None else 0, dtype=self.dtype)
        else:
            shards = getattr(array, "shards", None)
            self.chunk_shape = tuple(shards if shards is not None else array.chunks)
        self.time_chunk = max(1, int(self.chunk_shape[0])) if self.shape else 1

    @staticmethod
    def _plain_layout(array: Any) -> bool:
        try:
            meta = array.metadata
            if getattr(meta, "zarr_format", None) != 3 or meta.chunk_grid.to_dict()["name"] != "regular":
                return False
            chunks = tuple(meta.chunk_grid.chunk_shape)
            if any(c != n for c, n in zip(chunks[1:], array.shape[1:])):
                return False  # fields split into several chunks
            enc = meta.chunk_key_encoding.to_dict()
            if enc["name"] != "default" or enc.get("configuration", {}).get("separator", "/") != "/":
                return False
            names = [c.to_dict()["name"] for c in meta.codecs]
            return names in (["bytes"], ["bytes", "zstd"])
        except (AttributeError, KeyError, TypeError):
            return False

    def _decode(self, k: int) -> np.ndarray:
        """Time chunk ``k``: times ``k * time_chunk ..`` (the plain layout's whole chunk, padding
        included; otherwise the times up to the end of the array)."""
        if not self._fast:
            return np.asarray(self.array[k * self.time_chunk:(k + 1) * self.time_chunk])
        key = "/".join(["c", str(k)] + ["0"] * (len(self.shape) - 1))
        try:
            with open(self._path / key, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return np.full(self.chunk_shape, self._fill, dtype=self.dtype)
        if self._zstd is not None:
            raw = self._zstd.decode(raw)
        block = np.frombuffer(raw, dtype=self._file_dtype).reshape(self.chunk_shape)
        return block.astype(self.dtype, copy=False)

    def _chunk(self, k: int) -> np.ndarray:
        block = self.cache.get((self._key, k))
        if block is None:
            block = self._decode(k)
            self.cache.put((self._key, k), block)
        return block

    def read(self, t0: int, t1: int, out: np.ndarray | None = None) -> np.ndarray:
        """``array[t0:t1]`` as a numpy array (a copy: safe to modify), written into ``out``
        when given (any array of that shape, e.g. a view into a larger one)."""
        if not 0 <= t0 <= t1 <= self.shape[0]:
            raise IndexError(f"time slice {t0}:{t1} outside 0:{self.shape[0]}")
        if out is None:
            out = np.empty((t1 - t0, *self.shape[1:]), dtype=self.dtype)
        step = self.time_chunk
        t = t0
        while t < t1:
            k, offset = divmod(t, step)
            n = min(step - offset, t1 - t)
            out[t - t0:t - t0 + n] = self._chunk(k)[offset:offset + n]
            t += n
        return out
