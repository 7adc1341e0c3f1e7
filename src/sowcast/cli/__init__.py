"""Command line interface: ``sowcast <stage> [overrides]``."""
