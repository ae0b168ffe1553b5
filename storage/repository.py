"""Queries and conditional updates; rows in, domain values out.

Every write that could race is conditional (ON CONFLICT DO NOTHING, or UPDATE ... WHERE
version = the version we read) and reports whether it won, so the database decides.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CTE, BigInteger, ColumnElement, Connection, Insert, Row, Select, Subquery, Text, and_, bindparam, case, cast, delete,
    exists, extract, func, insert, join, literal, or_, outerjoin, text, true, type_coerce, union_all, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot.domain.types import (
    Decision, Event, EventKind, IncidentState, NewIncident, Severity, Status, StepKey,
)
from bot.domain import alerts
from bot.domain.digest import UNCOUNTED_APPROVALS, IncidentFacts
from storage import outbox_store, precompiled, viewer_store
from storage.workspace_store import paused
from bot.domain.stats import ENDED_RESULTS, Middles, StatsTotals, StatsWindow, StepEnds
from storage.models import (
    DigestRun, Incident, Notification, StepRecord, TimelineEvent, UTCDateTime, WorkspaceCounter,
)

LIST_LIMIT = 20


def _insert(session: Session, table):  # noqa: ANN001, ANN202 - dialect-specific insert
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


# Timers of an uninstalled workspace stay due, unfired, until it is installed again (bot/workspaces.py).
_NOT_PAUSED = ~paused(col(Incident.workspace_id))


_STATUS = {member.value: member for member in Status}
_STEP = {member.value: member for member in StepKey}
_SEVERITY = {member.value: member for member in Severity}


def to_state(row: Incident | Row | Mapping[str, Any]) -> IncidentState:
    """A row is read by key, through its mapping, and its enums found in a dict: a Row's
    attribute access and an enum's lookup by value cost several times more, and
    `/recovery list` maps twenty rows of forty columns inside its ack."""
    get = (row._mapping.__getitem__ if isinstance(row, Row) else row.__getitem__ if isinstance(row, Mapping)
           else functools.partial(getattr, row))
    amount = get("remedy_amount")
    return IncidentState(
        id=get("id"), workspace_id=get("workspace_id"), number=get("number"), status=_STATUS[get("status")],
        current_step=_STEP[get("current_step")], step_seq=get("step_seq"), step_started_at=get("step_started_at"),
        step_due_at=get("step_due_at"), created_at=get("created_at"), flagged_by=get("flagged_by"),
        summary=get("summary"), origin_channel=get("origin_channel"), origin_ts=get("origin_ts"),
        card_channel=get("card_channel"), excerpt=get("excerpt"), permalink=get("permalink"),
        customer_name=get("customer_name"), contact_channel=get("contact_channel"),
        severity=_SEVERITY[get("severity")], category=get("category"), owner_id=get("owner_id"),
        card_ts=get("card_ts"), snoozed_until=get("snoozed_until"), claimed_at=get("claimed_at"),
        closed_at=get("closed_at"), root_cause=get("root_cause"), fix_note=get("fix_note"),
        remedy_kind=get("remedy_kind"), remedy_amount=Decimal(amount) if amount is not None else None,
        approval=get("approval"), approval_note=get("approval_note"), buy_in_at=get("buy_in_at"), csat=get("csat"),
        buy_again=get("buy_again"), follow_up_note=get("follow_up_note"), cancel_reason=get("cancel_reason"),
    )


_MUTABLE_FIELDS = (
    "status", "owner_id", "current_step", "step_seq", "step_started_at", "step_due_at", "snoozed_until",
    "claimed_at", "closed_at", "root_cause", "fix_note", "remedy_kind", "remedy_amount", "approval",
    "approval_note", "buy_in_at", "csat", "buy_again", "follow_up_note", "cancel_reason",
)


def _column_values(state: IncidentState) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(state, name) for name in _MUTABLE_FIELDS}
    values["status"] = state.status.value
    values["current_step"] = state.current_step.value
    return values


def claim_notification(session: Session, *, incident_id: int, seq: int, kind: str, now: datetime) -> bool:
    """True for exactly one caller per (incident, step instance, kind), ever."""
    result = session.exec(_insert(session, Notification).values(
        incident_id=incident_id, step_seq=seq, kind=kind, created_at=now,
    ).on_conflict_do_nothing(index_elements=["incident_id", "step_seq", "kind"]).returning(Notification.id))
    return result.scalar_one_or_none() is not None


def sent_notifications(session: Session, *, incident_id: int, seq: int) -> frozenset[str]:
    return frozenset(session.exec(select(Notification.kind).where(
        Notification.incident_id == incident_id, Notification.step_seq == seq)).all())


def forget_reminders(session: Session, *, incident_id: int, seq: int, kinds: tuple[str, ...]) -> None:
    """A step handed to a new owner starts its clock again: the reminders the last owner had
    are theirs, and the new owner is owed their own when the new deadline passes."""
    session.exec(delete(Notification).where(Notification.incident_id == incident_id, Notification.step_seq == seq,
                                            col(Notification.kind).in_(kinds)))


def set_next_alert(session: Session, incident_id: int, *, at: datetime | None, kind: str | None) -> None:
    session.exec(update(Incident).where(Incident.id == incident_id).values(next_alert_at=at, next_alert_kind=kind))


def due_alerts(session: Session, *, now: datetime, limit: int) -> list[tuple[int, int, str]]:
    """Incidents owed a nudge or escalation now; (status, next_alert_at) is indexed, so the
    cost follows what is due, not how many incidents are open."""
    rows = session.exec(select(Incident.id, Incident.step_seq, Incident.next_alert_kind).where(
        Incident.status == Status.OPEN.value, col(Incident.next_alert_at) < now, _NOT_PAUSED,
    ).order_by(col(Incident.next_alert_at)).limit(limit)).all()
    return [(incident_id, seq, kind) for incident_id, seq, kind in rows if kind]


def lock(session: Session, incident_id: int) -> tuple[IncidentState, int] | None:
    """Load for a timer's write: FOR UPDATE on PostgreSQL so a user's concurrent change waits
    (SQLite serialises writers anyway)."""
    row = session.exec(select(Incident).where(Incident.id == incident_id).with_for_update()).first()
    return (to_state(row), row.version) if row else None


def digest_channels(session: Session) -> dict[tuple[str, str], datetime]:
    """Every (workspace, channel) that has incident cards, with when its first incident there
    was flagged (the digest waits for a DIGEST_TIME after it): one pass over
    ix_incident_workspace_channel (uninstalled workspaces left out). Per workspace, since a channel shared between two has one
    id in both and each workspace gets a digest of its own incidents."""
    rows = session.exec(select(Incident.workspace_id, Incident.card_channel, _aware(func.min(Incident.created_at)))
                        .where(_NOT_PAUSED)
                        .group_by(Incident.workspace_id, Incident.card_channel)).all()
    return {(workspace_id, channel): first for workspace_id, channel, first in sorted(rows)}


def workspace_of_channel(session: Session, channel: str) -> str | None:
    return session.exec(select(Incident.workspace_id).where(Incident.card_channel == channel).limit(1)).first()


def digest_claimed(session: Session, *, workspace_id: str, channel: str, local_date: str) -> bool:
    """Whether someone already claimed this workspace's digest of the channel for that day: a
    read, so that a restart or a second replica skips the figures it would not be allowed to post."""
    return session.exec(select(exists().where(
        DigestRun.workspace_id == workspace_id, DigestRun.channel == channel,
        DigestRun.local_date == local_date))).one()


def claim_digest(session: Session, *, workspace_id: str, channel: str, local_date: str, now: datetime) -> bool:
    """True for exactly one caller per workspace, channel and local day, ever."""
    result = session.exec(_insert(session, DigestRun).values(
        workspace_id=workspace_id, channel=channel, local_date=local_date, created_at=now,
    ).on_conflict_do_nothing(index_elements=["workspace_id", "channel", "local_date"]).returning(DigestRun.id))
    return result.scalar_one_or_none() is not None


def _aware(column: ColumnElement) -> ColumnElement:
    """``column`` (a stored UTC time, or an aggregate of some, which has lost the column's
    type) read back as aware UTC, through `UTCDateTime`."""
    return type_coerce(column, UTCDateTime())


_FACT_COLUMNS = {
    "number": Incident.number, "channel": Incident.card_channel, "created_at": _aware(Incident.created_at),
    "status": Incident.status, "claimed_at": _aware(Incident.claimed_at), "resolved_at": _aware(Incident.buy_in_at),
    "closed_at": _aware(Incident.closed_at), "owner_id": Incident.owner_id, "current_step": Incident.current_step,
    "step_due_at": _aware(Incident.step_due_at), "snoozed_until": _aware(Incident.snoozed_until),
    "root_cause": Incident.root_cause, "remedy_kind": Incident.remedy_kind, "remedy_amount": Incident.remedy_amount,
    "approval": Incident.approval, "csat": Incident.csat, "buy_again": Incident.buy_again,
    "summary": func.coalesce(func.nullif(Incident.summary, ""), Incident.excerpt), "card_ts": Incident.card_ts,
}
"""`IncidentFacts` fields read from the incident's own row; the step ends come from `_step_ends`."""
_LOADED_FIELDS = IncidentFacts._fields
_ACKNOWLEDGE, _FIX = StepKey.ACKNOWLEDGE.value, StepKey.FIX.value


