"""What the leads get, by DM or in LEAD_CHANNEL: approval requests they can decide on and
escalations with something to press, and what those copies say once someone has acted.

Each message stands alone (a lead reads it away from the thread): the customer, what is
asked, how late, and a link to the card. The owner is named as a mention so a lead can reach
them in one click; in a lead's DM that notifies nobody (the owner is not in it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, SectionBlock, UserSelectElement,
)

from bot.domain.money import format_amount
from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.steps import describe_remedy
from bot.domain.text import cut, safe
from bot.domain.types import IncidentState
from bot.views import ids
from bot.views.when import slack_time


@dataclass(frozen=True, slots=True)
class Request:
    """A remedy over the limit, as the leads are asked about it."""

    state: IncidentState
    limit: Decimal
    currency: str
    note: str | None
    """The agent's note from the remedy form: why this remedy."""
    asked_at: datetime
    expires_at: datetime | None
    """When the request expires if nobody decides (the owner then offers again)."""
    reminder: bool = False


def _owner(state: IncidentState) -> str:
    return f"<@{state.owner_id}>" if state.owner_id else "nobody yet"


def _customer(state: IncidentState) -> str:
    name = safe(state.customer_name, 200) if state.customer_name else "not recorded"
    contact = f" (via {safe(state.contact_channel, 50)})" if state.contact_channel else ""
    return name + contact


def remedy_text(state: IncidentState, currency: str) -> str:
    return safe(describe_remedy(state.remedy_kind, state.remedy_amount, currency), 80)


def open_card_button(state: IncidentState, step_title: str) -> ButtonElement:
    return ButtonElement(text=ids.LABEL_OPEN_CARD, action_id=ids.OPEN_CARD, url=ids.OPEN_CARD_URL,
                         accessibility_label=cut(f"Open the card of incident {state.ref}, at {step_title}", 75))


def approval_text(request: Request) -> str:
    state = request.state
    again = "Reminder: still waiting. " if request.reminder else ""
    return (f"💶 {again}Approval needed on {state.ref}: {_owner(state)} asks to give "
            f"{remedy_text(state, request.currency)}, over the {format_amount(request.limit, request.currency)} "
            "an agent may give alone.")


def approval_blocks(request: Request, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    state = request.state
    title = safe(playbook.step(state.current_step).title, 60)
    lines = [approval_text(request), f"*Customer:* {_customer(state)}",
             f"*Complaint:* {safe(state.summary, 300)}",
             f"*Agent's note:* {safe(request.note, 500) if request.note else 'none given'}"]
    if state.root_cause:
        fix = f" ({safe(state.fix_note, 300)})" if state.fix_note else ""
        lines.append(f"*Root cause:* {safe(state.root_cause, 100)}{fix}")
    timing = f"Asked {slack_time(request.asked_at, tz)}."
    if request.expires_at is not None:
        timing += (f" If nobody decides by {slack_time(request.expires_at, tz)}, the request expires "
                   "and the owner offers something within the limit.")
    value = ids.incident_value(state.id, state.step_seq)
    what = f"{remedy_text(state, request.currency)} on incident {state.ref}"
    return [
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text=timing)]),
        ActionsBlock(block_id=f"lead_approval_{state.step_seq}", elements=[
            ButtonElement(text=ids.LABEL_APPROVE, action_id=ids.APPROVE, value=value, style="primary",
                          accessibility_label=cut(f"Approve {what}", 75)),
            ButtonElement(text=ids.LABEL_DECLINE, action_id=ids.DECLINE, value=value,
                          accessibility_label=cut(f"Decline {what}", 75)),
            open_card_button(state, title),
        ]),
    ]


def approval_waiting_text(state: IncidentState, *, limit: Decimal, currency: str, where: str) -> str:
    """The thread's line for the owner: their remedy is waiting, who was asked, what comes next."""
    return (f"⏳ Waiting for a lead: {remedy_text(state, currency)} on {state.ref} is over the "
            f"{format_amount(limit, currency)} an agent may give alone. The leads were asked {where}; "
            "their answer will show here.")


def approval_expired_text(state: IncidentState, *, currency: str, at: datetime, tz: ZoneInfo) -> str:
    return (f"⌛ Nobody decided on {remedy_text(state, currency)} for {state.ref}; the request expired "
            f"{slack_time(at, tz)} and {_owner(state)} offers again.")


@dataclass(frozen=True, slots=True)
class Escalation:
    """A step the leads are asked to step in on: late (the scheduler) or a call for help."""

    state: IncidentState
    due: datetime | None
    now: datetime
    help_from: str | None = None
    """Who pressed Need help; None for an escalation because the step is late."""


def escalation_text(escalation: Escalation, *, playbook: Playbook) -> str:
    state = escalation.state
    title = safe(playbook.step(state.current_step).title, 200)
    if escalation.help_from is not None:
        return f"🆘 <@{escalation.help_from}> asks for help with {state.ref} at *{title}*."
    if state.owner_id is None:
        return f"🚨 {state.ref} has no owner and is {_late(escalation)}: nobody has claimed it."
    return f"🚨 {state.ref} is stuck at *{title}*, {_late(escalation)}; the owner is {_owner(state)}."


def _late(escalation: Escalation) -> str:
    if escalation.due is None or escalation.due >= escalation.now:
        return "not late yet"
    late = escalation.now - escalation.due
    # Minutes are what a lead acts on: "10m late", not "10m 1s late".
    return f"{format_duration(late if late < timedelta(minutes=1) else late - late % timedelta(minutes=1))} late"


def escalation_blocks(escalation: Escalation, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    state = escalation.state
    title = safe(playbook.step(state.current_step).title, 60)
    lines = [escalation_text(escalation, playbook=playbook), f"*Customer:* {_customer(state)}",
             f"*Complaint:* {safe(state.summary, 300)}"]
    due = f"Due {slack_time(escalation.due, tz)}. " if escalation.due is not None else ""
    value = ids.incident_value(state.id, state.step_seq)
    return [
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text=f"{due}Assign it to someone who can act now, or snooze "
                                                       "it for an hour if it is in hand.")]),
        ActionsBlock(block_id=ids.LEAD_ESCALATION_BLOCK + value, elements=[
            open_card_button(state, title),
            UserSelectElement(action_id=ids.LEAD_ASSIGN, placeholder=ids.LABEL_LEAD_ASSIGN),
            ButtonElement(text=ids.LABEL_SNOOZE_HOUR, action_id=ids.LEAD_SNOOZE, value=value,
                          accessibility_label=cut(f"Snooze incident {state.ref} for 1 hour", 75)),
        ]),
    ]


def settled_blocks(text: str, state: IncidentState, *, playbook: Playbook) -> list[Block]:
    """A copy someone already acted on: what happened, and the card, with nothing else to press."""
    title = safe(playbook.step(state.current_step).title, 60)
    return [SectionBlock(text=MarkdownTextObject(text=cut(text, 3000))),
            ActionsBlock(elements=[open_card_button(state, title)])]


def point_card_links(blocks: list[dict], link: str | None) -> list[dict]:
    """The blocks with each Open card button pointed at ``link``, or without it when there is none."""
    pointed = []
    for block in blocks:
        if block.get("type") == "actions":
            elements = [({**element, "url": link} if element.get("action_id") == ids.OPEN_CARD else element)
                        for element in block.get("elements", [])
                        if link or element.get("action_id") != ids.OPEN_CARD]
            if not elements:
                continue
            block = {**block, "elements": elements}
        pointed.append(block)
    return pointed
