"""The engine and the unit of work.

SQLite gets WAL (readers never block the writer) and BEGIN IMMEDIATE (a transaction
that will write takes the lock up front, so two writers queue on busy_timeout instead
of failing with "database is locked" when one tries to upgrade a read lock).
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    # connect_timeout: a database host that drops packets must fail health checks and
    # requests in seconds, not hang them past Slack's 3-second ack.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=5,
                         connect_args={"connect_timeout": 3})


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        reading = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


READ_ONLY = "recovery_read_only"


class Database:
    """Owns the engine; every unit of work is one short ``with db.transaction()``, and
    what only reads uses ``db.read()``: on SQLite a reader then takes no write lock, so
    `/recovery list` never queues behind (or in front of) a flag."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = engine.execution_options(**{READ_ONLY: True})
        # SQLite has one writer at a time; its busy handler makes the others sleep-poll (up
        # to 100 ms a nap). Queueing this process's writers on a lock instead hands the
        # write lock over at once; other processes still meet busy_timeout.
        self._writer = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()

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

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()
