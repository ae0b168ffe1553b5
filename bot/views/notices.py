"""Thread messages that are not step prompts: the approval request, help calls, the
follow-up schedule, the follow-up DM, nudges and escalations."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.alerts import ESCALATION
from bot.domain.playbook import Playbook
from bot.domain.reminders import Reminder
from bot.domain.steps import describe_remedy
from bot.domain.types import Decision, EventKind, IncidentState, Status
from bot.views import ids
from bot.domain.text import cut, safe
from bot.views.step import step_buttons
from bot.views.when import slack_time


def remedy_line(state: IncidentState, currency: str) -> str:
    return safe(describe_remedy(state.remedy_kind, state.remedy_amount, currency), 60)


def approval_blocks(state: IncidentState, *, text: str, currency: str) -> list[Block]:
    """The thread's copy of the request: the owner reads that it waits, and a lead who reads the
    thread can decide right there. Decline is unstyled: declining is not a danger."""
    value = ids.incident_value(state.id, state.step_seq)
    what = f"{remedy_line(state, currency)} on incident {state.ref}"
    return [
        SectionBlock(text=MarkdownTextObject(text=cut(text, 3000))),
        ActionsBlock(block_id=f"approval_{state.step_seq}", elements=[
            ButtonElement(text=ids.LABEL_APPROVE, action_id=ids.APPROVE, value=value, style="primary",
                          accessibility_label=cut(f"Approve {what}", 75)),
            ButtonElement(text=ids.LABEL_DECLINE, action_id=ids.DECLINE, value=value,
                          accessibility_label=cut(f"Decline {what}", 75)),
        ]),
    ]


def approval_decided_text(state: IncidentState, *, approved: bool, by: str, at: datetime, tz: ZoneInfo,
                          currency: str, remedy_of: IncidentState) -> str:
    """``remedy_of``: the state that carried the remedy decided on; ``state``, the decided one."""
    remedy = remedy_line(remedy_of, currency)
    if approved:
        return f"✅ Approved: {remedy} on {state.ref}, by <@{by}> {slack_time(at, tz)}."
    reason = f": {safe(state.approval_note, 500)}" if state.approval_note else "."
    return f"✖️ Declined: {remedy} on {state.ref}, by <@{by}> {slack_time(at, tz)}{reason}"


def help_text(state: IncidentState, *, by: str, where: str, playbook: Playbook) -> str:
    title = safe(playbook.step(state.current_step).title, 200)
    return f"🆘 <@{by}> asked the leads for help with {state.ref} at *{title}*; they were asked {where}."


def settled_text(before: IncidentState, decision: Decision, *, actor: str | None, playbook: Playbook,
                 at: datetime, tz: ZoneInfo) -> str:
    """What became of an incident the leads were called to, for their copies of the call."""
    state, kinds = decision.state, {event.kind for event in decision.events}
    who, when = f"<@{actor}>" if actor else "The bot", slack_time(at, tz)
    if EventKind.CANCELLED in kinds:
        return f"✖️ {state.ref} was cancelled by {who} {when}."
    if kinds & {EventKind.CLAIMED, EventKind.ASSIGNED}:
        return f"✅ {state.ref} is now owned by <@{state.owner_id}> ({who}, {when})."
    if EventKind.SNOOZED in kinds and state.snoozed_until is not None:
        return f"💤 {who} snoozed {state.ref} until {slack_time(state.snoozed_until, tz)}; it comes back then if still stuck."
    if state.status is Status.CLOSED:
        return f"✅ {state.ref} is closed ({who}, {when})."
    title = safe(playbook.step(before.current_step).title, 200)
    return f"✅ {state.ref} moved on: *{title}* was answered by {who} {when}."


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
            text=ids.LABEL_RECORD_FOLLOW_UP, action_id=ids.RECORD_FOLLOW_UP, value=value, style="primary",
            accessibility_label=f"Record the follow-up of incident {state.ref}")]),
    ]


def reminder_text(reminder: Reminder, *, playbook: Playbook, tz: ZoneInfo, where: str) -> str:
    """A nudge mentions who must act (the channel while nobody owns it); an escalation is the
    leads' business (``where`` they were told), so the thread only records it."""
    state, due = reminder.state, slack_time(reminder.due, tz)
    title = safe(playbook.step(reminder.step).title, 200)
    if reminder.kind == ESCALATION:
        return f"🚨 *{title}* on {state.ref} was due {due}: escalated to the leads ({where})."
    if state.owner_id is None:
        return (f"⏰ <!here> {state.ref} has no owner yet and was due to be claimed {due}. "
                f"Press *{ids.LABEL_CLAIM}*: the longer it waits, the less likely the customer stays.")
    return (f"⏰ <@{state.owner_id}>, *{title}* on {state.ref} was due {due}. "
            "The longer it takes, the less likely the customer stays.")


def nudge_blocks(reminder: Reminder, *, text: str, playbook: Playbook) -> list[Block]:
    """A nudge carries what it asks for: Claim while nobody owns the incident, else the step's
    own buttons, so the owner acts from the nudge without scrolling up to the prompt."""
    state = reminder.state
    if state.owner_id is None:
        buttons = [ButtonElement(text=ids.LABEL_CLAIM, action_id=ids.CLAIM, value=ids.incident_value(state.id),
                                 style="primary", accessibility_label=cut(f"Claim incident {state.ref}", 75))]
    else:
        buttons = step_buttons(state, title=playbook.step(state.current_step).title)
    return [SectionBlock(text=MarkdownTextObject(text=cut(text, 3000))),
            ActionsBlock(block_id=f"nudge_{state.step_seq}", elements=buttons)]
