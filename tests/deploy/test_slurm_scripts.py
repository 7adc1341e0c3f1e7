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
import re
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


# -- torchrun's shutdown window (issue 16) ---------------------------------------------------------
RECORDING_SRUN = """#!/bin/bash
while [[ "$1" == --* ]]; do shift; done
printf '%s\\n' "$@" > "$SRUN_ARGV"
"""
SCONTROL_HOSTNAMES = """#!/bin/bash
[ "$1 $2" = "show hostnames" ] && echo node001
"""
SLOW_SAVE_WORKER = """import os, signal, sys, time
from pathlib import Path
out = Path(sys.argv[1])
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
(out / f"ready_{os.environ['RANK']}").touch()
while not stop:
    time.sleep(0.1)
time.sleep(float(sys.argv[2]))  # a slow checkpoint save, longer than torchrun's default 30 s
(out / f"saved_{os.environ['RANK']}").touch()
"""


def _torchrun_argv(script: str, tmp_path: Path) -> list[str]:
    """The torchrun command line the sbatch script gives srun (srun and scontrol stand-ins)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", RECORDING_SRUN), ("scontrol", SCONTROL_HOSTNAMES)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SRUN_ARGV": str(tmp_path / "argv"),
           "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "t", "SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "node[001-002]",
           "GPUS_PER_NODE": "2", "RUN_DIR": str(tmp_path / "run")}
    env.pop("SHUTDOWN_TIMEOUT", None)
    subprocess.run(["bash", str(ROOT / "deploy/slurm" / script), "model=tiny"], cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=60)
    return (tmp_path / "argv").read_text().splitlines()


@pytest.mark.parametrize("script", ["train_single_node.sbatch", "train_multi_node.sbatch"])
def test_torchrun_waits_for_the_save_within_the_signal_window(script, tmp_path):
    """torchrun's --shutdown-timeout (read by torchrun's own parser) is longer than its 30 s
    default and shorter than the #SBATCH --signal lead time, with time left to requeue."""
    from torch.distributed.run import get_args_parser

    argv = _torchrun_argv(script, tmp_path)
    assert argv[0] == "torchrun", argv
    args = get_args_parser().parse_args(argv[1:])
    lead = int(re.search(r"#SBATCH --signal=B:TERM@(\d+)", (ROOT / "deploy/slurm" / script).read_text()).group(1))
    assert 30 < args.shutdown_timeout <= lead - 20, (args.shutdown_timeout, lead)
    assert args.module and args.training_script == "sowcast" and args.training_script_args[0] == "train"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_real_torchrun_lets_a_slow_save_finish(tmp_path):
    """A real torchrun with the single-node script's options and two workers whose save takes
    35 s after SIGTERM (longer than torchrun's default 30 s): both saves finish."""
    argv = _torchrun_argv("train_single_node.sbatch", tmp_path)
    options = [a for a in argv[1:argv.index("-m")] if a != "--standalone"]
    worker = tmp_path / "worker.py"
    worker.write_text(SLOW_SAVE_WORKER)
    torchrun = Path(os.sys.executable).parent / "torchrun"
    proc = subprocess.Popen([str(torchrun), "--standalone", *options, str(worker),
                             str(tmp_path), "35"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(list(tmp_path.glob("ready_*"))) < 2:
            time.sleep(0.2)
        assert len(list(tmp_path.glob("ready_*"))) == 2 and proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # torchrun alone, as srun passes the warning on
        out, _ = proc.communicate(timeout=150)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert sorted(p.name for p in tmp_path.glob("saved_*")) == ["saved_0", "saved_1"], out
