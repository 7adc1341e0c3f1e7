"""The sbatch scripts' own logic, run for real on this machine.

SLURM is not here, so ``srun`` and ``scontrol`` are small stand-ins on PATH: ``srun``
drops its options and runs the command (as one task on one node would), ``scontrol``
records what it was asked. Everything else is real: bash, the trap, torchrun with two
gloo workers, ``sowcast train``, its checkpoints and status.json. The test sends the
script SIGTERM (as ``#SBATCH --signal=B:TERM@180`` does before the time limit) and checks
that the workers saved and stopped, and that the script requeued the job.
"""

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sowcast.data.testing import make_canonical_store

ROOT = Path(__file__).resolve().parents[2]
SRUN = """#!/bin/bash
while [[ "$1" == --* ]]; do shift; done
exec "$@"
"""
SCONTROL = """#!/bin/bash
echo "$@" >> "$SCONTROL_LOG"
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_single_node_script_forwards_sigterm_and_requeues(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    store = make_canonical_store(tmp_path / "store.zarr", n_times=60, grid=(8, 16))
    run_dir = tmp_path / "run"
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(os.sys.executable).parent}:{os.environ['PATH']}",
           "SCONTROL_LOG": str(tmp_path / "scontrol.log"), "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NAME": "sowcast-test", "GPUS_PER_NODE": "2", "RUN_DIR": str(run_dir)}
    args = [f"data.store={store}", "model=tiny", "model.mesh_level=2", "train.max_steps=100000",
            "train.validation_range=null", "train.num_workers=0", "train.log_every=1",
            "train.checkpoint_every=100000", f"graph.cache_dir={tmp_path / 'graphs'}", "progress=false"]
    proc = subprocess.Popen(["bash", str(ROOT / "deploy/slurm/train_single_node.sbatch"), *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        metrics = run_dir / "metrics.csv"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (metrics.exists() and ",train,loss," in metrics.read_text()):
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        proc.send_signal(signal.SIGTERM)  # to the script only, as SLURM's --signal=B: does
        out, _ = proc.communicate(timeout=120)
    finally:  # never leave torchrun and its workers behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert '"stopped"' in (run_dir / "status.json").read_text(), out
    assert list((run_dir / "checkpoints").glob("step_*")), out
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"], out
    assert "requeueing job 4242" in out
