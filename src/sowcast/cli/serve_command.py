"""``sowcast serve``: the offline edge service (dashboard, JSON API, job queue, inbox, schedule)."""

from __future__ import annotations

from omegaconf import DictConfig

from sowcast.errors import SowcastError

SUMMARY = "the offline edge service: dashboard and JSON API, forecast jobs from an inbox or a daily schedule"


def run(cfg: DictConfig) -> int:
    """Serve the dashboard and the JSON API on serve.host:serve.port (127.0.0.1:8470), and
    run chain jobs (forecast -> products -> bulletin -> publish) one at a time:

        sowcast serve serve.root=/var/lib/sowcast serve.bundle=bundle serve.init=analysis.zarr \\
            serve.observed=analysis.zarr serve.inbox=/srv/inbox 'serve.schedule.daily_at="06:00"'

    Jobs come from POST /api/runs, from new initial conditions in serve.inbox (a .nc file or
    a .zarr folder, taken when a <name>.done marker appears or when it is unchanged over two
    polls) and from serve.schedule.daily_at (UTC). The journal (serve.root/journal.sqlite)
    survives a power cut: a job that was running goes again first, the forecast resuming
    from its saved state. Finished runs are published atomically (serve.root/latest).
    Binding an address other than 127.0.0.1 needs serve.token (Authorization: Bearer).
    SIGTERM stops cleanly. The API: GET /openapi.json.
    """
    from sowcast.serve.service import serve
    from sowcast.serve.settings import ServeSettings

    if cfg.get("serve") is None:
        raise SowcastError("no serve config: add '- serve: default' to the config's defaults or pass +serve=default")
    return serve(ServeSettings.from_config(cfg.serve))
