"""The recovery state machine, one transition and one refusal at a time."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.recovery import (
    ONLY_A_LEAD_APPROVES, ONLY_A_LEAD_DECLINES, REMEDY_KINDS, STEP_ALREADY_DONE, Agreed, Approve, Assign, Cancel,
    Claim, CompleteStep, Decline, ExpireApproval, NeedHelp, NotYet, Policy, PromptFollowUp, RecordFix,
    RecordFollowUp,
    RecordRemedy, Skip, Snooze, decide,
)
from bot.domain.types import (
    Actor, Decision, Event, EventKind, IncidentState, Refusal, Status, StepKey,
)

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
OWNER = Actor("U2")
LEAD = Actor("ULEAD", is_lead=True)
BYSTANDER = Actor("U9")
SYSTEM = Actor("system")
SEQ = 5


def unclaimed(**changes: object) -> IncidentState:
    state = IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.CLAIM, step_seq=0,
        step_started_at=T0, step_due_at=T0 + timedelta(minutes=10), created_at=T0, flagged_by="U1",
        summary="Package never arrived", origin_channel="C1", origin_ts="1.000", card_channel="C1",
    )
    return replace(state, **changes)


def at(step: StepKey, **changes: object) -> IncidentState:
    """An incident owned by U2 whose current step is ``step``, started at T0."""
    sla = DEFAULT_PLAYBOOK.step(step).sla
    base = dict(owner_id="U2", claimed_at=T0, current_step=step, step_seq=SEQ, step_started_at=T0,
                step_due_at=T0 + sla)
    return unclaimed(**(base | changes))


def act(state: IncidentState, actor: Actor, action: object, *, now: datetime = NOW,
        policy: Policy = Policy()) -> Decision | Refusal:
    return decide(state, actor, action, now=now, playbook=DEFAULT_PLAYBOOK, policy=policy)


def ok(state: IncidentState, actor: Actor, action: object, **kwargs: object) -> Decision:
    decision = act(state, actor, action, **kwargs)
    assert isinstance(decision, Decision), decision
    return decision


def refused(state: IncidentState, actor: Actor, action: object, **kwargs: object) -> str:
    decision = act(state, actor, action, **kwargs)
    assert isinstance(decision, Refusal), decision
    assert decision.reason and "\n" not in decision.reason
    return decision.reason


def kinds(decision: Decision) -> list[EventKind]:
    return [event.kind for event in decision.events]


def assert_moved_to(decision: Decision, step: StepKey, *, result: str = "done", by: str = "U2") -> None:
    """The previous step (seq SEQ) ended with ``result`` and ``step`` is a fresh current step."""
    state = decision.state
    assert decision.new_step
    assert state.current_step is step
    assert state.step_seq == SEQ + 1
    assert state.step_started_at == NOW
    assert state.snoozed_until is None
    assert decision.ended_step is not None
    assert decision.ended_step.seq == SEQ
    assert decision.ended_step.result == result
    assert decision.ended_step.by == by
    assert decision.ended_step.at == NOW


# --- claim and assign (kept from the first slice) ----------------------------


def test_claim_makes_the_clicker_owner_and_starts_acknowledge():
    decision = ok(unclaimed(), BYSTANDER, Claim())
    assert decision.state.owner_id == "U9"
    assert decision.state.current_step is StepKey.ACKNOWLEDGE
    assert decision.state.step_seq == 1
    assert decision.state.step_due_at == NOW + timedelta(minutes=15)
    assert decision.ended_step.step is StepKey.CLAIM and decision.new_step
    assert decision.posts_prompt
    assert decision.events == (Event(EventKind.CLAIMED, NOW, "U9", owner_after="U9"),)


def test_second_claim_is_told_who_owns_it():
    assert refused(at(StepKey.ACKNOWLEDGE), Actor("U3"), Claim()) == "#4 is already owned by <@U2>."


def test_bystander_cannot_reassign():
    assert refused(at(StepKey.FIX), BYSTANDER, Assign("U3")) == "Only the owner of #4 or a lead can assign it."


def test_lead_reassigns_without_touching_the_step():
    decision = ok(at(StepKey.FIX), LEAD, Assign("U3"))
    assert decision.state.owner_id == "U3"
    assert decision.state.step_seq == SEQ and not decision.new_step
    assert decision.events == (Event(EventKind.ASSIGNED, NOW, "ULEAD", owner_before="U2", owner_after="U3"),)


def test_a_hand_over_gives_the_new_owner_the_steps_whole_time():
    decision = ok(at(StepKey.FIX), LEAD, Assign("U3"))
    assert decision.handed_over
    assert (decision.state.step_started_at, decision.state.step_due_at) == (NOW, NOW + timedelta(hours=4))


@pytest.mark.parametrize("state", [
    at(StepKey.FOLLOW_UP, step_due_at=T0 + timedelta(days=3)),
    at(StepKey.MAKE_IT_RIGHT, remedy_kind="refund", remedy_amount=Decimal(120), approval="pending"),
], ids=["follow-up date agreed with the customer", "remedy waiting on the leads' clock"])
def test_a_hand_over_keeps_a_date_that_is_not_the_owners(state):
    decision = ok(state, LEAD, Assign("U3"))
    assert (decision.state.step_started_at, decision.state.step_due_at) == (state.step_started_at, state.step_due_at)


# --- plain Done ---------------------------------------------------------------


@pytest.mark.parametrize(("step", "following"), [
    (StepKey.ACKNOWLEDGE, StepKey.APOLOGIZE),
    (StepKey.APOLOGIZE, StepKey.FIX),
])
def test_done_completes_the_step_and_starts_the_next(step, following):
    decision = ok(at(step), OWNER, CompleteStep(SEQ))
    assert_moved_to(decision, following)
    assert decision.state.step_due_at == NOW + DEFAULT_PLAYBOOK.step(following).sla
    assert kinds(decision) == [EventKind.STEP_DONE]
    assert decision.events == (Event(EventKind.STEP_DONE, NOW, "U2", step=step),)
    assert decision.prompt_now and decision.posts_prompt


def test_done_clears_a_snooze():
    decision = ok(at(StepKey.APOLOGIZE, snoozed_until=NOW + timedelta(hours=3)), OWNER, CompleteStep(SEQ))
    assert decision.state.snoozed_until is None


def test_a_lead_can_complete_someone_elses_step():
    decision = ok(at(StepKey.ACKNOWLEDGE), LEAD, CompleteStep(SEQ))
    assert_moved_to(decision, StepKey.APOLOGIZE, by="ULEAD")


def test_second_click_on_a_done_step_changes_nothing():
    first = ok(at(StepKey.ACKNOWLEDGE), OWNER, CompleteStep(SEQ))
    assert refused(first.state, OWNER, CompleteStep(SEQ)) == STEP_ALREADY_DONE


def test_a_stale_skip_button_is_already_done():
    assert refused(at(StepKey.APOLOGIZE), OWNER, Skip(SEQ - 1, "unreachable")) == STEP_ALREADY_DONE


@pytest.mark.parametrize(("step", "says"), [
    (StepKey.FIX, "needs its form"),
    (StepKey.MAKE_IT_RIGHT, "needs its form"),
    (StepKey.BUY_IN, "Agreed or Not yet"),
    (StepKey.FOLLOW_UP, "Record follow-up"),
])
def test_plain_done_on_a_step_with_a_form_points_to_the_form(step, says):
    reason = refused(at(step), OWNER, CompleteStep(SEQ))
    assert says in reason and "#4" in reason


def test_bystander_cannot_complete_a_step():
    assert refused(at(StepKey.ACKNOWLEDGE), BYSTANDER, CompleteStep(SEQ)) == \
        "Only the owner of #4 or a lead can complete a step."


def test_step_actions_on_an_unclaimed_incident_ask_for_a_claim_first():
    for action in (CompleteStep(0), NeedHelp(0), RecordFix(0, "delivery", "x"), Approve(0)):
        assert refused(unclaimed(), LEAD, action) == "#4 has no owner yet: claim it first."


def test_the_claim_step_cannot_be_skipped():
    assert refused(unclaimed(), LEAD, Skip(0, "whatever")) == \
        "The claim step on #4 cannot be skipped: claim it or assign it instead."


def test_an_answer_for_another_step_is_refused():
    reason = refused(at(StepKey.APOLOGIZE), OWNER, RecordFix(SEQ, "delivery", "resent"))
    assert "Apologize" in reason and "Understand and fix" in reason


# --- fix ----------------------------------------------------------------------


def test_fix_records_root_cause_and_note_and_moves_on():
    decision = ok(at(StepKey.FIX), OWNER, RecordFix(SEQ, "Delivery ", "  resent the parcel "))
    assert_moved_to(decision, StepKey.MAKE_IT_RIGHT)
    assert decision.state.root_cause == "delivery"
    assert decision.state.fix_note == "resent the parcel"
    assert decision.ended_step.note == "delivery: resent the parcel"
    assert decision.events == (Event(EventKind.STEP_DONE, NOW, "U2", step=StepKey.FIX, root_cause="delivery",
                                     note="resent the parcel"),)


def test_fix_with_an_unknown_root_cause_lists_the_choices():
    reason = refused(at(StepKey.FIX), OWNER, RecordFix(SEQ, "gremlins", "resent"))
    assert "delivery" in reason and "billing" in reason


def test_fix_without_a_note_is_refused():
    assert "cannot be empty" in refused(at(StepKey.FIX), OWNER, RecordFix(SEQ, "delivery", "   "))


def test_bystander_cannot_record_the_fix():
    assert refused(at(StepKey.FIX), BYSTANDER, RecordFix(SEQ, "delivery", "x")) == \
        "Only the owner of #4 or a lead can record the fix."


# --- make it right ------------------------------------------------------------


def test_remedy_under_the_limit_needs_no_approval():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, "refund", Decimal("20"), "shipping"))
    assert_moved_to(decision, StepKey.BUY_IN)
    assert decision.state.remedy_kind == "refund"
    assert decision.state.remedy_amount == Decimal("20")
    assert decision.state.approval is None
    assert not decision.approval_requested
    assert decision.events == (Event(EventKind.STEP_DONE, NOW, "U2", step=StepKey.MAKE_IT_RIGHT,
                                     remedy_kind="refund", amount=Decimal(20), note="shipping"),)
    assert decision.ended_step.note == "refund $ 20 (shipping)"


def test_remedy_exactly_at_the_limit_needs_no_approval():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, "discount", Decimal("50")))
    assert decision.state.current_step is StepKey.BUY_IN and decision.state.approval is None


def test_remedy_over_the_limit_waits_for_a_lead():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, "refund", Decimal("120")))
    assert decision.approval_requested
    assert decision.state.approval == "pending"
    assert decision.state.remedy_amount == Decimal("120")
    assert decision.state.current_step is StepKey.MAKE_IT_RIGHT and decision.state.step_seq == SEQ
    assert not decision.new_step and decision.ended_step is None
    assert kinds(decision) == [EventKind.APPROVAL_REQUESTED]
    assert decision.events[0] == Event(EventKind.APPROVAL_REQUESTED, NOW, "U2", remedy_kind="refund",
                                       amount=Decimal(120), limit=Decimal(50))


def test_the_limit_comes_from_the_policy():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, "refund", Decimal("120")),
                  policy=Policy(empowerment_limit=Decimal(200)))
    assert decision.state.current_step is StepKey.BUY_IN


def test_a_leads_own_remedy_over_the_limit_is_approved_at_once():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), LEAD, RecordRemedy(SEQ, "refund", Decimal("120")))
    assert_moved_to(decision, StepKey.BUY_IN, by="ULEAD")
    assert decision.state.approval == "approved"
    assert not decision.approval_requested
    assert EventKind.REMEDY_APPROVED in kinds(decision)


def test_recording_again_while_waiting_replaces_the_request():
    waiting = at(StepKey.MAKE_IT_RIGHT, remedy_kind="refund", remedy_amount=Decimal(120), approval="pending")
    again = ok(waiting, OWNER, RecordRemedy(SEQ, "upgrade", Decimal("80")))
    assert again.state.approval == "pending" and again.state.remedy_kind == "upgrade"
    assert again.approval_requested
    lower = ok(waiting, OWNER, RecordRemedy(SEQ, "gift", Decimal("30")))
    assert lower.state.approval is None and lower.state.current_step is StepKey.BUY_IN


@pytest.mark.parametrize(("kind", "amount", "says"), [
    ("voucher", Decimal(10), "Pick a remedy kind"),
    ("refund", Decimal(-1), "0 or more"),
    ("refund", Decimal("NaN"), "0 or more"),
    ("refund", Decimal("Infinity"), "0 or more"),
    ("refund", "12", "0 or more"),
    ("refund", Decimal("1.234"), "2 decimals"),
    ("refund", Decimal("1e11"), "too large"),
    ("none", Decimal(5), "must be 0"),
])
def test_a_bad_remedy_is_refused(kind, amount, says):
    assert says in refused(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, kind, amount))


def test_every_remedy_kind_is_accepted():
    for kind in REMEDY_KINDS:
        amount = Decimal(0) if kind == "none" else Decimal(10)
        assert ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, kind, amount)).state.remedy_kind == kind


def _waiting() -> IncidentState:
    return at(StepKey.MAKE_IT_RIGHT, remedy_kind="refund", remedy_amount=Decimal(120), approval="pending")


def test_asking_a_lead_gives_the_leads_the_steps_time_from_now():
    decision = ok(at(StepKey.MAKE_IT_RIGHT), OWNER, RecordRemedy(SEQ, "refund", Decimal(120), "VIP"))
    assert decision.approval_requested and decision.state.step_due_at == NOW + timedelta(hours=24)
    assert decision.events[0].note == "VIP" and decision.events[0].limit == Decimal(50)


def test_an_approval_nobody_decided_expires_back_to_the_owner():
    decision = ok(_waiting(), SYSTEM, ExpireApproval())
    assert_moved_to(decision, StepKey.MAKE_IT_RIGHT, result="expired")
    assert decision.state.approval is None and decision.state.remedy_kind == "refund"
    assert decision.events == (Event(EventKind.APPROVAL_EXPIRED, NOW, None, remedy_kind="refund",
                                     amount=Decimal(120)),)
    assert decision.notices == ("⌛ <@U2>, no lead decided on refund $ 120 for #4 in time, so the request expired. "
                                "Offer something within $ 50, or record it again to ask the leads again.",)


def test_nothing_expires_when_no_remedy_waits():
    assert refused(at(StepKey.MAKE_IT_RIGHT), SYSTEM, ExpireApproval()) == \
        "There is no remedy waiting for approval on #4."


def test_lead_approves_a_waiting_remedy_and_buy_in_starts():
    decision = ok(_waiting(), LEAD, Approve(SEQ))
    # The step is on record as the owner's, the approval as the lead's.
    assert_moved_to(decision, StepKey.BUY_IN, by="U2")
    assert decision.ended_step.approved_by == "ULEAD"
    assert decision.state.approval == "approved"
    assert kinds(decision) == [EventKind.REMEDY_APPROVED]
    assert decision.events[0] == Event(EventKind.REMEDY_APPROVED, NOW, "ULEAD", remedy_kind="refund",
                                       amount=Decimal(120))


def test_the_owner_cannot_approve_their_own_remedy():
    assert refused(_waiting(), OWNER, Approve(SEQ)) == ONLY_A_LEAD_APPROVES
    assert refused(_waiting(), BYSTANDER, Approve(SEQ)) == ONLY_A_LEAD_APPROVES


def test_approving_twice_is_already_done():
    first = ok(_waiting(), LEAD, Approve(SEQ))
    assert refused(first.state, LEAD, Approve(SEQ)) == STEP_ALREADY_DONE


def test_nothing_to_approve_without_a_waiting_remedy():
    assert "no remedy waiting" in refused(at(StepKey.MAKE_IT_RIGHT), LEAD, Approve(SEQ))
    assert "no remedy waiting" in refused(at(StepKey.MAKE_IT_RIGHT), LEAD, Decline(SEQ, "no"))


def test_lead_declines_and_the_owner_offers_again_on_a_fresh_step():
    decision = ok(_waiting(), LEAD, Decline(SEQ, "too much for a late parcel"))
    assert_moved_to(decision, StepKey.MAKE_IT_RIGHT, result="declined", by="ULEAD")
    assert decision.state.step_due_at == NOW + timedelta(hours=24)
    assert decision.state.approval == "declined"
    assert decision.state.approval_note == "too much for a late parcel"
    assert decision.ended_step.note == "too much for a late parcel"
    assert kinds(decision) == [EventKind.REMEDY_DECLINED]
    assert decision.events[0] == Event(EventKind.REMEDY_DECLINED, NOW, "ULEAD", remedy_kind="refund",
                                       amount=Decimal(120), reason="too much for a late parcel")
    assert any(notice.startswith("<@U2>") for notice in decision.notices)


def test_decline_needs_a_reason_and_a_lead():
    assert "Say why" in refused(_waiting(), LEAD, Decline(SEQ, " "))
    assert refused(_waiting(), OWNER, Decline(SEQ, "no")) == ONLY_A_LEAD_DECLINES


def test_a_new_remedy_after_a_decline_forgets_the_decline_note():
    declined = ok(_waiting(), LEAD, Decline(SEQ, "too much")).state
    again = ok(declined, OWNER, RecordRemedy(SEQ + 1, "gift", Decimal(20)))
    assert again.state.approval is None and again.state.approval_note is None


# --- buy-in and follow-up -----------------------------------------------------


def test_agreed_schedules_the_follow_up_without_prompting_now():
    decision = ok(at(StepKey.BUY_IN), OWNER, Agreed(SEQ))
    assert_moved_to(decision, StepKey.FOLLOW_UP)
    assert decision.state.buy_in_at == NOW
    assert decision.state.step_due_at == NOW + timedelta(days=3)
    assert decision.follow_up_due_at == NOW + timedelta(days=3)
    assert not decision.prompt_now and not decision.posts_prompt
    assert kinds(decision) == [EventKind.BUY_IN_AGREED]


def test_the_follow_up_delay_comes_from_the_policy():
    decision = ok(at(StepKey.BUY_IN), OWNER, Agreed(SEQ), policy=Policy(follow_up_after=timedelta(hours=5)))
    assert decision.follow_up_due_at == NOW + timedelta(hours=5)


def test_not_yet_goes_back_to_make_it_right():
    decision = ok(at(StepKey.BUY_IN, approval="approved"), OWNER, NotYet(SEQ, "wants a replacement"))
    assert_moved_to(decision, StepKey.MAKE_IT_RIGHT, result="not_yet")
    assert decision.state.approval is None
    assert decision.ended_step.note == "wants a replacement"
    assert kinds(decision) == [EventKind.BUY_IN_NOT_YET]
    assert decision.events[0] == Event(EventKind.BUY_IN_NOT_YET, NOW, "U2", reason="wants a replacement")


def test_bystander_cannot_record_buy_in():
    assert refused(at(StepKey.BUY_IN), BYSTANDER, Agreed(SEQ)) == \
        "Only the owner of #4 or a lead can record the customer's buy-in."


def _follow_up(due: datetime = NOW) -> IncidentState:
    return at(StepKey.FOLLOW_UP, step_started_at=T0, step_due_at=due, buy_in_at=T0)


def test_the_scheduler_prompts_the_follow_up_once_it_is_due():
    state = _follow_up(due=NOW)
    decision = ok(state, SYSTEM, PromptFollowUp())
    assert decision.state == state
    assert decision.events == (Event(EventKind.FOLLOW_UP_PROMPTED, NOW, None, owner="U2"),)
    assert decision.prompt_now and not decision.new_step and decision.posts_prompt


def test_the_follow_up_is_not_prompted_early():
    assert "not due until <!date^1714996800^{date_short_pretty} at {time}|Mon 06 May 12:00 UTC> (in 2h)" in refused(
        _follow_up(due=NOW + timedelta(hours=2)), SYSTEM, PromptFollowUp())


def test_only_the_follow_up_step_can_be_prompted():
    assert "not waiting for its follow-up" in refused(at(StepKey.BUY_IN), SYSTEM, PromptFollowUp())


def test_recording_the_follow_up_closes_the_incident():
    decision = ok(_follow_up(), OWNER, RecordFollowUp(SEQ, 9, "Yes", "happy again"))
    state = decision.state
    assert state.status is Status.CLOSED and not state.is_open
    assert state.closed_at == NOW and state.step_due_at is None
    assert (state.csat, state.buy_again, state.follow_up_note) == (9, "yes", "happy again")
    assert decision.events == (
        Event(EventKind.FOLLOW_UP_RECORDED, NOW, "U2", csat=9, buy_again="yes", note="happy again"),
        Event(EventKind.CLOSED, NOW, "U2"))
    assert decision.ended_step.result == "done" and decision.ended_step.step is StepKey.FOLLOW_UP
    assert not decision.new_step and state.step_seq == SEQ


def test_the_follow_up_cannot_be_recorded_before_it_is_due():
    reason = refused(_follow_up(due=NOW + timedelta(days=1)), OWNER, RecordFollowUp(SEQ, 9, "yes"))
    assert reason.startswith("The follow-up on #4 is not due until")


@pytest.mark.parametrize(("csat", "buy_again", "says"), [
    (0, "yes", "1 to 10"), (11, "yes", "1 to 10"), (True, "yes", "1 to 10"), (7.5, "yes", "1 to 10"),
    (5, "perhaps", "yes, maybe or no"),
])
def test_a_bad_follow_up_is_refused(csat, buy_again, says):
    assert says in refused(_follow_up(), OWNER, RecordFollowUp(SEQ, csat, buy_again))


# --- skip, snooze, need help, cancel -------------------------------------------


def test_skip_records_the_reason_and_moves_on():
    decision = ok(at(StepKey.APOLOGIZE), OWNER, Skip(SEQ, "customer unreachable"))
    assert_moved_to(decision, StepKey.FIX, result="skipped")
    assert decision.ended_step.note == "customer unreachable"
    assert kinds(decision) == [EventKind.STEP_SKIPPED]
    assert decision.events[0] == Event(EventKind.STEP_SKIPPED, NOW, "U2", step=StepKey.APOLOGIZE,
                                       reason="customer unreachable")


def test_skip_needs_a_reason():
    assert "reason is required" in refused(at(StepKey.APOLOGIZE), OWNER, Skip(SEQ, "  "))


def test_bystander_cannot_skip_a_step():
    assert refused(at(StepKey.APOLOGIZE), BYSTANDER, Skip(SEQ, "x")) == \
        "Only the owner of #4 or a lead can skip a step."


def test_skipping_buy_in_still_schedules_the_follow_up():
    decision = ok(at(StepKey.BUY_IN), OWNER, Skip(SEQ, "customer went quiet"))
    assert_moved_to(decision, StepKey.FOLLOW_UP, result="skipped")
    assert decision.follow_up_due_at == NOW + timedelta(days=3) and not decision.prompt_now
    assert decision.state.buy_in_at is None


def test_skipping_the_follow_up_closes_the_incident():
    decision = ok(_follow_up(due=NOW + timedelta(days=2)), LEAD, Skip(SEQ, "customer asked not to be called"))
    assert decision.state.status is Status.CLOSED and decision.state.step_due_at is None
    assert kinds(decision) == [EventKind.STEP_SKIPPED, EventKind.CLOSED]


def test_skipping_make_it_right_drops_a_waiting_remedy():
    decision = ok(_waiting(), OWNER, Skip(SEQ, "customer declined any gesture"))
    assert decision.state.approval is None
    assert decision.state.remedy_kind is None and decision.state.remedy_amount is None
    assert decision.state.current_step is StepKey.BUY_IN


def test_snooze_pauses_nudges_without_moving_the_step():
    state = at(StepKey.FIX)
    decision = ok(state, OWNER, Snooze(NOW + timedelta(hours=4)))
    assert decision.state == replace(state, snoozed_until=NOW + timedelta(hours=4))
    assert kinds(decision) == [EventKind.SNOOZED] and not decision.new_step
    assert decision.events[0] == Event(EventKind.SNOOZED, NOW, "U2", until=NOW + timedelta(hours=4))


def test_snooze_into_the_past_is_refused():
    assert "after now" in refused(at(StepKey.FIX), OWNER, Snooze(NOW))


def test_bystander_cannot_snooze():
    assert refused(at(StepKey.FIX), BYSTANDER, Snooze(NOW + timedelta(hours=1))) == \
        "Only the owner of #4 or a lead can snooze it."


def test_a_lead_can_snooze_an_unclaimed_incident():
    assert ok(unclaimed(), LEAD, Snooze(NOW + timedelta(hours=1))).state.snoozed_until is not None


def test_need_help_escalates_now_and_changes_nothing_else():
    state = at(StepKey.FIX)
    decision = ok(state, OWNER, NeedHelp(SEQ))
    assert decision.escalate_now and decision.state == state
    assert kinds(decision) == [EventKind.HELP_REQUESTED]
    assert decision.events[0] == Event(EventKind.HELP_REQUESTED, NOW, "U2", step=StepKey.FIX)


def test_bystander_cannot_ask_for_help_on_someone_elses_incident():
    assert refused(at(StepKey.FIX), BYSTANDER, NeedHelp(SEQ)) == \
        "Only the owner of #4 or a lead can ask for help on it."


def test_cancel_ends_the_incident_with_its_reason():
    decision = ok(at(StepKey.FIX, snoozed_until=NOW + timedelta(hours=1)), OWNER, Cancel(" duplicate of #3 "))
    state = decision.state
    assert state.status is Status.CANCELLED and state.cancel_reason == "duplicate of #3"
    assert state.closed_at == NOW and state.step_due_at is None
    assert kinds(decision) == [EventKind.CANCELLED]
    assert decision.events[0] == Event(EventKind.CANCELLED, NOW, "U2", reason="duplicate of #3")


def test_cancel_needs_a_reason_and_the_owner_or_a_lead():
    assert "reason is required" in refused(at(StepKey.FIX), OWNER, Cancel(""))
    assert refused(at(StepKey.FIX), BYSTANDER, Cancel("spam")) == "Only the owner of #4 or a lead can cancel it."


def test_a_lead_can_cancel_an_unclaimed_incident():
    assert ok(unclaimed(), LEAD, Cancel("not a complaint")).state.status is Status.CANCELLED


@pytest.mark.parametrize("status", [Status.CLOSED, Status.CANCELLED])
def test_a_finished_incident_refuses_everything(status):
    state = at(StepKey.FOLLOW_UP, status=status, step_due_at=None)
    for actor in (OWNER, LEAD, BYSTANDER, SYSTEM):
        for action in (Claim(), Assign("U3"), CompleteStep(SEQ), Skip(SEQ, "x"), Snooze(NOW + timedelta(hours=1)),
                       Cancel("x"), PromptFollowUp(), RecordFollowUp(SEQ, 9, "yes"), NeedHelp(SEQ)):
            assert refused(state, actor, action) == f"Incident #4 is {status.value}; nothing more can change on it."


# --- text safety --------------------------------------------------------------


def test_typed_text_is_kept_as_typed_for_the_views_to_escape():
    decision = ok(at(StepKey.APOLOGIZE), OWNER, Skip(SEQ, "<!channel> & co"))
    assert decision.events[0].reason == "<!channel> & co"
    assert decision.ended_step.note == "<!channel> & co", "views escape the note themselves"


# --- the whole playbook --------------------------------------------------------


def test_a_whole_recovery_from_claim_to_close():
    now = T0
    state = unclaimed()
    script = [
        (OWNER, lambda s: Claim()),
        (OWNER, lambda s: CompleteStep(s.step_seq)),
        (OWNER, lambda s: CompleteStep(s.step_seq)),
        (OWNER, lambda s: RecordFix(s.step_seq, "billing", "reversed the double charge")),
        (OWNER, lambda s: RecordRemedy(s.step_seq, "refund", Decimal(80))),
        (LEAD, lambda s: Decline(s.step_seq, "a voucher will do")),
        (OWNER, lambda s: RecordRemedy(s.step_seq, "discount", Decimal(25))),
        (OWNER, lambda s: NotYet(s.step_seq, "wants more")),
        (OWNER, lambda s: RecordRemedy(s.step_seq, "upgrade", Decimal(70))),
        (LEAD, lambda s: Approve(s.step_seq)),
        (OWNER, lambda s: Agreed(s.step_seq)),
    ]
    ended = []
    for actor, make in script:
        now += timedelta(minutes=5)
        decision = decide(state, actor, make(state), now=now, playbook=DEFAULT_PLAYBOOK)
        assert isinstance(decision, Decision), decision
        if decision.ended_step:
            ended.append((decision.ended_step.step, decision.ended_step.result))
        state = decision.state
    assert state.current_step is StepKey.FOLLOW_UP
    now = state.step_due_at
    assert isinstance(decide(state, SYSTEM, PromptFollowUp(), now=now, playbook=DEFAULT_PLAYBOOK), Decision)
    final = decide(state, OWNER, RecordFollowUp(state.step_seq, 10, "yes"), now=now, playbook=DEFAULT_PLAYBOOK)
    assert isinstance(final, Decision) and final.state.status is Status.CLOSED
    ended.append((final.ended_step.step, final.ended_step.result))
    assert ended == [
        (StepKey.CLAIM, "done"), (StepKey.ACKNOWLEDGE, "done"), (StepKey.APOLOGIZE, "done"), (StepKey.FIX, "done"),
        (StepKey.MAKE_IT_RIGHT, "declined"), (StepKey.MAKE_IT_RIGHT, "done"), (StepKey.BUY_IN, "not_yet"),
        (StepKey.MAKE_IT_RIGHT, "done"), (StepKey.BUY_IN, "done"), (StepKey.FOLLOW_UP, "done"),
    ]
    assert final.state.step_seq == 9
