"""Initial ensembles: a control member and spatially smooth Gaussian perturbations.

Members
-------
Every start (the analysis at ``init_time`` and, with lagged starts, the analyses
``k * spacing`` steps earlier, ``k = 1..n``) gets ``members`` members. Global member
``g = k * members + m`` is member ``m`` of start ``k``; ``m = 0`` is that start's control,
run from the unperturbed analysis, so member 0 is *the* control of the forecast. Members
``1..members-1`` of a start are perturbed. Numbering per start means that adding lagged
starts never changes the members already there. With a stochastic model (bundle
``model.noise``) every member, the control too, also draws the model's own noise at each
step (:mod:`sowcast.forecast.model_noise`); the initial perturbations then come on top of
that spread and ``scale: 0`` leaves them out.

Perturbations
-------------
Member ``g`` draws from ``numpy.random.default_rng([seed, g])`` (a SeedSequence of the pair),
so every member is reproducible on its own, whatever the batch size or the number of
members. For each channel ``c`` the member draws white noise on the grid, smooths it with
a Gaussian of ``length_scale`` grid cells (separable along latitude and longitude;
reflected at the edges, periodic in longitude on a global grid) and rescales it to unit
variance at *every* grid point (each row of the smoothing operator has unit L2 norm). The
perturbation is ::

    delta_c = scale * diff_std_c * smooth_noise_c

and the same ``delta`` is added to all ``n_input_steps`` input states, so that the
tendency the model sees between its input states is not disturbed.

Why ``diff_std`` (the standard deviation of the one-step change of the channel, from the
training statistics) rather than the climatological ``std``: initial perturbations should
be of the size of the analysis uncertainty, which is small next to the climate spread
(ECMWF's EDA and singular-vector perturbations are a fraction of it; GenCast starts from
ERA5 EDA members, Price et al. 2024). The climatological std of a daily field includes the
seasonal cycle and the synoptic swing (about 10 K for 2 m temperature), far too large; the
one-step change ``diff_std`` (1-2 K at a daily step) is a channel-aware measure of how
much a state is uncertain within one model step, and scales with the model's time step.
With the default ``scale: 0.5`` a perturbation is half a typical one-step change.

``variable_scale`` (``{variable: scale}``) sets the scale of every channel of a variable on
its own, in place of ``scale``. The defaults were tuned on the demo's training years only
(``benchmarks/perturbation_tuning.py``): rain has no memory beyond a few days, so its
initial uncertainty must be larger than half a step's change for the members to spread at
week 1, while 2 m temperature's members were already over-dispersed at 0.5.

``relative_scale`` (``{variable: sigma}``, empty by default) perturbs a variable relative to its
own value instead, a mean-preserving log-normal factor ::

    x' = x * exp(sigma * smooth_noise - sigma**2 / 2)        (E[x'] = x)

with the same smooth noise. For rain this keeps a dry point dry and spreads a wet one by its
own size: the additive perturbation adds rain at dry points to half the members (clipped at
0 for the other half), a wet first day where the analysis is dry. A variable named in
``relative_scale`` is perturbed by it alone (``variable_scale``'s entry, the default's too,
does not apply).

Why smooth: white noise at single grid points is pixel noise that a graph network
averages away in its first encoder layer (or worse, treats as out-of-distribution
texture); GenCast, FuXi-S2S and ECMWF all perturb at synoptic scales. A Gaussian of about
3 grid cells gives structures of about 10 cells, a few hundred kilometres at 1 degree.

Channels that are never negative in the training data (statistics ``min >= 0``:
precipitation, humidity...) are clipped at 0 after perturbing, so no member starts from a
negative rainfall; their realised spread is slightly smaller where the field is near zero.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sowcast.config_values import number
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.log import get_logger
from sowcast.options import option, parse


def _scale(value: Any, key: str) -> float:
    """A perturbation scale (x diff_std): a finite number >= 0."""
    out = number(value, key)
    if out < 0:
        raise SowcastError(f"{key} must be >= 0, not {out:g}")
    return out


def _variable_scale(value: Any, key: str) -> dict[str, float]:
    """``{variable: scale}``, each scale as :func:`_scale`; sorted by variable (the recorded
    config does not depend on the order the YAML gave)."""
    if not isinstance(value, Mapping):
        raise SowcastError(f"{key} must be {{variable: scale}}, not {value!r}")
    return {str(k): _scale(v, f"{key}.{k}") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}


TUNED_VARIABLE_SCALE = {"total_precipitation": 8.0}
"""``variable_scale``'s default: rain at 8 x diff_std, tuned on the demo model's training years
only (benchmarks/perturbation_tuning.py --root <demo> 0.5:total_precipitation=4
0.5:total_precipitation=8 1:total_precipitation=8, rain predicted as its seasonal anomaly:
weekly rain RPSS +0.078/-0.013/+0.011/+0.023 at 8 against +0.038/-0.019/+0.004/+0.018 at 4,
spread/error 0.65 at both; 1 elsewhere over-spreads 2 m temperature, 1.30 at week 1). Left out
silently for a model without the variable."""


@dataclass(frozen=True)
class Perturbation:
    """``forecast.perturbation`` / ``hindcast.perturbation`` (module doc): a sowcast.options
    sub-group, parsed with its group (:func:`sowcast.options.parse`)."""

    scale: float = option(0.5, "x the channel's one-step-change std (statistics diff_std), for the channels "
                               "variable_scale does not name; 0: none; >= 0", convert=_scale)
    length_scale: float = option(3.0, "Gaussian smoothing of the noise, in grid cells (0: white noise)", low=0.0)
    seed: int = option(0, "member g draws from numpy default_rng([seed, g])", low=0)
    variable_scale: dict[str, float] = option(
        TUNED_VARIABLE_SCALE, "{variable: scale} in place of scale for that variable's channels; rain's 8.0 was "
                              "tuned for the demo's model (benchmarks/perturbation_tuning.py); "
                              "variable_scale.total_precipitation=0.5 perturbs rain as the rest",
        convert=_variable_scale)

    relative_scale: dict[str, float] = option(
        {}, "{variable: sigma}: that variable's channels x exp(sigma * noise - sigma^2 / 2) (mean-preserving, "
            "a dry point stays dry) in place of an additive perturbation; e.g. relative_scale.total_precipitation=0.5",
        convert=_variable_scale)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, group: str = "forecast.perturbation") -> Perturbation:
        """``cfg`` parsed as the sub-group ``group`` (one-line errors naming ``group.key``)."""
        return parse(cls, cfg, group)

    def channel_scales(self, channel_variables: list[str] | None, n_channels: int) -> np.ndarray:
        """``[C]`` scale of each channel: ``variable_scale[variable]``, else ``scale``.

        A ``variable_scale`` entry that names no channel of the model is left out, with a
        warning that names the model's variables when the entry was set (a misspelt name must
        not pass unseen) and silently when it is the default's (:data:`TUNED_VARIABLE_SCALE`:
        a model without rain runs on the default settings without a word). Without the
        channels' variables the default's entries cannot apply (every channel: ``scale``);
        entries that were set are an error. A variable of ``relative_scale`` has 0 here."""
        by_variable = self.variable_scale
        chosen = {v: s for v, s in by_variable.items() if TUNED_VARIABLE_SCALE.get(v) != s}
        if not self._known_variables(chosen, "variable_scale", channel_variables, n_channels):
            return np.full(n_channels, self.scale)
        return np.array([0.0 if v in self.relative_scale else by_variable.get(v, self.scale)
                         for v in channel_variables], np.float64)

    def channel_sigmas(self, channel_variables: list[str] | None, n_channels: int) -> np.ndarray:
        """``[C]`` log-normal sigma of each channel: ``relative_scale[variable]``, else 0."""
        if not self._known_variables(self.relative_scale, "relative_scale", channel_variables, n_channels):
            return np.zeros(n_channels)
        return np.array([self.relative_scale.get(v, 0.0) for v in channel_variables], np.float64)

    @staticmethod
    def _known_variables(chosen: Mapping[str, float], key: str, channel_variables: list[str] | None,
                         n_channels: int) -> bool:
        """Whether ``chosen`` (entries that were set) can apply: an error without the channels'
        variables, a warning for the variables the model lacks."""
        if channel_variables is None or len(channel_variables) != n_channels:
            if chosen:
                raise SowcastError(f"forecast.perturbation.{key} needs the bundle's channel variables")
            return False
        missing = sorted(set(chosen) - set(channel_variables))
        if missing:
            get_logger("forecast").warning(
                f"perturbation.{key} names {', '.join(missing)}, which the model does not have "
                f"(left out; its variables: {', '.join(sorted(set(channel_variables)))})")
        return True

    def as_config(self) -> dict[str, Any]:
        """The options as ``from_config`` reads them (JSON-ready)."""
        out = {"scale": self.scale, "length_scale": self.length_scale, "seed": self.seed,
               "variable_scale": dict(self.variable_scale)}
        if self.relative_scale:  # only when set: the fingerprints of earlier runs stay as they were
            out["relative_scale"] = dict(self.relative_scale)
        return out

    def active(self) -> bool:
        """Whether any channel is perturbed."""
        return (self.scale > 0 or any(v > 0 for v in self.variable_scale.values())
                or any(v > 0 for v in self.relative_scale.values()))


def smoothing_matrix(n: int, length_scale: float, periodic: bool = False) -> np.ndarray:
    """``[n, n]`` Gaussian smoothing operator whose rows have unit L2 norm.

    ``length_scale`` is the Gaussian's standard deviation in grid cells (0: identity); the
    kernel is cut at 4 standard deviations, reflected at the ends (``periodic=False``) or
    wrapped (``periodic=True``). Applied to unit white noise, every output point has
    variance exactly 1.
    """
    if length_scale <= 0 or n == 1:
        return np.eye(n)
    radius = int(np.ceil(4 * length_scale))
    offsets = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (offsets / length_scale) ** 2)
    a = np.zeros((n, n))
    rows = np.arange(n)[:, None]
    cols = rows + offsets[None, :]
    if periodic:
        cols = np.mod(cols, n)
    else:
        # Reflect about the edge cells (..., 2, 1, 0, 1, 2, ...), repeatedly for a short axis.
        period = 2 * (n - 1)
        cols = np.mod(cols, period)
        cols = np.where(cols >= n, period - cols, cols)
    np.add.at(a, (np.broadcast_to(rows, cols.shape), cols), np.broadcast_to(weights, cols.shape))
    return a / np.linalg.norm(a, axis=1, keepdims=True)


class PerturbationGenerator:
    """Perturbations ``[C, H, W]`` (float32) of one member, as the module doc describes."""

    def __init__(self, grid: Grid, diff_std: np.ndarray, config: Perturbation,
                 channel_variables: list[str] | None = None):
        self.config = config
        self.diff_std = np.asarray(diff_std, np.float64)
        if self.diff_std.ndim != 1:
            raise SowcastError(f"diff_std must be one value per channel, not shape {self.diff_std.shape}")
        if not np.isfinite(self.diff_std).all() or (self.diff_std < 0).any():
            raise SowcastError("the bundle's diff_std statistics hold NaN or negative values; cannot perturb")
        self.shape = (len(self.diff_std), *grid.shape)
        self.scales = config.channel_scales(channel_variables, len(self.diff_std))
        self.sigmas = config.channel_sigmas(channel_variables, len(self.diff_std))
        self._lat = smoothing_matrix(grid.shape[0], config.length_scale, periodic=False)
        self._lon = smoothing_matrix(grid.shape[1], config.length_scale, periodic=grid.is_global)

    def reseeded(self, seed: int) -> PerturbationGenerator:
        """The same generator (smoothing, per-channel scales) drawing from ``seed``."""
        out = copy.copy(self)
        out.config = replace(self.config, seed=int(seed))
        return out

    def unit_noise(self, member: int) -> np.ndarray:
        """Smooth noise of unit variance at every point, ``[C, H, W]`` float64, for ``member``."""
        rng = np.random.default_rng([int(self.config.seed), int(member)])
        white = rng.standard_normal(self.shape)
        return np.einsum("ij,cjk,lk->cil", self._lat, white, self._lon, optimize=True)

    def __call__(self, member: int) -> np.ndarray:
        """The additive perturbation ``[C, H, W]`` (0 on the ``relative_scale`` channels)."""
        return self._additive(self.unit_noise(member))

    def factors(self, member: int) -> np.ndarray:
        """The relative perturbation ``[C, H, W]``: ``exp(sigma * noise - sigma^2 / 2)`` (1 where
        sigma is 0)."""
        return self._relative(self.unit_noise(member))

    def perturb(self, window: np.ndarray, member: int) -> np.ndarray:
        """``window`` ``[T, C, H, W]`` perturbed in place (the same draw at every input step)."""
        noise = self.unit_noise(member)
        window += self._additive(noise)[None]
        if self.sigmas.any():
            window *= self._relative(noise)[None]
        return window

    def _additive(self, noise: np.ndarray) -> np.ndarray:
        return ((self.scales * self.diff_std)[:, None, None] * noise).astype(np.float32)

    def _relative(self, noise: np.ndarray) -> np.ndarray:
        sigma = self.sigmas[:, None, None]
        return np.exp(sigma * noise - 0.5 * sigma ** 2).astype(np.float32)


def nonnegative_channels(statistics: Mapping[str, np.ndarray], n_channels: int) -> np.ndarray:
    """Boolean ``[C]``: channels whose training minimum is >= 0 (kept >= 0 by the engine)."""
    low = statistics.get("min") if hasattr(statistics, "get") else None
    if low is None:
        return np.zeros(n_channels, bool)
    low = np.asarray(low, np.float64)
    if low.shape != (n_channels,):
        raise SowcastError(f"the bundle's min statistics have shape {low.shape}, not ({n_channels},)")
    return np.isfinite(low) & (low >= 0)


def clip_nonnegative(states: np.ndarray, nonnegative: np.ndarray, channel_axis: int) -> np.ndarray:
    """``states`` with the ``nonnegative`` channels clipped at 0, in place; returns ``states``."""
    if nonnegative.any():
        index = [slice(None)] * states.ndim
        index[channel_axis] = np.flatnonzero(nonnegative)
        sub = states[tuple(index)]
        np.maximum(sub, 0, out=sub)
        states[tuple(index)] = sub
    return states


def member_ids(start: int, members: int) -> np.ndarray:
    """Global member numbers of start ``start`` (0 = the latest analysis)."""
    return np.arange(start * members, (start + 1) * members)


def perturbed_window(window: np.ndarray, member: int, members: int, generator: PerturbationGenerator | None,
                     nonnegative: np.ndarray) -> np.ndarray:
    """One member's initial window ``[T, C, H, W]`` from an analysis window (module doc)."""
    out = np.array(window, dtype=np.float32, copy=True)
    if member % members == 0 or generator is None or not generator.config.active():
        return out  # a control member
    generator.perturb(out, member)
    return clip_nonnegative(out, nonnegative, channel_axis=1)


def start_ensemble(window: np.ndarray, start: int, members: int, generator: PerturbationGenerator | None,
                   nonnegative: np.ndarray) -> np.ndarray:
    """The ``members`` initial windows ``[M, T, C, H, W]`` of start ``start``."""
    return np.stack([perturbed_window(window, int(g), members, generator, nonnegative)
                     for g in member_ids(start, members)])
