"""onnxruntime against torch eager on the same inputs, and the skill of a model on real windows.

**Parity measure.** For each output value the difference ``|onnx - torch|`` is divided by
the channel's state standard deviation (``std``, with the model's floor
``max(std, 1e-6 |mean|, 1e-12)``): the *normalised* difference, comparable across
channels whatever their units (Pa, K, kg/kg). The fp32 export passes when the largest
normalised difference over every value, sample and channel is at most
``export.parity_tolerance`` (default ``1e-4``, i.e. 0.01 % of a channel's spread; float32
round-off of a few ulp of the increment sits far below it). Differences within the
float32 resolution of the value itself (2 ulp, ``2 * 2**-23 * |value|``) are not held
against the export: a field with a large mean and a small spread (surface pressure in Pa
over a small tropical domain: 1 ulp of 101325 Pa is 0.008 Pa) cannot agree more closely
in float32 whatever the runtime, so the check is on the *excess*
``max(|onnx - torch| - 2 ulp(value), 0) / std``. The largest raw normalised difference,
the largest physical one (in the channel's units, with the channel named) and the one in
units of ``diff_std`` (the increment's spread) are reported beside it.

Inputs: a *random* batch (states drawn around the channel means with the channel std,
forcings computed at random times, the real static fields when known) and *real* windows
of the training store (the validation range when the checkpoint has one), spread evenly.
A stochastic model's batches also hold ``noise [B, n_mesh, K]``, standard normal from
``numpy.random.default_rng([seed, NOISE_STREAM])`` (:func:`add_noise`): torch, onnxruntime
and every variant get the same draw.

**Skill** (:func:`skill_rmse`): the area-weighted RMSE of ``(prediction - truth) /
diff_std`` over every channel, point and window: the training loss's space, so a
variant's skill change ``RMSE_variant / RMSE_fp32 - 1`` reads as "how much worse a
one-step forecast gets".

**Rollout check of a reduced-precision variant** (:func:`rollout_setup`,
:func:`compare_rollouts`): a one-step check on a few windows hides errors that a forecast
compounds, so a variant is also run for ``ROLLOUT_DAYS`` (46) days from real initial
conditions of the store, beside fp32, on the same forcings and (stochastic models) the same
noise draw per member and step, and the products' quantities are compared:

* weekly means (whole weeks from the first forecast day): ``max |mean_variant -
  mean_fp32| / sigma_week``, ``sigma_week`` the channel's climatological standard deviation
  of 7-day means (non-overlapping weeks of the store, pooled over points around each
  point's mean);
* tercile probabilities: per initial condition, week, channel and point, the fraction of
  members below the lower, between, above the upper climatological tercile of 7-day means
  (the store's, per point); the fraction of those probabilities that move by more than
  ``TERCILE_POINT`` (one percentage point).

A variant passes when both are at most ``ROLLOUT_TOLERANCE`` (1 %) and every value is finite.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sowcast.errors import SowcastError

Batch = dict[str, np.ndarray]  # inputs, forcings, static (, noise) (float32), optionally targets, time
MODEL_INPUTS = ("inputs", "forcings", "static", "noise")  # the model's inputs, in order, when present
NOISE_STREAM = 0x70617269  # "pari": the parity noise's own stream beside the batch's draws
ROLLOUT_DAYS = 46          # the forecast's lead: the variant check runs as long
ROLLOUT_TOLERANCE = 0.01   # weekly means within 1 % of sigma_week; at most 1 % of tercile probabilities moved
TERCILE_POINT = 0.01       # a tercile probability "moved" beyond one percentage point
ROLLOUT_MEMBERS = 4        # members per initial condition of a stochastic model (1 for a deterministic one)
ROLLOUT_INITS = 2          # initial conditions (real windows) of the rollout check
CLIMATE_MAX_DAYS = 5 * 365  # store days read for sigma_week and the terciles (the last ones)
VARIANT_SPEEDUP = 0.95     # a variant counts as faster below 95 % of fp32's time (best of 7, timed in turn):
                           # a busy machine moves single timings by more than a few percent


def safe_std(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The model's floor on standard deviations (sowcast.model.normalization.safe_std)."""
    std, mean = np.asarray(std, np.float64), np.asarray(mean, np.float64)
    return np.maximum(np.maximum(std, 1e-6 * np.abs(mean)), 1e-12)


