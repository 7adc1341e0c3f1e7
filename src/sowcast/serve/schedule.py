"""The optional daily schedule: ``serve.schedule.daily_at: "06:00"`` (UTC) queues a chain job
from the latest initial conditions in ``serve.init`` once a day.

The slot of a day is that date at ``daily_at`` UTC. A tick at or after today's slot queues
its job unless the journal already holds the key ``schedule:<YYYY-MM-DD>T<HH:MM>Z``
(inserted with the job in one transaction): a restart within the same day does not queue
it twice, and a box that was off at slot time catches up when it comes back the same day
(earlier days missed are not run: their forecast is stale).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sowcast.serve.journal import Journal


class DailySchedule:
    def __init__(self, daily_at: tuple[int, int], init: Path, journal: Journal,
                 on_queued: Callable[[dict], None] | None = None):
        self.hour, self.minute = daily_at
        self.init = init
        self.journal = journal
        self.on_queued = on_queued or (lambda job: None)

    def slot_key(self, now: datetime) -> str | None:
        """The key of the slot due at ``now`` (UTC), or None before today's slot."""
        now = now.astimezone(UTC)
        slot = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        return None if now < slot else f"schedule:{slot:%Y-%m-%dT%H:%M}Z"

    def tick(self, now: datetime | None = None) -> dict | None:
        """Queue today's job if its slot has come and it was never queued; the job or None."""
        key = self.slot_key(now or datetime.now(UTC))
        if key is None or self.journal.has_trigger(key):
            return None
        job = self.journal.add({"init": str(self.init), "init_time": None}, source="schedule", trigger=key)
        if job is not None:
            self.on_queued(job)
        return job
