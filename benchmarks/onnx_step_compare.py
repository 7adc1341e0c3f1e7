"""Two or more ONNX step models with the same inputs, timed in one run: an old export against
a new one (same weights or not: the cost does not depend on them).

For each thread count and batch, every model runs in turn on the same random float32
inputs (shapes from the first model, dynamic dim = the batch), ``--repeats`` rounds, in the
forecast's onnxruntime session (:func:`sowcast.forecast.session.make_session`: sequential,
idle spinning off); prints the best and the median wall milliseconds, the best CPU
milliseconds of the process (``time.process_time``: what a loaded machine's other processes
do not add to, as long as the cores are shared fairly) and the ratios of both to the first
model (> 1: faster than it). Then the op counts of each model's onnxruntime-optimised graph
(``SessionOptions.optimized_model_filepath``, ``ORT_ENABLE_ALL``). Ratios are taken within
one run so that they hold on a busy machine; absolute times do not. Usage::

    .venv/bin/python benchmarks/onnx_step_compare.py data/demo/bundle/small/model.onnx NEW/model.onnx \\
        [--batches 1 4 16] [--thread-counts 1 2] [--repeats 20]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np


def optimised_op_counts(path: Path) -> collections.Counter:
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.optimized_model_filepath = str(Path(tmp) / "optimised.onnx")
        so.log_severity_level = 3
        ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    p.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()

    from sowcast.forecast.session import make_session

    rng = np.random.default_rng(0)
    names = [m.parent.name + "/" + m.name for m in args.models]
    print(f"{'threads':>7} {'batch':>5}  " + "  ".join(f"{n[-40:]:>40}" for n in names)
          + "   (wall best / median ms; CPU best ms; ratios of best wall, best CPU to the first)")
    for threads in args.thread_counts:
        sessions = [make_session(m, threads=threads) for m in args.models]
        for batch in args.batches:
            feeds = {i.name: rng.standard_normal([batch if not isinstance(d, int) else d for d in i.shape],
                                                 dtype=np.float32) for i in sessions[0].get_inputs()}
            times, cpu = [[] for _ in sessions], [[] for _ in sessions]
            for s in sessions:
                s.run(None, feeds)
            for _ in range(args.repeats):
                for k, s in enumerate(sessions):
                    t0, c0 = time.perf_counter(), time.process_time()
                    s.run(None, feeds)
                    cpu[k].append(1000.0 * (time.process_time() - c0))
                    times[k].append(1000.0 * (time.perf_counter() - t0))
            best, median, best_cpu = [min(t) for t in times], [float(np.median(t)) for t in times], [min(c) for c in cpu]
            cells = [f"{b:7.1f} / {m:7.1f}; {c:7.1f}; {best[0] / b:4.2f}x {best_cpu[0] / c:4.2f}x"
                     for b, m, c in zip(best, median, best_cpu)]
            print(f"{threads:>7} {batch:>5}  " + "  ".join(f"{c:>40}" for c in cells))
    for name, model in zip(names, args.models):
        counts = optimised_op_counts(model)
        print(f"{name}: {sum(counts.values())} nodes after optimisation: "
              + ", ".join(f"{op} {n}" for op, n in counts.most_common()))


if __name__ == "__main__":
    main()
