"""The values the recovery domain works with: plain, frozen, and free of Slack and SQL."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.parsing import WorkHours


class StepKey(StrEnum):
    CLAIM = "claim"
    ACKNOWLEDGE = "acknowledge"
    APOLOGIZE = "apologize"
    FIX = "fix"
    MAKE_IT_RIGHT = "make_it_right"
    BUY_IN = "buy_in"
    FOLLOW_UP = "follow_up"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Severity(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


CONTACT_CHANNELS: tuple[str, ...] = ("email", "phone", "chat", "social", "in person", "other")

REMEDY_KINDS: tuple[str, ...] = ("refund", "replacement", "upgrade", "discount", "gift", "none")
"""What the owner may give at `make_it_right`; "none" means no gesture (amount 0)."""

BUY_AGAIN_ANSWERS: tuple[str, ...] = ("yes", "maybe", "no")
"""The follow-up's "would you buy from us again?" answers."""

STEP_RESULTS: tuple[str, ...] = ("done", "skipped", "declined", "expired", "not_yet")
"""How a step instance can end (StepOutcome.result): "declined" ends a `make_it_right` whose
remedy a lead declined, "expired" one whose remedy no lead decided on in time, "not_yet" ends a
`buy_in` the customer did not agree to; all three loop back to a new `make_it_right`."""


