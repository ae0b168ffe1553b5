"""When a channel's daily digest is due, and which days it reports on.

Pure: the tick passes the time and what the database knows about a channel (when its first
incident was flagged), and gets yes or no. The rules are about the reader: a lead opens
Slack on a working morning and finds one digest per channel that has something to report.
Nothing on days the team does not work, nothing into a channel before its first incident
has seen a DIGEST_TIME, and a bot that comes back late posts only the digests that were
owed at DIGEST_TIME, not one into every channel it has ever seen.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.domain.parsing import WorkHours

MAX_DAYS_BACK = 7
"""A working week without working days (WORK_HOURS naming none of the next days) is no
reason to loop: a report never reaches back further than this."""


def is_working_day(day: date, work_hours: WorkHours | None) -> bool:
    """Every day without WORK_HOURS; otherwise the days it names."""
    return work_hours is None or day.weekday() in work_hours.weekdays


def digest_moment(day: date, *, digest_time: time, tz: ZoneInfo) -> datetime:
    """DIGEST_TIME on ``day`` in the team's zone, as an aware UTC time."""
    return datetime.combine(day, digest_time, tzinfo=tz).astimezone(timezone.utc)


def due_day(now: datetime, *, digest_time: time, tz: ZoneInfo, work_hours: WorkHours | None) -> date | None:
    """The local day whose digests may go out at ``now``: today, once its DIGEST_TIME has
    passed, if today is a working day; None otherwise. A digest missed on an earlier day is
    not owed any more: yesterday's figures posted today would only repeat today's."""
    today = now.astimezone(tz).date()
    if not is_working_day(today, work_hours) or now < digest_moment(today, digest_time=digest_time, tz=tz):
        return None
    return today


def channel_due(first_incident_at: datetime | None, day: date, *, digest_time: time, tz: ZoneInfo,
                always: bool = False) -> bool:
    """Whether a channel is owed ``day``'s digest: its first incident was flagged before that
    day's DIGEST_TIME. A channel flagged for the first time at 15:00 waits for tomorrow's,
    and a bot started late posts only where a digest was already owed at DIGEST_TIME.
    ``always``: a DIGEST_CHANNELS channel, owed one every working day."""
    if always:
        return True
    return first_incident_at is not None and first_incident_at < digest_moment(day, digest_time=digest_time, tz=tz)


def report_since(day: date, work_hours: WorkHours | None) -> date:
    """The first local day ``day``'s digest reports on: the working day before it, so that
    Monday's covers Friday and the weekend that no digest was posted on. Without working
    days before it (within `MAX_DAYS_BACK`), just the day before."""
    for back in range(1, MAX_DAYS_BACK + 1):
        candidate = day - timedelta(days=back)
        if is_working_day(candidate, work_hours):
            return candidate
    return day - timedelta(days=1)
