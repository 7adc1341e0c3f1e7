"""Real multi-process training on CPU (gloo): torchrun, and srun-style SLURM variables alone.

Each launch trains a tiny model in 2 processes; the checkpoint's parameter digests (one per
rank, gathered at save time) must agree, and so must the digest of the saved weights.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sowcast.data.testing import make_canonical_store
from sowcast.errors import SowcastError
from sowcast.train.checkpoint import CheckpointManager, load_checkpoint, parameter_digest
from sowcast.train.distributed import first_host, launch_environment
from sowcast.train.metrics_log import read_metrics
from sowcast.train.signals import EXIT_STOPPED

LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
               "TORCHELASTIC_RUN_ID", "GROUP_RANK", "ROLE_RANK")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A tiny store whose every grid point oscillates (period 8 steps, its own phase): the
    next state is a linear function of the last two, so a model can learn it in a few steps
    (the AR(1) fields of make_canonical_store are 95 % unpredictable noise in the increment)."""
    from sowcast.data.statistics import compute_statistics
    from sowcast.data.store import open_store, write_store

    folder = tmp_path_factory.mktemp("store")
    noise = make_canonical_store(folder / "noise.zarr", n_times=40, grid=(8, 16), seed=0)
    ds = open_store(noise).load()
    rng = np.random.default_rng(0)
    t = np.arange(ds.sizes["time"])
    for name, da in ds.data_vars.items():
        if "time" not in da.dims:
            continue
        shape = da.shape[1:]
        phase = rng.uniform(0, 2 * np.pi, shape)
        wave = np.sin(2 * np.pi * t.reshape(-1, *[1] * len(shape)) / 8 + phase)
        base, amp = da.mean().item(), da.std().item() + 1e-3
        values = amp * (1 + wave) if name == "total_precipitation" else base + amp * wave
        ds[name] = da.copy(data=values.astype(np.float32))
    return write_store(ds, folder / "waves.zarr", statistics=compute_statistics(ds), progress=False)


def overrides(store: Path, run_dir: Path, **extra) -> list[str]:
    base = {
        "model": "tiny", "data.store": str(store), "train.run_dir": str(run_dir),
        "graph.cache_dir": str(store.parent / "graphs"),
        "train.max_steps": 24, "train.batch_size": 2, "train.lr": 3e-3, "train.warmup_steps": 2,
        "train.lr_min": 1e-4, "train.rollout": "[[0,1]]",
        "train.train_range": "[2000-01-01,2000-02-09]", "train.validation_range": "null",
        "train.checkpoint_every": 100, "train.log_every": 1, "train.num_workers": 0, "train.threads": 1,
        "progress": "false",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and not k.startswith("SLURM_")}
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_ranks_agree(run_dir: Path, step: int) -> dict:
    state = load_checkpoint(CheckpointManager(run_dir / "checkpoints").step_dir(step))
    assert state["world_size"] == 2 and len(state["param_digests"]) == 2
    assert state["param_digests"][0] == state["param_digests"][1] == parameter_digest(state["model"])
    assert len(state["rng"]) == 2
    return state


def train_losses(run_dir: Path) -> list[float]:
    return [float(r["value"]) for r in read_metrics(run_dir / "metrics.csv")
            if r["split"] == "train" and r["metric"] == "loss"]


# -- environment parsing ----------------------------------------------------------------------
def test_first_host_of_slurm_node_lists():
    assert first_host("localhost") == "localhost"
    assert first_host("gpu[003-005,009],cpu1") == "gpu003"
    assert first_host("a1,b[1-2]") == "a1"
    assert first_host("node[7]") == "node7"
    with pytest.raises(SowcastError):
        first_host(" ")


def test_launch_environment(monkeypatch):
    for k in list(os.environ):
        if k in LAUNCH_VARS or k.startswith("SLURM_"):
            monkeypatch.delenv(k)
    assert launch_environment() == (0, 0, 1, "single")
    monkeypatch.setenv("RANK", "3"), monkeypatch.setenv("LOCAL_RANK", "1"), monkeypatch.setenv("WORLD_SIZE", "4")
    assert launch_environment() == (3, 1, 4, "torchrun")
    for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("SLURM_PROCID", "5"), monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "8"), monkeypatch.setenv("SLURM_JOB_NODELIST", "n[12-15]")
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    assert launch_environment() == (5, 1, 8, "slurm")
    assert os.environ["MASTER_ADDR"] == "n12" and os.environ["MASTER_PORT"] == str(15000 + 1234)
    assert (os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ["WORLD_SIZE"]) == ("5", "1", "8")
    monkeypatch.delenv("MASTER_PORT"), monkeypatch.delenv("MASTER_ADDR"), monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE"), monkeypatch.delenv("SLURM_JOB_NODELIST")
    monkeypatch.setenv("SLURM_LAUNCH_NODE_IPADDR", "10.0.0.7")
    assert launch_environment(master_port=29999)[3] == "slurm"
    assert os.environ["MASTER_ADDR"] == "10.0.0.7" and os.environ["MASTER_PORT"] == "29999"
    monkeypatch.setenv("SLURM_NTASKS", "1")  # one task: no process group
    for k in ("RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    assert launch_environment() == (0, 0, 1, "single")


# -- real launches ----------------------------------------------------------------------------
@pytest.mark.slow
def test_torchrun_two_processes(store, tmp_path):
    run = tmp_path / "run"
    # a stochastic model on afCRPS: 2 members of every window side by side on its rank
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sowcast", "train", *overrides(store, run, **{"model.noise_channels": 4, "train.ensemble_members": 2})]
    r = subprocess.run(cmd, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 24
    state = check_ranks_agree(run, 24)
    assert state["hyperparameters"]["noise_channels"] == 4
    assert not torch.equal(state["noise_rng"][0], state["noise_rng"][1])   # each rank its own noise stream
    losses = train_losses(run)
    assert len(losses) == 24
    assert np.mean(losses[-6:]) < 0.8 * np.mean(losses[:3]), losses


@pytest.mark.slow
def test_slurm_variables_without_torchrun_stop_together_and_resume(store, tmp_path):
    """srun-style launch: SLURM_PROCID/LOCALID/NTASKS/JOB_NODELIST and a port from the config.
    SIGTERM to rank 1 only: both ranks stop after the same step and save; then resume."""
    run = tmp_path / "run"
    port = free_port()

    def launch(*extra: str) -> list[subprocess.Popen]:
        procs = []
        for rank in (0, 1):
            env = clean_env(SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank), SLURM_NTASKS="2",
                            SLURM_JOB_NODELIST="localhost", SLURM_JOB_ID="42")
            args = overrides(store, run, **{"train.max_steps": 400, "train.master_port": port})
            procs.append(subprocess.Popen([sys.executable, "-m", "sowcast", "train", *args, *extra],
                                          cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        return procs

    procs = launch()
    try:
        end = time.time() + 120
        while len(train_losses(run)) < 3:
            assert time.time() < end, "no training steps logged"
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()[-3000:]
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGTERM)
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [EXIT_STOPPED, EXIT_STOPPED], outs[0][1][-3000:] + outs[1][1][-3000:]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "stopped"
    stopped_at = status["step"]
    assert 3 <= stopped_at < 400
    check_ranks_agree(run, stopped_at)

    procs = launch(f"train.max_steps={stopped_at + 3}")
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[0][1][-3000:] + outs[1][1][-3000:]
    assert "resuming from" in outs[0][1]
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == stopped_at + 3
    check_ranks_agree(run, stopped_at + 3)
