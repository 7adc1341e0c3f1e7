"""sha256 and sizes of bundle files, and their verification against ``manifest.json``.

Every failure is one line naming the file and the reason, e.g.
``model.onnx: sha256 mismatch (bundle tampered or corrupt)``,
``model.onnx: truncated (12 of 3456 bytes)`` or ``evil.py: not listed in manifest.json
(unlisted file refused)``. The manifest's own checksum is in :mod:`sowcast.bundle.manifest`.
Torch-free.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sowcast.bundle.manifest import MANIFEST_FILE, SIGNATURE_FILE
from sowcast.errors import SowcastError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def file_entry(path: str | os.PathLike, role: str) -> dict[str, Any]:
    """``{sha256, bytes, role}`` of one file, as listed in the manifest's ``files``."""
    path = Path(path)
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size, "role": role}


def verify_file(folder: Path, name: str, entry: Mapping[str, Any]) -> None:
    """Check one listed file: present, the right size, the right sha256."""
    path = folder / name
    if not path.is_file():
        raise SowcastError(f"{name}: missing")
    size, want = path.stat().st_size, int(entry["bytes"])
    if size < want:
        raise SowcastError(f"{name}: truncated ({size} of {want} bytes)")
    if size > want:
        raise SowcastError(f"{name}: size mismatch ({size} bytes, the manifest says {want})")
    if sha256_file(path) != entry["sha256"]:
        raise SowcastError(f"{name}: sha256 mismatch (bundle tampered or corrupt)")


def verify_files(folder: str | os.PathLike, files: Mapping[str, Mapping[str, Any]]) -> None:
    """Check every listed file, then refuse anything unlisted (see module doc)."""
    folder = Path(folder)
    for name, entry in files.items():
        verify_file(folder, name, entry)
    for extra in unlisted_files(folder, files):
        raise SowcastError(f"{extra}: not listed in {MANIFEST_FILE} (unlisted file refused)")


def unlisted_files(folder: Path, files: Mapping[str, Any]) -> list[str]:
    """Everything in ``folder`` but the manifest, its signature and the files it lists (sorted),
    hidden files and folders included: a bundle carries nothing that is not checksummed (a stray
    ``evil.py`` or ``libevil.so`` could be picked up by whatever runs beside it). ``manifest.sig``
    is judged by :mod:`sowcast.bundle.signature`, against the manifest's bytes."""
    return [p.name for p in sorted(folder.iterdir())
            if p.name not in (MANIFEST_FILE, SIGNATURE_FILE) and p.name not in files]
