"""The demo's training step: ``sowcast train`` in several processes under torchrun (gloo on CPU).

    python -m torch.distributed.run --standalone --nproc_per_node=2 \\
        -m sowcast --config-dir <stamps>/train.conf train

The config the demo composed for training (data, graph, model, train, cluster) is written,
resolved, as ``config.yaml`` of its own config folder, so that every rank reads exactly that
config; nothing else (no service token) goes to disk. Each process computes with one thread
(``OMP_NUM_THREADS=1``, as torchrun sets by default). The processes' output goes to stderr as
it comes (progress bars included); on failure the cause is the ranks' own one-line error
(``sowcast: error: ...``), else the last exception or line they printed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sowcast.config_values import whole
from sowcast.errors import SowcastError
from sowcast.log import get_logger

TRAIN_SECTIONS = ("data", "graph", "model", "train", "cluster", "overwrite", "progress")
LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
               "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b: ")


TAIL_CHARS = 256 * 1024

def command(conf_dir: Path, nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "sowcast", "--config-dir", str(conf_dir), "train"]


def failure_cause(output: str, returncode: int) -> str:
    """The one line that says why the training failed (module doc)."""
    lines = [line.strip() for line in output.replace("\r", "\n").splitlines()]
    lines = [line for line in lines if line and re.search(r"[A-Za-z0-9]", line)]
    errors = [line for line in lines if line.startswith("sowcast: error: ")]
    if errors:
        return errors[-1][len("sowcast: error: "):]
    exceptions = [line for line in lines if _EXCEPTION.match(line) and "ChildFailedError" not in line]
    if exceptions:
        return exceptions[-1]
    if lines:
        return f"{lines[-1]} (exit status {returncode})"
    return f"torchrun exited with status {returncode}"


def write_config(cfg: DictConfig, conf_dir: Path) -> None:
    """The training config, resolved, as ``<conf_dir>/config.yaml``."""
    from sowcast.atomic import atomic_write_text

    container = {key: OmegaConf.to_container(cfg[key], resolve=True) if isinstance(cfg[key], DictConfig)
                 else cfg[key] for key in TRAIN_SECTIONS if key in cfg}
    conf_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(conf_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(container)))


def train_with_torchrun(cfg: DictConfig, conf_dir: Path, nproc: int) -> None:
    """Run the training of ``cfg`` in ``nproc`` processes; a :class:`SowcastError` with the
    cause if it fails."""
    write_config(cfg, conf_dir)
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and not k.startswith("SLURM_")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    cmd = command(conf_dir, nproc)
    get_logger("demo", prefix="[demo] ").info(f"$ OMP_NUM_THREADS=1 {shlex.join(cmd)}")
    tail = ""   # the last TAIL_CHARS of the output (by size: under load it comes in many small pieces)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(8192):
            text = chunk.decode("utf-8", "replace")
            sys.stderr.write(text)
            sys.stderr.flush()
            tail = (tail + text)[-TAIL_CHARS:]
        code = proc.wait()
    except BaseException:  # interrupted: stop the ranks (torchrun forwards SIGTERM), then go on raising
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    if code != 0:
        raise SowcastError(failure_cause(tail, code))


def train_in_processes(c: DictConfig) -> None:
    """The demo's train stage: ``demo.nproc`` processes (config folder ``<demo.stamps>/train.conf``),
    then a one-line error unless ``<train.run_dir>/status.json`` says the run finished."""
    train_with_torchrun(c, Path(str(c.demo.stamps)) / "train.conf", whole(c.demo.nproc, "demo.nproc", 1))
    status = json.loads((Path(str(c.train.run_dir)) / "status.json").read_text())
    if status.get("state") != "finished":
        raise SowcastError(f"training {status.get('state')} at step {status.get('step')} of {c.train.max_steps}")
