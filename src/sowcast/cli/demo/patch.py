"""An option patch: the overrides of one config group that the demo applies for a stage.

    group  <-  derived(config, plan)  <-  demo.<block>

``derived`` gives the values the demo works out (the years of :mod:`sowcast.cli.demo.plan`, each
input wired to the output of the stage before); ``demo.<block>`` of the config (sizes and paths
under ``demo.root``) goes on top, so a user's ``demo.train.max_steps=600`` wins over both. The
layers are merged in turn with OmegaConf over the group as Hydra composed it; a key the group
does not have is one line ``demo.<group>: ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from sowcast.cli.demo.plan import Plan
from sowcast.errors import SowcastError

SAME = "<group>"  # Patch.demo: the block named as the group


def _nothing(cfg: DictConfig, plan: Plan) -> dict:
    return {}


@dataclass(frozen=True)
class Patch:
    group: str                                                  # the config group it overrides
    derived: Callable[[DictConfig, Plan], dict] = _nothing      # values from the plan and earlier stages
    demo: str | None = SAME                                     # demo.<demo> over them; None: no block

    @property
    def block(self) -> str | None:
        return self.group if self.demo == SAME else self.demo


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def demo_block(cfg: DictConfig, name: str) -> dict:
    """``demo.<name>`` as a plain dict ({} when absent); anything else but a mapping is an error."""
    node = cfg.demo.get(name)
    value = _container(node) if node is not None else {}
    if not isinstance(value, dict):
        raise SowcastError(f"demo.{name} must be a mapping of {name} options, not {value!r}")
    return value


def _unknown_key(base: Any, layer: Mapping, path: str) -> str | None:
    """The first key of ``layer`` that ``base`` lacks, as a dotted path; keys under a map that
    is empty in ``base`` (a free-form map such as ``train.variable_weights: {}``) are all known."""
    if isinstance(base, DictConfig) and len(base) == 0:
        return None
    for key, value in layer.items():
        if not isinstance(base, DictConfig) or key not in base:
            return f"{path}.{key}"
        if isinstance(value, Mapping):
            unknown = _unknown_key(base.get(key), value, f"{path}.{key}")
            if unknown is not None:
                return unknown
    return None


def merge(cfg: DictConfig, section: str, *layers: Any) -> None:
    """Merge ``layers`` (plain dicts) over ``cfg.<section>`` in turn; an unknown key is an
    error, but for the entries of a free-form map (:func:`_unknown_key`)."""
    from omegaconf.errors import OmegaConfBaseException

    merged = cfg[section]
    for layer in layers:
        if not layer:
            continue
        unknown = _unknown_key(merged, layer, section)
        if unknown is not None:
            raise SowcastError(f"demo.{section}: key {unknown!r} is not one of {section}.* "
                               f"(keys are those of {section}.*)")
        try:
            with open_dict(merged):
                merged = OmegaConf.merge(merged, layer)
            OmegaConf.set_struct(merged, True)
        except OmegaConfBaseException as exc:
            first = str(exc).strip().splitlines()[0]
            raise SowcastError(f"demo.{section}: {first} (keys are those of {section}.*)") from None
    with open_dict(cfg):
        cfg[section] = merged


def apply(cfg: DictConfig, patch: Patch, plan: Plan) -> None:
    """``patch`` merged into ``cfg`` (in place): its derived values, then its demo block."""
    derived = patch.derived(cfg, plan)
    merge(cfg, patch.group, derived, demo_block(cfg, patch.block) if patch.block is not None else {})
