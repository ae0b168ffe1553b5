"""The daily digest's and `/recovery stats`' figures, against hand-computed fixtures."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bot.domain.digest import IncidentFacts, OpenIncident, Trend, digest_figures, median, rank_causes

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
        return fact(number, root_cause=cause, fixed_at=NOW - ago)

    causes = ["delivery"] * 3 + ["process", "billing"] * 2 + ["staff behaviour", "product defect", "other"]
    incidents = [fixed(n, cause) for n, cause in enumerate(causes, start=1)]
    incidents.append(fixed(50, "staff behaviour", ago=8 * DAY))          # fixed last week
    incidents.append(fact(51, created_at=NOW - DAY, root_cause="staff behaviour"))  # no fix step: flag time
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


# --- causes --------------------------------------------------------------------------

def test_causes_are_ranked_as_trimmed_names_blank_ones_dropped():
    assert rank_causes([("delivery", 2), (" delivery\n", 1), ("billing", 3), ("  ", 4), ("", 1)]) == (
        ("billing", 3), ("delivery", 3))
