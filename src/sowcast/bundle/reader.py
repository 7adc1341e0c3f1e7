"""Open a bundle (folder or ``.tar.gz``), verify it, and expose what the forecast engine needs.

:func:`load_bundle` refuses, with one line naming the file and the reason, a bundle that

* has no ``manifest.json``, or one whose own checksum (its first line) does not match
  (``manifest.json: checksum mismatch (bundle tampered or corrupt)``), or one with a field
  the edge would misread: another major format, a time step that is not positive, channel
  units other than the schema's, a grid kind that disagrees with the grid, ... (see
  :func:`sowcast.bundle.manifest.check_manifest`);
* lacks a listed file (``static.nc: missing``), holds one of another size
  (``model.onnx: truncated (12 of 3456 bytes)``) or another sha256
  (``model.onnx: sha256 mismatch (bundle tampered or corrupt)``);
* holds any file or folder that the manifest does not list (``evil.py: not listed in
  manifest.json (unlisted file refused)``), or an archive with anything beside the bundle folder;
* has ``statistics.nc`` / ``static.nc`` that disagree with the manifest (channel names,
  static names, grid);
* comes as an archive with a member that would land outside the extraction folder
  (``../x``, absolute names, links), or an archive that does not read;
* carries a ``manifest.sig`` that does not verify, or, when ``trusted_keys`` is given, is
  unsigned or signed by another key (``bundle bundles/x: signed by an unknown key ...``;
  see :mod:`sowcast.bundle.signature`).

An archive is extracted (atomically) into ``<extract_dir>/<name>-<archive sha256[:16]>``;
``extract_dir`` defaults to ``.sowcast-bundles`` next to the archive (or the system temp
folder if that one is not writable). A later load of the same archive reuses the
extraction, verified again like any folder.

:func:`add_files_to_bundle` copies files into a bundle folder (``sowcast hindcast`` adds
``climatology.nc``, ``sowcast calibrate`` adds ``calibration.nc``, ``sowcast verify`` with
``verify.bundle`` the held-out ``scorecard.csv`` and ``scorecard.json``) and rewrites the manifest
with its checksums; the folder is replaced in one rename, so a reader sees the old bundle or
the new one; a signature is dropped with the manifest it signed (sign again: ``sowcast
export sign``). A refused archive leaves no extraction behind. Torch-free: the edge imports this.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from sowcast.atomic import atomic_path
from sowcast.bundle.checksums import file_entry, sha256_bytes, sha256_file, verify_files
from sowcast.bundle.manifest import (
    AT_MOST_ONE,
    CHECKSUM_KEY,
    DEFAULT_NAMES,
    MANIFEST_FILE,
    REQUIRED_KEYS,
    REQUIRED_STATISTICS,
    ROLES,
    SIGNATURE_FILE,
    FileEntry,
    Manifest,
    check_file_name,
    check_time_step,
    manifest_bytes,
    manifest_json,
    parse_manifest,
)
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.output_lock import output_lock

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_EXTRACT_DIR = ".sowcast-bundles"


@dataclass(frozen=True, eq=False)
class Bundle:
    """A verified bundle (see the module doc); arrays are float32."""

    path: Path                          # the bundle folder (the extraction, for an archive)
    manifest: dict[str, Any]            # manifest.json's JSON object, as read
    typed_manifest: Manifest            # the same, typed (sowcast.bundle.manifest.Manifest)
    sha256: str                         # sha256 of manifest.json's bytes: the bundle id for provenance
    channels: list[str]                 # channel names in model order
    channel_info: list[dict[str, Any]]  # {name, variable, level, units, standard_name}
    forcing_names: list[str]
    static_names: list[str]
    n_input_steps: int
    time_step: pd.Timedelta
    grid: Grid
    static: np.ndarray                  # [S, lat, lon] float32, static_names order
    static_dataset: Any                 # the same as an xarray.Dataset (CF attributes, lat/lon)
    statistics: dict[str, np.ndarray]   # mean, std, diff_mean, diff_std (, min, max): [C] float32
    climatology_path: Path | None
    archive: Path | None = None         # the .tar.gz it came from, if any
    calibration_path: Path | None = None  # calibration.nc (role "calibration"), if added
    # scorecard.csv and scorecard.json (roles "scorecard", "scorecard_summary"): the held-out
    # scores of this model ('sowcast verify verify.bundle=...'), if added
    scorecard_path: Path | None = None
    scorecard_summary_path: Path | None = None
    signed_by: str | None = None        # fingerprint of the key whose manifest.sig verified; None: unsigned

    @property
    def id(self) -> str:
        return self.sha256

    @property
    def model_digests(self) -> frozenset[str]:
        """sha256 of each of its model files (fp32 and the kept variants): the models it runs."""
        return frozenset(e.sha256 for e in self.typed_manifest.files.values() if e.role in ("model", "model_variant"))

    @property
    def grid_kind(self) -> str:
        return self.typed_manifest.grid.kind

    @property
    def noise(self) -> dict[str, Any] | None:
        """``model.noise`` (``{input, nodes, channels, distribution}``) of a stochastic model, else None."""
        noise = self.typed_manifest.model.noise
        return None if noise is None else noise.to_json()

    @property
    def stochastic(self) -> bool:
        """Whether the model takes a ``noise`` input (a fresh standard normal draw per member and step)."""
        return self.noise is not None

    @property
    def precisions(self) -> list[str]:
        """``fp32`` and the kept variants (``fp16``, ``int8``)."""
        return ["fp32"] + [v.precision for v in self.typed_manifest.model.variants]

    def model_path(self, precision: str = "fp32") -> Path:
        """The ONNX file of ``precision`` (``fp32``: ``model.onnx``; else a kept variant)."""
        model = self.typed_manifest.model
        if precision == "fp32":
            return self.path / model.file
        for v in model.variants:
            if v.precision == precision:
                return self.path / v.file
        raise SowcastError(f"bundle {self.path.name} has no {precision} model; it has {', '.join(self.precisions)}")

    def open_session(self, precision: str = "fp32", threads: int | None = None) -> Any:
        """An onnxruntime CPU session on :meth:`model_path` (``threads`` intra-op threads). A
        stochastic model (:attr:`noise`) needs ``noise`` in every run's feeds; the forecast
        engine (:class:`sowcast.forecast.session.StepModel`) draws it. The options are the
        forecast's (:func:`sowcast.forecast.session.make_session`): sequential, idle spinning
        off, so that timings taken here are those of production."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.model_path(precision)), options, providers=["CPUExecutionProvider"])