def incident_facts(session: Session, *, since: datetime, channel: str | None = None,
                   workspace_id: str | None = None) -> list[IncidentFacts]:
    """What the digest figures need: incidents still open, or with anything that happened
    since ``since``, with when each was acknowledged and fixed. One query of plain column
    tuples, not ORM objects, because a busy channel has tens of thousands of such incidents."""
    touched = _touched_since(since, channel=channel, workspace_id=workspace_id)
    return [IncidentFacts(*row) for row in session.connection().execute(_facts_query(touched)).all()]


def _touched_since(since: datetime, *, channel: str | None, workspace_id: str | None) -> ColumnElement[bool]:
    """Open now, or flagged, resolved or closed since ``since`` (a claim or a step ends
    between the flag and the close). For a channel or a workspace, each alternative names it,
    so that each is answered by an index of its own (SQLite's MULTI-INDEX OR, PostgreSQL's
    BitmapOr) rather than by reading every incident it ever had."""
    events = (Incident.status == Status.OPEN.value, col(Incident.created_at) >= since,
              col(Incident.closed_at) >= since, col(Incident.buy_in_at) >= since)
    if channel is not None:
        # The channel's own indexes (migration 0004) answer each alternative; its workspace only
        # filters what they find (a channel shared by two workspaces has both's incidents). As a
        # plain term SQLite would answer it by a workspace index instead, reading every incident
        # the channel ever had (2 to 3 s at 100,000): `|| ''` is SQLite's way to say "not by index".
        touched = or_(*(and_(Incident.card_channel == channel, event) for event in events))
        return touched if workspace_id is None else and_(touched, Incident.workspace_id.concat("") == workspace_id)
    if workspace_id is not None:
        events = tuple(and_(Incident.workspace_id == workspace_id, event) for event in events)
    return or_(*events)


def _facts_query(touched: ColumnElement[bool]) -> Select:
    """The `IncidentFacts` fields in their order."""
    ended = _step_ends(touched)
    columns = {**_FACT_COLUMNS, "acknowledged_at": ended.c.acknowledged_at, "fixed_at": ended.c.fixed_at}
    return (select(*(columns[name] for name in _LOADED_FIELDS))
            .select_from(outerjoin(Incident, ended, ended.c.incident_id == Incident.id)).where(touched))