# -- runtimes ---------------------------------------------------------------------------------
def ort_session(path: str | os.PathLike, threads: int = 2) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads (PITFALLS.md: set them) and
    the forecast's options (:func:`sowcast.forecast.session.make_session`: sequential, idle
    spinning off), so that the export's timings are those of production."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only (fp16 graphs warn about constant folding)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"{Path(path).name}: onnxruntime cannot load it ({first})") from None


def run_ort(session: Any, batch: Batch) -> np.ndarray:
    feeds = {k: np.ascontiguousarray(batch[k], np.float32) for k in MODEL_INPUTS if k in batch}
    return np.asarray(session.run(["next_state"], feeds)[0], np.float32)


def run_torch(model: Any, batch: Batch) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = model(*(torch.from_numpy(np.ascontiguousarray(batch[k], np.float32))
                      for k in MODEL_INPUTS if k in batch))
    return out.numpy().astype(np.float32)


def add_noise(batch: Batch | None, noise_shape: Sequence[int] | None, seed: int = 0) -> Batch | None:
    """``batch`` with ``noise [B, *noise_shape]`` (standard normal, float32, from
    ``default_rng([seed, NOISE_STREAM])``) for a stochastic model; unchanged when
    ``noise_shape`` is None (a deterministic model) or there is no batch."""
    if batch is None or noise_shape is None:
        return batch
    rng = np.random.default_rng([int(seed), NOISE_STREAM])
    n = len(batch["inputs"])
    return {**batch, "noise": rng.standard_normal((n, *map(int, noise_shape)), dtype=np.float32)}


def time_in_turn(sessions: Sequence[Any], batch: Batch, repeats: int = 5) -> list[float]:
    """Milliseconds per call of each session on ``batch`` (best of ``repeats``), the sessions
    called in turn so that a machine that gets busier slows them alike."""
    for session in sessions:
        run_ort(session, batch)
    best = [float("inf")] * len(sessions)
    for _ in range(max(int(repeats), 1)):
        for i, session in enumerate(sessions):
            t0 = time.perf_counter()
            run_ort(session, batch)
            best[i] = min(best[i], time.perf_counter() - t0)
    return [1000.0 * b for b in best]


def time_ort(session: Any, batch: Batch, repeats: int = 3) -> float:
    """Milliseconds per call on ``batch`` (best of ``repeats`` after one warm-up)."""
    run_ort(session, batch)
    best = float("inf")
    for _ in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        run_ort(session, batch)
        best = min(best, time.perf_counter() - t0)
    return 1000.0 * best


