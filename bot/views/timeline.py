"""`/recovery show` and `/recovery list`: answers for one person, never posted to the channel."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.playbook import Playbook
from bot.domain.timing import is_overdue
from bot.domain.types import Event, IncidentState
from bot.views.card import card_blocks
from bot.views.events import slack_line
from bot.domain.text import cut, safe
from bot.views.when import local_text

MAX_EVENT_LINES = 40
SCOPE_TITLES = {"open": "Open incidents", "mine": "Your open incidents", "unclaimed": "Unclaimed incidents",
                "overdue": "Overdue incidents"}


def show_blocks(state: IncidentState, events: list[Event], *, playbook: Playbook, tz: ZoneInfo,
                now: datetime) -> list[Block]:
    blocks = [block for block in card_blocks(state, playbook=playbook, tz=tz, now=now) if block.type != "actions"]
    shown = events[-MAX_EVENT_LINES:]
    lines = [f"• {local_text(event.at, tz)} · {slack_line(event, ref=state.ref, playbook=playbook)}"
             for event in shown]
    if len(events) > len(shown):
        lines.insert(0, f"_{len(events) - len(shown)} earlier events not shown_")
    blocks.append(SectionBlock(text=MarkdownTextObject(text=cut("*Timeline*\n" + "\n".join(lines), 3000))))
    return blocks


def list_blocks(incidents: list[IncidentState], *, scope: str, playbook: Playbook, tz: ZoneInfo,
                now: datetime) -> list[Block]:
    if not incidents:
        return [SectionBlock(text=MarkdownTextObject(text=f"No {scope} incidents."))]
    lines = [_list_line(state, playbook=playbook, tz=tz, now=now) for state in incidents]
    return [
        SectionBlock(text=MarkdownTextObject(text=f"*{SCOPE_TITLES.get(scope, 'Open incidents')}* (newest first)")),
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text="`/recovery show &lt;n&gt;` for the card and timeline")]),
    ]


def _list_line(state: IncidentState, *, playbook: Playbook, tz: ZoneInfo, now: datetime) -> str:
    owner = f"<@{state.owner_id}>" if state.owner_id else "_unclaimed_"
    if not state.is_open:
        where = state.status.value
    else:
        where = safe(playbook.step(state.current_step).title, 60)
        if is_overdue(state, now):
            where += " · ⏰ overdue"
        elif state.step_due_at:
            where += f" · due {local_text(state.step_due_at, tz)}"
    return f"*{state.ref}* {safe(state.summary or state.excerpt, 80)} · {owner} · {where}"
