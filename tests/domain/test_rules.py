"""The rule book: every intent, for the owner, a lead and a bystander, at every step, word for word."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.rules import RULES, Intent, may
from bot.domain.types import Actor, IncidentState, Status, StepKey

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SEQ = 5
ROLES = {"owner": Actor("U2"), "lead": Actor("ULEAD", is_lead=True), "bystander": Actor("U9")}
S = StepKey
OK = None

TITLES = {S.ACKNOWLEDGE: "Acknowledge and take ownership", S.APOLOGIZE: "Apologize", S.FIX: "Understand and fix",
          S.MAKE_IT_RIGHT: "Go above and beyond", S.BUY_IN: "Customer buy-in", S.FOLLOW_UP: "Follow up"}
NO_OWNER = "#4 has no owner yet: claim it first."
ANSWERED = {
    S.ACKNOWLEDGE: "Acknowledge and take ownership on #4 is done with its Done button; it has no form.",
    S.APOLOGIZE: "Apologize on #4 is done with its Done button; it has no form.",
    S.FIX: "Understand and fix on #4 needs its form: the root cause and what was fixed.",
    S.MAKE_IT_RIGHT: "Go above and beyond on #4 needs its form: the remedy and its amount.",
    S.BUY_IN: "Customer buy-in on #4 is answered with Agreed or Not yet.",
    S.FOLLOW_UP: "Follow up on #4 needs the customer's answers: use Record follow-up.",
}


def only(verb: str) -> str:
    return f"Only the owner of #4 or a lead can {verb}."


def wrong(current: StepKey, wanted: StepKey) -> str:
    return f"#4 is at {TITLES[current]}, not {TITLES[wanted]}; that answer does not fit this step."


def at(step: StepKey) -> IncidentState:
    """Unclaimed at the claim step; otherwise owned by U2 at ``step`` (seq 5), due an hour ago,
    with a remedy waiting for a lead at make_it_right."""
    state = IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=S.CLAIM, step_seq=0,
        step_started_at=T0, step_due_at=T0 + timedelta(minutes=10), created_at=T0, flagged_by="U1",
        summary="Package never arrived", origin_channel="C1", origin_ts="1.000", card_channel="C1",
    )
    if step is S.CLAIM:
        return state
    return replace(state, owner_id="U2", current_step=step, step_seq=SEQ, step_due_at=T0,
                   approval="pending" if step is S.MAKE_IT_RIGHT else None)


def _per_step(at_claim: str | None, fits: set[StepKey], elsewhere) -> dict[StepKey, str | None]:  # noqa: ANN001
    """A row of the table: OK at the steps it fits, ``elsewhere(step)`` at the others."""
    return {S.CLAIM: at_claim} | {step: OK if step in fits else elsewhere(step) for step in TITLES}


_SAME = "the same as at the other steps"


def _everywhere(sentence: str | None, at_claim: str | None = _SAME) -> dict[StepKey, str | None]:
    return {S.CLAIM: sentence if at_claim is _SAME else at_claim} | dict.fromkeys(TITLES, sentence)


def _answer(wanted: StepKey) -> dict[StepKey, str | None]:
    return _per_step(NO_OWNER, {wanted}, lambda step: wrong(step, wanted))


def _answered_at(wanted: StepKey, verb: str) -> dict[str, dict[StepKey, str | None]]:
    """An answer only ``wanted`` takes, from its owner or a lead."""
    return {"owner": _answer(wanted), "lead": _answer(wanted),
            "bystander": _everywhere(only(verb), at_claim=NO_OWNER)}


def _lead_decides(verb: str) -> dict[str, dict[StepKey, str | None]]:
    """Approve or Decline a remedy waiting at make_it_right: a lead's alone."""
    not_a_lead = _everywhere(f"Only a lead can {verb} a remedy over the limit.", at_claim=NO_OWNER)
    return {"owner": not_a_lead, "lead": _answer(S.MAKE_IT_RIGHT), "bystander": not_a_lead}


