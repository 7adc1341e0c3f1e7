"""The bundle reader: loads folders and archives, refuses each kind of damage with one line
naming the file (a one-bit flip anywhere in the manifest included), adds files atomically,
and imports without torch.

The bundle here is built without torch (a hand-made ONNX model with the bundle's I/O) by the
writer's torch-free helpers; tests/export/test_bundle_writer.py loads real exports."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from sowcast.bundle import (
    FORMAT,
    Bundle,
    add_file_to_bundle,
    load_bundle,
    write_archive,
)
from sowcast.bundle.checksums import sha256_file
from sowcast.bundle.manifest import channel_info, check_grid, manifest_bytes, noise_entry, parse_manifest
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.export.bundle_writer import (
    write_manifest,
    write_static_nc,
    write_statistics_nc,
)

CHANNELS = ["2m_temperature", "total_precipitation", "temperature_850"]
FORCINGS = ["sin_year_progress", "cos_year_progress"]
STATIC = ["land_sea_mask", "orography"]
T_IN = 2
GRID = Grid.from_bounds(0.0, 4.0, -3.0, 2.0, 1.0)  # 5 x 6


def persistence_onnx(path: Path, n_channels: int, n_forcings: int, n_static: int, h: int, w: int) -> None:
    """An ONNX model with the bundle's I/O: next_state = inputs[:, -1] (persistence)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    def vi(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    last = helper.make_tensor("last", TensorProto.INT64, [], [T_IN - 1])
    graph = helper.make_graph(
        [helper.make_node("Gather", ["inputs", "last"], ["next_state"], axis=1)], "persistence",
        [vi("inputs", ["batch", T_IN, n_channels, h, w]), vi("forcings", ["batch", T_IN + 1, n_forcings, h, w]),
         vi("static", ["batch", n_static, h, w])],
        [vi("next_state", ["batch", n_channels, h, w])], initializer=[last])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def make_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    h, w = GRID.shape
    persistence_onnx(folder / "model.onnx", len(CHANNELS), len(FORCINGS), len(STATIC), h, w)
    rng = np.random.default_rng(0)
    static = np.stack([(rng.random((h, w)) > 0.5).astype(np.float32), 500 * rng.random((h, w)).astype(np.float32)])
    write_static_nc(folder / "static.nc", GRID, STATIC, static)
    stats = {"mean": [288.0, 2.0, 280.0], "std": [5.0, 4.0, 3.0], "diff_mean": [0.0, 0.0, 0.0],
             "diff_std": [1.0, 5.0, 0.8], "min": [260.0, 0.0, 250.0], "max": [320.0, 300.0, 300.0]}
    write_statistics_nc(folder / "statistics.nc", CHANNELS, stats)
    manifest = {
        "format": FORMAT, "created": "2026-01-01T00:00:00Z", "sowcast_version": "test",
        "software": {}, "model": {"file": "model.onnx", "data_file": None, "opset": 18, "variants": []},
        "channels": [channel_info(c) for c in CHANNELS], "forcing_names": FORCINGS, "static_names": STATIC,
        "n_input_steps": T_IN, "time_step": "P1D",
        "grid": {"lat": GRID.lat.tolist(), "lon": GRID.lon.tolist(), "kind": "regional"},
        "precipitation_accumulation": "period_beginning", "provenance": {}, "parity": {},
    }
    write_manifest(folder, manifest, {"model.onnx": "model", "static.nc": "static", "statistics.nc": "statistics"})
    return folder


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("pristine") / "bundle")


