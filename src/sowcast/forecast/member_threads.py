"""Members across cores: batches of members run side by side, one onnxruntime call per thread.

onnxruntime releases the GIL inside ``InferenceSession.run`` and one session may be run from
several threads at once, so ``k`` Python threads sharing one session with
``intra_op_num_threads = 1`` keep ``k`` cores busy with ``k`` independent calls (the
weights are held once). The alternative, one call at a time with ``k`` intra-op threads,
splits every operator across the cores: the graph network's step is some 400 small
operators, and on the demo grid (27 x 37, 7 channels, 2 cores) waking the second thread for
each costs more than it saves (one batch of 4 members: 156 ms for 16 members with 1
intra-op thread, 172 ms with 2; ``benchmarks/forecast_parallel.py``).

The rule (:func:`member_split`), from those measurements: with ``parallel: members`` (the
default) and at least two batches of members per step, run ``min(cores, batches)`` batches
at once, each with ``cores // that`` intra-op threads; with one batch per step (``batch:
null`` or a batch of all members) or ``parallel: intra_op``, run the batches one after
the other with every core inside each call (onnxruntime's own threading, as before).

A member's result does not depend on the split: each batch is the same call with the same
members whichever thread runs it, and the results are put back in member order. (With
onnxruntime's CPU kernels a member's output is also the same bit for bit at any batch size
and intra-op thread count on the models measured; the test suite checks threads 1 and 2.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sowcast.errors import SowcastError

PARALLEL_MODES = ("members", "intra_op")


def parallel_mode(value: Any, key: str) -> str:
    """``members`` or ``intra_op`` (``key`` names the setting in the error)."""
    mode = str(value if value is not None else "members").strip().lower()
    if mode not in PARALLEL_MODES:
        raise SowcastError(f"{key} must be one of {', '.join(PARALLEL_MODES)}, not {value!r}")
    return mode


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def member_split(threads: int, units: int, mode: str = "members") -> tuple[int, int]:
    """``(calls at once, intra-op threads per call)`` for ``threads`` cores (0: all) and
    ``units`` independent calls per step (batches of members, or groups of hindcast starts).

    ``intra_op`` mode, or fewer than 2 units or cores: ``(1, threads)``, onnxruntime's own
    threading as before. Otherwise ``k = min(cores, units)`` calls at once with
    ``cores // k`` intra-op threads each (module doc)."""
    cores = available_cores() if int(threads) == 0 else int(threads)
    if mode == "intra_op" or units < 2 or cores < 2:
        return 1, int(threads)
    k = min(cores, int(units))
    return k, max(1, cores // k)


class CallRunner:
    """Runs ``fn(item)`` for every item on ``workers`` threads, the calling thread one of them
    (inline for 1); results in item order.

    The items are a shared queue that every thread takes the next item from, the caller too,
    so a helper thread that a busy machine does not schedule costs at most the one item it
    holds: the caller does the rest itself (as onnxruntime's own thread pool does), and the
    step is never slower than on one thread by more than that. The exception of the first
    item that failed is raised here, after every taken item has finished."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool = ThreadPoolExecutor(self.workers - 1, thread_name_prefix="sowcast-members") \
            if self.workers > 1 else None

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        items = list(items)
        if self._pool is None or len(items) < 2:
            return [fn(item) for item in items]
        results: list[Any] = [None] * len(items)
        errors: list[tuple[int, BaseException]] = []
        lock = threading.Lock()
        taken = [0]

        def drain() -> None:
            while True:
                with lock:
                    i = taken[0]
                    taken[0] += 1
                if i >= len(items):
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                    with lock:
                        errors.append((i, exc))

        helpers = [self._pool.submit(drain) for _ in range(min(self.workers, len(items)) - 1)]
        drain()
        for helper in helpers:
            helper.result()
        if errors:
            raise min(errors, key=lambda e: e[0])[1]
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> CallRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
