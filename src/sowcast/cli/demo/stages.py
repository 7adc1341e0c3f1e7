"""The demo as a table: each stage, in order, with what it runs and the option patches it applies.

A stage runs either its own ``run(options, **keywords)`` with its typed options, built from the
composed config as its command builds them, followed by what that command prints (its
``finish``), or the training under torchrun (:mod:`sowcast.cli.demo.torchrun`, two processes, on
the whole config). Its ``patches`` (:mod:`sowcast.cli.demo.patch`) are merged into the
demo config before the chain starts, in table order, so each one reads the outputs of the
stages above it; ``own`` patches go over that stage's config alone when it runs (the
checkpoint the training finished with; the held-out years of the reforecasts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sowcast.bulletin.options import BulletinOptions
from sowcast.bulletin.stage import run as make_bulletin
from sowcast.calibrate.calibration import CalibrateOptions
from sowcast.calibrate.calibration import run as fit_calibration
from sowcast.cli import (
    bulletin_command,
    calibrate_command,
    data_commands,
    export_command,
    forecast_command,
    hindcast_command,
    products_command,
    verify_command,
)
from sowcast.cli.common_options import CommonOptions
from sowcast.cli.demo.patch import Patch, apply, demo_block
from sowcast.cli.demo.plan import Plan
from sowcast.cli.demo.steps import checkpoint_or_error
from sowcast.cli.demo.torchrun import train_in_processes
from sowcast.config_values import whole
from sowcast.data.ingest import run as ingest
from sowcast.data.ingest_options import IngestOptions
from sowcast.data.synth_options import SynthOptions
from sowcast.data.synth_stage import run as synthesise
from sowcast.export.options import ExportOptions
from sowcast.export.stage import run as export
from sowcast.forecast.engine import run_forecast
from sowcast.forecast.hindcast_options import HindcastOptions
from sowcast.forecast.options import ForecastOptions
from sowcast.graph.mesh_level import is_auto_level
from sowcast.products.hindcast_stage import run as hindcast
from sowcast.products.options import ProductsOptions
from sowcast.products.stage import run as make_products
from sowcast.verify.options import VerifyOptions
from sowcast.verify.stage import run as verify


def _common(c: DictConfig) -> dict[str, Any]:
    """overwrite and progress, the keywords of most stages' run()."""
    return CommonOptions.from_config(c).keywords()


def _overwrite(c: DictConfig) -> dict[str, Any]:
    return {"overwrite": CommonOptions.from_config(c).overwrite}


@dataclass(frozen=True)
class Typed:
    """``Stage.run`` takes ``cls.from_config(<group>)`` and ``keywords(<config>)``, the arguments
    its command passes beside the options; then ``finish(options, result)``: what the command
    prints after the stage."""

    group: str
    cls: type
    finish: Callable[[Any, Any], None]
    keywords: Callable[[DictConfig], dict[str, Any]] = field(default=lambda c: {})


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[..., Any]          # with `typed` a stage's run(options, **keywords), else the whole config
    patches: tuple[Patch, ...] = ()  # over the demo config, before the chain: later stages see them
    own: tuple[Patch, ...] = ()      # over this stage's config alone, when it runs
    typed: Typed | None = None


def _store(d: DictConfig) -> str:
    return str(d.data.store)


def _bundle(d: DictConfig) -> str:
    return str(d.export.output)


def _mesh_level(d: DictConfig, p: Plan) -> dict:
    """demo.mesh_level where the model preset leaves the level to the rule (``auto``)."""
    level = d.model.get("mesh_level")
    auto = is_auto_level(OmegaConf.to_container(level, resolve=True) if isinstance(level, DictConfig) else level)
    return {"mesh_level": whole(d.demo.mesh_level, "demo.mesh_level", 0)} if auto else {}


def _calibration_inputs(d: DictConfig, p: Plan) -> dict:
    """The training-year hindcasts, the truth and the bundle; the rules and region verify scores."""
    return {"hindcast": str(d.hindcast.output), "store": _store(d), "bundle": _bundle(d),
            # beside the hindcasts, not in their folder (whose identity it would change)
            "output": str(Path(str(d.demo.root)) / "calibration.nc"),
            "rules": d.products.rules,  # as composed: the products patch comes after this one
            "onset_region": demo_block(d, "verify").get("onset_region", d.verify.onset_region)}


REFORECAST = Patch("hindcast", lambda d, p: {"years": list(p.reforecast_years)}, demo="reforecast")


