"""Forcings the model is given for every time it sees: insolation and clock features.

Numpy only (no torch): training computes them in the loader, the edge forecast engine
computes the same values for the times it rolls out to.

* ``toa_incident_solar_radiation`` (W m-2): top-of-atmosphere incident shortwave flux,
  *mean over the step* ``[t, t + step)`` that begins at the time label (the same
  convention as precipitation in the canonical store); for a daily step it is the daily
  mean insolation. Instantaneously ``S = S0 * E0 * max(0, cos(theta_z))`` with

  - ``S0 = 1361 W m-2`` (total solar irradiance, Kopp & Lean 2011, GRL 38, L01706);
  - ``E0 = (r0 / r)^2``, the Earth-Sun distance factor, and the solar declination
    ``delta`` and equation of time from the Fourier series of Spencer (1971), "Fourier
    series representation of the position of the Sun", Search 2(5), 172 (as in Iqbal 1983,
    "An Introduction to Solar Radiation", ch. 1, and the NOAA solar calculator notes);
  - ``cos(theta_z) = sin(phi) sin(delta) + cos(phi) cos(delta) cos(h)``, hour angle
    ``h = 2 pi (UTC day fraction + lon / 360 + EoT / 1440) - pi``.

  The step mean integrates ``max(0, a + b cos h)`` over the hour angle exactly (with
  ``a = sin phi sin delta``, ``b = cos phi cos delta`` and ``delta``, ``E0``, EoT taken at
  the middle of the step). Over a whole day this is the classical daily mean
  ``S0 E0 / pi * (h0 sin phi sin delta + cos phi cos delta sin h0)``, ``cos h0 =
  -tan phi tan delta`` (Iqbal 1983, eq. 1.10.3). Steps longer than a day are averaged
  over one-day pieces.
* ``sin/cos_year_progress``: ``2 pi`` times the fraction of a mean tropical year
  (365.24219 days) elapsed since 1970-01-01, as in GraphCast (Lam et al. 2023,
  ``graphcast/data_utils.py``); periodic with the tropical year, no jump at leap years.
* ``sin/cos_local_time_of_day``: ``2 pi`` times the local mean solar time as a fraction
  of a day, ``(UTC seconds of day / 86400 + lon / 360) mod 1`` (GraphCast's day progress).

All outputs are float32 arrays ``[T, lat, lon]``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sowcast.errors import SowcastError

SOLAR_CONSTANT = 1361.0  # W m-2, Kopp & Lean (2011)
SECONDS_PER_DAY = 86400.0
AVG_SECONDS_PER_YEAR = 365.24219 * SECONDS_PER_DAY  # mean tropical year, as in GraphCast

FORCING_NAMES: tuple[str, ...] = (
    "toa_incident_solar_radiation",
    "sin_year_progress",
    "cos_year_progress",
    "sin_local_time_of_day",
    "cos_local_time_of_day",
)


def _as_times(times: np.ndarray) -> np.ndarray:
    t = np.asarray(times)
    if t.ndim == 0:
        t = t[None]
    if not np.issubdtype(t.dtype, np.datetime64):
        try:
            t = pd.DatetimeIndex(t).values
        except (TypeError, ValueError):
            raise SowcastError(f"forcing times must be datetimes, not {t.dtype}") from None
    return t.astype("datetime64[ns]")


def _seconds_since_epoch(times: np.ndarray) -> np.ndarray:
    """Float seconds since 1970-01-01T00 UTC."""
    return _as_times(times).astype(np.int64) / 1e9


def _day_angle(times: np.ndarray) -> np.ndarray:
    """Spencer's day angle ``Gamma = 2 pi (day of year - 1) / days in year`` (fractional days)."""
    t = _as_times(times)
    year_start = t.astype("datetime64[Y]")
    year_length = (year_start + np.timedelta64(1, "Y")).astype("datetime64[ns]") - year_start.astype("datetime64[ns]")
    elapsed = t - year_start.astype("datetime64[ns]")
    return 2 * np.pi * (elapsed.astype(np.int64) / year_length.astype(np.int64))


