"""The forecast engine: forcings, CF output, equality with manual onnxruntime calls, bounded memory, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from forecast_helpers import (
    PROBE,
    make_store,
    one_line_error,
    options,
    run_reference,
    write_bundle,
)

from sowcast.bundle.checksums import sha256_file
from sowcast.bundle.reader import load_bundle
from sowcast.data.forcings import FORCING_NAMES, compute_forcings
from sowcast.errors import SowcastError
from sowcast.forecast.engine import run_forecast
from sowcast.forecast.ensemble import (
    Perturbation,
    PerturbationGenerator,
    nonnegative_channels,
    start_ensemble,
)
from sowcast.forecast.initial_conditions import read_initial_conditions
from sowcast.forecast.output_writer import ZarrStepWriter
from sowcast.forecast.rollout_state import partial_dir


def _open(path):
    if str(path).endswith(".zarr"):
        return xr.open_dataset(path, engine="zarr", consolidated=False, chunks=None)
    return xr.open_dataset(path)


def test_forcings_fed_match_data_forcings(forecast_data, tmp_path):
    """The probe model copies forcings[:, t, f] into its outputs: read back what the engine fed."""
    bundle = load_bundle(forecast_data["probe_bundle"])
    run_forecast(options(bundle, forecast_data["store"], tmp_path / "probe.zarr", members=2, lead="5D"))
    step = pd.Timedelta(bundle.time_step)
    with _open(tmp_path / "probe.zarr") as ds:
        valid = pd.DatetimeIndex(ds["valid_time"].values)
        for c, (name, (t, f)) in enumerate(zip(bundle.channels, PROBE)):
            spec = bundle.channel_info[c]
            da = ds[spec["variable"]]
            got = (da.sel(level=spec["level"]) if spec["level"] is not None else da).values  # [M, L, H, W]
            # Time index t of the forcings is the input time t (0, 1) or the target time (2).
            times = valid - (2 - t) * step
            want = compute_forcings(times.values, bundle.grid.lat, bundle.grid.lon, step)[FORCING_NAMES[f]]
            for m in range(2):
                np.testing.assert_array_equal(got[m], want, err_msg=f"{name}: forcing {FORCING_NAMES[f]} at t={t}")


def test_output_is_cf_with_provenance(forecast_data, tmp_path):
    bundle = load_bundle(forecast_data["bundle"])
    store = forecast_data["store"]
    ic = read_initial_conditions(store, bundle)
    for name in ("fc.zarr", "fc.nc"):
        result = run_forecast(options(forecast_data["bundle"], store, tmp_path / name, members=3, lead="4D"))
        assert result.status == "computed" and result.n_steps == 4 and result.members == 3
        assert not partial_dir(tmp_path / name).exists()
        with _open(tmp_path / name) as ds:
            assert ds.attrs["Conventions"] == "CF-1.8"
            assert dict(ds.sizes) == {"member": 3, "lead_time": 4, "level": 2, "lat": 8, "lon": 16}
            assert set(ds.data_vars) == {"2m_temperature", "total_precipitation", "temperature"}
            assert ds["temperature"].dims == ("member", "lead_time", "level", "lat", "lon")
            assert ds["2m_temperature"].dims == ("member", "lead_time", "lat", "lon")
            np.testing.assert_array_equal(ds["member"].values, [0, 1, 2])
            np.testing.assert_array_equal(ds["level"].values, [500.0, 850.0])
            np.testing.assert_array_equal(ds["lat"].values, bundle.grid.lat)
            lead = pd.TimedeltaIndex(ds["lead_time"].values)
            assert list(lead) == [pd.Timedelta(days=k) for k in range(1, 5)]
            init = pd.Timestamp(ds["init_time"].values)
            assert init == ic.init_time
            np.testing.assert_array_equal(ds["valid_time"].values, (init + lead).values)
            assert ds["valid_time"].dims == ("lead_time",)
            assert (ds["start_time"].values == np.datetime64(init)).all()
            for var, units, std_name in (("2m_temperature", "K", "air_temperature"),
                                         ("temperature", "K", "air_temperature"),
                                         ("total_precipitation", "mm", "lwe_thickness_of_precipitation_amount")):
                assert ds[var].attrs["units"] == units and ds[var].attrs["standard_name"] == std_name
                assert ds[var].dtype == np.float32
                assert np.isfinite(ds[var].values).all()
            assert ds["total_precipitation"].attrs["cell_methods"] == "time: sum"
            assert ds["lead_time"].attrs["standard_name"] == "forecast_period"
            assert ds["init_time"].attrs["standard_name"] == "forecast_reference_time"
            assert ds["valid_time"].attrs["standard_name"] == "time"
            assert ds["member"].attrs["standard_name"] == "realization"
            assert ds["lat"].attrs["units"] == "degrees_north" and ds["level"].attrs["units"] == "hPa"
            a = ds.attrs
            assert a["bundle_sha256"] == bundle.sha256
            assert a["model_sha256"] == sha256_file(bundle.model_path())   # the model run, whatever is added later
            assert a["init_time"] == f"{ic.init_time:%Y-%m-%dT%H:%M:%S}"
            assert a["sowcast_version"] and a["onnxruntime_version"]
            assert a["precipitation_accumulation"] == "period_beginning"
            config = json.loads(a["forecast_config"])
            assert config["members"] == 3 and config["lead"] == "P4D"
            if name == "fc.zarr":
                saved = {v: ds[v].values for v in ds.data_vars}
            else:  # the .nc output holds the same values as the .zarr one
                for v in ds.data_vars:
                    np.testing.assert_array_equal(ds[v].values, saved[v])


def test_engine_equals_manual_onnxruntime_calls(forecast_data, real_bundle, tmp_path):
    """The engine's output for the test model and for a real exported bundle (from its .tar.gz)
    equals a rollout by hand: compute_forcings + plain onnxruntime sessions, no torch."""
    for bundle_path, store in ((forecast_data["bundle"], forecast_data["store"]),
                               (real_bundle["archive"], real_bundle["store"])):
        bundle = load_bundle(bundle_path)
        out = tmp_path / f"{bundle.sha256[:8]}.zarr"
        run_forecast(options(bundle_path, store, out, members=3, lead="5D", threads=1, batch=2))
        ic = read_initial_conditions(store, bundle)
        stats = {k: np.asarray(v) for k, v in bundle.statistics.items()}
        gen = PerturbationGenerator(bundle.grid, stats["diff_std"], Perturbation(),
                                    [c["variable"] for c in bundle.channel_info])
        members = start_ensemble(ic.states, 0, 3, gen, nonnegative_channels(stats, len(bundle.channels)))
        want = run_reference(bundle, ic.times, 5, members, threads=1)  # [M, L, C, H, W]
        with _open(out) as ds:
            for c, spec in enumerate(bundle.channel_info):
                da = ds[spec["variable"]]
                got = (da.sel(level=spec["level"]) if spec["level"] is not None else da).values
                np.testing.assert_array_equal(got, want[:, :, c], err_msg=spec["name"])


def test_writer_holds_one_step_at_a_time(forecast_data, tmp_path, monkeypatch):
    calls = []
    original = ZarrStepWriter.write_step

    def spy(self, index, state):
        calls.append((index, state.shape))
        return original(self, index, state)

    monkeypatch.setattr(ZarrStepWriter, "write_step", spy)
    run_forecast(options(forecast_data["bundle"], forecast_data["store"], tmp_path / "fc.zarr", members=3, lead="7D"))
    assert [i for i, _ in calls] == list(range(7))
    assert all(shape == (3, 4, 8, 16) for _, shape in calls)


_PEAK_RSS = r"""
import json, resource, sys
from sowcast.forecast.engine import ForecastOptions, run_forecast
run_forecast(ForecastOptions.from_config(json.loads(sys.argv[1])))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_lead(tmp_path):
    """Peak RSS for 8 and 32 steps of 16 members on a 64 x 128 grid (2.1 MB per step): keeping
    the steps would add 50 MB; a step-by-step writer adds next to nothing."""
    store = make_store(tmp_path / "big.zarr", n_times=3, grid=(64, 128))
    bundle = write_bundle(tmp_path / "bundle", store)
    peaks = {}
    for steps in (8, 32):
        cfg = {"bundle": str(bundle), "init": str(store), "output": str(tmp_path / f"fc{steps}.zarr"),
               "lead": f"{steps}D", "members": 16, "threads": 1, "checkpoint_every": 5}
        r = subprocess.run([sys.executable, "-c", _PEAK_RSS, json.dumps(cfg)], check=False,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        peaks[steps] = int(r.stdout.split()[-1]) / 1024  # MB
    assert peaks[32] - peaks[8] < 20, peaks


def test_errors_leave_nothing_at_output(forecast_data, tmp_path):
    store = forecast_data["store"]
    out = tmp_path / "fc.zarr"

    def nothing_written():
        assert not out.exists() and not partial_dir(out).exists()

    one_line_error(lambda: run_forecast(options(forecast_data["bundle"], store, out, lead="36h")),
           "forecast.lead PT36H", "whole multiple", "P1D")
    nothing_written()
    one_line_error(lambda: run_forecast(options(tmp_path / "no_bundle", store, out)), "no bundle at")
    nothing_written()
    broken = tmp_path / "broken_bundle"
    shutil.copytree(forecast_data["bundle"], broken)
    data = bytearray((broken / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (broken / "model.onnx").write_bytes(bytes(data))
    one_line_error(lambda: run_forecast(options(broken, store, out)), "model.onnx", "sha256 mismatch")
    nothing_written()
    (broken / "model.onnx").unlink()
    one_line_error(lambda: run_forecast(options(broken, store, out)), "model.onnx: missing")
    nothing_written()
    other_grid = make_store(tmp_path / "grid.zarr", grid=(8, 18), n_times=3)
    one_line_error(lambda: run_forecast(options(forecast_data["bundle"], other_grid, out)), "grids differ")
    nothing_written()
    one_line_error(lambda: run_forecast(options(forecast_data["bundle"], store, tmp_path / "fc.grib")), "must end in .zarr or .nc")
    with pytest.raises(SowcastError, match="unknown option forecast.member; known: bundle,"):
        options(forecast_data["bundle"], store, out, member=3)

    # An existing output of another forecast is kept unless overwrite.
    run_forecast(options(forecast_data["bundle"], store, out, members=2, lead="2D"))
    before = (out / "zarr.json").read_bytes()
    one_line_error(lambda: run_forecast(options(forecast_data["bundle"], store, out, members=3, lead="2D")),
           "exists already", "overwrite=true")
    assert (out / "zarr.json").read_bytes() == before and not partial_dir(out).exists()
    # The same forecast again is not recomputed; overwrite recomputes it.
    assert run_forecast(options(forecast_data["bundle"], store, out, members=2, lead="2D")).status == "up to date"
    assert (out / "zarr.json").read_bytes() == before
    r = run_forecast(options(forecast_data["bundle"], store, out, members=3, lead="2D"), overwrite=True)
    assert r.status == "computed"
    with _open(out) as ds:
        assert ds.sizes["member"] == 3


def test_command_line(forecast_data, real_bundle, tmp_path, sowcast_cli):
    out = tmp_path / "cli.nc"
    args = ["forecast", f"forecast.bundle={real_bundle['archive']}", f"forecast.init={real_bundle['store']}",
            f"forecast.output={out}", "forecast.lead=3D", "forecast.members=2", "forecast.threads=1", "progress=false"]
    r = sowcast_cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"wrote {out}: 2 members x 3 steps" in r.stdout and "member-days per CPU-second" in r.stdout
    with _open(out) as ds:
        assert ds.sizes["member"] == 2 and ds.sizes["lead_time"] == 3
    r = sowcast_cli(*args, cwd=tmp_path)
    assert r.returncode == 0 and "up to date" in r.stdout, r.stderr
    r = sowcast_cli(*args[:-1], "forecast.lead=30h", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "sowcast: error: forecast.lead PT30H is not a whole multiple of the bundle's time step P1D"]


def test_session_settings_from_config(forecast_data, tmp_path):
    import onnxruntime as ort

    from sowcast.forecast.session import StepModel

    model = StepModel(forecast_data["bundle"] / "model.onnx", threads=1, inter_op_threads=1, spinning=False)
    so = model.session.get_session_options()
    assert so.intra_op_num_threads == 1 and so.inter_op_num_threads == 1
    assert so.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    one_line_error(lambda: StepModel(tmp_path / "bad.onnx"), "onnxruntime cannot load", "bad.onnx")
