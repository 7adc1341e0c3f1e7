"""The ``serve:`` config (conf/serve/default.yaml), validated once at start.

:class:`ServeSettings` is the group's options class (:mod:`sowcast.options`: each default
written once, equal to the YAML's, tests/test_option_defaults.py); :meth:`ServeSettings.from_config`
parses it and adds the checks between keys. Relative paths resolve against the folder the
service starts in and are made absolute here, because the chain steps run as subprocesses
with those paths as overrides. A bad value is a one-line :class:`~sowcast.errors.SowcastError`
before anything is bound or written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sowcast.errors import SowcastError
from sowcast.forecast.options import ForecastOptions
from sowcast.options import as_plain, option, parse

STEPS = ("forecast", "products", "bulletin")  # each a 'sowcast' command (tests/test_cli_surface.py checks)
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def _daily_at(value: Any, key: str) -> tuple[int, int]:
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not m:
        raise SowcastError(f"{key} must be a UTC time \"HH:MM\" (quoted) or null, not {value!r}")
    return int(m.group(1)), int(m.group(2))


FORECAST_KEYS = ("members", "lead", "threads", "checkpoint_every", "trusted_keys")  # serve.forecast's keys


def _forecast_step_class() -> type:
    """:class:`~sowcast.forecast.options.ForecastOptions` restricted to :data:`FORECAST_KEYS`:
    the same types, defaults, docs, bounds and checks, each written once, there."""
    hints = typing.get_type_hints(ForecastOptions)
    fields = {f.name: f for f in dataclasses.fields(ForecastOptions)}
    return dataclasses.make_dataclass(
        "ForecastStep",
        [(k, hints[k], dataclasses.field(default=fields[k].default, default_factory=fields[k].default_factory,
                                         metadata=fields[k].metadata)) for k in FORECAST_KEYS],
        frozen=True, namespace={"__doc__": "``serve.forecast``: the forecast step's own keys, as ``forecast.*``.",
                                "__module__": __name__})


ForecastStep = _forecast_step_class()


def _forecast_step(value: Any, key: str) -> dict[str, Any]:
    """The keys given in ``serve.forecast``, parsed by :class:`ForecastStep` (key files read now);
    trusted keys made absolute, as the steps run in their own folders."""
    parsed = as_plain(parse(ForecastStep, value, key))
    out = {k: parsed[k] for k in value}
    if "trusted_keys" in out:
        out["trusted_keys"] = [str(Path(os.path.expanduser(k)).absolute()) for k in out["trusted_keys"] or ()]
    return out


@dataclass(frozen=True)
class Schedule:
    """``serve.schedule``."""

    daily_at: tuple[int, int] | None = option(
        None, "\"06:00\" (UTC, quoted): queue a job from the latest initial conditions of init daily", convert=_daily_at)


@dataclass(frozen=True)
class ServeSettings:
    """The service's settings: the ``serve:`` group, parsed by :meth:`from_config`."""

    root: Path = option(Path("serve"), "working folder: journal.sqlite, runs/<job>/, published/<job>/, latest")
    host: str = option("127.0.0.1", "any other address needs a token")
    port: int = option(8470, "0: any free port (the log line 'listening on ...' names it)", low=0, high=65535)
    token: str | None = option(None, "Authorization: Bearer <token> on every /api/ request and POST; "
                                     f"{MIN_TOKEN_LENGTH}+ characters; from $SOWCAST_TOKEN, not the command line")
    max_body_bytes: int = option(64 * 1024, "larger request bodies are refused (413)", low=1)
    max_connections: int = option(32, "connections served at once; one more is answered 503", low=1, high=4096)
    request_timeout: float = option(30.0, "seconds a client has to send its whole request", low=1, high=3600)
    inbox: Path | None = option(None, "folder watched for new initial conditions (.nc or .zarr); null: off")
    poll_seconds: float = option(10.0, "inbox and schedule look this often", low=0.05, high=3600)
    init: Path | None = option(None, "initial conditions of POST /api/runs without 'init' and of the schedule")
    bundle: Path | None = option(None, "the bundle folder or .tar.gz (from 'sowcast export'), verified at start")
    observed: Path | None = option(None, "observed rain up to the issue date (products.observed); null: no planting outlook")
    stations: Path | None = option(None, "station coordinates for a station CSV without lat/lon (products.stations)")
    locations: Path | None = option(Path("data/locations/west_africa_demo.csv"),
                                    "products.locations: points (CSV) or districts (GeoJSON)")
    chain: tuple[str, ...] = option(STEPS, "or [forecast, products]: no bulletin")
    forecast: dict[str, Any] = option(as_plain(ForecastStep()), "the forecast step (forecast.*); its other keys "
                                      "via overrides.forecast", convert=_forecast_step, options=ForecastStep)
    languages: tuple[str, ...] = option(("en", "fr"), "bulletin.languages")
    overrides: dict[str, list[str]] = option({step: [] for step in STEPS},
                                             "extra KEY=VALUE overrides per step, e.g. products: [products.rules=anacim]")
    schedule: Schedule = field(default_factory=Schedule, metadata={"doc": "the daily job"})
    keep_published: int = option(5, "published runs kept (the newest by job id; latest always)", low=1)
    keep_runs: int = option(10, "run folders of finished jobs kept (the journal keeps every job's record)", low=1)
    max_attempts: int = option(3, "a job interrupted by power cuts this many times fails instead of going again",
                               low=1)

    @property
    def daily_at(self) -> tuple[int, int] | None:
        """(hour, minute) UTC of the daily job, or None."""
        return self.schedule.daily_at

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ServeSettings:
        s = parse(cls, cfg, "serve")
        host = s.host.strip()
        if not is_loopback(host) and s.token is None:
            raise SowcastError(f"serve.host {host} is reachable from other machines: set serve.token (a random secret "
                               f"of {MIN_TOKEN_LENGTH}+ characters) to bind it, or keep serve.host=127.0.0.1")
        token = s.token
        if token is not None and (len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or " " in token):
            raise SowcastError(f"serve.token must be at least {MIN_TOKEN_LENGTH} printable characters without spaces")
        if s.bundle is None:
            raise SowcastError("serve.bundle is not set: give the bundle folder or .tar.gz from 'sowcast export'")
        paths = {key: _existing(getattr(s, key), key) for key in ("bundle", "inbox", "init", "observed", "stations",
                                                                   "locations")}
        if paths["inbox"] is not None and not paths["inbox"].is_dir():
            raise SowcastError(f"serve.inbox {paths['inbox']} is not a folder")
        if s.chain not in (STEPS[:2], STEPS):
            raise SowcastError(f"serve.chain must be [forecast, products] or [forecast, products, bulletin], "
                               f"not [{', '.join(s.chain)}]")
        for step, items in s.overrides.items():
            if step not in STEPS or not all("=" in x for x in items):
                raise SowcastError(f"serve.overrides.{step} must be a list of KEY=VALUE overrides of a chain step "
                                   f"({', '.join(STEPS)})")
        if s.daily_at is not None and paths["init"] is None:
            raise SowcastError("serve.schedule.daily_at is set but serve.init is not: the schedule needs initial conditions")
        return replace(s, root=s.root.absolute(), host=host, **paths)


def _existing(path: Path | None, key: str) -> Path | None:
    """``path`` made absolute, or a one-line error if it does not exist."""
    if path is None:
        return None
    path = path.absolute()
    if not path.exists():
        raise SowcastError(f"serve.{key}: no such file or folder {path}")
    return path
