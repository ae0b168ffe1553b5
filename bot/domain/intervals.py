"""95% intervals for the insights: Wilson for shares, Newcombe for the difference of two
shares, Student t for means and Welch for the difference of two means.

Pure and stdlib-only, so the same maths runs in the bot, the tests and the benchmark. The t
quantile is computed, not looked up: the regularized incomplete beta function (a continued
fraction) gives Student's distribution for any degrees of freedom, Welch's fractional ones
included, and bisection inverts it to float precision. scipy would do the same in one call,
but is a large dependency for one function.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

Z95 = 1.959963984540054
"""The standard normal's 97.5% quantile: two-sided 95%."""
CONFIDENCE = 0.95


class Interval(NamedTuple):
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def shifted(self, by: float) -> Interval:
        return Interval(self.low + by, self.high + by)


def wilson(successes: float, n: int, *, z: float = Z95) -> Interval:
    """The Wilson score interval of ``successes`` out of ``n``: unlike p ± z·se it stays in
    [0, 1] and is not zero-wide at 0% or 100%, which small groups hit often. ``successes``
    may be fractional: a survey's share times its count."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError("wilson needs 0 <= successes <= n and n > 0")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # The exact ends, where rounding would put them a hair past the estimate or [0, 1].
    low = 0.0 if successes == 0 else min(max(centre - half, 0.0), p)
    high = 1.0 if successes == n else max(min(centre + half, 1.0), p)
    return Interval(low, high)


def newcombe_difference(successes1: float, n1: int, successes2: float, n2: int, *, z: float = Z95) -> Interval:
    """The interval of p1 - p2 from the two Wilson intervals (Newcombe 1998, method 10): a
    difference "worth acting on" is one whose interval excludes zero."""
    p1, p2 = successes1 / n1, successes2 / n2
    (l1, u1), (l2, u2) = wilson(successes1, n1, z=z), wilson(successes2, n2, z=z)
    d = p1 - p2
    return Interval(d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def share_against_fixed(successes: int, n: int, value: float) -> Interval:
    """p - value, where ``value`` is known without a count (a setting): only p varies."""
    return wilson(successes, n).shifted(-value)


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (Lentz's method)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return result


def _regularized_beta(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be above 0")
    # Each form where its argument is far from 1, which floats could not tell apart from 1.
    square = t * t
    if square < df:
        tail = 0.5 * (1 - _regularized_beta(0.5, df / 2, square / (df + square)))
    else:
        tail = 0.5 * _regularized_beta(df / 2, 0.5, df / (df + square))
    return 1 - tail if t > 0 else tail


def _t_density(t: float, df: float) -> float:
    return math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
                    - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=1024)
def t_quantile(p: float, df: float) -> float:
    """The t such that P(T <= t) = p: Newton's method on `t_cdf` from the normal quantile,
    kept inside a bracket that bisection narrows whenever a step would leave it (so it
    converges for any df, if slowly where Newton would not). Groups of the same size ask for
    the same quantile: remembered."""
    if not 0 < p < 1:
        raise ValueError("p must be between 0 and 1")
    low, high = -1e6, 1e6
    t = math.copysign(Z95, p - 0.5) if p != 0.5 else 0.0
    for _ in range(200):
        error = t_cdf(t, df) - p
        if error < 0:
            low = t
        else:
            high = t
        step = t - error / _t_density(t, df)
        if abs(step - t) < 1e-12 * max(1.0, abs(t)):
            return step
        t = step if low < step < high else (low + high) / 2
        if high - low < 1e-12:
            break
    return t


def sample_variance(total: float, total_squares: float, n: int) -> float:
    """The unbiased variance from n, Σx and Σx² (what the database sums); never below 0,
    which rounding could otherwise give for identical values."""
    if n < 2:
        raise ValueError("a variance needs two values")
    return max((total_squares - total * total / n) / (n - 1), 0.0)


def mean_interval(mean: float, variance: float, n: int) -> Interval:
    """mean ± t(n-1)·s/√n."""
    if n < 2:
        raise ValueError("a mean's interval needs two values")
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, n - 1) * math.sqrt(variance / n)
    return Interval(mean - half, mean + half)


def welch_difference(mean1: float, variance1: float, n1: int, mean2: float, variance2: float, n2: int) -> Interval:
    """The interval of mean1 - mean2 without assuming equal variances (Welch, with the
    Welch-Satterthwaite degrees of freedom)."""
    if n1 < 2 or n2 < 2:
        raise ValueError("each mean needs two values")
    a, b = variance1 / n1, variance2 / n2
    d = mean1 - mean2
    if a + b == 0:
        return Interval(d, d)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    half = t_quantile(1 - (1 - CONFIDENCE) / 2, df) * math.sqrt(a + b)
    return Interval(d - half, d + half)
