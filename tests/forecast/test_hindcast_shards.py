"""Hindcasts across machines, on the tiny chain: deploy/slurm/hindcast_array.sbatch run for
real as array tasks 0 and 1 of 2 (SLURM's variables set as sbatch would), then as the merge
job, gives the folder and the climatology one run gives, value for value; the merge refuses
in one line, writing nothing, while a shard is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from sowcast.errors import SowcastError
from sowcast.forecast.hindcast import HindcastOptions
from sowcast.forecast.hindcast_shards import parse_shard, shard_starts

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "slurm" / "hindcast_array.sbatch"


def _script(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHON": sys.executable, "SLURM_CPUS_PER_TASK": "2", **env}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=full, capture_output=True, text=True,
                          timeout=600)


def _same(a: Path, b: Path) -> None:
    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        x, y = x.load(), y.load()
    x.attrs.pop("history", None), y.attrs.pop("history", None)   # the time each was written
    xr.testing.assert_identical(x, y)


def test_shard_option_parsing_and_selection():
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None and parse_shard("null") is None
    assert shard_starts(list(range(8)), (1, 3)) == [1, 4, 7]
    for bad, message in (("3/3", "i must be 0..2"), ("a/b", "must be i/n"), ("1", "must be i/n")):
        with pytest.raises(SowcastError, match=message):
            parse_shard(bad)
    with pytest.raises(SowcastError, match="leave hindcast.shard unset"):
        HindcastOptions.from_config({"bundle": "b", "store": "s", "output": "o", "shard": "0/2", "merge": True})


@pytest.mark.slow
def test_two_shards_merged_equal_one_run(chain, tmp_path, sowcast_cli):
    common = [f"hindcast.bundle={chain['bundle']}", f"hindcast.store={chain['store']}",
              "hindcast.years=[2000,2001]", "hindcast.first=04-20", "hindcast.last=06-29", "hindcast.every_days=14",
              "hindcast.members=2", "hindcast.keep_daily=true", "hindcast.climatology.add_to_bundle=false"]
    one = tmp_path / "one"
    r = sowcast_cli("hindcast", *common, f"hindcast.output={one}", "hindcast.threads=1", "progress=false")
    assert r.returncode == 0, r.stderr
    # the model's drift on the hindcast years, by period, from the climatology it just built
    assert "drift, model minus observed, total_precipitation (mm, area mean over 2000-2001): week1 " in r.stdout

    merged = tmp_path / "merged"
    args = [*common, f"hindcast.output={merged}"]
    array = {"SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0"}
    r = _script(args, SLURM_ARRAY_TASK_ID="0", **array)
    assert r.returncode == 0, r.stderr
    assert "hindcast shard 0/2" in r.stdout and (tmp_path / "merged.shards" / "0-of-2" / "hindcast.json").is_file()

    r = _script(args, HINDCAST_MERGE="1")                       # shard 1 not run yet
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("sowcast: error: hindcast shard 1/2 is missing")
    assert not merged.exists()

    r = _script([*args, "hindcast.threads=1"], SLURM_ARRAY_TASK_ID="1", **array)   # one core here, two there
    assert r.returncode == 0, r.stderr
    r = _script(args, HINDCAST_MERGE="1")
    assert r.returncode == 0, r.stderr
    assert "merged from the shards" in r.stdout and "model climatology" in r.stdout

    for kind in ("periods", "daily"):
        names = sorted(p.name for p in (one / kind).glob("*.nc"))
        assert len(names) == 12 and names == sorted(p.name for p in (merged / kind).glob("*.nc"))
        for name in names:
            _same(one / kind / name, merged / kind / name)
    assert (one / "hindcast.json").read_text() == (merged / "hindcast.json").read_text()
    _same(one / "climatology.nc", merged / "climatology.nc")

    r = _script(args, HINDCAST_MERGE="1")                       # merging again changes nothing
    assert r.returncode == 0, r.stderr
    _same(one / "climatology.nc", merged / "climatology.nc")


def test_the_script_outside_an_array_says_how_to_submit(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_ARRAY")}
    r = subprocess.run(["bash", str(SCRIPT), "hindcast.output=x"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == ("sowcast: error: submit with sbatch --array=0-N (one task per "
                                                       "shard), or set HINDCAST_MERGE=1 to merge")


@pytest.mark.parametrize("override, message", [
    ("hindcast.shard=2/2", "hindcast.shard 2/2: i must be 0..1 (shards are counted from 0)"),
    ("hindcast.merge=maybe", "hindcast.merge must be true or false"),
    ("hindcast.parallel=fast", "hindcast.parallel must be one of members, intra_op"),
])
def test_bad_shard_options_are_one_line_errors(tmp_path, sowcast_cli, override, message):
    r = sowcast_cli("hindcast", "hindcast.bundle=b", "hindcast.store=s", f"hindcast.output={tmp_path / 'h'}", override)
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"sowcast: error: {r.stderr.strip().removeprefix('sowcast: error: ')}"]
    assert message in r.stderr and not (tmp_path / "h").exists()
