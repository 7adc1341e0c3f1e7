"""``sowcast train`` with the default (auto) ranges on a store that is not the demo's, and
ranges too short for the validation leads: an error naming the setting, nothing written."""

from __future__ import annotations

import pytest
import yaml

from sowcast.cli.main import compose
from sowcast.data.testing import make_canonical_store
from sowcast.errors import SowcastError
from sowcast.train.checkpoint import CheckpointManager, load_checkpoint
from sowcast.train.trainer import train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_canonical_store(tmp_path_factory.mktemp("s") / "march.zarr", n_times=40, grid=(8, 16),
                                start="2019-03-01", step="6h", levels=None, level_variables=())


def _overrides(store, run_dir, **extra):
    base = {"model": "tiny", "data.store": str(store), "train.run_dir": str(run_dir),
            "graph.cache_dir": str(store.parent / "graphs"), "train.max_steps": 2, "train.batch_size": 2,
            "train.warmup_steps": 1, "train.validate_every": 2, "train.validation_windows": 2,
            "train.checkpoint_every": 2, "train.num_workers": 0, "train.threads": 1, "progress": "false"}
    base.update(extra)
    return compose([f"{k}={v}" for k, v in base.items()])


def test_default_ranges_come_from_the_store_and_are_recorded(store, tmp_path, capsys):
    run = tmp_path / "run"
    train(_overrides(store, run, **{"train.validation_leads": "[1,3]"}))
    saved = yaml.safe_load((run / "config.yaml").read_text())["train"]
    # 40 six-hourly times from 1 March: the last 15 % (6 times) start 9 March 12Z, from 00Z that day
    assert saved["validation_range"] == ["2019-03-09T00:00:00", "2019-03-10T18:00:00"]
    assert saved["train_range"] == ["2019-03-01T00:00:00", "2019-03-08T18:00:00"]
    payload = load_checkpoint(CheckpointManager(run / "checkpoints").steps()[-1][1])
    assert payload["config"]["train"]["train_range"] == saved["train_range"]
    assert "train.train_range 2019-03-01T00:00:00..2019-03-08T18:00:00" in capsys.readouterr().err


def test_validation_leads_longer_than_the_range_name_the_setting(store, tmp_path):
    run = tmp_path / "run"
    cfg = _overrides(store, run, **{"train.train_range": "[2019-03-01,2019-03-07]",
                                    "train.validation_range": "[2019-03-08,2019-03-10]",
                                    "train.validation_leads": "[1,3,14]"})
    with pytest.raises(SowcastError, match=r"train.validation_range .* one window needs 16.*train.validation_leads") as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not (run / "checkpoints").exists()


def test_a_training_range_outside_the_store_names_the_setting(store, tmp_path):
    cfg = _overrides(store, tmp_path / "run", **{"train.train_range": "[1991-01-01,2006-12-31]"})
    with pytest.raises(SowcastError, match=r"train.train_range 1991-01-01..2006-12-31 holds 0 time\(s\) "
                                           r"of the store's 2019-03-01 00:00 .. 2019-03-10 18:00"):
        train(cfg)
