"""The job journal: FIFO with interrupted jobs first, triggers queue once, recovery after a
power cut, and a kill -9 in the middle of writes leaves a consistent database."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from sowcast.serve.journal import Journal


def test_fifo_ids_and_one_running_at_a_time(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    a = j.add({"init": "a.zarr", "init_time": None}, source="api")
    b = j.add({"init": "b.zarr", "init_time": "2001-04-27"}, source="inbox")
    assert (a["id"], b["id"]) == ("000001", "000002")
    assert a["status"] == "queued" and a["run_folder"] == "runs/000001" and a["attempts"] == 0
    assert j.queue_length() == 2 and j.current() is None
    first = j.claim_next()
    assert first["id"] == "000001" and first["status"] == "running" and first["attempts"] == 1
    assert j.current()["id"] == "000001" and j.queue_length() == 1
    j.set_step("000001", "products")
    j.finish("000001", "failed", "products failed (exit 2):\n sowcast: error: no   such file")
    done = j.get("000001")
    assert done["status"] == "failed" and done["error"] == "products failed (exit 2): sowcast: error: no such file"
    assert done["step"] == "products" and done["finished"] is not None
    assert j.claim_next()["params"] == {"init": "b.zarr", "init_time": "2001-04-27"}
    assert j.claim_next() is None
    assert [r["id"] for r in j.runs()] == ["000002", "000001"]
    assert j.get("999999") is None


def test_triggers_queue_once_across_reopen(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j.add({"init": "x.nc"}, source="inbox", trigger="inbox:x.nc:10:5") is not None
    assert j.add({"init": "x.nc"}, source="inbox", trigger="inbox:x.nc:10:5") is None
    j.close()
    j = Journal(tmp_path / "j.sqlite")
    assert j.has_trigger("inbox:x.nc:10:5")
    assert j.add({"init": "x.nc"}, source="inbox", trigger="inbox:x.nc:10:5") is None
    assert j.queue_length() == 1


def test_recover_requeues_running_first_and_gives_up_after_max_attempts(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    for name in "abc":
        j.add({"init": name}, source="api")
    assert j.claim_next()["id"] == "000001"          # running when the power goes
    j.close()
    j = Journal(tmp_path / "j.sqlite")
    assert j.recover(max_attempts=3) == (["000001"], [])
    again = j.claim_next()
    assert again["id"] == "000001" and again["attempts"] == 2   # first, before the older queued ones
    j.requeue("000001")                                          # a clean stop: the attempt does not count
    assert j.get("000001")["attempts"] == 1
    assert j.claim_next()["id"] == "000001"
    assert j.claim_next()["id"] == "000002"
    assert j.recover(max_attempts=3) == (["000001", "000002"], [])
    assert [j.claim_next()["attempts"] for _ in range(2)] == [3, 2]   # 000001, then 000002
    requeued, failed = j.recover(max_attempts=3)
    assert failed == ["000001"] and requeued == ["000002"]
    assert "gave up after 3 attempts" in j.get("000001")["error"]


def test_wal_and_synchronous_full(tmp_path):
    j = Journal(tmp_path / "j.sqlite")
    assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2      # FULL
    j.close()
    conn = sqlite3.connect(tmp_path / "j.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"   # persistent in the file


_WRITER = """
import sys
from sowcast.serve.journal import Journal
j = Journal(sys.argv[1])
i = 0
while True:
    i += 1
    j.add({"init": f"x{i}"}, source="inbox", trigger=f"k{i}")
    job = j.claim_next()
    j.set_step(job["id"], "forecast")
    j.finish(job["id"], "succeeded")
    if i == 20:
        print("ready", flush=True)
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_kill9_during_writes_leaves_a_consistent_journal(tmp_path, delay):
    path = tmp_path / "j.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    j = Journal(path)
    runs = j.runs(limit=100000)
    # every job and its trigger were committed together; at most the last job was cut mid-run
    n_triggers = j._conn.execute("SELECT COUNT(*) FROM triggers").fetchone()[0]
    assert n_triggers == len(runs) >= 20
    assert all(r["status"] == "succeeded" for r in runs[1:])
    assert runs[0]["status"] in ("queued", "running", "succeeded")
