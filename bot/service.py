"""One function per user action: load, decide, save, queue; one transaction each.

Slack never appears here except as outbox rows; the sender is woken after commit.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlmodel import Session

from bot import home_refresh, parking, receipts, workspace_scope
from bot.alerting import next_alert_columns
from bot.announce import queue_decision
from bot.clock import Clock
from bot.domain import alerts, digest_schedule, recovery
from bot.domain.digest import DIGEST_WINDOW, DigestFigures, StatsFigures, digest_figures
from bot.domain.parsing import parse_duration
from bot.domain.playbook import Playbook
from bot.domain.rules import Intent, may
from bot.domain.stats import figures_from_totals, stats_window
from bot.domain.timing import next_working_day, step_due
from bot.domain.types import (
    Actor,
    Decision,
    Event,
    IncidentState,
    NewIncident,
    Policy,
    Refusal,
    StepKey,
)
from bot.leads import Leads
from bot.settings import Settings
from bot.workspace_scope import MakeLeads, WorkspaceConfigs
from storage import outbox_store, repository
from storage.db import Database


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the person who acted is told, in one line."""

    ok: bool
    message: str
    state: IncidentState | None = None


@dataclass(frozen=True, slots=True)
class Locator:
    """An incident named by a button (its id) or by a person (its number)."""

    workspace_id: str
    incident_id: int | None = None
    number: int | None = None

    def describe(self) -> str:
        return f"#{self.number}" if self.number is not None else "that incident"

    def missing(self) -> str:
        """What a person is told when the incident they named or pressed is not there."""
        if self.number is not None:
            return f"There is no incident #{self.number}."
        return "That incident was not found in this workspace. `/recovery list` shows the open ones."


def _card_payload(new: NewIncident, *, fetch_details: bool, internal_only: bool) -> dict:
    """What the card's sender does before posting it. ``enrich``: fetch the message text (unless
    the flag carried it) and its permalink; one outbox row per flag, not an enrichment row and a
    card row, since each row costs the sender a lease, a read and a settle. ``internal_only``:
    the card goes to the flag's own channel (no RECOVERY_CHANNEL), so not if that channel is
    shared with another organization (the sender asks conversations.info)."""
    payload: dict = {"internal_only": True} if internal_only else {}
    if fetch_details:
        payload["enrich"] = {"channel": new.origin_channel, "ts": new.origin_ts, "need_text": not new.excerpt}
    return payload


class _AlreadyFlagged(Exception):
    pass


class _LostRace(Exception):
    pass


