"""The HTTP layer: ``ThreadingHTTPServer`` and one request handler for every route.

Each request: parse and confine the path (400), check the Host header and the token (401),
find the route (404/405, any method the service does not know included), bound the body
(411/413), run the handler. Every refusal is a
JSON ``{"error": "..."}`` with its 4xx status; an unexpected exception is logged with its
traceback on stderr and answered 500 ``{"error": "internal error ..."}`` with no detail.
Every response carries :data:`~sowcast.serve.security.SECURITY_HEADERS`; each request
logs one line ``sowcast serve: METHOD PATH STATUS MS ms`` on stderr. HTTP/1.0 (one request
per connection): a stop never waits on an idle keep-alive connection.

Limits: at most ``serve.max_connections`` connections are served at once (one more waits
at most :data:`SLOT_GRACE_S` for a slot, then is answered 503 and closed), and a client has
``serve.request_timeout`` seconds for its whole request (line, headers and body together,
however slowly it trickles in).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sowcast.log import get_logger
from sowcast.serve import api
from sowcast.serve.security import (
    SECURITY_HEADERS,
    HttpError,
    check_host,
    check_token,
    path_segments,
)
from sowcast.serve.settings import is_loopback

DRAIN_LIMIT = 4 * 1024 * 1024     # bytes of an unread body read away before the connection closes


_LOG = get_logger("serve")


def log(message: str, level: int = logging.INFO, exc_info: bool = False) -> None:
    """One line of the service's log: ``sowcast serve: ...`` (a priority under journald, sowcast.log)."""
    _LOG.log(level, message, exc_info=exc_info)


def _printable(text: str, limit: int = 200) -> str:
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


class DeadlineReader(io.RawIOBase):
    """Socket reads that must all end by one deadline: a whole-request limit (slow-loris)."""

    def __init__(self, sock: socket.socket, seconds: float):
        self.sock, self.deadline = sock, time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


SLOT_GRACE_S = 0.25
"""How long a connection over the cap waits for a slot before its 503. A handler thread keeps
its slot until it has closed its connection, which can come just after the client read the
response: without the wait, a client's next request can find every slot still taken (under
load, 9 of 900 sequential requests of one client were refused at serve.max_connections 2)."""

BUSY = json.dumps({"error": "The service is busy; try again in a few seconds."}).encode()


