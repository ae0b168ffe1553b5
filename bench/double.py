"""The Slack double for the benchmarks: devkit's FakeSlack, in a process of its own.

Why its own process: the load generator is Python too, and a FakeSlack in its process would
take the GIL from the client threads while the bot's outbox calls it, adding its work to the
latencies measured for the bot (and not to those of the bare floor). It is driven through a
multiprocessing manager; the questions are answered in the double's process, so that only
their small answers cross.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from multiprocessing import get_context
from multiprocessing.managers import BaseManager
from typing import Any

from bot.devkit.slack_double import FakeSlack
from bot.pacing import Rate

CARD = "Recovery #"
_NUMBER = re.compile(r"Recovery #(\d+)")

class SlackHost:
    """Lives in the double's process; every method answers with plain, picklable values."""

    def __init__(self, *, rate_limits: bool = False, channel_posts: tuple[float, float] | None = None,
                 workspace_posts: tuple[float, float] | None = None) -> None:
        """Rates as (burst, per second): chat.postMessage's, scaled up for a short storm."""
        rates = {name: Rate(*value) for name, value in (("channel_posts", channel_posts),
                                                       ("workspace_posts", workspace_posts)) if value}
        self.fake = FakeSlack(team_id="T1", rate_limits=rate_limits, **rates).start()

    def urls(self) -> tuple[str, str, int]:
        return self.fake.api_url, self.fake.response_url_base, os.getpid()

    def add_user_messages(self, channel: str, count: int, *, text: str) -> list[str]:
        """Customer messages to flag, oldest first."""
        return [self.fake.add_user_message(channel, user="UCUST", text=f"{text} {i}").ts for i in range(count)]

    def degrade(self, mode: str) -> None:
        """Fail every call the bot makes until heal(): 429s, dropped connections, or held answers."""
        if mode == "slack_429":
            for method in self.fake.methods:
                self.fake.fail_next(method, status=429, count=1_000_000)
        elif mode == "slack_drops":
            self.fake.drop_connections(1_000_000)
        elif mode == "slack_stall":
            self.fake.stall(None, 3600)
        else:
            raise ValueError(f"unknown degraded mode {mode!r}")

    def heal(self) -> None:
        self.fake.heal()

    def cards(self) -> list[dict[str, Any]]:
        """Incident cards as they look now."""
        return [{"channel": m.channel, "ts": m.ts, "text": m.text, "blocks": m.blocks, "number": _number(m.text)}
                for m in self.fake.all_messages() if m.text.startswith(CARD) and m.thread_ts in (None, m.ts)]

    def posts(self, channel: str, prefix: str = CARD) -> list[tuple[int, float]]:
        """(incident number, monotonic time Slack accepted it) of each post to ``channel`` so beginning."""
        texts = ((str(c.params.get("text", "")), c) for c in self.fake.calls("chat.postMessage")
                 if c.params.get("channel") == channel)
        return [(_number(text), call.at) for text, call in texts if text.startswith(prefix)]

    def post_count(self, channel: str, prefix: str = CARD) -> int:
        return len(self.posts(channel, prefix))

    def rate_limited(self) -> dict[str, int]:
        """429s the rate limits served, per method."""
        return self.fake.rate_limited()

    def counts(self) -> dict[str, dict[str, int]]:
        """Attempts and accepted calls per method."""
        return {"attempts": dict(Counter(c.method for c in self.fake.attempts())),
                "accepted": dict(Counter(c.method for c in self.fake.calls()))}

    def stop(self) -> None:
        self.fake.stop()


def _number(text: str) -> int:
    match = _NUMBER.match(text)
    return int(match.group(1)) if match else -1


class _Manager(BaseManager):
    pass


_Manager.register("SlackHost", SlackHost)


class RunningDouble:
    """The double's process and a proxy to its SlackHost; ``stop()`` ends both."""

    def __init__(self, **options: Any) -> None:
        self._manager = _Manager(ctx=get_context("spawn"))
        self._manager.start()
        self.slack: SlackHost = self._manager.SlackHost(**options)  # type: ignore[attr-defined]
        self.api_url, self.response_url_base, self.pid = self.slack.urls()

    def stop(self) -> None:
        try:
            self.slack.stop()
        finally:
            self._manager.shutdown()
