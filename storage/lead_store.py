"""Where the copies of an approval request or escalation landed, so each can be redrawn."""
from __future__ import annotations

from sqlmodel import Session, select

from storage.models import LeadMessage


def record(session: Session, *, incident_id: int, seq: int, purpose: str, channel: str, ts: str) -> None:
    session.add(LeadMessage(incident_id=incident_id, step_seq=seq, purpose=purpose, channel=channel, ts=ts))


def copies(session: Session, *, incident_id: int, seq: int, purpose: str) -> list[tuple[str, str]]:
    """(channel, ts) of every copy sent for that step and purpose, oldest first."""
    rows = session.exec(select(LeadMessage.channel, LeadMessage.ts).where(
        LeadMessage.incident_id == incident_id, LeadMessage.step_seq == seq, LeadMessage.purpose == purpose)
        .order_by(LeadMessage.id)).all()
    return [(channel, ts) for channel, ts in rows]
