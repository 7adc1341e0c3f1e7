"""sowcast: sub-seasonal forecasts for planting decisions, from HPC training to an offline edge box."""
__version__ = "0.1.0"
