"""Verification scores (torch-free: runs on the edge box), after WeatherBench 2
(Rasp et al. 2024) and the S2S literature; each function's docstring gives its formula
and source. Inputs are xarray objects with named dimensions (``member`` for ensembles,
``category`` for tercile probabilities, ``lat`` for area weights)."""
