"""The outbox table's queries: queue in the caller's transaction, lease, settle.

A row is only ever sent by whoever holds its lease; the lease is taken with a
conditional UPDATE so two senders (threads or replicas) never send the same row.
"""
from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement, CompoundSelect, FromClause, Insert, Integer, Row, Select, Text, TextClause, Update, any_, bindparam,
    case, cast, delete, event, exists, false, func, insert, literal_column, or_, select, text, true, tuple_, union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as SqlSession
from sqlmodel import Session, col
from sqlmodel import select as model_select

from storage.models import OutboxMessage, UTCDateTime
from storage.workspace_store import paused

PENDING, IN_FLIGHT, SENT, DEAD = "pending", "in_flight", "sent", "dead"
# Parked: Slack refused the row until something changes (bot/refusals.py); never due on a
# timer, and not done, so the later rows of its incident wait behind it.
PARKED = "parked"
DONE_STATES = (SENT, DEAD)


@dataclass(frozen=True, slots=True)
class Leased:
    """A row this sender now owns; ``uncertain`` means an earlier attempt died mid-call."""

    id: int
    workspace_id: str
    incident_id: int | None
    step_seq: int | None
    kind: str
    channel: str | None
    user_id: str | None
    payload: dict
    attempts: int
    uncertain: bool
    created_at: datetime


_INSERT = insert(OutboxMessage)
_OUTBOX = OutboxMessage.__table__
_QUEUED = "recovery_outbox_queued"
# The incident id of rows queued for an incident a flag has not yet written (on PostgreSQL its
# own statement writes them: ``take_unwritten``). No incident has it: ids start at 1.
UNWRITTEN = 0
_UNWRITTEN_KEY = f":{UNWRITTEN}"  # how an ordering key made from the incident's id ends meanwhile


def enqueue(session: Session, *, workspace_id: str, kind: str, now: datetime, payload: dict | None = None,
            incident_id: int | None = None, step_seq: int | None = None, channel: str | None = None,
            user_id: str | None = None, dedupe_key: str | None = None, ordering_key: str | None = None,
            due: datetime | None = None) -> None:
    """Messages about one incident share an ordering key, so they leave in the order written.
    A row that must not wait behind them, nor hold them back, names a key of its own.
    ``due``: not before then (a debounced row); now when not given.

    Rows queued one after another are written together, in one statement, before the
    transaction's next statement or its commit (a flag queues three or four: one round trip
    instead of one each). Whatever runs next in the transaction sees them."""
    ordering_key = ordering_key or (f"incident:{incident_id}" if incident_id is not None
                                    else f"solo:{uuid.uuid4().hex}")
    session.connection().info.setdefault(_QUEUED, []).append({
        "workspace_id": workspace_id, "incident_id": incident_id, "step_seq": step_seq, "kind": kind,
        "channel": channel, "user_id": user_id, "payload": json.dumps(payload or {}), "dedupe_key": dedupe_key,
        "ordering_key": ordering_key, "state": PENDING, "attempts": 0, "uncertain": False,
        "next_attempt_at": due or now, "created_at": now,
    })


def _write_queued(connection: Connection) -> None:
    queued = connection.info.pop(_QUEUED, None)
    if not queued:
        return
    if any(row["incident_id"] == UNWRITTEN for row in queued):
        raise RuntimeError("outbox rows of an incident not yet written: its own statement writes them (take_unwritten)")
    if connection.dialect.name == "postgresql":
        connection.execute(_insert_from_json(tuple(queued[0])), {"rows": json_rows(queued)})
    else:
        connection.execute(_INSERT, queued)


def take_queued(session: Session) -> list[dict]:
    """The rows queued in ``session`` and not yet written, taken out of the queue for a
    statement of the caller's to write (``insert_queued``): a decision's, which writes them
    only if it wins (storage/repository.py)."""
    return session.connection().info.pop(_QUEUED, [])


def take_unwritten(session: Session) -> list[dict]:
    """``take_queued`` for the statement that writes their incident (``incident_id=UNWRITTEN``),
    so that a flag on PostgreSQL is one statement. Every row queued must be one of them."""
    queued = take_queued(session)
    if any(row["incident_id"] != UNWRITTEN for row in queued):
        raise RuntimeError("only an unwritten incident's outbox rows can go with its statement")
    return queued


