"""``sowcast demo``: the whole chain on the embedded synthetic data.

    synthesise -> ingest -> train (torchrun, 2 processes) -> export -> hindcast (climatology)
    -> calibrate -> reforecasts -> verify (the scorecard, into the bundle) -> forecast
    -> products (carrying the scorecard) -> bulletin

The stages, what each runs and the option patches it applies (the sizes and paths of the
``demo:`` block, every output under ``demo.root``) are the table of
:mod:`sowcast.cli.demo.stages`. A stage runs only when its stamp (``demo.stamps``: the config it
ran with and the identity of what it read, :mod:`sowcast.cli.demo.steps`,
:mod:`sowcast.cli.demo.stamps`) no longer matches or its outputs are missing, so a second run
with nothing changed takes seconds, and a change redoes that stage and those after it that read
its output. ``demo.fresh=true`` redoes everything. A failing stage stops the chain with one line
``demo step '<name>' failed: <cause>``; the outputs of the stages before it stay.
"""
from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from sowcast.config_values import flag, whole
from sowcast.errors import SowcastError
from sowcast.log import get_logger

_LOG = get_logger("demo", prefix="[demo] ")


def _log(message: str) -> None:
    _LOG.info(message)  # "[demo] ...": tests/test_demo.py reads each step's state from these lines


def _recorded(tracking, c: DictConfig) -> dict:
    """What the stage's stamp holds: its config keys (resolved) and its inputs' identities."""
    config = {}
    for key in tracking.config:
        value = OmegaConf.select(c, key)
        config[key] = OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value
    return json.loads(json.dumps({"config": config, "inputs": tracking.inputs(c)}, default=str))


def _run_stage(stage, c: DictConfig) -> None:
    """The stage (:func:`sowcast.cli.demo.stages.call`), its stdout sent to stderr (the demo's
    stdout is its summary)."""
    from sowcast.cli.demo.stages import call

    c = c.copy()
    with open_dict(c):
        c.overwrite = True  # the stamp said the old output is stale
    with contextlib.redirect_stdout(sys.stderr):
        call(stage, c)


def run(cfg: DictConfig) -> int:
    """Run the demo chain on the embedded synthetic data: a synthetic West
    African monsoon -> canonical store -> 2-process torchrun training on CPU -> ONNX bundle ->
    model climatology from hindcasts -> reforecasts of held-out years and their scorecard
    (added to the bundle) -> 46-day ensemble forecast on onnxruntime -> planting products ->
    bulletins (en, fr) that state the skill.

        sowcast demo                                  (outputs under data/demo)
        sowcast demo demo.train.max_steps=600 model=tiny demo.root=/tmp/demo
        sowcast demo demo.fresh=true                  (redo every step)

    Sizes and paths are in the demo: block: demo.train, demo.hindcast, demo.reforecast,
    demo.forecast, ... hold keys of the command's own section, set over it; any other key of
    that section is overridden as usual (hindcast.perturbation.scale=2). Everything goes under
    demo.root. Safe to run twice: steps whose config and inputs have not changed are reused.
    Prints where each output is, the key skill figures and each stage's time.
    """
    from sowcast.cli.demo.plan import make_plan
    from sowcast.cli.demo.stages import STAGES, demo_config, patched
    from sowcast.cli.demo.stamps import read_stamp, write_stamp
    from sowcast.cli.demo.steps import TRACKING, finished_checkpoint, remove
    from sowcast.cli.demo.summary import summary_lines

    plan = make_plan(cfg)
    d = demo_config(cfg, plan)
    stamps = Path(str(d.demo.stamps))
    fresh = flag(d.demo.fresh, "demo.fresh")
    whole(d.demo.nproc, "demo.nproc", 1)  # the train stage's; refused before any stage runs
    records = []
    t_all = time.perf_counter()
    for i, stage in enumerate(STAGES, 1):
        tracking = TRACKING[stage.name]
        label = f"{i}/{len(STAGES)} {stage.name}"
        stamp_path = stamps / f"{stage.name}.json"
        try:
            c = patched(d, stage.own, plan)
            recorded = _recorded(tracking, c)
            outputs = tracking.outputs(c)
            stamp = read_stamp(stamp_path) or {}
            if not fresh and {k: stamp.get(k) for k in recorded} == recorded \
                    and all(p is not None and p.exists() for p in outputs):
                _log(f"{label}: up to date, reused (made in {stamp.get('seconds', 0):.1f} s)")
                records.append((stage.name, "reused", float(stamp.get("seconds", 0))))
                continue
            _log(f"{label}: {tracking.describe(c)}")
            t0 = time.perf_counter()
            stamp_path.unlink(missing_ok=True)
            if fresh:
                remove(tracking.scratch(c))
            _run_stage(stage, c)
        except SowcastError as exc:
            raise SowcastError(f"demo step '{stage.name}' failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a bug, not a user error: keep the traceback, end with the one line
            traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0]
            raise SowcastError(f"demo step '{stage.name}' failed: {type(exc).__name__}: {first}") from None
        seconds = time.perf_counter() - t0
        write_stamp(stamp_path, {**recorded, "seconds": round(seconds, 1)})
        _log(f"{label}: done in {seconds:.1f} s")
        records.append((stage.name, "done", seconds))
    lines = summary_lines(records, d, plan, finished_checkpoint(d.train.run_dir), time.perf_counter() - t_all)
    print("\n" + "\n".join(lines), flush=True)
    return 0
