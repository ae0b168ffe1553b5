"""The card's status line: what a lead must know about an incident in one glance.

Derived from the stored state, the clock and which alerts went out for the current step,
never stored: the card is redrawn when sent, so the line is as fresh as the last redraw,
and the bot redraws it whenever one of its inputs changes on its own (a nudge, an
escalation, a snooze ending).

One status wins, the one that asks the most specific thing of the reader: a finished
incident asks nothing; an approval asks a lead; a snooze says "leave it"; an escalation
says the leads were already told; then unclaimed, overdue, and on track.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain import sla
from bot.domain.playbook import Playbook
from bot.domain.timing import deadline, is_snoozed
from bot.domain.types import IncidentState, Policy, Status

APPROVAL_PENDING = "pending"
"""IncidentState.approval while a remedy over the limit waits for a lead."""


class CardState(StrEnum):
    CLOSED = "closed"
    CANCELLED = "cancelled"
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    SNOOZED = "snoozed"
    ESCALATED = "escalated"
    UNCLAIMED = "unclaimed"
    OVERDUE = "overdue"
    ON_TRACK = "on_track"


@dataclass(frozen=True, slots=True)
class CardStatus:
    state: CardState
    elapsed: timedelta | None = None
    """How long unclaimed (wall time), or how far past the deadline (working time when
    WORK_HOURS is set: the time the SLA counts, so Monday 09:04 is not "2 days" late for a
    step due Friday 17:58)."""
    until: datetime | None = None
    """When a snooze ends."""

    def text(self, tz: ZoneInfo) -> str:
        """In plain words, times in the team's zone: for the phone's notification and the
        places that cannot format dates (the card itself shows the snooze end with Slack's
        date formatting, in each reader's zone)."""
        if self.state is CardState.SNOOZED and self.until is not None:
            return f"Snoozed until {self.until.astimezone(tz):%H:%M}"
        return self.lead()

    def lead(self) -> str:
        """The words before any time: the whole line for every status but a snooze."""
        match self.state:
            case CardState.UNCLAIMED:
                return f"Unclaimed for {duration_words(self.elapsed or timedelta(0))}"
            case CardState.OVERDUE:
                return f"Overdue by {duration_words(self.elapsed or timedelta(0))}"
            case CardState.SNOOZED:
                return "Snoozed until"
        return _FIXED[self.state]


_FIXED = {
    CardState.CLOSED: "Closed",
    CardState.CANCELLED: "Cancelled",
    CardState.WAITING_FOR_APPROVAL: "Waiting for approval",
    CardState.ESCALATED: "Escalated",
    CardState.ON_TRACK: "On track",
}


def card_status(state: IncidentState, *, now: datetime, escalated: bool, playbook: Playbook,
                policy: Policy) -> CardStatus:
    """``escalated``: the leads were told about the current step (the escalation alert or
    Need help), as the notification keys record it."""
    if state.status is Status.CLOSED:
        return CardStatus(CardState.CLOSED)
    if state.status is Status.CANCELLED:
        return CardStatus(CardState.CANCELLED)
    if state.approval == APPROVAL_PENDING:
        return CardStatus(CardState.WAITING_FOR_APPROVAL)
    if is_snoozed(state, now):
        return CardStatus(CardState.SNOOZED, until=state.snoozed_until)
    if escalated:
        return CardStatus(CardState.ESCALATED)
    if state.owner_id is None:
        return CardStatus(CardState.UNCLAIMED, elapsed=max(now - state.created_at, timedelta(0)))
    late = lateness(state, now=now, playbook=playbook, policy=policy)
    if late is not None:
        return CardStatus(CardState.OVERDUE, elapsed=late)
    return CardStatus(CardState.ON_TRACK)


def lateness(state: IncidentState, *, now: datetime, playbook: Playbook, policy: Policy) -> timedelta | None:
    """How far the open current step is past its deadline (the moment its nudge is for), in
    the time its SLA counts; None when it is not late (at the deadline it is not late yet)."""
    due = deadline(state, playbook=playbook, policy=policy)
    if not state.is_open or due is None or now <= due:
        return None
    return sla.working_time_between(due, now, work_hours=policy.work_hours, tz=policy.tz)


def duration_words(delta: timedelta) -> str:
    """"12 min", "2 h 5 min", "3 days": the unit a person would say, rounded down, so a
    status never claims more time than has passed."""
    minutes = int(abs(delta).total_seconds()) // 60
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days = hours // 24
    return f"{days} day{'s' * (days != 1)}"
