"""The Slack Web API double for benchmarks: bot/fake_slack.py's FakeSlack, in its own process.

Why its own process: the load generator is Python too, and a FakeSlack in the generator's
process would take the GIL from the client threads while the bot's outbox calls it, adding
its work to the latencies measured for the bot (and not to those of the bare app).

Why a subclass: FakeSlack finds messages by scanning its whole message list (history,
replies, updates, reply counts). That is right for tests with ten messages and costs
milliseconds per call with the thousands a benchmark posts, on a machine whose two cores
the bot also needs. ``IndexedFakeSlack`` answers the same from indexes. It also honours
``latest``/``oldest``/``inclusive`` in conversations.history, as Slack does (FakeSlack
ignores them), so the bot's message-text lookup costs the one call it costs on Slack.

The double is driven through a multiprocessing manager: ``start_slack_double()`` gives a
proxy whose methods run in the double's process and return plain values.
"""
from __future__ import annotations

import re
import threading
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from multiprocessing import get_context
from multiprocessing.managers import BaseManager
from typing import Any

from bot.devkit.slack_double import FakeSlack, Message, _ApiError, _channel, _is_top_level, _truthy

JsonDict = dict[str, Any]
CARD_PREFIX = "Recovery #"
_CARD_NUMBER = re.compile(r"Recovery #(\d+)")
# Every method the bot calls (outbox, enrichment, Bolt): what "Slack answers 429" covers.
BOT_METHODS = (
    "auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink",
    "conversations.history", "conversations.replies", "conversations.open", "views.open", "views.update",
    "users.info",
)


def _ts_value(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text)) if text not in (None, "") else None
    except InvalidOperation:
        return None


