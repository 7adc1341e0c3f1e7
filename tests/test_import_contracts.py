"""The package's shape (.importlinter): only __main__ imports the command line, the layers
of the flow, and an edge that never imports torch or the training side. lint-imports reads
the real import graph (grimp), of this tree and of a copy with one import against each rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sowcast

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter (the dev extra) is not installed")


def _lint(cwd: Path, python_path: Path | None = None) -> subprocess.CompletedProcess:
    env = None if python_path is None else {**os.environ, "PYTHONPATH": str(python_path)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(ROOT / ".importlinter")], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_import_contracts():
    r = _lint(ROOT)
    assert r.returncode == 0, (f"an import breaks .importlinter (or a new top-level module is not in its "
                               f"layers):\n{r.stdout[-6000:]}{r.stderr[-2000:]}")
    assert "Contracts: 3 kept, 0 broken." in r.stdout


def test_the_contracts_catch_imports_against_them(tmp_path):
    """A copy of the package with a service module importing the CLI and torch, a product
    importing the service, and a top-level module outside the layers: every contract breaks."""
    copy = tmp_path / "sowcast"
    shutil.copytree(Path(sowcast.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "serve" / "against_the_flow.py").write_text("import torch\n\nfrom sowcast.cli import main\n")
    (copy / "products" / "against_the_flow.py").write_text("from sowcast.serve import api\n")
    (copy / "unlisted.py").write_text("")
    r = _lint(tmp_path, python_path=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Contracts: 0 kept, 3 broken." in r.stdout, r.stdout
    for line in ("sowcast.serve.against_the_flow -> sowcast.cli.main", "sowcast.serve.against_the_flow -> torch",
                 "sowcast.products.against_the_flow -> sowcast.serve.api", "sowcast.unlisted"):
        assert line in r.stdout, r.stdout
