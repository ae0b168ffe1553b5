"""The one scheduled job: a tick that derives from the database what is due, and does it.

No per-incident jobs live in memory, so a restart loses nothing; APScheduler's job store
is never shared between processes (its docs forbid it): every replica ticks, and unique
keys in the database decide who sends each reminder.
"""
from __future__ import annotations

import logging
from datetime import timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.outbox import OutboxSender
from bot.service import RecoveryService

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, *, service: RecoveryService, sender: OutboxSender) -> None:
        self._service = service
        self._sender = sender

    def tick(self) -> int:
        """Prompt every follow-up that fell due, then send what the outbox owes; returns how
        many prompts this process posted (others may have posted the rest)."""
        posted = 0
        for incident_id, seq in self._service.due_follow_ups():
            posted += self._service.prompt_follow_up(incident_id, seq)
        self._sender.wake()
        return posted

    def safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:  # noqa: BLE001 - e.g. the database is down: the next tick tries again
            log.exception("scheduler tick failed; will try again")


def start_scheduler(ticker: Ticker, *, every_seconds: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(ticker.safe_tick, IntervalTrigger(seconds=every_seconds), id="tick", max_instances=1,
                      coalesce=True, misfire_grace_time=None)
    scheduler.start()
    return scheduler