class RecoveryService:
    def __init__(self, *, db: Database, settings: Settings, playbook: Playbook, clock: Clock,
                 after_commit: Callable[[], None] = lambda: None, leads: Leads | None = None,
                 make_leads: MakeLeads | None = None) -> None:
        """``settings``, ``playbook`` and ``leads`` are the environment's: each workspace's own
        values over them are in force inside ``in_workspace`` (bot/workspace_scope.py).
        ``make_leads`` builds the Leads of a workspace that names its own."""
        self.db = db
        self.clock = clock
        # Without ``leads`` (the benchmarks' services), LEAD_USER_IDS alone: no group is read.
        default_leads = leads if leads is not None else Leads(user_ids=settings.lead_user_ids, clock=clock)
        self.workspaces = WorkspaceConfigs(
            db=db, defaults=settings, playbook=playbook, leads=default_leads,
            make_leads=make_leads or (lambda _workspace, user_ids, _group: Leads(user_ids=user_ids, clock=clock)),
            now=clock.now)
        self._defaults = (settings, playbook, default_leads)
        self._after_commit = after_commit

    @property
    def settings(self) -> Settings:
        """The settings in force: the current workspace's, else the environment's."""
        config = workspace_scope.current()
        return config.settings if config is not None else self._defaults[0]

    @property
    def playbook(self) -> Playbook:
        """The playbook in force, with the current workspace's step deadlines."""
        config = workspace_scope.current()
        return config.playbook if config is not None else self._defaults[1]

    @property
    def leads(self) -> Leads:
        """The current workspace's leads (its own, or the environment's)."""
        config = workspace_scope.current()
        return config.leads if config is not None else self._defaults[2]

    def in_workspace(self, workspace_id: str, session: Session | None = None) -> AbstractContextManager:
        """The workspace's own settings in force within the block: see bot/workspace_scope.py."""
        return self.workspaces.scope(workspace_id, session)

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    @property
    def policy(self) -> Policy:
        return Policy(empowerment_limit=self.settings.empowerment_limit,
                      follow_up_after=self.settings.follow_up_after, escalate_factor=self.settings.escalate_factor,
                      work_hours=self.settings.work_hours, tz=self.settings.tz, leads=self.leads.members(),
                      currency=self.settings.currency)

    def actor(self, user_id: str) -> Actor:
        return Actor(user_id=user_id, is_lead=self.leads.is_lead(user_id))

    def flag(self, new: NewIncident, *, fetch_details: bool, answer: bool = False,
             offer_details: bool = False) -> tuple[IncidentState, bool]:
        """Open an incident for a message, once: a second flag of it returns the first.

        ``answer``: the flagger used a form, which closes without a word, so they are told
        privately which incident it is and where its card is (a second flag included).
        ``offer_details``: a reaction, which asked the flagger nothing: a new incident's
        flagger is offered, privately, the form that records the customer's name, contact
        channel and severity (in the same transaction: one commit per flag)."""
        now = self.clock.now()
        card_channel = self.settings.recovery_channel or new.origin_channel
        claim_due = step_due(StepKey.CLAIM, start=now, playbook=self.playbook, policy=self.policy)
        fresh = repository.new_incident(new, card_channel=card_channel, now=now, claim_due=claim_due)
        try:
            # Insert first, look only on a conflict: a message is flagged once and retried
            # seldom, so reading before every insert would cost every flag a query. Its rows are
            # queued before it is written, and written with it (on PostgreSQL by its statement).
            with self.db.single_statement() as session:
                outbox_store.enqueue(session, workspace_id=fresh.workspace_id, kind="card", now=now,
                                     incident_id=fresh.id, channel=card_channel,
                                     payload=_card_payload(new, fetch_details=fetch_details,
                                                           internal_only=not self.settings.recovery_channel))
                receipts.queue_opened(session, fresh, now=now)
                if answer:
                    receipts.queue_answer(session, fresh, user_id=new.flagged_by, again=False, now=now)
                if offer_details:
                    receipts.queue_details_offer(session, fresh, now=now)
                state = repository.insert_incident(
                    session, fresh, next_alert=next_alert_columns(session, fresh, playbook=self.playbook,
                                                                  policy=self.policy, sent=frozenset()),
                    concerned=home_refresh.flag_concerns(fresh, now),
                    homes=home_refresh.keyed(fresh.workspace_id, now))
                if state is None:
                    raise _AlreadyFlagged
        except _AlreadyFlagged:
            with self.db.read() as session:
                existing = repository.find_by_origin(session, workspace_id=new.workspace_id,
                                                     channel=new.origin_channel, ts=new.origin_ts)
            assert existing is not None
            if answer:
                with self.db.transaction() as session:
                    receipts.queue_answer(session, existing, user_id=new.flagged_by, again=True, now=now)
                self._after_commit()
            return existing, False
        self._after_commit()
        return state, True

    def claim(self, where: Locator, user_id: str) -> Outcome:
        outcome = self._act(where, self.actor(user_id), recovery.Claim())
        if outcome.ok and outcome.state:
            return Outcome(True, f"You now own {outcome.state.ref}. The first step is in its thread.",
                           outcome.state)
        return outcome

    def assign(self, where: Locator, user_id: str, assignee: str) -> Outcome:
        outcome = self._act(where, self.actor(user_id), recovery.Assign(assignee))
        if outcome.ok and outcome.state:
            return Outcome(True, f"<@{assignee}> now owns {outcome.state.ref}.", outcome.state)
        return outcome

    def incident(self, where: Locator) -> IncidentState | None:
        with self.db.read() as session:
            loaded = repository.load(session, workspace_id=where.workspace_id, incident_id=where.incident_id,
                                     number=where.number)
        return loaded[0] if loaded else None

    def notify_sender(self) -> None:
        """Wake the outbox sender: something was just queued and committed."""
        self._after_commit()

    def tell(self, *, workspace_id: str, channel: str, user_id: str, text: str) -> None:
        """An ephemeral line for one person, sent through the outbox like everything else. With
        no ``channel`` (a button on their Home tab), a DM: an ephemeral needs a channel."""
        kind = "ephemeral" if channel else "dm"
        with self.db.transaction() as session:
            outbox_store.enqueue(session, workspace_id=workspace_id, kind=kind, now=self.clock.now(),
                                 channel=channel or user_id, user_id=user_id, payload={"text": text})
        self._after_commit()

    def list_incidents(self, *, workspace_id: str, user_id: str, scope: str, now: datetime) -> list[IncidentState]:
        """`/recovery list`: newest first; ``now`` decides what counts as overdue."""
        with self.db.one_statement() as connection:
            return repository.list_incidents(connection, workspace_id=workspace_id, scope=scope, user_id=user_id,
                                             now=now)

    def timeline(self, where: Locator) -> tuple[IncidentState, list[Event]] | None:
        """`/recovery show`: the incident and its events, oldest first."""
        with self.db.read() as session:
            loaded = repository.load(session, workspace_id=where.workspace_id, incident_id=where.incident_id,
                                     number=where.number)
            if loaded is None:
                return None
            return loaded[0], repository.events_of(session, loaded[0].id)

    def act(self, where: Locator, user_id: str, action: recovery.Action) -> Outcome:
        """Any playbook action by a person; the outcome's message is for them alone."""
        return self._act(where, self.actor(user_id), action)

    def precheck(self, where: Locator, user_id: str, intent: Intent, *, seq: int | None) -> Outcome:
        """Before opening a form: the rule book's answer now, in the words the submission
        would get. Saves a person filling in a modal only to be refused."""
        state = self.incident(where)
        if state is None:
            return Outcome(False, where.missing())
        refusal = may(state, self.actor(user_id), intent, seq=seq, now=self.clock.now(), playbook=self.playbook,
                      leads=self.leads.members(), tz=self.tz)
        return Outcome(refusal is None, refusal.reason if refusal else "", state)

    def snooze_until(self, choice: str) -> datetime | None:
        """`1h`, `4h`, or `tomorrow`: the start of the next working day in the team's zone."""
        now = self.clock.now()
        if choice == "tomorrow":
            return next_working_day(now, policy=self.policy)
        try:
            return now + parse_duration(choice)
        except ValueError:
            return None

    def digest_preview(self, *, workspace_id: str, channel: str) -> DigestFigures:
        """This channel's digest figures as they are now, for `/recovery digest`: the same days
        as the digest posted this morning (Monday's covers the weekend), of the workspace's
        own incidents only."""
        now = self.clock.now()
        since = digest_schedule.report_since(now.astimezone(self.tz).date(), self.settings.work_hours)
        with self.db.read() as session:
            facts = repository.incident_facts(session, since=now - DIGEST_WINDOW, channel=channel,
                                              workspace_id=workspace_id)
        return digest_figures(facts, now=now, tz=self.tz, since=since)

    def stats(self, *, workspace_id: str, days: int) -> StatsFigures:
        """The workspace's figures over the last ``days`` against the ``days`` before."""
        window = stats_window(self.clock.now(), days)
        with self.db.read() as session:
            totals = repository.stats_totals(session, workspace_id=workspace_id, window=window)
        return figures_from_totals(totals, window=window, tz=self.tz)

    def health(self, workspace_id: str) -> parking.HealthReport:
        """`/recovery health`: what the outbox could not send, and which incidents wait on it."""
        return parking.health(self.db, workspace_id=workspace_id, now=self.clock.now())

    def bot_joined(self, *, workspace_id: str, channel: str) -> int:
        """The bot was invited to ``channel``: what waited for that goes out now."""
        count = parking.bot_joined(self.db, workspace_id=workspace_id, channel=channel, now=self.clock.now())
        if count:
            self._after_commit()
        return count

    def unstick(self, where: Locator, user_id: str, *, give_up: bool) -> Outcome:
        """A lead's Retry or Give up on an incident's parked messages (`/recovery health`)."""
        if not self.leads.is_lead(user_id):
            return Outcome(False, "Only a lead can retry or give up an incident's messages.")
        state = self.incident(where)
        if state is None:
            return Outcome(False, where.missing())
        now = self.clock.now()
        count = (parking.give_up(self.db, incident_id=state.id, by=user_id, now=now) if give_up
                 else parking.retry(self.db, incident_id=state.id, now=now))
        if not count:
            return Outcome(False, f"Nothing of {state.ref} is waiting any more.", state)
        if give_up:
            return Outcome(True, f"Gave up {count} unsent message{'s' * (count != 1)} of {state.ref}; "
                                 "it still works from `/recovery` commands.", state)
        self._after_commit()
        return Outcome(True, f"Trying {state.ref} again now: `/recovery health` shows it again if Slack "
                             "still refuses.", state)

    def _act(self, where: Locator, actor: Actor, action: recovery.Action) -> Outcome:
        now = self.clock.now()
        try:
            if self.db.dialect == "postgresql":
                outcome = self._act_apart(where, actor, action, now)
            else:
                with self.db.transaction() as session:
                    decided = self._decide(session.connection(), where, actor, action, now)
                    if isinstance(decided, Outcome):
                        return decided
                    self._write(session, *decided, now=now)
                    outcome = Outcome(True, "", decided[1].state)
        except _LostRace:
            return self._explain_lost_race(where, actor, action)
        if outcome.ok:
            self._after_commit()
        return outcome

    def _act_apart(self, where: Locator, actor: Actor, action: recovery.Action, now: datetime) -> Outcome:
        """PostgreSQL: read, decide, then write, the read a statement of its own: a transaction
        there (READ COMMITTED) would see no more than that, and the write's version check
        catches any change since, as it would inside one. A decision whose write is one
        statement is written outside a transaction (Database.single_statement): a Claim is
        two round trips, not four."""
        with self.db.one_statement() as connection:
            decided = self._decide(connection, where, actor, action, now)
        if isinstance(decided, Outcome):
            return decided
        one = repository.written_in_one_statement(decided[0].state, decided[1])
        with self.db.single_statement() if one else self.db.transaction() as session:
            self._write(session, *decided, now=now)
        return Outcome(True, "", decided[1].state)

    def _decide(self, connection: Connection, where: Locator, actor: Actor, action: recovery.Action,
                now: datetime) -> Outcome | tuple[repository.Loaded, Decision]:
        """The incident as it stands, and what ``action`` decides on it; or the refusal."""
        loaded = repository.load_to_decide(connection, workspace_id=where.workspace_id,
                                           incident_id=where.incident_id, number=where.number)
        if loaded is None:
            return Outcome(False, where.missing())
        decision = recovery.decide(loaded.state, actor, action, now=now, playbook=self.playbook, policy=self.policy)
        if isinstance(decision, Refusal):
            return Outcome(False, decision.reason, loaded.state)
        return loaded, decision

    def _write(self, session: Session, loaded: repository.Loaded, decision: Decision, *, now: datetime) -> None:
        """Store ``decision`` and queue what it tells Slack; _LostRace if the incident changed
        since ``loaded``."""
        state, version = loaded.state, loaded.version
        if decision.escalate_now:
            # The row lock before the notification's key, as the escalation tick takes them
            # (timers.send_alert): in the other order, Need help and the tick deadlock.
            locked = repository.lock(session, state.id)
            if locked is None or locked[1] != version:
                raise _LostRace
            repository.claim_notification(session, incident_id=state.id, seq=state.step_seq,
                                          kind=alerts.ESCALATION, now=now)
        sent = frozenset() if decision.new_step and not decision.escalate_now else None
        # An escalation this decision claims is looked up with the others, after it.
        escalated = None if decision.escalate_now else loaded.escalated
        if decision.handed_over:
            before = repository.sent_notifications(session, incident_id=state.id, seq=state.step_seq)
            escalated = alerts.ESCALATION in before
            repository.forget_reminders(session, incident_id=state.id, seq=state.step_seq, kinds=alerts.LEVELS)
            sent = before - set(alerts.LEVELS)
        alert = next_alert_columns(session, decision.state, playbook=self.playbook, policy=self.policy, sent=sent)
        # Queued first: the decision's write carries them, and only if it wins.
        queue_decision(session, decision, playbook=self.playbook, settings=self.settings, policy=self.policy,
                       now=now, before=state, escalated=escalated)
        if not repository.apply_decision(session, state, decision, expected_version=version, now=now,
                                         next_alert=alert, **home_refresh.decision_homes(
                                             decision, before=state, leads=self.policy.leads, now=now)):
            raise _LostRace

    def _explain_lost_race(self, where: Locator, actor: Actor, action: recovery.Action) -> Outcome:
        with self.db.read() as session:
            loaded = repository.load(session, workspace_id=where.workspace_id, incident_id=where.incident_id,
                                     number=where.number)
        state = loaded[0] if loaded else None
        if isinstance(action, recovery.Claim) and state and state.owner_id and state.owner_id != actor.user_id:
            return Outcome(False, f"Too late: <@{state.owner_id}> claimed {state.ref} first.", state)
        ref = state.ref if state else where.describe()
        return Outcome(False, f"{ref} changed while you were acting, so nothing was done. Please look again.",
                       state)

