"""The edge entry point runs where torch (and dask, which the edge install lacks) cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import xarray as xr
from forecast_helpers import era5_like_netcdf

# Every 'import torch' (or dask) raises ImportError, as on the edge box; then the real
# command line runs each argument list and the wrapper checks nothing of torch got loaded.
_EDGE = r"""
import json, sys
for name in ("torch", "dask", "distributed"):
    sys.modules[name] = None
from sowcast.cli.main import main
codes = [main(args) for args in json.loads(sys.argv[1])]
loaded = sorted(m for m, mod in sys.modules.items()
                if m.split(".")[0] in ("torch", "dask", "distributed") and mod is not None)
print("EXIT CODES", codes, "LOADED", loaded)
sys.exit(3 if loaded else max(codes))
"""


def _edge(*runs: list[str], cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _EDGE, json.dumps(list(runs))], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_help_without_torch():
    r = _edge(["forecast", "--help"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sowcast forecast:" in r.stdout and "forecast.bundle" in r.stdout and "checkpoint_every" in r.stdout


def test_real_forecast_without_torch(real_bundle, tmp_path):
    """A real exported bundle (the .tar.gz) from a canonical store and from an ERA5-like netCDF
    analysis (normalised by the ingest code in memory), neither torch nor dask importable."""
    era5, _ = era5_like_netcdf(real_bundle["store"], tmp_path / "era5.nc")
    common = [f"forecast.bundle={real_bundle['archive']}", "forecast.lead=4D", "forecast.members=3",
              "forecast.threads=1", "progress=false"]
    r = _edge(["forecast", *common, f"forecast.init={real_bundle['store']}", f"forecast.output={tmp_path / 'a.zarr'}"],
              ["forecast", *common, f"forecast.init={era5}", f"forecast.output={tmp_path / 'b.nc'}"],
              cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "EXIT CODES [0, 0] LOADED []" in r.stdout
    with xr.open_dataset(tmp_path / "a.zarr", engine="zarr", consolidated=False, chunks=None) as a, \
            xr.open_dataset(tmp_path / "b.nc") as b:
        assert a.sizes["member"] == 3 and a.sizes["lead_time"] == 4
        assert a.attrs["init_time"] == b.attrs["init_time"]
        for name in a.data_vars:  # the same analysis through two readers: the same forecast
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-5, atol=1e-4)
