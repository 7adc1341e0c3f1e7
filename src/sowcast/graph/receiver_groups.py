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