def _step_ends(touched: ColumnElement[bool]) -> Subquery:
    """Per touched incident, when its `acknowledge` step first ended done and its `fix` step
    last did: one grouped pass joined to the incidents, not their ids sent back in IN lists
    of thousands (which SQLAlchemy and psycopg took longer to render than the database took
    to answer)."""
    def ended(step: str, aggregate: Callable[..., ColumnElement]) -> ColumnElement:
        return _aware(aggregate(case((StepRecord.step == step, StepRecord.ended_at))))

    return (select(StepRecord.incident_id, ended(_ACKNOWLEDGE, func.min).label("acknowledged_at"),
                   ended(_FIX, func.max).label("fixed_at"))
            .where(StepRecord.status == "done", col(StepRecord.step).in_((_ACKNOWLEDGE, _FIX)),
                   col(StepRecord.incident_id).in_(select(Incident.id).where(touched)))
            .group_by(StepRecord.incident_id).subquery())


def due_follow_ups(session: Session, *, now: datetime, limit: int) -> list[tuple[int, int]]:
    """Follow-ups that fell due and were not prompted yet; the index on
    (status, current_step, step_due_at) keeps this proportional to what is due."""
    prompted = exists().where(Notification.incident_id == Incident.id, Notification.step_seq == Incident.step_seq,
                              Notification.kind == "follow_up_prompt")
    rows = session.exec(select(Incident.id, Incident.step_seq).where(
        Incident.status == Status.OPEN.value, Incident.current_step == StepKey.FOLLOW_UP.value,
        col(Incident.step_due_at) <= now, ~prompted, _NOT_PAUSED).order_by(col(Incident.step_due_at)).limit(limit)).all()
    return [(incident_id, seq) for incident_id, seq in rows]


def find_by_origin(session: Session, *, workspace_id: str, channel: str, ts: str) -> IncidentState | None:
    row = session.exec(select(Incident).where(
        Incident.workspace_id == workspace_id, Incident.origin_channel == channel, Incident.origin_ts == ts,
    )).first()
    return to_state(row) if row else None


def get_many(session: Session, incident_ids: set[int]) -> dict[int, IncidentState]:
    """Several incidents in one query, by id (the outbox sender reads a leased batch's)."""
    if not incident_ids:
        return {}
    rows = session.exec(select(Incident).where(col(Incident.id).in_(incident_ids))).all()
    return {row.id: to_state(row) for row in rows}


def get_many_to_draw(session: Session, incident_ids: set[int]) -> tuple[dict[int, IncidentState], set[int]]:
    """``get_many``, and which of them the leads were called to for the current step (what a
    card's status shows), in one query: the outbox sender reads a leased batch's."""
    if not incident_ids:
        return {}, set()
    rows = session.connection().execute(select(*Incident.__table__.columns, ESCALATED).where(
        col(Incident.id).in_(incident_ids))).all()
    return {row.id: to_state(row) for row in rows}, {row.id for row in rows if row.escalated}


def load(session: Session, *, workspace_id: str, incident_id: int | None = None,
         number: int | None = None) -> tuple[IncidentState, int] | None:
    """The incident and the version a conditional write must still find to succeed. Plain
    columns, not an ORM object: every click loads one, and the ORM's bookkeeping cost more
    than the query."""
    if incident_id is not None:
        row = session.connection().execute(_LOAD_BY_ID, {"workspace_id": workspace_id, "key": incident_id}).first()
    else:
        row = session.connection().execute(_LOAD_BY_NUMBER, {"workspace_id": workspace_id, "key": number}).first()
    return (to_state(row), row.version) if row else None


@dataclass(frozen=True, slots=True)
class Loaded:
    """An incident as a decision is taken on it: its version, which the decision's write
    expects, and whether the leads were called for its current step."""

    state: IncidentState
    version: int
    escalated: bool


def load_to_decide(connection: Connection, *, workspace_id: str, incident_id: int | None = None,
                   number: int | None = None) -> Loaded | None:
    """``load``, and whether the leads were called for the current step: what a decision
    settles once someone acts (bot/announce.py), read in the same query, since every click
    needs it."""
    statement = _DECIDE_BY_ID if incident_id is not None else _DECIDE_BY_NUMBER
    row = precompiled.first(connection, statement, {"workspace_id": workspace_id,
                                                    "key": incident_id if incident_id is not None else number})
    return Loaded(to_state(row), row["version"], row["escalated"]) if row else None


_LOAD_BY_ID = select(*Incident.__table__.columns).where(
    Incident.workspace_id == bindparam("workspace_id"), Incident.id == bindparam("key"))
_LOAD_BY_NUMBER = select(*Incident.__table__.columns).where(
    Incident.workspace_id == bindparam("workspace_id"), Incident.number == bindparam("key"))
# Whether the leads were called to the incident's current step: what its card shows.
ESCALATED = exists().where(Notification.incident_id == Incident.id, Notification.step_seq == Incident.step_seq,
                            Notification.kind == alerts.ESCALATION).label("escalated")
_DECIDE_BY_ID = _LOAD_BY_ID.add_columns(ESCALATED)
_DECIDE_BY_NUMBER = _LOAD_BY_NUMBER.add_columns(ESCALATED)


_STATEMENTS: dict[tuple[str, str], object] = {}


def _statement(session: Session, name: str):  # noqa: ANN202 - a dialect's insert construct
    """Hot-path statements built once per dialect: building a SQLAlchemy statement costs more
    CPU than running it on SQLite, and every flag and click runs these."""
    dialect = session.get_bind().dialect.name
    key = (dialect, name)
    if key not in _STATEMENTS:
        insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
        if name == "counter":
            upsert = insert_for(WorkspaceCounter).values(workspace_id=bindparam("workspace_id"), last_number=1)
            _STATEMENTS[key] = upsert.on_conflict_do_update(
                index_elements=["workspace_id"], set_={"last_number": WorkspaceCounter.last_number + 1},
            ).returning(WorkspaceCounter.last_number)
        elif name == "incident":
            _STATEMENTS[key] = insert_for(Incident).on_conflict_do_nothing(
                index_elements=["workspace_id", "origin_channel", "origin_ts"]).returning(Incident.id)
    return _STATEMENTS[key]


