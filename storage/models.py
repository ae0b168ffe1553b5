"""The tables. Unique keys here are where exactly-once lives: never in memory."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import JSON, Column, Date, DateTime, Float, Index, MetaData, Numeric, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel

SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, hands back aware UTC: SQLite keeps no zone and PostgreSQL's
    ``timestamp`` would otherwise mix both kinds into comparisons."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        """UTC attached by adding the value's distance from the epoch to the aware epoch: the
        same instant and tzinfo as ``replace(tzinfo=timezone.utc)`` for a seventh of the
        cost, which was the largest item left in the digest's profile (70,000 times a digest)."""
        return None if value is None else _UTC_EPOCH + (value - _NAIVE_EPOCH)


_NAIVE_EPOCH, _UTC_EPOCH = datetime(1970, 1, 1), datetime(1970, 1, 1, tzinfo=timezone.utc)


def _when(nullable: bool = False, index: bool = False):
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Incident(SQLModel, table=True):
    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("workspace_id", "origin_channel", "origin_ts", name="uq_incident_origin"),
        UniqueConstraint("workspace_id", "number", name="uq_incident_number"),
        Index("ix_incident_open_due", "status", "step_due_at"),
        Index("ix_incident_workspace_status", "workspace_id", "status", "number"),
        Index("ix_incident_step_due", "status", "current_step", "step_due_at"),
        Index("ix_incident_next_alert", "status", "next_alert_at"),
        Index("ix_incident_card_channel", "card_channel", "created_at"),
        # With ix_incident_card_channel, one index per way an incident is in a channel's
        # digest (open, or flagged / closed / resolved since): see repository.incident_facts.
        Index("ix_incident_channel_status", "card_channel", "status"),
        Index("ix_incident_channel_closed", "card_channel", "closed_at"),
        Index("ix_incident_channel_buy_in", "card_channel", "buy_in_at"),
        # The same for a workspace's `/recovery stats` (open: ix_incident_workspace_status).
        Index("ix_incident_workspace_created", "workspace_id", "created_at"),
        Index("ix_incident_workspace_closed", "workspace_id", "closed_at"),
        Index("ix_incident_workspace_buy_in", "workspace_id", "buy_in_at"),
        # The digest's channels of each workspace, with each one's first incident, in one pass.
        Index("ix_incident_workspace_channel", "workspace_id", "card_channel", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(max_length=32)
    number: int
    origin_channel: str = Field(max_length=64)
    origin_ts: str = Field(max_length=128)
    permalink: str | None = Field(default=None, max_length=1000)
    excerpt: str = Field(default="", max_length=500)
    summary: str = Field(default="", max_length=500)
    flagged_by: str = Field(max_length=32)
    customer_name: str | None = Field(default=None, max_length=200)
    contact_channel: str | None = Field(default=None, max_length=32)
    severity: str = Field(default="normal", max_length=16)
    category: str | None = Field(default=None, max_length=100)
    status: str = Field(default="open", max_length=16)
    version: int = 0
    owner_id: str | None = Field(default=None, max_length=32)
    current_step: str = Field(max_length=32)
    step_seq: int = 0
    step_started_at: datetime = _when()
    step_due_at: datetime | None = _when(nullable=True)
    snoozed_until: datetime | None = _when(nullable=True)
    next_alert_at: datetime | None = _when(nullable=True)
    next_alert_kind: str | None = Field(default=None, max_length=16)
    card_channel: str = Field(max_length=64)
    card_ts: str | None = Field(default=None, max_length=64)
    created_at: datetime = _when()
    updated_at: datetime = _when()
    claimed_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)
    root_cause: str | None = Field(default=None, max_length=100)
    fix_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    remedy_kind: str | None = Field(default=None, max_length=32)
    remedy_amount: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2), nullable=True))
    approval: str | None = Field(default=None, max_length=16)
    approval_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    buy_in_at: datetime | None = _when(nullable=True)
    csat: int | None = None
    buy_again: str | None = Field(default=None, max_length=8)
    follow_up_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class WorkspaceCounter(SQLModel, table=True):
    """Hands out incident numbers per workspace; a row lock serialises the increments."""

    __tablename__ = "workspace_counter"

    workspace_id: str = Field(primary_key=True, max_length=32)
    last_number: int = 0


