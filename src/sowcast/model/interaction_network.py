"""One interaction-network layer on an edge set, with scatter-free aggregation.

Interaction network (Battaglia et al. 2016, "Interaction networks for learning about
objects, relations and physics"; as used in GraphCast, Lam et al. 2023, Supplement 3.1)::

    e'_k  = e_k + MLP_e([e_k, x_s(k), x_r(k)])            edge update, k = 0 .. E-1
    agg_r = sum_{k : r(k) = r} e'_k                         sum over incoming edges
    x'_r  = x_r + MLP_n([x_r, agg_r])                       receiver update

Senders and receivers are nodes of the edge set's two node sets (grid2mesh: grid -> mesh,
mesh: mesh -> mesh, mesh2grid: mesh -> grid). Senders are not updated here.

Aggregation (DESIGN.md, PITFALLS.md: ``index_add_``/scatter export to wrong ONNX): append
one zero row to the messages, ``m_ext = [e'; 0]``, and sum ``m_ext[incoming[r, k]]`` over
``k`` from the graph's padded table (padding points at the zero row ``E``, so the padding
mask is already applied: this is exactly ``sum_k m_ext[incoming[r, k]] * mask[r, k]``).
Ops: Pad, Gather, Reshape, ReduceSum (plus Concat and one more Gather when bucketed), all
exact and deterministic in onnxruntime. Nothing here scatters.

Degree buckets: a lat-lon grid sends whole latitude rings to polar mesh nodes, so one
``[N, K_max]`` table can be mostly padding (and ``B x N x K_max x width`` floats). When the
single table holds more than ``MAX_PADDING_RATIO`` x the real edges, receivers are
grouped by in-degree (powers of two), each group gets its own ``[N_b, K_b]`` table, and
one final Gather puts the concatenated group sums back in receiver order. The sums are
the same (each row sums the same edges, padding adds exact zeros).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import EdgeSet
from sowcast.model.mlp import MLP

MAX_PADDING_RATIO = 2.0


def degree_buckets(incoming: np.ndarray, incoming_mask: np.ndarray, n_edges: int,
                   max_padding_ratio: float = MAX_PADDING_RATIO) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Padded tables grouped by in-degree, and the receiver order that undoes the grouping.

    Returns ``(tables, inverse)``: ``tables[b]`` int64 ``[N_b, K_b]`` padded with ``n_edges``;
    concatenating the per-table row sums and gathering rows ``inverse`` gives receiver
    order. ``inverse`` is None when one table is used (already in receiver order).
    """
    incoming = np.asarray(incoming, np.int64)
    real = np.asarray(incoming_mask) > 0
    n_rows = incoming.shape[0]
    # real edges first in every row (the table's contract does not promise it)
    order = np.argsort(~real, axis=1, kind="stable")
    table = np.where(np.take_along_axis(real, order, 1), np.take_along_axis(incoming, order, 1), n_edges)
    degree = real.sum(axis=1)
    k_max = max(int(degree.max()) if n_rows else 0, 1)
    table = table[:, :k_max]
    if n_rows * k_max <= max_padding_ratio * max(int(degree.sum()), 1) or n_rows == 0:
        return [np.ascontiguousarray(table)], None
    bucket = np.ceil(np.log2(np.maximum(degree, 1))).astype(np.int64)
    tables, rows = [], []
    for b in np.unique(bucket):
        r = np.flatnonzero(bucket == b)
        k = max(int(degree[r].max()), 1)
        tables.append(np.ascontiguousarray(table[r, :k]))
        rows.append(r)
    inverse = np.argsort(np.concatenate(rows), kind="stable")
    return tables, inverse


def check_edge_set(edges: EdgeSet, n_senders: int, n_receivers: int, name: str) -> None:
    """Raise :class:`SowcastError` unless ``edges`` is a consistent edge set of that size."""
    e = edges.n_edges
    if edges.receivers.shape != (e,) or edges.features.ndim != 2 or edges.features.shape[0] != e:
        raise SowcastError(f"graph edge set {name!r}: senders, receivers and features disagree in length")
    if e and (edges.senders.min() < 0 or edges.senders.max() >= n_senders):
        raise SowcastError(f"graph edge set {name!r}: a sender is outside 0..{n_senders - 1}")
    if e and (edges.receivers.min() < 0 or edges.receivers.max() >= n_receivers):
        raise SowcastError(f"graph edge set {name!r}: a receiver is outside 0..{n_receivers - 1}")
    inc, mask = edges.incoming, edges.incoming_mask
    if inc.ndim != 2 or inc.shape[0] != n_receivers or mask.shape != inc.shape:
        raise SowcastError(f"graph edge set {name!r}: incoming table is {inc.shape}, expected ({n_receivers}, K)")
    real = mask > 0
    if np.any(inc[real] < 0) or np.any(inc[real] >= e) or np.any(inc[~real] != e):
        raise SowcastError(f"graph edge set {name!r}: incoming table and mask disagree (padding must be {e})")
    listed = inc[real]
    if listed.size != e or np.unique(listed).size != e or np.any(edges.receivers[listed] != np.nonzero(real)[0]):
        raise SowcastError(f"graph edge set {name!r}: incoming table does not list every edge at its receiver")


