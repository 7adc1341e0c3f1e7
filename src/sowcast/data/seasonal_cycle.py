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


def _fit_harmonics(source, channels: Sequence[int], log_offsets: Sequence[float] | None, harmonics: int,
                   quantity=None, power: float | None = None) -> np.ndarray:
    """``[C, 2K+1, H, W]``: least-squares harmonic coefficients of ``quantity(y, phi)`` (``y``
    itself when None; ``y = sign(x) |x|**power`` with ``power``) over the training range of
    ``source`` for ``channels``, zeros elsewhere."""
    n_chan, (n_lat, n_lon) = len(source.channels), source.grid.shape
    coeffs = np.zeros((n_chan, 2 * harmonics + 1, n_lat, n_lon), np.float32)
    channels = sorted(int(c) for c in channels)
    if not channels:
        return coeffs
    offsets = np.zeros(n_chan) if log_offsets is None else np.asarray(log_offsets, np.float64)
    lo = source._first - source.n_input_steps + 1
    hi = source._first + source._count + source.n_target_steps   # exclusive
    times = np.asarray(source.times[lo:hi])
    if len(times) == 0:
        raise SowcastError("the training range holds no state to fit a seasonal cycle to")
    span_days = (times[-1] - times[0]) / np.timedelta64(1, "D")
    n_terms = 2 * harmonics + 1 if span_days >= 365 else 1
    gram = np.zeros((n_terms, n_terms))
    moments = np.zeros((n_terms, len(channels), n_lat, n_lon))
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
        y = y if quantity is None else quantity(y, phi)
        phi = phi[:, :n_terms]
        gram += phi.T @ phi
        moments += np.einsum("tk,tchw->kchw", phi, y)
    solved = np.linalg.solve(gram, moments.reshape(gram.shape[0], -1)).reshape(moments.shape)
    coeffs[channels, :n_terms] = np.moveaxis(solved, 0, 1)
    return coeffs


def fit_seasonal_cycle(source, channels: Sequence[int], log_offsets: Sequence[float] | None = None,
                       harmonics: int = HARMONICS, power: float | None = None) -> np.ndarray:
    """``[C, 2K+1, H, W]`` float32 coefficients: the module's fit for ``channels``, zeros for
    the other channels of ``source`` (a :class:`sowcast.data.windows.WindowSource`); of
    ``sign(x) |x|**power`` with ``power``."""
    return _fit_harmonics(source, channels, log_offsets, harmonics, power=power)


def fit_seasonal_variance(source, channels: Sequence[int], cycle: np.ndarray,
                          log_offsets: Sequence[float] | None = None, harmonics: int = HARMONICS,
                          power: float | None = None, centre_power: float | None = None) -> np.ndarray:
    """``[C, 2K+1, H, W]``: the harmonic fit of the squared anomaly ``(y - m(t))**2`` from the
    seasonal cycle ``cycle`` (:func:`fit_seasonal_cycle`), the seasonal variance ``v(t)`` of
    each point (a fit, so it may dip below 0 where the variance is near 0: the user floors it).
    With ``centre_power`` the centre is ``sign(c) |c|**centre_power`` of the cycle ``c`` read at
    ``t`` (a cycle fitted to ``x``, centred as ``model.direct_power_centre: power_of_mean``)."""
    channels = sorted(int(c) for c in channels)

    def squared_anomaly(y: np.ndarray, phi: np.ndarray) -> np.ndarray:
        mean = np.einsum("tk,ckhw->tchw", phi, cycle[channels].astype(np.float64))
        if centre_power is not None:
            mean = _signed_power(mean, centre_power)
        return (y - mean) ** 2

    return _fit_harmonics(source, channels, log_offsets, harmonics, squared_anomaly, power)
