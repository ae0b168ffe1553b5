"""The daily digest and `/recovery stats`: figures in, Block Kit out.

The digest is read in ten seconds: its first line says the point, every overdue line links
to its card, and nobody is pinged (owners are named as text, not mentioned: a morning
digest must not notify every late owner). Neither the cards' links nor the owners' names are
known when the digest is queued; the text carries a marker per card (`card_marker`) and per
owner (`person_marker`), and whoever may call Slack (the outbox, or the preview's listener)
swaps each for the card's permalink and the person's name (`fill_card_links`) just before
posting.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.domain.digest import DIGEST_DAYS, TREND_DAYS, DigestFigures, OpenIncident, StatsFigures, Trend, sparkline
from bot.domain.money import format_amount
from bot.domain.parsing import format_duration
from bot.domain.playbook import DEFAULT_PLAYBOOK, Playbook
from bot.domain.text import cut, safe
from bot.domain.types import StepKey

CARD_LINKS = "card_links"
"""The payload key listing the cards a queued digest links to, as [channel, ts] pairs."""
PEOPLE = "people"
"""The payload key listing the user ids a queued digest names, each looked up once."""
NOBODY_KNOWN = "someone"
"""A person whose name Slack would not give: named, still without a ping."""
_MARKER = re.compile(r"⟦card ([A-Z0-9]+) ([0-9.]+) ([0-9]+)⟧")
_PERSON = re.compile(r"⟦person ([A-Z0-9]+)( @)?⟧")
_MEDIANS = (("claim", "claims", "time_to_claim"), ("acknowledge", "acknowledgements", "time_to_acknowledge"),
            ("resolve", "resolutions", "time_to_resolve"))


def card_marker(number: int, channel: str, ts: str | None) -> str:
    """``#29``, to become a link to the card once the outbox knows its permalink."""
    return f"⟦card {channel} {ts} {number}⟧" if ts else f"#{number}"


def person_marker(user_id: str, *, or_mention: bool = False) -> str:
    """A person, to become their name (never a mention) once their name is asked of Slack.
    ``or_mention``: where Slack gives no name, mention them rather than say "someone" (a
    sentence about what they did must say who)."""
    return f"⟦person {user_id}{' @' if or_mention else ''}⟧"


def fill_card_links(payload: Mapping, permalinks: Mapping[tuple[str, str], str],
                    names: Mapping[str, str] | None = None) -> dict:
    """The payload with each card marker replaced by a link to the card, or by the plain
    number where no permalink could be had, and each person marker by their name, as typed
    (escaped), or "someone" where Slack gave none."""
    def link(match: re.Match) -> str:
        channel, ts, number = match.groups()
        url = permalinks.get((channel, ts))
        return f"<{url}|#{number}>" if url else f"#{number}"

    def name(match: re.Match) -> str:
        known = (names or {}).get(match.group(1))
        if known:
            return f"@{safe(known, 80)}"
        return f"<@{match.group(1)}>" if match.group(2) else NOBODY_KNOWN

    def fill(value: object) -> object:
        if isinstance(value, str):
            return _PERSON.sub(name, _MARKER.sub(link, value))
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    return {key: value for key, value in fill(dict(payload)).items() if key not in (CARD_LINKS, PEOPLE)}


def filled(payload: Mapping, *, permalink_of: Callable[[str, str], str | None],
           name_of: Callable[[str], str | None]) -> dict:
    """The payload with its markers filled (`fill_card_links`), each card and person it
    names looked up once, just before it is shown."""
    links = {card: link for card in linked_cards(payload) if (link := permalink_of(*card))}
    names = {user: name for user in named_people(payload) if (name := name_of(user))}
    return fill_card_links(payload, links, names)


def linked_cards(payload: Mapping) -> list[tuple[str, str]]:
    """The (channel, ts) of every card a queued digest links to."""
    return [(str(channel), str(ts)) for channel, ts in payload.get(CARD_LINKS) or ()]


def named_people(payload: Mapping) -> list[str]:
    """The user ids a queued digest names, each once."""
    return [str(user) for user in payload.get(PEOPLE) or ()]


