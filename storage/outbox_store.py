"""The outbox table's queries: queue in the caller's transaction, lease, settle.

A row is only ever sent by whoever holds its lease; the lease is taken with a
conditional UPDATE so two senders (threads or replicas) never send the same row.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import OutboxMessage

PENDING, IN_FLIGHT, SENT, DEAD = "pending", "in_flight", "sent", "dead"
DONE_STATES = (SENT, DEAD)


@dataclass(frozen=True, slots=True)
class Leased:
    """A row this sender now owns; ``uncertain`` means an earlier attempt died mid-call."""

    id: int
    workspace_id: str
    incident_id: int | None
    step_seq: int | None
    kind: str
    channel: str | None
    user_id: str | None
    payload: dict
    attempts: int
    uncertain: bool
    created_at: datetime


_INSERT = insert(OutboxMessage)


def enqueue(session: Session, *, workspace_id: str, kind: str, now: datetime, payload: dict | None = None,
            incident_id: int | None = None, step_seq: int | None = None, channel: str | None = None,
            user_id: str | None = None, dedupe_key: str | None = None) -> None:
    """Messages about one incident share an ordering key, so they leave in the order written."""
    ordering_key = f"incident:{incident_id}" if incident_id is not None else f"solo:{uuid.uuid4().hex}"
    session.connection().execute(_INSERT, {
        "workspace_id": workspace_id, "incident_id": incident_id, "step_seq": step_seq, "kind": kind,
        "channel": channel, "user_id": user_id, "payload": json.dumps(payload or {}), "dedupe_key": dedupe_key,
        "ordering_key": ordering_key, "state": PENDING, "attempts": 0, "uncertain": False,
        "next_attempt_at": now, "created_at": now,
    })


def due_ids(session: Session, *, now: datetime, limit: int = 50) -> list[int]:
    """Rows ready to go: due, not leased by a live sender, and first in their thread."""
    earlier = aliased(OutboxMessage)
    blocked = exists().where(
        earlier.ordering_key == OutboxMessage.ordering_key,
        earlier.id < OutboxMessage.id,
        col(earlier.state).not_in(DONE_STATES),
    )
    ready = or_(
        (OutboxMessage.state == PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.state == IN_FLIGHT) & (OutboxMessage.lease_until < now),
    )
    query = (select(OutboxMessage.id).where(col(OutboxMessage.state).in_((PENDING, IN_FLIGHT)), ready, ~blocked)
             .order_by(col(OutboxMessage.id)).limit(limit))
    return list(session.exec(query).all())


def lease(session: Session, row_id: int, *, now: datetime, lease_for: timedelta) -> Leased | None:
    """Take the row if it is due (or its holder's lease ran out), in one conditional UPDATE.

    What the caller gets back is what that UPDATE wrote (RETURNING), never an earlier read:
    a separate read could be stale under concurrent senders, and the ORM would also apply
    the UPDATE to an object it had loaded, counting this attempt twice. Taking over an
    expired lease marks the row uncertain in the table too: the dead holder's call may have
    reached Slack, and that must survive this attempt failing in turn.
    """
    result = session.exec(update(OutboxMessage).where(
        OutboxMessage.id == row_id,
        or_((OutboxMessage.state == PENDING) & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.state == IN_FLIGHT) & (OutboxMessage.lease_until < now)),
    ).values(
        state=IN_FLIGHT, lease_until=now + lease_for, attempts=OutboxMessage.attempts + 1,
        uncertain=or_(OutboxMessage.state == IN_FLIGHT, OutboxMessage.uncertain),
    ).returning(
        OutboxMessage.id, OutboxMessage.workspace_id, OutboxMessage.incident_id, OutboxMessage.step_seq,
        OutboxMessage.kind, OutboxMessage.channel, OutboxMessage.user_id, OutboxMessage.payload,
        OutboxMessage.attempts, OutboxMessage.uncertain, OutboxMessage.created_at,
    ).execution_options(synchronize_session=False))
    row = result.first()
    if row is None:
        return None
    return Leased(id=row.id, workspace_id=row.workspace_id, incident_id=row.incident_id, step_seq=row.step_seq,
                  kind=row.kind, channel=row.channel, user_id=row.user_id, payload=json.loads(row.payload),
                  attempts=row.attempts, uncertain=bool(row.uncertain), created_at=row.created_at)


def mark_sent(session: Session, row_id: int, *, now: datetime, ts: str | None, note: str | None = None) -> None:
    session.exec(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
        state=SENT, sent_at=now, result_ts=ts, lease_until=None, last_error=note, uncertain=False))


def mark_retry(session: Session, row_id: int, *, at: datetime, error: str, uncertain: bool) -> None:
    """``uncertain``: the call may have reached Slack (a timeout), so look before resending."""
    session.exec(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
        state=PENDING, next_attempt_at=at, lease_until=None, last_error=error[:500], uncertain=uncertain))


def mark_dead(session: Session, row_id: int, *, now: datetime, error: str) -> None:
    session.exec(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
        state=DEAD, sent_at=now, lease_until=None, last_error=error[:500]))


def has_later_card_update(session: Session, row_id: int, incident_id: int) -> bool:
    """A newer card update makes this one pointless: the card is rendered when sent."""
    return session.exec(select(OutboxMessage.id).where(
        OutboxMessage.incident_id == incident_id, OutboxMessage.kind == "update_card",
        OutboxMessage.id > row_id, OutboxMessage.state == PENDING).limit(1)).first() is not None


def backlog(session: Session) -> int:
    return len(session.exec(select(OutboxMessage.id).where(
        col(OutboxMessage.state).in_((PENDING, IN_FLIGHT)))).all())
