"""Chain jobs in the real server: POST -> forecast -> products (subprocesses) -> published,
one job at a time; a failing step's error line in the journal; the inbox queues a job."""

from __future__ import annotations

import json
import os
import sys
import time

from serve_helpers import ISSUE_DATE, base_overrides, start_server, wait_for

from sowcast.serve.jobs import error_line, step_command
from sowcast.serve.settings import ServeSettings


def test_step_commands_carry_config_params_and_quoting(tmp_path, chain):
    settings = ServeSettings.from_config({
        "root": str(tmp_path / "my root"), "bundle": str(chain["bundle"]), "observed": str(chain["store"]),
        "chain": ["forecast", "products"], "forecast": {"members": 3, "lead": "46D", "checkpoint_every": 2},
        "overrides": {"products": ["products.rules=anacim"]}})
    run = settings.root / "runs" / "000001"
    fc = step_command("forecast", settings, {"init": "/in box/it's.nc", "init_time": None}, run)
    assert fc[:4] == [sys.executable, "-m", "sowcast", "forecast"]
    assert "forecast.init='/in box/it\\'s.nc'" in fc and "forecast.init_time=null" in fc
    assert f"forecast.output='{run / 'forecast.zarr'}'" in fc and "forecast.members=3" in fc
    assert "forecast.lead='46D'" in fc and "forecast.checkpoint_every=2" in fc and "progress=false" in fc
    pr = step_command("products", settings, {"init": "x", "init_time": "2001-04-27"}, run)
    assert f"products.forecast='{run / 'forecast.zarr'}'" in pr and f"products.output='{run / 'products'}'" in pr
    assert f"products.observed='{chain['store']}'" in pr and pr[-1] == "products.rules=anacim"
    # the quoted overrides are what Hydra reads back
    from sowcast.cli.main import compose

    cfg = compose(fc[4:])
    assert cfg.forecast.init == "/in box/it's.nc" and cfg.forecast.output == str(run / "forecast.zarr")
    assert cfg.forecast.init_time is None and cfg.forecast.members == 3


