"""The rule book: whether a person may take an action on an incident now, and if not, why.

The state machine (`recovery.decide`), the form openers (through `service.precheck`) and the
commands all ask `may`, so a refusal reads the same whether a button, a form or a command
was used. It looks only at the incident, the actor, the step the button was drawn for and
the clock; what an action carries (a reason, an amount) is checked by the step that takes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.text import slack_time
from bot.domain.types import Actor, IncidentState, Refusal, StepKey


class Intent(StrEnum):
    """What a person asks to do; a form opener asks before the form (and its fields) exist."""

    CLAIM = "claim"
    ASSIGN = "assign"
    COMPLETE = "complete"
    """Plain Done."""
    FORM = "form"
    """Done on a step answered by a form: the fix or the remedy, whichever step is current."""
    RECORD_FIX = "record_fix"
    RECORD_REMEDY = "record_remedy"
    APPROVE = "approve"
    DECLINE = "decline"
    AGREED = "agreed"
    NOT_YET = "not_yet"
    RECORD_FOLLOW_UP = "record_follow_up"
    SKIP = "skip"
    NEED_HELP = "need_help"
    SNOOZE = "snooze"
    CANCEL = "cancel"
    PROMPT_FOLLOW_UP = "prompt_follow_up"
    """The scheduler's, once the follow-up falls due."""
    EXPIRE_APPROVAL = "expire_approval"
    """The scheduler's, once no lead decided on a remedy in time."""
    EDIT = "edit"
    """Edit details: what the card says about the customer and the complaint."""


class Who(Enum):
    ANYONE = "anyone"
    OWNER_OR_LEAD = "owner or lead"
    LEAD = "lead"
    OWNER_FLAGGER_OR_LEAD = "owner, flagger or lead"
    """Who knows the customer: the owner, who flagged it (they saw the complaint), or a lead."""


STEP_ALREADY_DONE: Final = "That step is already done."
"""A button drawn for a step instance that is no longer current: a double click or a stale message."""
ONLY_A_LEAD_APPROVES: Final = "Only a lead can approve a remedy over the limit."
ONLY_A_LEAD_DECLINES: Final = "Only a lead can decline a remedy over the limit."
"""The two refusals when no lead is known to name."""
ONLY_NAMED_LEADS: Final = "Only {leads} can {verb} this; they have been asked."
"""A lead-only refusal while the remedy waits: whom to turn to, and that nothing more is needed."""
ONLY_NAMED_LEADS_AT_ALL: Final = "Only {leads} can {verb} a remedy over the limit."
NAMED_LEADS_SHOWN: Final = 5
"""A big lead group is named in part: the refusal is one line."""
NO_OWNER: Final = "{ref} has no owner yet: claim it first."
CLAIM_NOT_SKIPPABLE: Final = "The claim step on {ref} cannot be skipped: claim it or assign it instead."
NOT_YOURS: Final = "Only the owner of {ref} or a lead can {verb}."
WRONG_STEP: Final = "{ref} is at {current}, not {wanted}; that answer does not fit this step."
NO_PENDING_REMEDY: Final = "There is no remedy waiting for approval on {ref}."
NOT_DUE: Final = "The follow-up on {ref} is not due until {due} (in {wait})."
ONLY_EDITORS: Final = "Only {people} can {verb} {ref}."
"""Edit details refused: the people who may, named, so the person knows whom to ask."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the rule book.

    ``steps``: the steps it fits (None: any, the incident as a whole); ``on_step``: it is
    pressed on a step's message, so it needs an owner and must be for the current step
    instance; ``wrong_step``: what to say at a step it does not fit (the default names both
    steps; None says how the current step is answered); ``lead_only``: the sentence for
    anyone but a lead when no lead is known, else the leads are named and ``verb`` says what
    only they may do; ``unowned_only``: only while nobody owns the incident (Claim)."""

    who: Who
    verb: str = ""
    steps: frozenset[StepKey] | None = None
    on_step: bool = True
    wrong_step: str | None = WRONG_STEP
    lead_only: str = ""
    unclaimed: str = NO_OWNER
    needs_pending_remedy: bool = False
    needs_due: bool = False
    unowned_only: bool = False


