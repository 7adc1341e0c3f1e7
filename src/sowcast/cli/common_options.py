"""The top-level keys of config.yaml that most commands read, as an options class
(:mod:`sowcast.options`); the defaults equal config.yaml's (tests/test_option_defaults.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sowcast.options import option, parse


@dataclass(frozen=True)
class CommonOptions:
    """``overwrite`` and ``progress``."""

    overwrite: bool = option(False, "replace existing outputs (they are replaced atomically)")
    progress: bool = option(True, "progress bars on stderr")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CommonOptions:
        """The two keys of the composed config (the others are groups, parsed by their own classes)."""
        return parse(cls, {key: cfg[key] for key in ("overwrite", "progress") if key in cfg}, "")

    def keywords(self) -> dict[str, bool]:
        """Both, as the keyword arguments of a stage's ``run(options, *, overwrite, progress)``."""
        return {"overwrite": self.overwrite, "progress": self.progress}

    def set_into(self, cfg: Any) -> None:
        """Write the parsed values back into ``cfg``, for stages that read ``cfg.overwrite`` themselves."""
        for key in ("overwrite", "progress"):
            if key in cfg:
                cfg[key] = getattr(self, key)
