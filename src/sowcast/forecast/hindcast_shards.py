"""Hindcasts beyond one box: the starts shared among ``n`` shards, then merged.

``hindcast.shard=i/n`` (``0 <= i < n``; a SLURM array task passes
``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``, deploy/slurm/hindcast_array.sbatch) runs
every ``n``-th usable start from the ``i``-th (starts in date order), into its own folder
``<output>.shards/<i>-of-<n>/``: a hindcast folder like any other (its own
``hindcast.json`` and lock, each start written atomically, a killed shard goes on with its
starts not yet done), so shards on different machines never share a lock or a file.

``hindcast.merge=true`` (same options, no shard) checks that all ``n`` shards are there,
made with these options (the same fingerprint), and complete, else stops with one line
naming the first one that is not; then it puts every shard's start files into
``<output>/`` (hard links where the file system allows, else copies, each atomically) with
the ``hindcast.json`` a single run writes. The merged folder is then exactly what one run
over all the starts gives (each start's files are the same bit for bit: a start's members do
not depend on the other starts, :mod:`sowcast.forecast.hindcast`), and the climatology and
the calibration are built from it as from a single run. Merging again is harmless.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError

SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
SHARD_FOLDER = re.compile(r"^(\d+)-of-(\d+)$")


def parse_shard(value: Any) -> tuple[int, int] | None:
    """``"i/n"`` as ``(i, n)`` with ``0 <= i < n``; None/empty: no sharding."""
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return None
    match = SHARD_PATTERN.match(str(value))
    if not match:
        raise SowcastError(f"hindcast.shard must be i/n (shard i of n, counted from 0), not {value!r}")
    i, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 0 <= i < n:
        raise SowcastError(f"hindcast.shard {i}/{n}: i must be 0..{n - 1} (shards are counted from 0)")
    return i, n


def shards_root(output: Path) -> Path:
    return Path(output).with_name(Path(output).name + ".shards")


def shard_folder(output: Path, shard: tuple[int, int]) -> Path:
    """Where shard ``(i, n)`` of the hindcasts into ``output`` writes."""
    return shards_root(output) / f"{shard[0]}-of-{shard[1]}"


def shard_starts(starts: Any, shard: tuple[int, int] | None) -> Any:
    """Every ``n``-th of ``starts`` from the ``i``-th (all of them without a shard)."""
    if shard is None:
        return starts
    return starts[shard[0]::shard[1]]


def _shard_count(output: Path) -> int:
    root = shards_root(output)
    counts = {int(m.group(2)) for p in (root.iterdir() if root.is_dir() else ())
              if (m := SHARD_FOLDER.match(p.name)) and p.is_dir()}
    if not counts:
        raise SowcastError(f"no hindcast shards in {root}: run 'sowcast hindcast hindcast.shard=i/n' "
                           f"for i = 0..n-1 first")
    if len(counts) > 1:
        raise SowcastError(f"{root} holds shards of different counts ({', '.join(map(str, sorted(counts)))}); "
                           f"remove the folders of the ones not wanted")
    return counts.pop()


def check_shards(output: Path, fingerprint: str, usable: Any, start_file: Any) -> list[Path]:
    """Every start's period file from the complete shards of ``output``, or one line naming
    the first shard missing, from other options, or unfinished."""
    n = _shard_count(output)
    files = []
    for i in range(n):
        folder = shard_folder(output, (i, n))
        meta = folder / "hindcast.json"
        if not meta.is_file():
            raise SowcastError(f"hindcast shard {i}/{n} is missing ({folder} has no hindcast.json): "
                               f"run it with hindcast.shard={i}/{n}")
        try:
            theirs = json.loads(meta.read_text()).get("fingerprint")
        except (OSError, ValueError):
            theirs = None
        if theirs != fingerprint:
            raise SowcastError(f"hindcast shard {i}/{n} in {folder} was made with other options or another "
                               f"bundle: run it again with these options (and overwrite=true)")
        mine = shard_starts(usable, (i, n))
        missing = [s for s in mine if not start_file(folder, "periods", s).is_file()]
        if missing:
            raise SowcastError(f"hindcast shard {i}/{n} is unfinished: {len(missing)} of its {len(mine)} starts "
                               f"not done (first {missing[0]:%Y-%m-%d}); run it again to finish")
        files.append(folder)
    return files


def place_file(src: Path, dest: Path) -> None:
    """``dest`` becomes ``src``'s content atomically: a hard link, or a copy where links fail."""
    import shutil

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.merge-{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