# -- loading ---------------------------------------------------------------------------------
def is_archive(path: str | os.PathLike) -> bool:
    return Path(path).name.endswith(ARCHIVE_SUFFIXES)


def load_bundle(path: str | os.PathLike, extract_dir: str | os.PathLike | None = None,
                trusted_keys: Any = None) -> Bundle:
    """Open and verify the bundle folder or archive at ``path`` (module doc). ``trusted_keys``:
    public key files (``.pub``), or ``{fingerprint: key}`` from
    :func:`sowcast.bundle.signature.load_trusted_keys`; when any are given, the bundle must be
    signed by one of them. None or empty: unsigned bundles are accepted."""
    path = Path(path)
    trusted = _trusted(trusted_keys)
    if path.is_dir():
        return _open_folder(path, trusted=trusted)
    if not path.is_file():
        raise SowcastError(f"no bundle at {path}")
    dest, reused = _extract(path, extract_dir)
    if reused:
        try:
            return _open_folder(_bundle_root(dest, path.name), archive=path, trusted=trusted)
        except SowcastError:  # an earlier extraction that no longer verifies: extract afresh
            dest, _ = _extract(path, extract_dir, fresh=True)
    try:
        return _open_folder(_bundle_root(dest, path.name), archive=path, trusted=trusted)
    except SowcastError:
        shutil.rmtree(dest, ignore_errors=True)  # a refused archive leaves no extraction behind
        raise


def _trusted(trusted_keys: Any) -> dict[str, Any]:
    if not trusted_keys:
        return {}
    from sowcast.bundle.signature import load_trusted_keys, trusted_key_paths

    if isinstance(trusted_keys, Mapping):
        return dict(trusted_keys)
    return load_trusted_keys(trusted_key_paths(trusted_keys, "trusted_keys"))