def solar_declination(times: np.ndarray) -> np.ndarray:
    """Solar declination ``delta`` in radians (Spencer 1971; max error about 0.0006 rad)."""
    g = _day_angle(times)
    return (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g)
            - 0.006758 * np.cos(2 * g) + 0.000907 * np.sin(2 * g)
            - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))


def equation_of_time(times: np.ndarray) -> np.ndarray:
    """Equation of time in minutes, apparent minus mean solar time (Spencer 1971)."""
    g = _day_angle(times)
    return 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
                     - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g))


def earth_sun_distance_factor(times: np.ndarray) -> np.ndarray:
    """``E0 = (r0 / r)^2``, the inverse squared Earth-Sun distance in AU (Spencer 1971)."""
    g = _day_angle(times)
    return (1.000110 + 0.034221 * np.cos(g) + 0.001280 * np.sin(g)
            + 0.000719 * np.cos(2 * g) + 0.000077 * np.sin(2 * g))


def _hour_angle(times: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Hour angle in radians ``[T, lon]``, zero at local solar noon (not wrapped)."""
    sec = _seconds_since_epoch(times)
    day_fraction = np.mod(sec, SECONDS_PER_DAY) / SECONDS_PER_DAY
    solar = day_fraction + equation_of_time(times) / 1440.0
    return 2 * np.pi * (solar[:, None] + np.asarray(lon, np.float64)[None, :] / 360.0) - np.pi


def _grid(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    if lat.ndim != 1 or lon.ndim != 1:
        raise SowcastError("forcings need 1-D lat and lon coordinates")
    return lat, lon


def cos_solar_zenith(times: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Instantaneous ``cos(theta_z)`` ``[T, lat, lon]`` (float64, negative at night)."""
    lat, lon = _grid(lat, lon)
    phi = np.deg2rad(lat)[None, :, None]
    dec = solar_declination(times)[:, None, None]
    h = _hour_angle(times, lon)[:, None, :]
    return np.sin(phi) * np.sin(dec) + np.cos(phi) * np.cos(dec) * np.cos(h)


def _integral_positive_cos(a: np.ndarray, b: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """``int_{h1}^{h2} max(0, a + b cos h) dh`` for ``b >= 0``, exactly, vectorised.

    With the half-day length ``h0 = arccos(clip(-a / b, -1, 1))`` the antiderivative over
    one period ``[-pi, pi)`` is ``G(r) = a (c + h0) + b (sin c + sin h0)``, ``c = clip(r, -h0,
    h0)``; each whole period adds ``P = 2 (a h0 + b sin h0)``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b > 0, -a / np.where(b > 0, b, 1.0), np.where(a > 0, -1.0, 1.0))
    h0 = np.arccos(np.clip(ratio, -1.0, 1.0))
    period = 2 * (a * h0 + b * np.sin(h0))

    def antiderivative(h: np.ndarray) -> np.ndarray:
        k = np.floor((h + np.pi) / (2 * np.pi))
        r = h - 2 * np.pi * k
        c = np.clip(r, -h0, h0)
        return k * period + a * (c + h0) + b * (np.sin(c) + np.sin(h0))

    return antiderivative(h2) - antiderivative(h1)


def _mean_insolation(start: np.ndarray, step_ns: int, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Mean TOA flux over ``[start, start + step)`` for steps of at most one day."""
    mid = start + np.timedelta64(step_ns // 2, "ns")
    phi = np.deg2rad(lat)[None, :, None]
    dec = solar_declination(mid)[:, None, None]
    e0 = earth_sun_distance_factor(mid)[:, None, None]
    a = np.sin(phi) * np.sin(dec)
    b = np.cos(phi) * np.cos(dec)
    # Hour angles at both ends, with the equation of time of the middle of the step.
    sec = _seconds_since_epoch(start)
    day_fraction = np.mod(sec, SECONDS_PER_DAY) / SECONDS_PER_DAY
    solar = day_fraction + equation_of_time(mid) / 1440.0
    h1 = (2 * np.pi * (solar[:, None] + lon[None, :] / 360.0) - np.pi)[:, None, :]
    dh = 2 * np.pi * step_ns / (SECONDS_PER_DAY * 1e9)
    integral = _integral_positive_cos(a, np.maximum(b, 0.0), h1, h1 + dh)
    return SOLAR_CONSTANT * e0 * integral / dh


def toa_incident_solar_radiation(times: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                                 step: pd.Timedelta | None = None) -> np.ndarray:
    """TOA incident solar flux (W m-2) ``[T, lat, lon]`` float64.

    ``step=None`` (or zero): the instantaneous flux at each time. Otherwise the mean over
    ``[t, t + step)``, integrated exactly in hour angle (see the module docstring).
    """
    lat, lon = _grid(lat, lon)
    times = _as_times(times)
    if step is None or pd.Timedelta(step) == pd.Timedelta(0):
        cz = cos_solar_zenith(times, lat, lon)
        return SOLAR_CONSTANT * earth_sun_distance_factor(times)[:, None, None] * np.maximum(cz, 0.0)
    step_ns = int(pd.Timedelta(step).value)
    if step_ns < 0:
        raise SowcastError(f"the forcing step must be positive, not {pd.Timedelta(step)}")
    day_ns = int(SECONDS_PER_DAY * 1e9)
    n_pieces = -(-step_ns // day_ns)  # ceil: pieces of at most one day
    piece_ns = step_ns // n_pieces
    total = np.zeros((len(times), len(lat), len(lon)))
    for k in range(n_pieces):
        length = piece_ns if k < n_pieces - 1 else step_ns - piece_ns * (n_pieces - 1)
        start = times + np.timedelta64(k * piece_ns, "ns")
        total += _mean_insolation(start, length, lat, lon) * (length / step_ns)
    return total


def year_progress(times: np.ndarray) -> np.ndarray:
    """Fraction of the mean tropical year elapsed since 1970-01-01, in ``[0, 1)`` ``[T]``."""
    return np.mod(_seconds_since_epoch(times) / AVG_SECONDS_PER_YEAR, 1.0)


def local_time_of_day(times: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Local mean solar time as a fraction of a day ``[T, lon]``: ``(UTC / 1 day + lon / 360) mod 1``."""
    sec = _seconds_since_epoch(times)
    frac = np.mod(sec, SECONDS_PER_DAY) / SECONDS_PER_DAY
    return np.mod(frac[:, None] + np.asarray(lon, np.float64)[None, :] / 360.0, 1.0)


def compute_forcings(times: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                     step: pd.Timedelta) -> dict[str, np.ndarray]:
    """All :data:`FORCING_NAMES`, each a float32 array ``[T, lat, lon]``.

    ``toa_incident_solar_radiation`` is the mean over ``[t, t + step)``; the clock
    features are taken at the time labels ``t``.
    """
    lat, lon = _grid(lat, lon)
    times = _as_times(times)
    shape = (len(times), len(lat), len(lon))
    yp = 2 * np.pi * year_progress(times)[:, None, None]
    lt = 2 * np.pi * local_time_of_day(times, lon)[:, None, :]
    out = {
        "toa_incident_solar_radiation": toa_incident_solar_radiation(times, lat, lon, step),
        "sin_year_progress": np.broadcast_to(np.sin(yp), shape),
        "cos_year_progress": np.broadcast_to(np.cos(yp), shape),
        "sin_local_time_of_day": np.broadcast_to(np.sin(lt), shape),
        "cos_local_time_of_day": np.broadcast_to(np.cos(lt), shape),
    }
    return {name: np.ascontiguousarray(out[name], dtype=np.float32) for name in FORCING_NAMES}
