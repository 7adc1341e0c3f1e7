"""Every benchmark in one run, and one table of what it measured.

Each benchmark script runs as a subprocess with quick settings (``--quick`` where the
script has it) and writes its headline figures with ``--json PATH``::

    {"benchmark": NAME, "figures": [{"figure": TEXT, "value": NUMBER or TEXT, "unit": TEXT}, ...],
     "details": {...}}

Two scripts have no ``--json``: the chain skill is read from the scorecard that
``synthetic_chain_skill.py`` leaves in its ``--work`` folder (scores.csv, summary.json), and
the service load check from the summary lines that ``serve_load.py`` prints. A benchmark
whose inputs are missing is skipped with the reason (the demo store: ``make demo``; the
Niger station sample: ``../shared/data/real``; a trained bundle for the chain skill:
``--bundle``, or a bundle folder under ``data/demo`` written by ``make demo``; the chain
skill scores the store's years after the bundle's training period). The table has
one row per figure: benchmark, figure, value, unit, and the command that reproduces it.
In a command, WORK stands for a new folder. The figures are measured once, on whatever
else the machine is doing: compare ratios within one run, not across runs.

    .venv/bin/python benchmarks/run_all.py                                # all (several minutes)
    .venv/bin/python benchmarks/run_all.py --only graph_build edge_forecast
    .venv/bin/python benchmarks/run_all.py --bundle bundles/small --json /tmp/benchmarks.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REAL = ROOT.parent / "shared" / "data" / "real"
COLUMNS = ("benchmark", "figure", "value", "unit", "command")


@dataclass(frozen=True)
class Options:
    store: Path
    bundle: Path | None
    timeout: float


@dataclass(frozen=True)
class Benchmark:
    """One script: its quick arguments, why it cannot run (None: it can), how to read its figures."""

    name: str
    args: Callable[[Options, Path], list[str]]   # (options, work folder) -> arguments after the script
    missing: Callable[[Options], str | None] = lambda o: None
    figures: Callable[[Path, Path], list[dict]] | None = None   # (work folder, log file) -> figures; None: --json

    @property
    def script(self) -> Path:
        return HERE / f"{self.name}.py"


# -- reading the two scripts without --json ---------------------------------------------------

SKILL_PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")


def chain_skill_figures(work: Path, log: Path) -> list[dict]:
    """Rain tercile RPSS by period and the onset MAE beside climatology, from the scorecard."""
    import pandas as pd

    scores = pd.read_csv(work / "scorecard" / "scores.csv")
    summary = json.loads((work / "scorecard" / "summary.json").read_text())
    rain = scores[(scores.variable == "total_precipitation") & (scores.metric == "rpss")].set_index("period")
    cases = f"{summary['starts']} starts x {summary['members']} members"
    out = [{"figure": f"rain tercile RPSS {p} ({cases})", "value": float(rain.loc[p, "value"]), "unit": "skill"}
           for p in SKILL_PERIODS if p in rain.index]
    onset = scores[(scores.period == "onset") & (scores.metric == "onset_mae_days")]
    if len(onset):
        row = onset.iloc[0]
        out.append({"figure": f"onset MAE ({summary['rules']}; climatology {row['reference']:.1f} d)",
                    "value": float(row["value"]), "unit": "days"})
    return out


_SERVE_TOTAL = re.compile(r"^(\d+) requests in ([\d.]+) s \((\d+) req/s\), concurrency (\d+)", re.MULTILINE)
_SERVE_OVERALL = re.compile(r"^overall\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", re.MULTILINE)


def serve_load_figures(work: Path, log: Path) -> list[dict]:
    """Requests per second, errors and client latency p50/p99 from serve_load.py's summary lines."""
    text = log.read_text()
    total, overall = _SERVE_TOTAL.search(text), _SERVE_OVERALL.search(text)
    if total is None or overall is None:
        raise ValueError("serve_load.py printed no summary (its output format changed?)")
    requests, errors = int(overall.group(1)), int(overall.group(2))
    while_job = f"concurrency {total.group(4)}, while a job runs"
    return [{"figure": f"requests served ({while_job})", "value": float(total.group(3)), "unit": "req/s"},
            {"figure": f"errors of {requests} requests", "value": errors, "unit": "requests"},
            {"figure": "client latency p50", "value": float(overall.group(3)), "unit": "ms"},
            {"figure": "client latency p99", "value": float(overall.group(5)), "unit": "ms"}]


