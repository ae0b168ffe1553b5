"""The insights chart (bot/views/chart.py): a PNG of the promised size, the same bytes for the
same figures, drawn without a crash from no answers to a year of weeks, and its alt text
saying the main figures in words, exactly."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain.insights import Baseline, Insights, Tally, insights
from bot.domain.stats import stats_window
from bot.views.chart import ALT_TEXT_LIMIT, SIZE, alt_text, png

NOW = datetime(2026, 12, 14, 9, 0, tzinfo=timezone.utc)  # a Monday
TZ = ZoneInfo("Europe/London")
PNG = b"\x89PNG\r\n\x1a\n"


def _tally(scores: list[int], yes: int) -> Tally:
    return Tally(len(scores), yes, sum(scores), sum(s * s for s in scores))


def _quarter(baseline: Baseline | None = Baseline(would_buy_again=0.74, satisfaction=8.0)) -> Insights:
    """61 answers: three buckets with enough, one without; three weeks with enough, two without."""
    tallies = {
        "overall": {"": _tally([9] * 40 + [5] * 21, 40)},
        "resolve": {"under_4h": _tally([9] * 20 + [5] * 4, 20), "4h_24h": _tally([9] * 10 + [5] * 6, 10),
                    "1d_3d": _tally([5] * 8 + [9] * 4, 4), "over_3d": _tally([5] * 6, 0)},
        "week": {"9": _tally([9], 1), "10": _tally([9] * 5, 4), "11": _tally([9] * 8 + [5] * 6, 8),
                 "12": _tally([9] * 12 + [5] * 3, 12), "13": _tally([9] * 12 + [5] * 2, 12)},
    }
    return insights(tallies, window=stats_window(NOW, 90), tz=TZ, baseline=baseline)


def _size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_chart_is_a_png_of_1200_by_700_and_the_same_figures_give_the_same_bytes():
    first = png(_quarter())
    assert first.startswith(PNG)
    assert SIZE == (1200, 700) and _size(first) == SIZE
    assert png(_quarter()) == first, "deterministic: a retried upload sends what the first built"
    assert png(_quarter(baseline=None)) != first, "the baseline is drawn"
    assert b"matplotlib" not in first.lower(), "no Software (or version) in the file"


@pytest.mark.parametrize("days, tallies", [
    (90, {}),
    (30, {"overall": {"": _tally([7], 1)}, "resolve": {"over_3d": _tally([7], 1)}, "week": {"2": _tally([7], 1)}}),
    (365, {"overall": {"": _tally([9] * 600, 500)},
           "week": {str(week): _tally([9] * 10 + [3] * (week % 4), 10) for week in range(54)}}),
])
def test_no_crash_from_no_answers_to_a_year_of_weeks(days, tallies):
    figures = insights(tallies, window=stats_window(NOW, days), tz=TZ, baseline=None)
    drawn = png(figures)
    assert drawn.startswith(PNG) and _size(drawn) == SIZE
    assert len(alt_text(figures)) <= ALT_TEXT_LIMIT


def test_the_alt_text_says_the_main_figures_in_words():
    assert alt_text(_quarter()) == (
        "Chart of the share of recovered customers who would buy again, last 90 days, 61 answers. "
        "Left, by time to resolve: under 4 h 83% (95%: 64–93%, n=24); 4–24 h 62% (95%: 39–82%, n=16); "
        "1–3 days 33% (95%: 14–61%, n=12); over 3 days not enough answers (n=6). "
        "Right, by week: 3 weeks have enough answers: highest 86% (week of 14 Dec), lowest 57% (week of 30 Nov); "
        "the latest, week of 14 Dec: 86% (95%: 60–96%, n=14). "
        "Dashed line: customers who never had a problem, 74%.")


def test_the_alt_text_without_answers_and_with_one_week():
    assert alt_text(insights({}, window=stats_window(NOW, 90), tz=TZ, baseline=None)) == (
        "Chart of the share of recovered customers who would buy again, last 90 days, 0 answers. "
        "Left, by time to resolve: under 4 h no answers; 4–24 h no answers; 1–3 days no answers; over 3 days no "
        "answers. Right, by week: no week has 10 answers yet.")
    one_week = insights({"overall": {"": _tally([8] * 10, 9)}, "week": {"13": _tally([8] * 10, 9)}},
                        window=stats_window(NOW, 90), tz=TZ, baseline=None)
    assert alt_text(one_week).endswith("Right, by week: 1 week has enough answers: week of 14 Dec, 90% (95%: 60–98%, n=10).")
