"""Receipts on the flagged message: 👀 when its incident opens, ✅ when it closes, the 👀 taken
back when it is cancelled; the flagger's private answer naming the incident; and, after a
reaction flag, the flagger's private offer to add the customer's details. All are queued as
outbox rows, in the transaction of the change (the offer, right after the flag's).

A receipt is best effort, so it neither waits behind the incident's card and thread nor
holds them back: its rows carry an ordering key of their own, one per incident, so that a
cancel's removal still follows the opening's reaction. The reactions say nothing internal,
so they go on the message even in a channel shared with another organization. A
`/recovery new` incident has no flagged message, and gets none.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from bot.domain.types import Decision, EventKind, IncidentState
from storage import outbox_store

OPENED = "eyes"
CLOSED = "white_check_mark"
ADD, REMOVE = "reaction_add", "reaction_remove"
REACTIONS = frozenset({ADD, REMOVE})
ANSWER = "flag_answer"
DETAILS_OFFER = "details"  # a payload {"offer": DETAILS_OFFER}: the form offered after a reaction flag
# A Slack message ts; a `/recovery new` incident's origin is a key of our own instead.
_MESSAGE_TS = re.compile(r"\d+\.\d+")


def queue_opened(session: Session, state: IncidentState, *, now: datetime) -> None:
    _queue(session, state, kind=ADD, name=OPENED, now=now)


def queue_decided(session: Session, decision: Decision, *, now: datetime) -> None:
    kinds = {event.kind for event in decision.events}
    if EventKind.CLOSED in kinds:
        _queue(session, decision.state, kind=ADD, name=CLOSED, now=now)
    if EventKind.CANCELLED in kinds:
        _queue(session, decision.state, kind=REMOVE, name=OPENED, now=now)


def _queue(session: Session, state: IncidentState, *, kind: str, name: str, now: datetime) -> None:
    if _MESSAGE_TS.fullmatch(state.origin_ts) is None:
        return
    outbox_store.enqueue(session, workspace_id=state.workspace_id, kind=kind, now=now, incident_id=state.id,
                         channel=state.origin_channel, payload={"name": name, "timestamp": state.origin_ts},
                         ordering_key=f"receipt:{state.id}")


def queue_answer(session: Session, state: IncidentState, *, user_id: str, again: bool, now: datetime) -> None:
    """The flagger's private answer, in the incident's own order (unlike the reactions): it
    leaves after the card, so it can link to it."""
    outbox_store.enqueue(session, workspace_id=state.workspace_id, kind=ANSWER, now=now, incident_id=state.id,
                         channel=state.origin_channel, user_id=user_id, payload={"again": again})


def queue_details_offer(session: Session, state: IncidentState, *, now: datetime) -> None:
    """Privately, in the incident's order: after the card, whose sender checks that the flagged
    channel is not shared with another organization (where the card parks, the offer waits
    with it, so an outside member never sees it). A card sent to RECOVERY_CHANNEL leaves the
    flagged channel unchecked, so there the offer goes as a DM instead."""
    payload = {"offer": DETAILS_OFFER}  # its words are the sender's, from the incident (bot/outbox.py)
    checked = state.card_channel == state.origin_channel
    outbox_store.enqueue(session, workspace_id=state.workspace_id, kind="ephemeral" if checked else "dm", now=now,
                         incident_id=state.id, channel=state.origin_channel if checked else state.flagged_by,
                         user_id=state.flagged_by, payload=payload)
