"""Grid <-> mesh connectivity: the encoder's and decoder's edges (GraphCast, Lam et al. 2023,
Science, Supplement 2.3-2.4), found with KD-trees (``scipy.spatial.cKDTree``) on unit vectors,
where Euclidean distance is the chord length.

grid -> mesh (encoder)
    Grid node ``g`` sends to every mesh node ``m`` with ``|x_g - x_m| <= f * L``, ``L`` the
    longest edge of the finest mesh level and ``f = grid2mesh_radius_factor`` (GraphCast:
    0.6). A point of a triangle is at most its circumradius (``L / sqrt(3) ~ 0.577 L`` for
    an equilateral one) from a vertex, so 0.6 reaches at least one mesh node from almost
    every point; a grid node that still has none in range (outside a regional mesh) sends
    to its nearest mesh node, so every grid node reaches the mesh.

mesh -> grid (decoder)
    ``triangle``: the three vertices of the finest-level face that contains the grid point
    (GraphCast). The candidate faces are the nearest by centroid; ``p`` is in face
    ``(a, b, c)`` (outward-oriented) when its barycentric coordinates in the plane triangle,
    after central projection of ``p`` onto that plane, are all ``>= 0``::

        D = a . (b x c),  w_a = p . (b x c) / D,  w_b = p . (c x a) / D,  w_c = p . (a x b) / D

    (``p = w_a a + w_b b + w_c c``; normalised by their sum). A grid point in no candidate
    face (outside a regional mesh's faces) gets its 3 nearest mesh nodes.
    ``knn``: the ``k`` nearest mesh nodes.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial import cKDTree

from sowcast.errors import SowcastError

_CANDIDATE_FACES = (8, 64)   # nearest faces (by centroid) tried for each point, then retried
_INSIDE_TOL = 1e-12          # barycentric coordinates above -tol count as inside


def grid2mesh_edges(grid_xyz: np.ndarray, mesh_xyz: np.ndarray, radius: float,
                    mesh_tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(senders = grid ids, receivers = mesh ids)``: all pairs within chord ``radius``.

    Grid nodes with no mesh node in range connect to their nearest mesh node.
    Edges come grid node by grid node, mesh ids ascending.
    """
    if radius <= 0:
        raise SowcastError(f"the grid->mesh radius must be positive, not {radius}")
    tree = mesh_tree if mesh_tree is not None else cKDTree(mesh_xyz)
    lists = tree.query_ball_point(grid_xyz, r=radius, return_sorted=True)
    lengths = np.fromiter(map(len, lists), np.int64, count=len(lists))
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        _, nearest = tree.query(grid_xyz[empty], k=1)
        for g, m in zip(empty.tolist(), np.atleast_1d(nearest).tolist()):
            lists[g] = [m]
        lengths[empty] = 1
    receivers = np.fromiter(itertools.chain.from_iterable(lists), np.int64, count=int(lengths.sum()))
    senders = np.repeat(np.arange(len(lists), dtype=np.int64), lengths)
    return senders, receivers


def barycentric(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates ``[..., 3]`` of the central projection of ``points`` onto the
    planes of triangles ``(a, b, c)`` (see the module docstring); they sum to 1.
    Triangles on the far side of the sphere from a point get ``-1`` everywhere."""
    bc, ca, ab = np.cross(b, c), np.cross(c, a), np.cross(a, b)
    det = np.einsum("...i,...i->...", a, bc)
    w = np.stack([np.einsum("...i,...i->...", points, bc),
                  np.einsum("...i,...i->...", points, ca),
                  np.einsum("...i,...i->...", points, ab)], axis=-1) / det[..., None]
    total = w.sum(axis=-1, keepdims=True)
    # A face on the far side of the sphere has total <= 0: mark it -1 (never inside).
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, w / total, -1.0)


def containing_faces(points: np.ndarray, vertices: np.ndarray,
                     faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each point the id of a face containing it (``-1`` if none) and its barycentric
    coordinates in that face (``nan`` where none)."""
    n = len(points)
    face_id = np.full(n, -1, np.int64)
    weights = np.full((n, 3), np.nan)
    if len(faces) == 0 or n == 0:
        return face_id, weights
    centroids = vertices[faces].mean(axis=1)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    tree = cKDTree(centroids)
    todo = np.arange(n)
    for k in _CANDIDATE_FACES:
        k = min(k, len(faces))
        _, cand = tree.query(points[todo], k=k)
        cand = cand.reshape(len(todo), k)
        tri = vertices[faces[cand]]  # [P, k, 3 vertices, 3]
        w = barycentric(points[todo][:, None, :], tri[..., 0, :], tri[..., 1, :], tri[..., 2, :])
        inside = w.min(axis=-1) >= -_INSIDE_TOL
        found = inside.any(axis=1)
        first = inside.argmax(axis=1)
        rows = np.flatnonzero(found)
        face_id[todo[rows]] = cand[rows, first[rows]]
        weights[todo[rows]] = w[rows, first[rows]]
        todo = todo[~found]
        if todo.size == 0 or k == len(faces):
            break
    return face_id, weights


def mesh2grid_triangle_edges(grid_xyz: np.ndarray, mesh_xyz: np.ndarray, faces: np.ndarray,
                             mesh_tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(senders = mesh ids, receivers = grid ids, n_fallback)``: 3 edges per grid node, from
    the vertices of its containing face, or from its 3 nearest mesh nodes for the
    ``n_fallback`` grid nodes inside no face."""
    face_id, _ = containing_faces(grid_xyz, mesh_xyz, faces)
    senders = np.empty((len(grid_xyz), 3), np.int64)
    ok = face_id >= 0
    senders[ok] = faces[face_id[ok]]
    outside = np.flatnonzero(~ok)
    if outside.size:
        if len(mesh_xyz) < 3:
            raise SowcastError("the mesh has fewer than 3 nodes; raise mesh_level or regional_halo_deg")
        tree = mesh_tree if mesh_tree is not None else cKDTree(mesh_xyz)
        _, nearest = tree.query(grid_xyz[outside], k=3)
        senders[outside] = nearest
    receivers = np.repeat(np.arange(len(grid_xyz), dtype=np.int64), 3)
    return senders.ravel(), receivers, int(outside.size)


def mesh2grid_knn_edges(grid_xyz: np.ndarray, mesh_xyz: np.ndarray, k: int,
                        mesh_tree: cKDTree | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(senders = mesh ids, receivers = grid ids)``: each grid node's ``k`` nearest mesh nodes."""
    if not 1 <= k <= len(mesh_xyz):
        raise SowcastError(f"mesh2grid_k must be from 1 to the {len(mesh_xyz)} mesh nodes, not {k}")
    tree = mesh_tree if mesh_tree is not None else cKDTree(mesh_xyz)
    _, nearest = tree.query(grid_xyz, k=k)
    nearest = np.asarray(nearest, np.int64).reshape(len(grid_xyz), k)
    return nearest.ravel(), np.repeat(np.arange(len(grid_xyz), dtype=np.int64), k)
