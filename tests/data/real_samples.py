"""The real sample files in ../shared/data/real, or a skip that says why (see its README)."""

from pathlib import Path

import pytest

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def real(name: str) -> Path:
    path = REAL / name
    if not path.is_file():
        pytest.skip(f"real sample file {path} is absent (see shared/data/real/README.md)")
    return path