class EdgeTensors(nn.Module):
    """One edge set as (non-persistent) buffers: indices, features and aggregation tables."""

    def __init__(self, edges: EdgeSet, n_senders: int, n_receivers: int, name: str):
        super().__init__()
        check_edge_set(edges, n_senders, n_receivers, name)
        self.name = name
        self.n_edges = edges.n_edges
        self.n_senders = int(n_senders)
        self.n_receivers = int(n_receivers)
        self.register_buffer("senders", torch.as_tensor(edges.senders, dtype=torch.int64), persistent=False)
        self.register_buffer("receivers", torch.as_tensor(edges.receivers, dtype=torch.int64), persistent=False)
        self.register_buffer("features", torch.as_tensor(np.asarray(edges.features, np.float32)), persistent=False)
        tables, inverse = degree_buckets(edges.incoming, edges.incoming_mask, edges.n_edges)
        self.table_shapes = [tuple(int(s) for s in t.shape) for t in tables]
        for i, t in enumerate(tables):  # flattened: one Gather per table
            self.register_buffer(f"table_{i}", torch.as_tensor(t.reshape(-1)), persistent=False)
        self.register_buffer("inverse", None if inverse is None else torch.as_tensor(inverse), persistent=False)

    @property
    def padded_slots(self) -> int:
        """Rows x columns over all aggregation tables (memory of the gather, per batch and channel)."""
        return sum(n * k for n, k in self.table_shapes)

    def aggregate(self, messages: torch.Tensor) -> torch.Tensor:
        """``agg[..., r, :] = sum of messages[..., k, :] over edges k ending at r`` ([..., E, W] -> [..., N, W])."""
        return aggregate(messages, [getattr(self, f"table_{i}") for i in range(len(self.table_shapes))],
                         self.table_shapes, self.inverse)


def aggregate(messages: torch.Tensor, tables: list[torch.Tensor], table_shapes: list[tuple[int, int]],
              inverse: torch.Tensor | None) -> torch.Tensor:
    """Sum messages ``[..., E, W]`` into receivers through flattened padded tables (see module doc)."""
    ext = F.pad(messages, (0, 0, 0, 1))  # one zero row at index E
    sums = [torch.index_select(ext, -2, table).unflatten(-2, shape).sum(dim=-2)
            for table, shape in zip(tables, table_shapes)]
    if inverse is None:
        return sums[0]
    return torch.index_select(torch.cat(sums, dim=-2), -2, inverse)


class InteractionNetwork(nn.Module):
    """One message-passing layer: edge update, sum aggregation, receiver update (module doc)."""

    def __init__(self, width: int, mlp_hidden_layers: int = 1, activation: str = "silu"):
        super().__init__()
        self.edge_mlp = MLP((width, width, width), width, width, mlp_hidden_layers, activation)
        self.node_mlp = MLP((width, width), width, width, mlp_hidden_layers, activation)

    def forward(self, edges: EdgeTensors, x_senders: torch.Tensor, x_receivers: torch.Tensor,
                e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x'_receivers, e')`` from sender/receiver latents ``[B, N, W]`` and edge latents ``[(B,) E, W]``.

        Batch-free ``[N, W]`` / ``[E, W]`` inputs (embeddings of the fixed graph) broadcast.
        ``[e, x_s, x_r]`` enters the edge MLP as ``e W_e + (x W_s)[senders] + (x W_r)[receivers]``:
        nodes are projected once, then gathered (the same as projecting the concatenation).
        """
        mlp = self.edge_mlp
        h = (mlp.project(e, 0)
             + torch.index_select(mlp.project(x_senders, 1), -2, edges.senders)
             + torch.index_select(mlp.project(x_receivers, 2), -2, edges.receivers))
        e_new = e + mlp.finish(h)
        agg = edges.aggregate(e_new)
        x_new = x_receivers + self.node_mlp.finish(self.node_mlp.project(x_receivers, 0)
                                                   + self.node_mlp.project(agg, 1))
        return x_new, e_new
