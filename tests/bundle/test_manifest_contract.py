"""The typed manifest (issue 19): one definition of manifest.json for writer and reader. A
missing or mistyped key is one line naming it; the typed object gives back the bytes it was
read from; later top-level keys are kept; the version field reads; ``sowcast.__version__``
comes from the installed metadata, or from pyproject.toml in a source tree."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import sowcast
from sowcast.bundle import load_bundle
from sowcast.bundle.manifest import (
    FORMAT,
    Channel,
    FileEntry,
    Manifest,
    ModelEntry,
    NoiseInput,
    manifest_bytes,
    noise_entry,
    parse_manifest,
)
from sowcast.errors import SowcastError

sys.path.insert(0, str(Path(__file__).parent))
from test_reader import CHANNELS, make_bundle, rewrite_manifest  # noqa: E402

SRC = Path(sowcast.__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("contract") / "bundle")


@pytest.fixture
def folder(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


def test_the_reader_gives_the_typed_manifest_and_it_gives_back_the_bytes(folder):
    data = (folder / "manifest.json").read_bytes()
    bundle = load_bundle(folder)
    typed = bundle.typed_manifest
    assert typed == Manifest.from_bytes(data) and typed.to_json()["files"] == bundle.manifest["files"]
    assert typed.format == FORMAT and typed.format_version == (1, 0)
    assert typed.channel_names == CHANNELS == bundle.channels
    assert typed.channels[0] == Channel.of(CHANNELS[0]) and typed.model.file == "model.onnx"
    assert typed.files["static.nc"] == FileEntry(**bundle.manifest["files"]["static.nc"])
    assert typed.model.noise is None and typed.model.variants == () and typed.provenance == {}
    # The test's hand-made manifest leaves model keys out; to_json writes them all (null), so
    # fill them in and the typed object gives back exactly the bytes it was read from.
    full = {**bundle.manifest, "model": typed.model.to_json()}
    rewritten = manifest_bytes(full)
    assert manifest_bytes(Manifest.from_bytes(rewritten).to_json()) == rewritten


@pytest.mark.parametrize("change, message", [
    (lambda m: m["model"].update(opset="18"), r"^manifest\.json: model\.opset must be a whole number or null, not '18'$"),
    (lambda m: m["model"].update(graph={"n_grid": 32}), r"^manifest\.json: missing key model\.graph\.n_mesh$"),
    (lambda m: m["model"].update(graph={"n_grid": 32, "n_mesh": 10, "digest": 7}),
     r"^manifest\.json: model\.graph\.digest must be a string or null, not 7$"),
    (lambda m: m["model"].update(inputs=[{"name": n, "shape": "batch", "dtype": "float32"}
                                         for n in ("inputs", "forcings", "static")]),
     r"^manifest\.json: model\.inputs\[0\]\.shape must be a list, not 'batch'$"),
    (lambda m: m["model"].update(dropped_variants=[{"precision": "int8"}]),
     r"^manifest\.json: missing key model\.dropped_variants\[0\]\.reason$"),
    (lambda m: m["model"].update(dropped_variants=["int8"]),
     r"^manifest\.json: model\.dropped_variants\[0\] must be an object \{precision, reason, \.\.\.\}, not 'int8'$"),
    (lambda m: m["model"].update(hyperparameters=[1, 2]), r"^manifest\.json: model\.hyperparameters must be an object"),
    (lambda m: m.update(provenance="a run"), r"^manifest\.json: provenance must be an object or null, not 'a run'$"),
    (lambda m: m.update(software=3), r"^manifest\.json: software must be an object or null, not 3$"),
    (lambda m: m.pop("n_input_steps"), r"^manifest\.json: missing key\(s\) n_input_steps$"),
])
def test_a_missing_or_mistyped_key_is_one_line_naming_it(folder, change, message):
    rewrite_manifest(folder, change)
    data = (folder / "manifest.json").read_bytes()
    for read in (lambda: load_bundle(folder), lambda: parse_manifest(data), lambda: Manifest.from_bytes(data)):
        with pytest.raises(SowcastError, match=message) as info:
            read()
        assert "\n" not in str(info.value)


def test_later_keys_are_kept_after_files_and_a_minor_version_reads(folder):
    rewrite_manifest(folder, lambda m: m.update(format=f"{FORMAT}.3", climatology={"years": [1991, 2020]}))
    typed = load_bundle(folder).typed_manifest
    assert typed.format_version == (1, 3) and typed.extra == {"climatology": {"years": [1991, 2020]}}
    assert list(typed.to_json())[-2:] == ["files", "climatology"]


def test_the_writer_side_builds_what_the_reader_parses(folder):
    """A Manifest built in code (as sowcast.export builds it) is sealed and checked by to_bytes;
    one the reader would refuse is refused there, before anything is written."""
    typed = load_bundle(folder).typed_manifest
    stochastic = typed.model.__class__(**{**typed.model.__dict__, "noise": NoiseInput(nodes=10, channels=4)})
    assert stochastic.to_json()["noise"] == noise_entry(10, 4)
    with pytest.raises(SowcastError, match=r"^manifest\.json: model\.noise \(4 channels\) disagrees"):
        Manifest(**{**typed.__dict__, "model": ModelEntry(**{**stochastic.__dict__, "hyperparameters": {
            "noise_channels": 0}})}).to_bytes()
    data = typed.to_bytes()
    assert json.loads(data)["manifest_sha256"] and Manifest.from_bytes(data) == typed


def test_version_comes_from_the_metadata_or_from_pyproject(tmp_path):
    assert sowcast.__version__ == metadata.version("sowcast")
    # A source tree with no metadata beside it (src/ of a checkout, without sowcast.egg-info),
    # run with python -S (no site-packages): the version is pyproject.toml's.
    shutil.copytree(SRC / "sowcast", tmp_path / "src" / "sowcast", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(SRC.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from importlib import metadata\n"
             "try:\n    metadata.version('sowcast'); print('installed')\n"
             "except metadata.PackageNotFoundError:\n    import sowcast; print(sowcast.__version__)")
    r = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "src")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == metadata.version("sowcast")
    (tmp_path / "pyproject.toml").unlink()  # nothing says it: a version that says so
    r = subprocess.run([sys.executable, "-S", "-c", probe, str(tmp_path / "src")], capture_output=True, text=True)
    assert r.stdout.strip() == "0+unknown", r.stderr