def queue_written(session: Session, queued: list[dict], incident_id: int) -> None:
    """Queue again the rows ``take_unwritten`` took, their incident now written as
    ``incident_id`` (where its statement could not write them: SQLite)."""
    for row in queued:
        row["incident_id"] = incident_id
        if row["ordering_key"].endswith(_UNWRITTEN_KEY):
            row["ordering_key"] = row["ordering_key"].removesuffix(_UNWRITTEN_KEY) + f":{incident_id}"
    session.connection().info.setdefault(_QUEUED, []).extend(queued)


def json_rows(queued: list[dict]) -> str:
    """Queued rows as the one JSON parameter ``_QUEUED_ROWS`` unpacks."""
    return json.dumps(queued, default=naive_utc)


def naive_utc(value: datetime) -> str:
    """A time as the column stores it (UTCDateTime: naive UTC; a naive time given is refused)."""
    return _STORED_TIME.process_bind_param(value, None).isoformat()


_STORED_TIME = UTCDateTime()


@functools.cache
def _insert_from_json(names: tuple[str, ...]) -> TextClause:
    """PostgreSQL: the queued rows as one JSON parameter, unpacked by the server in the order
    queued (so their ids, which order an incident's messages, follow it). As an executemany,
    SQLAlchemy and psycopg processed every row's fourteen parameters in Python: a tenth of
    the ack path's CPU on PostgreSQL (py-spy --gil, issue 17). ``names``: the columns
    ``enqueue`` fills, in its order."""
    columns = ", ".join(names)
    return text(f"INSERT INTO {_OUTBOX.name} ({columns}) SELECT {columns} FROM {_QUEUED_ROWS.text} "
                "ORDER BY ordinality")


# The JSON parameter ``rows`` (``json_rows``) as a table ``queued``: each row typed as an
# outbox row (a key left out is NULL), with ``ordinality``, its place in the queue. Typed by
# the table, not by a column list: the flag's and the decision's statements stay under 4 KB,
# the longest psycopg keeps converted (above it, turning their parameters into PostgreSQL's
# took 0.2 ms of the ack's CPU at every run).
_QUEUED_ROWS = text(f"ROWS FROM (jsonb_populate_recordset(NULL::{_OUTBOX.name}, CAST(:rows AS jsonb))) "
                    "WITH ORDINALITY AS queued")


def insert_queued(names: tuple[str, ...], *, after: FromClause, incident_id: ColumnElement | None = None) -> Insert:
    """PostgreSQL: the rows ``take_queued`` took (the parameter ``rows``, ``json_rows``), as
    a part of a statement that writes them only if its part ``after`` (a CTE of one row or
    none) wrote something. In queue order. With ``incident_id`` (a column of ``after``) they
    are ``take_unwritten``'s, and the id replaces UNWRITTEN in each row's incident and in its
    ordering key (``incident:0`` becomes ``incident:<id>``), as ``queue_written`` does."""
    queued = {name: literal_column(f"queued.{name}") for name in names}
    if incident_id is not None:
        queued["incident_id"] = incident_id
        queued["ordering_key"] = func.regexp_replace(queued["ordering_key"], f"{_UNWRITTEN_KEY}$",
                                                     literal_column("':'") + cast(incident_id, Text))
    rows = (select(*(queued[name] for name in names)).select_from(after)
            .select_from(_QUEUED_ROWS).order_by(literal_column("queued.ordinality")))
    return insert(_OUTBOX).from_select(list(names), rows)


@dataclass(frozen=True, slots=True)
class Keyed:
    """Rows of ``kind``, one per person, keyed ``prefix`` + their user id and due at ``due``,
    queued at ``now``, for a statement that finds the people itself (``insert_keyed``)."""

    workspace_id: str
    kind: str
    prefix: str
    due: datetime
    now: datetime

    def params(self) -> dict[str, object]:
        """Named apart from every table's columns: a statement that updates a table (a
        decision's) would take a parameter named like one of its columns as a value to set."""
        return {"k_workspace_id": self.workspace_id, "k_kind": self.kind, "k_prefix": self.prefix,
                "k_due": self.due, "k_now": self.now}


