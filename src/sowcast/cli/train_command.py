"""``sowcast train``: train the forecast model on the canonical store (torch, DDP)."""

from __future__ import annotations

import os
import sys

from omegaconf import DictConfig

from sowcast.cli.common_options import CommonOptions
from sowcast.config_values import with_flags
from sowcast.errors import SowcastError
from sowcast.train.options import parse_train_section


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def run(cfg: DictConfig) -> int:
    """Train the model (model=tiny|small|paper) on data.store, with checkpoints, validation
    and a metrics log in train.run_dir.

    One process:      sowcast train model=small train.max_steps=500
    One node, 4 GPUs: torchrun --nproc_per_node=4 -m sowcast train model=paper
    SLURM:            srun torchrun ... -m sowcast train ...   (or srun python -m sowcast train ...,
                      one task per GPU: rank and rendezvous come from the SLURM variables)

    train.resume=auto (default) goes on from the latest good checkpoint in train.run_dir.
    SIGTERM or SIGUSR1 saves a checkpoint at the next step and stops. Exit status: 0 done;
    75 stopped by a signal after saving (requeue and resume; under torchrun the ranks exit 0
    and <run_dir>/status.json says "stopped"); 2 a configuration or data error.
    """
    from sowcast.train.signals import exit_code_for

    try:
        from sowcast.train.trainer import train
    except ImportError as exc:
        raise SowcastError(f"training needs torch: install sowcast[train] ({exc})") from None

    # parsed once here (one line naming the key, not a traceback from inside the trainer) and
    # written back into cfg, which the trainer reads
    CommonOptions.from_config(cfg).set_into(cfg)
    parse_train_section(cfg.train)
    with_flags(cfg.model, "model.", "checkpoint_activations")
    try:
        result = train(cfg)
    except SowcastError as exc:
        if not _torch_distributed_was_used():
            raise  # main() prints it and returns 2
        print(f"sowcast: error: {exc}", file=sys.stderr)
        _flush()
        os._exit(2)
    code = exit_code_for(result.state, result.launcher)
    if result.world_size > 1:
        # Process group already torn down (barrier + destroy) inside train(); leave before the
        # interpreter's own exit, which can abort under gloo (PITFALLS.md, "Exit crash").
        _flush()
        os._exit(code)
    return code


def _torch_distributed_was_used() -> bool:
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env.get("WORLD_SIZE", "1") or 1) > 1
    return int(env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS") or 1) > 1
