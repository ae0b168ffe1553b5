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
from bot.timers import TickReport, Timers
from bot.token_rotation import TokenRotator

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, *, timers: Timers, sender: OutboxSender, rotator: TokenRotator | None = None) -> None:
        self._timers = timers
        self._sender = sender
        self._rotator = rotator

    def tick(self) -> TickReport:
        """Refresh the bot tokens about to expire (with OAuth credentials), queue every
        follow-up prompt, nudge, escalation and digest now due, then wake the sender; reports
        what this process queued (other replicas may queue the rest)."""
        if self._rotator is not None:
            self._rotator.run_due()
        report = self._timers.run_due()
        self._sender.wake()
        return report

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
