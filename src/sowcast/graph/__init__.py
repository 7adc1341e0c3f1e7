"""Graphs of the forecast model: meshes and grid<->mesh connectivity (numpy/scipy only)."""