class IndexedFakeSlack(FakeSlack):
    """FakeSlack with indexed lookups (same answers), and history honouring latest/oldest."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reset_index()

    def _reset_index(self) -> None:
        self._ix_count = 0
        self._ix_top: dict[str, list[int]] = defaultdict(list)        # channel -> top-level message indices
        self._ix_thread: dict[tuple[str, str], list[int]] = defaultdict(list)  # (channel, ts) -> parent and replies
        self._ix_where: dict[tuple[str, str], int] = {}                 # (channel, ts) -> index
        self._ix_replies: Counter[str] = Counter()                  # thread ts -> replies (any channel)

    def _sync(self) -> None:
        """Index messages appended since the last call (messages are only appended or replaced in place)."""
        messages = self._messages
        if len(messages) < self._ix_count:  # cleared behind our back
            self._reset_index()
        for i in range(self._ix_count, len(messages)):
            m = messages[i]
            self._ix_where[(m.channel, m.ts)] = i
            if _is_top_level(m):
                self._ix_top[m.channel].append(i)
            self._ix_thread[(m.channel, m.ts)].append(i)
            if m.thread_ts and m.thread_ts != m.ts:
                self._ix_thread[(m.channel, m.thread_ts)].append(i)
                self._ix_replies[m.thread_ts] += 1
        self._ix_count = len(messages)

    def clear(self) -> None:
        super().clear()
        with self._cond:
            self._reset_index()

    def heal(self) -> None:
        """Stop every failure switch (429s, drops, outage, stalls) but keep messages and calls."""
        with self._cond:
            self._failures.clear()
            self._drops = 0
            self._down = False
        self.unstall()

    def _as_api(self, message: Message, *, with_metadata: bool) -> JsonDict:
        self._sync()
        out: JsonDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        if message.user == self.bot_user_id:
            out["bot_id"] = "B1"
        if message.thread_ts:
            out["thread_ts"] = message.thread_ts
        replies = self._ix_replies.get(message.ts, 0)
        if replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = replies
        if message.blocks:
            out["blocks"] = message.blocks
        if with_metadata and message.metadata:
            out["metadata"] = message.metadata
        return out

    def _find(self, channel: str, ts: str) -> int:
        self._sync()
        index = self._ix_where.get((channel, ts))
        if index is None:
            raise _ApiError("message_not_found")
        return index

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        self._sync()
        channel = _channel(params)
        limit = int(params.get("limit", 100))
        latest, oldest = _ts_value(params.get("latest")), _ts_value(params.get("oldest"))
        inclusive = _truthy(params.get("inclusive"))
        with_metadata = _truthy(params.get("include_all_metadata"))
        found: list[Message] = []
        for i in reversed(self._ix_top.get(channel, [])):
            m = self._messages[i]
            ts = Decimal(m.ts)
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                continue
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                break  # newest first: everything after is older still
            found.append(m)
            if len(found) > limit:
                break
        return {
            "messages": [self._as_api(m, with_metadata=with_metadata) for m in found[:limit]],
            "has_more": len(found) > limit,
        }

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        self._sync()
        channel = _channel(params)
        ts = str(params.get("ts", ""))
        limit = int(params.get("limit", 1000))
        thread = [self._messages[i] for i in self._ix_thread.get((channel, ts), [])]
        with_metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._as_api(m, with_metadata=with_metadata) for m in thread[:limit]],
            "has_more": len(thread) > limit,
        }


class SlackDouble:
    """Lives in the double's process; every method returns plain, picklable values."""

    def __init__(self, team_id: str = "T1") -> None:
        self._fake = IndexedFakeSlack(team_id=team_id).start()
        self._lock = threading.Lock()

    def api_url(self) -> str:
        return self._fake.api_url

    def response_url_base(self) -> str:
        return self._fake.response_url_base

    def add_user_messages(self, channel: str, count: int, *, user: str = "UCUST", text: str = "") -> list[str]:
        """Post ``count`` customer messages to flag later; returns their ts, oldest first."""
        return [self._fake.add_user_message(channel, user=user, text=f"{text} {i}".strip()).ts for i in range(count)]

    def fail_all(self, *, status: int = 429, count: int = 1_000_000, retry_after: int | None = None) -> None:
        for method in BOT_METHODS:
            self._fake.fail_next(method, status=status, count=count, retry_after=retry_after)

    def drop_connections(self, count: int = 1_000_000) -> None:
        self._fake.drop_connections(count)

    def stall(self, seconds: float) -> None:
        self._fake.stall(None, seconds)

    def heal(self) -> None:
        self._fake.heal()

    def cards(self) -> list[JsonDict]:
        """Top-level bot messages that are incident cards, as they look now."""
        return [{"channel": m.channel, "ts": m.ts, "text": m.text, "blocks": m.blocks,
                 "number": _card_number(m.text)}
                for m in self._fake.all_messages()
                if m.text.startswith(CARD_PREFIX) and _is_top_level(m)]

    def card_posts(self) -> list[tuple[int, float]]:
        """(incident number, monotonic time Slack accepted it) of every accepted card post."""
        return [(_card_number(str(c.params.get("text", ""))), c.at) for c in self._fake.calls("chat.postMessage")
                if str(c.params.get("text", "")).startswith(CARD_PREFIX)]

    def card_posts_detail(self) -> list[tuple[int, float, str]]:
        """(incident number, monotonic time accepted, channel) of every accepted card post."""
        return [(_card_number(str(c.params.get("text", ""))), c.at, str(c.params.get("channel", "")))
                for c in self._fake.calls("chat.postMessage") if str(c.params.get("text", "")).startswith(CARD_PREFIX)]

    def card_count(self, channel: str) -> int:
        """Accepted card posts to ``channel`` (repeats included)."""
        return sum(1 for c in self._fake.calls("chat.postMessage")
                   if c.params.get("channel") == channel and str(c.params.get("text", "")).startswith(CARD_PREFIX))

    def counts(self) -> JsonDict:
        """Attempts and accepted calls per method."""
        return {"attempts": dict(Counter(c.method for c in self._fake.attempts())),
                "accepted": dict(Counter(c.method for c in self._fake.calls()))}

    def stop(self) -> None:
        self._fake.stop()


def _card_number(text: str) -> int:
    match = _CARD_NUMBER.match(text)
    return int(match.group(1)) if match else -1


class _Manager(BaseManager):
    pass


_Manager.register("SlackDouble", SlackDouble)


class RunningDouble:
    """The double's process and a proxy to it; ``stop()`` ends both."""

    def __init__(self) -> None:
        self._manager = _Manager(ctx=get_context("spawn"))
        self._manager.start()
        self.slack: SlackDouble = self._manager.SlackDouble()  # type: ignore[attr-defined]
        self.api_url: str = self.slack.api_url()
        self.response_url_base: str = self.slack.response_url_base()

    @property
    def pid(self) -> int | None:
        process = getattr(self._manager, "_process", None)
        return process.pid if process is not None else None

    def stop(self) -> None:
        try:
            self.slack.stop()
        finally:
            self._manager.shutdown()

    def __enter__(self) -> RunningDouble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_slack_double() -> RunningDouble:
    return RunningDouble()
