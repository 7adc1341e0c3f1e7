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

``noise_memory_days`` (``forecast.noise_memory_days``, tau; 0 = white noise, each step's draw
independent) makes the noise of the mesh rows red in time, a first-order autoregression as
the time correlation of ECMWF's stochastic physics (SPPT, Palmer et al. 2009; Leutbecher et
al. 2017)::

    z_1 = e_1,   z_k = phi z_(k-1) + sqrt(1 - phi^2) e_k,   phi = exp(-step / tau)

with ``e_k`` the mesh rows of the white draw above; the grid rows of a ``grid_noise`` model
(the rows after ``model.graph.n_mesh``) stay ``e_k``. Every step's noise is still standard
normal, the distribution the model was trained on (a one-step forecast is unchanged in law),
while a member keeps its large-scale noise (the mesh's, a node per 2 to 4 grid points) for
about ``tau``: a member's dry or wet spell of the large scale lasts, and weekly means spread
further for the same daily noise (white noise averages out over a week). The grid-scale noise
stays white because rain at a point forgets itself within a day (lag-1 correlation of the
synthetic truth's daily rain 0.12); made red too it tripled the members' (README, "Red noise").
Tuned on training-year hindcasts (:data:`TUNED_NOISE_MEMORY_DAYS`).

``z_k`` is a function of the member's key and ``k`` alone: the draws ``e_1..e_k`` are
stateless, and :class:`ModelNoise` keeps each member's last ``z`` only to save replaying them
(a member whose ``z_(k-1)`` it does not hold, after a resume or a cache eviction, replays
``e_1..e_k`` in the same float32 arithmetic). So a run resumed from ``state.npz`` after a
power cut, any ``batch`` size, lagged starts and hindcasts that group several starts into
one call all give the same draws, bit for bit; members and starts are independent streams.
``NOISE_STREAM`` keeps these streams apart from the initial perturbations'
(``default_rng([seed, g])``, :mod:`sowcast.forecast.ensemble`). Keying on the start time
rather than on the global member number makes a lagged start's member ``m`` (and a
hindcast start's) the same forecast as member ``m`` of a forecast from that start, when
their initial perturbations agree.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


TUNED_NOISE_MEMORY_DAYS = 1.0
"""``noise_memory_days``' default: 1 day (phi 0.37 a day), tuned as :data:`TUNED_NOISE_SCALE` on the
demo model's training years only (``benchmarks/perturbation_tuning.py --root <demo>
0.5:total_precipitation=8@1.3~0 ...~1 ...~2 ...~3 ...~4 ...~8``, 2005-2008): the lowest weekly rain CRPS
summed over weeks 1, 2, 3-4 and 5-6 (37.47 mm against 37.52 white, 37.64 at 2 days, 37.91 at 3), fair
RPSS higher at weeks 2-6 for rain (-0.005 / +0.014 / +0.016 against -0.011 / +0.001 / +0.007) and 2 m
temperature (+0.087 / +0.102 / +0.088 against +0.085 / +0.095 / +0.085), 2 m temperature CRPS no
higher; forecasts holding a dry spell over 7 days 0.376 (white 0.357, the truth 0.411). Longer
memories dry the members at weeks 3-6 (bias -2.4 to -5.0 mm at 2-8 days against -1.5). README,
"Red noise"."""

_STATE_BYTES = 128 * 2**20  # members' last noise kept for their next step (more: replayed)


def noise_memory_option(value: Any, key: str) -> float:
    """A noise memory in days: a finite number >= 0 (0: white noise)."""
    out = number(value, key)
    if not (math.isfinite(out) and out >= 0):
        raise SowcastError(f"{key} must be a finite number of days >= 0 (0: white noise), not {out:g}")
    return out


def noise_correlation(memory_days: float, step: Any) -> float:
    """``phi = exp(-step / tau)``, the correlation of a member's noise from one step to the next
    (0 for ``tau = 0``); ``step`` a time step (``pd.Timedelta`` or its string)."""
    if memory_days == 0:
        return 0.0
    return math.exp(-(pd.Timedelta(step) / pd.Timedelta(days=1)) / float(memory_days))


def mesh_noise_rows(manifest: Mapping[str, Any]) -> int | None:
    """How many of the noise rows are the mesh's (the first ``model.graph.n_mesh``; the rest
    are a ``grid_noise`` model's grid rows), None when all are (no grid noise). A grid-noise
    manifest without ``graph.n_mesh`` cannot say: :class:`SowcastError`."""
    model = manifest.get("model") or {}
    hyper, graph = model.get("hyperparameters") or {}, model.get("graph") or {}
    if hyper.get("grid_noise", False) is not True:
        return None
    if "n_mesh" not in graph:
        raise SowcastError("the bundle's model has grid noise but its manifest lacks model.graph.n_mesh, so the "
                           "mesh's noise rows are unknown; export it again or set noise_memory_days to 0")
    return int(graph["n_mesh"])


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
    correlation: float = 0.0  # phi of noise_memory_days (noise_correlation); 0: white
    red_rows: int | None = None  # the first rows made red (the mesh's: mesh_noise_rows); None: all
    _last: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # (start, member) -> (k, z_k)
    _lock: Any = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def draw(self, start: int, member: int, step: int) -> np.ndarray:
        """The noise ``[M, K]`` float32 of ``member`` of the start :func:`start_key` ``start``
        at its step ``step`` (>= 1)."""
        if min(start, member, step) < 0:
            raise SowcastError(f"noise keys must be >= 0, not start {start}, member {member}, step {step}")
        draw = self._white(start, member, step) if self.correlation == 0 else self._red(start, member, step)
        return draw if self.scale == 1.0 else draw * np.float32(self.scale)

    def _white(self, start: int, member: int, step: int) -> np.ndarray:
        rng = np.random.default_rng([int(self.seed), int(start), int(member), int(step), NOISE_STREAM])
        return rng.standard_normal((self.nodes, self.channels), dtype=np.float32)

    def _red(self, start: int, member: int, step: int) -> np.ndarray:
        """``e_step`` with its first ``red_rows`` rows ``z_step`` (module doc), from the member's
        ``z_(step-1)`` when kept, else replayed from ``e_1``."""
        key, rows = (int(start), int(member)), self.nodes if self.red_rows is None else self.red_rows
        white = self._white(start, member, step)
        with self._lock:
            k, z = self._last.get(key, (0, None))
        if k != step:
            phi = np.float32(self.correlation)
            rest = np.float32(math.sqrt(1.0 - self.correlation ** 2))
            if k != step - 1 or z is None:
                k, z = 1, (white if step == 1 else self._white(start, member, 1))[:rows].copy()
            while k < step:
                k += 1
                z = phi * z + rest * (white if k == step else self._white(start, member, k))[:rows]
            with self._lock:
                self._last.pop(key, None)
                self._last[key] = (step, z)
                while len(self._last) * z.nbytes > _STATE_BYTES and len(self._last) > 1:
                    del self._last[next(iter(self._last))]  # the longest unused member: replayed if it comes back
        white[:rows] = z
        return white

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
                 what: str = "the model", scale: float = 1.0, correlation: float = 0.0) -> ModelNoise | None:
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
    red_rows = mesh_noise_rows(manifest) if correlation else None
    return ModelNoise(nodes=want[0], channels=want[1], seed=int(seed), scale=float(scale),
                      correlation=float(correlation), red_rows=red_rows)
