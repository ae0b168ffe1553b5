"""The leads' roll-up: every channel on one screen, read in ten seconds.

The point first, across channels; then one line per channel that has something open, worst
first, each linking the channel; then the team's medians and spend, worded exactly as in the
channel digests (bot/views/digest.py), so the two never disagree on what a figure means.
Nobody is mentioned: the roll-up reaches the leads where they look, and pings no owner.
"""
from __future__ import annotations

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.digest import DIGEST_DAYS
from bot.domain.playbook import Playbook
from bot.domain.rollup import ChannelLine, RollupFigures
from bot.domain.text import cut
from bot.views import digest as digest_view

CHANNEL_LINES = 15
"""Channels listed by name; the rest are counted ("…and 6 more channels"): the worst are on top."""


def _channels(count: int) -> str:
    return f"{count} channel{'' if count == 1 else 's'}"


def _headline(figures: RollupFigures, *, playbook: Playbook, link_oldest: bool) -> str:
    """"7 unclaimed and 3 overdue across 4 channels; oldest #29 in <#C…>, 6 days, unclaimed".
    ``link_oldest``: the oldest's number as a card marker, which the sender turns into a link."""
    team = figures.team
    if not team.open_now:
        return "All clear: nothing open in any channel"
    wanted = [f"{count} {what}" for count, what in ((team.unclaimed_now, "unclaimed"),
                                                    (team.overdue_now, "overdue")) if count]
    point = (f"{' and '.join(wanted)} across {_channels(len(figures.channels))}" if wanted
             else f"{team.open_now} open, all claimed and on time, across {_channels(len(figures.channels))}")
    oldest = team.oldest_open
    if oldest is None or figures.oldest_channel is None:
        return point
    number = (digest_view.card_marker(oldest.number, figures.oldest_channel, oldest.card_ts) if link_oldest
              else f"#{oldest.number}")
    where = "unclaimed" if oldest.owner_id is None else f"at {digest_view.step_title(oldest.step, playbook)}"
    return f"{point}; oldest {number} in <#{figures.oldest_channel}>, {digest_view.age_text(oldest.age)}, {where}"


def _channel_line(line: ChannelLine) -> str:
    oldest = f" · oldest {digest_view.age_text(line.oldest_open.age)}" if line.oldest_open is not None else ""
    return (f"• <#{line.channel}>  {line.open_now} open · {line.unclaimed_now} unclaimed · "
            f"{line.overdue_now} overdue{oldest}")


def rollup_text(figures: RollupFigures, *, playbook: Playbook) -> str:
    """The notification's words: what it is, the day, and the point."""
    return (f"Leads' roll-up, {digest_view.day_label(figures.team.day)}: "
            f"{_headline(figures, playbook=playbook, link_oldest=False)}")


def rollup_blocks(figures: RollupFigures, *, currency: str, playbook: Playbook) -> list[Block]:
    """With a marker for the oldest incident's card: `digest.fill_card_links` makes it a link."""
    team = figures.team
    lines = [
        f"*{_headline(figures, playbook=playbook, link_oldest=True)}*",
        f"*{digest_view.since_label(team)}*  flagged {team.flagged} · resolved {team.resolved} · "
        f"closed {team.closed}",
    ]
    if figures.channels:
        shown = [_channel_line(line) for line in figures.channels[:CHANNEL_LINES]]
        more = len(figures.channels) - len(shown)
        lines.append("*By channel, worst first*\n" + "\n".join(shown)
                     + (f"\n…and {more} more channel{'' if more == 1 else 's'}" if more > 0 else ""))
    lines += [digest_view.medians_line(team, period=f"{DIGEST_DAYS} days"),
              digest_view.spend_line(team, currency=currency)]
    return [
        HeaderBlock(text=f"Leads' roll-up · {digest_view.day_label(team.day)}"),
        *[SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))) for line in lines],
        ContextBlock(elements=[MarkdownTextObject(
            text="`/recovery list overdue` for the late ones · `/recovery digest` in a channel for its own "
                 "· `/recovery stats 30d` for more")]),
    ]


def rollup_payload(figures: RollupFigures, *, currency: str, playbook: Playbook) -> dict:
    """The outbox rows' payload: the roll-up, with the oldest incident's card for the sender to link."""
    oldest = figures.team.oldest_open
    cards = ([[figures.oldest_channel, oldest.card_ts]]
             if oldest is not None and oldest.card_ts and figures.oldest_channel else [])
    return {"text": rollup_text(figures, playbook=playbook),
            "blocks": [block.to_dict() for block in rollup_blocks(figures, currency=currency, playbook=playbook)],
            digest_view.CARD_LINKS: cards}
