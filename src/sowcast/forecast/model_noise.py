"""The noise a stochastic model takes at every step, drawn statelessly from the member's seed.

A stochastic bundle (manifest ``model.noise``, :mod:`sowcast.bundle.manifest`) takes a
fourth input ``noise [B, M, K]`` of independent standard normal values; each draw gives
another, exchangeable member (:mod:`sowcast.model.noise`). On the edge, member ``m`` of the
start at time ``t`` draws the noise of its step ``k`` (``k = 1`` is its first step after
its own start; lagged starts count their pre-roll too) from ::

    noise_scale * numpy.random.default_rng([noise_seed, YYYYMMDDhhmm(t), m, k, NOISE_STREAM])
        .standard_normal((M, K), dtype=float32)

``noise_scale`` (``forecast.noise_scale``, 1 = the distribution the model was trained with)
widens or narrows the model's own spread at every step, a calibration of the ensemble's
dispersion tuned on training-year hindcasts (:data:`TUNED_NOISE_SCALE`).

Nothing is carried from one step to the next, so a run resumed from ``state.npz`` after a
power cut, any ``batch`` size, lagged starts and hindcasts that group several starts into
one call all give the same draws; members, steps and starts are independent streams.
``NOISE_STREAM`` keeps these streams apart from the initial perturbations'
(``default_rng([seed, g])``, :mod:`sowcast.forecast.ensemble`). Keying on the start time
rather than on the global member number makes a lagged start's member ``m`` (and a
hindcast start's) the same forecast as member ``m`` of a forecast from that start, when
their initial perturbations agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sowcast.config_values import number
from sowcast.errors import SowcastError

NOISE_STREAM = 0x6E6F6973  # "nois": apart from the perturbation stream [seed, g]

TUNED_NOISE_SCALE = 1.3
"""``noise_scale``'s default: the demo model's noise x 1.3, tuned on its training years only
(``benchmarks/perturbation_tuning.py --root <demo> 0.5:total_precipitation=8@1
0.5:total_precipitation=8@1.15 0.5:total_precipitation=8@1.3 0.5:total_precipitation=8@1.6``,
2005-2008): weekly rain CRPS at weeks 3-6 1.3-2.1 % lower and fair RPSS higher at weeks 2-6
(-0.018 / -0.008 / -0.005 against -0.030 / -0.020 / -0.020), week-1 CRPS 0.7 % higher, spread /
error of weekly rain 0.73-0.83 (0.69-0.80 at 1), 2 m temperature CRPS 0-3 % lower; 1.6 spread
no wider and scored worse. README, "The stochastic model"."""


def noise_scale_option(value: Any, key: str = "forecast.noise_scale") -> float:
    """A noise scale: a finite number > 0."""
    out = number(value, key)
    if not out > 0:
        raise SowcastError(f"{key} must be > 0 (1: the noise the model was trained with), not {out:g}")
    return out


def start_key(start: Any) -> int:
    """A start time as the whole number ``YYYYMMDDhhmm`` (2024-05-01 00:00 -> 202405010000)."""
    t = pd.Timestamp(start)
    if t.year < 1:
        raise SowcastError(f"start time {t} is before year 1")
    return int(f"{t.year:04d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}")


@dataclass(frozen=True)
class ModelNoise:
    """Draws ``[M, K]`` per (start, member, step) as the module doc says."""

    nodes: int      # M, the noise rows: mesh nodes (+ grid nodes with grid_noise)
    channels: int   # K
    seed: int       # forecast.noise_seed / hindcast.noise_seed
    scale: float = 1.0  # forecast.noise_scale / hindcast.noise_scale

    def draw(self, start: int, member: int, step: int) -> np.ndarray:
        """The noise ``[M, K]`` float32 of ``member`` of the start :func:`start_key` ``start``
        at its step ``step`` (>= 1)."""
        if min(start, member, step) < 0:
            raise SowcastError(f"noise keys must be >= 0, not start {start}, member {member}, step {step}")
        rng = np.random.default_rng([int(self.seed), int(start), int(member), int(step), NOISE_STREAM])
        draw = rng.standard_normal((self.nodes, self.channels), dtype=np.float32)
        return draw if self.scale == 1.0 else draw * np.float32(self.scale)

    def batch(self, keys: np.ndarray) -> np.ndarray:
        """The noise ``[n, M, K]`` of ``keys [n, 3]`` rows ``(start, member, step)``."""
        keys = np.asarray(keys, np.int64).reshape(-1, 3)
        out = np.empty((len(keys), self.nodes, self.channels), np.float32)
        for i, (start, member, step) in enumerate(keys):
            out[i] = self.draw(int(start), int(member), int(step))
        return out


def step_keys(starts: Sequence[int], members: Sequence[int], steps: Sequence[int] | int) -> np.ndarray:
    """``[n, 3]`` rows ``(start, member, step)`` of ``n`` members (``steps`` one each, or shared)."""
    starts, members = np.asarray(starts, np.int64), np.asarray(members, np.int64)
    steps = np.broadcast_to(np.asarray(steps, np.int64), starts.shape)
    return np.stack([starts, members, steps], axis=1)


def bundle_noise(manifest: Mapping[str, Any], session_noise: tuple[int, int] | None, seed: int,
                 what: str = "the model", scale: float = 1.0) -> ModelNoise | None:
    """The :class:`ModelNoise` of a bundle whose manifest and ONNX model agree, None for a
    deterministic one. ``session_noise``: the ``(M, K)`` of the ONNX file's ``noise`` input
    (:attr:`sowcast.forecast.session.StepModel.noise_shape`), None if it has none."""
    from sowcast.bundle.manifest import model_noise

    entry = model_noise(manifest)
    want = None if entry is None else (int(entry["nodes"]), int(entry["channels"]))
    if want != session_noise:
        raise SowcastError(f"{what} takes {'no noise' if session_noise is None else f'noise {list(session_noise)}'} "
                           f"but the manifest's model.noise says {'none' if want is None else list(want)} "
                           "(bundle inconsistent; export it again)")
    if want is None:
        return None
    return ModelNoise(nodes=want[0], channels=want[1], seed=int(seed), scale=float(scale))