def test_error_line_prefers_the_sowcast_error(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("progress\rmore\nsowcast: error: the init time is outside the store\nsome noise after\n")
    assert error_line(log) == "sowcast: error: the init time is outside the store"
    log.write_text("Traceback...\nValueError: boom\n\n")
    assert error_line(log) == "ValueError: boom"


def test_chain_jobs_run_one_at_a_time_and_publish(chain, tmp_path):
    root = tmp_path / "root"
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain))
    try:
        status, headers, body = srv.request("POST", "/api/runs", {"init_time": ISSUE_DATE})
        assert status == 202 and json.loads(body) == {"id": "000001", "status": "queued"}
        assert headers["location"] == "/api/runs/000001"
        status, _h, body = srv.request("POST", "/api/runs", {"init_time": "1990-01-01"})   # not in the store
        assert status == 202 and json.loads(body)["id"] == "000002"

        # while the first runs, the second waits in the queue
        first = srv.wait_job("000001", ("running",))
        deadline = time.monotonic() + 30   # a job is marked running a moment before its first step starts
        while first["step"] is None and first["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.05)
            first = srv.get_json("/api/runs/000001")
        assert first["step"] in ("forecast", "products", "publish")
        second = srv.get_json("/api/runs/000002")
        assert second["status"] == "queued" and second["started"] is None
        st = srv.get_json("/api/status")
        assert st["current_job"]["id"] == "000001" and st["queue_length"] == 1 and st["latest_run"] is None

        first = srv.wait_job("000001")
        assert first["status"] == "succeeded", first
        assert first["attempts"] == 1 and first["error"] is None and first["source"] == "api"
        second = srv.wait_job("000002")
        assert second["status"] == "failed" and second["step"] == "forecast"
        assert second["started"] >= first["finished"]
        assert second["error"].startswith("forecast failed (exit 2): sowcast: error:"), second["error"]

        # published: latest -> published/000001 with the run's products; the failure changed nothing
        assert os.readlink(root / "latest") == "published/000001"
        assert (root / "published" / "000001" / "products" / "products.json").is_file()
        assert not (root / "published" / "000001" / "forecast.zarr").exists()
        st = srv.get_json("/api/status")
        assert (st["latest_run"], st["issue_date"], st["queue_length"], st["current_job"]) == \
               ("000001", ISSUE_DATE, 0, None)
        assert len(srv.get_json("/api/locations")["locations"]) == 11
        runs = srv.get_json("/api/runs")["runs"]
        assert [r["id"] for r in runs] == ["000002", "000001"]
        assert (root / "runs" / "000001" / "logs" / "forecast.log").is_file()
    finally:
        assert srv.stop() == 0
    assert "Traceback" not in srv.log()


def test_inbox_drop_queues_a_job_once(chain, tmp_path):
    root, inbox = tmp_path / "root", tmp_path / "inbox"
    inbox.mkdir()
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain, inbox=inbox))
    try:
        bogus = inbox / "analysis_20010427.nc"
        bogus.write_bytes(b"not a netCDF file")
        runs = wait_for(lambda: srv.get_json("/api/runs")["runs"], 60, "the inbox to queue a job", srv)
        assert len(runs) == 1 and runs[0]["source"] == "inbox"
        assert runs[0]["params"] == {"init": str(bogus), "init_time": None}
        # POST with that inbox entry
        status, _h, body = srv.request("POST", "/api/runs", {"init": bogus.name})
        assert status == 202 and srv.get_json(f"/api/runs/{json.loads(body)['id']}")["params"]["init"] == str(bogus)
    finally:
        assert srv.stop() == 0
    # the restarted service does not queue the same file again: once a file dropped after the
    # restart is queued, the poller has looked at both files at least twice
    srv = start_server(tmp_path / "serve.log", base_overrides(root, chain, inbox=inbox))
    try:
        later = inbox / "analysis_20010428.nc"
        later.write_bytes(b"not a netCDF file either")
        wait_for(lambda: len(srv.get_json("/api/runs")["runs"]) > 2, 60, "the new file to be queued", srv)
        runs = srv.get_json("/api/runs")["runs"]
        assert [r["params"]["init"] for r in runs] == [str(later), str(bogus), str(bogus)]
        assert [r["source"] for r in runs] == ["inbox", "api", "inbox"]
    finally:
        assert srv.stop() == 0


def _worker(tmp_path, chain, **cfg):
    from sowcast.serve.jobs import Worker
    from sowcast.serve.journal import Journal

    settings = ServeSettings.from_config({"root": str(tmp_path / "root"), "bundle": str(chain["bundle"]),
                                          "chain": ["forecast", "products"], **cfg})
    (settings.root / "runs").mkdir(parents=True)
    journal = Journal(tmp_path / "j.sqlite")
    return Worker(settings, journal, log=lambda _m: None), journal


def test_a_job_published_before_the_cut_is_not_run_again(tmp_path, chain):
    from sowcast.serve.publish import publish

    worker, journal = _worker(tmp_path, chain)
    job = journal.add({"init": "x.zarr", "init_time": None}, source="api")
    run = worker.settings.root / job["run_folder"]
    (run / "products").mkdir(parents=True)
    (run / "products" / "products.json").write_text("{}")
    journal.claim_next()
    publish(worker.settings.root, job["id"], run)      # ... and the power went before the journal said so
    journal.recover(max_attempts=3)
    worker._run_job(journal.claim_next())
    assert journal.get(job["id"])["status"] == "succeeded"
    assert not (run / "logs").exists()                 # no step ran


def test_old_run_folders_are_pruned(tmp_path, chain):
    worker, journal = _worker(tmp_path, chain, keep_runs=2)
    for _ in range(4):
        job = journal.add({"init": "x"}, source="api")
        (worker.settings.root / job["run_folder"] / "logs").mkdir(parents=True)
    for _ in range(3):
        journal.finish(journal.claim_next()["id"], "succeeded")
    worker._prune_runs()
    # finished 000001..000003: the newest two kept; 000004 (queued) untouched
    assert sorted(p.name for p in (worker.settings.root / "runs").iterdir()) == ["000002", "000003", "000004"]
