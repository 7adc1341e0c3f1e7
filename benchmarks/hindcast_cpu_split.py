"""Where a hindcast's CPU goes: onnxruntime, the noise and forcings around its calls, the
rest of the rollout loop, reading the initial states, writing the files.

Runs ``sowcast hindcast`` in this process with the given overrides, timing each part's own
thread CPU (``time.thread_time``: the worker threads' calls included, each on its own thread),
and prints each part's seconds and share of the command's CPU between its first and last
start (``hindcast.threads`` single-threaded sessions, so onnxruntime's CPU is its calling
thread's). The command's own figure (member-days per CPU-second) is printed by it as usual.
Give a new ``hindcast.output``: starts already there are not computed again.

    .venv/bin/python benchmarks/hindcast_cpu_split.py hindcast.bundle=/tmp/demo/bundle/small \\
        hindcast.store=/tmp/demo/demo.zarr 'hindcast.years=[2009,2010]' hindcast.first=04-17 \\
        hindcast.last=07-31 hindcast.every_days=14 hindcast.members=4 hindcast.output=/tmp/hc_split
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict


def _timed(owner, name: str, part: str, totals: dict, lock: threading.Lock, clock=time.thread_time) -> None:
    """Wrap ``owner.name`` so that its CPU (``clock``: its thread's, by default) adds to ``totals[part]``."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = clock()
        try:
            return inner(*args, **kwargs)
        finally:
            with lock:
                totals[part] += clock() - t0

    setattr(owner, name, wrapper)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    import sowcast.forecast.hindcast as hindcast
    from sowcast.cli.main import main as sowcast_main
    from sowcast.forecast import session

    totals: dict[str, float] = defaultdict(float)
    lock = threading.Lock()
    _timed(hindcast._Hindcaster, "run", "the whole run", totals, lock, time.process_time)  # every thread
    for owner, name, part in ((hindcast._Hindcaster, "initial", "reading the initial states"),
                              (hindcast._Hindcaster, "rollout", "rollout loop"),
                              (hindcast._Hindcaster, "write", "writing the files"),
                              (hindcast.Stepper, "run", "around the model calls"),
                              (session.StepModel, "__call__", "onnxruntime")):
        _timed(owner, name, part, totals, lock)
    cpu0 = time.process_time()
    status = sowcast_main(["hindcast", *argv])
    cpu = time.process_time() - cpu0
    if status:
        return status
    run = totals.pop("the whole run", 0.0) or cpu
    nested = {"rollout loop": ("around the model calls",), "around the model calls": ("onnxruntime",)}
    print(f"CPU seconds (share of the run's {run:.2f} s; the process took {cpu:.2f} s with start-up):")
    for part in ("onnxruntime", "around the model calls", "rollout loop", "writing the files",
                 "reading the initial states"):
        own = totals[part] - sum(totals[p] for p in nested.get(part, ()))
        print(f"  {part:<28} {own:8.2f}  {100 * own / run:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
