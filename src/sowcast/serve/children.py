"""The step processes of the service, recorded so that a later life of it can end them.

While a step runs, its run folder holds ``step.pid`` (``{"pid", "start", "step"}``: the
pid and the kernel's start time of the process, from ``/proc/<pid>/stat``, so a pid reused
by an unrelated process is never mistaken for it). The worker removes the file when the step
ends. A service killed with -9 leaves its running step alive (an orphan) and the file
behind: at start-up, before any job is requeued, :func:`end_orphans` SIGTERMs every such
process still alive (SIGKILL after a grace period) and removes the files. The output lock
(:mod:`sowcast.output_lock`) guards the output even if an orphan somehow survives: the new
attempt's step then fails with one line naming the orphan's pid instead of writing beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from sowcast.atomic import atomic_write_text

PID_FILE = "step.pid"
GRACE_SECONDS = 10.0


def start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def record(run_dir: Path, pid: int, step: str) -> None:
    """Write ``run_dir/step.pid`` for the step process ``pid`` just started."""
    atomic_write_text(run_dir / PID_FILE, json.dumps({"pid": pid, "start": start_time(pid), "step": step}) + "\n")


def forget(run_dir: Path) -> None:
    """Remove ``run_dir/step.pid`` (the step has ended)."""
    with contextlib.suppress(FileNotFoundError):
        (run_dir / PID_FILE).unlink()


def _alive(pid: int, start: int | None) -> bool:
    return start is not None and start_time(pid) == start


def end_orphans(runs: Path, log: Callable[[str], None], grace: float = GRACE_SECONDS) -> list[int]:
    """End the step processes a previous life of the service left running (see the module
    doc); return their pids."""
    ended = []
    for pid_file in sorted(runs.glob(f"*/{PID_FILE}")):
        try:
            rec = json.loads(pid_file.read_text())
            pid, start, step = int(rec["pid"]), rec.get("start"), str(rec.get("step", "step"))
        except (OSError, ValueError, KeyError, TypeError):
            pid_file.unlink(missing_ok=True)
            continue
        if pid != os.getpid() and _alive(pid, start):
            log(f"job {pid_file.parent.name}: ending its {step} (pid {pid}) left running by the previous service")
            _terminate(pid, start, grace)
            ended.append(pid)
        pid_file.unlink(missing_ok=True)
    return ended


def _terminate(pid: int, start: int | None, grace: float) -> None:
    """SIGTERM (and SIGCONT, should it be stopped) ``pid``; SIGKILL it if still alive after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
    end = time.monotonic() + grace
    while _alive(pid, start) and time.monotonic() < end:
        time.sleep(0.05)
    if _alive(pid, start):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + grace
        while _alive(pid, start) and time.monotonic() < end:
            time.sleep(0.05)
