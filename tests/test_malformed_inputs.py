"""Malformed input across the commands (issue 16): each case runs the real command line
in-process (``sowcast.cli.main.main``) over a folder that already holds every output, and
must end with status 2, exactly one line on stderr (``sowcast: error: ...``, none from
cfgrib or eccodes either: stderr is captured at the file descriptor) and the folder
byte-for-byte as it was: nothing written, nothing replaced.

``progress=false`` on every case: the progress lines are not errors. Cases built from the
real GRIB samples skip where ../shared/data/real is absent (tests/data/real_samples.py).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sowcast.cli.main import main

sys.path.insert(0, str(Path(__file__).parent / "data"))
from real_samples import real  # noqa: E402

PREFIX = "sowcast: error: "
LOCATIONS = Path(__file__).resolve().parents[1] / "data" / "locations" / "west_africa_demo.csv"


def _field(path: Path, values=None, name: str = "t2m", units: str = "K") -> Path:
    times = pd.date_range("2020-01-01", periods=4, freq="6h")
    data = 290.0 + np.arange(48.0).reshape(4, 3, 4) * 0.01 if values is None else values
    ds = xr.Dataset({name: (("time", "latitude", "longitude"), data, {"units": units})},
                    coords={"time": times, "latitude": [0.0, 1.0, 2.0], "longitude": [10.0, 11.0, 12.0, 13.0]})
    ds.to_netcdf(path)
    return path


def _messages(path: Path) -> list[bytes]:
    """The GRIB1 messages of a file with their padding (each starts b'GRIB' + 3-byte length)."""
    data, starts, offset = path.read_bytes(), [], 0
    while (offset := data.find(b"GRIB", offset)) >= 0:
        starts.append(offset)
        offset += int.from_bytes(data[offset + 4:offset + 7], "big")
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)], strict=True)]


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# Inputs: each takes the case folder and returns the path of the (malformed) input it wrote.
def valid_field(d: Path) -> Path:
    return _field(d / "t.nc")


def inf_field(d: Path) -> Path:
    values = 290.0 + np.zeros((4, 3, 4))
    values[2, 1, 3] = np.inf
    return _field(d / "inf.nc", values)


def celsius_as_kelvin(d: Path) -> Path:
    return _field(d / "celsius.nc", 25.0 + np.arange(48.0).reshape(4, 3, 4) * 0.1)


def hpa_as_pa(d: Path) -> Path:
    return _field(d / "msl.nc", 1013.0 + np.zeros((4, 3, 4)), name="msl", units="Pa")


def grib_cut_at_boundary(d: Path) -> Path:
    """The hourly ERA5 month cut after a third of its messages, exactly at a message boundary."""
    messages = _messages(real("era5-2mt-2019-03-uk.grib"))
    return _write(d / "cut.grib", b"".join(messages[: len(messages) // 3]))


def grib_hypercube_cut(d: Path) -> Path:
    """Ensemble pressure levels cut at a message boundary: the hypercube has holes."""
    messages = _messages(real("era5-levels-members.grib"))
    return _write(d / "levels.grib", b"".join(messages[: len(messages) // 3]))


def grib_corrupt_section(d: Path) -> Path:
    """A message whose header is overwritten (its length and 7777 intact): eccodes complains."""
    messages = _messages(real("era5-levels-members.grib"))
    bad = bytearray(messages[2])
    bad[8:40] = b"\xff" * 32
    return _write(d / "corrupt.grib", b"".join(messages[:2] + [bytes(bad)] + messages[3:]))


def grib_without_end_marker(d: Path) -> Path:
    messages = _messages(real("era5-levels-members.grib"))
    bad = bytearray(messages[5])
    end = int.from_bytes(bad[4:7], "big")
    bad[end - 4:end] = b"XXXX"
    return _write(d / "no7777.grib", b"".join(messages[:5] + [bytes(bad)] + messages[6:]))


def garbage_grib(d: Path) -> Path:
    return _write(d / "garbage.grib", "this is not a forecast\n")


def grib_trailing_garbage(d: Path) -> Path:
    """A whole GRIB file with a few lines of text after its last message (two files joined)."""
    return _write(d / "tail.grib", real("era5-levels-members.grib").read_bytes() + b"the next file\n" * 4)


def grib_trailing_text_saying_grib(d: Path) -> Path:
    """Trailing bytes that start with 'GRIB' but are no GRIB message."""
    return _write(d / "tail2.grib", real("era5-levels-members.grib").read_bytes() + b"GRIB files follow here\n")


def grib_garbage_between_messages(d: Path) -> Path:
    messages = _messages(real("era5-levels-members.grib"))
    return _write(d / "between.grib", b"".join(messages[:3] + [b"\x01" * 40] + messages[3:]))


def station_inf(d: Path) -> Path:
    return _write(d / "inf.csv", "station_name,date,lat,lon,tmax,rain\nNiamey,2000-01-01,13.5,2.2,30,0\n"
                                 "Niamey,2000-01-02,13.5,2.2,inf,0\n")


def station_implausible(d: Path) -> Path:
    return _write(d / "tmax.csv", "station_name,date,lat,lon,tmax,rain\nNiamey,2000-01-01,13.5,2.2,30,0\n"
                                  "Niamey,2000-01-02,13.5,2.2,31,0\nNiamey,2000-01-03,13.5,2.2,312,0\n")


def key_pair(d: Path, name: str = "agency") -> tuple[Path, Path]:
    from sowcast.bundle.signature import generate_keypair

    key, pub, _ = generate_keypair(d / name)
    return key, pub


def private_key(d: Path) -> Path:
    return key_pair(d)[0]


def public_key(d: Path) -> Path:
    return key_pair(d)[1]


def private_key_readable_by_all(d: Path) -> Path:
    key = private_key(d)
    key.chmod(0o644)
    return key


def bundle_and_keys(signer: str | None, flip_signature_bit: bool = False):
    """A folder with a torch-free bundle (tests/bundle/test_reader.py), signed by ``signer``'s
    key (None: unsigned), and the trusted key ``agency.pub``."""
    def make(d: Path) -> Path:
        sys.path.insert(0, str(Path(__file__).parent / "bundle"))
        from test_reader import make_bundle

        from sowcast.bundle.signature import load_private_key, sign_folder

        bundle = make_bundle(d / "bundle")
        key_pair(d, "agency")
        if signer is not None:
            key = d / f"{signer}.key" if signer == "agency" else key_pair(d, signer)[0]
            sign_folder(bundle, load_private_key(key))
        if flip_signature_bit:
            sig = bytearray((bundle / "manifest.sig").read_bytes())
            sig[len(sig) // 2] ^= 0x04
            (bundle / "manifest.sig").write_bytes(bytes(sig))
        return d
    return make


def signed_forecast(make_input) -> tuple:
    return ("forecast", make_input, ("forecast.bundle={input}/bundle", "forecast.init={out}/store.zarr",
                                     "forecast.output={out}/forecast.zarr", "forecast.trusted_keys=[{input}/agency.pub]"))


def ingest(source, *extra: str) -> tuple:
    return ("data ingest", source, ("data.ingest.sources=[{input}]", "data.store={out}/store.zarr", *extra))


def products(*extra: str, make_input=None, forecast: str = "{out}/forecast.zarr") -> tuple:
    return ("products", make_input, (f"products.forecast={forecast}", "products.output={out}/products",
                                     f"products.locations={LOCATIONS}", *extra))


CASES = {
    # data ingest: the store exists and must stay as it was
    "ingest overwrite=maybe": ingest(valid_field, "overwrite=maybe"),
    "ingest overwrite=no keeps the store": ingest(valid_field, "overwrite=no"),
    "ingest overwrite=off keeps the store": ingest(valid_field, "overwrite=OFF"),
    "ingest chunks time 0": ingest(valid_field, "overwrite=true", "data.ingest.chunks={time: 0}"),
    "ingest chunks time abc": ingest(valid_field, "overwrite=true", "data.ingest.chunks={time: abc}"),
    "ingest chunks unknown dim": ingest(valid_field, "overwrite=true", "+data.ingest.chunks.tmie=8"),
    "ingest chunks not a mapping": ingest(valid_field, "overwrite=true", "data.ingest.chunks=8"),
    "ingest level abc": ingest(valid_field, "overwrite=true", "data.ingest.level=[abc]"),
    "ingest time_range abc": ingest(valid_field, "overwrite=true", "data.ingest.time_range=[abc, 2020-02-01]"),
    "ingest grid lat_min abc": ingest(valid_field, "overwrite=true",
                                      "data.ingest.grid={lat_min: abc, lat_max: 2, lon_min: 10, lon_max: 13, resolution: 1}"),
    "ingest global grid resolution 0": ingest(valid_field, "overwrite=true", "data.ingest.grid={global: true, resolution: 0}"),
    "ingest cluster n_workers two": ingest(valid_field, "overwrite=true", "cluster=local_cluster", "cluster.n_workers=two"),
    "ingest +inf in a field": ingest(inf_field, "overwrite=true"),
    "ingest degC labelled K": ingest(celsius_as_kelvin, "overwrite=true"),
    "ingest hPa labelled Pa": ingest(hpa_as_pa, "overwrite=true"),
    "ingest GRIB cut at a message boundary": ingest(grib_cut_at_boundary, "overwrite=true"),
    "ingest GRIB hypercube with holes": ingest(grib_hypercube_cut, "overwrite=true"),
    "ingest GRIB with a corrupt header": ingest(grib_corrupt_section, "overwrite=true"),
    "ingest GRIB without its 7777": ingest(grib_without_end_marker, "overwrite=true"),
    "ingest GRIB with trailing garbage": ingest(grib_trailing_garbage, "overwrite=true"),
    "ingest GRIB with trailing text saying GRIB": ingest(grib_trailing_text_saying_grib, "overwrite=true"),
    "ingest GRIB with garbage between messages": ingest(grib_garbage_between_messages, "overwrite=true"),
    "ingest station CSV with inf": ingest(station_inf, "overwrite=true"),
    "ingest station CSV with 312 degC": ingest(station_implausible, "overwrite=true"),
    # data synth: the raw folder exists
    "synth seed abc": ("data synth", None, ("data.synth.output={out}/raw", "overwrite=true", "data.synth.seed=abc")),
    "synth grid resolution 0": ("data synth", None, ("data.synth.output={out}/raw", "overwrite=true",
                                                     "data.synth.grid.resolution=0")),
    "synth progress=perhaps": ("data synth", None, ("data.synth.output={out}/raw", "progress=perhaps")),
    # products: a forecast that is not one, and bad switches
    "products forecast is garbage .grib": products(make_input=garbage_grib, forecast="{input}"),
    "products forecast is a real GRIB": products(make_input=lambda d: real("era5-2mt-2019-03-uk.grib"),
                                                 forecast="{input}"),
    "products maps=perhaps": products("products.maps=perhaps"),
    "products calibrate=2": products("products.calibrate=2"),
    # the other commands' options
    "bulletin dpi abc": ("bulletin", None, ("bulletin.products={out}/products", "bulletin.output={out}/bulletin",
                                            "bulletin.dpi=abc")),
    "bulletin map week 2.5": ("bulletin", None, ("bulletin.products={out}/products", "bulletin.output={out}/bulletin",
                                                 "bulletin.map_weeks=[2.5]")),
    "verify tolerance abc": ("verify", None, ("verify.hindcast={out}/hindcast", "verify.truth={out}/store.zarr",
                                              "verify.climatology={out}/hindcast/climatology.nc",
                                              "verify.output={out}/scorecard", "verify.tolerance_days=abc")),
    "calibrate ridge abc": ("calibrate", None, ("calibrate.hindcast={out}/hindcast", "calibrate.store={out}/store.zarr",
                                                "calibrate.output={out}/calibration.nc", "calibrate.ridge=abc")),
    "calibrate overwrite=maybe": ("calibrate", None, ("calibrate.hindcast={out}/hindcast", "calibrate.store={out}/store.zarr",
                                                      "calibrate.output={out}/calibration.nc", "overwrite=maybe")),
    "calibrate add_to_bundle=sure": ("calibrate", None, ("calibrate.hindcast={out}/hindcast",
                                                         "calibrate.store={out}/store.zarr",
                                                         "calibrate.output={out}/calibration.nc",
                                                         "calibrate.add_to_bundle=sure")),
    "hindcast climatology.build=perhaps": ("hindcast", None, ("hindcast.output={out}/hindcast",
                                                              "hindcast.climatology.build=perhaps")),
    "hindcast keep_daily=often": ("hindcast", None, ("hindcast.output={out}/hindcast", "hindcast.keep_daily=often")),
    "forecast overwrite=maybe": ("forecast", None, ("forecast.output={out}/forecast.zarr", "overwrite=maybe")),
    "forecast spinning=fast": ("forecast", None, ("forecast.output={out}/forecast.zarr", "forecast.spinning=fast")),
    # signed bundles (issue 16): keys, signing, trusted keys
    "export keygen over an existing key": ("export keygen", private_key, ("export.sign_key={input}",)),
    "export sign_key readable by all": ("export", private_key_readable_by_all,
                                        ("export.sign_key={input}", "export.output={out}/bundle", "overwrite=true")),
    "export sign_key is a public key": ("export", public_key, ("export.sign_key={input}", "export.output={out}/bundle",
                                                              "overwrite=true")),
    "export sign of a folder that is no bundle": ("export sign", private_key,
                                                  ("export.sign_key={input}", "export.output={out}/bundle")),
    "forecast trusted_keys is a private key": ("forecast", private_key, (
        "forecast.bundle={out}/bundle", "forecast.init={out}/store.zarr", "forecast.output={out}/forecast.zarr",
        "forecast.trusted_keys=[{input}]")),
    "hindcast trusted_keys is not a key": ("hindcast", garbage_grib, (
        "hindcast.bundle={out}/bundle", "hindcast.store={out}/store.zarr", "hindcast.output={out}/hindcast",
        "hindcast.trusted_keys=[{input}]")),
    "forecast unsigned bundle, trusted_keys set": signed_forecast(bundle_and_keys(None)),
    "forecast bundle signed by an unknown key": signed_forecast(bundle_and_keys("stranger")),
    "forecast bundle with a flipped signature bit": signed_forecast(bundle_and_keys("agency", flip_signature_bit=True)),
    "train max_steps abc": ("train", None, ("train.run_dir={out}/run", "train.max_steps=abc")),
    "train tensorboard=maybe": ("train", None, ("train.run_dir={out}/run", "train.tensorboard=maybe")),
    "serve max_connections 0": ("serve", None, ("serve.root={out}/serve", "serve.bundle={out}/bundle",
                                                f"serve.locations={LOCATIONS}", "serve.max_connections=0")),
    "serve request_timeout abc": ("serve", None, ("serve.root={out}/serve", "serve.bundle={out}/bundle",
                                                  f"serve.locations={LOCATIONS}", "serve.request_timeout=abc")),
    "demo fresh=perhaps": ("demo", None, ("demo.root={out}/demo", "demo.fresh=perhaps")),
    "demo nproc 1.5": ("demo", None, ("demo.root={out}/demo", "demo.nproc=1.5")),
}


def _existing_outputs(d: Path) -> None:
    """Every output the cases name, already there with content of its own."""
    for folder in ("store.zarr", "raw", "products", "bulletin", "scorecard", "hindcast", "forecast.zarr",
                   "serve", "bundle", "demo", "run"):
        (d / folder).mkdir()
        (d / folder / "keep.txt").write_text(f"the {folder} that was here\n")
    (d / "hindcast" / "climatology.nc").write_bytes(b"not looked at\n")
    (d / "calibration.nc").write_bytes(b"the calibration that was here\n")


def _snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(d.rglob("*"))}


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input_is_one_line_and_writes_nothing(case, tmp_path, monkeypatch, capfd):
    command, make_input, overrides = CASES[case]
    inputs, out = tmp_path / "inputs", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    source = make_input(inputs) if make_input is not None else None
    _existing_outputs(out)
    monkeypatch.chdir(tmp_path)
    before = _snapshot(tmp_path)
    capfd.readouterr()
    args = [o.replace("{input}", str(source)).replace("{out}", str(out)) for o in overrides]
    code = main([*command.split(), "progress=false", *args])
    stdout, stderr = capfd.readouterr()
    lines = stderr.strip("\n").splitlines()
    assert code == 2, (stdout, stderr)
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    assert _snapshot(tmp_path) == before
