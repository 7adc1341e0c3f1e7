"""Grid<->mesh edges, geometry features and the padded aggregation tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from sowcast.data.grid import Grid
from sowcast.graph import geometry
from sowcast.graph.build import build_graph
from sowcast.graph.grid_mesh_connectivity import (barycentric, containing_faces,
                                                  grid2mesh_edges, mesh2grid_knn_edges,
                                                  mesh2grid_triangle_edges)
from sowcast.graph.icosahedral_mesh import global_multimesh


def _grid_xyz(grid: Grid) -> np.ndarray:
    lat = np.repeat(grid.lat, len(grid.lon))
    lon = np.tile(grid.lon, len(grid.lat))
    return geometry.lat_lon_to_xyz(lat, lon)


@pytest.fixture(scope="module")
def level3():
    return global_multimesh(3)


@pytest.fixture(scope="module")
def grid25():
    return _grid_xyz(Grid.global_grid(2.5))


def test_grid2mesh_reaches_every_grid_and_mesh_node(level3, grid25):
    radius = 0.6 * level3.finest_max_edge
    senders, receivers = grid2mesh_edges(grid25, level3.vertices, radius)
    assert np.bincount(senders, minlength=len(grid25)).min() >= 1   # every grid node -> mesh
    in_degree = np.bincount(receivers, minlength=level3.n_vertices)
    assert in_degree.min() >= 1                                    # every mesh node gets input
    dist = np.linalg.norm(grid25[senders] - level3.vertices[receivers], axis=1)
    assert dist.max() <= radius + 1e-12
    # All pairs within the radius are there (brute force).
    d_all = np.linalg.norm(grid25[:, None] - level3.vertices[None], axis=-1)
    assert len(senders) == int((d_all <= radius).sum())


def test_grid2mesh_falls_back_to_nearest_mesh_node():
    mesh_xyz = geometry.lat_lon_to_xyz(np.array([0.0, 0.0]), np.array([0.0, 10.0]))
    grid_xyz = geometry.lat_lon_to_xyz(np.array([0.0, 0.0, 50.0]), np.array([0.1, 9.0, 10.0]))
    radius = 0.01  # about 0.57 degrees: only grid node 0 has a mesh node in range
    senders, receivers = grid2mesh_edges(grid_xyz, mesh_xyz, radius)
    assert senders.tolist() == [0, 1, 2] and receivers.tolist() == [0, 1, 1]


def test_triangle_mesh2grid_contains_grid_point(level3, grid25):
    senders, receivers, n_fallback = mesh2grid_triangle_edges(grid25, level3.vertices, level3.faces)
    assert n_fallback == 0
    assert np.bincount(receivers, minlength=len(grid25)).tolist() == [3] * len(grid25)
    tri = level3.vertices[senders.reshape(-1, 3)]
    w = barycentric(grid25, tri[:, 0], tri[:, 1], tri[:, 2])
    assert w.min() >= -1e-9
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # The weighted vertices point back at the grid point.
    back = geometry.normalize(np.einsum("gk,gkd->gd", w, tri))
    np.testing.assert_allclose(back, grid25, atol=1e-12)


def test_containing_faces_of_random_points(level3):
    rng = np.random.default_rng(0)
    pts = geometry.normalize(rng.normal(size=(2000, 3)))
    face, w = containing_faces(pts, level3.vertices, level3.faces)
    assert (face >= 0).all() and w.min() >= -1e-9
    # A point outside every face of a partial mesh is reported as such.
    face, w = containing_faces(-level3.vertices[:1], level3.vertices, level3.faces[:4])
    assert face.tolist() == [-1] and np.isnan(w).all()


def test_knn_mesh2grid_is_the_nearest_nodes(level3, grid25):
    k = 4
    senders, receivers = mesh2grid_knn_edges(grid25, level3.vertices, k)
    assert np.bincount(receivers).tolist() == [k] * len(grid25)
    _, nearest = cKDTree(level3.vertices).query(grid25, k=k)
    assert (np.sort(senders.reshape(-1, k), 1) == np.sort(nearest, 1)).all()


def test_node_features():
    f = geometry.node_features(np.array([0.0, 90.0, -30.0]), np.array([90.0, 0.0, -180.0]))
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, [[1, 1, 0], [0, 0, 1], [np.sqrt(3) / 2, 0, -1]], atol=1e-7)


def test_lat_lon_round_trip():
    lat = np.array([-90.0, -45.0, 0.0, 12.5, 89.0])
    lon = np.array([0.0, -180.0, 179.0, -20.0, 100.0])
    lat2, lon2 = geometry.xyz_to_lat_lon(geometry.lat_lon_to_xyz(lat, lon))
    np.testing.assert_allclose(lat2, lat, atol=1e-9)
    np.testing.assert_allclose(lon2[1:], lon[1:], atol=1e-9)


def test_edge_features_of_known_edges():
    # Receiver at (0, 0); senders a quarter turn east and one degree north.
    s_lat, s_lon = np.array([0.0, 1.0]), np.array([90.0, 0.0])
    r_lat, r_lon = np.zeros(2), np.zeros(2)
    f = geometry.edge_features(geometry.lat_lon_to_xyz(s_lat, s_lon), geometry.lat_lon_to_xyz(r_lat, r_lon),
                               r_lat, r_lon)
    np.testing.assert_allclose(f[0], np.array([np.sqrt(2), -1, 1, 0]) / np.sqrt(2), atol=1e-7)
    chord = 2 * np.sin(np.deg2rad(0.5))
    np.testing.assert_allclose(f[1, 0], chord / np.sqrt(2), rtol=1e-6)
    assert f[1, 3] > 0 and abs(f[1, 2]) < 1e-7  # north is +dz, no east component
    assert f[:, 0].max() == pytest.approx(1.0)


def test_edge_features_invariant_under_rotation_about_polar_axis(level3):
    rng = np.random.default_rng(1)
    lat, lon = geometry.xyz_to_lat_lon(level3.vertices)
    s, r = level3.senders, level3.receivers
    f0 = geometry.edge_features(level3.vertices[s], level3.vertices[r], lat[r], lon[r])
    for shift in rng.uniform(-180, 180, size=3):
        lon2 = (lon + shift + 180.0) % 360.0 - 180.0
        xyz2 = geometry.lat_lon_to_xyz(lat, lon2)
        f1 = geometry.edge_features(xyz2[s], xyz2[r], lat[r], lon2[r])
        np.testing.assert_allclose(f1, f0, atol=2e-6)


@pytest.mark.parametrize("grid", [Grid.global_grid(5.0), Grid.from_bounds(-2, 24, -20, 16, 1.0)],
                         ids=["global5", "demo"])
def test_padded_tables_sum_like_scatter_add(grid):
    graph = build_graph(grid, 3)
    rng = np.random.default_rng(2)
    for name, n_recv in (("grid2mesh", graph.n_mesh), ("mesh", graph.n_mesh), ("mesh2grid", graph.n_grid)):
        es = getattr(graph, name)
        messages = rng.normal(size=(es.n_edges, 5))
        expected = np.zeros((n_recv, 5))
        np.add.at(expected, es.receivers, messages)
        padded = np.concatenate([messages, np.zeros((1, 5))])
        got = (padded[es.incoming] * es.incoming_mask[..., None]).sum(axis=1)
        np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=name)
        assert es.incoming_mask.sum() == es.n_edges
