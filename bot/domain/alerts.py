"""Which reminder an incident owes next, and when: the nudge when the current step passes
its SLA, the escalation at ESCALATE_FACTOR times the SLA.

The answer is stored on the incident (next_alert_at, indexed) so a scheduler tick reads
only what is due; it is recomputed from the state after every change, so it is derived,
never a second truth. Which alerts went out is decided by unique keys in the database.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.domain import sla
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy, StepKey

NUDGE: Final = "nudge"
ESCALATION: Final = "escalation"
LEVELS: Final = (NUDGE, ESCALATION)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    at: datetime


def sla_start(state: IncidentState, *, playbook: Playbook, policy: Policy) -> datetime | None:
    """When the step's own SLA is over: its due time, except for the follow-up, whose due
    time is when it falls due and whose SLA counts from then."""
    due = state.step_due_at
    if due is None:
        return None
    if state.current_step is StepKey.FOLLOW_UP:
        return sla.due_at(due, playbook.step(StepKey.FOLLOW_UP).sla, work_hours=policy.work_hours, tz=policy.tz)
    return due


def next_alert(state: IncidentState, *, sent: frozenset[str], playbook: Playbook, policy: Policy) -> Alert | None:
    if not state.is_open:
        return None
    due = sla_start(state, playbook=playbook, policy=policy)
    if due is None:
        return None
    step_sla = playbook.step(state.current_step).sla
    for kind in LEVELS:
        if kind in sent:
            continue
        at = due if kind == NUDGE else sla.alert_due(due=due, sla=step_sla, factor=policy.escalate_factor,
                                                     level=ESCALATION, work_hours=policy.work_hours, tz=policy.tz)
        if state.snoozed_until is not None and at < state.snoozed_until:
            at = state.snoozed_until
        if policy.work_hours is not None and not sla.is_working_time(at, work_hours=policy.work_hours,
                                                                      tz=policy.tz):
            at = sla.next_working_moment(at, work_hours=policy.work_hours, tz=policy.tz)
        return Alert(kind, at)
    return None
