"""The double's messages, indexed, and the pages of conversations.history and conversations.replies.

Benchmarks post thousands of messages: scanning them all for each history page, thread or
update made the double, not the bot, the slow part of a measurement. Every lookup here costs
what its answer costs. Pages follow Slack's rules (docs.slack.dev conversations.history and
conversations.replies): ``latest`` defaults to now, ``oldest`` to 0, both bounds exclusive
unless ``inclusive``; history newest first, a thread oldest first with its parent on top;
``next_cursor`` is base64 of ``next_ts:<ts>`` as in Slack's own examples.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from bot.devkit.slack_protocol import ApiError, JsonDict, truthy


@dataclass(frozen=True, slots=True)
class Message:
    """A message as the double stores it; a snapshot, so later updates do not change it."""

    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    blocks: list[JsonDict] = field(default_factory=list)
    metadata: JsonDict | None = None
    user: str = ""
    # Only for ephemerals: the one user who sees it.
    visible_to: str | None = None
    # Files shared with this message (files.completeUploadExternal), by id.
    files: tuple[str, ...] = ()
    # A thread reply also sent to the channel (reply_broadcast): in the thread and in the history.
    broadcast: bool = False

    @property
    def is_top_level(self) -> bool:
        """In the channel's history: not a reply (a thread parent has thread_ts == ts)."""
        return self.thread_ts is None or self.thread_ts == self.ts

    def mrkdwn_texts(self) -> list[str]:
        """Every string Slack parses as mrkdwn (the fallback text and each mrkdwn object): where
        mentions notify and markup must be escaped. Plain text is never parsed."""
        found = [self.text]

        def walk(node: object) -> None:
            if isinstance(node, dict):
                if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                    found.append(node["text"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.blocks)
        return found

    def plain(self) -> str:
        """Text, block text and button labels as readable lines, for transcripts and searches."""
        lines = [self.text] if self.text else []
        for block in self.blocks:
            lines.extend(_block_lines(block))
        return "\n".join(lines)


def _text_of(obj: JsonDict | None) -> str:
    return str(obj.get("text", "")) if obj else ""


def _label(element: JsonDict) -> str:
    return f"[{_text_of(element.get('text'))}]"


def _block_lines(block: JsonDict) -> list[str]:
    kind = block.get("type")
    lines: list[str] = []
    if kind in ("header", "section"):
        lines.append(_text_of(block.get("text")))
        lines.extend(_text_of(f) for f in block.get("fields", []))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            lines.append(_label(accessory))
    elif kind == "context":
        lines.extend(
            _text_of(e) for e in block.get("elements", []) if e.get("type") in ("mrkdwn", "plain_text")
        )
    elif kind == "actions":
        lines.append(" ".join(_label(e) for e in block.get("elements", []) if e.get("type") == "button"))
    return [line for line in lines if line]


class MessageStore:
    """Messages in posting order, with a per-channel top-level index and a per-thread index.

    The double hands out ts from one increasing counter, so posting order is ts order in
    every channel and thread: the indexes stay sorted by appending.
    """

    def __init__(self) -> None:
        self._all: list[Message] = []
        self._where: dict[tuple[str, str], int] = {}
        self._top: dict[str, list[int]] = defaultdict(list)
        self._top_ts: dict[str, list[Decimal]] = defaultdict(list)
        self._replies: dict[tuple[str, str], list[int]] = defaultdict(list)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]

    def add(self, message: Message) -> None:
        index = len(self._all)
        self._all.append(message)
        self._where[(message.channel, message.ts)] = index
        if message.is_top_level or message.broadcast:
            self._top[message.channel].append(index)
            self._top_ts[message.channel].append(Decimal(message.ts))
        if not message.is_top_level:
            self._replies[(message.channel, str(message.thread_ts))].append(index)

    def replace(self, message: Message) -> None:
        """Store a new version of a message already stored (chat.update)."""
        self._all[self._where[(message.channel, message.ts)]] = message

    def get(self, channel: str, ts: str) -> Message | None:
        index = self._where.get((channel, ts))
        return None if index is None else self._all[index]

    def all(self) -> list[Message]:
        return list(self._all)

    def top_level(self, channel: str) -> list[Message]:
        return [self._all[i] for i in self._top.get(channel, [])]

    def replies(self, channel: str, ts: str) -> list[Message]:
        return [self._all[i] for i in self._replies.get((channel, ts), [])]

    def reply_count(self, channel: str, ts: str) -> int:
        return len(self._replies.get((channel, ts), ()))

    def newest_first(self, channel: str, *, latest: Decimal | None, inclusive: bool) -> Iterator[Message]:
        """Top-level messages at or before ``latest``, newest first, starting by bisection."""
        stamps = self._top_ts.get(channel, [])
        if latest is None:
            end = len(stamps)
        else:
            end = bisect_right(stamps, latest) if inclusive else bisect_left(stamps, latest)
        indexes = self._top.get(channel, [])
        for position in range(end - 1, -1, -1):
            yield self._all[indexes[position]]


