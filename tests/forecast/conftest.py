"""Fixtures of the forecast tests (helpers in forecast_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from forecast_helpers import NOISE, make_store, write_bundle


@pytest.fixture(scope="session")
def forecast_data(tmp_path_factory) -> dict[str, Path]:
    """A store (12 daily steps, 8 x 16 global grid, 4 channels) and bundles made from it
    (``stochastic``: the dynamics model with a noise input)."""
    root = tmp_path_factory.mktemp("forecast_data")
    store = make_store(root / "analysis.zarr")
    out = {"root": root, "store": store,
           "bundle": write_bundle(root / "bundle", store, "dynamics"),
           # The same dynamics, stochastic: noise [batch, 12, 3] shifts each member (forecast_helpers.py).
           "stochastic": write_bundle(root / "stochastic", store, "dynamics", noise=NOISE)}
    with xr.open_zarr(store, consolidated=False, chunks=None) as ds:
        c = sum(ds[n].sizes.get("level", 1) for n in ("2m_temperature", "total_precipitation", "temperature"))
    # Probe bundle: no channel counts as non-negative, so nothing is clipped.
    out["probe_bundle"] = write_bundle(root / "probe_bundle", store, "probe",
                                       statistics_override={"min": np.full(c, -1.0, np.float32)})
    return out



@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory) -> dict[str, Path]:
    """A real bundle: model=tiny trained for 2 steps on a small store, exported by
    ``sowcast.export`` (torch here, in the test process; the engine never imports it)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    from sowcast.export.bundle_writer import export_bundle
    from sowcast.train.testing import train_tiny_run

    root = tmp_path_factory.mktemp("real_bundle")
    store = make_store(root / "tiny.zarr", n_times=24)
    checkpoint = train_tiny_run(store, root, steps=2)
    result = export_bundle(checkpoint, root / "bundle", archive=True, store=store, threads=1, log=lambda m: None)
    return {"store": store, "bundle": result.bundle, "archive": result.archive}
