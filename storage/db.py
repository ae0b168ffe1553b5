"""The engine and the unit of work.

SQLite gets WAL (readers never block the writer) and BEGIN IMMEDIATE (a transaction
that will write takes the lock up front, so two writers queue on busy_timeout instead
of failing with "database is locked" when one tries to upgrade a read lock).

synchronous=FULL: every commit is on disk before it returns, so a flag acked to Slack
survives a power loss (Slack does not send an acked event again). NORMAL would sync only
at checkpoints and may lose the last commits to a power loss; measured, FULL cost 0.27 ms
more per flag on the benchmark machine's disk (bench/sqlite_sync.py, README "Durability").
"""
from __future__ import annotations

import fcntl
import select
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from contextlib import contextmanager, nullcontext

import psycopg
from psycopg import pq
from sqlalchemy import URL, Connection, Engine, create_engine, event, exc, text
from sqlmodel import Session

from storage.lockfile import Crowd, PerProcessFile, wait_while_crowded


class _Described(Sequence):
    """A result's DB-API description, built on first use from the result it was read for:
    (name, type code) and five Nones, as psycopg's Column reads when indexed."""

    __slots__ = ("_result", "_encoding", "_rows")

    def __init__(self, result: pq.abc.PGresult, encoding: str) -> None:
        self._result, self._encoding, self._rows = result, encoding, None

    def _built(self) -> list[tuple]:
        if self._rows is None:
            result, encoding = self._result, self._encoding
            self._rows = [(result.fname(i).decode(encoding), result.ftype(i), None, None, None, None, None)
                          for i in range(result.nfields)]
        return self._rows

    def __len__(self) -> int:
        return self._result.nfields

    def __getitem__(self, index):  # noqa: ANN001, ANN204 - a Sequence's
        return self._built()[index]


class _Cursor(psycopg.Cursor):
    """psycopg builds a Column object per column whenever a description is read, and
    SQLAlchemy reads it after every statement, though for its own cached statements only to
    see that rows came back: for an incident's forty columns, a quarter of the client's CPU
    for the whole statement. Measured (40-column SELECT by primary key, thread CPU,
    alternating): 139-156 us per statement with psycopg's cursor, 100-111 us with this one."""

    __slots__ = ()

    @property
    def description(self):  # noqa: ANN201
        result = self.pgresult
        if result and (result.nfields or result.status == pq.ExecStatus.TUPLES_OK):
            return _Described(result, self.connection.info.encoding)
        return None


# The outbox sender's sessions on PostgreSQL (Database.sending). In a burst the outbox grows
# faster than its statistics (a minute or more behind), and PostgreSQL, believing it nearly
# empty, chose plans that read it all: checking every pending row against its thread and
# sorting them (7 ms with 6,000 pending instead of 0.7), or checking each row's thread by
# reading the whole table again (160 ms with 8,000 rows, under 100 flags/s). With neither
# sorting nor whole-table reads, the indexes are the only way (so no statement of the sender
# may need a whole-table read: a plan that cannot avoid one costs more than JIT compilation's
# threshold, and compiling took 450 ms). And planned at each run: psycopg prepares a
# statement after its fifth run, PostgreSQL then keeps a generic plan on the connection, and
# a plan made while the outbox was one page (read it whole) stayed until the next ANALYZE.
# Set once per session, where the sender's statements used to set them per transaction:
# they now run outside one, each its own round trip (issue 17). Nor hash or merge joins: a
# batch's records joined to the tables as a set of a hundred rows (the planner's guess for
# a set from JSON; a batch is a few rows) hashed every row of the outbox and incident tables
# (1.2 ms a batch at 3,000 rows, 0.2 ms looked up by key: storage/outbox_settle.py).
SENDING_OPTIONS = ("-c enable_sort=off -c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off "
                   "-c jit=off -c plan_cache_mode=force_generic_plan")


def make_engine(url: str | URL, *, options: str | None = None, autocommit: bool = False) -> Engine:
    """``options``: PostgreSQL settings for every session of this engine (libpq's ``options``).
    ``autocommit``: PostgreSQL connections that never open a transaction: set so once, when
    made, rather than at every checkout and back at every return (nor reset then: they have
    no transaction to roll back)."""
    if str(url).startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    # connect_timeout: a database host that drops packets must fail health checks and
    # requests in seconds, not hang them past Slack's 3-second ack.
    connect_args: dict[str, object] = {"connect_timeout": 3}
    if options:
        connect_args["options"] = options
    per_session: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_timeout=5, connect_args=connect_args,
                           **per_session)
    event.listen(engine, "checkout", _drop_if_server_hung_up)
    event.listen(engine, "connect", _use_cursor)
    return engine


def _use_cursor(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
    dbapi_connection.cursor_factory = _Cursor


def _drop_if_server_hung_up(dbapi_connection, _record, _proxy) -> None:  # noqa: ANN001 - DBAPI types
    """A pooled connection the server has closed (restarted, or ended the session) is replaced
    before use, so no request fails on it. Instead of a round trip to ask the server (SQLAlchemy's
    pre-ping: 65 us of CPU and 100 us of waiting per transaction, measured), look at the socket:
    an idle session has nothing to read, and a closed one reads as the server's goodbye or the
    end of the stream. Raising DisconnectionError makes the pool connect afresh."""
    pgconn = dbapi_connection.pgconn
    if dbapi_connection.closed or pgconn.status != pq.ConnStatus.OK:
        raise exc.DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLHUP | select.POLLERR)
    if poller.poll(0):
        raise exc.DisconnectionError("the server closed the connection")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


