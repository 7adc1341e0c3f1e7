"""Finding and opening raw inputs: local files, globs, folders and fsspec URLs.

Every source is opened *lazily* with dask (``chunks={}``, one chunk per stored chunk):

* netCDF (classic or netCDF-4/HDF5) with the ``netcdf4`` engine;
* GRIB 1/2 with ``cfgrib`` and ``indexpath=""``, so that no ``.idx`` file is written
  beside a read-only archive; :func:`cfgrib.open_datasets` splits a file holding several
  hypercubes (e.g. surface and pressure-level fields) into one dataset each;
* zarr stores with :func:`xarray.open_zarr`, remote ones through fsspec with the
  ``storage_options`` of the config, e.g. the WeatherBench 2 ERA5 archive
  ``gs://weatherbench2/datasets/era5/1959-2023_01_10-wb13-6h-1440x721_with_derived_variables.zarr``
  with ``storage_options: {token: anon}`` (needs ``gcsfs``);
* station CSVs (``sowcast.data.stations.is_station_csv``) are only recognised here; the
  ingest routes them to :func:`sowcast.data.stations.read_station_csv`.

The format is told from the file's first bytes, not its name, and a file cut short is
caught before any value is read (HDF5 end-of-file address, GRIB message lengths).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xarray as xr

from sowcast.data.store import is_remote
from sowcast.errors import SowcastError

NETCDF = "netcdf"
GRIB = "grib"
ZARR = "zarr"
CSV = "csv"

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_DATA_SUFFIXES = {".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".grib", ".grb", ".grib1",
                  ".grib2", ".grb2", ".zarr", ".csv"}
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input: where it is (local path or URL) and what format it holds."""

    uri: str
    kind: str  # netcdf | grib | zarr | csv

    @property
    def name(self) -> str:
        return os.path.basename(self.uri.rstrip("/")) or self.uri


def _is_zarr_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in ("zarr.json", ".zgroup", ".zarray"))


def _local_kind(path: Path) -> str:
    """The format of a local file or folder, from its content; a clear error otherwise."""
    if _is_zarr_dir(path):
        return ZARR
    if path.is_dir():
        raise SowcastError(f"{path} is a folder but not a zarr store")
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise SowcastError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
        return NETCDF
    if head.startswith(_HDF5_MAGIC):
        return NETCDF
    if b"GRIB" in head[:512]:
        return GRIB
    if _is_station_csv(path):
        return CSV
    if not head:
        raise SowcastError(f"{path} is empty")
    what = "a text file" if _looks_like_text(head) else f"a binary file starting {head[:8]!r}"
    raise SowcastError(f"{path} is not weather data: {what}, not netCDF, GRIB, zarr or a station CSV")


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_station_csv(path: Path) -> bool:
    try:
        from sowcast.data.stations import is_station_csv
    except ImportError:  # pragma: no cover - the stations module ships with the package
        return False
    try:
        return bool(is_station_csv(path))
    except Exception:  # a file it cannot parse is simply not a station CSV
        return False


def _expand_local(entry: str) -> list[Path]:
    path = Path(os.path.expanduser(entry))
    if _GLOB_CHARS & set(entry):
        matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(entry)))
        if not matches:
            raise SowcastError(f"no file matches {entry}")
        return [p for p in matches if not p.name.endswith(".idx")]
    if not path.exists():
        raise SowcastError(f"no such file or folder: {entry}")
    if path.is_dir() and not _is_zarr_dir(path):
        files = sorted(p for p in path.iterdir()
                       if not p.name.startswith(".") and p.suffix.lower() in _DATA_SUFFIXES)
        if not files:
            raise SowcastError(f"folder {entry} holds no netCDF, GRIB, zarr or CSV files")
        return files
    return [path]


def _expand_remote(entry: str, storage_options: Mapping[str, Any]) -> list[Source]:
    try:
        import fsspec
    except ImportError:
        raise SowcastError(f"reading {entry} needs fsspec: pip install 'sowcast[ingest]'") from None

    try:
        fs, _, paths = fsspec.get_fs_token_paths(entry, storage_options=dict(storage_options))
    except Exception as exc:  # missing backend (gcsfs, s3fs), credentials, network
        raise SowcastError(f"cannot open {entry}: {type(exc).__name__}: {exc}") from None
    out = []
    for p in sorted(paths):
        uri = fs.unstrip_protocol(p) if _GLOB_CHARS & set(entry) else entry.rstrip("/")
        try:
            is_dir = fs.isdir(p)
            exists = is_dir or fs.exists(p)
        except Exception as exc:  # network, permissions, credentials
            raise SowcastError(f"cannot reach {uri}: {type(exc).__name__}: {exc}") from None
        if not exists:
            raise SowcastError(f"no such file or store: {uri}")
        if is_dir or p.rstrip("/").endswith(".zarr"):
            out.append(Source(uri, ZARR))
        elif p.endswith((".csv",)):
            out.append(Source(uri, CSV))
        else:
            out.append(Source(uri, "remote-file"))
    if not out:
        raise SowcastError(f"nothing matches {entry}")
    return out


