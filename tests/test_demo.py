"""The demo chain end to end, at a reduced size, through the real command line; its calendar and
its failure messages."""

import json
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
from omegaconf import OmegaConf

from sowcast.bundle.reader import load_bundle
from sowcast.cli.demo.plan import make_plan
from sowcast.cli.demo.torchrun import failure_cause
from sowcast.errors import SowcastError

REPO = Path(__file__).resolve().parents[1]
STEPS = ["synthesise", "ingest", "train", "export", "hindcast", "calibrate", "reforecast", "verify", "forecast",
         "products", "bulletin"]


def small(root: Path, **changes: object) -> list[str]:
    """Three synthetic years on a small grid (two to train on, one held out), a tiny model, few
    steps, starts and members: the whole chain in about a minute and a half on 2 cores."""
    sizes = {"demo.root": root, "model": "tiny", "progress": "false",
             "data.synth.start": "2000-01-01", "data.synth.end": "2002-12-31",
             "data.synth.grid": "{lat_min: 4, lat_max: 18, lon_min: -18, lon_max: 4, resolution: 1.0}",
             "demo.held_out_years": 1, "demo.climatology_years": 2, "demo.reforecast_years": 1,
             "demo.train.max_steps": 20, "train.validation_windows": 4, "demo.hindcast.every_days": 28,
             "demo.reforecast.members": 2, "demo.forecast.members": 2,
             "products.locations": REPO / "data/locations/west_africa_demo.csv"}
    return [f"{k}={v}" for k, v in {**sizes, **changes}.items()]


def states(stderr: str) -> dict[str, str]:
    """Step -> "reused" or "ran", from the demo's progress lines."""
    out = {}
    for line in stderr.splitlines():
        if line.startswith("[demo] ") and ": " in line:
            name = line.split(":")[0].split()[-1]
            if "up to date, reused" in line:
                out[name] = "reused"
            elif line.rstrip().split(": ", 1)[1].startswith("done in"):
                out[name] = "ran"
    return out


