"""Start, run and stop the service; the root folder's layout::

    <root>/serve.lock        held (flock) while a service runs on this root: one at a time
    <root>/journal.sqlite    the job journal (+ -wal, -shm)
    <root>/runs/<id>/        each job's run folder (see sowcast.serve.jobs)
    <root>/published/<id>/   published runs (products/, bulletin/), the newest serve.keep_published
    <root>/latest            symlink to published/<id>, flipped atomically

At start: lock the root, verify the bundle (its sha256 is reported by /api/status),
remove what an interrupted publication left, end the steps a killed service left running
(:mod:`sowcast.serve.children`), put jobs found ``running`` (the box lost
power) back at the head of the queue, bind, start the worker and the inbox/schedule
poller. SIGTERM or SIGINT: stop taking requests, finish those under way, SIGTERM the
running step and requeue its job, close the journal, exit 0.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.serve.api import Context
from sowcast.serve import children
from sowcast.serve.handler import Server, log
from sowcast.serve.inbox import InboxPoller
from sowcast.serve.jobs import Worker
from sowcast.serve.journal import Journal
from sowcast.serve.publish import PUBLISHED, clean_stale
from sowcast.serve.schedule import DailySchedule
from sowcast.serve.settings import ServeSettings


def lock_root(root: Path) -> int:
    """Hold ``<root>/serve.lock`` (released by the kernel when the process dies, kill -9 too)."""
    fd = os.open(root / "serve.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SowcastError(f"another sowcast serve (pid {other}) runs on the root {root}") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def bundle_sha256(path: Path, trusted_keys: Any = None) -> str:
    """Verify the bundle now (a bad one, or one not signed by a trusted key when
    serve.forecast.trusted_keys is set, is a one-line error at start) and return its id."""
    from sowcast.bundle.reader import load_bundle

    return str(load_bundle(path, trusted_keys=trusted_keys).sha256)


class Poller(threading.Thread):
    """Every serve.poll_seconds: look at the inbox and the schedule."""

    def __init__(self, settings: ServeSettings, journal: Journal, wake):
        super().__init__(name="sowcast-poller", daemon=True)
        self.interval = settings.poll_seconds
        self.stopping = threading.Event()

        def queued(job):
            log(f"job {job['id']} queued by the {job['source']} ({job['params']['init']})")
            wake()

        self.inbox = InboxPoller(settings.inbox, journal, queued) if settings.inbox is not None else None
        self.schedule = (DailySchedule(settings.daily_at, settings.init, journal, queued)
                         if settings.daily_at is not None else None)

    def run(self) -> None:
        while not self.stopping.is_set():
            for name, tick in (("inbox", self.inbox and self.inbox.poll), ("schedule", self.schedule and self.schedule.tick)):
                if tick:
                    try:
                        tick()
                    except Exception as exc:  # noqa: BLE001 - a transient problem (inbox unmounted...) must not stop polling
                        log(f"{name}: {type(exc).__name__}: {exc}", logging.WARNING)
            self.stopping.wait(self.interval)


def serve(settings: ServeSettings) -> int:
    """Run the service until SIGTERM/SIGINT; see the module doc."""
    import sowcast

    root = settings.root
    try:
        for sub in (root, root / "runs", root / PUBLISHED):
            sub.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SowcastError(f"serve.root: cannot create {root}: {exc.strerror or exc}") from None
    lock_fd = lock_root(root)
    try:
        sha = bundle_sha256(settings.bundle, settings.forecast.get("trusted_keys"))
        clean_stale(root)
        children.end_orphans(root / "runs", log)    # steps a kill -9 of the last service left running
        journal = Journal(root / "journal.sqlite")
        requeued, failed = journal.recover(settings.max_attempts)
        for job_id in requeued:
            log(f"job {job_id} was running when the service stopped: requeued first", logging.WARNING)
        for job_id in failed:
            log(f"job {job_id} failed: interrupted {settings.max_attempts} times (serve.max_attempts)", logging.ERROR)
        worker = Worker(settings, journal, log)
        ctx = Context(settings, journal, worker.wake, sha, sowcast.__version__)
        try:
            server = Server((settings.host, settings.port), ctx)
        except OSError as exc:
            journal.close()
            raise SowcastError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
        host, port = server.server_address[:2]
        poller = Poller(settings, journal, worker.wake)

        def stop(signum, _frame):
            log(f"{signal.Signals(signum).name}: stopping")
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        worker.start()
        poller.start()
        url_host = f"[{host}]" if ":" in host else host
        log(f"listening on http://{url_host}:{port}/ (root {root}, bundle {sha[:12]}, chain {' -> '.join(settings.chain)})")
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()          # waits for the responses under way
            poller.stopping.set()
            worker.stop()                  # SIGTERM to the running step; its job is requeued
            poller.join(5)
            journal.close()
            log("stopped")
        return 0
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)
