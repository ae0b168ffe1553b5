"""`/recovery insights`: the figures in plain words, the point first.

The answer opens with the overall figures, then the differences worth acting on as
sentences ("Acknowledged within SLA: 82% would buy again (n=140) vs 51% when acknowledged
late (n=37)"), then recovery against the baseline with a plain verdict, then every split
group by group, the weeks, and what to do next. Owners are named without a ping: like the
digest's, each is a `person_marker` filled with their Slack name just before it is shown.
"""
from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.insights import (
    MIN_ANSWERS, NOT_RECORDED, BaselineComparison, Comparison, Figure, Group, Insights, Split,
)
from bot.domain.intervals import Interval
from bot.domain.text import cut, safe
from bot.views.digest import PEOPLE, day_label, person_marker

NOT_ENOUGH = "not enough answers yet"
GROUPS_SHOWN = 10
"""Per split: the largest groups; a team with 40 owners gets a line saying how many more."""
TITLES = {
    "acknowledge": "Time to acknowledge, against its SLA",
    "resolve": "Time to resolve, from the flag to the customer's agreement",
    "apology": "Apology",
    "remedy": "Remedy",
    "amount": "Remedy amount",
    "cause": "Root cause",
    "severity": "Severity",
    "owner": "Owner",
}
_LABELS = {
    "acknowledge": {"within": "within SLA", "late": "late"},
    "resolve": {"under_4h": "under 4 h", "4h_24h": "4–24 h", "1d_3d": "1–3 days", "over_3d": "over 3 days"},
    "apology": {"done": "done", "skipped": "skipped"},
    "remedy": {"none": "no remedy", NOT_RECORDED: "not recorded"},
    "amount": {"none": "no amount", "within": "within the limit", "approved_above": "approved above the limit"},
}
_PHRASES = {
    "acknowledge": {"within": "acknowledged within SLA", "late": "acknowledged late"},
    "resolve": {"under_4h": "resolved in under 4 h", "4h_24h": "resolved in 4–24 h",
                "1d_3d": "resolved in 1–3 days", "over_3d": "resolved in over 3 days"},
    "apology": {"done": "with an apology", "skipped": "with the apology skipped"},
    "amount": {"none": "with no remedy amount", "within": "with a remedy within the limit",
               "approved_above": "with a remedy approved above the limit"},
}
_METHOD = ("Would buy again counts \"yes\" only (\"maybe\" is not yes). 95% intervals: Wilson for shares, Student's t "
           f"for mean satisfaction (1–10). A group needs {MIN_ANSWERS} answers; a difference is called out when the 95% "
           "interval of the difference excludes zero.")


def insights_payload(figures: Insights) -> dict:
    """The answer's text and blocks, with the owners it names listed for `digest.filled`."""
    title = f"Recovery insights, last {figures.days} days"
    if not figures.overall.enough:
        return {"text": f"{title}: {_not_enough(figures.overall)}", "blocks": [block.to_dict() for block in (
            HeaderBlock(text=f"📊 {title}"), _section(_empty_text(figures)))]}
    overall = figures.overall
    lines = [
        f"*{overall.answers:,} answers* to the follow-up since {day_label(figures.since.date())}.\n"
        f"*Would buy again:* {_share(overall)} · *Satisfaction:* {_mean(overall)}",
        *_worth_acting(figures.worth_acting),
        _against_baseline(figures),
        *(_split_text(split) for split in figures.splits if split.groups),
        _weeks(figures),
    ]
    blocks = [HeaderBlock(text=f"📊 {title}"), *(_section(line) for line in lines),
              _section(_next_step(figures)), ContextBlock(elements=[MarkdownTextObject(text=_METHOD)])]
    owners = [group.key for split in figures.splits if split.name == "owner" for group in split.groups[:GROUPS_SHOWN]
              if group.key != NOT_RECORDED]
    return {"text": f"{title}: {overall.share:.0%} would buy again, satisfaction {overall.satisfaction:.1f} "
                    f"(n={overall.answers:,})",
            "blocks": [block.to_dict() for block in blocks], PEOPLE: owners}


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=cut(text, 3000)))


