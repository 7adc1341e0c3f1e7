"""Validation on held-out years: latitude-weighted RMSE per channel at several leads, with
persistence and climatology as the baselines to beat.

For each of ``train.validation_windows`` windows spread evenly over the validation range
(``train.validation_range``, years the training range does not touch), the model rolls
out ``max(leads)`` steps from the window's inputs. At each lead ``L`` (in time steps) and
channel ``c``::

    RMSE[L, c] = sqrt( mean over windows of  mean_hw( a[h] * (f - o) ** 2 ) )

with ``a`` the latitude weights of :func:`sowcast.train.losses.latitude_weights` (mean 1),
i.e. WeatherBench 2's RMSE: area-weighted, the square root taken after averaging over
forecasts. In physical units. The same for two reference forecasts:

* **persistence**: the last input state, for every lead;
* **climatology**: the mean of the training years for the valid time's day of year (and
  time of day for sub-daily steps), smoothed with a 31-day circular window
  (:func:`compute_climatology`; WeatherBench 2 uses a 61-day window over 30 years). If the
  training range holds less than a year, or such a table would exceed
  ``max_bytes`` (1 GiB), the store's per-channel mean (its statistics) stands in, and the
  log says so (``climatology`` column of the metrics is then ``store_mean``).

``loss``: the training loss (MSE, or the afCRPS of a stochastic model; channel weights
included) over the whole rollout ``1..max(leads)``; the best checkpoint is chosen by it.
``bias[L, c]`` is the mean error, area-weighted the same way (``mean over windows of
mean_hw(a[h] * (f - o))``), of the model and (``bias_climatology``) of the climatology: a model
that drifts wet or warm shows it here even where its RMSE hides it, and the climatology's says
how far the validation years themselves lie from the training years' mean.

A stochastic model rolls out the loss's ``M`` members per window: ``rmse`` and ``bias`` are then
those of their mean, and ``spread`` ``sqrt(area-weighted mean of the unbiased member
variance)``. For a reliable ensemble, ``rmse = sqrt((M + 1) / M) * spread`` (Fortin et al.
2014), so ``spread / rmse`` should be near ``sqrt(M / (M + 1))`` (0.82 for 2 members).
Windows are shared among DDP ranks and the sums all-reduced, so every rank returns the same
numbers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from sowcast.atomic import atomic_path
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.train.losses import AreaWeightedLoss

CLIMATOLOGY_WINDOW_DAYS = 31
VALIDATION_NOISE_SEED = 20_240_917


# -- climatology --------------------------------------------------------------------------------
@dataclass
class Climatology:
    """Mean state by day of year (1..366) and time-of-day bin, or one mean per channel."""

    kind: str                       # "day_of_year" | "store_mean"
    values: np.ndarray              # [366, n_hours, C, H, W] or [C, 1, 1]
    hours: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # time-of-day bins (hours)

    def at(self, times: np.ndarray) -> np.ndarray:
        """Climatological states ``[len(times), C, H, W]`` (or broadcastable) at ``times``."""
        times = pd.DatetimeIndex(np.asarray(times).astype("datetime64[ns]"))
        if self.kind == "store_mean":
            return np.broadcast_to(self.values[None], (len(times), *self.values.shape))
        doy = times.day_of_year.values - 1
        hour_bin = np.searchsorted(self.hours, times.hour.values)
        hour_bin = np.clip(hour_bin, 0, len(self.hours) - 1)
        return self.values[doy, hour_bin]

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, kind=np.array(self.kind), values=self.values, hours=self.hours)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Climatology:
        with np.load(path) as z:
            return cls(str(z["kind"]), z["values"], z["hours"])


def _store_mean(source: WindowSource) -> Climatology:
    return Climatology("store_mean", source.statistics["mean"].astype(np.float32)[:, None, None])


def compute_climatology(source: WindowSource, window_days: int = CLIMATOLOGY_WINDOW_DAYS,
                        max_bytes: int = 1 << 30, block: int = 64, progress: bool = False) -> Climatology:
    """Day-of-year climatology of every state ``source``'s windows touch (the training range).

    Falls back to the store's mean (see the module docstring).
    """
    lo = source._first - (source.n_input_steps - 1)
    hi = source._first + len(source) + source.n_target_steps
    times = pd.DatetimeIndex(source.times[lo:hi])
    n_chan, (n_lat, n_lon) = len(source.channels), source.grid.shape
    hours = np.unique(times.hour.values).astype(np.int64)
    size = 366 * len(hours) * n_chan * n_lat * n_lon * 8
    if len(times) == 0 or times[-1] - times[0] < pd.Timedelta(days=365) or size > max_bytes:
        return _store_mean(source)
    sums = np.zeros((366, len(hours), n_chan, n_lat, n_lon), np.float64)
    counts = np.zeros((366, len(hours)), np.float64)
    doy = times.day_of_year.values - 1
    hbin = np.searchsorted(hours, times.hour.values)
    starts = range(lo, hi, block)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="climatology", unit="block", leave=False)
    for t0 in starts:
        t1 = min(t0 + block, hi)
        states = source._read_states(t0, t1).astype(np.float64)
        for k in range(t1 - t0):
            i = t0 - lo + k
            sums[doy[i], hbin[i]] += states[k]
            counts[doy[i], hbin[i]] += 1
    # Circular smoothing over the day of year, weighted by the counts (Feb 29 has few).
    half = max(int(window_days) // 2, 0)
    kernel_sums = np.zeros_like(sums)
    kernel_counts = np.zeros_like(counts)
    for shift in range(-half, half + 1):
        kernel_sums += np.roll(sums, shift, axis=0)
        kernel_counts += np.roll(counts, shift, axis=0)
    if (kernel_counts == 0).any():
        return _store_mean(source)
    values = kernel_sums / kernel_counts[:, :, None, None, None]
    return Climatology("day_of_year", values.astype(np.float32), hours)


def load_or_compute_climatology(source: WindowSource, path: Path | None, is_main: bool, distributed: bool,
                                progress: bool = False) -> Climatology:
    """Rank 0 computes (or reuses ``path``) and saves; the others wait and load it."""
    if path is None:
        return compute_climatology(source, progress=progress)
    if is_main and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        compute_climatology(source, progress=progress).save(path)
    if distributed:
        dist.barrier()
    return Climatology.load(path)


# -- validation ---------------------------------------------------------------------------------
def validation_indices(n_available: int, n_windows: int) -> np.ndarray:
    """``n_windows`` window indices spread evenly over ``0 .. n_available - 1``."""
    n = min(int(n_windows), int(n_available))
    if n < 1:
        raise SowcastError("no validation windows")
    return np.unique(np.linspace(0, n_available - 1, n).round().astype(np.int64))


@dataclass
class ValidationResult:
    loss: float
    leads: list[int]
    channels: list[str]
    rmse: np.ndarray              # [n_leads, C]
    rmse_persistence: np.ndarray  # [n_leads, C]
    rmse_climatology: np.ndarray  # [n_leads, C]
    climatology: str
    n_windows: int
    spread: np.ndarray | None = None   # [n_leads, C], stochastic models only
    bias: np.ndarray | None = None              # [n_leads, C], mean error of the model (its members' mean)
    bias_climatology: np.ndarray | None = None  # [n_leads, C], mean error of the climatology

    def rows(self, step: int, epoch: int) -> list[dict[str, Any]]:
        """Rows for :class:`sowcast.train.metrics_log.MetricsLog`."""
        rows: list[dict[str, Any]] = [{"step": step, "epoch": epoch, "split": "val", "metric": "loss",
                                       "value": float(self.loss)}]
        tables = [("rmse", self.rmse), ("rmse_persistence", self.rmse_persistence),
                  ("rmse_climatology", self.rmse_climatology)]
        if self.spread is not None:
            tables.append(("spread", self.spread))
        if self.bias is not None:
            tables += [("bias", self.bias), ("bias_climatology", self.bias_climatology)]
        for name, table in tables:
            for i, lead in enumerate(self.leads):
                for c, channel in enumerate(self.channels):
                    rows.append({"step": step, "epoch": epoch, "split": "val", "metric": name,
                                 "lead": lead, "channel": channel, "value": float(table[i, c])})
        return rows

    def summary(self) -> str:
        """One line: mean over channels of RMSE / persistence RMSE and / climatology RMSE per lead."""
        parts = []
        for i, lead in enumerate(self.leads):
            rp = np.mean(self.rmse[i] / np.maximum(self.rmse_persistence[i], 1e-12))
            rc = np.mean(self.rmse[i] / np.maximum(self.rmse_climatology[i], 1e-12))
            ratio = "" if self.spread is None else \
                f", spread/error {np.mean(self.spread[i] / np.maximum(self.rmse[i], 1e-12)):.2f}"
            parts.append(f"lead {lead}: {rp:.2f} of persistence, {rc:.2f} of climatology{ratio}")
        return f"val loss {self.loss:.4g}; RMSE " + "; ".join(parts)


class Validator:
    """Validation of a model on ``source`` (its ``n_target_steps`` at least ``max(leads)``)."""

    def __init__(self, source: WindowSource, leads: Sequence[int], n_windows: int, loss_fn: AreaWeightedLoss,
                 climatology: Climatology, batch_size: int = 4, rank: int = 0, world_size: int = 1):
        self.leads = sorted({int(x) for x in leads})
        if not self.leads or self.leads[0] < 1:
            raise SowcastError(f"train.validation_leads must be positive step counts, not {list(leads)}")
        if source.n_target_steps < self.leads[-1]:
            raise ValueError("the validation source holds fewer target steps than the longest lead")
        self.source = source
        self.indices = validation_indices(len(source), n_windows)
        self.loss_fn = loss_fn
        self.climatology = climatology
        self.batch_size = max(int(batch_size), 1)
        self.rank, self.world_size = int(rank), int(world_size)

    @torch.no_grad()
    def run(self, model: torch.nn.Module, device: torch.device, autocast: Any = None) -> ValidationResult:
        """Roll ``model`` (the bare model, not the DDP wrapper) out on this rank's windows."""
        n_steps = self.leads[-1]
        lead_idx = torch.tensor([lead - 1 for lead in self.leads], device=device)
        n_chan = len(self.source.channels)
        # sums[k, l, c]: model, persistence, climatology; extra: loss sum, window count
        members = self.loss_fn.members
        sums = torch.zeros(4, len(self.leads), n_chan, dtype=torch.float64, device=device)
        errors = torch.zeros(2, len(self.leads), n_chan, dtype=torch.float64, device=device)  # model, climatology
        extra = torch.zeros(2, dtype=torch.float64, device=device)
        mine = self.indices[self.rank::self.world_size]
        # the same noise at every validation (scores comparable between steps; training's stream untouched)
        generator = torch.Generator(device=device)
        generator.manual_seed(VALIDATION_NOISE_SEED + self.rank)
        was_training = model.training
        model.eval()
        t_in = self.source.n_input_steps
        try:
            for b0 in range(0, len(mine), self.batch_size):
                windows = [self.source[int(i)] for i in mine[b0:b0 + self.batch_size]]
                inputs = torch.from_numpy(np.stack([w["inputs"] for w in windows])).to(device)
                targets = torch.from_numpy(np.stack([w["targets"] for w in windows])).to(device)[:, :n_steps]
                forcings = torch.from_numpy(np.stack([w["forcings"] for w in windows])).to(device)[:, :t_in + n_steps]
                static = torch.from_numpy(np.stack([w["static"] for w in windows])).to(device)
                inputs_m, forcings_m, static_m = self.loss_fn.side_by_side(inputs, forcings, static)
                noise = model.draw_noise(inputs_m.shape[0], n_steps, inputs_m, generator)
                with autocast if autocast is not None else contextlib.nullcontext():
                    pred = model.rollout(inputs_m, forcings_m, static_m, n_steps, noise)
                pred = self.loss_fn.grouped(pred.float())
                extra[0] += float(self.loss_fn(pred, targets)) * len(windows)
                if members > 1:
                    var = pred.index_select(2, lead_idx).var(dim=1) * self.loss_fn.point_weights
                    sums[3] += var.mean(dim=(-2, -1)).sum(dim=0).double()
                    pred = pred.mean(dim=1)
                extra[1] += len(windows)
                valid = np.stack([self.source.window_times(int(i))[t_in:t_in + n_steps]
                                  for i in mine[b0:b0 + self.batch_size]])           # [B, n]
                clim = np.stack([self.climatology.at(v) for v in valid]).astype(np.float32)
                clim = torch.from_numpy(np.ascontiguousarray(clim)).to(device)      # [B, n, C, H, W] or broadcast
                truth = targets.index_select(1, lead_idx)
                persistence = inputs[:, -1:].expand_as(truth)
                for k, forecast in enumerate((pred.index_select(1, lead_idx), persistence,
                                              clim.expand_as(targets).index_select(1, lead_idx))):
                    diff = forecast - truth
                    weighted = diff * self.loss_fn.point_weights
                    sums[k] += (weighted * diff).mean(dim=(-2, -1)).sum(dim=0).double()
                    if k != 1:   # persistence's mean error is the change over the lead: not reported
                        errors[k // 2] += weighted.mean(dim=(-2, -1)).sum(dim=0).double()
        finally:
            model.train(was_training)
        if dist.is_available() and dist.is_initialized() and self.world_size > 1:
            dist.all_reduce(sums)
            dist.all_reduce(errors)
            dist.all_reduce(extra)
        count = max(float(extra[1]), 1.0)
        rmse = (sums / count).sqrt().cpu().numpy()
        bias = (errors / count).cpu().numpy()
        return ValidationResult(loss=float(extra[0]) / count, leads=list(self.leads),
                                channels=list(self.source.channels), rmse=rmse[0], rmse_persistence=rmse[1],
                                rmse_climatology=rmse[2], climatology=self.climatology.kind,
                                n_windows=int(extra[1]), spread=rmse[3] if members > 1 else None,
                                bias=bias[0], bias_climatology=bias[1])
