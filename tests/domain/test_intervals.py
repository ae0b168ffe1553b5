"""The interval maths against published values, and its properties for any counts."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.intervals import (
    Z95, Interval, mean_interval, newcombe_difference, sample_variance, share_against_fixed, t_cdf, t_quantile,
    welch_difference, wilson,
)


def _close(interval: Interval, low: float, high: float, places: int = 4) -> bool:
    return round(interval.low, places) == low and round(interval.high, places) == high


def test_wilson_matches_published_values():
    assert _close(wilson(8, 10), 0.4902, 0.9433)
    assert _close(wilson(0, 10), 0.0, 0.2775)
    assert _close(wilson(10, 10), 0.7225, 1.0)
    assert _close(wilson(81, 263), 0.2553, 0.3662)  # Newcombe (1998) table I: 81/263


def test_newcombe_difference_matches_newcombes_worked_example():
    # Newcombe (1998), method 10: 56/70 vs 48/80, difference 0.2, interval 0.0524 to 0.3339.
    assert _close(newcombe_difference(56, 70, 48, 80), 0.0524, 0.3339)
    assert _close(newcombe_difference(9, 10, 3, 10), 0.1705, 0.8090)


@pytest.mark.parametrize("df, quantile", [
    (1, 12.7062), (2, 4.3027), (5, 2.5706), (9, 2.2622), (10, 2.2281), (29, 2.0452), (30, 2.0423), (120, 1.9799),
])
def test_t_quantile_matches_the_table(df, quantile):
    assert round(t_quantile(0.975, df), 4) == quantile


def test_t_quantile_takes_fractional_degrees_of_freedom_and_tends_to_the_normal():
    assert 2.2281 < t_quantile(0.975, 9.5) < 2.2622
    assert round(t_quantile(0.975, 1e7), 5) == round(Z95, 5)
    assert t_quantile(0.5, 4) == pytest.approx(0, abs=1e-9)


def test_mean_interval_by_hand():
    # 10 scores: 8, 9, 7, 10, 6, 8, 9, 7, 8, 8: mean 8, s² = 12/9; t(9) = 2.262157.
    scores = [8, 9, 7, 10, 6, 8, 9, 7, 8, 8]
    variance = sample_variance(sum(scores), sum(s * s for s in scores), len(scores))
    assert variance == pytest.approx(12 / 9)
    half = 2.262157 * math.sqrt(12 / 9 / 10)
    assert _close(mean_interval(8.0, variance, 10), round(8 - half, 4), round(8 + half, 4))


def test_welch_difference_by_hand():
    # a = 1/30, b = 4/20: df = (0.2333…)² / ((1/30)²/29 + (0.2)²/19) = 25.40, t between t(26) and t(25).
    a, b = 1 / 30, 4 / 20
    df = (a + b) ** 2 / (a * a / 29 + b * b / 19)
    assert round(df, 2) == 25.40
    assert 2.0555 < t_quantile(0.975, df) < 2.0595
    half = t_quantile(0.975, df) * math.sqrt(a + b)
    assert _close(welch_difference(8, 1, 30, 7, 4, 20), round(1 - half, 4), round(1 + half, 4))
    assert welch_difference(8, 0, 10, 7, 0, 10) == Interval(1, 1)


def test_a_fixed_baseline_shifts_the_wilson_interval():
    assert share_against_fixed(8, 10, 0.5) == Interval(wilson(8, 10).low - 0.5, wilson(8, 10).high - 0.5)


counts = st.integers(min_value=1, max_value=5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts)
def test_wilson_holds_the_estimate_inside_zero_one(count):
    successes, n = count
    interval = wilson(successes, n)
    assert 0 <= interval.low <= successes / n <= interval.high <= 1


@given(counts, st.integers(min_value=2, max_value=20))
def test_wilson_narrows_as_the_same_share_gets_more_answers(count, factor):
    successes, n = count
    small, large = wilson(successes, n), wilson(successes * factor, n * factor)
    assert large.high - large.low < small.high - small.low


@given(counts, counts)
def test_newcombe_holds_the_difference_inside_minus_one_one(first, second):
    (s1, n1), (s2, n2) = first, second
    interval = newcombe_difference(s1, n1, s2, n2)
    assert -1 - 1e-9 <= interval.low <= s1 / n1 - s2 / n2 + 1e-12
    assert s1 / n1 - s2 / n2 - 1e-12 <= interval.high <= 1 + 1e-9


@given(st.floats(min_value=0.001, max_value=0.999), st.floats(min_value=0.5, max_value=500))
def test_t_quantile_inverts_the_cdf(p, df):
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)


@given(st.floats(min_value=1, max_value=200), st.floats(min_value=0.1, max_value=100))
def test_t_quantile_falls_towards_the_normal_as_degrees_grow(df, more):
    assert Z95 < t_quantile(0.975, df + more) < t_quantile(0.975, df)


@given(st.lists(st.integers(1, 10), min_size=2, max_size=300), st.integers(2, 5))
def test_mean_interval_holds_the_mean_and_narrows_with_more_of_the_same(scores, factor):
    n, total, squares = len(scores), sum(scores), sum(s * s for s in scores)
    mean = total / n
    interval = mean_interval(mean, sample_variance(total, squares, n), n)
    assert interval.low <= mean <= interval.high
    more = mean_interval(mean, sample_variance(total * factor, squares * factor, n * factor), n * factor)
    assert more.high - more.low <= interval.high - interval.low
