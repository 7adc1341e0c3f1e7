"""Reading and writing canonical zarr stores (see :mod:`sowcast.data.schema`).

A store is written into a temporary sibling folder and renamed into place only once the
data *and* its statistics group are complete, so a store appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from sowcast.atomic import atomic_path
from sowcast.cf_attributes import cf_dataset, merge_encoding
from sowcast.data.schema import CANONICAL_VARIABLES, FORMAT_VERSION, validate_canonical
from sowcast.errors import SowcastError

STATISTICS_GROUP = "statistics"


def is_remote(url: str | os.PathLike) -> bool:
    """True for an fsspec URL such as ``gs://...``, ``s3://...`` or ``memory://...``."""
    return "://" in str(url) and not str(url).startswith("file://")


def encoding_for(ds: xr.Dataset, chunks: dict[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """zarr encoding: float32 data, chunked along time (whole fields by default)."""
    chunks = dict(chunks or {})
    enc: dict[str, dict[str, Any]] = {}
    for name, da in ds.data_vars.items():
        shape = [min(int(chunks.get(d, n if d != "time" else 8)), n) for d, n in zip(da.dims, da.shape)]
        e: dict[str, Any] = {"chunks": tuple(max(s, 1) for s in shape)}
        if da.dtype.kind == "f":
            e["dtype"] = "float32"
        enc[name] = e
    return enc


def write_store(
    ds: xr.Dataset,
    path: str | os.PathLike,
    statistics: xr.Dataset | None = None,
    chunks: dict[str, int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    validate: bool = True,
) -> Path:
    """Write ``ds`` (lazy or in memory) and its statistics as a canonical store, atomically."""
    from sowcast.data.dask_runtime import compute

    if is_remote(path):
        raise SowcastError(f"canonical stores are written to a local path, not {path}")
    if validate:
        validate_canonical(ds, what=str(path))
    ds = ds.copy()
    ds.attrs["sowcast_format"] = FORMAT_VERSION
    # Chunk encodings inherited from the source files would clash with ours.
    for da in list(ds.data_vars.values()) + list(ds.coords.values()):
        da.encoding = {}
    ds, cf = cf_dataset(ds, "sowcast canonical store")
    with atomic_path(path, overwrite=overwrite, directory=True) as tmp:
        delayed = ds.to_zarr(
            tmp, mode="w", zarr_format=3, consolidated=False, compute=False,
            encoding=merge_encoding(cf, encoding_for(ds, chunks)),
        )
        compute(delayed, label=f"writing {path}", progress=progress)
        if statistics is not None:
            for da in list(statistics.data_vars.values()) + list(statistics.coords.values()):
                da.encoding = {}
            statistics.to_zarr(tmp, group=STATISTICS_GROUP, mode="w", zarr_format=3, consolidated=False)
        consolidate(tmp)
    return Path(path)


def consolidate(path: str | os.PathLike) -> None:
    """Write the consolidated metadata of the whole store (so ``xr.open_zarr`` reads one file)."""
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not part of the Zarr format 3 specification" (zarr 3)
        zarr.consolidate_metadata(str(path))


def is_consolidated(path: str | os.PathLike) -> bool:
    """True for a local store whose root ``zarr.json`` holds consolidated metadata."""
    if is_remote(path):
        return False
    try:
        root = json.loads((Path(path) / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(root.get("consolidated_metadata"))


def open_store(path: str | os.PathLike, chunks: Any = None, storage_options: dict | None = None) -> xr.Dataset:
    """Open a canonical store lazily (``chunks=None``: no dask; ``{}``: dask, stored chunks)."""
    if not is_remote(path) and not Path(path).exists():
        raise SowcastError(f"no store at {path}")
    try:
        ds = xr.open_zarr(path, chunks=chunks, consolidated=is_consolidated(path), storage_options=storage_options)
    except Exception as exc:  # zarr raises many kinds for a folder that is not a store
        raise SowcastError(f"{path} is not a readable zarr store ({type(exc).__name__}: {exc})") from None
    if ds.attrs.get("sowcast_format") != FORMAT_VERSION:
        raise SowcastError(
            f"{path} is not a canonical sowcast store (format {ds.attrs.get('sowcast_format')!r}, "
            f"expected {FORMAT_VERSION!r}); run 'sowcast data ingest' on it"
        )
    return ds


def read_statistics(path: str | os.PathLike, storage_options: dict | None = None) -> xr.Dataset:
    """The statistics group of a store, loaded into memory."""
    try:
        stats = xr.open_zarr(path, group=STATISTICS_GROUP, chunks=None, consolidated=is_consolidated(path),
                             storage_options=storage_options)
    except Exception:
        raise SowcastError(f"{path} has no statistics group; re-run 'sowcast data ingest'") from None
    return stats.load()


def data_variables(ds: xr.Dataset) -> list[str]:
    """Data variables without the ``*_valid`` masks, in the schema's order.

    zarr lists arrays in no fixed order; channel order must not depend on the file system.
    """
    order = {name: i for i, name in enumerate(CANONICAL_VARIABLES)}
    names = [str(n) for n in ds.data_vars if not str(n).endswith("_valid")]
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


def assert_finite(values: np.ndarray, what: str) -> None:
    """Raise a clear error if ``values`` hold NaN or infinity."""
    if not np.isfinite(values).all():
        raise SowcastError(f"{what} contains NaN or infinite values")
