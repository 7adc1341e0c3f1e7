"""Forecaster: shapes, batch independence, learning, rollout, checkpoints, presets, export ops."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import EdgeSet, ForecastGraph
from sowcast.model import Forecaster, build_forecaster
from sowcast.model.mlp import mlp_parameter_count
from sowcast.model.normalization import FORCING_SCALES, Normalization, safe_std

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
C, F, S, T = 3, 2, 1, 2
FORBIDDEN_OPS = ("scatter", "index_add", "index_put", "index_reduce", "put")


# -- graphs and data ---------------------------------------------------------------------
def _node_features(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la), np.sin(lo), np.cos(lo)], 1).astype(np.float32)


def random_graph(n_lat: int = 5, n_lon: int = 7, n_mesh: int = 12, seed: int = 0) -> ForecastGraph:
    """A valid graph on a small regional grid: random mesh points, nearest-neighbour edges."""
    rng = np.random.default_rng(seed)
    grid = Grid.from_bounds(0.0, n_lat - 1.0, 0.0, n_lon - 1.0, 1.0)
    g_lat, g_lon = np.repeat(grid.lat, n_lon), np.tile(grid.lon, n_lat)
    m_lat, m_lon = rng.uniform(-0.5, n_lat - 0.5, n_mesh), rng.uniform(-0.5, n_lon - 0.5, n_mesh)
    d_gm = np.hypot(g_lat[:, None] - m_lat[None], g_lon[:, None] - m_lon[None])
    d_mm = np.hypot(m_lat[:, None] - m_lat[None], m_lon[:, None] - m_lon[None]) + np.eye(n_mesh) * 1e9

    def edges(senders, receivers, n_receivers):
        return EdgeSet.from_edges(senders, receivers, rng.standard_normal((len(senders), 4)), n_receivers)

    near2 = np.argsort(d_gm, 1)[:, :2]
    near3 = np.argsort(d_gm, 1)[:, :3]
    nbr = np.argsort(d_mm, 1)[:, :4]
    pairs = {(int(a), int(b)) for b in range(n_mesh) for a in nbr[b]}
    pairs |= {(b, a) for a, b in pairs}
    m_s, m_r = np.array(sorted(pairs)).T
    return ForecastGraph(
        grid_lat=g_lat, grid_lon=g_lon, mesh_lat=m_lat, mesh_lon=m_lon,
        grid_features=_node_features(g_lat, g_lon), mesh_features=_node_features(m_lat, m_lon),
        grid2mesh=edges(np.repeat(np.arange(len(g_lat)), 2), near2.ravel(), n_mesh),
        mesh=edges(m_s, m_r, n_mesh),
        mesh2grid=edges(near3.ravel(), np.repeat(np.arange(len(g_lat)), 3), len(g_lat)),
        settings={"kind": "random"})


@pytest.fixture(scope="module")
def graph() -> ForecastGraph:
    return random_graph()


@pytest.fixture(scope="module")
def built_graphs() -> dict[str, ForecastGraph]:
    build = pytest.importorskip("sowcast.graph.build")
    return {"global": build.build_graph(Grid.global_grid(10.0), 2),
            "regional": build.build_graph(Grid.from_bounds(-2.0, 10.0, -10.0, 4.0, 1.0), 4)}


def smooth_fields(rng: np.random.Generator, n: int, shape: tuple[int, int], scale: float = 1.0) -> np.ndarray:
    """``n`` smooth fields: a few random low-order waves."""
    i, j = np.meshgrid(np.linspace(0, 1, shape[0]), np.linspace(0, 1, shape[1]), indexing="ij")
    out = np.zeros((n, *shape))
    for c in range(n):
        for _ in range(3):
            a, b, p = rng.uniform(0.5, 2.5), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
            out[c] += rng.standard_normal() * np.sin(np.pi * (a * i + b * j) + p)
    return (scale * out).astype(np.float32)


def statistics(n_channels: int = C) -> dict[str, np.ndarray]:
    return {"mean": np.linspace(280.0, 300.0, n_channels), "std": np.linspace(2.0, 8.0, n_channels),
            "diff_mean": np.linspace(-0.1, 0.1, n_channels), "diff_std": np.linspace(0.5, 1.5, n_channels)}


STATIC_STATS = {"mean": np.array([0.3]), "std": np.array([0.4])}


def make_model(graph: ForecastGraph, seed: int = 0, **kw) -> Forecaster:
    torch.manual_seed(seed)
    args = {"width": 16, "processor_layers": 2, **kw}
    return Forecaster(graph, C, F, S, statistics(), STATIC_STATS, n_input_steps=T, **args)


def batch(model: Forecaster, b: int, seed: int = 0, n_steps: int = 1):
    g = torch.Generator().manual_seed(seed)
    h, w = model.grid_shape
    mean, std = torch.tensor(statistics()["mean"]), torch.tensor(statistics()["std"])
    inputs = mean.view(1, 1, C, 1, 1) + std.view(1, 1, C, 1, 1) * torch.randn(b, T, C, h, w, generator=g)
    return (inputs.float(), torch.randn(b, T + n_steps, F, h, w, generator=g), torch.rand(b, S, h, w, generator=g))


# -- shapes and batches --------------------------------------------------------------------
@pytest.mark.parametrize("b", [1, 3])
def test_output_shape(graph, b):
    model = make_model(graph)
    y = model(*batch(model, b))
    assert y.shape == (b, C, *model.grid_shape) and y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("kind", ["global", "regional"])
def test_runs_on_built_graphs(built_graphs, kind):
    g = built_graphs[kind]
    model = make_model(g)
    assert model.grid_shape == tuple(g.settings["grid_shape"])
    x = batch(model, 2)
    y = model(*x)
    assert y.shape == (2, C, *model.grid_shape) and torch.isfinite(y).all()
    y[0].square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    for name, tensors in model.network.edges.items():  # aggregation on the real graph (grouped by in-degree)
        edges = getattr(g, name)
        msgs = np.random.default_rng(0).integers(-99, 99, (edges.n_edges, 2)).astype(np.float32)
        ref = np.zeros((tensors.n_receivers, 2), np.float32)
        np.add.at(ref, edges.receivers, msgs)
        got = tensors.aggregate(torch.from_numpy(msgs[tensors.edge_order])[None])[0].numpy()
        np.testing.assert_array_equal(got, ref)
    assert model.network.edges["mesh2grid"].uniform_degree == 3  # triangle decoder: a pure reshape


def test_batch_samples_are_independent(graph):
    model = make_model(graph).eval()
    x = batch(model, 3)
    with torch.no_grad():
        ref = model(*x)
        changed = [t.clone() for t in x]
        for t in changed:
            t[1] = t[1] * 1.5 + 0.3
        out = model(*changed)
        alone = model(*(t[:1] for t in x))
    torch.testing.assert_close(out[[0, 2]], ref[[0, 2]], rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(alone, ref[:1], rtol=1e-6, atol=1e-5)
    assert not torch.allclose(out[1], ref[1])


def test_wrong_shapes_are_refused(graph):
    model = make_model(graph)
    inputs, forcings, static = batch(model, 2)
    with pytest.raises(SowcastError, match="inputs"):
        model(inputs[:, :1], forcings, static)
    with pytest.raises(SowcastError, match="forcings"):
        model(inputs, forcings[:, :2], static)
    with pytest.raises(SowcastError, match="static"):
        model(inputs, forcings, static[:1])
    with pytest.raises(SowcastError, match="inputs"):
        model(inputs[..., :-1], forcings, static)


# -- normalisation ---------------------------------------------------------------------------
def test_zero_network_output_is_mean_increment_and_targets_invert(graph):
    model = make_model(graph)
    with torch.no_grad():
        model.network.output.layers[-1].weight.zero_()
        model.network.output.layers[-1].bias.zero_()
    inputs, forcings, static = batch(model, 2)
    y = model(inputs, forcings, static)
    diff_mean = torch.tensor(statistics()["diff_mean"], dtype=torch.float32).view(1, C, 1, 1)
    torch.testing.assert_close(y, inputs[:, -1] + diff_mean)
    norm = model.normalization
    out = torch.randn_like(y)
    torch.testing.assert_close(norm.increment_target(inputs[:, -1], norm.apply_increment(inputs[:, -1], out)),
                               out, rtol=1e-4, atol=1e-4)


def test_tiny_std_is_guarded_and_bad_statistics_refused():
    np.testing.assert_array_equal(safe_std(np.array([0.0, 0.0, 2.0]), np.array([0.0, 1e5, 1.0])),
                                  np.array([1e-12, 0.1, 2.0], np.float32))
    norm = Normalization(1, 0, 1, statistics(1) | {"std": np.array([0.0])},
                         {"mean": np.array([1.0]), "std": np.array([0.0])})
    const = torch.full((1, 1, 2, 2), 1.0)
    assert torch.all(norm.normalize_static(const) == 0)
    with pytest.raises(SowcastError, match="diff_std"):
        Normalization(1, 0, 0, {"mean": [0.0], "std": [1.0], "diff_mean": [0.0]}, {"mean": [], "std": []})
    with pytest.raises(SowcastError, match="non-finite"):
        Normalization(1, 0, 0, statistics(1) | {"std": np.array([np.nan])}, {"mean": [], "std": []})
    with pytest.raises(SowcastError, match="2 values"):
        Normalization(1, 0, 0, statistics(2), {"mean": [], "std": []})


# -- learning ------------------------------------------------------------------------------
def test_overfits_one_window():
    """Width 32, 2 layers, Adam 1e-3: the normalised increment MSE falls by > 90 % in 300 steps."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    g = random_graph(6, 8, n_mesh=10, seed=1)
    h, w = 6, 8
    states = smooth_fields(rng, (T + 1) * C, (h, w), 3.0).reshape(T + 1, C, h, w) + 280.0
    states[-1] = states[-2] + smooth_fields(rng, C, (h, w), 0.5)  # a smooth increment
    forcings = smooth_fields(rng, (T + 1) * F, (h, w)).reshape(T + 1, F, h, w)
    static = smooth_fields(rng, S, (h, w))
    diff = states[-1] - states[-2]
    stats = {"mean": states.mean((0, 2, 3)), "std": states.std((0, 2, 3)),
             "diff_mean": diff.mean((1, 2)), "diff_std": diff.std((1, 2))}
    model = Forecaster(g, C, F, S, stats, {"mean": static.mean((1, 2)), "std": static.std((1, 2))},
                       n_input_steps=T, width=32, processor_layers=2)
    x, f, s = (torch.from_numpy(a)[None] for a in (states[:T], forcings, static))
    target = model.normalization.increment_target(x[:, -1], torch.from_numpy(states[-1])[None])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(300):
        loss = (model.increment(x, f, s) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] < 0.001 * losses[0]:
            break
    print(f"overfit: {len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.4f}")
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_gradients_reach_every_parameter(graph):
    model = make_model(graph, mlp_hidden_layers=2)
    model(*batch(model, 2)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing


def test_checkpointed_activations_give_the_same_loss_and_gradients(graph):
    plain = make_model(graph, processor_layers=3)
    ckpt = make_model(graph, processor_layers=3, checkpoint_activations=True)
    ckpt.load_state_dict(plain.state_dict())
    x = batch(plain, 2)
    losses = []
    for model in (plain, ckpt):
        model.train()
        loss = model.increment(*x).square().mean()
        loss.backward()
        losses.append(loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=1e-6)
    for (n, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=1e-6, msg=n)


# -- rollout -------------------------------------------------------------------------------
def test_rollout_equals_repeated_forward(graph):
    model = make_model(graph).eval()
    inputs, forcings, static = batch(model, 2, n_steps=3)
    with torch.no_grad():
        out = model.rollout(inputs, forcings, static, 3)
        window, manual = inputs, []
        for k in range(3):
            y = model(window, forcings[:, k:k + T + 1], static)
            manual.append(y)
            window = torch.stack([window[:, -1], y], dim=1)
    assert out.shape == (2, 3, C, *model.grid_shape)
    torch.testing.assert_close(out, torch.stack(manual, 1), rtol=0, atol=0)
    with pytest.raises(SowcastError, match="forcings"):
        model.rollout(inputs, forcings, static, 4)


# -- checkpoints ---------------------------------------------------------------------------
def test_state_dict_round_trip_and_rebuild_from_hyperparameters(graph, tmp_path):
    model = make_model(graph, seed=1).eval()
    x = batch(model, 2)
    with torch.no_grad():
        ref = model(*x)
    state = model.state_dict()
    assert "normalization.diff_std" in state and "network.graph_digest" in state
    assert not any(k.startswith("network.edges.") or k.endswith("_features") for k in state)  # graph not stored
    torch.save({"hp": model.hyperparameters(), "state": state}, tmp_path / "ckpt.pt")

    other = make_model(graph, seed=2).eval()
    other.load_state_dict(state)
    hp = json.loads(json.dumps(model.hyperparameters()))
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    rebuilt = Forecaster.from_checkpoint(graph, hp, saved["state"]).eval()
    manual = Forecaster(graph, statistics=statistics(), static_statistics=STATIC_STATS, **hp).eval()
    manual.load_state_dict(saved["state"])
    with torch.no_grad():
        for m in (other, rebuilt, manual):
            torch.testing.assert_close(m(*x), ref, rtol=0, atol=0)
    assert rebuilt.hyperparameters() == hp


def test_state_dict_of_another_graph_is_refused(graph):
    model = make_model(graph)
    other = make_model(random_graph(seed=3))
    with pytest.raises(SowcastError, match="different graph"):
        other.load_state_dict(model.state_dict())


# -- presets -------------------------------------------------------------------------------
def expected_parameters(cfg: dict, n_channels: int, n_forcings: int, n_static: int, n_steps: int = 2,
                        node_features: int = 3, edge_features: int = 4) -> int:
    w, h, layers = cfg["width"], cfg["mlp_hidden_layers"], cfg["processor_layers"]
    n_in = n_steps * n_channels + (n_steps + 1) * n_forcings + n_static + node_features
    interaction = mlp_parameter_count(3 * w, w, w, h) + mlp_parameter_count(2 * w, w, w, h)
    return (mlp_parameter_count(n_in, w, w, h) + mlp_parameter_count(node_features, w, w, h)
            + 3 * mlp_parameter_count(edge_features, w, w, h)
            + interaction + mlp_parameter_count(w, w, w, h)        # encoder + grid update
            + layers * interaction                                 # processor
            + interaction + mlp_parameter_count(w, n_channels, w, h, layer_norm=False))  # decoder + output


@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_preset_parameter_counts(graph, preset):
    """Counts for the demo variables (7 channels, 5 forcings, 2 static); independent of the graph."""
    cfg = yaml.safe_load((ROOT / "conf" / "model" / f"{preset}.yaml").read_text())
    model = Forecaster(graph, 7, 5, 2, statistics(7), {"mean": np.zeros(2), "std": np.ones(2)},
                       width=cfg["width"], processor_layers=cfg["processor_layers"],
                       mlp_hidden_layers=cfg["mlp_hidden_layers"], activation=cfg["activation"],
                       checkpoint_activations=cfg["checkpoint_activations"])
    n = model.count_parameters()
    assert n == expected_parameters(cfg, 7, 5, 2)
    print(f"{preset}: {n} parameters")


# -- building from a window source -----------------------------------------------------------
def test_build_forecaster_from_window_source(built_graphs, tmp_path):
    from sowcast.data.testing import make_canonical_store
    from sowcast.data.windows import WindowSource

    g = built_graphs["regional"]
    grid = Grid.from_bounds(-2.0, 10.0, -10.0, 4.0, 1.0)
    source = WindowSource(make_canonical_store(tmp_path / "s.zarr", n_times=6, grid=grid, seed=0))
    cfg = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text()) | {"mesh_level": 4}
    model = build_forecaster(cfg, g, source)
    assert model.hyperparameters()["n_channels"] == len(source.channels)
    np.testing.assert_allclose(model.normalization.arrays()["forcing_mean"],
                               [FORCING_SCALES[n][0] for n in source.forcing_names])
    item = source[0]
    with torch.no_grad():
        y = model(*(torch.from_numpy(item[k][:T + 1] if k == "forcings" else item[k])[None]
                    for k in ("inputs", "forcings", "static")))
    assert y.shape == (1, len(source.channels), *grid.shape) and torch.isfinite(y).all()
    with pytest.raises(SowcastError, match="mesh level"):
        build_forecaster(cfg | {"mesh_level": 3}, g, source)
    with pytest.raises(SowcastError, match="grid"):
        build_forecaster({k: v for k, v in cfg.items() if k != "mesh_level"}, built_graphs["global"], source)
    scaled = build_forecaster(cfg | {"direct": ["total_precipitation"], "direct_scale_floor": 0.05}, g, source)
    rain = list(source.channels).index("total_precipitation")
    assert scaled.hyperparameters()["direct_scale_floor"] == 0.05
    assert scaled.normalization.seasonal_variance[rain, 0].min() > 0        # the squared anomaly's mean
    with pytest.raises(SowcastError, match=r"model.direct_scale_floor must be a number in \(0, 1\] or null, not 'abc'"):
        build_forecaster(cfg | {"direct": ["total_precipitation"], "direct_scale_floor": "abc"}, g, source)
    rooted = {"direct": ["total_precipitation"], "direct_scale_floor": 0.05, "direct_power": 0.5}
    of_mean = build_forecaster(cfg | rooted | {"direct_power_centre": "power_of_mean"}, g, source)
    mean_of = build_forecaster(cfg | rooted, g, source)
    hidden = build_forecaster(cfg | {"direct": ["total_precipitation"], "target_only": ["total_precipitation"]}, g, source)
    assert hidden.hyperparameters()["target_only"] == [rain]
    with pytest.raises(SowcastError, match="model.target_only names .rain., which is not a channel of the store"):
        build_forecaster(cfg | {"direct": ["total_precipitation"], "target_only": ["rain"]}, g, source)
    # the cycle of x (its root taken when read) against the cycle of sqrt(x)
    torch.testing.assert_close(of_mean.normalization.seasonal_cycle[rain], scaled.normalization.seasonal_cycle[rain])
    assert not torch.equal(mean_of.normalization.seasonal_cycle[rain], scaled.normalization.seasonal_cycle[rain])


