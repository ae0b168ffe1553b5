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
                "not_yet": ("↩️", "Customer not yet convinced")}


def prompt_text(state: IncidentState, *, playbook: Playbook) -> str:
    step = playbook.step(state.current_step)
    mention = f"<@{state.owner_id}> " if state.owner_id else ""
    return f"{mention}next step on {state.ref}: {safe(step.title, 200)}"


def prompt_blocks(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, due: datetime | None) -> list[Block]:
    """``due``: when the step must be done by (`timing.deadline`), the time its nudge will name."""
    step = playbook.step(state.current_step)
    mention = f"<@{state.owner_id}>, " if state.owner_id else ""
    lines = [f"{mention}*{safe(step.title, 200)}* on {state.ref}", f"_{safe(step.why, 500)}_"]
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
        ActionsBlock(block_id=f"step_{state.step_seq}", elements=step_buttons(state)),
    ]


def step_buttons(state: IncidentState) -> list:
    value = ids.incident_value(state.id, state.step_seq)
    step = state.current_step
    if step is StepKey.BUY_IN:
        own = [ButtonElement(text=ids.LABEL_AGREED, action_id=ids.AGREED, value=value, style="primary"),
               ButtonElement(text=ids.LABEL_NOT_YET, action_id=ids.NOT_YET, value=value)]
    elif step is StepKey.FOLLOW_UP:
        own = [ButtonElement(text=ids.LABEL_RECORD_FOLLOW_UP, action_id=ids.RECORD_FOLLOW_UP, value=value,
                             style="primary")]
    else:
        action = ids.DONE_FORM if step in FORM_STEPS else ids.DONE
        own = [ButtonElement(text=ids.LABEL_DONE, action_id=action, value=value, style="primary")]
    return own + [
        ButtonElement(text=ids.LABEL_SKIP, action_id=ids.SKIP, value=value),
        StaticSelectElement(action_id=ids.SNOOZE, placeholder=ids.LABEL_SNOOZE, options=[
            Option(text=label, value=f"{value}/{choice}") for choice, label in ids.SNOOZE_CHOICES]),
        ButtonElement(text=ids.LABEL_NEED_HELP, action_id=ids.NEED_HELP, value=value, style="danger"),
    ]


def ended_text(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> str:
    mark, verb = RESULT_WORDS.get(outcome.result, ("✅", "Done"))
    note = f": {safe(outcome.note, 1000)}" if outcome.note else ""
    return cut(f"{mark} *{safe(playbook.step(outcome.step).title, 200)}*: "
               f"{verb} by <@{outcome.by}> {slack_time(outcome.at, tz)}{note}", 3000)


def ended_blocks(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=ended_text(outcome, playbook=playbook, tz=tz)))]
