"""The ``serve:`` config (conf/serve/default.yaml), validated once at start.

Relative paths resolve against the folder the service starts in and are made absolute
here, because the chain steps run as subprocesses with those paths as overrides. A bad
value is a one-line :class:`~sowcast.errors.SowcastError` before anything is bound or
written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sowcast.config_values import number, whole
from sowcast.errors import SowcastError

STEPS = ("forecast", "products", "bulletin")  # each a 'sowcast' command (tests/test_cli_surface.py checks)
OPTIONS = ("root", "host", "port", "token", "max_body_bytes", "inbox", "init", "bundle", "observed", "stations",
           "locations", "chain", "forecast", "languages", "overrides", "schedule", "keep_published", "keep_runs",
           "max_attempts", "poll_seconds", "max_connections", "request_timeout")
FORECAST_OPTIONS = ("members", "lead", "threads", "checkpoint_every", "trusted_keys")
MIN_TOKEN_LENGTH = 16


def _is_null(value: Any) -> bool:
    return value is None or str(value).strip().lower() in ("", "none", "null")


def _path(value: Any, key: str, must_exist: bool = True) -> Path | None:
    if _is_null(value):
        return None
    path = Path(os.path.expanduser(str(value))).absolute()
    if must_exist and not path.exists():
        raise SowcastError(f"serve.{key}: no such file or folder {path}")
    return path


def _int(cfg: Mapping[str, Any], key: str, default: int, low: int, high: int | None = None) -> int:
    return whole(cfg.get(key, default), f"serve.{key}", low, high)


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


@dataclass(frozen=True)
class ServeSettings:
    """The service's settings; see conf/serve/default.yaml for each key."""

    root: Path
    bundle: Path
    host: str = "127.0.0.1"
    port: int = 8470
    token: str | None = None
    max_body_bytes: int = 64 * 1024
    inbox: Path | None = None
    init: Path | None = None
    observed: Path | None = None
    stations: Path | None = None
    locations: Path | None = None
    chain: tuple[str, ...] = STEPS
    forecast: dict[str, Any] = field(default_factory=lambda: {"members": 16, "lead": "46D", "threads": 2,
                                                              "checkpoint_every": 5})
    languages: tuple[str, ...] = ("en", "fr")
    overrides: dict[str, list[str]] = field(default_factory=dict)
    daily_at: tuple[int, int] | None = None   # (hour, minute) UTC
    keep_published: int = 5
    keep_runs: int = 10
    max_attempts: int = 3
    poll_seconds: float = 10.0
    max_connections: int = 32      # connections served at once; more are answered 503
    request_timeout: float = 30.0  # seconds a client has to send its whole request

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ServeSettings:
        from sowcast.config import plain

        cfg = plain(cfg) or {}
        unknown = sorted(set(cfg) - set(OPTIONS))
        if unknown:
            raise SowcastError(f"unknown serve option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
        host = str(cfg.get("host") or "127.0.0.1").strip()
        token = None if _is_null(cfg.get("token")) else str(cfg["token"])
        if not is_loopback(host) and token is None:
            raise SowcastError(f"serve.host {host} is reachable from other machines: set serve.token (a random secret "
                               f"of {MIN_TOKEN_LENGTH}+ characters) to bind it, or keep serve.host=127.0.0.1")
        if token is not None and (len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or " " in token):
            raise SowcastError(f"serve.token must be at least {MIN_TOKEN_LENGTH} printable characters without spaces")
        root = _path(cfg.get("root") or "serve", "root", must_exist=False)
        bundle = _path(cfg.get("bundle"), "bundle")
        if bundle is None:
            raise SowcastError("serve.bundle is not set: give the bundle folder or .tar.gz from 'sowcast export'")
        inbox = _path(cfg.get("inbox"), "inbox")
        if inbox is not None and not inbox.is_dir():
            raise SowcastError(f"serve.inbox {inbox} is not a folder")
        chain = tuple(str(s) for s in (cfg.get("chain") or STEPS))
        if chain not in (STEPS[:2], STEPS):
            raise SowcastError(f"serve.chain must be [forecast, products] or [forecast, products, bulletin], "
                               f"not [{', '.join(chain)}]")
        forecast = dict(cfg.get("forecast") or {})
        unknown = sorted(set(forecast) - set(FORECAST_OPTIONS))
        if unknown:
            raise SowcastError(f"unknown serve.forecast option(s) {', '.join(unknown)}; known: "
                               f"{', '.join(FORECAST_OPTIONS)} (others: serve.overrides.forecast)")
        if "trusted_keys" in forecast:  # read now; absolute, as the steps run in their own folders
            from sowcast.bundle.signature import trusted_keys_option

            forecast["trusted_keys"] = [str(Path(os.path.expanduser(k)).absolute()) for k in
                                        trusted_keys_option(forecast["trusted_keys"], "serve.forecast.trusted_keys")]
        overrides = dict(cfg.get("overrides") or {})
        for step, items in overrides.items():
            if step not in STEPS or not isinstance(items, list) or not all(isinstance(x, str) and "=" in x for x in items):
                raise SowcastError(f"serve.overrides.{step} must be a list of KEY=VALUE overrides of a chain step "
                                   f"({', '.join(STEPS)})")
        schedule = dict(cfg.get("schedule") or {})
        daily_at = None if _is_null(schedule.get("daily_at")) else _daily_at(schedule["daily_at"])
        init = _path(cfg.get("init"), "init")
        if daily_at is not None and init is None:
            raise SowcastError("serve.schedule.daily_at is set but serve.init is not: the schedule needs initial conditions")
        languages = cfg.get("languages") or ["en", "fr"]
        return cls(
            root=root, bundle=bundle, host=host, port=_int(cfg, "port", 8470, 0, 65535), token=token,
            max_body_bytes=_int(cfg, "max_body_bytes", 64 * 1024, 1), inbox=inbox, init=init,
            observed=_path(cfg.get("observed"), "observed"), stations=_path(cfg.get("stations"), "stations"),
            locations=_path(cfg.get("locations"), "locations"), chain=chain, forecast=forecast,
            languages=tuple(str(x) for x in languages), overrides={k: list(v) for k, v in overrides.items()},
            daily_at=daily_at, keep_published=_int(cfg, "keep_published", 5, 1),
            keep_runs=_int(cfg, "keep_runs", 10, 1), max_attempts=_int(cfg, "max_attempts", 3, 1),
            poll_seconds=number(cfg.get("poll_seconds", 10), "serve.poll_seconds", 0.05, 3600),
            max_connections=_int(cfg, "max_connections", 32, 1, 4096),
            request_timeout=number(cfg.get("request_timeout", 30), "serve.request_timeout", 1, 3600),
        )


def _daily_at(value: Any) -> tuple[int, int]:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not m:
        raise SowcastError(f"serve.schedule.daily_at must be a UTC time \"HH:MM\" (quoted) or null, not {value!r}")
    return int(m.group(1)), int(m.group(2))
