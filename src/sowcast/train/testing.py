"""A tiny real training run for tests that need a checkpoint (export, forecast bundles)."""

from __future__ import annotations

from pathlib import Path

from sowcast.config_tree import compose
from sowcast.train.checkpoint import CheckpointManager
from sowcast.train.trainer import train


def train_tiny_run(store: str | Path, root: str | Path, steps: int = 3) -> Path:
    """``model=tiny`` trained ``steps`` steps on a 24-day store from 2000-01-01 (e.g.
    :func:`sowcast.data.testing.make_canonical_store`); returns the last checkpoint folder."""
    root = Path(root)
    run = root / "run"
    overrides = {
        "model": "tiny", "data.store": str(store), "train.run_dir": str(run),
        "graph.cache_dir": str(root / "graphs"), "train.max_steps": steps, "train.batch_size": 2,
        "train.warmup_steps": 1, "train.train_range": "[2000-01-01,2000-01-16]",
        "train.validation_range": "[2000-01-17,2000-01-24]", "train.validate_every": steps,
        "train.validation_leads": "[1]", "train.validation_windows": 2, "train.checkpoint_every": steps,
        "train.num_workers": 0, "train.threads": 1, "progress": "false",
    }
    train(compose([f"{k}={v}" for k, v in overrides.items()]))
    return CheckpointManager(run / "checkpoints").steps()[-1][1]