READ_ONLY = "recovery_read_only"
WAL_SWITCH_SECONDS = 30


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode (it stays so; an in-memory database keeps its own). Switching
    needs the file to itself, and SQLite answers "database is locked" at once, without waiting,
    while another connection uses it: processes opening a new file together (replicas
    migrating at once) try again until one of them has switched it."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


# The longest a yielding process (`serve`'s background) lets waiting acks write first, per write.
YIELD_SECONDS = 0.02


class _WriterQueue:
    """SQLite has one writer at a time, and its busy handler makes the others sleep-poll (up to
    100 ms a nap, first come not first served): under load some acks waited most of a second.
    Writers queue here instead, on a thread lock within the process and an flock on a file
    beside the database across processes (`serve`'s server and background share the file);
    both hand over at once when the holder finishes. busy_timeout stays for anything else
    that opens the file.

    Acks first: a process that ``yields`` (the background: the outbox's leases and outcomes,
    the tick) lets the others' writers go first, for up to YIELD_SECONDS per write; they are
    a Crowd (storage/lockfile.py) while any of their threads waits for the writer or holds
    it. Measured (bench/ack_profile.py), an ack's wait for the writer was mostly the
    background's writes queued in front of it; the outbox only sends later under load."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        self._path = f"{database}-writer.lock" if database and database != ":memory:" else None
        self._file = PerProcessFile(self._path) if self._path else None
        self._ahead = Crowd(f"{database}-writers-ahead.lock") if self._path else None
        self.yields = False

    def __enter__(self) -> None:
        ahead = self._ahead
        if ahead is not None and self.yields:
            wait_while_crowded(ahead.file, YIELD_SECONDS)
        elif ahead is not None:
            ahead.__enter__()
        self._threads.acquire()
        try:
            if self._file is not None:
                fcntl.flock(self._file.open(), fcntl.LOCK_EX)
        except BaseException:
            self._release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._file is not None and self._file.fd is not None:
                fcntl.flock(self._file.fd, fcntl.LOCK_UN)
        finally:
            self._release()

    def _release(self) -> None:
        self._threads.release()
        if self._ahead is not None and not self.yields:
            self._ahead.__exit__()

    def close(self) -> None:
        for file in (self._file, self._ahead.file if self._ahead else None):
            if file is not None:
                file.close()


_SINGLE = "recovery_single_statement"  # in Connection.info: whether its one statement ran


@event.listens_for(Engine, "before_cursor_execute")
def _only_one(connection: Connection, *_statement: object) -> None:
    ran = connection.info.get(_SINGLE)
    if ran:
        raise RuntimeError("a second statement inside Database.single_statement, which commits each apart")
    if ran is not None:
        connection.info[_SINGLE] = True


class Database:
    """Owns the engine; every unit of work is one short ``with db.transaction()``, and
    what only reads uses ``db.read()``: on SQLite a reader then takes no write lock, so
    `/recovery list` never queues behind (or in front of) a flag."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        postgresql = engine.dialect.name == "postgresql"
        # No connection is opened until asked for. The acks' statements outside a transaction
        # have their own pool, in autocommit from the start: switching a connection of the main
        # pool there at each checkout and back at each return was 2 % of the server's request
        # samples (py-spy, issue 17).
        self._autocommit = make_engine(engine.url, autocommit=True) if postgresql else None
        self._sending = make_engine(engine.url, options=SENDING_OPTIONS, autocommit=True) if postgresql else None
        self._writer = _WriterQueue(engine.url.database) if engine.dialect.name == "sqlite" else nullcontext()

    @classmethod
    def from_url(cls, url: str) -> Database:
        return cls(make_engine(url))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._writer, Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self._reader, expire_on_commit=False) as session:
            with session.begin():
                yield session

    @contextmanager
    def single_statement(self) -> Iterator[Session]:
        """A session for a change its code writes as one statement: on PostgreSQL outside a
        transaction, since the statement is one already (one round trip where a transaction
        costs three); elsewhere ``transaction``. Every statement commits on its own there, so
        a second one is refused before it runs (a RuntimeError: a bug, never a user's doing).
        For a flag (repository.insert_incident) and a simple decision
        (repository.written_in_one_statement)."""
        if self._autocommit is None:
            with self.transaction() as session:
                yield session
            return
        with self._autocommit.connect() as connection:
            connection.info[_SINGLE] = False
            try:
                with Session(connection, expire_on_commit=False) as session, session.begin():
                    yield session
            finally:
                connection.info.pop(_SINGLE, None)

    @contextmanager
    def one_statement(self) -> Iterator[Connection]:
        """A connection outside any transaction, for a read that needs no snapshot beyond its
        own statement: one round trip on PostgreSQL, where a transaction costs three."""
        if self._autocommit is not None:
            with self._autocommit.connect() as connection:
                yield connection
            return
        with self._reader.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def sending(self) -> Iterator[Connection]:
        """PostgreSQL only: a connection of the outbox sender's own pool, outside any
        transaction (each statement one round trip), whose session plans every statement for
        the outbox as it is now (SENDING_OPTIONS)."""
        if self._sending is None:
            raise RuntimeError("Database.sending is for PostgreSQL; SQLite's sender uses read and transaction")
        with self._sending.connect() as connection:
            yield connection

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False

    def yield_writes(self) -> None:
        """On SQLite, let other processes' waiting writers go first (see _WriterQueue): for
        `serve`'s background, so that acks do not queue behind the outbox."""
        if isinstance(self._writer, _WriterQueue):
            self._writer.yields = True

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine of this database's pools (to count or watch what they run)."""
        return tuple(engine for engine in (self.engine, self._autocommit, self._sending) if engine is not None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
        for engine in (self._autocommit, self._sending):
            if engine is not None:
                engine.dispose()
        if isinstance(self._writer, _WriterQueue):
            self._writer.close()
