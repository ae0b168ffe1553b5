"""The leads' roll-up: once per working day at DIGEST_TIME, every channel of a workspace in
one message, to LEAD_CHANNEL or else to each lead by DM (each workspace's own).

It follows the channel digests' schedule (bot/domain/digest_schedule.py): working days only,
the first one at the first DIGEST_TIME after the workspace's first incident, a late one after
downtime only the same day, none with nothing to say. It is claimed once per workspace and
day with the digests' own unique key (as the channel "leads:<workspace>"), in the same
transaction as its outbox rows, so neither a restart nor a second replica can double it.

The rows are the leads' inbox kind (`lead_inbox.POST`) without an incident: the sender keeps
them out of a LEAD_CHANNEL shared with another organization (`OutboxSender._guard_shared`)
and parks them there for `/recovery health`, as it does approvals and escalations.
"""
from __future__ import annotations

from datetime import date

from bot import lead_inbox
from bot.domain import digest_schedule
from bot.domain.digest import DIGEST_WINDOW
from bot.domain.rollup import rollup_figures
from bot.lead_posts import LeadPosts
from bot.service import RecoveryService
from bot.views import rollup as rollup_view
from storage import channel_store, outbox_store, repository


def claim_key(workspace_id: str) -> str:
    """The roll-up's name in digest_run, beside the channels' ids: "leads:T1"."""
    return f"leads:{workspace_id}"


class Rollups:
    """The scheduler tick's roll-ups, each workspace's at its own time (bot/lead_posts.py)."""

    def __init__(self, service: RecoveryService) -> None:
        self._service = service
        self._posts = LeadPosts(
            service, what="leads' roll-up", post=self.post_rollup,
            due=lambda now, settings: digest_schedule.due_day(now, digest_time=settings.digest_time, tz=settings.tz,
                                                              work_hours=settings.work_hours),
            ready=lambda first, day, settings: digest_schedule.channel_due(first, day, digest_time=settings.digest_time,
                                                                           tz=settings.tz))

    def run_due(self) -> int:
        """Today's roll-up for every workspace owed one; how many this process queued."""
        return self._posts.run_due()

    def post_rollup(self, workspace_id: str, day: date, targets: list[str]) -> bool:
        """Figures read first, then claimed and queued in a short write transaction, as a
        channel's digest is (Timers.post_digest). Channels shared with another organization
        are left out: their cards were never posted, and `/recovery health` names them."""
        service = self._service
        now = service.clock.now()
        key = claim_key(workspace_id)
        since = digest_schedule.report_since(day, service.settings.work_hours)
        with service.db.read() as session:
            if repository.digest_claimed(session, workspace_id=workspace_id, channel=key,
                                         local_date=day.isoformat()):
                return False
            shared = channel_store.shared_channels(session)
            facts = [fact for fact in repository.incident_facts(session, since=now - DIGEST_WINDOW,
                                                                workspace_id=workspace_id)
                     if fact.channel not in shared]
        figures = rollup_figures(facts, now=now, tz=service.tz, since=since)
        if not figures.has_news:
            return False
        payload = rollup_view.rollup_payload(figures, currency=service.settings.currency, playbook=service.playbook)
        lead_channel = service.settings.lead_channel
        with service.db.transaction() as session:
            if not repository.claim_digest(session, workspace_id=workspace_id, channel=key, local_date=day.isoformat(),
                                           now=now):
                return False
            for target in targets:
                outbox_store.enqueue(session, workspace_id=workspace_id, kind=lead_inbox.POST, now=now,
                                     channel=target, user_id=None if target == lead_channel else target,
                                     dedupe_key=f"rollup:{workspace_id}:{day.isoformat()}:{target}", payload=payload)
        service.notify_sender()
        return True