@functools.cache
def _flag_in_one_statement(names: tuple[str, ...], watching: bool | None,
                           queued: tuple[str, ...] | None):  # noqa: ANN202 - select with CTEs
    """PostgreSQL: the incident (``names``: its columns given; numbered by a trigger, see
    ``_in_one_statement``), its first step, its creation event, unless ``queued`` is None the
    outbox rows queued for it (outbox_store.insert_queued: ``queued``, their columns) and,
    unless ``watching`` is None, a Home republish for each viewer it concerns
    (viewer_store.concerned_column, outbox_store.insert_keyed), in one statement, each part
    taking the incident's id from the first: one round trip, and outside a transaction no
    BEGIN and COMMIT either. Nothing is written, and no row returned, when the message was
    flagged already."""
    columns = Incident.__table__.c
    incident = (postgresql.insert(Incident.__table__)
                .values({name: bindparam(name, type_=columns[name].type) for name in names}
                        | {"number": _PLACEHOLDER_NUMBER})
                .on_conflict_do_nothing(index_elements=["workspace_id", "origin_channel", "origin_ts"])
                .returning(Incident.__table__.c.id, Incident.__table__.c.number).cte("flagged"))
    steps = StepRecord.__table__.c
    first_step = insert(StepRecord).from_select(
        ["incident_id", "seq", "step", "status", "started_at", "due_at"],
        select(incident.c.id, literal(0), literal(StepKey.CLAIM.value), literal("current"),
               bindparam("step_started_at", type_=steps.started_at.type),
               bindparam("step_due_at", type_=steps.due_at.type))).cte("first_step")
    events = TimelineEvent.__table__.c
    created = insert(TimelineEvent).from_select(
        ["incident_id", "at", "actor", "kind", "data"],
        select(incident.c.id, bindparam("created_at", type_=events.at.type),
               bindparam("flagged_by", type_=events.actor.type), literal(EventKind.CREATED.value),
               literal({}, type_=events.data.type))).cte("created")
    statement = select(incident.c.id, incident.c.number).add_cte(first_step).add_cte(created)
    if queued is not None:
        statement = statement.add_cte(outbox_store.insert_queued(queued, after=incident, incident_id=incident.c.id)
                                      .cte("queued_out"))
    if watching is not None:
        statement = statement.add_cte(_homes(True, watching, when=select(incident.c.id).exists()).cte("homes"))
    return statement


def _homes(on_postgresql: bool, watching: bool, *, when: ColumnElement) -> Insert:
    """A change's Home republishes: one for each viewer it concerns (viewer_store.Concerned)
    with none pending (outbox_store.insert_keyed), if ``when`` holds. Parameters: the
    Concerned's and the Keyed's."""
    return outbox_store.insert_keyed(viewer_store.concerned_column(on_postgresql, watching), when=when)


# Built once: every flag and click on SQLite, and every change that is not one, runs one.
_HOMES = {(on_postgresql, watching): _homes(on_postgresql, watching, when=true())
          for on_postgresql in (False, True) for watching in (False, True)}


def queue_homes(session: Session, concerned: viewer_store.Concerned, homes: outbox_store.Keyed) -> None:
    """Queue a republish of the Homes of those ``concerned`` who opened theirs, in one
    statement (bot/home_refresh.py says whose and when). A flag's and a decision's own write
    does it on PostgreSQL, as a part of its statement."""
    if concerned.anyone:
        session.connection().execute(_HOMES[_in_one_statement(session), concerned.watching],
                                     concerned.params() | homes.params())


_INSERT_STEP = insert(StepRecord)
_INSERT_EVENT = insert(TimelineEvent)
# Core, not ORM: the decision's statement on PostgreSQL has a part that reads a text FROM
# (the queued outbox rows), which an ORM statement cannot compile.
_APPLY = update(Incident.__table__).where(
    Incident.__table__.c.id == bindparam("b_id"), Incident.__table__.c.version == bindparam("b_version"),
).values(**{name: bindparam(name) for name in _MUTABLE_FIELDS}, version=bindparam("new_version"),
         updated_at=bindparam("now"), next_alert_at=bindparam("next_alert_at"),
         next_alert_kind=bindparam("next_alert_kind"))
_END_STEP = update(StepRecord).where(
    StepRecord.incident_id == bindparam("b_incident"), StepRecord.seq == bindparam("b_seq"),
).values(status=bindparam("status"), ended_at=bindparam("ended_at"), ended_by=bindparam("ended_by"),
         note=bindparam("note"))


def _next_number(session: Session, workspace_id: str) -> int:
    """One upsert: the counter row's lock serialises concurrent flags in one workspace."""
    return session.connection().execute(_statement(session, "counter"), {"workspace_id": workspace_id}).scalar_one()


def _in_one_statement(session: Session) -> bool:
    """PostgreSQL, where flags and decisions of one workspace run side by side: a flag's and
    a decision's writes are one statement each, a flag's outside a transaction. The workspace
    counter's row lock, taken to number a flag, is so held for no round trip (drawn by an
    earlier statement of a transaction, it made every flag of the workspace wait for the whole
    of the one before: on a 2-core machine, most of an ack under load). The incident is
    inserted under a placeholder number no other row can hold (minus a fresh value of the
    incident id sequence, never reused) and a trigger draws the real one (migration 0016).
    SQLite runs one writer at a time anyway, and keeps the simpler order."""
    return session.get_bind().dialect.name == "postgresql"


_PLACEHOLDER_NUMBER = text("-nextval(pg_get_serial_sequence('incident', 'id'))")


def new_incident(new: NewIncident, *, card_channel: str, now: datetime, claim_due: datetime) -> IncidentState:
    """A flag's incident before it is written (``insert_incident``): its id is
    outbox_store.UNWRITTEN and its number 0 until then."""
    return IncidentState(
        id=outbox_store.UNWRITTEN, workspace_id=new.workspace_id, number=0, status=Status.OPEN,
        current_step=StepKey.CLAIM, step_seq=0, step_started_at=now, step_due_at=claim_due, created_at=now,
        flagged_by=new.flagged_by, summary=new.summary, origin_channel=new.origin_channel,
        origin_ts=new.origin_ts, card_channel=card_channel, excerpt=new.excerpt, permalink=new.permalink,
        customer_name=new.customer_name, contact_channel=new.contact_channel, severity=new.severity,
        category=new.category,
    )


