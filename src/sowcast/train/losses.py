"""Training losses: area-weighted MSE (deterministic models) and the almost fair CRPS
(stochastic models), both on the one-step increment in units of its spread.

For a prediction ``p`` and target ``y`` (physical units, ``[..., C, H, W]``)::

    loss = mean over (..., c, h, w) of  v[c] * a[h] * ((p - y) / diff_std[c]) ** 2

* ``a[h]``: latitude weights (:func:`point_weights`: 0 at points a channel's ``<name>_valid``
  mask marks as without data, such as the sea of a land-only product, and renormalised), proportional to the area of a grid row, normalised to mean 1
  over the rows (:func:`latitude_weights`; GraphCast's ``normalized_latitude_weights`` and
  WeatherBench 2's area weights: ``cos(lat)``, with the polar cap's area for a row at
  +-90 degrees);
* ``diff_std[c]``: the standard deviation of the one-step change of channel ``c`` (store
  statistics). ``p - y = (p - x_t) - (y - x_t)``: this is the error of the predicted
  increment, normalised by its spread, as GraphCast trains it;
* ``v[c]``: per-variable weights from ``train.variable_weights``, a map of channel-name
  prefixes to weights (the longest matching prefix wins; default 1), e.g.
  ``{total_precipitation: 2.0, temperature: 1.0}`` (``temperature`` matches
  ``temperature_500`` and ``temperature_850``, not ``2m_temperature``).

With all ``v`` equal to 1 the loss is the mean squared normalised error; the weights only
shift emphasis between channels.

A model with log-space channels (``model.log_transform``, :mod:`sowcast.model.normalization`)
is scored on those channels as it predicts them: ``p`` and ``y`` become
``log(1 + max(., 0) / k)`` and ``diff_std[c]`` is that of the log-space change. On channels
the model predicts directly (``model.direct``) ``diff_std[c]`` becomes ``std[c]``, the spread
of the field itself (GraphCast's scale for its target-only variables).

**afCRPS** (:class:`AreaWeightedAFCRPS`; Lang et al. 2024, "AIFS-CRPS", arXiv 2412.15832,
eq. 4) for ``M >= 2`` members ``x_j`` of one sample and the truth ``y``, per point::

    afCRPS_alpha = 1/M sum_j |x_j - y|  -  (1 - eps) / (2 M (M - 1)) sum_{j != k} |x_j - x_k|,
    eps = (1 - alpha) / M

i.e. ``alpha * fCRPS + (1 - alpha) * CRPS``: ``alpha = 1`` is the fair CRPS (Ferro 2014;
unbiased for the CRPS of the ensemble's distribution, so it does not reward too little
spread), ``alpha = 0`` the plain ensemble CRPS; AIFS-CRPS trains with ``alpha = 0.95``,
which keeps the fair score's calibration and avoids its degenerate solutions when the
members collapse. Errors are normalised by ``diff_std[c]`` and weighted by ``a[h] v[c]``
as above, then averaged over samples, lead times and points.

**Rollout-mean afCRPS** (``train.aggregate_weights``, ``{prefix: w}`` as ``variable_weights``,
unlisted channels 0; afCRPS only): a rollout of ``n >= 2`` steps adds, per channel, ``w`` times
the afCRPS of the members' mean over the ``n`` steps against the truth's, with the same
normalisation and weights. The per-step score judges each day's
marginal distribution; it does not see whether a member's days hang together, so an ensemble
can be right day by day and too narrow over a week (the demo's weekly rain spread/error
0.62-0.67 after week 1). The mean over the rollout is the quantity the weekly products
issue; a proper score on it asks for members whose days vary together as the truth's do
(the CRPS of a temporal aggregate, as the scores of S2S verification aggregate by week).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from sowcast.errors import SowcastError
from sowcast.model.normalization import log_offset_vector, log_space


def latitude_weights(lat: Sequence[float] | np.ndarray) -> np.ndarray:
    """Row area weights for latitudes ``lat`` (degrees), normalised to mean 1 (float64).

    ``cos(lat)`` for rows off the poles. If a row lies on a pole (a grid that includes the
    poles, such as WeatherBench 2's 1.5-degree grid), every row gets its band's area,
    ``cos(lat) * sin(d/2)``, and the pole rows their cap's, ``sin(d/4) ** 2`` (``d`` the
    spacing), as in GraphCast.
    """
    lat = np.asarray(lat, np.float64)
    if lat.ndim != 1 or lat.size == 0:
        raise SowcastError("latitudes must be a non-empty 1-D array")
    weights = np.cos(np.deg2rad(lat))
    poles = np.isclose(np.abs(lat), 90.0)
    if poles.any():
        if lat.size < 2:
            raise SowcastError("a grid of one row on a pole has no area")
        d = float(np.abs(np.diff(lat)).min())
        weights = weights * np.sin(np.deg2rad(d / 2))
        weights[poles] = np.sin(np.deg2rad(d / 4)) ** 2
    weights = np.clip(weights, 0.0, None)
    if weights.sum() <= 0:
        raise SowcastError("latitude weights sum to zero")
    return weights / weights.mean()


def variable_weights(channels: Sequence[str], weights: Mapping[str, float] | None, default: float = 1.0,
                     key: str = "train.variable_weights") -> np.ndarray:
    """One weight per channel from ``{prefix: weight}`` (longest prefix wins, else ``default``)."""
    weights = dict(weights or {})
    out = np.full(len(channels), float(default), np.float64)
    for prefix, w in weights.items():
        if not any(str(c).startswith(str(prefix)) for c in channels):
            raise SowcastError(f"{key}: {prefix!r} matches no channel; channels are {', '.join(channels)}")
        if float(w) < 0:
            raise SowcastError(f"{key}: weight of {prefix!r} is negative ({w})")
    for i, c in enumerate(channels):
        matches = [p for p in weights if str(c).startswith(str(p))]
        if matches:
            out[i] = float(weights[max(matches, key=len)])
    return out


def point_weights(lat: Sequence[float] | np.ndarray, n_channels: int, valid: np.ndarray | None = None) -> np.ndarray:
    """``[C, H, W]``: latitude weights at valid points, 0 where ``valid`` (bool ``[C, H, W]``)
    is False (no source data: a land-only field's sea), each channel's mean over the grid 1."""
    a = latitude_weights(lat)
    if valid is None:
        return np.broadcast_to(a[None, :, None], (n_channels, a.size, 1)).copy()
    valid = np.asarray(valid, bool)
    if valid.shape[:2] != (n_channels, a.size):
        raise ValueError(f"valid mask {valid.shape} is not [{n_channels}, {a.size}, W]")
    w = valid * a[None, :, None]
    mean = w.mean(axis=(1, 2), keepdims=True)
    if (mean <= 0).any():
        raise SowcastError("a channel has no valid point (its <name>_valid mask is all False)")
    return w / mean


class AreaWeightedLoss(nn.Module):
    """The weights both losses share: latitude ``a[h]``, ``1 / diff_std[c]`` and ``v[c]``;
    and the ``members`` rolled out per window (1 for the MSE)."""

    members = 1

    def side_by_side(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Each window ``members`` times in a row of the batch: ``[B, ...] -> [B * M, ...]``."""
        if self.members == 1:
            return tensors
        return tuple(x.repeat_interleave(self.members, dim=0) for x in tensors)

    def grouped(self, pred: torch.Tensor) -> torch.Tensor:
        """The rollouts of :meth:`side_by_side` inputs by window: ``[B * M, ...] -> [B, M, ...]``
        (unchanged for one member)."""
        return pred if self.members == 1 else pred.unflatten(0, (-1, self.members))

    def __init__(self, lat: Sequence[float] | np.ndarray, diff_std: Sequence[float] | np.ndarray,
                 channel_weights: Sequence[float] | np.ndarray | None = None,
                 valid: np.ndarray | None = None, log_offsets: Sequence[float] | None = None):
        super().__init__()
        diff_std = np.asarray(diff_std, np.float64)
        offsets = log_offset_vector(log_offsets, diff_std.size)
        # log-space channels are compared as the model predicts them (model/normalization.py)
        self.has_log_channels = bool(np.any(offsets > 0))
        self.register_buffer("log_mask", torch.as_tensor(offsets > 0).view(-1, 1, 1), persistent=False)
        self.register_buffer("log_offset", torch.as_tensor(np.where(offsets > 0, offsets, 1.0), dtype=torch.float32)
                             .view(-1, 1, 1), persistent=False)
        if not np.all(np.isfinite(diff_std)):
            raise SowcastError("diff_std statistics are not finite; re-run 'sowcast data ingest'")
        # A channel that never changes has no spread: count its error in its own units.
        diff_std = np.where(diff_std > 0, diff_std, 1.0)
        c = np.ones_like(diff_std) if channel_weights is None else np.asarray(channel_weights, np.float64)
        if c.shape != diff_std.shape:
            raise ValueError("one channel weight per channel is needed")
        self.register_buffer("lat_weights", torch.tensor(latitude_weights(lat), dtype=torch.float32))
        self.register_buffer("inv_scale", torch.tensor(1.0 / diff_std, dtype=torch.float32))
        self.register_buffer("channel_weights", torch.tensor(c, dtype=torch.float32))
        self.register_buffer("point_weights", torch.tensor(point_weights(lat, len(diff_std), valid), dtype=torch.float32))

    @classmethod
    def from_source(cls, source, weights: Mapping[str, float] | None = None, model=None, **kwargs):
        """For a :class:`sowcast.data.windows.WindowSource` (its grid, channels and diff_std);
        with ``model``, its log-space channels in model space with the model's diff_std, and
        its direct channels with their std."""
        stats = source.statistics
        diff_std = np.array(stats.get("diff_std", stats["std"]), np.float64)
        hyper = getattr(model, "hyperparameters", None)
        hyper = hyper() if callable(hyper) else {}
        offsets = hyper.get("log_offsets")
        # log-space and direct channels: in the unit of what the model predicts (its error_scale)
        own = np.asarray(offsets) > 0 if offsets is not None else np.zeros(diff_std.size, bool)
        own[hyper.get("direct", [])] = True
        if own.any():
            diff_std[own] = model.normalization.error_scale().detach().cpu().numpy()[own]
        return cls(source.grid.lat, diff_std, variable_weights(source.channels, weights),
                   valid=getattr(source, "valid", None), log_offsets=offsets, **kwargs)

    def to_space(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in float32, log-space channels transformed (as the model predicts them)."""
        x = x.float()
        return log_space(x, self.log_mask, self.log_offset) if self.has_log_channels else x

    def weight(self, field: torch.Tensor) -> torch.Tensor:
        """``a[h] v[c] * field`` for a field ``[..., C, H, W]`` already in normalised units."""
        return field * self.point_weights * self.channel_weights[:, None, None]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_space(x) * self.inv_scale[:, None, None]


class AreaWeightedMSE(AreaWeightedLoss):
    """The MSE of the module docstring for fields ``[..., C, H, W]``."""

    def squared_error(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``a[h] * ((p - y) / diff_std[c]) ** 2`` in float32, same shape as ``pred``."""
        err = (self.to_space(pred) - self.to_space(target)) * self.inv_scale[:, None, None]
        return err.square() * self.point_weights

    def per_channel(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Area-weighted normalised MSE per channel ``[C]`` (no channel weights)."""
        se = self.squared_error(pred, target)
        return se.transpose(0, -3).reshape(se.shape[-3], -1).mean(dim=1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
        se = self.squared_error(pred, target) * self.channel_weights[:, None, None]
        return se.mean()


class AreaWeightedAFCRPS(AreaWeightedLoss):
    """The almost fair CRPS of the module docstring: ``pred [B, M, ..., C, H, W]`` (``M``
    members of each sample), ``target [B, ..., C, H, W]``."""

    def __init__(self, lat: Sequence[float] | np.ndarray, diff_std: Sequence[float] | np.ndarray,
                 channel_weights: Sequence[float] | np.ndarray | None = None, members: int = 2,
                 alpha: float = 0.95, valid: np.ndarray | None = None, log_offsets: Sequence[float] | None = None,
                 aggregate_weights: Sequence[float] | np.ndarray | None = None):
        super().__init__(lat, diff_std, channel_weights, valid, log_offsets)
        if int(members) < 2:
            raise SowcastError(f"train.ensemble_members must be at least 2 for the CRPS loss, not {members}")
        if not 0.0 <= float(alpha) <= 1.0:
            raise SowcastError(f"train.crps_alpha must lie in [0, 1], not {alpha}")
        aggregate = np.zeros(len(self.inv_scale)) if aggregate_weights is None else np.asarray(aggregate_weights,
                                                                                              np.float64)
        if aggregate.shape != (len(self.inv_scale),) or not (aggregate >= 0).all():
            raise SowcastError(f"train.aggregate_weights: one weight >= 0 per channel is needed, not {aggregate}")
        self.members, self.alpha = int(members), float(alpha)
        self.aggregates = bool(aggregate.any())
        self.register_buffer("aggregate_weights", torch.tensor(aggregate, dtype=torch.float32), persistent=False)

    def pointwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """afCRPS per point ``[B, ..., C, H, W]`` in normalised units, before weighting."""
        m = pred.shape[1]
        if m != self.members or pred.shape[:1] + pred.shape[2:] != target.shape:
            raise ValueError(f"prediction {tuple(pred.shape)} is not [B, {self.members}, *target] for target "
                             f"{tuple(target.shape)}")
        x, y = self.normalise(pred), self.normalise(target).unsqueeze(1)
        skill = (x - y).abs().mean(dim=1)
        pairs = (x.unsqueeze(1) - x.unsqueeze(2)).abs().sum(dim=(1, 2))       # sum over j != k (j == k adds 0)
        eps = (1.0 - self.alpha) / m
        return skill - (1.0 - eps) / (2.0 * m * (m - 1)) * pairs

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The mean afCRPS; with ``aggregate_weights`` and a rollout ``pred [B, M, n, C, H, W]``,
        ``target [B, n, C, H, W]`` of ``n >= 2`` steps, plus each channel's weight x the afCRPS
        of its means over the ``n`` steps (module doc)."""
        loss = self.weight(self.pointwise(pred, target)).mean()
        if self.aggregates and target.dim() == 5 and target.shape[1] >= 2:
            mean = self.pointwise(pred.mean(dim=2), target.mean(dim=1))
            loss = loss + (self.weight(mean) * self.aggregate_weights[:, None, None]).mean()
        return loss


LOSSES = ("auto", "mse", "afcrps")


def make_loss(t: Mapping, source, model) -> AreaWeightedLoss:
    """The loss ``train.loss`` names for ``model`` (``auto``: afCRPS for a stochastic model,
    MSE for a deterministic one), weighted by ``train.variable_weights``."""
    name = str(t.get("loss", "auto") or "auto").lower()
    if name not in LOSSES:
        raise SowcastError(f"train.loss must be one of {', '.join(LOSSES)}, not {name!r}")
    stochastic = bool(getattr(model, "stochastic", False))
    if name == "auto":
        name = "afcrps" if stochastic else "mse"
    weights = t.get("variable_weights")
    weights = dict(weights) if weights else None
    if name == "mse":
        return AreaWeightedMSE.from_source(source, weights, model=model)
    if not stochastic:
        raise SowcastError("train.loss=afcrps needs a stochastic model (model.noise_channels > 0): "
                           "the members of a deterministic model are all the same")
    try:
        members, alpha = int(t.get("ensemble_members", 2)), float(t.get("crps_alpha", 0.95))
    except (TypeError, ValueError):
        raise SowcastError(f"train.ensemble_members must be an integer and train.crps_alpha a number, "
                           f"not {t.get('ensemble_members')!r} and {t.get('crps_alpha')!r}") from None
    aggregate = t.get("aggregate_weights")
    aggregate = variable_weights(source.channels, dict(aggregate), 0.0, "train.aggregate_weights") if aggregate else None
    return AreaWeightedAFCRPS.from_source(source, weights, model=model, members=members, alpha=alpha,
                                          aggregate_weights=aggregate)
