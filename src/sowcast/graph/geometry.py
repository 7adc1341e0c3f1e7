"""Spherical geometry for the forecast graph: positions, local frames, node and edge features.

Positions are unit vectors on the sphere (radius 1), from latitude ``phi`` and longitude
``lambda`` in degrees::

    x = cos(phi) cos(lambda),   y = cos(phi) sin(lambda),   z = sin(phi)

Distances between nodes are chord lengths ``|p - q|`` on the unit sphere (what a KD-tree on
unit vectors measures); the great-circle angle is ``2 arcsin(chord / 2)``.

Local frame of a receiver at ``(phi_r, lambda_r)`` (GraphCast, Lam et al. 2023, Science,
Supplement 2.2: edge features are the sender position relative to the receiver, expressed
in a frame local to the receiver): the rotation ``R = R_y(phi_r) R_z(-lambda_r)`` that
takes the receiver to latitude 0, longitude 0, i.e. to ``(1, 0, 0)``::

    R_z(-lambda):  x' =  cos(lambda) x + sin(lambda) y,  y' = -sin(lambda) x + cos(lambda) y,  z' = z
    R_y(phi):      x'' = cos(phi) x' + sin(phi) z',      y'' = y',  z'' = -sin(phi) x' + cos(phi) z'

In that frame ``dx`` is radial (outwards), ``dy`` points east and ``dz`` north, so the
features do not depend on where on the sphere the edge lies, only on its shape; rotating
the whole sphere about the polar axis leaves them unchanged.
"""

from __future__ import annotations

import numpy as np


def lat_lon_to_xyz(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Unit vectors ``[N, 3]`` (float64) from latitudes and longitudes in degrees."""
    phi = np.deg2rad(np.asarray(lat_deg, np.float64))
    lam = np.deg2rad(np.asarray(lon_deg, np.float64))
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


def xyz_to_lat_lon(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes in [-90, 90] and longitudes in [-180, 180) in degrees from vectors ``[N, 3]``."""
    xyz = np.asarray(xyz, np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    lat = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    lon = np.rad2deg(np.arctan2(y, x))
    lon = np.where(lon >= 180.0, lon - 360.0, lon)
    return lat, lon


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Project vectors ``[..., 3]`` onto the unit sphere."""
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def node_features(lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """GraphCast's static node inputs ``[cos(lat), sin(lon), cos(lon)]`` as float32 ``[N, 3]``."""
    phi = np.deg2rad(np.asarray(lat_deg, np.float64))
    lam = np.deg2rad(np.asarray(lon_deg, np.float64))
    return np.stack([np.cos(phi), np.sin(lam), np.cos(lam)], axis=-1).astype(np.float32)


def to_local_frame(vectors: np.ndarray, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Rotate ``vectors[i]`` by ``R_y(lat[i]) R_z(-lon[i])`` (the frame where point i is at (1,0,0))."""
    phi = np.deg2rad(np.asarray(lat_deg, np.float64))
    lam = np.deg2rad(np.asarray(lon_deg, np.float64))
    v = np.asarray(vectors, np.float64)
    cos_l, sin_l = np.cos(lam), np.sin(lam)
    x1 = cos_l * v[:, 0] + sin_l * v[:, 1]
    y1 = -sin_l * v[:, 0] + cos_l * v[:, 1]
    z1 = v[:, 2]
    cos_p, sin_p = np.cos(phi), np.sin(phi)
    return np.stack([cos_p * x1 + sin_p * z1, y1, -sin_p * x1 + cos_p * z1], axis=-1)


def edge_features(sender_xyz: np.ndarray, receiver_xyz: np.ndarray,
                  receiver_lat: np.ndarray, receiver_lon: np.ndarray) -> np.ndarray:
    """Edge features ``[length, dx, dy, dz]`` (float32 ``[E, 4]``) of edges sender -> receiver.

    ``d = R_receiver (p_sender - p_receiver)`` (see the module docstring), ``length = |d|``
    (chord length), all divided by the longest edge of the set (GraphCast Supplement 2.2),
    so the longest edge has length 1. An empty set gives ``[0, 4]``.
    """
    diff = np.asarray(sender_xyz, np.float64) - np.asarray(receiver_xyz, np.float64)
    if diff.shape[0] == 0:
        return np.zeros((0, 4), np.float32)
    local = to_local_frame(diff, receiver_lat, receiver_lon)
    length = np.linalg.norm(local, axis=-1, keepdims=True)
    scale = float(length.max())
    if scale == 0.0:
        scale = 1.0
    return (np.concatenate([length, local], axis=-1) / scale).astype(np.float32)


def chord_to_degrees(chord: np.ndarray | float) -> np.ndarray | float:
    """Great-circle angle in degrees of a chord on the unit sphere: ``2 arcsin(c / 2)``."""
    return np.rad2deg(2.0 * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0)))
