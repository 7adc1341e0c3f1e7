"""The config tree ``conf/`` (shipped as ``sowcast/conf``): where it is, composing it with
Hydra overrides, and the commented YAML text of one section for ``sowcast COMMAND --help``.

Below the command line so that library code (the service's settings, test helpers) can
compose a config without importing :mod:`sowcast.cli`.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

from sowcast.errors import SowcastError


def default_config_dir() -> Path:
    return Path(str(resources.files("sowcast") / "conf"))


def config_dir_of(config_dir: str | os.PathLike | None = None) -> Path:
    """The tree to use: ``config_dir``, else $SOWCAST_CONF, else the packaged one; it must hold config.yaml."""
    path = Path(config_dir or os.environ.get("SOWCAST_CONF") or default_config_dir()).resolve()
    if not (path / "config.yaml").is_file():
        raise SowcastError(f"no config.yaml in config dir {path}")
    return path


def compose(overrides: list[str], config_dir: str | os.PathLike | None = None, with_hydra: bool = False):
    """Compose the config tree with Hydra overrides; bad overrides become a one-line error.
    ``with_hydra`` keeps the ``hydra:`` node (its ``runtime.choices`` name each group's option)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    path = config_dir_of(config_dir)
    try:
        with initialize_config_dir(config_dir=str(path), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SowcastError(f"bad configuration override: {first}") from None


def top_level_block(text: str, key: str) -> str | None:
    """The lines of ``key:`` at column 0 of a YAML text, with the comment lines right above it
    and its indented (or blank) lines below, as written; None when the text has no such key."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", line)), None)
    if start is None:
        return None
    first = start
    while first > 0 and lines[first - 1].startswith("#"):
        first -= 1
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    return "\n".join(lines[first:end]).rstrip()


def section_text(cfg_with_hydra, name: str, config_dir: str | os.PathLike | None = None) -> tuple[Path | None, str]:
    """Where one section is written and its YAML text as the user would edit it, comments included.

    A config group (``conf/<name>/``) gives the file of the option chosen (``model=tiny`` ->
    ``model/tiny.yaml``), indented under ``<name>:``; a key of config.yaml gives its block there.
    Where no file holds it (a group from a search path outside ``file://`` folders) the composed
    values are shown without comments, and the path is None.
    """
    from omegaconf import OmegaConf

    root = config_dir_of(config_dir)
    choices = OmegaConf.select(cfg_with_hydra, "hydra.runtime.choices") or {}
    folders = [root] + [Path(str(p)[len("file://"):]) for p in (OmegaConf.select(cfg_with_hydra, "hydra.searchpath") or [])
                        if str(p).startswith("file://")]
    if name in choices:
        option = choices[name]
        for folder in reversed(folders):  # a search path overrides the packaged tree
            path = folder / name / f"{option}.yaml"
            if path.is_file():
                body = "\n".join(("  " + line).rstrip() for line in path.read_text().strip().splitlines())
                return path, f"{name}:\n{body}"
    else:
        block = top_level_block((root / "config.yaml").read_text(), name)
        if block is not None:
            return root / "config.yaml", block
    node = OmegaConf.select(cfg_with_hydra, name)
    if node is None:
        return None, f"# {name}: not in this config"
    return None, OmegaConf.to_yaml(OmegaConf.create({name: OmegaConf.to_container(node)})).rstrip()
