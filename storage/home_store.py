"""The Home's queries: each scoped by workspace, each answered by an existing index.

- a person's open incidents: ix_incident_workspace_status (workspace, status), then the owner;
- their channels: ix_incident_workspace_created (the last 90 days of the workspace);
- unclaimed in those channels: ix_incident_channel_status, one range per channel;
- approvals, escalations, overdue: ix_incident_workspace_status, the open ones of the workspace;
- the approval notes: ix_timeline_event_incident, for the few requests shown;
- a person's week: the indexes `/recovery stats` uses (open, flagged, resolved, closed since).

The sections that may be long read only their first items, most urgent first, and let the
database count the rest, so a lead's Home reads as many rows with 20 open as with 20,000.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_
from sqlmodel import Session, col, select

from bot.domain.home import OwnedFacts
from bot.domain.stats import ENDED_RESULTS
from bot.domain.types import EventKind, IncidentState, Status
from storage.models import Incident, Notification, StepRecord, TimelineEvent
from storage.repository import to_state

ESCALATION = "escalation"
"""The notification kind an escalation of a step records (bot.domain.alerts.ESCALATION)."""
OVERDUE_READ = 200
"""How many of the longest past due the Overdue section reads to group by owner: more than it
shows, so that its groups are right; the rest are counted, not read."""


def _open(workspace_id: str) -> ColumnElement[bool]:
    return and_(Incident.workspace_id == workspace_id, Incident.status == Status.OPEN.value)


def _states(session: Session, query: Select) -> list[IncidentState]:
    return [to_state(row) for row in session.exec(query).all()]


def _count(session: Session, condition: ColumnElement[bool]) -> int:
    return session.exec(select(func.count()).select_from(Incident).where(condition)).one()


def owned_open(session: Session, *, workspace_id: str, user_id: str) -> list[IncidentState]:
    """Every open incident the person owns: one person's queue, ordered by the domain."""
    return _states(session, select(Incident).where(_open(workspace_id), Incident.owner_id == user_id))


def my_channels(session: Session, *, workspace_id: str, user_id: str, since: datetime) -> list[str]:
    """The card channels of the incidents the person flagged or owned, flagged since ``since``."""
    return list(session.exec(select(Incident.card_channel).where(
        Incident.workspace_id == workspace_id, col(Incident.created_at) >= since,
        or_(Incident.flagged_by == user_id, Incident.owner_id == user_id),
    ).distinct().order_by(Incident.card_channel)).all())


def unclaimed_in(session: Session, *, workspace_id: str, channels: list[str],
                 limit: int) -> tuple[list[IncidentState], int]:
    """Open and unclaimed in ``channels``, oldest first (the longest waiting for a claim), and
    how many in all."""
    if not channels:
        return [], 0
    condition = and_(col(Incident.card_channel).in_(channels), Incident.status == Status.OPEN.value,
                     Incident.workspace_id == workspace_id, col(Incident.owner_id).is_(None))
    rows = _states(session, select(Incident).where(condition)
                   .order_by(col(Incident.created_at), col(Incident.number)).limit(limit))
    return rows, _count(session, condition)


def waiting_approval(session: Session, *, workspace_id: str, limit: int) -> tuple[list[IncidentState], int]:
    """Remedies waiting for a lead, the longest waiting first (the step began when it was
    recorded), and how many in all."""
    condition = and_(_open(workspace_id), Incident.approval == "pending")
    rows = _states(session, select(Incident).where(condition)
                   .order_by(col(Incident.step_started_at), col(Incident.number)).limit(limit))
    return rows, _count(session, condition)


def approval_notes(session: Session, incident_ids: list[int]) -> dict[int, str | None]:
    """The agent's note of each incident's latest approval request (None: none given)."""
    if not incident_ids:
        return {}
    rows = session.exec(select(TimelineEvent.incident_id, TimelineEvent.data).where(
        col(TimelineEvent.incident_id).in_(incident_ids), TimelineEvent.kind == EventKind.APPROVAL_REQUESTED.value,
    ).order_by(col(TimelineEvent.id))).all()
    return {incident_id: data.get("note") for incident_id, data in rows}


def escalated(session: Session, *, workspace_id: str, limit: int) -> tuple[list[IncidentState], int]:
    """Open incidents whose current step the leads were alerted about, the longest past due
    first, and how many in all."""
    alerted = exists().where(Notification.incident_id == Incident.id, Notification.step_seq == Incident.step_seq,
                             Notification.kind == ESCALATION)
    condition = and_(_open(workspace_id), alerted)
    rows = _states(session, select(Incident).where(condition)
                   .order_by(col(Incident.step_due_at), col(Incident.number)).limit(limit))
    return rows, _count(session, condition)


def past_due(session: Session, *, workspace_id: str, now: datetime) -> tuple[list[IncidentState], int]:
    """Open, past the stored due time and not snoozed (`timing.is_overdue`, as `/recovery list
    overdue` counts them), the longest past due first: the first `OVERDUE_READ`, and how many."""
    condition = and_(_open(workspace_id), col(Incident.step_due_at) < now,
                     or_(col(Incident.snoozed_until).is_(None), col(Incident.snoozed_until) <= now))
    rows = _states(session, select(Incident).where(condition)
                   .order_by(col(Incident.step_due_at), col(Incident.number)).limit(OVERDUE_READ))
    return rows, _count(session, condition)


def _touched(workspace_id: str, since: datetime) -> ColumnElement[bool]:
    """Open, or flagged, resolved or closed since ``since``: each alternative names the
    workspace, so each is answered by an index of its own (as `repository._touched_since`)."""
    return or_(*(and_(Incident.workspace_id == workspace_id, event) for event in (
        Incident.status == Status.OPEN.value, col(Incident.created_at) >= since,
        col(Incident.closed_at) >= since, col(Incident.buy_in_at) >= since)))


def owned_facts(session: Session, *, workspace_id: str, user_id: str, since: datetime) -> list[OwnedFacts]:
    """The person's incidents that are open or were flagged, resolved or closed since ``since``:
    every one whose claim, agreement or close can fall in the week (`person_week`)."""
    rows = session.exec(select(Incident.created_at, Incident.claimed_at, Incident.buy_in_at, Incident.closed_at,
                               Incident.csat, Incident.buy_again)
                        .where(_touched(workspace_id, since), Incident.owner_id == user_id)).all()
    return [OwnedFacts(*row) for row in rows]


def steps_ended(session: Session, *, workspace_id: str, user_id: str, start: datetime,
                end: datetime) -> tuple[int, int]:
    """The steps the person ended (done or skipped) in [start, end), and how many of those by
    their due time (one without a due time had none to miss): the step records of the
    workspace's incidents touched since ``start``, found by their unique key (incident, seq)."""
    in_time = or_(col(StepRecord.due_at).is_(None), col(StepRecord.ended_at) <= col(StepRecord.due_at))
    touched = select(Incident.id).where(_touched(workspace_id, start))
    ended, on_time = session.exec(select(func.count(), func.count(case((in_time, 1)))).where(
        col(StepRecord.incident_id).in_(touched), StepRecord.ended_by == user_id,
        col(StepRecord.status).in_(ENDED_RESULTS), col(StepRecord.ended_at) >= start,
        col(StepRecord.ended_at) < end)).one()
    return ended, on_time
