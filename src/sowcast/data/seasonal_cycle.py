"""The training years' seasonal cycle of a channel, per grid point, as harmonics of the year.

``m(c, h, w, t) = sum_k a_k(c, h, w) phi_k(t)`` with the basis
``phi(t) = [1, cos θ, sin θ, cos 2θ, sin 2θ, ..., cos Kθ, sin Kθ]``, ``θ = 2 pi`` times the
year progress (:func:`sowcast.data.forcings.year_progress`, the model's own
``sin/cos_year_progress`` forcings), fitted by least squares over every state of a window
source's span (the training range): the normal equations ``(Φᵀ Φ) a = Φᵀ y`` summed block by
block. Three harmonics, as the annual cycle fits of WeatherBench 2's and the S2S
reforecast climatologies, follow a single rainy season and a double one (the Guinea coast)
without fitting the weather. Log-space channels are fitted in log space (as the model sees them).
A span shorter than a year cannot tell a season from the weather: there only the mean is
fitted (the harmonics' coefficients stay 0).

The seasonal variance ``v(c, h, w, t)`` is the same fit of the squared anomaly
``(y - m(t))**2`` (:func:`fit_seasonal_variance`): the scale a direct channel's anomaly is
predicted in with ``model.direct_scale_floor`` (:mod:`sowcast.model.normalization`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sowcast.data.forcings import year_progress
from sowcast.errors import SowcastError

HARMONICS = 3
MAX_HARMONICS = 12   # a cap on model.direct_harmonics: beyond it a fit of 20 years follows the weather
BLOCK = 512


def harmonic_terms(cos1, sin1, harmonics: int) -> list:
    """The basis ``[1, cos θ, sin θ, ..., cos Kθ, sin Kθ]`` as a list of arrays (numpy or
    torch) from ``cos θ`` and ``sin θ`` alone (angle addition: an exported graph needs no
    trigonometry)."""
    terms = [cos1 * 0 + 1, cos1, sin1]
    c, s = cos1, sin1
    for _ in range(harmonics - 1):
        c, s = c * cos1 - s * sin1, s * cos1 + c * sin1
        terms += [c, s]
    return terms


def _signed_power(y: np.ndarray, p: float) -> np.ndarray:
    """``sign(y) |y|**p`` (the model's ``signed_power``, in numpy)."""
    return np.sign(y) * np.abs(y) ** p


def fit_range(source) -> tuple[int, int, np.ndarray]:
    """``(lo, hi, times)``: the store indices (``hi`` exclusive) and times of every state of a
    window source's training range, the states the fits run over."""
    lo = source._first - source.n_input_steps + 1
    hi = source._first + source._count + source.n_target_steps   # exclusive
    return lo, hi, np.asarray(source.times[lo:hi])


def fitted_terms(times: np.ndarray, harmonics: int) -> int:
    """How many basis terms a fit over ``times`` takes: all ``2K+1`` over a year or more, else
    the mean alone (module doc)."""
    span_days = (times[-1] - times[0]) / np.timedelta64(1, "D") if len(times) else 0.0
    return 2 * harmonics + 1 if span_days >= 365 else 1


def _fit_harmonics(source, channels: Sequence[int], log_offsets: Sequence[float] | None, harmonics: int,
                   quantity=None, power: float | None = None, index: np.ndarray | None = None,
                   index_basis: bool = True) -> np.ndarray:
    """``[C, 2K+1, H, W]``: least-squares harmonic coefficients of ``quantity(y, phi, index)``
    (``y`` itself when None; ``y = sign(x) |x|**power`` with ``power``) over the training range
    of ``source`` for ``channels``, zeros elsewhere. With ``index`` (``[T]``, one value per state
    of :func:`fit_range`, NaN: leave the state out) the basis is ``[phi, index * phi]`` and the
    result ``[C, 2 (2K+1), H, W]``: the cycle, then the index's coefficients
    (:mod:`sowcast.data.ocean_anchor`); with ``index_basis=False`` the index only reaches
    ``quantity`` (and still leaves its NaN states out)."""
    n_chan, (n_lat, n_lon) = len(source.channels), source.grid.shape
    n_basis = 2 * harmonics + 1
    doubled = index is not None and index_basis
    coeffs = np.zeros((n_chan, n_basis * (2 if doubled else 1), n_lat, n_lon), np.float32)
    channels = sorted(int(c) for c in channels)
    if not channels:
        return coeffs
    offsets = np.zeros(n_chan) if log_offsets is None else np.asarray(log_offsets, np.float64)
    lo, hi, times = fit_range(source)
    if len(times) == 0:
        raise SowcastError("the training range holds no state to fit a seasonal cycle to")
    n_terms = fitted_terms(times, harmonics)
    n_fit = n_terms * (2 if doubled else 1)
    gram = np.zeros((n_fit, n_fit))
    moments = np.zeros((n_fit, len(channels), n_lat, n_lon))
    for t0 in range(lo, hi, BLOCK):
        t1 = min(t0 + BLOCK, hi)
        theta = 2 * np.pi * year_progress(times[t0 - lo:t1 - lo])
        phi = np.stack(harmonic_terms(np.cos(theta), np.sin(theta), harmonics), -1)  # [T, 2K+1]
        y = source._read_states(t0, t1)[:, channels].astype(np.float64)           # [T, c, H, W]
        k = offsets[channels] > 0
        if k.any():
            y[:, k] = np.log1p(np.maximum(y[:, k], 0.0) / offsets[channels][k][None, :, None, None])
        if power is not None:
            y = _signed_power(y, power)
        block_index = None if index is None else np.asarray(index[t0 - lo:t1 - lo], np.float64)
        keep = np.ones(t1 - t0) if block_index is None else np.isfinite(block_index).astype(np.float64)
        if block_index is not None:
            block_index = np.where(keep > 0, block_index, 0.0)
        y = y if quantity is None else quantity(y, phi, block_index)
        basis = phi[:, :n_terms]
        if doubled:
            basis = np.concatenate([basis, block_index[:, None] * basis], axis=1)
        gram += (basis * keep[:, None]).T @ basis
        moments += np.einsum("tk,tchw->kchw", basis * keep[:, None], y)
    solved = np.linalg.solve(gram, moments.reshape(gram.shape[0], -1)).reshape(moments.shape)
    solved = np.moveaxis(solved, 0, 1)                                               # [c, n_fit, H, W]
    coeffs[channels, :n_terms] = solved[:, :n_terms]
    if doubled:
        coeffs[channels, n_basis:n_basis + n_terms] = solved[:, n_terms:]
    return coeffs


def fit_seasonal_cycle(source, channels: Sequence[int], log_offsets: Sequence[float] | None = None,
                       harmonics: int = HARMONICS, power: float | None = None,
                       index: np.ndarray | None = None) -> np.ndarray:
    """``[C, 2K+1, H, W]`` float32 coefficients: the module's fit for ``channels``, zeros for
    the other channels of ``source`` (a :class:`sowcast.data.windows.WindowSource`); of
    ``sign(x) |x|**power`` with ``power``. With an ``index`` (``[T]`` over :func:`fit_range`),
    ``[C, 2 (2K+1), H, W]``: the cycle and the index's coefficients fitted together."""
    return _fit_harmonics(source, channels, log_offsets, harmonics, power=power, index=index)


def fit_seasonal_variance(source, channels: Sequence[int], cycle: np.ndarray,
                          log_offsets: Sequence[float] | None = None, harmonics: int = HARMONICS,
                          power: float | None = None, centre_power: float | None = None,
                          ocean: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``[C, 2K+1, H, W]``: the harmonic fit of the squared anomaly ``(y - m(t))**2`` from the
    seasonal cycle ``cycle`` (:func:`fit_seasonal_cycle`), the seasonal variance ``v(t)`` of
    each point (a fit, so it may dip below 0 where the variance is near 0: the user floors it).
    With ``centre_power`` the centre is ``sign(c) |c|**centre_power`` of the cycle ``c`` read at
    ``t`` (a cycle fitted to ``x``, centred as ``model.direct_power_centre: power_of_mean``).
    With ``ocean = (coefficients, index)`` the centre is moved by the index as the model moves it
    (:mod:`sowcast.data.ocean_anchor`)."""
    channels = sorted(int(c) for c in channels)
    ocean_coefficients, index = (None, None) if ocean is None else ocean

    def squared_anomaly(y: np.ndarray, phi: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        mean = np.einsum("tk,ckhw->tchw", phi, cycle[channels].astype(np.float64))
        if idx is not None:   # the centre moved by the index (sowcast.data.ocean_anchor)
            mean += idx[:, None, None, None] * np.einsum("tk,ckhw->tchw", phi, ocean_coefficients[channels].astype(np.float64))
        if centre_power is not None:
            mean = _signed_power(mean, centre_power)
        return (y - mean) ** 2

    return _fit_harmonics(source, channels, log_offsets, harmonics, squared_anomaly, power, index, index_basis=False)
