"""`/recovery insights` and `python -m bot baseline`: the figures read for a workspace, and
the survey baseline read from a CSV file and stored.

The file is checked whole before anything is written: a survey export with one bad row is
refused with every bad line named, so the baseline is never half of one file and half of
the last.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime

from bot.domain.insights import (
    Baseline, BaselinePeriod, Insights, baseline_of, insights, parse_satisfaction, parse_share, week_starts,
)
from bot.domain.stats import stats_window
from bot.service import RecoveryService
from bot.settings import Settings
from storage import insights_store
from storage.db import Database

REQUIRED_COLUMNS = ("period_start", "period_end", "would_buy_again", "satisfaction", "answers")
OPTIONAL_COLUMNS = ("satisfaction_sd", "workspace_id")


def workspace_insights(service: RecoveryService, *, workspace_id: str, days: int,
                       until: datetime | None = None) -> Insights:
    """The workspace's figures over the ``days`` before ``until`` (now), against its survey
    baseline (the periods loaded that overlap the window) or else the settings' one. A weekly
    post passes the time it was due: built again when retried, it says the same."""
    window = stats_window(until or service.clock.now(), days)
    edges = week_starts(window, service.tz)
    with service.db.read() as session:
        tallies = insights_store.insight_tallies(session, workspace_id=workspace_id, window=window, week_starts=edges)
        periods = insights_store.baseline_periods(session, workspace_id=workspace_id)
    baseline = baseline_of(periods, window=window, tz=service.tz, fallback=settings_baseline(service.settings))
    return insights(tallies, window=window, tz=service.tz, baseline=baseline)


def settings_baseline(settings: Settings) -> Baseline | None:
    """BASELINE_WOULD_BUY_AGAIN and BASELINE_SATISFACTION: values without a count."""
    if settings.baseline_would_buy_again is None and settings.baseline_satisfaction is None:
        return None
    return Baseline(would_buy_again=settings.baseline_would_buy_again, satisfaction=settings.baseline_satisfaction)


class BadRows(Exception):
    """Every problem found in a baseline file, one line each ("line 3: answers: …")."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_baseline_csv(text: str) -> list[tuple[str, BaselinePeriod]]:
    """The file's periods, each with its workspace ("" for every workspace), or `BadRows`."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problems = [f"missing column {name}" for name in missing] + [f"unknown column {name!r}" for name in unknown]
        raise BadRows((f"line 1: {'; '.join(problems)} (the columns are {', '.join(REQUIRED_COLUMNS)} and, "
                       f"optionally, {', '.join(OPTIONAL_COLUMNS)})",))
    reader.fieldnames = header
    rows: list[tuple[int, str, BaselinePeriod]] = []
    problems = []
    for row in reader:
        line = reader.line_num
        try:
            rows.append((line, *_period(row)))
        except ValueError as error:
            problems.append(f"line {line}: {error}")
    problems += _overlaps(rows)
    if not rows and not problems:
        problems.append("no periods: the file has a header and no rows")
    if problems:
        raise BadRows(tuple(problems))
    return [(workspace, period) for _, workspace, period in rows]


def _period(row: dict[str, str | None]) -> tuple[str, BaselinePeriod]:
    def cell(name: str) -> str:
        value = row.get(name)
        return value.strip() if isinstance(value, str) else ""

    def parsed(name: str, parse):  # noqa: ANN001, ANN202 - each column's own parser
        text = cell(name)
        if not text:
            raise ValueError(f"{name} is empty")
        try:
            return parse(text)
        except ValueError as error:
            raise ValueError(f"{name}: {error}, got {text[:40]!r}") from None

    if None in row:
        raise ValueError("more cells than columns")
    start, end = parsed("period_start", _date), parsed("period_end", _date)
    if end < start:
        raise ValueError(f"period_end {end} is before period_start {start}")
    answers = parsed("answers", _answers)
    sd = parsed("satisfaction_sd", _sd) if cell("satisfaction_sd") else None
    return cell("workspace_id"), BaselinePeriod(start, end, parsed("would_buy_again", parse_share),
                                                parsed("satisfaction", parse_satisfaction), answers, sd)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date like 2026-10-01") from None


def _answers(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 10**9:
        raise ValueError("expected the number of answers, a whole number of at least 1")
    return int(text)


def _sd(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected a standard deviation of satisfaction, like 1.8") from None
    if not 0 <= value <= 9:
        raise ValueError("expected a standard deviation of satisfaction from 0 to 9, like 1.8")
    return value


def _overlaps(rows: Iterable[tuple[int, str, BaselinePeriod]]) -> list[str]:
    """Periods of one workspace that share a day: the pooled baseline would count them twice."""
    problems: list[tuple[int, str]] = []
    by_workspace: dict[str, list[tuple[int, BaselinePeriod]]] = {}
    for line, workspace, period in rows:
        by_workspace.setdefault(workspace, []).append((line, period))
    for periods in by_workspace.values():
        periods.sort(key=lambda item: item[1].period_start)
        for first, second in zip(periods, periods[1:]):
            if second[1].period_start <= first[1].period_end:
                # Said on the later line of the file, naming the earlier one.
                (earlier, period), (later, _) = sorted((first, second), key=lambda item: item[0])
                problems.append((later, f"line {later}: its period overlaps line {earlier}'s ({period.period_start} "
                                        f"to {period.period_end})"))
    return [problem for _, problem in sorted(problems, key=lambda item: item[0])]


def load_baseline(db: Database, rows: list[tuple[str, BaselinePeriod]], *, now: datetime) -> None:
    """A whole checked file (`parse_baseline_csv`) replaces the baseline of the workspaces it names."""
    with db.transaction() as session:
        insights_store.replace_baselines(session, rows, now=now)
