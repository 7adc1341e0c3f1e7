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


@pytest.fixture(scope="session")
def stochastic_bundle(tmp_path_factory) -> dict[str, Path]:
    """A real stochastic bundle: ``model=tiny`` with ``model.noise_channels=4`` trained for 2
    steps on a small store (tests/stochastic_run.py), exported by ``sowcast.export`` with its
    int8 and fp16 variants (torch here, in the test process; the engine never imports it)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    sys.path.insert(0, str(Path(__file__).parent))
    from stochastic_run import train_stochastic_tiny_run

    from sowcast.data.testing import make_canonical_store
    from sowcast.export.bundle_writer import export_bundle

    root = tmp_path_factory.mktemp("stochastic_bundle")
    store = make_canonical_store(root / "tiny.zarr", n_times=24, grid=(8, 16), levels=(500, 850), seed=0)
    checkpoint = train_stochastic_tiny_run(store, root, steps=2)
    result = export_bundle(checkpoint, root / "bundle", archive=True, store=store, threads=1,
                           variants=["int8", "fp16"], log=lambda m: None)
    return {"store": store, "checkpoint": checkpoint, "bundle": result.bundle, "archive": result.archive,
            "lines": result.lines}
