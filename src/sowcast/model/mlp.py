"""The multilayer perceptron every part of the network is made of (GraphCast's MLP).

``MLP(x) = LayerNorm(L_h(act(... act(L_0(x)))))``: a Linear layer and an activation repeated
``hidden_layers`` times, a last Linear layer, then LayerNorm on the output (Lam et al. 2023,
"Learning skillful medium-range global weather forecasting", Science 382, Supplement 3:
"MLPs with one hidden layer, swish activation and layer normalisation"). The decoder's
final output MLP has no LayerNorm (``layer_norm=False``).

When the input is a concatenation ``[x_0, x_1, ...]`` (``in_parts`` gives the widths), the
first layer can be applied part by part: ``L_0([x_0, x_1]) = x_0 W_0^T + x_1 W_1^T + b``
(:meth:`MLP.project` then :meth:`MLP.finish`). The interaction network uses this to project
node latents once per node and gather the projections onto edges, instead of gathering
nodes and projecting once per edge; the parameters are those of the plain concatenation.

Every layer runs on 2-D rows ``[B * N, W]`` (a ``[B, N, W]`` input reshaped with ``N``
constant, so an export keeps the batch dynamic): onnxruntime then gets one Gemm with the
bias inside per Linear, not a 3-D MatMul and a separate Add.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sowcast.errors import SowcastError

_ACTIVATIONS = {
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
}


def activation_module(name: str) -> nn.Module:
    """The activation called ``name`` (silu/swish, gelu, relu, tanh)."""
    try:
        return _ACTIVATIONS[str(name).lower()]()
    except KeyError:
        raise SowcastError(f"unknown activation {name!r}; use one of {', '.join(sorted(_ACTIVATIONS))}") from None


class MLP(nn.Module):
    """``[Linear -> act] x hidden_layers -> Linear [-> LayerNorm]`` with hidden width ``hidden``."""

    def __init__(self, in_features: int | Sequence[int], out_features: int, hidden: int,
                 hidden_layers: int = 1, activation: str = "silu", layer_norm: bool = True):
        super().__init__()
        parts = [int(in_features)] if isinstance(in_features, int) else [int(p) for p in in_features]
        if hidden_layers < 0:
            raise SowcastError(f"mlp_hidden_layers must be >= 0, not {hidden_layers}")
        self.in_parts = tuple(parts)
        sizes = [sum(parts)] + [int(hidden)] * int(hidden_layers) + [int(out_features)]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = activation_module(activation)
        self.norm = nn.LayerNorm(int(out_features)) if layer_norm else None
        self._offsets = [0]
        for p in parts:
            self._offsets.append(self._offsets[-1] + p)

    def project(self, x: torch.Tensor, part: int, with_bias: bool = False) -> torch.Tensor:
        """``x W_part^T`` (``+ b``): the first layer's weights for input part ``part``."""
        w = self.layers[0].weight[:, self._offsets[part]:self._offsets[part + 1]]
        return linear_2d(x, w, self.layers[0].bias if with_bias else None)

    def finish(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the MLP from the summed first-layer projections ``h`` (bias added here)."""
        return self.tail(h + self.layers[0].bias)

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """The rest of the MLP from the first layer's output ``h`` (its bias in)."""
        return from_rows(self.tail_rows(as_rows(h)), h)

    def tail_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """The rest of the MLP on 2-D rows ``[B * N, W]`` of the first layer's output (its bias
        in): activation, the remaining Linear layers, LayerNorm."""
        for layer in self.layers[1:]:
            rows = F.linear(self.act(rows), layer.weight, layer.bias)
        return self.norm(rows) if self.norm is not None else rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.layers[0]
        return from_rows(self.tail_rows(F.linear(as_rows(x), first.weight, first.bias)), x)


def as_rows(x: torch.Tensor) -> torch.Tensor:
    """``[..., W]`` as 2-D rows ``[-1, W]`` (a Reshape; the batch stays dynamic in an export)."""
    return x.reshape(-1, x.shape[-1])


def linear_2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x W^T + b`` on ``[N, W]`` or ``[B, N, W]``, computed on 2-D ``[B * N, W]`` (a Gemm with
    its bias in ONNX; the reshapes are constant, so the batch stays dynamic)."""
    return from_rows(F.linear(as_rows(x), weight, bias), x)


def from_rows(rows: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """2-D rows ``[-1, W']`` back to the leading dims of ``like`` (its first dim left to the
    Reshape, so a dynamic batch stays dynamic)."""
    if like.dim() == 2:
        return rows
    return rows.reshape(-1, *like.shape[1:-1], rows.shape[-1]) if like.dim() > 2 else rows.reshape(-1)


def mlp_parameter_count(in_features: int, out_features: int, hidden: int, hidden_layers: int,
                        layer_norm: bool = True) -> int:
    """Number of parameters of :class:`MLP` (weights, biases, LayerNorm scale and offset)."""
    sizes = [in_features] + [hidden] * hidden_layers + [out_features]
    n = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    return n + (2 * out_features if layer_norm else 0)
