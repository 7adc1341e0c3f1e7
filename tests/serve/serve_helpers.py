"""Start the real ``sowcast serve`` as a subprocess on 127.0.0.1 (a free port chosen by the
kernel, read back from its "listening on" log line) and talk to it over real HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCATIONS = REPO / "data" / "locations" / "west_africa_demo.csv"
ISSUE_DATE = "2001-04-27"

# Until cli/main.py registers 'serve' (and conf/config.yaml lists serve: default), register it here.
_LAUNCH = """
import sys
from sowcast.cli.main import COMMANDS, Command, main
from sowcast.cli.serve_command import SUMMARY
args = sys.argv[1:]
if "serve" not in COMMANDS:
    COMMANDS["serve"] = Command("sowcast.cli.serve_command:run", SUMMARY)
    args = ["+serve=default", *args]
sys.exit(main(["serve", *args]))
"""


def serve_argv(*overrides: str) -> list[str]:
    from sowcast.cli.main import COMMANDS

    if "serve" in COMMANDS:
        return [sys.executable, "-m", "sowcast", "serve", *overrides]
    return [sys.executable, "-c", _LAUNCH, *overrides]


def clean_env() -> dict[str, str]:
    """The environment without a token a developer may have set in the shell."""
    return {k: v for k, v in os.environ.items() if k != "SOWCAST_TOKEN"}


def base_overrides(root: Path, paths: dict, **extra) -> list[str]:
    """The service config of the tests: the tiny chain's bundle and store (``paths``), 2
    members; ``extra`` overrides serve.KEY (``...`` removes it)."""
    cfg = {"serve.root": root, "serve.bundle": paths["bundle"], "serve.init": paths["store"],
           "serve.observed": paths["store"], "serve.locations": LOCATIONS, "serve.chain": "[forecast,products]",
           "serve.forecast.members": 2, "serve.forecast.lead": "46D", "serve.forecast.threads": 1,
           "serve.poll_seconds": 0.2, "serve.port": 0}
    cfg.update({f"serve.{k}" if not k.startswith("serve.") else k: v for k, v in extra.items()})
    return [f"{k}={v}" for k, v in cfg.items() if v is not ...]


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    log_path: Path
    port: int = 0
    token: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                headers: dict[str, str] | None = None, token: bool = True) -> tuple[int, dict, bytes]:
        """One raw request (the path is sent as given: no normalisation)."""
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        if token and self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def get_json(self, path: str, expect: int = 200):
        status, _h, body = self.request("GET", path)
        assert status == expect, f"GET {path}: {status} {body[:300]!r}"
        return json.loads(body)

    def wait_job(self, job_id: str, statuses=("succeeded", "failed"), timeout: float = 180) -> dict:
        return wait_for(lambda: (j := self.get_json(f"/api/runs/{job_id}"))["status"] in statuses and j,
                        timeout, f"job {job_id} to reach {statuses}", self)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig) if sig == signal.SIGKILL else self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        """A power cut: SIGKILL the server and every process of its group (the running step)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        wait_for(lambda: not _group_alive(self.proc.pid), 30, "the killed process group to vanish")


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies left to reap do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            return True
    return False


def wait_for(predicate, timeout: float, what: str, server: ServerProcess | None = None):
    """Poll ``predicate`` until it returns something true; fail with the server log otherwise."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if server is not None and server.proc.poll() is not None:
            raise AssertionError(f"the server exited ({server.proc.returncode}) waiting for {what}:\n{server.log()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}" + (f":\n{server.log()}" if server else ""))
        time.sleep(0.05)


def start_server(log_path: Path, overrides: list[str], token: str | None = None,
                 env: dict[str, str] | None = None) -> ServerProcess:
    """Start the service in its own process group and wait for its "listening on" line."""
    start = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(serve_argv(*overrides), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                env={**clean_env(), **(env or {})})
    server = ServerProcess(proc, log_path, token=token)

    def listening():
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", log_path.read_text(errors="replace")[start:])
        return m and int(m.group(1))

    try:
        server.port = wait_for(listening, 60, "the server to listen", server)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    return server
