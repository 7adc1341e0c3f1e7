"""Forcings computed once per time index of a store, not once per training window.

Neighbouring windows share ``n_input_steps + n_target_steps - 1`` of their times, and every
epoch visits every window again, so computing the forcings (:mod:`sowcast.data.forcings`)
per window repeats the same insolation integrals several times per epoch. This cache
computes them for blocks of consecutive time indices (one vectorised call per block) the
first time a window touches the block, and keeps the blocks, up to ``max_bytes`` (the
least recently used block is dropped beyond that). A block holds about ``BLOCK_POINTS``
grid points x times (at most 64 times, at least one): one vectorised call amortises numpy's
per-call cost on a small grid (16 times a block on the 27 x 37 demo grid: 0.07 ms a time
against 0.28 ms in windows of 3), while on a larger grid the float64 intermediates of a long
block no longer fit in the CPU caches and cost more per time than short calls (64 x 128:
1.1 ms a time one by one, 2.0 ms in blocks of 64; measured on this project's 2-core machine).
The budget holds at least 16 blocks.

The values are those of :func:`sowcast.data.forcings.compute_forcings` on the window's own
times, bit for bit: every forcing is an elementwise function of its time and grid point, so
the length of the time axis it is computed along does not change a value (checked by
``tests/data/test_forcing_cache.py`` on real stores).

Each process keeps its own cache (it is dropped when the source is pickled for a spawned
DataLoader worker; a forked worker starts with a copy of the parent's).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sowcast.data.forcings import compute_forcings

DEFAULT_MAX_BYTES = 256 * 2**20
MAX_BLOCK = 64
BLOCK_POINTS = 16384   # grid points x times per vectorised call (module doc)


class ForcingCache:
    """Forcings ``[t1 - t0, F, lat, lon]`` float32 of store times ``t0 .. t1 - 1``."""

    def __init__(self, times: np.ndarray, lat: np.ndarray, lon: np.ndarray, step: pd.Timedelta,
                 names: Sequence[str], max_bytes: int = DEFAULT_MAX_BYTES):
        self.times = np.asarray(times, "datetime64[ns]")
        self.lat, self.lon = np.asarray(lat), np.asarray(lon)
        self.step = pd.Timedelta(step)
        self.names = tuple(names)
        per_time = 4 * len(self.names) * len(self.lat) * len(self.lon)
        points = max(1, len(self.lat) * len(self.lon))
        self.block = int(max(1, min(MAX_BLOCK, BLOCK_POINTS // points, max_bytes // (16 * max(per_time, 1)))))
        self.max_blocks = max(1, max_bytes // max(per_time * self.block, 1))
        self._blocks: OrderedDict[int, np.ndarray] = OrderedDict()
        self.computed = 0  # time indices computed so far (for tests and benchmarks)

    def _block(self, b: int) -> np.ndarray:
        cached = self._blocks.get(b)
        if cached is not None:
            self._blocks.move_to_end(b)
            return cached
        times = self.times[b * self.block:(b + 1) * self.block]
        f = compute_forcings(times, self.lat, self.lon, self.step)
        arr = np.stack([f[n] for n in self.names], axis=1) if self.names else \
            np.zeros((len(times), 0, len(self.lat), len(self.lon)), np.float32)
        self.computed += len(times)
        self._blocks[b] = arr
        while len(self._blocks) > self.max_blocks:
            self._blocks.popitem(last=False)
        return arr

    def __call__(self, t0: int, t1: int) -> np.ndarray:
        """A new array (never a view of the cache) of the forcings at times ``t0 .. t1 - 1``."""
        out = np.empty((t1 - t0, len(self.names), len(self.lat), len(self.lon)), np.float32)
        t = t0
        while t < t1:
            b = t // self.block
            end = min(t1, (b + 1) * self.block)
            out[t - t0:end - t0] = self._block(b)[t - b * self.block:end - b * self.block]
            t = end
        return out
