"""The home_viewer table: who opened the bot's Home tab, and the hash of their last publish.

Only people in it get their Home republished after a change (bot/home_refresh.py), so each
lookup here is one indexed read of a few rows, cheap enough for the ack path.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from storage.models import HomeViewer, Incident

_VIEWER = HomeViewer.__table__
_INCIDENT = Incident.__table__


def remember(session: Session, *, workspace_id: str, user_id: str, now: datetime) -> bool:
    """Record that ``user_id`` opened their Home; True the first time. An insert that does
    nothing on a conflict: two replicas answering two opens never fail on the key."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = session.connection().execute(
        insert(_VIEWER).values(workspace_id=workspace_id, user_id=user_id, first_opened_at=now, last_hash=None)
        .on_conflict_do_nothing(index_elements=["workspace_id", "user_id"]))
    return result.rowcount == 1


def among(session: Session, *, workspace_id: str, users: Iterable[str]) -> list[str]:
    """Those of ``users`` who opened their Home, in id order: one read along the primary key."""
    wanted = sorted({user for user in users if user})
    if not wanted:
        return []
    return list(session.connection().execute(
        select(_VIEWER.c.user_id).where(_VIEWER.c.workspace_id == workspace_id, _VIEWER.c.user_id.in_(wanted))
        .order_by(_VIEWER.c.user_id)).scalars())


_MINE = or_(_INCIDENT.c.flagged_by == _VIEWER.c.user_id, _INCIDENT.c.owner_id == _VIEWER.c.user_id)
# Built once: a statement costs more CPU to build than to run on SQLite, and every flag runs it.
_FLAG_VIEWERS = (
    select(_VIEWER.c.user_id).where(
        _VIEWER.c.workspace_id == bindparam("workspace_id"),
        or_(_VIEWER.c.user_id == bindparam("flagger"),
            exists().where(_INCIDENT.c.card_channel == bindparam("channel"),
                           _INCIDENT.c.created_at >= bindparam("since"),
                           _INCIDENT.c.workspace_id == _VIEWER.c.workspace_id, _MINE)))
    .order_by(_VIEWER.c.user_id))


def flag_viewers(session: Session, *, workspace_id: str, flagger: str, channel: str, since: datetime) -> list[str]:
    """Whose Home a new unclaimed incident changes, among those who opened theirs: the flagger,
    and everyone for whom ``channel`` is one of "my channels" (see ``watching_channel``). One
    read: in a workspace where nobody opened the Home, one probe of its primary key."""
    return list(session.connection().execute(_FLAG_VIEWERS, {"workspace_id": workspace_id, "flagger": flagger,
                                                             "channel": channel, "since": since}).scalars())


def watching_channel(session: Session, *, workspace_id: str, channel: str, since: datetime) -> list[str]:
    """Viewers for whom ``channel`` is one of "my channels": the card channel of an incident they
    flagged or owned, created since ``since``. Walks ix_incident_card_channel (channel, created_at)."""
    incident = _INCIDENT
    return list(session.connection().execute(
        select(_VIEWER.c.user_id).distinct()
        .join(incident, and_(incident.c.card_channel == channel, incident.c.created_at >= since,
                             incident.c.workspace_id == _VIEWER.c.workspace_id, _MINE))
        .where(_VIEWER.c.workspace_id == workspace_id).order_by(_VIEWER.c.user_id)).scalars())


def last_hash(session: Session, *, workspace_id: str, user_id: str) -> str | None:
    return session.connection().execute(
        select(_VIEWER.c.last_hash).where(_VIEWER.c.workspace_id == workspace_id, _VIEWER.c.user_id == user_id)
    ).scalar_one_or_none()


def store_hash(session: Session, *, workspace_id: str, user_id: str, view_hash: str | None) -> None:
    session.connection().execute(
        update(_VIEWER).where(_VIEWER.c.workspace_id == workspace_id, _VIEWER.c.user_id == user_id)
        .values(last_hash=view_hash))


def everyone(session: Session, *, workspace_id: str) -> list[str]:
    """Everyone of the workspace who opened their Home: all their Homes change with its settings."""
    return list(session.connection().execute(
        select(_VIEWER.c.user_id).where(_VIEWER.c.workspace_id == workspace_id).order_by(_VIEWER.c.user_id)).scalars())
