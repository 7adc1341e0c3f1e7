"""ONNX export of a tiny trained run: the rebuilt model equals the trained one, onnxruntime
matches torch eager (random and real-store windows, batch 1 and 3), no Scatter op, I/O
names and shapes with a dynamic batch, weights beside the graph when asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

import onnx
from onnx import TensorProto, helper

from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.export import onnx_export as ox
from sowcast.export import parity as P
from sowcast.graph.build import graph_cache_key
from sowcast.train.checkpoint import load_checkpoint
from sowcast.train.testing import train_tiny_run

TOLERANCE = 1e-4  # max |onnx - torch| / channel std


def tiny_run(tmp: Path, steps: int = 3) -> tuple[Path, Path]:
    """A canonical store and a model=tiny run trained for a few steps; returns (store, checkpoint)."""
    store = make_canonical_store(tmp / "tiny.zarr", n_times=24, grid=(8, 16), seed=0)
    return store, train_tiny_run(store, tmp, steps)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    torch.set_num_threads(2)
    return tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    _, checkpoint = run
    loaded = ox.load_model(checkpoint)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    files = ox.export_onnx(loaded.model, path)
    return loaded, path, files


def test_rebuilt_model_is_the_trained_one(run, exported):
    _, checkpoint = run
    loaded, _, _ = exported
    payload = load_checkpoint(checkpoint)
    state = loaded.model.state_dict()
    assert set(state) == set(payload["model"])
    assert all(torch.equal(state[k], payload["model"][k]) for k in state)
    assert not loaded.model.training
    lat, lon = np.asarray(payload["grid"]["lat"]), np.asarray(payload["grid"]["lon"])
    from sowcast.data.grid import Grid

    settings = {k: v for k, v in payload["config"]["graph"].items() if k != "cache_dir"}
    assert loaded.graph_key == graph_cache_key(Grid(lat=lat, lon=lon), 3, settings)
    assert loaded.graph.settings["cache_key"] == loaded.graph_key  # the graph training cached, read back
    assert len(loaded.graph_digest) == 64


def test_export_is_checked_plain_onnx_with_dynamic_batch(exported):
    loaded, path, files = exported
    assert files == [path] and not path.with_name("model.onnx.data").exists()  # weights embedded
    info = ox.check_onnx(path, loaded.model)
    assert info["opset"] == 18
    assert not [op for op in info["ops"] if "scatter" in op.lower()], info["ops"]
    assert {"Gather", "ReduceSum"} <= set(info["ops"])
    m = loaded.model
    h, w = m.grid_shape
    assert info["inputs"] == [
        {"name": "inputs", "shape": ["batch", 2, m.n_channels, h, w], "dtype": "float32"},
        {"name": "forcings", "shape": ["batch", 3, m.n_forcings, h, w], "dtype": "float32"},
        {"name": "static", "shape": ["batch", m.n_static, h, w], "dtype": "float32"}]
    assert info["outputs"] == [{"name": "next_state", "shape": ["batch", m.n_channels, h, w], "dtype": "float32"}]


def test_onnxruntime_matches_torch_on_random_and_real_windows(run, exported):
    store, _ = run
    loaded, path, _ = exported
    payload = loaded.payload
    stats = {k: np.asarray(v, np.float32) for k, v in payload["statistics"].items()}
    channels = payload["channels"]
    session = P.ort_session(path, threads=2)
    source = WindowSource(store, n_input_steps=2, n_target_steps=1, static=payload["static"],
                          time_range=payload["config"]["train"]["validation_range"])
    real = P.real_batch(source, 4)
    assert real is not None and len(real["inputs"]) == 4
    grid = source.grid
    random = P.random_batch(2, stats, grid.lat, grid.lon, source.time_step, 3, payload["forcings"],
                            static=real["static"][0], seed=1)
    for name, batch in [("random", random), ("real", P.take(real, slice(0, 3)))]:
        for n in (1, 3):
            part = P.take(batch, slice(0, n))
            out_onnx, out_torch = P.run_ort(session, part), P.run_torch(loaded.model, part)
            assert out_onnx.shape == (n, len(channels), *grid.shape)
            d = P.difference(out_onnx, out_torch, stats, channels)
            assert d.finite and d.max_normalised < TOLERANCE, (name, n, d)
            assert not np.array_equal(out_onnx, part["inputs"][:, -1])  # the model did something

    report, outputs = P.check_parity(loaded.model, session, random, real, stats, channels, grid.lat, TOLERANCE)
    assert report.ok and report.worst < TOLERANCE and report.n_real == 4 and report.n_random == 3
    assert set(outputs) == {"random", "real"}
    assert report.rmse_onnx == pytest.approx(report.rmse_torch, rel=1e-4)
    assert report.as_manifest()["max_abs_diff_real"] is not None


def test_parity_flags_a_wrong_model(run, exported):
    loaded, path, _ = exported
    payload = loaded.payload
    stats = {k: np.asarray(v, np.float32) for k, v in payload["statistics"].items()}
    lat, lon = np.asarray(payload["grid"]["lat"]), np.asarray(payload["grid"]["lon"])
    random = P.random_batch(2, stats, lat, lon, np.timedelta64(1, "D"), 2, payload["forcings"],
                            n_static=2, static_statistics=payload["static_statistics"])
    with torch.no_grad():  # another model: the same architecture, weights nudged
        other = ox.load_model(payload).model
        next(other.parameters()).add_(0.01)
    report, _ = P.check_parity(other, P.ort_session(path, 1), random, None, stats, payload["channels"], lat, TOLERANCE,
                               real_skipped="test")
    assert not report.ok and report.worst > TOLERANCE and "real windows skipped (test)" in report.summary()


def test_weights_go_beside_the_graph_past_the_limit(exported, tmp_path):
    loaded, path, _ = exported
    big = tmp_path / "model.onnx"
    files = ox.export_onnx(loaded.model, big, embed_limit_bytes=0)
    assert [f.name for f in files] == ["model.onnx", "model.onnx.data"]
    assert big.stat().st_size < path.stat().st_size < big.stat().st_size + files[1].stat().st_size + 4096
    ox.check_onnx(big, loaded.model)
    random = P.random_batch(2, {k: np.asarray(v) for k, v in loaded.payload["statistics"].items()},
                            np.asarray(loaded.payload["grid"]["lat"]), np.asarray(loaded.payload["grid"]["lon"]),
                            np.timedelta64(1, "D"), 2, loaded.payload["forcings"], n_static=2)
    a = P.run_ort(P.ort_session(big, 1), random)
    b = P.run_ort(P.ort_session(path, 1), random)
    np.testing.assert_array_equal(a, b)


def test_scatter_is_refused():
    """A graph with ScatterND (what index_add_ exports to) is refused, inside functions too."""
    def vi(name, shape, kind=TensorProto.FLOAT):
        return helper.make_tensor_value_info(name, kind, shape)

    node = helper.make_node("ScatterND", ["data", "idx", "upd"], ["out"], reduction="add")
    graph = helper.make_graph([node], "g", [vi("data", [4]), vi("idx", [2, 1], TensorProto.INT64), vi("upd", [2])],
                              [vi("out", [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(SowcastError, match=r"model\.onnx: the exported graph holds ScatterND"):
        ox.check_no_scatter(model)
    fn = helper.make_function("local", "agg", ["data", "idx", "upd"], ["out"], [node],
                              [helper.make_opsetid("", 18)])
    call = helper.make_node("agg", ["data", "idx", "upd"], ["out"], domain="local")
    wrapped = helper.make_model(helper.make_graph([call], "g", graph.input, graph.output),
                                opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("local", 1)],
                                functions=[fn])
    assert "ScatterND" in ox.op_types(wrapped)
    with pytest.raises(SowcastError, match="ScatterND"):
        ox.check_no_scatter(wrapped, "x.onnx")


def test_export_arguments_are_checked(exported, tmp_path):
    loaded, _, _ = exported
    with pytest.raises(SowcastError, match="opset must be at least 18"):
        ox.export_onnx(loaded.model, tmp_path / "m.onnx", opset=17)
    with pytest.raises(SowcastError, match="example batch must be at least 2"):
        ox.export_onnx(loaded.model, tmp_path / "m.onnx", example_batch=1)
    onnx.save(helper.make_model(helper.make_graph([], "empty", [], [])), str(tmp_path / "bad.onnx"))
    with pytest.raises(SowcastError, match="bad.onnx: inputs"):
        ox.check_onnx(tmp_path / "bad.onnx")
