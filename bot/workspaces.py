"""A workspace's life: uninstalled (Slack's `app_uninstalled`, or its bot token revoked), then
perhaps installed again.

Uninstalled, the workspace is paused at once: its bot token and installation leave the
store (nothing can be posted with a dead token), its outbox rows wait (never fail), and no
timer of it fires: nudges, escalations, follow-up prompts, digests, roll-ups and weekly
insights. Its data is kept, or, with UNINSTALL_ERASE, deleted by the scheduler tick a batch
per transaction (``erase_due``), never in the ack of Slack's event.

Installed again, it resumes where it left off: the rows that waited go out in their order,
and its open incidents' step clocks (due times, snoozes, the next reminder) move on by the
time it was away. The pause does not count against the owner, who could neither be reminded
nor press a button meanwhile: a nudge that would have fallen due during it falls due as
long after the reinstall as it was still ahead at the uninstall, instead of every overdue
nudge and escalation of the workspace arriving in one burst. A digest, roll-up or weekly
post whose day passed meanwhile is not sent late (the same rule as after downtime).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot import refusals
from bot.clock import SystemClock
from storage import outbox_store, workspace_store
from storage.db import Database
from storage.slack_oauth import installation_store

log = logging.getLogger(__name__)

ERASE_BATCH = 500
"""Incidents deleted per transaction when erasing an uninstalled workspace."""


def uninstalled(db: Database, team_id: str, *, client_id: str | None, erase: bool, now: datetime) -> None:
    """Pause the workspace and forget its tokens, in two short transactions (this runs in the
    ack of Slack's event). Without a client id the bot runs on the environment's one token:
    there is no stored installation to delete."""
    with db.transaction() as session:
        workspace_store.mark(session, team_id, status=workspace_store.UNINSTALLED, now=now, erase_due=erase)
    if client_id:
        installation_store(db.engine, client_id=client_id).delete_all(enterprise_id=None, team_id=team_id)
    log.warning("workspace %s uninstalled the app (or revoked its token): its messages and timers are paused%s",
                team_id, "; its data will be erased (UNINSTALL_ERASE)" if erase else ", its data kept")


def installed(db: Database, team_id: str, *, now: datetime | None = None, team_name: str | None = None) -> int:
    """The OAuth flow's on-installed hook: the workspace resumes. Erasure an uninstall asked for
    is finished first, so a reinstall starts clean as promised. Returns the outbox rows that
    parked on the old token and go again now (rows that merely waited need nothing); the
    senders find them at their next poll."""
    now = now or SystemClock().now()
    while erase_step(db, team_id):
        pass
    with db.transaction() as session:
        row = workspace_store.find(session, team_id)
        if row is not None and row.status == workspace_store.UNINSTALLED:
            workspace_store.shift_open_clocks(session, team_id, by=now - row.changed_at)
        workspace_store.mark(session, team_id, status=workspace_store.INSTALLED, now=now, team_name=team_name)
        resumed = outbox_store.unpark_workspace(session, workspace_id=team_id,
                                                reasons=refusals.CREDENTIALS, now=now)
    log.info("workspace %s installed: its messages and timers resume (%d parked messages go again)", team_id,
             resumed)
    return resumed


def token_confirmed(db: Database, team_id: str | None, *, now: datetime) -> None:
    """Slack took the environment's bot token: a workspace paused by an uninstall is back
    (single-workspace mode, where a new token and a restart are the reinstall)."""
    if not team_id:
        return
    try:
        with db.read() as session:
            paused = workspace_store.is_paused(session, team_id)
        if paused:
            installed(db, team_id, now=now)
    except SQLAlchemyError:
        log.exception("workspace %s could not be resumed; the next start-up tries again", team_id)


def erase_step(db: Database, team_id: str) -> bool:
    """One batch of an uninstalled workspace's erasure; whether there is more to do."""
    with db.transaction() as session:
        row = workspace_store.find(session, team_id)
        if row is None or not row.erase_due:
            return False
        return workspace_store.erase_batch(session, team_id, limit=ERASE_BATCH) == ERASE_BATCH


class Erasure:
    """The tick's side of UNINSTALL_ERASE: every workspace waiting to be erased, a batch per
    transaction. Replicas running it at once delete what is still there and agree."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    def run_due(self) -> int:
        """How many workspaces finished being erased."""
        with self._db.read() as session:
            due = workspace_store.erasing(session)
        for team_id in due:
            while erase_step(self._db, team_id):
                pass
            log.info("workspace %s: its data is erased (UNINSTALL_ERASE)", team_id)
        return len(due)