# -- inputs -----------------------------------------------------------------------------------
def random_batch(n_input_steps: int, statistics: Mapping[str, np.ndarray], lat: np.ndarray, lon: np.ndarray,
                 time_step: pd.Timedelta, batch: int, forcing_names: Sequence[str],
                 static: np.ndarray | None = None, static_statistics: Mapping[str, np.ndarray] | None = None,
                 n_static: int = 0, seed: int = 0) -> Batch:
    """States around the channel means (spread: the channel std), forcings computed at random
    times, and the real static fields (else fields around their statistics)."""
    from sowcast.data.forcings import compute_forcings

    rng = np.random.default_rng(seed)
    mean = np.asarray(statistics["mean"], np.float64)
    std = safe_std(statistics["std"], mean)
    c, h, w = mean.size, len(lat), len(lon)
    inputs = mean[None, None, :, None, None] + std[None, None, :, None, None] * rng.standard_normal((batch, n_input_steps, c, h, w))
    forcings = np.empty((batch, n_input_steps + 1, len(forcing_names), h, w), np.float32)
    step = pd.Timedelta(time_step)
    n_steps = max(int(pd.Timedelta(days=40 * 365) // step), 1)  # random times over 40 years
    for b in range(batch):
        start = pd.Timestamp("1990-01-01") + step * int(rng.integers(0, n_steps))
        times = pd.date_range(start, periods=n_input_steps + 1, freq=step).values
        f = compute_forcings(times, lat, lon, step)
        forcings[b] = np.stack([f[n] for n in forcing_names], axis=1)
    if static is not None:
        fields = np.broadcast_to(np.asarray(static, np.float32)[None], (batch, *np.shape(static)))
    else:
        s_mean = np.asarray((static_statistics or {}).get("mean", np.zeros(n_static)), np.float64)
        s_std = np.asarray((static_statistics or {}).get("std", np.ones(n_static)), np.float64)
        fields = s_mean[None, :, None, None] + s_std[None, :, None, None] * rng.standard_normal((batch, n_static, h, w))
    return {"inputs": inputs.astype(np.float32), "forcings": forcings,
            "static": np.array(fields, np.float32)}  # a writable copy (torch.from_numpy needs one)


def take(batch: Batch, index: slice | Sequence[int]) -> Batch:
    return {k: v[index] for k, v in batch.items()}


def window_indices(n_available: int, n: int) -> np.ndarray:
    """``n`` window indices spread evenly over ``0 .. n_available - 1``."""
    n = max(min(int(n), int(n_available)), 0)
    if n == 0:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n_available - 1, n).round().astype(np.int64))


def real_batch(source: Any, n_windows: int) -> Batch | None:
    """``n_windows`` windows of a :class:`WindowSource` stacked (with ``targets`` [B, C, H, W])."""
    idx = window_indices(len(source), n_windows)
    if idx.size == 0:
        return None
    items = [source[int(i)] for i in idx]
    return {"inputs": np.stack([it["inputs"] for it in items]).astype(np.float32),
            "forcings": np.stack([it["forcings"][:source.n_input_steps + 1] for it in items]).astype(np.float32),
            "static": np.stack([it["static"] for it in items]).astype(np.float32),
            "targets": np.stack([it["targets"][0] for it in items]).astype(np.float32),
            "time": np.asarray([it["time"] for it in items], np.int64)}


# -- comparisons ------------------------------------------------------------------------------
@dataclass
class Difference:
    """How far ``a`` is from ``b`` (both ``[B, C, H, W]``): see the module doc."""

    max_abs: float                  # physical units, the worst channel's
    max_abs_channel: str
    max_normalised: float           # / std
    max_increment_normalised: float  # / diff_std
    per_channel_normalised: dict[str, float] = field(default_factory=dict)
    finite: bool = True
    max_excess_normalised: float = 0.0  # beyond 2 ulp of the value, / std (what parity checks)

    def as_dict(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs, "max_abs_diff_channel": self.max_abs_channel,
                "max_abs_diff_normalised": self.max_normalised,
                "max_abs_diff_increment_normalised": self.max_increment_normalised,
                "max_excess_normalised": self.max_excess_normalised,
                "per_channel_normalised": self.per_channel_normalised}


