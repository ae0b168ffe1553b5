"""The playbook steps as transitions, for `bot.domain.recovery.decide`.

`decide` has already asked the rule book (`bot.domain.rules`) whether the actor may take the
action at this step now; each function here checks only what the action carries (a reason,
an amount, a score) and returns the Decision or a one-line Refusal.

Events are data (`Event`'s typed fields, raw text): `bot.views.events` renders them. Notices
are Slack mrkdwn (they carry `<@U…>` mentions), so anything a person typed is escaped and cut
before it goes into them. StepOutcome notes and state fields keep the raw text: the views
escape those themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from bot.domain.money import format_amount
from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.timing import follow_up_due, step_due
from bot.domain.text import safe
from bot.domain.types import (
    BUY_AGAIN_ANSWERS, REMEDY_KINDS, Actor, Decision, Event, EventKind, IncidentState, Policy,
    Refusal, Status, StepKey, StepOutcome,
)

# Numeric(12, 2) in storage: anything larger or finer would be changed by the database.
MAX_REMEDY_AMOUNT: Final = Decimal("9999999999.99")
_SAID_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class Context:
    state: IncidentState
    actor: Actor
    now: datetime
    playbook: Playbook
    policy: Policy

    @property
    def who(self) -> str:
        return f"<@{self.actor.user_id}>"

    @property
    def ref(self) -> str:
        return self.state.ref

    def title(self, key: StepKey | None = None) -> str:
        return self.playbook.step(key or self.state.current_step).title

    def due(self, step: StepKey) -> datetime:
        """When ``step``, starting now, is due."""
        return step_due(step, start=self.now, playbook=self.playbook, policy=self.policy)

    def event(self, kind: EventKind, **fields: Any) -> Event:  # noqa: ANN401 - Event's typed fields
        return Event(kind, self.now, self.actor.user_id, **fields)


# --------------------------------------------------------------------------
# Plain Done, and the steps with their own forms or buttons
# --------------------------------------------------------------------------

def complete(ctx: Context) -> Decision:
    event = ctx.event(EventKind.STEP_DONE, step=ctx.state.current_step)
    return _advance(ctx, ctx.state, _ended(ctx, "done"), (event,))


def record_fix(ctx: Context, root_cause: str, note: str) -> Decision | Refusal:
    wanted = root_cause.strip().casefold()
    cause = next((known for known in ctx.playbook.root_causes if known.casefold() == wanted), None)
    if cause is None:
        return Refusal(f"Pick a root cause from the list: {', '.join(ctx.playbook.root_causes)}.")
    note = note.strip()
    if not note:
        return Refusal("Say what was fixed: the note cannot be empty.")
    state = replace(ctx.state, root_cause=cause, fix_note=note)
    event = ctx.event(EventKind.STEP_DONE, step=StepKey.FIX, root_cause=cause, note=note)
    return _advance(ctx, state, _ended(ctx, "done", f"{cause}: {note}"), (event,))


def needs_approval(amount: Decimal, limit: Decimal, *, by_lead: bool) -> bool:
    """Whether a remedy waits for a lead: over the empowerment limit, unless a lead gives it.
    The remedy form's submit label ("Ask a lead") asks the same question as it is typed."""
    return amount > limit and not by_lead


def record_remedy(ctx: Context, kind: str, amount: Decimal, note: str) -> Decision | Refusal:
    """Under the limit the step is done; over it, an agent's remedy waits for a lead, and a
    lead's own counts as approved at once. Recording again while one waits replaces it."""
    kind = kind.strip().lower()
    if kind not in REMEDY_KINDS:
        return Refusal(f"Pick a remedy kind: {', '.join(REMEDY_KINDS)}.")
    checked = _amount(amount)
    if isinstance(checked, Refusal):
        return checked
    if kind == "none" and checked != 0:
        return Refusal("With no remedy the amount must be 0.")
    note = note.strip()
    limit = ctx.policy.empowerment_limit
    remedy = describe_remedy(kind, checked, ctx.policy.currency)
    state = replace(ctx.state, remedy_kind=kind, remedy_amount=checked, approval_note=None)
    given = {"remedy_kind": kind, "amount": checked}
    if needs_approval(checked, limit, by_lead=ctx.actor.is_lead):
        event = ctx.event(EventKind.APPROVAL_REQUESTED, **given, limit=limit, note=note or None)
        # The leads have the step's own time to decide, from the request: its reminder and its
        # expiry count from now. No notice: approval_requested makes the service ask the leads.
        return Decision(state=replace(state, approval="pending", step_due_at=ctx.due(StepKey.MAKE_IT_RIGHT)),
                        events=(event,), approval_requested=True)
    events = [ctx.event(EventKind.STEP_DONE, step=StepKey.MAKE_IT_RIGHT, **given, note=note or None)]
    approval = None
    if checked > limit:
        approval = "approved"
        events.append(ctx.event(EventKind.REMEDY_APPROVED, **given))
    outcome_note = remedy + (f" ({note})" if note else "")
    return _advance(ctx, replace(state, approval=approval), _ended(ctx, "done", outcome_note), tuple(events))


