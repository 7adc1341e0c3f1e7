"""Limited-area multimesh: the global icosahedral multimesh clipped to a domain plus a halo.

For a regional grid the mesh is the global multimesh of the same level (so node spacing is
as even as GraphCast's, about ``7.5 / 2**(r - 3)`` degrees at level ``r``), keeping

* the nodes with ``lat_min - h <= lat <= lat_max + h`` and longitude within
  ``[lon_min - h, lon_max + h]`` (modulo 360; every longitude when that span reaches 360),
  ``h`` the halo in degrees (``regional_halo_deg``);
* the multimesh edges (all levels) whose two ends are kept;
* the finest-level faces whose three vertices are kept (for the triangle mesh->grid
  decoder).

Kept nodes are renumbered ``0..M-1`` in their global order (so coarse-level nodes still
come first). The halo gives the grid's edge points whole triangles and neighbours beyond
the border; mesh nodes in the halo get grid->mesh edges only where grid points lie within
the grid->mesh radius of them.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sowcast.errors import SowcastError
from sowcast.graph.geometry import chord_to_degrees, xyz_to_lat_lon
from sowcast.graph.icosahedral_mesh import Multimesh, global_multimesh


def domain_mask(lat: np.ndarray, lon: np.ndarray, lat_min: float, lat_max: float,
                lon_min: float, lon_max: float, halo_deg: float) -> np.ndarray:
    """True for points inside ``[lat_min - h, lat_max + h] x [lon_min - h, lon_max + h]`` (lon mod 360)."""
    lat = np.asarray(lat, np.float64)
    lon = np.asarray(lon, np.float64)
    inside = (lat >= lat_min - halo_deg) & (lat <= lat_max + halo_deg)
    span = (lon_max - lon_min) + 2.0 * halo_deg
    if span < 360.0:
        inside &= np.mod(lon - (lon_min - halo_deg), 360.0) <= span
    return inside


def clip_multimesh(mesh: Multimesh, keep: np.ndarray) -> Multimesh:
    """The sub-multimesh on the nodes where ``keep`` is true, renumbered compactly."""
    keep = np.asarray(keep, bool)
    new_id = np.full(mesh.n_vertices, -1, np.int64)
    new_id[keep] = np.arange(int(keep.sum()))
    edge_kept = keep[mesh.senders] & keep[mesh.receivers]
    face_kept = keep[mesh.faces].all(axis=1)
    return Multimesh(
        vertices=mesh.vertices[keep],
        faces=new_id[mesh.faces[face_kept]],
        senders=new_id[mesh.senders[edge_kept]],
        receivers=new_id[mesh.receivers[edge_kept]],
        finest_max_edge=mesh.finest_max_edge,
        level=mesh.level,
        global_index=mesh.global_index[keep],
    )


def regional_multimesh(level: int, lat_min: float, lat_max: float, lon_min: float,
                       lon_max: float, halo_deg: float) -> Multimesh:
    """The level-``level`` multimesh clipped to the domain plus a halo (see module doc).

    The halo is ``halo_deg`` but at least one finest mesh edge, so that every grid point
    of the domain lies inside a kept triangle whatever the level.
    """
    if halo_deg < 0:
        raise SowcastError(f"regional_halo_deg must be >= 0, not {halo_deg}")
    full = global_multimesh(level)
    halo_deg = max(float(halo_deg), float(chord_to_degrees(full.finest_max_edge)))
    lat, lon = xyz_to_lat_lon(full.vertices)
    keep = domain_mask(lat, lon, lat_min, lat_max, lon_min, lon_max, halo_deg)
    if not keep.any():
        raise SowcastError(
            f"no level-{level} mesh node lies within {halo_deg} degrees of the domain "
            f"lat {lat_min}..{lat_max}, lon {lon_min}..{lon_max}; raise mesh_level or regional_halo_deg")
    return clip_multimesh(full, keep)


def n_connected_components(mesh: Multimesh) -> int:
    """Number of connected components of the mesh's edge graph (1 means connected)."""
    n = mesh.n_vertices
    adj = coo_matrix((np.ones(len(mesh.senders)), (mesh.senders, mesh.receivers)), shape=(n, n))
    return int(connected_components(adj, directed=False)[0])
