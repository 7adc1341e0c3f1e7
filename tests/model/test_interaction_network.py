"""Interaction network: scatter-free aggregation is exact, layer equals the textbook form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import EdgeSet
from sowcast.graph.receiver_groups import chunked_groups, receiver_groups
from sowcast.model.interaction_network import EdgeTensors, InteractionNetwork, check_edge_set
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
def test_grouped_sum_equals_scatter_add_exactly(seed, hub):
    rng = np.random.default_rng(seed)
    n_recv = int(rng.integers(5, 40))
    edges = random_edge_set(rng, 30, n_recv, int(rng.integers(10, 300)), hub=hub)
    tensors = EdgeTensors(edges, 30, n_recv, "test")
    order = tensors.edge_order
    assert sorted(order.tolist()) == list(range(edges.n_edges))
    np.testing.assert_array_equal(tensors.receivers.numpy(), edges.receivers[order])
    np.testing.assert_array_equal(tensors.senders.numpy(), edges.senders[order])
    # integer-valued float32 messages: every sum is exact, so equality must be bitwise
    msgs = rng.integers(-1000, 1000, (2, edges.n_edges, 5)).astype(np.float32)
    got = tensors.aggregate(torch.from_numpy(msgs[:, order])).numpy()
    np.testing.assert_array_equal(got, scatter_add_reference(msgs, edges.receivers, n_recv))
    # real-valued messages in float64: equal up to summation order
    msgs64 = rng.standard_normal((3, edges.n_edges, 4))
    got64 = tensors.aggregate(torch.from_numpy(msgs64[:, order])).numpy()
    np.testing.assert_allclose(got64, scatter_add_reference(msgs64, edges.receivers, n_recv), rtol=0, atol=1e-12)
    got2d = tensors.aggregate(torch.from_numpy(msgs64[0, order])).numpy()  # batch-free messages
    np.testing.assert_allclose(got2d, scatter_add_reference(msgs64[:1], edges.receivers, n_recv)[0], atol=1e-12)


def test_groups_are_contiguous_runs_of_one_degree_and_empty_receivers_get_zero():
    rng = np.random.default_rng(5)
    edges = random_edge_set(rng, 10, 50, 60, hub=True)  # many receivers have no edge
    groups = receiver_groups(edges.receivers, 50)
    degree = np.bincount(edges.receivers, minlength=50)
    assert groups.n_empty == int((degree == 0).sum()) > 0
    assert list(groups.degrees) == sorted(set(degree[degree > 0].tolist()))
    assert sum(groups.edge_counts) == edges.n_edges
    grouped = edges.receivers[groups.edge_order]
    start = 0
    for n, d in zip(groups.sizes, groups.degrees):  # n receivers, each with its d edges together
        run = grouped[start:start + n * d].reshape(n, d)
        assert np.all(run == run[:, :1]) and np.all(degree[run[:, 0]] == d) and np.all(np.diff(run[:, 0]) > 0)
        start += n * d
    starts = np.cumsum([0, *groups.edge_counts])[:-1]
    rows = np.concatenate([grouped[s:s + n * d:d] for s, n, d in zip(starts, groups.sizes, groups.degrees)]
                          + [np.flatnonzero(degree == 0)])  # the receiver of each row of [group sums..., zeros]
    np.testing.assert_array_equal(rows[groups.node_order], np.arange(50))  # node_order undoes the grouping
    tensors = EdgeTensors(edges, 10, 50, "t")
    got = tensors.aggregate(torch.randn(1, edges.n_edges, 3, dtype=torch.float64))
    assert np.all(got.numpy()[0, degree == 0] == 0)


def many_degrees_edge_set(rng: np.random.Generator, n_degrees: int = 30) -> EdgeSet:
    """Receiver r has in-degree r (0 .. n_degrees - 1), edges shuffled: a regional mesh's halo, exaggerated."""
    receivers = rng.permutation(np.repeat(np.arange(n_degrees), np.arange(n_degrees)))
    senders = rng.integers(0, 20, len(receivers))
    return EdgeSet.from_edges(senders, receivers, rng.standard_normal((len(receivers), 4)), n_degrees)


def test_binary_chunks_sum_like_scatter_add_with_fewer_reductions():
    rng = np.random.default_rng(7)
    edges = many_degrees_edge_set(rng)
    tensors = EdgeTensors(edges, 20, 30, "halo")
    assert tensors.chunks is not None and tensors.chunks[0] == (16, 8, 4, 2, 1)  # 5 chunk sizes, not 29 degrees
    assert tensors.degrees == (1, 2, 3, 4) and tensors.n_empty == 1  # chunks per receiver: the ones in its degree
    order, chunks, by_count = chunked_groups(edges.receivers, 30)
    np.testing.assert_array_equal(order, tensors.edge_order)
    grouped = edges.receivers[order]
    start = 0
    for size, n in zip(chunks.degrees, chunks.sizes):  # each chunk: `size` edges of one receiver, together
        run = grouped[start:start + size * n].reshape(n, size)
        assert np.all(run == run[:, :1]) and np.all(np.bincount(edges.receivers, minlength=30)[run[:, 0]] & size)
        start += size * n
    msgs = rng.integers(-1000, 1000, (2, edges.n_edges, 3)).astype(np.float32)
    np.testing.assert_array_equal(tensors.aggregate(torch.from_numpy(msgs[:, order])).numpy(),
                                  scatter_add_reference(msgs, edges.receivers, 30))
    msgs64 = rng.standard_normal((2, edges.n_edges, 3))
    np.testing.assert_allclose(tensors.aggregate(torch.from_numpy(msgs64[:, order])).numpy(),
                               scatter_add_reference(msgs64, edges.receivers, 30), rtol=0, atol=1e-12)
    torch.manual_seed(0)  # the whole layer on the chunked layout equals the concatenation form
    layer = InteractionNetwork(8).double()
    x_s, x_r, e = torch.randn(2, 20, 8).double(), torch.randn(2, 30, 8).double(), torch.randn(edges.n_edges, 8).double()
    x_new, _ = layer(tensors, x_s, x_r, e[torch.from_numpy(order)])
    s, r = torch.from_numpy(edges.senders), torch.from_numpy(edges.receivers)
    e_ref = e + layer.edge_mlp(torch.cat([e.expand(2, -1, -1), x_s[:, s], x_r[:, r]], dim=-1))
    agg = torch.from_numpy(scatter_add_reference(e_ref.detach().numpy(), edges.receivers, 30))
    torch.testing.assert_close(x_new, x_r + layer.node_mlp(torch.cat([x_r, agg], dim=-1)), rtol=1e-12, atol=1e-12)


