"""Build the :class:`ForecastGraph` for a grid and a mesh level, with an on-disk cache.

* **Global** grids (longitudes wrap around and latitudes reach both poles, cell edges
  included) get the icosahedral multimesh of levels ``0..mesh_level``
  (:mod:`sowcast.graph.icosahedral_mesh`); any other grid gets the same multimesh clipped to
  the grid's domain plus ``regional_halo_deg`` (:mod:`sowcast.graph.regional_mesh`).
* Grid<->mesh edges come from :mod:`sowcast.graph.grid_mesh_connectivity`, features from
  :mod:`sowcast.graph.geometry`, and each edge set's padded incoming table from
  :meth:`EdgeSet.from_edges`. Edges of every set are ordered by (receiver, sender), so each
  receiver's row of the table is a contiguous run of edge ids.
* Settings are the ``conf/graph`` keys: ``grid2mesh_radius_factor`` (GraphCast 0.6),
  ``mesh2grid`` (``triangle`` | ``knn``), ``mesh2grid_k``, ``regional_halo_deg``.
* Cache: ``<cache_dir>/graph-<key>.npz`` with ``key`` the first 16 hex digits of the sha256
  of the grid's lat/lon arrays, the mesh level, the settings, :data:`GRAPH_FORMAT` and
  :data:`BUILDER_VERSION` (raise it when the construction changes). Written atomically; a
  file that cannot be read or does not match is rebuilt with a warning, never trusted.

Sizes (global multimesh): level ``r`` has ``10 * 4**r + 2`` nodes and
``2 * sum_{l<=r} 30 * 4**l`` directed mesh edges; the finest edge is about
``1.18 * 2**(6 - r)`` degrees (level 6: 40 962 nodes, 327 660 edges).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.graph import geometry
from sowcast.graph.forecast_graph import GRAPH_FORMAT, EdgeSet, ForecastGraph
from sowcast.graph.grid_mesh_connectivity import (grid2mesh_edges, mesh2grid_knn_edges,
                                                  mesh2grid_triangle_edges)
from sowcast.graph.icosahedral_mesh import MAX_LEVEL, Multimesh, global_multimesh
from sowcast.graph.regional_mesh import n_connected_components, regional_multimesh

BUILDER_VERSION = 2  # 2: regional halo at least one finest mesh edge
DEFAULT_SETTINGS: dict[str, Any] = {
    "grid2mesh_radius_factor": 0.6,
    "mesh2grid": "triangle",
    "mesh2grid_k": 3,
    "regional_halo_deg": 3.0,
}
MESH2GRID_METHODS = ("triangle", "knn")
_IGNORED_KEYS = ("cache_dir",)  # conf/graph keys that are not part of the graph itself


def normalize_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults updated by ``settings``, checked and typed (``cache_dir`` is ignored)."""
    given = {k: v for k, v in dict(settings or {}).items() if k not in _IGNORED_KEYS}
    unknown = sorted(set(given) - set(DEFAULT_SETTINGS))
    if unknown:
        raise SowcastError(f"unknown graph setting(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_SETTINGS)}")
    s = {**DEFAULT_SETTINGS, **given}
    try:
        out = {
            "grid2mesh_radius_factor": float(s["grid2mesh_radius_factor"]),
            "mesh2grid": str(s["mesh2grid"]),
            "mesh2grid_k": int(s["mesh2grid_k"]),
            "regional_halo_deg": float(s["regional_halo_deg"]),
        }
    except (TypeError, ValueError) as exc:
        raise SowcastError(f"bad graph setting: {exc}") from None
    if not out["grid2mesh_radius_factor"] > 0:
        raise SowcastError(f"grid2mesh_radius_factor must be positive, not {out['grid2mesh_radius_factor']}")
    if out["mesh2grid"] not in MESH2GRID_METHODS:
        raise SowcastError(f"mesh2grid must be one of {', '.join(MESH2GRID_METHODS)}, not {out['mesh2grid']!r}")
    if out["mesh2grid_k"] < 1:
        raise SowcastError(f"mesh2grid_k must be at least 1, not {out['mesh2grid_k']}")
    if not out["regional_halo_deg"] >= 0:
        raise SowcastError(f"regional_halo_deg must be >= 0, not {out['regional_halo_deg']}")
    return out


def _check_level(mesh_level: Any) -> int:
    if isinstance(mesh_level, bool) or not isinstance(mesh_level, (int, np.integer)) \
            or not 0 <= mesh_level <= MAX_LEVEL:
        raise SowcastError(f"mesh_level must be an integer from 0 to {MAX_LEVEL}, not {mesh_level!r}")
    return int(mesh_level)


def is_global_grid(grid: Grid) -> bool:
    """True when longitudes wrap and the cells reach both poles (``lat -90..90`` or
    cell centres half a spacing from the poles)."""
    if not grid.is_global or len(grid.lat) < 2:
        return False
    half = abs(grid.resolution) / 2.0
    return bool(grid.lat.min() - half <= -90.0 + 1e-6 and grid.lat.max() + half >= 90.0 - 1e-6)


