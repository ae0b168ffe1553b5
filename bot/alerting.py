"""Keeps each incident's stored next alert in step with its state, inside the caller's
transaction: the scheduler then only reads incidents whose alert time has come.

Besides the nudge and the escalation, the stored alert may be a snooze's end: no message,
only the card redrawn, since it said "Snoozed until" and must now say what is true
(overdue, escalated, on track) within a tick, not at the next reminder hours later.
"""
from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlmodel import Session, select

from bot.domain.alerts import next_alert
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy
from storage import outbox_store, repository
from storage.models import Incident

NextAlert = tuple[datetime | None, str | None]

SNOOZE_END: Final = "snooze_end"
"""The stored kind of a snooze's end. The scheduler finds no reminder owed for it and
refreshes the alert (`refresh_alert`), which redraws the card."""


def next_alert_columns(session: Session, state: IncidentState, *, playbook: Playbook, policy: Policy,
                       sent: frozenset[str] | None = None) -> NextAlert:
    """(next_alert_at, next_alert_kind) for ``state``, for the caller to write with its own
    statement (a flag's insert, a decision's update: one statement fewer on every ack).
    ``sent``: the alerts already out for the current step, when the caller knows (none, for
    a step that just began), saving a query."""
    if sent is None:
        sent = repository.sent_notifications(session, incident_id=state.id, seq=state.step_seq)
    alert = next_alert(state, sent=sent, playbook=playbook, policy=policy)
    ends = _snooze_end(state, sent)
    if ends is not None and (alert is None or ends < alert.at):
        return ends, SNOOZE_END
    return (alert.at, alert.kind) if alert else (None, None)


def refresh_alert(session: Session, state: IncidentState, *, playbook: Playbook, policy: Policy) -> None:
    """Called by the scheduler for an alert that came due (after sending it, or finding none
    owed). A snooze's end is recorded once, dated when the snooze ended, with its card redraw."""
    stored = session.exec(select(Incident.next_alert_kind).where(Incident.id == state.id)).one()
    ended = state.snoozed_until
    if stored == SNOOZE_END and ended is not None and state.is_open and repository.claim_notification(
            session, incident_id=state.id, seq=state.step_seq, kind=_snooze_key(ended), now=ended):
        outbox_store.enqueue(session, workspace_id=state.workspace_id, kind="update_card", now=ended,
                             incident_id=state.id, channel=state.card_channel)
    at, kind = next_alert_columns(session, state, playbook=playbook, policy=policy)
    repository.set_next_alert(session, state.id, at=at, kind=kind)


def _snooze_end(state: IncidentState, sent: frozenset[str]) -> datetime | None:
    """When the card must be redrawn for a snooze ending, unless that was done."""
    until = state.snoozed_until
    if not state.is_open or until is None or _snooze_key(until) in sent:
        return None
    return until


def _snooze_key(until: datetime) -> str:
    """One per snooze: a step snoozed twice ends twice."""
    return f"{SNOOZE_END}:{int(until.timestamp())}"
