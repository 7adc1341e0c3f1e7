"""What the demo tracks of each stage (:mod:`sowcast.cli.demo.stages`): the config keys its stamp
records, the identities of what it reads, the outputs that must exist for a reuse, the partial
work a fresh run removes, and its progress line.

A stage's stamp (:mod:`sowcast.cli.demo.stamps`) records its ``config`` keys (resolved) and the
identity of its ``inputs``; it is reused when they match and its ``outputs`` exist.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sowcast.cli.demo.stamps import model_identity, tree_identity
from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Tracking:
    config: tuple[str, ...]                            # config keys recorded in the stamp
    inputs: Callable[[DictConfig], dict[str, str]]     # identities of what the stage reads
    outputs: Callable[[DictConfig], list[Path | None]]  # what must exist for a reuse (None: missing)
    describe: Callable[[DictConfig], str]              # the progress line
    scratch: Callable[[DictConfig], list[Path]] = field(default=lambda c: [])  # partial work a fresh run removes


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


def checkpoint_or_error(c: DictConfig) -> Path:
    """The finished checkpoint of ``train.run_dir``, or a one-line error."""
    path = finished_checkpoint(c.train.run_dir)
    if path is None:
        raise SowcastError(f"no finished training run in {c.train.run_dir} (status.json)")
    return path


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


def _path(key: str) -> Callable[[DictConfig], Path]:
    return lambda c: Path(str(OmegaConf.select(c, key)))


_store, _bundle = _path("data.store"), _path("export.output")

TRACKING: dict[str, Tracking] = {
    "synthesise": Tracking(
        ("data.synth",), inputs=lambda c: {}, outputs=lambda c: [_path("data.synth.output")(c)],
        describe=lambda c: f"synthetic monsoon {c.data.synth.start} .. {c.data.synth.end} -> {c.data.synth.output}"),
    "ingest": Tracking(
        ("data.ingest", "data.store"), inputs=lambda c: {"raw": tree_identity(c.data.synth.output)},
        outputs=lambda c: [_store(c)], describe=lambda c: f"raw netCDF -> canonical store {c.data.store}"),
    "train": Tracking(
        ("data.store", "data.loader", "graph", "model", "train", "demo.nproc"),
        inputs=lambda c: {"store": tree_identity(_store(c))},
        outputs=lambda c: [Path(str(c.train.run_dir)) / "status.json", finished_checkpoint(c.train.run_dir)],
        describe=lambda c: (f"torchrun {c.demo.nproc} processes (gloo, CPU), model {c.model.name}, "
                            f"{c.train.max_steps} steps on {c.train.train_range[0]} .. {c.train.train_range[1]} "
                            f"-> {c.train.run_dir}")),
    "export": Tracking(
        ("export",), inputs=lambda c: {"checkpoint": tree_identity(c.export.checkpoint),
                                       "store": tree_identity(_store(c))},
        outputs=lambda c: [_bundle(c) / "manifest.json"],
        describe=lambda c: f"checkpoint -> ONNX bundle {c.export.output} (parity checked against torch)"),
    "hindcast": Tracking(
        ("hindcast",), inputs=lambda c: {"model": model_identity(_bundle(c)), "store": tree_identity(_store(c))},
        outputs=lambda c: [Path(str(c.hindcast.output)) / "climatology.nc", _bundle(c) / "climatology.nc"],
        scratch=lambda c: [Path(str(c.hindcast.output))],
        describe=lambda c: _hindcast_line(c, "model climatology from training years")),
    "calibrate": Tracking(
        ("calibrate",), inputs=lambda c: {"hindcast": tree_identity(c.calibrate.hindcast),
                                          "store": tree_identity(_store(c))},
        outputs=lambda c: [_path("calibrate.output")(c), _bundle(c) / "calibration.nc"],
        scratch=lambda c: [_path("calibrate.output")(c)],
        describe=lambda c: (f"calibration of terciles, daily rain and onset on the training-year hindcasts "
                            f"-> {c.calibrate.output}")),
    "forecast": Tracking(
        ("forecast",), inputs=lambda c: {"model": model_identity(_bundle(c)), "store": tree_identity(_store(c))},
        outputs=lambda c: [_path("forecast.output")(c)], scratch=_forecast_scratch,
        describe=lambda c: (f"{c.forecast.lead} ensemble of {c.forecast.members} members on onnxruntime from "
                            f"{c.forecast.init_time} -> {c.forecast.output}")),
    "products": Tracking(
        ("products",), inputs=lambda c: {"forecast": tree_identity(c.products.forecast),
                                         "bundle": tree_identity(_bundle(c)), "store": tree_identity(_store(c))},
        outputs=lambda c: [_path("products.output")(c) / "products.json"],
        describe=lambda c: (f"weekly terciles and planting outlook ({c.products.rules}) for "
                            f"{c.products.locations} -> {c.products.output}")),
    "reforecast": Tracking(
        ("hindcast",), inputs=lambda c: {"model": model_identity(_bundle(c)), "store": tree_identity(_store(c))},
        outputs=lambda c: [Path(str(c.hindcast.output)) / "hindcast.json"],
        scratch=lambda c: [Path(str(c.hindcast.output))],
        describe=lambda c: _hindcast_line(c, "reforecasts of held-out years")),
    "verify": Tracking(
        ("verify",), inputs=lambda c: {"reforecasts": tree_identity(c.verify.hindcast),
                                       "climatology": tree_identity(c.verify.climatology),
                                       "calibration": tree_identity(c.verify.calibration),
                                       "store": tree_identity(_store(c)),
                                       "model": model_identity(c.verify.bundle) if c.verify.bundle else None},
        outputs=lambda c: [_path("verify.output")(c) / "summary.json",
                           *([Path(str(c.verify.bundle)) / "scorecard.json"] if c.verify.bundle else [])],
        describe=lambda c: f"scorecard of the reforecasts against the synthetic truth -> {c.verify.output}"),
    "bulletin": Tracking(
        ("bulletin",), inputs=lambda c: {"products": tree_identity(c.bulletin.products),
                                         "scorecard": tree_identity(c.bulletin.scorecard)
                                         if c.bulletin.scorecard else None},
        outputs=lambda c: [_path("bulletin.output")(c) / "bulletin.json"],
        describe=lambda c: (f"bulletins ({', '.join(map(str, c.bulletin.languages))}: HTML, PDF, SMS) "
                            f"-> {c.bulletin.output}")),
}


def remove(paths: list[Path]) -> None:
    """Delete each of ``paths`` that is there (a folder with what it holds)."""
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
