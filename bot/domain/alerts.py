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
APPROVAL_NUDGE: Final = "approval_nudge"
"""The leads reminded of a remedy still waiting for them, when the step's time ran out."""
APPROVAL_EXPIRY: Final = "approval_expiry"
"""The request given up at ESCALATE_FACTOR times the step's time: the owner offers again."""
APPROVAL_LEVELS: Final = (APPROVAL_NUDGE, APPROVAL_EXPIRY)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    at: datetime


def next_alert(state: IncidentState, *, sent: frozenset[str], playbook: Playbook, policy: Policy) -> Alert | None:
    """The first level not sent yet: the nudge at the step's deadline, the escalation
    ESCALATE_FACTOR times its SLA in; never before a snooze ends, never outside working hours.
    While a remedy waits for a lead the levels are the leads' reminder and the request's expiry."""
    if not state.is_open:
        return None
    due = timing.deadline(state, playbook=playbook, policy=policy)
    if due is None:
        return None
    step_sla = playbook.step(state.current_step).sla
    for kind in APPROVAL_LEVELS if state.approval == "pending" else LEVELS:
        if kind in sent:
            continue
        at = due if kind in (NUDGE, APPROVAL_NUDGE) else sla.alert_due(
            due=due, sla=step_sla, factor=policy.escalate_factor, level=ESCALATION, work_hours=policy.work_hours,
            tz=policy.tz)
        if state.snoozed_until is not None and at < state.snoozed_until:
            at = state.snoozed_until
        return Alert(kind, timing.ping_at(at, policy=policy))
    return None