def insert_incident(session: Session, state: IncidentState, *, next_alert: tuple[datetime | None, str | None],
                    concerned: viewer_store.Concerned | None = None, homes: outbox_store.Keyed | None = None,
                    ) -> IncidentState | None:
    """Write ``state`` (``new_incident``) with its first step and its creation event, unless
    this message was flagged already; None means someone got there first (and on SQLite the
    caller must roll back, so the number it drew is not lost). ``next_alert``: its first
    alert, stored by the insert itself.

    On PostgreSQL (``_in_one_statement``) this is one statement, and writes with the incident
    the outbox rows queued for it (outbox_store.take_unwritten) and, with ``homes``, the Home
    republishes of those ``concerned`` who opened theirs: so the caller runs it outside a
    transaction (Database.single_statement). Elsewhere the caller queues all that after, with
    the incident's id."""
    now = state.created_at
    values = dict(
        workspace_id=state.workspace_id, origin_channel=state.origin_channel,
        origin_ts=state.origin_ts, permalink=state.permalink, excerpt=state.excerpt, summary=state.summary,
        flagged_by=state.flagged_by, customer_name=state.customer_name, contact_channel=state.contact_channel,
        severity=state.severity.value, category=state.category, status=Status.OPEN.value, version=0,
        current_step=StepKey.CLAIM.value, step_seq=0, step_started_at=now, step_due_at=state.step_due_at,
        card_channel=state.card_channel, created_at=now, updated_at=now, next_alert_at=next_alert[0],
        next_alert_kind=next_alert[1],
    )
    queued = outbox_store.take_unwritten(session)
    wanted = concerned if homes is not None and concerned is not None and concerned.anyone else None
    homes_params = wanted.params() | homes.params() if wanted is not None else {}
    if _in_one_statement(session):
        params = values | homes_params | ({"rows": outbox_store.json_rows(queued)} if queued else {})
        statement = _flag_in_one_statement(tuple(values), wanted and wanted.watching,
                                           tuple(queued[0]) if queued else None)
        row = precompiled.first(session.connection(), statement, params)
        return replace(state, id=row["id"], number=row["number"]) if row is not None else None
    number = _next_number(session, state.workspace_id)
    connection = session.connection()
    incident_id = connection.execute(_statement(session, "incident"), values | {"number": number}).scalar_one_or_none()
    if incident_id is None:
        return None
    connection.execute(_INSERT_STEP, {"incident_id": incident_id, "seq": 0, "step": StepKey.CLAIM.value,
                                      "status": "current", "started_at": now, "due_at": state.step_due_at})
    add_events(session, incident_id, [Event(EventKind.CREATED, now, state.flagged_by)])
    outbox_store.queue_written(session, queued, incident_id)
    if wanted is not None:
        queue_homes(session, wanted, homes)
    return replace(state, id=incident_id, number=number)


def apply_decision(session: Session, before: IncidentState, decision: Decision, *, expected_version: int,
                   now: datetime, next_alert: tuple[datetime | None, str | None],
                   concerned: viewer_store.Concerned | None = None, homes: outbox_store.Keyed | None = None,
                   ) -> bool:
    """Write the decided state, and its next alert, if nobody changed the incident since we
    read it (False: someone did, and the caller must roll back); with it, the outbox rows
    queued for it in this transaction (queue them first: bot/announce.py) and, with
    ``homes``, the Home republishes of those ``concerned`` who opened theirs. On PostgreSQL
    in one statement where it can be (``_apply_in_one_statement``)."""
    connection = session.connection()
    applied = {**_column_values(decision.state), "b_id": before.id, "b_version": expected_version,
               "new_version": expected_version + 1, "now": now, "next_alert_at": next_alert[0],
               "next_alert_kind": next_alert[1]}
    wanted = concerned if homes is not None and concerned is not None and concerned.anyone else None
    homes_params = wanted.params() | homes.params() if wanted is not None else {}
    if _in_one_statement(session):
        return _apply_in_one_statement(session, before, decision, applied, wanted, homes_params)
    if connection.execute(_APPLY, applied).rowcount != 1:
        return False
    if wanted is not None:
        queue_homes(session, wanted, homes)
    ended = decision.ended_step
    if ended is not None:
        connection.execute(_END_STEP, {"b_incident": before.id, "b_seq": ended.seq, "status": ended.result,
                            "ended_at": ended.at, "ended_by": ended.by, "note": ended.note or None})
    if decision.new_step:
        state = decision.state
        connection.execute(_INSERT_STEP, {"incident_id": before.id, "seq": state.step_seq,
                                          "step": state.current_step.value, "status": "current",
                                          "started_at": state.step_started_at, "due_at": state.step_due_at})
    _store_details(session, before, decision.state)
    add_events(session, before.id, decision.events)
    return True


def _apply_in_one_statement(session: Session, before: IncidentState, decision: Decision, applied: dict,
                            wanted: viewer_store.Concerned | None, homes_params: dict) -> bool:
    """PostgreSQL: ``apply_decision``'s writes in one round trip where they can be: the
    conditional UPDATE, and, only if it won, the step it ended, the step it started, a lone
    event, the outbox rows queued and the Homes' republishes. Two or more events follow in a
    statement of their own, since the parts of one statement run in no set order and a
    timeline is read in the order its events were written."""
    ended, state = decision.ended_step, decision.state
    params = dict(applied)
    if ended is not None:
        params |= {"end_seq": ended.seq, "end_status": ended.result, "end_at": ended.at, "end_by": ended.by,
                   "end_note": ended.note or None}
    if decision.new_step:
        params |= {"new_seq": state.step_seq, "new_step": state.current_step.value,
                   "new_started_at": state.step_started_at, "new_due_at": state.step_due_at}
    lone = decision.events[0] if len(decision.events) == 1 else None
    if lone is not None:
        params |= {"event_at": lone.at, "event_actor": lone.actor, "event_kind": lone.kind.value,
                   "event_data": lone.to_data()}
    queued = outbox_store.take_queued(session)
    params |= homes_params | ({"rows": outbox_store.json_rows(queued)} if queued else {})
    statement = _decision_statement(ended is not None, decision.new_step, lone is not None,
                                    wanted and wanted.watching, tuple(queued[0]) if queued else None)
    if precompiled.first(session.connection(), statement, params)["applied"] != 1:
        return False
    _store_details(session, before, state)
    if lone is None:
        add_events(session, before.id, decision.events)
    return True


