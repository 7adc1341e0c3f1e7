"""Receivers grouped by in-degree: the edge order that makes aggregation a reshape and a sum.

The sum over incoming edges ``agg_r = sum_{k : r(k) = r} m_k`` needs no padding and no
scatter when the edges are laid out like this:

* receivers are grouped by their in-degree ``d`` (groups in ascending ``d``; receivers with
  no edge last); within a group they keep their id order;
* edges are ordered by (group, receiver, original edge id), so group ``g`` (``n_g``
  receivers of degree ``d_g``) owns ``n_g * d_g`` contiguous edges, ``d_g`` per receiver.

Then ``agg`` of group ``g`` is ``messages[.., start_g : start_g + n_g d_g, :]`` reshaped to
``[.., n_g, d_g, W]`` and summed over ``d_g`` (ONNX: Split, Reshape, ReduceSum), the group
sums are concatenated (with zeros for receivers without edges) and one Gather over the
``N`` receivers (``node_order``) puts them back in receiver order. Each receiver's edges
are summed in their original order, the order of the padded table
(:attr:`sowcast.graph.forecast_graph.EdgeSet.incoming`), so the sums are those of the padded
gather (trailing zeros add nothing). When every receiver has the same degree and the
edges are already in receiver order (mesh -> grid: 3 edges per grid node) the layout is
the identity: the sum is a reshape, ``edge_order`` and ``node_order`` are None.

**Binary chunks** (:func:`chunked_groups`), for edge sets with many distinct in-degrees
(a regional mesh's halo: 20 on the demo's level-5 mesh), where one ReduceSum per degree
costs more in operator calls than it sums: each receiver's ``d`` edges are cut into chunks
of the powers of two in ``d`` (largest first: 7 = 4 + 2 + 1), chunks of one size are summed
as a group (stage 1, at most ``log2(K) + 1`` groups), and each receiver's chunk sums, put
together by one Gather over the chunks, are summed as a group of their count (stage 2:
receivers grouped by the number of ones in ``d``). The same edges are summed, in the same
order, only bracketed differently: ``(e0 + e1 + e2 + e3) + (e4 + e5) + e6``.

The grouping is derived from the :class:`EdgeSet` when the model is built, so a graph file,
its cache key and a checkpoint's graph digest stay those of the plain receiver order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sowcast.graph.forecast_graph import EdgeSet


@dataclass(frozen=True)
class ReceiverGroups:
    """Where each edge and each receiver sits in the grouped layout (module doc)."""

    degrees: tuple[int, ...]        # in-degree of each group (> 0, ascending)
    sizes: tuple[int, ...]          # receivers in each group
    n_empty: int                    # receivers without incoming edges (their sum is 0)
    edge_order: np.ndarray | None   # int64 [E]: grouped position i holds original edge edge_order[i]; None: identity
    node_order: np.ndarray | None   # int64 [N]: receiver r's row in [group sums..., zeros]; None: identity

    @property
    def n_groups(self) -> int:
        return len(self.degrees)

    @property
    def edge_counts(self) -> tuple[int, ...]:
        """Edges of each group (``n_g * d_g``), in the grouped order."""
        return tuple(n * d for n, d in zip(self.sizes, self.degrees))


def receiver_groups(receivers: np.ndarray, n_receivers: int) -> ReceiverGroups:
    """The grouped layout of edges ending at ``receivers`` (int ``[E]``, any order)."""
    receivers = np.asarray(receivers, np.int64)
    n_edges = receivers.shape[0]
    degree = np.bincount(receivers, minlength=int(n_receivers)) if n_edges else np.zeros(int(n_receivers), np.int64)
    ids = np.arange(int(n_receivers))
    # receivers with edges by (degree, id), then those without edges by id
    rows = np.concatenate([ids[degree > 0][np.argsort(degree[degree > 0], kind="stable")], ids[degree == 0]])
    distinct, sizes = np.unique(degree[degree > 0], return_counts=True)
    edge_order = np.lexsort((np.arange(n_edges), receivers, degree[receivers]))
    node_order = np.empty(int(n_receivers), np.int64)
    node_order[rows] = np.arange(int(n_receivers))
    identity_edges = bool(np.array_equal(edge_order, np.arange(n_edges)))
    identity_nodes = bool(np.array_equal(node_order, ids))
    return ReceiverGroups(degrees=tuple(int(d) for d in distinct), sizes=tuple(int(s) for s in sizes),
                          n_empty=int((degree == 0).sum()),
                          edge_order=None if identity_edges else edge_order.astype(np.int64),
                          node_order=None if identity_nodes else node_order)


def grouped_edge_set(edges: EdgeSet, n_receivers: int) -> tuple[EdgeSet, ReceiverGroups]:
    """``edges`` reordered into the grouped layout (its incoming table rebuilt), and the layout."""
    groups = receiver_groups(edges.receivers, n_receivers)
    if groups.edge_order is None:
        return edges, groups
    o = groups.edge_order
    return EdgeSet.from_edges(edges.senders[o], edges.receivers[o], edges.features[o], n_receivers), groups


def chunked_groups(receivers: np.ndarray, n_receivers: int) -> tuple[np.ndarray, ReceiverGroups, ReceiverGroups]:
    """The binary-chunk layout (module doc): ``(edge_order, chunks, receivers)``.

    ``edge_order`` int64 ``[E]`` puts the edges in chunk order (chunk sizes descending, then
    receiver id, then the edge's place in its receiver); ``chunks`` is the stage-1 layout
    (``degrees``: chunk sizes, ``sizes``: chunks of each size, ``node_order``: the chunk sums
    in stage-2 order); ``receivers`` is stage 2 (``degrees``: chunks per receiver).
    """
    receivers = np.asarray(receivers, np.int64)
    n_edges, n_receivers = receivers.shape[0], int(n_receivers)
    degree = np.bincount(receivers, minlength=n_receivers) if n_edges else np.zeros(n_receivers, np.int64)
    by_receiver = np.lexsort((np.arange(n_edges), receivers))
    starts = np.concatenate([[0], np.cumsum(degree)[:-1]])
    place = np.empty(n_edges, np.int64)  # the edge's place among its receiver's edges (original order)
    place[by_receiver] = np.arange(n_edges) - starts[receivers[by_receiver]]
    d = degree[receivers]
    sizes = [1 << k for k in range(int(degree.max()).bit_length() if n_edges else 0)][::-1]
    chunk = np.zeros(n_edges, np.int64)
    for c in sizes:  # chunk c of a receiver covers places [d & ~(2c - 1), + c) when d has bit c
        first = d & ~(2 * c - 1)
        chunk[((d & c) > 0) & (place >= first) & (place < first + c)] = c
    edge_order = np.lexsort((place, receivers, -chunk))
    present = [c for c in sizes if np.any(degree & c)]
    counts = [int(np.count_nonzero(degree & c)) for c in present]
    # stage-1 row of chunk (r, c): the offset of size c plus r's rank among receivers with bit c
    row_of = {}
    offset = 0
    for c, n in zip(present, counts):
        ids = np.flatnonzero(degree & c)
        row_of[c] = dict(zip(ids.tolist(), range(offset, offset + n)))
        offset += n
    ones = np.array([bin(int(x)).count("1") for x in degree], np.int64)
    ids = np.arange(n_receivers)
    with_edges = ids[degree > 0][np.argsort(ones[degree > 0], kind="stable")]
    chunk_rows = [row_of[c][r] for r in with_edges.tolist() for c in present if degree[r] & c]
    pops, pop_counts = np.unique(ones[degree > 0], return_counts=True)
    rows = np.concatenate([with_edges, ids[degree == 0]])
    node_order = np.empty(n_receivers, np.int64)
    node_order[rows] = np.arange(n_receivers)
    chunk_order = np.asarray(chunk_rows, np.int64)
    stage1 = ReceiverGroups(degrees=tuple(present), sizes=tuple(counts), n_empty=0, edge_order=None,
                            node_order=None if np.array_equal(chunk_order, np.arange(len(chunk_order))) else chunk_order)
    stage2 = ReceiverGroups(degrees=tuple(int(p) for p in pops), sizes=tuple(int(n) for n in pop_counts),
                            n_empty=int((degree == 0).sum()), edge_order=None,
                            node_order=None if np.array_equal(node_order, ids) else node_order)
    return edge_order.astype(np.int64), stage1, stage2


def reduce_calls(groups: ReceiverGroups) -> int:
    """ReduceSum operators a layout costs (groups of degree 1 are a reshape)."""
    return sum(1 for d in groups.degrees if d > 1)