def difference(a: np.ndarray, b: np.ndarray, statistics: Mapping[str, np.ndarray], channels: Sequence[str]) -> Difference:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.shape != b64.shape:
        raise SowcastError(f"output shapes differ: {a64.shape} vs {b64.shape}")
    finite = bool(np.all(np.isfinite(a64)) and np.all(np.isfinite(b64)))
    diff = np.abs(a64 - b64)
    diff = np.where(np.isfinite(diff), diff, np.inf)
    per_channel = diff.max(axis=(0, 2, 3)) if diff.size else np.zeros(len(channels))
    std = safe_std(statistics["std"], statistics["mean"])
    ulp2 = 2.0 * float(np.finfo(np.float32).eps) * np.maximum(np.abs(a64), np.abs(b64))
    excess = np.maximum(diff - np.where(np.isfinite(ulp2), ulp2, 0.0), 0.0)
    excess_norm = (excess.max(axis=(0, 2, 3)) / std) if diff.size else np.zeros(len(channels))
    dstd = safe_std(statistics["diff_std"], statistics["diff_mean"])
    norm = per_channel / std
    worst = int(np.argmax(norm)) if norm.size else 0
    return Difference(max_abs=float(per_channel[worst]) if norm.size else 0.0,
                      max_abs_channel=str(channels[worst]) if norm.size else "",
                      max_normalised=float(norm.max()) if norm.size else 0.0,
                      max_increment_normalised=float((per_channel / dstd).max()) if norm.size else 0.0,
                      per_channel_normalised={str(c): float(v) for c, v in zip(channels, norm)},
                      finite=finite, max_excess_normalised=float(excess_norm.max()) if norm.size else 0.0)


def skill_rmse(prediction: np.ndarray, truth: np.ndarray, statistics: Mapping[str, np.ndarray],
               lat: np.ndarray) -> float:
    """Area-weighted RMSE of ``(prediction - truth) / diff_std`` (module doc); inf if not finite."""
    pred, true = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
    if not np.all(np.isfinite(pred)):
        return float("inf")
    dstd = safe_std(statistics["diff_std"], statistics["diff_mean"])
    err = (pred - true) / dstd[None, :, None, None]
    weights = np.clip(np.cos(np.deg2rad(np.asarray(lat, np.float64))), 0, None)
    weights = weights / weights.mean() if weights.sum() > 0 else np.ones_like(weights)  # as Grid.cell_area_weights
    return float(np.sqrt(np.mean(err ** 2 * weights[None, None, :, None])))


@dataclass
class ParityReport:
    """fp32 onnxruntime vs torch eager."""

    random: Difference
    random_batch1: Difference
    real: Difference | None
    tolerance: float
    n_random: int
    n_real: int
    real_skipped: str | None = None   # why there were no real windows
    rmse_torch: float | None = None   # skill of torch and onnxruntime on the real windows
    rmse_onnx: float | None = None
    noise: bool = False               # a stochastic model: both sides got the same noise draw

    @property
    def worst(self) -> float:
        """The largest normalised difference beyond float32 resolution (what is checked)."""
        values = [self.random.max_excess_normalised, self.random_batch1.max_excess_normalised]
        if self.real is not None:
            values.append(self.real.max_excess_normalised)
        return max(values)

    @property
    def ok(self) -> bool:
        diffs = [self.random, self.random_batch1] + ([self.real] if self.real is not None else [])
        return all(d.finite for d in diffs) and self.worst <= self.tolerance

    def as_manifest(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "measure": ("max |onnxruntime - torch| over all values; normalised = divided by the channel std; "
                        "checked: max(|diff| - 2 ulp(value), 0) / std <= tolerance"),
            "tolerance": self.tolerance,
            "max_excess_normalised": self.worst,
            "passed": self.ok,
            "max_abs_diff_random": self.random.max_abs,
            "max_abs_diff_random_normalised": max(self.random.max_normalised, self.random_batch1.max_normalised),
            "max_abs_diff_real": self.real.max_abs if self.real is not None else None,
            "max_abs_diff_real_normalised": self.real.max_normalised if self.real is not None else None,
            "random": self.random.as_dict(), "random_batch1": self.random_batch1.as_dict(),
            "real": self.real.as_dict() if self.real is not None else None,
            "n_random": self.n_random, "n_real": self.n_real, "batch_sizes": [1, self.n_random],
            "runtime": "onnxruntime CPUExecutionProvider",
            "noise": ("the same standard normal draw fed to torch and onnxruntime (numpy default_rng([seed, "
                      f"{NOISE_STREAM:#x}]))") if self.noise else None,
        }
        if self.real_skipped:
            out["real_skipped"] = self.real_skipped
        if self.rmse_torch is not None:
            out["skill_rmse_torch"] = self.rmse_torch
            out["skill_rmse_onnx"] = self.rmse_onnx
        return out

    def summary(self) -> str:
        worst_random = max(self.random.max_normalised, self.random_batch1.max_normalised)
        parts = [(f"random{' with noise' if self.noise else ''} (batch {self.n_random} and 1): max abs diff {self.random.max_abs:.3g} "
                  f"({self.random.max_abs_channel}), normalised {worst_random:.2g}")]
        if self.real is not None:
            parts.append(f"real ({self.n_real} windows): {self.real.max_abs:.3g} ({self.real.max_abs_channel}), "
                         f"normalised {self.real.max_normalised:.2g}")
        else:
            parts.append(f"real windows skipped ({self.real_skipped})")
        return "; ".join(parts) + (f"; beyond float32 resolution {self.worst:.2g} "
                                   f"(tolerance {self.tolerance:g}, normalised)")


