"""status.json tells a real training run's progress while it runs (step, loss, samples/s),
not step 0 until the end; a SIGTERM still leaves "stopped" for the sbatch scripts. The run
uses model.mesh_level=auto, and what it records is the level the rule chose."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.graph.mesh_level import auto_mesh_level
from sowcast.train.checkpoint import CheckpointManager, load_checkpoint
from sowcast.train.signals import EXIT_STOPPED


def _status(run: Path) -> dict | None:
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):  # not there yet (it is replaced atomically, never half written)
        return None


@pytest.mark.slow
def test_status_json_moves_during_a_real_run(tmp_path):
    store = make_canonical_store(tmp_path / "tiny.zarr", n_times=40, grid=(8, 16), seed=0)
    run = tmp_path / "run"
    args = {"model": "tiny", "model.mesh_level": "auto", "data.store": store, "train.run_dir": run,
            "graph.cache_dir": tmp_path / "graphs", "train.max_steps": 100000, "train.batch_size": 2,
            "train.warmup_steps": 1, "train.train_range": "[2000-01-01,2000-01-28]",
            "train.validation_range": "null", "train.log_every": 2, "train.checkpoint_every": 5,
            "train.num_workers": 0, "train.threads": 1, "progress": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "sowcast", "train", *[f"{k}={v}" for k, v in args.items()]],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[dict] = []
    try:
        while proc.poll() is None:  # waits as long as the run needs; no timing is asserted
            status = _status(run)
            if status and (not seen or status != seen[-1]):
                seen.append(status)
                running = [s["step"] for s in seen if s["state"] == "running"]
                # stop once step 6 is passed and two running steps were seen: it moved, however
                # slowly the polling ran (a busy CI machine once saw only steps 0 and 6)
                if running and running[-1] >= 6 and len(set(running)) >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_STOPPED, err

    live = seen[-1]
    assert live["state"] == "running" and live["max_steps"] == 100000 and 6 <= live["step"] < 100000
    assert math.isfinite(live["loss"]) and live["loss"] > 0 and live["rollout"] == 1
    # the last checkpoint saved (every 5 steps): step 5, or a later one if the polling above
    # first saw the status after it (a busy machine; no timing is asserted)
    saved = {f"step_{k:08d}" for k in range(5, live["step"] + 1, 5)}
    assert live["samples_per_s"] > 0 and Path(live["checkpoint"]).name in saved, live["checkpoint"]
    steps = [s["step"] for s in seen if s["state"] == "running"]
    assert steps == sorted(steps) and len(set(steps)) >= 2, steps  # it moved while running
    assert '"stopped"' not in json.dumps(live)  # the sbatch scripts grep for it

    final = _status(run)
    assert final["state"] == "stopped" and final["signal"] == "SIGTERM" and final["step"] >= live["step"]
    assert math.isfinite(final["loss"])
    level = auto_mesh_level(WindowSource(store).grid)
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["mesh_level"] == level
    last = CheckpointManager(run / "checkpoints").steps()[-1][1]
    assert load_checkpoint(last)["config"]["model"]["mesh_level"] == level
    assert f"model.mesh_level {level} (auto" in err
