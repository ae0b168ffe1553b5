"""The figures behind the daily digest, from incident snapshots; `StatsFigures` too, which
`bot.domain.stats` makes from the totals the database adds up (sharing the medians and
the ranking of causes).

Pure and total: the caller loads `IncidentFacts` and passes the time; an empty list, or a
period with nothing in it, gives zeros and None (shown as "no data"), never an exception.

Every figure counts an event in the period it happened in: a claim counts where the claim
happened, a resolution (the customer agreed, buy-in) where it was agreed, a follow-up where
it closed the incident. Periods are half-open, [start, end): something at exactly `now`
belongs to the next digest, not to two.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bot.domain.timing import is_overdue

WORST_OVERDUE_LIMIT = 10
TOP_CAUSES_LIMIT = 5
DIGEST_DAYS = 7
TREND_DAYS = 14
"""The sparkline's days: two weeks of flags and closures, the last full day last."""
SPARK_BARS = "▁▂▃▄▅▆▇█"
DIGEST_WINDOW = timedelta(days=2 * DIGEST_DAYS)
"""What a digest reads: its week, and the week before for the trends."""

UNCOUNTED_APPROVALS = frozenset({"pending", "declined"})
"""A remedy still waiting for a lead, or declined, was not given: it is not spend."""


class IncidentFacts(NamedTuple):
    """What the figures need to know about one incident; datetimes are aware.

    A named tuple, not a dataclass: a busy channel's digest builds tens of thousands of
    these from database rows, and a tuple takes a row's values positionally for about a
    sixth of a frozen dataclass's cost (whose ``__init__`` sets each field through
    ``object.__setattr__``). The loader follows the field order."""

    number: int
    channel: str
    created_at: datetime
    status: str = "open"
    claimed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    """When the `acknowledge` step ended done."""
    resolved_at: datetime | None = None
    """When the customer agreed with the resolution (buy-in)."""
    closed_at: datetime | None = None
    owner_id: str | None = None
    current_step: str = "claim"
    step_due_at: datetime | None = None
    snoozed_until: datetime | None = None
    root_cause: str | None = None
    remedy_kind: str | None = None
    remedy_amount: Decimal | None = None
    approval: str | None = None
    csat: int | None = None
    buy_again: str | None = None
    fixed_at: datetime | None = None
    """When the last `fix` step ended done: when the root cause was recorded."""
    summary: str = ""
    card_ts: str | None = None
    """Where its card is (in ``channel``), so the digest can link to it."""


class OpenIncident(NamedTuple):
    """One open incident as the digest names it: an overdue line, or the oldest one open."""

    number: int
    owner_id: str | None
    age: timedelta
    """Since it was flagged."""
    overdue_by: timedelta | None
    """None: not overdue (snoozed, or still within its step's time)."""
    summary: str = ""
    step: str = "claim"
    card_ts: str | None = None


@dataclass(frozen=True, slots=True)
class Trend:
    """A median over the period against the same length of time just before it."""

    current: timedelta | None
    previous: timedelta | None


@dataclass(frozen=True, slots=True)
class _Period:
    """The figures every report shares for one period [start, end) and the one before."""

    time_to_claim: Trend
    time_to_acknowledge: Trend
    time_to_resolve: Trend
    satisfaction: float | None
    satisfaction_answers: int
    buy_again_share: float | None
    buy_again_answers: int
    top_causes: tuple[tuple[str, int], ...]
    remedy_spend: Decimal
    remedy_count: int


@dataclass(frozen=True, slots=True)
class _Now:
    open_now: int
    unclaimed_now: int
    overdue_now: int
    worst_overdue: tuple[OpenIncident, ...]
    oldest_open: OpenIncident | None


