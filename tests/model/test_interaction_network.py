"""Interaction network: scatter-free aggregation is exact, layer equals the textbook form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import EdgeSet
from sowcast.model.interaction_network import (EdgeTensors, InteractionNetwork, aggregate, check_edge_set,
                                               degree_buckets)
from sowcast.model.mlp import MLP, activation_module, mlp_parameter_count

torch.set_num_threads(1)

def random_edge_set(rng: np.random.Generator, n_senders: int, n_receivers: int, n_edges: int,
                    hub: bool = False, n_features: int = 4) -> EdgeSet:
    """Random edges in random order; ``hub``: a few receivers take a large share (skewed degrees)."""
    receivers = rng.integers(0, n_receivers, n_edges)
    if hub:
        receivers[: n_edges // 3] = rng.integers(0, 2, n_edges // 3)
    senders = rng.integers(0, n_senders, n_edges)
    features = rng.standard_normal((n_edges, n_features)).astype(np.float32)
    return EdgeSet.from_edges(senders, receivers, features, n_receivers)


def scatter_add_reference(messages: np.ndarray, receivers: np.ndarray, n_receivers: int) -> np.ndarray:
    out = np.zeros(messages.shape[:-2] + (n_receivers, messages.shape[-1]), messages.dtype)
    for b in np.ndindex(messages.shape[:-2]):
        np.add.at(out[b], receivers, messages[b])
    return out


@pytest.mark.parametrize("seed, hub", [(0, False), (1, True), (2, True), (3, False)])
def test_padded_gather_equals_scatter_add_exactly(seed, hub):
    rng = np.random.default_rng(seed)
    n_recv = int(rng.integers(5, 40))
    edges = random_edge_set(rng, 30, n_recv, int(rng.integers(10, 300)), hub=hub)
    tensors = EdgeTensors(edges, 30, n_recv, "test")
    if hub:
        assert tensors.inverse is not None and len(tensors.table_shapes) > 1  # bucketed path
    # integer-valued float32 messages: every sum is exact, so equality must be bitwise
    msgs = rng.integers(-1000, 1000, (2, edges.n_edges, 5)).astype(np.float32)
    got = tensors.aggregate(torch.from_numpy(msgs)).numpy()
    np.testing.assert_array_equal(got, scatter_add_reference(msgs, edges.receivers, n_recv))
    # real-valued messages in float64: equal up to summation order
    msgs64 = rng.standard_normal((3, edges.n_edges, 4))
    got64 = tensors.aggregate(torch.from_numpy(msgs64)).numpy()
    np.testing.assert_allclose(got64, scatter_add_reference(msgs64, edges.receivers, n_recv), rtol=0, atol=1e-12)


def test_receivers_without_edges_get_zero_and_buckets_preserve_rows():
    rng = np.random.default_rng(5)
    edges = random_edge_set(rng, 10, 50, 60, hub=True)  # many receivers have no edge
    tables, inverse = degree_buckets(edges.incoming, edges.incoming_mask, edges.n_edges, max_padding_ratio=0.0)
    assert inverse is not None and sorted(inverse.tolist()) == list(range(50))
    k = edges.incoming.shape[1]
    rows = np.concatenate([np.pad(t, ((0, 0), (0, k - t.shape[1])), constant_values=edges.n_edges)
                           for t in tables])[inverse]
    for r in range(50):  # each receiver's row lists the same edges as the graph's table
        assert sorted(rows[r][rows[r] < edges.n_edges]) == sorted(edges.incoming[r][edges.incoming_mask[r] > 0])
    msgs = torch.randn(1, edges.n_edges, 3, dtype=torch.float64)
    got = aggregate(msgs, [torch.from_numpy(t.reshape(-1)) for t in tables],
                    [t.shape for t in tables], torch.from_numpy(inverse))
    ref = scatter_add_reference(msgs.numpy(), edges.receivers, 50)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-12)
    empty = np.bincount(edges.receivers, minlength=50) == 0
    assert empty.any() and np.all(got.numpy()[0, empty] == 0)


def test_interaction_network_equals_concatenation_form():
    """e' = e + MLP_e([e, x_s, x_r]); x'_r = x_r + MLP_n([x_r, sum e']) with plain concatenation."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_s, n_r, width = 20, 12, 8
    edges = random_edge_set(rng, n_s, n_r, 70, hub=True)
    tensors = EdgeTensors(edges, n_s, n_r, "t")
    layer = InteractionNetwork(width, mlp_hidden_layers=2).double()
    x_s, x_r = torch.randn(2, n_s, width).double(), torch.randn(2, n_r, width).double()
    e = torch.randn(edges.n_edges, width).double()  # batch-free edge latents broadcast
    x_new, e_new = layer(tensors, x_s, x_r, e)

    s, r = torch.from_numpy(edges.senders), torch.from_numpy(edges.receivers)
    e_b = e.expand(2, -1, -1)
    e_ref = e_b + layer.edge_mlp(torch.cat([e_b, x_s[:, s], x_r[:, r]], dim=-1))
    agg = torch.from_numpy(scatter_add_reference(e_ref.detach().numpy(), edges.receivers, n_r))
    x_ref = x_r + layer.node_mlp(torch.cat([x_r, agg], dim=-1))
    torch.testing.assert_close(e_new, e_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_new, x_ref, rtol=1e-12, atol=1e-12)


def test_mlp_shape_norm_and_count():
    mlp = MLP(5, 7, 16, hidden_layers=2, activation="gelu")
    y = mlp(torch.randn(3, 4, 5))
    assert y.shape == (3, 4, 7)
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 4), atol=1e-5, rtol=0)  # LayerNorm output
    assert sum(p.numel() for p in mlp.parameters()) == mlp_parameter_count(5, 7, 16, 2)
    out = MLP(5, 3, 16, hidden_layers=1, layer_norm=False)
    assert out.norm is None and sum(p.numel() for p in out.parameters()) == mlp_parameter_count(5, 3, 16, 1, False)
    split = MLP((2, 3), 4, 6)  # part-wise first layer equals the concatenation
    a, b = torch.randn(5, 2), torch.randn(5, 3)
    torch.testing.assert_close(split.finish(split.project(a, 0) + split.project(b, 1)),
                               split(torch.cat([a, b], -1)))
    with pytest.raises(SowcastError, match="unknown activation"):
        activation_module("sigmoidish")


def test_inconsistent_tables_are_refused():
    good = EdgeSet.from_edges([0, 1, 2, 3, 4, 0], [0, 0, 0, 1, 2, 2], np.zeros((6, 4)), 3)  # K = 3, padded
    check_edge_set(good, 5, 3, "ok")
    bad_pad = good.incoming.copy()
    bad_pad[good.incoming_mask == 0] = 0  # padding must point at E
    swapped = good.incoming.copy()
    swapped[0, 0], swapped[1, 0] = good.incoming[1, 0], good.incoming[0, 0]  # edges at the wrong receiver
    cases = [
        (EdgeSet(good.senders, good.receivers, good.features, bad_pad, good.incoming_mask), 5, 3, "padding"),
        (EdgeSet(good.senders, good.receivers, good.features, swapped, good.incoming_mask), 5, 3, "every edge"),
        (good, 3, 3, "sender"),
        (good, 5, 2, "receiver"),
        (good, 5, 4, "incoming table is"),
    ]
    for edges, n_s, n_r, match in cases:
        with pytest.raises(SowcastError, match=match):
            check_edge_set(edges, n_s, n_r, "bad")
