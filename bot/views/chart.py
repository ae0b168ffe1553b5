"""The insights chart: would buy again by time to resolve, and week by week, as a PNG.

Drawn with matplotlib's object API on the Agg canvas (`Figure` + `FigureCanvasAgg`), never
pyplot: pyplot keeps figures in global state, which a long-running bot with several sender
threads must not share. The picture follows the answer's rules (bot/views/insights.py): a
group with fewer than `MIN_ANSWERS` answers shows no figure, only that there are not enough
answers and how many; every figure carries its 95% Wilson interval and its n. The same
`Insights` always gives the same bytes (fixed size, no timestamp or version in the file), so
a retried upload sends what the first attempt built.

`alt_text` says the main figures in words, for the upload's screen-reader description.
"""
from __future__ import annotations

import io
import threading
from datetime import date

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as PlotFigure

from bot.domain.insights import MIN_ANSWERS, RESOLVE_BUCKETS, Figure, Insights, WeekPoint
from bot.domain.text import cut

WIDTH, HEIGHT, DPI = 12, 7, 100
"""Inches at DPI: a 1200×700 picture, readable in Slack's preview and when opened."""
SIZE = (WIDTH * DPI, HEIGHT * DPI)
ALT_TEXT_LIMIT = 1000
"""Slack refuses a longer alt_txt (alt_txt_too_large)."""
BUCKET_LABELS = {"under_4h": "under 4 h", "4h_24h": "4–24 h", "1d_3d": "1–3 days", "over_3d": "over 3 days"}
NOT_ENOUGH = "not enough answers"
MAX_WEEK_LABELS = 14
"""Week labels that fit side by side under the week panel (a quarter's 13 or 14)."""

_SOLID = "#2b6f9e"
_GREY = "#9a9a9a"
_BASELINE = "#c0392b"
_FONT = 11
_RENDERING = threading.Lock()
"""Matplotlib's font cache and text layout are shared by the process: one chart at a time."""


def png(figures: Insights) -> bytes:
    """The two panels, titled with the window, as PNG bytes."""
    with _RENDERING:
        plot = PlotFigure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
        FigureCanvasAgg(plot)
        plot.suptitle(_title(figures), fontsize=_FONT + 3, fontweight="bold")
        by_resolve, by_week = plot.subplots(1, 2, gridspec_kw={"width_ratios": (1, 1.6)})
        _resolve_panel(by_resolve, figures)
        _week_panel(by_week, figures)
        _baseline(plot, (by_resolve, by_week), figures)
        buffer = io.BytesIO()
        plot.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _title(figures: Insights) -> str:
    return (f"Would buy again after recovery, last {figures.days} days (since {_day(figures.since.date())} "
            f"{figures.since.year}, {figures.answers:,} {'answer' if figures.answers == 1 else 'answers'})")


def _day(day: date) -> str:
    return f"{day.day} {day:%b}"


def _percent_axis(axes: Axes, title: str) -> None:
    axes.set_title(title, fontsize=_FONT + 1, loc="left")
    axes.set_ylim(0, 112)
    axes.set_yticks(range(0, 101, 20), [f"{value}%" for value in range(0, 101, 20)], fontsize=_FONT)
    axes.set_ylabel("would buy again (95% interval)", fontsize=_FONT)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e6e6e6", linewidth=0.8)
    axes.set_axisbelow(True)


def _baseline(plot: PlotFigure, panels: tuple[Axes, ...], figures: Insights) -> None:
    """The customers who never had a problem, as a dashed line across both panels when the
    baseline has a share, named once under the chart."""
    share = figures.baseline.would_buy_again if figures.baseline else None
    if share is None:
        return
    lines = [axes.axhline(share * 100, color=_BASELINE, linestyle="--", linewidth=1.5) for axes in panels]
    plot.legend(lines[:1], [f"customers who never had a problem (the baseline): {share:.0%}"], loc="outside lower left",
                fontsize=_FONT - 1, frameon=False)


def _error_bar(axes: Axes, x: float, figure: Figure, *, cap: float = 6) -> None:
    low, high = figure.share_interval or (0.0, 0.0)
    share = (figure.share or 0.0) * 100
    axes.errorbar([x], [share], yerr=[[share - low * 100], [high * 100 - share]], fmt="none", ecolor="black",
                  elinewidth=1.3, capsize=cap)


