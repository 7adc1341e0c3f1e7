"""Config values as plain Python: OmegaConf nodes (Hydra) and mappings to dict/list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain(obj: Any) -> Any:
    """DictConfig/ListConfig (resolved), mappings and sequences -> dict/list, recursively."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(obj, (DictConfig, ListConfig)):
            return OmegaConf.to_container(obj, resolve=True)
    except ImportError:  # pragma: no cover - hydra-core is a core dependency
        pass
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj
