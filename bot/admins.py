"""Who is a workspace admin or owner, as users.info says: they may edit the workspace's
Settings besides its leads.

Asked while rendering a Home (the outbox) and while Slack waits on a press or a submission, so
an answer is cached for a while and a read never holds the asker longer than ``wait_seconds``
(a slow Slack answers into the cache for the next ask; until then, not an admin: refusing
an admin once is recoverable, letting anyone in is not).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from slack_sdk import WebClient

from bot.clock import Clock

log = logging.getLogger(__name__)

TTL: Final = timedelta(minutes=10)
WAIT_SECONDS: Final = 1.0
RETRY_AFTER_FAILURE: Final = timedelta(seconds=30)

Fetch = Callable[[str, str], dict]
"""(workspace, user) -> the person's users.info record, read with that workspace's token."""


class Admins:
    def __init__(self, *, fetch: Fetch, clock: Clock, ttl: timedelta = TTL,
                 wait_seconds: float = WAIT_SECONDS) -> None:
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[bool, datetime]] = {}

    def is_admin(self, workspace_id: str, user_id: str) -> bool:
        """Whether ``user_id`` is an admin or owner of ``workspace_id``, as last read."""
        key = (workspace_id, user_id)
        with self._lock:
            known = self._known.get(key)
        if known is not None and self._clock.now() < known[1]:
            return known[0]
        reading = threading.Thread(target=self._read, args=(key,), name="users-info", daemon=True)
        reading.start()
        reading.join(self._wait_seconds)
        with self._lock:
            known = self._known.get(key)
        return known is not None and known[0]

    def _read(self, key: tuple[str, str]) -> None:
        try:
            user = self._fetch(*key)
        # Any failure: not an admin until asked again, RETRY_AFTER_FAILURE later.
        except Exception as error:  # noqa: BLE001
            log.warning("could not read whether %s is a workspace admin: %s", key[1], error)
            with self._lock:
                self._known[key] = (False, self._clock.now() + RETRY_AFTER_FAILURE)
            return
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        with self._lock:
            self._known[key] = (admin, self._clock.now() + self._ttl)


def user_reader(client_of: Callable[[str], WebClient | None]) -> Fetch:
    """users.info through the workspace's client as it is at each read (rotated, reinstalled)."""
    def fetch(workspace_id: str, user_id: str) -> dict:
        client = client_of(workspace_id)
        if client is None:
            raise LookupError(f"no bot token for workspace {workspace_id}")
        return dict(client.users_info(user=user_id)["user"])
    return fetch
