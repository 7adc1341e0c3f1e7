"""Tune the initial perturbations (``hindcast.perturbation``) on the TRAINING years only.

For each candidate setting, runs ``sowcast hindcast`` from the demo's bundle and store over
training years (default 2005-2008, starts 04-17 to 07-31 every 14 days, 4 members, 46 days)
and scores the weekly periods with the same code as ``sowcast verify``
(:func:`sowcast.verify.reforecasts.verify_reforecasts`: fair RPSS of terciles against the
climatological category frequencies, rain outside the dry season; spread / error; CRPS of the
period totals or means (lower is better) and the anomaly correlation of the ensemble mean,
which tercile RPSS alone can hide: wider members score better RPSS even as they lose
information; the bias of the ensemble mean).
Each candidate's terciles are counted in its own model climatology, built from its own
hindcasts (``hindcast.climatology.build=true``, not added to the bundle), as the demo builds
the climatology with the settings it forecasts with: a candidate that shifts the members'
distribution, scored against another setting's climatology, would be judged on the shift. The
held-out years are never touched here: they are for ``sowcast verify`` after the choice.

A candidate is ``SCALE`` or ``SCALE:VARIABLE=SCALE,...`` (``variable_scale`` entries;
``VARIABLE*=SIGMA`` for a ``relative_scale`` entry, a log-normal factor), with
``@NOISE_SCALE`` for a stochastic model's ``hindcast.noise_scale`` and ``~DAYS`` after it for its
``hindcast.noise_memory_days`` (the defaults when left out), e.g.

    .venv/bin/python benchmarks/perturbation_tuning.py --root /tmp/demo \\
        0.5 1 0.5:total_precipitation=2 0.5:total_precipitation=4
    .venv/bin/python benchmarks/perturbation_tuning.py --root /tmp/demo \\
        0.5:total_precipitation=8@1 0.5:total_precipitation=8@1.15 0.5:total_precipitation=8@1.3
    .venv/bin/python benchmarks/perturbation_tuning.py --root /tmp/demo \\
        0.5:total_precipitation=8@1.3~0 0.5:total_precipitation=8@1.3~2 0.5:total_precipitation=8@1~4
    .venv/bin/python benchmarks/perturbation_tuning.py --root /tmp/demo \\
        0.5:total_precipitation*=0.5 0.5:total_precipitation*=1

The bundle's training years must not include the years scored: the script refuses a
``--years`` range outside the bundle's training period, so that no held-out year is used.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PERIODS = ("week1", "week2", "weeks3-4", "weeks5-6")
VARIABLES = ("total_precipitation", "2m_temperature")


def overrides(candidate: str) -> list[str]:
    """``hindcast.perturbation`` (and ``noise_scale``) overrides of one candidate
    (``SCALE[:VAR=S,VAR*=SIGMA,...][@NOISE_SCALE][~NOISE_MEMORY_DAYS]``)."""
    candidate, at, noise = candidate.partition("@")
    noise_scale, tilde, memory = noise.partition("~")
    scale, _, rest = candidate.partition(":")
    out = [f"hindcast.perturbation.scale={float(scale)}"]
    if at and noise_scale:
        out.append(f"hindcast.noise_scale={float(noise_scale)}")
    if tilde:
        out.append(f"hindcast.noise_memory_days={float(memory)}")
    items = [item.partition("=") for item in filter(None, rest.split(","))]
    for key, chosen in (("variable_scale", [(n, v) for n, _, v in items if not n.endswith("*")]),
                        ("relative_scale", [(n[:-1], v) for n, _, v in items if n.endswith("*")])):
        if chosen:  # one merged dict: a dotted key cannot start with a digit (2m_temperature)
            out.append(f"++hindcast.perturbation.{key}={{"
                       + ",".join(f"{name}:{float(value)}" for name, value in chosen) + "}")
    return out


def training_years(bundle: Path) -> tuple[int, int]:
    from sowcast.bundle.reader import load_bundle
    from sowcast.forecast.hindcast import bundle_training_years

    return bundle_training_years(load_bundle(bundle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+")
    parser.add_argument("--root", required=True, help="a 'sowcast demo' root (bundle/small, demo.zarr)")
    parser.add_argument("--years", default="2005,2008")
    parser.add_argument("--first", default="04-17")
    parser.add_argument("--last", default="07-31")
    parser.add_argument("--every-days", type=int, default=14)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="a new folder to keep each candidate's hindcasts in (c0, c1, ...; with "
                        "daily series, for benchmarks/onset_mechanics.py and rain_occurrence.py)")
    args = parser.parse_args()
    if args.keep is not None and args.keep.exists():
        print(f"--keep {args.keep} exists: give a new folder", file=sys.stderr)
        return 2

    import xarray as xr

    from sowcast.forecast.hindcast import open_hindcast
    from sowcast.products.climatology import read_climatology
    from sowcast.products.daily import store_daily
    from sowcast.verify.reforecasts import verify_reforecasts

    root = Path(args.root)
    bundle, store = root / "bundle" / "small", root / "demo.zarr"
    first_year, last_year = (int(y) for y in args.years.split(","))
    train_first, train_last = training_years(bundle)
    if first_year < train_first or last_year > train_last:
        print(f"--years {first_year}-{last_year} is outside the bundle's training years "
              f"{train_first}-{train_last}: tuning must not see held-out years", file=sys.stderr)
        return 2
    truth = store_daily(xr.open_zarr(store, consolidated=False)[list(VARIABLES)]).load()
    print(f"training years {first_year}-{last_year}, starts {args.first}..{args.last} every {args.every_days} d, "
          f"{args.members} members; columns: {' / '.join(PERIODS)}")
    with tempfile.TemporaryDirectory(prefix="pert_tuning_") as tmp:
        for k, candidate in enumerate(args.candidates):
            out = (args.keep if args.keep is not None else Path(tmp)) / f"c{k}"
            cmd = [sys.executable, "-m", "sowcast", "hindcast", f"hindcast.bundle={bundle}", f"hindcast.store={store}",
                   f"hindcast.years=[{first_year},{last_year}]", f"hindcast.first={args.first}",
                   f"hindcast.last={args.last}", f"hindcast.every_days={args.every_days}",
                   f"hindcast.members={args.members}", "hindcast.climatology.build=true",
                   "hindcast.climatology.add_to_bundle=false",
                   f"hindcast.output={out}", f"hindcast.keep_daily={args.keep is not None}", *overrides(candidate)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"{candidate}: hindcast failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 1
            climatology = read_climatology(out / "climatology.nc", load=True)
            card, _ = verify_reforecasts(open_hindcast(out, "periods").load(), truth, climatology, list(VARIABLES))
            frame = card.to_frame()
            for variable in VARIABLES:
                cells = []
                for metric in ("spread_skill", "rpss", "crps", "acc", "bias"):
                    rows = frame[(frame.metric == metric) & (frame.variable == variable)].set_index("period")
                    cells.append(f"{metric} " + " ".join(f"{float(rows.loc[p, 'value']):+.3f}" for p in PERIODS))
                print(f"{candidate:<36} {variable:<20} {' | '.join(cells)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
