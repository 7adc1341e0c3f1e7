"""Load check of ``sowcast serve`` on loopback while a chain job runs, measured in one run.

A real service (the tiny real chain of tests/chain_helpers.py: store, bundle with its
climatology; the service started by tests/serve/serve_helpers.py on a free port of
127.0.0.1) first runs one chain job to have something published, then a second job is
queued. Each endpoint the dashboard uses is asked once (timed: the service reads a
published run's files once and caches them, so the first request pays for it). Then,
while the second job runs, a bounded number of requests (``--requests``, default 2000) is
sent by ``--concurrency`` threads (default 8, stdlib ``http.client``, one connection per
request as the service speaks HTTP/1.0), round-robin over those endpoints, for at most
``--max-seconds``. Prints, per endpoint and overall: requests, errors (a status other than
200, or a failed connection), latency p50/p90/p99/max in ms as the client sees it (connect
to last byte), the service's own time (p50/p99/max, from its log line ``METHOD PATH
STATUS MS ms``; the difference is the listen backlog, thread start and the network
stack), and the job's step at the start and end of the load (the numbers are measured
while it ran).

    .venv/bin/python benchmarks/serve_load.py
    .venv/bin/python benchmarks/serve_load.py --requests 5000 --concurrency 16 --members 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "serve")]

from chain_helpers import make_chain
from serve_helpers import ISSUE_DATE, base_overrides, start_server


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def post_run(port: int, body: dict) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/api/runs", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
        if resp.status != 202:
            raise RuntimeError(f"POST /api/runs: {resp.status} {data}")
        return data["id"]
    finally:
        conn.close()


def job(port: int, job_id: str) -> dict:
    return json.loads(get(port, f"/api/runs/{job_id}")[1])


def wait_job(port: int, job_id: str, until: tuple[str, ...], timeout: float = 600) -> dict:
    end = time.monotonic() + timeout
    while (j := job(port, job_id))["status"] not in until:
        if time.monotonic() > end:
            raise RuntimeError(f"job {job_id} still {j['status']} after {timeout} s")
        time.sleep(0.2)
    return j


def endpoints(port: int) -> list[tuple[str, str]]:
    """(label, path) of what the dashboard asks for, with real names and files of the published run."""
    names = [loc["name"] for loc in json.loads(get(port, "/api/locations")[1])["locations"]]
    out = [("/api/status", "/api/status"), ("/api/locations", "/api/locations"),
           ("/api/runs", "/api/runs?limit=15"), ("/", "/")]
    out += [("/api/locations/<name>", f"/api/locations/{quote(n)}") for n in names[:4]]
    status, body = get(port, "/api/bulletins/latest")
    if status == 200:
        index = json.loads(body)
        out.append(("/api/bulletins/latest", "/api/bulletins/latest"))
        if index["maps"]:
            out.append(("/files/latest/<map>.png", index["maps"][0]))
        if "html_en" in index["files"]:
            out.append(("/files/latest/<bulletin>.html", index["files"]["html_en"]))
    out.append(("/files/latest/<products>.csv", "/files/latest/products/locations.csv"))
    return out


def warm_up(port: int, targets: list[tuple[str, str]]) -> dict[str, float]:
    """One request per endpoint before the load, as the dashboard's first visit does; its ms.
    (A published run's files are read once and cached by the service; the first request pays it.)"""
    out = {}
    for label, path in targets:
        t0 = time.perf_counter()
        get(port, path)
        out.setdefault(label, (time.perf_counter() - t0) * 1000)
    return out


def load(port: int, targets: list[tuple[str, str]], n: int, concurrency: int, max_seconds: float):
    """Send up to ``n`` requests round-robin over ``targets`` from ``concurrency`` threads."""
    lock = threading.Lock()
    counter = iter(range(n))
    results: list[tuple[str, float, bool]] = []
    deadline = time.monotonic() + max_seconds

    def worker():
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            label, path = targets[i % len(targets)]
            t0 = time.perf_counter()
            try:
                ok = get(port, path)[0] == 200
            except (OSError, http.client.HTTPException):
                ok = False
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                results.append((label, ms, ok))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def server_times(log: str, targets: list[tuple[str, str]]) -> dict[str, list[float]]:
    """The service's own ms per request of the load, by endpoint label, from its log lines."""
    label_of = {path: label for label, path in targets}
    out = defaultdict(list)
    for m in re.finditer(r"^sowcast serve: GET (\S+) 200 ([\d.]+) ms$", log, flags=re.MULTILINE):
        if m.group(1) in label_of:
            out[label_of[m.group(1)]].append(float(m.group(2)))
            out["overall"].append(float(m.group(2)))
    return out


def table(results: list[tuple[str, float, bool]], server: dict[str, list[float]]) -> str:
    groups = defaultdict(list)
    for label, ms, ok in results:
        groups[label].append((ms, ok))
    groups["overall"] = [(ms, ok) for _label, ms, ok in results]
    width = max(len(k) for k in groups)
    lines = [f"{'':<{width}}  {'':>8}  {'':>6}  {'client (ms)':^31}  {'service (ms)':^23}",
             (f"{'endpoint':<{width}}  {'requests':>8}  {'errors':>6}  {'p50':>7}{'p90':>8}{'p99':>8}{'max':>8}  "
              f"{'p50':>7}{'p99':>8}{'max':>8}")]
    for label, rows in groups.items():
        ms = np.array([r[0] for r in rows])
        errors = sum(1 for r in rows if not r[1])
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        own = np.array(server.get(label) or [np.nan])
        s50, s99 = np.percentile(own, [50, 99])
        lines.append(f"{label:<{width}}  {len(rows):>8}  {errors:>6}  {p50:>7.1f}{p90:>8.1f}{p99:>8.1f}{ms.max():>8.1f}  "
                     f"{s50:>7.1f}{s99:>8.1f}{own.max():>8.1f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--members", type=int, default=4, help="ensemble members of the jobs")
    parser.add_argument("--chain", default="[forecast,products,bulletin]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sowcast-serve-load-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        chain = make_chain(tmp / "chain")
        print(f"tiny real chain made in {time.perf_counter() - t0:.0f} s", flush=True)
        server = start_server(tmp / "serve.log", base_overrides(
            tmp / "root", chain, **{"serve.chain": args.chain, "serve.forecast.members": args.members}))
        try:
            first = post_run(server.port, {"init_time": ISSUE_DATE})
            done = wait_job(server.port, first, ("succeeded", "failed"))
            if done["status"] != "succeeded":
                raise RuntimeError(f"the first job failed: {done['error']}")
            print(f"first job {first} published ({done['started']} -> {done['finished']})", flush=True)
            targets = endpoints(server.port)
            first_ms = warm_up(server.port, targets)
            second = post_run(server.port, {"init_time": ISSUE_DATE})
            before = wait_job(server.port, second, ("running", "succeeded", "failed"))
            log_start = len(server.log())
            results, seconds = load(server.port, targets, args.requests, args.concurrency, args.max_seconds)
            after = job(server.port, second)
            own = server_times(server.log()[log_start:], targets)
            wait_job(server.port, second, ("succeeded", "failed"))
        finally:
            server.stop()
    load1, load5, _ = os.getloadavg()
    print(f"\n{len(results)} requests in {seconds:.1f} s ({len(results) / seconds:.0f} req/s), concurrency "
          f"{args.concurrency}, {os.cpu_count()} CPU cores, while job {second} ran "
          f"(step at start: {before['status']}/{before['step']}, at end: {after['status']}/{after['step']}); "
          f"load average {load1:.1f} (1 min), {load5:.1f} (5 min)\n")
    print("first request per endpoint (cold, one at a time, before the load): " +
          ", ".join(f"{label} {ms:.0f} ms" for label, ms in first_ms.items()) + "\n")
    print(table(results, own))
    slow = sum(1 for _label, ms, _ok in results if ms > 900)
    print(f"\nrequests slower than 900 ms: {slow} (a full listen backlog makes the client resend its SYN after 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
