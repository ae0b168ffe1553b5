"""What a benchmark runs on: a work dir, fresh databases, the Slack double and the processes
under test (the bot's ``serve`` and the bare Bolt floor, with the same waitress thread count).
Everything started through a Rig is stopped, newest first, when its ``with`` block ends; only
processes started here are stopped, each by its own handle.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.double import RunningDouble
from bench.load import SIGNING_SECRET
from bench.meter import filesystem
from bot.devkit.postgres import ThrowawayPostgres, start_throwaway_postgres
from bot.devkit.processes import BotProcess, ServedProcess, clean_env, free_port
from bot.settings import Settings

SERVE_THREADS = 8  # `python -m bot serve --threads` default (bot/cli.py); the floor gets the same
BOT_TOKEN = "xoxb-bench"
LEAD = "ULEAD"  # `serve` refuses to start without a lead


class Rig:
    """One benchmark's world, on SQLite files or a throwaway PostgreSQL cluster."""

    def __init__(self, database: str, *, keep: bool = False, double: dict[str, Any] | None = None) -> None:
        """``double``: SlackHost's options (bench/double.py), such as Slack's rate limits."""
        if database not in ("sqlite", "postgresql"):
            raise ValueError(f"database must be sqlite or postgresql, not {database!r}")
        self.kind = database
        self.path = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
        self._stack = ExitStack()
        if not keep:
            self._stack.callback(shutil.rmtree, self.path, ignore_errors=True)
        self._double: RunningDouble | None = None
        self._double_options = double or {}
        self._pg: ThrowawayPostgres | None = None
        self.description = "SQLite file (WAL, synchronous=FULL) on " + filesystem(self.path)

    def __enter__(self) -> Rig:
        if self.kind == "postgresql":
            try:
                self._pg = start_throwaway_postgres(self.path / "pg")
            except BaseException:
                self._stack.close()
                raise
            self._stack.callback(self._pg.stop)
            self.description = (f"PostgreSQL {self._admin('SHOW server_version')} (throwaway cluster from "
                                "bot/devkit/postgres.py: fsync=off, local TCP)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    @property
    def double(self) -> RunningDouble:
        """The Slack double, started on first use."""
        if self._double is None:
            self._double = RunningDouble(**self._double_options)
            self._stack.callback(self._double.stop)
        return self._double

    @property
    def postmaster_pid(self) -> int | None:
        if self._pg is not None:
            with suppress(OSError, ValueError, IndexError):
                return int((self._pg.directory / "data" / "postmaster.pid").read_text().split()[0])
        return None

    def _admin(self, sql: str) -> Any:
        with psycopg.connect(host="127.0.0.1", port=self._pg.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            cursor = connection.execute(sql)
            row = cursor.fetchone() if cursor.description else None
            return row[0] if row else None

    def database(self, name: str) -> str:
        """The URL of a new, empty database."""
        if self._pg is None:
            path = self.path / f"{name}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self._pg.port}/{name}"

    def probe(self, url: str) -> Probe:
        probe = Probe(url)
        self._stack.callback(probe.engine.dispose)
        return probe

    def bot(self, url: str, *, threads: int = SERVE_THREADS, env: dict[str, str] | None = None,
            api_url: str | None = None, name: str = "recovery") -> BotProcess:
        """``python -m bot serve`` on ``url``, its Slack the double (or ``api_url``); not yet ready.

        Pacing to Slack's limits is off unless ``env`` turns it on: the double enforces none
        unless asked, and a benchmark of the bot's own capacity must not measure Slack's."""
        settings = replace(Settings(), slack_bot_token=BOT_TOKEN, slack_signing_secret=SIGNING_SECRET,
                           slack_api_url=api_url or self.double.api_url, database_url=url,
                           lead_user_ids=frozenset({LEAD}))
        bot = BotProcess(settings, log=self.path / f"{name}.log", tick=None, threads=threads,
                         env={"SLACK_PACING": "off"} | (env or {}), cwd=self.path)
        self._stack.callback(bot.stop)
        return bot

    def bare(self, *, threads: int = SERVE_THREADS, store: str | None = None) -> ServedProcess:
        """The floor: ``bench/bare_app.py``, Bolt that only acks, served as the bot is; with ``store``
        (a database URL) the durable floor, which stores each request there before acking."""
        port = free_port()
        env = clean_env({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                         "SLACK_API_URL": self.double.api_url})
        command = [sys.executable, "-m", "bench.bare_app", "--port", str(port), "--threads", str(threads)]
        bare = ServedProcess(command + (["--store", store] if store else []), env=env,
                             log=self.path / ("durable.log" if store else "bare.log"), port=port, cwd=self.path,
                             ready_path="/")
        self._stack.callback(bare.stop)
        return bare


class Probe:
    """Reads the bot's database from outside: counts, and waiting for the outbox to empty."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def count(self, table_and_condition: str, **params: Any) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table_and_condition}", **params) or 0)

    def outbox_owed(self) -> int:
        return self.count("outbox WHERE state IN ('pending', 'in_flight')")

    def wait_drained(self, timeout: float) -> tuple[bool, float]:
        """(emptied, seconds waited) for the outbox to owe nothing."""
        started = time.monotonic()
        return wait_until(lambda: not self.outbox_owed(), timeout), time.monotonic() - started


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
