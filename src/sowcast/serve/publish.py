"""Atomic publication of a finished run: readers see the old result or the new one, never half.

1. the run's ``products/`` and ``bulletin/`` are hard-linked (copied where links fail)
   into a temporary folder beside ``<root>/published/<job id>/``, with ``published.json``
   (job id, time); the tree is fsynced and renamed into place
   (:func:`sowcast.atomic.atomic_path`). The step outputs are never modified in place
   (each step replaces its folder by a rename), so sharing inodes is safe;
2. ``<root>/latest`` is flipped: a symlink to ``published/<job id>`` is made under a
   temporary name and renamed over ``latest`` (``rename(2)`` is atomic), then the root
   folder is fsynced;
3. published runs beyond the newest ``keep`` (by job id) are removed, never the one
   ``latest`` names.

A kill at any moment leaves ``latest`` on the previous complete run (or absent, before the
first publication): at worst a temporary folder or symlink is left behind, which
:func:`clean_stale` removes at the next start. Readers resolve ``latest`` once per request
(:func:`resolve_latest`) and read everything from that folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from sowcast.atomic import atomic_path, fsync_dir
from sowcast.serve.journal import utc_now

PUBLISHED = "published"
LATEST = "latest"
PARTS = ("products", "bulletin")
MARKER = "published.json"


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def publish(root: Path, job_id: str, run_dir: Path, parts: Iterable[str] = PARTS, keep: int = 5,
            on_stage: Callable[[str], None] | None = None) -> Path:
    """Publish ``run_dir``'s ``parts`` as ``<root>/published/<job_id>`` and point ``latest`` at it.

    ``on_stage`` (tests) is called with ``"copied"`` once the files are in the temporary
    folder, ``"placed"`` once it is renamed into place and ``"flipped"`` after the flip.
    """
    stage = on_stage or (lambda _name: None)
    dest = root / PUBLISHED / job_id
    with atomic_path(dest, overwrite=True, directory=True) as tmp:
        for part in parts:
            if (run_dir / part).is_dir():
                shutil.copytree(run_dir / part, tmp / part, copy_function=_link_or_copy)
        (tmp / MARKER).write_text(json.dumps({"job_id": job_id, "published": utc_now()}) + "\n")
        stage("copied")
    stage("placed")
    flip_latest(root, dest)
    stage("flipped")
    prune(root, keep)
    return dest


def flip_latest(root: Path, target: Path) -> None:
    """Point ``<root>/latest`` at ``target`` in one rename (relative link: the root may move)."""
    tmp = root / f".{LATEST}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(target, root), tmp)
    os.replace(tmp, root / LATEST)
    fsync_dir(root)


def is_published(root: Path, job_id: str) -> bool:
    """Whether ``job_id`` was published completely (its folder is in place)."""
    return (root / PUBLISHED / job_id / MARKER).is_file()


def resolve_latest(root: Path) -> Path | None:
    """The published folder ``latest`` names now, or None; a link leading outside
    ``<root>/published`` (made by hand) counts as none."""
    try:
        target = (root / LATEST).resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        return None
    base = (root / PUBLISHED).resolve()
    if not target.is_dir() or target.parent != base:
        return None
    return target


def prune(root: Path, keep: int) -> list[str]:
    """Remove published runs beyond the newest ``keep`` (never ``latest``'s); their ids."""
    base = root / PUBLISHED
    current = resolve_latest(root)
    ids = sorted((p.name for p in base.iterdir() if p.is_dir() and p.name.isdigit()), key=int, reverse=True)
    removed = []
    for job_id in ids[keep:]:
        if current is not None and current.name == job_id:
            continue
        shutil.rmtree(base / job_id, ignore_errors=True)
        removed.append(job_id)
    return removed


def clean_stale(root: Path) -> None:
    """Remove what an interrupted publication left: temporary folders and links.
    Only at start, while no publication runs (the service holds the root's lock)."""
    for p in root.glob(f".{LATEST}.tmp-*"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    base = root / PUBLISHED
    if base.is_dir():
        for p in base.iterdir():
            if p.name.startswith("."):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
