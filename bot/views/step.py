"""A step prompt in the recovery thread with its buttons, and the line that replaces it
once the step is done."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, MarkdownTextObject, Option, SectionBlock,
    StaticSelectElement,
)

from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, StepKey, StepOutcome
from bot.views import ids
from bot.domain.text import cut, safe
from bot.views.when import slack_time

FORM_STEPS = frozenset({StepKey.FIX, StepKey.MAKE_IT_RIGHT})
RESULT_WORDS = {"done": ("✅", "Done"), "skipped": ("⏭️", "Skipped"), "declined": ("↩️", "Remedy declined"),
                "expired": ("⌛", "Approval expired, nobody decided; asked"),
                "not_yet": ("↩️", "Customer not yet convinced")}


def prompt_text(state: IncidentState, *, playbook: Playbook, mention: bool = True) -> str:
    step = playbook.step(state.current_step)
    if mention and state.owner_id:
        return f"<@{state.owner_id}>, next step on {state.ref}: {safe(step.title, 200)}"
    return f"Next step on {state.ref}: {safe(step.title, 200)}"


def prompt_blocks(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, due: datetime | None,
                  mention: bool = True) -> list[Block]:
    """``due``: when the step must be done by (`timing.deadline`), the time its nudge will name.
    ``mention``: whether to notify the owner (someone else or the scheduler put it before them);
    otherwise the owner is named in the details without a ping."""
    step = playbook.step(state.current_step)
    lead = f"<@{state.owner_id}>, " if mention and state.owner_id else ""
    lines = [f"{lead}*{safe(step.title, 200)}* on {state.ref}", f"_{safe(step.why, 500)}_"]
    if state.current_step is StepKey.FOLLOW_UP:
        lines.append("Ask the customer: how satisfied are you with how we resolved it (1-10), "
                     "and would you buy from us again?")
    details = []
    if due:
        details.append(f"Due {slack_time(due, tz)}")
    contact = safe(state.contact_channel, 50) if state.contact_channel else "not recorded"
    details.append(f"Customer contact channel: *{contact}*")
    if state.customer_name:
        details.append(f"Customer: {safe(state.customer_name, 200)}")
    return [
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text=cut(" · ".join(details), 2000))]),
        ActionsBlock(block_id=f"step_{state.step_seq}", elements=step_buttons(state, title=step.title)),
    ]


def step_buttons(state: IncidentState, *, title: str) -> list:
    """The step's own answer first (the primary button), then Skip, Snooze and Need help.
    Each button's accessibility label names the incident and the step: a screen reader lists
    buttons out of context, and "Done" alone does not say what is done. Need help is not styled
    as a danger: asking for help is not a destructive act."""
    value = ids.incident_value(state.id, state.step_seq)
    where = cut(f"{title} on incident {state.ref}", 60)

    def button(label: str, action: str, *, primary: bool = False) -> ButtonElement:
        return ButtonElement(text=label, action_id=action, value=value, style="primary" if primary else None,
                             accessibility_label=cut(f"{label}: {where}", 75))

    step = state.current_step
    if step is StepKey.BUY_IN:
        own = [button(ids.LABEL_AGREED, ids.AGREED, primary=True), button(ids.LABEL_NOT_YET, ids.NOT_YET)]
    elif step is StepKey.FOLLOW_UP:
        own = [button(ids.LABEL_RECORD_FOLLOW_UP, ids.RECORD_FOLLOW_UP, primary=True)]
    else:
        own = [button(ids.LABEL_DONE, ids.DONE_FORM if step in FORM_STEPS else ids.DONE, primary=True)]
    return own + [
        button(ids.LABEL_SKIP, ids.SKIP),
        StaticSelectElement(action_id=ids.SNOOZE, placeholder=ids.LABEL_SNOOZE, options=[
            Option(text=label, value=f"{value}/{choice}") for choice, label in ids.SNOOZE_CHOICES]),
        button(ids.LABEL_NEED_HELP, ids.NEED_HELP),
    ]


def ended_text(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> str:
    """Who did the step and, for a remedy over the limit, who approved it: both are on record."""
    mark, verb = RESULT_WORDS.get(outcome.result, ("✅", "Done"))
    note = f": {safe(outcome.note, 1000)}" if outcome.note else ""
    approved = f", approved by <@{outcome.approved_by}>" if outcome.approved_by else ""
    return cut(f"{mark} *{safe(playbook.step(outcome.step).title, 200)}*: "
               f"{verb} by <@{outcome.by}>{approved} {slack_time(outcome.at, tz)}{note}", 3000)


def ended_blocks(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=ended_text(outcome, playbook=playbook, tz=tz)))]
