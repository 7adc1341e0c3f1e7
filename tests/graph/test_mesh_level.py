"""model.mesh_level: auto picks the finest level with mesh edges of at least 4 grid spacings
(GraphCast's 0.25 degrees -> level 6); the demo keeps its level 5."""

from __future__ import annotations

import numpy as np
import pytest

from sowcast.cli.demo.plan import make_plan
from sowcast.cli.demo.stages import demo_config
from sowcast.cli.main import compose
from sowcast.data.grid import Grid
from sowcast.errors import SowcastError
from sowcast.graph.build import build_graph
from sowcast.graph.icosahedral_mesh import MAX_LEVEL, mesh_hierarchy
from sowcast.graph.mesh_level import (
    MEAN_EDGE_DEGREES, auto_mesh_level, grid_spacing_degrees, is_auto_level, resolve_mesh_level,
)

DEMO_GRID = Grid.from_bounds(-2.0, 24.0, -20.0, 16.0, 1.0)      # conf/data/demo.yaml synth.grid
UK_ERA5 = Grid.from_bounds(50.0, 58.0, -10.0, 2.0, 0.25)         # era5-2mt-2019-03-uk.grib


def test_mean_edge_table_is_the_meshes():
    for level, mesh in enumerate(mesh_hierarchy(MAX_LEVEL)):
        e, v = mesh.edges(), mesh.vertices
        arc = np.degrees(np.arccos(np.clip((v[e[:, 0]] * v[e[:, 1]]).sum(axis=1), -1.0, 1.0)))
        assert arc.mean() == pytest.approx(MEAN_EDGE_DEGREES[level], abs=1e-3), level


@pytest.mark.parametrize("grid, level", [
    (Grid.global_grid(0.25), 6),   # GraphCast: 0.25-degree grid, level-6 mesh
    (UK_ERA5, 6),
    (DEMO_GRID, 4),
    (Grid.global_grid(1.5), 3),
    (Grid.global_grid(30.0), 0),   # coarser than any level's 4 spacings: level 0
])
def test_rule(grid, level):
    assert auto_mesh_level(grid) == level
    dx = grid_spacing_degrees(grid)
    assert MEAN_EDGE_DEGREES[level] >= 4 * dx or level == 0
    assert level == MAX_LEVEL or MEAN_EDGE_DEGREES[level + 1] < 4 * dx


def test_auto_and_explicit_values():
    assert resolve_mesh_level("auto", UK_ERA5) == (6, True)
    assert resolve_mesh_level(None, UK_ERA5) == (6, True)
    assert resolve_mesh_level(5, UK_ERA5) == (5, False)
    assert is_auto_level("auto") and not is_auto_level(3)
    for bad in (8, -1, "fine", 2.5, True):
        with pytest.raises(SowcastError, match="model.mesh_level must be auto or an integer from 0 to 7"):
            resolve_mesh_level(bad, UK_ERA5)


def test_demo_keeps_level_5_and_explicit_presets_stay():
    """The demo's graph is the one it had: small (auto) gets demo.mesh_level 5; tiny keeps 3."""
    for overrides, level in (([], 5), (["model=tiny"], 3), (["model.mesh_level=2"], 2)):
        cfg = compose(overrides)
        assert int(demo_config(cfg, make_plan(cfg)).model.mesh_level) == level, overrides
    assert compose([]).model.mesh_level == "auto"


def test_uk_grid_gets_a_real_mesh():
    """The old fixed level 5 left the 0.25-degree UK grid (1617 points) 31 mesh nodes; level 6: 127."""
    old, new = build_graph(UK_ERA5, 5), build_graph(UK_ERA5, auto_mesh_level(UK_ERA5))
    assert (old.n_mesh, new.n_mesh) == (31, 127)
    print(f"UK 0.25 deg: level 5 {old.n_mesh} mesh nodes, level 6 {new.n_mesh}")
