"""What the scheduler tick does: follow-up prompts, nudges, escalations and digests.

Each is derived from stored state and claimed by a unique key in the database before it
is queued, in the same transaction as its outbox row: a restart, a crash between deciding
and sending, or a second replica can neither double nor lose one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from bot import home_refresh, lead_inbox
from bot.alerting import next_alert_columns, refresh_alert
from bot.announce import approval_request, queue_decision
from bot.domain import alerts, digest_schedule, recovery, reminders
from bot.domain.digest import DIGEST_WINDOW, digest_figures
from bot.domain.types import Actor, EventKind, IncidentState, Refusal
from bot.each import each
from bot.retention import DailyRetention
from bot.insights_post import WeeklyInsights
from bot.rollup import Rollups
from bot.service import RecoveryService
from bot.workspaces import Erasure
from bot.views import digest as digest_view
from bot.views import lead_notes, notices
from storage import channel_store, outbox_store, repository, workspace_store

FOLLOW_UP_PROMPT = "follow_up_prompt"
BATCH = 100
# Sent outbox rows deleted per transaction, and transactions per tick: a first tick after
# months of rows catches up over a few ticks instead of holding the table for one long delete.
PRUNE_BATCH = 1000
PRUNE_BATCHES_PER_TICK = 10


@dataclass(frozen=True, slots=True)
class TickReport:
    follow_ups: int = 0
    alerts: int = 0
    digests: int = 0
    rollups: int = 0
    pruned: int = 0
    erased: int = 0
    insights: int = 0
    workspaces_erased: int = 0

    @property
    def total(self) -> int:
        return self.follow_ups + self.alerts + self.digests + self.rollups + self.insights


class _Skip(Exception):
    """Roll the claim back: the incident moved on since it was found due."""


class Timers:
    def __init__(self, service: RecoveryService) -> None:
        self._service = service
        self._digests_done_for: dict[str, str] = {}
        self._rollups = Rollups(service)
        self._insights = WeeklyInsights(service)
        self._retention = DailyRetention(db=service.db, clock=service.clock, days=service.settings.retention_days)
        self._erasure = Erasure(db=service.db)

    def run_due(self, *, max_rounds: int = 50) -> TickReport:
        """Everything due now; counts what this process queued (other replicas queue the rest).
        Reminders first, the digest last: one channel's digest failing (or a slow one) must
        not hold back anybody's nudge."""
        follow_ups = alerts_sent = 0
        for _ in range(max_rounds):
            prompted, alerted = self._follow_ups(), self._alerts()
            follow_ups, alerts_sent = follow_ups + prompted, alerts_sent + alerted
            if prompted + alerted == 0:
                break
        return TickReport(follow_ups=follow_ups, alerts=alerts_sent, digests=self._digests(),
                          rollups=self._rollups.run_due(), pruned=self.prune_outbox(),
                          erased=self._retention.run_due(), insights=self._insights.run_due(),
                          workspaces_erased=self._erasure.run_due())

    def prune_outbox(self) -> int:
        """Delete outbox rows sent more than OUTBOX_KEEP ago, so the table stays the size of a
        week's traffic rather than of the bot's whole life."""
        service = self._service
        before = service.clock.now() - service.settings.outbox_keep
        pruned = 0
        for _ in range(PRUNE_BATCHES_PER_TICK):
            with service.db.transaction() as session:
                deleted = outbox_store.prune_sent(session, before=before, limit=PRUNE_BATCH)
            pruned += deleted
            if deleted < PRUNE_BATCH:
                break
        return pruned

    def _digests(self) -> int:
        """On a working day, once a workspace's DIGEST_TIME has passed in its zone, every channel
        of it owed a digest (bot/domain/digest_schedule.py) gets today's if it has something to
        say: late if the bot was down, never twice. One per workspace and channel: each counts
        only its own workspace's incidents. The per-process memo (per workspace) only saves the
        channel scan; the digest_run key decides."""
        service = self._service
        now = service.clock.now()
        if self._digests_done_for and all(self._digest_done(workspace_id, now)
                                          for workspace_id in self._digests_done_for):
            return 0
        with service.db.read() as session:
            # Never a channel shared with another organization: its cards were not posted either.
            shared = channel_store.shared_channels(session)
            first_incidents = {key: first for key, first in repository.digest_channels(session).items()
                               if key[1] not in shared}
            asked_for = {(self._workspace_of_digest_channel(session, channel, first_incidents), channel)
                         for channel in service.settings.digest_channels}
        by_workspace: dict[str, list[str]] = {}
        for workspace_id, channel in sorted(first_incidents.keys() | asked_for):
            by_workspace.setdefault(workspace_id, []).append(channel)
        always = {channel for _, channel in asked_for}
        posted = 0
        self._digests_done_for = {workspace_id: self._digests_done_for.get(workspace_id, "")
                                  for workspace_id in by_workspace}
        for workspace_id, channels in by_workspace.items():
            with service.in_workspace(workspace_id):
                posted += self._workspace_digests(workspace_id, channels, first_incidents, always, now=now)
        return posted

    def _digest_done(self, workspace_id: str, now: datetime) -> bool:
        """Whether the workspace's digests of its day are all out (or none is due now)."""
        with self._service.in_workspace(workspace_id):
            settings = self._service.settings
            day = digest_schedule.due_day(now, digest_time=settings.digest_time, tz=settings.tz,
                                          work_hours=settings.work_hours)
        return day is None or self._digests_done_for.get(workspace_id) == day.isoformat()

    def _workspace_digests(self, workspace_id: str, channels: list[str],
                           first_incidents: dict[tuple[str, str], datetime], always: set[str], *,
                           now: datetime) -> int:
        """One workspace's digests, at its own digest time, zone and work hours."""
        service = self._service
        settings = service.settings
        day = digest_schedule.due_day(now, digest_time=settings.digest_time, tz=service.tz,
                                      work_hours=settings.work_hours)
        if day is None or self._digests_done_for.get(workspace_id) == day.isoformat():
            return 0
        due = [channel for channel in channels
               if digest_schedule.channel_due(first_incidents.get((workspace_id, channel)), day,
                                              digest_time=settings.digest_time, tz=service.tz,
                                              always=channel in always)]
        posted, failed = each(due, lambda channel: self.post_digest(workspace_id, channel, day.isoformat()),
                              what=lambda channel: f"digest for {channel} in {workspace_id}")
        if not failed:
            self._digests_done_for[workspace_id] = day.isoformat()
        return posted

    @staticmethod
    def _workspace_of_digest_channel(session: Session, channel: str,
                                     first_incidents: dict[tuple[str, str], datetime]) -> str:
        """A DIGEST_CHANNELS channel (one setting for the one token) is posted for the workspace
        whose incidents it has (a shared one's too), or, with none there yet, for no workspace
        in particular ("", as before workspaces were told apart)."""
        owners = sorted(workspace for workspace, had in first_incidents if had == channel)
        if owners:
            return owners[0]
        return repository.workspace_of_channel(session, channel) or ""

    def post_digest(self, workspace_id: str, channel: str, day: str) -> bool:
        """Figures read first, in a read transaction, then claimed and queued in a short write
        one: on SQLite a write transaction holds the database's only write lock, and a busy
        channel's figures take long enough for every flag and claim to feel it. The claim
        still decides: figures read by a replica that loses it are dropped. A channel with
        nothing to say gets nothing (a DIGEST_CHANNELS one, asked for by name, its "all clear").
        Only ``workspace_id``'s incidents in the channel are counted."""
        service = self._service
        now = service.clock.now()
        since = digest_schedule.report_since(date.fromisoformat(day), service.settings.work_hours)
        with service.db.read() as session:
            if repository.digest_claimed(session, workspace_id=workspace_id, channel=channel, local_date=day):
                return False
            figures = digest_figures(repository.incident_facts(session, since=now - DIGEST_WINDOW, channel=channel,
                                                               workspace_id=workspace_id),
                                     now=now, tz=service.tz, since=since)
            if workspace_store.is_paused(session, workspace_id):
                return False
        if not figures.has_news and channel not in service.settings.digest_channels:
            return False
        payload = digest_view.digest_payload(figures, channel=channel, currency=service.settings.currency,
                                             playbook=service.playbook)
        with service.db.transaction() as session:
            if not repository.claim_digest(session, workspace_id=workspace_id, channel=channel, local_date=day,
                                           now=now):
                return False
            outbox_store.enqueue(session, workspace_id=workspace_id, kind="post", now=now, channel=channel,
                                 dedupe_key=f"digest:{workspace_id}:{channel}:{day}", payload=payload)
        service.notify_sender()
        return True

    def _follow_ups(self) -> int:
        with self._service.db.read() as session:
            due = repository.due_follow_ups(session, now=self._service.clock.now(), limit=BATCH)
        return each(due, lambda item: self.prompt_follow_up(*item),
                    what=lambda item: f"follow-up prompt for incident {item[0]}")[0]

    def _alerts(self) -> int:
        with self._service.db.read() as session:
            due = repository.due_alerts(session, now=self._service.clock.now(), limit=BATCH)
        return each(due, lambda item: self.send_alert(*item), what=lambda item: f"reminder for incident {item[0]}")[0]

    def prompt_follow_up(self, incident_id: int, seq: int) -> bool:
        service = self._service
        now = service.clock.now()
        try:
            with service.db.transaction() as session:
                # The incident's row lock first, then the notification's key: every writer takes
                # them in this order (see RecoveryService._act), so none waits on another in a circle.
                loaded = repository.lock(session, incident_id)
                if loaded is None or loaded[0].step_seq != seq:
                    raise _Skip
                if not repository.claim_notification(session, incident_id=incident_id, seq=seq,
                                                     kind=FOLLOW_UP_PROMPT, now=now):
                    raise _Skip
                state, version = loaded
                with service.in_workspace(state.workspace_id, session):
                    decision = recovery.decide(state, Actor("system"), recovery.PromptFollowUp(), now=now,
                                               playbook=service.playbook, policy=service.policy)
                    if isinstance(decision, Refusal):
                        raise _Skip
                    alert = next_alert_columns(session, decision.state, playbook=service.playbook,
                                               policy=service.policy)
                    queue_decision(session, decision, playbook=service.playbook, settings=service.settings,
                                   policy=service.policy, now=now, before=state)
                    if not repository.apply_decision(session, state, decision, expected_version=version, now=now,
                                                     next_alert=alert, **home_refresh.decision_homes(
                                                         decision, before=state, leads=service.policy.leads, now=now)):
                        raise _Skip
        except _Skip:
            return False
        service.notify_sender()
        return True

    def send_alert(self, incident_id: int, seq: int, kind: str) -> bool:
        """The reminder owed now (claimed once by its key), or the expiry of a remedy no lead decided on."""
        service = self._service
        now = service.clock.now()
        try:
            with service.db.transaction() as session:
                loaded = repository.lock(session, incident_id)
                if loaded is None or loaded[0].step_seq != seq or not loaded[0].is_open:
                    raise _Skip
                state, version = loaded
                sent = repository.sent_notifications(session, incident_id=incident_id, seq=seq)
                # The incident's workspace's work hours, deadlines, leads and zone (bot/workspace_scope.py).
                with service.in_workspace(state.workspace_id, session):
                    if kind == alerts.APPROVAL_EXPIRY:
                        owed = self._expire_approval(session, state, version, sent=sent, now=now)
                    else:
                        owed = self._remind(session, state, kind, sent=sent, now=now)
        except _Skip:
            return False
        if owed:
            service.notify_sender()
        return owed

    def _remind(self, session: Session, state: IncidentState, kind: str, *, sent: frozenset[str],
                now: datetime) -> bool:
        """False when nothing is owed after all (a snooze or a change moved it): the stored
        alert is refreshed, and that is kept."""
        service = self._service
        playbook, policy, settings = service.playbook, service.policy, service.settings
        reminder = reminders.reminder_for(state, kind, sent=sent, now=now, playbook=playbook, policy=policy)
        if reminder is None:
            refresh_alert(session, state, playbook=playbook, policy=policy)
            return False
        if not repository.claim_notification(session, incident_id=state.id, seq=state.step_seq, kind=kind, now=now):
            raise _Skip
        repository.add_events(session, state.id, [reminder.event])
        where = lead_inbox.where_asked(lead_channel=settings.lead_channel)
        common = {"workspace_id": state.workspace_id, "now": now, "incident_id": state.id,
                  "channel": state.card_channel}
        if kind == alerts.APPROVAL_NUDGE:
            self._remind_leads_of_approval(session, state, now=now)
        elif kind == alerts.ESCALATION:
            text = notices.reminder_text(reminder, playbook=playbook, tz=service.tz, where=where)
            outbox_store.enqueue(session, kind="reply", payload={"text": text}, **common)
            escalation = lead_notes.Escalation(state=state, due=reminder.due, now=now)
            lead_inbox.queue(session, state, purpose=lead_inbox.ESCALATION,
                             text=lead_notes.escalation_text(escalation, playbook=playbook),
                             blocks=lead_notes.escalation_blocks(escalation, playbook=playbook, tz=service.tz),
                             lead_channel=settings.lead_channel, leads=policy.leads, now=now)
        else:
            text = notices.reminder_text(reminder, playbook=playbook, tz=service.tz, where=where)
            blocks = notices.nudge_blocks(reminder, text=text, playbook=playbook)
            # Unclaimed, the nudge is broadcast from the thread: the channel sees it, not only a
            # thread nobody follows yet.
            outbox_store.enqueue(session, kind="reply", payload={
                "text": text, "blocks": [block.to_dict() for block in blocks],
                **({"broadcast": True} if state.owner_id is None else {})}, **common)
        # The step is overdue (or escalated) from now on: redraw the card, which says so (drawn when sent).
        outbox_store.enqueue(session, kind="update_card", **common)
        home_refresh.after_reminder(session, state, leads=policy.leads, escalated=kind != alerts.NUDGE, now=now)
        refresh_alert(session, state, playbook=playbook, policy=policy)
        return True

    def _remind_leads_of_approval(self, session: Session, state: IncidentState, *, now: datetime) -> None:
        """The request again, to the same leads, marked as a reminder: its copies are redrawn
        with the others once someone decides."""
        service = self._service
        asked = next((event for event in reversed(repository.events_of(session, state.id))
                      if event.kind is EventKind.APPROVAL_REQUESTED), None)
        if asked is None:
            return
        request = approval_request(state, asked, policy=service.policy, playbook=service.playbook, reminder=True)
        lead_inbox.queue(session, state, purpose=lead_inbox.APPROVAL, text=lead_notes.approval_text(request),
                         blocks=lead_notes.approval_blocks(request, playbook=service.playbook, tz=service.tz),
                         lead_channel=service.settings.lead_channel, leads=service.policy.leads, now=now)

    def _expire_approval(self, session: Session, state: IncidentState, version: int, *, sent: frozenset[str],
                         now: datetime) -> bool:
        service = self._service
        playbook, policy = service.playbook, service.policy
        owed = alerts.next_alert(state, sent=sent, playbook=playbook, policy=policy)
        if owed is None or owed.kind != alerts.APPROVAL_EXPIRY or owed.at >= now:
            refresh_alert(session, state, playbook=playbook, policy=policy)
            return False
        if not repository.claim_notification(session, incident_id=state.id, seq=state.step_seq,
                                             kind=alerts.APPROVAL_EXPIRY, now=now):
            raise _Skip
        decision = recovery.decide(state, Actor("system"), recovery.ExpireApproval(), now=now, playbook=playbook,
                                   policy=policy)
        if isinstance(decision, Refusal):
            raise _Skip
        alert = next_alert_columns(session, decision.state, playbook=playbook, policy=policy, sent=frozenset())
        queue_decision(session, decision, playbook=playbook, settings=service.settings, policy=policy, now=now,
                       before=state)
        if not repository.apply_decision(session, state, decision, expected_version=version, now=now,
                                         next_alert=alert, **home_refresh.decision_homes(
                                             decision, before=state, leads=policy.leads, now=now)):
            raise _Skip
        return True

