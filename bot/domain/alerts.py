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

from bot.domain import sla, timing
from bot.domain.playbook import Playbook
from bot.domain.types import IncidentState, Policy

NUDGE: Final = "nudge"
ESCALATION: Final = "escalation"
LEVELS: Final = (NUDGE, ESCALATION)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    at: datetime


def next_alert(state: IncidentState, *, sent: frozenset[str], playbook: Playbook, policy: Policy) -> Alert | None:
    """The first level not sent yet: the nudge at the step's deadline, the escalation
    ESCALATE_FACTOR times its SLA in; never before a snooze ends, never outside working hours."""
    if not state.is_open:
        return None
    due = timing.deadline(state, playbook=playbook, policy=policy)
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
        return Alert(kind, timing.ping_at(at, policy=policy))
    return None
