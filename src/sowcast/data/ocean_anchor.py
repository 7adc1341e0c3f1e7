"""The direct channels' seasonal centre moved by an ocean index (``model.direct_ocean_index``).

A direct channel (:mod:`sowcast.model.normalization`) is predicted as an anomaly from a centre
``m(t+1)``; with this option the centre depends on the ocean of the last input state::

    m(t+1) = sum_k a_k phi_k(t+1) + I(t) sum_k b_k phi_k(t+1)
    I(t)   = B(x_t) - sum_k c_k phi_k(t+1)

``phi`` the harmonics of the year (:mod:`sowcast.data.seasonal_cycle`), ``B(x_t)`` the
latitude-weighted mean of one channel (``variable``) of the state ``x_t`` over ``box``
``[lat_min, lat_max, lon_min, lon_max]``, ``c`` the harmonic fit of ``B`` (so ``I`` is an
anomaly whether the channel is an index or a raw sea surface temperature), and ``a, b`` fitted
jointly by least squares per point over the training range (each state against the box mean
of the state before it). The network then predicts the weather around a season that already
knows the ocean: a warm equatorial Atlantic holds the monsoon's rain band back (Okumura & Xie
2004; Caniaux et al. 2011), a signal of a few days per kelvin that a daily-step network meets
only as a slow drift and, on 18 training years of the demo, did not learn (its rain answered
the ocean with the wrong sign). ``b`` is a linear response around the usual season, the
regression that seasonal outlook forums make with SST indices, here inside the model so that
every member, day and product carries it.

The default box is ATL3 (3 S-3 N, 20 W-0, Zebiak 1993), as the onset calibration's
(:mod:`sowcast.calibrate.onset_ocean`). ``variable: auto`` takes ``ocean_index``, else
``sea_surface_temperature``, when it is a channel and the box holds grid points, and is
"not applied: <why>" otherwise; a variable named explicitly but missing, or a box outside the
grid (or without a point where the variable has data: a sea variable's land is ingest's
fill, left out of the box mean), is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sowcast.data.forcings import year_progress
from sowcast.data.seasonal_cycle import BLOCK, HARMONICS, fit_range, fitted_terms, harmonic_terms
from sowcast.errors import SowcastError

AUTO = "auto"
AUTO_VARIABLES = ("ocean_index", "sea_surface_temperature")
ATL3_BOX = (-3.0, 3.0, -20.0, 0.0)
KEY = "model.direct_ocean_index"


@dataclass(frozen=True)
class OceanAnchor:
    """The chosen channel, its box and the box's weights ``[H, W]`` (summing to 1)."""

    channel: int
    box: tuple[float, float, float, float]
    weights: np.ndarray

    def hyperparameter(self) -> dict[str, Any]:
        return {"channel": int(self.channel), "box": [float(v) for v in self.box]}


def box_weights(lat: np.ndarray, lon: np.ndarray, box: Sequence[float],
                valid: np.ndarray | None = None) -> np.ndarray:
    """``[H, W]`` float32: ``cos(lat)`` inside ``box``, 0 outside and where ``valid`` (``[H, W]``,
    the channel's data mask: a land point of a sea variable is only ingest's fill) is False,
    summing to 1; an error when the box holds no grid point with data."""
    la0, la1, lo0, lo1 = (float(v) for v in box)
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    inside = ((lat >= la0) & (lat <= la1))[:, None] & ((lon >= lo0) & (lon <= lo1))[None, :]
    if not inside.any():
        raise SowcastError(f"{KEY}.box {list(box)} holds no grid point (the grid spans latitudes "
                           f"{lat.min():g}..{lat.max():g}, longitudes {lon.min():g}..{lon.max():g})")
    if valid is not None:
        inside &= np.asarray(valid, bool)
        if not inside.any():
            raise SowcastError(f"{KEY}.box {list(box)} holds no grid point where the variable has data")
    w = np.where(inside, np.cos(np.deg2rad(lat))[:, None], 0.0)
    return (w / w.sum()).astype(np.float32)


