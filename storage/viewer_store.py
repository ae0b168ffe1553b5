"""The home_viewer table: who opened the bot's Home tab, and the hash of their last publish.

Only people in it get their Home republished after a change (bot/home_refresh.py), so each
lookup here is one indexed read of a few rows, cheap enough for the ack path.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, exists, or_, select, update
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
_AMONG = _VIEWER.c.user_id.in_(bindparam("users", expanding=True))
_WATCHING = exists().where(_INCIDENT.c.card_channel == bindparam("channel"), _INCIDENT.c.created_at >= bindparam("since"),
                           _INCIDENT.c.workspace_id == _VIEWER.c.workspace_id, _MINE)
# Built once: a statement costs more CPU to build than to run on SQLite, and every flag and
# click runs one of these.
_CONCERNED = {
    watching: select(_VIEWER.c.user_id).where(_VIEWER.c.workspace_id == bindparam("workspace_id"),
                                              or_(_AMONG, _WATCHING) if watching else _AMONG)
    .order_by(_VIEWER.c.user_id)
    for watching in (False, True)}


def concerned(session: Session, *, workspace_id: str, users: Iterable[str], channel: str | None = None,
              since: datetime | None = None) -> list[str]:
    """Whose Home a change alters, among those who opened theirs: those of ``users``, and with
    ``channel``, everyone for whom it is one of "my channels": the card channel of an incident
    they flagged or owned, created since ``since`` (ix_incident_card_channel). One read: where
    nobody opened the Home, one probe of its key."""
    wanted = sorted({user for user in users if user})
    params: dict[str, object] = {"workspace_id": workspace_id, "users": wanted}
    if channel is not None:
        params |= {"channel": channel, "since": since}
    elif not wanted:
        return []
    return list(session.connection().execute(_CONCERNED[channel is not None], params).scalars())


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
