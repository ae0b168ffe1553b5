"""The daily digest and `/recovery stats`: figures in, Block Kit out."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.digest import DigestFigures, StatsFigures, Trend
from bot.domain.parsing import format_duration
from bot.domain.playbook import Playbook
from bot.domain.text import cut

NO_DATA = "–"


def _span(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else NO_DATA


def _trend(name: str, trend: Trend) -> str:
    return f"{name} {_span(trend.current)} ({_span(trend.previous)})"


def _money(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount:f}"


def _answers(count: int) -> str:
    return f"{count} answer{'' if count == 1 else 's'}"


def _shared(figures: DigestFigures | StatsFigures, *, period: str) -> list[str]:
    speed = " · ".join([_trend("claim", figures.time_to_claim), _trend("acknowledge", figures.time_to_acknowledge),
                        _trend("resolve", figures.time_to_resolve)])
    satisfaction = (f"{figures.satisfaction:.1f}/10 ({_answers(figures.satisfaction_answers)})"
                    if figures.satisfaction is not None else NO_DATA)
    buy_again = (f"{figures.buy_again_share:.0%} ({_answers(figures.buy_again_answers)})"
                 if figures.buy_again_share is not None else NO_DATA)
    causes = " · ".join(f"{name} {count}" for name, count in figures.top_causes) or NO_DATA
    return [
        f"*Median time, {period} (the {period} before)*\n{speed}",
        f"*Customers*  satisfaction {satisfaction} · would buy again {buy_again}",
        f"*Recurring causes*  {cut(causes, 1000)}",
        f"*Remedy spend*  {_money(figures.remedy_spend)} over {figures.remedy_count} "
        f"remed{'y' if figures.remedy_count == 1 else 'ies'}",
    ]


def digest_text(figures: DigestFigures, *, channel: str) -> str:
    return (f"Recovery digest for <#{channel}>: {figures.open_now} open, {figures.unclaimed_now} unclaimed, "
            f"{figures.overdue_now} overdue")


def digest_blocks(figures: DigestFigures, *, channel: str) -> list[Block]:
    lines = [
        f"*Yesterday* ({figures.yesterday:%a %d %b})  flagged {figures.flagged_yesterday} · "
        f"resolved {figures.resolved_yesterday} · closed {figures.closed_yesterday}",
        f"*Now*  {figures.open_now} open · {figures.unclaimed_now} unclaimed · {figures.overdue_now} overdue",
    ]
    if figures.worst_overdue:
        worst = [f"• #{item.number} · {f'<@{item.owner_id}>' if item.owner_id else '_unclaimed_'} · "
                 f"flagged {format_duration(item.age)} ago · {format_duration(item.overdue_by)} over"
                 for item in figures.worst_overdue]
        lines.append("*Overdue, worst first*\n" + "\n".join(worst))
    lines += _shared(figures, period="7 days")
    return [
        HeaderBlock(text="📊 Recovery digest"),
        *[SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))) for line in lines],
        ContextBlock(elements=[MarkdownTextObject(text=f"For <#{channel}> · `/recovery stats 30d` for more")]),
    ]


def stats_blocks(figures: StatsFigures, *, playbook: Playbook) -> list[Block]:
    period = f"{figures.days} days"
    shares = " · ".join(
        f"{step.title} {'%.0f%%' % (share * 100) if (share := figures.within_sla.get(step.key.value)) is not None else NO_DATA}"
        for step in playbook.steps)
    lines = [
        f"*Last {period}*  flagged {figures.flagged} · resolved {figures.resolved} · closed {figures.closed} · "
        f"cancelled {figures.cancelled}",
        f"*Now*  {figures.open_now} open · {figures.unclaimed_now} unclaimed · {figures.overdue_now} overdue",
        *_shared(figures, period=period),
        f"*Recovered within SLA, by step*\n{cut(shares, 2900)}",
    ]
    return [HeaderBlock(text=f"📈 Recovery stats, last {period}"),
            *[SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))) for line in lines]]
