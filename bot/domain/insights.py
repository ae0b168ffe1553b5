"""`/recovery insights`: what wins customers back, from the team's own follow-up answers.

An answer is an incident whose follow-up recorded both a satisfaction score (1-10) and
"would buy again" (yes, maybe or no), at a time in the window; only "yes" counts as would
buy again. The database adds the answers up per group (`storage.insights_store`) into
`Tally` values: n, the yeses, Σ satisfaction and Σ satisfaction², which are all a share, a
mean and their 95% intervals need. This module turns them into figures, applies the
small-group rule, picks the differences worth acting on and judges recovery against the
baseline of customers who never had a problem. Pure: no Slack, no database.

Rules, as the README states them:
- a group with fewer than `MIN_ANSWERS` answers shows no figure ("not enough answers yet");
- within a split, the best and the worst group with enough answers are compared; the
  difference is worth acting on when its 95% interval excludes zero (Newcombe's interval
  from the two Wilson intervals for shares, Welch's for mean satisfaction);
- against the baseline, recovery "beat" or "fell short" only when the interval of the
  difference excludes zero, and "matched" otherwise: the wording never claims more than
  the answers show. A baseline from settings has no count and is taken as exact.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from bot.domain.intervals import (
    Interval, mean_interval, newcombe_difference, sample_variance, share_against_fixed, welch_difference, wilson,
)
from bot.domain.stats import StatsWindow
from bot.domain.types import REMEDY_KINDS, Severity

MIN_ANSWERS = 10
"""Fewer answers than this in a group and its figures would mislead: none are shown."""
SCALE = (1.0, 10.0)
"""The satisfaction scale: a mean's interval is cut to it (a t interval knows no bounds)."""

Measure = Literal["share", "satisfaction"]
Verdict = Literal["beat", "matched", "fell short"]

RESOLVE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("under_4h", timedelta(hours=4)), ("4h_24h", timedelta(hours=24)), ("1d_3d", timedelta(days=3)),
    ("over_3d", None))
"""Flag to the customer's agreement (buy-in): the key and the exclusive upper end of each
bucket; the first hours are the fix step's default SLA, a day the next steps'."""
NOT_RECORDED = ""
"""The key of answers whose split value was never recorded (no root cause, no remedy…)."""

SPLITS: tuple[str, ...] = ("acknowledge", "resolve", "apology", "remedy", "amount", "cause", "severity", "owner")
"""The splits by what the team controls, in the order they are shown."""
_FIXED_ORDER: Mapping[str, tuple[str, ...]] = {
    "acknowledge": ("within", "late"),
    "resolve": tuple(key for key, _ in RESOLVE_BUCKETS),
    "apology": ("done", "skipped"),
    "remedy": (*REMEDY_KINDS, NOT_RECORDED),
    "amount": ("none", "within", "approved_above"),
    "severity": tuple(severity.value for severity in Severity),
}
"""Groups shown in this order; the others (root causes, owners) by their number of answers."""


def parse_share(text: str) -> float:
    """A share as people write it: "0.74" or "74%" (BASELINE_WOULD_BUY_AGAIN, the CSV)."""
    cleaned = text.strip()
    percent = cleaned.endswith("%")
    try:
        value = float(cleaned.removesuffix("%").strip())
    except ValueError:
        raise ValueError("expected a share like 0.74 or 74%") from None
    if percent:
        value /= 100
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError("expected a share from 0 to 1 (or 0% to 100%), like 0.74 or 74%")
    return value


def parse_satisfaction(text: str) -> float:
    """A mean satisfaction on the follow-up's scale, 1 to 10, like 7.8."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("expected a mean satisfaction from 1 to 10, like 7.8") from None
    if not math.isfinite(value) or not SCALE[0] <= value <= SCALE[1]:
        raise ValueError("expected a mean satisfaction from 1 to 10, like 7.8")
    return value


class Tally(NamedTuple):
    """What the database sums for a group of answers."""

    answers: int = 0
    yes: int = 0
    satisfaction_total: int = 0
    satisfaction_squares: int = 0


@dataclass(frozen=True, slots=True)
class Figure:
    """A group's figures; ``enough`` is False below `MIN_ANSWERS`, and then only ``answers``
    may be shown."""

    answers: int
    yes: int
    share: float | None
    share_interval: Interval | None
    satisfaction: float | None
    satisfaction_interval: Interval | None
    variance: float | None

    @property
    def enough(self) -> bool:
        return self.share is not None


def figure(tally: Tally) -> Figure:
    if tally.answers < MIN_ANSWERS:
        return Figure(tally.answers, tally.yes, None, None, None, None, None)
    n = tally.answers
    mean = tally.satisfaction_total / n
    variance = sample_variance(tally.satisfaction_total, tally.satisfaction_squares, n)
    low, high = mean_interval(mean, variance, n)
    return Figure(n, tally.yes, tally.yes / n, wilson(tally.yes, n), mean,
                  Interval(max(low, SCALE[0]), min(high, SCALE[1])), variance)


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    figure: Figure


@dataclass(frozen=True, slots=True)
class Split:
    name: str
    groups: tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Within a split, a group that did better than another by more than chance."""

    split: str
    measure: Measure
    better: Group
    worse: Group
    difference: Interval