@pytest.fixture
def bundle_dir(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def rewrite_manifest(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_bytes(manifest_bytes(manifest))


def sealed(body: bytes) -> bytes:
    """``body`` (starting with ``{``) behind a first line holding its sha256, as
    :func:`manifest_bytes` writes it: for damage that only the later checks can catch."""
    return b'{"manifest_sha256": "' + hashlib.sha256(body).hexdigest().encode() + b'",' + body[1:]


def refresh_checksum(folder: Path, name: str) -> None:
    def change(m):
        m["files"][name].update(sha256=sha256_file(folder / name), bytes=(folder / name).stat().st_size)
    rewrite_manifest(folder, change)


# -- loading -----------------------------------------------------------------------------------
def test_loads_folder_and_archive(bundle_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    b = load_bundle(bundle_dir)
    assert isinstance(b, Bundle) and b.path == bundle_dir and b.archive is None
    assert b.channels == CHANNELS and b.forcing_names == FORCINGS and b.static_names == STATIC
    assert b.channel_info[2] == {"name": "temperature_850", "variable": "temperature", "level": 850,
                                 "units": "K", "standard_name": "air_temperature"}
    assert b.n_input_steps == T_IN and str(b.time_step) == "1 days 00:00:00"
    assert b.grid.shape == GRID.shape and np.array_equal(b.grid.lat, GRID.lat)
    assert b.static.shape == (2, *GRID.shape) and b.static.dtype == np.float32
    assert b.static_dataset["orography"].attrs["standard_name"] == "surface_altitude"
    assert set(b.statistics) == {"mean", "std", "diff_mean", "diff_std", "min", "max"}
    assert b.noise is None and not b.stochastic  # no model.noise: a deterministic model
    assert b.statistics["diff_std"].dtype == np.float32 and b.statistics["std"].tolist() == [5.0, 4.0, 3.0]
    assert b.sha256 == sha256_file(bundle_dir / "manifest.json") == b.id
    assert b.climatology_path is None and b.precisions == ["fp32"]
    assert b.model_path() == bundle_dir / "model.onnx"
    with pytest.raises(SowcastError, match="has no int8 model; it has fp32"):
        b.model_path("int8")

    # The model runs at two batch sizes on the bundle's own static fields.
    session = b.open_session(threads=1)
    h, w = GRID.shape
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, T_IN, 3, h, w)).astype(np.float32)
        out = session.run(["next_state"], {"inputs": x, "forcings": np.zeros((n, T_IN + 1, 2, h, w), np.float32),
                                           "static": np.broadcast_to(b.static, (n, 2, h, w)).copy()})[0]
        assert np.array_equal(out, x[:, -1])
    assert isinstance(session, ort.InferenceSession)

    archive = write_archive(bundle_dir)
    assert archive == bundle_dir.with_name("bundle.tar.gz")
    with tarfile.open(archive) as tf:
        assert sorted(tf.getnames()) == ["bundle", "bundle/manifest.json", "bundle/model.onnx",
                                         "bundle/static.nc", "bundle/statistics.nc"]
    a = load_bundle(archive)
    assert a.archive == archive and a.sha256 == b.sha256 and a.path != bundle_dir
    assert a.path.parent.parent == tmp_path / ".sowcast-bundles"  # extracted next to the archive
    assert np.array_equal(a.static, b.static)
    again = load_bundle(archive)  # the extraction is reused
    assert again.path == a.path
    (a.path / "model.onnx").write_bytes(b"tampered cache")  # a damaged extraction is redone
    assert load_bundle(archive).sha256 == b.sha256
    given = load_bundle(archive, extract_dir=tmp_path / "elsewhere")
    assert given.path.parent.parent == tmp_path / "elsewhere"


# -- damage, one line each ---------------------------------------------------------------------
def _tamper(folder: Path) -> None:
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))


def _truncate(folder: Path) -> None:
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[:12])


def _other_channels(folder: Path) -> None:
    write_statistics_nc(folder / "statistics.nc", ["2m_temperature", "total_precipitation", "temperature_500"],
                        {k: [1.0, 1.0, 1.0] for k in ("mean", "std", "diff_mean", "diff_std")})
    refresh_checksum(folder, "statistics.nc")


def _other_grid(folder: Path) -> None:
    other = Grid.from_bounds(1.0, 5.0, -3.0, 2.0, 1.0)
    write_static_nc(folder / "static.nc", other, STATIC, np.zeros((2, *other.shape), np.float32))
    refresh_checksum(folder, "static.nc")


