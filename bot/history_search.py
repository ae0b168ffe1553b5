"""Finds a post of ours whose outcome is unknown, in a channel's history as Slack serves it.

Slack serves history a page at a time, newest first, as few as 15 messages a page and one
page a minute for apps outside the Marketplace (NEXT-WAVE.md §4). So the search starts
just before the row was queued (``oldest``: nothing older can be it), follows cursors to
the end, and remembers where it stopped when the budget runs out: the row is retried when
a token is back and goes on from that page, instead of reading page one again. The place
is kept in memory, per process: a restart, or another replica taking the row over, starts
the search again, which costs pages, never a second post.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from bot.views.ids import OUTBOX_EVENT_TYPE

# Slack stamps a message with its own clock: a little before our queue time covers skew.
CLOCK_SKEW = timedelta(minutes=5)
PAGE_LIMIT = 200  # Slack's advice for history pages; an app outside the Marketplace gets 15

Page = Callable[[str | None], dict]  # cursor (None: the first page) -> conversations.* answer


def oldest(queued_at: datetime) -> str:
    """The ``oldest`` ts for a row queued at ``queued_at`` (naive values are UTC, as stored)."""
    moment = queued_at if queued_at.tzinfo else queued_at.replace(tzinfo=timezone.utc)
    return f"{(moment - CLOCK_SKEW).timestamp():.6f}"


def is_ours(message: dict, outbox_id: int) -> bool:
    metadata = message.get("metadata") or {}
    return (metadata.get("event_type") == OUTBOX_EVENT_TYPE
            and (metadata.get("event_payload") or {}).get("outbox_id") == outbox_id)


class PostSearch:
    """Where each row's unfinished search stopped, by row id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: dict[int, str] = {}

    def find(self, outbox_id: int, page: Page) -> str | None:
        """The ts of the message carrying ``outbox_id``, or None when no page has it.

        ``page`` may raise (no budget, 429, Slack down): the pages read so far stay read."""
        with self._lock:
            cursor = self._cursors.get(outbox_id)
        while True:
            answer = page(cursor)
            found = next((m["ts"] for m in answer.get("messages", []) if is_ours(m, outbox_id)), None)
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            with self._lock:
                if found is not None or cursor is None:
                    self._cursors.pop(outbox_id, None)
                    return found
                self._cursors[outbox_id] = cursor
