"""The demo chain end to end, at a reduced size, through the real command line."""

import pytest
import xarray as xr

from sowcast.data.store import open_store, read_statistics

SMALL = ["data.synth.start=2000-01-01", "data.synth.end=2001-12-31",
         "data.synth.grid={lat_min: 4, lat_max: 16, lon_min: -4, lon_max: 4, resolution: 2.0}"]


@pytest.mark.slow
def test_demo_runs_reuses_and_reruns_on_change(sowcast_cli, tmp_path):
    first = sowcast_cli("demo", *SMALL, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    ds = open_store(tmp_path / "data/demo/demo.zarr")
    assert ds.sizes == {"time": 731, "lat": 7, "lon": 5}
    assert ds["total_precipitation"].attrs["units"] == "mm"
    assert {"mean", "std", "diff_std"} <= set(read_statistics(tmp_path / "data/demo/demo.zarr")["stat"].values.tolist())
    raw = sorted((tmp_path / "data/demo/raw").glob("*.nc"))
    assert [p.name for p in raw] == ["synthetic_monsoon_2000.nc", "synthetic_monsoon_2001.nc"]
    with xr.open_dataset(raw[0]) as r:  # the store holds exactly what was synthesised
        src = r["2m_temperature"].isel(time=10).values
    assert (ds["2m_temperature"].isel(time=10).values == src).all()

    again = sowcast_cli("demo", *SMALL, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("reused") == 2

    changed = sowcast_cli("demo", *SMALL, "data.synth.seed=5", cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.count("reused") == 0
    assert not (open_store(tmp_path / "data/demo/demo.zarr")["2m_temperature"].isel(time=10).values == src).all()


def test_demo_failure_names_the_step(sowcast_cli, tmp_path):
    r = sowcast_cli("demo", *SMALL, "data.ingest.sources=[nowhere/*.nc]", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("sowcast: error: demo step 'ingest' failed:")
    assert not (tmp_path / "data/demo/demo.zarr").exists()
