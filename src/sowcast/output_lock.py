"""One writer per output: an exclusive, non-blocking ``flock`` on ``<output>.lock``.

A command that writes an output (a forecast and its ``.partial``, a hindcast folder, a
store, a products folder...) holds this lock for its whole run. A second writer of the same
output gets a one-line :class:`SowcastError` naming the holder's pid instead of writing over
it. The kernel releases the lock when the holder dies (kill -9 included), so a stale lock
never blocks a new run; the file itself is only removed by its holder, under the lock, and a
writer that locked a file someone removed meanwhile starts again on the new one (so two
writers can never hold locks on two different files of the same name).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sowcast.errors import SowcastError


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of ``output``: ``<output>.lock`` beside it."""
    output = Path(output)
    return output.with_name(output.name + ".lock")


def _holder(fd: int) -> str:
    """The pid written in a lock file held by another process ("?" if it has not yet written it)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "?"


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, deepest first."""
    created = []
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    for d in reversed(created):
        with contextlib.suppress(FileExistsError):
            d.mkdir()
    return created


@dataclass
class OutputLock:
    """A held write lock (from :func:`acquire`)."""

    output: Path
    fd: int
    created: list[Path]          # folders made for the lock file: removed again if left empty

    def release(self) -> None:
        """Remove ``<output>.lock`` (still under the lock), let go of it, and remove the
        folders made for it if the run left them empty (a refused run leaves nothing)."""
        with contextlib.suppress(OSError):
            os.unlink(lock_path(self.output))
        with contextlib.suppress(OSError):
            os.close(self.fd)
        _remove_empty(self.created)


def acquire(output: str | os.PathLike) -> OutputLock:
    """Lock ``output`` for this process, or raise the one-line "being written" error."""
    output = Path(output)
    path = lock_path(output)
    try:
        created = _make_parents(path.parent)
    except OSError as exc:
        raise SowcastError(f"cannot create the folder of {output}: {exc.strerror or exc}") from None
    try:
        held = _lock(output, path)
    except BaseException:
        _remove_empty(created)
        raise
    held.created = created
    return held


def _remove_empty(folders: list[Path]) -> None:
    """rmdir ``folders`` (deepest first) while they are empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            break


def _lock(output: Path, path: Path) -> OutputLock:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SowcastError(f"cannot lock {output}: {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise SowcastError(f"cannot lock {output}: {exc.strerror or exc}") from None
            pid = _holder(fd)
            os.close(fd)
            raise SowcastError(f"{output} is being written by another process (pid {pid}); "
                               f"wait for it or stop it") from None
        # The file we locked may have been removed by the previous holder after we opened
        # it: then someone else may lock the new one; start again on what the path names now.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return OutputLock(output, fd, [])


@contextlib.contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[OutputLock]:
    """Hold the write lock of ``output`` for the ``with`` block; see the module doc."""
    held = acquire(output)
    try:
        yield held
    finally:
        held.release()