def expand_sources(sources: str | Iterable[str], storage_options: Mapping[str, Any] | None = None) -> list[Source]:
    """Files, globs, folders and URLs -> a sorted list of :class:`Source` (no duplicates)."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    entries = [str(s) for s in (sources or [])]
    if not entries:
        raise SowcastError("ingest.sources is empty: give files, globs, folders or URLs")
    out: list[Source] = []
    for entry in entries:
        if is_remote(entry):
            out += _expand_remote(entry, storage_options or {})
        else:
            if entry.startswith("file://"):
                entry = entry[len("file://"):]
            out += [Source(str(p), _local_kind(p)) for p in _expand_local(entry)]
    seen, unique = set(), []
    for s in out:
        if s.uri not in seen:
            seen.add(s.uri)
            unique.append(s)
    return unique


# --- integrity checks: a file cut short must fail here, not in the middle of a write ---

def check_hdf5_complete(path: Path) -> None:
    """Compare an HDF5 (netCDF-4) file's size with the end-of-file address in its superblock."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(128)
    if not head.startswith(_HDF5_MAGIC) or len(head) < 32:
        return
    version = head[8]
    if version in (0, 1):
        size_of_offsets = head[13]
        # signature 8, versions 5, offset/length sizes 2, reserved 1, K values 4, flags 4
        base = 24 + (4 if version == 1 else 0)
        eof_at = base + 2 * size_of_offsets
    elif version in (2, 3):
        size_of_offsets = head[9]
        eof_at = 12 + 2 * size_of_offsets
    else:
        return
    fmt = {4: "<I", 8: "<Q"}.get(size_of_offsets)
    if fmt is None or len(head) < eof_at + size_of_offsets:
        return
    eof = struct.unpack(fmt, head[eof_at:eof_at + size_of_offsets])[0]
    if eof > size:
        raise SowcastError(f"{path} is truncated: its header says {eof} bytes, the file has {size}")


def check_grib_complete(path: Path) -> int | None:
    """Walk the GRIB messages by their declared lengths: one running past the end of the file,
    or not ending in ``7777``, is an error; so are bytes before, between or after the messages
    that are not zero padding (writers pad messages with zeros, e.g. to 120 bytes; ERA5's have
    8 or 18), and a run of padding as long as the walk's window (1024 bytes): eccodes would
    skip such bytes and the file would read as if whole. Returns how many messages there are
    (None when a layout is met that this walk does not follow; eccodes then judges the rest)."""
    size = path.stat().st_size
    count = 0
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            f.seek(offset)
            window = f.read(1024)  # messages may be padded (e.g. to 8 or 120 bytes)
            start = window.find(b"GRIB")
            gap = window if start < 0 else window[:start]
            if gap.strip(b"\x00") or (start < 0 and offset + len(window) < size):
                where = ("after its last GRIB message" if start < 0 else "between GRIB messages") if count \
                    else "before its first GRIB message"
                raise SowcastError(f"{path} is corrupt: the {size - offset if start < 0 else start} bytes at byte "
                                   f"{offset} are not a GRIB message ({where}; trailing garbage, or files joined)")
            if start < 0:
                return count  # zero padding at the end
            offset += start
            head = window[start:start + 16]
            if len(head) < 16:
                f.seek(offset)
                head = f.read(16)
            if len(head) < 8:
                raise SowcastError(f"{path} is truncated: it ends inside a GRIB message header")
            edition = head[7]
            if edition == 1:
                length = int.from_bytes(head[4:7], "big")
                if length & 0x800000:
                    return None  # ECMWF's large-GRIB1 length encoding: do not guess
            elif edition == 2 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif edition not in (1, 2):
                raise SowcastError(f"{path} is corrupt: the bytes at byte {offset} start with 'GRIB' but are not a "
                                   f"GRIB 1 or 2 message (edition {edition}; trailing garbage, or a damaged file)")
            else:
                return None
            if length < 8:
                return None
            if offset + length > size:
                raise SowcastError(
                    f"{path} is truncated: its GRIB message at byte {offset} needs {length} bytes, "
                    f"only {size - offset} are left"
                )
            f.seek(offset + length - 4)
            if f.read(4) != b"7777":
                raise SowcastError(f"{path} is corrupt: its GRIB message at byte {offset} does not end "
                                   f"with 7777 where its length ({length} bytes) says")
            count += 1
            offset += length
    return count


