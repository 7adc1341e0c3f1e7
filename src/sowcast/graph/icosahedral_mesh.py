"""Icosahedral meshes and the multimesh (GraphCast, Lam et al. 2023, Science, Supplement 2.1).

Level 0 is the regular icosahedron on the unit sphere (12 vertices, 30 edges, 20 faces),
rotated as in GraphCast's ``icosahedral_mesh.get_icosahedron`` (about the y axis by
``(pi - a) / 2`` with ``a = 2 arcsin(phi / sqrt(3))`` the angle between adjacent face
normals, ``phi`` the golden ratio), so that two faces are parallel to the equator and the
mesh is symmetric about it. Level ``r`` splits each triangle of level ``r - 1`` into four
through its edge midpoints, projected onto the sphere::

    V_r = 10 * 4**r + 2,   E_r = 30 * 4**r,   F_r = 20 * 4**r,   V - E + F = 2.

Nesting: the vertices of level ``r - 1`` are the first ``V_{r-1}`` vertices of level ``r``
(new midpoints are appended), so every level's edges index the finest level's vertices and
the **multimesh** is the union of the edges of levels ``0..r`` over the finest vertices
(``sum_l 30 * 4**l`` undirected edges, as no coarse edge is also a fine one), both
directions. Faces keep an outward (counter-clockwise seen from outside) orientation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from sowcast.errors import SowcastError
from sowcast.graph.geometry import normalize

MAX_LEVEL = 7


@dataclass(frozen=True)
class TriangularMesh:
    """Vertices on the unit sphere and outward-oriented triangular faces."""

    vertices: np.ndarray  # float64 [V, 3], unit vectors
    faces: np.ndarray     # int64 [F, 3], counter-clockwise seen from outside

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    def edges(self) -> np.ndarray:
        """Undirected edges ``[E, 2]`` (``i < j``), sorted, one row per edge."""
        return _unique_edges(self.faces, self.n_vertices)

    def max_edge_length(self) -> float:
        """The longest chord of any edge (the mesh's coarsest spacing)."""
        e = self.edges()
        return float(np.linalg.norm(self.vertices[e[:, 0]] - self.vertices[e[:, 1]], axis=1).max())


def _face_edges(faces: np.ndarray) -> np.ndarray:
    """The three edges of every face, ``[3F, 2]``: (a, b), (b, c), (c, a) face by face."""
    return np.stack([faces, np.roll(faces, -1, axis=1)], axis=-1).reshape(-1, 2)


def _unique_edges(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    e = np.sort(_face_edges(faces), axis=1)
    keys = np.unique(e[:, 0] * n_vertices + e[:, 1])
    return np.stack([keys // n_vertices, keys % n_vertices], axis=1)


def icosahedron() -> TriangularMesh:
    """The level-0 mesh: the regular icosahedron, rotated as in GraphCast."""
    phi = (1.0 + np.sqrt(5.0)) / 2.0
    vertices = []
    for a, b in itertools.product((1.0, -1.0), repeat=2):
        vertices += [(0.0, a, b * phi), (a, b * phi, 0.0), (a * phi, 0.0, b)]
    v = normalize(np.array(vertices))
    angle_between_faces = 2.0 * np.arcsin(phi / np.sqrt(3.0))
    t = (np.pi - angle_between_faces) / 2.0
    rot_y = np.array([[np.cos(t), 0.0, np.sin(t)], [0.0, 1.0, 0.0], [-np.sin(t), 0.0, np.cos(t)]])
    v = v @ rot_y.T
    # Faces: the 20 vertex triples whose three sides all have the icosahedron's edge length.
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    side = d[d > 1e-9].min()
    adjacent = np.isclose(d, side)
    faces = [f for f in itertools.combinations(range(12), 3)
             if adjacent[f[0], f[1]] and adjacent[f[1], f[2]] and adjacent[f[0], f[2]]]
    faces = np.array(faces, np.int64)
    return TriangularMesh(v, _orient_outward(v, faces))


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Swap two vertices of faces whose normal ``(b - a) x (c - a)`` points inwards."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    inward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a + b + c) < 0
    faces = faces.copy()
    faces[inward] = faces[inward][:, [0, 2, 1]]
    return faces


def refine(mesh: TriangularMesh) -> TriangularMesh:
    """Split each face in four through its edge midpoints (projected to the sphere).

    Face ``(a, b, c)`` with midpoints ``ab, bc, ca`` becomes ``(a, ab, ca)``,
    ``(ab, b, bc)``, ``(ca, bc, c)`` and ``(ab, bc, ca)``, all keeping the orientation.
    Midpoints are numbered after the old vertices in the order of their sorted edge keys
    ``min(i, j) * V + max(i, j)`` (``np.unique``), so the old vertices keep their ids.
    """
    n = mesh.n_vertices
    e = _face_edges(mesh.faces)
    lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
    keys, inverse = np.unique(lo * n + hi, return_inverse=True)
    ends = np.stack([keys // n, keys % n], axis=1)
    midpoints = normalize(mesh.vertices[ends[:, 0]] + mesh.vertices[ends[:, 1]])
    mid = (n + inverse.reshape(-1, 3))  # per face: ids of midpoints of (a,b), (b,c), (c,a)
    a, b, c = mesh.faces[:, 0], mesh.faces[:, 1], mesh.faces[:, 2]
    ab, bc, ca = mid[:, 0], mid[:, 1], mid[:, 2]
    faces = np.concatenate([
        np.stack([a, ab, ca], axis=1),
        np.stack([ab, b, bc], axis=1),
        np.stack([ca, bc, c], axis=1),
        np.stack([ab, bc, ca], axis=1),
    ])
    return TriangularMesh(np.concatenate([mesh.vertices, midpoints]), faces)


def mesh_hierarchy(level: int) -> list[TriangularMesh]:
    """Meshes of levels ``0..level`` (nested: each level's vertices start the next level's)."""
    if not isinstance(level, (int, np.integer)) or isinstance(level, bool) or not 0 <= level <= MAX_LEVEL:
        raise SowcastError(f"mesh_level must be an integer from 0 to {MAX_LEVEL}, not {level!r}")
    meshes = [icosahedron()]
    for _ in range(int(level)):
        meshes.append(refine(meshes[-1]))
    return meshes


def multimesh_edges(meshes: list[TriangularMesh]) -> tuple[np.ndarray, np.ndarray]:
    """Directed multimesh edges ``(senders, receivers)`` over the finest mesh's vertices.

    The union of the undirected edges of all levels (deduplicated), each in both
    directions, sorted by (sender, receiver).
    """
    n = meshes[-1].n_vertices
    keys = np.unique(np.concatenate([m.edges() @ np.array([n, 1]) for m in meshes]))
    i, j = keys // n, keys % n
    directed = np.unique(np.concatenate([i * n + j, j * n + i]))
    return directed // n, directed % n


@dataclass(frozen=True)
class Multimesh:
    """A multimesh ready for the forecast graph: nodes, finest faces and directed edges.

    ``finest_max_edge`` is the longest chord of the finest (global) level, the length
    GraphCast's grid->mesh radius is a fraction of. ``global_index`` maps each node to its
    id in the global finest mesh (``arange`` for a global multimesh).
    """

    vertices: np.ndarray      # float64 [M, 3]
    faces: np.ndarray         # int64 [F, 3], finest level, outward
    senders: np.ndarray       # int64 [E]
    receivers: np.ndarray     # int64 [E]
    finest_max_edge: float
    level: int
    global_index: np.ndarray  # int64 [M]

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])


def global_multimesh(level: int) -> Multimesh:
    """The global multimesh of levels ``0..level`` (GraphCast: level 6, 40 962 nodes)."""
    meshes = mesh_hierarchy(level)
    finest = meshes[-1]
    senders, receivers = multimesh_edges(meshes)
    return Multimesh(finest.vertices, finest.faces, senders, receivers,
                     finest.max_edge_length(), int(level), np.arange(finest.n_vertices))
