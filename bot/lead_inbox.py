"""The leads' inbox: approval requests and escalations go to LEAD_CHANNEL when it is set,
else to each lead by DM, as outbox rows in the caller's transaction.

Every copy is remembered when sent (storage/lead_store.py), so that once someone decides or
acts, one ``update_lead`` row redraws them all: no lead is left with a stale Approve. The
rows share the incident's ordering key, so an update never overtakes the copies it redraws.
"""
from __future__ import annotations

from datetime import datetime
from typing import Final

from slack_sdk.models.blocks import Block
from sqlmodel import Session

from bot.domain.types import IncidentState
from storage import outbox_store

POST: Final = "lead"
UPDATE: Final = "update_lead"
APPROVAL: Final = "approval"
ESCALATION: Final = "escalation"


def destinations(*, lead_channel: str | None, leads: frozenset[str]) -> list[str]:
    """LEAD_CHANNEL, or each lead (a user id: Slack posts it in the app's DM with them)."""
    return [lead_channel] if lead_channel else sorted(leads)


def where_asked(*, lead_channel: str | None) -> str:
    """How the thread tells the owner where the leads were asked."""
    return f"in <#{lead_channel}>" if lead_channel else "by DM"


def queue(session: Session, state: IncidentState, *, purpose: str, text: str, blocks: list[Block],
          lead_channel: str | None, leads: frozenset[str], now: datetime) -> int:
    """One copy per destination; how many were queued."""
    payload = {"purpose": purpose, "text": text, "blocks": [block.to_dict() for block in blocks]}
    targets = destinations(lead_channel=lead_channel, leads=leads)
    for target in targets:
        outbox_store.enqueue(session, workspace_id=state.workspace_id, kind=POST, now=now, incident_id=state.id,
                             step_seq=state.step_seq, channel=target,
                             user_id=None if target == lead_channel else target, payload=payload)
    return len(targets)


def queue_update(session: Session, state: IncidentState, *, seq: int, purpose: str, text: str,
                 blocks: list[Block], now: datetime) -> None:
    """Redraw every copy sent for (incident, ``seq``, ``purpose``); none sent: nothing to do."""
    outbox_store.enqueue(session, workspace_id=state.workspace_id, kind=UPDATE, now=now, incident_id=state.id,
                         step_seq=seq, channel=state.card_channel,
                         payload={"purpose": purpose, "text": text, "blocks": [block.to_dict() for block in blocks]})
