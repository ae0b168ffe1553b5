"""What a person's Home shows, in which order, and how much of it: pure.

A Home is read at a glance, top to bottom, so each section leads with what is most urgent
and stops at a fixed number of items (`MINE`, `UNCLAIMED`...) with a count of the rest: whatever the numbers,
the view stays within Slack's 100 blocks (`bot.views.home` spends them; `MAX_BLOCKS` is
checked against the caps in the tests). The week's figures are the same for a person and for
the team (`WeekFigures`), so one line draws both.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from bot.domain.card_status import lateness
from bot.domain.digest import median
from bot.domain.playbook import Playbook
from bot.domain.stats import StatsTotals
from bot.domain.timing import deadline, is_snoozed
from bot.domain.types import IncidentState, Policy

MY_CHANNELS_DAYS: Final = 90
"""A person's channels: where the cards are of the incidents they flagged or owned lately."""
WEEK_DAYS: Final = 7

MINE: Final = 10
UNCLAIMED: Final = 10
APPROVALS: Final = 5
ESCALATED: Final = 5
OVERDUE_OWNERS: Final = 5
"""Owners shown under Overdue by owner, each with up to `OVERDUE_PER_OWNER` incidents."""
OVERDUE_PER_OWNER: Final = 5

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Capped(Generic[T]):
    """The first items of a section, most urgent first, and how many more there are."""

    shown: tuple[T, ...]
    more: int = 0


def capped(items: Sequence[T], cap: int, *, total: int | None = None) -> Capped[T]:
    """``total``: how many there are when ``items`` is only the first ones the query read."""
    count = len(items) if total is None else max(total, len(items))
    return Capped(tuple(items[:cap]), count - min(len(items), cap))


def mine_order(incidents: Iterable[IncidentState], *, now: datetime, playbook: Playbook,
               policy: Policy) -> list[IncidentState]:
    """The owner's open incidents, most urgent first: late ones, latest first; then those
    on track, soonest due first; then those waiting on a lead's approval, which the owner
    cannot move; then the snoozed, whose owner chose to wait, soonest awake first."""
    def key(state: IncidentState) -> tuple[int, float, int]:
        if is_snoozed(state, now):
            return 3, (state.snoozed_until or now).timestamp(), state.number
        if state.approval == "pending":
            return 2, 0.0, state.number
        late = lateness(state, now=now, playbook=playbook, policy=policy)
        if late is not None:
            return 0, -late.total_seconds(), state.number
        due = deadline(state, playbook=playbook, policy=policy)
        return 1, due.timestamp() if due else float("inf"), state.number
    return sorted(incidents, key=key)


def overdue_order(incidents: Iterable[IncidentState], *, now: datetime, playbook: Playbook,
                  policy: Policy) -> list[tuple[IncidentState, timedelta]]:
    """The late ones with how late (as the card counts it), worst first; an incident the
    query found past its stored due time but not late by its deadline (a follow-up asked
    for, not yet answered within its SLA) is left out."""
    late = [(state, found) for state in incidents
            if (found := lateness(state, now=now, playbook=playbook, policy=policy)) is not None]
    return sorted(late, key=lambda pair: (-pair[1].total_seconds(), pair[0].number))


@dataclass(frozen=True, slots=True)
class OwnerGroup:
    owner_id: str | None
    """None: nobody has claimed them."""
    late: Capped[tuple[IncidentState, timedelta]]


def by_owner(late: Sequence[tuple[IncidentState, timedelta]], *, owners: int = OVERDUE_OWNERS,
             per_owner: int = OVERDUE_PER_OWNER) -> tuple[tuple[OwnerGroup, ...], int]:
    """``late`` (worst first) grouped by owner, the owner of the worst first; and how many
    late incidents the shown groups leave out (whole groups beyond ``owners``)."""
    groups: dict[str | None, list[tuple[IncidentState, timedelta]]] = {}
    for pair in late:
        groups.setdefault(pair[0].owner_id, []).append(pair)
    ordered = list(groups.items())
    shown = tuple(OwnerGroup(owner, capped(items, per_owner)) for owner, items in ordered[:owners])
    return shown, sum(len(items) for _, items in ordered[owners:])


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """This week's figures, for a person or the team: medians from the flag to the claim and
    to the customer's agreement, the share of steps ended within their SLA, and the follow-ups'
    answers, each with how many it is of."""

    time_to_claim: timedelta | None = None
    time_to_resolve: timedelta | None = None
    steps_ended: int = 0
    steps_in_time: int = 0
    satisfaction_total: int = 0
    satisfaction_answers: int = 0
    buy_again_yes: int = 0
    buy_again_answers: int = 0

    @property
    def within_sla(self) -> float | None:
        return self.steps_in_time / self.steps_ended if self.steps_ended else None

    @property
    def satisfaction(self) -> float | None:
        return self.satisfaction_total / self.satisfaction_answers if self.satisfaction_answers else None

    @property
    def buy_again(self) -> float | None:
        return self.buy_again_yes / self.buy_again_answers if self.buy_again_answers else None


@dataclass(frozen=True, slots=True)
class OwnedFacts:
    """One incident a person owns, as its week's figures need it (storage reads these)."""

    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    csat: int | None
    buy_again: str | None


def person_week(owned: Iterable[OwnedFacts], *, steps_ended: int, steps_in_time: int, start: datetime,
                end: datetime) -> WeekFigures:
    """A person's week, counted as the team's stats count it: each event in [start, end) where
    it happened (the claim, the agreement, the follow-up's answers at the close); the steps
    ended within their SLA are counted by the query (theirs, ended in the week)."""
    facts = tuple(owned)

    def within(moment: datetime | None) -> bool:
        return moment is not None and start <= moment < end

    answered = [fact for fact in facts if within(fact.closed_at)]
    scores = [fact.csat for fact in answered if fact.csat is not None]
    buy_again = [fact.buy_again for fact in answered if fact.buy_again is not None]
    return WeekFigures(
        time_to_claim=median([fact.claimed_at - fact.created_at for fact in facts
                              if fact.claimed_at is not None and within(fact.claimed_at)]),
        time_to_resolve=median([fact.resolved_at - fact.created_at for fact in facts
                                if fact.resolved_at is not None and within(fact.resolved_at)]),
        steps_ended=steps_ended, steps_in_time=steps_in_time,
        satisfaction_total=sum(scores), satisfaction_answers=len(scores),
        buy_again_yes=sum(answer == "yes" for answer in buy_again), buy_again_answers=len(buy_again),
    )


def team_week(totals: StatsTotals) -> WeekFigures:
    """The team's week from `/recovery stats`' totals over the same 7 days."""
    ends = totals.step_ends.values()
    return WeekFigures(
        time_to_claim=median(totals.time_to_claim.current),
        time_to_resolve=median(totals.time_to_resolve.current),
        steps_ended=sum(end.ended for end in ends), steps_in_time=sum(end.in_time for end in ends),
        satisfaction_total=totals.satisfaction_total, satisfaction_answers=totals.satisfaction_answers,
        buy_again_yes=totals.buy_again_yes, buy_again_answers=totals.buy_again_answers,
    )
