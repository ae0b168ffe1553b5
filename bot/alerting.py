"""Keeps each incident's stored next alert in step with its state, inside the caller's
transaction: the scheduler then only reads incidents whose alert time has come."""
from __future__ import annotations

from sqlmodel import Session

from bot.domain.alerts import next_alert
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy
from storage import repository


def refresh_alert(session: Session, state: IncidentState, *, playbook: Playbook, policy: Policy,
                  sent: frozenset[str] | None = None) -> None:
    """``sent``: the alerts already out for the current step, when the caller knows (none,
    for a step that just began), saving a query on the hot path."""
    if sent is None:
        sent = repository.sent_notifications(session, incident_id=state.id, seq=state.step_seq)
    alert = next_alert(state, sent=sent, playbook=playbook, policy=policy)
    repository.set_next_alert(session, state.id, at=alert.at if alert else None, kind=alert.kind if alert else None)
