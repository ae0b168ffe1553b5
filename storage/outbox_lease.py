"""The outbox sender's lease: rows taken, with what sending them needs read in the same go.

A leased row is sent from what was read with it: its incident (a card is drawn from it) and
whether the leads were called to the incident's current step, whether Slack refused to
refresh its workspace's token, what conversations.info last said of its channel, and whether
a newer card update makes it pointless. A change committed after the lease queued its own
row behind this one, so what is sent still ends up current.

On PostgreSQL this is one statement outside a transaction (the lease's UPDATE a part of it,
the rest read beside it), on the sender's own connection (storage/db.py SENDING_OPTIONS):
one round trip per batch where a transaction of five reads took seven. Under the ack
benchmark the sender's round trips were most of PostgreSQL's CPU per request (issue 17).
SQLite has no round trips to save and cannot update inside a WITH: there the same facts are
read by separate statements in the lease's transaction.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, bindparam, literal, select
from sqlmodel import Session

from bot.domain.types import IncidentState
from storage import channel_store, outbox_store, repository, workspace_store
from storage.db import Database
from storage.models import ChannelCheck, Incident, WorkspaceRow


@dataclass(frozen=True, slots=True)
class Lease:
    """A row now this sender's, and what was read with it."""

    row: outbox_store.Leased
    incident: IncidentState | None
    escalated: bool
    token_error: str | None
    # Shared with another organization, as last asked since ``checked_since``; None: ask again.
    shared: bool | None
    superseded: bool


def lease(db: Database, row_ids: Collection[int], *, now: datetime, lease_for: timedelta,
          checked_since: datetime) -> list[Lease]:
    """Take those of ``row_ids`` still due (outbox_store.lease_many says how), in id order."""
    if not row_ids:
        return []
    if db.dialect == "postgresql":
        with db.sending() as connection:
            rows = connection.execute(_LEASE_AND_READ, {"ids": sorted(row_ids), "now": now, "until": now + lease_for,
                                                        "checked_since": checked_since}).all()
        return sorted((_from_row(row) for row in rows), key=lambda taken: taken.row.id)
    with db.transaction() as session:
        return _lease_apart(session, list(row_ids), now=now, lease_for=lease_for, checked_since=checked_since)


def _lease_and_read() -> Select:
    leased = outbox_store.LEASE_ASKED.cte("leased")
    incident = Incident.__table__
    workspace = WorkspaceRow.__table__
    check = ChannelCheck.__table__
    return (select(*(leased.c[name].label(f"o_{name}") for name in outbox_store.LEASED_COLUMNS),
                   *incident.columns, repository.ESCALATED, workspace.c.token_error,
                   check.c.shared.label("channel_shared"),
                   and_(leased.c.kind == literal("update_card"), outbox_store.newer_card_update(leased))
                   .label("superseded"))
            .select_from(leased.outerjoin(incident, incident.c.id == leased.c.incident_id)
                         .outerjoin(workspace, workspace.c.workspace_id == leased.c.workspace_id)
                         .outerjoin(check, and_(check.c.channel == leased.c.channel,
                                                check.c.checked_at >= bindparam("checked_since")))))


_LEASE_AND_READ = _lease_and_read()


def _from_row(row) -> Lease:  # noqa: ANN001 - a Row of _LEASE_AND_READ
    mapping = row._mapping
    taken = outbox_store.leased(_Prefixed(mapping))
    return Lease(row=taken, incident=repository.to_state(row) if mapping["id"] is not None else None,
                 escalated=bool(mapping["escalated"]), token_error=mapping["token_error"],
                 shared=mapping["channel_shared"], superseded=bool(mapping["superseded"]))


class _Prefixed:
    """The leased row's columns of a joined row, named ``o_<column>`` there, by their own names."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping) -> None:  # noqa: ANN001 - a RowMapping
        self._mapping = mapping

    def __getattr__(self, name: str) -> object:
        return self._mapping[f"o_{name}"]


def _lease_apart(session: Session, row_ids: list[int], *, now: datetime, lease_for: timedelta,
                 checked_since: datetime) -> list[Lease]:
    rows = outbox_store.lease_many(session, row_ids, now=now, lease_for=lease_for)
    incidents, escalated = repository.get_many_to_draw(
        session, {row.incident_id for row in rows if row.incident_id is not None})
    refused = workspace_store.token_errors(session, {row.workspace_id for row in rows})
    channels = {row.channel for row in rows if row.channel}
    verdicts = channel_store.verdicts(session, channels, checked_since=checked_since) if channels else {}
    superseded = outbox_store.superseded_card_updates(session, {row.id for row in rows if row.kind == "update_card"})
    return [Lease(row=row, incident=incidents.get(row.incident_id) if row.incident_id is not None else None,
                  escalated=row.incident_id in escalated, token_error=refused.get(row.workspace_id),
                  shared=verdicts.get(row.channel or ""), superseded=row.id in superseded) for row in rows]