DAMAGE = {
    "tampered byte": (_tamper, r"^model\.onnx: sha256 mismatch \(bundle tampered or corrupt\)$"),
    "truncated": (_truncate, r"^model\.onnx: truncated \(12 of \d+ bytes\)$"),
    "grown": (lambda f: (f / "static.nc").open("ab").write(b"\0"), r"^static\.nc: size mismatch"),
    "missing file": (lambda f: (f / "static.nc").unlink(), r"^static\.nc: missing$"),
    "extra onnx": (lambda f: shutil.copy(f / "model.onnx", f / "better.onnx"),
                   r"^better\.onnx: not listed in manifest\.json \(unlisted file refused\)$"),
    "evil.py": (lambda f: (f / "evil.py").write_text("import os\n"), r"^evil\.py: not listed in manifest\.json"),
    "libevil.so": (lambda f: (f / "libevil.so").write_bytes(b"\x7fELF"), r"^libevil\.so: not listed"),
    "notes.txt": (lambda f: (f / "notes.txt").write_text("hi"), r"^notes\.txt: not listed"),
    "hidden file": (lambda f: (f / ".pth").write_text("x"), r"^\.pth: not listed"),
    "sub folder": (lambda f: (f / "lib").mkdir(), r"^lib: not listed"),
    "no manifest": (lambda f: (f / "manifest.json").unlink(), r"^manifest\.json: missing"),
    "format 9": (lambda f: rewrite_manifest(f, lambda m: m.update(format="sowcast-bundle-9")),
                 r"^manifest\.json: format sowcast-bundle-9 is not supported"),
    "no checksum": (lambda f: (f / "manifest.json").write_text(json.dumps(json.loads((f / "manifest.json").read_text()))),
                    r"^manifest\.json: no manifest_sha256 on its first line .*export the bundle again$"),
    "hand edit": (lambda f: (f / "manifest.json").write_bytes((f / "manifest.json").read_bytes().replace(b"P1D", b"P2D")),
                  r"^manifest\.json: checksum mismatch \(bundle tampered or corrupt\)$"),
    "not json": (lambda f: (f / "manifest.json").write_bytes(sealed(b'{\n "format": "sowcast-bundle-1", ')),
                 r"^manifest\.json: not valid JSON"),
    "not utf-8": (lambda f: (f / "manifest.json").write_bytes(sealed(b'{\n "format": "\xff"}')),
                  r"^manifest\.json: not UTF-8 text"),
    "NaN": (lambda f: (f / "manifest.json").write_bytes(sealed(b'{\n "format": NaN}')), r"^manifest\.json: not valid JSON"),
    "time step 0": (lambda f: rewrite_manifest(f, lambda m: m.update(time_step="P0D")),
                    r"^manifest\.json: time_step 'P0D' is not a positive ISO 8601 duration"),
    "time step negative": (lambda f: rewrite_manifest(f, lambda m: m.update(time_step="-P1D")), r"time_step '-P1D'"),
    "time step junk": (lambda f: rewrite_manifest(f, lambda m: m.update(time_step=1)), r"time_step 1 is not"),
    "units": (lambda f: rewrite_manifest(f, lambda m: m["channels"][0].update(units="degC")),
              r"^manifest\.json: channel 2m_temperature has units 'degC', this sowcast knows it as 'K'$"),
    "level": (lambda f: rewrite_manifest(f, lambda m: m["channels"][2].update(level=500)),
              r"channel temperature_850 has level 500"),
    "unknown variable": (lambda f: rewrite_manifest(f, lambda m: m["channels"].append(channel_info("mood"))),
                         r"^manifest\.json: channel mood is not a known variable"),
    "no channels": (lambda f: rewrite_manifest(f, lambda m: m.update(channels=[])), r"channels must be a non-empty list"),
    "channel twice": (lambda f: rewrite_manifest(f, lambda m: m["channels"].append(m["channels"][0])),
                      r"^manifest\.json: channel 2m_temperature is listed twice$"),
    "forcing twice": (lambda f: rewrite_manifest(f, lambda m: m["forcing_names"].append(FORCINGS[0])),
                      r"^manifest\.json: forcing_names lists a name twice$"),
    "unknown forcing": (lambda f: rewrite_manifest(f, lambda m: m["forcing_names"].append("moon_phase")),
                        r"forcing_names holds 'moon_phase'"),
    "static twice": (lambda f: rewrite_manifest(f, lambda m: m["static_names"].append(STATIC[0])), r"static_names lists"),
    "input steps 0": (lambda f: rewrite_manifest(f, lambda m: m.update(n_input_steps=0)), r"n_input_steps must be"),
    "input steps bool": (lambda f: rewrite_manifest(f, lambda m: m.update(n_input_steps=True)), r"n_input_steps must be"),
    "grid kind": (lambda f: rewrite_manifest(f, lambda m: m["grid"].update(kind="spherical")),
                  r"^manifest\.json: grid\.kind 'spherical' is not one of regional, global$"),
    "grid descending": (lambda f: rewrite_manifest(f, lambda m: m["grid"]["lat"].reverse()),
                        r"grid\.lat is not evenly spaced and ascending within \[-90, 90\]"),
    "grid uneven": (lambda f: rewrite_manifest(f, lambda m: m["grid"]["lon"].__setitem__(1, -1.5)), r"grid\.lon is not"),
    "grid empty": (lambda f: rewrite_manifest(f, lambda m: m["grid"].update(lat=[])), r"grid\.lat must be a non-empty"),
    "precipitation": (lambda f: rewrite_manifest(f, lambda m: m.update(precipitation_accumulation="period_ending")),
                      r"precipitation_accumulation 'period_ending' is not 'period_beginning'"),
    "bad sha256": (lambda f: rewrite_manifest(f, lambda m: m["files"]["static.nc"].update(sha256="ABC")),
                   r"sha256 of static\.nc is not 64 lowercase hex digits"),
    "two statistics": (lambda f: rewrite_manifest(f, lambda m: m["files"]["static.nc"].update(role="statistics")),
                       r"^manifest\.json: lists 0 static files, expected one$"),
    "unknown role": (lambda f: rewrite_manifest(f, lambda m: m["files"]["static.nc"].update(role="plugin")), r"a role in"),
    "variant not listed": (lambda f: rewrite_manifest(f, lambda m: m["model"].update(
                               variants=[{"file": "static.nc", "precision": "int8"}])),
                           r"model variant .* names no listed model_variant file"),
    "missing key": (lambda f: rewrite_manifest(f, lambda m: m.pop("grid")), r"^manifest\.json: missing key\(s\) grid$"),
    "noise not an object": (lambda f: rewrite_manifest(f, lambda m: m["model"].update(noise=4)),
                            r"^manifest\.json: model\.noise must be null or \{input, nodes, channels, distribution\}"),
    "noise nodes 0": (lambda f: rewrite_manifest(f, lambda m: m["model"].update(noise=noise_entry(0, 4))),
                      r"^manifest\.json: model\.noise\.nodes must be a whole number of at least 1, not 0$"),
    "noise channels bool": (lambda f: rewrite_manifest(f, lambda m: m["model"].update(noise=noise_entry(10, 1) | {"channels": True})),
                            r"model\.noise\.channels must be a whole number"),
    "noise but 3 inputs": (lambda f: rewrite_manifest(f, lambda m: m["model"].update(
                               noise=noise_entry(10, 4), inputs=[{"name": n} for n in ("inputs", "forcings", "static")])),
                           r"^manifest\.json: model\.inputs \['inputs', 'forcings', 'static'\] are not \[.*'noise'\] "
                           r"\(a stochastic model"),
    "traversing name": (lambda f: rewrite_manifest(f, lambda m: m["files"].update({"../x.nc": m["files"]["static.nc"]})),
                        r"^manifest\.json: file name '\.\./x\.nc' is not a plain file name"),
    "statistics channels": (_other_channels,
                            r"^statistics\.nc: channel names differ from manifest\.json \(channel 2 is 'temperature_500'"),
    "static grid": (_other_grid, r"^static\.nc: lat differs from the grid in manifest\.json$"),
    "statistics not netcdf": (lambda f: ((f / "statistics.nc").write_bytes(b"junk"), refresh_checksum(f, "statistics.nc")),
                              r"^statistics\.nc: not a readable netCDF file"),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_refused_with_one_line(bundle_dir, kind):
    damage, message = DAMAGE[kind]
    damage(bundle_dir)
    with pytest.raises(SowcastError) as info:
        load_bundle(bundle_dir)
    text = str(info.value)
    assert "\n" not in text
    assert re.search(message, text), text


# -- one-bit flips of the manifest ---------------------------------------------------------------
def _judge_flips(data: bytes, bits, read) -> tuple[int, list, list]:
    """Flip ``bit`` of every byte of ``data`` for each ``bit`` in ``bits(i)`` and call ``read``
    on the result; returns (tried, accepted, other) where ``other`` lists any failure that is
    not a one-line SowcastError."""
    tried, accepted, other = 0, [], []
    for i in range(len(data)):
        for bit in bits(i):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            tried += 1
            try:
                read(bytes(flipped))
                accepted.append((i, bit))
            except SowcastError as exc:
                if "\n" in str(exc):
                    other.append((i, bit, str(exc)))
            except Exception as exc:  # noqa: BLE001 - any other exception is the failure counted here
                other.append((i, bit, repr(exc)))
    return tried, accepted, other


def test_every_one_bit_flip_of_the_manifest_is_refused(bundle_dir):
    """Each of the 8 bits at every byte of manifest.json (its checksum line included) is
    refused with a one-line SowcastError by the manifest check; one bit per byte goes through
    the whole reader from disk too. (Before the manifest carried its own checksum, 20.5 % of
    these flips loaded.)"""
    path = bundle_dir / "manifest.json"
    data = path.read_bytes()
    assert data.startswith(b'{"manifest_sha256": "') and len(data) > 1000
    assert parse_manifest(data)["time_step"] == "P1D" and load_bundle(bundle_dir).sha256 == sha256_file(path)

    tried, accepted, other = _judge_flips(data, lambda i: range(8), parse_manifest)
    assert tried == 8 * len(data)
    assert accepted == [], f"{len(accepted)} of {tried} flips accepted, e.g. (byte, bit) {accepted[0]}"
    assert other == [], other[:3]

    def load(flipped: bytes) -> None:
        path.write_bytes(flipped)
        load_bundle(bundle_dir)

    tried, accepted, other = _judge_flips(data, lambda i: [i % 8], load)
    assert tried == len(data) and accepted == [] and other == [], (accepted[:3], other[:3])


def test_flips_behind_a_recomputed_checksum_are_still_refused(bundle_dir):
    """A forger who recomputes the checksum still meets the field checks: the flips the old
    reader let through that change a field the edge acts on (time step, units, ...)."""
    body = b"{\n" + (bundle_dir / "manifest.json").read_bytes().split(b",\n", 1)[1]
    assert parse_manifest(sealed(body))["time_step"] == "P1D"
    for old, new in [(b'"P1D"', b'"P0D"'), (b'"K"', b'"C"'), (b'"level": 850', b'"level": 851'),
                     (b'"regional"', b'"regionam"'),
                     (b'"n_input_steps": 2', b'"n_input_steps": 0'), (b'"sin_year', b'"sin_xear')]:
        assert old in body, old
        (bundle_dir / "manifest.json").write_bytes(sealed(body.replace(old, new, 1)))
        with pytest.raises(SowcastError, match=r"^manifest\.json: "):
            load_bundle(bundle_dir)


def test_grid_kind_check_agrees_with_the_graph_builder():
    """The manifest's torch-free copy of ``is_global_grid`` decides as the graph builder does."""
    from sowcast.graph.build import is_global_grid

    for grid in (Grid.global_grid(22.5), Grid.global_grid(3.0), GRID, Grid.from_bounds(-60, 60, -180, 179, 1.0),
                 Grid(lat=np.arange(-78.75, 80, 22.5), lon=np.arange(-180, 180, 22.5))):
        doc = {"lat": grid.lat.tolist(), "lon": grid.lon.tolist(), "kind": "regional"}
        if is_global_grid(grid):
            with pytest.raises(SowcastError, match=r"grid\.kind is 'regional' but the grid .* is global$"):
                check_grid(doc)
        else:
            check_grid(doc)
        check_grid({**doc, "kind": "global"})  # not refused yet: see check_grid's TODO


def _archive_with(path: Path, members: list[tuple[str, bytes | None, bytes]]) -> Path:
    """A tar.gz with (name, payload or None for a symlink, type) members."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == tarfile.SYMTYPE:
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("name", ["../evil.onnx", "bundle/../../evil.onnx", "/tmp/evil.onnx"])
def test_archive_path_traversal_is_refused(pristine, tmp_path, name):
    members = [(f"bundle/{p.name}", p.read_bytes(), tarfile.REGTYPE) for p in sorted(pristine.iterdir())]
    archive = _archive_with(tmp_path / "evil.tar.gz", members + [(name, b"x", tarfile.REGTYPE)])
    with pytest.raises(SowcastError, match=r"^evil\.tar\.gz: member .* would land outside the bundle "
                                           r"\(path traversal refused\)$"):
        load_bundle(archive, extract_dir=tmp_path / "x" / "y")
    assert not (tmp_path / "x" / "evil.onnx").exists() and not (tmp_path / "evil.onnx").exists()
    leftovers = list((tmp_path / "x" / "y").iterdir())
    assert leftovers == []  # nothing extracted, no temporary left


def test_archive_links_and_junk_are_refused(pristine, tmp_path):
    link = _archive_with(tmp_path / "link.tar.gz", [("bundle/model.onnx", None, tarfile.SYMTYPE)])
    with pytest.raises(SowcastError, match=r"^link\.tar\.gz: member 'bundle/model\.onnx' is a link"):
        load_bundle(link)
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive at all")
    with pytest.raises(SowcastError, match=r"^junk\.tar\.gz: not a readable bundle archive"):
        load_bundle(junk)
    empty = _archive_with(tmp_path / "empty.tar.gz", [("README", b"hello", tarfile.REGTYPE)])
    with pytest.raises(SowcastError, match=r"^manifest\.json: missing \(empty\.tar\.gz holds no bundle\)"):
        load_bundle(empty)
    with pytest.raises(SowcastError, match="no bundle at"):
        load_bundle(tmp_path / "nothing-here")


def test_archive_with_unlisted_members_is_refused(pristine, tmp_path):
    """A file inside the bundle folder of an archive, or beside that folder, is refused by name."""
    members = [(f"bundle/{p.name}", p.read_bytes(), tarfile.REGTYPE) for p in sorted(pristine.iterdir())]
    inside = _archive_with(tmp_path / "inside.tar.gz", members + [("bundle/evil.py", b"import os", tarfile.REGTYPE)])
    with pytest.raises(SowcastError, match=r"^evil\.py: not listed in manifest\.json \(unlisted file refused\)$"):
        load_bundle(inside)
    beside = _archive_with(tmp_path / "beside.tar.gz", members + [("libevil.so", b"\x7fELF", tarfile.REGTYPE)])
    with pytest.raises(SowcastError, match=r"^libevil\.so: not part of the bundle in beside\.tar\.gz "
                                           r"\(unlisted file refused\)$"):
        load_bundle(beside)
    assert list((tmp_path / ".sowcast-bundles").iterdir()) == []  # refused extractions are removed


def test_damaged_archive_member_is_refused(bundle_dir):
    _tamper(bundle_dir)
    archive = write_archive(bundle_dir)  # an archive of a tampered folder: caught after extraction
    with pytest.raises(SowcastError, match=r"^model\.onnx: sha256 mismatch"):
        load_bundle(archive)


# -- adding files ------------------------------------------------------------------------------
def test_add_file_to_bundle(bundle_dir, tmp_path):
    archive = write_archive(bundle_dir)
    before = load_bundle(bundle_dir)
    inode = (bundle_dir / "model.onnx").stat().st_ino
    clim = tmp_path / "model_climate.nc"
    write_statistics_nc(clim, CHANNELS, {k: [0.0, 1.0, 2.0] for k in ("mean", "std", "diff_mean", "diff_std")})

    after = add_file_to_bundle(bundle_dir, clim, "climatology", manifest_update={"climatology": {"years": [1991, 2010]}})
    assert after.climatology_path == bundle_dir / "climatology.nc"
    assert after.manifest["files"]["climatology.nc"]["role"] == "climatology"
    assert after.manifest["files"]["climatology.nc"]["sha256"] == sha256_file(clim)
    assert after.manifest["climatology"] == {"years": [1991, 2010]}
    assert after.sha256 != before.sha256
    assert (bundle_dir / "model.onnx").stat().st_ino == inode  # hard-linked, not copied
    assert not [p for p in bundle_dir.parent.iterdir() if p.name.startswith(".bundle.")]  # no temporaries left
    from_archive = load_bundle(archive)  # the archive beside it was rewritten too
    assert from_archive.sha256 == after.sha256 and from_archive.climatology_path.name == "climatology.nc"

    # A second climatology replaces the first; a model cannot be replaced; a damaged bundle is not updated.
    again = add_file_to_bundle(bundle_dir, clim, "climatology", name="climatology_v2.nc", archive=False)
    assert again.climatology_path.name == "climatology_v2.nc" and "climatology.nc" not in again.manifest["files"]
    assert not (bundle_dir / "climatology.nc").exists()
    with pytest.raises(SowcastError, match="cannot add a file with role 'model'"):
        add_file_to_bundle(bundle_dir, clim, "model")
    with pytest.raises(SowcastError, match="is the bundle's model"):
        add_file_to_bundle(bundle_dir, clim, "other", name="model.onnx")
    with pytest.raises(SowcastError, match="not a plain file name"):
        add_file_to_bundle(bundle_dir, clim, "other", name="../x.nc")
    _tamper(bundle_dir)
    with pytest.raises(SowcastError, match="sha256 mismatch"):
        add_file_to_bundle(bundle_dir, clim, "other", name="extra.nc")
    assert not (bundle_dir / "extra.nc").exists()


def test_add_calibration_beside_the_climatology(bundle_dir, tmp_path):
    """One calibration per bundle, like the climatology; the two live side by side."""
    clim, calib = tmp_path / "clim.nc", tmp_path / "cal.nc"
    write_statistics_nc(clim, CHANNELS, {k: [0.0, 1.0, 2.0] for k in ("mean", "std", "diff_mean", "diff_std")})
    write_statistics_nc(calib, CHANNELS, {k: [3.0, 4.0, 5.0] for k in ("mean", "std", "diff_mean", "diff_std")})
    assert load_bundle(bundle_dir).calibration_path is None

    add_file_to_bundle(bundle_dir, clim, role="climatology")
    b = add_file_to_bundle(bundle_dir, calib, role="calibration")
    assert b.calibration_path == bundle_dir / "calibration.nc" and b.climatology_path == bundle_dir / "climatology.nc"
    assert b.manifest["files"]["calibration.nc"] == {"sha256": sha256_file(calib), "bytes": calib.stat().st_size,
                                                     "role": "calibration"}
    again = add_file_to_bundle(bundle_dir, calib, role="calibration", name="calibration_v2.nc")
    assert again.calibration_path == bundle_dir / "calibration_v2.nc" and not (bundle_dir / "calibration.nc").exists()
    assert again.climatology_path == bundle_dir / "climatology.nc"
    assert load_bundle(bundle_dir).calibration_path == bundle_dir / "calibration_v2.nc"

    (bundle_dir / "calibration_v2.nc").write_bytes(b"tampered")  # checksummed like every file
    with pytest.raises(SowcastError, match=r"^calibration_v2\.nc: (truncated|size mismatch)"):
        load_bundle(bundle_dir)


def test_a_scorecard_and_its_summary_arrive_in_one_manifest(bundle_dir, tmp_path):
    """add_files_to_bundle: both files or neither (a refused second file leaves the bundle as it
    was), one of each per bundle, and a second writer of the same bundle is refused."""
    from sowcast.bundle import add_files_to_bundle
    from sowcast.output_lock import output_lock

    scores, summary = tmp_path / "scores.csv", tmp_path / "summary.json"
    scores.write_text("metric,variable,period,value\n")
    summary.write_text("{}\n")
    before = (bundle_dir / "manifest.json").read_bytes()
    with pytest.raises(SowcastError, match="missing"):
        add_files_to_bundle(bundle_dir, [(scores, "scorecard", None), (tmp_path / "absent.json", "scorecard_summary", None)])
    with pytest.raises(SowcastError, match="added twice"):
        add_files_to_bundle(bundle_dir, [(scores, "scorecard", None), (summary, "scorecard", "other.csv")])
    assert (bundle_dir / "manifest.json").read_bytes() == before and not (bundle_dir / "scorecard.csv").exists()

    b = add_files_to_bundle(bundle_dir, [(scores, "scorecard", None), (summary, "scorecard_summary", None)])
    assert (b.scorecard_path, b.scorecard_summary_path) == (bundle_dir / "scorecard.csv", bundle_dir / "scorecard.json")
    assert {n: e["role"] for n, e in b.manifest["files"].items() if n.startswith("scorecard")} == {
        "scorecard.csv": "scorecard", "scorecard.json": "scorecard_summary"}
    assert (bundle_dir / "scorecard.csv").read_text() == scores.read_text()
    with output_lock(bundle_dir), pytest.raises(SowcastError, match="locked|pid"):
        add_files_to_bundle(bundle_dir, [(summary, "scorecard_summary", None)])
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == ["bundle", "scores.csv", "summary.json"]


def test_add_file_refuses_manifest_updates_the_reader_would_refuse(bundle_dir, tmp_path):
    note = tmp_path / "note.nc"
    note.write_bytes(b"x")
    before = (bundle_dir / "manifest.json").read_bytes()
    for update, message in [({"time_step": "P0D"}, r"^manifest_update cannot replace 'time_step'$"),
                            ({"manifest_sha256": "0" * 64}, r"cannot replace 'manifest_sha256'"),
                            ({"precipitation_accumulation": "period_ending"}, r"precipitation_accumulation")]:
        with pytest.raises(SowcastError, match=message):
            add_file_to_bundle(bundle_dir, note, "other", manifest_update=update)
    assert (bundle_dir / "manifest.json").read_bytes() == before and not (bundle_dir / "note.nc").exists()
    assert sorted(p.name for p in bundle_dir.parent.iterdir()) == ["bundle", "note.nc"]  # no temporaries left


# -- torch-free ----------------------------------------------------------------------------------
_NO_TORCH = r"""
import sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
import sowcast.bundle, sowcast.bundle.reader, sowcast.bundle.manifest, sowcast.bundle.checksums
from sowcast.bundle import load_bundle
b = load_bundle(sys.argv[1])
b.open_session(threads=1)
assert sys.modules["torch"] is None
print(b.channels[0], len(b.sha256))
"""


def test_reader_imports_and_works_without_torch(bundle_dir):
    r = subprocess.run([sys.executable, "-c", _NO_TORCH, str(write_archive(bundle_dir))],
                       capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2m_temperature", "64"]
