"""The training loop end to end on a tiny store: interrupt (a real SIGTERM) and resume give
the weights of an uninterrupted run bit for bit; validation numbers; CLI errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from sowcast.cli.main import compose, main
from sowcast.data.testing import make_canonical_store
from sowcast.data.windows import WindowSource
from sowcast.errors import SowcastError
from sowcast.train.checkpoint import CheckpointManager, load_checkpoint
from sowcast.train.losses import AreaWeightedMSE, latitude_weights
from sowcast.train.metrics_log import read_metrics
from sowcast.train.signals import EXIT_STOPPED
from sowcast.train.trainer import train
from sowcast.train.validation import Climatology, Validator, compute_climatology

MAX_STEPS = 30


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_canonical_store(tmp_path_factory.mktemp("store") / "tiny.zarr", n_times=40, grid=(8, 16), seed=0)


def overrides(store: Path, run_dir: Path, **extra) -> list[str]:
    """A tiny run: 25 training windows (12 batches an epoch), 8 validation windows."""
    base = {
        "model": "tiny", "data.store": str(store), "train.run_dir": str(run_dir),
        "graph.cache_dir": str(store.parent / "graphs"),
        "train.max_steps": MAX_STEPS, "train.batch_size": 2, "train.lr": 3e-3, "train.warmup_steps": 3,
        "train.lr_min": 1e-5, "train.rollout": "[[0,1],[8,2]]",
        "train.train_range": "[2000-01-01,2000-01-28]", "train.validation_range": "[2000-01-29,2000-02-09]",
        "train.validate_every": 10, "train.validation_leads": "[1,3]", "train.validation_windows": 4,
        "train.checkpoint_every": 10, "train.log_every": 1, "train.num_workers": 0, "train.threads": 1,
        "progress": "false",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def train_losses(run_dir: Path) -> dict[int, str]:
    return {int(r["step"]): r["value"] for r in read_metrics(run_dir / "metrics.csv")
            if r["split"] == "train" and r["metric"] == "loss"}


def final_state(run_dir: Path) -> dict:
    return load_checkpoint(CheckpointManager(run_dir / "checkpoints").steps()[-1][1])


def _wait_for_step(run_dir: Path, proc: subprocess.Popen, step: int, timeout: float = 60) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before step {step}: {proc.stderr.read()}")
        if any(s >= step for s in train_losses(run_dir)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no step {step} in the metrics log after {timeout} s")


STOCHASTIC = {"model.noise_channels": 4, "train.ensemble_members": 2}   # afCRPS over 2 members per window


@pytest.mark.parametrize("num_workers, extra", [(0, {}), (0, STOCHASTIC), pytest.param(2, {}, marks=pytest.mark.slow)],
                         ids=["mse", "afcrps", "mse-workers"])
def test_sigterm_and_resume_match_an_uninterrupted_run(store, tmp_path, num_workers, extra):
    # A: uninterrupted, in this process.
    run_a = tmp_path / "a"
    result = train(compose(overrides(store, run_a, **{"train.num_workers": num_workers, **extra})))
    assert result.state == "finished" and result.step == MAX_STEPS
    losses_a = train_losses(run_a)
    assert sorted(losses_a) == list(range(1, MAX_STEPS + 1))

    # B: the same run in a subprocess, stopped by a real SIGTERM ...
    run_b = tmp_path / "b"
    args = overrides(store, run_b, **{"train.num_workers": num_workers, **extra})
    proc = subprocess.Popen([sys.executable, "-m", "sowcast", "train", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_step(run_b, proc, 4)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_STOPPED, err
    assert "Traceback" not in err
    status = json.loads((run_b / "status.json").read_text())
    assert status["state"] == "stopped" and status["signal"] == "SIGTERM"
    stopped_at = status["step"]
    assert 4 <= stopped_at < MAX_STEPS
    assert CheckpointManager(run_b / "checkpoints").steps()[-1][0] == stopped_at

    # ... then resumed (train.resume=auto is the default) to the end.
    result = train(compose(args))
    assert result.state == "finished" and result.step == MAX_STEPS
    a, b = final_state(run_a), final_state(run_b)
    assert a["model"].keys() == b["model"].keys()
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["sampler"] == b["sampler"] and a["epoch"] == b["epoch"] == 2
    assert a["param_digests"] == b["param_digests"]
    assert train_losses(run_b) == losses_a  # every step's loss, the lost steps' rows dropped


def test_runs_finish_resume_and_refuse_other_models(store, tmp_path):
    run = tmp_path / "run"
    args = overrides(store, run, **{"train.max_steps": 6, "train.validate_every": 3})
    result = train(compose(args))
    assert result.state == "finished" and result.validation is not None
    assert result.samples_per_s and result.samples_per_s > 0
    ck = CheckpointManager(run / "checkpoints")
    assert [s for s, _ in ck.steps()] == [3, 6] and ck.best_dir.is_dir()
    state = load_checkpoint(ck.steps()[-1][1])
    assert state["hyperparameters"]["width"] == 32 and state["channels"] == WindowSource(store).channels
    assert state["config"]["train"]["max_steps"] == 6 and state["forcings"] and state["static"]
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
    assert (run / "config.yaml").is_file()

    again = train(compose(args))  # already at max_steps: nothing to do
    assert again.state == "finished" and again.step == 6
    assert [s for s, _ in ck.steps()] == [3, 6]
    with pytest.raises(SowcastError, match="another model"):
        train(compose(args + ["model.width=16"]))
    with pytest.raises(SowcastError, match="earlier run"):
        train(compose(args + ["train.resume=never"]))
    fresh = train(compose(args + ["train.resume=never", "overwrite=true", "train.max_steps=2"]))
    assert fresh.step == 2 and [s for s, _ in ck.steps()] == [2]


def _cpu_compiler_problem() -> str | None:
    """Why torch.compile cannot build a CPU kernel here (no C++ compiler, no Python headers), or None."""
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return "torch.compile on CPU needs a C++ compiler"
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(3))
    except Exception as exc:  # the toolchain, not sowcast: say why and skip
        return f"torch.compile cannot build a CPU kernel here: {str(exc).strip().splitlines()[0][:200]}"
    return None


@pytest.mark.slow
def test_a_compiled_step_trains_as_the_eager_one(store, tmp_path):
    """``train.compile=true``: the same run through torch.compile ends on the eager run's
    weights to float32 rounding, and saves a plain checkpoint (one rollout length: each
    length compiles its own graph, which costs tens of seconds on CPU)."""
    problem = _cpu_compiler_problem()
    if problem:
        pytest.skip(problem)
    states = {}
    for name, flag in (("eager", "false"), ("compiled", "true")):
        args = overrides(store, tmp_path / name, **{"train.max_steps": 4, "train.validate_every": 4,
                                                    "train.rollout": "[[0,1]]", "train.compile": flag})
        assert train(compose(args)).state == "finished"
        states[name] = final_state(tmp_path / name)["model"]
    assert states["eager"].keys() == states["compiled"].keys()  # no "_orig_mod." prefixes
    for key, eager in states["eager"].items():
        torch.testing.assert_close(states["compiled"][key], eager, rtol=1e-3, atol=1e-5, msg=key)


def test_a_run_dir_being_written_is_refused(store, tmp_path):
    """One writer per run folder: a run_dir held by another process (its rank 0) is a
    one-line error naming that process, and nothing is written."""
    run = tmp_path / "run"
    hold = "from sowcast.output_lock import output_lock\nimport sys\nwith output_lock(sys.argv[1]):\n" \
           "    print('held', flush=True)\n    sys.stdin.read()\n"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(SowcastError) as err:
            train(compose(overrides(store, run, **{"train.max_steps": 2})))
        assert str(err.value) == f"{run} is being written by another process (pid {holder.pid}); wait for it or stop it"
        assert not run.exists()
    finally:
        holder.communicate("", timeout=60)


def test_validation_scores_against_a_direct_computation(store):
    """Persistence and climatology RMSE recomputed with numpy; the model's from its rollout."""
    from sowcast.graph.build import build_graph
    from sowcast.model.forecaster import build_forecaster

    source = WindowSource(store, n_target_steps=3, time_range=["2000-01-20", None])
    torch.manual_seed(0)
    model = build_forecaster({"mesh_level": 2, "width": 16, "processor_layers": 1}, build_graph(source.grid, 2), source)
    loss_fn = AreaWeightedMSE.from_source(source)
    clim = Climatology("store_mean", source.statistics["mean"][:, None, None])
    v = Validator(source, [1, 3], n_windows=5, loss_fn=loss_fn, climatology=clim, batch_size=2)
    res = v.run(model, torch.device("cpu"))
    assert res.n_windows == len(v.indices) == 5

    w = latitude_weights(source.grid.lat)[:, None]
    windows = [source[int(i)] for i in v.indices]
    for k, lead in enumerate([1, 3]):
        truth = np.stack([x["targets"][lead - 1] for x in windows])
        pers = np.stack([x["inputs"][-1] for x in windows])
        np.testing.assert_allclose(res.rmse_persistence[k], np.sqrt((w * (pers - truth) ** 2).mean(axis=(0, 2, 3))),
                                   rtol=1e-5)
        clim_err = source.statistics["mean"][None, :, None, None] - truth
        np.testing.assert_allclose(res.rmse_climatology[k], np.sqrt((w * clim_err ** 2).mean(axis=(0, 2, 3))),
                                   rtol=1e-5)
        np.testing.assert_allclose(res.bias_climatology[k], (w * clim_err).mean(axis=(0, 2, 3)), rtol=1e-5, atol=1e-9)
    with torch.no_grad():
        pred = torch.cat([model.rollout(*(torch.from_numpy(np.stack([x[key] for x in windows[i:i + 1]]))
                                          for key in ("inputs", "forcings", "static")), 3)
                          for i in range(len(windows))]).numpy()
    truth = np.stack([x["targets"] for x in windows])
    np.testing.assert_allclose(res.rmse[1], np.sqrt((w * (pred[:, 2] - truth[:, 2]) ** 2).mean(axis=(0, 2, 3))),
                               rtol=1e-4)
    for k, lead in enumerate([1, 3]):
        np.testing.assert_allclose(res.bias[k], (w * (pred[:, lead - 1] - truth[:, lead - 1])).mean(axis=(0, 2, 3)),
                                   rtol=1e-4, atol=1e-6)
    rows = res.rows(step=5, epoch=0)
    assert len(rows) == 1 + 5 * 2 * len(source.channels) and rows[0]["metric"] == "loss"
    assert {r["metric"] for r in rows[1:]} == {"rmse", "rmse_persistence", "rmse_climatology", "bias",
                                               "bias_climatology"}