@functools.cache
def _decision_statement(ends_step: bool, starts_step: bool, one_event: bool,  # noqa: ANN202 - select with CTEs
                        watching: bool | None, queued: tuple[str, ...] | None):
    applied = _APPLY.returning(Incident.__table__.c.id).cte("applied")
    won = select(applied.c.id)
    steps, events = StepRecord.__table__.c, TimelineEvent.__table__.c
    parts = []
    if ends_step:
        parts.append(update(StepRecord).where(col(StepRecord.incident_id).in_(won),
                                              StepRecord.seq == bindparam("end_seq")).values(
            status=bindparam("end_status"), ended_at=bindparam("end_at", type_=steps.ended_at.type),
            ended_by=bindparam("end_by"), note=bindparam("end_note")).cte("ended"))
    if starts_step:
        parts.append(insert(StepRecord).from_select(
            ["incident_id", "seq", "step", "status", "started_at", "due_at"],
            select(applied.c.id, bindparam("new_seq", type_=steps.seq.type), bindparam("new_step", type_=steps.step.type),
                   outbox_store.written_in("current"), bindparam("new_started_at", type_=steps.started_at.type),
                   bindparam("new_due_at", type_=steps.due_at.type))).cte("started"))
    if one_event:
        parts.append(insert(TimelineEvent).from_select(
            ["incident_id", "at", "actor", "kind", "data"],
            select(applied.c.id, bindparam("event_at", type_=events.at.type),
                   bindparam("event_actor", type_=events.actor.type), bindparam("event_kind", type_=events.kind.type),
                   bindparam("event_data", type_=events.data.type))).cte("event"))
    if queued is not None:
        parts.append(outbox_store.insert_queued(queued, after=applied).cte("queued_out"))
    if watching is not None:
        parts.append(_homes(True, watching, when=won.exists()).cte("homes"))
    statement = select(func.count().label("applied")).select_from(applied)
    for part in parts:
        statement = statement.add_cte(part)
    return statement


_DETAIL_FIELDS = ("summary", "customer_name", "contact_channel", "severity", "category")
"""What the flag recorded and Edit details may change: written only when a decision changed
them, so that a decision never writes back a summary the card's enrichment filled in after
the incident was read."""


def written_in_one_statement(before: IncidentState, decision: Decision) -> bool:
    """Whether the service's writes for ``decision`` (bot/service.py ``_write``) are one
    statement on PostgreSQL, ``apply_decision``'s: it starts a step (so no reminder of the new
    one is out to look up), calls nobody, hands nothing over, records at most one event and
    changes none of the details."""
    return (decision.new_step and not decision.escalate_now and not decision.handed_over
            and len(decision.events) <= 1 and not _changed_details(before, decision.state))


def _changed_details(before: IncidentState, after: IncidentState) -> dict[str, object]:
    return {name: getattr(after, name) for name in _DETAIL_FIELDS if getattr(after, name) != getattr(before, name)}


def _store_details(session: Session, before: IncidentState, after: IncidentState) -> None:
    changed = _changed_details(before, after)
    if "severity" in changed:
        changed["severity"] = after.severity.value
    if changed:
        session.connection().execute(update(Incident).where(Incident.id == before.id).values(**changed))


def _empty(column):  # noqa: ANN001, ANN202 - a column in, a SQL condition out
    return or_(col(column).is_(None), column == "")


def _fill(column, value, condition=None):  # noqa: ANN001, ANN202 - SQL expressions in and out
    """The column, or the value when the column is empty (and the value is given)."""
    return case((condition if condition is not None else _empty(column), func.coalesce(value, column)),
                else_=column)


_EXCERPT = bindparam("b_excerpt", type_=Text)
_PERMALINK = bindparam("b_permalink", type_=Text)


def origin_filled(*, excerpt: ColumnElement, permalink: ColumnElement) -> dict[str, ColumnElement]:
    """An UPDATE's values that fill in what the flag event did not carry from ``excerpt`` and
    ``permalink`` (SQL values): only empty fields take a value, and a summary still empty takes
    the excerpt. The database decides what is empty (each SET sees the row as it was)."""
    return {"excerpt": _fill(Incident.excerpt, excerpt),
            "summary": _fill(Incident.summary, excerpt, _empty(Incident.excerpt) & _empty(Incident.summary)),
            "permalink": _fill(Incident.permalink, permalink)}


_FILL_ORIGIN = update(Incident).where(Incident.id == bindparam("b_id")).values(
    **origin_filled(excerpt=_EXCERPT, permalink=_PERMALINK))


def update_origin_details(session: Session, incident_id: int, *, excerpt: str | None,
                          permalink: str | None) -> None:
    """Fill in what the flag event did not carry; a summary still empty takes the excerpt.

    One UPDATE, built once, that decides in the database what is still empty (each SET
    sees the row as it was): nothing is loaded for it."""
    if excerpt or permalink:
        session.connection().execute(_FILL_ORIGIN, {"b_id": incident_id, "b_excerpt": excerpt or None,
                                                    "b_permalink": permalink or None})


def add_events(session: Session, incident_id: int, events: tuple[Event, ...] | list[Event]) -> None:
    if events:
        session.connection().execute(_INSERT_EVENT, [
            {"incident_id": incident_id, "at": event.at, "actor": event.actor, "kind": event.kind.value,
             "data": event.to_data()} for event in events])


def events_of(session: Session, incident_id: int) -> list[Event]:
    rows = session.exec(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
                        .order_by(col(TimelineEvent.id))).all()
    return [Event.from_data(row.kind, row.at, row.actor, row.data) for row in rows]


