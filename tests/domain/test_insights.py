"""Insights from tallies: hand-computed figures, the small-group rule, the differences worth
acting on, and the verdict against the baseline (beat, matched, fell short)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain.insights import (
    Baseline, BaselinePeriod, Tally, against_baseline, baseline_of, figure, insights, parse_satisfaction, parse_share,
    week_starts,
)
from bot.domain.intervals import Interval, newcombe_difference
from bot.domain.stats import stats_window

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)  # a Monday
TZ = ZoneInfo("Europe/Paris")


def _tally(scores: list[int], yes: int) -> Tally:
    return Tally(len(scores), yes, sum(scores), sum(s * s for s in scores))


def test_a_groups_figures_by_hand():
    # 8 of 10 would buy again; scores mean 8, s² = 12/9: t(9) = 2.262157, half = 2.262157 · √(12/9/10) = 0.8260.
    found = figure(_tally([8, 9, 7, 10, 6, 8, 9, 7, 8, 8], 8))
    assert (found.answers, found.share, found.satisfaction) == (10, 0.8, 8.0)
    assert [round(value, 4) for value in found.share_interval] == [0.4902, 0.9433]
    assert [round(value, 4) for value in found.satisfaction_interval] == [7.174, 8.826]


def test_fewer_than_ten_answers_give_no_figure_and_a_mean_interval_stays_on_the_scale():
    small = figure(_tally([9] * 9, 9))
    assert (small.answers, small.enough, small.share, small.satisfaction) == (9, False, None, None)
    high = figure(_tally([10] * 9 + [1], 10))
    assert high.satisfaction_interval.high == 10.0 and high.satisfaction_interval.low > 1


def test_the_splits_differences_worth_acting_on_are_the_best_against_the_worst():
    window = stats_window(NOW, 90)
    tallies = {
        "overall": {"": _tally([9] * 60 + [4] * 40, 70)},
        "acknowledge": {"within": _tally([9] * 50 + [4] * 10, 55), "late": _tally([9] * 10 + [4] * 30, 15)},
        "apology": {"done": _tally([9] * 5, 5), "skipped": _tally([9] * 50 + [4] * 45, 65)},
        "severity": {"normal": _tally([9, 4] * 20, 20), "high": _tally([9, 4] * 20, 21)},
    }
    found = insights(tallies, window=window, tz=TZ, baseline=None)
    assert [(c.split, c.measure, c.better.key, c.worse.key) for c in found.worth_acting] == [
        ("acknowledge", "share", "within", "late"), ("acknowledge", "satisfaction", "within", "late")]
    share = found.worth_acting[0]
    assert share.difference == newcombe_difference(55, 60, 15, 40)
    apology = next(split for split in found.splits if split.name == "apology")
    assert [(group.key, group.figure.enough) for group in apology.groups] == [("done", False), ("skipped", True)]
    assert [split.name for split in found.splits] == [
        "acknowledge", "resolve", "apology", "remedy", "amount", "cause", "severity", "owner"]


@pytest.mark.parametrize("base, verdict", [(0.5, "beat"), (0.7, "matched"), (0.9, "fell short")])
def test_against_a_fixed_baseline_the_wilson_interval_decides(base, verdict):
    overall = figure(_tally([8] * 100, 70))  # Wilson 0.6042 to 0.7810
    [share] = against_baseline(overall, Baseline(would_buy_again=base, satisfaction=None))
    assert share.verdict == verdict and share.baseline_answers is None
    assert share.difference == Interval(overall.share_interval.low - base, overall.share_interval.high - base)


def test_against_a_survey_with_a_count_newcombe_and_welch_decide():
    overall = figure(_tally([9] * 50 + [7] * 50, 70))
    survey = Baseline(would_buy_again=0.55, satisfaction=7.0, answers=1000, satisfaction_sd=1.5)
    share, satisfaction = against_baseline(overall, survey)
    assert share.difference == newcombe_difference(70, 100, 550, 1000) and share.verdict == "beat"
    assert satisfaction.verdict == "beat" and satisfaction.baseline_answers == 1000
    matched = against_baseline(overall, Baseline(would_buy_again=0.7, satisfaction=8.0, answers=1000))
    assert [c.verdict for c in matched] == ["matched", "matched"]
    assert matched[1].baseline_answers is None, "without its spread the survey's mean is taken as exact"
    assert against_baseline(figure(_tally([9] * 9, 9)), survey) == ()


def test_survey_periods_overlapping_the_window_are_pooled_by_their_answers():
    window = stats_window(NOW, 30)
    periods = [BaselinePeriod(date(2026, 8, 1), date(2026, 8, 31), 0.9, 9.0, 100),
               BaselinePeriod(date(2026, 9, 1), date(2026, 10, 10), 0.6, 6.0, 100, 2.0),
               BaselinePeriod(date(2026, 10, 11), date(2026, 11, 30), 0.8, 8.0, 300, 1.0)]
    pooled = baseline_of(periods, window=window, tz=TZ, fallback=None)
    assert pooled.answers == 400 and pooled.period == (date(2026, 9, 1), date(2026, 11, 30))
    assert pooled.would_buy_again == pytest.approx(0.75) and pooled.satisfaction == pytest.approx(7.5)
    # (99·4 + 299·1 + 100·1.5² + 300·0.5²) / 399
    assert pooled.satisfaction_sd ** 2 == pytest.approx((396 + 299 + 225 + 75) / 399)
    fallback = Baseline(would_buy_again=0.5, satisfaction=None)
    assert baseline_of(periods[:1], window=window, tz=TZ, fallback=fallback) is fallback


def test_weeks_start_on_local_mondays_inside_the_window():
    edges = week_starts(stats_window(NOW, 30), TZ)
    assert edges[0] == datetime(2026, 10, 5, tzinfo=TZ) and edges[-1] == datetime(2026, 11, 2, tzinfo=TZ)
    assert len(edges) == 5


@pytest.mark.parametrize("text, share", [("0.74", 0.74), ("74%", 0.74), (" 100 % ", 1.0), ("0", 0.0)])
def test_a_share_is_written_as_a_fraction_or_a_percentage(text, share):
    assert parse_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["74", "1.2", "-5%", "abc", "nan"])
def test_a_share_outside_zero_one_is_refused(text):
    with pytest.raises(ValueError, match="like 0.74 or 74%"):
        parse_share(text)


@pytest.mark.parametrize("text", ["0.5", "11", "x", "inf"])
def test_a_satisfaction_outside_the_scale_is_refused(text):
    with pytest.raises(ValueError, match="from 1 to 10"):
        parse_satisfaction(text)
