"""The card's status line, derived from the state and the clock: one table of cases with the
exact words a lead reads, and the properties that hold for any moment."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.card_status import CardState, card_status, duration_words
from bot.domain.parsing import parse_work_hours
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.types import IncidentState, Policy, Status, StepKey

LONDON = ZoneInfo("Europe/London")
ALWAYS = Policy(tz=LONDON)
OFFICE = Policy(work_hours=parse_work_hours("09:00-18:00 Mon-Fri"), tz=LONDON)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


FLAGGED = london(2024, 6, 10, 9, 0)  # a Monday


def incident(**changes: object) -> IncidentState:
    """Flagged at 09:00, claimed by U2, acknowledging, due 09:25."""
    state = IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.ACKNOWLEDGE, step_seq=1,
        step_started_at=london(2024, 6, 10, 9, 10), step_due_at=london(2024, 6, 10, 9, 25),
        created_at=FLAGGED, flagged_by="U1", summary="Late", origin_channel="C1", origin_ts="1.0",
        card_channel="C1", owner_id="U2",
    )
    return replace(state, **changes)


UNCLAIMED = dict(owner_id=None, current_step=StepKey.CLAIM, step_seq=0, step_started_at=FLAGGED,
                 step_due_at=london(2024, 6, 10, 9, 10))


@pytest.mark.parametrize(("changes", "now", "escalated", "policy", "words"), [
    (UNCLAIMED, london(2024, 6, 10, 9, 0, 30), False, ALWAYS, "Unclaimed for under a minute"),
    (UNCLAIMED, london(2024, 6, 10, 9, 12, 59), False, ALWAYS, "Unclaimed for 12 min"),
    (UNCLAIMED, london(2024, 6, 10, 11, 5), False, ALWAYS, "Unclaimed for 2 h 5 min"),
    (UNCLAIMED, london(2024, 6, 16, 9, 0), False, ALWAYS, "Unclaimed for 6 days"),
    (UNCLAIMED, london(2024, 6, 10, 9, 25), True, ALWAYS, "Escalated"),
    ({}, london(2024, 6, 10, 9, 20), False, ALWAYS, "On track"),
    ({}, london(2024, 6, 10, 9, 25), False, ALWAYS, "On track"),  # due "by then": not late at the minute
    ({}, london(2024, 6, 10, 9, 29), False, ALWAYS, "Overdue by 4 min"),
    ({}, london(2024, 6, 10, 10, 25), False, ALWAYS, "Overdue by 1 h"),
    ({}, london(2024, 6, 11, 9, 25), False, ALWAYS, "Overdue by 1 day"),
    ({}, london(2024, 6, 10, 9, 50), True, ALWAYS, "Escalated"),
    ({"snoozed_until": london(2024, 6, 10, 14, 0)}, london(2024, 6, 10, 9, 50), True, ALWAYS,
     "Snoozed until 14:00"),
    ({"snoozed_until": london(2024, 6, 10, 14, 0)}, london(2024, 6, 10, 14, 0), False, ALWAYS,
     "Overdue by 4 h 35 min"),  # the snooze is over at its minute
    ({"current_step": StepKey.MAKE_IT_RIGHT, "approval": "pending"}, london(2024, 6, 12, 9, 0), True, ALWAYS,
     "Waiting for approval"),
    ({"current_step": StepKey.MAKE_IT_RIGHT, "approval": "declined"}, london(2024, 6, 10, 9, 20), False, ALWAYS,
     "On track"),
    ({"status": Status.CLOSED, "closed_at": london(2024, 6, 14, 9, 0), "step_due_at": None},
     london(2024, 6, 20, 9, 0), True, ALWAYS, "Closed"),
    ({"status": Status.CANCELLED, "cancel_reason": "duplicate", "snoozed_until": london(2024, 6, 10, 14, 0)},
     london(2024, 6, 10, 9, 50), False, ALWAYS, "Cancelled"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_the_status_line_reads(changes, now, escalated, policy, words):
    status = card_status(incident(**changes), now=now, escalated=escalated, playbook=DEFAULT_PLAYBOOK, policy=policy)
    assert status.text(LONDON) == words


def test_overdue_counts_working_time_under_work_hours():
    """Due Friday 17:55; read Monday 09:04: five minutes of Friday and four of Monday are
    late, not a weekend's worth."""
    state = incident(step_due_at=london(2024, 6, 14, 17, 55))
    monday = london(2024, 6, 17, 9, 4)
    assert card_status(state, now=monday, escalated=False, playbook=DEFAULT_PLAYBOOK,
                       policy=OFFICE).text(LONDON) == "Overdue by 9 min"
    assert card_status(state, now=monday, escalated=False, playbook=DEFAULT_PLAYBOOK,
                       policy=ALWAYS).text(LONDON) == "Overdue by 2 days"


def test_the_follow_up_is_late_only_once_its_own_sla_has_run_from_when_it_is_asked_for():
    """The follow-up's stored due time is when it is asked for; its 24 hours count from then."""
    state = incident(current_step=StepKey.FOLLOW_UP, step_due_at=london(2024, 6, 13, 10, 0))
    words = [card_status(state, now=now, escalated=False, playbook=DEFAULT_PLAYBOOK, policy=ALWAYS).text(LONDON)
             for now in (london(2024, 6, 13, 10, 1), london(2024, 6, 14, 10, 0), london(2024, 6, 14, 10, 30))]
    assert words == ["On track", "On track", "Overdue by 30 min"]


def test_a_snooze_into_another_day_shows_its_time_in_the_team_zone():
    state = incident(snoozed_until=datetime(2024, 6, 11, 8, 0, tzinfo=ZoneInfo("UTC")))
    status = card_status(state, now=london(2024, 6, 10, 17, 0), escalated=False, playbook=DEFAULT_PLAYBOOK,
                         policy=ALWAYS)
    assert status.state is CardState.SNOOZED and status.text(LONDON) == "Snoozed until 09:00"
    assert status.until == london(2024, 6, 11, 9, 0)


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(seconds=59), "under a minute"), (timedelta(minutes=1), "1 min"),
    (timedelta(minutes=59, seconds=59), "59 min"), (timedelta(hours=1), "1 h"),
    (timedelta(hours=23, minutes=59), "23 h 59 min"), (timedelta(days=1, hours=23), "1 day"),
    (timedelta(days=6, hours=5), "6 days"), (-timedelta(minutes=4), "4 min"),
])
def test_durations_in_words_round_down_to_the_unit_a_person_says(delta, words):
    assert duration_words(delta) == words


MINUTES = st.integers(min_value=0, max_value=60 * 24 * 14)


@given(after=MINUTES, escalated=st.booleans(), claimed=st.booleans())
def test_exactly_one_status_fits_any_moment_and_a_finished_incident_never_reads_late(after, escalated, claimed):
    now = FLAGGED + timedelta(minutes=after)
    state = incident() if claimed else incident(**UNCLAIMED)
    status = card_status(state, now=now, escalated=escalated, playbook=DEFAULT_PLAYBOOK, policy=OFFICE)
    due = state.step_due_at
    assert due is not None
    if escalated:
        assert status.state is CardState.ESCALATED
    elif not claimed:
        assert status.state is CardState.UNCLAIMED and status.elapsed == timedelta(minutes=after)
    else:
        assert status.state is (CardState.OVERDUE if now > due else CardState.ON_TRACK)
    for finished in (Status.CLOSED, Status.CANCELLED):
        assert card_status(replace(state, status=finished), now=now, escalated=escalated,
                           playbook=DEFAULT_PLAYBOOK, policy=OFFICE).text(LONDON) == finished.value.capitalize()
