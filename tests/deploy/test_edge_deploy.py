"""The edge deployment files: systemd units checked by ``systemd-analyze verify``, and the
offline kit (deploy/edge/build_wheelhouse.sh -> install_offline.sh) checked end to end up
to its checksum step on a kit holding the sowcast wheel alone."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
EDGE = ROOT / "deploy" / "edge"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
UNITS = ("sowcast-serve.service", "sowcast-forecast.service", "sowcast-forecast.timer")
VENV_SOWCAST = "/opt/sowcast/venv/bin/sowcast"


def _units_with_local_paths(folder: Path) -> list[Path]:
    """The units, with the box's venv path pointing at this venv's sowcast (verify checks it exists)."""
    local = str(Path(sys.executable).parent / "sowcast")
    out = []
    for name in UNITS:
        path = folder / name
        path.write_text((SYSTEMD / name).read_text().replace(VENV_SOWCAST, local))
        out.append(path)
    return out


def _verify(paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, paths)],
                          check=False, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_units_pass_systemd_analyze_verify_and_a_broken_one_does_not(tmp_path):
    paths = _units_with_local_paths(tmp_path)
    result = _verify(paths)
    # verify only warns (exit 0) about most mistakes: any output at all is a failure.
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr
    broken = tmp_path / "sowcast-serve.service"
    broken.write_text(broken.read_text().replace("KillMode=mixed", "KillMode=mixd"))
    assert "kill mode" in _verify([broken]).stderr.lower()


def test_serve_unit_hardening_and_stop_behaviour():
    unit = (SYSTEMD / "sowcast-serve.service").read_text()
    settings = dict(re.findall(r"^(\w+)=(.*)$", unit, flags=re.MULTILINE))
    assert settings["Type"] == "simple" and settings["Restart"] == "always" and int(settings["RestartSec"]) > 0
    assert settings["ExecStart"].startswith(f"{VENV_SOWCAST} serve ")
    assert "file:///etc/sowcast/conf" in settings["ExecStart"]
    assert settings["User"] == "sowcast" and settings["KillMode"] == "mixed" and int(settings["TimeoutStopSec"]) >= 60
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ReadWritePaths": "/var/lib/sowcast"}.items():
        assert settings[key] == value, key
    timer = (SYSTEMD / "sowcast-forecast.timer").read_text()
    assert re.search(r"^Persistent=true$", timer, flags=re.MULTILINE) and re.search(r"^OnCalendar=", timer, flags=re.MULTILINE)


def test_forecast_unit_queues_a_run_through_the_api(tmp_path):
    """The oneshot's shell line, run for real against a stand-in that records the request."""
    import http.server
    import json
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            reply = b'{"id": 7, "status": "queued"}'
            self.send_response(202)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    unit = (SYSTEMD / "sowcast-forecast.service").read_text()
    line = re.search(r"^ExecStart=/bin/sh -c '(.*)'$", unit, flags=re.MULTILINE).group(1).replace("$$", "$")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        for token in ("s3cret", ""):
            env = {**os.environ, "SOWCAST_URL": url, "SOWCAST_TOKEN": token}
            out = subprocess.run(["/bin/sh", "-c", line], env=env, check=False, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0 and '"queued"' in out.stdout, out.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [("/api/runs", "Bearer s3cret", {}), ("/api/runs", None, {})]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_wheelhouse_kit_verifies_and_rejects_a_damaged_copy(tmp_path):
    """build_wheelhouse.sh --sowcast-only (no dependency download), then install_offline.sh
    --check-only on the kit, on a damaged copy and on a copy with an unlisted wheel."""
    kit = tmp_path / "kit"
    env = {**os.environ, "PYTHON": sys.executable, "PIP_WHEEL_ARGS": "--no-build-isolation"}
    built = subprocess.run(["bash", str(EDGE / "build_wheelhouse.sh"), "--sowcast-only", str(kit)], env=env,
                           check=False, capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr
    wheels = sorted(p.name for p in (kit / "wheelhouse").iterdir())
    assert len(wheels) == 1 and wheels[0].startswith("sowcast-") and wheels[0].endswith(".whl")
    listed = {line.split(maxsplit=1)[1] for line in (kit / "SHA256SUMS").read_text().splitlines()}
    assert {f"wheelhouse/{wheels[0]}", "install_offline.sh", "constraints.txt", "README.md",
            "systemd/sowcast-serve.service", "locations.example.csv"} <= listed

    def check(folder: Path) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(folder / "install_offline.sh"), "--check-only"],
                              check=False, capture_output=True, text=True, timeout=60)

    good = check(kit)
    assert good.returncode == 0 and "kit verified" in good.stdout, good.stderr

    damaged = tmp_path / "damaged"
    shutil.copytree(kit, damaged)
    wheel = damaged / "wheelhouse" / wheels[0]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF
    wheel.write_bytes(bytes(data))
    bad = check(damaged)
    assert bad.returncode != 0 and "does not match its SHA256SUMS" in bad.stderr

    extra = tmp_path / "extra"
    shutil.copytree(kit, extra)
    (extra / "wheelhouse" / "evil-1.0-py3-none-any.whl").write_bytes(b"not a wheel")
    bad = check(extra)
    assert bad.returncode != 0 and "evil-1.0-py3-none-any.whl" in bad.stderr
