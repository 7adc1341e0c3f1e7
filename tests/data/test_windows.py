"""WindowSource: window contents against the store, channel order, ranges, errors, no torch."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sowcast.data.forcings import FORCING_NAMES, compute_forcings
from sowcast.data.store import open_store
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import InMemoryWindows, WindowSource
from sowcast.errors import SowcastError


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # levels deliberately not ascending: channels must follow the stored order
    return make_canonical_store(tmp_path_factory.mktemp("w") / "tiny.zarr", n_times=20, grid=(6, 12),
                                levels=(850, 500, 250), seed=3, step="6h",
                                surface=("2m_temperature", "total_precipitation"))


def _expected_states(ds, variables, idx):
    """[len(idx), C, lat, lon] straight from xarray, one channel per (variable, level)."""
    parts = []
    for name in variables:
        da = ds[name].isel(time=idx)
        parts.append(da.values if "level" in da.dims else da.values[:, None])
    return np.concatenate(parts, axis=1)


def test_window_contents_match_store_at_right_times(store):
    src = WindowSource(store, n_input_steps=2, n_target_steps=3)
    ds = open_store(store)
    times = ds["time"].values
    assert len(src) == 20 - 1 - 3
    for i in (0, 7, len(src) - 1):
        w = src[i]
        t = i + 1  # index of time t: inputs t-1, t
        assert w["time"] == times[t].astype("datetime64[ns]").astype(np.int64)
        np.testing.assert_array_equal(w["inputs"], _expected_states(ds, src.prognostic, [t - 1, t]))
        np.testing.assert_array_equal(w["targets"], _expected_states(ds, src.prognostic, [t + 1, t + 2, t + 3]))
        window_times = times[t - 1:t + 4]
        np.testing.assert_array_equal(src.window_times(i), window_times)
        f = compute_forcings(window_times, ds["lat"].values, ds["lon"].values, pd.Timedelta(hours=6))
        np.testing.assert_array_equal(w["forcings"], np.stack([f[n] for n in FORCING_NAMES], axis=1))
        np.testing.assert_array_equal(w["static"], np.stack([ds[n].values for n in src.static_names]))
    assert w["inputs"].dtype == w["targets"].dtype == w["forcings"].dtype == np.float32
    assert w["inputs"].shape == (2, len(src.channels), 6, 12)
    assert w["forcings"].shape == (5, len(FORCING_NAMES), 6, 12)
    with pytest.raises(IndexError):
        src[len(src)]
    np.testing.assert_array_equal(src[-1]["targets"], src[len(src) - 1]["targets"])


def test_channels_metadata_and_statistics(store):
    src = WindowSource(store, prognostic=["temperature", "2m_temperature"], static=["land_sea_mask"])
    assert src.channels == ["temperature_850", "temperature_500", "temperature_250", "2m_temperature"]
    assert src.static_names == ["land_sea_mask"] and src.forcing_names == FORCING_NAMES
    assert src.time_step == pd.Timedelta(hours=6)
    assert src.grid.shape == (6, 12)
    ds = open_store(store)
    t = ds["temperature"].values
    np.testing.assert_allclose(src.statistics["mean"][:3], t.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(src.statistics["std"][3], ds["2m_temperature"].values.std(), rtol=1e-4)
    np.testing.assert_allclose(src.statistics["diff_std"][:3], np.diff(t, axis=0).std(axis=(0, 2, 3)), rtol=1e-4)
    assert src.statistics["mean"].shape == (4,) and src.static_statistics["mean"].shape == (1,)
    w = src[0]
    np.testing.assert_array_equal(w["inputs"][1, 1], t[1, 1])  # temperature at 500 hPa, time t
    np.testing.assert_array_equal(w["targets"][0, 3], ds["2m_temperature"].values[2])


def test_time_range_keeps_whole_windows_inside(store):
    times = pd.DatetimeIndex(open_store(store)["time"].values)
    src = WindowSource(store, time_range=[times[4], times[11]])
    assert len(src) == 8 - 1 - 1  # 8 times in range, windows of 3
    assert src.window_times(0)[0] == times[4]
    assert src.window_times(len(src) - 1)[-1] == times[11]
    assert len(WindowSource(store, time_range=[None, str(times[9])])) == 10 - 2
    assert len(WindowSource(store, time_range=["1990-01-01", None])) == 18


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_target_steps=0), "n_target_steps"),
    (dict(n_input_steps=0), "n_input_steps"),
    (dict(n_input_steps=15, n_target_steps=6), "one window needs 21"),
    (dict(time_range=["2000-01-02", "2000-01-02T06"]), "holds 2 time"),
    (dict(prognostic=["10m_wind_speed"]), "no prognostic variable '10m_wind_speed'"),
    (dict(prognostic=["orography"]), "static"),
    (dict(static=["nope"]), "no static variable 'nope'"),
    (dict(time_range=["soon", None]), "not a date"),
])
def test_invalid_requests_raise_one_line(store, kwargs, message):
    with pytest.raises(SowcastError, match=message) as err:
        WindowSource(store, **kwargs)
    assert "\n" not in str(err.value)


def test_missing_store_is_a_sowcast_error(tmp_path):
    with pytest.raises(SowcastError, match="no store"):
        WindowSource(tmp_path / "absent.zarr")


def test_in_memory_windows_serve_the_same_windows(store):
    src = WindowSource(store, n_target_steps=2, time_range=["2000-01-02", None])
    mem = InMemoryWindows(src)
    assert len(mem) == len(src) and mem.channels == src.channels
    for i in range(len(src)):
        a, b = src[i], mem[i]
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_source_pickles_without_open_handles_and_reopens_after_fork(store):
    src = WindowSource(store)
    assert src._arrays is None  # nothing opened by the constructor
    first = src[3]["inputs"]
    clone = pickle.loads(pickle.dumps(src))
    assert clone._arrays is None
    np.testing.assert_array_equal(clone[3]["inputs"], first)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must reopen (new pid) and read the same values
        try:
            ok = np.array_equal(src[3]["inputs"], first) and src._pid == os.getpid()
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"


def test_core_imports_without_torch():
    probe = ("import sys; sys.modules['torch'] = None\n"
             "import sowcast.data.forcings, sowcast.data.windows, sowcast.data.testing\n"
             "print('ok')")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
