"""The export's queries: incidents, their ended steps and their timeline, streamed.

An export may cover a hundred thousand incidents, so nothing here loads them all, and nothing
asks per incident: one query streams the incidents and one their ended step records, both in
incident id order, for `bot.export` to merge as they come (``yield_per``: a server-side cursor
on PostgreSQL, batches of rows on SQLite). Who approved a remedy is read in the incidents'
query, from the last approval event on the timeline's (incident, id) index.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import ColumnElement, Row, and_, case, select, true
from sqlmodel import Session, col

from bot.domain.stats import ENDED_RESULTS
from bot.domain.types import EventKind
from storage.models import Incident, StepRecord, TimelineEvent

STREAM_BATCH = 2000


def _flagged_in(workspace_id: str | None, since: datetime | None, until: datetime) -> ColumnElement[bool]:
    """Incidents flagged in [since, until], of one workspace or of all."""
    conditions = [col(Incident.created_at) <= until]
    if since is not None:
        conditions.append(col(Incident.created_at) >= since)
    if workspace_id is not None:
        conditions.append(Incident.workspace_id == workspace_id)
    return and_(true(), *conditions)


_APPROVED_BY = (select(TimelineEvent.actor)
                .where(TimelineEvent.incident_id == Incident.id,
                       TimelineEvent.kind == EventKind.REMEDY_APPROVED.value)
                .order_by(col(TimelineEvent.id).desc()).limit(1).correlate(Incident).scalar_subquery())


def incidents(session: Session, *, workspace_id: str | None, since: datetime | None,
              until: datetime) -> Iterator[Row]:
    """The incidents flagged in the period, in id order, with ``approved_by`` (the lead whose
    approval stands, for a remedy that needed one)."""
    statement = (select(Incident.id, Incident.workspace_id, Incident.number, Incident.origin_channel,
                        Incident.card_channel, Incident.created_at, Incident.status, Incident.closed_at,
                        Incident.owner_id, Incident.severity, Incident.category, Incident.root_cause,
                        Incident.remedy_kind, Incident.remedy_amount,
                        case((Incident.approval == "approved", _APPROVED_BY), else_=None).label("approved_by"),
                        Incident.csat, Incident.buy_again, Incident.cancel_reason)
                 .where(_flagged_in(workspace_id, since, until)).order_by(col(Incident.id)))
    yield from _stream(session, statement)


def ended_steps(session: Session, *, workspace_id: str | None, since: datetime | None,
                until: datetime) -> Iterator[Row]:
    """The step instances that ended done or skipped, of the same incidents, in (incident id,
    seq) order: the order `incidents` comes in, so the two merge in one pass."""
    statement = (select(StepRecord.incident_id, StepRecord.step, StepRecord.status, StepRecord.due_at,
                        StepRecord.ended_at)
                 .join(Incident, Incident.id == StepRecord.incident_id)
                 .where(_flagged_in(workspace_id, since, until), col(StepRecord.status).in_(ENDED_RESULTS))
                 .order_by(col(StepRecord.incident_id), col(StepRecord.seq)))
    yield from _stream(session, statement)


def events(session: Session, *, workspace_id: str | None, since: datetime | None,
           until: datetime) -> Iterator[Row]:
    """The timeline events of the same incidents, oldest first within each incident."""
    statement = (select(Incident.workspace_id, Incident.number, TimelineEvent.kind, TimelineEvent.at,
                        TimelineEvent.actor, TimelineEvent.data)
                 .join(Incident, Incident.id == TimelineEvent.incident_id)
                 .where(_flagged_in(workspace_id, since, until))
                 .order_by(col(TimelineEvent.incident_id), col(TimelineEvent.id)))
    yield from _stream(session, statement)


def _stream(session: Session, statement) -> Iterator[Row]:  # noqa: ANN001 - a Select
    result = session.connection().execution_options(yield_per=STREAM_BATCH).execute(statement)
    try:
        yield from result
    finally:
        result.close()
