"""The ``sowcast`` command: one subcommand per stage, each taking Hydra overrides.

    sowcast data synth data.synth.seed=3
    sowcast data ingest data.ingest.sources=[era5.grib] data.store=era5.zarr
    sowcast demo

The config tree is ``conf/`` (shipped inside the package as ``sowcast/conf``); ``--config-dir``
points at another tree, e.g. an agency's own presets. A user mistake ends with one line
``sowcast: error: ...`` and exit status 2, never a traceback. Global options: ``--version``,
``-v``/``-q`` (log level, :mod:`sowcast.log`). Output into a pipe closed early (``| head``)
ends quietly with status 141, as a writer ended by SIGPIPE.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from dataclasses import dataclass
from importlib import metadata

from sowcast.config_tree import compose, default_config_dir  # noqa: F401 - the CLI's public names
from sowcast.errors import SowcastError
from sowcast.log import configure

CLOSED_PIPE_STATUS = 128 + 13  # SIGPIPE, what a shell reports for a writer ended by it
COMMON = ("overwrite", "progress")  # top-level keys of config.yaml most commands read
COMMON_OPTIONS = ("", "sowcast.cli.common_options:CommonOptions")  # their options class


@dataclass(frozen=True)
class Command:
    target: str  # "module:function"; the function takes the composed DictConfig
    summary: str
    sections: tuple[str, ...] = ()  # config groups / config.yaml keys it reads: shown by --help
    also: tuple[str, ...] = ()      # single keys elsewhere it reads: shown with their value
    # (group, "module:Class") of the sowcast.options classes it parses: --help describes them
    # (and no longer shows those sections as YAML); "" is the top level (overwrite, progress)
    options: tuple[tuple[str, str], ...] = ()


COMMANDS: dict[str, Command] = {
    "data synth": Command("sowcast.cli.data_commands:synth",
                          "synthesise the West African monsoon as raw yearly netCDF files",
                          options=(("data.synth", "sowcast.data.synth_options:SynthOptions"), COMMON_OPTIONS)),
    "data ingest": Command("sowcast.cli.data_commands:ingest",
                           "read raw archives (netCDF, GRIB, zarr, station CSV) into a canonical zarr store with statistics",
                           ("cluster",), ("data.store",),
                           (("data.ingest", "sowcast.data.ingest_options:IngestOptions"), COMMON_OPTIONS)),
    "data describe": Command("sowcast.cli.data_commands:describe",
                             "print a canonical store's variables, grid, time span and statistics", ("data",)),
    "train": Command("sowcast.cli.train_command:run",
                     "train the forecast model with DDP (one process, torchrun or srun), checkpoints and validation",
                     ("model", "graph"), ("data.store",),
                     (("train", "sowcast.train.options:TrainOptions"), COMMON_OPTIONS)),
    "forecast": Command("sowcast.cli.forecast_command:run",
                        "run the ensemble forecast from a bundle and an analysis with onnxruntime (no torch), resumable",
                        options=(("forecast", "sowcast.forecast.options:ForecastOptions"), COMMON_OPTIONS)),
    "export": Command("sowcast.cli.export_command:run",
                      "export a checkpoint as the edge bundle: ONNX model checked against torch, static fields, statistics, manifest",
                      also=("train.run_dir",), options=(("export", "sowcast.export.options:ExportOptions"),
                                                        ("", "sowcast.cli.common_options:CommonOptions.overwrite"))),
    "export keygen": Command("sowcast.cli.signing_commands:keygen",
                             "make an Ed25519 key pair for signing bundles: export.sign_key=keys/NAME.key (and NAME.pub)",
                             ("export",)),
    "export sign": Command("sowcast.cli.signing_commands:sign",
                           "sign the bundle folder export.output with export.sign_key (manifest.sig)", ("export",)),
    "hindcast": Command("sowcast.cli.hindcast_command:run",
                        "run the model from many past start dates and build the lead-dependent model climatology",
                        options=(("hindcast", "sowcast.forecast.hindcast_options:HindcastOptions"), COMMON_OPTIONS)),
    "calibrate": Command("sowcast.cli.calibrate_command:run",
                         "fit the products' calibration on training-year hindcasts (terciles, daily rain, onset)",
                         options=(("calibrate", "sowcast.calibrate.calibration:CalibrateOptions"),
                                  ("", "sowcast.cli.common_options:CommonOptions.overwrite"))),
    "products": Command("sowcast.cli.products_command:run",
                        "weekly anomalies and terciles, onset of the rains, false starts, dry spells and planting advice",
                        options=(("products", "sowcast.products.options:ProductsOptions"),)),
    "verify": Command("sowcast.cli.verify_command:run",
                      "score reforecasts against the truth beside climatology and persistence: a scorecard",
                      options=(("verify", "sowcast.verify.options:VerifyOptions"),)),
    "bulletin": Command("sowcast.cli.bulletin_command:run",
                        "the agency bulletin per language: self-contained HTML, PDF, SMS advice and maps",
                        options=(("bulletin", "sowcast.bulletin.options:BulletinOptions"),)),
    "bulletin check": Command("sowcast.cli.bulletin_command:check",
                              "check that every bulletin catalogue gives every message",
                              options=(("bulletin", "sowcast.bulletin.options:BulletinOptions.catalogue_dir"),)),
    "serve": Command("sowcast.cli.serve_command:run",
                     "the offline edge service: dashboard and JSON API, forecast jobs from an inbox or a daily schedule",
                     options=(("serve", "sowcast.serve.settings:ServeSettings"),)),
    "demo": Command("sowcast.cli.demo:run", "run the demo chain on the embedded synthetic data", ("demo", *COMMON)),
}


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def _usage() -> str:
    lines = ["usage: sowcast [-V] [-v|-q] [--config-dir DIR] COMMAND [--help] [--cfg [job|hydra|all]] [KEY=VALUE ...]",
             "", "commands:"]
    width = max(len(n) for n in COMMANDS)
    lines += [f"  {name:<{width}}  {cmd.summary}" for name, cmd in COMMANDS.items()]
    lines += ["", "options:",
              "  -V, --version     print the version and exit",
              "  -v, --verbose     log debug messages too; -q, --quiet: warnings and errors only (-qq: errors)",
              "                    (default: $SOWCAST_LOG_LEVEL, else info)",
              "  --config-dir DIR  another config tree (default: $SOWCAST_CONF, else the packaged conf/)",
              "", "Each command takes Hydra overrides of conf/ (e.g. data.synth.seed=3, cluster=local_cluster);",
              "'sowcast COMMAND --help' shows the command and the config it reads; --cfg prints the composed config."]
    return "\n".join(lines)


def _version() -> str:
    try:
        return metadata.version("sowcast")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        from sowcast import __version__

        return __version__


def _options_help(command: Command, cfg) -> list[str]:
    """The options classes of ``command`` described (sowcast.options.describe), then the keys
    that the composed config (presets, overrides) sets otherwise."""
    from omegaconf import OmegaConf

    from sowcast.options import as_plain, defaults, describe, parse, show

    parts = ["options, with their defaults (override with KEY=VALUE):", ""]
    changed = []
    for group, target in command.options:
        module, _, name = target.partition(":")
        name, _, key = name.partition(".")  # Class.key: that key alone
        cls = getattr(importlib.import_module(module), name)
        keys = (key,) if key else None
        parts += [describe(cls, group, keys), ""]
        section = OmegaConf.select(cfg, group) if group else {k: cfg[k] for k in defaults(cls) if k in cfg}
        now = as_plain(parse(cls, section, group))
        changed += [f"  {group + '.' if group else ''}{k}: {show(now[k])}" for k, d in defaults(cls).items()
                    if (keys is None or k in keys) and now[k] != as_plain(d)]
    if changed:
        parts += ["set otherwise in this config (presets, overrides):", *changed, ""]
    return parts


def _command_help(name: str, func, overrides: list[str], config_dir: str | None) -> str:
    """The command's purpose, its docstring, its options (described from their classes), and
    the commented YAML of the other sections it reads."""
    from omegaconf import OmegaConf

    from sowcast.config_tree import section_text

    command = COMMANDS[name]
    cfg = compose(overrides, config_dir, with_hydra=True)
    parts = [f"sowcast {name}: {command.summary}", "", inspect.cleandoc(func.__doc__ or ""), ""]
    if command.options:
        parts += _options_help(command, cfg)
    if command.sections:
        parts.append("other config it reads, with the defaults (override with KEY=VALUE):" if command.options
                     else "config it reads, with the defaults (override with KEY=VALUE):")
    shown_from = None
    for section in command.sections:
        source, text = section_text(cfg, section, config_dir)
        if source is None or source != shown_from:
            parts += ["", f"# {source if source is not None else 'as composed (no file found)'}"]
        parts.append(text)
        shown_from = source
    if command.sections:
        parts.append("")
    if command.also:
        parts += ["# also:"] + [f"{key}: {OmegaConf.select(cfg, key)}" for key in command.also] + [""]
    parts += [f"'sowcast {name} [KEY=VALUE ...] --cfg' prints the whole config as composed with the overrides."]
    return "\n".join(parts)


def _composed_yaml(which: str, overrides: list[str], config_dir: str | None) -> str:
    """--cfg job (the default): the config the command runs with; hydra: Hydra's own node; all: both."""
    from omegaconf import OmegaConf

    cfg = compose(overrides, config_dir, with_hydra=which != "job")
    return OmegaConf.to_yaml(cfg.hydra if which == "hydra" else cfg)


