"""When things fall due, when a person may be pinged, and what counts as overdue.

The one place that applies WORK_HOURS to incidents: the card, the prompts, the nudges, the
scheduler, snooze and the follow-up all ask here, so a time shown to a person is the time
the bot acts on. `bot.domain.sla` does the working-time arithmetic underneath.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Final, Protocol

from bot.domain import sla
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy, Status, StepKey

DAY_START_WITHOUT_HOURS: Final = time(9, 0)
"""Where "tomorrow" begins for a snooze when WORK_HOURS is not set."""


class Timed(Protocol):
    """What overdue is judged on: an incident, or the digest's snapshot of one."""

    @property
    def status(self) -> str: ...

    @property
    def step_due_at(self) -> datetime | None: ...

    @property
    def snoozed_until(self) -> datetime | None: ...


def step_due(step: StepKey, *, start: datetime, playbook: Playbook, policy: Policy) -> datetime:
    """When ``step``, begun at ``start``, is due: its SLA counted in working time when set."""
    return sla.due_at(start, playbook.step(step).sla, work_hours=policy.work_hours, tz=policy.tz)


def ping_at(moment: datetime, *, policy: Policy) -> datetime:
    """When a message meant for ``moment`` may go out: then, or at the next opening."""
    return sla.next_working_moment(moment, work_hours=policy.work_hours, tz=policy.tz)


def follow_up_due(agreed_at: datetime, *, policy: Policy) -> datetime:
    """When the follow-up is asked for: FOLLOW_UP_AFTER after buy-in ("ask again in three
    days" is calendar time), moved to the next working moment. It is stored as the step's due
    time, so the scheduler's one indexed query never finds it outside working hours."""
    return ping_at(agreed_at + policy.follow_up_after, policy=policy)


def deadline(state: IncidentState, *, playbook: Playbook, policy: Policy) -> datetime | None:
    """When the current step must be done by: the time its prompt shows and its nudge says it
    was due. A step's stored due time, except the follow-up's, which is when it is asked for:
    its SLA counts from then."""
    due = state.step_due_at
    if due is None or state.current_step is not StepKey.FOLLOW_UP:
        return due
    return step_due(StepKey.FOLLOW_UP, start=due, playbook=playbook, policy=policy)


def next_working_day(now: datetime, *, policy: Policy) -> datetime:
    """"Snooze until tomorrow": the opening of the first working day after today in the
    team's zone (on a Friday, Monday's); without WORK_HOURS, tomorrow at 09:00."""
    tomorrow = now.astimezone(policy.tz).date() + timedelta(days=1)
    if policy.work_hours is None:
        return datetime.combine(tomorrow, DAY_START_WITHOUT_HOURS, tzinfo=policy.tz).astimezone(timezone.utc)
    return ping_at(datetime.combine(tomorrow, time(0), tzinfo=policy.tz), policy=policy)


def is_snoozed(item: Timed, now: datetime) -> bool:
    """A snooze counts until it ends; one whose end has passed is no snooze at all."""
    return item.snoozed_until is not None and now < item.snoozed_until


def is_overdue(item: Timed, now: datetime) -> bool:
    """Open, past its due time (due means "by then": at the due time it is not late yet), and
    not snoozed: a snoozed incident is being waited on on purpose."""
    due = item.step_due_at
    return item.status == Status.OPEN.value and due is not None and now > due and not is_snoozed(item, now)
