"""The incident card: the one message per incident that is kept current with chat.update."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, HeaderBlock, MarkdownTextObject, Option, OverflowMenuElement,
    SectionBlock,
)

from bot.domain.card_status import CardState, CardStatus, card_status, duration_words, lateness
from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.steps import describe_remedy
from bot.domain.timing import deadline
from bot.domain.types import IncidentState, Policy, Severity, Status
from bot.views import ids
from bot.domain.text import cut, safe
from bot.views.when import slack_time


def card_text(state: IncidentState) -> str:
    """The notification fallback: what a phone shows when the card arrives. It starts
    "Recovery #N:" whatever the severity: that is how people (and tests) find a card."""
    severity = f"{state.severity.value.upper()} · " if state.severity is not Severity.NORMAL else ""
    return f"Recovery {state.ref}: {severity}{safe(state.summary or state.excerpt, 300)}"


def render_card(state: IncidentState, *, playbook: Playbook, policy: Policy, now: datetime,
                escalated: bool) -> tuple[str, list[dict]]:
    """Text and blocks as the outbox sends them: cards are drawn when sent (``now``), so they
    are never older than the state in the database. ``escalated``: the leads were told about
    the current step (bot/card_drawing.py reads it)."""
    status = card_status(state, now=now, escalated=escalated, playbook=playbook, policy=policy)
    blocks = card_blocks(state, playbook=playbook, tz=policy.tz, now=now, policy=policy, status=status)
    return card_text(state), [block.to_dict() for block in blocks]


def card_blocks(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, now: datetime,
                policy: Policy | None = None, status: CardStatus | None = None) -> list[Block]:
    """The status first, then who has it, by when, and how far along: what a lead scanning
    the channel needs, before the complaint's details. Without ``policy``, deadlines count
    wall time; without ``status``, no escalation is known of."""
    policy = policy or Policy(tz=tz)
    status = status or card_status(state, now=now, escalated=False, playbook=playbook, policy=policy)
    blocks: list[Block] = [HeaderBlock(text=cut(_title(state), 150)),
                           SectionBlock(text=MarkdownTextObject(text=_status_line(status, tz=tz)))]
    blocks.append(SectionBlock(fields=[MarkdownTextObject(text=cut(field, 2000))
                                       for field in _fields(state, status, playbook=playbook, policy=policy,
                                                            now=now)]))
    if state.excerpt and state.excerpt != state.summary:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="> " + safe(state.excerpt, 2900))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=cut(_origin_line(state), 2000))]))
    if state.is_open:
        blocks.append(ActionsBlock(block_id="card_actions", elements=[*_buttons(state), _menu(state)]))
    return blocks


def _title(state: IncidentState) -> str:
    """Plain text (a header block): the severity as a word, since a colour alone says
    nothing to a screen reader or a colour-blind reader; normal severity goes unsaid."""
    severity = f" · {state.severity.value.upper()}" if state.severity is not Severity.NORMAL else ""
    return f"Recovery {state.ref}{severity}: {state.summary or state.excerpt or 'complaint'}"


def _status_line(status: CardStatus, *, tz: ZoneInfo) -> str:
    if status.state is CardState.SNOOZED and status.until is not None:
        return f"*{status.lead()}* {slack_time(status.until, tz)}"
    return f"*{status.text(tz)}*"


def _fields(state: IncidentState, status: CardStatus, *, playbook: Playbook, policy: Policy,
            now: datetime) -> list[str]:
    fields = [f"*Owner*\n{f'<@{state.owner_id}>' if state.owner_id else '_unclaimed_'}"]
    if state.is_open:
        due = deadline(state, playbook=playbook, policy=policy)
        if due is not None:
            fields.append(f"*Due*\n{_due_words(state, due, playbook=playbook, policy=policy, now=now)} · "
                          f"{slack_time(due, policy.tz)}")
        fields.append(_step_field(state, playbook))
    if state.status is Status.CANCELLED:
        fields.append(f"*Why cancelled*\n{safe(state.cancel_reason, 300) or '_no reason given_'}")
    if state.customer_name or state.contact_channel:
        customer = safe(state.customer_name, 200) or "_unnamed_"
        via = f" via {safe(state.contact_channel, 50)}" if state.contact_channel else ""
        fields.append(f"*Customer*\n{customer}{via}")
    if state.category:
        fields.append(f"*Category*\n{safe(state.category, 200)}")
    fields.extend(_outcome(state, currency=policy.currency))
    return fields[:10]


def _due_words(state: IncidentState, due: datetime, *, playbook: Playbook, policy: Policy, now: datetime) -> str:
    """"in 12 min" in wall time (when it falls due is a moment), or "4 min late" in the
    time the SLA counts, as the status line does."""
    late = lateness(state, now=now, playbook=playbook, policy=policy)
    if late is not None:
        return f"{duration_words(late)} late"
    return f"in {duration_words(due - now)}"


def _step_field(state: IncidentState, playbook: Playbook) -> str:
    keys = [step.key for step in playbook.steps]
    title = safe(playbook.step(state.current_step).title, 200)
    return f"*Step {keys.index(state.current_step) + 1} of {len(keys)}*\n{title}"


def _outcome(state: IncidentState, *, currency: str) -> list[str]:
    if state.status is not Status.CLOSED:
        return []
    outcome = []
    if state.csat is not None:
        outcome.append(f"*Satisfaction*\n{state.csat}/10, would buy again: {safe(state.buy_again, 10)}")
    if state.remedy_kind:
        outcome.append(f"*Remedy*\n{safe(describe_remedy(state.remedy_kind, state.remedy_amount, currency), 80)}")
    if state.closed_at:
        outcome.append(f"*Total time*\n{format_duration(state.closed_at - state.created_at)}")
    return outcome


def _origin_line(state: IncidentState) -> str:
    link = f"<{state.permalink}|original message>" if state.permalink else "flagged by command"
    return f"Flagged by <@{state.flagged_by}> · {link} · recovery happens in this thread"


def _buttons(state: IncidentState) -> list[ButtonElement]:
    value = ids.incident_value(state.id)
    buttons = []
    if state.owner_id is None:
        buttons.append(ButtonElement(text=ids.LABEL_CLAIM, action_id=ids.CLAIM, value=value, style="primary",
                                     accessibility_label=f"Claim incident {state.ref}: you will own it"))
    buttons.append(ButtonElement(text=ids.LABEL_ASSIGN, action_id=ids.ASSIGN, value=value,
                                 accessibility_label=f"Assign incident {state.ref} to someone"))
    return buttons


def _menu(state: IncidentState) -> OverflowMenuElement:
    """What is done to the incident as a whole, seldom: behind the ⋯, not beside Claim."""
    return OverflowMenuElement(action_id=ids.CARD_MENU, options=[
        Option(text=ids.LABEL_EDIT_DETAILS, value=ids.menu_value(state.id, ids.MENU_EDIT)),
        Option(text=ids.LABEL_CANCEL_INCIDENT, value=ids.menu_value(state.id, ids.MENU_CANCEL))])
