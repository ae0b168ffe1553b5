"""`/recovery stats`' figures from the database's totals, against hand-computed values."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.domain.digest import Trend
from bot.domain.stats import MAX_STATS_DAYS, Middles, StatsTotals, StepEnds, figures_from_totals, stats_window

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2024, 6, 12, 13, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
STEPS = {"claim", "acknowledge", "apologize", "fix", "make_it_right", "buy_in", "follow_up"}


def figures(days: int = 30, **totals):
    return figures_from_totals(StatsTotals(**totals), window=stats_window(NOW, days), tz=NEW_YORK)


def test_a_quiet_workspace_gets_zeros_and_no_data_not_an_error():
    stats = figures()
    assert (stats.days, stats.since) == (30, NOW - timedelta(days=30))
    assert stats.since.tzinfo == NEW_YORK
    assert (stats.flagged, stats.resolved, stats.closed, stats.cancelled) == (0, 0, 0, 0)
    assert stats.time_to_claim == stats.time_to_acknowledge == stats.time_to_resolve == Trend(None, None)
    assert stats.satisfaction is None and stats.buy_again_share is None
    assert stats.top_causes == () and stats.remedy_spend == Decimal(0) and stats.remedy_count == 0
    assert stats.within_sla == dict.fromkeys(STEPS)


def test_the_window_and_the_period_before_are_exact_lengths_of_time():
    window = stats_window(NOW, 7)
    assert (window.start, window.end, window.before) == (NOW - timedelta(days=7), NOW, NOW - timedelta(days=14))
    assert stats_window(NOW, -3).days == 0 and stats_window(NOW, 0).before == NOW
    assert stats_window(NOW, 10**9).days == MAX_STATS_DAYS == 3660


def test_medians_come_from_the_middle_values_one_for_an_odd_count_two_for_an_even():
    stats = figures(time_to_claim=Middles(current=(6 * MIN,), previous=(10 * MIN, 13 * MIN)),
                    time_to_resolve=Middles(previous=(timedelta(microseconds=1), timedelta(microseconds=2))))
    assert stats.time_to_claim == Trend(current=6 * MIN, previous=11 * MIN + 30 * timedelta(seconds=1))
    assert stats.time_to_resolve == Trend(current=None, previous=timedelta(microseconds=2))  # 1.5 µs rounds even
    assert stats.time_to_acknowledge == Trend(None, None)


def test_shares_averages_causes_and_spend():
    stats = figures(satisfaction_total=25, satisfaction_answers=3, buy_again_yes=2, buy_again_answers=4,
                    causes=(("delivery", 2), (" delivery", 1), ("billing", 1), (" ", 2)),
                    remedy_spend=Decimal("90.50"), remedy_count=2,
                    step_ends={"claim": StepEnds(3, 2), "fix": StepEnds(0, 0), "other": StepEnds(1, 1)})
    assert stats.satisfaction == 25 / 3 and stats.satisfaction_answers == 3
    assert stats.buy_again_share == 0.5 and stats.buy_again_answers == 4
    assert stats.top_causes == (("delivery", 3), ("billing", 1))
    assert (stats.remedy_spend, stats.remedy_count) == (Decimal("90.50"), 2)
    assert stats.within_sla == {**dict.fromkeys(STEPS), "claim": 2 / 3}
