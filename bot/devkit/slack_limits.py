"""Slack's published rate limits as token buckets, on a clock that tests move.

Tiers are per method, per app, per workspace: Tier 1 1/min, Tier 2 20/min, Tier 3 50/min,
Tier 4 100/min, each allowing a burst of a minute's worth (shared/slack/FACTS.md §3).
chat.postMessage is Special: about one message per second per channel with short bursts,
plus a workspace-wide limit that Slack does not publish. Over a limit Slack answers 429 with
``Retry-After`` in whole seconds.

Commercially distributed apps outside the Marketplace (NEXT-WAVE.md §4, since 2025-05-29) get
1 request per minute for conversations.history and conversations.replies instead of Tier 3.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bot.pacing import Rate

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

METHOD_TIERS: dict[str, int] = {
    "apps.connections.open": 1,
    "usergroups.users.list": 2,
    "reactions.remove": 2,
    "chat.update": 3,
    "conversations.info": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.open": 3,
    "reactions.add": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    "users.info": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}
# Tiers above not confirmed on an official page (FACTS.md §3 and the brief): commonly cited values.
UNCONFIRMED_TIERS = frozenset(
    {"chat.postEphemeral", "chat.getPermalink", "reactions.remove", "views.publish", "users.info", "conversations.info"}
)
# auth.test is Special and unlimited here: Bolt calls it at start-up and per request.


POSTS_PER_CHANNEL = Rate(capacity=3, per_second=1.0)
# Unpublished by Slack ("a workspace-wide limit"): our choice, high enough that one channel's
# limit is what a single-channel test meets first.
POSTS_PER_WORKSPACE = Rate(capacity=30, per_second=5.0)
UNLISTED_APP_HISTORY = Rate.per_minute(1)
UNLISTED_APP_METHODS = frozenset({"conversations.history", "conversations.replies"})


@dataclass(slots=True)
class _Bucket:
    rate: Rate
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.rate.capacity, self.tokens + (now - self.at) * self.rate.per_second)
        self.at = now

    def wait(self) -> float:
        """Seconds until one token is there (0 when one is there now)."""
        return max(0.0, (1 - self.tokens) / self.rate.per_second)


class RateLimiter:
    """Decides whether a call is over its limits; counts the 429s it caused, per method."""

    def __init__(self, clock: Callable[[], float], *, channel_posts: Rate = POSTS_PER_CHANNEL,
                 workspace_posts: Rate = POSTS_PER_WORKSPACE) -> None:
        self._clock = clock
        self._posts = (channel_posts, workspace_posts)
        self._buckets: dict[tuple[str, ...], _Bucket] = {}
        self.limited: Counter[str] = Counter()

    def clear(self) -> None:
        self._buckets.clear()
        self.limited.clear()

    def retry_after(self, method: str, *, team: str, channel: str | None, unlisted_app: bool) -> int | None:
        """None when the call may go (its tokens are taken), else whole seconds to wait.

        A call takes a token from every bucket it belongs to, or from none: a post refused by
        the workspace bucket does not use up its channel's.
        """
        now = self._clock()
        limits = _limits(method, team, channel, unlisted_app, posts=self._posts)
        buckets = [self._bucket(key, rate, now) for key, rate in limits]
        for bucket in buckets:
            bucket.refill(now)
        wait = max((bucket.wait() for bucket in buckets), default=0.0)
        if wait > 0:
            self.limited[method] += 1
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.tokens -= 1
        return None

    def _bucket(self, key: tuple[str, ...], rate: Rate, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, rate.capacity, now)
        return bucket


def _limits(method: str, team: str, channel: str | None, unlisted_app: bool, *,
            posts: tuple[Rate, Rate]) -> list[tuple[tuple[str, ...], Rate]]:
    if method == "chat.postMessage":
        return [(("post", team, channel or ""), posts[0]), (("posts", team), posts[1])]
    if unlisted_app and method in UNLISTED_APP_METHODS:
        return [(("method", team, method), UNLISTED_APP_HISTORY)]
    tier = METHOD_TIERS.get(method)
    if tier is None:
        return []
    return [(("method", team, method), Rate.per_minute(TIER_PER_MINUTE[tier]))]
