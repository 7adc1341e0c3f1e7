"""Members across cores: batches of members run side by side in single-threaded onnxruntime
calls give the same forecast, byte for byte, as one thread (deterministic, stochastic and a
real exported bundle), also after a power cut and resume, and hindcast groups run side by
side give the same files as one after the other."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from forecast_helpers import options, power_cut_after_writing

from sowcast.errors import SowcastError
from sowcast.forecast.engine import ForecastOptions, run_forecast
from sowcast.forecast.hindcast import HindcastOptions, run_hindcast
from sowcast.forecast.member_threads import CallRunner, member_split


def _arrays(path) -> dict[str, np.ndarray]:
    with xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None) as ds:
        return {name: ds[name].values for name in ds.data_vars}


def _assert_bytes_equal(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name


def test_split_rule():
    assert member_split(2, 4) == (2, 1)          # 4 batches on 2 cores: 2 at once, 1 thread each
    assert member_split(4, 2) == (2, 2)          # 2 batches on 4 cores: 2 at once, 2 threads each
    assert member_split(2, 1) == (1, 2)          # one batch: onnxruntime's own threads, as before
    assert member_split(1, 8) == (1, 1)
    assert member_split(2, 4, "intra_op") == (1, 2)
    with pytest.raises(SowcastError, match="forecast.parallel must be one of members, intra_op"):
        ForecastOptions.from_config({"bundle": "b", "init": "i", "output": "o.zarr", "parallel": "fast"})


def test_the_runner_keeps_order_and_raises_a_call_error():
    with CallRunner(2) as runner:
        assert runner.map(lambda x: x * x, range(7)) == [0, 1, 4, 9, 16, 25, 36]

        def boom(x):
            if x == 3:
                raise SowcastError("call 3 failed")
            return x

        with pytest.raises(SowcastError, match="call 3 failed"):
            runner.map(boom, range(5))


@pytest.mark.parametrize("kind", ["bundle", "stochastic"])
def test_threads_two_equal_threads_one_byte_for_byte_and_after_a_resume(forecast_data, tmp_path, kind):
    bundle, store = forecast_data[kind], forecast_data["store"]
    kw = {"members": 5, "batch": 2, "lead": "6D", "checkpoint_every": 2,
          "perturbation": {"scale": 0.5, "length_scale": 1.0, "seed": 4}}
    one = run_forecast(options(bundle, store, tmp_path / "one.zarr", threads=1, **kw))
    two = run_forecast(options(bundle, store, tmp_path / "two.zarr", threads=2, **kw))
    ref = _arrays(one.output)
    assert np.isfinite(ref["2m_temperature"]).all()
    _assert_bytes_equal(ref, _arrays(two.output))
    # 3 batches of (2, 2, 1) members per step on 2 threads, cut after lead 3 (state at step 2).
    out = tmp_path / "cut.zarr"
    with power_cut_after_writing(2), pytest.raises(RuntimeError, match="power cut"):
        run_forecast(options(bundle, store, out, threads=2, **kw))
    resumed = run_forecast(options(bundle, store, out, threads=2, **kw))
    assert resumed.status == "resumed"
    _assert_bytes_equal(ref, _arrays(out))


def test_a_real_exported_bundle_gives_the_same_bytes_on_two_threads(real_bundle, tmp_path):
    kw = {"members": 4, "batch": 1, "lead": "5D"}
    one = run_forecast(options(real_bundle["bundle"], real_bundle["store"], tmp_path / "1.zarr", threads=1, **kw))
    two = run_forecast(options(real_bundle["bundle"], real_bundle["store"], tmp_path / "2.zarr", threads=2, **kw))
    _assert_bytes_equal(_arrays(one.output), _arrays(two.output))


def test_hindcast_groups_side_by_side_write_the_same_values(forecast_data, tmp_path):
    from forecast_helpers import make_store, write_bundle

    store = make_store(tmp_path / "a.zarr", n_times=30, levels=None, start="2000-01-01")
    bundle = write_bundle(tmp_path / "bundle", store, "dynamics")
    cfg = {"bundle": str(bundle), "store": str(store), "years": [2000, 2000], "first": "01-03", "last": "01-24",
           "every_days": 3, "members": 2, "lead": "4D", "batch": 4, "keep_daily": True}
    one = run_hindcast(HindcastOptions.from_config({**cfg, "output": str(tmp_path / "h1"), "threads": 1}))
    two = run_hindcast(HindcastOptions.from_config({**cfg, "output": str(tmp_path / "h2"), "threads": 2}))
    assert one.computed == two.computed == 8   # 4 groups of 2 starts: 2 groups at once on 2 threads
    for kind in ("daily", "periods"):
        files = sorted(p.name for p in (one.output / kind).glob("*.nc"))
        assert files == sorted(p.name for p in (two.output / kind).glob("*.nc")) and len(files) == 8
        for name in files:
            with xr.open_dataset(one.output / kind / name) as a, xr.open_dataset(two.output / kind / name) as b:
                a.attrs.pop("history", None), b.attrs.pop("history", None)
                xr.testing.assert_identical(a.load(), b.load())