def _signer(folder: Path, data: bytes, trusted: Mapping[str, Any], what: str) -> str | None:
    """The fingerprint that signed ``manifest.json`` (None: unsigned and nothing required)."""
    sig_path = folder / SIGNATURE_FILE
    if not trusted and not sig_path.exists():
        return None  # no signature asked for, none given: torch-free, and no cryptography needed
    if sig_path.exists() and not sig_path.is_file():
        raise SowcastError(f"bundle {what}: bad signature ({SIGNATURE_FILE} is not a file)")
    from sowcast.bundle.signature import check_signature

    return check_signature(data, sig_path.read_bytes() if sig_path.is_file() else None, trusted, what)


def _open_folder(folder: Path, archive: Path | None = None, trusted: Mapping[str, Any] | None = None) -> Bundle:
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise SowcastError(f"{MANIFEST_FILE}: missing ({folder} is not a sowcast bundle)")
    data = manifest_path.read_bytes()
    signed_by = _signer(folder, data, trusted or {}, str(archive or folder))  # before anything is parsed
    manifest = manifest_json(data)  # its own checksum first (manifest.py) ...
    typed = Manifest.from_json(manifest)  # ... then every field, typed
    verify_files(folder, manifest["files"])
    channels = typed.channel_names
    grid = Grid(lat=np.asarray(typed.grid.lat, np.float64), lon=np.asarray(typed.grid.lon, np.float64))
    by_role = _files_by_role(typed.files)
    statistics = _read_statistics(folder, _one(by_role, "statistics"), channels)
    static_names = list(typed.static_names)
    static, static_ds = _read_static(folder, _one(by_role, "static"), static_names, grid)
    clim, calib = by_role.get("climatology", []), by_role.get("calibration", [])
    card, card_summary = by_role.get("scorecard", []), by_role.get("scorecard_summary", [])
    return Bundle(path=folder, manifest=manifest, typed_manifest=typed, sha256=sha256_bytes(data), channels=channels,
                  channel_info=[c.to_json() for c in typed.channels],
                  forcing_names=list(typed.forcing_names), static_names=static_names,
                  n_input_steps=typed.n_input_steps, time_step=check_time_step(typed.time_step), grid=grid,
                  static=static, static_dataset=static_ds, statistics=statistics,
                  climatology_path=folder / clim[0] if clim else None,
                  calibration_path=folder / calib[0] if calib else None, archive=archive,
                  scorecard_path=folder / card[0] if card else None,
                  scorecard_summary_path=folder / card_summary[0] if card_summary else None,
                  signed_by=signed_by)


