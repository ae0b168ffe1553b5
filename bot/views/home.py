"""A person's Home tab: what waits on them, most urgent first, within Slack's limits.

Leads first see what only they can do (approvals), then what the team is late on
(escalations, overdue by owner); everyone then sees their own queue and what nobody has
claimed in their channels, and at the bottom the week's figures. Each section has a header,
a line saying what it is, its items (capped by `bot.domain.home`) or an empty state, and
"…and 12 more" naming the command that lists them all. A Home is not a message: a mention in
it notifies nobody, so owners are named with `<@U…>` for Slack to show their names.

The buttons are the thread's and the card's own (same action ids and values), so a press on
the Home goes through the same rule book and gets the same refusals.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from slack_sdk.models.blocks import (
    ActionsBlock, Block, ButtonElement, ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock,
)
from slack_sdk.models.views import View

from bot.domain.card_status import duration_words, lateness
from bot.domain.home import Capped, OwnerGroup, WeekFigures
from bot.domain.money import format_amount
from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.rules import PLAIN_STEPS
from bot.domain.steps import describe_remedy
from bot.domain.text import cut, safe
from bot.domain.timing import deadline, is_snoozed
from bot.domain.types import IncidentState, Policy, StepKey
from bot.views import ids
from bot.views.when import due_words, slack_time

MAX_BLOCKS: Final = 100
"""Slack draws no view with more: the caps of `bot.domain.home` keep a lead's Home at 64."""
SECTION_TEXT: Final = 3000
HEADER_TEXT: Final = 150
BUTTON_TEXT: Final = 75
CHANNELS_NAMED: Final = 5

SETTINGS_LABEL: Final = "⚙️ Settings"
EMPTY_APPROVALS: Final = "Nothing waiting for your approval. 🎉"
EMPTY_ESCALATED: Final = "Nothing escalated right now."
EMPTY_OVERDUE: Final = "Nothing overdue. 🎉"
EMPTY_MINE: Final = "Nothing waiting on you. 🎉"
EMPTY_UNCLAIMED: Final = "Nothing unclaimed in your channels."


@dataclass(frozen=True, slots=True)
class CardLinks:
    """A card's permalink without asking Slack: ``<workspace url>archives/<channel>/p<ts
    without the dot>``, the form chat.getPermalink answers. ``workspace_url`` is auth.test's
    ``url``; without it (not confirmed yet) no card is linked."""

    workspace_url: str | None

    def card(self, state: IncidentState) -> str | None:
        if not self.workspace_url or not state.card_ts:
            return None
        base = self.workspace_url if self.workspace_url.endswith("/") else self.workspace_url + "/"
        return f"{base}archives/{state.card_channel}/p{state.card_ts.replace('.', '')}"


@dataclass(frozen=True, slots=True)
class Leads:
    """What a lead's Home shows first."""

    approvals: Capped[IncidentState]
    notes: dict[int, str | None]
    """The agent's note of each approval shown (None: none given)."""
    escalated: Capped[IncidentState]
    overdue: tuple[OwnerGroup, ...]
    overdue_more: int
    team_week: WeekFigures


@dataclass(frozen=True, slots=True)
class HomeContent:
    mine: Capped[IncidentState]
    unclaimed: Capped[IncidentState]
    channels: tuple[str, ...]
    """The person's channels (`bot.domain.home.MY_CHANNELS_DAYS`)."""
    week: WeekFigures
    leads: Leads | None = None
    """Only on a lead's Home."""
    settings_button: bool = False
    """A lead's or a workspace admin's Home opens the workspace's Settings from its top."""


@dataclass(frozen=True, slots=True)
class Drawing:
    """What every line needs besides the incident."""

    now: datetime
    playbook: Playbook
    policy: Policy
    links: CardLinks


def home_view(content: HomeContent, drawing: Drawing) -> dict:
    """The view for views.publish."""
    return View(type="home", blocks=home_blocks(content, drawing)).to_dict()


def home_blocks(content: HomeContent, drawing: Drawing) -> list[Block]:
    sections: list[list[Block]] = []
    if content.settings_button:
        sections.append([ActionsBlock(block_id=ids.SETTINGS, elements=[
            ButtonElement(text=SETTINGS_LABEL, action_id=ids.SETTINGS, value="settings")])])
    if content.leads is not None:
        leads = content.leads
        sections += [_approvals(leads, drawing), _escalated(leads.escalated, drawing),
                     _overdue(leads, drawing)]
    sections += [_mine(content.mine, drawing), _unclaimed(content, drawing),
                 _week(content.week, content.leads.team_week if content.leads else None)]
    return [block for section in _between(sections) for block in section]


def _between(sections: list[list[Block]]) -> list[list[Block]]:
    out: list[list[Block]] = []
    for position, section in enumerate(sections):
        out.append(section if position == 0 else [DividerBlock(), *section])
    return out