def insert_keyed(users: ColumnElement, *, when: ColumnElement) -> Insert:
    """``Keyed`` rows (its ``params``) for each of ``users`` (a subquery's column of user ids)
    with none of their kind pending under their key yet (a later one would add nothing: the
    row is rendered when sent), if ``when`` holds."""
    kind = bindparam("k_kind", type_=_OUTBOX.c.kind.type)
    key = bindparam("k_prefix", type_=_OUTBOX.c.ordering_key.type) + users
    rows = select(bindparam("k_workspace_id", type_=_OUTBOX.c.workspace_id.type), kind, users, key,
                  written_in("{}"), written_in(PENDING), literal_column("0"), false(),
                  bindparam("k_due", type_=_OUTBOX.c.next_attempt_at.type),
                  bindparam("k_now", type_=_OUTBOX.c.created_at.type),
                  ).where(when, ~exists().where(_OUTBOX.c.ordering_key == key, _OUTBOX.c.kind == kind,
                                                _OUTBOX.c.state == written_in(PENDING)))
    return insert(_OUTBOX).from_select(["workspace_id", "kind", "user_id", "ordering_key", "payload", "state",
                                        "attempts", "uncertain", "next_attempt_at", "created_at"], rows)


@event.listens_for(Engine, "before_execute")
def _before_next_statement(connection: Connection, *_statement: object) -> None:
    if connection.info.get(_QUEUED):
        _write_queued(connection)


@event.listens_for(SqlSession, "before_commit")
def _before_commit(session: SqlSession) -> None:
    transaction = session.get_transaction()
    for connection in transaction.connections if transaction is not None else ():
        _write_queued(connection)


@event.listens_for(Engine, "rollback")
def _forget_on_rollback(connection: Connection) -> None:
    connection.info.pop(_QUEUED, None)


_EARLIER = _OUTBOX.alias("earlier")
_LEASED_COLUMNS = (_OUTBOX.c.id, _OUTBOX.c.workspace_id, _OUTBOX.c.incident_id, _OUTBOX.c.step_seq, _OUTBOX.c.kind,
                   _OUTBOX.c.channel, _OUTBOX.c.user_id, _OUTBOX.c.payload, _OUTBOX.c.attempts, _OUTBOX.c.uncertain,
                   _OUTBOX.c.created_at)


def written_in(value: str | tuple[str, ...]) -> ColumnElement | list[ColumnElement]:
    """A constant written into the SQL itself, not sent as a parameter. PostgreSQL plans a
    statement prepared by psycopg once for all parameters after its fifth run (a generic
    plan): with the states as parameters it could not tell that "not sent nor dead" is a
    handful of rows, and the sender's due-rows query came to scan the whole outbox once per
    row it returned (measured: 16 ms instead of 0.2 ms with 9,000 rows, every few
    milliseconds under a sustained 100 flags/s). Written when the statement is compiled,
    which SQLAlchemy does once, and not at each run (a literal-execute parameter's
    post-compilation was 5 % of the background's CPU under the ack benchmark). Also for a
    constant of a long statement: psycopg keeps the conversion of a statement's parameters
    only for statements of at most 50 (a decision's was 53: 0.2 ms of the ack's CPU)."""
    if isinstance(value, tuple):
        return [literal_column(f"'{member}'") for member in value]
    return literal_column(f"'{value}'")


_NOT_FIRST = exists().where(
    _EARLIER.c.ordering_key == _OUTBOX.c.ordering_key,
    _EARLIER.c.id < _OUTBOX.c.id,
    _EARLIER.c.state.not_in(written_in(DONE_STATES)),
)
_DUE_COLUMNS = (_OUTBOX.c.id, _OUTBOX.c.workspace_id, _OUTBOX.c.kind, _OUTBOX.c.channel)
# An uninstalled workspace's rows wait, neither sent nor failed, until it is installed again.
_NOT_PAUSED = ~paused(_OUTBOX.c.workspace_id)
_PENDING_DUE = (select(*_DUE_COLUMNS, _OUTBOX.c.next_attempt_at)
                .where(_OUTBOX.c.state == written_in(PENDING), _OUTBOX.c.next_attempt_at <= bindparam("now"),
                       ~_NOT_FIRST, _NOT_PAUSED)
                .order_by(_OUTBOX.c.next_attempt_at).limit(bindparam("limit")))