@pytest.mark.slow
def test_demo_chain_end_to_end_reuses_and_names_a_failing_step(sowcast_cli, tmp_path):
    root = tmp_path / "demo"
    first = sowcast_cli("demo", *small(root), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert states(first.stderr) == dict.fromkeys(STEPS, "ran")
    # Nothing the user should not see: the verify step once printed pandas' MultiIndex warning.
    assert "FutureWarning" not in first.stderr and "DeprecationWarning" not in first.stderr

    # Trained by 2 processes that agreed on the weights, on the training years only.
    status = json.loads((root / "checkpoints/tiny/status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 20
    digests = json.loads((Path(status["checkpoint"]) / "meta.json").read_text())["param_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    config = OmegaConf.load(root / "checkpoints/tiny/config.yaml")
    assert list(config.train.train_range) == ["2000-01-01", "2001-12-31"]
    # The bundle verifies and carries the climatology of the training-year hindcasts.
    bundle = load_bundle(root / "bundle/tiny")
    assert bundle.climatology_path is not None and bundle.climatology_path.is_file()
    assert load_bundle(root / "bundle/tiny.tar.gz").channels == bundle.channels
    # The small demo's grid does not reach the equator: the onset's ocean predictor (auto) says
    # why it is not applied instead of failing the step.
    with xr.open_dataset(root / "calibration.nc") as cal:
        assert cal.attrs["onset_ocean"].startswith("not applied: the ocean index box [-3.0, 3.0, -20.0, 0.0] "
                                                   "holds no grid point")
    with xr.open_zarr(root / "forecast.zarr", consolidated=False) as fc:
        assert fc.sizes["lead_time"] == 46 and fc.sizes["member"] == 2
        assert pd.Timestamp(fc["init_time"].values) == pd.Timestamp("2002-05-15")  # a held-out year
    products = json.loads((root / "products/products.json").read_text())
    assert products["issue_date"] == "2002-05-15" and len(products["locations"]) == 11
    assert (root / "products/locations.csv").is_file() and (root / "products/weekly.nc").is_file()
    for lang in ("en", "fr"):
        assert (root / f"bulletin/bulletin_{lang}.html").read_text(encoding="utf-8").lstrip().startswith("<!DOCTYPE")
        assert (root / f"bulletin/bulletin_{lang}.pdf").read_bytes().startswith(b"%PDF")
    assert (root / "bulletin/sms.csv").is_file()
    scores = pd.read_csv(root / "scorecard/scores.csv")
    assert {"rpss", "rpss_as_issued", "onset_mae_days"} <= set(scores["metric"])
    # member fractions as issued lose their sampling noise's price against the fair score
    rain = scores[scores.variable == "total_precipitation"].set_index(["metric", "period"])["value"]
    for period in ("week1", "weeks3-4"):
        assert rain[("rpss_as_issued", period)] < rain[("rpss", period)]
    assert "rpss_as_issued_calibrated" not in set(scores["metric"])     # calibrated ones are plain already
    summary = json.loads((root / "scorecard/summary.json").read_text())
    assert summary["years"] == [2002]
    # the scorecard went into the bundle, the products carried it, the bulletin states it
    assert load_bundle(root / "bundle/tiny").scorecard_summary_path.read_bytes() == \
        (root / "scorecard/summary.json").read_bytes()
    assert (root / "products/scorecard/scores.csv").read_bytes() == (root / "scorecard/scores.csv").read_bytes()
    skill = json.loads((root / "bulletin/bulletin.json").read_text())["skill"]
    assert skill["assessed"] is True and skill["years"] == [2002]
    # The summary on stdout: where things are and the skill figures.
    assert "RPSS of weekly rain terciles" in first.stdout and "onset MAE" in first.stdout
    assert "raw member fractions as issued" in first.stdout
    assert "validation RMSE / persistence" in first.stdout and "spread / error of weekly rain" in first.stdout
    assert "validation bias of daily rain (mm)" in first.stdout and "onset bias of the mean date" in first.stdout
    assert str(root / "scorecard/scores.csv") in first.stdout

    manifest_mtime = (root / "bundle/tiny/manifest.json").stat().st_mtime_ns
    again = sowcast_cli("demo", *small(root), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert states(again.stderr) == dict.fromkeys(STEPS, "reused")
    assert (root / "bundle/tiny/manifest.json").stat().st_mtime_ns == manifest_mtime

    # A change redoes that step and the steps that read its output, nothing else (the new
    # scorecard goes into the bundle: the products carry it; the forecast's model is the same).
    changed = sowcast_cli("demo", *small(root, **{"demo.reforecast.members": 3}), cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr[-3000:]
    ran = {k for k, v in states(changed.stderr).items() if v == "ran"}
    assert ran == {"reforecast", "verify", "products", "bulletin"}
    assert json.loads((root / "scorecard/summary.json").read_text())["members"] == 3

    # A failure inside the torchrun ranks: one line naming the step, exit 2, earlier outputs kept.
    broken = sowcast_cli("demo", *small(root, **{"demo.reforecast.members": 3, "demo.train.batch_size": 100000}),
                         cwd=tmp_path)
    assert broken.returncode == 2
    last = broken.stderr.strip().splitlines()[-1]
    assert last.startswith("sowcast: error: demo step 'train' failed: "), last
    assert "fewer than one global batch" in last
    assert states(broken.stderr) == {"synthesise": "reused", "ingest": "reused"}
    assert (root / "demo.zarr").is_dir() and load_bundle(root / "bundle/tiny").climatology_path is not None


def test_demo_failure_names_the_step(sowcast_cli, tmp_path):
    root = tmp_path / "demo"
    r = sowcast_cli("demo", f"demo.root={root}", "data.synth.start=2000-01-01", "data.synth.end=2001-12-31",
                    "data.synth.grid={lat_min: 4, lat_max: 16, lon_min: -4, lon_max: 4, resolution: 2.0}",
                    "demo.held_out_years=1", "demo.climatology_years=1", "demo.reforecast_years=1",
                    "demo.data.ingest.sources=[nowhere/*.nc]", "progress=false", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("sowcast: error: demo step 'ingest' failed:")
    assert sorted(p.name for p in (root / "raw").glob("*.nc")) == ["synthetic_monsoon_2000.nc",
                                                                    "synthetic_monsoon_2001.nc"]
    assert not (root / "demo.zarr").exists()
    assert (root / ".stamps/synthesise.json").is_file() and not (root / ".stamps/ingest.json").exists()


def test_demo_refuses_an_unknown_size_key_before_running(sowcast_cli, tmp_path):
    r = sowcast_cli("demo", f"demo.root={tmp_path / 'demo'}", "+demo.train.max_stepz=10", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("sowcast: error: demo.train: ")
    assert not (tmp_path / "demo").exists()


def test_demo_block_sets_entries_of_a_free_form_map_and_refuses_unknown_keys():
    """``demo.train.variable_weights={...}`` fills the empty map ``train.variable_weights``;
    a misspelt key is still refused, also one level down; the section stays strict."""
    from sowcast.cli.demo.patch import merge
    from sowcast.cli.main import compose

    cfg = compose([])
    merge(cfg, "train", {"variable_weights": {"total_precipitation": 3.0}, "max_steps": 5})
    assert dict(cfg.train.variable_weights) == {"total_precipitation": 3.0} and cfg.train.max_steps == 5
    for bad, key in (({"max_stepz": 1}, "train.max_stepz"), ({"perturbation": {"scael": 1}}, None)):
        section = "train" if key else "hindcast"
        with pytest.raises(SowcastError, match=f"demo.{section}: key '{key or 'hindcast.perturbation.scael'}'"):
            merge(cfg, section, bad)
    with pytest.raises(Exception):  # still a struct: no new key by attribute
        cfg.train.not_an_option = 1


def _cfg(**demo) -> OmegaConf:
    base = {"held_out_years": 2, "climatology_years": 6, "reforecast_years": 2, "forecast_day": "05-15"}
    return OmegaConf.create({"data": {"synth": {"start": "1991-01-01", "end": "2010-12-31"}},
                             "demo": {**base, **demo}})


def test_plan_holds_out_the_last_years():
    plan = make_plan(_cfg())
    assert plan.train_years == (1991, 2008) and plan.held_out_years == (2009, 2010)
    assert plan.climatology_years == (2003, 2008) and plan.reforecast_years == (2009, 2010)
    assert plan.forecast_init == pd.Timestamp("2009-05-15")
    assert plan.train_range == ["1991-01-01", "2008-12-31"]
    assert plan.validation_range == ["2009-01-01", "2010-12-31"]
    assert make_plan(_cfg(climatology_years=40, reforecast_years=1)).climatology_years == (1991, 2008)


@pytest.mark.parametrize("demo, message", [
    ({"held_out_years": 20}, "leaves no full training year"),
    ({"reforecast_years": 3}, "more than the 2 held-out year"),
    ({"forecast_day": "13-40"}, "demo.forecast_day must be MM-DD"),
    ({"held_out_years": 0}, "demo.held_out_years must be at least 1"),
])
def test_plan_refuses_what_cannot_work(demo, message):
    with pytest.raises(SowcastError, match=message):
        make_plan(_cfg(**demo))


def test_failure_cause_prefers_the_ranks_own_error_line():
    torchrun = "\n".join([
        "sowcast train: 40 parameters", "sowcast: error: 12 training windows are fewer than one global batch",
        "sowcast: error: 12 training windows are fewer than one global batch",
        "E1121 torch/distributed/elastic/multiprocessing/api.py:882] failed (exitcode: 2) local_rank: 0",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ", "=" * 60, "sowcast FAILED",
        "-" * 60, "  exitcode  : 2 (pid: 12)", "=" * 60])
    assert failure_cause(torchrun, 1) == "12 training windows are fewer than one global batch"
    crash = "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom\n" + "=" * 60 + "\n"
    assert failure_cause(crash + "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n", 1) \
        == "RuntimeError: boom"
    assert failure_cause("killed\n", -9) == "killed (exit status -9)"
    assert failure_cause("", 1) == "torchrun exited with status 1"


def test_the_table_runs_every_stage_once_in_order_and_tracks_each():
    from sowcast.cli.demo.stages import STAGES
    from sowcast.cli.demo.steps import TRACKING

    assert [stage.name for stage in STAGES] == STEPS
    assert set(TRACKING) == set(STEPS)
    # every stage runs its own run(options) but the training, which runs under torchrun
    assert [stage.name for stage in STAGES if stage.typed is None] == ["train"]
    wired: set[str] = set()
    for stage in STAGES:  # a typed stage parses a group that its own patch, or one above it, wires
        wired |= {p.group for p in (*stage.patches, *stage.own)}
        group = stage.typed.group if stage.typed is not None else None
        assert group is None or any(group == g or group.startswith(g + ".") for g in wired), stage.name


def test_every_patched_group_parses_with_its_options_class(tmp_path):
    """The demo config, as every stage gets it, passes the options classes of the groups the table
    patches (those the commands parse: sowcast.cli.main.COMMANDS), and the wiring is the plan's."""
    from importlib import import_module

    from sowcast.cli.demo.stages import STAGES, demo_config, patched
    from sowcast.cli.main import COMMANDS, compose
    from sowcast.options import parse

    cfg = compose([f"demo.root={tmp_path}"])
    plan = make_plan(cfg)
    d = demo_config(cfg, plan)
    classes = {group: target.partition(":") for command in COMMANDS.values() for group, target in command.options
               if group}
    parsed = {}
    for stage in STAGES:
        c = patched(d, tuple(p for p in stage.own if p.group != "export"), plan)  # export's: a finished training
        for patch in (*stage.patches, *stage.own):
            for group, (module, _, name) in classes.items():
                if group == patch.group or group.startswith(patch.group + "."):
                    cls = getattr(import_module(module), name.split(".")[0])
                    parsed[(stage.name, group)] = parse(cls, OmegaConf.select(c, group), group)
    assert {group for _, group in parsed} >= {"data.synth", "data.ingest", "train", "export", "hindcast", "calibrate",
                                             "forecast", "products", "verify", "bulletin"}
    assert ("reforecast", "hindcast") in parsed
    assert list(parsed[("train", "train")].train_range) == plan.train_range == ["1991-01-01", "2008-12-31"]
    assert str(parsed[("verify", "verify")].hindcast) == str(tmp_path / "reforecasts")
    assert str(parsed[("bulletin", "bulletin")].products) == str(tmp_path / "products")
    reforecast = next(s for s in STAGES if s.name == "reforecast")
    assert list(patched(d, reforecast.own, plan).hindcast.years) == list(plan.reforecast_years)
    assert list(d.hindcast.years) == list(plan.climatology_years)  # the reforecasts' patch is their own


def test_export_stage_needs_a_finished_training(tmp_path):
    from sowcast.cli.demo.stages import STAGES, demo_config, patched
    from sowcast.cli.main import compose

    cfg = compose([f"demo.root={tmp_path}"])
    plan = make_plan(cfg)
    export = next(s for s in STAGES if s.name == "export")
    with pytest.raises(SowcastError, match="no finished training run in .*checkpoints/small"):
        patched(demo_config(cfg, plan), export.own, plan)