def check_parity(model: Any, session: Any, random: Batch, real: Batch | None, statistics: Mapping[str, np.ndarray],
                 channels: Sequence[str], lat: np.ndarray, tolerance: float,
                 real_skipped: str | None = None) -> tuple[ParityReport, dict[str, np.ndarray]]:
    """Compare onnxruntime with torch on the random batch (whole and its first sample: two
    batch sizes through the dynamic batch dim) and the real windows, each with its ``noise``
    for a stochastic model (:func:`add_noise`). Returns the report and
    the onnxruntime outputs (``random``, ``real``) for comparing variants against."""
    onnx_random = run_ort(session, random)
    d_random = difference(onnx_random, run_torch(model, random), statistics, channels)
    one = take(random, slice(0, 1))
    d_one = difference(run_ort(session, one), run_torch(model, one), statistics, channels)
    outputs = {"random": onnx_random}
    d_real, rmse_t, rmse_o = None, None, None
    if real is not None:
        onnx_real = run_ort(session, real)
        torch_real = run_torch(model, real)
        d_real = difference(onnx_real, torch_real, statistics, channels)
        outputs["real"] = onnx_real
        rmse_t = skill_rmse(torch_real, real["targets"], statistics, lat)
        rmse_o = skill_rmse(onnx_real, real["targets"], statistics, lat)
    report = ParityReport(random=d_random, random_batch1=d_one, real=d_real, tolerance=float(tolerance),
                          n_random=len(random["inputs"]), n_real=0 if real is None else len(real["inputs"]),
                          real_skipped=real_skipped, rmse_torch=rmse_t, rmse_onnx=rmse_o, noise="noise" in random)
    return report, outputs


# -- the rollout check of a variant -------------------------------------------------------------
@dataclass
class WeeklyClimate:
    """The store's climate of 7-day means: ``sigma [C]`` (pooled std) and ``terciles [2, C, H, W]``."""

    sigma: np.ndarray
    terciles: np.ndarray
    n_weeks: int


def weekly_climate(states: np.ndarray, steps_per_week: int) -> WeeklyClimate:
    """From states ``[T, C, H, W]``: the means of non-overlapping weeks, their per-point
    1/3 and 2/3 quantiles, and ``sigma_c = sqrt(mean over points of the per-point variance)``
    (ddof 1; NaN points left out)."""
    n_weeks = len(states) // int(steps_per_week)
    if n_weeks < 2:
        raise SowcastError(f"the store holds {len(states)} steps: fewer than 2 weeks for the weekly climate")
    weeks = np.asarray(states[:n_weeks * steps_per_week], np.float64)
    weeks = weeks.reshape(n_weeks, steps_per_week, *weeks.shape[1:]).mean(axis=1)  # [W, C, H, W]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points
        variance = np.nanvar(weeks, axis=0, ddof=1)
        sigma = np.sqrt(np.nanmean(variance.reshape(variance.shape[0], -1), axis=1))
        terciles = np.nanquantile(weeks, [1 / 3, 2 / 3], axis=0)
    sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nan)
    return WeeklyClimate(sigma=sigma, terciles=terciles, n_weeks=n_weeks)


