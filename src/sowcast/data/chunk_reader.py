"""Fast reads of time slices from a local canonical zarr array.

zarr-python 3 routes every read through its asyncio machinery: on a 2-core machine that
costs about 1.5 ms per call however small the read, against about 0.2 ms to read and
decompress the chunk file directly (measured on the demo store; see the loader
benchmark). A training window reads one slice of every variable, so the overhead
dominates. For the plain layout that :func:`sowcast.data.store.write_store` produces
(regular chunks, whole fields per chunk, ``bytes`` codec then optional ``zstd``, default
``/`` chunk keys, no sharding) this reader opens the chunk files itself and decodes them
with numcodecs (zarr's own codec library); for any other layout, or a remote store, it
falls back to ordinary zarr slicing. Tests check both paths give identical values.

Chunk files that zarr did not write (chunks equal to the fill value everywhere) read as
the fill value, as the zarr specification says. The last decoded chunk is kept, so
windows that follow each other in time decode each chunk once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


class TimeSliceReader:
    """Reads ``array[t0:t1]`` (all other dims whole) of one zarr v3 array."""

    def __init__(self, array: Any, path: str | os.PathLike | None):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self._path = Path(path) if path is not None else None
        self._fast = self._path is not None and self._plain_layout(array)
        self._cached: tuple[int, np.ndarray] | None = None
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

    def _chunk(self, k: int) -> np.ndarray:
        if self._cached is not None and self._cached[0] == k:
            return self._cached[1]
        key = "/".join(["c", str(k)] + ["0"] * (len(self.shape) - 1))
        try:
            with open(self._path / key, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            block = np.full(self.chunk_shape, self._fill, dtype=self.dtype)
        else:
            if self._zstd is not None:
                raw = self._zstd.decode(raw)
            block = np.frombuffer(raw, dtype=self._file_dtype).reshape(self.chunk_shape)
            block = block.astype(self.dtype, copy=False)
        self._cached = (k, block)
        return block

    def read(self, t0: int, t1: int) -> np.ndarray:
        """``array[t0:t1]`` as a numpy array (a copy: safe to modify)."""
        if not 0 <= t0 <= t1 <= self.shape[0]:
            raise IndexError(f"time slice {t0}:{t1} outside 0:{self.shape[0]}")
        if not self._fast:
            return np.asarray(self.array[t0:t1])
        step = self.chunk_shape[0]
        out = np.empty((t1 - t0, *self.shape[1:]), dtype=self.dtype)
        t = t0
        while t < t1:
            k, offset = divmod(t, step)
            n = min(step - offset, t1 - t)
            out[t - t0:t - t0 + n] = self._chunk(k)[offset:offset + n]
            t += n
        return out
