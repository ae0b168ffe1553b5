"""Slack's rate limits as token buckets the outbox spends before it calls, so that Slack
seldom has to answer 429.

Slack publishes (shared/slack/FACTS.md §3): chat.postMessage about one message per second
per channel with short bursts; every other method a tier per method, per app, per
workspace (Tier 2 20/min, Tier 3 50/min, Tier 4 100/min); conversations.history and
conversations.replies 1/min for commercially distributed apps outside the Marketplace
(NEXT-WAVE.md §4). A bucket is keyed (workspace, method, channel): the channel only for
chat.postMessage.

The buckets live in one process and are shared by its sender threads. Replicas each pace
themselves, so together they can spend more than Slack allows; what Slack then refuses
comes back as 429, and its Retry-After closes that bucket (``hold``) for every thread of
the process, not just the row that met it. Pure logic: the clock is passed in.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from bot.clock import Clock

POST = "chat.postMessage"
HISTORY_METHODS = frozenset({"conversations.history", "conversations.replies"})
TIER_PER_MINUTE = {2: 20, 3: 50, 4: 100}
# The tiers of the methods the outbox calls (docs.slack.dev, each method's page).
METHOD_TIERS: dict[str, int] = {
    "chat.update": 3, "chat.delete": 3, "chat.postEphemeral": 4, "chat.getPermalink": 4,
    "conversations.open": 3, "conversations.info": 3, "reactions.add": 3, "reactions.remove": 2, "users.info": 4,
    "views.publish": 4, "files.getUploadURLExternal": 4, "files.completeUploadExternal": 4,
}
# Slack counts a call when it arrives, we when it leaves: spending 90 % of a tier keeps a
# little slack for calls that arrive closer together than they left.
TIER_SHARE = 0.9
SLACK_SECONDS = 1.0

Key = tuple[str, str, str]  # (workspace, method, channel or "")


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float
    per_second: float

    @classmethod
    def per_minute(cls, count: float) -> Rate:
        """A tier: a minute's worth may go at once (at least one call), then ``count`` a minute."""
        return cls(capacity=max(1.0, float(int(count))), per_second=count / 60)


UNLIMITED = Rate(capacity=1e9, per_second=1e9)


@dataclass(frozen=True, slots=True)
class Limits:
    """What the bot allows itself (``paced`` off: anything). ``posts_per_second`` per channel, with bursts of
    ``post_burst``: kept below Slack's tolerated bursts, so that a post that leaves a little
    late and the next one on time still find Slack's bucket with a token."""

    paced: bool = True
    posts_per_second: float = 1.0
    post_burst: int = 2
    history_per_minute: float = 50

    def rate(self, method: str) -> Rate:
        """A method Slack does not limit, or any with pacing off, may always go, but a 429
        still closes its bucket for Retry-After."""
        if not self.paced:
            return UNLIMITED
        if method == POST:
            return Rate(capacity=self.post_burst, per_second=self.posts_per_second)
        if method in HISTORY_METHODS:
            return _tier(self.history_per_minute)
        tier = METHOD_TIERS.get(method)
        return UNLIMITED if tier is None else _tier(TIER_PER_MINUTE[tier])


def _tier(per_minute: float) -> Rate:
    """A share of a tier; a budget of one call a minute or less gets a second of slack instead."""
    if per_minute > 1:
        return Rate.per_minute(per_minute * TIER_SHARE)
    return Rate(capacity=1, per_second=per_minute / (60 + SLACK_SECONDS))


def key(workspace: str, method: str, channel: str | None = None) -> Key:
    """The bucket a call spends from: per channel for posts, per method for the rest."""
    return (workspace, method, (channel or "") if method == POST else "")


@dataclass(slots=True)
class _Bucket:
    rate: Rate
    tokens: float
    at: float
    closed_until: float = 0.0

    def refill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.rate.capacity, self.tokens + (now - self.at) * self.rate.per_second)
            self.at = now

    def wait(self, now: float) -> float:
        """Seconds until a token is there: 0 when one is there now."""
        refill = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate.per_second
        return max(refill, self.closed_until - now, 0.0)


class Pacer:
    """Token buckets for Slack calls, created on first use; thread-safe."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[Key, _Bucket] = {}

    def take(self, keys: Iterable[Key]) -> float:
        """Spend a token from every bucket of ``keys``, or from none: 0.0 when spent, else the
        seconds until all of them have one."""
        now = self._now()
        with self._lock:
            buckets = [self._bucket(each, now) for each in keys]
            for bucket in buckets:
                bucket.refill(now)
            wait = max((bucket.wait(now) for bucket in buckets), default=0.0)
            if wait == 0.0:
                for bucket in buckets:
                    bucket.tokens -= 1
            return wait

    def give_back(self, keys: Iterable[Key]) -> None:
        """Return tokens taken for calls that were not made."""
        with self._lock:
            for each in keys:
                bucket = self._buckets.get(each)
                if bucket is not None:
                    bucket.tokens = min(bucket.rate.capacity, bucket.tokens + 1)

    def hold(self, each: Key, seconds: float) -> None:
        """Slack said 429 with Retry-After: nothing spends from this bucket until then, and it
        starts again empty, as Slack's does."""
        now = self._now()
        with self._lock:
            bucket = self._bucket(each, now)
            bucket.refill(now)
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.closed_until = max(bucket.closed_until, now + seconds)

    def empty(self) -> set[Key]:
        """The buckets with no token now. Full ones are forgotten: a new bucket is full too."""
        now = self._now()
        with self._lock:
            for each, bucket in list(self._buckets.items()):
                bucket.refill(now)
                if bucket.tokens >= bucket.rate.capacity and bucket.closed_until <= now:
                    del self._buckets[each]
            return {each for each, bucket in self._buckets.items() if bucket.wait(now) > 0}

    def soonest(self) -> float | None:
        """Seconds until the first empty bucket has a token again; None when none is empty."""
        now = self._now()
        with self._lock:
            waits = [wait for bucket in self._buckets.values() if (wait := bucket.wait(now)) > 0]
        return min(waits, default=None)

    def _bucket(self, each: Key, now: float) -> _Bucket:
        bucket = self._buckets.get(each)
        if bucket is None:
            rate = self._limits.rate(each[1])
            bucket = self._buckets[each] = _Bucket(rate, rate.capacity, now)
        return bucket

    def _now(self) -> float:
        return self._clock.now().timestamp()
