"""The outbox's card renderer: the incident as stored, drawn with what the card's status
needs besides it, at the moment it is sent.

The status says "Escalated" once the leads were told about the current step, by the
escalation alert or by Need help; the notification keys record that (the one truth the
scheduler and Need help share), so it is read here rather than kept on the incident.
"""
from __future__ import annotations

from collections.abc import Callable

from bot.clock import Clock
from bot.domain.alerts import ESCALATION
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy
from bot.views.card import render_card
from storage import repository
from storage.db import Database


def card_renderer(db: Database, *, playbook: Callable[[], Playbook], policy: Callable[[], Policy],
                  clock: Clock) -> Callable[[IncidentState], tuple[str, list[dict]]]:
    """``playbook`` and ``policy`` are asked at each drawing: the workspace's rules as they are then."""
    def draw(state: IncidentState) -> tuple[str, list[dict]]:
        with db.read() as session:
            sent = repository.sent_notifications(session, incident_id=state.id, seq=state.step_seq)
        return render_card(state, playbook=playbook(), policy=policy(), now=clock.now(), escalated=ESCALATION in sent)
    return draw
