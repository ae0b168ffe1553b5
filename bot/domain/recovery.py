"""The recovery state machine: (state, actor, action, now) -> Decision or Refusal.

No Slack, no database, no clock: the service loads the state, asks here, and persists
whatever comes back. Races are not decided here but by conditional updates in storage.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain import access
from bot.domain.playbook import Playbook
from bot.domain.sla import due_at
from bot.domain.types import (
    Actor, Decision, Event, EventKind, IncidentState, Refusal, StepKey, StepOutcome,
)


@dataclass(frozen=True, slots=True)
class Claim:
    pass


@dataclass(frozen=True, slots=True)
class Assign:
    assignee: str


Action = Claim | Assign


def decide(state: IncidentState, actor: Actor, action: Action, *, now: datetime,
           playbook: Playbook) -> Decision | Refusal:
    if not state.is_open:
        return Refusal(f"Incident {state.ref} is {state.status.value}; nothing more can change on it.")
    match action:
        case Claim():
            return _claim(state, actor, now=now, playbook=playbook)
        case Assign(assignee):
            return _assign(state, actor, assignee, now=now, playbook=playbook)
    raise TypeError(f"unknown action {action!r}")


def _claim(state: IncidentState, actor: Actor, *, now: datetime, playbook: Playbook) -> Decision | Refusal:
    if state.owner_id == actor.user_id:
        return Refusal(f"You already own {state.ref}.")
    if state.owner_id is not None:
        return Refusal(f"{state.ref} is already owned by <@{state.owner_id}>.")
    return _take_ownership(state, owner=actor.user_id, by=actor.user_id, now=now, playbook=playbook,
                           event=Event(EventKind.CLAIMED, now, actor.user_id, f"<@{actor.user_id}> claimed it"))


def _assign(state: IncidentState, actor: Actor, assignee: str, *, now: datetime,
            playbook: Playbook) -> Decision | Refusal:
    if not access.may_move(state, actor):
        return Refusal(f"Only the owner of {state.ref} or a lead can assign it.")
    if assignee == state.owner_id:
        return Refusal(f"<@{assignee}> already owns {state.ref}.")
    event = Event(EventKind.ASSIGNED, now, actor.user_id,
                  f"<@{actor.user_id}> assigned it to <@{assignee}>"
                  + (f" (was <@{state.owner_id}>)" if state.owner_id else ""))
    if state.owner_id is None:
        return _take_ownership(state, owner=assignee, by=actor.user_id, now=now, playbook=playbook, event=event)
    return Decision(state=replace(state, owner_id=assignee), events=(event,),
                    notices=(f"<@{assignee}> now owns {state.ref}, assigned by <@{actor.user_id}>.",))


def _take_ownership(state: IncidentState, *, owner: str, by: str, now: datetime, playbook: Playbook,
                    event: Event) -> Decision:
    """Claiming completes the claim step and makes the first real step current."""
    first = playbook.next_after(StepKey.CLAIM)
    assert first is not None
    new_state = replace(
        state, owner_id=owner, claimed_at=now, current_step=first, step_seq=state.step_seq + 1,
        step_started_at=now, step_due_at=due_at(now, playbook.step(first).sla), snoozed_until=None,
    )
    ended = StepOutcome(step=StepKey.CLAIM, seq=state.step_seq, result="done", by=by, at=now)
    return Decision(state=new_state, events=(event,), ended_step=ended, new_step=True)
