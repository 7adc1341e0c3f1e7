"""The graph a forecast model runs on: grid nodes, mesh nodes and three edge sets.

This is the contract between :mod:`sowcast.graph` (which builds it) and
:mod:`sowcast.model` (which runs on it), and what the ONNX export bakes in as constants.

Node order
    * grid nodes: the canonical grid flattened row-major, ``g = i_lat * n_lon + i_lon``;
    * mesh nodes: ``0 .. M - 1`` in the builder's order.

Edge sets (:class:`EdgeSet`), each directed ``senders -> receivers``
    * ``grid2mesh``: grid node -> mesh node (encoder);
    * ``mesh``: mesh node -> mesh node, the multimesh (both directions of every edge);
    * ``mesh2grid``: mesh node -> grid node (decoder).

Incoming edges (DESIGN.md, PITFALLS.md: no scatter): each edge set carries a padded table
``incoming[r, k]`` of the ids of the edges that end at receiver ``r`` (``k < K``, K the
largest in-degree), padded with ``E`` (one past the last edge), and ``incoming_mask[r, k]``
(1.0 for real edges, 0.0 for padding): the record of which edges each receiver sums,
checked when a model is built. The model itself sums without padding, on the edges
regrouped by in-degree (:mod:`sowcast.graph.receiver_groups`: Reshape and ReduceSum in
ONNX, exact and deterministic); the sums are those of the table.

Features (float32, from geometry only, so the same for every variable set)
    * node features: ``cos(lat), sin(lon), cos(lon)`` (GraphCast's node inputs);
    * edge features: the edge length and the sender-minus-receiver position vector, in the
      receiver's local frame, all divided by the longest edge of the set (GraphCast,
      Lam et al. 2023, Supplement 2.2): ``[length, dx, dy, dz]``.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sowcast.atomic import atomic_path
from sowcast.errors import SowcastError

GRAPH_FORMAT = "sowcast-graph-1"


@dataclass(frozen=True)
class EdgeSet:
    """Directed edges with features and the padded incoming-edge table of the receivers."""

    senders: np.ndarray        # int64 [E]
    receivers: np.ndarray      # int64 [E]
    features: np.ndarray       # float32 [E, F_e]
    incoming: np.ndarray       # int64 [N_receivers, K], padded with E
    incoming_mask: np.ndarray  # float32 [N_receivers, K], 1 real edge, 0 padding

    @property
    def n_edges(self) -> int:
        return int(self.senders.shape[0])

    @classmethod
    def from_edges(cls, senders: np.ndarray, receivers: np.ndarray, features: np.ndarray,
                   n_receivers: int) -> EdgeSet:
        """Build the padded incoming table from an edge list (edges in any order)."""
        senders = np.asarray(senders, np.int64)
        receivers = np.asarray(receivers, np.int64)
        n_edges = len(senders)
        if len(receivers) != n_edges or len(features) != n_edges:
            raise ValueError("senders, receivers and features must have one row per edge")
        if n_edges and (receivers.min() < 0 or receivers.max() >= n_receivers):
            raise ValueError("a receiver index is out of range")
        order = np.argsort(receivers, kind="stable")
        counts = np.bincount(receivers, minlength=n_receivers)
        k = max(int(counts.max()) if n_edges else 0, 1)
        incoming = np.full((n_receivers, k), n_edges, np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(n_edges) - np.repeat(starts, counts)
        incoming[receivers[order], slot] = order
        mask = (incoming < n_edges).astype(np.float32)
        return cls(senders, receivers, np.asarray(features, np.float32), incoming, mask)


@dataclass(frozen=True)
class ForecastGraph:
    """Grid and mesh nodes with their features, and the three edge sets."""

    grid_lat: np.ndarray        # float64 [G], degrees
    grid_lon: np.ndarray        # float64 [G], degrees
    mesh_lat: np.ndarray        # float64 [M]
    mesh_lon: np.ndarray        # float64 [M]
    grid_features: np.ndarray   # float32 [G, F_n]
    mesh_features: np.ndarray   # float32 [M, F_n]
    grid2mesh: EdgeSet
    mesh: EdgeSet
    mesh2grid: EdgeSet
    settings: dict[str, Any] = field(default_factory=dict)  # what it was built from

    @property
    def n_grid(self) -> int:
        return int(self.grid_lat.shape[0])

    @property
    def n_mesh(self) -> int:
        return int(self.mesh_lat.shape[0])

    def save(self, path: str | os.PathLike, overwrite: bool = True) -> Path:
        """Write as one ``.npz`` (atomically)."""
        arrays: dict[str, np.ndarray] = {
            name: getattr(self, name)
            for name in ("grid_lat", "grid_lon", "mesh_lat", "mesh_lon", "grid_features", "mesh_features")
        }
        for set_name in ("grid2mesh", "mesh", "mesh2grid"):
            edges: EdgeSet = getattr(self, set_name)
            for key in ("senders", "receivers", "features", "incoming", "incoming_mask"):
                arrays[f"{set_name}.{key}"] = getattr(edges, key)
        meta = {"format": GRAPH_FORMAT, "settings": self.settings}
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8)
        with atomic_path(path, overwrite=overwrite) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ForecastGraph:
        try:
            with np.load(path) as z:
                meta = json.loads(bytes(z["meta"]).decode())
                if meta.get("format") != GRAPH_FORMAT:
                    raise SowcastError(f"{path} is a graph of format {meta.get('format')!r}, not {GRAPH_FORMAT!r}")
                sets = {
                    s: EdgeSet(**{k: z[f"{s}.{k}"] for k in ("senders", "receivers", "features", "incoming", "incoming_mask")})
                    for s in ("grid2mesh", "mesh", "mesh2grid")
                }
                nodes = {k: z[k] for k in ("grid_lat", "grid_lon", "mesh_lat", "mesh_lon", "grid_features", "mesh_features")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise SowcastError(f"cannot read graph {path}: {exc}") from None
        return cls(**nodes, **sets, settings=meta.get("settings", {}))
