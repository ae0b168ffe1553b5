"""Sends the Slack calls the outbox table owes, after commit and off the request path.

Guarantees: rows of one incident leave in order (a thread reply never overtakes its
card); failures are retried with backoff (429 waits Retry-After) and kept until they go;
a post whose outcome is unknown is first looked up in Slack by the outbox id carried in
its message metadata, and sent again only if Slack does not have it.

A flag is one row: its card. A reaction carries neither the message text nor its link, so
that row also asks for them (``payload["enrich"]``), and the sender fetches what the
incident still lacks just before rendering the card. Enrichment never holds back the card:
when Slack refuses it (not_in_channel, message_not_found) or fails it (429, 5xx, network),
the card is posted at once without those details, and the reason is kept in the row's
``last_error``. What was fetched is stored in the same transaction that records the card's
outcome, retry included, so a retried post (and the lookup before it) does not fetch again.

Every call for a row is made with the bot token of the row's workspace (bot/tokens.py). A
workspace with no install has no token: its rows park as ``not_authed`` and go once the bot
is installed there (bot/parking.py ``installed``).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from http.client import HTTPException

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot import (
    home_refresh, lead_inbox, outbox_details, outbox_export, outbox_home, outbox_insights, parking, receipts, refusals,
    uploads,
)
from bot.card_drawing import PROMPT, PromptDrawer
from bot.clock import Clock
from bot.history_search import PAGE_LIMIT, PostSearch, oldest
from bot.outbox_crew import DueBatches, WakeUps
from bot.outbox_pacing import RowPacing
from bot.pacing import Limits, Pacer
from bot.slack_api import Clients
from bot.tokens import Tokens
from bot.domain.text import excerpt as make_excerpt
from bot.domain.types import IncidentState
from bot.views import digest as digest_view
from bot.views import flagged, health, lead_notes
from bot.views.ids import OUTBOX_EVENT_TYPE
from storage import channel_store, lead_store, outbox_lease, outbox_settle, outbox_store, repository
from storage.db import Database

log = logging.getLogger(__name__)

# A leased row is renewed every RENEW_SECONDS while its sender works on it (a call may take
# longer than the lease: timeouts, Retry-After sleeps in the read client), so the lease only
# runs out when its holder is gone: a process killed mid-send holds its rows back from the
# other senders (or from itself, restarted) for at most LEASE. Both are read on the sender's
# clock, which the keeper looks at every KEEPER_POLL_SECONDS of wall time: a clock that runs
# faster than the wall (the fault suite's time lapse) must not outrun the renewals.
LEASE = timedelta(seconds=15)
RENEW_SECONDS = 5.0
KEEPER_POLL_SECONDS = 0.1
# Rows leased per transaction, at most: fewer round trips per row, while a batch stuck behind
# one slow Slack call stays small (its other rows wait, leased, until that call ends).
LEASE_BATCH = 8
# Sender threads. A row's settle mostly waits (on Slack, on the database), so the senders
# together use half a core at most; what bounds them is round trips. PostgreSQL takes the
# settles of eight at once (100 flags/s sustained drained 3.4 s after the load with eight,
# 8.8 s with four); SQLite writes one transaction at a time, and eight there only queue for
# its writer (9.2 s with eight, 0.8 s with four).
SENDERS = {"postgresql": 8, "sqlite": 4}
# A batch's rows sent are recorded together at its end, or once the first has waited this long.
FLUSH_AFTER_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 300
# A quote or link missed because Slack failed (5xx, network) is asked again this much later.
DETAILS_RETRY_SECONDS = 60
POST_KINDS = frozenset({"card", "step", "reply", "approval", "dm", "post", lead_inbox.POST})
THREAD_KINDS = frozenset({"step", "reply", "approval"})
PERMANENT_ERRORS = frozenset({
    "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "msg_too_long", "no_text",
    "message_not_found", "cant_update_message", "edit_window_closed", "user_not_found", "user_not_in_channel",
    "invalid_metadata_format", "invalid_metadata_schema", "too_many_attachments", "view_too_large",
})
# How long conversations.info's word on a channel (shared with another organization or not)
# stands. A channel becomes shared when someone accepts a Slack Connect invitation, which is
# rare; asking before every card would cost a call per card.
CHANNEL_RECHECK = timedelta(hours=24)

# Where an ephemeral cannot reach the person in that channel, but a DM can.
_EPHEMERAL_REFUSALS = frozenset({"not_in_channel", "channel_not_found", "is_archived", "user_not_in_channel"})

CardRenderer = Callable[[IncidentState, bool], tuple[str, list[dict]]]
"""The card of an incident, and whether the leads were called to its current step."""


@dataclass(slots=True)
class _LeaseFacts:
    """What the lease read about a row besides the row: whether its channel is shared with
    another organization (None: not known, ask Slack), whether the leads were called to its
    incident's current step, and whether a newer card update makes it pointless. Read then,
    in the lease's own query, as the incident is: a change committed later queued its own
    row behind this one."""

    channel: str | None
    shared: bool | None
    escalated: bool
    superseded: bool


@dataclass(frozen=True, slots=True)
class _Retry(Exception):
    error: str
    after_seconds: float | None = None
    uncertain: bool = False


@dataclass(frozen=True, slots=True)
class _Dead(Exception):
    error: str


class _Parked(_Dead):
    """Refused until something changes (bot/refusals.py): kept, not retried on a timer."""


class _Lost(Exception):
    """This sender's lease on a row ran out and another sender took the row over: theirs now."""


