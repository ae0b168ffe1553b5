"""The export's rows: one per incident flagged in a period, with each step's end.

What an export holds is the team's figures, not the customer: no customer name, no quoted
message, no summary, no notes typed at a step (the lead who exports it, or the data team it
goes to, works on how recoveries went, and a file outlives the bot's RETENTION_DAYS). The
cancel reason is kept, since why an incident stopped is a figure too. `bot.views.export`
renders the rows as CSV or JSON lines and says in words what they hold.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Row
from sqlmodel import Session

from bot.domain import timing
from bot.domain.parsing import EXPORT_PERIODS
from bot.domain.playbook import Playbook
from bot.domain.types import Event, Policy, StepKey
from storage import export_store

STEPS: tuple[str, ...] = tuple(key.value for key in StepKey)
"""The playbook's steps, in their fixed order: each has its columns."""
PERSONAL_EVENT_FIELDS = ("summary", "customer_name", "note", "legacy_text")
"""What a timeline event may hold of the customer's words: an Edit details change, a note typed
at a step, an old line stored whole (migration 0005). Left out of the export, as from its rows."""


@dataclass(frozen=True, slots=True)
class Period:
    """Incidents flagged in [since, until]; ``since`` None: from the first."""

    name: str
    since: datetime | None
    until: datetime

    @classmethod
    def named(cls, name: str, *, until: datetime) -> Period:
        """``30d``, ``90d`` or ``all`` (`EXPORT_PERIODS`), up to ``until``: the time it was asked
        for, so that an export sent again after a failure holds the same incidents."""
        days = EXPORT_PERIODS[name]
        return cls(name, None if days is None else until - timedelta(days=days), until)


@dataclass(frozen=True, slots=True)
class StepEnd:
    """How a step last ended: done or skipped, when, and whether by its deadline (a step with
    no due time had none to miss)."""

    at: datetime
    result: str
    within_sla: bool


@dataclass(frozen=True, slots=True)
class IncidentRow:
    workspace: str
    number: int
    flagged_channel: str
    card_channel: str
    flagged_at: datetime
    status: str
    closed_at: datetime | None
    owner: str | None
    severity: str
    category: str | None
    root_cause: str | None
    remedy_kind: str | None
    remedy_amount: Decimal | None
    currency: str | None
    approved_by: str | None
    satisfaction: int | None
    would_buy_again: str | None
    cancel_reason: str | None
    steps: dict[str, StepEnd]


@dataclass(frozen=True, slots=True)
class TimelineRow:
    workspace: str
    number: int
    event: Event


def rows(session: Session, *, workspace_id: str | None, period: Period, playbook: Playbook,
         policy: Policy) -> Iterator[IncidentRow]:
    """The incidents of ``period`` in id order, each with its steps' ends: two streamed
    queries merged in one pass (both come in incident id order)."""
    where = {"workspace_id": workspace_id, "since": period.since, "until": period.until}
    steps = export_store.ended_steps(session, **where)
    pending = next(steps, None)
    for incident in export_store.incidents(session, **where):
        ends: dict[str, StepEnd] = {}
        while pending is not None and pending.incident_id <= incident.id:
            if pending.incident_id == incident.id:
                # Records come in seq order: a step done again (a second remedy) ends later.
                ends[pending.step] = StepEnd(at=pending.ended_at, result=pending.status,
                                             within_sla=_in_time(pending, playbook=playbook, policy=policy))
            pending = next(steps, None)
        yield _row(incident, ends, policy.currency)


def _in_time(record: Row, *, playbook: Playbook, policy: Policy) -> bool:
    """Ended by its deadline: its due time, but the follow-up's, whose SLA counts from its due
    time, when it is asked for (`bot.domain.timing.deadline`, as its prompt says)."""
    if record.due_at is None:
        return True
    deadline = record.due_at
    if record.step == StepKey.FOLLOW_UP.value:
        deadline = timing.step_due(StepKey.FOLLOW_UP, start=deadline, playbook=playbook, policy=policy)
    return record.ended_at <= deadline


def _row(incident: Row, steps: dict[str, StepEnd], currency: str) -> IncidentRow:
    amount = None if incident.remedy_amount is None else Decimal(incident.remedy_amount)
    return IncidentRow(
        workspace=incident.workspace_id, number=incident.number, flagged_channel=incident.origin_channel,
        card_channel=incident.card_channel, flagged_at=incident.created_at, status=incident.status,
        closed_at=incident.closed_at, owner=incident.owner_id, severity=incident.severity,
        category=incident.category, root_cause=incident.root_cause, remedy_kind=incident.remedy_kind,
        remedy_amount=amount, currency=currency if amount is not None else None,
        approved_by=incident.approved_by, satisfaction=incident.csat, would_buy_again=incident.buy_again,
        cancel_reason=incident.cancel_reason, steps=steps)


def timeline(session: Session, *, workspace_id: str | None, period: Period) -> Iterator[TimelineRow]:
    """The timeline events of the incidents of ``period``, without the customer's words."""
    for row in export_store.events(session, workspace_id=workspace_id, since=period.since, until=period.until):
        data = {name: value for name, value in row.data.items() if name not in PERSONAL_EVENT_FIELDS}
        yield TimelineRow(row.workspace_id, row.number, Event.from_data(row.kind, row.at, row.actor, data))