_FORM_STEPS: Final = {StepKey.FIX: Intent.RECORD_FIX, StepKey.MAKE_IT_RIGHT: Intent.RECORD_REMEDY}
PLAIN_STEPS: Final = frozenset({StepKey.ACKNOWLEDGE, StepKey.APOLOGIZE})
"""Steps done with one press (Done): the others need a form, an answer or a lead."""
_ANSWERED: Final = {
    StepKey.ACKNOWLEDGE: "{current} on {ref} is done with its Done button; it has no form.",
    StepKey.APOLOGIZE: "{current} on {ref} is done with its Done button; it has no form.",
    StepKey.FIX: "{current} on {ref} needs its form: the root cause and what was fixed.",
    StepKey.MAKE_IT_RIGHT: "{current} on {ref} needs its form: the remedy and its amount.",
    StepKey.BUY_IN: "{current} on {ref} is answered with Agreed or Not yet.",
    StepKey.FOLLOW_UP: "{current} on {ref} needs the customer's answers: use Record follow-up.",
}
_ANY_STEP_BUT_CLAIM: Final = frozenset(StepKey) - {StepKey.CLAIM}

RULES: Final[dict[Intent, Rule]] = {
    Intent.CLAIM: Rule(Who.ANYONE, on_step=False, unowned_only=True),
    Intent.ASSIGN: Rule(Who.OWNER_OR_LEAD, "assign it", on_step=False),
    Intent.COMPLETE: Rule(Who.OWNER_OR_LEAD, "complete a step", PLAIN_STEPS, wrong_step=None),
    Intent.FORM: Rule(Who.OWNER_OR_LEAD, "complete a step", frozenset(_FORM_STEPS), wrong_step=None),
    Intent.RECORD_FIX: Rule(Who.OWNER_OR_LEAD, "record the fix", frozenset({StepKey.FIX})),
    Intent.RECORD_REMEDY: Rule(Who.OWNER_OR_LEAD, "record a remedy", frozenset({StepKey.MAKE_IT_RIGHT})),
    Intent.APPROVE: Rule(Who.LEAD, "approve", steps=frozenset({StepKey.MAKE_IT_RIGHT}),
                         lead_only=ONLY_A_LEAD_APPROVES, needs_pending_remedy=True),
    Intent.DECLINE: Rule(Who.LEAD, "decline", steps=frozenset({StepKey.MAKE_IT_RIGHT}),
                         lead_only=ONLY_A_LEAD_DECLINES, needs_pending_remedy=True),
    Intent.AGREED: Rule(Who.OWNER_OR_LEAD, "record the customer's buy-in", frozenset({StepKey.BUY_IN})),
    Intent.NOT_YET: Rule(Who.OWNER_OR_LEAD, "record the customer's buy-in", frozenset({StepKey.BUY_IN})),
    Intent.RECORD_FOLLOW_UP: Rule(Who.OWNER_OR_LEAD, "record the follow-up", frozenset({StepKey.FOLLOW_UP}),
                                  needs_due=True),
    Intent.SKIP: Rule(Who.OWNER_OR_LEAD, "skip a step", _ANY_STEP_BUT_CLAIM, unclaimed=CLAIM_NOT_SKIPPABLE),
    Intent.NEED_HELP: Rule(Who.OWNER_OR_LEAD, "ask for help on it", _ANY_STEP_BUT_CLAIM),
    Intent.SNOOZE: Rule(Who.OWNER_OR_LEAD, "snooze it", on_step=False),
    Intent.CANCEL: Rule(Who.OWNER_OR_LEAD, "cancel it", on_step=False),
    Intent.PROMPT_FOLLOW_UP: Rule(Who.ANYONE, steps=frozenset({StepKey.FOLLOW_UP}), on_step=False,
                                  wrong_step="{ref} is not waiting for its follow-up.", needs_due=True),
    Intent.EXPIRE_APPROVAL: Rule(Who.ANYONE, steps=frozenset({StepKey.MAKE_IT_RIGHT}), on_step=False,
                                 wrong_step=NO_PENDING_REMEDY, needs_pending_remedy=True),
    Intent.EDIT: Rule(Who.OWNER_FLAGGER_OR_LEAD, "edit the details of", on_step=False),
}


