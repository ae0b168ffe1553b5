"""`/recovery show` and `/recovery list`: answers for one person, never posted to the channel."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.domain.card_status import lateness
from bot.domain.playbook import Playbook
from bot.domain.timing import deadline, is_snoozed
from bot.domain.types import Event, IncidentState, Policy
from bot.views.card import card_blocks
from bot.views.events import slack_line
from bot.domain.text import cut, safe
from bot.views.when import due_words, slack_time

MAX_EVENT_LINES = 40
SCOPE_TITLES = {"open": "Open incidents", "mine": "Your open incidents", "unclaimed": "Unclaimed incidents",
                "overdue": "Overdue incidents"}


def show_blocks(state: IncidentState, events: list[Event], *, playbook: Playbook, tz: ZoneInfo,
                now: datetime, policy: Policy) -> list[Block]:
    """Each event's time in the reader's own zone (the team's as the fallback); amounts in the
    team's currency."""
    blocks = [block for block in card_blocks(state, playbook=playbook, tz=tz, now=now, policy=policy)
              if block.type != "actions"]
    shown = events[-MAX_EVENT_LINES:]
    lines = [f"• {slack_time(event.at, tz)} · {slack_line(event, ref=state.ref, playbook=playbook, currency=policy.currency)}"
             for event in shown]
    if len(events) > len(shown):
        lines.insert(0, f"_{len(events) - len(shown)} earlier events not shown_")
    blocks.append(SectionBlock(text=MarkdownTextObject(text=cut("*Timeline*\n" + "\n".join(lines), 3000))))
    return blocks


def list_blocks(incidents: list[IncidentState], *, scope: str, playbook: Playbook, tz: ZoneInfo,
                now: datetime, policy: Policy | None = None) -> list[Block]:
    """Without ``policy``, lateness counts wall time (as the card does)."""
    if not incidents:
        return [SectionBlock(text=MarkdownTextObject(text=f"No {scope} incidents."))]
    policy = policy or Policy(tz=tz)
    lines = [_list_line(state, playbook=playbook, policy=policy, now=now) for state in incidents]
    return [
        SectionBlock(text=MarkdownTextObject(text=f"*{SCOPE_TITLES.get(scope, 'Open incidents')}* (newest first)")),
        SectionBlock(text=MarkdownTextObject(text=cut("\n".join(lines), 3000))),
        ContextBlock(elements=[MarkdownTextObject(text="`/recovery show &lt;n&gt;` for the card and timeline")]),
    ]


def _list_line(state: IncidentState, *, playbook: Playbook, policy: Policy, now: datetime) -> str:
    owner = f"<@{state.owner_id}>" if state.owner_id else "_unclaimed_"
    if not state.is_open:
        where = state.status.value
    else:
        where = safe(playbook.step(state.current_step).title, 60) + _when(state, playbook=playbook, policy=policy,
                                                                          now=now)
    return f"*{state.ref}* {safe(state.summary or state.excerpt, 80)} · {owner} · {where}"


def _when(state: IncidentState, *, playbook: Playbook, policy: Policy, now: datetime) -> str:
    """The deadline as the card says it: relative words, then the moment in the reader's zone;
    a snoozed incident says until when instead."""
    if is_snoozed(state, now) and state.snoozed_until is not None:
        return f" · snoozed until {slack_time(state.snoozed_until, policy.tz)}"
    due = deadline(state, playbook=playbook, policy=policy)
    if due is None:
        return ""
    late = lateness(state, now=now, playbook=playbook, policy=policy)
    return f" · {'⏰ ' if late is not None else ''}{due_words(due, now=now, late=late)} ({slack_time(due, policy.tz)})"
