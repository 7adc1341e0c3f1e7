"""``sowcast demo``: the whole chain on the embedded synthetic data.

Each step runs only when its output is missing or the config it was made with changed
(a stamp file per step in ``demo.stamps`` records that config); ``demo.fresh=true``
redoes everything. A failing step stops the chain with a one-line message naming it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from sowcast.atomic import atomic_write_text
from sowcast.errors import SowcastError


@dataclass(frozen=True)
class Step:
    name: str
    output: str  # config key of the output path
    config: tuple[str, ...]  # config keys whose values decide whether a rerun is needed
    run: Callable[[DictConfig], int]


def _steps() -> list[Step]:
    from sowcast.cli import data_commands

    return [
        Step("synthesise", "data.synth.output", ("data.synth",), data_commands.synth),
        Step("ingest", "data.store", ("data.ingest", "data.store", "data.synth"), data_commands.ingest),
    ]


def _select(cfg: DictConfig, key: str):
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def run(cfg: DictConfig) -> int:
    """Run the demo chain (for now: synthesise -> ingest) on the embedded synthetic data.

    Safe to run twice: finished steps whose config is unchanged are reused;
    demo.fresh=true starts clean. Outputs go under data/demo/.
    """
    stamps = Path(cfg.demo.stamps)
    fresh = bool(cfg.demo.fresh)
    summary = []
    t_all = time.perf_counter()
    for step in _steps():
        output = Path(OmegaConf.select(cfg, step.output))
        recorded = {key: _select(cfg, key) for key in step.config}
        stamp = stamps / f"{step.name}.json"
        if not fresh and output.exists() and stamp.exists() and json.loads(stamp.read_text()) == recorded:
            print(f"[demo] {step.name}: up to date ({output})", file=sys.stderr)
            summary.append((step.name, output, "reused", 0.0))
            continue
        print(f"[demo] {step.name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        step_cfg = cfg.copy()
        with open_dict(step_cfg):
            step_cfg.overwrite = True  # the stamp said the old output is stale
        try:
            step.run(step_cfg)
        except SowcastError as exc:
            raise SowcastError(f"demo step '{step.name}' failed: {exc}") from None
        stamps.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stamp, json.dumps(recorded, indent=1, sort_keys=True))
        summary.append((step.name, output, "done", time.perf_counter() - t0))
    print(f"\nsowcast demo finished in {time.perf_counter() - t_all:.1f} s", file=sys.stderr)
    for name, output, state, seconds in summary:
        print(f"  {name:<12} {state:<7} {seconds:7.1f} s  {output}")
    return 0
