"""Encoder-processor-decoder on a :class:`~sowcast.graph.forecast_graph.ForecastGraph`.

GraphCast (Lam et al. 2023, Science 382, Supplement 3):

* **embed** (MLPs to ``width``): grid node inputs (concatenated with the grid node
  geometry ``cos lat, sin lon, cos lon``), mesh node geometry, and the features of the
  three edge sets;
* **encoder**: one interaction network on ``grid2mesh`` updates the mesh nodes (and the
  grid2mesh edges, then dropped); the grid nodes, which receive nothing, get a residual
  MLP update ``v_G <- v_G + MLP(v_G)``;
* **noise** (stochastic models only, ``noise_channels > 0``): standard normal noise
  ``[B, M, K]`` per mesh node, embedded and added to the mesh latents before the processor
  (:mod:`sowcast.model.noise`; AIFS-CRPS, Lang et al. 2024); with ``grid_noise`` the
  noise is ``[B, M + G, K]`` and its grid rows, embedded, are added to the grid latents
  before the decoder (noise at the grid's own scale);
* **processor**: ``processor_layers`` interaction networks on the multimesh, weights not
  shared, updating mesh nodes and mesh edges; each optionally under activation
  checkpointing (``torch.utils.checkpoint``, ``use_reentrant=False``) while training;
* **decoder**: one interaction network on ``mesh2grid`` updates the grid nodes, then an
  output MLP without LayerNorm gives ``n_outputs`` values per grid node.

Graph arrays are **non-persistent buffers**: constants of the model (moved by ``.to()``,
baked into an ONNX export) but not in ``state_dict``, so a checkpoint stays small and does
not depend on how the graph is stored; the model is rebuilt from the same graph. A
persistent 32-byte ``graph_digest`` (sha256 of node counts and edge topology) is in the
state_dict and loading a state_dict made on another graph raises :class:`SowcastError`.
Edge and node features of the fixed graph are embedded without a batch dim (``[E, W]``)
and broadcast against the batch; node latents are ``[B, N, W]``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import ForecastGraph
from sowcast.model.interaction_network import EdgeTensors, InteractionNetwork
from sowcast.model.mlp import MLP
from sowcast.model.noise import GridNoiseEmbedding, NoiseEmbedding

EDGE_SETS = ("grid2mesh", "mesh", "mesh2grid")


def graph_digest(graph: ForecastGraph) -> bytes:
    """sha256 of the node counts and the senders/receivers of every edge set (not the features)."""
    h = hashlib.sha256()
    h.update(np.asarray([graph.n_grid, graph.n_mesh], np.int64).tobytes())
    for name in EDGE_SETS:
        edges = getattr(graph, name)
        h.update(name.encode())
        h.update(np.ascontiguousarray(edges.senders, np.int64).tobytes())
        h.update(np.ascontiguousarray(edges.receivers, np.int64).tobytes())
    return h.digest()


class EncodeProcessDecode(nn.Module):
    """Grid node inputs ``[B, G, n_inputs]`` -> grid node outputs ``[B, G, n_outputs]`` (module doc)."""

    def __init__(self, graph: ForecastGraph, n_inputs: int, n_outputs: int, width: int = 64,
                 processor_layers: int = 6, mlp_hidden_layers: int = 1, activation: str = "silu",
                 checkpoint_activations: bool = False, noise_channels: int = 0, grid_noise: bool = False):
        super().__init__()
        if width < 1 or processor_layers < 0:
            raise SowcastError(f"width must be >= 1 and processor_layers >= 0, not {width} and {processor_layers}")
        g, m = graph.n_grid, graph.n_mesh
        if graph.grid_features.shape[0] != g or graph.mesh_features.shape[0] != m:
            raise SowcastError("graph node features do not have one row per node")
        self.checkpoint_activations = bool(checkpoint_activations)
        self.edges = nn.ModuleDict({
            "grid2mesh": EdgeTensors(graph.grid2mesh, g, m, "grid2mesh"),
            "mesh": EdgeTensors(graph.mesh, m, m, "mesh"),
            "mesh2grid": EdgeTensors(graph.mesh2grid, m, g, "mesh2grid"),
        })
        self.register_buffer("grid_features", torch.as_tensor(np.asarray(graph.grid_features, np.float32)),
                             persistent=False)
        self.register_buffer("mesh_features", torch.as_tensor(np.asarray(graph.mesh_features, np.float32)),
                             persistent=False)
        self.register_buffer("graph_digest", torch.tensor(list(graph_digest(graph)), dtype=torch.uint8))

        def mlp(n_in: Any, n_out: int = width, layer_norm: bool = True) -> MLP:
            return MLP(n_in, n_out, width, mlp_hidden_layers, activation, layer_norm)

        self.grid_embed = mlp((n_inputs, graph.grid_features.shape[1]))
        self.mesh_embed = mlp(graph.mesh_features.shape[1])
        self.edge_embed = nn.ModuleDict({name: mlp(getattr(graph, name).features.shape[1]) for name in EDGE_SETS})
        self.encoder = InteractionNetwork(width, mlp_hidden_layers, activation)
        self.grid_update = mlp(width)
        self.processor = nn.ModuleList(InteractionNetwork(width, mlp_hidden_layers, activation)
                                       for _ in range(processor_layers))
        self.decoder = InteractionNetwork(width, mlp_hidden_layers, activation)
        self.output = mlp(width, n_outputs, layer_norm=False)
        self.noise_channels = int(noise_channels)
        self.noise_embed = (NoiseEmbedding(m, self.noise_channels, width, mlp_hidden_layers, activation)
                            if self.noise_channels > 0 else None)
        self.n_mesh = int(m)
        self.grid_noise_embed = (GridNoiseEmbedding(self.noise_channels, width, mlp_hidden_layers, activation)
                                 if self.noise_channels > 0 and grid_noise else None)

    def forward(self, grid_inputs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        e = {name: self.edge_embed[name](edges.features) for name, edges in self.edges.items()}
        emb = self.grid_embed
        # [B, G, W]; the grid geometry's part and the bias are a constant of an export (one Add)
        grid = emb.tail(emb.project(grid_inputs, 0) + emb.project(self.grid_features, 1, with_bias=True))
        mesh = self.mesh_embed(self.mesh_features)  # [M, W], broadcast below

        mesh, _ = self.encoder(self.edges["grid2mesh"], grid, mesh, e["grid2mesh"], keep_edges=False)
        grid = grid + self.grid_update(grid)
        if self.noise_embed is not None:
            if noise is None:
                raise SowcastError("this stochastic model needs noise [B, n_noise_nodes, noise_channels]")
            if self.grid_noise_embed is None:
                mesh = mesh + self.noise_embed(noise)
            else:
                mesh = mesh + self.noise_embed(noise[:, :self.n_mesh])
                grid = grid + self.grid_noise_embed(noise[:, self.n_mesh:])

        edges, mesh_e = self.edges["mesh"], e["mesh"]
        use_checkpoint = self.checkpoint_activations and self.training and torch.is_grad_enabled()
        for layer in self.processor:
            if use_checkpoint:
                mesh, mesh_e = checkpoint(layer, edges, mesh, mesh, mesh_e, use_reentrant=False)
            else:
                mesh, mesh_e = layer(edges, mesh, mesh, mesh_e)

        grid, _ = self.decoder(self.edges["mesh2grid"], mesh, grid, e["mesh2grid"], keep_edges=False)
        return self.output(grid)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + "graph_digest"
        if key in state_dict and not torch.equal(state_dict[key].to(self.graph_digest.device), self.graph_digest):
            raise SowcastError("this checkpoint was trained on a different graph (grid, mesh level or graph settings differ)")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
