"""The scheduled jobs: a tick that derives from the database what is due, and does it; and,
on PostgreSQL, a look every few seconds at whether a table grew enough to be analysed
(storage/planner_statistics.py).

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
from storage import planner_statistics
from storage.db import Database

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, *, timers: Timers, sender: OutboxSender, db: Database,
                 rotator: TokenRotator | None = None) -> None:
        self._timers = timers
        self._sender = sender
        self._db = db
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

    @property
    def db_dialect(self) -> str:
        return self._db.dialect

    def safe_refresh_statistics(self) -> None:
        try:
            planner_statistics.refresh(self._db.engine)
        except Exception as error:  # noqa: BLE001 - the database is down: the next look tries again
            log.warning("refreshing the planner's statistics failed (%s); will try again", error.__class__.__name__)


def start_scheduler(ticker: Ticker, *, every_seconds: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone=timezone.utc)
    scheduler.add_job(ticker.safe_tick, IntervalTrigger(seconds=every_seconds), id="tick", max_instances=1,
                      coalesce=True, misfire_grace_time=None)
    if ticker.db_dialect == "postgresql":
        scheduler.add_job(ticker.safe_refresh_statistics, IntervalTrigger(seconds=planner_statistics.EVERY_SECONDS),
                          id="planner_statistics", max_instances=1, coalesce=True, misfire_grace_time=None)
    scheduler.start()
    return scheduler