class StepRecord(SQLModel, table=True):
    __tablename__ = "step_record"
    __table_args__ = (UniqueConstraint("incident_id", "seq", name="uq_step_record_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    seq: int
    step: str = Field(max_length=32)
    status: str = Field(default="current", max_length=16)
    started_at: datetime = _when()
    due_at: datetime | None = _when(nullable=True)
    ended_at: datetime | None = _when(nullable=True)
    ended_by: str | None = Field(default=None, max_length=32)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_ts: str | None = Field(default=None, max_length=64)
    approval_ts: str | None = Field(default=None, max_length=64)


class Notification(SQLModel, table=True):
    """A reminder that must go out exactly once per step instance: the unique key, not
    memory, decides, so restarts and replicas can neither double nor lose one."""

    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("incident_id", "step_seq", "kind", name="uq_notification_once"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    step_seq: int
    kind: str = Field(max_length=32)
    created_at: datetime = _when()


class DigestRun(SQLModel, table=True):
    """One digest per workspace, channel and local day: whoever inserts the row posts it. The
    workspace is part of the key because a channel shared between two workspaces has one id in
    both, and each workspace's digest counts only its own incidents."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("workspace_id", "channel", "local_date", name="uq_digest_run_once"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(default="", max_length=32)
    channel: str = Field(max_length=64)
    local_date: str = Field(max_length=10)
    created_at: datetime = _when()


class TimelineEvent(SQLModel, table=True):
    """An `Event`: its kind, time and actor as columns, its typed fields as JSON
    (`Event.to_data`), never Slack text: the views render it per surface."""

    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_event_incident", "incident_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = _when()
    actor: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=32)
    data: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """A Slack call owed, written in the transaction of the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_ordering", "ordering_key", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(max_length=32)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    step_seq: int | None = None
    kind: str = Field(max_length=16)
    channel: str | None = Field(default=None, max_length=64)
    user_id: str | None = Field(default=None, max_length=32)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    ordering_key: str = Field(max_length=64)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    uncertain: bool = False
    next_attempt_at: datetime = _when()
    lease_until: datetime | None = _when(nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    result_ts: str | None = Field(default=None, max_length=64)


class ChannelCheck(SQLModel, table=True):
    """What conversations.info said about a channel the bot would post a card in, and when:
    asked once per channel and refreshed rarely, not before every card."""

    __tablename__ = "channel_check"

    channel: str = Field(primary_key=True, max_length=64)
    workspace_id: str = Field(max_length=32)
    shared: bool = False
    checked_at: datetime = _when()


class LeadMessage(SQLModel, table=True):
    """A copy of an approval request or escalation as it reached a lead (a DM, or LEAD_CHANNEL):
    every copy is redrawn once someone acts, so no lead is left a stale button."""

    __tablename__ = "lead_message"
    __table_args__ = (
        UniqueConstraint("channel", "ts", name="uq_lead_message_ts"),
        Index("ix_lead_message_step", "incident_id", "step_seq", "purpose"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    step_seq: int
    purpose: str = Field(max_length=16)
    channel: str = Field(max_length=64)
    ts: str = Field(max_length=64)


class HomeViewer(SQLModel, table=True):
    """Someone who opened the bot's Home tab: only they get it republished after a change, and
    ``last_hash`` is what Slack answered to the last publish, so an older view never overwrites
    a newer one (views.publish refuses a stale hash)."""

    __tablename__ = "home_viewer"

    workspace_id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(primary_key=True, max_length=32)
    first_opened_at: datetime = _when()
    last_hash: str | None = Field(default=None, max_length=64)


class SurveyBaseline(SQLModel, table=True):
    """A survey period of customers who never had a problem (`python -m bot baseline`):
    insights compare recovered customers with it. ``workspace_id`` "" is every workspace."""

    __tablename__ = "survey_baseline"
    __table_args__ = (UniqueConstraint("workspace_id", "period_start", name="uq_survey_baseline_period"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(default="", max_length=32)
    period_start: date = Field(sa_column=Column(Date, nullable=False))
    period_end: date = Field(sa_column=Column(Date, nullable=False))
    would_buy_again: float = Field(sa_column=Column(Float, nullable=False))
    satisfaction: float = Field(sa_column=Column(Float, nullable=False))
    answers: int
    satisfaction_sd: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    loaded_at: datetime = _when()


class WorkspaceSetting(SQLModel, table=True):
    """A workspace's own value of one setting (bot/workspace_config.py names the keys); a key
    without a row takes the environment's value. ``value`` is JSON text of the structured
    value (a list of user ids, a zone name, an amount as a string), rendered at the edge."""

    __tablename__ = "workspace_setting"

    workspace_id: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = _when()
    updated_by: str = Field(max_length=32)


class WorkspaceSettingChange(SQLModel, table=True):
    """The workspace's settings timeline: one row per key changed by a Settings save. ``old``
    or ``new`` None: the environment's value (no override) before or after."""

    __tablename__ = "workspace_setting_change"
    __table_args__ = (Index("ix_workspace_setting_change_workspace", "workspace_id", "changed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(max_length=32)
    key: str = Field(max_length=64)
    old: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    new: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_by: str = Field(max_length=32)
    changed_at: datetime = _when()


class WorkspaceRow(SQLModel, table=True):
    """A workspace the app is (or was) installed in: while ``uninstalled`` none of its messages
    is sent and none of its timers fires; its data stays (or is erased, ``erase_due``).
    ``token_error``: Slack refused to refresh its bot token, so its messages park until a
    reinstall. ``refresh_lease_until``: a replica is refreshing its token (bot/token_rotation.py)."""

    __tablename__ = "workspace"

    workspace_id: str = Field(primary_key=True, max_length=32)
    team_name: str | None = Field(default=None, max_length=200)
    status: str = Field(default="installed", max_length=16)
    changed_at: datetime = _when()
    erase_due: bool = False
    token_error: str | None = Field(default=None, max_length=64)
    refresh_lease_until: datetime | None = _when(nullable=True)
