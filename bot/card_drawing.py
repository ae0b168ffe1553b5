"""What the outbox draws when it sends: the card, from the incident as stored, with what the
card's status needs besides it; and a step prompt, from what the decision that posts it took
down (``prompt_payload``).

The status says "Escalated" once the leads were told about the current step, by the
escalation alert or by Need help; the notification keys record that (the one truth the
scheduler and Need help share), so the sender reads it with the incident when it leases
the card's row (storage/repository.get_many_to_draw) rather than it being kept on the incident.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy, StepKey
from bot.views import step
from bot.views.card import render_card

PROMPT = "prompt"
"""The key of a payload that is a step prompt to draw (``prompt_payload``)."""

PromptDrawer = Callable[[IncidentState, dict], dict]


def card_renderer(*, playbook: Callable[[], Playbook], policy: Callable[[], Policy],
                  clock: Clock) -> Callable[[IncidentState, bool], tuple[str, list[dict]]]:
    """``playbook`` and ``policy`` are asked at each drawing: the workspace's rules as they are then."""
    def draw(state: IncidentState, escalated: bool) -> tuple[str, list[dict]]:
        return render_card(state, playbook=playbook(), policy=policy(), now=clock.now(), escalated=escalated)
    return draw


def prompt_payload(state: IncidentState, *, due: datetime | None, mention: bool) -> dict:
    """A step prompt as the decided state shows it, stored as the fields it is drawn from and
    drawn when sent (``prompt_drawer``): drawing it with its buttons in the ack (Block Kit's
    to_dict) was a quarter of a Claim's CPU (issue 17). The incident may have moved on by
    then: the prompt is still of the step the decision started, for the owner it named."""
    return {PROMPT: {"step": state.current_step.value, "seq": state.step_seq, "owner": state.owner_id,
                     "contact": state.contact_channel, "customer": state.customer_name,
                     "due": due.isoformat() if due is not None else None, "mention": mention}}


def prompt_drawer(*, playbook: Callable[[], Playbook], tz: Callable[[], ZoneInfo]) -> PromptDrawer:
    """The text and blocks of a ``prompt_payload``, for its incident as it is now (its number
    and id), with the workspace's rules and time zone as they are then."""
    def draw(incident: IncidentState, payload: dict) -> dict:
        taken = payload[PROMPT]
        state = replace(incident, current_step=StepKey(taken["step"]), step_seq=taken["seq"],
                        owner_id=taken["owner"], contact_channel=taken["contact"], customer_name=taken["customer"])
        due = datetime.fromisoformat(taken["due"]) if taken["due"] else None
        rules = playbook()
        blocks = step.prompt_blocks(state, playbook=rules, tz=tz(), due=due, mention=taken["mention"])
        return {"text": step.prompt_text(state, playbook=rules, mention=taken["mention"]),
                "blocks": [block.to_dict() for block in blocks]}
    return draw
