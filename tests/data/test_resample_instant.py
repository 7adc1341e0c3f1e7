"""``ingest.resample``: ``mean`` (the default) averages hourly ERA5 t2m over each 6-h step;
``instant`` keeps the hourly value at 00, 06, 12 and 18 UTC. Checked on the real GRIB sample
against the file read directly with cfgrib."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from sowcast.data.ingest import Options, ingest
from sowcast.data.store import open_store
from sowcast.errors import SowcastError

GRIB = "era5-2mt-2019-03-uk.grib"


def _t2m(real_data):
    src = xr.open_dataset(real_data / GRIB, engine="cfgrib", backend_kwargs={"indexpath": ""})
    return src["t2m"].sortby("latitude")


@pytest.mark.slow
def test_instant_keeps_the_samples_at_the_new_steps(real_data, tmp_path):
    ingest({"sources": [str(real_data / GRIB)], "time_step": "6h", "resample": "instant"},
           tmp_path / "instant.zarr", progress=False)
    ds = open_store(tmp_path / "instant.zarr").load()
    src = _t2m(real_data)
    assert ds.attrs["time_step"] == "PT6H" and ds.sizes["time"] == 124
    hours = ds["time"].dt.hour.values
    assert set(hours) == {0, 6, 12, 18}
    want = src.sel(time=ds["time"].values).values
    np.testing.assert_array_equal(ds["2m_temperature"].values, want)


@pytest.mark.slow
def test_mean_is_the_default_and_differs_from_instant(real_data, tmp_path):
    ingest({"sources": [str(real_data / GRIB)], "time_step": "6h"}, tmp_path / "mean.zarr", progress=False)
    ds = open_store(tmp_path / "mean.zarr").load()
    src = _t2m(real_data)
    want = src.resample(time="6h").mean().values
    np.testing.assert_allclose(ds["2m_temperature"].values, want, rtol=1e-6)
    sample = src.sel(time=ds["time"].values).values
    # hourly t2m changes within 6 h (the diurnal cycle): the two choices give other values
    assert float(np.abs(ds["2m_temperature"].values - sample).mean()) > 0.1


def test_resample_choice_is_checked():
    assert Options.from_config({"sources": ["x.nc"]}).resample == "mean"
    with pytest.raises(SowcastError, match="ingest.resample must be mean or instant, not 'first'"):
        Options.from_config({"sources": ["x.nc"], "resample": "first"})