# intent -> role -> step -> the sentence (None: allowed)
TABLE: dict[Intent, dict[str, dict[StepKey, str | None]]] = {
    Intent.CLAIM: {
        "owner": _everywhere("You already own #4.", at_claim=OK),
        "lead": _everywhere("#4 is already owned by <@U2>.", at_claim=OK),
        "bystander": _everywhere("#4 is already owned by <@U2>.", at_claim=OK),
    },
    Intent.ASSIGN: {
        "owner": _everywhere(OK, at_claim=only("assign it")),  # nobody owns it yet: U2 is a bystander there
        "lead": _everywhere(OK),
        "bystander": _everywhere(only("assign it")),
    },
    Intent.COMPLETE: {
        "owner": _per_step(NO_OWNER, {S.ACKNOWLEDGE, S.APOLOGIZE}, ANSWERED.get),
        "lead": _per_step(NO_OWNER, {S.ACKNOWLEDGE, S.APOLOGIZE}, ANSWERED.get),
        "bystander": _everywhere(only("complete a step"), at_claim=NO_OWNER),
    },
    Intent.FORM: {
        "owner": _per_step(NO_OWNER, {S.FIX, S.MAKE_IT_RIGHT}, ANSWERED.get),
        "lead": _per_step(NO_OWNER, {S.FIX, S.MAKE_IT_RIGHT}, ANSWERED.get),
        "bystander": _everywhere(only("complete a step"), at_claim=NO_OWNER)
        | {S.FIX: only("record the fix"), S.MAKE_IT_RIGHT: only("record a remedy")},
    },
    Intent.RECORD_FIX: _answered_at(S.FIX, "record the fix"),
    Intent.RECORD_REMEDY: _answered_at(S.MAKE_IT_RIGHT, "record a remedy"),
    Intent.APPROVE: _lead_decides("approve"),
    Intent.DECLINE: _lead_decides("decline"),
    Intent.AGREED: _answered_at(S.BUY_IN, "record the customer's buy-in"),
    Intent.NOT_YET: _answered_at(S.BUY_IN, "record the customer's buy-in"),
    Intent.RECORD_FOLLOW_UP: _answered_at(S.FOLLOW_UP, "record the follow-up"),
    Intent.SKIP: {
        role: _everywhere(OK if role != "bystander" else only("skip a step"),
                          at_claim="The claim step on #4 cannot be skipped: claim it or assign it instead.")
        for role in ROLES
    },
    Intent.NEED_HELP: {
        "owner": _everywhere(OK, at_claim=NO_OWNER), "lead": _everywhere(OK, at_claim=NO_OWNER),
        "bystander": _everywhere(only("ask for help on it"), at_claim=NO_OWNER),
    },
    Intent.SNOOZE: {
        "owner": _everywhere(OK, at_claim=only("snooze it")), "lead": _everywhere(OK),
        "bystander": _everywhere(only("snooze it")),
    },
    Intent.CANCEL: {
        "owner": _everywhere(OK, at_claim=only("cancel it")), "lead": _everywhere(OK),
        "bystander": _everywhere(only("cancel it")),
    },
    Intent.PROMPT_FOLLOW_UP: {
        role: _per_step("#4 is not waiting for its follow-up.", {S.FOLLOW_UP},
                        lambda _: "#4 is not waiting for its follow-up.")
        for role in ROLES
    },
    Intent.EXPIRE_APPROVAL: {
        role: _per_step("There is no remedy waiting for approval on #4.", {S.MAKE_IT_RIGHT},
                        lambda _: "There is no remedy waiting for approval on #4.")
        for role in ROLES
    },
    Intent.EDIT: {  # the flagger (U1) may too: the refusal names them, and the owner once there is one
        "owner": _everywhere(OK, at_claim="Only <@U1> (who flagged it) or a lead can edit the details of #4."),
        "lead": _everywhere(OK),
        "bystander": _everywhere("Only <@U2> (its owner), <@U1> (who flagged it) or a lead can edit the details of #4.",
                                 at_claim="Only <@U1> (who flagged it) or a lead can edit the details of #4."),
    },
}


def test_the_table_covers_every_intent_role_and_step():
    assert set(TABLE) == set(Intent) == set(RULES)
    assert all(set(rows) == set(ROLES) and all(set(row) == set(StepKey) for row in rows.values())
               for rows in TABLE.values())


