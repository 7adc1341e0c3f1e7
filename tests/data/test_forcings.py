"""Forcings: insolation against textbook values and physical identities, clock features."""

import numpy as np
import pandas as pd
import pytest

from sowcast.data import forcings as fx
from sowcast.data.forcings import FORCING_NAMES, SOLAR_CONSTANT, compute_forcings


def _t(*stamps: str) -> np.ndarray:
    return np.array(stamps, dtype="datetime64[ns]")


def _duffie_beckman_e0(day_of_year: int) -> float:
    """Independent, simpler distance factor: 1 + 0.033 cos(2 pi n / 365) (Duffie & Beckman)."""
    return 1 + 0.033 * np.cos(2 * np.pi * day_of_year / 365)


def test_compute_forcings_names_shapes_dtype():
    times = pd.date_range("2001-07-01", periods=3, freq="6h").values
    lat, lon = np.array([-10.0, 0.0, 10.0]), np.array([-20.0, 0.0, 20.0, 40.0])
    out = compute_forcings(times, lat, lon, pd.Timedelta(hours=6))
    assert tuple(out) == FORCING_NAMES
    for name, values in out.items():
        assert values.shape == (3, 3, 4), name
        assert values.dtype == np.float32
        assert np.isfinite(values).all()


def test_daily_mean_at_equator_on_equinox():
    """Daily-mean TISR at the equator at equinox = S0 E0 / pi (declination ~0)."""
    tisr = fx.toa_incident_solar_radiation(_t("2021-03-20"), [0.0], [0.0, 90.0, -150.0], pd.Timedelta(days=1))
    expected = SOLAR_CONSTANT / np.pi * _duffie_beckman_e0(79)
    assert expected == pytest.approx(436.6, abs=1.0)
    np.testing.assert_allclose(tisr, expected, rtol=0.02)
    # and the same value for every longitude (a whole day is integrated)
    np.testing.assert_allclose(tisr, tisr[0, 0, 0], rtol=1e-3)


def test_polar_night_and_polar_day():
    day = pd.Timedelta(days=1)
    dec = fx.toa_incident_solar_radiation(_t("2022-12-21"), [80.0, -80.0], [0.0], day)[:, :, 0]
    assert dec[0, 0] == 0.0  # polar night at 80 N
    assert dec[0, 1] > 500.0  # polar day at 80 S (about 550 W m-2 near perihelion)
    six_hourly = compute_forcings(pd.date_range("2022-12-21", periods=4, freq="6h").values,
                                  np.array([80.0]), np.array([0.0, 120.0]), pd.Timedelta(hours=6))
    assert (six_hourly["toa_incident_solar_radiation"] == 0).all()


def test_noon_at_subsolar_point_is_s0_times_distance_factor():
    """The brightest point of the globe at 12 UTC on 21 June: near 23.44 N, 0 E, S0 * E0."""
    lat = np.arange(-90, 90.01, 0.25)
    lon = np.arange(-180, 180, 0.25)
    inst = fx.toa_incident_solar_radiation(_t("2023-06-21T12:00"), lat, lon)[0]
    i, j = np.unravel_index(np.argmax(inst), inst.shape)
    assert lat[i] == pytest.approx(23.44, abs=0.5)
    assert lon[j] == pytest.approx(0.0, abs=1.5)  # equation of time is ~ -1.7 min then
    e0 = _duffie_beckman_e0(172)  # near aphelion: 0.967
    assert inst.max() == pytest.approx(SOLAR_CONSTANT * e0, rel=2e-3)
    # midnight on the other side of the globe
    assert inst[i, np.argmin(np.abs(lon - 180 + 0.25))] == 0.0