def _head(title: str, what: str) -> list[Block]:
    return [HeaderBlock(text=cut(title, HEADER_TEXT)),
            ContextBlock(elements=[MarkdownTextObject(text=cut(what, SECTION_TEXT))])]


def _text(text: str, accessory: ButtonElement | None = None) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=cut(text, SECTION_TEXT)), accessory=accessory)


def _more(count: int, command: str) -> list[Block]:
    if count <= 0:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=f"…and {count} more: `{command}`")])]


def _count(capped: Capped) -> str:
    total = len(capped.shown) + capped.more
    return f" ({total})" if total else ""


def _ref(state: IncidentState, links: CardLinks) -> str:
    """The number, linked to the card when its link is known."""
    url = links.card(state)
    return f"*<{url}|{state.ref}>*" if url else f"*{state.ref}*"


def _summary(state: IncidentState) -> str:
    return safe(state.summary or state.excerpt, 200) or "_no summary_"


def _step(state: IncidentState, playbook: Playbook) -> str:
    return safe(playbook.step(state.current_step).title, 60)


def _late(late: timedelta) -> str:
    return f"⏰ {duration_words(late)} late"


def _timing(state: IncidentState, drawing: Drawing) -> str:
    """How the step stands: snoozed, waiting on a lead, late, or when it is due."""
    now, policy = drawing.now, drawing.policy
    if is_snoozed(state, now) and state.snoozed_until is not None:
        return f"💤 snoozed until {slack_time(state.snoozed_until, policy.tz)}"
    if state.approval == "pending":
        return "waiting for a lead's approval"
    late = lateness(state, now=now, playbook=drawing.playbook, policy=policy)
    if late is not None:
        return _late(late)
    due = deadline(state, playbook=drawing.playbook, policy=policy)
    return due_words(due, now=now) if due is not None else "no due time"


def _mine(mine: Capped[IncidentState], drawing: Drawing) -> list[Block]:
    blocks = _head(f"📋 My incidents{_count(mine)}", "Open incidents you own, most urgent first.")
    if not mine.shown:
        return [*blocks, _text(EMPTY_MINE)]
    for state in mine.shown:
        line = f"{_ref(state, drawing.links)} {_summary(state)}\n{_step(state, drawing.playbook)}"
        blocks.append(_text(f"{line} · {_timing(state, drawing)}", _done_button(state, drawing.playbook)))
    return [*blocks, *_more(mine.more, "/recovery list mine")]


def _done_button(state: IncidentState, playbook: Playbook) -> ButtonElement | None:
    """The thread's Done, where the step needs no form (and no lead is being waited on)."""
    if state.current_step not in PLAIN_STEPS or state.approval == "pending":
        return None
    title = playbook.step(state.current_step).title
    return ButtonElement(text=ids.LABEL_DONE, action_id=ids.DONE, value=ids.incident_value(state.id, state.step_seq),
                         style="primary",
                         accessibility_label=cut(f"{ids.LABEL_DONE}: {cut(f'{title} on incident {state.ref}', 60)}",
                                                 BUTTON_TEXT))


def _unclaimed(content: HomeContent, drawing: Drawing) -> list[Block]:
    unclaimed, channels = content.unclaimed, content.channels
    if channels:
        named = ", ".join(f"<#{channel}>" for channel in channels[:CHANNELS_NAMED])
        rest = len(channels) - CHANNELS_NAMED
        where = named + (f" and {rest} more" if rest > 0 else "")
    else:
        where = "none yet"
    blocks = _head(f"🙋 Unclaimed in my channels{_count(unclaimed)}",
                   "Nobody owns these yet, longest waiting first. Your channels are those of the incidents you "
                   f"flagged or owned in the last 90 days: {where}.")
    if not unclaimed.shown:
        return [*blocks, _text(EMPTY_UNCLAIMED)]
    claim = drawing.playbook.step(StepKey.CLAIM).sla
    for state in unclaimed.shown:
        waited = max(drawing.now - state.created_at, timedelta(0))
        words = f"Unclaimed for {duration_words(waited)}"
        line = (f"{_ref(state, drawing.links)} {_summary(state)}\n<#{state.card_channel}> · "
                f"{'⏰ ' if waited > claim else ''}{words}")
        blocks.append(_text(line, ButtonElement(
            text=ids.LABEL_CLAIM, action_id=ids.CLAIM, value=ids.incident_value(state.id), style="primary",
            accessibility_label=cut(f"Claim incident {state.ref}: you will own it", BUTTON_TEXT))))
    return [*blocks, *_more(unclaimed.more, "/recovery list unclaimed")]


