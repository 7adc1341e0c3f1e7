"""The 6-h RMSE of a bundle on held-out days, beside persistence and hour-of-day climatology
(docs/real-data-guide.md: ERA5 2 m temperature over the UK, trained on 1-21 March 2019,
tested on 22-31 March).

Every 6-h step ``t -> t + 6 h`` whose start and target both lie in the test range is scored:

* model: one step of the bundle (onnxruntime, no torch) from the analyses at ``t - 6 h, t``;
* persistence: the analysis at ``t``;
* hour-of-day climatology: the mean over the training range of the analyses at the target's
  hour of day (00, 06, 12 or 18 UTC), per grid point.

RMSE per channel = ``sqrt(sum_k sum_ij w_i e_kij^2 / sum_k sum_ij w_i)`` over the targets
``k`` and the grid points with data (``w_i = cos(lat_i)``, WeatherBench 2's area weights;
points a channel mask marks without data are left out). Usage::

    .venv/bin/python benchmarks/real_data_guide.py --store era5-uk.zarr --bundle bundle \\
        [--train-range 2019-03-01 2019-03-21] [--test-range 2019-03-22 2019-03-31] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from sowcast.bundle.channel_masks import read_channel_masks
from sowcast.bundle.reader import load_bundle
from sowcast.data.store import open_store
from sowcast.data.time_ranges import inclusive_end
from sowcast.forecast.engine import Stepper, static_fields
from sowcast.forecast.ensemble import nonnegative_channels
from sowcast.forecast.initial_conditions import channel_specs, extract
from sowcast.forecast.session import StepModel


def rmse(pred: np.ndarray, truth: np.ndarray, weights: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Area-weighted RMSE per channel of ``[K, C, H, W]`` arrays (module doc)."""
    w = np.broadcast_to(weights[None, None, :, None], pred.shape).astype(np.float64)
    if valid is not None:
        w = w * valid[None]
    err = np.square(pred.astype(np.float64) - truth)
    return np.sqrt((w * err).sum(axis=(0, 2, 3)) / w.sum(axis=(0, 2, 3)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True, help="canonical store (sowcast data ingest)")
    p.add_argument("--bundle", required=True, help="bundle folder or .tar.gz (sowcast export)")
    p.add_argument("--train-range", nargs=2, default=["2019-03-01", "2019-03-21"], metavar=("START", "END"))
    p.add_argument("--test-range", nargs=2, default=["2019-03-22", "2019-03-31"], metavar=("START", "END"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    bundle = load_bundle(args.bundle)
    specs, step, t_in = channel_specs(bundle), pd.Timedelta(bundle.time_step), int(bundle.n_input_steps)
    ds = open_store(args.store, chunks=None)
    times = pd.DatetimeIndex(ds["time"].values)
    every = extract(ds, specs, bundle.grid, step, times[-1], len(times), args.store)  # [T, C, H, W], bundle order
    ds.close()
    states, times = every.states, pd.DatetimeIndex(every.times)

    def span(r: list[str]) -> np.ndarray:
        return (times >= pd.Timestamp(r[0])) & (times < inclusive_end(r[1], "range end"))

    train, test = span(args.train_range), span(args.test_range)
    starts = [i for i in np.flatnonzero(test) if i + 1 < len(times) and test[i + 1] and i + 1 >= t_in]
    if not starts:
        sys.exit(f"no 6-h step lies in the test range {args.test_range}")
    target = np.asarray(starts) + 1
    truth = states[target]                                                        # [K, C, H, W]

    stats = {k: np.asarray(v) for k, v in dict(bundle.statistics).items()}
    model = StepModel(bundle.model_path("fp32"), args.threads, 1, False)
    if model.noise_shape is not None:
        sys.exit("a stochastic bundle: this script scores deterministic models")
    stepper = Stepper(model, static_fields(bundle), bundle.grid, step, list(bundle.forcing_names),
                      nonnegative_channels(stats, len(specs)), batch=8)
    windows = np.stack([states[i - t_in + 1:i + 1] for i in starts])             # [K, T, C, H, W]
    forcings = np.stack([stepper.forcings(times.values[i - t_in + 1:i + 1]) for i in starts])
    predicted = stepper.run(windows, forcings, "the scored steps")
    persistence = states[starts]
    hours = times.hour
    climatology = np.stack([states[train & (hours == times[k].hour)].mean(axis=0) for k in target])

    weights = np.cos(np.deg2rad(np.asarray(bundle.grid.lat, np.float64)))
    valid = read_channel_masks(bundle.static_dataset, [s.name for s in specs], bundle.grid.shape)
    scores = {"model": rmse(predicted, truth, weights, valid),
              "persistence": rmse(persistence, truth, weights, valid),
              "hour-of-day climatology": rmse(climatology, truth, weights, valid)}
    units = {c["name"]: c.get("units", "") for c in bundle.manifest.get("channels", []) if isinstance(c, dict)}
    print(f"bundle {args.bundle}; store {args.store}; {len(starts)} steps of {step.total_seconds() / 3600:g} h scored, "
          f"{times[starts[0]]:%Y-%m-%d %H:%M} .. {times[target[-1]]:%Y-%m-%d %H:%M}; climatology from "
          f"{int(train.sum())} training states")
    for c, s in enumerate(specs):
        print(f"6-h RMSE of {s.name} ({units.get(s.name, '')}), area-weighted:")
        for name, value in scores.items():
            print(f"  {name:<24} {value[c]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