@dataclass
class RolloutSetup:
    """What every model of the check runs on: ``start`` (inputs ``[B, T, C, H, W]``, static,
    forcings ``[B, T + n_steps, F, H, W]``), members ``n_inits x n_members`` (member-major per init)."""

    start: Batch
    n_steps: int
    steps_per_week: int
    n_inits: int
    n_members: int
    climate: WeeklyClimate
    noise_shape: tuple[int, int] | None
    seed: int = 0
    fp32_weekly: np.ndarray | None = None  # [B, n_weeks, C, H, W] of the fp32 model


def rollout_setup(source: Any, real: Batch | None, noise_shape: Sequence[int] | None, seed: int = 0,
                  days: int = ROLLOUT_DAYS) -> tuple[RolloutSetup | None, str | None]:
    """The check's inputs from the store's windows (``source``, a WindowSource) and the real
    parity batch; ``(None, why not)`` when there are none."""
    from sowcast.data.forcings import compute_forcings

    if source is None or real is None or not len(real["inputs"]):
        return None, "no real initial conditions (give export.store) for the 46-day rollout check"
    step = pd.Timedelta(source.time_step)
    per_day, per_week = pd.Timedelta("1D") / step, pd.Timedelta("7D") / step
    if per_day != int(per_day) or per_week < 1:
        return None, f"a time step of {step} does not divide a day"
    n_steps, per_week = int(days * per_day), int(per_week)
    if n_steps < per_week:
        return None, f"a {days}-day rollout holds no whole week"
    n_times = len(source.times)
    first = max(n_times - int(CLIMATE_MAX_DAYS * per_day), 0)
    try:
        climate = weekly_climate(source._read_states(first, n_times), per_week)
    except SowcastError as exc:
        return None, str(exc)
    pick = window_indices(len(real["inputs"]), ROLLOUT_INITS)
    members = ROLLOUT_MEMBERS if noise_shape is not None else 1
    t_in = real["inputs"].shape[1]
    forcings = []
    for i in pick:
        start = pd.Timestamp(int(real["time"][i])) - (t_in - 1) * step
        f = compute_forcings(pd.date_range(start, periods=t_in + n_steps, freq=step).values,
                             source.grid.lat, source.grid.lon, step)
        forcings.append(np.stack([f[n] for n in source.forcing_names], axis=1))
    rep = np.repeat(np.arange(len(pick)), members)
    batch = {"inputs": real["inputs"][pick][rep], "static": real["static"][pick][rep],
             "forcings": np.stack(forcings)[rep].astype(np.float32)}
    return RolloutSetup(start=batch, n_steps=n_steps, steps_per_week=per_week, n_inits=len(pick),
                        n_members=members, climate=climate, seed=int(seed),
                        noise_shape=None if noise_shape is None else tuple(int(n) for n in noise_shape)), None