@pytest.mark.parametrize("step", [None, "3h", "1D", "5D"])
def test_global_mean_is_quarter_of_s0(step):
    """The sphere intercepts a disc: global mean insolation = S0 E0 / 4 at every instant."""
    lat = np.linspace(-89.9, 89.9, 900)
    lon = np.linspace(-180, 179.6, 900)
    times = _t("2010-01-04T03:00", "2010-09-15T18:00")
    tisr = fx.toa_incident_solar_radiation(times, lat, lon, step and pd.Timedelta(step))
    w = np.cos(np.deg2rad(lat))
    global_mean = (tisr.mean(axis=2) * w).sum(axis=1) / w.sum()
    e0 = fx.earth_sun_distance_factor(times)
    np.testing.assert_allclose(global_mean, SOLAR_CONSTANT * e0 / 4, rtol=3e-3)


def test_daily_mean_equals_mean_of_fine_substeps():
    lat = np.linspace(-85, 85, 18)
    lon = np.linspace(-180, 160, 18)
    day = fx.toa_incident_solar_radiation(_t("2015-05-03"), lat, lon, pd.Timedelta(days=1))[0]
    fine_times = pd.date_range("2015-05-03", periods=144, freq="10min").values
    fine = fx.toa_incident_solar_radiation(fine_times, lat, lon, pd.Timedelta(minutes=10)).mean(axis=0)
    np.testing.assert_allclose(day, fine, atol=1.0)  # W m-2; declination drifts within the day
    instantaneous = fx.toa_incident_solar_radiation(fine_times, lat, lon).mean(axis=0)
    np.testing.assert_allclose(day, instantaneous, atol=1.5)


def test_step_mean_is_mean_over_the_step_that_begins_at_the_label():
    lat, lon = np.array([12.0]), np.array([-2.0])
    six = fx.toa_incident_solar_radiation(_t("2020-08-01T06:00"), lat, lon, pd.Timedelta(hours=6))[0, 0, 0]
    fine = pd.date_range("2020-08-01T06:00", periods=360, freq="1min").values + np.timedelta64(30, "s")
    assert six == pytest.approx(fx.toa_incident_solar_radiation(fine, lat, lon).mean(), rel=1e-3)
    before = fx.toa_incident_solar_radiation(_t("2020-08-01T00:00"), lat, lon, pd.Timedelta(hours=6))[0, 0, 0]
    assert before < 0.2 * six  # the night before is dark; the morning is not


def test_year_progress_is_periodic_and_unit_circle():
    year = np.timedelta64(int(fx.AVG_SECONDS_PER_YEAR * 1e9), "ns")
    t0 = _t("1999-02-11T07:00", "2024-12-31T23:00")
    a = compute_forcings(t0, np.array([0.0]), np.array([0.0]), pd.Timedelta(days=1))
    b = compute_forcings(t0 + 7 * year, np.array([0.0]), np.array([0.0]), pd.Timedelta(days=1))
    for name in ("sin_year_progress", "cos_year_progress"):
        np.testing.assert_allclose(a[name], b[name], atol=1e-5)
    np.testing.assert_allclose(a["sin_year_progress"] ** 2 + a["cos_year_progress"] ** 2, 1, atol=1e-6)
    half = compute_forcings(t0 + year // 2, np.array([0.0]), np.array([0.0]), pd.Timedelta(days=1))
    np.testing.assert_allclose(half["cos_year_progress"], -a["cos_year_progress"], atol=1e-5)
    assert fx.year_progress(_t("1970-01-01"))[0] == 0.0


def test_local_time_of_day_follows_longitude():
    lon = np.array([-90.0, 0.0, 90.0, -180.0])
    out = compute_forcings(_t("2005-06-01T12:00"), np.array([5.0]), lon, pd.Timedelta(hours=1))
    angle = np.arctan2(out["sin_local_time_of_day"][0, 0], out["cos_local_time_of_day"][0, 0])
    # 12 UTC: local noon at 0 E (angle pi), 06 at 90 W, 18 at 90 E, midnight at 180.
    expected = np.array([0.5 * np.pi, np.pi, 1.5 * np.pi, 0.0])
    np.testing.assert_allclose(np.mod(angle, 2 * np.pi), np.mod(expected, 2 * np.pi), atol=1e-5)
