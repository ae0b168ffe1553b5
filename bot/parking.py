"""Parked outbox rows (bot/refusals.py): sent again when what blocked them changes, never on a
timer; shown to leads in `/recovery health`, who may retry them or give them up.

Each function is one short transaction; the caller wakes the sender after it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import refusals
from bot.domain.types import Event, EventKind
from storage import channel_store, outbox_store, repository
from storage.db import Database

log = logging.getLogger(__name__)

DEAD_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class StuckIncident:
    """An incident whose messages wait behind one Slack refused."""

    incident_id: int
    number: int
    summary: str
    channel: str | None
    reason: str
    waiting: int
    """Messages held back: the parked ones and those queued behind them."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    counts: dict[str, int]
    stuck: list[StuckIncident]
    parked_elsewhere: dict[str, int]
    """Messages about no incident (digests) parked, by reason."""
    dead: dict[str, int]
    """Messages dropped in the last DEAD_WINDOW, by reason."""


def health(db: Database, *, workspace_id: str, now: datetime) -> HealthReport:
    with db.read() as session:
        stuck = outbox_store.stuck(session, workspace_id=workspace_id)
        incidents = repository.get_many(session, {item.incident_id for item in stuck})
        return HealthReport(
            counts=outbox_store.counts(session),
            stuck=[StuckIncident(incident_id=item.incident_id, number=incidents[item.incident_id].number,
                                 summary=incidents[item.incident_id].summary or incidents[item.incident_id].excerpt,
                                 channel=item.channel, reason=item.reason, waiting=item.parked + item.waiting)
                   for item in stuck if item.incident_id in incidents],
            parked_elsewhere=outbox_store.parked_elsewhere(session, workspace_id=workspace_id),
            dead=outbox_store.dead_since(session, workspace_id=workspace_id, since=now - DEAD_WINDOW),
        )


def bot_joined(db: Database, *, workspace_id: str, channel: str, now: datetime) -> int:
    """What was parked in ``channel`` for want of the bot there goes again; a shared channel's
    rows stay parked (joining does not make it internal)."""
    with db.transaction() as session:
        return outbox_store.unpark_channel(session, workspace_id=workspace_id, channel=channel,
                                           reasons=refusals.CHANNEL, now=now)


def resume_at_start(db: Database, *, now: datetime) -> int:
    """Whoever migrates at start-up: rows parked on the token or its scopes go again, the
    process having (perhaps) been given new ones; if not, they park again on the first
    refusal. One log line says what the outbox holds."""
    with db.transaction() as session:
        resumed = outbox_store.unpark_reasons(session, reasons=refusals.CREDENTIALS, now=now)
        figures = outbox_store.counts(session)
    log.info("outbox at start-up: %s (%d parked on the token or its scopes tried again)", counts_line(figures),
             resumed)
    return resumed


def installed(db: Database, *, workspace_id: str, now: datetime) -> int:
    """The bot was installed in the workspace (again): what was parked there for want of a token
    (or on the token Slack refused) goes with the new one."""
    with db.transaction() as session:
        resumed = outbox_store.unpark_workspace(session, workspace_id=workspace_id, reasons=refusals.CREDENTIALS,
                                                now=now)
    if resumed:
        log.info("installed in %s: %d messages parked on its token go now", workspace_id, resumed)
    return resumed


def retry(db: Database, *, incident_id: int, now: datetime) -> int:
    """A lead's Retry. A channel found shared is asked about again, in case it no longer is."""
    with db.transaction() as session:
        parked = outbox_store.unpark_incident(session, incident_id=incident_id, now=now)
        for channel, reason in parked:
            if reason == refusals.SHARED_CHANNEL and channel:
                channel_store.forget(session, channel)
    return len(parked)


def give_up(db: Database, *, incident_id: int, by: str, now: datetime) -> int:
    """The incident's parked rows and those behind them die, and its timeline says who gave
    them up and what Slack had said, in the same transaction."""
    with db.transaction() as session:
        reasons = outbox_store.parked_reasons(session, incident_id=incident_id)
        count = outbox_store.give_up(session, incident_id=incident_id, by=by, now=now)
        if count:
            repository.add_events(session, incident_id, [Event(EventKind.MESSAGES_GIVEN_UP, now, by,
                                                               reason=", ".join(reasons) or None)])
        return count


def counts_line(counts: dict[str, int]) -> str:
    """The outbox's counts for the log and `/recovery health`."""
    return f"{counts['parked']} parked, {counts['dead']} dead, {counts['pending']} to send"


def counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return outbox_store.counts(session)