def may(state: IncidentState, actor: Actor, intent: Intent, *, seq: int | None = None, now: datetime,
        playbook: Playbook, leads: frozenset[str] = frozenset(), tz: ZoneInfo = ZoneInfo("UTC")) -> Refusal | None:
    """None if ``actor`` may do ``intent`` on ``state`` now, else the one sentence that says why not.

    ``seq`` is the step instance a button or form was drawn for; ``leads`` are named where only
    they may act (whether ``actor`` is one is the actor's own fact); ``tz`` is the team's zone,
    the fallback of a time named (Slack shows each reader their own). The checks come in the order
    a person would want to hear them: the incident is over, someone else has it, you are not
    the one who may, the button is stale, the step does not take this, it is not time yet."""
    ref = state.ref
    if not state.is_open:
        return Refusal(f"Incident {ref} is {state.status.value}; nothing more can change on it.")
    if intent is Intent.FORM:
        intent = _FORM_STEPS.get(state.current_step, intent)
    rule = RULES[intent]
    if rule.unowned_only:
        return _unowned(state, actor)
    if rule.on_step and (state.owner_id is None or state.current_step is StepKey.CLAIM):
        return Refusal(rule.unclaimed.format(ref=ref))
    if refusal := _who(rule, state, actor, leads):
        return refusal
    if rule.on_step and seq != state.step_seq:
        return Refusal(STEP_ALREADY_DONE)
    if rule.steps is not None and state.current_step not in rule.steps:
        return Refusal(_wrong_step(rule, state, playbook))
    if rule.needs_pending_remedy and state.approval != "pending":
        return Refusal(NO_PENDING_REMEDY.format(ref=ref))
    if rule.needs_due and state.step_due_at is not None and now < state.step_due_at:
        return Refusal(NOT_DUE.format(ref=ref, due=slack_time(state.step_due_at, tz),
                                      wait=format_duration(state.step_due_at - now)))
    return None


def _unowned(state: IncidentState, actor: Actor) -> Refusal | None:
    if state.owner_id == actor.user_id:
        return Refusal(f"You already own {state.ref}.")
    if state.owner_id is not None:
        return Refusal(f"{state.ref} is already owned by <@{state.owner_id}>.")
    return None


def _who(rule: Rule, state: IncidentState, actor: Actor, leads: frozenset[str]) -> Refusal | None:
    if rule.who is Who.LEAD and not actor.is_lead:
        if not leads:
            return Refusal(rule.lead_only)
        # The approval request went to the leads when the remedy was recorded.
        wording = ONLY_NAMED_LEADS if state.approval == "pending" else ONLY_NAMED_LEADS_AT_ALL
        return Refusal(wording.format(leads=named_leads(leads), verb=rule.verb))
    owns = state.owner_id is not None and actor.user_id == state.owner_id
    if rule.who is Who.OWNER_OR_LEAD and not (owns or actor.is_lead):
        return Refusal(NOT_YOURS.format(ref=state.ref, verb=rule.verb))
    if rule.who is Who.OWNER_FLAGGER_OR_LEAD and not (owns or actor.user_id == state.flagged_by or actor.is_lead):
        return Refusal(ONLY_EDITORS.format(people=_editors(state, leads), verb=rule.verb, ref=state.ref))
    return None


def _editors(state: IncidentState, leads: frozenset[str]) -> str:
    """`<@U2> (its owner), <@U1> (who flagged it) or <@U9> (a lead)`: each person named once,
    with why they may."""
    people: dict[str, list[str]] = {}
    if state.owner_id is not None:
        people.setdefault(state.owner_id, []).append("its owner")
    people.setdefault(state.flagged_by, []).append("who flagged it")
    for user in leads & people.keys():
        people[user].append("a lead")
    named = [f"<@{user}> ({', '.join(roles)})" for user, roles in people.items()]
    others = leads - people.keys()
    if len(others) == 1:
        named.append(f"{named_leads(others)} (a lead)")
    elif others:
        named.append(named_leads(others))
    elif not leads:
        named.append("a lead")
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]


def named_leads(leads: frozenset[str]) -> str:
    """`<@U1>` for one lead, `a lead (<@U1>, <@U2>)` for several, the first few of a big group
    (`… and 7 more`). Mentions: a refusal is shown to one person, and they see who to ask."""
    shown = [f"<@{user}>" for user in sorted(leads)[:NAMED_LEADS_SHOWN]]
    if len(leads) == 1:
        return shown[0]
    more = len(leads) - len(shown)
    return f"a lead ({', '.join(shown)}{f' and {more} more' if more else ''})"


def _wrong_step(rule: Rule, state: IncidentState, playbook: Playbook) -> str:
    current = playbook.step(state.current_step).title
    if rule.wrong_step is None:
        return _ANSWERED[state.current_step].format(current=current, ref=state.ref)
    wanted = " or ".join(step.title for step in playbook.steps if step.key in (rule.steps or ()))
    return rule.wrong_step.format(ref=state.ref, current=current, wanted=wanted)