@dataclass(frozen=True, slots=True)
class Baseline:
    """Customers who never had a problem: ``answers`` None for a baseline from settings (a
    fixed value), else the survey's count; ``satisfaction_sd`` lets means be compared with
    Welch's interval, without it the survey's mean is taken as exact too."""

    would_buy_again: float | None
    satisfaction: float | None
    answers: int | None = None
    satisfaction_sd: float | None = None
    period: tuple[date, date] | None = None


class BaselinePeriod(NamedTuple):
    """A row of `python -m bot baseline --csv`: one survey period, dates inclusive."""

    period_start: date
    period_end: date
    would_buy_again: float
    satisfaction: float
    answers: int
    satisfaction_sd: float | None = None


@dataclass(frozen=True, slots=True)
class BaselineComparison:
    measure: Measure
    recovered: float
    baseline: float
    baseline_answers: int | None
    difference: Interval
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class WeekPoint:
    """A week's answers: from ``start`` (the local Monday; the first week may begin later)."""

    start: date
    figure: Figure


@dataclass(frozen=True, slots=True)
class Insights:
    """Everything the answer says, as data: the view draws it, the chart plots
    ``by_resolve`` and ``by_week``."""

    days: int
    since: datetime
    overall: Figure
    splits: tuple[Split, ...]
    worth_acting: tuple[Comparison, ...]
    baseline: Baseline | None
    against_baseline: tuple[BaselineComparison, ...]
    by_week: tuple[WeekPoint, ...]

    @property
    def answers(self) -> int:
        return self.overall.answers

    @property
    def by_resolve(self) -> Split:
        return next(split for split in self.splits if split.name == "resolve")


def week_starts(window: StatsWindow, tz: ZoneInfo) -> list[datetime]:
    """The local Mondays 00:00 inside the window, as aware UTC-comparable times: the edges of
    the weekly series (the first week runs from the window's start to the first of them)."""
    first = window.start.astimezone(tz).date()
    monday = first - timedelta(days=first.weekday()) + timedelta(days=7)
    edges = []
    while (edge := datetime(monday.year, monday.month, monday.day, tzinfo=tz)) < window.end:
        edges.append(edge)
        monday += timedelta(days=7)
    return edges


def insights(tallies: Mapping[str, Mapping[str, Tally]], *, window: StatsWindow, tz: ZoneInfo,
             baseline: Baseline | None) -> Insights:
    """The figures from the database's tallies: ``tallies[split][key]``, with the whole
    window under ``tallies["overall"][""]`` and the weeks under ``tallies["week"][str(i)]``
    (week i starting at ``week_starts(...)[i - 1]``, week 0 at the window's start)."""
    overall = figure(tallies.get("overall", {}).get("", Tally()))
    splits = tuple(Split(name, _groups(name, tallies.get(name, {}))) for name in SPLITS)
    worth = tuple(sorted((found for split in splits for found in _compare(split)),
                         key=lambda c: (c.measure != "share", -c.difference.low)))
    first = window.start.astimezone(tz).date()
    starts = [first] + [edge.date() for edge in week_starts(window, tz)]
    weeks = tallies.get("week", {})
    by_week = tuple(WeekPoint(start, figure(weeks.get(str(index), Tally()))) for index, start in enumerate(starts))
    return Insights(days=window.days, since=window.start.astimezone(tz), overall=overall, splits=splits,
                    worth_acting=worth, baseline=baseline,
                    against_baseline=against_baseline(overall, baseline) if baseline else (), by_week=by_week)


