"""The hindcast stage, ``sowcast hindcast``'s entry: the hindcasts
(:func:`sowcast.forecast.hindcast.run_hindcast`), then, unless the run is one shard of several
or ``hindcast.climatology.build=false``, the model climatology built from them
(:func:`sowcast.products.hindcast_climatology.build_hindcast_climatology`).

It sits in ``products``, beside the climatology it builds, because the layers of the package
(.importlinter) put the model runs (``forecast``) below the products' reductions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sowcast.forecast.hindcast import HindcastResult, run_hindcast
from sowcast.forecast.hindcast_options import HindcastOptions
from sowcast.products.hindcast_climatology import HindcastClimatology, build_hindcast_climatology


@dataclass(frozen=True)
class HindcastStageResult:
    """The hindcasts, and the climatology when one was built (None: a shard, or not asked for)."""

    options: HindcastOptions
    hindcasts: HindcastResult
    climatology: HindcastClimatology | None

    def summary(self) -> list[str]:
        """What ``sowcast hindcast`` prints: the starts (and the speed of those computed now),
        where the climatology is, and the model's drift it shows."""
        h = self.hindcasts
        if self.options.merge:
            lines = [f"hindcasts in {h.output}: {len(h.starts)} starts, merged from the shards"]
        else:
            rate = h.member_days_per_cpu_second
            speed = f", {rate:.3g} member-days per CPU-second" if not math.isnan(rate) else ""
            lines = [f"hindcasts in {h.output}: {len(h.starts)} starts "
                     f"({h.computed} computed now in {h.seconds:.1f} s{speed})"]
        if self.climatology is not None:
            lines.append(f"model climatology: {self.climatology.path}")
            lines += self.climatology.drift
        return lines

    def notes(self) -> list[str]:
        """What it logs after: what to run when every shard is done; what became of the bundle."""
        shard = self.options.shard
        if shard is not None:
            return [f"shard {shard[0]}/{shard[1]} done; when all {shard[1]} are, "
                    f"run the same command with hindcast.merge=true instead of hindcast.shard"]
        if self.climatology is not None and self.climatology.bundle_note is not None:
            return [self.climatology.bundle_note]
        return []


def run(options: HindcastOptions, *, overwrite: bool = False, progress: bool = False) -> HindcastStageResult:
    """Run (or go on with, or merge) the hindcasts ``options`` describe, then build their
    climatology (module doc)."""
    hindcasts = run_hindcast(options, overwrite=overwrite, progress=progress)
    climatology = None
    if options.shard is None and options.climatology.build:
        climatology = build_hindcast_climatology(options)
    return HindcastStageResult(options, hindcasts, climatology)
