"""Where dask work runs: local threads by default, a ``dask.distributed`` cluster on request.

Config (``cluster`` group, see ``conf/cluster/``)::

    scheduler: threads          # threads | synchronous | distributed
    address: null               # "tcp://host:8786" or "local-cluster" (with scheduler=distributed)
    n_workers: 2                # for local-cluster
    threads_per_worker: 1

:func:`dask_session` sets the scheduler for the duration of a ``with`` block and
:func:`compute` runs a dask collection or delayed object with a progress bar that fits
the scheduler (dask's ``ProgressBar`` locally, ``distributed.progress`` on a cluster).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from sowcast.config_values import flag, whole
from sowcast.errors import SowcastError
from sowcast.log import get_logger

_LOG = get_logger("data")


@contextlib.contextmanager
def dask_session(cluster: Any = None) -> Iterator[Any]:
    """Configure dask from a ``cluster`` mapping; yields the distributed Client or None."""
    import dask

    cfg = dict(cluster or {})
    scheduler = cfg.get("scheduler", "threads")
    address = cfg.get("address")
    if scheduler in ("threads", "synchronous") and not address:
        with dask.config.set(scheduler=scheduler):
            yield None
        return
    if scheduler not in ("distributed", "threads", "synchronous"):
        raise SowcastError(f"cluster.scheduler must be threads, synchronous or distributed, not {scheduler!r}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the ingest extra installs it
        raise SowcastError("a dask.distributed cluster needs the 'distributed' package (pip install 'sowcast[ingest]')") from None
    if not address or address == "local-cluster":
        local = LocalCluster(
            n_workers=whole(cfg.get("n_workers", 2), "cluster.n_workers", 1),
            threads_per_worker=whole(cfg.get("threads_per_worker", 1), "cluster.threads_per_worker", 1),
            processes=flag(cfg.get("processes", True), "cluster.processes"),
            dashboard_address=cfg.get("dashboard_address"),
        )
        client = Client(local)
        try:
            yield client
        finally:
            client.close()
            local.close()
        return
    try:
        client = Client(address, timeout=cfg.get("connect_timeout", "10s"))
    except OSError as exc:
        raise SowcastError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def _progress_bar() -> Any:
    """dask's local progress bar: smooth on a terminal, a line a second in a log file."""
    from dask.diagnostics import ProgressBar

    return ProgressBar(out=sys.stderr, minimum=1.0, dt=0.2 if sys.stderr.isatty() else 1.0)


def _client() -> Any:
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _run(obj: Any, label: str, progress: bool, persist: bool) -> Any:
    """Compute or persist ``obj`` on the current scheduler, with the progress bar that fits it.

    ``persist`` of an object without dask arrays (the edge reading a small analysis) needs no
    dask at all, so dask is imported only to compute."""
    client = _client()
    if label and progress:
        _LOG.info(label)  # "sowcast data: writing ..." above the progress bar
    if client is not None:
        out = client.persist(obj) if persist else client.compute(obj)
        if progress:
            from distributed import progress as dist_progress

            dist_progress(out, notebook=False)
            sys.stderr.write("\n")  # ends the progress bar's line
            sys.stderr.flush()
        return out if persist else out.result()
    with _progress_bar() if progress else contextlib.nullcontext():
        if persist:
            return obj.persist()
        import dask

        return dask.compute(obj)[0]


def compute(obj: Any, label: str = "", progress: bool = True) -> Any:
    """Compute a dask object under the current scheduler, with a progress bar on stderr."""
    return _run(obj, label, progress, persist=False)


def persist(obj: Any, label: str = "", progress: bool = True) -> Any:
    """``obj.persist()`` (results kept in memory or on the cluster), with a progress bar."""
    return _run(obj, label, progress, persist=True)
