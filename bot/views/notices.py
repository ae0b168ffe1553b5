"""Thread messages that are not step prompts: the approval request, help calls, the
follow-up schedule, the follow-up DM, nudges and escalations."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.alerts import ESCALATION
from bot.domain.playbook import Playbook
from bot.domain.reminders import Reminder
from bot.domain.steps import describe_remedy
from bot.domain.types import IncidentState
from bot.views import ids
from bot.domain.text import cut, safe
from bot.views.when import slack_time


def mention_all(user_ids: frozenset[str] | set[str]) -> str:
    return " ".join(f"<@{user}>" for user in sorted(user_ids)) or "Leads"


def remedy_line(state: IncidentState) -> str:
    return safe(describe_remedy(state.remedy_kind, state.remedy_amount), 60)


def approval_text(state: IncidentState, *, leads: frozenset[str], limit: Decimal) -> str:
    return (f"{mention_all(leads)}: <@{state.owner_id}> asks to give *{remedy_line(state)}* on {state.ref} "
            f"(over the {limit} an agent may give alone). Approve it?")


def approval_blocks(state: IncidentState, *, leads: frozenset[str], limit: Decimal) -> list[Block]:
    value = ids.incident_value(state.id, state.step_seq)
    return [
        SectionBlock(text=MarkdownTextObject(text=cut(approval_text(state, leads=leads, limit=limit), 3000))),
        ActionsBlock(block_id=f"approval_{state.step_seq}", elements=[
            ButtonElement(text=ids.LABEL_APPROVE, action_id=ids.APPROVE, value=value, style="primary"),
            ButtonElement(text=ids.LABEL_DECLINE, action_id=ids.DECLINE, value=value, style="danger"),
        ]),
    ]


def approval_decided_text(state: IncidentState, *, approved: bool, by: str, at: datetime, tz: ZoneInfo) -> str:
    if approved:
        return f"✅ {remedy_line(state)} on {state.ref} approved by <@{by}> {slack_time(at, tz)}."
    reason = f": {safe(state.approval_note, 500)}" if state.approval_note else ""
    return f"✖️ {remedy_line(state)} on {state.ref} declined by <@{by}> {slack_time(at, tz)}{reason}"


def help_text(state: IncidentState, *, by: str, leads: frozenset[str]) -> str:
    return f"🆘 {mention_all(leads)}: <@{by}> needs help with {state.ref} ({safe(state.summary, 200)})."


def follow_up_scheduled_text(state: IncidentState, *, due: datetime, tz: ZoneInfo) -> str:
    return (f"🤝 The customer agreed. The follow-up on {state.ref} is due {slack_time(due, tz)}; "
            f"<@{state.owner_id}> will be reminded then.")


def follow_up_dm_text(state: IncidentState) -> str:
    return f"Time to follow up with the customer on {state.ref}: {safe(state.summary, 200)}"


def follow_up_dm_blocks(state: IncidentState) -> list[Block]:
    """The DM carries the same button as the thread prompt, so the owner can record it
    from wherever they see the reminder first."""
    value = ids.incident_value(state.id, state.step_seq)
    contact = safe(state.contact_channel, 50) if state.contact_channel else "the channel they used"
    return [
        SectionBlock(text=MarkdownTextObject(text=cut(
            f"⏰ {follow_up_dm_text(state)}\nAsk them via {contact} how satisfied they are (1-10) "
            "and whether they would buy from us again.", 3000))),
        ActionsBlock(block_id=f"dm_{state.step_seq}", elements=[ButtonElement(
            text=ids.LABEL_RECORD_FOLLOW_UP, action_id=ids.RECORD_FOLLOW_UP, value=value, style="primary")]),
    ]


def reminder_text(reminder: Reminder, *, playbook: Playbook, leads: frozenset[str], tz: ZoneInfo) -> str:
    """A nudge mentions who must act (the channel while nobody owns it); an escalation, the leads."""
    state, due = reminder.state, slack_time(reminder.due, tz)
    title = safe(playbook.step(reminder.step).title, 200)
    if reminder.kind == ESCALATION:
        owner = f"owner <@{state.owner_id}>" if state.owner_id else "no owner yet"
        return f"🚨 {mention_all(leads)}: {state.ref} is stuck at *{title}* ({owner}), due {due}. Please step in."
    if state.owner_id is None:
        return (f"⏰ <!here> {state.ref} has no owner yet and was due to be claimed {due}. "
                f"Press *{ids.LABEL_CLAIM}* on the card: the longer it waits, the less likely the customer stays.")
    return (f"⏰ <@{state.owner_id}>, *{title}* on {state.ref} was due {due}. "
            "The longer it takes, the less likely the customer stays.")
