"""Stop training cleanly on SIGTERM or SIGUSR1: save at the next step boundary, then exit.

The handler only sets a flag. The training loop reads it once per step, after the
optimiser step; under DDP the ranks all-reduce it with the loss (one collective per step),
so all ranks stop after the same step even if only one was signalled. The loop then
writes a checkpoint, marks ``<run_dir>/status.json`` ``{"state": "stopped", ...}`` and
returns; a later ``sowcast train ... train.resume=auto`` goes on from that checkpoint and
gives the same weights as an uninterrupted run (bitwise on CPU).

Exit status of ``sowcast train`` (the convention for batch scripts)
    * 0  — trained to ``train.max_steps`` (``status.json`` state ``finished``);
    * 75 — stopped by a signal after saving (``EX_TEMPFAIL``: "try again");
      ``status.json`` state ``stopped``. A direct launch (``python -m sowcast train``,
      or ``srun`` alone with one task per process) returns 75, so an sbatch script can do
      ``srun ... ; [ $? -eq 75 ] && scontrol requeue $SLURM_JOB_ID``. Under torchrun the
      ranks exit 0 instead, because torchrun reports any non-zero worker status as a
      failure (exit 1) with an error dump; and torchrun itself, when it is the process
      signalled, forwards SIGTERM to the ranks, waits for them (30 s at most) and then
      exits 1 with a ``SignalException`` traceback whatever they did (measured with torch
      2.13). So after ``srun torchrun ...`` test
      ``grep -q '"stopped"' <run_dir>/status.json`` to decide on a requeue;
    * 2  — a user error (one line on stderr); anything else is a crash.

SLURM sends SIGTERM at the time limit (then SIGKILL after ``KillWait``, 30 s by default)
and on preemption; ``#SBATCH --signal=USR1@120`` asks for SIGUSR1 two minutes before the
limit, which leaves time to save. Note that torchrun itself dies on SIGUSR1 (it only
forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT to its workers): with ``srun torchrun`` use
``--signal=TERM@120``; with ``srun`` alone either signal works.

SIGINT (Ctrl-C) is left alone: it interrupts at once, without saving.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

EXIT_FINISHED = 0
EXIT_STOPPED = 75  # os.EX_TEMPFAIL

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


def exit_code_for(state: str, launcher: str) -> int:
    """The process exit status for a run that ended in ``state`` (see the module docstring)."""
    if state == "stopped" and launcher != "torchrun" and "TORCHELASTIC_RUN_ID" not in os.environ:
        return EXIT_STOPPED
    return EXIT_FINISHED


class StopFlag:
    """Set by SIGTERM / SIGUSR1 while installed (a context manager); restores the old handlers."""

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS):
        self.signals = signals
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def set(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def install(self) -> StopFlag:
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        for sig in self.signals:
            self._old[sig] = signal.signal(sig, self._handler)
        return self

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()

    def __enter__(self) -> StopFlag:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()