def test_day_of_year_climatology(tmp_path):
    path = make_canonical_store(tmp_path / "long.zarr", n_times=400, grid=(4, 8), levels=None,
                                surface=("2m_temperature",), seed=3)
    source = WindowSource(path, time_range=["2000-01-01", "2000-12-31"])
    clim = compute_climatology(source, window_days=3)
    assert clim.kind == "day_of_year" and clim.values.shape == (366, 1, 1, 4, 8)
    times = pd.DatetimeIndex(source.times)
    data = source._read_states(0, len(times))[:, 0]
    # 2000 is a leap year seen once: day 100 is the mean of days 99..101 of that year.
    expected = data[98:101].mean(axis=0)
    np.testing.assert_allclose(clim.at(np.array(["2000-04-09"], "datetime64[ns]"))[0, 0], expected, rtol=1e-5)
    # Less than a year of training data: the store mean stands in.
    short = WindowSource(path, time_range=["2000-01-01", "2000-03-01"])
    assert compute_climatology(short).kind == "store_mean"


def test_train_help_and_one_line_errors(store, tmp_path, sowcast_cli, capsys):
    r = sowcast_cli("train", "--help")
    assert r.returncode == 0, r.stderr
    assert "sowcast train:" in r.stdout and "max_steps:" in r.stdout and "resume:" in r.stdout

    r = sowcast_cli("train", f"data.store={tmp_path / 'nope.zarr'}", f"train.run_dir={tmp_path / 'run'}",
                    "progress=false")
    assert r.returncode == 2
    assert r.stderr.strip().startswith("sowcast: error: no store at") and len(r.stderr.strip().splitlines()) == 1

    assert main(["train", "model=enormous"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sowcast: error: bad configuration override") and len(err.splitlines()) == 1

    assert main(["train", *overrides(store, tmp_path / "r2", **{"train.device": "tpu"})]) == 2
    assert "train.device" in capsys.readouterr().err
