"""Canonical stores carry consolidated metadata: ``xr.open_zarr`` opens them without the
"Failed to open Zarr store with consolidated metadata" warning; windows still read chunks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import xarray as xr

from sowcast.data.store import is_consolidated, open_store, read_statistics
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource


def test_a_written_store_opens_consolidated_without_warnings(tmp_path):
    path = make_canonical_store(tmp_path / "s.zarr", n_times=6, grid=(4, 8))
    meta = json.loads((path / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert "2m_temperature" in meta and "statistics" in meta
    assert is_consolidated(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(path)
        ours = open_store(path)
        stats = read_statistics(path)
    assert set(plain.data_vars) == set(ours.data_vars)
    assert "mean" in stats["stat"].values
    src = WindowSource(path, n_input_steps=2, n_target_steps=1)  # raw chunk reads, unaffected
    np.testing.assert_array_equal(src[0]["inputs"][0, src.channels.index("2m_temperature")], ours["2m_temperature"].values[0].astype(np.float32))


def test_a_store_without_consolidated_metadata_still_opens(tmp_path):
    path = make_canonical_store(tmp_path / "s.zarr", n_times=6, grid=(4, 8))
    root = json.loads((path / "zarr.json").read_text())
    root.pop("consolidated_metadata")
    (path / "zarr.json").write_text(json.dumps(root))
    assert not is_consolidated(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "2m_temperature" in open_store(path).data_vars
