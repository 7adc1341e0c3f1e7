"""Training: windowed data loading, the loop, distributed setup and checkpoints (torch)."""
