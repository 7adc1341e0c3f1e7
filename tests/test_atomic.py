"""Atomic publication: all or nothing, never half a result."""

import pytest

from sowcast.atomic import atomic_path, atomic_write_text
from sowcast.errors import SowcastError


def test_directory_appears_whole(tmp_path):
    dest = tmp_path / "out.zarr"
    with atomic_path(dest, directory=True) as tmp:
        (tmp / "a").write_text("1")
        assert not dest.exists()
    assert (dest / "a").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]


def test_failure_leaves_destination_untouched(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old").write_text("keep")
    with pytest.raises(RuntimeError):
        with atomic_path(dest, overwrite=True, directory=True) as tmp:
            (tmp / "new").write_text("half")
            raise RuntimeError("crash mid-write")
    assert sorted(p.name for p in dest.iterdir()) == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_existing_destination_needs_overwrite(tmp_path):
    dest = tmp_path / "f.txt"
    dest.write_text("old")
    with pytest.raises(SowcastError, match="exists already"):
        atomic_write_text(dest, "new", overwrite=False)
    assert dest.read_text() == "old"
    atomic_write_text(dest, "new", overwrite=True)
    assert dest.read_text() == "new"


def test_overwrite_replaces_folder(tmp_path):
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "old").write_text("x")
    with atomic_path(dest, overwrite=True, directory=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
