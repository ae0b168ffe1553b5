"""Which reminder a step is owed now, and what the timeline records of it.

Decided here like every other action, from the state alone, so the scheduler only loads,
asks, stores and queues; the views word it (`bot.views.notices.reminder_text`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain import alerts, timing
from bot.domain.playbook import Playbook
from bot.domain.types import Event, EventKind, IncidentState, Policy, StepKey

_EVENT_KINDS = {alerts.NUDGE: EventKind.NUDGED, alerts.ESCALATION: EventKind.ESCALATED,
                alerts.APPROVAL_NUDGE: EventKind.APPROVAL_REMINDED}


@dataclass(frozen=True, slots=True)
class Reminder:
    kind: str
    """`alerts.NUDGE` (the owner, or the channel while unclaimed), `alerts.ESCALATION` or
    `alerts.APPROVAL_NUDGE` (the leads). `alerts.APPROVAL_EXPIRY` is a decision, not a reminder."""

    state: IncidentState
    due: datetime
    """When the step's own SLA ran out: the time the message says it was due."""

    event: Event

    @property
    def step(self) -> StepKey:
        return self.state.current_step

    @property
    def owner(self) -> str | None:
        """Who must act; None while unclaimed, when the channel is asked to claim it."""
        return self.state.owner_id


def reminder_for(state: IncidentState, kind: str, *, sent: frozenset[str], now: datetime, playbook: Playbook,
                 policy: Policy) -> Reminder | None:
    """The ``kind`` reminder if the step is owed it now: not sent yet, its time passed, and
    still the next one due (a snooze or a change since it was scheduled may have moved it)."""
    alert = alerts.next_alert(state, sent=sent, playbook=playbook, policy=policy)
    if alert is None or alert.kind != kind or alert.at >= now:
        return None
    due = timing.deadline(state, playbook=playbook, policy=policy) or now
    remedy = ({"remedy_kind": state.remedy_kind, "amount": state.remedy_amount} if kind == alerts.APPROVAL_NUDGE
              else {})
    event = Event(_EVENT_KINDS[kind], now, None, step=state.current_step, owner=state.owner_id, **remedy)
    return Reminder(kind=kind, state=state, due=due, event=event)