_LEASE_EXPIRED = (select(*_DUE_COLUMNS, _OUTBOX.c.next_attempt_at)
                  .where(_OUTBOX.c.state == written_in(IN_FLIGHT), _OUTBOX.c.lease_until < bindparam("now"),
                         ~_NOT_FIRST, _NOT_PAUSED)
                  .limit(bindparam("limit")))
# Ready to lease, written as one CASE that no index matches: the rows can then only be found
# by their ids, through the primary key. As plain conditions on the state, PostgreSQL, whose
# statistics lag a burst (pending rows look rare), went through the due index instead and
# read every pending row to find the few asked for (1.3 ms a lease, 54 ms at worst).
_READY = case((_OUTBOX.c.state == PENDING, _OUTBOX.c.next_attempt_at <= bindparam("now")),
              (_OUTBOX.c.state == IN_FLIGHT, _OUTBOX.c.lease_until < bindparam("now")), else_=False)
_LEASE_VALUES = dict(state=IN_FLIGHT, lease_until=bindparam("until"), attempts=_OUTBOX.c.attempts + 1,
                     uncertain=or_(_OUTBOX.c.state == IN_FLIGHT, _OUTBOX.c.uncertain))
_ASKED = _OUTBOX.c.id.in_(bindparam("ids", expanding=True))
_LEASE = update(_OUTBOX).where(_ASKED, _READY, _NOT_PAUSED).values(**_LEASE_VALUES).returning(*_LEASED_COLUMNS)


def _lease_unlocked(asked: ColumnElement[bool]) -> Update:
# PostgreSQL: rows another sender is leasing right now are passed over, not waited for. The
# sender threads read the same due rows; without SKIP LOCKED each waited for the others'
# leases to commit, only to find those rows taken ("UPDATE waiting" under 100 flags/s).
# The asked ids stay in the outer WHERE too: with only the subquery there, a planner whose
# statistics lag a burst (few pending rows, it believes) joined it against every pending row.
    unlocked = select(_OUTBOX.c.id).where(asked, _READY).with_for_update(skip_locked=True).scalar_subquery()
    return update(_OUTBOX).where(asked, _OUTBOX.c.id.in_(unlocked), _READY, _NOT_PAUSED).values(**_LEASE_VALUES)


_LEASE_UNLOCKED = _lease_unlocked(_ASKED).returning(*_LEASED_COLUMNS)
# The sender's lease on PostgreSQL: the ids as one array parameter (an expanding IN is
# compiled again at each run for its number of ids), returning the rows' ordering keys too.
LEASE_ASKED = _lease_unlocked(_OUTBOX.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(Integer)))).returning(
    *_LEASED_COLUMNS, _OUTBOX.c.ordering_key)
LEASED_COLUMNS = tuple(column.name for column in _LEASED_COLUMNS)
_CONFIRM = (update(_OUTBOX).where(tuple_(_OUTBOX.c.id, _OUTBOX.c.attempts).in_(bindparam("held", expanding=True)),
                                  _OUTBOX.c.state == IN_FLIGHT)
            .values(lease_until=bindparam("until")).returning(_OUTBOX.c.id, _OUTBOX.c.attempts))
_SETTLE = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
_MARK_SENT = _SETTLE.values(state=SENT, sent_at=bindparam("now"), result_ts=bindparam("ts"), lease_until=None,
                            last_error=bindparam("note"), uncertain=False)
_MARK_RETRY = _SETTLE.values(state=PENDING, next_attempt_at=bindparam("at"), lease_until=None,
                             last_error=bindparam("error"), uncertain=bindparam("is_uncertain"))
