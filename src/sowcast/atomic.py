"""Atomic publication of results: a reader sees the old result or the new one, never half.

Write into a temporary sibling (same folder, so the final ``rename`` stays on one file
system), flush it to disk, then rename it into place. On any error the temporary is
removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sowcast.errors import SowcastError

_MANY_FILES = 256


def _fsync_tree(path: Path) -> None:
    """fsync every file and folder below ``path`` (and ``path`` itself).

    A big tree (a zarr store of thousands of chunk files) is flushed by one ``sync()``
    instead, which is far cheaper than thousands of fsyncs and as durable.
    """
    if path.is_file():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        return
    if sum(len(files) for _root, _dirs, files in os.walk(path)) > _MANY_FILES:
        os.sync()
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(Path(root))


def fsync_dir(path: Path) -> None:
    """fsync a folder, so that a rename or new entry in it survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, overwrite: bool = False, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``dest`` in one rename.

    ``directory=True`` creates the temporary as a folder (for a zarr store); otherwise the
    caller creates the file. An existing ``dest`` is an error unless ``overwrite``.
    """
    dest = Path(dest)
    parent = dest.parent if str(dest.parent) else Path(".")
    if dest.exists() and not overwrite:
        raise SowcastError(f"{dest} exists already; set overwrite=true to replace it")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=parent))
    if directory:
        # mkdtemp makes the folder private (0700); a published result gets the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
    else:
        tmp.rmdir()
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to the temporary {tmp}")
        _fsync_tree(tmp)
        if dest.is_dir() and not dest.is_symlink():
            # os.replace cannot swap a non-empty folder: move the old one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=parent))
            old.rmdir()
            os.replace(dest, old)
            os.replace(tmp, dest)
            _remove(old)
        else:
            os.replace(tmp, dest)
        fsync_dir(parent)
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_text(dest: str | os.PathLike, text: str, overwrite: bool = True) -> None:
    """Write a small text file atomically."""
    with atomic_path(dest, overwrite=overwrite) as tmp:
        tmp.write_text(text)