# -- the benchmarks ----------------------------------------------------------------------------

def find_bundle() -> Path | None:
    """The newest bundle folder (one holding manifest.json) under data/demo, if any."""
    found = [p.parent for pattern in ("*/manifest.json", "*/*/manifest.json")
             for p in (ROOT / "data" / "demo").glob(pattern)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def held_out_years(o: Options) -> str | None:
    """'first,last': the store's years after the bundle's training period; None if there are none."""
    import pandas as pd
    import xarray as xr

    try:
        manifest = json.loads((o.bundle / "manifest.json").read_text())
        train_end = pd.Timestamp(manifest["provenance"]["train_range"][1]).year
        with xr.open_zarr(o.store, consolidated=False) as ds:
            last = pd.Timestamp(ds["time"].values[-1]).year
    except (OSError, KeyError, TypeError, IndexError, ValueError):
        return None
    return f"{train_end + 1},{last}" if last > train_end else None


def _no_store(o: Options) -> str | None:
    return None if o.store.exists() else f"no store at {_rel(o.store)}: run 'make demo' first or pass --store"


def _no_bundle(o: Options) -> str | None:
    if o.bundle is None:
        return "no trained bundle: pass --bundle (a 'sowcast export' folder of a model trained on the demo store)"
    if not (o.bundle / "manifest.json").is_file():
        return f"{_rel(o.bundle)} is not a bundle folder (no manifest.json)"
    if _no_store(o):
        return _no_store(o)
    if held_out_years(o) is None:
        return f"the store {_rel(o.store)} has no year after the training period of {_rel(o.bundle)}"
    return None


BENCHMARKS = [
    Benchmark("loader_throughput", lambda o, w: ["--quick"]),
    Benchmark("train_throughput", lambda o, w: ["--quick", "--store", str(o.store)], _no_store),
    Benchmark("edge_forecast", lambda o, w: ["--quick"]),
    Benchmark("graph_build", lambda o, w: []),
    Benchmark("synth_onset_statistics", lambda o, w: []),
    Benchmark("niger_onset_table", lambda o, w: [],
              lambda o: None if (REAL / "daily_niger.csv").is_file() else f"no {_rel(REAL / 'daily_niger.csv')}"),
    Benchmark("serve_load", lambda o, w: ["--requests", "500", "--max-seconds", "30"],
              lambda o: None if (ROOT / "tests" / "chain_helpers.py").is_file() else "no tests/ (a source checkout)",
              serve_load_figures),
    Benchmark("synthetic_chain_skill",
              lambda o, w: ["--bundle", str(o.bundle or "BUNDLE"), "--store", str(o.store),
                            "--work", str(w / "chain"), "--test-years", held_out_years(o) or "FIRST,LAST",
                            "--first", "05-01", "--last", "06-26", "--train-members", "2", "--test-members", "4"],
              _no_bundle, lambda w, log: chain_skill_figures(w / "chain", log)),
]
NAMES = [b.name for b in BENCHMARKS]


# -- running and the table ---------------------------------------------------------------------

def _rel(path: Path | str) -> str:
    """A path as the user would type it: relative to the repository root where it lies inside."""
    try:
        inside = Path(os.path.abspath(path)).is_relative_to(ROOT)
        return os.path.relpath(path, ROOT) if inside else str(path)
    except ValueError:
        return str(path)


def display_command(script: Path, args: list[str], work: Path) -> str:
    """The command line that reproduces a row (temporary paths shown as a placeholder)."""
    shown = [_rel(a) if a.startswith(f"{ROOT}{os.sep}") else a.replace(str(work), "WORK") for a in args]
    return shlex.join([_rel(sys.executable), _rel(script), *shown])


def format_value(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "nan"
    size = abs(value)
    return f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"


def rows_from_figures(name: str, figures: list[dict], command: str) -> list[dict]:
    """Table rows of one benchmark's figures ({"figure", "value", "unit"} each)."""
    return [{"benchmark": name, "figure": str(f["figure"]), "value": format_value(f["value"]),
             "unit": str(f.get("unit", "")), "command": command} for f in figures]


def rows_from_json(path: Path, command: str) -> list[dict]:
    """Table rows of a benchmark's --json file."""
    data = json.loads(Path(path).read_text())
    return rows_from_figures(data["benchmark"], data["figures"], command)


def status_row(name: str, status: str, reason: str, command: str) -> dict:
    """The row of a benchmark that was skipped or failed."""
    return {"benchmark": name, "figure": status, "value": reason, "unit": "", "command": command}


def table(rows: list[dict]) -> str:
    """A markdown table of the rows, columns padded to line up in a terminal."""
    cells = [list(COLUMNS)] + [[str(r[c]).replace("|", "/") for c in COLUMNS] for r in rows]
    width = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(v.ljust(w) for v, w in zip(line, width)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in width) + "|")
    return "\n".join(lines)


def _last_line(log: Path) -> str:
    lines = [x.strip() for x in log.read_text(errors="replace").splitlines() if x.strip()]
    return lines[-1][:200] if lines else "no output"


def run_one(bench: Benchmark, options: Options, work: Path) -> tuple[list[dict], bool]:
    """Run one benchmark; its rows and whether it failed. Its output goes to WORK/<name>.log."""
    args = bench.args(options, work)
    command = display_command(bench.script, args, work)
    reason = bench.missing(options)
    if reason:
        return [status_row(bench.name, "skipped", reason, command)], False
    out = work / f"{bench.name}.json"
    log = work / f"{bench.name}.log"
    full = [sys.executable, str(bench.script), *args] + (["--json", str(out)] if bench.figures is None else [])
    print(f"[run_all] {bench.name}: {command}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(full, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=options.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the benchmark and the processes it started
            proc.wait()
            rc = None
    took = time.perf_counter() - t0
    print(f"[run_all] {bench.name}: {'timed out' if rc is None else f'exit {rc}'} after {took:.0f} s",
          file=sys.stderr, flush=True)
    if rc is None:
        return [status_row(bench.name, "failed", f"timed out after {options.timeout:.0f} s", command)], True
    if rc != 0:
        return [status_row(bench.name, "failed", f"exit {rc}: {_last_line(log)}", command)], True
    try:
        if bench.figures is None:
            return rows_from_json(out, command), False
        return rows_from_figures(bench.name, bench.figures(work, log), command), False
    except (OSError, ValueError, KeyError) as exc:
        return [status_row(bench.name, "failed", f"no figures: {exc}", command)], True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME",
                   help=f"run only these ({', '.join(NAMES)})")
    p.add_argument("--store", type=Path, default=ROOT / "data" / "demo" / "demo.zarr",
                   help="the demo store (train_throughput, synthetic_chain_skill)")
    p.add_argument("--bundle", type=Path, default=None,
                   help="a trained bundle folder for synthetic_chain_skill (default: the newest under data/demo)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()

    options = Options(store=args.store.resolve(), timeout=args.timeout,
                      bundle=args.bundle.resolve() if args.bundle else find_bundle())
    work = Path(tempfile.mkdtemp(prefix="sowcast-run-all-"))
    rows, failed = [], False
    t0 = time.perf_counter()
    for bench in BENCHMARKS:
        if args.only and bench.name not in args.only:
            continue
        bench_rows, bench_failed = run_one(bench, options, work)
        rows += bench_rows
        failed |= bench_failed
    print(f"\nall benchmarks in {time.perf_counter() - t0:.0f} s, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end\n")
    print(table(rows))
    if args.json:
        from sowcast.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=1))
    if failed:
        print(f"\nlogs of the failed benchmarks: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