def _groups(name: str, tallies: Mapping[str, Tally]) -> tuple[Group, ...]:
    order = _FIXED_ORDER.get(name)
    if order is None:
        keys = sorted(tallies, key=lambda key: (key == NOT_RECORDED, -tallies[key].answers, key))
    else:
        keys = [key for key in order if key in tallies] + sorted(key for key in tallies if key not in order)
    return tuple(Group(key, figure(tallies[key])) for key in keys if tallies[key].answers)


def _compare(split: Split) -> list[Comparison]:
    """The best and the worst group with enough answers, on each measure, when the interval
    of their difference excludes zero."""
    known = [group for group in split.groups if group.figure.enough]
    if len(known) < 2:
        return []
    found = []
    best = max(known, key=lambda group: group.figure.share or 0.0)
    worst = min(known, key=lambda group: group.figure.share or 0.0)
    if best is not worst:
        difference = newcombe_difference(best.figure.yes, best.figure.answers, worst.figure.yes, worst.figure.answers)
        if difference.excludes_zero():
            found.append(Comparison(split.name, "share", best, worst, difference))
    best = max(known, key=lambda group: group.figure.satisfaction or 0.0)
    worst = min(known, key=lambda group: group.figure.satisfaction or 0.0)
    if best is not worst:
        b, w = best.figure, worst.figure
        difference = welch_difference(b.satisfaction or 0.0, b.variance or 0.0, b.answers,
                                      w.satisfaction or 0.0, w.variance or 0.0, w.answers)
        if difference.excludes_zero():
            found.append(Comparison(split.name, "satisfaction", best, worst, difference))
    return found


def against_baseline(overall: Figure, baseline: Baseline) -> tuple[BaselineComparison, ...]:
    """Recovered customers against those who never had a problem, on each measure the
    baseline has; nothing while the recovered ones are too few to say."""
    if not overall.enough:
        return ()
    found = []
    if baseline.would_buy_again is not None and overall.share is not None:
        base = baseline.would_buy_again
        if baseline.answers:
            difference = newcombe_difference(overall.yes, overall.answers, base * baseline.answers, baseline.answers)
        else:
            difference = share_against_fixed(overall.yes, overall.answers, base)
        found.append(BaselineComparison("share", overall.share, base, baseline.answers, difference,
                                        _verdict(difference)))
    if baseline.satisfaction is not None and overall.satisfaction is not None:
        base = baseline.satisfaction
        n = overall.answers
        if baseline.answers and baseline.answers >= 2 and baseline.satisfaction_sd is not None:
            difference = welch_difference(overall.satisfaction, overall.variance or 0.0, n, base,
                                          baseline.satisfaction_sd ** 2, baseline.answers)
            answers: int | None = baseline.answers
        else:
            difference = mean_interval(overall.satisfaction, overall.variance or 0.0, n).shifted(-base)
            answers = None
        found.append(BaselineComparison("satisfaction", overall.satisfaction, base, answers, difference,
                                        _verdict(difference)))
    return tuple(found)


def _verdict(difference: Interval) -> Verdict:
    if difference.low > 0:
        return "beat"
    if difference.high < 0:
        return "fell short"
    return "matched"


def baseline_of(periods: Sequence[BaselinePeriod], *, window: StatsWindow, tz: ZoneInfo,
                fallback: Baseline | None) -> Baseline | None:
    """The survey periods that overlap the window, pooled (weighted by their answers), or
    the settings' baseline without any. The pooled spread needs every period's: the spread
    within periods plus that between their means."""
    first, last = window.start.astimezone(tz).date(), (window.end - timedelta(microseconds=1)).astimezone(tz).date()
    used = [period for period in periods if period.period_start <= last and period.period_end >= first]
    if not used:
        return fallback
    total = sum(period.answers for period in used)
    share = sum(period.would_buy_again * period.answers for period in used) / total
    mean = sum(period.satisfaction * period.answers for period in used) / total
    sd = None
    if total >= 2 and all(period.satisfaction_sd is not None for period in used):
        squares = sum((period.answers - 1) * (period.satisfaction_sd or 0.0) ** 2
                      + period.answers * (period.satisfaction - mean) ** 2 for period in used)
        sd = math.sqrt(squares / (total - 1))
    return Baseline(would_buy_again=share, satisfaction=mean, answers=total, satisfaction_sd=sd,
                    period=(min(period.period_start for period in used), max(period.period_end for period in used)))

