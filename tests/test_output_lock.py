"""The output lock itself (sowcast.output_lock): one holder, the holder's pid in the
refusal, nothing left behind by a refused writer, the lock file removed by its holder."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sowcast.errors import SowcastError
from sowcast.output_lock import acquire, lock_path, output_lock

_HOLD = "from sowcast.output_lock import output_lock\nimport sys\nwith output_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n"


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "new" / "deeper" / "store.zarr"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(SowcastError) as err:
            acquire(out)
        assert str(err.value) == (f"{out} is being written by another process (pid {holder.pid}); "
                                  f"wait for it or stop it")
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert not (tmp_path / "new").exists()                 # the holder removed its lock and the folders made for it
    with output_lock(out):                                 # free again
        assert lock_path(out).read_text() == f"{__import__('os').getpid()}\n"
    assert not (tmp_path / "new").exists()


def test_a_refused_writer_leaves_the_holders_lock_alone(tmp_path):
    out = tmp_path / "fc.zarr"
    with output_lock(out):
        with pytest.raises(SowcastError, match="being written by another process"):
            acquire(out)                                   # a second open file: refused even in one process
        assert lock_path(out).exists()
    assert list(tmp_path.iterdir()) == []
