"""Normalisation of inputs, forcings and static fields, and of the predicted increment.

GraphCast (Lam et al. 2023, Supplement 4.1 / ``graphcast/normalization.py``):

* inputs: ``z = (x - mean) / std`` per channel (statistics over the training period);
* residual target: the network predicts the increment in units of the *standard deviation
  of time differences*, ``out = (x_{t+1} - x_t - diff_mean) / diff_std``, so
  ``x_{t+1} = x_t + diff_mean + diff_std * out``;
* static fields: ``(s - mean) / std`` with the store's ``static_statistics``;
* forcings: fixed, known scales per forcing name (:data:`FORCING_SCALES`): they are
  computed, not stored, so they have no store statistics.

Tiny standard deviations: every ``std`` (and ``diff_std``) is replaced by
``max(std, 1e-6 * |mean|, 1e-12)``. A constant field (a land-sea mask that is all land on a
small domain, a variable that never changes) then normalises to exactly 0 instead of
0/0, and float32 rounding noise of a constant near ``|mean|`` stays O(1). ``1e-12`` is far
below any real spread in the canonical units (specific humidity in the stratosphere
varies by ~1e-8 kg/kg per step).

Log-space channels (``log_offsets[c] = k > 0``, e.g. daily rain with ``k = 1`` mm): the
model sees, predicts and is trained on ``y = log(1 + max(x, 0) / k)`` instead of ``x``
(FourCastNet's precipitation transform, Pathak et al. 2022, section 2.3), and its
statistics (``mean, std, diff_mean, diff_std``) are those of ``y`` over the training
period. Back in physical units ``x = k * (exp(min(max(y, 0), Y_MAX)) - 1) >= 0``. Rain is
skewed (the synthetic monsoon: 62 % dry days, a wet-day mean near 12 mm): predicted as is,
a CRPS-trained ensemble of too-alike members settles on frequent light rain, drier in the
mean than the truth and with too few dry spells; in log space the members' spread is a
spread of intensities and the back-transform restores the long tail.

Direct channels (``direct``, ``model.direct: [total_precipitation]``): the network predicts
the next state itself, not its increment, as an anomaly from the training years' seasonal
cycle ``m(t+1)`` (:mod:`sowcast.data.seasonal_cycle`, harmonics of the year progress
forcing): ``out = (x_{t+1} - m(t+1)) / std`` (in model space), so ``x_{t+1} = m(t+1) + std * out``,
and a network unsure of the weather falls back to the season, not to persistence or to
the annual mean (the demo's residual rain drifted towards ~4 mm/day at 8-16 N: too wet before
the onset, too dry after). GraphCast predicts its target-only precipitation so, and
AIFS treats precipitation as a diagnostic output: a field that decorrelates within a day
has little to gain from ``x_t`` and the residual form starts every member from persistence
(the demo's members had a lag-1 correlation of daily rain of 0.23 against the truth's 0.12).
The state stays an input of the next step.

Seasonal scale of direct channels (``scale_floor = f``, ``model.direct_scale_floor``): the
anomaly is predicted in units of the training years' seasonal standard deviation at each
point, ``x_{t+1} = m(t+1) + s(t+1) * out`` with ``s = sqrt(max(v(t+1), (f * std)**2))`` and
``v`` the harmonic fit of the squared anomaly (:func:`sowcast.data.seasonal_cycle.fit_seasonal_variance`):
the standardised anomaly of climate statistics (the anomaly from the day's climatology over
that day's climatological standard deviation, per point). With one ``std`` for the whole domain, a dry
point in its dry season (rain std near 0.1 mm against the domain's 8 mm) moves by 8 mm per
unit of ``out``: the network's small errors there come out as the light rain that breaks the
dry spells the onset rules look for. The loss keeps the unit ``std`` (:meth:`error_scale`).

Ocean anchor of direct channels (``ocean_channel``, ``model.direct_ocean_index``): the centre
also moves with an ocean index of the last input state, ``m(t+1) + I(t) m_ocean(t+1)``, ``I``
the box mean of that channel less its seasonal fit (:mod:`sowcast.data.ocean_anchor`).

Power of direct channels (``power = p``, ``model.direct_power``, with a seasonal scale): the
anomaly is predicted for ``y = sign(x) |x|**p``, ``x_{t+1} = g(m(t+1) + s(t+1) * out)`` with
``g(y) = sign(y) |y|**(1/p)``, ``m`` and ``v`` fitted to ``y`` and the floor ``f * std**p``;
the loss stays in the physical unit. Rain as its square root (``p = 1/2``) is what censored
regression models of precipitation use (e.g. Messner et al. 2014, Mon. Wea. Rev. 142, 448):
members spread evenly in ``y`` come out skewed in ``x``, with many near-zero values below the
0.1 mm of a rain day and a long tail, as daily rain is; a spread centred on 0 mm in ``x``
puts as many members in 0.1-1 mm drizzle as in 1-10 mm rain.
The centre ``m`` is the mean of ``y`` (``model.direct_power_centre: mean_of_power``) or the
power of the mean of ``x``, ``m = sign(x̄) |x̄|**p`` (``power_of_mean``): for ``p = 1/2``,
``g(m + s z) = m**2 + 2 m s z + s**2 z**2``, so members at ``z = 0`` give the median-like
``(mean of sqrt x)**2`` with the first and the mean rain ``x̄`` with the second, the season a
network unsure of the weather falls back to (Jensen: ``(E sqrt x)**2 <= E x``).

Other channels are not clamped: humidity may come out slightly negative; products clip
where they need physical values. All statistics are persistent buffers, so a state_dict
carries the normalisation its weights were trained with; the log offsets are a
hyperparameter of the model (``Forecaster(log_offsets=...)``), not a buffer in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from sowcast.data.seasonal_cycle import HARMONICS, harmonic_terms
from sowcast.errors import SowcastError

STD_RELATIVE_FLOOR = 1e-6
STD_ABSOLUTE_FLOOR = 1e-12
MEAN_OF_POWER, POWER_OF_MEAN = "mean_of_power", "power_of_mean"   # model.direct_power_centre
POWER_CENTRES = (MEAN_OF_POWER, POWER_OF_MEAN)
Y_MAX = 20.0  # log space ceiling: k * e^20 is 5e8 k, beyond any rain; keeps exp() finite

# name -> (offset, scale): TOA insolation relative to S0/4 = 340.25 W m-2 (the global and
# annual mean; values span about -1 .. 3), clock features are already in [-1, 1].
FORCING_SCALES: dict[str, tuple[float, float]] = {
    "toa_incident_solar_radiation": (1361.0 / 4, 1361.0 / 4),
    "sin_year_progress": (0.0, 1.0),
    "cos_year_progress": (0.0, 1.0),
    "sin_local_time_of_day": (0.0, 1.0),
    "cos_local_time_of_day": (0.0, 1.0),
}


def safe_std(std: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``max(std, 1e-6 |mean|, 1e-12)`` as float32 (see the module doc)."""
    std, mean = np.asarray(std, np.float64), np.asarray(mean, np.float64)
    return np.maximum(np.maximum(std, STD_RELATIVE_FLOOR * np.abs(mean)), STD_ABSOLUTE_FLOOR).astype(np.float32)