def approve(ctx: Context) -> Decision:
    """The step was the owner's and is recorded as theirs; the approval is the lead's."""
    state = ctx.state
    event = ctx.event(EventKind.REMEDY_APPROVED, **_remedy_fields(state))
    ended = replace(_ended(ctx, "done", _current_remedy(state, ctx.policy)), by=state.owner_id or ctx.actor.user_id, approved_by=ctx.actor.user_id)
    return _advance(ctx, replace(state, approval="approved"), ended, (event,))


def expire_approval(ctx: Context) -> Decision:
    """The scheduler's action: no lead decided within the step's time. The owner gets a fresh
    step to offer something within the limit, or to ask again."""
    state = ctx.state
    remedy = said(_current_remedy(state, ctx.policy))
    event = Event(EventKind.APPROVAL_EXPIRED, ctx.now, None, **_remedy_fields(state))
    notice = (f"⌛ <@{state.owner_id}>, no lead decided on {remedy} for {ctx.ref} in time, so the request "
              f"expired. Offer something within {format_amount(ctx.policy.empowerment_limit, ctx.policy.currency)}"
              ", or record it again to ask the leads again.")
    ended = StepOutcome(step=state.current_step, seq=state.step_seq, result="expired", by=state.owner_id or "",
                        at=ctx.now, note=_current_remedy(state, ctx.policy))
    state = replace(state, approval=None, approval_note=None)
    return _loop_back(ctx, state, ended, (event,), notices=(notice,))


def decline(ctx: Context, reason: str) -> Decision | Refusal:
    reason = reason.strip()
    owner = f"<@{ctx.state.owner_id}>"
    if not reason:
        return Refusal(f"Say why you are declining, so {owner} can offer something else.")
    remedy = said(_current_remedy(ctx.state, ctx.policy))
    event = ctx.event(EventKind.REMEDY_DECLINED, **_remedy_fields(ctx.state), reason=reason)
    notice = f"{owner}, {ctx.who} declined {remedy} on {ctx.ref}: {said(reason)}. Please offer something else."
    state = replace(ctx.state, approval="declined", approval_note=reason)
    return _loop_back(ctx, state, _ended(ctx, "declined", reason), (event,), notices=(notice,))


def agreed(ctx: Context) -> Decision:
    event = ctx.event(EventKind.BUY_IN_AGREED)
    return _advance(ctx, replace(ctx.state, buy_in_at=ctx.now), _ended(ctx, "done"), (event,))


def not_yet(ctx: Context, note: str) -> Decision:
    note = note.strip()
    state = replace(ctx.state, approval=None, approval_note=None)
    event = ctx.event(EventKind.BUY_IN_NOT_YET, reason=note or None)
    return _loop_back(ctx, state, _ended(ctx, "not_yet", note), (event,))


def prompt_follow_up(ctx: Context) -> Decision:
    """The scheduler's action: the follow-up fell due, post its prompt (once: storage sees to it)."""
    event = Event(EventKind.FOLLOW_UP_PROMPTED, ctx.now, None, owner=ctx.state.owner_id)
    return Decision(state=ctx.state, events=(event,), prompt_now=True)


def record_follow_up(ctx: Context, csat: int, buy_again: str, note: str) -> Decision | Refusal:
    if isinstance(csat, bool) or not isinstance(csat, int) or not 1 <= csat <= 10:
        return Refusal("Satisfaction must be a whole number from 1 to 10.")
    answer = buy_again.strip().lower()
    if answer not in BUY_AGAIN_ANSWERS:
        return Refusal("Would they buy from us again? Answer yes, maybe or no.")
    note = note.strip()
    answers = f"satisfaction {csat}/10, would buy again: {answer}"
    state = replace(ctx.state, csat=csat, buy_again=answer, follow_up_note=note or None)
    event = ctx.event(EventKind.FOLLOW_UP_RECORDED, csat=csat, buy_again=answer, note=note or None)
    return _advance(ctx, state, _ended(ctx, "done", answers), (event,))


# --------------------------------------------------------------------------
# What every step offers: Skip, Snooze, Need help; and Cancel
# --------------------------------------------------------------------------

def skip(ctx: Context, reason: str) -> Decision | Refusal:
    """Skipping advances like completion: a skipped buy-in still schedules the follow-up, a
    skipped follow-up closes, a skipped make_it_right drops a remedy still waiting for a lead."""
    reason = reason.strip()
    if not reason:
        return Refusal(f"Say why you are skipping {ctx.title()}: a reason is required.")
    state = ctx.state
    if state.current_step is StepKey.MAKE_IT_RIGHT and state.approval == "pending":
        state = replace(state, approval=None, approval_note=None, remedy_kind=None, remedy_amount=None)
    event = ctx.event(EventKind.STEP_SKIPPED, step=ctx.state.current_step, reason=reason)
    return _advance(ctx, state, _ended(ctx, "skipped", reason), (event,))


