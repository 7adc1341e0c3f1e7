"""The metrics log of a training run: one CSV in long form, appended a whole row at a time.

``<run_dir>/metrics.csv`` has the columns :data:`COLUMNS`::

    time,step,epoch,split,metric,lead,channel,value
    2026-05-01T10:00:00Z,100,0,train,loss,,,0.4121
    2026-05-01T10:00:00Z,100,0,train,lr,,,0.00099
    2026-05-01T10:00:09Z,100,0,val,rmse,3,2m_temperature,1.83
    2026-05-01T10:00:09Z,100,0,val,rmse_persistence,3,2m_temperature,2.41

Each row goes to the file in one ``write`` on a descriptor opened with ``O_APPEND``, so a
reader (or a crash) never sees half a row, and rows are flushed to disk after each call of
:meth:`MetricsLog.log_rows`. On resume the rows after the checkpoint's step (work that was
lost) are dropped by :meth:`MetricsLog.truncate_after`, atomically.
``pandas.read_csv(path).pivot_table(...)`` gives the wide tables.

With ``tensorboard=True`` and TensorBoard installed, the same scalars also go to
``<run_dir>/tensorboard`` (``split/metric[/channel][/lead]``); it is optional.
"""

from __future__ import annotations

import csv
import io
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sowcast.atomic import atomic_write_text

COLUMNS = ("time", "step", "epoch", "split", "metric", "lead", "channel", "value")


def _format_row(row: Mapping[str, Any]) -> str:
    buf = io.StringIO()
    values = []
    for col in COLUMNS:
        v = row.get(col, "")
        if col == "value" and isinstance(v, float):
            v = repr(v)
        values.append("" if v is None else v)
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def read_metrics(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a metrics log as dicts of strings (empty if there is no log yet)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class MetricsLog:
    """Append-only CSV log (see the module docstring); ``enabled=False`` writes nothing
    (ranks other than 0)."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True, tensorboard: bool = False):
        self.path = Path(path)
        self.enabled = bool(enabled)
        self._tb = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists() or self.path.stat().st_size == 0:
            atomic_write_text(self.path, ",".join(COLUMNS) + "\n")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard is optional
                warnings.warn("train.tensorboard=true but TensorBoard is not installed; writing the CSV only",
                              stacklevel=2)
            else:
                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))

    def log_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (dicts with keys among :data:`COLUMNS`), each in one write; then fsync."""
        if not self.enabled:
            return
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows = list(rows)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for row in rows:
                line = _format_row({"time": stamp, **row}).encode()
                os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._tb is not None:
            for row in rows:
                tag = "/".join(str(row[k]) for k in ("split", "metric", "channel", "lead") if row.get(k) not in (None, ""))
                self._tb.add_scalar(tag, float(row["value"]), int(row["step"]))

    def log(self, step: int, metrics: Mapping[str, float], split: str = "train", epoch: int | str = "",
            lead: int | str = "", channel: str = "") -> None:
        """Append one row per metric of ``metrics``."""
        self.log_rows({"step": step, "epoch": epoch, "split": split, "metric": name, "lead": lead,
                       "channel": channel, "value": float(value)} for name, value in metrics.items())

    def truncate_after(self, step: int) -> None:
        """Drop rows of steps after ``step`` (work lost since the checkpoint we resume from)."""
        if not self.enabled or not self.path.exists():
            return
        rows = read_metrics(self.path)
        keep = [r for r in rows if r.get("step", "").strip() and int(r["step"]) <= int(step)]
        if len(keep) == len(rows):
            return
        text = ",".join(COLUMNS) + "\n" + "".join(_format_row(r) for r in keep)
        atomic_write_text(self.path, text, overwrite=True)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None
