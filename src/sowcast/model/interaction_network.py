"""One interaction-network layer on an edge set, with scatter-free, padding-free aggregation.

Interaction network (Battaglia et al. 2016, "Interaction networks for learning about
objects, relations and physics"; as used in GraphCast, Lam et al. 2023, Supplement 3.1)::

    e'_k  = e_k + MLP_e([e_k, x_s(k), x_r(k)])            edge update, k = 0 .. E-1
    agg_r = sum_{k : r(k) = r} e'_k                         sum over incoming edges
    x'_r  = x_r + MLP_n([x_r, agg_r])                       receiver update

Senders and receivers are nodes of the edge set's two node sets (grid2mesh: grid -> mesh,
mesh: mesh -> mesh, mesh2grid: mesh -> grid). Senders are not updated here.

Aggregation (DESIGN.md, PITFALLS.md: ``index_add_``/scatter export to wrong ONNX): the
edges are held in the grouped layout of :mod:`sowcast.graph.receiver_groups` (receivers
grouped by in-degree, each receiver's edges contiguous), so each group's sum is a
Reshape and a ReduceSum over contiguous edges, and one Gather over the receivers puts the
group sums back in receiver order (none when every receiver has the same degree:
mesh -> grid is a reshape). An edge set with many distinct in-degrees (a regional mesh)
is summed in binary chunks instead, when that takes fewer ReduceSum calls (two stages:
chunks of one size, then each receiver's chunks; ``receiver_groups.chunked_groups``). No
padding, no edge-sized Gather, nothing scatters; the edge order inside a layer is internal
(edge latents never leave the model).

Edge update in few passes over the ``[B, E, W]`` edge tensor: the first layer of
``MLP_e`` is applied part by part (:meth:`MLP.project`), nodes projected once and gathered
onto edges, with the first bias added to the receivers' projection (``N`` rows, not ``E``);
every Linear runs on 2-D ``[B * E, W]`` so that onnxruntime gets Gemm with the bias
inside; with a uniform in-degree the receivers' projection is broadcast, not gathered;
batch-free terms (embeddings of the fixed graph) are summed first, into one constant of an
export. The encoder and decoder drop their edge latents, so they never form them
(``keep_edges=False``): ``sum e' = sum e + sum MLP_e(..)``, the first sum batch-free.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import EdgeSet
from sowcast.graph.receiver_groups import chunked_groups, receiver_groups, reduce_calls
from sowcast.model.mlp import MLP, as_rows, linear_2d


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
    """One edge set in the grouped layout, as (non-persistent) buffers.

    ``senders``, ``receivers`` and ``features`` are in the grouped edge order: position
    ``i`` is the graph's edge ``edge_order[i]`` (:attr:`edge_order`, numpy, the identity
    when the graph's order already is grouped). :meth:`aggregate` takes messages in that order.
    """

    def __init__(self, edges: EdgeSet, n_senders: int, n_receivers: int, name: str):
        super().__init__()
        check_edge_set(edges, n_senders, n_receivers, name)
        groups = receiver_groups(edges.receivers, n_receivers)
        order = np.arange(edges.n_edges) if groups.edge_order is None else groups.edge_order
        chunk_order, chunks, by_count = chunked_groups(edges.receivers, n_receivers)
        # binary chunks when they save operator calls (2 stages cost a Split, a Concat and a Gather more)
        self.chunks = None
        if reduce_calls(chunks) + reduce_calls(by_count) + 3 < reduce_calls(groups):
            order, groups, self.chunks = chunk_order, by_count, (chunks.degrees, chunks.sizes)
        self.name = name
        self.n_edges = edges.n_edges
        self.n_senders = int(n_senders)
        self.n_receivers = int(n_receivers)
        self.edge_order = order
        self.degrees, self.sizes, self.n_empty = groups.degrees, groups.sizes, groups.n_empty
        chunk_rows = None if self.chunks is None else chunks.node_order
        self.register_buffer("chunk_order", None if chunk_rows is None else torch.as_tensor(chunk_rows),
                             persistent=False)
        self.register_buffer("senders", torch.as_tensor(edges.senders[order], dtype=torch.int64), persistent=False)
        self.register_buffer("receivers", torch.as_tensor(edges.receivers[order], dtype=torch.int64), persistent=False)
        self.register_buffer("features", torch.as_tensor(np.asarray(edges.features, np.float32)[order]),
                             persistent=False)
        node_order = groups.node_order
        self.register_buffer("node_order", None if node_order is None else torch.as_tensor(node_order),
                             persistent=False)

    @property
    def uniform_degree(self) -> int | None:
        """The in-degree when every receiver has it and they are in id order (a pure reshape), else None."""
        if self.chunks is None and len(self.degrees) == 1 and self.n_empty == 0 and self.node_order is None:
            return self.degrees[0]
        return None

    def aggregate(self, messages: torch.Tensor) -> torch.Tensor:
        """``agg[..., r, :] = sum of messages[..., k, :] over edges k ending at r``
        (``[..., E, W]`` in the grouped order -> ``[..., N, W]``; module doc). With binary
        chunks: chunk sums first, then each receiver's chunk sums."""
        if self.chunks is not None:
            messages = grouped_sum(messages, *self.chunks, 0, self.chunk_order)
        return grouped_sum(messages, self.degrees, self.sizes, self.n_empty, self.node_order)


