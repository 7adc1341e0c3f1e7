"""``sowcast export`` end to end on a tiny trained run: folder + archive, both load and
verify, the manifest sealed by its own checksum; the int8 verdict is printed and the
manifest agrees; variants dropped past the skill limit; weights beside the graph;
overwrite; a parity failure or a manifest the reader would refuse writes nothing."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from sowcast.bundle import load_bundle
from sowcast.bundle.checksums import sha256_file
from sowcast.bundle.manifest import Manifest
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.export import export_bundle
from sowcast.export.bundle_writer import write_manifest
from sowcast.export import parity as P
from sowcast.train.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from test_onnx_export import tiny_run

VARIANT_LINE = re.compile(r"sowcast export: int8 variant (kept|dropped): max abs diff vs fp32 (\S+) .*"
                          r"skill change ([+-]\d+\.\d\d) % \(RMSE")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    return tiny_run(tmp_path_factory.mktemp("run"))


def test_cli_export_writes_folder_and_archive_that_load(run, tmp_path, sowcast_cli):
    store, checkpoint = run
    out = tmp_path / "bundles" / "tiny"
    args = ["export", "model=tiny", f"train.run_dir={checkpoint.parent.parent}",  # export.checkpoint=latest
            f"export.output={out}", "export.variants=[int8]", "export.parity_real_windows=3", "progress=false"]
    r = sowcast_cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    assert out.is_dir() and out.with_name("tiny.tar.gz").is_file()
    assert f"bundle {out}" in r.stdout and "archive" in r.stdout

    folder, archive = load_bundle(out), load_bundle(out.with_name("tiny.tar.gz"))
    assert folder.sha256 == archive.sha256 == sha256_file(out / "manifest.json")
    assert folder.sha256 in r.stdout
    m = folder.manifest
    payload = load_checkpoint(checkpoint)
    assert m["format"] == "sowcast-bundle-1" and m["time_step"] == "P1D" and m["n_input_steps"] == 2
    assert [c["name"] for c in m["channels"]] == payload["channels"] == folder.channels
    assert m["channels"][-1] == {"name": "temperature_850", "variable": "temperature", "level": 850,
                                 "units": "K", "standard_name": "air_temperature"}
    assert m["forcing_names"] == payload["forcings"] and m["static_names"] == ["land_sea_mask", "orography"]
    assert m["grid"]["kind"] == "global" and m["grid"]["lat"] == payload["grid"]["lat"]
    assert m["model"]["opset"] == 18 and m["model"]["data_file"] is None
    assert m["model"]["inputs"][0]["shape"][0] == "batch" and m["model"]["outputs"][0]["name"] == "next_state"
    assert m["model"]["hyperparameters"] == payload["hyperparameters"]
    assert m["model"]["graph"]["mesh_level"] == 3 and len(m["model"]["graph"]["cache_key"]) == 16
    assert m["provenance"]["step"] == payload["step"] and m["provenance"]["checkpoint"] == str(checkpoint.resolve())
    assert m["provenance"]["data_store"] == str(store.resolve())
    assert m["provenance"]["validation"]["loss"] == pytest.approx(payload["val_loss"])
    assert set(m["software"]) >= {"torch", "onnx", "onnxruntime", "numpy"}
    assert m["parity"]["passed"] and m["parity"]["max_abs_diff_real"] is not None
    assert m["parity"]["max_abs_diff_random_normalised"] < 1e-4 and m["parity"]["n_real"] == 3
    listed = set(m["files"])
    assert listed == {p.name for p in out.iterdir()} - {"manifest.json"}
    first, rest = (out / "manifest.json").read_bytes().split(b"\n", 1)  # sealed: first line is the sha256 of the rest
    assert first == b'{"manifest_sha256": "' + hashlib.sha256(b"{\n" + rest).hexdigest().encode() + b'",'
    assert "manifest_sha256" not in m
    data = (out / "manifest.json").read_bytes()  # the typed contract gives back the exporter's bytes
    assert Manifest.from_bytes(data).to_bytes() == data and folder.typed_manifest == Manifest.from_bytes(data)
    assert {m["files"][n]["role"] for n in listed} >= {"model", "static", "statistics"}

    # static.nc holds the store's static fields; statistics.nc the checkpoint's statistics.
    src = WindowSource(store, static=["land_sea_mask", "orography"])
    np.testing.assert_array_equal(folder.static, src[0]["static"])
    for key, values in payload["statistics"].items():
        np.testing.assert_allclose(folder.statistics[key], np.asarray(values, np.float32))
    with xr.open_dataset(out / "static.nc") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds["lat"].attrs["units"] == "degrees_north"

    # The int8 verdict is printed, and the manifest agrees with it.
    line = VARIANT_LINE.search(r.stderr)
    assert line, r.stderr
    verdict, diff, change = line.group(1), float(line.group(2)), float(line.group(3))
    if verdict == "kept":
        (entry,) = m["model"]["variants"]
        assert entry["file"] == "model_int8.onnx" and (out / "model_int8.onnx").is_file()
        assert m["files"]["model_int8.onnx"]["role"] == "model_variant"
        assert folder.model_path("int8") == out / "model_int8.onnx"
    else:
        (entry,) = m["model"]["dropped_variants"]
        assert "model_int8.onnx" not in m["files"] and not (out / "model_int8.onnx").exists()
    assert entry["precision"] == "int8"
    assert round(100 * entry["skill_change"], 2) == pytest.approx(change, abs=0.006)
    assert float(f"{entry['max_abs_diff']:.3g}") == pytest.approx(diff)
    assert (verdict == "kept") == (entry.get("reason") is None)  # kept: within every check and faster
    assert verdict == "dropped" or (entry["skill_change"] <= 0.02 and entry["rollout"]["passed"]
                                    and entry["ms_per_batch"] < P.VARIANT_SPEEDUP * entry["ms_per_batch_fp32"])

    # The same again without overwrite: one line, nothing touched; with it: replaced.
    before = sha256_file(out / "manifest.json")
    r = sowcast_cli(*args, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    assert "exists already; set overwrite=true" in r.stderr and sha256_file(out / "manifest.json") == before


def test_variants_dropped_past_the_skill_limit_external_weights_and_climatology(run, tmp_path):
    _, checkpoint = run
    lines: list[str] = []
    clim = tmp_path / "clim.nc"
    xr.Dataset({"x": ("t", np.arange(3.0))}).to_netcdf(clim)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "old.onnx").write_bytes(b"an earlier export")
    result = export_bundle(checkpoint, tmp_path / "b", archive=False, variants=["int8"], parity_real_windows=2,
                           max_skill_change=-1.0, embed_limit_bytes=0, climatology=clim, overwrite=True,
                           log=lines.append)
    assert not (tmp_path / "b" / "old.onnx").exists()  # replaced as a whole
    assert result.archive is None and not (tmp_path / "b.tar.gz").exists()
    (dropped,) = [line for line in lines if line.startswith("int8 variant")]
    assert dropped.startswith("int8 variant dropped:") and "limit -100 %" in dropped
    m = result.manifest
    assert m["model"]["variants"] == [] and m["model"]["dropped_variants"][0]["precision"] == "int8"
    assert "exceeds -100 %" in m["model"]["dropped_variants"][0]["reason"]
    assert not (tmp_path / "b" / "model_int8.onnx").exists()
    assert m["model"]["data_file"] == "model.onnx.data" and m["files"]["model.onnx.data"]["role"] == "model_data"
    b = load_bundle(tmp_path / "b")
    assert b.climatology_path == tmp_path / "b" / "climatology.nc"
    session = b.open_session(threads=1)
    x = P.random_batch(b.n_input_steps, b.statistics, b.grid.lat, b.grid.lon, b.time_step, 2, b.forcing_names,
                       static=b.static)
    assert session.run(None, {k: x[k] for k in ("inputs", "forcings", "static")})[0].shape == (2, len(b.channels), 8, 16)

    (tmp_path / "b" / "model.onnx.data").write_bytes(b"")  # the weights file is checked like any other
    with pytest.raises(SowcastError, match=r"^model\.onnx\.data: truncated \(0 of \d+ bytes\)$"):
        load_bundle(tmp_path / "b")


def test_write_manifest_refuses_what_the_reader_would_refuse(tmp_path):
    """The exporter checks its manifest as the edge will, before writing it."""
    (tmp_path / "model.onnx").write_bytes(b"x")
    manifest = {"format": "sowcast-bundle-1", "created": "2026-01-01T00:00:00Z", "sowcast_version": "test",
                "model": {"file": "model.onnx", "data_file": None, "variants": []},
                "channels": [{"name": "2m_temperature", "variable": "2m_temperature", "level": None, "units": "K",
                              "standard_name": "air_temperature"}],
                "forcing_names": [], "static_names": [], "n_input_steps": 2, "time_step": "P0D",
                "grid": {"lat": [0.0, 1.0], "lon": [0.0, 1.0], "kind": "regional"}}
    roles = {"model.onnx": "model", "static.nc": "static", "statistics.nc": "statistics"}
    for name in ("static.nc", "statistics.nc"):
        (tmp_path / name).write_bytes(b"z")
    with pytest.raises(SowcastError, match=r"^manifest\.json: time_step 'P0D' is not a positive"):
        write_manifest(tmp_path, manifest, roles)
    assert not (tmp_path / "manifest.json").exists()
    written = write_manifest(tmp_path, {**manifest, "time_step": "P1D"}, roles)
    assert json.loads((tmp_path / "manifest.json").read_text())["files"] == written["files"]


def test_parity_failure_writes_nothing(run, tmp_path, monkeypatch):
    _, checkpoint = run
    real_run_torch = P.run_torch
    monkeypatch.setattr(P, "run_torch", lambda model, batch: real_run_torch(model, batch) * 1.001)
    with pytest.raises(SowcastError, match=r"^ONNX parity failed: max normalised difference .* exceeds "
                                           r"export.parity_tolerance 0.0001.*no bundle written$"):
        export_bundle(checkpoint, tmp_path / "b", log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_store(run, tmp_path):
    _, checkpoint = run
    payload = load_checkpoint(checkpoint)
    payload["config"]["data"]["store"] = str(tmp_path / "gone.zarr")
    with pytest.raises(SowcastError, match=r"gone\.zarr is not reachable: static\.nc needs the static fields "
                                           r"\(land_sea_mask, orography\).*export\.store=PATH"):
        export_bundle(payload, tmp_path / "b", log=lambda m: None)
    assert not (tmp_path / "b").exists()
    with pytest.raises(SowcastError, match="export.variants must name"):
        export_bundle(payload, tmp_path / "b", variants=["int4"])
