"""Points without source data (a ``<name>_valid`` mask: the sea of a land-only product) count
in neither loss nor the validation RMSE; the window source reads the masks per channel."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

from sowcast.data.store import open_store, read_statistics, write_store
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.train.losses import AreaWeightedAFCRPS, AreaWeightedMSE, latitude_weights

LAT = np.array([-10.0, 0.0, 10.0, 20.0])


def _valid():
    valid = np.ones((2, 4, 5), bool)
    valid[0, :, 3:] = False  # channel 0: land-only, no data east of column 3
    return valid


def _source(valid):
    stats = {"mean": np.zeros(2, np.float32), "std": np.ones(2, np.float32), "diff_std": np.array([1.0, 2.0], np.float32)}
    return SimpleNamespace(grid=SimpleNamespace(lat=LAT), statistics=stats, channels=["a", "b"], valid=valid)


def test_mse_ignores_masked_points_and_averages_over_valid_ones():
    loss = AreaWeightedMSE.from_source(_source(_valid()))
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 2, 4, 5, generator=g), torch.randn(3, 2, 4, 5, generator=g)
    fake = pred.clone()
    fake[:, 0, :, 3:] += 100.0  # a different fill at the masked points
    assert float(loss(fake, target)) == pytest.approx(float(loss(pred, target)))
    a = latitude_weights(LAT)[:, None]
    se0 = ((pred[:, 0] - target[:, 0]).numpy() ** 2 * a)[..., :3].sum(axis=(-2, -1)) / (a.sum() * 3)
    np.testing.assert_allclose(loss.per_channel(pred, target)[0].item(), se0.mean(), rtol=1e-5)


def test_afcrps_ignores_masked_points():
    loss = AreaWeightedAFCRPS.from_source(_source(_valid()), members=2)
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(3, 2, 2, 4, 5, generator=g), torch.randn(3, 2, 4, 5, generator=g)
    fake = pred.clone()
    fake[:, :, 0, :, 3:] -= 50.0
    assert float(loss(fake, target)) == pytest.approx(float(loss(pred, target)))
    unmasked = AreaWeightedAFCRPS.from_source(_source(None), members=2)
    assert float(unmasked(fake, target)) != pytest.approx(float(unmasked(pred, target)))


def test_window_source_reads_the_valid_masks_per_channel(tmp_path):
    base = make_canonical_store(tmp_path / "base.zarr", n_times=6, grid=(4, 8))
    ds = open_store(base).load()
    valid = xr.DataArray(np.broadcast_to(np.arange(8) < 5, (4, 8)), dims=("lat", "lon"),
                         coords={"lat": ds["lat"], "lon": ds["lon"]})
    ds["2m_temperature_valid"] = valid.astype(bool)
    ds["2m_temperature"].attrs["ancillary_variables"] = "2m_temperature_valid"
    path = write_store(ds, tmp_path / "masked.zarr", statistics=read_statistics(base), progress=False)
    src = WindowSource(path)
    c = src.channels.index("2m_temperature")
    assert src.valid.shape == (len(src.channels), 4, 8)
    assert not src.valid[c][:, 5:].any() and src.valid[c][:, :5].all()
    assert src.valid[[i for i in range(len(src.channels)) if i != c]].all()