def _verify_inputs(d: DictConfig, p: Plan) -> dict:
    """The reforecasts (their own patch), the truth, the calibration and the model climatology;
    the scorecard goes into the bundle (demo.verify.bundle=null: not)."""
    reforecasts = patched(d, (REFORECAST,), p).hindcast.output
    return {"hindcast": str(reforecasts), "truth": _store(d), "calibration": str(d.calibrate.output),
            "climatology": str(Path(str(d.hindcast.output)) / "climatology.nc"), "bundle": _bundle(d)}


# Stage(name, what it runs, patches: Patch(group, values derived from the plan and the stages above;
#       demo.<group> over them), own=patches of its config alone, typed=the options its run takes)
HINDCAST = Typed("hindcast", HindcastOptions, hindcast_command.finish, _common)

STAGES: tuple[Stage, ...] = (
    Stage("synthesise", synthesise,
          (Patch("data", lambda d, p: {"ingest": {"statistics_period": p.train_range}}),),
          typed=Typed("data.synth", SynthOptions, data_commands.synth_finish, _common)),
    Stage("ingest", ingest,
          typed=Typed("data.ingest", IngestOptions, data_commands.ingest_finish, data_commands.ingest_keywords)),
    Stage("train", train_in_processes,
          (Patch("graph"), Patch("model", _mesh_level, demo=None),
           Patch("train", lambda d, p: {"train_range": p.train_range, "validation_range": p.validation_range,
                                        "resume": "never"}))),
    Stage("export", export, (Patch("export", lambda d, p: {"store": _store(d)}),),
          own=(Patch("export", lambda c, p: {"checkpoint": str(checkpoint_or_error(c))}, demo=None),),
          typed=Typed("export", ExportOptions, export_command.finish, export_command.keywords)),
    Stage("hindcast", hindcast,
          (Patch("hindcast", lambda d, p: {"bundle": _bundle(d), "store": _store(d),
                                           "years": list(p.climatology_years)}),),
          typed=HINDCAST),
    Stage("calibrate", fit_calibration, (Patch("calibrate", _calibration_inputs),),
          typed=Typed("calibrate", CalibrateOptions, calibrate_command.finish, _overwrite)),
    # the scorecard before the forecast: verify adds it to the bundle, the products carry it
    Stage("reforecast", hindcast, own=(REFORECAST,), typed=HINDCAST),
    Stage("verify", verify, (Patch("verify", _verify_inputs),),
          typed=Typed("verify", VerifyOptions, verify_command.finish)),
    Stage("forecast", run_forecast,
          (Patch("forecast", lambda d, p: {"bundle": _bundle(d), "init": _store(d),
                                           "init_time": f"{p.forecast_init:%Y-%m-%d}"}),),
          typed=Typed("forecast", ForecastOptions, forecast_command.finish, _common)),
    Stage("products", make_products,
          (Patch("products", lambda d, p: {"forecast": str(d.forecast.output), "bundle": _bundle(d),
                                           "observed": _store(d)}),),
          typed=Typed("products", ProductsOptions, products_command.finish)),
    Stage("bulletin", make_bulletin,
          (Patch("bulletin", lambda d, p: {"products": str(d.products.output),
                                           # the products' own (the bundle's), else the verify folder
                                           "scorecard": None if d.verify.bundle else str(d.verify.output)}),),
          typed=Typed("bulletin", BulletinOptions, bulletin_command.finish)),
)


def patched(d: DictConfig, patches: tuple[Patch, ...], plan: Plan) -> DictConfig:
    """A copy of ``d`` with ``patches`` applied in turn (``d`` itself when there are none)."""
    if not patches:
        return d
    c = d.copy()
    for patch in patches:
        apply(c, patch, plan)
    return c


def demo_config(cfg: DictConfig, plan: Plan) -> DictConfig:
    """The config every stage starts from: ``cfg`` with the patches of every stage, in table order."""
    return patched(cfg, tuple(patch for stage in STAGES for patch in stage.patches), plan)


def call(stage: Stage, c: DictConfig) -> None:
    """Run ``stage`` on its config ``c``: its typed options, run and finish (the training: the whole config)."""
    if stage.typed is None:
        stage.run(c)
        return
    options = stage.typed.cls.from_config(OmegaConf.select(c, stage.typed.group))
    stage.typed.finish(options, stage.run(options, **stage.typed.keywords(c)))