@dataclass(frozen=True, slots=True)
class Window:
    """What a history or replies call asked for, read and checked once."""

    limit: int
    latest: Decimal | None
    oldest: Decimal | None
    inclusive: bool
    # Where a continuation page starts (inclusive): the ts the previous page's cursor named.
    cursor: Decimal | None

    @classmethod
    def read(cls, params: JsonDict, *, default_limit: int, max_limit: int) -> Window:
        """Slack answers a limit past its maximum with the maximum, and 0 or none with the default."""
        asked = int(params.get("limit") or 0)
        return cls(
            limit=min(asked or default_limit, max_limit),
            latest=_ts_param(params, "latest"),
            oldest=_ts_param(params, "oldest"),
            inclusive=truthy(params.get("inclusive")),
            cursor=_decode_cursor(params.get("cursor")),
        )

    def after_oldest(self, ts: Decimal) -> bool:
        return self.oldest is None or ts > self.oldest or (self.inclusive and ts == self.oldest)

    def before_latest(self, ts: Decimal) -> bool:
        return self.latest is None or ts < self.latest or (self.inclusive and ts == self.latest)


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    next_ts: str | None

    def answer(self, render: list[JsonDict]) -> JsonDict:
        """The page as Slack words it: ``has_more`` always, a cursor only when there is more."""
        body: JsonDict = {"messages": render, "has_more": self.next_ts is not None}
        if self.next_ts is not None:
            body["response_metadata"] = {"next_cursor": encode_cursor(self.next_ts)}
        return body


def history_page(store: MessageStore, channel: str, window: Window) -> Page:
    """Top-level messages between ``oldest`` and ``latest``, newest first."""
    start = window.latest
    inclusive = window.inclusive
    if window.cursor is not None and (start is None or window.cursor < start):
        start, inclusive = window.cursor, True
    found: list[Message] = []
    for message in store.newest_first(channel, latest=start, inclusive=inclusive):
        if not window.after_oldest(Decimal(message.ts)):
            break
        if len(found) == window.limit:
            return Page(found, message.ts)
        found.append(message)
    return Page(found, None)


def replies_page(store: MessageStore, channel: str, ts: str, window: Window) -> Page | None:
    """The thread holding ``ts`` (its parent or any reply): parent first, then replies oldest first.

    None when the double holds no such message. A continuation page (``cursor``) carries
    replies only, without the parent (⚠️ reported by users of the API, not on Slack's method page).
    """
    message = store.get(channel, ts)
    if message is None:
        return None
    parent_ts = ts if message.is_top_level else str(message.thread_ts)
    parent = store.get(channel, parent_ts)
    found: list[Message] = []
    if window.cursor is None and parent is not None:
        found.append(parent)
    for reply in store.replies(channel, parent_ts):
        stamp = Decimal(reply.ts)
        if (window.cursor is not None and stamp < window.cursor) or not window.after_oldest(stamp):
            continue
        if not window.before_latest(stamp):
            break
        if len(found) == window.limit:
            return Page(found, reply.ts)
        found.append(reply)
    return Page(found, None)


def encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: object) -> Decimal | None:
    if not cursor:
        return None
    try:
        kind, _, ts = base64.b64decode(str(cursor), validate=True).decode().partition(":")
        if kind != "next_ts":
            raise ValueError(kind)
        return Decimal(ts)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidOperation):
        raise ApiError("invalid_cursor") from None


def _ts_param(params: JsonDict, name: str) -> Decimal | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ApiError(f"invalid_ts_{name}") from None