@dataclass(frozen=True, slots=True)
class DigestFigures:
    day: date
    """The digest's own day, in the team's zone."""
    since: date
    """The first day it reports on: yesterday, or the last working day before it (Monday's
    reports from Friday on). The counts below are for [since, day)."""
    flagged: int
    resolved: int
    closed: int
    open_now: int
    unclaimed_now: int
    overdue_now: int
    worst_overdue: tuple[OpenIncident, ...]
    """At most ten, most overdue first."""
    oldest_open: OpenIncident | None
    flagged_daily: tuple[int, ...]
    """Flags per local day over the `TREND_DAYS` before ``day``, oldest first."""
    closed_daily: tuple[int, ...]
    time_to_claim: Trend
    time_to_acknowledge: Trend
    time_to_resolve: Trend
    satisfaction: float | None
    """Average CSAT (1-10) of follow-ups recorded in the last 7 days."""
    satisfaction_answers: int
    buy_again_share: float | None
    """Share (0-1) of "yes" among would-buy-again answers in the last 7 days."""
    buy_again_answers: int
    top_causes: tuple[tuple[str, int], ...]
    remedy_spend: Decimal
    remedy_count: int
    """Remedies given (kind other than "none") among those counted in the spend."""

    @property
    def has_news(self) -> bool:
        """Something to say: an incident open, or one flagged, resolved or closed in the
        days reported on. A digest of zeros is noise a lead learns to skip."""
        return bool(self.open_now or self.flagged or self.resolved or self.closed)


@dataclass(frozen=True, slots=True)
class StatsFigures:
    days: int
    since: datetime
    flagged: int
    resolved: int
    closed: int
    cancelled: int
    open_now: int
    unclaimed_now: int
    overdue_now: int
    time_to_claim: Trend
    time_to_acknowledge: Trend
    time_to_resolve: Trend
    satisfaction: float | None
    satisfaction_answers: int
    buy_again_share: float | None
    buy_again_answers: int
    top_causes: tuple[tuple[str, int], ...]
    remedy_spend: Decimal
    remedy_count: int
    within_sla: dict[str, float | None]
    """Per step key: share of instances ended (done or skipped) in the period by their due time."""


def digest_figures(incidents: Iterable[IncidentFacts], *, now: datetime, tz: ZoneInfo,
                   since: date | None = None) -> DigestFigures:
    """The morning digest: the days since ``since`` (default yesterday) in the team's zone,
    the state now, the last week's medians and two weeks of daily counts."""
    facts = tuple(incidents)
    today = now.astimezone(tz).date()
    since = min(since, today) if since is not None else today - timedelta(days=1)
    start, end = _local_midnight(since, tz), _local_midnight(today, tz)
    now_figures = _now_figures(facts, now)
    period = _period_figures(facts, now - timedelta(days=DIGEST_DAYS), now)
    return DigestFigures(
        day=today,
        since=since,
        flagged=_count(facts, start, end, lambda f: f.created_at),
        resolved=_count(facts, start, end, lambda f: f.resolved_at),
        closed=_count(facts, start, end, _closed_at),
        open_now=now_figures.open_now,
        unclaimed_now=now_figures.unclaimed_now,
        overdue_now=now_figures.overdue_now,
        worst_overdue=now_figures.worst_overdue,
        oldest_open=now_figures.oldest_open,
        flagged_daily=_daily(facts, today, tz, lambda f: f.created_at),
        closed_daily=_daily(facts, today, tz, _closed_at),
        **_period_fields(period),
    )


def sparkline(values: Sequence[int]) -> str:
    """One bar per value, scaled to the largest: zero is the lowest bar and only zero is, so
    a quiet day never looks like a day with one incident; the largest is the full bar."""
    top = max(values, default=0)
    return "".join(_bar(value, top) for value in values)


def _bar(value: int, top: int) -> str:
    if value <= 0:
        return SPARK_BARS[0]
    if top <= 1:
        return SPARK_BARS[-1]
    return SPARK_BARS[1 + round((value - 1) * (len(SPARK_BARS) - 2) / (top - 1))]


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle value; for an even count the mean of the two middle ones; None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def _closed_at(fact: IncidentFacts) -> datetime | None:
    """When it was closed, for a closure (a cancellation is not one)."""
    return fact.closed_at if fact.status == "closed" else None


def _daily(facts: Sequence[IncidentFacts], today: date, tz: ZoneInfo,
           moment: Callable[[IncidentFacts], datetime | None]) -> tuple[int, ...]:
    """How many ``moment``s fell on each of the `TREND_DAYS` local days before ``today``."""
    first = today - timedelta(days=TREND_DAYS)
    start, end = _local_midnight(first, tz), _local_midnight(today, tz)
    counts = Counter((when.astimezone(tz).date() - first).days
                     for fact in facts if (when := moment(fact)) is not None and start <= when < end)
    return tuple(counts[index] for index in range(TREND_DAYS))


