"""The inbox poller (stable entries queue one job each, across restarts) and the daily
schedule (one job per slot, none twice after a restart)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sowcast.serve.inbox import InboxPoller
from sowcast.serve.journal import Journal
from sowcast.serve.schedule import DailySchedule


def test_inbox_takes_a_file_when_unchanged_over_two_polls(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    journal = Journal(tmp_path / "j.sqlite")
    poller = InboxPoller(inbox, journal)
    f = inbox / "analysis_20240501.nc"
    f.write_bytes(b"part")
    assert poller.poll() == []                      # first sight
    with open(f, "ab") as out:                      # still being written
        out.write(b" more")
    assert poller.poll() == []
    jobs = poller.poll()                            # unchanged since the last look
    assert [j["params"] for j in jobs] == [{"init": str(f), "init_time": None}]
    assert jobs[0]["source"] == "inbox"
    assert poller.poll() == [] and poller.poll() == []
    # a restart (new poller, same journal) does not queue it again
    again = InboxPoller(inbox, Journal(tmp_path / "j.sqlite"))
    assert again.poll() == [] and again.poll() == []
    # the file replaced under the same name is a new arrival
    f.write_bytes(b"a new analysis")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert again.poll() == [] and len(again.poll()) == 1
    assert journal.queue_length() == 2


def test_inbox_done_marker_zarr_folders_and_ignored_names(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    journal = Journal(tmp_path / "j.sqlite")
    poller = InboxPoller(inbox, journal)
    store = inbox / "analysis.zarr"
    (store / "rain").mkdir(parents=True)
    (store / "rain" / "0.0").write_bytes(b"x" * 10)
    (inbox / ".analysis.nc.tmp").write_bytes(b"x")   # hidden / temporary: never
    (inbox / "notes.txt").write_text("x")             # not initial conditions
    (inbox / "bad name.nc").write_bytes(b"x")         # not a plain name
    (inbox / "dir.nc").mkdir()                        # a folder named .nc
    (tmp_path / "outside.nc").write_bytes(b"x")
    os.symlink(tmp_path / "outside.nc", inbox / "linked.nc")   # a link out of the inbox: never
    (inbox / "linked.nc.done").write_text("")
    (inbox / "analysis.zarr.done").write_text("")     # the producer says it is complete
    jobs = poller.poll()
    assert [j["params"]["init"] for j in jobs] == [str(store)]
    assert poller.poll() == [] and poller.poll() == []
    # a file added inside the store changes the folder's signature: a new arrival
    (store / "rain" / "1.0").write_bytes(b"y" * 10)
    assert len(poller.poll()) == 1
    assert journal.queue_length() == 2


def test_daily_schedule_one_job_per_slot_across_restarts(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    queued = []
    sched = DailySchedule((6, 0), tmp_path / "store.zarr", journal, queued.append)
    day = datetime(2024, 5, 1, tzinfo=UTC)
    assert sched.tick(day.replace(hour=5, minute=59)) is None
    job = sched.tick(day.replace(hour=6))
    assert job["source"] == "schedule" and job["params"] == {"init": str(tmp_path / "store.zarr"), "init_time": None}
    assert sched.tick(day.replace(hour=6, minute=1)) is None
    restarted = DailySchedule((6, 0), tmp_path / "store.zarr", Journal(tmp_path / "j.sqlite"))
    assert restarted.tick(day.replace(hour=23, minute=59)) is None
    assert restarted.tick(datetime(2024, 5, 2, 5, 0, tzinfo=UTC)) is None
    late = restarted.tick(datetime(2024, 5, 2, 14, 30, tzinfo=UTC))   # box off at 06:00: caught up that day
    assert late is not None and journal.queue_length() == 2 and queued == [job]
    assert sched.slot_key(datetime(2024, 5, 2, 7, 0, tzinfo=UTC)) == "schedule:2024-05-02T06:00Z"
