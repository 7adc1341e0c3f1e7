"""Icosahedral meshes, the multimesh and the limited-area (clipped) multimesh."""

from __future__ import annotations

import numpy as np
import pytest

from sowcast.errors import SowcastError
from sowcast.graph.geometry import xyz_to_lat_lon
from sowcast.graph.icosahedral_mesh import (global_multimesh, icosahedron, mesh_hierarchy,
                                            multimesh_edges)
from sowcast.graph.regional_mesh import (domain_mask, n_connected_components,
                                         regional_multimesh)

DEMO = {"lat_min": -2.0, "lat_max": 24.0, "lon_min": -20.0, "lon_max": 16.0}


@pytest.fixture(scope="module")
def meshes():
    return mesh_hierarchy(5)


def test_counts_and_euler_characteristic(meshes):
    for r, m in enumerate(meshes):
        v, e, f = m.n_vertices, len(m.edges()), len(m.faces)
        assert (v, e, f) == (10 * 4**r + 2, 30 * 4**r, 20 * 4**r), r
        assert v - e + f == 2


def test_levels_are_nested(meshes):
    for coarse, fine in zip(meshes[:-1], meshes[1:]):
        np.testing.assert_array_equal(fine.vertices[:coarse.n_vertices], coarse.vertices)


def test_vertices_on_unit_sphere_and_faces_outward(meshes):
    for m in meshes:
        np.testing.assert_allclose(np.linalg.norm(m.vertices, axis=1), 1.0, atol=1e-12)
        a, b, c = (m.vertices[m.faces[:, i]] for i in range(3))
        normal_out = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c)
        assert (normal_out > 0).all()


def test_closed_surface_every_edge_in_two_faces(meshes):
    m = meshes[3]
    e = np.sort(np.stack([m.faces, np.roll(m.faces, -1, axis=1)], -1).reshape(-1, 2), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    assert (counts == 2).all()


def test_icosahedron_is_regular_and_symmetric_about_equator():
    m = icosahedron()
    e = m.edges()
    lengths = np.linalg.norm(m.vertices[e[:, 0]] - m.vertices[e[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, lengths[0], rtol=1e-12)
    lat, _ = xyz_to_lat_lon(m.vertices)
    np.testing.assert_allclose(np.sort(lat), -np.sort(lat)[::-1], atol=1e-9)
    assert np.abs(lat).max() < 60  # poles lie in faces (GraphCast's rotation), not on vertices


def test_refined_edges_get_shorter_evenly(meshes):
    finest = meshes[4]
    e = finest.edges()
    lengths = np.linalg.norm(finest.vertices[e[:, 0]] - finest.vertices[e[:, 1]], axis=1)
    assert lengths.max() / lengths.min() < 1.3
    assert meshes[3].max_edge_length() > 1.8 * meshes[4].max_edge_length()


def test_multimesh_edges_union_of_levels_both_directions():
    level = 4
    senders, receivers = multimesh_edges(mesh_hierarchy(level))
    assert len(senders) == 2 * sum(30 * 4**l for l in range(level + 1))
    assert (senders != receivers).all()
    n = 10 * 4**level + 2
    keys = senders * n + receivers
    assert len(np.unique(keys)) == len(keys)
    assert set(keys.tolist()) == set((receivers * n + senders).tolist())  # symmetric
    mm = global_multimesh(level)
    np.testing.assert_array_equal(mm.senders, senders)
    assert mm.global_index.tolist() == list(range(n))


@pytest.mark.parametrize("level", [-1, 8, 2.5, True])
def test_bad_level(level):
    with pytest.raises(SowcastError, match="mesh_level"):
        mesh_hierarchy(level)


def test_domain_mask_wraps_longitude():
    lat = np.zeros(5)
    lon = np.array([-179.0, 175.0, 168.0, 0.0, -170.0])
    keep = domain_mask(lat, lon, -10, 10, 170, 179, halo_deg=5)
    assert keep.tolist() == [True, True, True, False, False]
    assert domain_mask(lat, lon, -10, 10, -180, 179, halo_deg=0).all()


@pytest.mark.parametrize("level", [4, 5])
def test_regional_mesh_inside_domain_and_connected(level):
    halo = 5.0
    mesh = regional_multimesh(level, **DEMO, halo_deg=halo)
    lat, lon = xyz_to_lat_lon(mesh.vertices)
    assert lat.min() >= DEMO["lat_min"] - halo and lat.max() <= DEMO["lat_max"] + halo
    assert lon.min() >= DEMO["lon_min"] - halo and lon.max() <= DEMO["lon_max"] + halo
    assert n_connected_components(mesh) == 1
    # Every global node in the box was kept, edges and faces only refer to kept nodes.
    full = global_multimesh(level)
    glat, glon = xyz_to_lat_lon(full.vertices)
    assert mesh.n_vertices == int(domain_mask(glat, glon, **DEMO, halo_deg=halo).sum())
    np.testing.assert_array_equal(full.vertices[mesh.global_index], mesh.vertices)
    assert mesh.senders.max() < mesh.n_vertices and mesh.faces.max() < mesh.n_vertices
    # Each kept edge is a global multimesh edge between the same two nodes.
    n = full.n_vertices
    global_keys = set((full.senders * n + full.receivers).tolist())
    kept_keys = mesh.global_index[mesh.senders] * n + mesh.global_index[mesh.receivers]
    assert set(kept_keys.tolist()) <= global_keys
    # ... and every global edge between kept nodes was kept.
    inside = np.zeros(n, bool)
    inside[mesh.global_index] = True
    assert len(kept_keys) == int((inside[full.senders] & inside[full.receivers]).sum())
