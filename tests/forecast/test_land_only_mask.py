"""A land-only variable (the real WFDE5 precipitation sample: sea = NaN) keeps its sea NaN
through ingest -> train -> export -> forecast -> daily products: the bundle's static.nc
carries the mask, the forecast writes NaN at sea and finite values on land."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sowcast.bundle.channel_masks import apply_channel_masks, mask_name, masks_to_write, read_channel_masks
from sowcast.errors import SowcastError

WFDE5 = "wfde5_gb_2017-01_precipitation_flux.nc"
ROOT = Path(__file__).resolve().parents[2]


def test_masks_to_write_and_read_back():
    valid = np.ones((2, 3, 4), bool)
    valid[1, :, 2:] = False
    masks = masks_to_write(["a", "b"], valid)
    assert list(masks) == ["b_valid"] and masks["b_valid"].dtype == np.uint8
    static = xr.Dataset({k: (("lat", "lon"), v) for k, v in masks.items()})
    back = read_channel_masks(static, ["a", "b"], (3, 4))
    np.testing.assert_array_equal(back, valid)
    assert read_channel_masks(xr.Dataset(), ["a", "b"], (3, 4)) is None
    state = np.ones((5, 2, 3, 4), np.float32)
    out = apply_channel_masks(state, back)
    assert np.isnan(out[:, 1, :, 2:]).all() and np.isfinite(out[:, 0]).all() and np.isfinite(out[:, 1, :, :2]).all()
    bad = xr.Dataset({mask_name("a"): (("lat", "lon"), np.full((3, 4), 7, np.uint8))})
    with pytest.raises(SowcastError, match="a_valid must be 0/1"):
        read_channel_masks(bad, ["a", "b"], (3, 4))


@pytest.mark.slow
def test_land_only_precipitation_forecast_is_nan_at_sea(real_data, tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from sowcast.bundle.reader import load_bundle
    from sowcast.cli.main import compose
    from sowcast.data.ingest import ingest
    from sowcast.data.store import open_store
    from sowcast.export.bundle_writer import export_bundle
    from sowcast.forecast.engine import ForecastOptions, run_forecast
    from sowcast.products.daily import forecast_daily
    from sowcast.train.checkpoint import CheckpointManager
    from sowcast.train.trainer import train

    source = real_data / WFDE5
    with xr.open_dataset(source) as raw:
        sea = raw["pr"].isnull().all("time").sortby("lat").values  # the file's own sea: NaN at all times
    store = tmp_path / "wfde5.zarr"
    ingest({"sources": [str(source)], "time_step": "6h"}, store, progress=False)
    with open_store(store) as ds:
        np.testing.assert_array_equal(~ds["total_precipitation_valid"].values, sea)
        assert np.isfinite(ds["total_precipitation"].values).all()  # the store holds a fill there

    run = tmp_path / "run"
    overrides = {"model": "tiny", "model.mesh_level": 4, "data.store": store, "train.run_dir": run,
                 "graph.cache_dir": tmp_path / "graphs", "train.max_steps": 2, "train.batch_size": 2,
                 "train.warmup_steps": 1, "train.train_range": "[2017-01-01,2017-01-20]",
                 "train.validation_range": "[2017-01-21,2017-01-31]", "train.validate_every": 2,
                 "train.validation_leads": "[1]", "train.validation_windows": 2, "train.checkpoint_every": 2,
                 "train.num_workers": 0, "train.threads": 1, "progress": "false"}
    train(compose([f"{k}={v}" for k, v in overrides.items()]))
    checkpoint = CheckpointManager(run / "checkpoints").steps()[-1][1]
    result = export_bundle(checkpoint, tmp_path / "bundle", archive=False, store=store, threads=1,
                           log=lambda m: None)
    with xr.open_dataset(result.bundle / "static.nc") as static:
        np.testing.assert_array_equal(static["total_precipitation_valid"].values, (~sea).astype(np.uint8))
    load_bundle(result.bundle)  # the reader accepts the masks beside the static fields

    out = tmp_path / "forecast.zarr"
    run_forecast(ForecastOptions.from_config({"bundle": str(result.bundle), "init": str(store), "output": str(out),
                                              "init_time": "2017-01-25", "lead": "2D", "members": 2, "threads": 1}))
    with xr.open_dataset(out, engine="zarr", consolidated=False, chunks=None) as fc:
        tp = fc["total_precipitation"].values  # [member, lead, lat, lon]
        assert tp.shape[1] == 8
        assert np.isnan(tp[..., sea]).all(), "the sea of a land-only variable must be NaN, not a fake value"
        assert np.isfinite(tp[..., ~sea]).all()
        daily = forecast_daily(fc.load())["total_precipitation"].values
    assert daily.shape[1] >= 1
    assert np.isnan(daily[..., sea]).all() and np.isfinite(daily[..., ~sea]).all()

    # The guide's scoring (benchmarks/real_data_guide.py) scores the land only.
    spec = importlib.util.spec_from_file_location("real_data_guide", ROOT / "benchmarks" / "real_data_guide.py")
    guide = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guide)
    assert guide.main(["--store", str(store), "--bundle", str(result.bundle), "--train-range", "2017-01-01",
                       "2017-01-20", "--test-range", "2017-01-21", "2017-01-31"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "43 steps of 6 h scored" in lines[0]
    scores = {line[:26].strip(): float(line[26:]) for line in lines[2:5]}
    assert set(scores) == {"model", "persistence", "hour-of-day climatology"}
    assert all(np.isfinite(v) and v > 0 for v in scores.values()), scores
