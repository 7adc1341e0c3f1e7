"""The edge never imports torch (DESIGN.md): prove it for every edge-side module."""

import re
import subprocess
import sys
from importlib import metadata

# Packages that run on the edge box. Later stages (forecast, products, verify, bulletin,
# serve) join this list as they land.
EDGE_PACKAGES = ["sowcast.data", "sowcast.cli", "sowcast.bundle", "sowcast.forecast", "sowcast.products", "sowcast.verify", "sowcast.calibrate", "sowcast.bulletin", "sowcast.serve"]

_PROBE = r"""
import importlib, pkgutil, sys
sys.modules["torch"] = None  # any 'import torch' now raises ImportError
failed = []
for pkg_name in sys.argv[1:]:
    pkg = importlib.import_module(pkg_name)
    for info in pkgutil.walk_packages(pkg.__path__, pkg_name + "."):
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            failed.append(f"{info.name}: {exc}")
print("\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_edge_modules_import_without_torch():
    r = subprocess.run([sys.executable, "-c", _PROBE, *EDGE_PACKAGES], capture_output=True, text=True)
    assert r.returncode == 0, f"edge modules need torch or fail to import:\n{r.stdout}{r.stderr}"


def _requirements(extra: str | None, seen: set[str]) -> set[str]:
    """Names of what installing sowcast[extra] pulls in directly, following self-references."""
    names = set()
    for req in metadata.requires("sowcast") or []:
        spec, _, marker = req.partition(";")
        wanted = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if (wanted.group(1) if wanted else None) != extra:
            continue
        name = re.split(r"[\s\[<>=!~;]", spec.strip(), maxsplit=1)[0].lower()
        if name == "sowcast":
            for sub in re.search(r"\[(.*)\]", spec).group(1).split(","):
                if sub.strip() not in seen:
                    seen.add(sub.strip())
                    names |= _requirements(sub.strip(), seen)
        else:
            names.add(name)
    return names


def test_edge_extra_does_not_pull_torch():
    edge = _requirements(None, set()) | _requirements("edge", {"edge"})
    assert "onnxruntime" in edge
    assert "torch" not in edge
    assert "torch" in _requirements("train", {"train"})
