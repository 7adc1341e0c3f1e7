"""Atomic publication: latest flips to a complete folder; a kill -9 at any stage of a
publication leaves the previous latest intact; old runs are pruned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sowcast.serve.publish import clean_stale, is_published, publish, resolve_latest


def make_run(root: Path, job_id: str, n_files: int = 3) -> Path:
    run = root / "runs" / job_id
    (run / "products").mkdir(parents=True)
    for i in range(n_files):
        (run / "products" / f"f{i}.csv").write_text(f"job {job_id} file {i}\n")
    (run / "bulletin" / "maps").mkdir(parents=True)
    (run / "bulletin" / "maps" / "m.png").write_bytes(b"\x89PNG" + job_id.encode())
    (run / "forecast.zarr").mkdir()
    return run


def complete(folder: Path, job_id: str, n_files: int = 3) -> bool:
    return all((folder / "products" / f"f{i}.csv").read_text() == f"job {job_id} file {i}\n" for i in range(n_files)) \
        and (folder / "bulletin" / "maps" / "m.png").read_bytes() == b"\x89PNG" + job_id.encode() \
        and (folder / "published.json").is_file()


def test_publish_flips_latest_links_files_and_prunes(tmp_path):
    root = tmp_path
    assert resolve_latest(root) is None
    for n in range(1, 5):
        job_id = f"{n:06d}"
        run = make_run(root, job_id)
        dest = publish(root, job_id, run, keep=2)
        assert os.readlink(root / "latest") == f"published/{job_id}"
        assert resolve_latest(root) == dest.resolve() and complete(dest, job_id)
        assert not (dest / "forecast.zarr").exists()
        # hard links: no second copy of the (large) products on the box's disk
        assert (dest / "products" / "f0.csv").stat().st_ino == (run / "products" / "f0.csv").stat().st_ino
        assert is_published(root, job_id)
    assert sorted(p.name for p in (root / "published").iterdir()) == ["000003", "000004"]


def test_latest_never_pruned_and_links_outside_refused(tmp_path):
    root = tmp_path
    publish(root, "000005", make_run(root, "000005"), keep=1)
    publish(root, "000002", make_run(root, "000002"), keep=1)   # an older id published last
    assert resolve_latest(root).name == "000002"
    assert (root / "published" / "000002").is_dir()
    (root / "elsewhere").mkdir()
    (root / "latest").unlink()
    os.symlink("elsewhere", root / "latest")
    assert resolve_latest(root) is None


_CHILD = """
import sys, time
from pathlib import Path
from sowcast.serve.publish import publish
root, job_id, stage = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
def hook(name):
    if name == stage:
        print("at", name, flush=True)
        time.sleep(600)
publish(root, job_id, root / "runs" / job_id, keep=5, on_stage=hook)
"""


@pytest.mark.parametrize("stage", ["copied", "placed"])
def test_kill9_during_publish_keeps_the_previous_latest(tmp_path, stage):
    root = tmp_path
    publish(root, "000001", make_run(root, "000001"), keep=5)
    make_run(root, "000002", n_files=200)
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(root), "000002", stage], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == f"at {stage}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    latest = resolve_latest(root)
    assert latest.name == "000001" and complete(latest, "000001")
    # the new folder is either absent or complete, never half-there under its final name
    new = root / "published" / "000002"
    assert not new.exists() if stage == "copied" else complete(new, "000002", n_files=200)
    clean_stale(root)
    assert not [p for p in (root / "published").iterdir() if p.name.startswith(".")]
    assert not list(root.glob(".latest.tmp-*"))
    # the rerun publishes it
    publish(root, "000002", root / "runs" / "000002", keep=5)
    assert resolve_latest(root).name == "000002" and complete(resolve_latest(root), "000002", n_files=200)
