"""Keeps each incident's stored next alert in step with its state, inside the caller's
transaction: the scheduler then only reads incidents whose alert time has come."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.domain.alerts import next_alert
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy
from storage import repository

NextAlert = tuple[datetime | None, str | None]


def next_alert_columns(session: Session, state: IncidentState, *, playbook: Playbook, policy: Policy,
                       sent: frozenset[str] | None = None) -> NextAlert:
    """(next_alert_at, next_alert_kind) for ``state``, for the caller to write with its own
    statement (a flag's insert, a decision's update: one statement fewer on every ack).
    ``sent``: the alerts already out for the current step, when the caller knows (none, for
    a step that just began), saving a query."""
    if sent is None:
        sent = repository.sent_notifications(session, incident_id=state.id, seq=state.step_seq)
    alert = next_alert(state, sent=sent, playbook=playbook, policy=policy)
    return (alert.at, alert.kind) if alert else (None, None)


def refresh_alert(session: Session, state: IncidentState, *, playbook: Playbook, policy: Policy) -> None:
    at, kind = next_alert_columns(session, state, playbook=playbook, policy=policy)
    repository.set_next_alert(session, state.id, at=at, kind=kind)
