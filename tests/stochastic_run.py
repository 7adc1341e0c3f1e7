"""A tiny real *stochastic* training run (``model=tiny`` with ``model.noise_channels``), for the
tests of the noise input through export, bundle, forecast and hindcasts.

The same run as :func:`sowcast.train.testing.train_tiny_run` (whose overrides are fixed)
with the noise channels added; the loss is whatever the training config picks for a
stochastic model. Tests must not depend on the trained weights' values."""

from __future__ import annotations

from pathlib import Path

NOISE_CHANNELS = 4


def train_stochastic_tiny_run(store: str | Path, root: str | Path, steps: int = 2,
                              noise_channels: int = NOISE_CHANNELS, grid_noise: bool = False,
                              log_rain: bool = False, nonnegative_rain: bool = False,
                              direct_rain: bool = False, direct_scale_floor: float | None = None,
                              direct_power: float | None = None, direct_power_centre: str | None = None,
                              target_only_rain: bool = False, direct_ocean_index: str | None = None) -> Path:
    """``model=tiny`` with ``noise_channels`` (per grid node too with ``grid_noise``; rain in
    log space with ``log_rain``; bounded at 0 mm with ``nonnegative_rain``; predicted as an anomaly from its seasonal cycle with
    ``direct_rain``, in units of its seasonal std floored at ``direct_scale_floor`` x std, of its power
    ``direct_power``, centred at ``direct_power_centre``; a target only, not fed back, with
    ``target_only_rain``; its centre moved by ``direct_ocean_index``, a Hydra value) trained ``steps`` steps on a 24-day store from 2000-01-01;
    returns the last checkpoint folder."""
    from sowcast.config_tree import compose
    from sowcast.train.checkpoint import CheckpointManager
    from sowcast.train.trainer import train

    root = Path(root)
    run = root / "run"
    overrides = {
        "model": "tiny", "model.noise_channels": noise_channels, "model.grid_noise": str(grid_noise).lower(),
        "data.store": str(store),
        "train.run_dir": str(run), "graph.cache_dir": str(root / "graphs"), "train.max_steps": steps,
        "train.batch_size": 2, "train.warmup_steps": 1, "train.train_range": "[2000-01-01,2000-01-16]",
        "train.validation_range": "[2000-01-17,2000-01-24]", "train.validate_every": steps,
        "train.validation_leads": "[1]", "train.validation_windows": 2, "train.checkpoint_every": steps,
        "train.num_workers": 0, "train.threads": 1, "progress": "false",
    }
    if log_rain:
        overrides["model.log_transform"] = "{total_precipitation: 1.0}"
    if nonnegative_rain:
        overrides["model.nonnegative"] = "[total_precipitation]"
    if direct_rain:
        overrides["model.direct"] = "[total_precipitation]"
    if direct_scale_floor is not None:
        overrides["model.direct_scale_floor"] = direct_scale_floor
    if direct_power is not None:
        overrides["model.direct_power"] = direct_power
    if target_only_rain:
        overrides["model.target_only"] = "[total_precipitation]"
    if direct_power_centre is not None:
        overrides["model.direct_power_centre"] = direct_power_centre
    if direct_ocean_index is not None:
        overrides["model.direct_ocean_index"] = direct_ocean_index
    train(compose([f"{k}={v}" for k, v in overrides.items()]))
    return CheckpointManager(run / "checkpoints").steps()[-1][1]