def needs_filling(payload: Mapping) -> bool:
    """Whether the payload carries markers that only a Slack call can fill."""
    return bool(payload.get(CARD_LINKS) or payload.get(PEOPLE))


def display_name(user: Mapping) -> str | None:
    """How Slack shows a person (users.info's ``user``): their display name, else their real name."""
    profile = user.get("profile") or {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None


def day_label(day: date) -> str:
    """"Tue 3 Nov": a digest's date as a reader says it."""
    return f"{day:%a} {day.day} {day:%b}"


def age_text(span: timedelta) -> str:
    """How long something has been open, in the largest whole unit: "6 days", "3 h", "12 min"."""
    days, hours, minutes = span.days, span.seconds // 3600, span.seconds // 60
    if days:
        return f"{days} day{'' if days == 1 else 's'}"
    return f"{hours} h" if hours else f"{minutes} min"


def _owner(owner_id: str | None) -> str:
    """Named, not mentioned: `<@U…>` would notify them every morning. Their name is asked of
    Slack when the digest is sent (`person_marker`)."""
    return person_marker(owner_id) if owner_id else "unclaimed"


def step_title(step: str, playbook: Playbook) -> str:
    """The step as the playbook names it; a key it no longer has, as stored."""
    try:
        return playbook.step(StepKey(step)).title
    except (KeyError, ValueError):
        return step


def _headline(figures: DigestFigures, playbook: Playbook) -> str:
    """The point, first: what needs someone, and the oldest open incident."""
    if not figures.open_now:
        return "All clear: nothing open"
    wanted = [f"{count} {what}" for count, what in ((figures.unclaimed_now, "unclaimed"),
                                                    (figures.overdue_now, "overdue")) if count]
    point = " and ".join(wanted) if wanted else f"{figures.open_now} open, all claimed and on time"
    oldest = figures.oldest_open
    if oldest is None:
        return point
    where = "unclaimed" if oldest.owner_id is None else f"at {step_title(oldest.step, playbook)}"
    return f"{point}; oldest #{oldest.number}, {age_text(oldest.age)}, {where}"


def _overdue_line(item: OpenIncident, *, channel: str, playbook: Playbook) -> str:
    late = format_duration(item.overdue_by or timedelta(0))
    summary = safe(item.summary, 80) or "no summary"
    number = card_marker(item.number, channel, item.card_ts)
    return (f"• {number} {summary} · "
            f"{step_title(item.step, playbook)} · {late} late · {_owner(item.owner_id)}")


def _median(verb: str, noun: str, trend: Trend, *, period: str) -> str:
    """"time to claim 18m, up from 12m"; never a blank or a zero for a figure that is missing."""
    current, previous = trend.current, trend.previous
    if current is None:
        return (f"no {noun} yet" if previous is None
                else f"no {noun} in the last {period} (time to {verb} {format_duration(previous)} before)")
    text = f"time to {verb} {format_duration(current)}"
    if previous is None:
        return text
    if format_duration(current) == format_duration(previous):
        return f"{text}, as before"
    return f"{text}, {'up' if current > previous else 'down'} from {format_duration(previous)}"


def _answers(count: int) -> str:
    return f"{count} answer{'' if count == 1 else 's'}"


def medians_line(figures: DigestFigures | StatsFigures, *, period: str) -> str:
    """The median times to claim, acknowledge and resolve, each with its direction."""
    speed = " · ".join(_median(verb, noun, getattr(figures, name), period=period) for verb, noun, name in _MEDIANS)
    return f"*Median times, last {period}* (against the {period} before)\n{speed}"


def spend_line(figures: DigestFigures | StatsFigures, *, currency: str) -> str:
    """"£ 120 over 1 remedy": in the team's CURRENCY, as the card and the approvals show amounts."""
    return (f"*Remedy spend*  {format_amount(figures.remedy_spend, currency)} over {figures.remedy_count} "
            f"remed{'y' if figures.remedy_count == 1 else 'ies'}")


def since_label(figures: DigestFigures) -> str:
    """The days a digest reports on: "Yesterday", or "Since Fri 30 Oct" on a Monday."""
    return "Yesterday" if figures.since == figures.day - timedelta(days=1) else f"Since {day_label(figures.since)}"


def _shared(figures: DigestFigures | StatsFigures, *, period: str, currency: str) -> list[str]:
    satisfaction = (f"{figures.satisfaction:.1f}/10 ({_answers(figures.satisfaction_answers)})"
                    if figures.satisfaction is not None else "no answers yet")
    buy_again = (f"{figures.buy_again_share:.0%} ({_answers(figures.buy_again_answers)})"
                 if figures.buy_again_share is not None else "no answers yet")
    causes = " · ".join(f"{name} {count}" for name, count in figures.top_causes) or "none recorded"
    return [
        medians_line(figures, period=period),
        f"*Customers*  satisfaction {satisfaction} · would buy again {buy_again}",
        f"*Recurring causes*  {cut(causes, 1000)}",
        spend_line(figures, currency=currency),
    ]


def digest_text(figures: DigestFigures, *, channel: str, playbook: Playbook) -> str:
    """The notification's words: where, when, and the point."""
    return f"Recovery digest for <#{channel}>, {day_label(figures.day)}: {_headline(figures, playbook)}"


def digest_blocks(figures: DigestFigures, *, channel: str, currency: str,
                  playbook: Playbook = DEFAULT_PLAYBOOK) -> list[Block]:
    """With markers for the cards and the owners: `fill_card_links` turns them into links and
    names before anyone reads them."""
    lines = [
        f"<#{channel}>  *{_headline(figures, playbook)}*",
        f"*{since_label(figures)}*  flagged {figures.flagged} · resolved {figures.resolved} · closed {figures.closed}",
        f"*Now*  {figures.open_now} open · {figures.unclaimed_now} unclaimed · {figures.overdue_now} overdue",
    ]
    if figures.worst_overdue:
        worst = [_overdue_line(item, channel=channel, playbook=playbook)
                 for item in figures.worst_overdue]
        more = figures.overdue_now - len(worst)
        lines.append("*Overdue, most late first*\n" + "\n".join(worst)
                     + (f"\n…and {more} more: `/recovery list`" if more > 0 else ""))
    lines.append(f"*Last {TREND_DAYS} days*  flagged {sparkline(figures.flagged_daily)} "
                 f"{sum(figures.flagged_daily)} · closed {sparkline(figures.closed_daily)} "
                 f"{sum(figures.closed_daily)}")
    lines += _shared(figures, period=f"{DIGEST_DAYS} days", currency=currency)
    return [
        HeaderBlock(text=f"Recovery digest · {day_label(figures.day)}"),
        *[SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))) for line in lines],
        ContextBlock(elements=[MarkdownTextObject(text="`/recovery stats 30d` for more")]),
    ]


