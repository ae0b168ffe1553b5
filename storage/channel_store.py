"""What the bot knows about the channels it would post cards in: shared with another
organization or not, as conversations.info said when last asked."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col, select

from storage.models import ChannelCheck
from storage.repository import _insert


def verdicts(session: Session, channels: set[str], *, checked_since: datetime) -> dict[str, bool]:
    """Shared or not, for the channels with a verdict reached since ``checked_since``; a channel
    left out is one to ask Slack about again."""
    rows = session.exec(select(ChannelCheck.channel, ChannelCheck.shared).where(
        col(ChannelCheck.channel).in_(channels), ChannelCheck.checked_at >= checked_since)).all()
    return {channel: shared for channel, shared in rows}


def remember(session: Session, *, workspace_id: str, channel: str, shared: bool, now: datetime) -> None:
    """Insert or refresh: two senders checking one channel at once both write the same answer."""
    values = {"channel": channel, "workspace_id": workspace_id, "shared": shared, "checked_at": now}
    session.exec(_insert(session, ChannelCheck).values(**values).on_conflict_do_update(
        index_elements=["channel"], set_={"shared": shared, "checked_at": now, "workspace_id": workspace_id}))


def forget(session: Session, channel: str) -> None:
    """The next card for this channel asks Slack again (a lead's Retry: it may be internal now)."""
    session.exec(delete(ChannelCheck).where(ChannelCheck.channel == channel))


def shared_channels(session: Session) -> set[str]:
    return set(session.exec(select(ChannelCheck.channel).where(ChannelCheck.shared)).all())