_MARK_DEAD = _SETTLE.values(state=DEAD, sent_at=bindparam("now"), lease_until=None, last_error=bindparam("error"))
_RELEASE = (update(_OUTBOX).where(tuple_(_OUTBOX.c.id, _OUTBOX.c.attempts).in_(bindparam("held", expanding=True)),
                                  _OUTBOX.c.state == IN_FLIGHT)
            .values(state=PENDING, lease_until=None, attempts=_OUTBOX.c.attempts - 1))


@dataclass(frozen=True, slots=True)
class Due:
    """A row ready to go, with what the sender's pacing reads before leasing it."""

    id: int
    workspace_id: str
    kind: str
    channel: str | None


def due_ids(session: Session, *, now: datetime, limit: int = 50) -> list[int]:
    return [row.id for row in due(session.connection(), now=now, limit=limit)]


def due(connection: Connection, *, now: datetime, limit: int = 50, skip_channels: Iterable[tuple[str, str]] = (),
        skip_kinds: Iterable[str] = ()) -> list[Due]:
    """Rows ready to go: due, not leased by a live sender, and first in their thread.

    ``skip_channels`` ((kind, channel) pairs) and ``skip_kinds`` are rows the sender's pacing
    holds back for now (bot/pacing.py): left out, so that a storm in one channel does not
    fill the ``limit`` while rows for other channels could go.

    Walked in ``next_attempt_at`` order along the index ``(state, next_attempt_at)`` and cut
    off at ``limit``, so only the rows returned (and the few blocked behind an earlier row of
    their incident) are checked, however long the backlog: sorting every due row by id first
    cost 11 ms with 6,000 due. The rows taken are then put in (due time, id) order here.
    Expired leases are few (one per dead holder's row) and come first.

    On PostgreSQL, run on the sender's own connection (``Database.sending``), whose session
    keeps the walk a walk (storage/db.py SENDING_OPTIONS), outside a transaction: the two
    reads may then see a row change state between them, and a row is returned once.
    """
    skipped = _skipped(list(skip_channels), list(skip_kinds))
    # The statements themselves when nothing is skipped: a new statement object has its cache
    # key computed again at each run.
    expired_due = _LEASE_EXPIRED.where(*skipped) if skipped else _LEASE_EXPIRED
    pending_due = _PENDING_DUE.where(*skipped) if skipped else _PENDING_DUE
    params = {"now": now, "limit": limit}
    if connection.dialect.name == "postgresql":
        # One round trip: the two walks as one statement, each still cut off at ``limit``.
        both = _BOTH_DUE if not skipped else _both(expired_due, pending_due)
        rows = connection.execute(both, params).all()
        expired = [row for row in rows if row.expired]
        pending = [row for row in rows if not row.expired]
    else:
        expired = connection.execute(expired_due, params).all()
        pending = connection.execute(pending_due, params | {"limit": limit - len(expired)}).all()
    ordered = (*expired, *sorted(pending, key=lambda row: (row.next_attempt_at, row.id)))[:limit]
    found = {row.id: Due(id=row.id, workspace_id=row.workspace_id, kind=row.kind, channel=row.channel)
             for row in ordered}
    return list(found.values())


def _both(expired: Select, pending: Select) -> CompoundSelect:
    return union_all(expired.add_columns(true().label("expired")), pending.add_columns(false().label("expired")))


_BOTH_DUE = _both(_LEASE_EXPIRED, _PENDING_DUE)


def _skipped(channels: list[tuple[str, str]], kinds: list[str]) -> list:
    conditions = []
    if channels:
        conditions.append(or_(_OUTBOX.c.channel.is_(None), ~tuple_(_OUTBOX.c.kind, _OUTBOX.c.channel).in_(channels)))
    if kinds:
        conditions.append(_OUTBOX.c.kind.not_in(kinds))
    return conditions


