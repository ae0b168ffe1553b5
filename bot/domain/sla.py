"""When a step falls due.

Kept apart from the playbook because work hours and time zones (the timers issue) will
make this the one place where "15 minutes" stops meaning 15 wall-clock minutes.
"""
from __future__ import annotations

from datetime import datetime, timedelta


def due_at(started: datetime, sla: timedelta) -> datetime:
    return started + sla


def is_overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and now > due
