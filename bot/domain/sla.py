"""When a step falls due, and when its nudge and escalation do.

Kept apart from the playbook because this is the one place where "15 minutes" may stop
meaning 15 wall-clock minutes: with `WORK_HOURS` set, an SLA counts only working time in the
team's zone, so a step flagged at 17:55 on a Friday is not "overdue" all weekend.

Working time is counted day by day over real elapsed time: each working day contributes the
UTC interval between its local opening and closing, so a day on which the clocks change
simply has an hour more or less in it, and a long SLA costs one step per calendar day.
All datetimes are aware; results are UTC.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.domain.parsing import WorkHours

ALERT_LEVELS: tuple[str, ...] = ("nudge", "escalation")


def due_at(started: datetime, sla: timedelta, *,
           work_hours: WorkHours | None = None, tz: ZoneInfo | None = None) -> datetime:
    """When a step started at ``started`` with ``sla`` allowed falls due.

    Without work hours this is plain arithmetic. With them the clock only runs inside
    working hours; a step started outside them starts counting at the next opening.
    """
    if work_hours is None:
        return started + sla
    started = started.astimezone(timezone.utc)
    if sla <= timedelta(0):
        return started
    remaining = sla
    for opens, closes in _windows_from(started, work_hours, tz):
        begin = max(opens, started)
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("unreachable: there is always another working window")


def working_time_between(start: datetime, end: datetime, *,
                         work_hours: WorkHours | None = None, tz: ZoneInfo | None = None) -> timedelta:
    """How much working time passes from ``start`` to ``end`` (zero if end is not later).

    The inverse of `due_at`: ``working_time_between(s, due_at(s, sla, ...), ...) == sla``.
    """
    if end <= start:
        return timedelta(0)
    if work_hours is None:
        return end - start
    total = timedelta(0)
    for opens, closes in _windows_from(start, work_hours, tz):
        if opens >= end:
            return total
        total += min(closes, end) - max(opens, start)
    raise AssertionError("unreachable: there is always another working window")


def next_working_moment(moment: datetime, *, work_hours: WorkHours | None = None,
                        tz: ZoneInfo | None = None) -> datetime:
    """``moment`` itself if it is working time, otherwise the next opening: when a nudge
    that fell due outside working hours may be sent. A window is half-open: the opening
    minute is working time, the closing minute is not."""
    if work_hours is None:
        return moment
    opens, _ = next(_windows_from(moment, work_hours, tz))
    return max(opens, moment.astimezone(timezone.utc))


def alert_due(*, due: datetime, sla: timedelta, factor: float, level: str,
              work_hours: WorkHours | None = None, tz: ZoneInfo | None = None) -> datetime:
    """When a step's ``level`` alert falls due: the nudge when the step does, the
    escalation ``factor - 1`` more SLAs later (counted in working time when it is set),
    so a factor of 2 escalates once the step has taken twice its allowance."""
    if level == "nudge":
        return due
    if level != "escalation":
        raise ValueError(f"unknown alert level {level!r}; expected one of {', '.join(ALERT_LEVELS)}")
    extra = sla * max(factor - 1, 0)
    return due_at(due, extra, work_hours=work_hours, tz=tz)


def _windows_from(moment: datetime, work_hours: WorkHours, tz: ZoneInfo | None) -> Iterator[tuple[datetime, datetime]]:
    """The working windows (opening, closing) in UTC, in order, from the first one that
    has not closed by ``moment``. Endless; refuses work hours without a working day."""
    if not work_hours.weekdays:
        raise ValueError("work hours name no working day")
    zone = tz or timezone.utc
    day = moment.astimezone(zone).date()
    while True:
        if day.weekday() in work_hours.weekdays:
            opens, closes = _window(day, work_hours, zone)
            if closes > moment:
                yield opens, closes
        day += timedelta(days=1)


def _window(day: date, work_hours: WorkHours, zone: ZoneInfo | timezone) -> tuple[datetime, datetime]:
    """One day's opening and closing in UTC. A local time the clocks skip reads with the
    offset in force before the change (zoneinfo's fold=0); one they repeat, as its first
    occurrence."""
    opens = datetime.combine(day, work_hours.start, tzinfo=zone).astimezone(timezone.utc)
    closes = datetime.combine(day, work_hours.end, tzinfo=zone).astimezone(timezone.utc)
    return opens, max(opens, closes)
