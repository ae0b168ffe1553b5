"""The old `/recovery stats`, kept as the reference the SQL path must agree with: every
incident of the window and every step record read into Python and counted there (2.3-2.7 s
at 100,000 incidents, see docs/PERFORMANCE.md). Not product code: the benchmark and the equivalence tests use it."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain import digest
from bot.domain.digest import IncidentFacts, StatsFigures
from bot.domain.types import StepKey
from storage.models import Incident, StepRecord
from storage.repository import _aware, _touched_since, incident_facts

MAX_STATS_DAYS = 3660
ENDED_RESULTS = frozenset({"done", "skipped"})


class StepTiming(NamedTuple):
    step: str
    started_at: datetime
    due_at: datetime | None
    ended_at: datetime | None
    result: str | None


def reference_stats(session: Session, *, workspace_id: str, now: datetime, days: int, tz: ZoneInfo) -> StatsFigures:
    """What `RecoveryService.stats` answered before the figures were added up in SQL."""
    since = now - timedelta(days=2 * min(max(days, 0), MAX_STATS_DAYS))
    facts = incident_facts(session, since=since, workspace_id=workspace_id)
    steps = _step_timings(session, _touched_since(since, channel=None, workspace_id=workspace_id))
    return stats_figures(facts, steps, now=now, days=days, tz=tz)


def _step_timings(session: Session, touched) -> dict[int, tuple[StepTiming, ...]]:  # noqa: ANN001
    """Every step instance of the touched incidents, in order, by incident number."""
    rows = session.connection().execute(
        select(Incident.number, StepRecord.step, _aware(StepRecord.started_at), _aware(StepRecord.due_at),
               _aware(StepRecord.ended_at), StepRecord.status)
        .join(Incident, Incident.id == StepRecord.incident_id).where(touched)
        .order_by(col(Incident.number), col(StepRecord.seq))).all()
    return {number: tuple(StepTiming(step, started_at, due_at, ended_at, None if status == "current" else status)
                          for _, step, started_at, due_at, ended_at, status in records)
            for number, records in groupby(rows, key=itemgetter(0))}


def stats_figures(facts: Sequence[IncidentFacts], steps: dict[int, tuple[StepTiming, ...]], *, now: datetime,
                  days: int, tz: ZoneInfo) -> StatsFigures:
    """The digest's figures over the last ``days`` days against the ``days`` before, with
    how often each step was finished in time, counted in Python."""
    facts = tuple(facts)
    days = min(max(days, 0), MAX_STATS_DAYS)
    start = now - timedelta(days=days)
    now_figures = digest._now_figures(facts, now)
    return StatsFigures(
        days=days,
        since=start.astimezone(tz),
        flagged=digest._count(facts, start, now, lambda f: f.created_at),
        resolved=digest._count(facts, start, now, lambda f: f.resolved_at),
        closed=digest._count(facts, start, now, digest._closed_at),
        cancelled=digest._count(facts, start, now, lambda f: f.closed_at if f.status == "cancelled" else None),
        open_now=now_figures.open_now,
        unclaimed_now=now_figures.unclaimed_now,
        overdue_now=now_figures.overdue_now,
        within_sla=_within_sla([timing for fact in facts for timing in steps.get(fact.number, ())], start, now),
        **digest._period_fields(digest._period_figures(facts, start, now)),
    )


def _within_sla(timings: Sequence[StepTiming], start: datetime, end: datetime) -> dict[str, float | None]:
    ended: dict[str, list[bool]] = {key.value: [] for key in StepKey}
    for timing in timings:
        if timing.step in ended and timing.result in ENDED_RESULTS and digest._within(timing.ended_at, start, end):
            ended[timing.step].append(timing.due_at is None or timing.ended_at <= timing.due_at)
    return {key: (sum(flags) / len(flags) if flags else None) for key, flags in ended.items()}
