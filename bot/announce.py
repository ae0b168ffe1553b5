"""What Slack must be told about a decision, queued as outbox rows in its transaction.

The card is redrawn from the database when sent, and a new step's prompt from what the
decision took down (bot/card_drawing.py); notices and what the leads get are drawn now,
from the decided state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock
from sqlmodel import Session

from bot import lead_inbox, receipts
from bot.card_drawing import prompt_payload
from bot.domain import alerts, sla
from bot.domain.playbook import Playbook
from bot.domain.timing import deadline
from bot.domain.types import Decision, Event, EventKind, IncidentState, Policy, StepKey
from bot.settings import Settings
from bot.views import digest as digest_view
from bot.views import lead_notes, notices, step
from storage import outbox_store, repository

_SETTLING = frozenset({EventKind.CLAIMED, EventKind.ASSIGNED, EventKind.SNOOZED, EventKind.STEP_DONE,
                       EventKind.STEP_SKIPPED, EventKind.REMEDY_APPROVED, EventKind.REMEDY_DECLINED,
                       EventKind.BUY_IN_AGREED, EventKind.BUY_IN_NOT_YET, EventKind.FOLLOW_UP_RECORDED,
                       EventKind.CANCELLED, EventKind.APPROVAL_EXPIRED})
"""Events after which an escalation the leads got for the step is no longer open."""


def _dicts(blocks: list) -> list[dict]:
    return [block.to_dict() for block in blocks]


@dataclass(frozen=True, slots=True)
class _Queue:
    """The rows of one decision, sharing its incident, time and transaction.

    ``actor``: who acted. What their own action posts names them without a ping (their name
    is filled in by the sender, as the digest's owners are): they know, they did it."""

    session: Session
    state: IncidentState
    now: datetime
    actor: str | None = None

    def reply(self, text: str, blocks: list | None = None, kind: str = "reply", **extra: object) -> None:
        payload = {"text": text} | ({"blocks": _dicts(blocks)} if blocks else {})
        if kind == "reply":
            payload = _unping(payload, self.actor)
        common = {"workspace_id": self.state.workspace_id, "incident_id": self.state.id, "now": self.now,
                  "channel": self.state.card_channel}
        outbox_store.enqueue(self.session, kind=kind, payload=payload, **(common | extra))


def queue_decision(session: Session, decision: Decision, *, playbook: Playbook, settings: Settings,
                   policy: Policy, now: datetime, before: IncidentState | None = None,
                   escalated: bool | None = None) -> None:
    """Queue what the decision tells Slack, before the decision is written: its write carries
    these rows, and only if it wins (repository.apply_decision, which also queues the Homes'
    republishes). ``before``: the state the decision was taken on, when the caller has it (an
    escalation the leads got for that step is settled once someone acts on it).
    ``escalated``: whether the leads were called for that step, when the caller knows (None:
    looked up)."""
    state = decision.state
    tz = settings.tz
    kinds = {event.kind for event in decision.events}
    actor = decision.events[0].actor if decision.events else None
    rows = _Queue(session, state, now, actor)
    outbox_store.enqueue(session, workspace_id=state.workspace_id, incident_id=state.id, now=now,
                         channel=state.card_channel, kind="update_card")
    receipts.queue_decided(session, decision, now=now)
    ended = decision.ended_step
    if ended is not None and ended.step is not StepKey.CLAIM:
        rows.reply(step.ended_text(ended, playbook=playbook, tz=tz), step.ended_blocks(ended, playbook=playbook, tz=tz),
                   kind="update_step", step_seq=ended.seq)
    if ended is not None and ended.step is StepKey.MAKE_IT_RIGHT and ended.result in ("done", "declined", "expired") \
            and kinds & {EventKind.REMEDY_APPROVED, EventKind.REMEDY_DECLINED, EventKind.APPROVAL_EXPIRED}:
        _settle_approval(rows, decision, kinds, before=before or state, settings=settings, playbook=playbook)
    for line in decision.notices:
        rows.reply(line)
    if decision.approval_requested:
        _ask_approval(rows, decision, settings=settings, policy=policy, playbook=playbook)
    if decision.escalate_now:
        _ask_for_help(rows, state, by=actor or state.owner_id or "", settings=settings, policy=policy,
                      playbook=playbook)
    if before is not None and kinds & _SETTLING:
        _settle_escalation(rows, before, decision, actor=actor, playbook=playbook, tz=tz, escalated=escalated)
    if decision.follow_up_due_at is not None:
        rows.reply(notices.follow_up_scheduled_text(state, due=decision.follow_up_due_at, tz=tz))
    if decision.posts_prompt:
        # The owner is mentioned when someone else (or the scheduler) put the step in front of
        # them: after their own click they are looking at it already.
        mention = state.owner_id is not None and actor != state.owner_id
        outbox_store.enqueue(session, workspace_id=state.workspace_id, incident_id=state.id, now=now,
                             channel=state.card_channel, kind="step", step_seq=state.step_seq,
                             payload=prompt_payload(state, due=deadline(state, playbook=playbook, policy=policy),
                                                    mention=mention))
    elif decision.handed_over and state.current_step is not StepKey.CLAIM:
        # The live prompt names the new owner and the due time that restarted with the hand-over.
        # An edit notifies nobody: the notice above is what tells the new owner.
        due = deadline(state, playbook=playbook, policy=policy)
        rows.reply(step.prompt_text(state, playbook=playbook), step.prompt_blocks(state, playbook=playbook, tz=tz, due=due),
                   kind="update_step", step_seq=state.step_seq)
    if EventKind.FOLLOW_UP_PROMPTED in kinds and state.owner_id:
        rows.reply(notices.follow_up_dm_text(state), notices.follow_up_dm_blocks(state),
                   kind="dm", **{"channel": state.owner_id, "user_id": state.owner_id})


def _unping(payload: dict, user: str | None) -> dict:
    """``payload`` with ``user``'s mentions turned into their name, filled in when sent."""
    mention = f"<@{user}>"
    if not user or mention not in json.dumps(payload):
        return payload

    def swap(value: object) -> object:
        if isinstance(value, str):
            return value.replace(mention, digest_view.person_marker(user, or_mention=True))
        if isinstance(value, list):
            return [swap(item) for item in value]
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        return value

    return swap(payload) | {digest_view.PEOPLE: [user]}


def _ask_approval(rows: _Queue, decision: Decision, *, settings: Settings, policy: Policy,
                  playbook: Playbook) -> None:
    """The leads get the request with everything to decide on; the owner, in the thread, that it waits."""
    state = decision.state
    asked = next(event for event in decision.events if event.kind is EventKind.APPROVAL_REQUESTED)
    request = approval_request(state, asked, policy=policy, playbook=playbook)
    where = lead_inbox.where_asked(lead_channel=settings.lead_channel)
    waiting = lead_notes.approval_waiting_text(state, limit=policy.empowerment_limit, currency=policy.currency,
                                               where=where)
    rows.reply(waiting, notices.approval_blocks(state, text=waiting, currency=policy.currency), kind="approval",
               step_seq=state.step_seq)
    lead_inbox.queue(rows.session, state, purpose=lead_inbox.APPROVAL, text=lead_notes.approval_text(request),
                     blocks=lead_notes.approval_blocks(request, playbook=playbook, tz=settings.tz),
                     lead_channel=settings.lead_channel, leads=policy.leads, now=rows.now)


def approval_request(state: IncidentState, asked: Event, *, policy: Policy, playbook: Playbook,
                     reminder: bool = False) -> lead_notes.Request:
    """The request as the leads see it, from the state and the event that asked."""
    due = deadline(state, playbook=playbook, policy=policy)
    expires = None if due is None else sla.alert_due(
        due=due, sla=playbook.step(state.current_step).sla, factor=policy.escalate_factor, level=alerts.ESCALATION,
        work_hours=policy.work_hours, tz=policy.tz)
    return lead_notes.Request(state=state, limit=asked.limit if asked.limit is not None else policy.empowerment_limit,
                              currency=policy.currency, note=asked.note, asked_at=asked.at, expires_at=expires,
                              reminder=reminder)


def _settle_approval(rows: _Queue, decision: Decision, kinds: set[EventKind], *, before: IncidentState,
                     settings: Settings, playbook: Playbook) -> None:
    """The thread's request and every lead's copy say how it ended, with nothing left to press."""
    ended = decision.ended_step
    assert ended is not None
    tz, currency = settings.tz, settings.currency
    if EventKind.APPROVAL_EXPIRED in kinds:
        text = lead_notes.approval_expired_text(before, currency=currency, at=rows.now, tz=tz)
    else:
        approved = EventKind.REMEDY_APPROVED in kinds
        by = ended.approved_by if approved and ended.approved_by else (decision.events[0].actor or "")
        text = notices.approval_decided_text(decision.state, approved=approved, by=by, at=rows.now, tz=tz,
                                             currency=currency, remedy_of=before)
    rows.reply(text, [SectionBlock(text=MarkdownTextObject(text=text))], kind="update_approval", step_seq=ended.seq)
    lead_inbox.queue_update(rows.session, before, seq=ended.seq, purpose=lead_inbox.APPROVAL, text=text,
                            blocks=lead_notes.settled_blocks(text, before, playbook=playbook), now=rows.now)


def _ask_for_help(rows: _Queue, state: IncidentState, *, by: str, settings: Settings, policy: Policy,
                  playbook: Playbook) -> None:
    """Need help reaches the leads the way an escalation does, with the same buttons."""
    escalation = lead_notes.Escalation(state=state, due=deadline(state, playbook=playbook, policy=policy),
                                       now=rows.now, help_from=by)
    where = lead_inbox.where_asked(lead_channel=settings.lead_channel)
    rows.reply(notices.help_text(state, by=by, where=where, playbook=playbook))
    lead_inbox.queue(rows.session, state, purpose=lead_inbox.ESCALATION,
                     text=lead_notes.escalation_text(escalation, playbook=playbook),
                     blocks=lead_notes.escalation_blocks(escalation, playbook=playbook, tz=settings.tz),
                     lead_channel=settings.lead_channel, leads=policy.leads, now=rows.now)


def _settle_escalation(rows: _Queue, before: IncidentState, decision: Decision, *, actor: str | None,
                       playbook: Playbook, tz: ZoneInfo, escalated: bool | None) -> None:
    """Once someone acts on an incident the leads were called to, their copies say what happened."""
    if escalated is None:
        escalated = alerts.ESCALATION in repository.sent_notifications(rows.session, incident_id=before.id,
                                                                       seq=before.step_seq)
    if not escalated:
        return
    text = notices.settled_text(before, decision, actor=actor, playbook=playbook, at=rows.now, tz=tz)
    lead_inbox.queue_update(rows.session, before, seq=before.step_seq, purpose=lead_inbox.ESCALATION, text=text,
                            blocks=lead_notes.settled_blocks(text, before, playbook=playbook), now=rows.now)

