"""The forecast's writer thread (sowcast/forecast/write_behind.py): jobs run in the order they
were handed over, the first error stops the writing and reaches the loop, and the loop waits
when the queue is full (a bounded memory)."""

from __future__ import annotations

import threading

import pytest

from sowcast.forecast.write_behind import WriteBehind


def test_jobs_run_in_order_and_all_have_run_when_the_block_ends():
    done = []
    with WriteBehind(depth=2) as behind:
        for k in range(50):
            behind.submit(done.append, k)
    assert done == list(range(50))


def test_the_first_error_skips_later_jobs_and_is_raised_in_the_loop():
    done = []

    def fail():
        raise OSError("disk full")

    behind = WriteBehind(depth=4)
    behind.submit(done.append, 1)
    behind.submit(fail)
    behind.submit(done.append, 2)      # may be queued before the failure is seen: then skipped
    with pytest.raises(OSError, match="disk full"):
        for k in range(3, 100):
            behind.submit(done.append, k)
        behind.close()
    with pytest.raises(OSError, match="disk full"):
        behind.close()
    assert done == [1]
    with pytest.raises(RuntimeError, match="closed"):
        behind.submit(done.append, 0)


def test_an_error_of_the_block_wins_and_the_writer_is_still_joined():
    started, release = threading.Event(), threading.Event()
    done = []

    def slow():
        started.set()
        release.wait(10)
        done.append("slow")

    with pytest.raises(KeyError):
        with WriteBehind() as behind:
            behind.submit(slow)
            behind.submit(lambda: (_ for _ in ()).throw(ValueError("writer")))
            started.wait(10)
            release.set()
            raise KeyError("loop")
    assert done == ["slow"]          # the writer finished its job before the block was left


def test_the_loop_waits_while_depth_jobs_wait():
    release = threading.Event()
    with WriteBehind(depth=1) as behind:
        behind.submit(release.wait, 10)           # the writer holds this one
        behind.submit(lambda: None)                # waits in the queue: it is full now
        third = threading.Thread(target=behind.submit, args=(lambda: None,))
        third.start()
        third.join(0.2)
        assert third.is_alive()                    # still waiting for room
        release.set()
        third.join(10)
        assert not third.is_alive()
    with pytest.raises(ValueError, match="at least 1"):
        WriteBehind(depth=0)
