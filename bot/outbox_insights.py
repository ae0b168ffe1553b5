"""The outbox's ``insights`` rows: the leads' weekly insights, built and uploaded when sent.

The tick (bot/insights_post.py) stores a small row per destination: the window and the time
the post was due. The figures, their words and the chart are built from the database when
the row is sent, as an export is (bot/outbox_export.py), so the tick costs little and a
retried row builds the same post again (its window ends when the post was due).

One upload carries everything: the chart, and the answer's words as the file's comment, in
the same message. Two messages (the words, then the chart) would be two calls, and a chart
that failed after the words went would be retried with the words posted twice; a comment
completed with its file is shared at once or not at all (bot/uploads.py). The words are
those of `/recovery insights` (bot/views/insights.py), so a reader who never opens the image
reads everything; owners are named by their Slack names, without a ping.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime

from bot.domain.insights import Insights
from bot.views import digest as digest_view
from bot.views.insights import insights_payload
from storage.outbox_store import Leased

log = logging.getLogger(__name__)

KIND = "insights"

Figures = Callable[..., Insights]  # bot.insights.workspace_insights without the service
Upload = Callable[..., str]  # bot/uploads.upload through the sender's paced, sorted call
DmChannel = Callable[[str], str]  # a user id in, the id of the bot's DM with them out
NameOf = Callable[[str], str | None]  # a user id in, their Slack name out (None: not known now)


def payload(*, days: int, due_at: datetime, day: date) -> dict:
    """What the row keeps: the window, when the post was due, and the local day it is for."""
    return {"days": days, "due_at": due_at.isoformat(), "day": day.isoformat()}


def filename(day: date) -> str:
    """"insights-2026-W45.png": the ISO week of the Monday post, so a folder of them sorts."""
    year, week, _ = day.isocalendar()
    return f"insights-{year}-W{week:02d}.png"


def title(figures: Insights, day: date) -> str:
    return f"Recovery insights chart, last {figures.days} days, {day:%a} {day.day} {day:%b} {day.year}"


def comment(filled: Mapping) -> str:
    """The answer's blocks as one mrkdwn message, a blank line between them: the header in
    bold, each section and the method's note as they read in the command's answer."""
    parts = []
    for block in filled.get("blocks") or ():
        if block.get("type") == "header":
            parts.append(f"*{block['text']['text']}*")
        elif block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(f"_{element['text']}_" for element in block.get("elements", ()) if element.get("text"))
    return "\n\n".join(parts)


class InsightsSender:
    """Builds a workspace's weekly insights and shares the chart with its words in the row's
    place: LEAD_CHANNEL, or a lead's DM."""

    def __init__(self, *, figures: Figures) -> None:
        self._figures = figures

    def send(self, row: Leased, *, dm_channel: DmChannel, upload: Upload,
             name_of: NameOf) -> tuple[str | None, str | None]:
        """(None, a note for the row: the file's id); raises what ``dm_channel`` and ``upload`` raise."""
        day = date.fromisoformat(row.payload["day"])
        figures = self._figures(workspace_id=row.workspace_id, days=int(row.payload["days"]),
                                until=datetime.fromisoformat(row.payload["due_at"]))
        words = digest_view.filled(insights_payload(figures), permalink_of=lambda channel, ts: None, name_of=name_of)
        channel = dm_channel(row.user_id) if row.user_id else row.channel or ""
        # matplotlib is imported here, when a chart is due, not when the bot starts: it costs
        # about a second of start-up, which a restarting replica's timers would feel.
        from bot.views import chart

        file_id = upload(content=chart.png(figures), filename=filename(day), title=title(figures, day),
                         channel=channel, initial_comment=comment(words), alt_txt=chart.alt_text(figures))
        log.info("weekly insights (%d answers) for %s shared in %s as %s", figures.answers, row.workspace_id,
                 channel, file_id)
        return None, f"uploaded as {file_id}"
