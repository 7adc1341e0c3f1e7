"""Fixtures of the service tests: the tiny real chain (tests/chain_helpers.py), made once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))

from chain_helpers import make_chain


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> dict[str, Path]:
    """Store, bundle (with climatology), forecast and products folder of the tiny chain."""
    return make_chain(tmp_path_factory.mktemp("serve_chain"))