def _approvals(leads: Leads, drawing: Drawing) -> list[Block]:
    approvals, currency = leads.approvals, drawing.policy.currency
    limit = format_amount(drawing.policy.empowerment_limit, currency)
    blocks = _head(f"💶 Waiting for your approval{_count(approvals)}",
                   f"Remedies over the {limit} an agent may give alone, waiting longest first.")
    if not approvals.shown:
        return [*blocks, _text(EMPTY_APPROVALS)]
    for state in approvals.shown:
        remedy = safe(describe_remedy(state.remedy_kind, state.remedy_amount, currency), 80)
        customer = safe(state.customer_name, 200) if state.customer_name else "not recorded"
        note = leads.notes.get(state.id)
        owner = f"<@{state.owner_id}>" if state.owner_id else "nobody yet"
        lines = [f"{_ref(state, drawing.links)} {_summary(state)}",
                 f"*Customer:* {customer} · *Remedy:* {remedy} · asked by {owner}",
                 f"*Agent's note:* {safe(note, 500) if note else 'none given'}"]
        value = ids.incident_value(state.id, state.step_seq)
        what = f"{remedy} on incident {state.ref}"
        blocks += [_text("\n".join(lines)), ActionsBlock(block_id=f"home_approval_{state.id}", elements=[
            ButtonElement(text=ids.LABEL_APPROVE, action_id=ids.APPROVE, value=value, style="primary",
                          accessibility_label=cut(f"Approve {what}", BUTTON_TEXT)),
            ButtonElement(text=ids.LABEL_DECLINE, action_id=ids.DECLINE, value=value,
                          accessibility_label=cut(f"Decline {what}", BUTTON_TEXT)),
        ])]
    return [*blocks, *_more(approvals.more, "/recovery list open")]


def _escalated(escalated: Capped[IncidentState], drawing: Drawing) -> list[Block]:
    blocks = _head(f"🚨 Escalated{_count(escalated)}",
                   "Open incidents whose current step the leads were alerted about, longest past due first.")
    if not escalated.shown:
        return [*blocks, _text(EMPTY_ESCALATED)]
    for state in escalated.shown:
        owner = f"<@{state.owner_id}>" if state.owner_id else "unclaimed"
        blocks.append(_text(f"{_ref(state, drawing.links)} {_summary(state)}\n"
                            f"{_step(state, drawing.playbook)} · {_timing(state, drawing)} · {owner}"))
    return [*blocks, *_more(escalated.more, "/recovery list overdue")]


def _overdue(leads: Leads, drawing: Drawing) -> list[Block]:
    total = sum(len(group.late.shown) + group.late.more for group in leads.overdue) + leads.overdue_more
    blocks = _head(f"⏰ Overdue by owner{f' ({total})' if total else ''}",
                   "Open, past due and not snoozed, by owner, worst first.")
    if not leads.overdue:
        return [*blocks, _text(EMPTY_OVERDUE)]
    for group in leads.overdue:
        owner = f"<@{group.owner_id}>" if group.owner_id else "Unclaimed"
        count = len(group.late.shown) + group.late.more
        lines = [f"*{owner}* · {count} overdue"]
        lines += [f"• {_ref(state, drawing.links)} {safe(state.summary or state.excerpt, 80)} · "
                  f"{_step(state, drawing.playbook)} · {_late(late)}" for state, late in group.late.shown]
        if group.late.more:
            lines.append(f"…and {group.late.more} more")
        blocks.append(_text("\n".join(lines)))
    return [*blocks, *_more(leads.overdue_more, "/recovery list overdue")]


def _week(person: WeekFigures, team: WeekFigures | None) -> list[Block]:
    blocks = _head("📈 This week", "The last 7 days: median times from the flag, steps ended within their SLA, "
                                  "and the customers' answers at the follow-up.")
    blocks.append(_text(f"*You* (the incidents you own)\n{week_line(person)}"))
    if team is not None:
        blocks.append(_text(f"*The team*\n{week_line(team)}"))
    return blocks


def week_line(week: WeekFigures) -> str:
    """"time to claim 8m · to resolve 2h 5m · within SLA 75% of 8 steps · satisfaction 8.5/10 (n=2)
    · would buy again 50% (n=2)"; a figure with nothing to count says so."""
    claim = format_duration(week.time_to_claim) if week.time_to_claim is not None else "no claims"
    resolve = format_duration(week.time_to_resolve) if week.time_to_resolve is not None else "none resolved"
    share = (f"{week.within_sla:.0%} of {week.steps_ended} step{'s' * (week.steps_ended != 1)}"
             if week.within_sla is not None else "no steps ended")
    score = (f"{week.satisfaction:.1f}/10 (n={week.satisfaction_answers})"
             if week.satisfaction is not None else "no answers")
    again = f"{week.buy_again:.0%} (n={week.buy_again_answers})" if week.buy_again is not None else "no answers"
    return (f"time to claim {claim} · to resolve {resolve} · within SLA {share} · satisfaction {score} · "
            f"would buy again {again}")
