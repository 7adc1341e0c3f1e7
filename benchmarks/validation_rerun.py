"""A training run's validation done again with today's validator, on its own best checkpoint:
a channel's mean error (bias) and RMSE by lead, the model's beside the climatology's.

Reads ``RUN_DIR/config.yaml`` (the store, the training and validation ranges, the leads and
the number of windows the run used) and ``RUN_DIR/checkpoints/best``, builds the training
years' day-of-year climatology as training does, and runs
:class:`sowcast.train.validation.Validator` in one process: the run's windows, and a stochastic
model's noise as a one-process run draws it (a run on several ranks drew each rank's share
from that rank's seed, so its own figures differ by the members' sampling: for the demo's model,
rain's bias by up to 0.13 mm/day). For runs made before the validation logged ``bias``, or to
compare two trainings on the same footing (the same draws):

    .venv/bin/python benchmarks/validation_rerun.py /tmp/demo/checkpoints/small
    .venv/bin/python benchmarks/validation_rerun.py /tmp/demo/checkpoints/small --channel 2m_temperature
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a train.run_dir (config.yaml, checkpoints/best)")
    parser.add_argument("--channel", default="total_precipitation")
    args = parser.parse_args()

    import torch
    from omegaconf import OmegaConf

    from sowcast.data.windows import WindowSource
    from sowcast.export.onnx_export import load_model
    from sowcast.train.losses import make_loss
    from sowcast.train.validation import Validator, load_or_compute_climatology

    cfg = OmegaConf.to_container(OmegaConf.load(args.run_dir / "config.yaml"), resolve=True)
    t, loader = cfg["train"], cfg["data"].get("loader") or {}
    common = {"n_input_steps": int(loader.get("n_input_steps", 2)), "prognostic": loader.get("prognostic"),
              "static": loader.get("static")}
    if not t.get("validation_range"):
        print(f"{args.run_dir}: the run had no validation range", file=sys.stderr)
        return 2
    loaded = load_model(args.run_dir / "checkpoints" / "best")
    train = WindowSource(cfg["data"]["store"], n_target_steps=1, time_range=t["train_range"], **common)
    val = WindowSource(cfg["data"]["store"], n_target_steps=max(t["validation_leads"]),
                       time_range=t["validation_range"], **common)
    if args.channel not in val.channels:
        print(f"--channel {args.channel} is not one of the run's channels {val.channels}", file=sys.stderr)
        return 2
    climatology = load_or_compute_climatology(train, None, True, False)
    validator = Validator(val, t["validation_leads"], int(t["validation_windows"]), make_loss(t, train, loaded.model),
                          climatology)
    result = validator.run(loaded.model, torch.device("cpu"))
    c = result.channels.index(args.channel)
    print(f"{args.run_dir}: {args.channel}, {result.n_windows} windows in {t['validation_range']}, "
          f"climatology {result.climatology}")
    print(f"  {'lead':>4} {'bias':>9} {'bias clim.':>10} {'RMSE':>9} {'RMSE clim.':>10}")
    for i, lead in enumerate(result.leads):
        print(f"  {lead:>4} {result.bias[i, c]:+9.3f} {result.bias_climatology[i, c]:+10.3f} "
              f"{result.rmse[i, c]:9.3f} {result.rmse_climatology[i, c]:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