@dataclass(frozen=True, slots=True)
class _Details:
    """What enrichment fetched for an incident, and why anything is missing."""

    excerpt: str | None
    permalink: str | None
    failures: tuple[str, ...]
    # Seconds until a detail missed for a passing reason (no budget, 429, 5xx) may be fetched.
    later: float | None = None

    def fill(self, incident: IncidentState) -> IncidentState:
        """The incident as repository.update_origin_details will leave it: only empty fields take a value."""
        new_excerpt = bool(self.excerpt) and not incident.excerpt
        return replace(
            incident,
            excerpt=self.excerpt if new_excerpt else incident.excerpt,
            summary=self.excerpt if new_excerpt and not incident.summary else incident.summary,
            permalink=self.permalink if self.permalink and not incident.permalink else incident.permalink,
        )

    def store(self, session: Session, incident_id: int) -> None:
        if self.excerpt or self.permalink:
            repository.update_origin_details(session, incident_id, excerpt=self.excerpt, permalink=self.permalink)


class OutboxSender:
    def __init__(self, *, db: Database, clock: Clock, tokens: Tokens, clients: Clients,
                 render_card: CardRenderer, draw_prompt: PromptDrawer, poll_seconds: float = 1.0,
                 limits: Limits = Limits(), home: outbox_home.HomeSender | None = None,
                 export: outbox_export.ExportSender | None = None,
                 insights: outbox_insights.InsightsSender | None = None,
                 scope: Callable[[str], AbstractContextManager] = lambda _workspace: nullcontext(),
                 hold: Callable[[threading.Event], None] | None = None) -> None:
        """``scope``: puts a row's workspace's own settings in force while it is sent (its card,
        its Home drawn with them; bot/workspace_scope.py). ``hold``: waits, before a thread
        sends what woke it, for the server's acks to go first (bot/acks_first.py)."""
        self._db = db
        self._clock = clock
        self._tokens = tokens
        self._clients = clients
        self._row_clients = threading.local()
        self._render_card = render_card
        self._draw_prompt = draw_prompt
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._workers = SENDERS.get(db.dialect, 4)
        self._wakeups = WakeUps(self._workers)
        self._batches: DueBatches[outbox_store.Due] = DueBatches()
        self._threads: list[threading.Thread] = []
        # (row id, attempts): when that lease was last confirmed. A lease is a row *and* its
        # attempt: a row whose lease ran out may be leased again by another sender thread of
        # this same process, and each thread must go on seeing only its own lease.
        self._held: dict[tuple[int, int], datetime] = {}
        self._held_lock = threading.Lock()
        self._keeper: threading.Thread | None = None
        self._pacing = RowPacing(Pacer(limits, clock), post_kinds=POST_KINDS)
        self._searches = PostSearch()
        self._bot_name: str | None = None
        # Workspace: what Slack said when it refused to refresh its token, as last read.
        self._refused_tokens: dict[str, str] = {}
        # Lease (row id, attempts): what was read with it.
        self._facts: dict[tuple[int, int], _LeaseFacts] = {}
        self._home = home
        self._export = export
        self._insights = insights
        self._scope = scope
        self._hold = hold

    @property
    def _client(self) -> WebClient:
        """The read client of the token of the row this thread is settling."""
        return self._row_clients.current.read

    @property
    def _poster(self) -> WebClient:
        """The posting client of the token of the row this thread is settling."""
        return self._row_clients.current.post

    def wake(self) -> None:
        self._wakeups.wake()

    def start(self) -> None:
        """Several senders, because a Slack call mostly waits: while one waits on Slack,
        the others lease and send other incidents' rows (one incident's rows still go one
        at a time, in order, since only the first unsent row of an incident is ever due)."""
        self._threads = [threading.Thread(target=self._run, args=(n,), name=f"outbox-sender-{n}", daemon=True)
                         for n in range(self._workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wakeups.all()
        self._batches.clear()
        for thread in self._threads:
            thread.join(timeout=15)

    def _run(self, worker: int) -> None:
        while not self._stop.is_set():
            self._wakeups.wait(worker, self._pacing.idle_wait(self._poll))
            if self._hold is not None:
                self._hold(self._stop)
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - e.g. the database is down: try again next round
                log.exception("outbox: drain failed; will try again")

    def drain(self, max_rounds: int = 1000) -> int:
        """Send everything due now; returns how many rows were settled (sent, retried or dead).

        Batches come from the due read shared by the sender threads (bot/outbox_crew.py). A
        drain ends when nothing is due, or when what it read last leased nothing: what is due
        then is held back by pacing, or is being sent by others."""
        settled = 0
        progressed = True
        for _ in range(max_rounds):
            taken = self._batches.take(self._read_due if progressed else None, on_queued=self._wakeups.helpers)
            if taken is None:
                break
            due, fresh = taken
            progressed = progressed and not fresh
            batch = self._lease(self._pacing.pick(due))
            progressed = progressed or bool(batch)
            settled += self._settle_batch(batch)
            if self._stop.is_set():
                break
        return settled

    def _read_due(self) -> list[list[outbox_store.Due]]:
        """What is due, in the pacing's order, cut in batches of ``_batch_size``."""
        due = self._pacing.order(self._due())
        size = self._batch_size(len(due))
        return [due[start:start + size] for start in range(0, len(due), size)]

    def _batch_size(self, due: int) -> int:
        """A share of what is due for each sender thread, so a few rows spread over the senders
        (one slow call then holds back only its own share), up to LEASE_BATCH."""
        return max(1, min(LEASE_BATCH, due // self._workers))

    def _due(self) -> list[outbox_store.Due]:
        """On PostgreSQL read on the sender's own connection (storage/db.py SENDING_OPTIONS)."""
        now = self._clock.now()
        if self._db.dialect == "postgresql":
            with self._db.sending() as connection:
                return outbox_store.due(connection, now=now, **self._pacing.skips())
        with self._db.read() as session:
            return outbox_store.due(session.connection(), now=now, **self._pacing.skips())

    def _lease(self, ids: list[int]) -> list[tuple[outbox_store.Leased, IncidentState | None]]:
        """Lease what is still due of ``ids``, with what sending them needs (storage/outbox_lease.py)."""
        now = self._clock.now()
        leases = outbox_lease.lease(self._db, ids, now=now, lease_for=LEASE, checked_since=now - CHANNEL_RECHECK)
        with self._held_lock:
            for taken in leases:
                if taken.token_error is None:
                    self._refused_tokens.pop(taken.row.workspace_id, None)
                else:
                    self._refused_tokens[taken.row.workspace_id] = taken.token_error
            self._facts.update({(taken.row.id, taken.row.attempts): _LeaseFacts(
                channel=taken.row.channel, shared=taken.shared, escalated=taken.escalated,
                superseded=taken.superseded) for taken in leases})
        self._pacing.forget(set(ids) - {taken.row.id for taken in leases})
        return [(taken.row, taken.incident) for taken in leases]

    def _settle_batch(self, batch: list[tuple[outbox_store.Leased, IncidentState | None]]) -> int:
        """Settle a leased batch in order; if told to stop, give back the rows not yet tried."""
        now = self._clock.now()
        with self._held_lock:
            self._held.update({(row.id, row.attempts): now for row, _ in batch})
        self._ensure_keeper()
        settled = 0
        sent = _Settles(self._db)
        try:
            for index, (row, incident) in enumerate(batch):
                if self._stop.is_set():
                    with self._db.transaction() as session:
                        outbox_store.release(session, [row for row, _ in batch[index:]])
                    break
                try:
                    with self._pacing.sending(row), self._scope(row.workspace_id):
                        sent.add(self._settle_leased(row, incident))
                    settled += 1
                except _Lost:
                    log.warning("outbox %s (%s): its lease ran out and another sender took it over", row.id,
                                row.kind)
                if sent.waited(FLUSH_AFTER_SECONDS):
                    sent.write()
            sent.write()
        finally:
            sent.write_after_failure()
            self._pacing.forget(row.id for row, _ in batch)
            with self._held_lock:
                for row, _ in batch:
                    self._held.pop((row.id, row.attempts), None)
                    self._facts.pop((row.id, row.attempts), None)
        return settled

    def _ensure_keeper(self) -> None:
        """Rows in ``_held`` are being worked on: the lease keeper keeps their leases alive."""
        with self._held_lock:
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = threading.Thread(target=self._keep_leases, name="outbox-leases", daemon=True)
                self._keeper.start()

    def _keep_leases(self) -> None:
        """One thread renews every lease this sender holds once it was last confirmed
        RENEW_SECONDS ago on the sender's clock (looked at every KEEPER_POLL_SECONDS)."""
        while not self._stop.wait(KEEPER_POLL_SECONDS):
            now = self._clock.now()
            with self._held_lock:
                aged = [lease for lease, confirmed in self._held.items()
                        if now - confirmed >= timedelta(seconds=RENEW_SECONDS)]
            if not aged:
                continue
            try:
                self._renew(aged)
            except Exception:  # noqa: BLE001 - e.g. the database is down; the next round tries again
                log.warning("outbox: leases not renewed", exc_info=True)

    def _renew(self, held: list[tuple[int, int]]) -> set[tuple[int, int]]:
        """Renew the leases (row id, attempts) still ours; forget those another sender took over."""
        now = self._clock.now()
        with self._db.transaction() as session:
            ours = outbox_store.confirm(session, held, now=now, lease_for=LEASE)
        with self._held_lock:
            for lease in held:
                if lease in self._held:
                    if lease in ours:
                        self._held[lease] = now
                    else:
                        del self._held[lease]
        return ours

    def _fact(self, row: outbox_store.Leased) -> _LeaseFacts:
        with self._held_lock:
            return self._facts[(row.id, row.attempts)]

    def _still_ours(self, row: outbox_store.Leased) -> None:
        """Before starting on a row, and before a call that creates a message: raise _Lost
        unless this sender still holds the row's lease, renewing it if it was last confirmed
        RENEW_SECONDS ago. A row may wait in its batch, and a settle may make several slow
        calls; should the keeper have failed to renew meanwhile, another sender may have
        taken the row over, and both would post it."""
        lease = (row.id, row.attempts)
        with self._held_lock:
            confirmed = self._held.get(lease)
        if confirmed is None:
            raise _Lost
        if self._clock.now() - confirmed >= timedelta(seconds=RENEW_SECONDS) and lease not in self._renew([lease]):
            raise _Lost

    def _settle_leased(self, row: outbox_store.Leased,
                       incident: IncidentState | None) -> _Record | None:
        """Enrich (never fails), send, then record the outcome and what enrichment fetched in
        one transaction. Without a token for the row's workspace, nothing is asked of Slack: the
        row is refused as Slack refuses a call without one.

        A row sent is recorded by what this returns, written with its batch's (_Settles): as
        data when that is all it needs (outbox_settle.Sent), else as a change to make; a row
        refused, retried or parked is recorded here, at once."""
        self._still_ours(row)
        token = self._tokens.bot_token(row.workspace_id)
        details = None
        if token is not None:
            self._row_clients.current = self._clients.of(token)
            details = self._enrich(row, incident)
        if details is not None and incident is not None:
            incident = details.fill(incident)
        try:
            self._guard_token(row)
            if token is None:
                raise _Parked(refusals.NOT_INSTALLED)
            self._guard_shared(row)
            ts, note = self._send(row, incident)
        except _Retry as retry:
            delay = retry.after_seconds if retry.after_seconds is not None else min(
                2 ** (row.attempts - 1), MAX_BACKOFF_SECONDS)
            log.warning("outbox %s (%s) failed: %s; retry in %ss", row.id, row.kind, retry.error, delay)
            with self._db.transaction() as session:
                self._store(session, row, details)
                outbox_store.mark_retry(session, row.id, at=self._clock.now() + timedelta(seconds=delay),
                                        error=retry.error, uncertain=retry.uncertain or row.uncertain)
            return
        except _Dead as dead:
            if dead.error in refusals.CREDENTIALS and token is not None and self._token_replaced(row, token):
                log.warning("outbox %s (%s): %s with a token since replaced; trying again with the new one",
                            row.id, row.kind, dead.error)
                with self._db.transaction() as session:
                    self._store(session, row, details)
                    outbox_store.mark_retry(session, row.id, at=self._clock.now(), error=dead.error,
                                            uncertain=row.uncertain)
                return
            if isinstance(dead, _Parked) and row.kind != "ephemeral":  # an ephemeral is stale by then
                self._park(row, incident, details, reason=dead.error)
                return
            with self._db.transaction() as session:
                self._store(session, row, details)
                outbox_store.mark_dead(session, row.id, now=self._clock.now(), error=dead.error)
                figures = outbox_store.counts(session)
            log.error("outbox %s (%s) dropped by Slack: %s (outbox: %s)", row.id, row.kind, dead.error,
                      parking.counts_line(figures))
            return
        notes = "; ".join(([note] if note else []) + list(details.failures if details is not None else ())) or None
        sent_at = self._clock.now()
        sent = self._as_sent(row, ts=ts, note=notes, details=details, sent_at=sent_at)
        later = details is not None and details.later is not None and row.kind == "card"
        if sent is not None and not later:
            return sent

        def record(session: Session) -> None:
            if sent is not None:
                outbox_settle.write_in(session, sent)
            else:
                self._store(session, row, details)
                self._record_ts(session, row, ts)
                outbox_store.mark_sent(session, row.id, now=sent_at, ts=ts, note=notes)
            if later:
                outbox_details.queue(session, card=row, now=sent_at)
        return record

    @staticmethod
    def _as_sent(row: outbox_store.Leased, *, ts: str | None, note: str | None, details: _Details | None,
                 sent_at: datetime) -> outbox_settle.Sent | None:
        """A row sent, recorded as data (where its card or prompt now is); None when recording
        it takes more: a lead's copy (lead_store), or what enrichment fetched for a row other
        than its card (stored by ``_store``)."""
        sent = outbox_settle.Sent(row_id=row.id, sent_at=sent_at, ts=ts, note=note)
        if row.kind == "card" and ts is not None and row.incident_id is not None:
            return replace(sent, card_of=row.incident_id, channel=row.channel or "",
                           excerpt=details.excerpt if details else None,
                           permalink=details.permalink if details else None)
        if row.kind == lead_inbox.POST or (details is not None and bool(details.excerpt or details.permalink)):
            return None
        if row.kind in ("step", "approval") and row.incident_id is not None:
            return replace(sent, step_of=row.incident_id, step_seq=row.step_seq, approval=row.kind == "approval")
        return sent

    @staticmethod
    def _store(session: Session, row: outbox_store.Leased, details: _Details | None) -> None:
        if details is not None and row.incident_id is not None:
            details.store(session, row.incident_id)

    @staticmethod
    def _record_ts(session: Session, row: outbox_store.Leased, ts: str | None) -> None:
        if ts is None or row.incident_id is None:
            return
        if row.kind == "step" and row.step_seq is not None:
            repository.set_step_message_ts(session, row.incident_id, row.step_seq, ts)
        elif row.kind == "approval" and row.step_seq is not None:
            repository.set_step_message_ts(session, row.incident_id, row.step_seq, ts, approval=True)
        elif row.kind == lead_inbox.POST and row.step_seq is not None:
            lead_store.record(session, incident_id=row.incident_id, seq=row.step_seq,
                              purpose=row.payload.get("purpose", ""), channel=row.channel or "", ts=ts)

    def _rendered(self, payload: dict, incident: IncidentState | None) -> dict:
        """A payload that names what to say about its incident gets its words now: an offer
        of details (``{"offer": "details"}``, bot/receipts.py) from the incident as it is, a
        step prompt from what its decision took down (bot/card_drawing.py)."""
        offer, prompt = payload.get("offer") == receipts.DETAILS_OFFER, PROMPT in payload
        if not (offer or prompt):
            return payload
        if incident is None:
            raise _Dead("incident gone")
        if prompt:
            return self._draw_prompt(incident, payload)
        return {"text": flagged.details_offer_text(incident),
                "blocks": [block.to_dict() for block in flagged.details_offer_blocks(incident)]}

    def _send(self, row: outbox_store.Leased, incident: IncidentState | None) -> tuple[str | None, str | None]:
        if row.kind in POST_KINDS:
            return self._post(row, incident), None
        if row.kind == "update_card":
            return self._update_card(row, incident)
        if row.kind in ("update_step", "update_approval"):
            return self._update_step(row, approval=row.kind == "update_approval")
        if row.kind == "ephemeral":
            return self._ephemeral(row, incident)
        if row.kind in receipts.REACTIONS:
            return self._react(row)
        if row.kind == receipts.ANSWER:
            return self._answer_flagger(row, incident)
        if row.kind == outbox_details.KIND:
            return self._fill_details(row, incident)
        if row.kind == lead_inbox.UPDATE:
            return self._update_lead_copies(row, incident)
        if row.kind == home_refresh.KIND and self._home is not None:
            try:
                return self._home.send(row, self._views_publish)
            except outbox_home.Refused as refused:
                raise _Dead(refused.error) from None
        if row.kind == outbox_export.KIND and self._export is not None:
            return self._export.send(row, dm_channel=self._dm_channel,
                                     upload=lambda **file: self._upload(row, **file))
        if row.kind == outbox_insights.KIND and self._insights is not None:
            return self._insights.send(row, dm_channel=self._dm_channel,
                                       upload=lambda **file: self._upload(row, **file),
                                       name_of=lambda user: self._person_name(row, user))
        raise _Dead(f"unknown outbox kind {row.kind!r}")

    def _post(self, row: outbox_store.Leased, incident: IncidentState | None) -> str:
        args = self._post_args(row, incident)
        if row.uncertain:
            found = self._find_posted(row, args)
            if found:
                return found
        args["metadata"] = {"event_type": OUTBOX_EVENT_TYPE, "event_payload": {"outbox_id": row.id}}
        self._still_ours(row)
        response = self._call(self._poster.chat_postMessage, creates=True, **args)
        return response["ts"]

    def _post_args(self, row: outbox_store.Leased, incident: IncidentState | None) -> dict:
        if row.kind == "card":
            if incident is None:
                raise _Dead("incident gone")
            text, blocks = self._render_card(incident, self._fact(row).escalated)
            return {"channel": row.channel, "text": text, "blocks": blocks}
        payload = row.payload
        if digest_view.needs_filling(payload):
            payload = digest_view.filled(payload, permalink_of=lambda channel, ts: self._permalink(row, channel, ts),
                                         name_of=lambda user: self._person_name(row, user))
        if row.kind == lead_inbox.POST:
            payload = {**payload, "blocks": self._with_card_link(row, incident, payload.get("blocks") or [])}
        payload = self._rendered(payload, incident)
        args = {"channel": row.channel, "text": payload.get("text", ""), "blocks": payload.get("blocks")}
        if payload.get("broadcast"):
            args["reply_broadcast"] = True
        if row.kind in THREAD_KINDS:
            if incident is None or incident.card_ts is None:
                raise _Dead("the incident card was never posted, so its thread does not exist")
            args["channel"] = incident.card_channel
            args["thread_ts"] = incident.card_ts
        return args

    def _permalink(self, row: outbox_store.Leased, channel: str, ts: str) -> str | None:
        """A card's link, asked just before the message naming it is posted. A card Slack will
        not link now is named without its link rather than holding the message back."""
        try:
            found = self._call(self._client.chat_getPermalink, optional=True, channel=channel, message_ts=ts)
        except (_Dead, _Retry) as failure:
            log.warning("outbox %s (%s): card link not fetched: %s", row.id, row.kind, failure.error)
            return None
        return found.get("permalink") or None

    def _person_name(self, row: outbox_store.Leased, user: str) -> str | None:
        """A person's name, asked just before the message naming them is posted. Someone Slack
        will not describe now is named the fallback way rather than holding the message back."""
        try:
            found = self._call(self._client.users_info, optional=True, user=user)
        except (_Dead, _Retry) as failure:
            log.warning("outbox %s (%s): name of %s not fetched: %s", row.id, row.kind, user, failure.error)
            return None
        return digest_view.display_name(found.get("user") or {})

    def _find_posted(self, row: outbox_store.Leased, args: dict) -> str | None:
        """Did an earlier attempt reach Slack? Look for our outbox id in the metadata of what
        was posted since just before the row was queued (bot/history_search.py)."""
        channel = args["channel"]
        if row.user_id and row.kind in ("dm", lead_inbox.POST):
            channel = self._dm_channel(row.user_id)
        since = oldest(row.created_at)
        if "thread_ts" in args:
            method, where = self._client.conversations_replies, {"ts": args["thread_ts"]}
        else:
            method, where = self._client.conversations_history, {}
        return self._searches.find(row.id, lambda cursor: self._call(
            method, channel=channel, oldest=since, cursor=cursor, include_all_metadata=True, limit=PAGE_LIMIT,
            **where))

    def _update_card(self, row: outbox_store.Leased, incident: IncidentState | None) -> tuple[str | None, str | None]:
        if incident is None or incident.card_ts is None:
            raise _Dead("no card to update")
        facts = self._fact(row)
        if facts.superseded:
            return None, "superseded by a later card update"
        text, blocks = self._render_card(incident, facts.escalated)
        self._call(self._client.chat_update, channel=incident.card_channel, ts=incident.card_ts,
                   text=text, blocks=blocks)
        return incident.card_ts, None

    def _fill_details(self, row: outbox_store.Leased, incident: IncidentState | None) -> tuple[str | None, str | None]:
        """What a posted card still lacks (bot/outbox_details.py): fetched, stored, and the card
        redrawn behind the incident's other messages; a detail missed again for a passing
        reason keeps the row for later."""
        if incident is None or incident.card_ts is None:
            raise _Dead("no card to complete")
        details = self._enrich(outbox_details.as_enrichment(row), incident)
        if details is not None and (details.excerpt or details.permalink):
            with self._db.transaction() as session:
                details.store(session, incident.id)
                outbox_store.enqueue(session, workspace_id=row.workspace_id, kind="update_card", now=self._clock.now(),
                                     incident_id=incident.id, channel=incident.card_channel)
            self.wake()
        if details is not None and details.later is not None:
            raise _Retry("; ".join(details.failures), after_seconds=details.later)
        return None, "; ".join(details.failures) if details is not None and details.failures else None

    def _update_step(self, row: outbox_store.Leased, *, approval: bool) -> tuple[str | None, str | None]:
        with self._db.read() as session:
            ts = repository.step_message_ts(session, row.incident_id, row.step_seq, approval=approval)
        if ts is None:
            return None, "no message to update"
        self._call(self._client.chat_update, channel=row.channel, ts=ts, text=row.payload.get("text", ""),
                   blocks=row.payload.get("blocks"))
        return ts, None

    def _views_publish(self, **kwargs) -> dict:  # noqa: ANN003
        """views.publish for bot/outbox_home.py, which settles Slack's answers it knows itself."""
        try:
            return self._call(self._client.views_publish, **kwargs)
        except _Retry as failed:
            if failed.error in outbox_home.REFUSALS:
                raise outbox_home.Refused(failed.error) from None
            raise

    def _upload(self, row: outbox_store.Leased, **file) -> str:  # noqa: ANN003
        """bot/uploads.py through the sorted call, with the poster (one attempt: an upload
        that failed is done again by the row's retry, from the start). The row must still
        be ours: building the file may have taken a while."""
        self._still_ours(row)
        return self._call(uploads.upload, spends=uploads.METHODS, client=self._poster, **file)

    def _dm_channel(self, user_id: str) -> str:
        """The app's DM with ``user_id``: a post names the user, an update or a history read
        needs the conversation's own id."""
        return self._call(self._client.conversations_open, users=user_id)["channel"]["id"]

    def _with_card_link(self, row: outbox_store.Leased, incident: IncidentState | None,
                        blocks: list[dict]) -> list[dict]:
        """The Open card button pointed at the card's permalink, asked now; without one (no card
        yet, Slack refused) the button goes rather than pointing nowhere."""
        link = None
        if incident is not None and incident.card_ts:
            link = self._permalink(row, incident.card_channel, incident.card_ts)
        return lead_notes.point_card_links(blocks, link)

    def _update_lead_copies(self, row: outbox_store.Leased,
                            incident: IncidentState | None) -> tuple[str | None, str | None]:
        """Every copy the leads got for that step redrawn; a copy deleted in Slack is passed over."""
        with self._db.read() as session:
            copies = lead_store.copies(session, incident_id=row.incident_id or 0, seq=row.step_seq or 0,
                                       purpose=row.payload.get("purpose", ""))
        if not copies:
            return None, "no copy to update"
        blocks = self._with_card_link(row, incident, row.payload.get("blocks") or [])
        gone = []
        for target, ts in copies:
            channel = self._dm_channel(target) if target.startswith(("U", "W")) else target
            try:
                self._call(self._client.chat_update, channel=channel, ts=ts, text=row.payload.get("text", ""),
                           blocks=blocks)
            except _Dead as dead:
                gone.append(f"{target}: {dead.error}")
        return None, "; ".join(gone) or None

    def _ephemeral(self, row: outbox_store.Leased, incident: IncidentState | None) -> tuple[str | None, str | None]:
        if row.uncertain:
            return None, "ephemeral not repeated: an earlier attempt may have shown it"
        payload = self._rendered(row.payload, incident)
        self._still_ours(row)
        self._call(self._poster.chat_postEphemeral, creates=True, channel=row.channel, user=row.user_id,
                   text=payload.get("text", ""), blocks=payload.get("blocks"))
        return None, None

    def _react(self, row: outbox_store.Leased) -> tuple[str | None, str | None]:
        """A receipt on the flagged message. Best effort: a refusal (the message deleted, the bot
        not in its channel) settles the row with a note instead of parking or killing it, and
        Slack's answer that it is already so (already_reacted, no_reaction) counts as done."""
        method = self._client.reactions_add if row.kind == receipts.ADD else self._client.reactions_remove
        try:
            self._call(method, optional=True, channel=row.channel, timestamp=row.payload.get("timestamp"),
                       name=row.payload.get("name"))
        except _Dead as refused:
            if refused.error in ("already_reacted", "no_reaction"):
                return None, None
            return None, f"receipt not shown: {refused.error}"
        return None, None

    def _answer_flagger(self, row: outbox_store.Leased,
                        incident: IncidentState | None) -> tuple[str | None, str | None]:
        """Tell the flagger which incident their form opened, linking its card: this row leaves
        after the card, so the card's ts is known. Ephemeral in the flagged message's channel;
        where the bot may not post (it is only in RECOVERY_CHANNEL, say), a DM instead."""
        if incident is None:
            raise _Dead("incident gone")
        if row.uncertain:
            return None, "answer not repeated: an earlier attempt may have shown it"
        link = None
        if incident.card_ts is not None:
            try:
                link = self._call(self._client.chat_getPermalink, optional=True, channel=incident.card_channel,
                                  message_ts=incident.card_ts).get("permalink")
            except (_Dead, _Retry) as failure:
                log.warning("outbox %s (%s): card link not fetched: %s", row.id, row.kind, failure.error)
        text = flagged.answer_text(incident, card_link=link, again=bool(row.payload.get("again")))
        self._still_ours(row)
        try:
            self._call(self._poster.chat_postEphemeral, creates=True, optional=True, channel=row.channel,
                       user=row.user_id, text=text)
        except _Dead as refused:
            if refused.error not in _EPHEMERAL_REFUSALS:
                raise
            self._still_ours(row)
            self._call(self._poster.chat_postMessage, creates=True, channel=row.user_id, text=text)
            return None, f"sent as a DM: the ephemeral was refused ({refused.error})"
        return None, None

    def _enrich(self, row: outbox_store.Leased, incident: IncidentState | None) -> _Details | None:
        """Fetch what a reaction event does not carry and the incident still lacks: the message
        text and its permalink. Any failure just leaves that detail out (see the module docstring)."""
        request = row.payload.get("enrich")
        if not request or incident is None:
            return None
        channel, ts = request["channel"], request["ts"]
        failures: list[str] = []
        later: list[float] = []
        text = permalink = None
        if request.get("need_text") and not incident.excerpt:
            try:
                text = self._message_text(channel, ts)
            except (_Dead, _Retry) as failure:
                failures.append(self._left_out(row, "text", failure, later))
        if not incident.permalink:
            try:
                permalink = self._call(self._client.chat_getPermalink, optional=True, channel=channel,
                                       message_ts=ts).get("permalink")
            except (_Dead, _Retry) as failure:
                failures.append(self._left_out(row, "permalink", failure, later))
        return _Details(excerpt=make_excerpt(text) if text else None, permalink=permalink, failures=tuple(failures),
                        later=min(later, default=None))

    @staticmethod
    def _left_out(row: outbox_store.Leased, detail: str, failure: _Dead | _Retry, later: list[float]) -> str:
        """Log a detail left out; one missed for a passing reason is fetched ``later``."""
        if isinstance(failure, _Retry):
            later.append(failure.after_seconds if failure.after_seconds is not None else DETAILS_RETRY_SECONDS)
        log.warning("outbox %s (%s): %s not fetched: %s; the card goes without it", row.id, row.kind, detail,
                    failure.error)
        return f"{detail}: {failure.error}"

    def _message_text(self, channel: str, ts: str) -> str | None:
        history = self._call(self._client.conversations_history, optional=True, channel=channel, latest=ts,
                             oldest=ts, inclusive=True, limit=1)
        for message in history.get("messages", []):
            if message.get("ts") == ts:
                return message.get("text")
        # A reply is not in the channel's history. Its thread, asked by the reply's own ts,
        # starts with the parent whatever the bounds: the reply is the second message.
        replies = self._call(self._client.conversations_replies, optional=True, channel=channel, ts=ts, latest=ts,
                             oldest=ts, inclusive=True, limit=2)
        for message in replies.get("messages", []):
            if message.get("ts") == ts:
                return message.get("text")
        return None

    def _call(self, method: Callable, *, creates: bool = False, optional: bool = False,
              spends: tuple[str, ...] = (), **kwargs):  # noqa: ANN202
        """One Slack call, its failure sorted into retry-later or give-up.

        ``optional`` calls give up on any answer Slack refuses (not in channel, not found):
        a missing excerpt must not hold back the card. Every call first spends from its
        bucket (bot/outbox_pacing.py); with none left it is not made, and the row (or the
        detail) waits until a token is back. ``spends``: the methods a helper making
        several calls (an upload) spends for, instead of its own name."""
        names = spends or (method.__name__.replace("_", ".", 1),)
        for name in names:
            wait = self._pacing.spend(name, kwargs.get("channel"))
            if wait > 0:
                raise _Retry(f"paced: {name} has no budget for {wait:.1f} s", after_seconds=wait)
        try:
            return method(**{key: value for key, value in kwargs.items() if value is not None})
        except SlackApiError as error:
            status = error.response.status_code
            if status == 429:
                retry_after = error.response.headers.get("Retry-After") or error.response.headers.get("retry-after")
                for name in names:
                    self._pacing.refused(name, kwargs.get("channel"), float(retry_after or 1))
                raise _Retry("rate limited (429)", after_seconds=float(retry_after or 1)) from None
            if status >= 500:
                raise _Retry(f"Slack answered {status}", uncertain=creates) from None
            code = str(error.response.get("error", "unknown_error"))
            if code in refusals.PARKING and not optional:
                raise _Parked(code) from None
            if code in PERMANENT_ERRORS or optional:
                raise _Dead(code) from None
            raise _Retry(code) from None
        except (OSError, HTTPException, TimeoutError) as error:
            raise _Retry(f"network: {error.__class__.__name__}: {error}", uncertain=creates) from None
        except uploads.UploadFailed as error:
            raise _Retry(f"upload refused: {error}") from None

    # Parking (issue 11): what Slack refuses until something changes -------------------------

    def _token_replaced(self, row: outbox_store.Leased, used: str) -> bool:
        """Whether the workspace's token, read afresh, is another than the one Slack refused:
        a reinstall or a refresh (perhaps by another replica) came between the read and the call."""
        self._tokens.forget(row.workspace_id)
        return self._tokens.bot_token(row.workspace_id) not in (None, used)

    def _guard_token(self, row: outbox_store.Leased) -> None:
        """A workspace whose token Slack refused to refresh has none that works: its rows park
        (as ``token_expired``) instead of each meeting the refusal, until a reinstall."""
        with self._held_lock:
            refused = self._refused_tokens.get(row.workspace_id)
        if refused is not None:
            raise _Parked(refused)

    def _guard_shared(self, row: outbox_store.Leased) -> None:
        """A card bound for the flag's own channel (RECOVERY_CHANNEL unset) is not posted there
        if that channel is shared with another organization: the customer would read it.
        conversations.info is asked once per channel, its answer kept for CHANNEL_RECHECK. Nor
        is anything for the leads posted in a LEAD_CHANNEL shared with another organization."""
        if not _guarded(row):
            return
        now = self._clock.now()
        shared = self._fact(row).shared
        if shared is None:
            info = self._call(self._client.conversations_info, channel=row.channel).get("channel") or {}
            shared = any(bool(info.get(flag)) for flag in ("is_ext_shared", "is_shared", "is_pending_ext_shared"))
            with self._db.transaction() as session:
                channel_store.remember(session, workspace_id=row.workspace_id, channel=row.channel, shared=shared,
                                       now=now)
            with self._held_lock:  # the rows leased with this one, for the same channel, know it now
                for facts in self._facts.values():
                    if facts.channel == row.channel:
                        facts.shared = shared
        if shared:
            raise _Parked(refusals.SHARED_CHANNEL)

    def _park(self, row: outbox_store.Leased, incident: IncidentState | None, details: _Details | None, *,
              reason: str) -> None:
        """Keep the row until what refused it changes; tell the flagger at once, by DM (an
        ephemeral cannot reach a channel the bot is not in), how to fix it: once per incident
        and cause, however many of its messages meet it. Credentials are the admin's to fix:
        the log line says so, and a DM would meet the same refusal."""
        if reason in refusals.CREDENTIALS:
            self._tokens.forget(row.workspace_id)  # a replaced token is read again at once
        tell = incident is not None and reason not in refusals.CREDENTIALS and row.kind in POST_KINDS - {"dm", lead_inbox.POST}
        text = health.parked_dm_text(incident.ref, channel=row.channel or "", reason=reason,
                                     bot_name=self._name()) if tell else None
        # Only the first unsent row of an incident is ever in flight, so no other sender parks a
        # row of this incident meanwhile: the read before the insert is enough.
        dedupe_key = f"parked:{incident.id}:{row.channel}:{reason}" if tell else ""
        with self._db.transaction() as session:
            self._store(session, row, details)
            outbox_store.mark_parked(session, row.id, reason=reason)
            if text is not None and not outbox_store.is_queued(session, dedupe_key):
                outbox_store.enqueue(session, workspace_id=row.workspace_id, kind="dm", now=self._clock.now(),
                                     channel=incident.flagged_by, user_id=incident.flagged_by,
                                     dedupe_key=dedupe_key, payload={"text": text})
            figures = outbox_store.counts(session)
        log.error("outbox %s (%s) parked: %s (outbox: %s)%s", row.id, row.kind,
                  health.reason_line(reason, channel=row.channel or ""), parking.counts_line(figures),
                  "" if tell else "; " + health.CREDENTIALS_FIX)
        if text is not None:
            self.wake()

    def _name(self) -> str:
        """The bot's name as people @-mention it, from auth.test once; the manifest's until it answers."""
        if self._bot_name is None:
            try:
                self._bot_name = str(self._call(self._client.auth_test).get("user") or health.DEFAULT_BOT_NAME)
            except (_Dead, _Retry) as failure:
                log.warning("outbox: auth.test failed (%s); naming the bot %s", failure.error,
                            health.DEFAULT_BOT_NAME)
                return health.DEFAULT_BOT_NAME
        return self._bot_name


# What a row sent leaves to write (OutboxSender._settle_leased).
_Record = outbox_settle.Sent | Callable[[Session], None]


class _Settles:
    """The records of a batch's rows sent, written together rather than one each: on
    PostgreSQL as one statement when every one is data (storage/outbox_settle.py), else in one
    transaction. A row stays leased (and renewed) until written, and waits at most
    FLUSH_AFTER_SECONDS, so a slow batch does not hold back the next message of an incident
    it sent."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._records: list[_Record] = []
        self._since = 0.0

    def add(self, record: _Record | None) -> None:
        if record is not None:
            if not self._records:
                self._since = time.monotonic()
            self._records.append(record)

    def waited(self, seconds: float) -> bool:
        return bool(self._records) and time.monotonic() - self._since >= seconds

    def write(self) -> None:
        if not self._records:
            return
        plain = [record for record in self._records if isinstance(record, outbox_settle.Sent)]
        if self._db.dialect == "postgresql" and len(plain) == len(self._records):
            with self._db.sending() as connection:
                outbox_settle.write_all(connection, plain)
        else:
            with self._db.transaction() as session:
                for record in self._records:
                    if isinstance(record, outbox_settle.Sent):
                        outbox_settle.write_in(session, record)
                    else:
                        record(session)
        self._records.clear()

    def write_after_failure(self) -> None:
        """A later row of the batch failed unexpectedly: the rows sent before it are still
        recorded (else they would be sent again, as uncertain, once their leases ran out)."""
        try:
            self.write()
        except Exception:  # noqa: BLE001 - the failure on its way out says more; these rows go as uncertain
            log.exception("outbox: %d rows sent but not recorded", len(self._records))


def _guarded(row: outbox_store.Leased) -> bool:
    """Whether the row is posted only where no other organization reads (see _guard_shared)."""
    to_lead_channel = row.kind in (lead_inbox.POST, outbox_insights.KIND) and not row.user_id
    return bool(row.channel) and (to_lead_channel or (row.kind == "card" and bool(row.payload.get("internal_only"))))
