"""The daily digest's and `/recovery stats`' figures, against hand-computed fixtures."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import (
    IncidentFacts, OpenIncident, StepTiming, Trend, digest_figures, median, stats_figures,
)

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 12 June 2024, 09:00 in New York (EDT, UTC-4).
NOW = datetime(2024, 6, 12, 13, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def fact(number: int, created_at: datetime = NOW - 30 * DAY, **fields) -> IncidentFacts:
    return IncidentFacts(number=number, channel="C1", created_at=created_at, **fields)


def digest(*incidents: IncidentFacts):
    return digest_figures(incidents, now=NOW, tz=NEW_YORK)


# --- empty input ------------------------------------------------------------------------

def test_a_quiet_team_gets_zeros_and_no_data_not_an_error():
    figures = digest()
    assert (figures.day, figures.since) == (date(2024, 6, 12), date(2024, 6, 11))
    assert (figures.flagged, figures.resolved, figures.closed) == (0, 0, 0)
    assert (figures.open_now, figures.unclaimed_now, figures.overdue_now) == (0, 0, 0)
    assert figures.worst_overdue == () and figures.oldest_open is None
    assert figures.flagged_daily == figures.closed_daily == (0,) * 14
    assert not figures.has_news
    assert figures.time_to_claim == figures.time_to_acknowledge == figures.time_to_resolve == Trend(None, None)
    assert figures.satisfaction is None and figures.buy_again_share is None
    assert figures.top_causes == ()
    assert figures.remedy_spend == Decimal(0) and figures.remedy_count == 0

    stats = stats_figures([], now=NOW, days=30, tz=NEW_YORK)
    assert stats.flagged == 0 and stats.time_to_resolve == Trend(None, None)
    assert set(stats.within_sla) == {"claim", "acknowledge", "apologize", "fix", "make_it_right", "buy_in",
                                     "follow_up"}
    assert all(share is None for share in stats.within_sla.values())


# --- yesterday --------------------------------------------------------------------------

def test_yesterday_is_the_team_calendar_day_not_the_utc_one():
    figures = digest(
        # 23:30 New York on the day before yesterday: 03:30 UTC on 11 June, yet not yesterday.
        fact(1, created_at=datetime(2024, 6, 10, 23, 30, tzinfo=NEW_YORK)),
        # 00:30 New York yesterday.
        fact(2, created_at=datetime(2024, 6, 11, 0, 30, tzinfo=NEW_YORK)),
        # 23:30 New York yesterday: already 12 June in UTC, still yesterday.
        fact(3, created_at=datetime(2024, 6, 11, 23, 30, tzinfo=NEW_YORK)),
        # 00:00 New York today.
        fact(4, created_at=datetime(2024, 6, 12, 0, 0, tzinfo=NEW_YORK)),
    )
    assert figures.flagged == 2


def test_yesterday_counts_resolutions_and_closures_but_not_cancellations():
    yesterday_noon = datetime(2024, 6, 11, 12, 0, tzinfo=NEW_YORK)
    figures = digest(
        fact(1, resolved_at=yesterday_noon),
        fact(2, status="closed", resolved_at=NOW - 5 * DAY, closed_at=yesterday_noon),
        fact(3, status="cancelled", closed_at=yesterday_noon),
        fact(4, status="closed", closed_at=NOW - 3 * DAY),
    )
    assert (figures.resolved, figures.closed) == (1, 1)


# --- now --------------------------------------------------------------------------------

def test_open_and_unclaimed_now_ignore_closed_and_cancelled_incidents():
    figures = digest(
        fact(1), fact(2, owner_id="U1"), fact(3, status="closed"), fact(4, status="cancelled"),
    )
    assert (figures.open_now, figures.unclaimed_now) == (2, 1)


def test_the_worst_ten_overdue_are_listed_most_overdue_first():
    overdue = [
        fact(n, created_at=NOW - n * timedelta(hours=1), owner_id=f"U{n}" if n % 2 else None,
             step_due_at=NOW - n * MIN)
        for n in range(1, 13)
    ]
    figures = digest(*overdue)
    assert figures.overdue_now == 12
    assert [line.number for line in figures.worst_overdue] == list(range(12, 2, -1))
    assert figures.worst_overdue[0] == OpenIncident(12, None, timedelta(hours=12), 12 * MIN)
    assert figures.worst_overdue[1] == OpenIncident(11, "U11", timedelta(hours=11), 11 * MIN)
    assert figures.oldest_open == figures.worst_overdue[0]


def test_equally_overdue_incidents_are_listed_by_number():
    figures = digest(fact(7, step_due_at=NOW - MIN), fact(3, step_due_at=NOW - MIN))
    assert [line.number for line in figures.worst_overdue] == [3, 7]


def test_snoozed_due_now_closed_and_undated_incidents_are_not_overdue():
    figures = digest(
        fact(1, step_due_at=NOW - DAY, snoozed_until=NOW + MIN),              # snoozed past now
        fact(2, step_due_at=NOW - DAY, snoozed_until=NOW - MIN),              # snooze ran out: overdue
        fact(3, step_due_at=NOW),                                             # due exactly now
        fact(4, step_due_at=NOW - DAY, status="closed"),
        fact(5, step_due_at=None),
        fact(6, step_due_at=NOW - timedelta(seconds=1)),
    )
    assert figures.overdue_now == 2
    assert [line.number for line in figures.worst_overdue] == [2, 6]


# --- medians ----------------------------------------------------------------------------

def test_median_of_an_odd_count_is_the_middle_value():
    assert median([5 * MIN, 20 * MIN, 10 * MIN]) == 10 * MIN


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values():
    assert median([60 * MIN, 10 * MIN, 30 * MIN, 20 * MIN]) == 25 * MIN
    assert median([]) is None


def test_median_time_to_claim_this_week_against_last_week():
    def claimed(number: int, ago: timedelta, took: timedelta) -> IncidentFacts:
        return fact(number, created_at=NOW - ago - took, claimed_at=NOW - ago)

    figures = digest(
        claimed(1, 1 * DAY, 5 * MIN), claimed(2, 2 * DAY, 20 * MIN), claimed(3, 3 * DAY, 10 * MIN),
        claimed(4, 8 * DAY, 60 * MIN), claimed(5, 9 * DAY, 10 * MIN), claimed(6, 10 * DAY, 30 * MIN),
        claimed(7, 13 * DAY, 20 * MIN),
        claimed(8, 15 * DAY, 1000 * MIN),                         # older than two weeks: ignored
    )
    assert figures.time_to_claim == Trend(current=10 * MIN, previous=25 * MIN)


def test_the_week_boundary_belongs_to_this_week():
    figures = digest(
        fact(1, created_at=NOW - 7 * DAY - 4 * MIN, claimed_at=NOW - 7 * DAY),          # exactly 7 days ago
        fact(2, created_at=NOW - 14 * DAY - 8 * MIN, claimed_at=NOW - 14 * DAY),        # exactly 14 days ago
        fact(3, created_at=NOW - 2 * MIN, claimed_at=NOW),                              # now: next digest's
    )
    assert figures.time_to_claim == Trend(current=4 * MIN, previous=8 * MIN)


def test_time_to_acknowledge_and_to_resolve_run_from_the_flag():
    figures = digest(
        fact(1, created_at=NOW - 2 * DAY, acknowledged_at=NOW - 2 * DAY + 12 * MIN, resolved_at=NOW - DAY),
        fact(2, created_at=NOW - 3 * DAY, acknowledged_at=NOW - 3 * DAY + 18 * MIN, resolved_at=NOW - DAY),
        fact(3, created_at=NOW - 9 * DAY, acknowledged_at=NOW - 9 * DAY + 40 * MIN),
    )
    assert figures.time_to_acknowledge == Trend(current=15 * MIN, previous=40 * MIN)
    assert figures.time_to_resolve == Trend(current=timedelta(days=1, hours=12), previous=None)


def test_an_empty_week_has_no_median_rather_than_zero():
    figures = digest(fact(1, created_at=NOW - 2 * DAY, claimed_at=NOW - DAY))
    assert figures.time_to_claim.current == DAY
    assert figures.time_to_claim.previous is None
    assert figures.time_to_acknowledge == Trend(None, None)


# --- satisfaction -----------------------------------------------------------------------

def test_satisfaction_averages_follow_ups_closed_this_week():
    def followed_up(number: int, ago: timedelta, csat: int | None, buy_again: str | None) -> IncidentFacts:
        return fact(number, status="closed", closed_at=NOW - ago, csat=csat, buy_again=buy_again)

    figures = digest(
        followed_up(1, DAY, 9, "yes"), followed_up(2, 2 * DAY, 6, "no"), followed_up(3, 3 * DAY, 10, "yes"),
        followed_up(4, 4 * DAY, None, "maybe"),
        followed_up(5, 8 * DAY, 1, "no"),                    # last week: not in this week's figures
        followed_up(6, 2 * DAY, None, None),
    )
    assert figures.satisfaction == pytest.approx(25 / 3)
    assert figures.satisfaction_answers == 3
    assert figures.buy_again_share == 0.5
    assert figures.buy_again_answers == 4


# --- root causes ------------------------------------------------------------------------

def test_top_causes_are_most_frequent_first_ties_by_name_at_most_five():
    def fixed(number: int, cause: str, ago: timedelta = DAY) -> IncidentFacts:
        timing = StepTiming("fix", started_at=NOW - ago - MIN, due_at=NOW, ended_at=NOW - ago, result="done")
        return fact(number, root_cause=cause, steps=(timing,))

    causes = ["delivery"] * 3 + ["process", "billing"] * 2 + ["staff behaviour", "product defect", "other"]
    incidents = [fixed(n, cause) for n, cause in enumerate(causes, start=1)]
    incidents.append(fixed(50, "staff behaviour", ago=8 * DAY))          # fixed last week
    incidents.append(fact(51, created_at=NOW - DAY, root_cause="staff behaviour"))  # no timings: flag time
    incidents.append(fact(52, created_at=NOW - DAY, root_cause=None))
    figures = digest(*incidents)
    assert figures.top_causes == (
        ("delivery", 3), ("billing", 2), ("process", 2), ("staff behaviour", 2), ("other", 1),
    )


# --- remedy spend -----------------------------------------------------------------------

def test_remedy_spend_counts_what_was_given_this_week_not_pending_or_declined():
    def remedied(number: int, kind: str, amount: str, approval: str | None, ago: timedelta = DAY) -> IncidentFacts:
        return fact(number, resolved_at=NOW - ago, remedy_kind=kind, remedy_amount=Decimal(amount), approval=approval)

    figures = digest(
        remedied(1, "refund", "20.50", None),
        remedied(2, "gift", "70", "approved"),
        remedied(3, "replacement", "100", "pending"),
        remedied(4, "discount", "80", "declined"),
        remedied(5, "none", "0", None),
        remedied(6, "refund", "10", None, ago=8 * DAY),
        fact(7, resolved_at=NOW - DAY),
    )
    assert figures.remedy_spend == Decimal("90.50")
    assert figures.remedy_count == 2


# --- stats ------------------------------------------------------------------------------

def test_stats_compare_thirty_days_against_the_thirty_before():
    stats = stats_figures([
        fact(1, created_at=NOW - 20 * DAY, claimed_at=NOW - 20 * DAY + 6 * MIN),
        fact(2, created_at=NOW - 40 * DAY, claimed_at=NOW - 40 * DAY + 12 * MIN),
        fact(3, created_at=NOW - 2 * DAY, status="cancelled", closed_at=NOW - DAY),
        fact(4, created_at=NOW - 70 * DAY, claimed_at=NOW - 70 * DAY + 99 * MIN),
    ], now=NOW, days=30, tz=NEW_YORK)
    assert stats.days == 30
    assert stats.since == NOW - 30 * DAY
    assert (stats.flagged, stats.closed, stats.cancelled) == (2, 0, 1)
    assert stats.time_to_claim == Trend(current=6 * MIN, previous=12 * MIN)


def test_within_sla_share_counts_done_and_skipped_steps_ended_by_their_due_time():
    due = NOW - 2 * DAY

    def step(key: str, ended: datetime | None, result: str | None, due_at: datetime | None = due) -> StepTiming:
        return StepTiming(key, started_at=due - timedelta(hours=1), due_at=due_at, ended_at=ended, result=result)

    stats = stats_figures([
        fact(1, steps=(
            step("claim", due - MIN, "done"),
            step("acknowledge", due + MIN, "done"),
            step("make_it_right", due + MIN, "declined"),      # loops back: not judged here
            step("make_it_right", due - MIN, "done"),
            step("buy_in", due - MIN, "not_yet"),
            step("buy_in", due + DAY, "done"),
        )),
        fact(2, steps=(
            step("claim", due, "done"),                        # exactly at due is in time
            step("acknowledge", due - MIN, "skipped"),
            step("apologize", None, None),                     # still running
        )),
        fact(3, steps=(
            step("claim", due + timedelta(seconds=1), "skipped"),
            step("claim", due - 10 * DAY, "done", due_at=due - 10 * DAY),   # ended before the window
            step("follow_up", due, "done", due_at=None),
        )),
    ], now=NOW, days=7, tz=NEW_YORK)
    assert stats.within_sla == {
        "claim": 2 / 3, "acknowledge": 0.5, "apologize": None, "fix": None,
        "make_it_right": 1.0, "buy_in": 0.0, "follow_up": 1.0,
    }


def test_stats_of_an_odd_window_are_still_an_answer():
    stats = stats_figures([fact(1, created_at=NOW - DAY)], now=NOW, days=0, tz=NEW_YORK)
    assert stats.flagged == 0 and stats.time_to_claim == Trend(None, None)
    assert stats_figures([], now=NOW, days=10**9, tz=NEW_YORK).days <= 3660
