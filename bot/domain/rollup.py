"""The figures behind the leads' roll-up: every channel of a workspace at once, worst first.

Pure, and built from the digest's own figures (bot/domain/digest.py) rather than a second
set of rules: the workspace as one digest gives the team's medians, spend and the days'
counts; each channel's open incidents as a digest of their own give that channel's line. So
a lead reading the roll-up and a channel's digest the same morning sees the same numbers.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.digest import DigestFigures, IncidentFacts, OpenIncident, digest_figures


@dataclass(frozen=True, slots=True)
class ChannelLine:
    """One channel's state now, as the roll-up lists it."""

    channel: str
    open_now: int
    unclaimed_now: int
    overdue_now: int
    oldest_open: OpenIncident | None


@dataclass(frozen=True, slots=True)
class RollupFigures:
    team: DigestFigures
    """The workspace as one channel: the point's counts, the days reported on, the medians
    and the spend."""
    channels: tuple[ChannelLine, ...]
    """Every channel with an incident open, worst first: most overdue, then most unclaimed,
    then most open, then the oldest incident."""
    oldest_channel: str | None
    """Where the team's oldest open incident is (``team.oldest_open``)."""

    @property
    def has_news(self) -> bool:
        """As for a channel's digest: nothing open and nothing flagged, resolved or closed in
        the days reported on is nothing to say."""
        return self.team.has_news


def rollup_figures(incidents: Iterable[IncidentFacts], *, now: datetime, tz: ZoneInfo,
                   since: date | None = None) -> RollupFigures:
    """The roll-up for ``now``: ``since`` as for `digest_figures` (the last working day)."""
    facts = tuple(incidents)
    team = digest_figures(facts, now=now, tz=tz, since=since)
    open_by_channel: dict[str, list[IncidentFacts]] = defaultdict(list)
    for fact in facts:
        if fact.status == "open":
            open_by_channel[fact.channel].append(fact)
    lines = [_channel_line(channel, open_facts, now=now, tz=tz) for channel, open_facts in open_by_channel.items()]
    oldest = team.oldest_open
    return RollupFigures(
        team=team,
        channels=tuple(sorted(lines, key=_worst_first)),
        oldest_channel=next((line.channel for line in lines
                             if oldest is not None and line.oldest_open is not None
                             and line.oldest_open.number == oldest.number), None),
    )


def _channel_line(channel: str, open_facts: list[IncidentFacts], *, now: datetime, tz: ZoneInfo) -> ChannelLine:
    """A channel's open incidents through the digest's figures: the same counts its own digest shows."""
    figures = digest_figures(open_facts, now=now, tz=tz)
    return ChannelLine(channel=channel, open_now=figures.open_now, unclaimed_now=figures.unclaimed_now,
                       overdue_now=figures.overdue_now, oldest_open=figures.oldest_open)


def _worst_first(line: ChannelLine) -> tuple:
    oldest_age = line.oldest_open.age if line.oldest_open is not None else None
    return (-line.overdue_now, -line.unclaimed_now, -line.open_now,
            -oldest_age.total_seconds() if oldest_age is not None else 0.0, line.channel)
