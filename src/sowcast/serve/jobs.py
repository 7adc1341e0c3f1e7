"""The worker: one thread, one job at a time, FIFO from the journal.

A **chain job** runs the steps of ``serve.chain`` (``forecast -> products -> bulletin``)
as subprocesses ``[sys.executable, "-m", "sowcast", STEP, KEY=VALUE ...]`` in its run
folder ``<root>/runs/<job id>/``::

    forecast.zarr   (+ forecast.zarr.partial/ while it runs: the engine's saved state)
    products/       bulletin/
    logs/<step>.log stdout and stderr of each step, appended attempt after attempt

then publishes ``products/`` and ``bulletin/`` (:mod:`sowcast.serve.publish`). A step that
exits non-zero fails the job; its last error line (``sowcast: error: ...``, else the last
line of its log) goes into the journal.

**Recovery** (a job found ``running`` at start, or stopped by SIGTERM, runs again first):
every step runs again, and each one decides what is left to do. The forecast engine
resumes from its ``forecast.zarr.partial/`` state (the same command goes on from the last
saved step), or finds its finished output up to date (same fingerprint) and returns at
once; products and bulletin are recomputed (seconds; each replaces its folder atomically).
A job whose run was already published (the kill came between the ``latest`` flip and the
journal update) is marked succeeded without running anything.

While a step runs, ``step.pid`` in the run folder records it; a service killed with -9
leaves it running, and the next one ends it before it requeues the job
(:mod:`sowcast.serve.children`); the step's own output lock (:mod:`sowcast.output_lock`)
keeps even a survivor from writing beside the new attempt.

SIGTERM (:meth:`Worker.stop`): the running step gets SIGTERM (the forecast's state is on
disk anyway), the job goes back to the head of the queue, the thread ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sowcast.parent_death import child_environment
from sowcast.serve import children
from sowcast.serve.journal import Journal, one_line
from sowcast.serve.publish import is_published, publish, resolve_latest
from sowcast.serve.settings import ServeSettings

STOP_GRACE_SECONDS = 30


def override(key: str, value: Any) -> str:
    """A Hydra override ``key=value``; strings are single-quoted (paths with spaces, commas...)."""
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"{key}={value}"
    if isinstance(value, (list, tuple)):
        return f"{key}=[{','.join(_quote(v) for v in value)}]"
    return f"{key}={_quote(value)}"


def _quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def step_overrides(step: str, settings: ServeSettings, params: dict[str, Any], run_dir: Path) -> list[str]:
    """The overrides of one chain step: the service config, the job's params, the run folder."""
    if step == "forecast":
        f = settings.forecast
        out = [override("forecast.bundle", str(settings.bundle)), override("forecast.init", params["init"]),
               override("forecast.init_time", params.get("init_time")),
               override("forecast.output", str(run_dir / "forecast.zarr"))]
        out += [override(f"forecast.{k}", f[k]) for k in ("members", "lead", "threads", "checkpoint_every", "trusted_keys")
                if k in f]
    elif step == "products":
        out = [override("products.forecast", str(run_dir / "forecast.zarr")),
               override("products.bundle", str(settings.bundle)),
               override("products.observed", None if settings.observed is None else str(settings.observed)),
               override("products.stations", None if settings.stations is None else str(settings.stations)),
               override("products.output", str(run_dir / "products")), "overwrite=true"]
        if settings.locations is not None:
            out.append(override("products.locations", str(settings.locations)))
    elif step == "bulletin":
        out = [override("bulletin.products", str(run_dir / "products")),
               override("bulletin.output", str(run_dir / "bulletin")),
               f"bulletin.languages=[{','.join(settings.languages)}]", "overwrite=true"]
    else:
        raise ValueError(f"unknown chain step {step!r}")
    return [*out, "progress=false", *settings.overrides.get(step, [])]


def step_command(step: str, settings: ServeSettings, params: dict[str, Any], run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "sowcast", step, *step_overrides(step, settings, params, run_dir)]


