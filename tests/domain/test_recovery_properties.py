"""Random walks through the recovery state machine, checking what must always hold.

Random actors (the owner, a lead, another agent, a bystander, the scheduler) press random
buttons with random fields, stale ones included, while time moves on. A `progress` rule
plays the right move for the current step so that walks also reach the late steps.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.recovery import (
    REMEDY_KINDS, Action, Agreed, Approve, Assign, Cancel, Claim, CompleteStep, Decline, ExpireApproval, NeedHelp,
    NotYet, Policy,
    PromptFollowUp, RecordFix, RecordFollowUp, RecordRemedy, Skip, Snooze, decide,
)
from bot.domain.types import (
    STEP_RESULTS, Actor, Decision, EventKind, IncidentState, Refusal, Status, StepKey,
)

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
POLICY = Policy()
LEAD = Actor("ULEAD", is_lead=True)
PLAYBOOK = DEFAULT_PLAYBOOK
ORDER = [step.key for step in PLAYBOOK.steps]

who = st.sampled_from(["owner", "owner", "owner", "lead", "agent", "bystander", "system"])
seq_offset = st.sampled_from([0, 0, 0, 0, -1, 1])
text = st.one_of(st.sampled_from(["", "  ", "customer unreachable", "<!channel> & co"]), st.text(max_size=20))
amounts = st.one_of(
    st.sampled_from([Decimal(0), Decimal(50), Decimal("50.01"), Decimal(120), Decimal(-1), Decimal("NaN")]),
    st.decimals(min_value=0, max_value=300, places=2),
)
PROTECTED = ("id", "workspace_id", "number", "created_at", "flagged_by", "summary", "origin_channel", "origin_ts",
             "card_channel")


def fresh() -> IncidentState:
    return IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.CLAIM, step_seq=0,
        step_started_at=T0, step_due_at=T0 + timedelta(minutes=10), created_at=T0, flagged_by="U1",
        summary="Package never arrived", origin_channel="C1", origin_ts="1.000", card_channel="C1",
    )


class Recovery(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state = fresh()
        self.open_steps = {0: StepKey.CLAIM}  # step instances started and not ended, by seq

    # -- who is pressing --------------------------------------------------------

    def actor(self, name: str) -> Actor:
        return {
            "owner": Actor(self.state.owner_id or "U2"),
            "lead": LEAD,
            "agent": Actor("U3"),
            "bystander": Actor("U9"),
            "system": Actor("system"),
        }[name]

    def seq(self, offset: int) -> int:
        return self.state.step_seq + offset

    # -- the checks -------------------------------------------------------------

    def apply(self, actor: Actor, action: Action) -> None:
        before = self.state
        result = decide(before, actor, action, now=self.now, playbook=PLAYBOOK, policy=POLICY)
        assert result == decide(before, actor, action, now=self.now, playbook=PLAYBOOK, policy=POLICY), "pure"
        if not before.is_open:
            assert isinstance(result, Refusal), "closed and cancelled are final"
            assert before.status.value in result.reason
            return
        if isinstance(result, Refusal):
            assert result.reason.strip() and "\n" not in result.reason
            event(f"refused {type(action).__name__}")
            return
        event(f"decided {type(action).__name__}")
        self.check(before, actor, action, result)
        self.state = result.state
        if result.ended_step is not None and hasattr(action, "seq"):
            replay = decide(self.state, actor, action, now=self.now, playbook=PLAYBOOK, policy=POLICY)
            assert isinstance(replay, Refusal), "a second click on an ended step changes nothing"

    def check(self, before: IncidentState, actor: Actor, action: Action, decision: Decision) -> None:
        after, now = decision.state, self.now
        for name in PROTECTED:
            assert getattr(after, name) == getattr(before, name)
        assert decision.events, "every change leaves a timeline row"
        assert all(item.at == now for item in decision.events)

        # Only the owner or a lead change anything, except a claim of an unclaimed
        # incident and the scheduler's follow-up prompt (which changes nothing).
        if not actor.is_lead and actor.user_id != before.owner_id:
            assert (isinstance(action, Claim) and before.owner_id is None) or isinstance(
                action, PromptFollowUp | ExpireApproval)
        if isinstance(action, PromptFollowUp | NeedHelp):
            assert after == before
        if before.approval == "pending" and after.approval == "approved":
            assert actor.is_lead, "only a lead approves a remedy over the limit"

        # One step instance at a time; seq moves by exactly one with each new step.
        ended = decision.ended_step
        if decision.new_step:
            assert ended is not None
            assert after.step_seq == before.step_seq + 1
            assert after.step_started_at == now and after.snoozed_until is None
        else:
            assert (after.step_seq, after.current_step) == (before.step_seq, before.current_step)
            # A hand-over restarts the step's clock for the new owner; nothing else moves it.
            restarted = decision.handed_over and after.step_started_at == now
            assert restarted or after.step_started_at == before.step_started_at
        if ended is not None:
            assert (ended.step, ended.seq, ended.at) == (before.current_step, before.step_seq, now)
            assert ended.result in STEP_RESULTS
            assert self.open_steps.pop(ended.seq) is ended.step
            self.check_order(ended.step, ended.result, after)
        if decision.new_step:
            self.open_steps[after.step_seq] = after.current_step

        if after.is_open:
            assert after.owner_id is not None or after.current_step is StepKey.CLAIM
            assert self.open_steps == {after.step_seq: after.current_step}, "exactly one current step"
        else:
            assert after.closed_at == now and after.step_due_at is None
            final = EventKind.CLOSED if after.status is Status.CLOSED else EventKind.CANCELLED
            assert decision.events[-1].kind is final
            event(f"finished {after.status.value}")

    def check_order(self, step: StepKey, result: str, after: IncidentState) -> None:
        """Steps follow the playbook, except the two loops back to make_it_right."""
        if result in ("declined", "expired"):
            assert step is StepKey.MAKE_IT_RIGHT and after.current_step is StepKey.MAKE_IT_RIGHT
        elif result == "not_yet":
            assert step is StepKey.BUY_IN and after.current_step is StepKey.MAKE_IT_RIGHT
        elif after.is_open:
            assert ORDER.index(after.current_step) == ORDER.index(step) + 1
        else:
            assert step is StepKey.FOLLOW_UP and after.status is Status.CLOSED

    @invariant()
    def well_formed(self) -> None:
        state = self.state
        if state.is_open:
            assert state.step_due_at is not None and state.step_due_at >= state.step_started_at
        if state.approval == "pending":
            assert state.current_step is StepKey.MAKE_IT_RIGHT and state.remedy_amount > POLICY.empowerment_limit
        if state.current_step is StepKey.FOLLOW_UP and state.is_open:
            assert state.step_due_at == state.step_started_at + POLICY.follow_up_after

    # -- time -------------------------------------------------------------------

    @rule(delta=st.sampled_from([timedelta(0), timedelta(minutes=20), timedelta(hours=5), timedelta(days=1),
                                 timedelta(days=3)]))
    def tick(self, delta: timedelta) -> None:
        self.now += delta

    # -- the moves, by anyone ------------------------------------------------------

    @rule(name=who)
    def claim(self, name: str) -> None:
        self.apply(self.actor(name), Claim())

    @rule(name=who, assignee=st.sampled_from(["U2", "U3", "U9"]))
    def assign(self, name: str, assignee: str) -> None:
        self.apply(self.actor(name), Assign(assignee))

    @rule(name=who, offset=seq_offset)
    def complete(self, name: str, offset: int) -> None:
        self.apply(self.actor(name), CompleteStep(self.seq(offset)))

    @rule(name=who, offset=seq_offset, cause=st.sampled_from([*PLAYBOOK.root_causes, "gremlins"]), note=text)
    def fix(self, name: str, offset: int, cause: str, note: str) -> None:
        self.apply(self.actor(name), RecordFix(self.seq(offset), cause, note))

    @rule(name=who, offset=seq_offset, kind=st.sampled_from([*REMEDY_KINDS, "voucher"]), amount=amounts, note=text)
    def remedy(self, name: str, offset: int, kind: str, amount: Decimal, note: str) -> None:
        self.apply(self.actor(name), RecordRemedy(self.seq(offset), kind, amount, note))

    @rule(name=who, offset=seq_offset)
    def approve(self, name: str, offset: int) -> None:
        self.apply(self.actor(name), Approve(self.seq(offset)))

    @rule(name=who, offset=seq_offset, reason=text)
    def decline(self, name: str, offset: int, reason: str) -> None:
        self.apply(self.actor(name), Decline(self.seq(offset), reason))

    @rule(name=who)
    def expire_approval(self, name: str) -> None:
        """The scheduler giving up on a remedy no lead decided on (refused unless one waits)."""
        self.apply(self.actor(name), ExpireApproval())

    @rule(name=who, offset=seq_offset)
    def agreed(self, name: str, offset: int) -> None:
        self.apply(self.actor(name), Agreed(self.seq(offset)))

    @rule(name=who, offset=seq_offset, note=text)
    def not_yet(self, name: str, offset: int, note: str) -> None:
        self.apply(self.actor(name), NotYet(self.seq(offset), note))

    @rule(name=who)
    def prompt_follow_up(self, name: str) -> None:
        self.apply(self.actor(name), PromptFollowUp())

    @rule(name=who, offset=seq_offset, csat=st.integers(-1, 12), buy_again=st.sampled_from(["yes", "no", "meh"]),
          note=text)
    def follow_up(self, name: str, offset: int, csat: int, buy_again: str, note: str) -> None:
        self.apply(self.actor(name), RecordFollowUp(self.seq(offset), csat, buy_again, note))

    @rule(name=who, offset=seq_offset, reason=text)
    def skip(self, name: str, offset: int, reason: str) -> None:
        self.apply(self.actor(name), Skip(self.seq(offset), reason))

    @rule(name=who, delta=st.sampled_from([timedelta(hours=-1), timedelta(0), timedelta(hours=1), timedelta(days=1)]))
    def snooze(self, name: str, delta: timedelta) -> None:
        self.apply(self.actor(name), Snooze(self.now + delta))

    @rule(name=who, offset=seq_offset)
    def need_help(self, name: str, offset: int) -> None:
        self.apply(self.actor(name), NeedHelp(self.seq(offset)))

    @rule(name=who, reason=st.sampled_from(["", "", "", " ", "duplicate"]))
    def cancel(self, name: str, reason: str) -> None:
        self.apply(self.actor(name), Cancel(reason))

    # -- the right move for the current step, so walks get deep --------------------

    @precondition(lambda self: self.state.is_open)
    @rule(lead=st.booleans(), big=st.booleans())
    def progress(self, lead: bool, big: bool) -> None:
        state, seq = self.state, self.state.step_seq
        actor = LEAD if lead else Actor(state.owner_id or "U2")
        match state.current_step:
            case StepKey.CLAIM:
                action: Action = Claim()
            case StepKey.ACKNOWLEDGE | StepKey.APOLOGIZE:
                action = CompleteStep(seq)
            case StepKey.FIX:
                action = RecordFix(seq, "delivery", "resent")
            case StepKey.MAKE_IT_RIGHT if state.approval == "pending":
                action = Approve(seq) if big else Decline(seq, "too much")
                actor = LEAD
            case StepKey.MAKE_IT_RIGHT:
                action = RecordRemedy(seq, "refund", Decimal(120) if big else Decimal(20))
            case StepKey.BUY_IN:
                action = Agreed(seq) if big or lead else NotYet(seq, "wants more")
            case StepKey.FOLLOW_UP:
                self.now = max(self.now, state.step_due_at)
                action = RecordFollowUp(seq, 8, "yes") if big else PromptFollowUp()
        self.apply(actor, action)

    # Rules are drawn evenly; two more doors to `progress` make deep walks common.
    @precondition(lambda self: self.state.is_open)
    @rule(lead=st.booleans(), big=st.booleans())
    def progress_more(self, lead: bool, big: bool) -> None:
        self.progress(lead, big)

    @precondition(lambda self: self.state.is_open)
    @rule(lead=st.booleans(), big=st.booleans())
    def progress_even_more(self, lead: bool, big: bool) -> None:
        self.progress(lead, big)


Recovery.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
TestRecoveryWalks = Recovery.TestCase