def digest_payload(figures: DigestFigures, *, channel: str, currency: str, playbook: Playbook) -> dict:
    """The outbox row's payload (or a preview's): the digest, with the cards whose links and the
    people whose names the sender fills in."""
    return {"text": digest_text(figures, channel=channel, playbook=playbook),
            "blocks": [block.to_dict() for block in digest_blocks(figures, channel=channel, currency=currency,
                                                                   playbook=playbook)],
            CARD_LINKS: [[channel, item.card_ts] for item in figures.worst_overdue if item.card_ts],
            PEOPLE: sorted({item.owner_id for item in figures.worst_overdue if item.owner_id})}


def stats_blocks(figures: StatsFigures, *, currency: str, playbook: Playbook) -> list[Block]:
    period = f"{figures.days} days"
    shares = " · ".join(
        f"{step.title} {f'{share:.0%}' if (share := figures.within_sla.get(step.key.value)) is not None else 'none ended'}"
        for step in playbook.steps)
    lines = [
        f"*Last {period}*  flagged {figures.flagged} · resolved {figures.resolved} · closed {figures.closed} · "
        f"cancelled {figures.cancelled}",
        f"*Now*  {figures.open_now} open · {figures.unclaimed_now} unclaimed · {figures.overdue_now} overdue",
        *_shared(figures, period=period, currency=currency),
        f"*Recovered within SLA, by step*\n{cut(shares, 2900)}",
    ]
    return [HeaderBlock(text=f"📈 Recovery stats, last {period}"),
            *[SectionBlock(text=MarkdownTextObject(text=cut(line, 3000))) for line in lines]]