def log_space(x: torch.Tensor, mask: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``log(1 + max(x, 0) / k)`` where ``mask`` (``[C, 1, 1]``), ``x`` elsewhere."""
    return torch.where(mask, torch.log1p(torch.relu(x) / offset), x)


def physical_space(y: torch.Tensor, mask: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`log_space`: ``k (exp(clamp(y, 0, Y_MAX)) - 1)`` where ``mask``."""
    return torch.where(mask, offset * torch.expm1(torch.clamp(y, 0.0, Y_MAX)), y)


def signed_power(x: torch.Tensor, p: float) -> torch.Tensor:
    """``sign(x) |x|**p`` (odd and monotone: a member below 0 keeps its gradient)."""
    return torch.sign(x) * torch.abs(x).pow(p)


def log_offset_vector(log_offsets: Sequence[float] | None, n: int) -> np.ndarray:
    """The checked ``[n]`` float64 offsets (0: a channel in physical units)."""
    if log_offsets is None:
        return np.zeros(n)
    v = np.asarray(log_offsets, np.float64).reshape(-1)
    if v.shape != (n,) or not np.all(np.isfinite(v)) or np.any(v < 0):
        raise SowcastError(f"log_offsets must be {n} finite numbers >= 0 (0: no log transform), not {list(log_offsets)}")
    return v


def forcing_statistics(names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{"mean", "std"}`` float32 ``[F]`` for the forcings ``names`` from :data:`FORCING_SCALES`."""
    unknown = [n for n in names if n not in FORCING_SCALES]
    if unknown:
        raise SowcastError(f"no normalisation known for forcing(s) {', '.join(unknown)}; known: {', '.join(FORCING_SCALES)}")
    return {"mean": np.asarray([FORCING_SCALES[n][0] for n in names], np.float32),
            "std": np.asarray([FORCING_SCALES[n][1] for n in names], np.float32)}


def _vector(stats: Mapping[str, np.ndarray] | None, key: str, n: int, what: str, default: float) -> np.ndarray:
    if stats is None:
        return np.full(n, default, np.float32)
    if key not in stats:
        raise SowcastError(f"{what} lack {key!r} (re-run 'sowcast data ingest' to recompute statistics)")
    v = np.asarray(stats[key], np.float64).reshape(-1)
    if v.shape != (n,):
        raise SowcastError(f"{what} {key!r} has {v.size} values for {n} channel(s)")
    if not np.all(np.isfinite(v)) or (key.endswith("std") and np.any(v < 0)):
        raise SowcastError(f"{what} {key!r} holds non-finite or negative values: {v.tolist()}")
    return v.astype(np.float32)


class Normalization(nn.Module):
    """Per-channel statistics as buffers, and the maps between physical and normalised units.

    ``statistics``: ``mean, std, diff_mean, diff_std`` ``[C]``; ``static_statistics`` and
    ``forcing_statistics``: ``mean, std`` ``[S]`` / ``[F]``. ``None`` gives placeholders
    (0 and 1) for a model whose state_dict is loaded next (``Forecaster.from_checkpoint``).
    Field tensors have the channel dim third from last: ``[..., C, H, W]``.
    """

    def __init__(self, n_channels: int, n_forcings: int, n_static: int,
                 statistics: Mapping[str, np.ndarray] | None,
                 static_statistics: Mapping[str, np.ndarray] | None,
                 forcing_statistics: Mapping[str, np.ndarray] | None = None,
                 log_offsets: Sequence[float] | None = None, direct: Sequence[int] | None = None,
                 seasonal_cycle: np.ndarray | None = None, grid_shape: tuple[int, int] = (1, 1),
                 harmonics: int = HARMONICS, seasonal_variance: np.ndarray | None = None,
                 scale_floor: float | None = None, power: float | None = None,
                 power_centre: str = MEAN_OF_POWER, ocean_channel: int | None = None,
                 ocean_weights: np.ndarray | None = None, ocean_index_cycle: np.ndarray | None = None,
                 seasonal_ocean: np.ndarray | None = None):
        super().__init__()
        offsets = log_offset_vector(log_offsets, n_channels)
        direct_mask = np.zeros(n_channels, bool)
        direct_mask[list(direct or ())] = True
        self.has_direct_channels = bool(direct_mask.any())
        self.has_log_channels = bool(np.any(offsets > 0))
        self._persistent = set()
        vectors = {}
        for prefix, stats, n, what in (("", statistics, n_channels, "channel statistics"),
                                       ("static_", static_statistics, n_static, "static statistics"),
                                       ("forcing_", forcing_statistics, n_forcings, "forcing statistics")):
            keys = ("mean", "std", "diff_mean", "diff_std") if prefix == "" else ("mean", "std")
            raw = {k: _vector(stats, k, n, what, 1.0 if k.endswith("std") else 0.0) for k in keys}
            raw["std"] = safe_std(raw["std"], raw["mean"])
            if "diff_std" in raw:
                raw["diff_std"] = safe_std(raw["diff_std"], raw["diff_mean"])
            vectors.update({prefix + k: v for k, v in raw.items()})
        for name, v in vectors.items():
            self.register_buffer(name, torch.as_tensor(v).view(-1, 1, 1))  # broadcast over [C, H, W]
            self._persistent.add(name)
        # from the hyperparameters, so not in the state_dict
        self.register_buffer("log_mask", torch.as_tensor(offsets > 0).view(-1, 1, 1), persistent=False)
        self.register_buffer("log_offset", torch.as_tensor(np.where(offsets > 0, offsets, 1.0), dtype=torch.float32)
                             .view(-1, 1, 1), persistent=False)
        self.register_buffer("direct_mask", torch.as_tensor(direct_mask).view(-1, 1, 1), persistent=False)
        if self.has_direct_channels:  # [C, 2K+1, H, W] (zeros: placeholders for a state_dict loaded next)
            shape = (n_channels, 2 * harmonics + 1, *grid_shape)
            cycle = np.zeros(shape, np.float32) if seasonal_cycle is None else np.asarray(seasonal_cycle, np.float32)
            if cycle.shape != shape:
                raise SowcastError(f"the seasonal cycle has shape {cycle.shape}, expected {shape}")
            self.register_buffer("seasonal_cycle", torch.as_tensor(cycle))
        self.scale_floor = None if scale_floor is None else float(scale_floor)
        self.has_seasonal_scale = self.has_direct_channels and self.scale_floor is not None
        if self.scale_floor is not None and not 0.0 < self.scale_floor <= 1.0:
            raise SowcastError(f"model.direct_scale_floor must lie in (0, 1] (a fraction of the channel's std), "
                               f"not {scale_floor!r}")
        if self.has_seasonal_scale:  # [C, 2K+1, H, W]: the fit of the squared anomaly (module doc)
            shape = (n_channels, 2 * harmonics + 1, *grid_shape)
            var = np.zeros(shape, np.float32) if seasonal_variance is None else np.asarray(seasonal_variance, np.float32)
            if var.shape != shape:
                raise SowcastError(f"the seasonal variance has shape {var.shape}, expected {shape}")
            self.register_buffer("seasonal_variance", torch.as_tensor(var))
        self.power = None if power is None else float(power)
        if self.power is not None:
            if not 0.0 < self.power <= 1.0:
                raise SowcastError(f"model.direct_power must lie in (0, 1], not {power!r}")
            if not self.has_seasonal_scale:
                raise SowcastError("model.direct_power needs model.direct and model.direct_scale_floor "
                                   "(the anomaly's scale in the power's units)")
            if bool((self.direct_mask.reshape(-1) & self.log_mask.reshape(-1)).any()):
                raise SowcastError("model.direct_power and model.log_transform cannot both transform a channel")
        if power_centre not in POWER_CENTRES:
            raise SowcastError(f"model.direct_power_centre must be one of {', '.join(POWER_CENTRES)}, not {power_centre!r}")
        if power_centre != MEAN_OF_POWER and self.power is None:
            raise SowcastError(f"model.direct_power_centre {power_centre} needs model.direct_power")
        self.power_centre = power_centre
        self.ocean_channel = None if ocean_channel is None else int(ocean_channel)
        if self.ocean_channel is not None:  # the centre moved by an ocean index (sowcast.data.ocean_anchor)
            if not self.has_direct_channels:
                raise SowcastError("model.direct_ocean_index needs model.direct (it moves the direct channels' centre)")
            if not 0 <= self.ocean_channel < n_channels:
                raise SowcastError(f"the ocean index channel {ocean_channel} is not in 0..{n_channels - 1}")
            terms = 2 * harmonics + 1
            for name, value, shape in (("ocean_weights", ocean_weights, tuple(grid_shape)),
                                       ("ocean_index_cycle", ocean_index_cycle, (terms,)),
                                       ("seasonal_ocean", seasonal_ocean, (n_channels, terms, *grid_shape))):
                array = np.zeros(shape, np.float32) if value is None else np.asarray(value, np.float32)
                if array.shape != shape:
                    raise SowcastError(f"the ocean anchor's {name} has shape {array.shape}, expected {shape}")
                self.register_buffer(name, torch.as_tensor(array))

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        """States ``[..., C, H, W]`` with the log-space channels transformed (module doc)."""
        return log_space(x, self.log_mask, self.log_offset) if self.has_log_channels else x

    def to_physical_space(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_model_space`."""
        return physical_space(y, self.log_mask, self.log_offset) if self.has_log_channels else y

    def normalize_state(self, x: torch.Tensor) -> torch.Tensor:
        """``(x - mean) / std`` for states ``[..., C, H, W]`` (in model space)."""
        return (self.to_model_space(x) - self.mean) / self.std

    def normalize_forcings(self, f: torch.Tensor) -> torch.Tensor:
        return (f - self.forcing_mean) / self.forcing_std

    def normalize_static(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.static_mean) / self.static_std

    def _harmonics(self, coefficients: torch.Tensor, cos1: torch.Tensor, sin1: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]``: harmonic ``coefficients [C, 2K+1, H, W]`` read at ``θ`` (``cos θ,
        sin θ`` ``[B]``), a broadcast multiply and a sum (no MatMul: an fp16 export keeps it in fp32)."""
        phi = torch.stack(harmonic_terms(cos1, sin1, (coefficients.shape[1] - 1) // 2), -1)  # [B, 2K+1]
        return (phi[:, None, :, None, None] * coefficients[None]).sum(2)

    def ocean_index(self, last: torch.Tensor, cos1: torch.Tensor, sin1: torch.Tensor) -> torch.Tensor:
        """``I [B]``: the box mean of the ocean channel of ``last`` ``[B, C, H, W]`` (physical
        units) less its seasonal fit at ``θ`` (:mod:`sowcast.data.ocean_anchor`)."""
        box_mean = (last[:, self.ocean_channel] * self.ocean_weights).sum((-2, -1))
        phi = torch.stack(harmonic_terms(cos1, sin1, (self.ocean_index_cycle.shape[0] - 1) // 2), -1)  # [B, 2K+1]
        return box_mean - (phi * self.ocean_index_cycle).sum(-1)

    def season(self, cos1: torch.Tensor, sin1: torch.Tensor, last: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, C, H, W]``: the seasonal cycle ``m`` at ``θ`` (``cos θ, sin θ`` ``[B]``); with the
        centre ``power_of_mean`` the fit is of ``x`` and ``m = sign(x̄) |x̄|**p`` (module doc).
        With an ocean anchor, ``m + I(last) m_ocean`` (:mod:`sowcast.data.ocean_anchor`): ``last``,
        the last input state, is then needed."""
        cycle = self._harmonics(self.seasonal_cycle, cos1, sin1)
        if self.ocean_channel is not None:
            if last is None:
                raise SowcastError("the ocean-anchored season needs the last input state")
            index = self.ocean_index(last, cos1, sin1)
            cycle = cycle + index[:, None, None, None] * self._harmonics(self.seasonal_ocean, cos1, sin1)
        if self.power_centre == POWER_OF_MEAN:
            cycle = torch.where(self.direct_mask, signed_power(cycle, self.power), cycle)
        return cycle

    def season_scale(self, cos1: torch.Tensor, sin1: torch.Tensor) -> torch.Tensor | None:
        """``[B, C, H, W]``: the seasonal scale ``s = sqrt(max(v, (f * std)**2))`` at ``θ``
        (module doc), or None without ``scale_floor`` (direct channels then use ``std``)."""
        if not self.has_seasonal_scale:
            return None
        unit = self.std if self.power is None else self.std ** self.power
        floor = (self.scale_floor * unit).square()
        return torch.sqrt(torch.maximum(self._harmonics(self.seasonal_variance, cos1, sin1), floor))

    def apply_increment(self, last: torch.Tensor, out: torch.Tensor, season: torch.Tensor | None = None,
                        scale: torch.Tensor | None = None) -> torch.Tensor:
        """Next state ``x_t + diff_mean + diff_std * out`` from the normalised increment ``out``
        (in model space, then back to physical units); ``season + std * out`` on direct
        channels (``season`` from :meth:`season` at the next state's time; ``scale`` from
        :meth:`season_scale` in place of ``std`` when given)."""
        following = self.to_model_space(last) + self.diff_mean + self.diff_std * out
        if self.has_direct_channels:
            direct = season + (self.std if scale is None else scale) * out
            if self.power is not None:
                direct = signed_power(direct, 1.0 / self.power)
            following = torch.where(self.direct_mask, direct, following)
        return self.to_physical_space(following)

    def increment_target(self, last: torch.Tensor, following: torch.Tensor,
                         season: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> torch.Tensor:
        """The training target ``(x_{t+1} - x_t - diff_mean) / diff_std`` in model space
        (``(x_{t+1} - season) / std``, or ``/ scale``, on direct channels; inverse of
        :meth:`apply_increment`)."""
        target = (self.to_model_space(following) - self.to_model_space(last) - self.diff_mean) / self.diff_std
        if self.has_direct_channels:
            unit = self.std if scale is None else scale
            direct = self.to_model_space(following)
            if self.power is not None:
                direct = signed_power(direct, self.power)
            target = torch.where(self.direct_mask, (direct - season) / unit, target)
        return target

    def error_scale(self) -> torch.Tensor:
        """``[C]``: the spread of what the network predicts per channel, ``diff_std`` (``std``
        on direct channels), in model space: the unit of the training loss."""
        scale = torch.where(self.direct_mask, self.std, self.diff_std) if self.has_direct_channels else self.diff_std
        return scale.reshape(-1)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every statistic as float32 ``[n]`` numpy arrays (for a bundle manifest)."""
        return {name: buf.detach().cpu().reshape(-1).numpy().copy() for name, buf in self.named_buffers()
                if name in self._persistent}
