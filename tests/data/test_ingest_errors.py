"""Bad input to ingest: each a one-line SowcastError, and nothing written at the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from real_samples import real

from sowcast.data.ingest import ingest
from sowcast.errors import SowcastError


def field(times=None, lat=(0.0, 1.0, 2.0), lon=(10.0, 11.0, 12.0, 13.0), name="t2m", units="K",
          values=None) -> xr.Dataset:
    times = pd.date_range("2020-01-01", periods=4, freq="6h") if times is None else pd.DatetimeIndex(times)
    shape = (len(times), len(lat), len(lon))
    data = np.full(shape, 290.0) + np.arange(np.prod(shape)).reshape(shape) * 0.01 if values is None else values
    ds = xr.Dataset({name: (("time", "latitude", "longitude"), data, {"units": units})},
                    coords={"time": times, "latitude": list(lat), "longitude": list(lon)})
    ds["latitude"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    ds["longitude"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    return ds


def write(ds: xr.Dataset, path: Path) -> Path:
    ds.to_netcdf(path)
    return path


def fails(tmp_path: Path, sources, match: str, **cfg) -> str:
    """Ingest must raise a one-line SowcastError matching ``match`` and leave no store behind."""
    store = tmp_path / "out" / "store.zarr"
    with pytest.raises(SowcastError, match=match) as info:
        ingest({"sources": [str(s) for s in sources], **cfg}, store, progress=False)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    assert not store.exists()
    leftovers = list(store.parent.iterdir()) if store.parent.exists() else []
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    return message


def test_missing_file(tmp_path):
    msg = fails(tmp_path, [tmp_path / "nope.nc"], "no such file")
    assert "nope.nc" in msg


def test_glob_matching_nothing(tmp_path):
    fails(tmp_path, [tmp_path / "raw" / "*.grib"], "no file matches")


def test_empty_folder(tmp_path):
    (tmp_path / "raw").mkdir()
    fails(tmp_path, [tmp_path / "raw"], "holds no netCDF")


def test_text_file_named_nc(tmp_path):
    path = tmp_path / "notes.nc"
    path.write_text("these are not the data you are looking for\n")
    fails(tmp_path, [path], "not weather data: a text file")


def test_png_named_nc(tmp_path):
    path = tmp_path / "map.nc"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    fails(tmp_path, [path], "not weather data: a binary file")


def test_netcdf_without_grid(tmp_path):
    ds = xr.Dataset({"t2m": (("time", "station"), np.ones((3, 2)), {"units": "K"})},
                    coords={"time": pd.date_range("2020", periods=3)})
    fails(tmp_path, [write(ds, tmp_path / "points.nc")], "no latitude/longitude")


def test_truncated_netcdf(tmp_path):
    src = real("wfde5_gb_2017-01_precipitation_flux.nc")
    path = tmp_path / "cut.nc"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    fails(tmp_path, [path], "truncated")


def test_truncated_netcdf3(tmp_path):
    field().to_netcdf(tmp_path / "classic.nc", format="NETCDF3_CLASSIC")
    data = (tmp_path / "classic.nc").read_bytes()
    (tmp_path / "cut3.nc").write_bytes(data[: len(data) // 2])
    fails(tmp_path, [tmp_path / "cut3.nc"], "cannot read .*cut3.nc as netCDF")


def test_truncated_grib(tmp_path):
    src = real("era5-levels-members.grib")
    path = tmp_path / "cut.grib"
    data = src.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    fails(tmp_path, [path], "truncated")


def test_requested_variable_absent(tmp_path):
    path = write(field(), tmp_path / "t.nc")
    fails(tmp_path, [path], "total_precipitation not found", variables=["total_precipitation"])


def test_unknown_variable_name_requested(tmp_path):
    path = write(field(), tmp_path / "t.nc")
    fails(tmp_path, [path], "not canonical", variables=["rainfall_amount_typo"])


def test_unknown_units(tmp_path):
    path = write(field(units="furlongs"), tmp_path / "t.nc")
    msg = fails(tmp_path, [path], "furlongs")
    assert "2m_temperature" in msg


def test_missing_units(tmp_path):
    ds = field()
    del ds["t2m"].attrs["units"]
    fails(tmp_path, [write(ds, tmp_path / "t.nc")], "no units attribute")


def test_non_monotonic_times(tmp_path):
    times = pd.to_datetime(["2020-01-01T00", "2020-01-01T12", "2020-01-01T06", "2020-01-01T18"])
    fails(tmp_path, [write(field(times), tmp_path / "t.nc")], "non-monotonic")


def test_duplicated_times(tmp_path):
    times = pd.to_datetime(["2020-01-01T00", "2020-01-01T06", "2020-01-01T06", "2020-01-01T12"])
    fails(tmp_path, [write(field(times), tmp_path / "t.nc")], "duplicated times")


def test_overlapping_files(tmp_path):
    a = write(field(), tmp_path / "a.nc")
    b = write(field(pd.date_range("2020-01-01T12", periods=4, freq="6h")), tmp_path / "b.nc")
    fails(tmp_path, [a, b], "duplicated times")


def test_grids_do_not_match(tmp_path):
    a = write(field(), tmp_path / "a.nc")
    b = write(field(name="tp", units="mm", lat=(0.0, 0.5, 1.0)), tmp_path / "b.nc")
    msg = fails(tmp_path, [a, b], "grids do not match")
    assert "a.nc" in msg and "b.nc" in msg and "3 x 4" in msg


def grib_messages(path: Path, n: int) -> bytes:
    """The first ``n`` whole GRIB1 messages of a file (each starts b'GRIB' + 3-byte length)."""
    data, out, offset = path.read_bytes(), [], 0
    for _ in range(n):
        offset = data.index(b"GRIB", offset)
        length = int.from_bytes(data[offset + 4:offset + 7], "big")
        out.append(data[offset:offset + length])
        offset += length
    return b"".join(out)


def test_grids_do_not_match_inside_one_grib(tmp_path):
    """A GRIB file with two hypercubes: both are read (none skipped) and their grids differ."""
    levels = real("era5-levels-members.grib").read_bytes()
    path = tmp_path / "mixed.grib"
    path.write_bytes(levels + grib_messages(real("era5-2mt-2019-03-uk.grib"), 24))
    msg = fails(tmp_path, [path], "grids do not match")
    assert "mixed.grib (part 1)" in msg and "mixed.grib (part 2)" in msg
    assert "61 x 120" in msg and "33 x 49" in msg


def test_time_steps_do_not_match(tmp_path):
    a = write(field(), tmp_path / "a.nc")
    b = write(field(pd.date_range("2020-01-01", periods=4, freq="12h"), name="tp", units="mm"), tmp_path / "b.nc")
    msg = fails(tmp_path, [a, b], "time steps do not match")
    assert "PT6H" in msg and "PT12H" in msg


def test_all_nan_field(tmp_path):
    ds = field(values=np.full((4, 3, 4), np.nan))
    fails(tmp_path, [write(ds, tmp_path / "t.nc")], "NaN everywhere$")


def test_all_nan_time_slice(tmp_path):
    values = field()["t2m"].values.copy()
    values[2] = np.nan
    fails(tmp_path, [write(field(values=values), tmp_path / "t.nc")], "NaN everywhere at 2020-01-01 12:00")


def test_nan_varying_in_time(tmp_path):
    values = field()["t2m"].values.copy()
    values[1, 0, 0] = np.nan
    fails(tmp_path, [write(field(values=values), tmp_path / "t.nc")], "NaN at some times but not others")


def test_unknown_option(tmp_path):
    path = write(field(), tmp_path / "t.nc")
    fails(tmp_path, [path], "unknown ingest option", varaibles=["2m_temperature"])


def test_existing_store_without_overwrite(tmp_path):
    path = write(field(), tmp_path / "t.nc")
    store = tmp_path / "store.zarr"
    ingest({"sources": [str(path)]}, store, progress=False)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    with pytest.raises(SowcastError, match="exists already"):
        ingest({"sources": [str(path)]}, store, progress=False)
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    ingest({"sources": [str(path)], "time_range": ["2020-01-01T06", None]}, store, overwrite=True,
           progress=False)
    assert xr.open_zarr(store, consolidated=False).sizes["time"] == 3


def test_cli_one_line_error(tmp_path, sowcast_cli):
    proc = sowcast_cli("data", "ingest", f"data.ingest.sources=[{tmp_path}/missing.grib]",
                       f"data.store={tmp_path}/out.zarr", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sowcast: error: no such file"), proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out.zarr").exists()


def test_chunk_size_zero(tmp_path):
    fails(tmp_path, [write(field(), tmp_path / "t.nc")], r"ingest.chunks.time must be at least 1, not 0",
          chunks={"time": 0})


def test_infinite_value_names_the_variable_and_where(tmp_path):
    values = field()["t2m"].values.copy()
    values[2, 1, 3] = np.inf
    msg = fails(tmp_path, [write(field(values=values), tmp_path / "t.nc")], "holds infinite values")
    assert "'2m_temperature'" in msg and "2020-01-01 12:00" in msg and "lat=1, lon=13" in msg


def test_celsius_labelled_kelvin(tmp_path):
    ds = field(values=field()["t2m"].values - 273.15)
    msg = fails(tmp_path, [write(ds, tmp_path / "t.nc")], "outside the plausible 150 .. 350 K")
    assert "'2m_temperature' ranges 16.85 .. 17.32 K (labelled 'K')" in msg
    # the same values with their right units are fine
    ingest({"sources": [str(write(field(values=ds["t2m"].values, units="degC"), tmp_path / "c.nc"))]},
           tmp_path / "ok.zarr", progress=False)


def test_hectopascal_labelled_pascal(tmp_path):
    ds = field(name="msl", units="Pa", values=np.full((4, 3, 4), 1013.0))
    msg = fails(tmp_path, [write(ds, tmp_path / "msl.nc")], "outside the plausible 80000 .. 110000 Pa")
    assert "'mean_sea_level_pressure'" in msg


def grib_message_list(path: Path) -> list[bytes]:
    """Every GRIB1 message of a file with the padding that follows it."""
    data, starts, offset = path.read_bytes(), [], 0
    while (offset := data.find(b"GRIB", offset)) >= 0:
        starts.append(offset)
        offset += int.from_bytes(data[offset + 4:offset + 7], "big")
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)], strict=True)]


def test_grib_cut_at_a_message_boundary(tmp_path):
    """The hourly month cut after a third of its messages reads as a shorter series; its
    last day is a part of a day, and that is refused unless time_range says where to stop."""
    messages = grib_message_list(real("era5-2mt-2019-03-uk.grib"))
    path = tmp_path / "cut.grib"
    path.write_bytes(b"".join(messages[: len(messages) // 3]))
    msg = fails(tmp_path, [path], "cut short at a message boundary")
    assert "2019-03-11 has 8 of its 24 PT1H steps" in msg
    store = ingest({"sources": [str(path)], "time_range": ["2019-03-01", "2019-03-11T07"]}, tmp_path / "ok.zarr",
                   progress=False)
    assert xr.open_zarr(store, consolidated=False).sizes["time"] == 248


def test_grib_hypercube_with_holes(tmp_path):
    messages = grib_message_list(real("era5-levels-members.grib"))
    path = tmp_path / "levels.grib"
    path.write_bytes(b"".join(messages[:53]))
    fails(tmp_path, [path], "hypercube needs 80 GRIB messages but the file holds 53")


def test_grib_message_without_its_end_marker(tmp_path):
    messages = grib_message_list(real("era5-levels-members.grib"))
    bad = bytearray(messages[5])
    end = int.from_bytes(bad[4:7], "big")
    bad[end - 4:end] = b"XXXX"
    path = tmp_path / "no7777.grib"
    path.write_bytes(b"".join(messages[:5] + [bytes(bad)] + messages[6:]))
    fails(tmp_path, [path], r"GRIB message at byte 73800 does not end with 7777")


def test_corrupt_grib_is_one_line_without_cfgrib_or_eccodes_noise(tmp_path, capfd):
    messages = grib_message_list(real("era5-levels-members.grib"))
    bad = bytearray(messages[2])
    bad[8:40] = b"\xff" * 32
    path = tmp_path / "corrupt.grib"
    path.write_bytes(b"".join(messages[:2] + [bytes(bad)] + messages[3:]))
    capfd.readouterr()
    fails(tmp_path, [path], r"as GRIB \(corrupt\?\): eccodes: ")
    out, err = capfd.readouterr()
    assert err == "" and out == ""
