"""`/recovery stats`: the figures, from the totals a workspace's database adds up.

A workspace's last 30 days can hold tens of thousands of incidents and their step records;
sending them all to Python to count cost seconds, so the database counts, sums and picks the
middle durations (`storage.repository.stats_totals`) and this module only turns those few
numbers into `StatsFigures`. Pure and total: zero counts give zeros and None ("no data").

The periods are those of the digest's figures (`bot.domain.digest`): half-open, [start, now)
and the same length of time before it, each figure counting an event where it happened.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.domain.digest import StatsFigures, Trend, median, rank_causes
from bot.domain.types import StepKey

MAX_STATS_DAYS = 3660
"""Longer windows are cut to ten years so date arithmetic cannot overflow."""
ENDED_RESULTS = ("done", "skipped")
"""Step instances that count for the within-SLA share; "declined" and "not_yet" loop back
to a new `make_it_right` and are judged there."""


@dataclass(frozen=True, slots=True)
class StatsWindow:
    """The period [start, end) and the one of equal length before it, [before, start)."""

    days: int
    start: datetime
    end: datetime

    @property
    def before(self) -> datetime:
        return self.start - (self.end - self.start)


def stats_window(now: datetime, days: int) -> StatsWindow:
    """The last ``days`` days up to ``now``: exact lengths of time, not calendar days, cut to
    `MAX_STATS_DAYS` so that the period before it cannot overflow the calendar."""
    days = min(max(days, 0), MAX_STATS_DAYS)
    return StatsWindow(days=days, start=now - timedelta(days=days), end=now)


class Middles(NamedTuple):
    """The middle one or two durations of a series, in the period and in the one before:
    the median of the middle values is the median of all of them, so the database sends two
    values, not thousands."""

    current: tuple[timedelta, ...] = ()
    previous: tuple[timedelta, ...] = ()


class StepEnds(NamedTuple):
    """A step's instances ended (done or skipped) in the period, and how many of those by
    their due time (an instance without one had no deadline to miss)."""

    ended: int
    in_time: int


@dataclass(frozen=True, slots=True)
class StatsTotals:
    """What the database adds up for a workspace's stats; counts of events in the period."""

    flagged: int = 0
    resolved: int = 0
    closed: int = 0
    cancelled: int = 0
    open_now: int = 0
    unclaimed_now: int = 0
    overdue_now: int = 0
    time_to_claim: Middles = Middles()
    time_to_acknowledge: Middles = Middles()
    time_to_resolve: Middles = Middles()
    satisfaction_total: int = 0
    """The sum of the CSAT scores of follow-ups recorded in the period."""
    satisfaction_answers: int = 0
    buy_again_yes: int = 0
    buy_again_answers: int = 0
    causes: tuple[tuple[str, int], ...] = ()
    """Root causes named in the period, as recorded (untrimmed), with how often."""
    remedy_spend: Decimal = Decimal(0)
    remedy_count: int = 0
    step_ends: Mapping[str, StepEnds] = field(default_factory=dict)
    """Per step key; a step with no instance ended in the period may be missing."""


def figures_from_totals(totals: StatsTotals, *, window: StatsWindow, tz: ZoneInfo) -> StatsFigures:
    """The figures `stats_blocks` shows; ``tz`` is for the display of ``since`` only."""
    return StatsFigures(
        days=window.days,
        since=window.start.astimezone(tz),
        flagged=totals.flagged,
        resolved=totals.resolved,
        closed=totals.closed,
        cancelled=totals.cancelled,
        open_now=totals.open_now,
        unclaimed_now=totals.unclaimed_now,
        overdue_now=totals.overdue_now,
        time_to_claim=_trend(totals.time_to_claim),
        time_to_acknowledge=_trend(totals.time_to_acknowledge),
        time_to_resolve=_trend(totals.time_to_resolve),
        satisfaction=(totals.satisfaction_total / totals.satisfaction_answers
                      if totals.satisfaction_answers else None),
        satisfaction_answers=totals.satisfaction_answers,
        buy_again_share=totals.buy_again_yes / totals.buy_again_answers if totals.buy_again_answers else None,
        buy_again_answers=totals.buy_again_answers,
        top_causes=rank_causes(totals.causes),
        remedy_spend=totals.remedy_spend,
        remedy_count=totals.remedy_count,
        within_sla={key.value: _share(totals.step_ends.get(key.value)) for key in StepKey},
    )


def _trend(middles: Middles) -> Trend:
    return Trend(current=median(middles.current), previous=median(middles.previous))


def _share(ends: StepEnds | None) -> float | None:
    return ends.in_time / ends.ended if ends is not None and ends.ended else None