def grouped_sum(messages: torch.Tensor, degrees: tuple[int, ...], sizes: tuple[int, ...], n_empty: int,
                node_order: torch.Tensor | None) -> torch.Tensor:
    """Sum messages ``[B, E, W]`` (or ``[E, W]``) of the grouped layout into receivers: group
    ``g``'s ``sizes[g] * degrees[g]`` edges reshaped to ``[.., sizes[g], degrees[g], W]`` and
    summed; receivers without edges get 0; ``node_order`` gathers receiver order."""
    width = messages.shape[-1]
    lead = () if messages.dim() == 2 else (-1,)
    counts = [n * d for n, d in zip(sizes, degrees)]
    parts = torch.split(messages, counts, dim=-2) if len(counts) > 1 else (messages,)
    sums = [p if d == 1 else p.reshape(*lead, n, d, width).sum(dim=-2) for p, n, d in zip(parts, sizes, degrees)]
    if n_empty:
        sums.append(messages.new_zeros((*messages.shape[:-2], n_empty, width)))
    out = torch.cat(sums, dim=-2) if len(sums) > 1 else sums[0]
    return out if node_order is None else torch.index_select(out, -2, node_order)


def add_batch_free_first(terms: list[torch.Tensor]) -> torch.Tensor:
    """The sum of ``terms``, the batch-free ``[N, W]`` ones first: their sum is a constant of an
    export (folded by onnxruntime), so only one Add runs over the batch."""
    ordered = sorted(terms, key=lambda t: t.dim())
    total = ordered[0]
    for t in ordered[1:]:
        total = total + t
    return total


def as_batch(rows: torch.Tensor, n: int, batched: bool) -> torch.Tensor:
    """2-D rows back to ``[B, n, W]`` (``batched``) or left ``[n, W]``."""
    return rows.reshape(-1, n, rows.shape[-1]) if batched else rows


def _first_layer_part(mlp: MLP, part: int) -> torch.Tensor:
    return mlp.layers[0].weight[:, mlp._offsets[part]:mlp._offsets[part + 1]]


class InteractionNetwork(nn.Module):
    """One message-passing layer: edge update, sum aggregation, receiver update (module doc)."""

    def __init__(self, width: int, mlp_hidden_layers: int = 1, activation: str = "silu"):
        super().__init__()
        self.edge_mlp = MLP((width, width, width), width, width, mlp_hidden_layers, activation)
        self.node_mlp = MLP((width, width), width, width, mlp_hidden_layers, activation)

    def forward(self, edges: EdgeTensors, x_senders: torch.Tensor, x_receivers: torch.Tensor,
                e: torch.Tensor, keep_edges: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x'_receivers, e')`` from sender/receiver latents ``[B, N, W]`` and edge latents ``[(B,) E, W]``
        (``e`` in the grouped edge order of ``edges``; ``e'`` too).

        Batch-free ``[N, W]`` / ``[E, W]`` inputs (embeddings of the fixed graph) broadcast.
        ``[e, x_s, x_r]`` enters the edge MLP as ``e W_e + (x_s W_s)[senders] + (x_r W_r + b)[receivers]``:
        nodes are projected once, then gathered (the same as projecting the concatenation);
        the batch-free terms are summed first. ``keep_edges=False`` (the encoder and decoder,
        whose edge latents are dropped) returns ``(x'_receivers, None)`` and never forms ``e'``:
        ``sum e' = sum e + sum MLP_e(..)``, and the receivers' ``(sum e) W`` is batch-free when
        ``e`` is (one Add over the receivers instead of one over the edges).
        """
        mlp = self.edge_mlp
        w_e = _first_layer_part(mlp, 0)
        p_s = linear_2d(x_senders, _first_layer_part(mlp, 1))
        p_r = linear_2d(x_receivers, _first_layer_part(mlp, 2), mlp.layers[0].bias)
        from_senders = torch.index_select(p_s, -2, edges.senders)
        batched = max(e.dim(), from_senders.dim(), p_r.dim()) == 3
        degree = edges.uniform_degree
        if degree is None:
            terms = [from_senders, torch.index_select(p_r, -2, edges.receivers)]
            h = add_batch_free_first(terms + ([linear_2d(e, w_e)] if e.dim() == 2 else []))
            if e.dim() == 3 and h.dim() == 3:  # e W_e + h in one Gemm (h as its C)
                h = torch.addmm(as_rows(h), as_rows(e), w_e.t())
            elif e.dim() == 3:
                h = linear_2d(e, w_e) + h
        else:  # receivers' projection broadcast over their `degree` consecutive edges
            h = add_batch_free_first([linear_2d(e, w_e), from_senders])
            h = h.reshape(-1, p_r.shape[-2], degree, h.shape[-1]) + p_r.unsqueeze(-2)
        messages = as_batch(mlp.tail_rows(as_rows(h)), edges.n_edges, batched)
        node = self.node_mlp
        w_agg = _first_layer_part(node, 1)
        x_part = linear_2d(x_receivers, _first_layer_part(node, 0), node.layers[0].bias)
        if keep_edges:
            e_new = e + messages
            agg = edges.aggregate(e_new)
        else:
            e_new, agg = None, edges.aggregate(messages)
            x_part = add_batch_free_first([x_part, linear_2d(edges.aggregate(e), w_agg)])
        if x_part.dim() == 3 and agg.dim() == 3:
            g = torch.addmm(as_rows(x_part), as_rows(agg), w_agg.t())
        else:
            g = as_rows(x_part + linear_2d(agg, w_agg))
        x_new = x_receivers + as_batch(node.tail_rows(g), edges.n_receivers, max(agg.dim(), x_part.dim()) == 3)
        return x_new, e_new
