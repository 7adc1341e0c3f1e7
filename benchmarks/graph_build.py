"""Graph build time and shape: the global level-6 multimesh on a 1-degree grid, and the
demo regional grid at levels 4-6.

For each case prints the time of each stage (mesh nodes and multimesh edges with their
features, grid->mesh, mesh->grid, padded incoming tables) and the total, then node and
edge counts and, per edge set, the largest in-degree K, the padding fraction of the
``[N, K]`` table (``1 - E / (N K)``), the 99th percentile of the in-degree, the receivers
with no incoming edge, and the model's aggregation layout (:mod:`sowcast.graph.receiver_groups`):
the distinct in-degrees and the ReduceSum calls of one sum per in-degree and of binary
chunks. No cache is used. ``--json PATH`` also writes the total build time
of each case for ``benchmarks/run_all.py``. Usage::

    .venv/bin/python benchmarks/graph_build.py [--global-level 6] [--global-res 1.0]
        [--regional-levels 4 5 6] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sowcast.atomic import atomic_write_text
from sowcast.data.grid import Grid
from sowcast.graph.build import build_graph, graph_summary
from sowcast.graph.forecast_graph import ForecastGraph
from sowcast.graph.receiver_groups import chunked_groups, receiver_groups, reduce_calls

DEMO_BOUNDS = {"lat_min": -2, "lat_max": 24, "lon_min": -20, "lon_max": 16}


def report(title: str, graph: ForecastGraph) -> dict:
    """Print the case; return its figure (total build seconds) for --json."""
    s = graph_summary(graph)
    t = graph.settings["build_seconds"]
    print(f"== {title}: {s['kind']} mesh level {s['mesh_level']}, "
          f"{s['n_grid']} grid nodes, {s['n_mesh']} mesh nodes")
    print("   seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    for name in ("grid2mesh", "mesh", "mesh2grid"):
        e = s[name]
        deg = getattr(graph, name).incoming_mask.sum(axis=1)
        edges = getattr(graph, name)
        simple = receiver_groups(edges.receivers, len(edges.incoming))
        _, chunks, by_count = chunked_groups(edges.receivers, len(edges.incoming))
        print(f"   {name:9s} edges {e['edges']:7d}  K {e['K']:4d}  padding {e['padding']:.3f}  "
              f"in-degree mean {e['mean_in_degree']:.2f} p99 {np.percentile(deg, 99):.0f}  "
              f"receivers without edges {e['receivers_without_edges']}  "
              f"distinct in-degrees {e['distinct_in_degrees']}: ReduceSum calls {reduce_calls(simple)} by degree, "
              f"{reduce_calls(chunks) + reduce_calls(by_count)} in binary chunks")
    extra = {k: graph.settings[k] for k in ("grid2mesh_radius_deg", "mesh2grid_points_outside_faces",
                                            "mesh_components") if k in graph.settings}
    print("   " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()))
    return {"figure": f"build {title}, mesh level {s['mesh_level']} ({s['n_mesh']} mesh nodes)",
            "value": t["total"], "unit": "s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--global-level", type=int, default=6)
    parser.add_argument("--global-res", type=float, default=1.0)
    parser.add_argument("--regional-levels", type=int, nargs="*", default=[4, 5, 6])
    parser.add_argument("--json", type=Path, help="also write the build times here (for benchmarks/run_all.py)")
    args = parser.parse_args()

    grid = Grid.global_grid(args.global_res)
    figures = [report(f"global {args.global_res:g} deg {grid.shape[0]}x{grid.shape[1]}",
                      build_graph(grid, args.global_level))]
    demo = Grid.from_bounds(**DEMO_BOUNDS, resolution=1.0)
    for level in args.regional_levels:
        figures.append(report(f"demo regional 1 deg {demo.shape[0]}x{demo.shape[1]}", build_graph(demo, level)))
    if args.json:
        atomic_write_text(args.json, json.dumps({"benchmark": "graph_build", "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