def test_graph_not_in_row_major_order_is_refused(graph):
    shuffled = copy.copy(graph)
    lat = graph.grid_lat.copy()
    lat[[0, -1]] = lat[[-1, 0]]  # two nodes out of place
    object.__setattr__(shuffled, "grid_lat", lat)
    with pytest.raises(SowcastError, match="row-major"):
        make_model(shuffled)


# -- export-friendliness ---------------------------------------------------------------------
def test_exported_graph_has_no_scatter_and_a_dynamic_batch(built_graphs):
    """torch.export (what the ONNX dynamo exporter traces) sees Gather-style ops only."""
    model = make_model(built_graphs["global"], processor_layers=1, width=8).eval()
    x = batch(model, 2)
    batch_dim = torch.export.Dim("batch")
    exported = torch.export.export(model, x, dynamic_shapes=({0: batch_dim},) * 3)
    ops = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert "aten.index_select.default" in ops
    assert not [op for op in ops if any(bad in op for bad in FORBIDDEN_OPS)], ops
    x3 = batch(model, 3, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(*x3), model(*x3), rtol=1e-6, atol=1e-4)


def test_onnx_export_has_no_scatter(graph, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model = make_model(graph, processor_layers=1, width=8).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, batch(model, 2), str(path), dynamo=True, opset_version=18, external_data=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "Gather" in ops and not [op for op in ops if "Scatter" in op], ops
