"""The guards on their own: path segments, confinement, token, Host; and the start-up
refusals of the real command (non-loopback bind without a token, bad config)."""

from __future__ import annotations

import os
import subprocess

import pytest
from serve_helpers import REPO, clean_env, serve_argv

from sowcast.serve.security import (
    HttpError,
    check_host,
    check_token,
    confined_file,
    path_segments,
)


@pytest.mark.parametrize("path", ["/files/latest/../../etc/passwd", "/files/latest/%2e%2e/%2e%2e/etc/passwd",
                                  "/files/latest/%2E%2E/x", "/files/latest//etc/passwd", "/files/latest/%2Fetc%2Fpasswd",
                                  "/files/latest/a%5C..%5Cb", "/files/latest/./x", "/files/latest/x%00.png",
                                  "/files/latest/%ff%fe", "files/latest/x"])
def test_bad_paths_are_400(path):
    with pytest.raises(HttpError) as err:
        path_segments(path)
    assert err.value.status == 400


def test_segments_decode_once():
    assert path_segments("/") == []
    assert path_segments("/api/locations/Bobo-Dioulasso/") == ["api", "locations", "Bobo-Dioulasso"]
    assert path_segments("/api/locations/S%C3%A9gou") == ["api", "locations", "Ségou"]
    assert path_segments("/files/latest/%252e%252e") == ["files", "latest", "%2e%2e"]   # a literal name


def test_confined_file_refuses_links_out_and_missing(tmp_path):
    base = tmp_path / "pub"
    (base / "products").mkdir(parents=True)
    (base / "products" / "a.csv").write_text("x")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", base / "products" / "link.txt")
    os.symlink(tmp_path, base / "products" / "up")
    assert confined_file(base, ["products", "a.csv"]) == (base / "products" / "a.csv").resolve()
    for segs in (["products", "link.txt"], ["products", "up", "secret.txt"], ["products", "nope.csv"], ["products"]):
        with pytest.raises(HttpError) as err:
            confined_file(base, segs)
        assert err.value.status == 404


def test_token_and_host_checks():
    token = "s3cret-token-0123456789"
    check_token(f"Bearer {token}", token)
    check_token(f"bearer {token}", token)
    for header in (None, "", token, f"Basic {token}", f"Bearer {token}x", "Bearer ", "Bearer s3cret"):
        with pytest.raises(HttpError) as err:
            check_token(header, token)
        assert err.value.status == 401 and "WWW-Authenticate" in err.value.headers
    for host in ("127.0.0.1:8470", "localhost:8470", "[::1]:8470", "LOCALHOST", "127.0.0.1"):
        check_host(host, loopback_bind=True)
    for host in ("evil.example:8470", "", None, "127.0.0.1.evil.example"):
        with pytest.raises(HttpError):
            check_host(host, loopback_bind=True)
    check_host("box.local:8470", loopback_bind=False)


def _start(tmp_path, *overrides):
    return subprocess.run(serve_argv(f"serve.root={tmp_path / 'root'}", "serve.port=0", *overrides), cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False, env=clean_env())


def test_non_loopback_bind_without_token_is_a_one_line_error(tmp_path, chain):
    r = _start(tmp_path, "serve.host=0.0.0.0", f"serve.bundle={chain['bundle']}")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sowcast: error: serve.host 0.0.0.0") and "serve.token" in lines[0]
    assert not (tmp_path / "root").exists()        # nothing written
    r = _start(tmp_path, "serve.host=0.0.0.0", "serve.token=short", f"serve.bundle={chain['bundle']}")
    assert r.returncode == 2 and "at least 16" in r.stderr


@pytest.mark.parametrize("override, message", [
    ("serve.chain=[products,forecast]", "serve.chain must be"),
    ("serve.schedule.daily_at=25:00", "serve.schedule.daily_at"),
    ("serve.max_body_bytes=0", "serve.max_body_bytes"),
    ("serve.bundle=/nonexistent/bundle", "no such file"),
])
def test_bad_config_is_a_one_line_error(tmp_path, chain, override, message):
    overrides = {"serve.bundle": chain["bundle"], "serve.chain": "[forecast,products]"}
    key, value = override.split("=", 1)
    r = _start(tmp_path, *[f"{k}={v}" for k, v in {**overrides, key: value}.items()])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
