"""A step prompt in the recovery thread, and the line that replaces it once it is done."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, StepOutcome
from bot.views.text import cut, safe
from bot.views.when import slack_time


def prompt_text(state: IncidentState, *, playbook: Playbook) -> str:
    step = playbook.step(state.current_step)
    mention = f"<@{state.owner_id}> " if state.owner_id else ""
    return f"{mention}next step on {state.ref}: {safe(step.title, 200)}"


def prompt_blocks(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    step = playbook.step(state.current_step)
    mention = f"<@{state.owner_id}>, " if state.owner_id else ""
    lines = [f"{mention}*{safe(step.title, 200)}* on {state.ref}", f"_{safe(step.why, 500)}_"]
    details = []
    if state.step_due_at:
        details.append(f"Due {slack_time(state.step_due_at, tz)}")
    contact = safe(state.contact_channel, 50) if state.contact_channel else "not recorded"
    details.append(f"Customer contact channel: *{contact}*")
    if state.customer_name:
        details.append(f"Customer: {safe(state.customer_name, 200)}")
    return [
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text=cut(" · ".join(details), 2000))]),
    ]


def ended_text(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> str:
    verb = "Done" if outcome.result == "done" else "Skipped"
    note = f": {safe(outcome.note, 1000)}" if outcome.note else ""
    return cut(f"{'✅' if outcome.result == 'done' else '⏭️'} *{safe(playbook.step(outcome.step).title, 200)}*: "
               f"{verb} by <@{outcome.by}> {slack_time(outcome.at, tz)}{note}", 3000)


def ended_blocks(outcome: StepOutcome, *, playbook: Playbook, tz: ZoneInfo) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=ended_text(outcome, playbook=playbook, tz=tz)))]
