"""One writer per output: a second ``sowcast forecast`` on an output being written stops
with one line naming the first one's pid (the first finishes, its output opens), and the
lock dies with its holder (kill -9): the next run resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import xarray as xr

from sowcast.forecast.rollout_state import STATE_FILE, partial_dir
from sowcast.output_lock import lock_path


def _command(bundle, store, out) -> list[str]:
    return [sys.executable, "-m", "sowcast", "forecast", f"forecast.bundle={bundle}", f"forecast.init={store}",
            f"forecast.output={out}", "forecast.lead=60D", "forecast.members=3", "forecast.threads=1",
            "forecast.checkpoint_every=1", "progress=false"]


def _start_until_saved(cmd, cwd, out, timeout=120.0) -> subprocess.Popen:
    """Start ``cmd`` and stop it (SIGSTOP) once its first state is saved."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not (partial_dir(out) / STATE_FILE).exists():
        assert proc.poll() is None, f"the forecast ended before saving a state: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting for the first saved state"
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGSTOP)
    return proc


def test_second_writer_is_refused_and_the_first_finishes(forecast_data, tmp_path):
    out = tmp_path / "fc.zarr"
    cmd = _command(forecast_data["bundle"], forecast_data["store"], out)
    first = _start_until_saved(cmd, tmp_path, out)
    try:
        second = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert second.stderr.strip().splitlines() == [
        f"sowcast: error: {out} is being written by another process (pid {first.pid}); wait for it or stop it"]
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert "resuming" not in err
    with xr.open_zarr(out, consolidated=False) as ds:
        assert ds.sizes["lead_time"] == 60 and ds["2m_temperature"].notnull().all()
    assert not partial_dir(out).exists() and not lock_path(out).exists()


def test_the_lock_dies_with_a_killed_writer(forecast_data, tmp_path):
    out = tmp_path / "fc.zarr"
    cmd = _command(forecast_data["bundle"], forecast_data["store"], out)
    first = _start_until_saved(cmd, tmp_path, out)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    assert lock_path(out).exists()                         # left behind, but no longer held
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"resuming {out} from step" in again.stderr
    with xr.open_zarr(out, consolidated=False) as ds:
        assert ds["2m_temperature"].notnull().all()
    assert not lock_path(out).exists()