def _resolve_panel(axes: Axes, figures: Insights) -> None:
    """Every bucket in its order; one without enough answers is an empty grey outline."""
    _percent_axis(axes, "By time to resolve (flag to the customer's agreement)")
    groups = {group.key: group.figure for group in figures.by_resolve.groups}
    keys = [key for key, _ in RESOLVE_BUCKETS]
    for x, key in enumerate(keys):
        figure = groups.get(key)
        if figure is not None and figure.enough:
            axes.bar(x, (figure.share or 0.0) * 100, width=0.62, color=_SOLID)
            _error_bar(axes, x, figure)
            axes.text(x, 102, f"{figure.share or 0.0:.0%}\nn={figure.answers:,}", ha="center", va="bottom",
                      fontsize=_FONT)
        else:
            axes.bar(x, 100, width=0.62, facecolor="none", edgecolor=_GREY, linestyle="--", linewidth=1.2)
            answers = figure.answers if figure is not None else 0
            words = f"not enough\nanswers\n(n={answers})" if answers else "no\nanswers"
            axes.text(x, 50, words, ha="center", va="center", fontsize=_FONT - 1, color=_GREY)
    axes.set_xticks(range(len(keys)), [BUCKET_LABELS[key] for key in keys], fontsize=_FONT)
    axes.set_xlim(-0.6, len(keys) - 0.4)


def _week_panel(axes: Axes, figures: Insights) -> None:
    """A point per week with enough answers, its interval as a bar; a week with fewer shows
    its n in grey at the foot, and a week without any, nothing. Over more weeks than fit
    side by side (a year's 53), the labels thin out and the n are left to the text."""
    _percent_axis(axes, "By week (from each Monday)")
    weeks = figures.by_week
    step = max(1, -(-len(weeks) // MAX_WEEK_LABELS))
    for x, point in enumerate(weeks):
        figure = point.figure
        if figure.enough:
            _error_bar(axes, x, figure, cap=6 if step == 1 else 2)
            axes.plot([x], [(figure.share or 0.0) * 100], marker="o", markersize=8 if step == 1 else 4, color=_SOLID)
            if step == 1:
                axes.text(x, 102, f"n={figure.answers:,}", ha="center", va="bottom", fontsize=_FONT - 2)
        elif figure.answers and step == 1:
            axes.text(x, 3, f"n={figure.answers}", ha="center", va="bottom", fontsize=_FONT - 2, color=_GREY)
    known = [x for x, point in enumerate(weeks) if point.figure.enough]
    if known:
        axes.plot(known, [(weeks[x].figure.share or 0.0) * 100 for x in known], color=_SOLID, linewidth=1,
                  alpha=0.5)
    shown = range(0, len(weeks), step)
    axes.set_xticks(list(shown), [_day(weeks[x].start) for x in shown], fontsize=_FONT - 1, rotation=45,
                    ha="right", rotation_mode="anchor")
    axes.set_xlim(-0.7, max(len(weeks), 1) - 0.3)
    axes.text(1.0, -0.2, f"weeks with fewer than {MIN_ANSWERS} answers have no point (grey: their n)",
              transform=axes.transAxes, ha="right", va="top", fontsize=_FONT - 2, color=_GREY)


def alt_text(figures: Insights) -> str:
    """The chart in words: each bucket's figure or why there is none, the weeks' range and the
    latest week, and the baseline; within Slack's limit."""
    buckets = {group.key: group.figure for group in figures.by_resolve.groups}
    by_resolve = "; ".join(f"{BUCKET_LABELS[key]} {_figure_words(buckets.get(key))}" for key, _ in RESOLVE_BUCKETS)
    parts = [f"Chart of the share of recovered customers who would buy again, last {figures.days} days, "
             f"{figures.answers:,} {'answer' if figures.answers == 1 else 'answers'}.",
             f"Left, by time to resolve: {by_resolve}.", f"Right, by week: {_weeks_words(figures.by_week)}"]
    share = figures.baseline.would_buy_again if figures.baseline else None
    if share is not None:
        parts.append(f"Dashed line: customers who never had a problem, {share:.0%}.")
    return cut(" ".join(parts), ALT_TEXT_LIMIT)


def _figure_words(figure: Figure | None) -> str:
    if figure is None or not figure.answers:
        return "no answers"
    if not figure.enough:
        return f"{NOT_ENOUGH} (n={figure.answers})"
    low, high = figure.share_interval or (0.0, 0.0)
    return f"{figure.share or 0.0:.0%} (95%: {low * 100:.0f}–{high:.0%}, n={figure.answers:,})"


def _weeks_words(weeks: tuple[WeekPoint, ...]) -> str:
    known = [point for point in weeks if point.figure.enough]
    if not known:
        return f"no week has {MIN_ANSWERS} answers yet."
    lowest = min(known, key=lambda point: point.figure.share or 0.0)
    highest = max(known, key=lambda point: point.figure.share or 0.0)
    latest = known[-1]
    count = f"{len(known)} {'week has' if len(known) == 1 else 'weeks have'} enough answers"
    if len(known) == 1:
        return f"{count}: week of {_day(latest.start)}, {_figure_words(latest.figure)}."
    return (f"{count}: highest {highest.figure.share or 0.0:.0%} (week of {_day(highest.start)}), lowest "
            f"{lowest.figure.share or 0.0:.0%} (week of {_day(lowest.start)}); the latest, week of "
            f"{_day(latest.start)}: {_figure_words(latest.figure)}.")
