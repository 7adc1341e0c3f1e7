"""ForcingCache: the forcings of every window bit for bit as computed per window, each time
index computed once per process, the memory budget respected."""

import numpy as np
import pandas as pd
import pytest

from sowcast.data.forcing_cache import ForcingCache
from sowcast.data.forcings import FORCING_NAMES, compute_forcings
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import InMemoryWindows, WindowSource


@pytest.fixture(scope="module", params=["6h", "1D"])
def store(request, tmp_path_factory):
    return make_canonical_store(tmp_path_factory.mktemp("fc") / "s.zarr", n_times=150, grid=(9, 14),
                                levels=None, seed=1, step=request.param, surface=("2m_temperature",))


def _per_window(src, i):
    f = compute_forcings(src.window_times(i), src.grid.lat, src.grid.lon, src.time_step)
    return np.stack([f[n] for n in FORCING_NAMES], axis=1)


def test_every_window_equals_its_own_computation_and_each_time_is_computed_once(store):
    src = WindowSource(store, n_input_steps=2, n_target_steps=3)
    order = np.random.default_rng(0).permutation(len(src))
    for i in order:
        got = src[int(i)]["forcings"]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, _per_window(src, int(i)))
    # every time of the store is in some window; each was computed once, not once per window
    assert src._forcing_cache.computed == len(src.times)
    memory = InMemoryWindows(src)
    np.testing.assert_array_equal(memory[5]["forcings"], _per_window(src, 5))


def test_a_small_budget_keeps_single_times_and_drops_the_oldest(store):
    src = WindowSource(store)
    one_time = 4 * len(FORCING_NAMES) * 9 * 14
    cache = ForcingCache(src.times, src.grid.lat, src.grid.lon, src.time_step, FORCING_NAMES, max_bytes=5 * one_time)
    assert cache.block == 1 and cache.max_blocks == 5
    for t0 in (0, 40, 100, 3, 0):
        out = cache(t0, t0 + 3)
        f = compute_forcings(src.times[t0:t0 + 3], src.grid.lat, src.grid.lon, src.time_step)
        np.testing.assert_array_equal(out, np.stack([f[n] for n in FORCING_NAMES], axis=1))
        assert len(cache._blocks) <= 5
    out[:] = -1  # the caller's copy: the cache is untouched
    np.testing.assert_array_equal(cache(0, 3), np.stack(
        [compute_forcings(src.times[0:3], src.grid.lat, src.grid.lon, pd.Timedelta(src.time_step))[n]
         for n in FORCING_NAMES], axis=1))
