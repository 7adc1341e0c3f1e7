"""The fill of masked points (a land-only field's sea) is the mean of the statistics period,
not of the whole file (which would leak the test years into the network's input)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from sowcast.data.normalize import apply_mask, mask_summary


def _field():
    times = pd.date_range("2000-01-01", periods=4, freq="D")
    values = np.array([1.0, 3.0, 100.0, 200.0])[:, None, None] * np.ones((4, 2, 3))
    values[:, :, 2] = np.nan  # the sea
    return xr.DataArray(values, dims=("time", "lat", "lon"), coords={"time": times}, name="t")


def test_the_fill_is_the_statistics_period_mean():
    da = _field()
    s = mask_summary(da, ["2000-01-01", "2000-01-02"])
    assert float(s["mean"]) == 2.0
    assert float(mask_summary(da)["mean"]) == 76.0  # the whole file
    out = apply_mask(da.to_dataset(), "t", s["valid"], s["mean"])
    assert (out["t"].values[:, :, 2] == 2.0).all()
    assert not out["t_valid"].values[:, 2].any() and out["t_valid"].values[:, :2].all()
