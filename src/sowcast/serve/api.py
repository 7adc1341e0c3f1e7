"""The routes of ``sowcast serve`` (the contract the dashboard is built against; the
OpenAPI document in :mod:`sowcast.serve.openapi` describes each one).

    GET  /                        the dashboard page (static/dashboard.html)
    GET  /static/{path}           files of static/
    GET  /healthz                 {"status": "ok"} (no token needed)
    GET  /openapi.json            the OpenAPI 3.1 document
    GET  /api/status              version, bundle, queue, current job, latest run
    GET  /api/runs?limit=N        jobs, newest first
    POST /api/runs                queue a chain job: {"init": inbox entry?, "init_time": "YYYY-MM-DD"?}
    GET  /api/runs/{id}           one job
    GET  /api/locations           the latest planting advice per location
    GET  /api/locations/{name}    one location (case-insensitive) with its weekly rain terciles
    GET  /api/bulletins/latest    the latest bulletin's files and maps
    GET  /api/skill               how good the forecasts were in held-out years, as the bulletin says
    GET  /files/latest/{path}     a file of the latest published run

Every handler reads the published run through one resolution of ``latest`` per request
(:meth:`Context.latest`), so it sees the old result or the new one, never a mix.
Refusals raise :class:`~sowcast.serve.security.HttpError`; errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sowcast.serve import results
from sowcast.serve.inbox import is_candidate
from sowcast.serve.journal import Journal
from sowcast.serve.publish import resolve_latest
from sowcast.serve.security import HttpError, confined_file
from sowcast.serve.settings import ServeSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"
DASHBOARD = "dashboard.html"
PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sowcast</title></head>
<body><h1>sowcast</h1><p>The dashboard page is not installed. The service runs: see
<a href="/api/status">/api/status</a>, <a href="/api/locations">/api/locations</a> and
<a href="/openapi.json">/openapi.json</a>.</p></body></html>
"""
MAX_RUNS = 1000
MAX_JSON_DEPTH = 64            # nesting of a request body; deeper ones are refused (400) before parsing
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """The deepest nesting of objects and arrays in JSON ``text`` (strings skipped)."""
    depth = deepest = 0
    for ch in _JSON_STRING.sub('""', text):
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@dataclass
class Request:
    method: str
    segments: list[str]
    query: dict[str, list[str]]
    headers: Message
    read_body: Callable[[], bytes] = lambda: b""

    def json(self) -> dict[str, Any]:
        """The body as a JSON object ({} when empty); 415 unless it is declared JSON, 400 if bad."""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(415, "Send the request body as JSON with 'Content-Type: application/json'.")
        body = self.read_body()
        if not body.strip():
            return {}
        try:
            text = body.decode("utf-8")
            if json_depth(text) > MAX_JSON_DEPTH:
                raise HttpError(400, f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.")
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HttpError(400, "The request body must be a JSON object.")
        return data


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    file: Path | None = None            # streamed instead of body
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(obj, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(status, body, "application/json", headers={"Cache-Control": "no-store", **(headers or {})})


CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf", ".png": "image/png",
                 ".csv": "text/csv; charset=utf-8", ".json": "application/json", ".nc": "application/x-netcdf",
                 ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8", ".ico": "image/x-icon",
                 ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".woff2": "font/woff2"}


def file_response(path: Path) -> Response:
    return Response(200, content_type=CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream"), file=path,
                    headers={"Cache-Control": "no-cache"})


@dataclass
class Context:
    """What the handlers share: settings, journal, the worker's wake-up, start time."""

    settings: ServeSettings
    journal: Journal
    wake_worker: Callable[[], None]
    bundle_sha256: str | None
    version: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)

    def latest(self) -> Path | None:
        return resolve_latest(self.settings.root)


# -- handlers ---------------------------------------------------------------------------

