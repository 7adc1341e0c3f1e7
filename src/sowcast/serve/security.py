"""The service's guards, one function each; every refusal is an :class:`HttpError` (4xx).

* Binding: loopback (127.0.0.1) by default; any other address needs ``serve.token``
  (checked in :mod:`sowcast.serve.settings`, a one-line error at start).
* Token: when set, every ``/api/`` request and every POST needs
  ``Authorization: Bearer <token>``, compared in constant time (``hmac.compare_digest``).
* Host header: on a loopback bind only ``localhost``/``127.0.0.1``/``[::1]`` are served, so
  a web page cannot reach the API through DNS rebinding.
* Paths: the request path is split on ``/`` and each segment percent-decoded exactly once;
  a segment that is empty, ``.``, ``..`` or holds ``/``, ``\\`` or NUL after decoding
  (``%2e%2e``, ``%2f``) is refused (400). A file is served only if its resolved path (links
  followed) lies inside the resolved folder it belongs to (``Path.is_relative_to``), else 404.
* POST bodies: ``Content-Type: application/json`` (a cross-site form cannot send it without
  a CORS preflight, which this service never grants) and at most ``serve.max_body_bytes``
  (413).
* Headers on every response: :data:`SECURITY_HEADERS`.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from urllib.parse import unquote

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class HttpError(Exception):
    """A refusal: HTTP status and one clear sentence for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def path_segments(path: str) -> list[str]:
    """``/a/b%20c/`` -> ``["a", "b c"]``; refuses traversal and encoded separators (400)."""
    if not path.startswith("/"):
        raise HttpError(400, "The request path must start with '/'.")
    raw = path[1:].split("/")
    if len(raw) > 1 and raw[-1] == "":
        raw = raw[:-1]                       # one trailing slash is allowed
    if raw == [""]:
        return []
    segments = []
    for part in raw:
        try:
            seg = unquote(part, errors="strict")
        except UnicodeDecodeError:
            raise HttpError(400, "The request path is not valid UTF-8 once decoded.") from None
        if seg in ("", ".", "..") or any(c in seg for c in ("/", "\\", "\x00")):
            raise HttpError(400, "The request path holds an empty, '.' or '..' segment or an encoded separator; "
                                 "it is not allowed.")
        segments.append(seg)
    return segments


def confined_file(base: Path, segments: list[str]) -> Path:
    """The file ``base/segments...`` if it exists and resolves inside ``base`` (404 otherwise)."""
    base = base.resolve()
    try:
        target = base.joinpath(*segments).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError, OSError):
        raise HttpError(404, f"No file {'/'.join(segments)} here.") from None
    if not target.is_relative_to(base) or not target.is_file():
        raise HttpError(404, f"No file {'/'.join(segments)} here.")
    return target


def check_token(authorization: str | None, token: str) -> None:
    """Refuse (401) unless ``authorization`` is ``Bearer <token>``; constant-time compare."""
    challenge = {"WWW-Authenticate": 'Bearer realm="sowcast"'}
    if not authorization:
        raise HttpError(401, "This request needs the header 'Authorization: Bearer <token>'.", challenge)
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HttpError(401, "The bearer token is wrong.", challenge)


def check_host(host_header: str | None, loopback_bind: bool) -> None:
    """On a loopback bind, serve only requests addressed to a loopback name (no DNS rebinding)."""
    if not loopback_bind:
        return
    host = (host_header or "").strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name not in LOOPBACK_NAMES:
        raise HttpError(400, "This service answers only requests to localhost or 127.0.0.1.")