def step_message_ts(session: Session, incident_id: int, seq: int, *, approval: bool = False) -> str | None:
    """The ts of a step's prompt, or of its approval request, for chat.update."""
    column = StepRecord.approval_ts if approval else StepRecord.message_ts
    return session.exec(select(column).where(StepRecord.incident_id == incident_id, StepRecord.seq == seq)).first()


def set_step_message_ts(session: Session, incident_id: int, seq: int, ts: str, *, approval: bool = False) -> None:
    values = {"approval_ts": ts} if approval else {"message_ts": ts}
    session.exec(update(StepRecord).where(StepRecord.incident_id == incident_id, StepRecord.seq == seq)
                 .values(**values))


_SET_CARD = _FILL_ORIGIN.values(card_channel=bindparam("b_channel"), card_ts=bindparam("b_ts"))


def set_card(session: Session, incident_id: int, *, channel: str, ts: str, excerpt: str | None = None,
             permalink: str | None = None) -> None:
    """Where the card is, with what its sender fetched of the flagged message
    (``update_origin_details``) in the same UPDATE."""
    session.connection().execute(_SET_CARD, {"b_id": incident_id, "b_channel": channel, "b_ts": ts,
                                             "b_excerpt": excerpt or None, "b_permalink": permalink or None})


def list_incidents(connection: Connection, *, workspace_id: str, scope: str, user_id: str,
                   now: datetime) -> list[IncidentState]:
    """Open incidents of a scope, newest first; "overdue" is `timing.is_overdue` in SQL: past
    the due time and not snoozed, a snooze whose end has passed counting as none. One
    statement, so it needs no transaction around it (``Database.one_statement``)."""
    rows = precompiled.rows(connection, _LIST[scope], {"workspace_id": workspace_id, "user_id": user_id, "now": now})
    return [to_state(row) for row in rows]


def _listed(*conditions: ColumnElement[bool]) -> Select:
    """Built once per scope, and read as plain columns: `/recovery list` is a quarter of what
    the ack benchmark sends, and the ORM's objects cost more than the query."""
    return (select(*Incident.__table__.columns)
            .where(Incident.workspace_id == bindparam("workspace_id"), Incident.status == Status.OPEN.value, *conditions)
            .order_by(col(Incident.number).desc()).limit(LIST_LIMIT))


_NOW = bindparam("now", type_=Incident.__table__.c.step_due_at.type)
_LIST = {
    "open": _listed(),
    "mine": _listed(Incident.owner_id == bindparam("user_id")),
    "unclaimed": _listed(col(Incident.owner_id).is_(None)),
    "overdue": _listed(col(Incident.step_due_at) < _NOW,
                       or_(col(Incident.snoozed_until).is_(None), col(Incident.snoozed_until) <= _NOW)),
}



def stats_totals(session: Session, *, workspace_id: str, window: StatsWindow) -> StatsTotals:
    """`/recovery stats`: the workspace's figures added up where the rows are. The same
    incidents as the digest reads (open, or flagged, closed or resolved since the period
    before the window began), but only counts and sums, the middle durations, and a row per
    root cause and per step come back: sending every incident and step record to Python
    cost seconds at 100,000 incidents. Two statements: the counts, and the rest, which reads
    the touched incidents once (a CTE) for the durations, the causes and the steps."""
    touched = _touched_since(window.before, channel=None, workspace_id=workspace_id)
    connection = session.connection()
    counts = connection.execute(_stats_counts(touched, window)).one()._asdict()
    cents = counts.pop("remedy_cents")
    incidents = _stats_incidents(touched, window, _micros(connection.dialect.name))
    found: dict[str, list[Row]] = {"middle": [], "cause": [], "step": []}
    for row in connection.execute(union_all(_middle_rows(incidents), _cause_rows(incidents),
                                            _step_rows(incidents, window))):
        found[row.kind].append(row)
    return StatsTotals(
        **counts,
        **_middles(found["middle"]),
        remedy_spend=Decimal(cents).scaleb(-2) if cents is not None else Decimal(0),
        causes=tuple((row.name, row.value) for row in found["cause"]),
        step_ends={row.name: StepEnds(row.value, row.extra) for row in found["step"]},
    )


