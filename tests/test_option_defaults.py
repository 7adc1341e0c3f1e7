"""One truth for the defaults: each group's YAML in conf/ (what Hydra composes) gives the same
defaults as its options class (what --help shows and the code falls back on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sowcast.options import default_mismatches

CONF = Path(__file__).resolve().parents[1] / "src" / "sowcast" / "conf"


def _yaml(relative: str, *keys: str) -> dict:
    section = OmegaConf.to_container(OmegaConf.load(CONF / relative), resolve=False)
    for key in keys:
        section = section[key]
    return {k: v for k, v in section.items() if k != "defaults"}


def _calibrate():
    from sowcast.calibrate.calibration import CalibrateOptions

    return CalibrateOptions, _yaml("calibrate/default.yaml"), "calibrate"


def _serve():
    from sowcast.serve.settings import ServeSettings

    return ServeSettings, _yaml("serve/default.yaml"), "serve"


def _train():
    from sowcast.train.options import TrainOptions

    return TrainOptions, _yaml("train/default.yaml"), "train"


def _synth():
    from sowcast.data.synth_options import SynthOptions

    return SynthOptions, _yaml("data/demo.yaml", "synth"), "data.synth"


def _common():
    from sowcast.cli.common_options import CommonOptions

    top = _yaml("config.yaml")
    return CommonOptions, {k: top[k] for k in ("overwrite", "progress")}, ""


CASES = {"calibrate": _calibrate, "serve": _serve, "train": _train, "data.synth": _synth, "common": _common}


@pytest.mark.parametrize("name", sorted(CASES))
def test_yaml_defaults_equal_the_options_class(name):
    cls, section, group = CASES[name]()
    assert default_mismatches(cls, section, group) == {}
