"""Tests of sowcast.data.stations on the real Niger records and on small bad CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sowcast.data.statistics import compute_statistics
from sowcast.data.stations import is_station_csv, read_station_csv, validate_points
from sowcast.data.store import open_store, write_store
from sowcast.errors import SowcastError

ROOT = Path(__file__).parents[2]
REAL = ROOT.parent / "shared/data/real/daily_niger.csv"
COORDS = ROOT / "data/stations/niger_stations.csv"
HEADER = "station_name,date,year,month,doy,day,tmax,tmin,rain,hmax,hmin,sunh,ws,wd\n"

needs_real = pytest.mark.skipif(not REAL.is_file(), reason=f"real sample data absent: {REAL}")


@pytest.fixture(scope="module")
def niger() -> xr.Dataset:
    if not REAL.is_file():
        pytest.skip(f"real sample data absent: {REAL}")
    return read_station_csv(REAL, stations=COORDS)


@needs_real
def test_real_file_shape_span_and_form(niger):
    assert list(niger["station"].values) == ["Agades", "Birni N'Konni", "Niamey_Aero", "Zinder"]
    assert niger.sizes == {"time": 14976, "station": 4}
    assert str(niger["time"].values[0])[:10] == "1940-01-01" and str(niger["time"].values[-1])[:10] == "1980-12-31"
    assert niger.attrs["featureType"] == "timeSeries" and niger.attrs["time_step"] == "P1D"
    assert niger.attrs["precipitation_accumulation"] == "period_beginning"
    assert set(niger.data_vars) == {"total_precipitation", "maximum_2m_temperature", "minimum_2m_temperature",
                                    "relative_humidity_2m", "sunshine_duration", "10m_wind_speed"}
    assert all(v.dtype == np.float32 and v.dims == ("time", "station") for v in niger.data_vars.values())
    assert niger["total_precipitation"].attrs["units"] == "mm"
    assert niger["maximum_2m_temperature"].attrs["units"] == "K"
    assert niger.sel(station="Agades")["lat"].item() == pytest.approx(16.97)
    assert niger.sel(station="Zinder")["lon"].item() == pytest.approx(8.98)
    validate_points(niger)


@needs_real
@pytest.mark.parametrize("station, date, tmax, tmin, rain, hmax, hmin, sunh, ws", [
    ("Niamey_Aero", "1950-08-15", 29.2, 22.8, 0.5, 92, 74, 1.8, 7),
    ("Zinder", "1970-07-20", 33.4, 18.3, 13.5, 94, 41, 5.3, 19),
    ("Birni N'Konni", "1960-01-01", 27.2, 11.6, 0.0, 40, 25, 9.6, 7),
])
def test_real_values_equal_the_csv(niger, station, date, tmax, tmin, rain, hmax, hmin, sunh, ws):
    row = niger.sel(station=station, time=date)
    assert row["maximum_2m_temperature"].item() == pytest.approx(tmax + 273.15, abs=1e-4)
    assert row["minimum_2m_temperature"].item() == pytest.approx(tmin + 273.15, abs=1e-4)
    assert row["total_precipitation"].item() == pytest.approx(rain, abs=1e-6)
    assert row["relative_humidity_2m"].item() == pytest.approx((hmax + hmin) / 2)
    assert row["sunshine_duration"].item() == pytest.approx(sunh, abs=1e-6)
    assert row["10m_wind_speed"].item() == pytest.approx(ws)


@needs_real
def test_real_missing_values_are_nan(niger):
    # Agades,1945-01-01: every field empty; Agades,1959-08-04: tmax present, rain empty.
    assert niger.sel(station="Agades", time="1945-01-01").to_array().isnull().all()
    row = niger.sel(station="Agades", time="1959-08-04")
    assert np.isnan(row["total_precipitation"]) and row["maximum_2m_temperature"] == pytest.approx(35.5 + 273.15)
    # Before Zinder's record starts (1945): NaN rows, not zeros.
    assert niger["total_precipitation"].sel(station="Zinder", time="1942").isnull().all()
    assert niger["total_precipitation"].sel(station="Niamey_Aero", time="1942").notnull().sum() > 300


@needs_real
def test_real_rainfall_climate_is_plausible(niger):
    annual = niger["total_precipitation"].resample(time="YS").sum(min_count=330)
    mean = annual.mean("time")
    assert 400 < mean.sel(station="Niamey_Aero") < 900
    assert mean.sel(station="Agades") < 0.5 * mean.sel(station="Niamey_Aero")
    assert (niger["total_precipitation"].min() >= 0).item()


@needs_real
def test_real_point_store_round_trips(niger, tmp_path):
    ds = read_station_csv(REAL, stations=COORDS, variables=["total_precipitation", "tmax"],
                          time_range=("1975", "1980"))
    assert list(ds.data_vars) == ["total_precipitation", "maximum_2m_temperature"]
    assert ds.sizes["time"] == 6 * 365 + 2
    path = write_store(ds, tmp_path / "points.zarr", statistics=compute_statistics(ds),
                       validate=False, chunks={"time": 4096}, progress=False)
    back = open_store(path).load()
    validate_points(back)
    xr.testing.assert_allclose(back.drop_attrs(), ds.drop_attrs())
    assert list(back["station"].values) == list(ds["station"].values)
    assert back.attrs["featureType"] == "timeSeries"


@needs_real
def test_is_station_csv():
    assert is_station_csv(REAL)
    nc = REAL.parent / "ncep_air_temperature_small.nc"
    if nc.is_file():
        assert not is_station_csv(nc)
    assert not is_station_csv(COORDS)  # coordinates, no date column
    assert not is_station_csv(REAL.parent / "no-such-file.csv")


# --- bad input on small CSVs -------------------------------------------------------------

def _write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    p = tmp_path / "s.csv"
    p.write_text(header + "".join(r + "\n" for r in rows))
    return p


GOOD = ["Niamey_Aero,1960-01-01,1960,Jan,1,1,30.1,15.2,0.0,40,20,9.0,3,90",
        "Niamey_Aero,1960-01-03,1960,Jan,3,3,31.0,15.0,2.5,40,20,9.0,3,90",
        "Zinder,1960-01-02,1960,Jan,2,2,29.0,12.0,,,,,,"]


def test_small_csv_fills_missing_days_and_spans(tmp_path):
    ds = read_station_csv(_write(tmp_path, GOOD), stations=COORDS)
    assert ds.sizes == {"time": 3, "station": 2}
    rain = ds["total_precipitation"]
    np.testing.assert_array_equal(rain.sel(station="Niamey_Aero").values, [0.0, np.nan, 2.5])
    assert rain.sel(station="Zinder").isnull().all()  # empty field and outside its span
    assert ds["maximum_2m_temperature"].sel(station="Zinder", time="1960-01-02").item() == pytest.approx(302.15)


@pytest.mark.parametrize("rows, header, match", [
    (GOOD + [GOOD[0]], HEADER, "duplicated record for station 'Niamey_Aero' on 1960-01-01"),
    (GOOD + ["Zinder,1960-13-45,1960,Jan,2,2,29.0,12.0,,,,,,"], HEADER, "unparsable date '1960-13-45'"),
    (GOOD + ["Zinder,1960-01-05,1960,Jan,5,5,29.0,12.0,-3.0,,,,,"], HEADER, "negative rain -3 at 'Zinder'"),
    ([r.split(",", 2)[0] + "," + r.split(",", 2)[2] for r in GOOD], HEADER.replace("date,", ""), "no date column"),
    ([r.split(",", 1)[1] for r in GOOD], HEADER.replace("station_name,", ""), "no station column"),
    (GOOD + ["Zinder,1960-01-05,1960,Jan,5,5,T,12.0,,,,,,"], HEADER, "non-numeric value 'T'"),
    (GOOD + ["Zinder,1960-01-05,1960,Jan,5,5,inf,12.0,,,,,,"], HEADER, "infinite value 'inf' on line 5"),
    (GOOD + ["Zinder,1960-01-05,1960,Jan,5,5,29.0,12.0,2500,,,,,"], HEADER,
     "total_precipitation 2500 mm .* on 1960-01-05 \\(line 5\\) is outside the plausible -1 .. 2000 mm"),
    (GOOD + ["Zinder,1960-01-05,1960,Jan,5,5,29.0,12.0,,40,20,30,,"], HEADER,
     "sunshine_duration 30 h .* is outside the plausible 0 .. 24 h"),
])
def test_bad_csv_is_one_line_error(tmp_path, rows, header, match):
    with pytest.raises(SowcastError, match=match) as exc:
        read_station_csv(_write(tmp_path, rows, header), stations=COORDS)
    assert "\n" not in str(exc.value)


def test_bad_requests(tmp_path):
    path = _write(tmp_path, GOOD)
    with pytest.raises(SowcastError, match="variable '2m_temperature' is not in"):
        read_station_csv(path, stations=COORDS, variables=["2m_temperature"])
    with pytest.raises(SowcastError, match="no station coordinates"):
        read_station_csv(path)
    coords = tmp_path / "c.csv"
    coords.write_text("station_name,lat,lon\nNiamey_Aero,13.48,2.17\n")
    with pytest.raises(SowcastError, match="no coordinates for station\\(s\\) 'Zinder'"):
        read_station_csv(path, stations=coords)
    with pytest.raises(SowcastError, match="holds no record"):
        read_station_csv(path, stations=COORDS, time_range=("1970", "1971"))
    kelvin = _write(tmp_path, [r.replace("30.1", "303.1").replace("31.0", "304.0").replace("29.0", "302.0")
                               for r in GOOD])
    with pytest.raises(SowcastError, match="looks like kelvin"):
        read_station_csv(kelvin, stations=COORDS)


def test_coordinates_inside_the_data_csv(tmp_path):
    p = _write(tmp_path, ["A,2000-01-01,1.0,10.0,190.0", "A,2000-01-02,,10.0,190.0", "B,2000-01-01,0,-5,-3"],
               header="station,date,rain,lat,lon\n")
    ds = read_station_csv(p)
    assert ds["lon"].sel(station="A").item() == pytest.approx(-170.0)  # wrapped into [-180, 180)
    assert ds["lat"].sel(station="B").item() == pytest.approx(-5.0)
    validate_points(ds)


def test_validate_points_rejects_broken_forms(tmp_path):
    ds = read_station_csv(_write(tmp_path, GOOD), stations=COORDS)
    validate_points(ds)
    with pytest.raises(SowcastError, match="featureType"):
        validate_points(ds.drop_attrs())
    with pytest.raises(SowcastError, match="units"):
        validate_points(ds.assign(total_precipitation=ds["total_precipitation"].assign_attrs(units="m")))
    with pytest.raises(SowcastError, match="dims"):
        validate_points(ds.assign(total_precipitation=ds["total_precipitation"].T))
    with pytest.raises(SowcastError, match="appears twice"):
        validate_points(ds.assign_coords(station=["X", "X"]))
