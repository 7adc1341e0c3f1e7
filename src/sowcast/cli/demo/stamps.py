"""Stamps of the demo's steps: what a finished step was made from, to reuse it when unchanged.

A stamp (``<demo.stamps>/<step>.json``) records the config the step ran with and the
identity of every input it read. The identities come from the files themselves, so a step
is redone when an upstream step was redone, or when an input was changed by hand:

* :func:`tree_identity`: a file or folder as the sorted (relative path, size, mtime) of its
  files, hashed; cheap (no reading) and changed by any rewrite, atomic replacements
  included (a store of 6,400 chunk files takes about 0.4 s);
* :func:`model_identity`: a bundle's ONNX model, as its sha256 in ``manifest.json``; not the
  whole folder, since ``sowcast hindcast`` adds ``climatology.nc`` to it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sowcast.atomic import atomic_write_text


def tree_identity(path: str | os.PathLike) -> str:
    """sha256 of (relative path, size, mtime_ns) of every file under ``path`` (or of the file);
    ``"missing"`` if there is nothing there."""
    path = Path(path)
    if not path.exists():
        return "missing"
    rows = []
    if path.is_file():
        st = path.stat()
        rows.append(f"{path.name}\t{st.st_size}\t{st.st_mtime_ns}")
    else:
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                st = os.stat(full)
                rows.append(f"{os.path.relpath(full, path)}\t{st.st_size}\t{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def model_identity(bundle: str | os.PathLike) -> str:
    """The sha256 of the bundle's fp32 ONNX model (and its weights file, if any) from its
    manifest; ``"missing"`` without a readable manifest."""
    try:
        manifest = json.loads((Path(bundle) / "manifest.json").read_text())
        model = manifest["model"]
        files = manifest["files"]
        parts = [files[model["file"]]["sha256"]]
        if model.get("data_file"):
            parts.append(files[model["data_file"]]["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return "missing"
    return ":".join(parts)


def read_stamp(path: Path) -> Any:
    """The recorded stamp, or None when there is none (or it does not read)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_stamp(path: Path, stamp: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(stamp, indent=1, sort_keys=True) + "\n")
