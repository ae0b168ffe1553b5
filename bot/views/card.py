"""The incident card: the one message per incident that is kept current with chat.update."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock,
)

from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.steps import describe_remedy
from bot.domain.timing import is_overdue, is_snoozed
from bot.domain.types import IncidentState, Status
from bot.views import ids
from bot.domain.text import cut, safe
from bot.views.when import slack_time

SEVERITY_MARK = {"low": "⚪", "normal": "🟡", "high": "🟠", "critical": "🔴"}


def card_text(state: IncidentState) -> str:
    """The notification fallback: what a phone shows when the card arrives."""
    return f"Recovery {state.ref}: {safe(state.summary or state.excerpt, 300)}"


def render_card(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, now: datetime) -> tuple[str, list[dict]]:
    """Text and blocks as the outbox sends them: cards are drawn when sent (``now``), so they
    are never older than the state in the database."""
    return card_text(state), [block.to_dict() for block in card_blocks(state, playbook=playbook, tz=tz, now=now)]


def card_blocks(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, now: datetime) -> list[Block]:
    title = cut(f"{SEVERITY_MARK.get(state.severity.value, '')} Recovery {state.ref}: "
                f"{state.summary or state.excerpt or 'complaint'}", 150)
    blocks: list[Block] = [HeaderBlock(text=title)]
    if state.excerpt and state.excerpt != state.summary:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="> " + safe(state.excerpt, 2900))))
    blocks.append(SectionBlock(fields=[MarkdownTextObject(text=cut(field, 2000))
                                       for field in _fields(state, playbook=playbook, tz=tz, now=now)]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=cut(_origin_line(state), 2000))]))
    if state.is_open:
        blocks.append(ActionsBlock(block_id="card_actions", elements=_buttons(state)))
    return blocks


def _fields(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, now: datetime) -> list[str]:
    fields = [
        f"*Status*\n{_status(state)}",
        f"*Severity*\n{state.severity.value}",
        f"*Owner*\n{f'<@{state.owner_id}>' if state.owner_id else '_unclaimed_'}",
    ]
    if state.is_open:
        fields.append(f"*Current step*\n{safe(playbook.step(state.current_step).title, 200)}")
        if state.snoozed_until and is_snoozed(state, now):
            fields.append(f"*Snoozed until*\n{slack_time(state.snoozed_until, tz)}")
        elif state.step_due_at:
            late = " · ⏰ overdue" if is_overdue(state, now) else ""
            fields.append(f"*Due*\n{slack_time(state.step_due_at, tz)}{late}")
    if state.customer_name or state.contact_channel:
        customer = safe(state.customer_name, 200) or "_unnamed_"
        via = f" via {safe(state.contact_channel, 50)}" if state.contact_channel else ""
        fields.append(f"*Customer*\n{customer}{via}")
    if state.category:
        fields.append(f"*Category*\n{safe(state.category, 200)}")
    fields.extend(_outcome(state))
    return fields[:10]


def _status(state: IncidentState) -> str:
    if state.status is Status.CLOSED:
        return "✅ closed"
    if state.status is Status.CANCELLED:
        return f"✖️ cancelled: {safe(state.cancel_reason, 300)}"
    if state.owner_id is None:
        return "🆘 unclaimed"
    return "🔧 in recovery"


def _outcome(state: IncidentState) -> list[str]:
    if state.status is not Status.CLOSED:
        return []
    outcome = []
    if state.csat is not None:
        outcome.append(f"*Satisfaction*\n{state.csat}/10, would buy again: {safe(state.buy_again, 10)}")
    if state.remedy_kind:
        outcome.append(f"*Remedy*\n{safe(describe_remedy(state.remedy_kind, state.remedy_amount), 80)}")
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
        buttons.append(ButtonElement(text=ids.LABEL_CLAIM, action_id=ids.CLAIM, value=value, style="primary"))
    buttons.append(ButtonElement(text=ids.LABEL_ASSIGN, action_id=ids.ASSIGN, value=value))
    return buttons
