"""The HTTP layer's limits, on an in-process server (no chain needed): 405 with Allow for
every method it does not serve, 400 for a JSON body nested too deep, 503 over
serve.max_connections, and a whole-request deadline (serve.request_timeout) that a client
trickling its request byte by byte cannot stretch."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from sowcast.serve.api import MAX_JSON_DEPTH, Context
from sowcast.serve.handler import Server
from sowcast.serve.journal import Journal
from sowcast.serve.settings import ServeSettings


@pytest.fixture
def make_server(tmp_path):
    """A server with max_connections 2 and the given request_timeout, stopped after the test."""
    started = []

    def make(request_timeout: float = 30):
        root = tmp_path / f"root{len(started)}"
        root.mkdir()
        (tmp_path / "bundle").mkdir(exist_ok=True)
        settings = ServeSettings.from_config({"root": str(root), "bundle": str(tmp_path / "bundle"), "locations": None,
                                              "port": 0, "max_connections": 2, "request_timeout": request_timeout})
        journal = Journal(root / "journal.sqlite")
        srv = Server(("127.0.0.1", 0), Context(settings, journal, lambda: None, None, "test"))
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        started.append((srv, journal))
        return srv

    yield make
    for srv, journal in started:
        srv.shutdown()
        srv.server_close()
        journal.close()


@pytest.fixture
def server(make_server):
    return make_server()


def request(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.parametrize("method, path, allow", [
    ("TRACE", "/", "GET, HEAD"),
    ("TRACE", "/api/runs", "GET, HEAD, POST"),
    ("CONNECT", "/healthz", "GET, HEAD"),
    ("PROPFIND", "/nowhere", "GET, HEAD, POST"),
    ("BREW", "/api/status", "GET, HEAD"),
])
def test_every_method_it_does_not_serve_is_405_with_allow(server, method, path, allow):
    status, headers, body = request(server, method, path)
    assert status == 405 and headers["allow"] == allow
    assert method in json.loads(body)["error"]


def test_json_nested_too_deep_is_400_and_the_service_goes_on(server):
    json_headers = {"Content-Type": "application/json"}
    status, _h, body = request(server, "POST", "/api/runs", b"[" * 30000 + b"]" * 30000, json_headers)
    assert status == 400 and f"more than {MAX_JSON_DEPTH} levels" in json.loads(body)["error"]
    deep = '{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)
    assert request(server, "POST", "/api/runs", deep.encode(), json_headers)[0] == 400
    # brackets inside strings are not nesting: this body is refused for its field, not its depth
    status, _h, body = request(server, "POST", "/api/runs", json.dumps({"init": "[" * 500}).encode(), json_headers)
    assert status == 400 and "inbox" in json.loads(body)["error"]
    assert healthz_once_slots_free(server) == 200


def healthz_once_slots_free(srv) -> int:
    """GET /healthz, again while it is 503 (for up to 30 s): a handler thread holds its slot
    until it has closed the connection, which can be just after the client read the response,
    so a client's next connection may still find every slot taken."""
    deadline = time.monotonic() + 30
    while (status := request(srv, "GET", "/healthz")[0]) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


def _held(srv) -> socket.socket:
    """A connection whose request never ends (it holds one of the server's threads)."""
    s = socket.create_connection(("127.0.0.1", srv.server_address[1]))
    s.sendall(b"GET /healthz HTTP/1.0\r\n")
    return s


def test_connections_over_the_cap_are_answered_503(server):
    held = [_held(server), _held(server)]
    try:
        status, headers, body = request(server, "GET", "/healthz")
        assert status == 503 and headers["retry-after"] == "5" and "busy" in json.loads(body)["error"]
    finally:
        for s in held:
            s.close()
    assert healthz_once_slots_free(server) == 200


def test_a_request_trickled_byte_by_byte_is_cut_at_the_deadline(make_server):
    """request_timeout=1: a client sending a header byte every 50 ms (each read well within
    the per-read timeout) is cut off, long before its 400 bytes would have arrived (20 s)."""
    server = make_server(request_timeout=1)
    s = socket.create_connection(("127.0.0.1", server.server_address[1]))
    s.settimeout(30)
    sent = 0
    try:
        s.sendall(b"GET /healthz HTTP/1.0\r\nX-Slow: ")
        for _ in range(400):
            s.sendall(b"a")
            sent += 1
            time.sleep(0.05)
        cut = s.recv(1) == b""
    except OSError:
        cut = True
    finally:
        s.close()
    assert cut and sent < 400