class EventKind(StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    ASSIGNED = "assigned"
    STEP_DONE = "step_done"
    STEP_SKIPPED = "step_skipped"
    SNOOZED = "snoozed"
    HELP_REQUESTED = "help_requested"
    NUDGED = "nudged"
    ESCALATED = "escalated"
    APPROVAL_REQUESTED = "approval_requested"
    REMEDY_APPROVED = "remedy_approved"
    REMEDY_DECLINED = "remedy_declined"
    BUY_IN_AGREED = "buy_in_agreed"
    BUY_IN_NOT_YET = "buy_in_not_yet"
    FOLLOW_UP_PROMPTED = "follow_up_prompted"
    FOLLOW_UP_RECORDED = "follow_up_recorded"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    APPROVAL_REMINDED = "approval_reminded"
    """The leads were reminded of a remedy waiting for them."""
    APPROVAL_EXPIRED = "approval_expired"
    """No lead decided on a remedy within the step's time: the owner may offer again."""
    MESSAGES_GIVEN_UP = "messages_given_up"
    """A lead gave up on messages Slack would not take (`/recovery health`)."""
    DETAILS_EDITED = "details_edited"
    """Someone corrected what the flag said about the customer (Edit details): only the changed
    fields are set, "" for one cleared."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    is_lead: bool = False


@dataclass(frozen=True, slots=True)
class Event:
    """One line of an incident's timeline, as data: who did what, when, with which values.

    No Slack markup: what a person typed is kept raw and escaped by each surface that shows
    it (`bot.views.events`), and a step is stored by key, its title read from the playbook
    when shown. ``actor`` is a Slack user id, None for the bot's own doings (nudges...).
    """

    kind: EventKind
    at: datetime
    actor: str | None
    _: KW_ONLY
    step: StepKey | None = None
    owner_before: str | None = None
    owner_after: str | None = None
    owner: str | None = None
    """The owner a reminder or the follow-up prompt went to (None: the channel, unclaimed)."""
    reason: str | None = None
    """Why a step was skipped, an incident cancelled, a remedy declined; the not-yet note."""
    note: str | None = None
    """The fix, remedy or follow-up note."""
    root_cause: str | None = None
    remedy_kind: str | None = None
    amount: Decimal | None = None
    limit: Decimal | None = None
    """The empowerment limit a remedy asked approval for was over."""
    until: datetime | None = None
    csat: int | None = None
    buy_again: str | None = None
    summary: str | None = None
    customer_name: str | None = None
    contact_channel: str | None = None
    severity: str | None = None
    """A severity's word (`Severity` value)."""
    category: str | None = None
    legacy_text: str | None = None
    """A migrated row whose old Slack text could not be read back into fields: kept as it was."""

    def to_data(self) -> dict[str, object]:
        """The typed fields that are set, JSON-safe: what storage keeps and the export shows."""
        data: dict[str, object] = {}
        for name in _EVENT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                data[name] = _ENCODE.get(name, _same)(value)
        return data

    @classmethod
    def from_data(cls, kind: EventKind | str, at: datetime, actor: str | None, data: dict[str, object]) -> Event:
        """The inverse of `to_data`; an unknown field is an error, not silently dropped."""
        fields = {name: _DECODE.get(name, _same)(value) for name, value in data.items() if value is not None}
        return cls(EventKind(kind), at, actor, **fields)


def _same(value: object) -> object:
    return value


_EVENT_FIELDS: tuple[str, ...] = tuple(name for name in Event.__dataclass_fields__
                                       if name not in ("kind", "at", "actor"))
_ENCODE: dict[str, Callable[[Any], object]] = {
    "step": lambda key: key.value, "amount": str, "limit": str, "until": lambda moment: moment.isoformat(),
}
_DECODE: dict[str, Callable[[Any], object]] = {
    "step": StepKey, "amount": Decimal, "limit": Decimal, "until": datetime.fromisoformat,
}


@dataclass(frozen=True, slots=True)
class NewIncident:
    """What intake knows about a complaint before it has a number."""

    workspace_id: str
    origin_channel: str
    origin_ts: str
    flagged_by: str
    summary: str
    excerpt: str = ""
    permalink: str | None = None
    customer_name: str | None = None
    contact_channel: str | None = None
    severity: Severity = Severity.NORMAL
    category: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentState:
    """One incident as the domain sees it; the repository maps rows to and from it."""

    id: int
    workspace_id: str
    number: int
    status: Status
    current_step: StepKey
    step_seq: int
    step_started_at: datetime
    step_due_at: datetime | None
    created_at: datetime
    flagged_by: str
    summary: str
    origin_channel: str
    origin_ts: str
    card_channel: str
    excerpt: str = ""
    permalink: str | None = None
    customer_name: str | None = None
    contact_channel: str | None = None
    severity: Severity = Severity.NORMAL
    category: str | None = None
    owner_id: str | None = None
    card_ts: str | None = None
    snoozed_until: datetime | None = None
    claimed_at: datetime | None = None
    closed_at: datetime | None = None
    root_cause: str | None = None
    fix_note: str | None = None
    remedy_kind: str | None = None
    remedy_amount: Decimal | None = None
    approval: str | None = None
    approval_note: str | None = None
    buy_in_at: datetime | None = None
    csat: int | None = None
    buy_again: str | None = None
    follow_up_note: str | None = None
    cancel_reason: str | None = None

    @property
    def ref(self) -> str:
        return f"#{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN

    @property
    def is_unclaimed(self) -> bool:
        return self.is_open and self.owner_id is None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How the step that just ended ended, for its message and the step record."""

    step: StepKey
    seq: int
    result: str  # one of STEP_RESULTS
    by: str
    at: datetime
    note: str = ""
    approved_by: str | None = None
    """The lead who approved the remedy ``by`` recorded: the step was the owner's, the approval theirs."""


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str


@dataclass(frozen=True, slots=True)
class Decision:
    """A state change the service must persist, with what to tell people about it."""

    state: IncidentState
    events: tuple[Event, ...]
    ended_step: StepOutcome | None = None
    new_step: bool = False
    notices: tuple[str, ...] = field(default_factory=tuple)
    """Short lines posted in the recovery thread (e.g. who reassigned to whom)."""

    approval_requested: bool = False
    """A remedy over the empowerment limit now waits for a lead: offer them Approve / Decline."""

    follow_up_due_at: datetime | None = None
    """Set when the follow-up was just scheduled (buy-in agreed or skipped): when it falls due."""

    prompt_now: bool = True
    """With ``new_step``: whether to post the new step's prompt now. False for the follow-up,
    which is prompted later by the scheduler (a PromptFollowUp decision) once it is due."""

    escalate_now: bool = False
    """The owner asked for help (Need help): tell the leads now, without waiting for the SLA."""

    handed_over: bool = False
    """An owned incident changed owner: the live prompt is redrawn for the new owner, whose
    reminders start afresh (the step's clock restarted, unless the step keeps its date)."""

    @property
    def posts_prompt(self) -> bool:
        """Whether the current step's prompt is to be posted now: a new step that is not
        deferred, or the follow-up falling due (FOLLOW_UP_PROMPTED)."""
        if self.new_step:
            return self.prompt_now
        return self.prompt_now and any(event.kind is EventKind.FOLLOW_UP_PROMPTED for event in self.events)


@dataclass(frozen=True, slots=True)
class Policy:
    """The team's rules: EMPOWERMENT_LIMIT, FOLLOW_UP_AFTER, ESCALATE_FACTOR, and the
    working hours (in the team's zone) that SLA clocks count."""

    empowerment_limit: Decimal = Decimal(50)
    follow_up_after: timedelta = timedelta(days=3)
    escalate_factor: float = 2.0
    work_hours: WorkHours | None = None
    tz: ZoneInfo = ZoneInfo("UTC")
    leads: frozenset[str] = frozenset()
    """Who the leads are now (bot/leads.py): a refusal names who may act instead."""
    currency: str = "USD"
    """CURRENCY: how remedy amounts read in every message."""
