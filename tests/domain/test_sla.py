"""When steps fall due, nudges and escalations fire, with and without WORK_HOURS."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.parsing import parse_work_hours
from bot.domain.sla import alert_due, due_at, next_working_moment, working_time_between

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = parse_work_hours("09:00-18:00 Mon-Fri")
MINUTES = timedelta(minutes=1)


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def office_due(started: datetime, sla: timedelta, tz: ZoneInfo = LONDON) -> datetime:
    return due_at(started, sla, work_hours=OFFICE, tz=tz)


# --- boundaries -------------------------------------------------------------------------

def test_without_work_hours_a_step_is_due_sla_wall_clock_time_later():
    started = datetime(2024, 6, 14, 17, 55, tzinfo=UTC)
    assert due_at(started, 15 * MINUTES) == datetime(2024, 6, 14, 18, 10, tzinfo=UTC)


# --- work hours -------------------------------------------------------------------------

def test_a_step_flagged_friday_at_1755_is_due_monday_at_0910():
    due = office_due(london(2024, 6, 14, 17, 55), 15 * MINUTES)
    assert due == london(2024, 6, 17, 9, 10)
    assert due.tzinfo is UTC


def test_a_step_started_before_opening_starts_counting_at_opening():
    assert office_due(london(2024, 6, 11, 7, 30), 15 * MINUTES) == london(2024, 6, 11, 9, 15)


def test_a_step_started_after_closing_is_due_the_next_morning():
    assert office_due(london(2024, 6, 11, 19, 0), 15 * MINUTES) == london(2024, 6, 12, 9, 15)


def test_a_step_started_on_saturday_is_due_monday_morning():
    assert office_due(london(2024, 6, 15, 11, 0), 30 * MINUTES) == london(2024, 6, 17, 9, 30)


def test_a_step_that_uses_up_the_day_exactly_is_due_at_closing_not_the_next_morning():
    assert office_due(london(2024, 6, 11, 17, 0), 60 * MINUTES) == london(2024, 6, 11, 18, 0)


def test_a_step_started_inside_hours_runs_on_the_wall_clock():
    assert office_due(london(2024, 6, 11, 10, 0), 30 * MINUTES) == london(2024, 6, 11, 10, 30)


def test_an_aware_start_in_another_zone_is_read_in_the_team_zone():
    # 12:55 in New York is 17:55 in London: five minutes left on Friday.
    assert office_due(new_york(2024, 6, 14, 12, 55), 15 * MINUTES) == london(2024, 6, 17, 9, 10)


@pytest.mark.parametrize(("moment", "sent_at"), [
    (london(2024, 6, 11, 9, 0), london(2024, 6, 11, 9, 0)),
    (london(2024, 6, 11, 17, 59, 59), london(2024, 6, 11, 17, 59, 59)),
    (london(2024, 6, 11, 18, 0), london(2024, 6, 12, 9, 0)),
    (london(2024, 6, 11, 8, 59), london(2024, 6, 11, 9, 0)),
    (london(2024, 6, 15, 12, 0), london(2024, 6, 17, 9, 0)),
], ids=["opening", "last-second", "closing", "before-opening", "saturday"])
def test_nobody_is_nudged_outside_working_hours(moment, sent_at):
    assert next_working_moment(moment, work_hours=OFFICE, tz=LONDON) == sent_at


def test_without_work_hours_any_moment_is_working_time():
    assert next_working_moment(london(2024, 6, 15, 3, 0)) == london(2024, 6, 15, 3, 0)


def test_a_nudge_due_on_saturday_waits_for_monday_opening():
    assert next_working_moment(london(2024, 6, 15, 12, 0), work_hours=OFFICE, tz=LONDON) == london(2024, 6, 17, 9)
    inside = london(2024, 6, 17, 10, 0)
    assert next_working_moment(inside, work_hours=OFFICE, tz=LONDON) == inside


def test_work_hours_without_a_zone_are_read_in_utc():
    started = datetime(2024, 6, 14, 17, 55, tzinfo=UTC)
    assert due_at(started, 15 * MINUTES, work_hours=OFFICE) == datetime(2024, 6, 17, 9, 10, tzinfo=UTC)


# --- daylight saving --------------------------------------------------------------------

def test_london_autumn_change_a_2h_step_friday_at_1700_is_due_monday_at_1000():
    # Clocks go back on Sunday 27 October 2024: Friday is BST (UTC+1), Monday GMT.
    due = office_due(london(2024, 10, 25, 17, 0), 2 * 60 * MINUTES)
    assert due == london(2024, 10, 28, 10, 0) == datetime(2024, 10, 28, 10, 0, tzinfo=UTC)
    assert working_time_between(london(2024, 10, 25, 17, 0), due, work_hours=OFFICE, tz=LONDON) == timedelta(hours=2)


def test_london_spring_change_monday_0800_start_counts_from_0900_summer_time():
    # Clocks went forward on Sunday 31 March 2024.
    due = office_due(london(2024, 4, 1, 8, 0), 15 * MINUTES)
    assert due == london(2024, 4, 1, 9, 15) == datetime(2024, 4, 1, 8, 15, tzinfo=UTC)


def test_london_spring_change_friday_step_finishes_monday_in_summer_time():
    assert office_due(london(2024, 3, 29, 17, 30), 60 * MINUTES) == london(2024, 4, 1, 9, 30)


def test_london_autumn_change_monday_0800_start_counts_from_0900_winter_time():
    assert office_due(london(2024, 10, 28, 8, 0), 15 * MINUTES) == datetime(2024, 10, 28, 9, 15, tzinfo=UTC)


def test_new_york_spring_change_friday_step_is_due_monday_in_daylight_time():
    # DST began Sunday 10 March 2024.
    due = office_due(new_york(2024, 3, 8, 17, 0), 2 * 60 * MINUTES, NEW_YORK)
    assert due == new_york(2024, 3, 11, 10, 0) == datetime(2024, 3, 11, 14, 0, tzinfo=UTC)


def test_new_york_autumn_change_friday_step_is_due_monday_in_standard_time():
    # DST ended Sunday 3 November 2024.
    due = office_due(new_york(2024, 11, 1, 17, 0), 2 * 60 * MINUTES, NEW_YORK)
    assert due == new_york(2024, 11, 4, 10, 0) == datetime(2024, 11, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(("zone", "hours", "day", "length"), [
    (LONDON, "00:30-03:00", (2024, 10, 27), timedelta(hours=3, minutes=30)),   # 01:00-02:00 happens twice
    (LONDON, "00:30-03:00", (2024, 3, 31), timedelta(hours=1, minutes=30)),    # 01:00-02:00 never happens
    (NEW_YORK, "01:00-04:00", (2024, 11, 3), timedelta(hours=4)),
    (NEW_YORK, "01:00-04:00", (2024, 3, 10), timedelta(hours=2)),
])
def test_a_working_day_spanning_the_clock_change_has_an_hour_more_or_less(zone, hours, day, length):
    work_hours = parse_work_hours(hours)
    midnight = datetime(*day, tzinfo=zone)
    closing = datetime.combine(midnight.date(), work_hours.end, tzinfo=zone)
    assert working_time_between(midnight, midnight + timedelta(days=1), work_hours=work_hours, tz=zone) == length
    assert due_at(midnight, length, work_hours=work_hours, tz=zone) == closing


# --- long SLAs --------------------------------------------------------------------------

def test_a_24h_step_takes_two_and_two_thirds_working_days():
    # 9h days: Monday 9h + Tuesday 9h + 6h on Wednesday.
    assert office_due(london(2024, 6, 10, 9, 0), timedelta(hours=24)) == london(2024, 6, 12, 15, 0)


def test_a_3d_step_takes_eight_working_days_skipping_the_weekend():
    # 72h at 9h a day is eight full days: Mon 3 June to Wed 12 June.
    assert office_due(london(2024, 6, 3, 9, 0), timedelta(days=3)) == london(2024, 6, 12, 18, 0)


def test_a_3d_step_across_the_autumn_change_keeps_its_hours():
    start = london(2024, 10, 21, 9, 0)
    due = office_due(start, timedelta(days=3))
    assert due == london(2024, 10, 30, 18, 0)
    assert working_time_between(start, due, work_hours=OFFICE, tz=LONDON) == timedelta(days=3)


class _CountedDays(frozenset):
    """Working weekdays that count how often a day is looked up: one lookup per calendar
    day walked, so the count is the number of steps a computation took."""

    lookups = 0

    def __contains__(self, weekday: object) -> bool:
        self.lookups += 1
        return super().__contains__(weekday)


def test_long_slas_are_computed_by_whole_days_not_minute_by_minute():
    days = _CountedDays(OFFICE.weekdays)
    due = due_at(london(2024, 6, 3, 9, 0), timedelta(days=30), work_hours=replace(OFFICE, weekdays=days), tz=LONDON)
    assert due == london(2024, 9, 20, 18, 0), "720 h at 9 h a day: 80 working days, 16 weeks"
    assert days.lookups == 110, "one step per calendar day, 3 June to 20 September"


def test_working_time_between_is_zero_when_the_end_is_not_later():
    moment = london(2024, 6, 11, 10, 0)
    assert working_time_between(moment, moment, work_hours=OFFICE, tz=LONDON) == timedelta(0)
    assert working_time_between(moment, moment - MINUTES, work_hours=OFFICE, tz=LONDON) == timedelta(0)
    assert working_time_between(moment, moment + MINUTES) == MINUTES


def test_working_time_over_a_weekend_counts_nothing():
    assert working_time_between(london(2024, 6, 14, 18, 0), london(2024, 6, 17, 9, 0),
                                work_hours=OFFICE, tz=LONDON) == timedelta(0)


def test_work_hours_with_no_working_day_are_refused():
    from bot.domain.parsing import WorkHours
    never = WorkHours(start=OFFICE.start, end=OFFICE.end, weekdays=frozenset())
    with pytest.raises(ValueError):
        due_at(london(2024, 6, 11, 10, 0), MINUTES, work_hours=never, tz=LONDON)


# --- nudges and escalations -------------------------------------------------------------

def test_the_nudge_falls_due_with_the_step():
    due = london(2024, 6, 11, 10, 0)
    assert alert_due(due=due, sla=15 * MINUTES, factor=2, level="nudge", work_hours=OFFICE, tz=LONDON) == due


def test_without_work_hours_escalation_comes_one_more_sla_after_due_at_factor_2():
    due = datetime(2024, 6, 14, 17, 30, tzinfo=UTC)
    assert alert_due(due=due, sla=timedelta(hours=1), factor=2, level="escalation",
                     work_hours=None, tz=None) == datetime(2024, 6, 14, 18, 30, tzinfo=UTC)
    assert alert_due(due=due, sla=timedelta(hours=1), factor=1.5, level="escalation",
                     work_hours=None, tz=None) == datetime(2024, 6, 14, 18, 0, tzinfo=UTC)


def test_with_work_hours_an_escalation_due_after_closing_waits_for_monday():
    # A 1h step due Friday 17:30: escalation after one more working hour, Monday 09:30.
    due = london(2024, 6, 14, 17, 30)
    assert alert_due(due=due, sla=timedelta(hours=1), factor=2, level="escalation",
                     work_hours=OFFICE, tz=LONDON) == london(2024, 6, 17, 9, 30)


def test_escalation_of_a_step_that_was_already_due_on_monday():
    started = london(2024, 10, 25, 17, 0)
    due = office_due(started, timedelta(hours=2))
    escalation = alert_due(due=due, sla=timedelta(hours=2), factor=2, level="escalation", work_hours=OFFICE, tz=LONDON)
    assert escalation == london(2024, 10, 28, 12, 0)
    assert working_time_between(started, escalation, work_hours=OFFICE, tz=LONDON) == timedelta(hours=4)


def test_an_unknown_alert_level_is_a_programming_error():
    with pytest.raises(ValueError):
        alert_due(due=london(2024, 6, 11, 10), sla=MINUTES, factor=2, level="panic", work_hours=None, tz=None)


# --- properties -------------------------------------------------------------------------

WORK_HOURS = st.sampled_from(["09:00-18:00 Mon-Fri", "08:30-17:00 Mon,Tue,Thu", "00:30-03:00", "07:00-19:00 Sat-Sun"])
ZONES = st.sampled_from([LONDON, NEW_YORK, ZoneInfo("UTC"), ZoneInfo("Australia/Sydney")])
STARTS = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
SLAS = st.integers(min_value=1, max_value=60 * 24 * 5).map(lambda minutes: minutes * MINUTES)


@settings(max_examples=150, deadline=None)
@given(start=STARTS, sla=SLAS, hours=WORK_HOURS, zone=ZONES)
def test_working_time_until_due_is_exactly_the_sla(start, sla, hours, zone):
    work_hours = parse_work_hours(hours)
    start = next_working_moment(start, work_hours=work_hours, tz=zone)
    assert next_working_moment(start, work_hours=work_hours, tz=zone) == start, "a working moment"
    due = due_at(start, sla, work_hours=work_hours, tz=zone)
    assert due.tzinfo is UTC
    assert working_time_between(start, due, work_hours=work_hours, tz=zone) == sla
    assert working_time_between(start, due - timedelta(seconds=1), work_hours=work_hours, tz=zone) < sla


@settings(max_examples=50, deadline=None)
@given(start=STARTS, sla=SLAS)
def test_without_work_hours_due_is_start_plus_sla(start, sla):
    assert due_at(start, sla) == start + sla
    assert working_time_between(start, start + sla) == sla