def test_uniform_degree_in_receiver_order_is_a_pure_reshape():
    """mesh -> grid: 3 edges per grid node in receiver order: no reordering, no gather."""
    senders = np.arange(12) % 5
    edges = EdgeSet.from_edges(senders, np.repeat(np.arange(4), 3), np.zeros((12, 4)), 4)
    tensors = EdgeTensors(edges, 5, 4, "m2g")
    assert tensors.uniform_degree == 3 and tensors.node_order is None
    np.testing.assert_array_equal(tensors.edge_order, np.arange(12))
    msgs = torch.arange(24, dtype=torch.float32).reshape(1, 12, 2)
    torch.testing.assert_close(tensors.aggregate(msgs), msgs.reshape(1, 4, 3, 2).sum(2))


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
    order = torch.from_numpy(tensors.edge_order)
    x_new, e_new = layer(tensors, x_s, x_r, e[order])  # the layer works in the grouped edge order

    s, r = torch.from_numpy(edges.senders), torch.from_numpy(edges.receivers)
    e_b = e.expand(2, -1, -1)
    e_ref = e_b + layer.edge_mlp(torch.cat([e_b, x_s[:, s], x_r[:, r]], dim=-1))
    agg = torch.from_numpy(scatter_add_reference(e_ref.detach().numpy(), edges.receivers, n_r))
    x_ref = x_r + layer.node_mlp(torch.cat([x_r, agg], dim=-1))
    torch.testing.assert_close(e_new, e_ref[:, order], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_new, x_ref, rtol=1e-12, atol=1e-12)
    # encoder and decoder: the edge latents dropped, sum e' = sum e + sum MLP_e (e batch-free)
    x_only, none = layer(tensors, x_s, x_r, e[order], keep_edges=False)
    assert none is None
    torch.testing.assert_close(x_only, x_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batched_edges", [False, True])
def test_uniform_degree_layer_equals_concatenation_form(batched_edges):
    """mesh -> grid (every receiver 3 edges, in order): the receivers' projection broadcast, not
    gathered; with and without the edge latents kept."""
    torch.manual_seed(1)
    n_s, n_r, width = 7, 5, 6
    senders = np.random.default_rng(1).integers(0, n_s, 3 * n_r)
    edges = EdgeSet.from_edges(senders, np.repeat(np.arange(n_r), 3), np.zeros((3 * n_r, 4)), n_r)
    tensors = EdgeTensors(edges, n_s, n_r, "m2g")
    assert tensors.uniform_degree == 3
    layer = InteractionNetwork(width).double()
    x_s, x_r = torch.randn(2, n_s, width).double(), torch.randn(2, n_r, width).double()
    e = torch.randn(2, 3 * n_r, width).double() if batched_edges else torch.randn(3 * n_r, width).double()
    s, r = torch.from_numpy(edges.senders), torch.from_numpy(edges.receivers)
    e_b = e.expand(2, -1, -1)
    e_ref = e_b + layer.edge_mlp(torch.cat([e_b, x_s[:, s], x_r[:, r]], dim=-1))
    x_ref = x_r + layer.node_mlp(torch.cat([x_r, e_ref.reshape(2, n_r, 3, width).sum(2)], dim=-1))
    x_new, e_new = layer(tensors, x_s, x_r, e)
    torch.testing.assert_close(e_new, e_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_new, x_ref, rtol=1e-12, atol=1e-12)
    x_only, none = layer(tensors, x_s, x_r, e, keep_edges=False)
    assert none is None
    torch.testing.assert_close(x_only, x_ref, rtol=1e-12, atol=1e-12)


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
    a3 = torch.randn(3, 5, 2)  # a batch against batch-free rows, the bias with the batch-free part
    torch.testing.assert_close(split.tail(split.project(a3, 0) + split.project(b, 1, with_bias=True)),
                               split(torch.cat([a3, b.expand(3, -1, -1)], -1)))
    x = torch.randn(3, 4, 5)  # on 2-D rows inside: the same as Linear on the 3-D tensor
    h = mlp.norm(mlp.layers[2](mlp.act(mlp.layers[1](mlp.act(mlp.layers[0](x))))))
    torch.testing.assert_close(mlp(x), h)
    torch.testing.assert_close(mlp(x[0]), h[0])
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
