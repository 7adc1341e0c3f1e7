"""The mesh refinement level from the grid spacing, unless ``model.mesh_level`` gives one.

Rule (``model.mesh_level: auto``): the **finest** icosahedral level whose mean edge is at
least :data:`EDGES_PER_GRID_SPACING` = 4 grid spacings, i.e.
``level = max{r : edge(r) >= 4 * dx}`` (0 when even level 0 is finer), where ``dx`` is the
grid's nominal spacing (the larger of its latitude and longitude steps, in degrees) and
``edge(r)`` the mean great-circle edge length of level ``r`` (:data:`MEAN_EDGE_DEGREES`,
measured on :func:`sowcast.graph.icosahedral_mesh.mesh_hierarchy`; it halves per level).

The factor 4 is GraphCast's (Lam et al. 2023, Science): its 0.25-degree grid has a level-6
finest mesh of 1.08-degree mean edges, 4.3 grid spacings, so every mesh node gathers a
few dozen grid points (grid->mesh radius 0.6 edge). The rule gives level 6 at 0.25 degrees
(GraphCast's), 4 at 1 degree, 3 at 1.5 degrees. A finer mesh than the rule's adds mesh nodes
that each see few grid points; a coarser one blurs the processor's view (a 0.25-degree
regional grid with the old fixed level 5 had 31 mesh nodes).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.graph.icosahedral_mesh import MAX_LEVEL

EDGES_PER_GRID_SPACING = 4.0
# Mean great-circle edge length (degrees) of levels 0..7 (tests/graph/test_mesh_level.py measures them).
MEAN_EDGE_DEGREES = (63.435, 33.859, 17.216, 8.644, 4.327, 2.164, 1.082, 0.541)
AUTO = "auto"


def grid_spacing_degrees(grid: Grid) -> float:
    """The grid's nominal spacing: the larger of its median latitude and longitude steps (degrees)."""
    steps = [float(np.median(np.abs(np.diff(np.asarray(a, np.float64))))) for a in (grid.lat, grid.lon) if len(a) > 1]
    if not steps or not max(steps) > 0:
        raise SowcastError("the grid needs at least two distinct latitudes or longitudes to choose a mesh level")
    return max(steps)


def auto_mesh_level(grid: Grid) -> int:
    """The finest level whose mean edge is at least 4 grid spacings (module doc)."""
    target = EDGES_PER_GRID_SPACING * grid_spacing_degrees(grid)
    fit = [r for r, edge in enumerate(MEAN_EDGE_DEGREES[:MAX_LEVEL + 1]) if edge >= target]
    return fit[-1] if fit else 0


def is_auto_level(value: Any) -> bool:
    """True when ``model.mesh_level`` leaves the level to the rule: ``auto`` or null."""
    return value is None or (isinstance(value, str) and value.strip().lower() == AUTO)


def resolve_mesh_level(value: Any, grid: Grid) -> tuple[int, bool]:
    """``(level, chosen)``: ``model.mesh_level`` as an int, or the rule's level for ``grid`` when
    it is ``auto`` or null (``chosen`` True then)."""
    if is_auto_level(value):
        return auto_mesh_level(grid), True
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_LEVEL:
        raise SowcastError(f"model.mesh_level must be auto or an integer from 0 to {MAX_LEVEL}, not {value!r}")
    return int(value), False