def _within(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _count(facts: Sequence[IncidentFacts], start: datetime, end: datetime,
           moment: Callable[[IncidentFacts], datetime | None]) -> int:
    return sum(1 for fact in facts if _within(moment(fact), start, end))


def _now_figures(facts: Sequence[IncidentFacts], now: datetime) -> _Now:
    open_facts = [fact for fact in facts if fact.status == "open"]
    overdue = sorted((_open_line(fact, now) for fact in open_facts if is_overdue(fact, now)),
                     key=lambda line: (-line.overdue_by, line.number))
    oldest = min(open_facts, key=lambda fact: (fact.created_at, fact.number), default=None)
    return _Now(
        open_now=len(open_facts),
        unclaimed_now=sum(1 for fact in open_facts if fact.owner_id is None),
        overdue_now=len(overdue),
        worst_overdue=tuple(overdue[:WORST_OVERDUE_LIMIT]),
        oldest_open=_open_line(oldest, now) if oldest is not None else None,
    )


def _open_line(fact: IncidentFacts, now: datetime) -> OpenIncident:
    return OpenIncident(fact.number, fact.owner_id, now - fact.created_at,
                        now - fact.step_due_at if is_overdue(fact, now) else None,
                        fact.summary, fact.current_step, fact.card_ts)


def _trend(facts: Sequence[IncidentFacts], start: datetime, end: datetime,
           moment: Callable[[IncidentFacts], datetime | None]) -> Trend:
    """Median time from flag to ``moment`` for incidents whose moment fell in the period,
    and in the period of equal length before it. One pass: a digest reads every incident
    of the last two weeks, six times over (three moments)."""
    before = start - (end - start)
    current: list[timedelta] = []
    previous: list[timedelta] = []
    for fact in facts:
        when = moment(fact)
        if when is None or not before <= when < end:
            continue
        (current if when >= start else previous).append(when - fact.created_at)
    return Trend(current=median(current), previous=median(previous))


def _period_figures(facts: Sequence[IncidentFacts], start: datetime, end: datetime) -> _Period:
    followed_up = [fact for fact in facts if _within(fact.closed_at, start, end)]
    scores = [fact.csat for fact in followed_up if fact.csat is not None]
    answers = [fact.buy_again for fact in followed_up if fact.buy_again is not None]
    spent = [fact for fact in facts if _within(fact.resolved_at, start, end) and _counts_as_spend(fact)]
    return _Period(
        time_to_claim=_trend(facts, start, end, lambda f: f.claimed_at),
        time_to_acknowledge=_trend(facts, start, end, lambda f: f.acknowledged_at),
        time_to_resolve=_trend(facts, start, end, lambda f: f.resolved_at),
        satisfaction=sum(scores) / len(scores) if scores else None,
        satisfaction_answers=len(scores),
        buy_again_share=answers.count("yes") / len(answers) if answers else None,
        buy_again_answers=len(answers),
        top_causes=_top_causes(facts, start, end),
        remedy_spend=sum((fact.remedy_amount for fact in spent), Decimal(0)),
        remedy_count=sum(1 for fact in spent if fact.remedy_kind != "none"),
    )


def _period_fields(period: _Period) -> dict[str, object]:
    """The shared figures as keyword arguments for the flat report dataclasses."""
    return {field.name: getattr(period, field.name) for field in fields(period)}


def _counts_as_spend(fact: IncidentFacts) -> bool:
    return fact.remedy_amount is not None and fact.approval not in UNCOUNTED_APPROVALS


def _top_causes(facts: Sequence[IncidentFacts], start: datetime, end: datetime) -> tuple[tuple[str, int], ...]:
    return rank_causes((fact.root_cause, 1) for fact in facts
                       if fact.root_cause and _within(_cause_named_at(fact), start, end))


def rank_causes(named: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """The recurring issues from root causes as recorded, each with how often it was named
    in the period: the same cause with stray spaces is one cause, a blank one is none; most
    frequent first, ties by name, at most `TOP_CAUSES_LIMIT`. Shared by the digest (one per
    incident) and the stats (counted by the database, per cause as recorded)."""
    counts: Counter[str] = Counter()
    for cause, count in named:
        if cause and cause.strip():
            counts[cause.strip()] += count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:TOP_CAUSES_LIMIT])


def _cause_named_at(fact: IncidentFacts) -> datetime:
    """When the root cause was recorded: the end of the last `fix` step done, or when the
    incident was flagged if no fix was recorded as a step (an incident from before steps)."""
    return fact.fixed_at if fact.fixed_at is not None else fact.created_at
