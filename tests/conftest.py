"""Shared fixtures: the real sample data folder, a subprocess runner for the CLI, the tiny chain."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def real_data() -> Path:
    """../shared/data/real, or a skip that says why."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real sample data folder {REAL_DATA} is absent")
    return REAL_DATA


def run_sowcast(*args: str, cwd: Path | None = None, env: dict | None = None,
                timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the real ``sowcast`` command line in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "sowcast", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def sowcast_cli():
    return run_sowcast


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> dict[str, Path]:
    """The real chain at a tiny size, made once per session (tests/chain_helpers.py): store,
    bundle with its climatology, hindcasts, forecast and products folder. Tests read it and
    write their own outputs elsewhere."""
    sys.path.insert(0, str(Path(__file__).parent))
    from chain_helpers import make_chain

    return make_chain(tmp_path_factory.mktemp("chain"))
