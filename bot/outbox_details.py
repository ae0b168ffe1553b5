"""A card posted without the flagged message's text or link, because the budget for fetching
them was spent or Slack failed for a while, gets them later: a ``details`` row fetches
them when the budget allows (bot/outbox_pacing.py holds it until then), stores them and
queues the card's redraw.

Why a row of its own, with an ordering key of its own: waiting for the history budget
(one call a minute for apps outside the Marketplace) it must hold back none of the
incident's messages, and the card never waits for its quote.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlmodel import Session

from storage import outbox_store
from storage.outbox_store import Leased

KIND = "details"


def queue(session: Session, *, card: Leased, now: datetime) -> None:
    """After ``card`` was posted without some of its details: fetch them later."""
    outbox_store.enqueue(session, workspace_id=card.workspace_id, kind=KIND, now=now, incident_id=card.incident_id,
                         channel=card.channel, payload={"origin": card.payload["enrich"]},
                         ordering_key=f"{KIND}:{card.incident_id}")


def as_enrichment(row: Leased) -> Leased:
    """The details row as the card row asked: the sender's enrichment reads ``enrich``; kept
    under another name in the table, so that the generic enrichment before a send skips it."""
    return replace(row, payload={"enrich": row.payload["origin"]})