def snooze(ctx: Context, until: datetime) -> Decision | Refusal:
    if until <= ctx.now:
        return Refusal("Snooze until a time after now.")
    length = format_duration(until - ctx.now)
    event = ctx.event(EventKind.SNOOZED, until=until)
    return Decision(state=replace(ctx.state, snoozed_until=until), events=(event,),
                    notices=(f"{ctx.who} snoozed nudges on {ctx.ref} for {length}.",))


def need_help(ctx: Context) -> Decision:
    event = ctx.event(EventKind.HELP_REQUESTED, step=ctx.state.current_step)
    return Decision(state=ctx.state, events=(event,), escalate_now=True)


def cancel(ctx: Context, reason: str) -> Decision | Refusal:
    reason = reason.strip()
    if not reason:
        return Refusal(f"Say why {ctx.ref} is being cancelled: a reason is required.")
    state = replace(ctx.state, status=Status.CANCELLED, cancel_reason=reason, closed_at=ctx.now,
                    step_due_at=None, snoozed_until=None)
    return Decision(state=state, events=(ctx.event(EventKind.CANCELLED, reason=reason),),
                    notices=(f"{ctx.who} cancelled {ctx.ref}: {said(reason)}.",))


# --------------------------------------------------------------------------
# Moving between steps
# --------------------------------------------------------------------------

def _ended(ctx: Context, result: str, note: str = "") -> StepOutcome:
    return StepOutcome(step=ctx.state.current_step, seq=ctx.state.step_seq, result=result,
                       by=ctx.actor.user_id, at=ctx.now, note=note)


def _begin(state: IncidentState, step: StepKey, now: datetime, due: datetime) -> IncidentState:
    return replace(state, current_step=step, step_seq=state.step_seq + 1, step_started_at=now,
                   step_due_at=due, snoozed_until=None)


def _advance(ctx: Context, state: IncidentState, ended: StepOutcome, events: tuple[Event, ...],
             notices: tuple[str, ...] = ()) -> Decision:
    """The current step ended done or skipped: the next one becomes current, the follow-up is
    scheduled rather than prompted, and after the last step the incident closes."""
    following = ctx.playbook.next_after(ended.step)
    now = ctx.now
    if following is None:
        closed = replace(state, status=Status.CLOSED, closed_at=now, step_due_at=None, snoozed_until=None)
        events += (ctx.event(EventKind.CLOSED),)
        return Decision(state=closed, events=events, ended_step=ended, notices=notices)
    if following is StepKey.FOLLOW_UP:
        # Asked for later; its SLA counts from then, not from now.
        due = follow_up_due(now, policy=ctx.policy)
        return Decision(state=_begin(state, following, now, due), events=events, ended_step=ended,
                        new_step=True, notices=notices, prompt_now=False, follow_up_due_at=due)
    due = ctx.due(following)
    return Decision(state=_begin(state, following, now, due), events=events, ended_step=ended,
                    new_step=True, notices=notices)


def _loop_back(ctx: Context, state: IncidentState, ended: StepOutcome, events: tuple[Event, ...],
               notices: tuple[str, ...] = ()) -> Decision:
    """Declined remedy or no buy-in yet: a fresh make_it_right for the owner to offer again."""
    step = StepKey.MAKE_IT_RIGHT
    due = ctx.due(step)
    return Decision(state=_begin(state, step, ctx.now, due), events=events, ended_step=ended,
                    new_step=True, notices=notices)


# --------------------------------------------------------------------------
# Small checks and words
# --------------------------------------------------------------------------

def _amount(amount: object) -> Decimal | Refusal:
    wrong = Refusal("The amount must be a number, 0 or more.")
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        return wrong
    value = Decimal(amount)
    if not value.is_finite() or value < 0:
        return wrong
    if value > MAX_REMEDY_AMOUNT:
        return Refusal("That amount is too large to record.")
    if value != value.quantize(Decimal("0.01")):
        return Refusal("The amount can have at most 2 decimals.")
    return value


def describe_remedy(kind: str | None, amount: Decimal | None, currency: str = "USD") -> str:
    """`refund € 120`, `gift`, or `no remedy`: how a remedy reads in a sentence. An empty
    ``currency`` gives the bare number, as timeline lines read before amounts had one."""
    if kind is None or kind == "none":
        return "no remedy"
    if amount is None or amount == 0:
        return kind
    if not currency:
        whole = amount == amount.to_integral_value()
        return f"{kind} {amount.quantize(Decimal(1) if whole else Decimal('0.01')):f}"
    return f"{kind} {format_amount(amount, currency)}"


def _current_remedy(state: IncidentState, policy: Policy) -> str:
    return describe_remedy(state.remedy_kind, state.remedy_amount, policy.currency)


def _remedy_fields(state: IncidentState) -> dict[str, Any]:
    """The remedy waiting for a lead, as an approval or decline event records it."""
    return {"remedy_kind": state.remedy_kind, "amount": state.remedy_amount}


def said(text: str) -> str:
    """What a person typed, made safe for mrkdwn and short."""
    return safe(text, _SAID_LIMIT)
