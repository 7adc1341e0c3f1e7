"""Train a variant of a demo's model and export it, ready to be scored on the training years.

Reads the training config a ``sowcast demo`` root ran with (``ROOT/.stamps/train.conf``),
sets the given ``train.*`` / ``model.*`` overrides over it, trains on the same years with the
same launch (``torchrun``, 2 processes on CPU, gloo), exports the last checkpoint to
``OUT/bundle/small`` and links ``OUT/demo.zarr`` to the demo's store. ``OUT`` is then a root
for ``benchmarks/perturbation_tuning.py``, which scores the variant on the training years
only (own model climatology; RPSS, CRPS, anomaly correlation, spread/error, bias), the same
protocol as the shipped model's figures. With ``--score CANDIDATE`` that script is run too.

    .venv/bin/python benchmarks/train_variant.py --root /tmp/demo --out /tmp/demo_w3 \\
        --score 0.5:total_precipitation=8 'train.variable_weights={total_precipitation: 3.0}'

A variant trains as long as the demo (1440 steps: about 6 minutes on 2 quiet cores).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[1]


def has_key(cfg, key: str) -> bool:
    return OmegaConf.select(cfg, key, default="<absent>") != "<absent>"


def todays_defaults(key: str):
    """The package's own YAML of ``key``'s group (``train`` or the ``small`` model): a key that
    an older demo's config lacks."""
    group = key.partition(".")[0]
    return OmegaConf.load(ROOT / "src" / "sowcast" / "conf" / group / ("default.yaml" if group == "train" else "small.yaml"))


def variant_config(root: Path, out: Path, overrides: list[str]):
    """The demo's training config with ``overrides`` set and the run folder under ``out``."""
    source = root / ".stamps" / "train.conf" / "config.yaml"
    if not source.is_file():
        sys.exit(f"no training config at {source}: --root must be a finished 'sowcast demo' root")
    cfg = OmegaConf.load(source)
    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or key.split(".")[0] not in ("train", "model"):
            sys.exit(f"override {item!r}: give train.KEY=VALUE or model.KEY=VALUE")
        if not (has_key(cfg, key) or has_key(todays_defaults(key), key.partition(".")[2])):
            sys.exit(f"override {item!r}: {key} is a key of neither the demo's training config nor today's defaults")
    with open_dict(cfg):
        cfg.merge_with_dotlist(overrides)
        cfg.train.run_dir = str(out / "checkpoints" / "small")
        cfg.train.resume = "never"
        cfg.progress = False
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="a finished 'sowcast demo' root")
    parser.add_argument("--out", required=True, type=Path, help="a new folder for the variant")
    parser.add_argument("--score", metavar="CANDIDATE",
                        help="then run perturbation_tuning.py --root OUT CANDIDATE (e.g. 0.5:total_precipitation=8)")
    parser.add_argument("overrides", nargs="+", help="train.KEY=VALUE or model.KEY=VALUE")
    args = parser.parse_args()
    root, out = args.root.resolve(), args.out.resolve()
    if out.exists():
        sys.exit(f"{out} exists: give a new folder")
    cfg = variant_config(root, out, args.overrides)
    conf_dir = out / "train.conf"
    conf_dir.mkdir(parents=True)
    OmegaConf.save(cfg, conf_dir / "config.yaml")
    (out / "demo.zarr").symlink_to(Path(str(cfg.data.store)).resolve())
    env = dict(os.environ, OMP_NUM_THREADS="1")
    python = sys.executable
    print(f"training {' '.join(args.overrides)} -> {cfg.train.run_dir}", flush=True)
    subprocess.run([python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sowcast",
                    "--config-dir", str(conf_dir), "train"], check=True, env=env)
    checkpoints = sorted((Path(str(cfg.train.run_dir)) / "checkpoints").glob("step_*"))
    subprocess.run([python, "-m", "sowcast", "-q", "export", f"export.checkpoint={checkpoints[-1]}",
                    f"export.output={out / 'bundle' / 'small'}", f"export.store={cfg.data.store}"], check=True)
    if args.score:
        subprocess.run([python, str(ROOT / "benchmarks" / "perturbation_tuning.py"), "--root", str(out), args.score],
                       check=True)
    else:
        print(f"score it: {python} benchmarks/perturbation_tuning.py --root {out} CANDIDATE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
