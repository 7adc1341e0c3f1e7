"""The ``sowcast`` command: one subcommand per stage, each taking Hydra overrides.

    sowcast data synth data.synth.seed=3
    sowcast data ingest data.ingest.sources=[era5.grib] data.store=era5.zarr
    sowcast demo

The config tree is ``conf/`` (shipped inside the package as ``sowcast/conf``); ``--config-dir``
points at another tree, e.g. an agency's own presets. A user mistake ends with one line
``sowcast: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Command:
    target: str  # "module:function"; the function takes the composed DictConfig
    summary: str


COMMANDS: dict[str, Command] = {
    "data synth": Command("sowcast.cli.data_commands:synth",
                          "synthesise the West African monsoon as raw yearly netCDF files"),
    "data ingest": Command("sowcast.cli.data_commands:ingest",
                           "read raw archives (netCDF, GRIB, zarr, station CSV) into a canonical zarr store with statistics"),
    "data describe": Command("sowcast.cli.data_commands:describe",
                             "print a canonical store's variables, grid, time span and statistics"),
    "train": Command("sowcast.cli.train_command:run",
                     "train the forecast model with DDP (one process, torchrun or srun), checkpoints and validation"),
    "forecast": Command("sowcast.cli.forecast_command:run",
                        "run the ensemble forecast from a bundle and an analysis with onnxruntime (no torch), resumable"),
    "export": Command("sowcast.cli.export_command:run",
                      "export a checkpoint as the edge bundle: ONNX model checked against torch, static fields, statistics, manifest"),
    "export keygen": Command("sowcast.cli.signing_commands:keygen",
                             "make an Ed25519 key pair for signing bundles: export.sign_key=keys/NAME.key (and NAME.pub)"),
    "export sign": Command("sowcast.cli.signing_commands:sign",
                           "sign the bundle folder export.output with export.sign_key (manifest.sig)"),
    "hindcast": Command("sowcast.cli.hindcast_command:run",
                        "run the model from many past start dates and build the lead-dependent model climatology"),
    "calibrate": Command("sowcast.cli.calibrate_command:run",
                         "fit the products' calibration on training-year hindcasts (terciles, daily rain, onset)"),
    "products": Command("sowcast.cli.products_command:run",
                        "weekly anomalies and terciles, onset of the rains, false starts, dry spells and planting advice"),
    "verify": Command("sowcast.cli.verify_command:run",
                      "score reforecasts against the truth beside climatology and persistence: a scorecard"),
    "bulletin": Command("sowcast.cli.bulletin_command:run",
                        "the agency bulletin per language: self-contained HTML, PDF, SMS advice and maps"),
    "bulletin check": Command("sowcast.cli.bulletin_command:check",
                              "check that every bulletin catalogue gives every message"),
    "serve": Command("sowcast.cli.serve_command:run",
                     "the offline edge service: dashboard and JSON API, forecast jobs from an inbox or a daily schedule"),
    "demo": Command("sowcast.cli.demo:run", "run the demo chain on the embedded synthetic data"),
}


def default_config_dir() -> Path:
    return Path(str(resources.files("sowcast") / "conf"))


def compose(overrides: list[str], config_dir: str | os.PathLike | None = None):
    """Compose the config tree with Hydra overrides; bad overrides become a one-line error."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    config_dir = Path(config_dir or os.environ.get("SOWCAST_CONF") or default_config_dir()).resolve()
    if not (config_dir / "config.yaml").is_file():
        raise SowcastError(f"no config.yaml in config dir {config_dir}")
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"bad configuration override: {first}") from None


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def _usage() -> str:
    lines = ["usage: sowcast [--config-dir DIR] COMMAND [--cfg] [KEY=VALUE ...]", "", "commands:"]
    width = max(len(n) for n in COMMANDS)
    lines += [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += ["", "Each command takes Hydra overrides of conf/ (e.g. data.synth.seed=3, cluster=local_cluster);",
              "'sowcast COMMAND --help' shows the command and the config it reads; --cfg prints the composed config."]
    return "\n".join(lines)


def _split_command(argv: list[str]) -> tuple[str, list[str]]:
    """The longest registered command name at the start of argv, and the rest."""
    for n in (2, 1):
        name = " ".join(argv[:n])
        if len(argv) >= n and name in COMMANDS:
            return name, argv[n:]
    raise SowcastError(f"unknown command {' '.join(argv[:2])!r}; run 'sowcast --help'")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="sowcast", add_help=False)
    parser.add_argument("--config-dir", default=None)
    parser.add_argument("-h", "--help", action="store_true")
    opts, rest = parser.parse_known_args(argv)
    if not rest:
        print(_usage())
        return 0 if opts.help else 2
    try:
        name, rest = _split_command(rest)
        show_help = opts.help or "--help" in rest or "-h" in rest
        show_cfg = "--cfg" in rest
        overrides = [a for a in rest if a not in ("--help", "-h", "--cfg")]
        unknown = [a for a in overrides if a.startswith("-")]
        if unknown:
            raise SowcastError(f"unknown option {unknown[0]!r}; options are --help and --cfg, the rest is KEY=VALUE")
        func = _resolve(COMMANDS[name].target)
        if show_help:
            from omegaconf import OmegaConf

            print(f"sowcast {name}: {COMMANDS[name].summary}\n")
            print((func.__doc__ or "").strip())
            print("\nconfig (override with KEY=VALUE):\n")
            print(OmegaConf.to_yaml(compose(overrides, opts.config_dir)))
            return 0
        cfg = compose(overrides, opts.config_dir)
        if show_cfg:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(cfg))
            return 0
        result = func(cfg)
        return int(result or 0)
    except SowcastError as exc:
        print(f"sowcast: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("sowcast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
