"""Retention's writes: the customer's words erased from incidents closed long enough ago.

Idempotent conditional UPDATEs, a batch at a time: replicas running them at once each
erase what is still there and agree on the result, so no lock or claim is needed.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, bindparam, or_, update
from sqlmodel import Session, col, select

from bot.domain.types import EventKind, Status
from storage.models import Incident, TimelineEvent

ERASED_PREFIX = "(erased after "
"""How an erased incident's summary begins: ``(erased after 30 days)``, as every view shows it."""
ERASED_TEXT = "(erased)"
"""What an Edit details line of the timeline says in place of the name or summary it changed."""
PERSONAL_EVENT_FIELDS = ("summary", "customer_name")


def due(session: Session, *, closed_before: datetime, limit: int) -> list[int]:
    """Ids of incidents closed or cancelled before ``closed_before`` that still hold the
    customer's name or words."""
    holds_words = or_(col(Incident.customer_name).is_not(None), Incident.excerpt != "",
                      ~col(Incident.summary).startswith(ERASED_PREFIX, autoescape=True))
    return list(session.exec(select(Incident.id).where(
        col(Incident.status).in_((Status.CLOSED.value, Status.CANCELLED.value)),
        col(Incident.closed_at) < closed_before, holds_words).order_by(col(Incident.id)).limit(limit)).all())


_ERASE = update(Incident).where(col(Incident.id).in_(bindparam("ids", expanding=True))).values(
    customer_name=None, excerpt="", summary=bindparam("marker", type_=Text))


def erase(session: Session, incident_ids: list[int], *, marker: str) -> None:
    """The name, the quoted message and the summary gone, the summary saying so; the
    timeline's Edit details lines lose the name and summary they recorded."""
    if not incident_ids:
        return
    connection = session.connection()
    connection.execute(_ERASE, {"ids": incident_ids, "marker": marker})
    edits = connection.execute(select(TimelineEvent.id, TimelineEvent.data).where(
        col(TimelineEvent.incident_id).in_(incident_ids),
        TimelineEvent.kind == EventKind.DETAILS_EDITED.value)).all()
    for event_id, data in edits:
        erased = {name: ERASED_TEXT if name in PERSONAL_EVENT_FIELDS and value else value
                  for name, value in data.items()}
        if erased != data:
            connection.execute(update(TimelineEvent).where(TimelineEvent.id == event_id).values(data=erased))
