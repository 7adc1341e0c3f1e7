"""``model.onnx`` says what it is (sowcast.export.model_metadata): read back with
``onnx.load`` and with an onnxruntime session's ``get_modelmeta()`` from a real export, the
metadata agree with the manifest; the stamped file is the one the manifest's checksum and
the parity checks are of."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_exported_model_carries_channels_units_step_grid_and_identity(stochastic_bundle, tmp_path):
    import onnx
    import onnxruntime

    from sowcast.bundle import load_bundle
    from sowcast.bundle.checksums import sha256_file
    from sowcast.export.model_metadata import read_model_metadata

    folder = stochastic_bundle["bundle"]
    bundle = load_bundle(folder)  # verifies every file's sha256 against the manifest
    m = bundle.manifest
    path = folder / m["model"]["file"]
    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}

    assert json.loads(props["channels"]) == [c["name"] for c in m["channels"]] == bundle.channels
    assert json.loads(props["channel_units"]) == [c["units"] for c in m["channels"]]
    assert all(json.loads(props["channel_units"]))  # every channel of the tiny store has units
    assert json.loads(props["channel_standard_names"]) == [c["standard_name"] for c in m["channels"]]
    assert json.loads(props["forcings"]) == m["forcing_names"]
    assert json.loads(props["static"]) == m["static_names"]
    assert props["time_step"] == m["time_step"] == "P1D"
    assert json.loads(props["n_input_steps"]) == m["n_input_steps"]
    lat, lon = m["grid"]["lat"], m["grid"]["lon"]
    assert props["grid_kind"] == m["grid"]["kind"]
    assert json.loads(props["grid_shape"]) == [len(lat), len(lon)]
    assert json.loads(props["lat_bounds"]) == [min(lat), max(lat)]
    assert json.loads(props["lon_bounds"]) == [min(lon), max(lon)]
    provenance = m["provenance"]
    assert props["config_digest"] == provenance["config_digest"]
    assert props["param_digest"] == provenance["param_digest"]
    assert json.loads(props["checkpoint_step"]) == provenance["step"]
    assert props["graph_digest"] == m["model"]["graph"]["digest"]
    assert props["sowcast_version"] == m["sowcast_version"]

    doc = proto.graph.doc_string
    assert doc == proto.doc_string
    assert all(name in doc for name in bundle.channels) and "P1D" in doc and "manifest.json" in doc

    meta = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    assert dict(meta.custom_metadata_map) == props == read_model_metadata(path)
    assert meta.graph_description == doc and meta.description == doc

    # the shipped (stamped) file is the one checksummed, and parity passed on it
    assert m["files"][m["model"]["file"]]["sha256"] == sha256_file(path)
    assert m["parity"]["passed"] is True

    # the fp16/int8 variants are made from the stamped file and keep its metadata (made here:
    # the tiny model's variants are dropped by the export's checks)
    from sowcast.export.quantize import make_variant

    for precision in ("fp16", "int8"):
        out = tmp_path / f"model_{precision}.onnx"
        assert make_variant(precision, path, out) is None, precision
        variant = onnx.load(str(out), load_external_data=False)
        kept = {p.key: p.value for p in variant.metadata_props}  # int8 adds onnxruntime's quantisation keys
        assert kept.items() >= props.items(), precision
        assert variant.graph.doc_string == doc, precision
