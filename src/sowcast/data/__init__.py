"""Data layer: the canonical store, ingest of raw archives, the synthetic monsoon, windows.

Torch-free: the edge imports this package.
"""