def _not_enough(figure: Figure) -> str:
    return f"{NOT_ENOUGH} (n={figure.answers:,})" if figure.answers else NOT_ENOUGH


def _empty_text(figures: Insights) -> str:
    since = day_label(figures.since.date())
    found = (f"only {figures.answers} follow-up {'answer was' if figures.answers == 1 else 'answers were'} recorded"
             if figures.answers else "no follow-up answer was recorded")
    return (f"*{NOT_ENOUGH.capitalize()}:* {found} since {since}, and figures need {MIN_ANSWERS}. Insights count the "
            "satisfaction and \"would buy again\" recorded at each incident's follow-up: record them with *Record "
            "follow-up* in the card's thread when the follow-up falls due, then ask again, or look over a longer "
            "window (`/recovery insights 365d`).")


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _range(interval: Interval | None, *, percent: bool) -> str:
    if interval is None:
        return ""
    low, high = interval
    return f"{low * 100:.0f}–{high:.0%}" if percent else f"{low:.1f}–{high:.1f}"


def _share(figure: Figure) -> str:
    return f"{_percent(figure.share or 0.0)} (95%: {_range(figure.share_interval, percent=True)})"


def _mean(figure: Figure) -> str:
    return f"{figure.satisfaction or 0.0:.1f} / 10 (95%: {_range(figure.satisfaction_interval, percent=False)})"


def _label(split: str, key: str) -> str:
    if split == "owner":
        return person_marker(key) if key != NOT_RECORDED else "nobody"
    if split == "cause":
        return safe(key, 80) if key != NOT_RECORDED else "not recorded"
    return _LABELS.get(split, {}).get(key, safe(key, 40))


def _phrase(split: str, key: str) -> str:
    """A group as part of a sentence: "acknowledged late", "with a refund"."""
    if split in _PHRASES and key in _PHRASES[split]:
        return _PHRASES[split][key]
    if split == "remedy":
        return {"none": "with no remedy", NOT_RECORDED: "with no remedy recorded"}.get(
            key, f"with {'an' if key[:1] in 'aeiou' else 'a'} {safe(key, 40)}")
    if split == "cause":
        return f"when the root cause was {safe(key, 80)}" if key != NOT_RECORDED else "with no root cause recorded"
    if split == "severity":
        return f"at {safe(key, 20)} severity"
    if split == "owner":
        return f"owned by {person_marker(key)}" if key != NOT_RECORDED else "with no owner"
    return safe(key, 40)


def _then(phrase: str) -> str:
    """The second side of a comparison: "when acknowledged late", "with a refund"."""
    return f"when {phrase}" if phrase.split(" ", 1)[0] in ("acknowledged", "resolved", "owned") else phrase


def _worth_acting(comparisons: tuple[Comparison, ...]) -> list[str]:
    """One section per measure (each stays well within a section's 3,000 characters)."""
    if not comparisons:
        return ["*Worth acting on:* nothing yet. No split shows a difference larger than chance would give with "
                "this many answers."]
    sections = []
    for measure, title in (("share", "would buy again"), ("satisfaction", "satisfaction")):
        found = [comparison for comparison in comparisons if comparison.measure == measure]
        if found:
            sections.append(f"*Worth acting on: {title}*\n" + "\n".join(f"• {_comparison(c)}" for c in found))
    return sections


def _comparison(comparison: Comparison) -> str:
    better, worse = comparison.better, comparison.worse
    first = _phrase(comparison.split, better.key)
    second = _then(_phrase(comparison.split, worse.key))
    low, high = comparison.difference
    if comparison.measure == "share":
        return (f"{first[:1].upper()}{first[1:]}: {_percent(better.figure.share or 0.0)} would buy again "
                f"(n={better.figure.answers:,}) vs {_percent(worse.figure.share or 0.0)} {second} "
                f"(n={worse.figure.answers:,}); the difference is {low * 100:.0f} to {high * 100:.0f} points (95%).")
    return (f"{first[:1].upper()}{first[1:]}: satisfaction {better.figure.satisfaction or 0.0:.1f} "
            f"(n={better.figure.answers:,}) vs {worse.figure.satisfaction or 0.0:.1f} {second} "
            f"(n={worse.figure.answers:,}); the difference is {low:.1f} to {high:.1f} (95%).")


