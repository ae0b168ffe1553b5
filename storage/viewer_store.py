"""The home_viewer table: who opened the bot's Home tab, and the hash of their last publish.

Only people in it get their Home republished after a change (bot/home_refresh.py), so each
lookup here is one indexed read of a few rows, cheap enough for the ack path.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, any_, bindparam, exists, or_, select, update
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


@dataclass(frozen=True, slots=True)
class Concerned:
    """Whose Home a change alters, among those who opened theirs: ``users``, and with
    ``channel``, everyone for whom it is one of "my channels" (the card channel of an incident
    they flagged or owned, created since ``since``). Known before the change is written, so
    that the change's own statement can act on them (``concerned_column``): on PostgreSQL one
    round trip less for every flag and click."""

    workspace_id: str
    users: tuple[str, ...]
    channel: str | None = None
    since: datetime | None = None

    @classmethod
    def of(cls, workspace_id: str, users: Iterable[str], *, channel: str | None = None,
           since: datetime | None = None) -> Concerned:
        return cls(workspace_id, tuple(sorted({user for user in users if user})), channel,
                   since if channel is not None else None)

    @property
    def watching(self) -> bool:
        return self.channel is not None

    @property
    def anyone(self) -> bool:
        return bool(self.users) or self.watching

    def params(self) -> dict[str, object]:
        return {"v_workspace_id": self.workspace_id, "v_users": list(self.users), "v_channel": self.channel,
                "v_since": self.since}


_MINE = or_(_INCIDENT.c.flagged_by == _VIEWER.c.user_id, _INCIDENT.c.owner_id == _VIEWER.c.user_id)
# PostgreSQL takes the users as one array parameter: an expanding IN is rendered again at every
# run (SQLAlchemy's post-compile step, 6 % of a flag's interpreter time), and its text changes
# with the number of users, so each length is prepared apart.
_AMONG = {False: _VIEWER.c.user_id.in_(bindparam("v_users", expanding=True)),
          True: _VIEWER.c.user_id == any_(bindparam("v_users", type_=postgresql.ARRAY(String)))}
_WATCHING = exists().where(_INCIDENT.c.card_channel == bindparam("v_channel"),
                           _INCIDENT.c.created_at >= bindparam("v_since", type_=_INCIDENT.c.created_at.type),
                           _INCIDENT.c.workspace_id == _VIEWER.c.workspace_id, _MINE)
# Built once: a statement costs more CPU to build than to run on SQLite, and every flag and
# click runs one of these. Keyed (on PostgreSQL, watching).
_CONCERNED = {
    (on_postgresql, watching): select(_VIEWER.c.user_id).where(
        _VIEWER.c.workspace_id == bindparam("v_workspace_id"),
        or_(_AMONG[on_postgresql], _WATCHING) if watching else _AMONG[on_postgresql]).order_by(_VIEWER.c.user_id)
    for on_postgresql in (False, True) for watching in (False, True)}


def concerned_column(on_postgresql: bool, watching: bool) -> ColumnElement:
    """``Concerned``'s viewers as the column of a subquery, for a statement that acts on them
    itself (a flag's or a decision's Home rows; on PostgreSQL, within the change's own statement)."""
    return _CONCERNED[on_postgresql, watching].subquery("viewers").c.user_id


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
