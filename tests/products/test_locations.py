"""Locations: CSV and GeoJSON readers, nearest-cell points, district means, station data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.products.locations import (
    Locations,
    extract,
    polygon_centroid,
    read_locations,
)

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "data/locations/west_africa_demo.csv"


def grid_field(ntime: int = 2) -> xr.DataArray:
    """1-degree grid over West Africa; value = 100 * lat + lon + 1000 * day (traceable)."""
    lat = np.arange(4.0, 21.0)
    lon = np.arange(-18.0, 17.0)
    t = np.arange(ntime)[:, None, None]
    data = 100 * lat[None, :, None] + lon[None, None, :] + 1000 * t
    return xr.DataArray(data.astype(np.float32), dims=("time", "lat", "lon"), name="total_precipitation",
                        coords={"time": np.arange(ntime), "lat": lat, "lon": lon}, attrs={"units": "mm"})


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_demo_csv_reads_and_lies_in_west_africa():
    loc = read_locations(DEMO)
    assert 8 <= len(loc) <= 12
    assert {"Tamale", "Niamey", "Kaolack"} <= set(loc.names)
    assert ((loc.lat > 4) & (loc.lat < 20) & (loc.lon > -18) & (loc.lon < 16)).all()
    assert set(loc.extra) >= {"country"}
    assert len(extract(loc, grid_field())["location"]) == len(loc)


def test_csv_comments_optional_columns_and_lon_wrap(tmp_path):
    p = write(tmp_path, "l.csv", "# towns\nname, lat, lon, country, elevation\n\n"
                                 "Tamale, 9.40, -0.85, Ghana, 183\n# comment\nEast, 10, 359.5, X,\n")
    loc = read_locations(p)
    assert loc.names == ("Tamale", "East")
    np.testing.assert_allclose(loc.lon, [-0.85, -0.5])
    assert loc.extra["country"] == ("Ghana", "X")
    assert loc.extra["elevation"][0] == 183 and np.isnan(loc.extra["elevation"][1])


@pytest.mark.parametrize("text, message", [
    ("name,lat\nA,1\n", "no 'lon' column"),
    ("name,lat,lon\nA,9.x,1\n", "line 2: lat '9.x' of 'A' is not a number"),
    ("# c\nname,lat,lon\nA,95,1\n", "line 3: latitude 95 of 'A' is outside [-90, 90]"),
    ("name,lat,lon\nA,5,400\n", "longitude 400 of 'A' is outside"),
    ("name,lat,lon\nA,5,1\na,6,2\n", "line 3: location name 'a' is listed twice"),
    ("name,lat,lon\n,5,1\n", "line 2: empty name"),
    ("name,lat,lon\n", "no locations"),
    ("name,lat,lon\nA,5\n", "line 2 has 2 fields"),
])
def test_bad_csv_gives_one_line_errors(tmp_path, text, message):
    with pytest.raises(SowcastError, match=None) as err:
        read_locations(write(tmp_path, "bad.csv", text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_point_takes_nearest_cell_and_keeps_other_dims():
    da = grid_field(3)
    loc = Locations.from_points(["Tamale", "Niamey"], [9.4, 13.52], [-0.85, 2.11])
    out = extract(loc, da)
    assert out.dims == ("time", "location") and out.dtype == np.float32
    np.testing.assert_array_equal(out.isel(time=0).values, [100 * 9 - 1, 100 * 14 + 2])
    np.testing.assert_array_equal(out.sel(location="Niamey").values, 1402 + 1000 * np.arange(3))
    assert list(out["lat"].values) == [9.4, 13.52] and out.attrs["units"] == "mm"


def test_point_outside_grid_is_an_error_but_within_one_cell_is_not():
    da = grid_field()
    extract(Locations.from_points(["edge"], [20.9], [16.9]), da)  # within one cell of the corner
    with pytest.raises(SowcastError, match=r"location 'Accra.*' .* is outside the grid"):
        extract(Locations.from_points(["Accra sea"], [2.5], [-0.2]), da)
    with pytest.raises(SowcastError, match="outside the grid"):
        extract(Locations.from_points(["Chad"], [12.1], [18.5]), da)


def test_global_grid_longitudes_wrap():
    lat, lon = np.arange(-90.0, 91.0, 10.0), np.arange(0.0, 360.0, 10.0)
    da = xr.DataArray(np.tile(lon, (len(lat), 1)), dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    out = extract(Locations.from_points(["west", "dateline"], [10, 0], [-11, 179]), da)
    np.testing.assert_array_equal(out.values, [350.0, 180.0])


def district_geojson(tmp_path: Path) -> Path:
    square = [[[-1.5, 8.5], [1.5, 8.5], [1.5, 10.5], [-1.5, 10.5], [-1.5, 8.5]]]  # cells 9-10 N, -1..1 E
    holed = [[[4.5, 5.5], [7.5, 5.5], [7.5, 8.5], [4.5, 8.5], [4.5, 5.5]],
             [[5.5, 6.5], [6.5, 6.5], [6.5, 7.5], [5.5, 7.5], [5.5, 6.5]]]  # 3x3 cells minus the centre
    tiny = [[[2.2, 12.2], [2.4, 12.2], [2.4, 12.4], [2.2, 12.4], [2.2, 12.2]]]  # no cell centre inside
    def feature(name, kind, coords, **extra):
        return {"type": "Feature", **extra, "properties": {"district": name},
                "geometry": {"type": kind, "coordinates": coords}}

    doc = {"type": "FeatureCollection", "features": [
        feature("Square", "Polygon", square), feature("Holed", "MultiPolygon", [holed]),
        feature("Tiny", "Polygon", tiny), feature("Town", "Point", [-0.85, 9.4], id="n1")]}
    p = tmp_path / "districts.geojson"
    p.write_text(json.dumps(doc))
    return p


def test_geojson_district_is_cos_lat_weighted_mean_of_cells_inside(tmp_path):
    loc = read_locations(district_geojson(tmp_path), name_property="district")
    assert loc.names == ("Square", "Holed", "Tiny", "Town")
    assert list(loc.is_district) == [True, True, True, False] and loc.extra["id"][3] == "n1"
    np.testing.assert_allclose([loc.lon[0], loc.lat[0]], [0.0, 9.5])
    out = extract(loc, grid_field())
    assert list(out["n_cells"].values) == [6, 8, 1, 1]
    lat, lon = np.array([9.0, 10.0]), np.array([-1.0, 0.0, 1.0])
    w = np.cos(np.deg2rad(lat))
    want = (w[:, None] * (100 * lat[:, None] + lon[None, :])).sum() / (3 * w.sum())
    assert out.sel(location="Square").values[0] == pytest.approx(want, rel=1e-6)
    lat3 = np.array([6.0, 7.0, 8.0])
    cells = [(a, b) for a in lat3 for b in (5.0, 6.0, 7.0) if (a, b) != (7.0, 6.0)]
    wc = np.array([np.cos(np.deg2rad(a)) for a, _ in cells])
    want_h = (wc * np.array([100 * a + b for a, b in cells])).sum() / wc.sum()
    assert out.sel(location="Holed").values[0] == pytest.approx(want_h, rel=1e-6)
    assert out.sel(location="Tiny").values[0] == 100 * 12 + 2  # the cell nearest its centroid
    assert out.sel(location="Town").values[0] == 100 * 9 - 1


def test_district_mean_skips_missing_cells(tmp_path):
    loc = read_locations(district_geojson(tmp_path), name_property="district")
    da = grid_field()
    da.loc[{"lat": 9.0, "lon": -1.0}] = np.nan
    out = extract(loc, da).sel(location="Square").values[0]
    lat = np.array([9.0, 9.0, 10.0, 10.0, 10.0])
    lon = np.array([0.0, 1.0, -1.0, 0.0, 1.0])
    w = np.cos(np.deg2rad(lat))
    assert out == pytest.approx((w * (100 * lat + lon)).sum() / w.sum(), rel=1e-6)


def test_geojson_errors(tmp_path):
    p = district_geojson(tmp_path)
    with pytest.raises(SowcastError, match="feature 0 has no 'name' property"):
        read_locations(p)
    line = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "R"},
            "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}]}
    with pytest.raises(SowcastError, match="geometry 'LineString' is not one of"):
        read_locations(write(tmp_path, "line.geojson", json.dumps(line)))
    with pytest.raises(SowcastError, match="cannot read GeoJSON"):
        read_locations(write(tmp_path, "broken.geojson", "{"))


def test_centroid_of_l_shape():
    ring = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2], [0, 0]], dtype=float)
    x, y = polygon_centroid([[ring]])
    assert (x, y) == pytest.approx((5 / 6, 5 / 6))


def test_station_data_selected_by_name_case_insensitively():
    ds = xr.Dataset({"total_precipitation": (("time", "station"), np.arange(6.0).reshape(2, 3))},
                    coords={"time": [0, 1], "station": ["Agades", "Niamey_Aero", "Zinder"],
                            "lat": ("station", [17.0, 13.5, 13.8]), "lon": ("station", [8.0, 2.2, 9.0])})
    loc = Locations.from_points(["zinder", "Niamey_Aero"], [13.8, 13.5], [9.0, 2.2])
    out = extract(loc, ds)
    assert out["total_precipitation"].dims == ("time", "location")
    np.testing.assert_array_equal(out["total_precipitation"].values, [[2, 1], [5, 4]])
    assert list(out["station"].values) == ["Zinder", "Niamey_Aero"]
    with pytest.raises(SowcastError, match="no station named 'Kano'"):
        extract(Locations.from_points(["Kano"], [12], [8.5]), ds)
