"""Children die with their parent (issue 16; sowcast.parent_death), with real processes:
a kill -9 of torchrun ends both training ranks (they get SIGTERM, save and stop); a kill -9
of the process that started ``python -m sowcast serve`` the way the service starts its steps
ends it; a child whose parent was gone before it could ask ends itself at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sowcast.serve.children import start_time

sys.path.insert(0, str(Path(__file__).parent))
from test_distributed import clean_env, overrides, store  # noqa: E402,F401 - store is a fixture

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc/<child>/stat)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill9_of_torchrun_ends_both_ranks(store, tmp_path):  # noqa: F811 - the fixture
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "sowcast", "train", *overrides(store, run, **{"train.max_steps": 100000})]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ranks: list[int] = []
    try:
        metrics = run / "metrics.csv"
        wait_until(lambda: metrics.exists() and metrics.read_text().count(",train,loss,") >= 2, 180, "training steps")
        ranks = children_of(proc.pid)
        assert len(ranks) == 2, ranks
        os.kill(proc.pid, signal.SIGKILL)  # torchrun alone
        proc.wait(30)
        wait_until(lambda: all(start_time(pid) is None for pid in ranks), 120, "both ranks to end")
    finally:
        for pid in ranks:
            if start_time(pid) is not None:
                os.kill(pid, signal.SIGKILL)
    # They ended as on SLURM's warning: SIGTERM, a saved checkpoint, status "stopped".
    assert json.loads((run / "status.json").read_text())["state"] == "stopped"
    assert list((run / "checkpoints").glob("step_*"))


LAUNCHER = """import subprocess, sys
from sowcast.parent_death import child_environment
child = subprocess.Popen([sys.executable, "-m", "sowcast", *sys.argv[1:]], env=child_environment())
print(child.pid, flush=True)
child.wait()
"""


def test_kill9_of_the_starting_process_ends_its_sowcast_child(tmp_path):
    """``python -m sowcast serve`` started as the service starts its steps (child_environment);
    the starter killed with -9: the serve gets SIGTERM and stops."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bundle"))
    from test_reader import make_bundle

    bundle = make_bundle(tmp_path / "bundle")
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, "serve", f"serve.root={tmp_path / 'root'}",
                                 f"serve.bundle={bundle}", "serve.locations=null", "serve.port=0", "progress=false"],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
    child = int(launcher.stdout.readline())
    try:
        wait_until(lambda: (tmp_path / "root" / "serve.lock").exists(), 60, "the service to start")
        assert start_time(child) is not None
        os.kill(launcher.pid, signal.SIGKILL)
        launcher.wait(30)
        wait_until(lambda: start_time(child) is None, 60, "the service to end")
    finally:
        if start_time(child) is not None:
            os.kill(child, signal.SIGKILL)


def test_a_child_whose_parent_is_already_gone_ends_itself(tmp_path):
    """The race: SOWCAST_PARENT_PID names a parent that is not the child's parent any more."""
    code = "from sowcast.parent_death import die_with_parent_at_start; die_with_parent_at_start(); " \
           "import os, time; print(os.environ.get('SOWCAST_PARENT_PID')); time.sleep(60)"
    gone = subprocess.run([sys.executable, "-c", code], env={**os.environ, "SOWCAST_PARENT_PID": "1"}, timeout=60)
    assert gone.returncode == -signal.SIGTERM
    # Its real parent: it lives on, and its own children do not inherit the variable.
    alive = subprocess.run([sys.executable, "-c", code.replace("time.sleep(60)", "pass")], capture_output=True,
                           text=True, env={**os.environ, "SOWCAST_PARENT_PID": str(os.getpid())}, timeout=60)
    assert alive.returncode == 0 and alive.stdout.strip() == "None"
