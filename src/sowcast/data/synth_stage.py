"""The synthesis stage, ``sowcast data synth``'s entry: the synthetic West African monsoon
(:mod:`sowcast.data.synthetic_monsoon`) on the grid and days of :class:`SynthOptions`, written as
raw yearly netCDF files (:func:`sowcast.data.synthetic_monsoon.write_raw`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sowcast.data.grid import Grid
from sowcast.data.synth_options import GROUP, SynthOptions


@dataclass(frozen=True)
class SynthResult:
    """The folder written and its yearly files."""

    output: Path
    files: list[Path]

    def summary(self) -> str:
        return f"wrote {len(self.files)} yearly files to {self.output}"


def run(options: SynthOptions, *, overwrite: bool = False, progress: bool = True) -> SynthResult:
    """Write the years ``options.start`` .. ``options.end`` into ``options.output`` (as a whole
    folder, atomically; an existing one only with ``overwrite``). Deterministic from ``options.seed``."""
    from sowcast.data.synthetic_monsoon import write_raw

    grid = Grid.from_config(options.grid, f"{GROUP}.grid")
    files = write_raw(options.output, grid, options.start, options.end, seed=options.seed,
                      overwrite=overwrite, progress=progress)
    return SynthResult(options.output, files)
