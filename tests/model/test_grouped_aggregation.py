"""The grouped (padding-free) aggregation against the padded-table aggregation it replaced,
on the same graph and weights: equal to float32 rounding in torch and in onnxruntime; the
optimised onnxruntime graph has no Pad, fewer Gather and Add nodes and no MatMul (every
Linear a Gemm with its bias inside).

The padded path lives only here, as the reference, as it was: every edge set's ``[N, K]``
table (:attr:`EdgeSet.incoming`, padded with ``E``; split into power-of-two in-degree
buckets with one Gather back when padding passed 2x the edges), one zero row appended to
the messages, ``Pad -> Gather -> Reshape -> ReduceSum``, and the layer as it was
(first-layer bias and every Linear on 3-D tensors, both node projections gathered onto
the edges, the encoder's and decoder's edge latents formed and summed).
"""

from __future__ import annotations

import collections
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sowcast.data.grid import Grid
from sowcast.graph.build import build_graph
from sowcast.model import Forecaster

torch.set_num_threads(1)

C, NF, S, T = 3, 2, 1, 2
STATS = {"mean": np.array([280.0, 1.0e5, 0.01]), "std": np.array([3.0, 300.0, 0.004]),
         "diff_mean": np.zeros(3), "diff_std": np.array([1.0, 100.0, 0.002])}


def degree_buckets(incoming: np.ndarray, mask: np.ndarray, n_edges: int, max_padding_ratio: float = 2.0):
    """The padded tables as they were: one ``[N, K]`` table, or, past ``max_padding_ratio`` x the
    edges, one per power-of-two in-degree bucket and the receiver order that undoes them."""
    real = mask > 0
    order = np.argsort(~real, axis=1, kind="stable")
    table = np.where(np.take_along_axis(real, order, 1), np.take_along_axis(incoming, order, 1), n_edges)
    degree = real.sum(axis=1)
    table = table[:, :max(int(degree.max()), 1)]
    if table.size <= max_padding_ratio * max(int(degree.sum()), 1):
        return [table], None
    bucket = np.ceil(np.log2(np.maximum(degree, 1))).astype(np.int64)
    tables, rows = [], []
    for b in np.unique(bucket):
        r = np.flatnonzero(bucket == b)
        tables.append(table[r, :max(int(degree[r].max()), 1)])
        rows.append(r)
    return tables, np.argsort(np.concatenate(rows), kind="stable")


class PaddedEdges(nn.Module):
    """An edge set in the graph's order with its padded incoming tables (the old layout)."""

    def __init__(self, edges):
        super().__init__()
        tables, inverse = degree_buckets(edges.incoming, edges.incoming_mask, edges.n_edges)
        self.shapes = [t.shape for t in tables]
        self.register_buffer("senders", torch.as_tensor(edges.senders), persistent=False)
        self.register_buffer("receivers", torch.as_tensor(edges.receivers), persistent=False)
        self.register_buffer("features", torch.as_tensor(np.asarray(edges.features, np.float32)), persistent=False)
        for i, t in enumerate(tables):
            self.register_buffer(f"table_{i}", torch.as_tensor(np.ascontiguousarray(t).reshape(-1)), persistent=False)
        self.register_buffer("inverse", None if inverse is None else torch.as_tensor(inverse), persistent=False)

    def aggregate(self, messages: torch.Tensor) -> torch.Tensor:
        ext = F.pad(messages, (0, 0, 0, 1))  # the zero row at index E
        sums = [torch.index_select(ext, -2, getattr(self, f"table_{i}")).unflatten(-2, shape).sum(dim=-2)
                for i, shape in enumerate(self.shapes)]
        return sums[0] if self.inverse is None else torch.index_select(torch.cat(sums, dim=-2), -2, self.inverse)


def project_3d(mlp, x, part):
    """The first layer's part on the tensor as it is (a 3-D MatMul in ONNX), no bias."""
    return F.linear(x, mlp.layers[0].weight[:, mlp._offsets[part]:mlp._offsets[part + 1]])


def finish_3d(mlp, h):
    """The rest of an MLP as it was: the first bias added, every Linear on the 3-D tensor."""
    h = h + mlp.layers[0].bias
    for layer in mlp.layers[1:]:
        h = layer(mlp.act(h))
    return mlp.norm(h) if mlp.norm is not None else h


def mlp_3d(mlp, x):
    return finish_3d(mlp, project_3d(mlp, x, 0))


def padded_layer(layer, edges: PaddedEdges, x_s, x_r, e):
    mlp = layer.edge_mlp
    h = (project_3d(mlp, e, 0) + torch.index_select(project_3d(mlp, x_s, 1), -2, edges.senders)
         + torch.index_select(project_3d(mlp, x_r, 2), -2, edges.receivers))
    e_new = e + finish_3d(mlp, h)
    agg = edges.aggregate(e_new)
    node = layer.node_mlp
    return x_r + finish_3d(node, project_3d(node, x_r, 0) + project_3d(node, agg, 1)), e_new


