"""The leads' scheduled posts (the daily roll-up, the weekly insights), run per workspace:
each at its own DIGEST_TIME, zone and work hours, to its own LEAD_CHANNEL or leads, since
every workspace has its own settings (bot/workspace_scope.py).

Whether a post is due and what it says belong to its module (bot/rollup.py,
bot/insights_post.py); this is the loop they share. The per-process memo only saves the
workspace scan while each workspace's post of its day is settled or not due yet; the digest_run key,
claimed with the post's outbox rows, decides, so neither a restart nor a second replica
can double one.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from bot import lead_inbox
from bot.each import each
from bot.service import RecoveryService
from bot.settings import Settings
from storage import repository

RESCAN = timedelta(minutes=15)
"""How long the memo may spare the workspace scan: a workspace the last scan did not see (its
first incident came since) is found within this."""
Due = Callable[[datetime, Settings], date | None]
"""(now, the workspace's settings) -> the day owed a post now, or None."""
Ready = Callable[[datetime, date, Settings], bool]
"""(the workspace's first incident, the day, its settings) -> whether it has had time to be owed one."""
Post = Callable[[str, date, list[str]], bool]
"""(workspace, day, where to) -> whether a post was queued."""


class LeadPosts:
    def __init__(self, service: RecoveryService, *, due: Due, post: Post, what: str,
                 ready: Ready = lambda _first, _day, _settings: True) -> None:
        self._service = service
        self._due = due
        self._ready = ready
        self._post = post
        self._what = what
        self._settled: dict[str, date] = {}  # workspace -> the day whose post is queued or not owed
        self._known: set[str] = set()  # the workspaces of the last scan
        self._scanned_at: datetime | None = None

    def run_due(self) -> int:
        """This kind of post for every workspace owed one now; how many this process queued."""
        service = self._service
        now = service.clock.now()
        fresh = self._scanned_at is not None and now - self._scanned_at < RESCAN
        if fresh and all(self._is_settled(workspace_id, now) for workspace_id in self._known):
            return 0
        with service.db.read() as session:
            workspaces = repository.rollup_workspaces(session)
        self._known, self._scanned_at = set(workspaces), now
        posted, _ = each(workspaces.items(), lambda found: self._run_one(found[0], found[1], now),
                         what=lambda found: f"{self._what} for {found[0]}")
        return posted

    def _is_settled(self, workspace_id: str, now: datetime) -> bool:
        with self._service.in_workspace(workspace_id):
            day = self._due(now, self._service.settings)
        return day is None or self._settled.get(workspace_id) == day

    def _run_one(self, workspace_id: str, first_incident: datetime, now: datetime) -> bool:
        service = self._service
        with service.in_workspace(workspace_id):
            settings = service.settings
            day = self._due(now, settings)
            if day is None or self._settled.get(workspace_id) == day:
                return False
            if not self._ready(first_incident, day, settings):
                self._settled[workspace_id] = day
                return False
            # No lead known yet (LEAD_GROUP not read, bot/leads.py logs why): the next tick tries again.
            targets = lead_inbox.destinations(lead_channel=settings.lead_channel, leads=service.leads.members())
            if not targets:
                return False
            posted = self._post(workspace_id, day, targets)
            self._settled[workspace_id] = day
            return posted
