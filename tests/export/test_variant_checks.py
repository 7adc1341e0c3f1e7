"""Reduced-precision variants: the 46-day rollout comparison (weekly means in units of the
weekly climatological std, tercile probabilities) and fp16 with the normalisation kept in
float32 (a model taking pressure in Pa stays finite)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

import onnx
from onnx import TensorProto, helper, numpy_helper

from sowcast.errors import SowcastError
from sowcast.export import parity as P
from sowcast.export.quantize import make_fp16, normalisation_nodes


def setup_for(climate: P.WeeklyClimate, n_inits: int, n_members: int) -> P.RolloutSetup:
    return P.RolloutSetup(start={}, n_steps=42, steps_per_week=7, n_inits=n_inits, n_members=n_members,
                          climate=climate, noise_shape=None)


def test_weekly_climate_is_the_spread_and_terciles_of_7_day_means():
    rng = np.random.default_rng(0)
    weeks = rng.standard_normal((300, 2, 3, 4)) * np.array([1.0, 50.0])[None, :, None, None]
    daily = np.repeat(weeks, 7, axis=0) + 0.0  # constant within each week: weekly means are `weeks`
    climate = P.weekly_climate(daily[:-3], 7)  # a partial last week is left out
    assert climate.n_weeks == 299
    np.testing.assert_allclose(climate.sigma, np.sqrt(weeks[:299].var(axis=0, ddof=1).reshape(2, -1).mean(1)))
    np.testing.assert_allclose(climate.terciles, np.quantile(weeks[:299], [1 / 3, 2 / 3], axis=0))
    with pytest.raises(SowcastError, match="fewer than 2 weeks"):
        P.weekly_climate(daily[:10], 7)


def test_rollout_comparison_catches_a_drift_of_weekly_means_and_moved_terciles():
    rng = np.random.default_rng(1)
    climate = P.weekly_climate(rng.standard_normal((7 * 60, 2, 3, 4)), 7)
    setup = setup_for(climate, n_inits=2, n_members=4)
    fp32 = rng.standard_normal((8, 6, 2, 3, 4)) * 0.3
    same = P.compare_rollouts(fp32.copy(), fp32, setup, ["a", "b"])
    assert same.ok and same.max_weekly_diff == 0 and same.tercile_moved == 0 and same.days == 42

    small = fp32.copy()
    small[:, :, 1] += 0.005 * climate.sigma[1]  # half a percent of channel b's weekly std
    r = P.compare_rollouts(small, fp32, setup, ["a", "b"])
    assert r.max_weekly_diff == pytest.approx(0.005, rel=1e-6) and r.channel == "b"

    drift = fp32.copy()
    drift[3, 5, 0, 1, 2] += 0.05 * climate.sigma[0]  # one member, one week, one point: 5 % of the std
    r = P.compare_rollouts(drift, fp32, setup, ["a", "b"])
    assert not r.ok and r.max_weekly_diff == pytest.approx(0.05, rel=1e-6) and r.channel == "a"

    flipped = fp32.copy()
    flipped[:, :, 0] = climate.terciles[1, 0] + 1.0  # every member of channel a in the upper tercile
    r = P.compare_rollouts(flipped, fp32, setup, ["a", "b"])
    probs = P.tercile_probabilities(fp32, climate.terciles, 2)
    assert probs.shape == (2, 6, 3, 2, 3, 4) and np.allclose(probs.sum(axis=2), 1)
    assert 0.1 < r.tercile_moved <= 0.5 and not r.ok  # channel b's probabilities do not move

    broken = fp32.copy()
    broken[0, 0, 0, 0, 0] = np.inf
    assert not P.compare_rollouts(broken, fp32, setup, ["a", "b"]).ok


def pressure_model(path):
    """x [B, 2] in Pa (about 101325: beyond fp16's 65504) -> x + 10 * tanh(((x - mean) / std) @ W + b)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(np.array([101325.0, 100000.0], np.float32), "mean"),
             numpy_helper.from_array(np.array([300.0, 200.0], np.float32), "std"),
             numpy_helper.from_array(rng.standard_normal((2, 2)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(2, np.float32), "b"),
             numpy_helper.from_array(np.array([10.0, 10.0], np.float32), "scale")]
    nodes = [helper.make_node("Sub", ["x", "mean"], ["centred"], name="sub"),
             helper.make_node("Div", ["centred", "std"], ["z"], name="div"),
             helper.make_node("MatMul", ["z", "w"], ["h"], name="matmul"),
             helper.make_node("Add", ["h", "b"], ["hb"], name="bias"),
             helper.make_node("Tanh", ["hb"], ["t"], name="tanh"),
             helper.make_node("MatMul", ["t", "w"], ["u"], name="matmul2"),
             helper.make_node("Mul", ["u", "scale"], ["inc"], name="scale_up"),
             helper.make_node("Add", ["x", "inc"], ["y"], name="increment")]
    graph = helper.make_graph(nodes, "pressure", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), path)


def test_fp16_keeps_the_normalisation_in_float32_and_stays_finite(tmp_path):
    import onnxruntime as ort
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src = tmp_path / "model.onnx"
    pressure_model(src)
    assert normalisation_nodes(onnx.load(src).graph) == ["div", "increment", "scale_up", "sub"]
    x = {"x": np.array([[101325.0, 100500.0], [101000.0, 99500.0]], np.float32)}
    ref = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, x)[0]

    plain = convert_float_to_float16(onnx.load(src), keep_io_types=True)  # what the export did before
    onnx.save(plain, tmp_path / "plain.onnx")
    before = ort.InferenceSession(str(tmp_path / "plain.onnx"), providers=["CPUExecutionProvider"]).run(None, x)[0]
    assert not np.isfinite(before).all() or np.abs(before - ref).max() > 1.0  # Pa in fp16: 64 Pa apart near 1e5

    assert make_fp16(src, tmp_path / "half.onnx") is None
    half = onnx.load(tmp_path / "half.onnx")
    assert [v.type.tensor_type.elem_type for v in list(half.graph.input) + list(half.graph.output)] == [1, 1]
    assert {n.op_type for n in half.graph.node} >= {"Cast", "MatMul"}
    got = ort.InferenceSession(str(tmp_path / "half.onnx"), providers=["CPUExecutionProvider"]).run(None, x)[0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, ref, atol=0.05)  # fp16 inside: ~1e-3 of the 10 Pa increment
    assert np.abs(got - ref).max() > 0  # the network did run in fp16