class Server(ThreadingHTTPServer):
    daemon_threads = False      # server_close() waits for the responses under way
    block_on_close = True
    request_queue_size = 64     # listen backlog: the default 5 overflows with 8 clients (1 s SYN retries)

    def __init__(self, address: tuple[str, int], ctx: api.Context):
        self.ctx = ctx
        self.slots = threading.BoundedSemaphore(ctx.settings.max_connections)
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)

    def process_request(self, request, client_address) -> None:
        """A thread per connection once a slot is free (within SLOT_GRACE_S); else 503, from
        this thread."""
        if not self.slots.acquire(timeout=SLOT_GRACE_S):
            self._refuse_busy(request, client_address)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def _refuse_busy(self, request: socket.socket, client_address) -> None:
        head = "".join(f"{k}: {v}\r\n" for k, v in SECURITY_HEADERS.items())
        try:
            request.setblocking(False)
            with contextlib.suppress(OSError):
                request.recv(64 * 1024)      # what the client sent already: closing on it would reset
            request.settimeout(1.0)
            request.sendall(f"HTTP/1.0 503 Service Unavailable\r\n{head}Retry-After: 5\r\n"
                            f"Content-Type: application/json\r\nContent-Length: {len(BUSY)}\r\n"
                            f"Connection: close\r\n\r\n".encode() + BUSY)
        except OSError:
            pass
        finally:
            self.shutdown_request(request)
        log(f"connection from {client_address[0]} refused: {self.ctx.settings.max_connections} "
            f"connections already (serve.max_connections) 503", logging.WARNING)

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log(f"connection from {client_address[0]} dropped: {type(exc).__name__}")
        else:
            log(f"connection from {client_address[0]}: unexpected error", logging.ERROR, exc_info=True)


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "sowcast"
    sys_version = ""
    timeout = 30                # seconds one socket read or write may wait (the whole request: DeadlineReader)

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, self.server.ctx.settings.request_timeout))

    # Every method goes through _handle: one the service does not serve gets 405 from the router.
    def do_GET(self):
        self._handle()

    def __getattr__(self, name: str):
        if name.startswith("do_"):   # TRACE, CONNECT, any token: http.server would answer 501
            return self._handle
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format, *args) -> None:
        pass                    # one line per request is written by _handle

    def send_error(self, code, message=None, explain=None) -> None:
        """Errors raised by http.server itself (bad request line, too long) as JSON too."""
        self._send_json_error(code, message or self.responses.get(code, ("error",))[0])
        log(f"{self.command} {_printable(str(getattr(self, 'path', '') or ''))} {code} (refused by http.server)")

    def _handle(self) -> None:
        t0 = time.perf_counter()
        self._status = 0
        self._body_read = False
        ctx = self.server.ctx
        try:
            response = self._dispatch(ctx)
        except HttpError as exc:
            response = api.json_response({"error": exc.message}, exc.status, exc.headers)
        except Exception:  # noqa: BLE001 - any bug becomes a logged 500, never a traceback to the client
            log(f"internal error on {self.command} {_printable(self.path)}:", logging.ERROR, exc_info=True)
            response = api.json_response({"error": "internal error; the service log has the details"}, 500)
        try:
            self._send(response)
            self._drain()
        finally:
            ms = (time.perf_counter() - t0) * 1000
            log(f"{self.command} {_printable(self.path)} {self._status} {ms:.1f} ms")

    def _dispatch(self, ctx: api.Context) -> api.Response:
        settings = ctx.settings
        split = urlsplit(self.path)
        segments = path_segments(split.path)
        check_host(self.headers.get("Host"), is_loopback(settings.host))
        if settings.token is not None and (self.command == "POST" or (segments and segments[0] == "api")):
            check_token(self.headers.get("Authorization"), settings.token)
        route, params = api.route(self.command, segments)
        request = api.Request(self.command, segments, parse_qs(split.query), self.headers, self._read_body)
        return route.handler(ctx, request, params)

    def _read_body(self) -> bytes:
        limit = self.server.ctx.settings.max_body_bytes
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise HttpError(411, "Send the body with a Content-Length, not chunked.")
        text = self.headers.get("Content-Length") or "0"
        if not text.strip().isdigit():
            self.close_connection = True
            raise HttpError(400, "The Content-Length header is not a whole number.")
        length = int(text)
        if length > limit:
            self.close_connection = True
            raise HttpError(413, f"The request body is larger than {limit} bytes.")
        self._body_read = True
        try:
            return self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            raise HttpError(408, "The request body took too long to arrive.") from None

    def _drain(self) -> None:
        """Read a body the handler left unread (a refusal), so that closing the connection
        does not reset it before the client has read the answer; huge ones are not read."""
        text = (self.headers.get("Content-Length") or "0").strip()
        if self._body_read or not text.isdigit() or int(text) == 0:
            return
        if int(text) > DRAIN_LIMIT:
            return
        remaining = int(text)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 64 * 1024))
            if not chunk:
                break
            remaining -= len(chunk)

    def _send(self, response: api.Response) -> None:
        f = None
        if response.file is not None:
            try:
                f = open(response.file, "rb")    # noqa: SIM115 - closed below, after streaming
            except OSError:                      # pruned since it was found: as if never there
                response = api.json_response({"error": "That file is gone; reload the page."}, 404)
        self._status = response.status
        self.connection.settimeout(self.timeout)   # the request deadline is for reading only
        self.send_response(response.status)
        for key, value in {**SECURITY_HEADERS, **response.headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Type", response.content_type)
        if f is not None:
            with f:
                self.send_header("Content-Length", str(os.fstat(f.fileno()).st_size))
                self.end_headers()
                if self.command != "HEAD":
                    shutil.copyfileobj(f, self.wfile, 64 * 1024)
            return
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _send_json_error(self, code: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        try:
            self.send_response(code)
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (ConnectionError, ValueError):
            pass