def dashboard(ctx: Context, req: Request, params: dict) -> Response:
    page = STATIC_DIR / DASHBOARD
    if page.is_file():
        return file_response(page)
    return Response(200, PLACEHOLDER.encode(), "text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})


def static_file(ctx: Context, req: Request, params: dict) -> Response:
    return file_response(confined_file(STATIC_DIR, params["path"]))


def healthz(ctx: Context, req: Request, params: dict) -> Response:
    return json_response({"status": "ok"})


def openapi_json(ctx: Context, req: Request, params: dict) -> Response:
    from sowcast.serve.openapi import document

    return json_response(document(ctx.version))


def status(ctx: Context, req: Request, params: dict) -> Response:
    latest = ctx.latest()
    return json_response({
        "version": ctx.version, "bundle_sha256": ctx.bundle_sha256, "queue_length": ctx.journal.queue_length(),
        "current_job": ctx.journal.current(), "latest_run": None if latest is None else latest.name,
        "issue_date": results.issue_date(latest), "started": ctx.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "uptime_s": round(time.monotonic() - ctx.started_monotonic, 1),
    })


def runs_list(ctx: Context, req: Request, params: dict) -> Response:
    text = (req.query.get("limit") or ["50"])[-1]
    if not re.fullmatch(r"\d{1,6}", text) or not 1 <= int(text) <= MAX_RUNS:
        raise HttpError(400, f"limit must be a whole number from 1 to {MAX_RUNS}.")
    return json_response({"runs": ctx.journal.runs(int(text))})


def run_get(ctx: Context, req: Request, params: dict) -> Response:
    job = ctx.journal.get(params["id"]) if re.fullmatch(r"\d{1,12}", params["id"]) else None
    if job is None:
        raise HttpError(404, f"No run {params['id']!r}.")
    return json_response(job)


def run_post(ctx: Context, req: Request, params: dict) -> Response:
    body = req.json()
    unknown = sorted(set(body) - {"init", "init_time"})
    if unknown:
        raise HttpError(400, f"Unknown field(s) {', '.join(unknown)}; the fields are init and init_time.")
    init = _init_path(ctx.settings, body.get("init"))
    init_time = body.get("init_time")
    if init_time is not None:
        if not isinstance(init_time, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", init_time):
            raise HttpError(400, "init_time must be a date \"YYYY-MM-DD\".")
        try:
            date.fromisoformat(init_time)
        except ValueError:
            raise HttpError(400, f"init_time {init_time} is not a calendar date.") from None
    job = ctx.journal.add({"init": str(init), "init_time": init_time}, source="api")
    ctx.wake_worker()
    return json_response({"id": job["id"], "status": job["status"]}, 202, {"Location": f"/api/runs/{job['id']}"})


def _init_path(settings: ServeSettings, name: Any) -> Path:
    """The initial conditions a POST asks for: an entry of the inbox, or serve.init."""
    if name is None:
        if settings.init is None:
            raise HttpError(400, "No init given and serve.init is not set: name a file or folder of the inbox.")
        return settings.init
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise HttpError(400, "init must be the name of a file or folder in the inbox, not a path.")
    if settings.inbox is None:
        raise HttpError(400, "No inbox is configured (serve.inbox): leave init out to use serve.init.")
    base = settings.inbox.resolve()
    path = base / name
    if not path.exists():
        raise HttpError(404, f"No {name!r} in the inbox.")
    if not path.resolve().is_relative_to(base):
        raise HttpError(400, f"{name!r} leads outside the inbox.")
    if not is_candidate(path, base):
        raise HttpError(400, f"{name!r} is not initial conditions: give a plain-named .nc file or .zarr folder.")
    return path


def _latest_or_404(ctx: Context) -> Path:
    latest = ctx.latest()
    if latest is None:
        raise HttpError(404, "Nothing is published yet: no run has finished.")
    return latest


def locations(ctx: Context, req: Request, params: dict) -> Response:
    latest = _latest_or_404(ctx)
    locs = [results.public(loc) for loc in results.read_locations(latest)]
    return json_response({"issue_date": results.issue_date(latest), "locations": locs})


def location_get(ctx: Context, req: Request, params: dict) -> Response:
    latest = _latest_or_404(ctx)
    loc = results.find_location(results.read_locations(latest), params["name"])
    if loc is None:
        raise HttpError(404, f"No location {params['name']!r} in the latest forecast.")
    return json_response({"issue_date": results.issue_date(latest), **results.public(loc),
                          "weekly_rain_terciles": results.rain_terciles(latest, loc["name"]),
                          "weekly_rain_dry_season": results.rain_dry_season(latest, loc["name"]),
                          "members": results.products_meta(latest).get("members")})


def bulletin_latest(ctx: Context, req: Request, params: dict) -> Response:
    latest = _latest_or_404(ctx)
    index = results.bulletin_index(latest)
    if index is None:
        raise HttpError(404, "The latest published run has no bulletin.")
    index["files"] = {k: quote(v) for k, v in index["files"].items()}
    index["maps"] = [quote(v) for v in index["maps"]]
    return json_response(index)


def skill(ctx: Context, req: Request, params: dict) -> Response:
    latest = _latest_or_404(ctx)
    found = results.skill(latest)
    if found is None:
        raise HttpError(404, "The latest published run has no bulletin that states the forecasts' skill "
                             "(the bulletin step writes it).")
    return json_response({"issue_date": results.issue_date(latest), **found})


def files_latest(ctx: Context, req: Request, params: dict) -> Response:
    return file_response(confined_file(_latest_or_404(ctx), params["path"]))


# -- routing ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str
    template: str                  # "/api/runs/{id}"; a final "{path}" takes the rest of the path
    handler: Callable[[Context, Request, dict], Response]

    def match(self, segments: list[str]) -> dict[str, Any] | None:
        parts = [p for p in self.template.split("/") if p]
        if parts and parts[-1] == "{path}":
            if len(segments) < len(parts) or segments[: len(parts) - 1] != parts[:-1]:
                return None
            return {"path": segments[len(parts) - 1:]}
        if len(parts) != len(segments):
            return None
        params = {}
        for p, s in zip(parts, segments, strict=True):
            if p.startswith("{"):
                params[p[1:-1]] = s
            elif p != s:
                return None
        return params


ROUTES = (
    Route("GET", "/", dashboard),
    Route("GET", "/static/{path}", static_file),
    Route("GET", "/healthz", healthz),
    Route("GET", "/openapi.json", openapi_json),
    Route("GET", "/api/status", status),
    Route("GET", "/api/runs", runs_list),
    Route("POST", "/api/runs", run_post),
    Route("GET", "/api/runs/{id}", run_get),
    Route("GET", "/api/locations", locations),
    Route("GET", "/api/locations/{name}", location_get),
    Route("GET", "/api/bulletins/latest", bulletin_latest),
    Route("GET", "/api/skill", skill),
    Route("GET", "/files/latest/{path}", files_latest),
)


def route(method: str, segments: list[str]) -> tuple[Route, dict[str, Any]]:
    """The route for the request; 404 for an unknown location, 405 for a wrong method."""
    allowed = []
    for r in ROUTES:
        params = r.match(segments)
        if params is None:
            continue
        if r.method == method or (method == "HEAD" and r.method == "GET"):
            return r, params
        allowed.append(r.method)
    if allowed:
        allow = ", ".join(sorted(set(allowed) | ({"HEAD"} if "GET" in allowed else set())))
        raise HttpError(405, f"{method} is not allowed here; use {allow}.", {"Allow": allow})
    served = {r.method for r in ROUTES} | {"HEAD"}
    if method not in served:
        allow = ", ".join(sorted(served))
        raise HttpError(405, f"{method} is not a method this service answers; it answers {allow}.", {"Allow": allow})
    raise HttpError(404, f"Nothing at /{'/'.join(segments)}; see /openapi.json for the API.")