def _against_baseline(figures: Insights) -> str:
    baseline = figures.baseline
    if baseline is None:
        return ("*Against customers who never had a problem:* no baseline yet. Set `BASELINE_WOULD_BUY_AGAIN` and "
                "`BASELINE_SATISFACTION` from your usual survey, or load it per period with `python -m bot baseline "
                "--csv FILE`, to see whether recovery wins customers back.")
    if baseline.answers:
        period = (f", {day_label(baseline.period[0])} {baseline.period[0].year} to {day_label(baseline.period[1])} "
                  f"{baseline.period[1].year}" if baseline.period else "")
        source = f"your survey: n={baseline.answers:,}{period}"
    else:
        source = "from settings: a value without a count, taken as exact"
    lines = [f"*Against customers who never had a problem* ({source})"]
    lines += [f"• {_verdict_line(comparison)}" for comparison in figures.against_baseline]
    return "\n".join(lines)


def _verdict_line(comparison: BaselineComparison) -> str:
    low, high = comparison.difference
    if comparison.measure == "share":
        what = (f"Would buy again: {_percent(comparison.recovered)} of recovered customers vs "
                f"{_percent(comparison.baseline)} of those who never had a problem; the difference is "
                f"{_signed(low * 100, 0)} to {_signed(high * 100, 0)} points (95%).")
    else:
        spread = "" if comparison.baseline_answers else " (the baseline's mean taken as exact)"
        what = (f"Satisfaction: {comparison.recovered:.1f} after recovery vs {comparison.baseline:.1f} without a "
                f"problem{spread}; the difference is {_signed(low, 1)} to {_signed(high, 1)} (95%).")
    verdict = {
        "beat": "Recovery *beat* the baseline here: the whole interval is above zero.",
        "fell short": "Recovery *fell short* of the baseline: the whole interval is below zero.",
        "matched": "Recovery *matched* the baseline: the interval includes zero, so these answers cannot tell "
                   "recovered customers from those who never had a problem.",
    }[comparison.verdict]
    return f"{what} {verdict}"


def _signed(value: float, places: int) -> str:
    shown = f"{abs(value):.{places}f}"
    return "0" if float(shown) == 0 else f"{'+' if value > 0 else '−'}{shown}"


def _split_text(split: Split) -> str:
    shown = split.groups[:GROUPS_SHOWN]
    lines = [f"*{TITLES[split.name]}*", *(f"• {_group_line(split.name, group)}" for group in shown)]
    if hidden := split.groups[GROUPS_SHOWN:]:
        answers = sum(group.figure.answers for group in hidden)
        lines.append(f"• …and {len(hidden)} more, with {answers:,} answers between them")
    return "\n".join(lines)


def _group_line(split: str, group: Group) -> str:
    figure = group.figure
    label = _label(split, group.key)
    if not figure.enough:
        return f"{label}: {_not_enough(figure)}"
    return (f"{label}: {_percent(figure.share or 0.0)} would buy again ({_range(figure.share_interval, percent=True)})"
            f" · satisfaction {figure.satisfaction or 0.0:.1f} ({_range(figure.satisfaction_interval, percent=False)})"
            f" · n={figure.answers:,}")


def _weeks(figures: Insights) -> str:
    weeks = [point for point in figures.by_week if point.figure.answers]
    shown = " · ".join(f"{point.start.day} {point.start:%b} "
                       f"{_percent(point.figure.share or 0.0) if point.figure.enough else '–'} "
                       f"(n={point.figure.answers:,})" for point in weeks)
    return f"*Would buy again by week* (from each Monday; – is fewer than {MIN_ANSWERS} answers)\n{shown}"


def _next_step(figures: Insights) -> str:
    if figures.worth_acting:
        return ("*Next:* make the better side of each difference above the team's habit (the step SLAs are in the "
                "playbook, the remedy limit is `EMPOWERMENT_LIMIT`), then ask again in a few weeks to see it move.")
    return ("*Next:* keep recording every follow-up: more answers narrow the intervals. Ask again in a few weeks, or "
            "over a longer window (`/recovery insights 365d`).")
