"""Write behind the rollout: the forecast's writes run in one thread while the next step computes.

A step's output (zarr chunks), the periodic fsync and the saved rollout state are I/O and
Python the model does not need: done in the loop they leave both cores idle for about a
tenth of a 46-day forecast (measured in ``benchmarks/forecast_parallel.py``). Here they are
jobs run in order by one writer thread; the loop hands each over and goes on, and waits only
when ``depth`` jobs are already waiting (so memory stays bounded: a job holds one step).

The guarantees of the loop are kept because the order is: a step's state is saved only after
the steps before it were written and fsynced, by the same thread, so a kill -9 or a power cut
leaves what the in-line loop left (a saved step ``k`` whose data is on disk, maybe some later
steps written and not yet counted). The first error of a job stops the writing: later jobs
are skipped and the error is raised in the loop at its next hand-over or at :meth:`close`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class WriteBehind:
    """One writer thread running the jobs handed to :meth:`submit` in order (module doc).

    Use as a context manager: leaving the block waits for every job; an error of a job is
    raised there unless the block itself raised (that one goes on)."""

    def __init__(self, depth: int = 2, name: str = "sowcast-writer"):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._jobs: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job(*args)`` after the jobs before it; waits while ``depth`` jobs wait. Raises
        the error of an earlier job, if one failed."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._raise()
        self._jobs.put((job, args))

    def close(self) -> None:
        """Wait until every job ran (or was skipped after an error); raise the first error."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()
        self._raise()

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            if self._error is None:
                job, args = item
                try:
                    job(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the loop, which raises it
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:  # noqa: BLE001 - the block's own error is the one to report
            pass
