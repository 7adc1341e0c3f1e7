"""Checkpoints: round trip, RNG states, keep-last-N and best, corrupt-file fallback, atomicity."""

import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from sowcast.errors import SowcastError
from sowcast.train.checkpoint import (CheckpointManager, CorruptCheckpoint, capture_rng, load_checkpoint,
                                      parameter_digest, read_meta, restore_rng)


def _payload(seed: int = 0, step: int = 0) -> dict:
    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(5, 4)).square().sum().backward()
    opt.step()
    return {"step": step, "epoch": 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "sampler": {"epoch": 1, "seed": 0, "position": 6, "world_size": 1}, "rng": [capture_rng()],
            "hyperparameters": {"width": 4}, "channels": ["a", "b", "c"], "forcings": ["f"], "static": [],
            "config": {"train": {"lr": 0.01, "rollout": [[0, 1]]}}, "param_digests": [parameter_digest(model)]}


def test_round_trip(tmp_path):
    manager = CheckpointManager(tmp_path / "ck", keep_last=2)
    payload = _payload()
    path = manager.save(payload, step=7, val_loss=0.5)
    back = load_checkpoint(path)
    assert back["step"] == 7 and back["epoch"] == 1 and back["val_loss"] == 0.5
    for k, v in payload["model"].items():
        assert torch.equal(back["model"][k], v)
    assert back["optimizer"]["state"][0]["exp_avg"].equal(payload["optimizer"]["state"][0]["exp_avg"])
    assert back["sampler"] == payload["sampler"] and back["config"] == payload["config"]
    assert back["param_digests"] == [parameter_digest(back["model"])]
    meta = read_meta(path)
    assert meta["step"] == 7 and meta["channels"] == ["a", "b", "c"] and len(meta["sha256"]["state.pt"]) == 64
    assert load_checkpoint(path / "state.pt")["step"] == 7  # the file itself also works


def test_rng_states_restore_exactly(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    manager = CheckpointManager(tmp_path / "ck")
    manager.save({"rng": [capture_rng()]}, step=1)
    expected = (random.random(), np.random.rand(3), torch.rand(3))
    restore_rng(load_checkpoint(manager.step_dir(1))["rng"][0])
    got = (random.random(), np.random.rand(3), torch.rand(3))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
    assert torch.equal(got[2], expected[2])


def test_keep_last_and_best(tmp_path):
    manager = CheckpointManager(tmp_path / "ck", keep_last=2)
    losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: None, 5: 1.5}
    for step, val in losses.items():
        manager.save(_payload(step=step), step=step, val_loss=val)
    assert [s for s, _ in manager.steps()] == [4, 5]
    best = load_checkpoint(manager.best_dir)
    assert best["step"] == 2 and best["val_loss"] == 1.0  # kept although step 2 was pruned
    assert manager.best_val_loss() == 1.0
    assert manager.latest()["step"] == 5
    assert manager.resolve("auto")["step"] == 5 and manager.resolve("best")["step"] == 2
    assert manager.resolve("never") is None
    assert manager.resolve(str(manager.step_dir(4)))["step"] == 4


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_meta", "no_state"])
def test_corrupt_latest_falls_back_to_the_previous(tmp_path, damage):
    manager = CheckpointManager(tmp_path / "ck", keep_last=3)
    for step in (1, 2, 3):
        manager.save(_payload(step=step), step=step)
    state = manager.step_dir(3) / "state.pt"
    if damage == "truncate":
        data = state.read_bytes()
        state.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data = bytearray(state.read_bytes())
        data[len(data) // 2] ^= 0xFF
        state.write_bytes(bytes(data))
    elif damage == "no_meta":
        (manager.step_dir(3) / "meta.json").unlink()
    else:
        state.unlink()
    with pytest.warns(UserWarning, match="skipping corrupt checkpoint"):
        latest = manager.latest()
    assert latest["step"] == 2
    with pytest.raises(CorruptCheckpoint):  # asked for by path: an error, not a fallback
        load_checkpoint(manager.step_dir(3))


def test_truncated_file_without_checksum_is_still_caught(tmp_path):
    manager = CheckpointManager(tmp_path / "ck")
    manager.save(_payload(), step=1)
    meta_file = manager.step_dir(1) / "meta.json"
    meta_file.write_text(meta_file.read_text().replace('"sha256"', '"no_sha256"'))
    state = manager.step_dir(1) / "state.pt"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(CorruptCheckpoint, match="cannot load"):
        load_checkpoint(manager.step_dir(1))


def test_missing_checkpoint_is_a_user_error(tmp_path):
    with pytest.raises(SowcastError, match="no checkpoint"):
        CheckpointManager(tmp_path / "ck").resolve(str(tmp_path / "nope"))
    assert CheckpointManager(tmp_path / "ck").latest() is None


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path):
    manager = CheckpointManager(tmp_path / "ck")
    manager.save(_payload(step=1), step=1)
    bad = _payload(step=2)
    bad["unpicklable"] = lambda: None
    with pytest.raises(Exception):
        manager.save(bad, step=2)
    assert [s for s, _ in manager.steps()] == [1]
    assert [p.name for p in (tmp_path / "ck").iterdir()] == ["step_00000001"]  # no temporary left
    assert manager.latest()["step"] == 1


def test_a_killed_save_leaves_the_previous_checkpoint(tmp_path):
    """SIGKILL in the middle of torch.save: the old checkpoint stays; leftovers are cleaned."""
    directory = tmp_path / "ck"
    manager = CheckpointManager(directory)
    manager.save(_payload(step=1), step=1)
    script = textwrap.dedent(f"""
        import time, torch
        from sowcast.train.checkpoint import CheckpointManager

        class Slow:  # pickled after the big tensor has been written
            def __reduce__(self):
                print("saving", flush=True)
                time.sleep(60)
                return (int, (0,))

        CheckpointManager({str(directory)!r}).save({{"big": torch.zeros(1 << 20), "z": Slow()}}, step=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saving"
        leftovers = [p for p in directory.iterdir() if p.name.startswith(".")]
        assert leftovers, "the save should be writing into a temporary"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [s for s, _ in manager.steps()] == [1]
    assert manager.latest()["step"] == 1
    CheckpointManager(directory)  # a writer cleans up the killed save's temporary
    assert sorted(p.name for p in directory.iterdir()) == ["step_00000001"]
