"""When a digest is due, and the two-week sparkline it draws: table tests of the pure rules."""
from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import sparkline
from bot.domain.digest_schedule import channel_due, due_day, report_since
from bot.domain.parsing import parse_work_hours

PARIS = ZoneInfo("Europe/Paris")
OFFICE = parse_work_hours("09:00-18:00 Mon-Fri")
NINE = time(9, 0)
MONDAY, SATURDAY, SUNDAY = date(2026, 11, 2), date(2026, 10, 31), date(2026, 11, 1)


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(("now", "work_hours", "expected"), [
    (paris(MONDAY, 8, 59), OFFICE, None),                # before DIGEST_TIME
    (paris(MONDAY, 9, 0), OFFICE, MONDAY),               # at it
    (paris(MONDAY, 23, 59), OFFICE, MONDAY),             # late, the same day: the catch-up
    (paris(SATURDAY, 10, 0), OFFICE, None),              # not a working day
    (paris(SUNDAY, 10, 0), OFFICE, None),
    (paris(SUNDAY, 10, 0), None, SUNDAY),                # without WORK_HOURS every day is one
    (datetime(2026, 11, 2, 7, 30, tzinfo=UTC), OFFICE, None),     # 08:30 in Paris
    (datetime(2026, 11, 1, 23, 30, tzinfo=UTC), OFFICE, None),    # Sunday in UTC, Monday 00:30 in Paris
])
def test_the_day_whose_digest_may_go_out(now, work_hours, expected):
    assert due_day(now, digest_time=NINE, tz=PARIS, work_hours=work_hours) == expected


@pytest.mark.parametrize(("first_incident", "always", "expected"), [
    (None, False, False),                          # no incident ever
    (paris(SUNDAY, 15, 0), False, True),           # flagged before today's DIGEST_TIME
    (paris(MONDAY, 8, 59), False, True),
    (paris(MONDAY, 9, 0), False, False),           # flagged at it: tomorrow's
    (paris(MONDAY, 15, 0), False, False),          # first flagged this afternoon: tomorrow's
    (None, True, True),                            # DIGEST_CHANNELS
])
def test_a_channel_is_owed_a_digest_once_its_first_incident_has_seen_a_digest_time(first_incident, always, expected):
    assert channel_due(first_incident, MONDAY, digest_time=NINE, tz=PARIS, always=always) is expected


@pytest.mark.parametrize(("day", "work_hours", "expected"), [
    (date(2026, 11, 3), OFFICE, MONDAY),                # Tuesday: Monday
    (MONDAY, OFFICE, date(2026, 10, 30)),               # Monday: from Friday, over the weekend
    (MONDAY, None, SUNDAY),                             # every day worked: yesterday
    (MONDAY, parse_work_hours("09:00-18:00 Mon"), date(2026, 10, 26)),  # one day a week: a week
])
def test_a_digest_reports_from_the_working_day_before_it(day, work_hours, expected):
    assert report_since(day, work_hours) == expected


@pytest.mark.parametrize(("values", "expected"), [
    ([], ""),
    ([0, 0, 0], "▁▁▁"),
    ([0, 1], "▁█"),
    ([1, 1], "██"),
    ([0, 1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▅▆▇█"),         # eight counts on seven bars: two share one
    ([1, 8], "▂█"),
    ([0, 1, 100], "▁▂█"),                                # one incident never looks like none
    ([3, 0, 6, 12], "▃▁▅█"),
])
def test_sparkline_scales_to_the_busiest_day_and_keeps_zero_apart(values, expected):
    assert sparkline(values) == expected
