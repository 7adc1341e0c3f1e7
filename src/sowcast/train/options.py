"""The ``train:`` config (conf/train/default.yaml) as an options class (:mod:`sowcast.options`).

``sowcast train`` parses the group with :func:`parse_train_section` before the trainer starts:
a bad key or value is one line naming ``train.KEY``, and the parsed values go back into the
composed config (``overwrite=no`` style words become booleans), which the trainer reads. The
defaults equal the YAML's (tests/test_option_defaults.py). Torch-free: ``--help`` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sowcast.options import as_plain, option, parse


@dataclass(frozen=True)
class TrainOptions:
    """Training (sowcast.train): data from data.store, the graph from graph + model.mesh_level."""

    run_dir: str = option("checkpoints/${model.name}", "checkpoints/, metrics.csv, status.json, config.yaml, "
                                                       "climatology.npz")
    max_steps: int = option(2000, "optimiser steps in all (a resumed run goes on to this)", low=0)
    batch_size: int = option(4, "windows per rank and step (the global batch is batch_size x world size)", low=0)
    lr: float = option(1.0e-3, "peak learning rate (AdamW)", low=0)
    weight_decay: float = option(0.1, "on matrices only (GraphCast: 0.1)", low=0)
    betas: tuple[float, float] = option((0.9, 0.95), "AdamW betas (GraphCast)")
    warmup_steps: int = option(100, "linear warm-up to lr, then half a cosine down to lr_min at max_steps", low=0)
    lr_min: float = option(1.0e-5, "learning rate at max_steps", low=0)
    grad_clip: float | None = option(32.0, "clip the global gradient norm (GraphCast: 32); null: no clipping", low=0)
    rollout: tuple[tuple[int, int], ...] = option(((0, 1),), "autoregressive steps trained on, as [from_step, "
                                                  "n_steps] pairs (GraphCast/Anemoi curriculum)")
    variable_weights: dict[str, float] = option({}, "channel-name prefix -> loss weight (longest prefix wins; "
                                                    "default 1)")
    loss: Literal["auto", "mse", "afcrps"] = option("auto", "auto: afCRPS for a stochastic model "
                                                            "(model.noise_channels > 0), MSE for a deterministic one")
    ensemble_members: int = option(2, "afCRPS: draws of each window compared with the truth (same rank)", low=1)
    crps_alpha: float = option(0.95, "afCRPS: 1 the fair CRPS, 0 the plain ensemble CRPS", low=0, high=1)
    aggregate_weights: dict[str, float] = option({}, "afCRPS: channel-name prefix -> weight w: a rollout of n >= 2 "
                                                     "steps adds w x the afCRPS of the channel's mean over the n "
                                                     "steps (sowcast/train/losses.py); unlisted channels 0")
    train_range: Any = option("auto", "[start, end] (inclusive) every state of a training window lies in; auto: "
                                      "the store's times before validation; null: the whole store")
    validation_range: Any = option("auto", "[start, end] of held-out times; auto: the last 15 % of the store; "
                                           "null: no validation")
    validate_every: int = option(250, "steps; 0: never (also validates at the last step)", low=0)
    validation_leads: tuple[int, ...] = option((1, 3, 7), "lead times in steps", low=1)
    validation_windows: int = option(16, "windows spread evenly over validation_range (shared among ranks)", low=0)
    checkpoint_every: int = option(250, "steps (also at the last step and when stopped by SIGTERM/SIGUSR1)", low=0)
    keep_last: int = option(3, "step checkpoints kept, besides best/", low=0)
    resume: str = option("auto", "auto: latest good checkpoint in run_dir if any | never | best | <path>")
    log_every: int = option(10, "steps between rows of metrics.csv (and the progress bar's postfix)", low=0)
    tensorboard: bool = option(False, "also write <run_dir>/tensorboard if TensorBoard is installed")
    seed: int = option(0, "seed of the weights, the windows and the noise", low=0)
    num_workers: int = option(2, "DataLoader worker processes per rank (0: load in the training process)", low=0)
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto: CUDA when there is one")
    precision: Literal["auto", "fp32", "bf16"] = option("auto", "auto: bf16 autocast on CUDA, fp32 on CPU")
    compile: bool = option(False, "torch.compile the training step (each rollout length compiles once; "
                                  "CPU needs a C++ compiler)")
    threads: int | Literal["auto"] = option("auto", "intra-op CPU threads; auto: OMP_NUM_THREADS, "
                                                    "SLURM_CPUS_PER_TASK or torch's", low=1)
    deterministic: bool | Literal["auto"] = option("auto", "torch.use_deterministic_algorithms; auto: on CPU only")
    master_port: int | None = option(None, "rendezvous port for srun launches without torchrun; null: "
                                           "15000 + job id % 20000", low=1, high=65535)


def parse_train_section(section: Any) -> TrainOptions:
    """``cfg.train`` parsed; each key it holds is set back to its parsed value (in place)."""
    options = parse(TrainOptions, section, "train")
    plain = as_plain(options)
    for key in list(section.keys()):
        section[key] = plain[key]
    return options
