"""RETENTION_DAYS: the customer's name and words erased from incidents closed long ago.

A customer's name, the message they wrote (the excerpt quoted on the card) and the summary
made of it are personal data, needed while the incident is worked and for a while after;
the figures (times, steps, satisfaction, would buy again, remedy, root cause) are the team's
and are kept, so the digests, stats and exports read the same before and after. An erased
incident's summary says so, "(erased after 30 days)", in every view that showed it. The
notes typed at the steps are the team's own words and are kept. Slack's own copies (the
customer's message, the card) follow the workspace's retention settings, not ours.

Run from the scheduler's tick once a day per process, and by `python -m bot retention`; the
UPDATEs are idempotent, so replicas running it at once simply agree.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from bot.clock import Clock
from storage import retention_store
from storage.db import Database

log = logging.getLogger(__name__)

BATCH = 1000
"""Incidents erased per transaction: a first run over years of incidents never holds the
table for one long write."""


def erase_due(db: Database, *, days: int, now: datetime) -> int:
    """Erase what is due now; how many incidents this run erased."""
    closed_before = now - timedelta(days=days)
    marker = f"{retention_store.ERASED_PREFIX}{days_words(days)})"
    erased = 0
    while True:
        with db.transaction() as session:
            due = retention_store.due(session, closed_before=closed_before, limit=BATCH)
            retention_store.erase(session, due, marker=marker)
        erased += len(due)
        if len(due) < BATCH:
            return erased


def days_words(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


class DailyRetention:
    """The tick's side: at most once a UTC day per process (and once at start-up)."""

    def __init__(self, *, db: Database, clock: Clock, days: int | None) -> None:
        self._db = db
        self._clock = clock
        self._days = days
        self._done_for: date | None = None

    def run_due(self) -> int:
        if self._days is None:
            return 0
        now = self._clock.now()
        if self._done_for == now.date():
            return 0
        erased = erase_due(self._db, days=self._days, now=now)
        self._done_for = now.date()
        if erased:
            log.info("retention: erased the customer's name and words from %d incidents closed over %s ago",
                     erased, days_words(self._days))
        return erased