def _in(column: ColumnElement, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.count(case((condition, 1)))


def _stats_counts(touched: ColumnElement[bool], window: StatsWindow) -> Select:
    """One pass over the touched incidents for every count and sum; the remedy spend in
    whole cents, which SQLite (whose numbers are floats) adds up exactly too. Each figure's
    period is a CASE, not part of the WHERE: with the WHERE's OR of one index per way an
    incident is touched, SQLite tested such a term per index and read the rows again."""
    start, end = window.start, window.end
    is_open = Incident.status == Status.OPEN.value
    followed_up = _in(Incident.closed_at, start, end)
    spent = and_(_in(Incident.buy_in_at, start, end), col(Incident.remedy_amount).is_not(None),
                 or_(col(Incident.approval).is_(None), col(Incident.approval).not_in(UNCOUNTED_APPROVALS)))
    cents = cast(func.round(Incident.remedy_amount * 100), BigInteger)
    return select(
        _count_if(_in(Incident.created_at, start, end)).label("flagged"),
        _count_if(_in(Incident.buy_in_at, start, end)).label("resolved"),
        _count_if(and_(Incident.status == Status.CLOSED.value, followed_up)).label("closed"),
        _count_if(and_(Incident.status == Status.CANCELLED.value, followed_up)).label("cancelled"),
        _count_if(is_open).label("open_now"),
        _count_if(and_(is_open, col(Incident.owner_id).is_(None))).label("unclaimed_now"),
        _count_if(and_(is_open, col(Incident.step_due_at) < end, or_(
            col(Incident.snoozed_until).is_(None), col(Incident.snoozed_until) <= end))).label("overdue_now"),
        func.coalesce(func.sum(case((followed_up, Incident.csat))), 0).label("satisfaction_total"),
        func.count(case((followed_up, Incident.csat))).label("satisfaction_answers"),
        _count_if(and_(followed_up, Incident.buy_again == "yes")).label("buy_again_yes"),
        func.count(case((followed_up, Incident.buy_again))).label("buy_again_answers"),
        func.sum(case((spent, cents))).label("remedy_cents"),
        _count_if(and_(spent, or_(col(Incident.remedy_kind).is_(None), Incident.remedy_kind != "none")))
        .label("remedy_count"),
    ).where(touched)


_SERIES = {"time_to_claim": "claimed_at", "time_to_acknowledge": "acknowledged_at", "time_to_resolve": "buy_in_at"}
"""The medians' series: from the flag to this moment of the incident."""


def _stats_incidents(touched: ColumnElement[bool], window: StatsWindow,
                     micros: Callable[[ColumnElement], ColumnElement[int]]) -> CTE:
    """The touched incidents, read once: each series' duration in microseconds where its
    moment fell in the window or the period before (else NULL) and whether in the window;
    the root cause and whether it was named in the window (at the last fix done, or at the
    flag without one)."""
    ends = _step_ends(touched)
    moments = {"claimed_at": Incident.claimed_at, "acknowledged_at": ends.c.acknowledged_at,
               "buy_in_at": Incident.buy_in_at}
    columns = [Incident.id, Incident.root_cause,
               case((_in(func.coalesce(ends.c.fixed_at, Incident.created_at), window.start, window.end), 1),
                    else_=0).label("cause_named")]
    for name, moment in moments.items():
        columns += [case((_in(moment, window.before, window.end), micros(moment) - micros(Incident.created_at)))
                    .label(f"{name}_took"), case((moment >= window.start, 1), else_=0).label(f"{name}_current")]
    return (select(*columns).select_from(outerjoin(Incident, ends, ends.c.incident_id == Incident.id))
            .where(touched).cte("touched_incidents"))


def _rows(kind: str | ColumnElement, name: ColumnElement, current: ColumnElement | int, value: ColumnElement,
          extra: ColumnElement | int) -> list[ColumnElement]:
    """The columns every part of the statement returns, so that they make one UNION."""
    return [(kind if isinstance(kind, ColumnElement) else literal(kind)).label("kind"),
            cast(name, Text).label("name"), literal(current) if isinstance(current, int) else current.label("current"),
            cast(value, BigInteger).label("value"), (literal(extra) if isinstance(extra, int) else extra).label("extra")]


def _middle_rows(incidents: CTE) -> Select:
    """The middle one or two durations of each series in each period, ranked in the
    database (window functions); the median of those is the median of all."""
    durations = union_all(*(
        select(literal(series).label("series"), incidents.c[f"{moment}_current"].label("current"),
               incidents.c[f"{moment}_took"].label("took")).where(incidents.c[f"{moment}_took"].is_not(None))
        for series, moment in _SERIES.items())).subquery()
    by = (durations.c.series, durations.c.current)
    ranked = select(*by, durations.c.took,
                    func.row_number().over(partition_by=by, order_by=durations.c.took).label("rank"),
                    func.count().over(partition_by=by).label("size")).subquery()
    return (select(*_rows("middle", ranked.c.series, ranked.c.current, ranked.c.took, 0))
            .where(2 * ranked.c.rank >= ranked.c.size, 2 * ranked.c.rank <= ranked.c.size + 2))


def _cause_rows(incidents: CTE) -> Select:
    """Root causes as recorded, with how often each was named in the window; trimming and
    ranking them is the domain's."""
    named = func.sum(incidents.c.cause_named)
    return (select(*_rows("cause", incidents.c.root_cause, 0, named, 0))
            .where(incidents.c.root_cause.is_not(None)).group_by(incidents.c.root_cause).having(named > 0))


def _step_rows(incidents: CTE, window: StatsWindow) -> Select:
    """Per step, its instances ended (done or skipped) in the window, and how many of those
    by their due time."""
    ended = and_(col(StepRecord.status).in_(ENDED_RESULTS), _in(col(StepRecord.ended_at), window.start, window.end))
    in_time = or_(col(StepRecord.due_at).is_(None), col(StepRecord.ended_at) <= col(StepRecord.due_at))
    return (select(*_rows("step", StepRecord.step, 0, _count_if(ended), _count_if(and_(ended, in_time))))
            .select_from(join(incidents, StepRecord, StepRecord.incident_id == incidents.c.id))
            .group_by(StepRecord.step))


def _middles(rows: list[Row]) -> dict[str, Middles]:
    found: dict[tuple[str, int], list[timedelta]] = {}
    for row in rows:
        found.setdefault((row.name, row.current), []).append(timedelta(microseconds=row.value))
    return {series: Middles(current=tuple(found.get((series, 1), ())), previous=tuple(found.get((series, 0), ())))
            for series in _SERIES}


def _micros(dialect: str) -> Callable[[ColumnElement], ColumnElement[int]]:
    """A stored time as whole microseconds since the epoch: PostgreSQL's EXTRACT is exact;
    SQLite keeps the text SQLAlchemy wrote ('2026-11-02 08:00:00.000250'), whose date
    functions round to milliseconds, so the seconds and the fraction are read apart."""
    if dialect == "postgresql":
        return lambda moment: cast(extract("epoch", moment) * 1_000_000, BigInteger)

    def sqlite_micros(moment: ColumnElement) -> ColumnElement[int]:
        seconds = cast(func.strftime("%s", func.substr(moment, 1, 19)), BigInteger)
        fraction = cast(func.substr(func.substr(moment, 21).op("||")("000000"), 1, 6), BigInteger)
        return seconds * 1_000_000 + fraction
    return sqlite_micros


def rollup_workspaces(session: Session) -> dict[str, datetime]:
    """Every workspace with incidents, with when its first was flagged (the leads' roll-up
    waits for a DIGEST_TIME after it, as a channel's digest does): one pass over
    ix_incident_workspace_created."""
    rows = session.exec(select(Incident.workspace_id, _aware(func.min(Incident.created_at))).where(_NOT_PAUSED)
                        .group_by(Incident.workspace_id)).all()
    return dict(sorted(rows))
