"""Who the leads are: LEAD_USER_IDS and the members of LEAD_GROUP, as Slack lists them now.

A team changes its leads in Slack (the user group), not in the bot's settings, so the group is
read again every few minutes. Reading it is a Slack call, and the question "is this person a
lead?" is asked while Slack waits for an ack: so a read never holds the asker long (a slow
Slack answers into the cache for the next one), and a failed read keeps the members last known
rather than leaving nobody able to approve while Slack is down.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Final

from slack_sdk import WebClient

from bot.clock import Clock

log = logging.getLogger(__name__)

GROUP_TTL: Final = timedelta(minutes=5)
RETRY_AFTER_FAILURE: Final = timedelta(seconds=30)
"""A failed read is tried again sooner than the TTL: after an outage the group is back quickly."""
WAIT_SECONDS: Final = 1.0
"""How long an asker waits for a read in flight; an ack must be sent within 3 seconds."""

Fetch = Callable[[str], Iterable[str]]


class Leads:
    """The current set of leads, the group's members cached for ``ttl`` on ``clock``."""

    def __init__(self, *, user_ids: frozenset[str], clock: Clock, group: str | None = None,
                 fetch: Fetch | None = None, ttl: timedelta = GROUP_TTL, wait_seconds: float = WAIT_SECONDS) -> None:
        if group is not None and fetch is None:
            raise ValueError("a lead group needs a way to read its members")
        self._user_ids = user_ids
        self._group = group
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._members: frozenset[str] = frozenset()
        self._next_read: datetime | None = None  # None: never read
        self._reading: threading.Thread | None = None
        self._failing = False

    def members(self) -> frozenset[str]:
        """Every lead now. Starts a read of the group when its members are stale and waits for it
        at most ``wait_seconds``; past that, the last known members answer."""
        if self._group is None:
            return self._user_ids
        with self._lock:
            reading = self._reading
            if reading is None and (self._next_read is None or self._clock.now() >= self._next_read):
                reading = self._reading = threading.Thread(target=self._read, name="lead-group", daemon=True)
                reading.start()
        if reading is not None:
            reading.join(self._wait_seconds)
        return self._user_ids | self._members

    def is_lead(self, user_id: str) -> bool:
        return user_id in self.members()

    def _read(self) -> None:
        assert self._group is not None and self._fetch is not None
        try:
            members = frozenset(self._fetch(self._group))
        # Any failure: one escaping this thread would leave the read "in flight" for good.
        except Exception as error:  # noqa: BLE001
            self._failed(error)
        else:
            with self._lock:
                self._members = members
                self._next_read = self._clock.now() + self._ttl
                self._reading = None
                recovered, self._failing = self._failing, False
            if recovered:
                log.info("lead group %s read again: %d members", self._group, len(members))

    def _failed(self, error: Exception) -> None:
        with self._lock:
            self._next_read = self._clock.now() + RETRY_AFTER_FAILURE
            self._reading = None
            first, self._failing = not self._failing, True
        if first:
            log.warning("could not read the members of lead group %s (%s); keeping the %d last known until "
                        "Slack answers", self._group, _reason(error), len(self._members))


def _reason(error: Exception) -> str:
    """Slack's error code when it gave one (missing_scope, no_such_subteam), else the error."""
    response = getattr(error, "response", None)
    code = response.get("error") if response is not None else None
    return str(code) if code else str(error)


def group_reader(client: Callable[[], WebClient | None]) -> Fetch:
    """usergroups.users.list through the client ``client()`` gives at each read: that of the
    group's workspace token as it is then (rotated, reinstalled); None when there is none."""
    def fetch(group: str) -> list[str]:
        reader = client()
        if reader is None:
            raise LookupError("no bot token for the group's workspace")
        return list(reader.usergroups_users_list(usergroup=group)["users"])
    return fetch
