"""The recovery state machine: (state, actor, action, now) -> Decision or Refusal.

No Slack, no database, no clock: the service loads the state, asks here, and persists
whatever comes back. Races are not decided here but by conditional updates in storage.

`decide` asks the rule book (`bot.domain.rules`) whether the actor may take the action now,
then dispatches; the steps themselves live in `bot.domain.steps`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Final

from bot.domain import steps
from bot.domain.playbook import Playbook
from bot.domain.rules import ONLY_A_LEAD_APPROVES, ONLY_A_LEAD_DECLINES, STEP_ALREADY_DONE, Intent, may
from bot.domain.types import (
    BUY_AGAIN_ANSWERS, CONTACT_CHANNELS, REMEDY_KINDS, Actor, Decision, Event, EventKind, IncidentState, Policy,
    Refusal, Severity, StepKey, StepOutcome,
)

__all__ = [
    "BUY_AGAIN_ANSWERS", "ONLY_A_LEAD_APPROVES", "ONLY_A_LEAD_DECLINES", "REMEDY_KINDS", "STEP_ALREADY_DONE",
    "Action", "Agreed", "Approve", "Assign", "Cancel", "Claim", "CompleteStep", "Decline", "EditDetails",
    "ExpireApproval", "NeedHelp", "NotYet",
    "Policy", "PromptFollowUp", "RecordFix", "RecordFollowUp", "RecordRemedy", "Skip", "Snooze", "decide",
]


# --------------------------------------------------------------------------
# Actions. `seq` is the step_seq the button or form was drawn for.
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Claim:
    pass


@dataclass(frozen=True, slots=True)
class Assign:
    """Assign an unclaimed incident, or reassign an owned one."""

    assignee: str


@dataclass(frozen=True, slots=True)
class CompleteStep:
    """Plain Done: acknowledge and apologize."""

    seq: int


@dataclass(frozen=True, slots=True)
class RecordFix:
    seq: int
    root_cause: str
    note: str


@dataclass(frozen=True, slots=True)
class RecordRemedy:
    seq: int
    kind: str
    amount: Decimal
    note: str = ""


@dataclass(frozen=True, slots=True)
class Approve:
    seq: int


@dataclass(frozen=True, slots=True)
class Decline:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Agreed:
    seq: int


@dataclass(frozen=True, slots=True)
class NotYet:
    seq: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class PromptFollowUp:
    """The scheduler's action once the follow-up is due; the actor is ignored."""


@dataclass(frozen=True, slots=True)
class ExpireApproval:
    """The scheduler's action once no lead decided on a remedy in time; the actor is ignored."""


@dataclass(frozen=True, slots=True)
class RecordFollowUp:
    seq: int
    csat: int
    buy_again: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Skip:
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Snooze:
    until: datetime


@dataclass(frozen=True, slots=True)
class NeedHelp:
    seq: int


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


@dataclass(frozen=True, slots=True)
class EditDetails:
    """The flag form as submitted from Edit details: every field, as the form now reads
    (None: left empty). The decision works out what changed."""

    summary: str
    customer_name: str | None
    contact_channel: str | None
    severity: Severity
    category: str | None


StepAction = (CompleteStep | RecordFix | RecordRemedy | Approve | Decline | Agreed | NotYet | RecordFollowUp
              | Skip | NeedHelp)
Action = Claim | Assign | StepAction | PromptFollowUp | ExpireApproval | Snooze | Cancel | EditDetails

_INTENTS: Final[dict[type, Intent]] = {
    Claim: Intent.CLAIM, Assign: Intent.ASSIGN, CompleteStep: Intent.COMPLETE, RecordFix: Intent.RECORD_FIX,
    RecordRemedy: Intent.RECORD_REMEDY, Approve: Intent.APPROVE, Decline: Intent.DECLINE, Agreed: Intent.AGREED,
    NotYet: Intent.NOT_YET, RecordFollowUp: Intent.RECORD_FOLLOW_UP, Skip: Intent.SKIP, NeedHelp: Intent.NEED_HELP,
    Snooze: Intent.SNOOZE, Cancel: Intent.CANCEL, PromptFollowUp: Intent.PROMPT_FOLLOW_UP,
    ExpireApproval: Intent.EXPIRE_APPROVAL,
    EditDetails: Intent.EDIT,
}


# --------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------

def decide(state: IncidentState, actor: Actor, action: Action, *, now: datetime, playbook: Playbook,
           policy: Policy = Policy()) -> Decision | Refusal:
    intent = _INTENTS.get(type(action))
    if intent is None:
        raise TypeError(f"unknown action {action!r}")
    if refusal := may(state, actor, intent, seq=getattr(action, "seq", None), now=now, playbook=playbook,
                      leads=policy.leads, tz=policy.tz):
        return refusal
    ctx = steps.Context(state, actor, now, playbook, policy)
    match action:
        case Claim():
            return _claim(ctx)
        case Assign(assignee):
            return _assign(ctx, assignee)
        case PromptFollowUp():
            return steps.prompt_follow_up(ctx)
        case ExpireApproval():
            return steps.expire_approval(ctx)
        case CompleteStep():
            return steps.complete(ctx)
        case RecordFix(_, root_cause, note):
            return steps.record_fix(ctx, root_cause, note)
        case RecordRemedy(_, kind, amount, note):
            return steps.record_remedy(ctx, kind, amount, note)
        case Approve():
            return steps.approve(ctx)
        case Decline(_, reason):
            return steps.decline(ctx, reason)
        case Agreed():
            return steps.agreed(ctx)
        case NotYet(_, note):
            return steps.not_yet(ctx, note)
        case RecordFollowUp(_, csat, buy_again, note):
            return steps.record_follow_up(ctx, csat, buy_again, note)
        case Skip(_, reason):
            return steps.skip(ctx, reason)
        case NeedHelp():
            return steps.need_help(ctx)
        case Snooze(until):
            return steps.snooze(ctx, until)
        case Cancel(reason):
            return steps.cancel(ctx, reason)
        case EditDetails():
            return _edit_details(ctx, action)
    raise AssertionError(f"an action with an intent but no transition: {action!r}")


