"""Noise that makes the forecaster stochastic: each member a different, exchangeable draw.

As in ECMWF's AIFS-CRPS (Lang et al. 2024, arXiv 2412.15832), noise enters the processor:
an input ``z [B, M, K]`` of independent standard normal values, one row of ``K`` per mesh
node, is embedded and added to the mesh latents before the processor layers::

    z_global = sqrt(M) * mean_m z[:, m, :]        (again N(0, 1) per channel, one per member)
    mesh    <- mesh + MLP([z, z_global])           MLP with LayerNorm (its scale is learned)

The per-node part lets the members differ locally; ``z_global``, the same for every node,
lets the network make large-scale, coherent differences (what weekly means need) without
a second input. The network learns how much of the noise to pass on by training on a
proper score (the almost fair CRPS, :mod:`sowcast.train.losses`). The noise is an input of
the exported ONNX graph, so the edge draws it from a member's seed (reproducible, resumable)
and the forecast is identical whatever the batching.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sowcast.model.mlp import MLP


class NoiseEmbedding(nn.Module):
    """``[B, M, K]`` standard normal noise -> ``[B, M, width]`` added to the mesh latents."""

    def __init__(self, n_mesh: int, channels: int, width: int, hidden_layers: int = 1, activation: str = "silu"):
        super().__init__()
        self.n_mesh, self.channels = int(n_mesh), int(channels)
        self.mlp = MLP(2 * self.channels, width, width, hidden_layers, activation, layer_norm=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        z_global = noise.mean(dim=1, keepdim=True) * math.sqrt(self.n_mesh)
        return self.mlp(torch.cat([noise, z_global.expand_as(noise)], dim=-1))