def error_line(log_path: Path, limit_bytes: int = 16384) -> str:
    """The step's one-line cause: its last ``sowcast: error:`` line, else its last line."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit_bytes))
            lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").replace("\r", "\n").splitlines()]
    except OSError:
        return "no log"
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if ln.startswith("sowcast: error:")]
    return one_line((errors or lines or ["no output"])[-1])


class Worker(threading.Thread):
    """Runs queued jobs one at a time until :meth:`stop`."""

    def __init__(self, settings: ServeSettings, journal: Journal, log: Callable[[str], None]):
        super().__init__(name="sowcast-worker", daemon=True)
        self.settings = settings
        self.journal = journal
        self.log = log
        self._stop_event = threading.Event()
        self._wake = threading.Event()
        self._proc: subprocess.Popen | None = None
        self._proc_lock = threading.Lock()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the running step, wait for it and for the thread (the job is requeued)."""
        self._stop_event.set()
        self._wake.set()
        with self._proc_lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._stop_event.is_set():
            job = self.journal.claim_next()
            if job is None:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            try:
                self._run_job(job)
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker: the job fails, the log has it
                traceback.print_exc()
                self.journal.finish(job["id"], "failed", f"internal error: {type(exc).__name__}: {exc}")

    def _run_job(self, job: dict[str, Any]) -> None:
        s, job_id = self.settings, job["id"]
        run_dir = s.root / job["run_folder"]
        if is_published(s.root, job_id):
            self.journal.finish(job_id, "succeeded")
            self.log(f"job {job_id}: already published before the interruption")
            return
        (run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.log(f"job {job_id}: started (attempt {job['attempts']})")
        for step in s.chain:
            self.journal.set_step(job_id, step)
            log_path = run_dir / "logs" / f"{step}.log"
            rc = self._run_step(step_command(step, s, job["params"], run_dir), log_path, run_dir, step)
            if self._stop_event.is_set():
                self.journal.requeue(job_id)
                self.log(f"job {job_id}: stopped during {step}; requeued")
                return
            if rc != 0:
                self.journal.finish(job_id, "failed", f"{step} failed (exit {rc}): {error_line(log_path)}")
                self.log(f"job {job_id}: {step} failed (exit {rc}); see {log_path}")
                return
        self.journal.set_step(job_id, "publish")
        try:
            publish(s.root, job_id, run_dir, keep=s.keep_published)
        except OSError as exc:                  # disk full, permissions: the previous latest stays
            self.journal.finish(job_id, "failed", f"publish failed: {exc.strerror or exc} ({exc.filename or ''})")
            self.log(f"job {job_id}: publish failed: {exc}")
            return
        self.journal.finish(job_id, "succeeded")
        self.log(f"job {job_id}: succeeded; latest -> published/{job_id}")
        self._prune_runs()

    def _run_step(self, cmd: list[str], log_path: Path, run_dir: Path, step: str) -> int:
        """Run one step, its pid recorded in ``run_dir/step.pid`` while it runs (:mod:`sowcast.serve.children`)."""
        with open(log_path, "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            log.flush()
            with self._proc_lock:
                if self._stop_event.is_set():
                    return -15
                # The step gets SIGTERM if the service dies (kill -9 included): sowcast.parent_death
                self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                              env=child_environment({**os.environ, "PYTHONUNBUFFERED": "1"}))
            try:
                children.record(run_dir, self._proc.pid, step)
                return self._proc.wait()
            finally:
                if self._proc.poll() is None:   # record() failed (disk full): do not leave it running
                    self._proc.kill()
                    self._proc.wait()
                children.forget(run_dir)
                with self._proc_lock:
                    self._proc = None

    def _prune_runs(self) -> None:
        """Remove the run folders of finished jobs beyond the newest ``keep_runs`` (the
        journal keeps their record; published runs are separate)."""
        keep = self.settings.keep_runs
        latest = resolve_latest(self.settings.root)
        for job_id in self.journal.finished_ids()[keep:]:
            folder = self.settings.root / "runs" / job_id
            if folder.is_dir() and (latest is None or latest.name != job_id):
                shutil.rmtree(folder, ignore_errors=True)