def _box(value: Any) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4 or not all(np.isfinite(box)) or box[0] > box[1] or box[2] > box[3]:
        raise SowcastError(f"{KEY}.box must be [lat_min, lat_max, lon_min, lon_max], not {value!r}")
    return box  # type: ignore[return-value]


def resolve_anchor(config: Mapping[str, Any] | None, channels: Sequence[str], lat: np.ndarray,
                   lon: np.ndarray, valid: np.ndarray | None = None) -> tuple[OceanAnchor | None, str]:
    """The anchor ``model.direct_ocean_index`` asks for on this store, and a line saying what
    was chosen (or why none was: ``auto`` only; otherwise the causes are errors). ``valid``
    ``[C, H, W]``: where each channel has data (None: everywhere)."""
    if not config:
        return None, "off"
    if not isinstance(config, Mapping):
        raise SowcastError(f"{KEY} must be a mapping {{variable, box}} or null, not {config!r}")
    unknown = set(config) - {"variable", "box"}
    if unknown:
        raise SowcastError(f"{KEY} has unknown key(s) {', '.join(sorted(map(str, unknown)))} (known: variable, box)")
    variable = config.get("variable") or AUTO
    box = _box(config.get("box") or ATL3_BOX)
    names = list(channels)
    if variable == AUTO:
        found = [v for v in AUTO_VARIABLES if v in names]
        if not found:
            return None, f"not applied: no {' or '.join(AUTO_VARIABLES)} channel"
        variable = found[0]
        try:
            weights = box_weights(lat, lon, box, None if valid is None else valid[names.index(variable)])
        except SowcastError as err:
            return None, f"not applied: {err}"
    else:
        if variable not in names:
            raise SowcastError(f"{KEY}.variable {variable!r} is not a channel of the store ({', '.join(names)})")
        weights = box_weights(lat, lon, box, None if valid is None else valid[names.index(variable)])
    anchor = OceanAnchor(names.index(variable), box, weights)
    return anchor, f"{variable} over {list(box)}"


def box_means(source, anchor: OceanAnchor, t0: int, t1: int) -> np.ndarray:
    """``B(x_t)`` ``[t1 - t0]`` (float64) of the store states ``t0 .. t1 - 1``."""
    out = np.empty(t1 - t0)
    for b0 in range(t0, t1, BLOCK):
        b1 = min(b0 + BLOCK, t1)
        states = source._read_states(b0, b1)[:, anchor.channel].astype(np.float64)
        out[b0 - t0:b1 - t0] = np.einsum("thw,hw->t", states, anchor.weights.astype(np.float64))
    return out


def fit_index(source, anchor: OceanAnchor, harmonics: int = HARMONICS) -> tuple[np.ndarray, np.ndarray]:
    """``(c, I)``: the harmonic fit ``c`` ``[2K+1]`` (float32) of the box mean of the state
    before each state of the training range (:func:`sowcast.data.seasonal_cycle.fit_range`),
    read at that state's time, and the index ``I`` ``[T]`` (NaN for a first state without one
    before it); an error where a box mean is not finite (missing values in the store's states)."""
    lo, hi, times = fit_range(source)
    means = box_means(source, anchor, max(lo - 1, 0), hi - 1)
    before = np.concatenate([[np.nan], means]) if lo == 0 else means          # [T]: B(x_{t-1})
    if not np.all(np.isfinite(means)):
        raise SowcastError(f"{KEY}: the mean of channel {anchor.channel} over {list(anchor.box)} is not finite "
                           "at some time (missing values in the store?)")
    theta = 2 * np.pi * year_progress(times)
    phi = np.stack(harmonic_terms(np.cos(theta), np.sin(theta), harmonics), -1)    # [T, 2K+1]
    n_terms = fitted_terms(times, harmonics)
    ok = np.isfinite(before)
    c = np.zeros(phi.shape[1])
    c[:n_terms] = np.linalg.lstsq(phi[ok, :n_terms], before[ok], rcond=None)[0]
    return c.astype(np.float32), before - phi @ c
