"""The outbox's card renderer: the incident as stored, drawn with what the card's status
needs besides it, at the moment it is sent.

The status says "Escalated" once the leads were told about the current step, by the
escalation alert or by Need help; the notification keys record that (the one truth the
scheduler and Need help share), so the sender reads it with the incident when it leases
the card's row (storage/repository.get_many_to_draw) rather than it being kept on the incident.
"""
from __future__ import annotations

from collections.abc import Callable

from bot.clock import Clock
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy
from bot.views.card import render_card


def card_renderer(*, playbook: Callable[[], Playbook], policy: Callable[[], Policy],
                  clock: Clock) -> Callable[[IncidentState, bool], tuple[str, list[dict]]]:
    """``playbook`` and ``policy`` are asked at each drawing: the workspace's rules as they are then."""
    def draw(state: IncidentState, escalated: bool) -> tuple[str, list[dict]]:
        return render_card(state, playbook=playbook(), policy=policy(), now=clock.now(), escalated=escalated)
    return draw