def grib_fields(datasets: list[xr.Dataset]) -> int:
    """How many GRIB messages (one field each) the hypercubes cfgrib built are made of."""
    total = 0
    for ds in datasets:
        for da in ds.data_vars.values():
            points = int(da.attrs.get("GRIB_numberOfPoints") or 0)
            if points <= 0 or da.size % points:
                return 0  # a layout this count does not follow
            total += da.size // points
    return total


@contextlib.contextmanager
def quiet_grib_readers() -> Iterator[list[str]]:
    """Hold back what cfgrib logs and eccodes prints on stderr (a corrupt file's tracebacks):
    the lines are collected in the yielded list, for one clear error instead."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("cfgrib")
    handler, propagate = Collect(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield lines
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                held.seek(0)
                lines[:0] = [line for line in held.read().decode(errors="replace").splitlines() if line.strip()]
    finally:
        os.close(saved)
        logger.removeHandler(handler)
        logger.propagate = propagate


# --- opening ---

def _open_netcdf(path: str) -> xr.Dataset:
    check_hdf5_complete(Path(path))
    try:
        return xr.open_dataset(path, engine="netcdf4", chunks={})
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SowcastError(f"cannot read {path} as netCDF (corrupt or truncated?): {msg}") from None


def _open_grib(path: str) -> list[xr.Dataset]:
    messages = check_grib_complete(Path(path))
    try:
        import cfgrib
    except (ImportError, RuntimeError):  # RuntimeError: eccodes library not found
        raise SowcastError(f"reading GRIB ({path}) needs cfgrib and eccodes: pip install 'sowcast[grib]'") from None
    failure = None
    with quiet_grib_readers() as complaints:
        try:
            # open_datasets, not open_dataset: the latter logs and *skips* variables that do not
            # fit its one hypercube (e.g. t2m beside ensemble pressure levels).
            with warnings.catch_warnings():  # cfgrib's own xr.merge call and xarray's new defaults
                warnings.simplefilter("ignore", FutureWarning)
                datasets = list(cfgrib.open_datasets(path, backend_kwargs={"indexpath": ""}, chunks={}))
        except Exception as exc:  # eccodes and cfgrib raise many kinds for a bad file
            failure = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if failure is not None or complaints:
        said = re.sub(r"^ECCODES ERROR\s*:\s*", "eccodes: ", complaints[0]) if complaints else failure
        raise SowcastError(f"cannot read {path} as GRIB (corrupt?): {said}")
    if not datasets:
        raise SowcastError(f"{path} holds no GRIB fields that cfgrib can read")
    fields = grib_fields(datasets)
    if messages is not None and fields > messages:
        raise SowcastError(f"{path} is incomplete: its hypercube needs {fields} GRIB messages but the file "
                           f"holds {messages} (a file cut short at a message boundary?)")
    return datasets


def _open_zarr(uri: str, storage_options: Mapping[str, Any] | None) -> xr.Dataset:
    kwargs: dict[str, Any] = {"chunks": {}}
    if is_remote(uri):
        kwargs["storage_options"] = dict(storage_options or {})
    try:
        return xr.open_zarr(uri, **kwargs)
    except Exception as exc:  # zarr, fsspec and the network raise many kinds
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SowcastError(f"cannot open zarr store {uri}: {type(exc).__name__}: {msg}") from None


def _fetch_remote_file(uri: str, storage_options: Mapping[str, Any] | None) -> str:
    """A local cached copy of a remote netCDF or GRIB file (these engines need a path)."""
    import fsspec

    try:
        return fsspec.open_local(f"simplecache::{uri}", **{uri.split('://')[0]: dict(storage_options or {})})
    except Exception as exc:
        raise SowcastError(f"cannot fetch {uri}: {type(exc).__name__}: {exc}") from None


def open_source(source: Source, storage_options: Mapping[str, Any] | None = None) -> list[xr.Dataset]:
    """Open one gridded source lazily; a GRIB file may give several datasets."""
    if source.kind == ZARR:
        return [_open_zarr(source.uri, storage_options)]
    path = source.uri
    kind = source.kind
    if kind == "remote-file":
        path = _fetch_remote_file(source.uri, storage_options)
        kind = _local_kind(Path(path))
    if kind == NETCDF:
        return [_open_netcdf(path)]
    if kind == GRIB:
        return _open_grib(path)
    raise SowcastError(f"{source.uri} is a {kind} source, not gridded data")
