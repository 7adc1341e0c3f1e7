"""The inbox: new initial conditions dropped into ``serve.inbox`` queue a chain job.

An entry is a ``*.nc`` file or a ``*.zarr`` folder whose name is plain (letters, digits,
``._+-``, not starting with a dot: no hidden or temporary files, nothing a Hydra override
could misread) that resolves inside the inbox (a link out is ignored). It is taken when it is **stable**:

* a marker ``<name>.done`` sits beside it (the producer says it has finished), or
* its signature (size and mtime; for a folder: file count, total size and latest mtime)
  is the same at two polls in a row (``serve.poll_seconds`` apart).

Each arrival queues one job, remembered in the journal under the key
``inbox:<name>:<size>:<mtime_ns>`` (inserted with the job in one transaction), so a restart
does not queue it again; a file *replaced* under the same name (new size or mtime) is a
new arrival and queues a new job. The job forecasts from the entry's latest time.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from sowcast.serve.journal import Journal

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")
DONE_SUFFIX = ".done"


def is_candidate(path: Path, inbox: Path) -> bool:
    """A plain-named ``.nc`` file or ``.zarr`` folder that resolves inside ``inbox``."""
    if not NAME.fullmatch(path.name) or not path.resolve().is_relative_to(inbox.resolve()):
        return False
    if path.suffix == ".nc":
        return path.is_file()
    if path.suffix == ".zarr":
        return path.is_dir()
    return False


def signature(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a file; for a folder (total size + 1000 x file count, latest mtime)."""
    st = path.stat()
    if not path.is_dir():
        return st.st_size, st.st_mtime_ns
    size, mtime = 0, st.st_mtime_ns
    for folder, _dirs, files in os.walk(path):
        mtime = max(mtime, os.stat(folder).st_mtime_ns)
        for name in files:
            fst = os.stat(os.path.join(folder, name))
            size += fst.st_size + 1000
            mtime = max(mtime, fst.st_mtime_ns)
    return size, mtime


class InboxPoller:
    """Call :meth:`poll` every ``serve.poll_seconds``; it queues each stable new arrival once."""

    def __init__(self, inbox: Path, journal: Journal, on_queued: Callable[[dict], None] | None = None):
        self.inbox = inbox
        self.journal = journal
        self.on_queued = on_queued or (lambda job: None)
        self._seen: dict[str, tuple[int, int]] = {}

    def poll(self) -> list[dict]:
        """One look at the inbox; returns the jobs queued now."""
        queued, seen = [], {}
        for path in sorted(self.inbox.iterdir()):
            try:
                if not is_candidate(path, self.inbox):
                    continue
                sig = signature(path)
            except OSError:  # vanished or unreadable mid-look: next poll
                continue
            seen[path.name] = sig
            stable = (self.inbox / f"{path.name}{DONE_SUFFIX}").exists() or self._seen.get(path.name) == sig
            if not stable:
                continue
            key = f"inbox:{path.name}:{sig[0]}:{sig[1]}"
            if self.journal.has_trigger(key):
                continue
            job = self.journal.add({"init": str(path.absolute()), "init_time": None}, source="inbox", trigger=key)
            if job is not None:
                queued.append(job)
                self.on_queued(job)
        self._seen = seen
        return queued
