"""The demo's steps: for each, the command it runs, its config, what it reads and what it makes.

Every step is a real command (``sowcast data synth``, ``data ingest``, ``train`` under
torchrun, ``export``, ``hindcast``, ``forecast``, ``products``, ``hindcast`` again for the
reforecasts, ``verify``, ``bulletin``), run with the config that :func:`demo_config` builds:
each command's own section, then the values the demo derives (the years of
:mod:`sowcast.cli.demo.plan`, and each input wired to the output of the step before), then
``demo.<section>`` of the config (sizes and paths under ``demo.root``). The reforecasts are
``sowcast hindcast`` with ``demo.reforecast`` over all that.

A step's stamp (:mod:`sowcast.cli.demo.stamps`) records its ``config`` keys and the identity
of its ``inputs``; it is reused when they match and its ``outputs`` exist.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from sowcast.cli.demo.plan import Plan
from sowcast.cli.demo.stamps import model_identity, tree_identity
from sowcast.config_values import whole
from sowcast.errors import SowcastError
from sowcast.graph.mesh_level import is_auto_level


@dataclass(frozen=True)
class Step:
    name: str
    config: tuple[str, ...]                            # config keys recorded in the stamp
    inputs: Callable[[DictConfig], dict[str, str]]     # identities of what the step reads
    outputs: Callable[[DictConfig], list[Path | None]]  # what must exist for a reuse (None: missing)
    run: Callable[[DictConfig], Any]
    describe: Callable[[DictConfig], str]              # the progress line
    scratch: Callable[[DictConfig], list[Path]] = field(default=lambda c: [])  # partial work a fresh run removes
    prepare: Callable[[DictConfig], DictConfig] = field(default=lambda c: c)   # config known only at run time


# -- the config ---------------------------------------------------------------------------------
def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def _merge(cfg: DictConfig, section: str, *layers: Any) -> None:
    """Merge ``layers`` (plain dicts) over ``cfg.<section>`` in turn; an unknown key is an error."""
    from omegaconf.errors import OmegaConfBaseException

    merged = cfg[section]
    for layer in layers:
        if not layer:
            continue
        try:
            merged = OmegaConf.merge(merged, layer)
        except OmegaConfBaseException as exc:
            first = str(exc).strip().splitlines()[0]
            raise SowcastError(f"demo.{section}: {first} (keys are those of {section}.*)") from None
    with open_dict(cfg):
        cfg[section] = merged


def _demo(cfg: DictConfig, name: str) -> dict:
    node = cfg.demo.get(name)
    value = _container(node) if node is not None else {}
    if not isinstance(value, dict):
        raise SowcastError(f"demo.{name} must be a mapping of {name} options, not {value!r}")
    return value


def demo_config(cfg: DictConfig, plan: Plan) -> DictConfig:
    """The config of every step but the reforecasts (module doc)."""
    d = cfg.copy()
    _merge(d, "data", {"ingest": {"statistics_period": plan.train_range}}, _demo(cfg, "data"))
    store = str(d.data.store)
    _merge(d, "graph", _demo(cfg, "graph"))
    if is_auto_level(_container(d.model.get("mesh_level"))):  # the preset leaves it to the rule: the demo's level
        _merge(d, "model", {"mesh_level": whole(cfg.demo.mesh_level, "demo.mesh_level", 0)})
    _merge(d, "train", {"train_range": plan.train_range, "validation_range": plan.validation_range,
                        "resume": "never"}, _demo(cfg, "train"))
    _merge(d, "export", {"store": store}, _demo(cfg, "export"))
    bundle = str(d.export.output)
    _merge(d, "hindcast", {"bundle": bundle, "store": store, "years": list(plan.climatology_years)},
           _demo(cfg, "hindcast"))
    _merge(d, "calibrate", {"hindcast": str(d.hindcast.output), "store": store, "bundle": bundle,
                            # beside the hindcasts, not in their folder (whose identity it would change)
                            "output": str(Path(str(cfg.demo.root)) / "calibration.nc"),
                            "rules": d.products.rules,
                            "onset_region": _demo(cfg, "verify").get("onset_region", _container(d.verify.onset_region))},
           _demo(cfg, "calibrate"))
    _merge(d, "forecast", {"bundle": bundle, "init": store, "init_time": f"{plan.forecast_init:%Y-%m-%d}"},
           _demo(cfg, "forecast"))
    _merge(d, "products", {"forecast": str(d.forecast.output), "bundle": bundle, "observed": store},
           _demo(cfg, "products"))
    reforecasts = str(reforecast_config(d, plan).hindcast.output)
    _merge(d, "verify", {"hindcast": reforecasts, "truth": store, "calibration": str(d.calibrate.output),
                         "climatology": str(Path(str(d.hindcast.output)) / "climatology.nc")}, _demo(cfg, "verify"))
    _merge(d, "bulletin", {"products": str(d.products.output), "scorecard": str(d.verify.output)},
           _demo(cfg, "bulletin"))
    return d


def reforecast_config(d: DictConfig, plan: Plan) -> DictConfig:
    """The demo config with hindcast.* set for the reforecasts of the held-out years."""
    r = d.copy()
    _merge(r, "hindcast", {"years": list(plan.reforecast_years)}, _demo(d, "reforecast"))
    return r


# -- what the steps read and make -------------------------------------------------------------------
def finished_checkpoint(run_dir: str | Path) -> Path | None:
    """The checkpoint a finished training run ended with (its status.json), if it is there."""
    try:
        status = json.loads((Path(run_dir) / "status.json").read_text())
    except (OSError, ValueError):
        return None
    path = status.get("checkpoint")
    if status.get("state") != "finished" or not path or not Path(path).exists():
        return None
    return Path(path)


def _checkpoint_or_error(c: DictConfig) -> Path:
    path = finished_checkpoint(c.train.run_dir)
    if path is None:
        raise SowcastError(f"no finished training run in {c.train.run_dir} (status.json)")
    return path


def _train(c: DictConfig) -> None:
    from sowcast.cli.demo.torchrun import train_with_torchrun

    train_with_torchrun(c, Path(str(c.demo.stamps)) / "train.conf", whole(c.demo.nproc, "demo.nproc", 1))
    status = json.loads((Path(str(c.train.run_dir)) / "status.json").read_text())
    if status.get("state") != "finished":
        raise SowcastError(f"training {status.get('state')} at step {status.get('step')} of {c.train.max_steps}")


def _with_checkpoint(c: DictConfig) -> DictConfig:
    c = c.copy()
    with open_dict(c):
        c.export.checkpoint = str(_checkpoint_or_error(c))
    return c


def _forecast_scratch(c: DictConfig) -> list[Path]:
    from sowcast.forecast.rollout_state import partial_dir

    output = Path(str(c.forecast.output))
    return [output, partial_dir(output)]


def _years(years: Any) -> str:
    y0, y1 = (int(y) for y in years)
    return str(y0) if y0 == y1 else f"{y0}-{y1}"


def _hindcast_line(c: DictConfig, what: str) -> str:
    h = c.hindcast
    return (f"{what}: {_years(h.years)}, starts {h.first}..{h.last} every {h.every_days} days, "
            f"{h.members} members x {h.lead}")


def steps(plan: Plan) -> list[Step]:
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

    def path(key: str) -> Callable[[DictConfig], Path]:
        return lambda c: Path(str(OmegaConf.select(c, key)))

    store, bundle = path("data.store"), path("export.output")
    return [
        Step("synthesise", ("data.synth",), inputs=lambda c: {},
             outputs=lambda c: [path("data.synth.output")(c)], run=data_commands.synth,
             describe=lambda c: f"synthetic monsoon {c.data.synth.start} .. {c.data.synth.end} -> {c.data.synth.output}"),
        Step("ingest", ("data.ingest", "data.store"),
             inputs=lambda c: {"raw": tree_identity(c.data.synth.output)},
             outputs=lambda c: [store(c)], run=data_commands.ingest,
             describe=lambda c: f"raw netCDF -> canonical store {c.data.store}"),
        Step("train", ("data.store", "data.loader", "graph", "model", "train", "demo.nproc"),
             inputs=lambda c: {"store": tree_identity(store(c))},
             outputs=lambda c: [Path(str(c.train.run_dir)) / "status.json", finished_checkpoint(c.train.run_dir)],
             run=_train,
             describe=lambda c: (f"torchrun {c.demo.nproc} processes (gloo, CPU), model {c.model.name}, "
                                 f"{c.train.max_steps} steps on {c.train.train_range[0]} .. {c.train.train_range[1]} "
                                 f"-> {c.train.run_dir}")),
        Step("export", ("export",), prepare=_with_checkpoint,
             inputs=lambda c: {"checkpoint": tree_identity(c.export.checkpoint), "store": tree_identity(store(c))},
             outputs=lambda c: [bundle(c) / "manifest.json"], run=export_command.run,
             describe=lambda c: f"checkpoint -> ONNX bundle {c.export.output} (parity checked against torch)"),
        Step("hindcast", ("hindcast",),
             inputs=lambda c: {"model": model_identity(bundle(c)), "store": tree_identity(store(c))},
             outputs=lambda c: [Path(str(c.hindcast.output)) / "climatology.nc", bundle(c) / "climatology.nc"],
             run=hindcast_command.run, scratch=lambda c: [Path(str(c.hindcast.output))],
             describe=lambda c: _hindcast_line(c, "model climatology from training years")),
        Step("calibrate", ("calibrate",),
             inputs=lambda c: {"hindcast": tree_identity(c.calibrate.hindcast), "store": tree_identity(store(c))},
             outputs=lambda c: [path("calibrate.output")(c), bundle(c) / "calibration.nc"],
             run=calibrate_command.run, scratch=lambda c: [path("calibrate.output")(c)],
             describe=lambda c: (f"calibration of terciles, daily rain and onset on the training-year hindcasts "
                                 f"-> {c.calibrate.output}")),
        Step("forecast", ("forecast",),
             inputs=lambda c: {"model": model_identity(bundle(c)), "store": tree_identity(store(c))},
             outputs=lambda c: [path("forecast.output")(c)], run=forecast_command.run, scratch=_forecast_scratch,
             describe=lambda c: (f"{c.forecast.lead} ensemble of {c.forecast.members} members on onnxruntime from "
                                 f"{c.forecast.init_time} -> {c.forecast.output}")),
        Step("products", ("products",),
             inputs=lambda c: {"forecast": tree_identity(c.products.forecast), "bundle": tree_identity(bundle(c)),
                               "store": tree_identity(store(c))},
             outputs=lambda c: [path("products.output")(c) / "products.json"], run=products_command.run,
             describe=lambda c: (f"weekly terciles and planting outlook ({c.products.rules}) for "
                                 f"{c.products.locations} -> {c.products.output}")),
        Step("reforecast", ("hindcast",), prepare=lambda c: reforecast_config(c, plan),
             inputs=lambda c: {"model": model_identity(bundle(c)), "store": tree_identity(store(c))},
             outputs=lambda c: [Path(str(c.hindcast.output)) / "hindcast.json"],
             run=hindcast_command.run, scratch=lambda c: [Path(str(c.hindcast.output))],
             describe=lambda c: _hindcast_line(c, "reforecasts of held-out years")),
        Step("verify", ("verify",),
             inputs=lambda c: {"reforecasts": tree_identity(c.verify.hindcast),
                               "climatology": tree_identity(c.verify.climatology),
                               "calibration": tree_identity(c.verify.calibration), "store": tree_identity(store(c))},
             outputs=lambda c: [path("verify.output")(c) / "summary.json"], run=verify_command.run,
             describe=lambda c: f"scorecard of the reforecasts against the synthetic truth -> {c.verify.output}"),
        Step("bulletin", ("bulletin",),
             inputs=lambda c: {"products": tree_identity(c.bulletin.products),
                               "scorecard": tree_identity(c.bulletin.scorecard)},
             outputs=lambda c: [path("bulletin.output")(c) / "bulletin.json"], run=bulletin_command.run,
             describe=lambda c: (f"bulletins ({', '.join(map(str, c.bulletin.languages))}: HTML, PDF, SMS) "
                                 f"-> {c.bulletin.output}")),
    ]


def remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
