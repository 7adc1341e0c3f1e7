"""Noise that makes the forecaster stochastic: each member a different, exchangeable draw.

As in ECMWF's AIFS-CRPS (Lang et al. 2024, arXiv 2412.15832), noise enters the processor:
an input ``z [B, M, K]`` of independent standard normal values, one row of ``K`` per mesh
node, is embedded and added to the mesh latents before the processor layers::

    z_global = sqrt(M) * mean_m z[:, m, :]        (again N(0, 1) per channel, one per member)
    mesh    <- mesh + MLP([z, z_global])           MLP with LayerNorm (its scale is learned)

The per-node part lets the members differ locally; ``z_global``, the same for every node,
lets the network make large-scale, coherent differences (what weekly means need) without
a second input.

With ``grid_noise`` the input also holds one row per grid node, ``z [B, M + G, K]``: the
grid rows are embedded by their own MLP and added to the grid latents before the decoder::

    grid    <- grid + MLP(z[:, M:, :])

Mesh noise varies on the mesh's scale only (a mesh node per 2 to 4 grid nodes), but daily
rain varies from one grid point to the next (in the synthetic monsoon the daily rain
anomalies of neighbouring points correlate at 0.13): without noise at the grid's own
scale the members cannot spread as far as the rain's error, and an ensemble of too-similar
members trained on the CRPS drifts towards the median, which is drier than the mean for a
skewed variable. Grid-scale noise is what diffusion models (GenCast, Price et al. 2024)
and stochastic physics (SPPT's perturbations act per grid point) use for the same reason. The network learns how much of the noise to pass on by training on a
proper score (the almost fair CRPS, :mod:`sowcast.train.losses`). The noise is an input of
the exported ONNX graph, so the edge draws it from a member's seed (reproducible, resumable)
and the forecast is identical whatever the batching.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sowcast.model.mlp import MLP


class GridNoiseEmbedding(nn.Module):
    """``[B, G, K]`` standard normal noise -> ``[B, G, width]`` added to the grid latents."""

    def __init__(self, channels: int, width: int, hidden_layers: int = 1, activation: str = "silu"):
        super().__init__()
        self.mlp = MLP(int(channels), width, width, hidden_layers, activation, layer_norm=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.mlp(noise)


class NoiseEmbedding(nn.Module):
    """``[B, M, K]`` standard normal noise -> ``[B, M, width]`` added to the mesh latents."""

    def __init__(self, n_mesh: int, channels: int, width: int, hidden_layers: int = 1, activation: str = "silu"):
        super().__init__()
        self.n_mesh, self.channels = int(n_mesh), int(channels)
        self.mlp = MLP(2 * self.channels, width, width, hidden_layers, activation, layer_norm=True)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        z_global = noise.mean(dim=1, keepdim=True) * math.sqrt(self.n_mesh)
        return self.mlp(torch.cat([noise, z_global.expand_as(noise)], dim=-1))