def graph_cache_key(grid: Grid, mesh_level: int, settings: Mapping[str, Any] | None = None) -> str:
    """16 hex digits of the sha256 of everything the graph is built from."""
    s = normalize_settings(settings)
    h = hashlib.sha256()
    h.update(json.dumps({"format": GRAPH_FORMAT, "builder": BUILDER_VERSION,
                         "mesh_level": int(mesh_level), "settings": s}, sort_keys=True).encode())
    for arr in (grid.lat, grid.lon):
        a = np.ascontiguousarray(arr, np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _sorted_by_receiver(senders: np.ndarray, receivers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((senders, receivers))
    return senders[order], receivers[order]


def _edge_arrays(senders: np.ndarray, receivers: np.ndarray, sender_xyz: np.ndarray,
                 receiver_xyz: np.ndarray, receiver_lat: np.ndarray,
                 receiver_lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    senders, receivers = _sorted_by_receiver(senders, receivers)
    features = geometry.edge_features(sender_xyz[senders], receiver_xyz[receivers],
                                      receiver_lat[receivers], receiver_lon[receivers])
    return senders, receivers, features


def _multimesh(grid: Grid, level: int, s: dict[str, Any], info: dict[str, Any]) -> tuple[str, Multimesh]:
    """("global", the global multimesh) for a grid covering the sphere, else ("regional", the
    multimesh of the grid's domain plus ``regional_halo_deg``), its domain and number of
    connected pieces put in ``info`` (more than one is warned)."""
    if is_global_grid(grid):
        return "global", global_multimesh(level)
    if grid.is_global:
        lon_min, lon_max = -180.0, 180.0
    else:
        lon_min, lon_max = float(grid.lon.min()), float(grid.lon.max())
    domain = {"lat_min": float(grid.lat.min()), "lat_max": float(grid.lat.max()),
              "lon_min": lon_min, "lon_max": lon_max}
    mesh = regional_multimesh(level, **domain, halo_deg=s["regional_halo_deg"])
    info["domain"] = domain
    components = n_connected_components(mesh)
    info["mesh_components"] = components
    if components > 1:
        warnings.warn(f"the level-{level} regional mesh falls apart into {components} pieces; "
                      "raise regional_halo_deg or mesh_level", RuntimeWarning, stacklevel=4)
    return "regional", mesh


def _mesh2grid_edges(grid_xyz: np.ndarray, mesh: Multimesh, tree: cKDTree, s: dict[str, Any],
                     info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(senders, receivers) of the mesh -> grid edges: the three vertices of the mesh face
    holding each grid point (``mesh2grid: triangle``; the points outside every face, which fall
    back to their nearest vertices, counted in ``info``) or the ``mesh2grid_k`` nearest vertices."""
    if s["mesh2grid"] == "triangle":
        d_send, d_recv, n_fallback = mesh2grid_triangle_edges(grid_xyz, mesh.vertices, mesh.faces, mesh_tree=tree)
        info["mesh2grid_points_outside_faces"] = n_fallback
        return d_send, d_recv
    return mesh2grid_knn_edges(grid_xyz, mesh.vertices, s["mesh2grid_k"], mesh_tree=tree)


def _build(grid: Grid, level: int, s: dict[str, Any], key: str, progress: bool) -> ForecastGraph:
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    times: dict[str, float] = {}
    bar = tqdm(total=4, desc="graph", unit="stage", disable=not progress, leave=False)

    grid_lat = np.repeat(np.asarray(grid.lat, np.float64), len(grid.lon))
    grid_lon = np.tile(np.asarray(grid.lon, np.float64), len(grid.lat))
    grid_xyz = geometry.lat_lon_to_xyz(grid_lat, grid_lon)
    info: dict[str, Any] = {}

    # 1. mesh nodes and multimesh edges
    bar.set_postfix_str("mesh")
    t = time.perf_counter()
    kind, mesh = _multimesh(grid, level, s, info)
    mesh_xyz = mesh.vertices
    mesh_lat, mesh_lon = geometry.xyz_to_lat_lon(mesh_xyz)
    m_send, m_recv, m_feat = _edge_arrays(mesh.senders, mesh.receivers, mesh_xyz, mesh_xyz, mesh_lat, mesh_lon)
    times["mesh"] = time.perf_counter() - t
    bar.update()

    # 2. grid -> mesh
    bar.set_postfix_str("grid2mesh")
    t = time.perf_counter()
    tree = cKDTree(mesh_xyz)
    radius = s["grid2mesh_radius_factor"] * mesh.finest_max_edge
    g_send, g_recv = grid2mesh_edges(grid_xyz, mesh_xyz, radius, mesh_tree=tree)
    g_send, g_recv, g_feat = _edge_arrays(g_send, g_recv, grid_xyz, mesh_xyz, mesh_lat, mesh_lon)
    info["grid2mesh_radius_deg"] = float(geometry.chord_to_degrees(radius))
    times["grid2mesh"] = time.perf_counter() - t
    bar.update()

    # 3. mesh -> grid
    bar.set_postfix_str("mesh2grid")
    t = time.perf_counter()
    d_send, d_recv = _mesh2grid_edges(grid_xyz, mesh, tree, s, info)
    d_send, d_recv, d_feat = _edge_arrays(d_send, d_recv, mesh_xyz, grid_xyz, grid_lat, grid_lon)
    times["mesh2grid"] = time.perf_counter() - t
    bar.update()

    # 4. padded incoming tables
    bar.set_postfix_str("tables")
    t = time.perf_counter()
    n_grid, n_mesh = len(grid_lat), len(mesh_lat)
    g2m = EdgeSet.from_edges(g_send, g_recv, g_feat, n_mesh)
    m2m = EdgeSet.from_edges(m_send, m_recv, m_feat, n_mesh)
    m2g = EdgeSet.from_edges(d_send, d_recv, d_feat, n_grid)
    times["tables"] = time.perf_counter() - t
    bar.update()
    bar.close()
    times["total"] = time.perf_counter() - t_start

    settings = {"kind": kind, "mesh_level": level, **s, "grid_shape": list(grid.shape),
                "builder": BUILDER_VERSION, "cache_key": key, **info,
                "build_seconds": {k: round(v, 4) for k, v in times.items()}}
    return ForecastGraph(
        grid_lat=grid_lat, grid_lon=grid_lon, mesh_lat=mesh_lat, mesh_lon=mesh_lon,
        grid_features=geometry.node_features(grid_lat, grid_lon),
        mesh_features=geometry.node_features(mesh_lat, mesh_lon),
        grid2mesh=g2m, mesh=m2m, mesh2grid=m2g, settings=settings)


def _load_cached(path: Path, grid: Grid, key: str) -> ForecastGraph | None:
    """The cached graph at ``path`` if it reads back whole and matches; else None (warned)."""
    if not path.exists():
        return None
    try:
        graph = ForecastGraph.load(path)
        ok = (graph.settings.get("cache_key") == key
              and graph.n_grid == grid.lat.size * grid.lon.size
              and np.array_equal(graph.grid_lat[::len(grid.lon)], grid.lat)
              and np.array_equal(graph.grid_lon[:len(grid.lon)], grid.lon)
              and all(len(getattr(graph, name).incoming) == n for name, n in
                      (("grid2mesh", graph.n_mesh), ("mesh", graph.n_mesh), ("mesh2grid", graph.n_grid))))
        reason = "it does not match the grid and settings"
    except Exception as exc:  # noqa: BLE001 - a cache is never trusted: any failure means rebuild
        ok, reason = False, " ".join(str(exc).split()) or type(exc).__name__
    if ok:
        return graph
    warnings.warn(f"rebuilding the graph: cached file {path} is unusable ({reason})", RuntimeWarning, stacklevel=3)
    return None


def build_graph(grid: Grid, mesh_level: int, settings: Mapping[str, Any] | None = None,
                cache_dir: str | Path | None = None, progress: bool = False) -> ForecastGraph:
    """The forecast graph of ``grid`` at ``mesh_level`` (0..7), from the cache when there.

    ``settings``: the ``conf/graph`` keys (defaults in :data:`DEFAULT_SETTINGS`; a
    ``cache_dir`` key in it is ignored: pass ``cache_dir`` itself). With ``cache_dir`` the
    graph is read from / written to ``<cache_dir>/graph-<key>.npz``.
    """
    level = _check_level(mesh_level)
    s = normalize_settings(settings)
    if len(grid.lat) == 0 or len(grid.lon) == 0:
        raise SowcastError("the grid has no points")
    key = graph_cache_key(grid, level, s)
    path = Path(cache_dir) / f"graph-{key}.npz" if cache_dir is not None else None
    if path is not None:
        cached = _load_cached(path, grid, key)
        if cached is not None:
            return cached
    graph = _build(grid, level, s, key, progress)
    if path is not None:
        graph.save(path, overwrite=True)
    return graph


def graph_summary(graph: ForecastGraph) -> dict[str, Any]:
    """Counts for logs: nodes, and per edge set the edges, largest in-degree ``K``, padding
    fraction ``1 - E / (N_receivers * K)`` of the incoming table, receivers without edges and
    the distinct in-degrees (the model's sum groups); build time if known."""
    out: dict[str, Any] = {"kind": graph.settings.get("kind"), "mesh_level": graph.settings.get("mesh_level"),
                           "n_grid": graph.n_grid, "n_mesh": graph.n_mesh}
    for name in ("grid2mesh", "mesh", "mesh2grid"):
        es: EdgeSet = getattr(graph, name)
        n_recv, k = es.incoming.shape
        real = es.incoming_mask.sum(axis=1)
        out[name] = {
            "edges": es.n_edges,
            "K": int(k),
            "padding": round(1.0 - es.n_edges / max(n_recv * k, 1), 4),
            "mean_in_degree": round(es.n_edges / max(n_recv, 1), 2),
            "receivers_without_edges": int((real == 0).sum()),
            "distinct_in_degrees": int(np.unique(real[real > 0]).size),  # sum groups (receiver_groups.py)
        }
    build = graph.settings.get("build_seconds")
    out["build_seconds"] = build.get("total") if isinstance(build, Mapping) else None
    return out
