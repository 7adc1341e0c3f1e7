"""The job journal: one SQLite file (``<root>/journal.sqlite``) that survives a power cut.

WAL mode with ``synchronous=FULL``: a committed transaction is on disk before the call
returns, and a kill -9 in the middle of one leaves the previous state (SQLite's atomic
commit). Two tables:

* ``jobs``: id (``"000042"``, the run folder's name), kind (``chain``), status
  (``queued|running|succeeded|failed|cancelled``), step, params (JSON), source
  (``api|inbox|schedule``), created/started/finished (UTC ISO 8601), run_folder (relative
  to the root), error (one line), attempts;
* ``triggers``: a key per thing that queued a job (an inbox file's name+size+mtime, a
  schedule slot), inserted in the same transaction as its job, so nothing is queued twice,
  even across restarts.

The queue is FIFO, except that a job started before (found ``running`` at start: the box
lost power, or stopped cleanly in the middle) goes first. One connection, guarded by a
lock: the HTTP threads, the worker and the poller share it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
KINDS = ("chain",)
JOB_FIELDS = ("id", "kind", "status", "step", "params", "source", "created", "started", "finished", "run_folder",
              "error", "attempts")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k) for k in KINDS)})),
    status     TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    step       TEXT,
    params     TEXT NOT NULL,
    source     TEXT NOT NULL,
    created    TEXT NOT NULL,
    started    TEXT,
    finished   TEXT,
    run_folder TEXT,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE TABLE IF NOT EXISTS triggers (
    key     TEXT PRIMARY KEY,
    job_id  TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Journal:
    """The jobs of one service root; every method is one transaction."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    # -- plumbing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (committed, hence on disk, when the block ends)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def _job(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        job = {k: row[k] for k in JOB_FIELDS}
        job["params"] = json.loads(job["params"])
        return job

    # -- queueing -------------------------------------------------------------------------
    def add(self, params: Mapping[str, Any], source: str, trigger: str | None = None,
            kind: str = "chain") -> dict[str, Any] | None:
        """Queue a job; with ``trigger``, only if that key never queued one (else None)."""
        with self._tx() as c:
            if trigger is not None and c.execute("SELECT 1 FROM triggers WHERE key = ?", (trigger,)).fetchone():
                return None
            seq = c.execute("INSERT INTO jobs (kind, status, params, source, created) VALUES (?, 'queued', ?, ?, ?)",
                            (kind, json.dumps(dict(params), sort_keys=True), source, utc_now())).lastrowid
            job_id = f"{seq:06d}"
            c.execute("UPDATE jobs SET id = ?, run_folder = ? WHERE seq = ?", (job_id, f"runs/{job_id}", seq))
            if trigger is not None:
                c.execute("INSERT INTO triggers (key, job_id, created) VALUES (?, ?, ?)", (trigger, job_id, utc_now()))
            return self._job(c.execute("SELECT * FROM jobs WHERE seq = ?", (seq,)).fetchone())

    def has_trigger(self, key: str) -> bool:
        with self._read() as c:
            return c.execute("SELECT 1 FROM triggers WHERE key = ?", (key,)).fetchone() is not None

    def claim_next(self) -> dict[str, Any] | None:
        """Mark the next queued job running (interrupted ones first, then FIFO) and return it."""
        with self._tx() as c:
            row = c.execute("SELECT seq FROM jobs WHERE status = 'queued' ORDER BY started IS NULL, seq LIMIT 1"
                            ).fetchone()
            if row is None:
                return None
            c.execute("UPDATE jobs SET status = 'running', step = NULL, error = NULL, finished = NULL, "
                      "started = ?, attempts = attempts + 1 WHERE seq = ?", (utc_now(), row["seq"]))
            return self._job(c.execute("SELECT * FROM jobs WHERE seq = ?", (row["seq"],)).fetchone())

    def set_step(self, job_id: str, step: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE jobs SET step = ? WHERE id = ?", (step, job_id))

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        if status not in ("succeeded", "failed", "cancelled"):
            raise ValueError(f"not a final status: {status}")
        with self._tx() as c:
            c.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ?",
                      (status, None if error is None else one_line(error), utc_now(), job_id))

    def requeue(self, job_id: str) -> None:
        """Put a job stopped cleanly (SIGTERM) back at the head of the queue; the attempt is not counted."""
        with self._tx() as c:
            c.execute("UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0) WHERE id = ? "
                      "AND status = 'running'", (job_id,))

    def recover(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """At start: jobs left ``running`` (power cut) go back to the head of the queue, or fail
        once they have been tried ``max_attempts`` times. Returns (requeued ids, failed ids)."""
        with self._tx() as c:
            rows = c.execute("SELECT id, attempts FROM jobs WHERE status = 'running' ORDER BY seq").fetchall()
            requeued, failed = [], []
            for r in rows:
                if r["attempts"] >= max_attempts:
                    error = (f"gave up after {r['attempts']} attempts interrupted by a power cut or crash "
                             f"(serve.max_attempts)")
                    c.execute("UPDATE jobs SET status = 'failed', finished = ?, error = ? WHERE id = ?",
                              (utc_now(), error, r["id"]))
                    failed.append(r["id"])
                else:
                    c.execute("UPDATE jobs SET status = 'queued' WHERE id = ?", (r["id"],))
                    requeued.append(r["id"])
            return requeued, failed

    # -- reading --------------------------------------------------------------------------
    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._read() as c:
            return self._job(c.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Jobs, newest first."""
        with self._read() as c:
            return [self._job(r) for r in c.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (int(limit),))]

    def current(self) -> dict[str, Any] | None:
        with self._read() as c:
            return self._job(c.execute("SELECT * FROM jobs WHERE status = 'running' ORDER BY seq LIMIT 1").fetchone())

    def queue_length(self) -> int:
        with self._read() as c:
            return int(c.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued'").fetchone()[0])

    def finished_ids(self) -> list[str]:
        """Ids of finished jobs, newest first."""
        with self._read() as c:
            return [r["id"] for r in c.execute("SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', "
                                               "'cancelled') ORDER BY seq DESC")]