def lease_many(session: Session, row_ids: list[int], *, now: datetime, lease_for: timedelta) -> list[Leased]:
    """Take those of the rows still due (or whose holder's lease ran out), in one conditional
    UPDATE; what comes back is what that UPDATE wrote (RETURNING), in id order.

    Never an earlier read: a separate read could be stale under concurrent senders, each of
    which may try the same ids; the WHERE decides who gets a row (and on PostgreSQL, a row
    another sender is leasing at this moment is left to it). Taking over an expired
    lease marks the row uncertain in the table too: the dead holder's call may have reached
    Slack, and that must survive this attempt failing in turn.

    The sender on PostgreSQL leases with ``LEASE_ASKED`` instead, in a statement that also
    reads what sending needs (storage/outbox_lease.py).
    """
    if not row_ids:
        return []
    connection = session.connection()
    statement = _LEASE_UNLOCKED if connection.dialect.name == "postgresql" else _LEASE
    rows = connection.execute(statement, {"ids": row_ids, "now": now, "until": now + lease_for}).all()
    return sorted((leased(row) for row in rows), key=lambda row: row.id)


def leased(row: Row) -> Leased:
    """A row the lease's RETURNING gave (its ``LEASED_COLUMNS``)."""
    return Leased(id=row.id, workspace_id=row.workspace_id, incident_id=row.incident_id, step_seq=row.step_seq,
                  kind=row.kind, channel=row.channel, user_id=row.user_id, payload=json.loads(row.payload),
                  attempts=row.attempts, uncertain=bool(row.uncertain), created_at=row.created_at)


def confirm(session: Session, held: Iterable[tuple[int, int]], *, now: datetime,
            lease_for: timedelta) -> set[tuple[int, int]]:
    """Renew the leases on the rows held (id, attempts) that are still this sender's, and say
    which those are, as (id, attempts). A row is still ours while it is in flight with the
    attempt count our lease gave it: a sender that took it over after our lease ran out (another
    process, or another sender thread of this one) counted another attempt."""
    held = list(held)
    if not held:
        return set()
    return {(row_id, attempts) for row_id, attempts in
            session.connection().execute(_CONFIRM, {"held": held, "until": now + lease_for})}


def release(session: Session, rows: list[Leased]) -> None:
    """Give back leased rows never tried (the sender is stopping), those still ours: due
    again at once, as uncertain as they were, and this attempt not counted."""
    if rows:
        session.connection().execute(_RELEASE, {"held": [(row.id, row.attempts) for row in rows]})


def mark_sent(session: Session, row_id: int, *, now: datetime, ts: str | None, note: str | None = None) -> None:
    session.connection().execute(_MARK_SENT, {"row_id": row_id, "now": now, "ts": ts,
                                              "note": note[:500] if note else None})


def mark_retry(session: Session, row_id: int, *, at: datetime, error: str, uncertain: bool) -> None:
    """``uncertain``: the call may have reached Slack (a timeout), so look before resending."""
    session.connection().execute(_MARK_RETRY, {"row_id": row_id, "at": at, "error": error[:500],
                                               "is_uncertain": uncertain})


def mark_dead(session: Session, row_id: int, *, now: datetime, error: str) -> None:
    session.connection().execute(_MARK_DEAD, {"row_id": row_id, "now": now, "error": error[:500]})


def superseded_card_updates(session: Session, row_ids: set[int]) -> set[int]:
    """Of these card updates, those with a newer one pending: pointless, since the card is
    rendered when sent."""
    if not row_ids:
        return set()
    return set(session.connection().execute(_SUPERSEDED, {"ids": sorted(row_ids)}).scalars())


def newer_card_update(earlier: FromClause) -> ColumnElement[bool]:
    """Whether a card update of ``earlier`` (a table of outbox rows) has a newer one pending.
    Found along the ordering index: an incident's card updates share its ordering key."""
    return exists().where(_OUTBOX.c.ordering_key == earlier.c.ordering_key, _OUTBOX.c.id > earlier.c.id,
                          _OUTBOX.c.incident_id == earlier.c.incident_id, _OUTBOX.c.kind == "update_card",
                          _OUTBOX.c.state == PENDING)


_SUPERSEDED = select(_EARLIER.c.id).where(_EARLIER.c.id.in_(bindparam("ids", expanding=True)),
                                          newer_card_update(_EARLIER))


def has_later(session: Session, row_id: int, *, kind: str, ordering_key: str) -> bool:
    """A later pending row of the same kind and key makes this one pointless: it renders when sent."""
    return session.connection().execute(
        select(_OUTBOX.c.id).where(_OUTBOX.c.ordering_key == ordering_key, _OUTBOX.c.kind == kind,
                                   _OUTBOX.c.id > row_id, _OUTBOX.c.state == PENDING).limit(1)).first() is not None


