"""build_graph: global and regional graphs, the contract's shapes, the cache and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.graph import build as build_module
from sowcast.graph.build import (DEFAULT_SETTINGS, build_graph, graph_cache_key, graph_summary,
                                 is_global_grid)
from sowcast.graph.forecast_graph import ForecastGraph
from sowcast.graph.geometry import chord_to_degrees
from sowcast.graph.icosahedral_mesh import global_multimesh

ROOT = Path(__file__).resolve().parents[2]
DEMO = Grid.from_bounds(-2, 24, -20, 16, 1.0)


def _check_contract(graph: ForecastGraph, grid: Grid) -> None:
    n_lat, n_lon = grid.shape
    assert graph.n_grid == n_lat * n_lon
    # Grid nodes row-major: g = i_lat * n_lon + i_lon.
    np.testing.assert_array_equal(graph.grid_lat.reshape(n_lat, n_lon)[:, 0], grid.lat)
    np.testing.assert_array_equal(graph.grid_lon.reshape(n_lat, n_lon)[0], grid.lon)
    assert graph.grid_features.shape == (graph.n_grid, 3) and graph.grid_features.dtype == np.float32
    assert graph.mesh_features.shape == (graph.n_mesh, 3)
    for name, n_send, n_recv in (("grid2mesh", graph.n_grid, graph.n_mesh),
                                 ("mesh", graph.n_mesh, graph.n_mesh),
                                 ("mesh2grid", graph.n_mesh, graph.n_grid)):
        es = getattr(graph, name)
        assert es.senders.dtype == np.int64 and es.features.dtype == np.float32
        assert es.features.shape == (es.n_edges, 4)
        assert es.senders.min() >= 0 and es.senders.max() < n_send
        assert es.incoming.shape[0] == n_recv
        assert es.features[:, 0].max() == pytest.approx(1.0)  # normalised by the longest edge
        np.testing.assert_allclose(np.linalg.norm(es.features[:, 1:], axis=1), es.features[:, 0], atol=1e-6)
    # Every grid node reaches the mesh and back.
    assert np.bincount(graph.grid2mesh.senders, minlength=graph.n_grid).min() >= 1
    assert np.bincount(graph.mesh2grid.receivers, minlength=graph.n_grid).min() >= 1


def test_global_graph():
    grid = Grid.global_grid(10.0)
    graph = build_graph(grid, 2)
    _check_contract(graph, grid)
    assert is_global_grid(grid) and graph.settings["kind"] == "global"
    assert graph.n_mesh == 162
    assert graph.mesh.n_edges == 2 * (30 + 120 + 480)
    assert graph.mesh2grid.incoming.shape == (graph.n_grid, 3)
    assert graph.settings["mesh2grid_points_outside_faces"] == 0
    assert np.bincount(graph.grid2mesh.receivers, minlength=graph.n_mesh).min() >= 1


@pytest.mark.parametrize("level", [4, 5])
def test_regional_demo_graph(level):
    graph = build_graph(DEMO, level)
    _check_contract(graph, DEMO)
    assert not is_global_grid(DEMO) and graph.settings["kind"] == "regional"
    assert graph.settings["mesh_components"] == 1
    assert graph.settings["mesh2grid_points_outside_faces"] == 0
    finest_edge = float(chord_to_degrees(global_multimesh(level).finest_max_edge))
    halo = max(DEFAULT_SETTINGS["regional_halo_deg"], finest_edge)  # at least one finest edge
    assert graph.mesh_lat.min() >= -2 - halo and graph.mesh_lat.max() <= 24 + halo
    assert graph.mesh_lon.min() >= -20 - halo and graph.mesh_lon.max() <= 16 + halo


def test_band_with_full_longitudes_is_regional_and_wraps():
    grid = Grid.from_bounds(-30, 30, -180, 175, 5.0)
    assert grid.is_global and not is_global_grid(grid)
    graph = build_graph(grid, 3)
    _check_contract(graph, grid)
    assert graph.mesh_lon.max() > 175 and graph.mesh_lon.min() < -175


def test_global_grid_without_poles_is_global():
    grid = Grid.from_bounds(-87.5, 87.5, -180, 175, 5.0)
    assert is_global_grid(grid)


def test_knn_decoder():
    graph = build_graph(DEMO, 4, {"mesh2grid": "knn", "mesh2grid_k": 4})
    _check_contract(graph, DEMO)
    assert graph.mesh2grid.incoming.shape == (graph.n_grid, 4)
    assert graph.mesh2grid.incoming_mask.all()


def test_summary():
    s = graph_summary(build_graph(DEMO, 4))
    assert s["kind"] == "regional" and s["n_grid"] == 27 * 37
    assert s["mesh2grid"]["K"] == 3 and s["mesh2grid"]["padding"] == 0
    for name in ("grid2mesh", "mesh"):
        assert s[name]["K"] >= 1 and 0 <= s[name]["padding"] < 1
    assert s["build_seconds"] > 0


def test_defaults_match_config():
    cfg = yaml.safe_load((ROOT / "conf/graph/default.yaml").read_text())
    assert {k: v for k, v in cfg.items() if k != "cache_dir"} == DEFAULT_SETTINGS
    build_graph(DEMO, 3, cfg)  # the whole config group is accepted (cache_dir ignored)


def test_cache_round_trip_and_keys(tmp_path, monkeypatch):
    first = build_graph(DEMO, 3, cache_dir=tmp_path)
    files = list(tmp_path.glob("graph-*.npz"))
    assert len(files) == 1 and files[0].name == f"graph-{graph_cache_key(DEMO, 3)}.npz"

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although cached")

    monkeypatch.setattr(build_module, "_build", no_build)
    second = build_graph(DEMO, 3, cache_dir=tmp_path)
    for name in ("grid_lat", "mesh_lat", "grid_features", "mesh_features"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    for name in ("grid2mesh", "mesh", "mesh2grid"):
        for key in ("senders", "receivers", "features", "incoming", "incoming_mask"):
            np.testing.assert_array_equal(getattr(getattr(second, name), key), getattr(getattr(first, name), key))
    assert second.settings == first.settings

    base = graph_cache_key(DEMO, 3)
    assert len(base) == 16
    assert graph_cache_key(DEMO, 3, {"regional_halo_deg": 4.0}) != base
    assert graph_cache_key(DEMO, 3, {"mesh2grid": "knn"}) != base
    assert graph_cache_key(DEMO, 4) != base
    assert graph_cache_key(Grid.from_bounds(-2, 24, -20, 15, 1.0), 3) != base
    assert graph_cache_key(DEMO, 3, {"cache_dir": "elsewhere"}) == base


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other_graph"])
def test_corrupt_cache_is_rebuilt(tmp_path, damage):
    good = build_graph(DEMO, 3, cache_dir=tmp_path)
    path = next(tmp_path.glob("graph-*.npz"))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid graph file of another grid under this name
        build_graph(Grid.global_grid(30.0), 1).save(path)
    with pytest.warns(RuntimeWarning, match="rebuilding the graph"):
        again = build_graph(DEMO, 3, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.mesh.incoming, good.mesh.incoming)
    reloaded = ForecastGraph.load(path)  # the cache file was replaced by a good one
    np.testing.assert_array_equal(reloaded.grid2mesh.senders, good.grid2mesh.senders)


@pytest.mark.parametrize("level", [-1, 8, "5", 2.0])
def test_bad_mesh_level(level):
    with pytest.raises(SowcastError, match="mesh_level"):
        build_graph(DEMO, level)


@pytest.mark.parametrize("settings, match", [
    ({"mesh2grid": "nearest"}, "mesh2grid must be one of"),
    ({"mesh2grid_k": 0}, "mesh2grid_k"),
    ({"grid2mesh_radius_factor": 0}, "grid2mesh_radius_factor"),
    ({"regional_halo_deg": -1}, "regional_halo_deg"),
    ({"grid2mesh_radius": 0.6}, "unknown graph setting"),
    ({"mesh2grid_k": "three"}, "bad graph setting"),
])
def test_bad_settings(settings, match):
    with pytest.raises(SowcastError, match=match):
        build_graph(DEMO, 3, settings)
