"""``sowcast products`` moves the onset climatology by the ocean only where the calibration has
an ocean predictor and the observed store gives this year's index (sowcast/products/stage.py)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.calibrate.onset_ocean import OceanPredictor, calibration_fields
from sowcast.data.schema import FORMAT_VERSION
from sowcast.products.stage import ocean_shift

ISSUE = pd.Timestamp("2009-05-01")
FIT = {"days_per_k": 10.0, "slope": 10.0, "cv_mae": 1.0, "cv_mae_unshifted": 2.0, "n_cases": 10}


def _store(path, variables=("ocean_index",), end="2009-05-01"):
    time = pd.date_range("2005-01-01", end)
    lat, lon = np.array([-1.0, 0.0, 1.0, 12.0]), np.array([-10.0, -5.0, 2.0])
    warm = np.where(time.year == 2009, 0.5, 0.0)[:, None, None] * np.ones((1, 4, 3))
    data = {"total_precipitation": (("time", "lat", "lon"), np.zeros((len(time), 4, 3), np.float32))}
    for v in variables:
        data[v] = (("time", "lat", "lon"), warm.astype(np.float32))
    xr.Dataset(data, coords={"time": time, "lat": lat, "lon": lon},
               attrs={"sowcast_format": FORMAT_VERSION}).to_zarr(path)
    return path


def _calibration(days_per_k=10.0):
    return calibration_fields(OceanPredictor(days_per_k=days_per_k), {**FIT, "days_per_k": days_per_k}, [2005, 2008])


def _observed(path):
    with xr.open_zarr(path) as ds:
        return ds["total_precipitation"].load()


def test_a_warm_year_moves_every_past_onset_later(tmp_path):
    path = _store(tmp_path / "obs.zarr")
    shift = ocean_shift(path, _calibration(), ISSUE, _observed(path))
    assert list(shift["year"].values) == [2005, 2006, 2007, 2008]
    np.testing.assert_allclose(shift.values, 5.0, rtol=1e-6)          # 10 d/K x (0.5 K - 0 K)
    assert shift.attrs["box"] == [-3.0, 3.0, -20.0, 0.0]              # where the index was read (ATL3)


@pytest.mark.parametrize("case, message", [
    ("no predictor", None),
    ("predictor off", None),
    ("csv", "not a store with the ocean index"),
    ("no variable", "has no 'ocean_index'"),
    ("index ends early", "lack the index of the 45 days"),
])
def test_without_a_predictor_or_an_index_the_climatology_is_not_moved(tmp_path, caplog, case, message):
    path = _store(tmp_path / "obs.zarr", variables=() if case == "no variable" else ("ocean_index",),
                  end="2009-02-01" if case == "index ends early" else "2009-05-01")
    observed = _observed(path)
    calibration = {"no predictor": None, "predictor off": _calibration(0.0)}.get(case, _calibration())
    if case == "csv":
        path = tmp_path / "stations.csv"
        path.write_text("station,date,total_precipitation\n")
    with caplog.at_level(logging.WARNING):
        assert ocean_shift(path, calibration, ISSUE, observed) is None
    if message:
        assert message in caplog.text and "not moved by the ocean" in caplog.text
    else:
        assert not caplog.text