def backlog(session: Session) -> int:
    return len(session.exec(model_select(OutboxMessage.id).where(
        col(OutboxMessage.state).in_((PENDING, IN_FLIGHT)))).all())


# A row is sent after it fell due, so a row sent before the cut-off fell due before it too:
# the range on next_attempt_at walks ix_outbox_due over old sent rows only, and a tick with
# nothing to prune reads no row, however many recent ones there are.
_PRUNABLE = (select(_OUTBOX.c.id)
             .where(_OUTBOX.c.state == SENT, _OUTBOX.c.next_attempt_at < bindparam("before"),
                    _OUTBOX.c.sent_at < bindparam("before"))
             .limit(bindparam("limit")))
_PRUNE = delete(_OUTBOX).where(_OUTBOX.c.id.in_(_PRUNABLE.scalar_subquery()))


def prune_sent(session: Session, *, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` rows sent before ``before``; parked and dead ones stay, for a
    person to look into. Bounded, so that one transaction never holds the table for long."""
    return session.connection().execute(_PRUNE, {"before": before, "limit": limit}).rowcount


# Parking: rows Slack refused until something changes ----------------------------------

_MARK_PARKED = _SETTLE.values(state=PARKED, lease_until=None, last_error=bindparam("reason"))
_PARKED = _OUTBOX.c.state == PARKED
_REASON_IN = _OUTBOX.c.last_error.in_(bindparam("reasons", expanding=True))


@dataclass(frozen=True, slots=True)
class Stuck:
    """An incident whose messages wait on a parked row: what refused it, where, and how many wait."""

    incident_id: int
    channel: str | None
    reason: str
    parked: int
    waiting: int


def is_queued(session: Session, dedupe_key: str) -> bool:
    """Whether a row with this dedupe key was ever queued (sent or not)."""
    return session.exec(model_select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe_key)
                        .limit(1)).first() is not None


def mark_parked(session: Session, row_id: int, *, reason: str) -> None:
    session.connection().execute(_MARK_PARKED, {"row_id": row_id, "reason": reason[:500]})


def _unpark(session: Session, *conditions, now: datetime, **params) -> int:  # noqa: ANN002, ANN003
    """Due at once; within an incident the rows still leave in id order, a card before its thread."""
    statement = update(_OUTBOX).where(_PARKED, *conditions).values(state=PENDING, next_attempt_at=bindparam("at"))
    return session.connection().execute(statement, {"at": now, **params}).rowcount


def unpark_channel(session: Session, *, workspace_id: str, channel: str, reasons: Iterable[str],
                   now: datetime) -> int:
    """The bot joined ``channel``: the rows parked there for one of ``reasons`` go again."""
    return _unpark(session, _OUTBOX.c.workspace_id == bindparam("in_workspace"),
                   _OUTBOX.c.channel == bindparam("in_channel"), _REASON_IN, now=now,
                   in_workspace=workspace_id, in_channel=channel, reasons=list(reasons))


def unpark_reasons(session: Session, *, reasons: Iterable[str], now: datetime) -> int:
    """Every row parked for one of ``reasons`` goes again (new credentials at start-up)."""
    return _unpark(session, _REASON_IN, now=now, reasons=list(reasons))


def unpark_workspace(session: Session, *, workspace_id: str, reasons: Iterable[str], now: datetime) -> int:
    """The bot was installed in the workspace (again, or at last): its rows parked for one of
    ``reasons`` (no token, or its old one) go again."""
    return _unpark(session, _OUTBOX.c.workspace_id == bindparam("in_workspace"), _REASON_IN, now=now,
                   in_workspace=workspace_id, reasons=list(reasons))


def unpark_incident(session: Session, *, incident_id: int, now: datetime) -> list[tuple[str | None, str]]:
    """A lead's Retry: the incident's parked rows go again. Returns each row's (channel, reason)."""
    parked = session.connection().execute(select(_OUTBOX.c.channel, _OUTBOX.c.last_error).where(
        _PARKED, _OUTBOX.c.incident_id == incident_id)).all()
    _unpark(session, _OUTBOX.c.incident_id == bindparam("of_incident"), now=now, of_incident=incident_id)
    return [(row.channel, row.last_error or "") for row in parked]


def parked_reasons(session: Session, *, incident_id: int) -> list[str]:
    """What Slack said to the incident's parked rows, each reason once, in the order met."""
    rows = session.connection().execute(select(_OUTBOX.c.last_error).where(
        _PARKED, _OUTBOX.c.incident_id == incident_id).order_by(_OUTBOX.c.id)).scalars()
    return list(dict.fromkeys(reason for reason in rows if reason))


def give_up(session: Session, *, incident_id: int, by: str, now: datetime) -> int:
    """A lead's Give up: the incident's parked rows, and those waiting behind them, are dead,
    recorded as given up by ``by``; anything queued for the incident later is tried as usual."""
    keys = select(_OUTBOX.c.ordering_key).where(_PARKED, _OUTBOX.c.incident_id == incident_id)
    result = session.connection().execute(update(_OUTBOX).where(
        _OUTBOX.c.ordering_key.in_(keys), _OUTBOX.c.state.in_((PARKED, PENDING)),
    ).values(state=DEAD, sent_at=now, lease_until=None, last_error=f"given up by {by}"[:500]))
    return result.rowcount


def counts(session: Session) -> dict[str, int]:
    """Rows parked, dead and still to send (pending or in flight): what /healthz reports."""
    found = dict(session.connection().execute(
        select(_OUTBOX.c.state, func.count()).where(_OUTBOX.c.state.in_((PENDING, IN_FLIGHT, PARKED, DEAD)))
        .group_by(_OUTBOX.c.state)).all())
    return {"parked": found.get(PARKED, 0), "dead": found.get(DEAD, 0),
            "pending": found.get(PENDING, 0) + found.get(IN_FLIGHT, 0)}


def stuck(session: Session, *, workspace_id: str) -> list[Stuck]:
    """Incidents with a parked row, oldest first, with what their first parked row met."""
    parked = session.connection().execute(
        select(_OUTBOX.c.incident_id, _OUTBOX.c.channel, _OUTBOX.c.last_error, _OUTBOX.c.ordering_key)
        .where(_PARKED, _OUTBOX.c.workspace_id == workspace_id, _OUTBOX.c.incident_id.is_not(None))
        .order_by(_OUTBOX.c.id)).all()
    if not parked:
        return []
    keys = {row.ordering_key for row in parked}
    waiting = dict(session.connection().execute(
        select(_OUTBOX.c.ordering_key, func.count()).where(_OUTBOX.c.ordering_key.in_(keys),
                                                           _OUTBOX.c.state == PENDING)
        .group_by(_OUTBOX.c.ordering_key)).all())
    found: dict[int, Stuck] = {}
    for row in parked:
        first = found.get(row.incident_id)
        if first is None:
            found[row.incident_id] = Stuck(incident_id=row.incident_id, channel=row.channel,
                                           reason=row.last_error or "", parked=1,
                                           waiting=waiting.get(row.ordering_key, 0))
        else:
            found[row.incident_id] = replace(first, parked=first.parked + 1)
    return list(found.values())


def parked_elsewhere(session: Session, *, workspace_id: str) -> dict[str, int]:
    """Rows about no incident (a digest) parked, by reason."""
    return dict(session.connection().execute(
        select(_OUTBOX.c.last_error, func.count()).where(_PARKED, _OUTBOX.c.workspace_id == workspace_id,
                                                         _OUTBOX.c.incident_id.is_(None))
        .group_by(_OUTBOX.c.last_error)).all())


def dead_since(session: Session, *, workspace_id: str, since: datetime) -> dict[str, int]:
    """Rows Slack dropped (or a lead gave up) since ``since``, by reason: bugs to look into."""
    return dict(session.connection().execute(
        select(_OUTBOX.c.last_error, func.count()).where(_OUTBOX.c.state == DEAD,
                                                         _OUTBOX.c.workspace_id == workspace_id,
                                                         _OUTBOX.c.sent_at >= since)
        .group_by(_OUTBOX.c.last_error)).all())