def _files_by_role(files: Mapping[str, FileEntry]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, entry in files.items():
        out.setdefault(entry.role, []).append(name)
    return out


def _one(by_role: Mapping[str, list[str]], role: str) -> str:
    names = by_role.get(role, [])
    if len(names) != 1:
        raise SowcastError(f"{MANIFEST_FILE}: lists {len(names)} {role} files, expected one")
    return names[0]


def _open_netcdf(path: Path) -> Any:
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            return ds.load()
    except Exception as exc:  # noqa: BLE001 - any failure to read is the same user-facing problem
        raise SowcastError(f"{path.name}: not a readable netCDF file ({type(exc).__name__})") from None


def _read_statistics(folder: Path, name: str, channels: list[str]) -> dict[str, np.ndarray]:
    ds = _open_netcdf(folder / name)
    if "channel" not in ds.coords:
        raise SowcastError(f"{name}: no 'channel' coordinate")
    theirs = [str(c) for c in ds["channel"].values]
    if theirs != channels:
        if len(theirs) != len(channels):
            detail = f"{len(theirs)} channels, the manifest has {len(channels)}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(theirs, channels)) if a != b)
            detail = f"channel {i} is {theirs[i]!r}, the manifest says {channels[i]!r}"
        raise SowcastError(f"{name}: channel names differ from {MANIFEST_FILE} ({detail})")
    out = {}
    for key, da in ds.data_vars.items():
        if da.dims == ("channel",):
            out[str(key)] = np.asarray(da.values, np.float32)
    missing = [k for k in REQUIRED_STATISTICS if k not in out]
    if missing:
        raise SowcastError(f"{name}: lacks {', '.join(missing)}")
    for key, v in out.items():
        if not np.all(np.isfinite(v)):
            raise SowcastError(f"{name}: {key} holds non-finite values")
    return out


def _read_static(folder: Path, name: str, static_names: list[str], grid: Grid) -> tuple[np.ndarray, Any]:
    ds = _open_netcdf(folder / name)
    for coord, want in (("lat", grid.lat), ("lon", grid.lon)):
        have = np.asarray(ds[coord].values, np.float64) if coord in ds.coords else None
        if have is None or have.shape != want.shape or not np.allclose(have, want, rtol=0, atol=1e-6):
            raise SowcastError(f"{name}: {coord} differs from the grid in {MANIFEST_FILE}")
    fields = []
    for s in static_names:
        if s not in ds.data_vars:
            raise SowcastError(f"{name}: no variable {s!r} (static_names in {MANIFEST_FILE})")
        da = ds[s]
        if da.dims != ("lat", "lon"):
            raise SowcastError(f"{name}: {s!r} has dims {da.dims}, expected ('lat', 'lon')")
        fields.append(np.asarray(da.values, np.float32))
    static = np.stack(fields) if fields else np.zeros((0, *grid.shape), np.float32)
    if not np.all(np.isfinite(static)):
        raise SowcastError(f"{name}: static fields hold non-finite values")
    return static, ds


# -- archives --------------------------------------------------------------------------------
def _archive_stem(path: Path) -> str:
    for suffix in ARCHIVE_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[:-len(suffix)]
    return path.name


def _bundle_root(folder: Path, what: str) -> Path:
    """The bundle folder of an extraction: the top itself or its one folder; anything beside
    that one folder is refused (the folder's own files are judged by the manifest)."""
    if (folder / MANIFEST_FILE).is_file():
        return folder
    entries = sorted(folder.iterdir())
    subdirs = [d for d in entries if d.is_dir()]
    if len(subdirs) == 1 and (subdirs[0] / MANIFEST_FILE).is_file():
        for extra in entries:
            if extra != subdirs[0]:
                raise SowcastError(f"{extra.name}: not part of the bundle in {what} (unlisted file refused)")
        return subdirs[0]
    raise SowcastError(f"{MANIFEST_FILE}: missing ({what} holds no bundle)")


def _writable_dir(base: Path) -> bool:
    try:
        base.mkdir(parents=True, exist_ok=True)
        return os.access(base, os.W_OK | os.X_OK)
    except OSError:
        return False


def _extract(archive: Path, extract_dir: str | os.PathLike | None, fresh: bool = False) -> tuple[Path, bool]:
    """Extract ``archive`` (or reuse an earlier extraction); returns (extraction folder, reused)."""
    if extract_dir is not None:
        base = Path(extract_dir)
        if not _writable_dir(base):
            raise SowcastError(f"cannot extract {archive.name} into {base}: not a writable folder")
    else:
        base = archive.parent / _EXTRACT_DIR
        if not _writable_dir(base):
            base = Path(tempfile.gettempdir()) / f"sowcast-bundles-{os.getuid() if hasattr(os, 'getuid') else 0}"
            if not _writable_dir(base):
                raise SowcastError(f"cannot extract {archive.name}: no writable folder next to it or in the temp folder")
    dest = base / f"{_archive_stem(archive)}-{sha256_file(archive)[:16]}"
    if dest.is_dir() and not fresh:
        return dest, True
    with atomic_path(dest, overwrite=True, directory=True) as tmp:
        safe_extract(archive, tmp)
    return dest, False


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Extract the regular files and folders of a tar archive into ``dest``; refuse members
    with absolute names, ``..``, links or devices (checked before anything is written)."""
    archive, dest = Path(archive), Path(dest)
    what = archive.name
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            plan = []
            for m in members:
                name = m.name.replace("\\", "/")
                parts = PurePosixPath(name).parts
                if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
                    raise SowcastError(f"{what}: member {m.name!r} would land outside the bundle (path traversal refused)")
                parts = tuple(p for p in parts if p not in ("", "."))
                if not (m.isfile() or m.isdir()):
                    raise SowcastError(f"{what}: member {m.name!r} is a link or special file (refused)")
                if len(parts) > 2:
                    raise SowcastError(f"{what}: member {m.name!r} is nested too deep for a bundle")
                if parts:
                    plan.append((m, parts))
            for m, parts in plan:
                target = dest.joinpath(*parts)
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tf.extractfile(m)
                if src is None:
                    raise SowcastError(f"{what}: member {m.name!r} cannot be read")
                with src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 22)
    except SowcastError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise SowcastError(f"{what}: not a readable bundle archive ({type(exc).__name__}: {exc})") from None


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(folder: str | os.PathLike, archive: str | os.PathLike | None = None,
                  overwrite: bool = True) -> Path:
    """``<folder>.tar.gz`` (or ``archive``) of a bundle folder, written atomically; members are
    ``<folder name>/<file>``. Hidden files are left out."""
    folder = Path(folder)
    archive = Path(archive) if archive is not None else folder.with_name(folder.name + ".tar.gz")
    with atomic_path(archive, overwrite=overwrite) as tmp, tarfile.open(tmp, "w:gz", compresslevel=6) as tf:
        tf.add(folder, arcname=folder.name, recursive=False, filter=_tar_filter)
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                tf.add(p, arcname=f"{folder.name}/{p.name}", recursive=False, filter=_tar_filter)
    return archive


# -- updating a bundle ---------------------------------------------------------------------
def offer_file_to_bundle(bundle: str | os.PathLike, path: str | os.PathLike, role: str, products_key: str) -> str:
    """Add ``path`` to the bundle folder with ``role`` (:func:`add_file_to_bundle`), or, for a
    bundle archive, leave it out; returns the line that says which (``products_key``: the
    products option that takes the file instead, e.g. ``products.climatology``)."""
    name = DEFAULT_NAMES.get(role, Path(path).name)
    if is_archive(bundle):
        return (f"the bundle {bundle} is an archive: {name} was not added to it "
                f"(give the bundle folder, or pass {products_key}={path})")
    return added_to_bundle_line(bundle, [(path, role, None)])


def added_to_bundle_line(bundle: str | os.PathLike, added: Sequence[tuple[str | os.PathLike, str, str | None]]) -> str:
    """Add ``added`` to the bundle folder (:func:`add_files_to_bundle`); the line that says so,
    and that a signature was dropped with the manifest it signed."""
    signed = (Path(bundle) / SIGNATURE_FILE).exists()
    add_files_to_bundle(bundle, added)
    names = ", ".join(name or DEFAULT_NAMES.get(role, Path(path).name) for path, role, name in added)
    if not signed:
        return f"added {names} to the bundle {bundle}"
    return (f"added {names} to the bundle {bundle}; its signature was dropped with the manifest it signed: "
            f"sign it again with sowcast export sign export.output={bundle} export.sign_key=KEY")


def add_file_to_bundle(bundle_dir: str | os.PathLike, path: str | os.PathLike, role: str,
                       name: str | None = None, manifest_update: Mapping[str, Any] | None = None,
                       archive: bool | None = None) -> Bundle:
    """Copy ``path`` into the bundle folder as ``name`` with ``role`` and rewrite the manifest
    (:func:`add_files_to_bundle` with one file)."""
    return add_files_to_bundle(bundle_dir, [(path, role, name)], manifest_update, archive)


def add_files_to_bundle(bundle_dir: str | os.PathLike, added: Sequence[tuple[str | os.PathLike, str, str | None]],
                        manifest_update: Mapping[str, Any] | None = None, archive: bool | None = None) -> Bundle:
    """Copy each ``(path, role, name)`` of ``added`` into the bundle folder as ``name`` with
    ``role`` and rewrite the manifest once (files that belong together, such as a scorecard and
    its summary, arrive together or not at all).

    The bundle must verify first. ``name`` (None: the default) is ``climatology.nc`` for the
    ``climatology`` role, ``calibration.nc`` for ``calibration``, ``scorecard.csv`` and
    ``scorecard.json`` for ``scorecard`` and ``scorecard_summary``, else the file's own
    name; a file of that name is replaced, and so is the earlier file of a one-per-bundle
    role (:data:`~sowcast.bundle.manifest.AT_MOST_ONE`). ``manifest_update`` adds or replaces top-level manifest
    keys (e.g. ``{"climatology": {"period": ...}}``); the required keys cannot be replaced
    this way. The manifest is rewritten with its own checksum, and checked like any other. The folder is
    rebuilt beside the old one (hard links, so no copy of the model) and renamed into place,
    under the bundle's lock (:mod:`sowcast.output_lock`), without ``manifest.sig``: a signature
    of the old manifest would be a false claim.
    ``archive``: rewrite ``<bundle>.tar.gz`` too (``None``: if one exists beside it).
    Returns the updated, verified bundle.
    """
    bundle_dir = Path(bundle_dir)
    if not bundle_dir.is_dir():
        raise SowcastError(f"{bundle_dir} is not a bundle folder (add files to the folder, then archive it)")
    with output_lock(bundle_dir):   # one writer: two commands adding at once would each drop the other's file
        return _add_files(bundle_dir, added, manifest_update, archive)


def _add_files(bundle_dir: Path, added: Sequence[tuple[str | os.PathLike, str, str | None]],
               manifest_update: Mapping[str, Any] | None, archive: bool | None) -> Bundle:
    current = load_bundle(bundle_dir)
    entries: list[tuple[Path, str, str]] = []
    for path, role, name in added:
        path = Path(path)
        if role not in ROLES or role in ("model", "model_data"):
            raise SowcastError(f"cannot add a file with role {role!r}; roles: "
                               f"{', '.join(r for r in ROLES if r not in ('model', 'model_data'))}")
        if not path.is_file():
            raise SowcastError(f"{path}: missing (nothing to add to the bundle)")
        name = check_file_name(name or DEFAULT_NAMES.get(role, path.name), "bundle")
        if name in (current.typed_manifest.model.file, current.typed_manifest.model.data_file):
            raise SowcastError(f"{name}: is the bundle's model; it cannot be replaced this way")
        if any(name == n or (role == r and role in AT_MOST_ONE) for _p, r, n in entries):
            raise SowcastError(f"{name}: added twice (or two files of the one-per-bundle role {role!r})")
        entries.append((path, role, name))
    # The JSON as read, not Manifest.to_json(): the update changes only the keys it names, and
    # a bundle of an older exporter keeps its other bytes as they were.
    manifest = dict(current.manifest)
    files = dict(manifest["files"])
    names = {name for _p, _r, name in entries}
    for _path, role, name in entries:
        if role in AT_MOST_ONE:  # one climatology, one calibration, one scorecard per bundle
            for other, entry in list(files.items()):
                if entry["role"] == role and other != name:
                    del files[other]
    for key in manifest_update or {}:
        if key in REQUIRED_KEYS or key == CHECKSUM_KEY:
            raise SowcastError(f"manifest_update cannot replace {key!r}")
    manifest.update(dict(manifest_update or {}))
    with atomic_path(bundle_dir, overwrite=True, directory=True) as tmp:
        for p in bundle_dir.iterdir():
            if p.name in files and p.name not in names and p.is_file():
                try:
                    os.link(p, tmp / p.name)
                except OSError:  # a file system without hard links
                    shutil.copy2(p, tmp / p.name)
        for path, role, name in entries:
            shutil.copyfile(path, tmp / name)
            files[name] = file_entry(tmp / name, role)
        manifest["files"] = files
        data = manifest_bytes(manifest)
        parse_manifest(data)  # a manifest_update the reader would refuse is refused here, before the rename
        (tmp / MANIFEST_FILE).write_bytes(data)
    sibling = bundle_dir.with_name(bundle_dir.name + ".tar.gz")
    if archive or (archive is None and sibling.exists()):
        write_archive(bundle_dir, sibling, overwrite=True)
    return load_bundle(bundle_dir)