@pytest.mark.parametrize(("intent", "role", "step"), [
    (intent, role, step) for intent in Intent for role in ROLES for step in StepKey])
def test_who_may_do_what_at_which_step(intent, role, step):
    state = at(step)
    refusal = may(state, ROLES[role], intent, seq=state.step_seq, now=NOW, playbook=DEFAULT_PLAYBOOK)
    assert (refusal.reason if refusal else OK) == TABLE[intent][role][step]


@pytest.mark.parametrize("status", [Status.CLOSED, Status.CANCELLED])
@pytest.mark.parametrize("intent", list(Intent))
def test_nothing_moves_an_incident_that_is_over(intent, status):
    state = replace(at(S.FIX), status=status)
    refusal = may(state, ROLES["lead"], intent, seq=SEQ, now=NOW, playbook=DEFAULT_PLAYBOOK)
    assert refusal is not None and refusal.reason == f"Incident #4 is {status.value}; nothing more can change on it."


@pytest.mark.parametrize("intent", [intent for intent, rule in RULES.items() if rule.on_step])
def test_a_button_for_an_earlier_step_is_already_done_for_whoever_may_press_it(intent):
    state = at(next(iter(RULES[intent].steps or {S.FIX})))
    refusal = may(state, ROLES["lead"], intent, seq=SEQ - 1, now=NOW, playbook=DEFAULT_PLAYBOOK)
    assert refusal is not None and refusal.reason == "That step is already done."


def test_not_yours_is_said_before_a_stale_button_and_a_stale_button_before_the_wrong_step():
    state = at(S.APOLOGIZE)
    assert may(state, ROLES["bystander"], Intent.RECORD_FIX, seq=SEQ - 1, now=NOW,
               playbook=DEFAULT_PLAYBOOK).reason == only("record the fix")
    assert may(state, ROLES["owner"], Intent.RECORD_FIX, seq=SEQ - 1, now=NOW,
               playbook=DEFAULT_PLAYBOOK).reason == "That step is already done."


def test_approve_and_decline_need_a_remedy_waiting_for_a_lead():
    state = replace(at(S.MAKE_IT_RIGHT), approval=None)
    for intent in (Intent.APPROVE, Intent.DECLINE):
        assert may(state, ROLES["lead"], intent, seq=SEQ, now=NOW,
                   playbook=DEFAULT_PLAYBOOK).reason == "There is no remedy waiting for approval on #4."


@pytest.mark.parametrize("intent", [Intent.RECORD_FOLLOW_UP, Intent.PROMPT_FOLLOW_UP])
def test_the_follow_up_is_not_taken_before_it_is_due(intent):
    state = replace(at(S.FOLLOW_UP), step_due_at=NOW + timedelta(hours=2, minutes=30))
    refusal = may(state, ROLES["owner"], intent, seq=SEQ, now=NOW, playbook=DEFAULT_PLAYBOOK)
    assert refusal is not None
    due = int((NOW + timedelta(hours=2, minutes=30)).timestamp())
    assert refusal.reason == ("The follow-up on #4 is not due until "
                              f"<!date^{due}^{{date_short_pretty}} at {{time}}|Mon 06 May 12:30 UTC> (in 2h 30m).")
    assert may(state, ROLES["owner"], intent, seq=SEQ, now=NOW + timedelta(hours=2, minutes=30),
               playbook=DEFAULT_PLAYBOOK) is None, "due means from then on"


def test_a_lead_may_snooze_or_cancel_an_unclaimed_incident_but_not_act_on_its_steps():
    state = at(S.CLAIM)
    lead = ROLES["lead"]
    assert may(state, lead, Intent.SNOOZE, now=NOW, playbook=DEFAULT_PLAYBOOK) is None
    assert may(state, lead, Intent.CANCEL, now=NOW, playbook=DEFAULT_PLAYBOOK) is None
    assert may(state, lead, Intent.NEED_HELP, seq=0, now=NOW, playbook=DEFAULT_PLAYBOOK).reason == NO_OWNER