def weekly_rollout(session: Any, setup: RolloutSetup) -> np.ndarray:
    """Weekly means ``[B, n_weeks, C, H, W]`` of an onnxruntime rollout of ``setup.n_steps``
    steps (each prediction fed back; step ``k``'s noise from ``default_rng([seed,
    NOISE_STREAM, k])``, the same for every model)."""
    window = np.array(setup.start["inputs"], np.float32)
    t_in, n_weeks = window.shape[1], setup.n_steps // setup.steps_per_week
    sums = np.zeros((window.shape[0], n_weeks, *window.shape[2:]), np.float64)
    for k in range(n_weeks * setup.steps_per_week):
        batch = {"inputs": window, "static": setup.start["static"],
                 "forcings": setup.start["forcings"][:, k:k + t_in + 1]}
        if setup.noise_shape is not None:
            rng = np.random.default_rng([setup.seed, NOISE_STREAM, k])
            batch["noise"] = rng.standard_normal((len(window), *setup.noise_shape), dtype=np.float32)
        state = run_ort(session, batch)
        sums[:, k // setup.steps_per_week] += state
        window = np.concatenate([window[:, 1:], state[:, None]], axis=1)
    return sums / setup.steps_per_week


@dataclass
class RolloutComparison:
    """A variant's weekly means and tercile probabilities against fp32's (module doc)."""

    max_weekly_diff: float     # max |diff| of weekly means / sigma_week
    channel: str               # where it is largest
    tercile_moved: float       # fraction of tercile probabilities moved by more than TERCILE_POINT
    finite: bool
    days: int
    n_inits: int
    n_members: int
    n_weeks: int

    @property
    def ok(self) -> bool:
        return self.finite and self.max_weekly_diff <= ROLLOUT_TOLERANCE and self.tercile_moved <= ROLLOUT_TOLERANCE

    def summary(self) -> str:
        if not self.finite:
            return f"{self.days}-day rollout not finite"
        return (f"{self.days}-day rollout ({self.n_inits} starts x {self.n_members} member(s), {self.n_weeks} weeks): "
                f"weekly means within {100 * self.max_weekly_diff:.3g} % of the weekly std ({self.channel}), "
                f"{100 * self.tercile_moved:.3g} % of tercile probabilities moved > {100 * TERCILE_POINT:g} point "
                f"(limit {100 * ROLLOUT_TOLERANCE:g} % each)")

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "starts": self.n_inits, "members": self.n_members, "weeks": self.n_weeks,
                "max_weekly_mean_diff_in_weekly_std": self.max_weekly_diff if self.finite else None,
                "max_weekly_mean_diff_channel": self.channel,
                "tercile_probabilities_moved": self.tercile_moved if self.finite else None,
                "tolerance": ROLLOUT_TOLERANCE, "passed": self.ok}


def tercile_probabilities(weekly: np.ndarray, terciles: np.ndarray, n_inits: int) -> np.ndarray:
    """``[inits, weeks, 3, C, H, W]``: the members' fraction below, between and above the terciles."""
    category = (weekly > terciles[0]).astype(np.int8) + (weekly > terciles[1]).astype(np.int8)
    category = category.reshape(n_inits, -1, *category.shape[1:])  # [inits, members, weeks, C, H, W]
    return np.stack([(category == k).mean(axis=1) for k in range(3)], axis=2)


def compare_rollouts(variant: np.ndarray, fp32: np.ndarray, setup: RolloutSetup,
                     channels: Sequence[str]) -> RolloutComparison:
    """:class:`RolloutComparison` of two :func:`weekly_rollout` results."""
    finite = bool(np.all(np.isfinite(variant)))
    sigma = setup.climate.sigma
    diff = np.abs(np.asarray(variant, np.float64) - fp32)
    per_channel = np.nanmax(np.moveaxis(diff, 2, 0).reshape(len(sigma), -1), axis=1) / sigma
    per_channel = np.where(np.isfinite(per_channel), per_channel, 0.0)
    worst = int(np.argmax(per_channel))
    moved = np.abs(tercile_probabilities(variant, setup.climate.terciles, setup.n_inits)
                   - tercile_probabilities(fp32, setup.climate.terciles, setup.n_inits)) > TERCILE_POINT
    return RolloutComparison(max_weekly_diff=float(per_channel[worst]) if finite else float("inf"),
                             channel=str(channels[worst]), tercile_moved=float(moved.mean()), finite=finite,
                             days=int(round(setup.n_steps * 7 / setup.steps_per_week)),
                             n_inits=setup.n_inits, n_members=setup.n_members, n_weeks=int(fp32.shape[1]))
