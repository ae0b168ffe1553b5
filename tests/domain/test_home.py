"""The Home's ordering, capping and the person's week (bot/domain/home.py): pure."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bot.domain.home import (
    Capped, OwnedFacts, WeekFigures, by_owner, capped, mine_order, overdue_order, person_week,
)
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import IncidentState, Policy, Status, StepKey

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)


def _state(number: int, *, due: timedelta, owner: str | None = "U2", **changes) -> IncidentState:
    state = IncidentState(id=number, workspace_id="T1", number=number, status=Status.OPEN,
                          current_step=StepKey.ACKNOWLEDGE, step_seq=2, step_started_at=NOW - timedelta(hours=1),
                          step_due_at=NOW + due, created_at=NOW - timedelta(hours=1), flagged_by="U1",
                          summary=f"#{number}", origin_channel="C1", origin_ts=f"{number}.0", card_channel="C1",
                          owner_id=owner)
    return replace(state, **changes)


def test_capped_counts_what_it_leaves_out_even_when_the_query_read_only_the_first():
    assert capped([1, 2, 3], 2) == Capped((1, 2), 1)
    assert capped([1, 2], 5, total=40) == Capped((1, 2), 38)
    assert capped([], 5) == Capped((), 0)


def test_mine_puts_the_latest_first_then_the_soonest_due_then_approvals_then_snoozed():
    order = mine_order([
        _state(1, due=timedelta(minutes=30)),
        _state(2, due=-timedelta(minutes=5)),
        _state(3, due=-timedelta(minutes=50), snoozed_until=NOW + timedelta(hours=1)),
        _state(4, due=timedelta(minutes=10)),
        _state(5, due=-timedelta(minutes=20)),
        _state(6, due=-timedelta(minutes=90), approval="pending"),
    ], now=NOW, playbook=DEFAULT_PLAYBOOK, policy=Policy())
    assert [state.number for state in order] == [5, 2, 4, 1, 6, 3]


def test_overdue_groups_by_owner_worst_first_and_counts_the_groups_left_out():
    late = overdue_order([_state(number, due=-timedelta(minutes=number), owner=f"U{number % 3}")
                          for number in range(1, 10)] + [_state(20, due=timedelta(minutes=5))],
                         now=NOW, playbook=DEFAULT_PLAYBOOK, policy=Policy())
    groups, left_out = by_owner(late, owners=2, per_owner=2)
    assert [(group.owner_id, [state.number for state, _ in group.late.shown], group.late.more)
            for group in groups] == [("U0", [9, 6], 1), ("U2", [8, 5], 1)]
    assert left_out == 3
    assert late[0][1] == timedelta(minutes=9)


def test_a_persons_week_counts_each_event_in_the_week_where_it_happened():
    start, end = NOW - timedelta(days=7), NOW
    owned = [
        OwnedFacts(NOW - timedelta(days=1), NOW - timedelta(days=1) + timedelta(minutes=4),
                   NOW - timedelta(hours=2), NOW - timedelta(hours=1), 9, "yes"),
        OwnedFacts(NOW - timedelta(days=2), NOW - timedelta(days=2) + timedelta(minutes=10), None, None, None, None),
        OwnedFacts(NOW - timedelta(days=30), NOW - timedelta(days=29), NOW - timedelta(days=1),
                   NOW - timedelta(hours=3), 6, "no"),
    ]
    week = person_week(owned, steps_ended=4, steps_in_time=3, start=start, end=end)
    assert week == WeekFigures(time_to_claim=timedelta(minutes=7), time_to_resolve=timedelta(days=14, hours=23),
                               steps_ended=4, steps_in_time=3, satisfaction_total=15, satisfaction_answers=2,
                               buy_again_yes=1, buy_again_answers=2)
    assert (week.within_sla, week.satisfaction, week.buy_again) == (0.75, 7.5, 0.5)