def _split_command(argv: list[str]) -> tuple[str, list[str]]:
    """The longest registered command name at the start of argv, and the rest."""
    for n in (2, 1):
        name = " ".join(argv[:n])
        if len(argv) >= n and name in COMMANDS:
            return name, argv[n:]
    raise SowcastError(f"unknown command {' '.join(argv[:2])!r}; run 'sowcast --help'")


def _parse_global(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="sowcast", add_help=False, allow_abbrev=False)
    parser.add_argument("--config-dir", default=None)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("-V", "--version", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="count", default=0)
    return parser.parse_known_args(argv)


def _cfg_option(rest: list[str]) -> tuple[str | None, list[str]]:
    """``--cfg`` with an optional Hydra-style part after it (job, hydra, all) and the other arguments."""
    if "--cfg" not in rest:
        return None, rest
    i = rest.index("--cfg")
    which = rest[i + 1] if i + 1 < len(rest) and rest[i + 1] in ("job", "hydra", "all") else None
    return which or "job", rest[:i] + rest[i + (2 if which else 1):]


def _run(argv: list[str]) -> int:
    try:
        opts, rest = _parse_global(argv)
        if opts.version:
            print(f"sowcast {_version()}")
            return 0
        if not rest:
            print(_usage())
            return 0 if opts.help else 2
        configure(opts.verbose - opts.quiet)
        name, rest = _split_command(rest)
        show_help = opts.help or "--help" in rest or "-h" in rest
        show_cfg, rest = _cfg_option(rest)
        overrides = [a for a in rest if a not in ("--help", "-h")]
        unknown = [a for a in overrides if a.startswith("-")]
        if unknown:
            raise SowcastError(f"unknown option {unknown[0]!r}; options are --help and --cfg, the rest is KEY=VALUE")
        func = _resolve(COMMANDS[name].target)
        if show_help:
            print(_command_help(name, func, overrides, opts.config_dir))
            return 0
        if show_cfg:
            print(_composed_yaml(show_cfg, overrides, opts.config_dir))
            return 0
        cfg = compose(overrides, opts.config_dir)
        result = func(cfg)
        return int(result or 0)
    except SowcastError as exc:
        print(f"sowcast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sowcast: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a closed pipe shows here, not as a warning when Python exits
        return code
    except BrokenPipeError:  # output piped into head & co., which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE_STATUS


if __name__ == "__main__":
    sys.exit(main())