class PaddedNetwork(nn.Module):
    """EncodeProcessDecode's forward (deterministic model) on the padded tables, same weights."""

    def __init__(self, network, graph):
        super().__init__()
        self.net = network
        self.padded = nn.ModuleDict({n: PaddedEdges(getattr(graph, n)) for n in ("grid2mesh", "mesh", "mesh2grid")})

    def forward(self, grid_inputs, noise=None):
        net, pe = self.net, self.padded
        e = {n: mlp_3d(net.edge_embed[n], pe[n].features) for n in pe}
        emb = net.grid_embed
        grid = finish_3d(emb, project_3d(emb, grid_inputs, 0) + project_3d(emb, net.grid_features, 1))
        mesh = mlp_3d(net.mesh_embed, net.mesh_features)
        mesh, _ = padded_layer(net.encoder, pe["grid2mesh"], grid, mesh, e["grid2mesh"])
        grid = grid + mlp_3d(net.grid_update, grid)
        mesh_e = e["mesh"]
        for layer in net.processor:
            mesh, mesh_e = padded_layer(layer, pe["mesh"], mesh, mesh, mesh_e)
        grid, _ = padded_layer(net.decoder, pe["mesh2grid"], mesh, grid, e["mesh2grid"])
        return mlp_3d(net.output, grid)


@pytest.fixture(scope="module")
def models():
    """(graph, grouped model, padded model) with the same weights on a regional level-4 graph."""
    graph = build_graph(Grid.from_bounds(-2.0, 10.0, -10.0, 4.0, 1.0), 4)
    degrees = np.bincount(graph.mesh.receivers, minlength=graph.n_mesh)
    assert len(np.unique(degrees)) > 3 and (np.bincount(graph.grid2mesh.receivers, minlength=graph.n_mesh) == 0).any()
    torch.manual_seed(0)
    grouped = Forecaster(graph, C, NF, S, STATS, {"mean": np.array([0.3]), "std": np.array([0.4])},
                         n_input_steps=T, width=16, processor_layers=2).eval()
    edges = grouped.network.edges  # both layouts of the aggregation are exported and compared
    assert edges["mesh"].chunks is not None and edges["mesh2grid"].uniform_degree == 3
    padded = copy.deepcopy(grouped)
    padded.network = PaddedNetwork(padded.network, graph)
    return graph, grouped, padded


def inputs(model, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h, w = model.grid_shape
    mean = torch.tensor(STATS["mean"], dtype=torch.float32).view(1, 1, C, 1, 1)
    std = torch.tensor(STATS["std"], dtype=torch.float32).view(1, 1, C, 1, 1)
    return (mean + std * torch.randn(batch, T, C, h, w, generator=g),
            torch.randn(batch, T + 1, NF, h, w, generator=g), torch.rand(batch, S, h, w, generator=g))


def normalised_excess(a: np.ndarray, b: np.ndarray) -> float:
    """max over values of ``max(|a - b| - 2 ulp(value), 0) / std`` (the export's parity measure)."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ulp2 = 2 * float(np.finfo(np.float32).eps) * np.maximum(np.abs(a64), np.abs(b64))
    excess = np.maximum(np.abs(a64 - b64) - ulp2, 0) / STATS["std"][None, :, None, None]
    return float(excess.max())


def test_grouped_equals_padded_in_torch(models):
    """The same function: the grouped sums, the edge latents of the encoder and decoder never
    formed (their batch-free sum added to the receivers), the batch-free terms summed first."""
    _, grouped, padded = models
    with torch.no_grad():
        x = inputs(grouped, 3)
        # float64: the same sums up to their order (moved bias, batch-free terms first), so ~1e-15
        g64, p64 = copy.deepcopy(grouped).double(), copy.deepcopy(padded).double()
        d64 = (g64.increment(*(t.double() for t in x)) - p64.increment(*(t.double() for t in x))).abs().max()
        assert float(d64) < 1e-12
        assert normalised_excess(grouped(*x).numpy(), padded(*x).numpy()) < 1e-5


def optimised_op_counts(path, tmp_path) -> collections.Counter:
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath = str(tmp_path / f"{path.stem}.optimised.onnx")
    so.log_severity_level = 3
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


@pytest.mark.slow
def test_grouped_equals_padded_in_onnxruntime_with_fewer_nodes(models, tmp_path):
    pytest.importorskip("onnxruntime")
    from sowcast.export import parity as P
    from sowcast.export.onnx_export import check_onnx, export_onnx
    from sowcast.forecast.session import make_session

    _, grouped, padded = models
    paths = {}
    for name, model in (("padded", padded), ("grouped", grouped)):
        paths[name] = tmp_path / f"{name}.onnx"
        export_onnx(model, paths[name])
    check_onnx(paths["grouped"], grouped)  # no Scatter, the bundle's I/O
    counts = {name: optimised_op_counts(p, tmp_path) for name, p in paths.items()}
    for name, c in counts.items():
        print(f"{name}: {sum(c.values())} nodes, " + ", ".join(f"{k} {v}" for k, v in c.most_common()))
    before, after = counts["padded"], counts["grouped"]
    assert before["Pad"] > 0 and after["Pad"] == 0
    assert after["Gather"] < before["Gather"] and after["Add"] < before["Add"]
    assert after["Gemm"] > 0 and after["MatMul"] == after["FusedMatMul"] == 0  # every Linear a 2-D Gemm, bias inside

    for batch in (1, 4):
        x = inputs(grouped, batch, seed=batch)
        feeds = {"inputs": x[0].numpy(), "forcings": x[1].numpy(), "static": x[2].numpy()}
        out = {n: make_session(p, threads=1).run(["next_state"], feeds)[0] for n, p in paths.items()}
        assert normalised_excess(out["grouped"], out["padded"]) < 1e-5
        assert normalised_excess(out["grouped"], P.run_torch(grouped, feeds)) < 1e-5
