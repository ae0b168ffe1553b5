"""The outbox's ``home`` rows: a person's Home tab, rendered and published when sent.

Rendered from the database at send time (bot.home.home_view), so a row that waited (debounced,
paced, retried) never publishes a stale Home. Published with the hash Slack gave our last
publish, so that an older view never overwrites a newer one.

On ``hash_conflict`` someone published in between whose hash we do not hold: another replica
(its row for that person leased after ours was rendered), or our own publish whose answer was
lost. Slack sends no hash with the refusal, so we cannot simply retry with the current one.
We render again, now: that render reads the database after the other publish was rendered,
so it is at least as new; and publish it once WITHOUT a hash, which Slack always takes. A
second conflict cannot happen without a hash; anything else Slack says goes the usual way.

``not_enabled`` (the app's Home tab is off): the row is settled with a note and one log line,
never retried; the next change queues a new row, which meets the same answer once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot import home
from bot.clock import Clock
from bot.domain.playbook import Playbook
from bot.domain.types import Policy
from bot.home_refresh import KIND, ordering_key
from storage import outbox_store, viewer_store
from storage.db import Database
from storage.outbox_store import Leased

log = logging.getLogger(__name__)

HASH_CONFLICT, NOT_ENABLED = "hash_conflict", "not_enabled"
# Slack's answers that this module settles itself; bot/outbox.py hands them over as Refused.
REFUSALS = frozenset({HASH_CONFLICT, NOT_ENABLED})

Publish = Callable[..., dict]  # views.publish through the sender's paced, sorted call


@dataclass(frozen=True, slots=True)
class Refused(Exception):
    """views.publish answered one of REFUSALS."""

    error: str


class HomeSender:
    """Renders and publishes one person's Home for the outbox sender."""

    def __init__(self, *, db: Database, clock: Clock, playbook: Callable[[], Playbook], policy: Callable[[], Policy],
                 is_lead: Callable[[str], bool], workspace_url: Callable[[str], str | None],
                 edits_settings: Callable[[str], bool] | None = None) -> None:
        """``playbook`` and ``policy`` are asked at each render: the row's workspace's (bot/outbox.py
        scopes each row). ``edits_settings``: whether the person gets the Settings button."""
        self._db = db
        self._clock = clock
        self._playbook = playbook
        self._policy = policy
        self._is_lead = is_lead
        self._workspace_url = workspace_url
        self._edits_settings = edits_settings or is_lead

    def send(self, row: Leased, publish: Publish) -> tuple[str | None, str | None]:
        """(None, a note for the row); raises what ``publish`` raises but for REFUSALS."""
        user = row.user_id or ""
        with self._db.read() as session:
            if outbox_store.has_later(session, row.id, kind=KIND, ordering_key=ordering_key(row.workspace_id, user)):
                return None, "superseded by a later Home publish"
            known = viewer_store.last_hash(session, workspace_id=row.workspace_id, user_id=user)
        try:
            answer = publish(user_id=user, view=self._render(row), hash=known)
        except Refused as refused:
            if refused.error == NOT_ENABLED:
                log.warning("Home of %s not published: the app's Home tab is off (manifest: app_home, "
                            "home_tab_enabled: true)", user)
                return None, "not published: the Home tab is not enabled"
            answer = publish(user_id=user, view=self._render(row), hash=None)
            note = "hash conflict: published again, rendered after the other publish"
        else:
            note = None
        with self._db.transaction() as session:
            viewer_store.store_hash(session, workspace_id=row.workspace_id, user_id=user,
                                    view_hash=(answer.get("view") or {}).get("hash"))
        return None, note

    def _render(self, row: Leased) -> dict:
        user = row.user_id or ""
        return home.home_view(self._db, workspace_id=row.workspace_id, user_id=user, is_lead=self._is_lead(user),
                              now=self._clock.now(), playbook=self._playbook(), policy=self._policy(),
                              links=home.CardLinks(self._workspace_url(row.workspace_id)),
                              settings_button=self._edits_settings(user))
