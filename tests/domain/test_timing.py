"""When things fall due and when people may be pinged, under WORK_HOURS and without; what is overdue."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import IncidentFacts
from bot.domain.parsing import parse_work_hours
from bot.domain.playbook import DEFAULT_PLAYBOOK
from bot.domain.timing import deadline, follow_up_due, is_overdue, is_snoozed, next_working_day, ping_at, step_due
from bot.domain.types import IncidentState, Policy, Status, StepKey

LONDON = ZoneInfo("Europe/London")
OFFICE = Policy(work_hours=parse_work_hours("09:00-18:00 Mon-Fri"), tz=LONDON, follow_up_after=timedelta(days=1))
ALWAYS = Policy(tz=LONDON, follow_up_after=timedelta(days=1))


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def incident(**changes: object) -> IncidentState:
    state = IncidentState(
        id=1, workspace_id="T1", number=4, status=Status.OPEN, current_step=StepKey.ACKNOWLEDGE, step_seq=1,
        step_started_at=london(2024, 6, 10, 9), step_due_at=london(2024, 6, 10, 9, 15),
        created_at=london(2024, 6, 10, 9), flagged_by="U1", summary="Late", origin_channel="C1",
        origin_ts="1.0", card_channel="C1", owner_id="U2",
    )
    return replace(state, **changes)


# --- due times and ping times -----------------------------------------------------------

def test_a_step_begun_friday_at_1755_is_due_monday_at_0910_in_working_time():
    assert step_due(StepKey.ACKNOWLEDGE, start=london(2024, 6, 14, 17, 55), playbook=DEFAULT_PLAYBOOK,
                    policy=OFFICE) == london(2024, 6, 17, 9, 10)
    assert step_due(StepKey.ACKNOWLEDGE, start=london(2024, 6, 14, 17, 55), playbook=DEFAULT_PLAYBOOK,
                    policy=ALWAYS) == london(2024, 6, 14, 18, 10)


@pytest.mark.parametrize(("moment", "sent_at"), [
    (london(2024, 6, 14, 17, 59), london(2024, 6, 14, 17, 59)),
    (london(2024, 6, 14, 18, 0), london(2024, 6, 17, 9, 0)),
    (london(2024, 6, 16, 12, 0), london(2024, 6, 17, 9, 0)),
])
def test_a_ping_outside_working_hours_waits_for_the_next_opening(moment, sent_at):
    assert ping_at(moment, policy=OFFICE) == sent_at
    assert ping_at(moment, policy=ALWAYS) == moment


def test_a_follow_up_a_day_after_friday_at_1700_is_asked_for_monday_at_opening():
    assert follow_up_due(london(2024, 6, 14, 17, 0), policy=OFFICE) == london(2024, 6, 17, 9, 0)
    assert follow_up_due(london(2024, 6, 14, 17, 0), policy=ALWAYS) == london(2024, 6, 15, 17, 0)


def test_a_follow_up_falling_due_inside_hours_keeps_its_time():
    assert follow_up_due(london(2024, 6, 11, 10, 30), policy=OFFICE) == london(2024, 6, 12, 10, 30)


def test_the_follow_ups_deadline_is_its_sla_after_it_is_asked_for_in_working_time():
    asked = london(2024, 6, 17, 9, 0)
    state = incident(current_step=StepKey.FOLLOW_UP, step_due_at=asked)
    # 24 h of 9-hour days: all of Monday and Tuesday, and six hours of Wednesday.
    assert deadline(state, playbook=DEFAULT_PLAYBOOK, policy=OFFICE) == london(2024, 6, 19, 15, 0)
    assert deadline(state, playbook=DEFAULT_PLAYBOOK, policy=ALWAYS) == london(2024, 6, 18, 9, 0)


def test_any_other_steps_deadline_is_its_due_time():
    state = incident()
    assert deadline(state, playbook=DEFAULT_PLAYBOOK, policy=OFFICE) == state.step_due_at
    assert deadline(replace(state, step_due_at=None), playbook=DEFAULT_PLAYBOOK, policy=OFFICE) is None


# --- snooze until tomorrow --------------------------------------------------------------

@pytest.mark.parametrize(("now", "until"), [
    (london(2024, 6, 14, 15, 0), london(2024, 6, 17, 9, 0)),   # Friday: Monday's opening
    (london(2024, 6, 15, 11, 0), london(2024, 6, 17, 9, 0)),   # Saturday
    (london(2024, 6, 17, 7, 0), london(2024, 6, 18, 9, 0)),    # Monday before opening: still tomorrow
    (london(2024, 6, 11, 23, 30), london(2024, 6, 12, 9, 0)),
    (london(2024, 10, 25, 15, 0), london(2024, 10, 28, 9, 0)),  # the clocks go back on the Sunday
])
def test_snooze_until_tomorrow_ends_at_the_opening_of_the_next_working_day(now, until):
    assert next_working_day(now, policy=OFFICE) == until


def test_without_work_hours_tomorrow_starts_at_nine_local_even_on_a_friday():
    assert next_working_day(london(2024, 6, 14, 15, 0), policy=ALWAYS) == london(2024, 6, 15, 9, 0)
    assert next_working_day(datetime(2024, 6, 14, 23, 30, tzinfo=UTC), policy=ALWAYS) == london(2024, 6, 16, 9, 0)


# --- overdue ----------------------------------------------------------------------------

DUE = london(2024, 6, 10, 9, 15)


def test_a_step_is_not_overdue_exactly_at_its_due_time_but_is_one_second_later():
    state = incident()
    assert not is_overdue(state, DUE)
    assert is_overdue(state, DUE + timedelta(seconds=1))
    assert not is_overdue(state, DUE - timedelta(seconds=1))


def test_a_step_without_a_due_time_or_an_incident_that_is_over_is_never_overdue():
    later = DUE + timedelta(days=1)
    assert not is_overdue(incident(step_due_at=None), later)
    assert not is_overdue(incident(status=Status.CLOSED), later)
    assert not is_overdue(incident(status=Status.CANCELLED), later)


def test_a_snoozed_step_is_not_overdue_until_its_snooze_ends():
    until = DUE + timedelta(hours=1)
    state = incident(snoozed_until=until)
    assert is_snoozed(state, until - timedelta(seconds=1)) and not is_overdue(state, until - timedelta(seconds=1))
    assert not is_snoozed(state, until) and is_overdue(state, until), "an expired snooze counts as none"


def test_the_digest_snapshot_is_judged_by_the_same_rule():
    fact = IncidentFacts(number=4, channel="C1", created_at=DUE - timedelta(minutes=15), step_due_at=DUE,
                         snoozed_until=DUE + timedelta(hours=1))
    assert not is_overdue(fact, DUE + timedelta(minutes=30))
    assert is_overdue(fact, DUE + timedelta(hours=1))
    assert not is_overdue(fact._replace(status="closed"), DUE + timedelta(hours=1))