# --------------------------------------------------------------------------
# Ownership
# --------------------------------------------------------------------------

def _claim(ctx: steps.Context) -> Decision:
    actor = ctx.actor
    return _take_ownership(ctx, owner=actor.user_id,
                           event=ctx.event(EventKind.CLAIMED, owner_after=actor.user_id))


def _assign(ctx: steps.Context, assignee: str) -> Decision | Refusal:
    state, actor = ctx.state, ctx.actor
    if assignee == state.owner_id:
        return Refusal(f"<@{assignee}> already owns {state.ref}.")
    event = ctx.event(EventKind.ASSIGNED, owner_before=state.owner_id, owner_after=assignee)
    if state.owner_id is None:
        return _take_ownership(ctx, owner=assignee, event=event)
    handed = replace(state, owner_id=assignee)
    if _clock_restarts(state):
        # The new owner gets the step's whole time from the hand-over, and their own reminders.
        handed = replace(handed, step_started_at=ctx.now, step_due_at=ctx.due(state.current_step))
    return Decision(state=handed, events=(event,), handed_over=True,
                    notices=(f"<@{assignee}> now owns {state.ref}, assigned by <@{actor.user_id}>.",))


def _clock_restarts(state: IncidentState) -> bool:
    """Not for the follow-up, whose date was agreed with the customer, nor for a remedy waiting
    for a lead, whose clock is the leads'."""
    return state.current_step is not StepKey.FOLLOW_UP and state.approval != "pending"


def _take_ownership(ctx: steps.Context, *, owner: str, event: Event) -> Decision:
    """Claiming completes the claim step and makes the first real step current."""
    first = ctx.playbook.next_after(StepKey.CLAIM)
    assert first is not None
    now = ctx.now
    new_state = replace(
        ctx.state, owner_id=owner, claimed_at=now, current_step=first, step_seq=ctx.state.step_seq + 1,
        step_started_at=now, step_due_at=ctx.due(first), snoozed_until=None,
    )
    ended = StepOutcome(step=StepKey.CLAIM, seq=ctx.state.step_seq, result="done", by=ctx.actor.user_id, at=now)
    return Decision(state=new_state, events=(event,), ended_step=ended, new_step=True)


# --------------------------------------------------------------------------
# The details the flag recorded
# --------------------------------------------------------------------------

SUMMARY_MAX: Final = 300
CUSTOMER_NAME_MAX: Final = 200
CATEGORY_MAX: Final = 100
NOTHING_TO_SAVE: Final = "Nothing to save: the details of {ref} already read that way. Change a field, or press Cancel."


def _edit_details(ctx: steps.Context, edit: EditDetails) -> Decision | Refusal:
    """One event naming only what changed, so the timeline says what was corrected; nothing
    changed is said, not recorded."""
    state = ctx.state
    summary = edit.summary.strip()
    if not summary:
        return Refusal("Say in a few words what went wrong: the summary cannot be empty.")
    if edit.contact_channel is not None and edit.contact_channel not in CONTACT_CHANNELS:
        return Refusal(f"Pick a contact channel from the list: {', '.join(CONTACT_CHANNELS)}.")
    category = _category(edit.category, state=state, root_causes=ctx.playbook.root_causes)
    if isinstance(category, Refusal):
        return category
    wanted = {
        # The card shows the message's excerpt while there is no summary: keeping it is no change.
        "summary": state.summary if summary == (state.summary or state.excerpt) else summary[:SUMMARY_MAX],
        "customer_name": edit.customer_name.strip()[:CUSTOMER_NAME_MAX] or None if edit.customer_name else None,
        "contact_channel": edit.contact_channel,
        "severity": edit.severity,
        "category": category,
    }
    changed = {name: value for name, value in wanted.items() if value != getattr(state, name)}
    if not changed:
        return Refusal(NOTHING_TO_SAVE.format(ref=state.ref))
    said = {name: value.value if isinstance(value, Severity) else value or "" for name, value in changed.items()}
    return Decision(state=replace(state, **changed), events=(ctx.event(EventKind.DETAILS_EDITED, **said),))


def _category(given: str | None, *, state: IncidentState, root_causes: tuple[str, ...]) -> str | None | Refusal:
    """One taxonomy: a category is one of the playbook's root causes (as the fix step's is), or
    the one the incident already has (a playbook changed since); free text only for a playbook
    without root causes."""
    given = given.strip() if given else ""
    if not given:
        return None
    if not root_causes or given == state.category:
        return given[:CATEGORY_MAX]
    known = next((cause for cause in root_causes if cause.casefold() == given.casefold()), None)
    return known if known is not None else Refusal(f"Pick a category from the list: {', '.join(root_causes)}.")
