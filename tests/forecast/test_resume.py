"""Resumability: after an interruption (an exception, or kill -9 at any moment) the same
command goes on from the last saved state and the finished output equals an uninterrupted
run's bit for bit, for deterministic and stochastic bundles (whose noise is drawn afresh
from the member's seed, so nothing about it is saved)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from forecast_helpers import options, power_cut_after_writing

from sowcast.forecast.engine import run_forecast
from sowcast.forecast.output_writer import ZarrStepWriter
from sowcast.forecast.rollout_state import (
    OUTPUT_NAME,
    STATE_FILE,
    load_state,
    partial_dir,
)


def _arrays(path) -> dict[str, np.ndarray]:
    kw = {"engine": "zarr", "consolidated": False, "chunks": None} if str(path).endswith(".zarr") else {}
    with xr.open_dataset(path, **kw) as ds:
        return {name: ds[name].values for name in ds.data_vars} | {"valid_time": ds["valid_time"].values}


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name, value in a.items():
        np.testing.assert_array_equal(value, b[name], err_msg=name)


@pytest.mark.parametrize("kind", ["bundle", "stochastic"])
def test_resume_after_an_exception_equals_uninterrupted(forecast_data, tmp_path, kind):
    bundle, store = forecast_data[kind], forecast_data["store"]
    kw = {"members": 3, "lead": "8D", "checkpoint_every": 3}
    run_forecast(options(bundle, store, tmp_path / "whole.zarr", **kw))

    out = tmp_path / "fc.zarr"
    with power_cut_after_writing(4), pytest.raises(RuntimeError, match="power cut"):   # lead 5; state at step 3
        run_forecast(options(bundle, store, out, **kw))
    pdir = partial_dir(out)
    assert not out.exists() and load_state(pdir).step == 3
    with xr.open_dataset(pdir / OUTPUT_NAME, engine="zarr", consolidated=False, chunks=None) as ds:
        t = ds["2m_temperature"].values
        assert np.isfinite(t[:, :5]).all() and np.isnan(t[:, 5:]).all()  # leads 4, 5 written after the state

    messages = []
    result = run_forecast(options(bundle, store, out, **kw), log=messages.append)
    assert result.status == "resumed" and result.steps_run == 5
    assert any("resuming" in m and "from step 3 of 8" in m for m in messages)
    assert not pdir.exists()
    _assert_same(_arrays(out), _arrays(tmp_path / "whole.zarr"))


def test_partial_of_another_config_is_discarded(forecast_data, tmp_path, monkeypatch):
    bundle, store = forecast_data["bundle"], forecast_data["store"]
    out = tmp_path / "fc.nc"
    original = ZarrStepWriter.write_step

    def power_cut(self, index, state):
        if index == 2:
            raise RuntimeError("power cut")
        original(self, index, state)

    monkeypatch.setattr(ZarrStepWriter, "write_step", power_cut)
    with pytest.raises(RuntimeError):
        run_forecast(options(bundle, store, out, members=2, lead="4D"))
    monkeypatch.setattr(ZarrStepWriter, "write_step", original)
    messages = []
    result = run_forecast(options(bundle, store, out, members=3, lead="4D"), log=messages.append)
    assert result.status == "computed" and any("discarding" in m for m in messages)
    run_forecast(options(bundle, store, tmp_path / "whole.nc", members=3, lead="4D"))
    _assert_same(_arrays(out), _arrays(tmp_path / "whole.nc"))
    # A finished output beside a stale partial folder (killed between publishing and cleaning
    # up): the rerun says up to date and removes the leftover.
    partial_dir(out).mkdir()
    (partial_dir(out) / STATE_FILE).write_bytes(b"junk")
    assert run_forecast(options(bundle, store, out, members=3, lead="4D")).status == "up to date"
    assert not partial_dir(out).exists()


def _command(bundle, store, out) -> list[str]:
    return [sys.executable, "-m", "sowcast", "forecast", f"forecast.bundle={bundle}", f"forecast.init={store}",
            f"forecast.output={out}", "forecast.lead=30D", "forecast.members=6", "forecast.threads=1",
            "forecast.checkpoint_every=3", "progress=false"]


def _run_until(cmd, cwd, ready, timeout=120.0) -> None:
    """Start ``cmd``; SIGKILL it as soon as ``ready()`` holds; fail if it finishes first."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the forecast was not killed (rc {proc.returncode}): {err}"


@pytest.mark.parametrize("exported", ["real_bundle", "stochastic_bundle"])
def test_kill_9_at_any_point_then_resume_equals_uninterrupted(exported, request, tmp_path):
    """A real exported bundle (deterministic, and stochastic: its noise drawn per member and
    step), run by ``python -m sowcast forecast``, killed three times with SIGKILL: while the
    partial output is being created, after the state shows 6 steps (steps beyond it already
    written), and again after 15; the fourth run finishes the forecast."""
    real_bundle = request.getfixturevalue(exported)
    bundle, store = real_bundle["archive"], real_bundle["store"]
    out = tmp_path / "fc.zarr"
    pdir = partial_dir(out)
    cmd = _command(bundle, store, out)

    def state_step() -> int:
        state = load_state(pdir) if (pdir / STATE_FILE).exists() else None
        return -1 if state is None else state.step

    _run_until(cmd, tmp_path, lambda: pdir.exists())
    assert not out.exists()
    _run_until(cmd, tmp_path, lambda: state_step() >= 6)
    assert not out.exists() and 6 <= state_step() < 30
    _run_until(cmd, tmp_path, lambda: state_step() >= 15)
    assert not out.exists() and 15 <= state_step() < 30
    r = subprocess.run(cmd, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr and "resumed and finished" in r.stdout
    assert not pdir.exists()

    whole = tmp_path / "whole.zarr"
    r = subprocess.run(_command(bundle, store, whole), check=False, cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    _assert_same(_arrays(out), _arrays(whole))
