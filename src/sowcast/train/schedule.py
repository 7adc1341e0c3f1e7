"""Optimiser, learning-rate schedule and rollout curriculum.

* :func:`make_optimizer`: AdamW (GraphCast: beta1 0.9, beta2 0.95, weight decay 0.1), weight
  decay on matrices only (biases and norm gains are not decayed).
* :func:`lr_factor` / :func:`make_scheduler`: linear warm-up from ``lr / warmup_steps`` to
  ``lr`` over ``warmup_steps`` steps, then half a cosine from ``lr`` down to the floor
  ``lr_min`` at ``max_steps`` (and ``lr_min`` beyond it). Step ``s`` (0-based) is trained
  with the rate at ``s``; the scheduler is stepped after each optimiser step.
* :class:`RolloutCurriculum`: the number of autoregressive steps trained on as a function
  of the step, from ``[[from_step, n_steps], ...]`` pairs (GraphCast trains 1 step, then
  2..12 steps; Anemoi's ``rollout`` start/epoch_increment/max is the same idea).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from sowcast.errors import SowcastError


def lr_factor(step: int, warmup_steps: int, max_steps: int, lr: float, lr_min: float) -> float:
    """The learning rate at ``step`` (0-based), divided by ``lr``."""
    if lr <= 0:
        raise SowcastError(f"train.lr must be positive, not {lr}")
    step = int(step)
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    floor = lr_min / lr
    decay = max(int(max_steps) - int(warmup_steps), 1)
    progress = min(max((step - warmup_steps) / decay, 0.0), 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_at(step: int, lr: float, warmup_steps: int, max_steps: int, lr_min: float) -> float:
    """The learning rate at ``step`` (0-based)."""
    return lr * lr_factor(step, warmup_steps, max_steps, lr, lr_min)


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float,
                   betas: Sequence[float] = (0.9, 0.95), eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW with weight decay on parameters of two or more dimensions only."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": float(weight_decay)},
              {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    return torch.optim.AdamW(groups, lr=float(lr), betas=tuple(float(b) for b in betas), eps=float(eps))


def make_scheduler(optimizer: torch.optim.Optimizer, lr: float, warmup_steps: int, max_steps: int,
                   lr_min: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Warm-up then cosine decay (see :func:`lr_factor`), stepped once per optimiser step."""
    if lr_min < 0 or lr_min > lr:
        raise SowcastError(f"train.lr_min must lie in [0, train.lr], not {lr_min}")
    if warmup_steps < 0:
        raise SowcastError(f"train.warmup_steps must be >= 0, not {warmup_steps}")

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps, max_steps, lr, lr_min)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class RolloutCurriculum:
    """Autoregressive steps per training step, from ``[[from_step, n_steps], ...]``.

    The pair with the largest ``from_step <= step`` applies; the first pair must start at 0.
    An integer ``n`` means ``[[0, n]]``.
    """

    def __init__(self, stages: int | Iterable[Sequence[int]]):
        if isinstance(stages, int):
            stages = [[0, stages]]
        try:
            pairs = sorted((int(a), int(b)) for a, b in stages)
        except (TypeError, ValueError):
            raise SowcastError(f"train.rollout must be a list of [from_step, n_steps] pairs, not {stages!r}") from None
        if not pairs or pairs[0][0] != 0:
            raise SowcastError("train.rollout must start with a pair [0, n_steps]")
        if len({a for a, _ in pairs}) != len(pairs):
            raise SowcastError("train.rollout has two pairs with the same from_step")
        if any(n < 1 for _, n in pairs):
            raise SowcastError("train.rollout step counts must be at least 1")
        self.stages = pairs

    def __call__(self, step: int) -> int:
        n = self.stages[0][1]
        for start, steps in self.stages:
            if step >= start:
                n = steps
        return n

    @property
    def max_steps(self) -> int:
        """The longest rollout of the curriculum (the windows must hold this many targets)."""
        return max(n for _, n in self.stages)

    def __repr__(self) -> str:
        return f"RolloutCurriculum({[list(p) for p in self.stages]})"
