"""The forecast model: physical fields in, the next state in physical units out.

One step (GraphCast, Lam et al. 2023: ``X_{t+1} = X_t + f(X_{t-1}, X_t, forcings, static)``)::

    z     = [ (x_{t-T+1..t} - mean) / std,   forcings at t-T+1 .. t+1 (normalised),
              static (normalised) ]                    per grid node, T = n_input_steps
    out   = EncodeProcessDecode(z)                     [B, G, C], the normalised increment
    x_t+1 = x_t + diff_mean + diff_std * out

Direct channels (``direct``, ``model.direct: [total_precipitation]``) are predicted as an
anomaly from the training years' seasonal cycle, ``x_t+1 = m(t+1) + std * out``, not as an
increment (GraphCast's target-only precipitation, AIFS's diagnostic one, here anchored to the
season; :mod:`sowcast.model.normalization`), and still fed back as inputs. ``m`` is read at
the ``cos/sin_year_progress`` forcings of the next state. With ``model.direct_scale_floor``
the anomaly is in units of the point's seasonal standard deviation, ``m(t+1) + s(t+1) * out``.
Direct channels listed in ``target_only`` (``model.target_only``) are not fed back: they enter
the network as 0 (a constant column of the inputs, so the shapes and the exported graph's
inputs stay as they are), as GraphCast's precipitation is a target only (Lam et al. 2023,
Table 1: not an input); the next step's rain then comes from the other variables alone, not
from the last day's rain (the demo's members had a lag-1 correlation of daily rain of
0.17-0.19 against the truth's 0.12 with rain fed back).

Channels bounded below (``nonnegative``, ``model.nonnegative: [total_precipitation]``) come
out as ``max(x_t+1, 0)``, in training as in the exported graph, so the loss scores the
bounded state: a member may go below zero where the day is dry and costs nothing for it, and
the ensemble can put its dry days at exactly 0 mm instead of spreading drizzle around 0 mm
(anemoi-models' ``ReluBounding``, used for precipitation by ECMWF's AIFS, Lang et al. 2024).
In training the gradient passes straight through the bound (Bengio et al. 2013's
straight-through estimator: forward ``max(x, 0)``, backward the identity), so a member below
0 where it did rain is still pulled up. With the plain ReLU's zero gradient the demo's model
came out too dry: at its wet points rain on 34 % of days against the truth's 46 %, 77 % of
the mean; straight-through gives 48 % and 96 % (training years' hindcasts).

A stochastic model (``noise_channels > 0``) also takes ``noise [B, M, K]``, independent
standard normal values per mesh node, and per grid node too with ``grid_noise``
(:mod:`sowcast.model.noise`): each draw gives another member. :meth:`Forecaster.rollout`
draws fresh noise at every step unless it is given.

Grid fields ``[B, C, H, W]`` become nodes ``[B, H*W, C]`` row-major, the graph's grid node
order ``g = i_lat * n_lon + i_lon``; the graph decides global vs regional and the model
works for any number of channels, forcings and static fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from sowcast.data.log_statistics import log_space_statistics
from sowcast.data.ocean_anchor import fit_index, resolve_anchor
from sowcast.data.seasonal_cycle import HARMONICS, MAX_HARMONICS, fit_seasonal_cycle, fit_seasonal_variance
from sowcast.errors import SowcastError
from sowcast.graph.forecast_graph import ForecastGraph
from sowcast.model.graph_network import EncodeProcessDecode
from sowcast.model.normalization import (MEAN_OF_POWER, POWER_OF_MEAN, Normalization,
                                         forcing_statistics as known_forcing_statistics)

if TYPE_CHECKING:
    from sowcast.data.windows import WindowSource


def grid_shape(graph: ForecastGraph) -> tuple[int, int]:
    """``(n_lat, n_lon)`` of the graph's grid nodes (row-major lat-lon order checked)."""
    lat, lon = np.asarray(graph.grid_lat), np.asarray(graph.grid_lon)
    n = lat.size
    n_lon = int(np.argmax(lat != lat[0])) if n and np.any(lat != lat[0]) else n
    if n == 0 or n % n_lon:
        raise SowcastError(f"graph grid nodes ({n}) are not a row-major lat-lon grid")
    shape = (n // n_lon, n_lon)
    if not (np.all(lat.reshape(shape) == lat.reshape(shape)[:, :1])
            and np.all(lon.reshape(shape) == lon.reshape(shape)[:1, :])):
        raise SowcastError("graph grid nodes are not in row-major lat-lon order (g = i_lat * n_lon + i_lon)")
    return shape


class Forecaster(nn.Module):
    """Next state from the last ``n_input_steps`` states, forcings and static fields (module doc).

    ``statistics``: ``mean, std, diff_mean, diff_std`` each ``[C]``; ``static_statistics``:
    ``mean, std`` each ``[S]``; ``forcing_statistics``: ``mean, std`` each ``[F]`` (default:
    no scaling; :func:`build_forecaster` passes the known forcing scales). Statistics are
    persistent buffers (in ``state_dict``); graph arrays are not (see graph_network.py).
    """

    def __init__(self, graph: ForecastGraph, n_channels: int, n_forcings: int, n_static: int,
                 statistics: Mapping[str, np.ndarray] | None,
                 static_statistics: Mapping[str, np.ndarray] | None,
                 n_input_steps: int = 2, width: int = 64, processor_layers: int = 6,
                 mlp_hidden_layers: int = 1, activation: str = "silu",
                 checkpoint_activations: bool = False,
                 forcing_statistics: Mapping[str, np.ndarray] | None = None, noise_channels: int = 0,
                 grid_noise: bool = False, log_offsets: Sequence[float] | None = None,
                 nonnegative: Sequence[int] | None = None, direct: Sequence[int] | None = None,
                 year_forcings: Sequence[int] | None = None, seasonal_cycle: np.ndarray | None = None,
                 direct_scale_floor: float | None = None, seasonal_variance: np.ndarray | None = None,
                 direct_power: float | None = None, direct_power_centre: str | None = None,
                 target_only: Sequence[int] | None = None, direct_harmonics: int = HARMONICS,
                 direct_ocean_index: Mapping[str, Any] | None = None, ocean_weights: np.ndarray | None = None,
                 ocean_index_cycle: np.ndarray | None = None, seasonal_ocean: np.ndarray | None = None):
        super().__init__()
        if n_channels < 1 or n_forcings < 0 or n_static < 0 or n_input_steps < 1 or noise_channels < 0:
            raise SowcastError(f"need n_channels >= 1, n_forcings >= 0, n_static >= 0, n_input_steps >= 1; "
                               f"and noise_channels >= 0; got {n_channels}, {n_forcings}, {n_static}, {n_input_steps}, "
                               f"{noise_channels}")
        self.n_channels, self.n_forcings, self.n_static = int(n_channels), int(n_forcings), int(n_static)
        self.n_input_steps = int(n_input_steps)
        self.grid_shape = grid_shape(graph)
        self._hyper: dict[str, Any] = {
            "n_channels": self.n_channels, "n_forcings": self.n_forcings, "n_static": self.n_static,
            "n_input_steps": self.n_input_steps, "width": int(width),
            "processor_layers": int(processor_layers), "mlp_hidden_layers": int(mlp_hidden_layers),
            "activation": str(activation), "checkpoint_activations": bool(checkpoint_activations),
            "noise_channels": int(noise_channels), "grid_noise": bool(grid_noise),
        }
        if log_offsets is not None and any(float(k) > 0 for k in log_offsets):
            self._hyper["log_offsets"] = [float(k) for k in log_offsets]
        bounded = self._channel_list("nonnegative", nonnegative)
        direct_channels = self._channel_list("direct", direct)
        self.year_forcings = [int(i) for i in year_forcings or ()]
        if direct_channels:
            if len(self.year_forcings) != 2 or not all(0 <= i < self.n_forcings for i in self.year_forcings):
                raise SowcastError("model.direct needs the cos_year_progress and sin_year_progress forcings "
                                   f"(year_forcings {self.year_forcings} of {self.n_forcings} forcings)")
            self._hyper["year_forcings"] = self.year_forcings
            if int(direct_harmonics) != HARMONICS:   # recorded only when not the default, so older checkpoints load
                self._hyper["direct_harmonics"] = int(direct_harmonics)
            if direct_scale_floor is not None:
                self._hyper["direct_scale_floor"] = float(direct_scale_floor)
            if direct_power is not None:
                self._hyper["direct_power"] = float(direct_power)
            if direct_power_centre is not None and direct_power_centre != MEAN_OF_POWER:
                self._hyper["direct_power_centre"] = str(direct_power_centre)
            if direct_ocean_index:   # {channel, box} (sowcast.data.ocean_anchor)
                self._hyper["direct_ocean_index"] = {"channel": int(direct_ocean_index["channel"]),
                                                     "box": [float(v) for v in direct_ocean_index["box"]]}
        elif direct_ocean_index:
            raise SowcastError("model.direct_ocean_index needs model.direct (it moves the direct channels' centre)")
        hidden = self._channel_list("target_only", target_only)
        if set(hidden) - set(direct_channels):
            raise SowcastError("model.target_only channels must also be model.direct channels (a residual "
                               "channel is its input plus the increment, so the network must see it)")
        seen = torch.ones(self.n_channels, 1, 1)
        seen[hidden] = 0.0
        self.register_buffer("input_mask", seen, persistent=False)   # 0: the channel is not an input
        self.has_target_only = bool(hidden)
        mask = torch.zeros(self.n_channels, 1, 1, dtype=torch.bool)
        mask[bounded] = True
        self.register_buffer("bounded_mask", mask, persistent=False)
        self.bounded = bool(bounded)
        self.noise_channels = int(noise_channels)
        self.n_mesh = int(graph.n_mesh)
        # Noise rows: one per mesh node, and one per grid node with grid_noise (graph_network.py).
        self.n_noise_nodes = self.n_mesh + (int(graph.n_grid) if grid_noise and self.noise_channels > 0 else 0)
        self.normalization = Normalization(self.n_channels, self.n_forcings, self.n_static,
                                           statistics, static_statistics, forcing_statistics,
                                           self._hyper.get("log_offsets"), direct_channels,
                                           seasonal_cycle, self.grid_shape,
                                           harmonics=int(direct_harmonics) if direct_channels else HARMONICS,
                                           seasonal_variance=seasonal_variance,
                                           scale_floor=direct_scale_floor if direct_channels else None,
                                           power=direct_power if direct_channels else None,
                                           power_centre=(direct_power_centre or MEAN_OF_POWER) if direct_channels
                                           else MEAN_OF_POWER,
                                           ocean_channel=self._hyper.get("direct_ocean_index", {}).get("channel"),
                                           ocean_weights=ocean_weights, ocean_index_cycle=ocean_index_cycle,
                                           seasonal_ocean=seasonal_ocean)
        n_inputs = self.n_input_steps * self.n_channels + (self.n_input_steps + 1) * self.n_forcings + self.n_static
        self.network = EncodeProcessDecode(graph, n_inputs, self.n_channels, int(width), int(processor_layers),
                                           int(mlp_hidden_layers), str(activation), bool(checkpoint_activations),
                                           self.noise_channels, bool(grid_noise))

    def _channel_list(self, name: str, channels: Sequence[int] | None) -> list[int]:
        """Sorted channel indices of hyperparameter ``name`` (recorded when not empty)."""
        out = sorted({int(c) for c in channels or ()})
        if any(not 0 <= c < self.n_channels for c in out):
            raise SowcastError(f"{name} channels {out} are not all in 0..{self.n_channels - 1}")
        if out:
            self._hyper[name] = out
        return out

    # -- bookkeeping -----------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor's arguments but graph and statistics (JSON-able): ``Forecaster(graph, **hp, ...)``."""
        return dict(self._hyper)

    @property
    def stochastic(self) -> bool:
        return self.noise_channels > 0

    def noise_shape(self, batch: int) -> tuple[int, int, int]:
        """Shape of one step's noise input, ``(batch, n_noise_nodes, noise_channels)``:
        ``n_mesh`` rows, ``+ n_grid`` with ``grid_noise``."""
        return (int(batch), self.n_noise_nodes, self.noise_channels)

    def draw_noise(self, batch: int, n_steps: int, like: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor | None:
        """Fresh standard normal noise ``[batch, n_steps, M, K]`` from ``generator`` (torch's
        global one if None), or None for a deterministic model."""
        if not self.stochastic:
            return None
        return torch.randn((batch, n_steps, *self.noise_shape(0)[1:]), device=like.device,
                           dtype=torch.float32, generator=generator)

    def count_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @classmethod
    def from_checkpoint(cls, graph: ForecastGraph, hyperparameters: Mapping[str, Any],
                        state_dict: Mapping[str, torch.Tensor]) -> Forecaster:
        """Rebuild on ``graph`` from :meth:`hyperparameters` and a state_dict (which holds the statistics)."""
        model = cls(graph, statistics=None, static_statistics=None, **dict(hyperparameters))
        model.load_state_dict(state_dict)
        return model

    # -- shapes ----------------------------------------------------------------------------
    def _check(self, inputs: torch.Tensor, forcings: torch.Tensor, static: torch.Tensor, n_steps: int) -> None:
        t, (h, w) = self.n_input_steps, self.grid_shape
        want = {"inputs": (t, self.n_channels, h, w), "forcings": (t + n_steps, self.n_forcings, h, w),
                "static": (self.n_static, h, w)}
        for name, x in (("inputs", inputs), ("forcings", forcings), ("static", static)):
            if tuple(x.shape[1:]) != want[name] or x.shape[0] != inputs.shape[0]:
                raise SowcastError(f"{name} has shape {tuple(x.shape)}, expected [B, {', '.join(map(str, want[name]))}]")

    # -- forward ---------------------------------------------------------------------------
    def increment(self, inputs: torch.Tensor, forcings: torch.Tensor, static: torch.Tensor,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised increment ``[B, C, H, W]`` (the training target space, see normalization.py)."""
        self._check(inputs, forcings, static, 1)
        norm = self.normalization
        state = norm.normalize_state(inputs)
        if self.has_target_only:  # target-only channels enter as 0 (module doc)
            state = state * self.input_mask
        fields = torch.cat([state.flatten(1, 2),                             # [B, T*C, H, W]
                            norm.normalize_forcings(forcings).flatten(1, 2),  # [B, (T+1)*F, H, W]
                            norm.normalize_static(static)], dim=1)
        nodes = fields.flatten(2).transpose(1, 2)                            # [B, G, n_inputs]
        # The batch sizes compared as they are (no int()): an export keeps the batch dim dynamic.
        if self.stochastic and (noise is None or noise.dim() != 3 or noise.shape[0] != inputs.shape[0]
                                or tuple(noise.shape[1:]) != self.noise_shape(0)[1:]):
            raise SowcastError(f"noise has shape {None if noise is None else tuple(noise.shape)}, "
                               f"expected {list(self.noise_shape(inputs.shape[0]))}")
        out = self.network(nodes, noise if self.stochastic else None)        # [B, G, C]
        return out.transpose(1, 2).unflatten(2, self.grid_shape)

    def forward(self, inputs: torch.Tensor, forcings: torch.Tensor, static: torch.Tensor,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        """State at ``t+1`` ``[B, C, H, W]`` from ``inputs [B, T, C, H, W]``, ``forcings [B, T+1, F, H, W]``,
        ``static [B, S, H, W]`` (and, stochastic, ``noise [B, M, K]``); ``nonnegative`` channels
        bounded at 0."""
        season = scale = None
        if self.normalization.has_direct_channels:  # the seasonal cycle (and scale) at the next state's time
            i_cos, i_sin = self.year_forcings
            cos1, sin1 = forcings[:, -1, i_cos, 0, 0], forcings[:, -1, i_sin, 0, 0]
            season = self.normalization.season(cos1, sin1, inputs[:, -1])
            scale = self.normalization.season_scale(cos1, sin1)
        state = self.normalization.apply_increment(inputs[:, -1], self.increment(inputs, forcings, static, noise),
                                                   season, scale)
        if self.bounded:
            bounded = torch.relu(state)
            if self.training:  # straight-through gradient (module doc)
                bounded = state + (bounded - state).detach()
            state = torch.where(self.bounded_mask, bounded, state)
        return state

    def rollout(self, inputs: torch.Tensor, forcings: torch.Tensor, static: torch.Tensor,
                n_steps: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, n_steps, C, H, W]``: each prediction fed back, the window the last ``T`` states.

        ``forcings`` ``[B, T + n_steps, F, H, W]``: step ``k`` uses forcings ``k .. k + T``;
        ``noise`` ``[B, n_steps, M, K]`` (stochastic models; drawn here when None).
        """
        if n_steps < 1:
            raise SowcastError(f"n_steps must be at least 1, not {n_steps}")
        self._check(inputs, forcings, static, n_steps)
        t = self.n_input_steps
        if noise is None:
            noise = self.draw_noise(inputs.shape[0], n_steps, inputs)
        window, out = inputs, []
        for k in range(n_steps):
            state = self(window, forcings[:, k:k + t + 1], static, None if noise is None else noise[:, k])
            out.append(state)
            window = torch.cat([window[:, 1:], state.unsqueeze(1)], dim=1)
        return torch.stack(out, dim=1)


def build_forecaster(model_cfg: Mapping[str, Any], graph: ForecastGraph, source: WindowSource) -> Forecaster:
    """A :class:`Forecaster` sized by a ``conf/model`` preset and a window source's variables and statistics."""
    level = graph.settings.get("mesh_level") if isinstance(graph.settings, Mapping) else None
    if level is not None and "mesh_level" in model_cfg and int(model_cfg["mesh_level"]) != int(level):
        raise SowcastError(f"model preset asks for mesh level {model_cfg['mesh_level']} but the graph has level {level}")
    if tuple(source.grid.shape) != grid_shape(graph):
        raise SowcastError(f"the data grid {tuple(source.grid.shape)} does not match the graph grid {grid_shape(graph)}")

    def get(key: str, default: Any) -> Any:
        return model_cfg[key] if key in model_cfg and model_cfg[key] is not None else default

    offsets = log_offsets(source.channels, get("log_transform", None))
    statistics = log_space_statistics(source, offsets) if offsets is not None else source.statistics
    direct = listed_channels(source.channels, get("direct", None), "model.direct")
    scale_floor, power = (_optional_fraction(get(key, None), f"model.{key}") for key in ("direct_scale_floor", "direct_power"))
    centre = str(get("direct_power_centre", MEAN_OF_POWER))
    centre_power = power if centre == POWER_OF_MEAN else None   # the cycle of x, its power taken when read
    harmonics = _harmonics_count(get("direct_harmonics", HARMONICS))
    anchor, anchor_note = _ocean_anchor(get("direct_ocean_index", None), direct, source)
    index_cycle = index = seasonal_ocean = None
    if anchor is not None:   # the centre moved by the ocean (sowcast.data.ocean_anchor)
        index_cycle, index = fit_index(source, anchor, harmonics)
        both = fit_seasonal_cycle(source, direct, offsets, harmonics, power=None if centre_power else power,
                                  index=index)
        cycle, seasonal_ocean = both[:, :2 * harmonics + 1], both[:, 2 * harmonics + 1:]
    else:
        cycle = (fit_seasonal_cycle(source, direct, offsets, harmonics, power=None if centre_power else power)
                 if direct else None)
    names = list(source.forcing_names)
    year_forcings = [names.index(n) for n in ("cos_year_progress", "sin_year_progress") if n in names]

    model = Forecaster(
        graph,
        n_channels=len(source.channels),
        n_forcings=len(source.forcing_names),
        n_static=len(source.static_names),
        statistics=statistics,
        static_statistics=source.static_statistics,
        n_input_steps=source.n_input_steps,
        width=int(get("width", 64)),
        processor_layers=int(get("processor_layers", 6)),
        mlp_hidden_layers=int(get("mlp_hidden_layers", 1)),
        activation=str(get("activation", "silu")),
        checkpoint_activations=bool(get("checkpoint_activations", False)),
        noise_channels=int(get("noise_channels", 0)),
        grid_noise=bool(get("grid_noise", False)),
        log_offsets=offsets,
        nonnegative=listed_channels(source.channels, get("nonnegative", None), "model.nonnegative"),
        direct=direct,
        year_forcings=year_forcings if direct else None,
        seasonal_cycle=cycle,
        direct_scale_floor=scale_floor if direct else None,
        seasonal_variance=(fit_seasonal_variance(source, direct, cycle, offsets, harmonics, power=power,
                                                 centre_power=centre_power,
                                                 ocean=None if anchor is None else (seasonal_ocean, index))
                           if direct and scale_floor is not None else None),
        direct_harmonics=harmonics,
        direct_power=power if direct else None,
        direct_power_centre=centre if direct else None,
        target_only=listed_channels(source.channels, get("target_only", None), "model.target_only"),
        direct_ocean_index=None if anchor is None else anchor.hyperparameter(),
        ocean_weights=None if anchor is None else anchor.weights,
        ocean_index_cycle=index_cycle,
        seasonal_ocean=seasonal_ocean,
        forcing_statistics=known_forcing_statistics(source.forcing_names),
    )
    model.ocean_anchor_note = anchor_note   # what model.direct_ocean_index did here (the trainer logs it)
    return model


def _ocean_anchor(config: Any, direct: Sequence[int], source: WindowSource) -> tuple[Any, str]:
    """``(anchor or None, what was done)`` for ``model.direct_ocean_index`` on ``source``
    (:func:`sowcast.data.ocean_anchor.resolve_anchor`); without direct channels "not applied"
    under ``auto`` and an error for an explicit variable."""
    if direct or not config:
        return resolve_anchor(config, source.channels, source.grid.lat, source.grid.lon,
                              getattr(source, "valid", None))
    if isinstance(config, Mapping) and str(config.get("variable") or "auto") == "auto":
        return None, "not applied: model.direct names no variable"
    raise SowcastError("model.direct_ocean_index needs model.direct (it moves the direct channels' centre)")


def _harmonics_count(value: Any) -> int:
    """``model.direct_harmonics`` as an int from 1 to :data:`MAX_HARMONICS`."""
    try:
        k = int(value)
    except (TypeError, ValueError):
        k = None
    if k is None or k != value or not 1 <= k <= MAX_HARMONICS:
        raise SowcastError(f"model.direct_harmonics must be a whole number from 1 to {MAX_HARMONICS}, not {value!r}")
    return k


def _optional_fraction(value: Any, key: str) -> float | None:
    """``value`` as a float, None kept (the range is checked by the model)."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SowcastError(f"{key} must be a number in (0, 1] or null, not {value!r}") from None


def log_offsets(channels: Sequence[str], log_transform: Mapping[str, Any] | None) -> list[float] | None:
    """Per-channel offsets ``k`` (0: physical units) from ``model.log_transform``, a mapping
    of variable name to ``k`` in the channel's units (``{total_precipitation: 1.0}``: daily
    rain as ``log(1 + mm / 1 mm)``); a channel ``name`` or ``name_<level>`` matches ``name``.
    None when no channel is transformed."""
    if not log_transform:
        return None
    if not isinstance(log_transform, Mapping):
        raise SowcastError(f"model.log_transform must map variable names to offsets, not {log_transform!r}")
    out = [0.0] * len(channels)
    for name, k in log_transform.items():
        try:
            k = float(k)
        except (TypeError, ValueError):
            k = float("nan")
        if not k > 0 or not np.isfinite(k):
            raise SowcastError(f"model.log_transform.{name} must be a number > 0 (the offset in the variable's units), not {log_transform[name]!r}")
        for i in channels_of(channels, name, "model.log_transform"):
            out[i] = k
    return out


def listed_channels(channels: Sequence[str], variables: Sequence[str] | str | None, key: str) -> list[int]:
    """Indices of the channels of the variables listed under ``key`` (``model.nonnegative``:
    bounded at 0 by the model; ``model.direct``: predicted directly, not as an increment;
    ``model.target_only``: not fed back)."""
    if not variables:
        return []
    if isinstance(variables, str) or not isinstance(variables, Sequence):
        raise SowcastError(f"{key} must be a list of variable names, not {variables!r}")
    return sorted({i for name in variables for i in channels_of(channels, str(name), key)})


def channels_of(channels: Sequence[str], name: str, key: str) -> list[int]:
    """Indices of the channels of variable ``name``: the channel ``name`` or ``name_<level>``."""
    hits = [i for i, c in enumerate(channels) if c == name or c.startswith(f"{name}_")]
    if not hits:
        raise SowcastError(f"{key} names {name!r}, which is not a channel of the store ({', '.join(channels)})")
    return hits
