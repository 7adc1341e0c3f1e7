"""Service tests: the tiny real chain is the session fixture ``chain`` of tests/conftest.py;
tests/ goes on the path for chain_helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))
