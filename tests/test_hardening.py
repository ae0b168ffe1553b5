"""Hardening for real deployments: oversized bodies refused unread, the outbox pruned, Need help
and the escalation tick locking in one order, and replicas migrating at once."""
from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, func
from sqlmodel import select

from bot.devkit.driver import Answer
from bot.devkit.slack_double import Message
from bot.web import MAX_BODY_BYTES, make_wsgi
from storage import outbox_store
from storage.db import Database
from storage.migrate import alembic_config, upgrade
from storage.models import Notification, OutboxMessage
from tests.conftest import ServedBot
from tests.helpers import schema_differences

OWNER = "U2"


# Request bodies over 1 MB ----------------------------------------------------------------

@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_a_body_over_one_megabyte_is_refused_with_413_and_changes_nothing(bot, signed):
    body = "payload=" + "x" * (MAX_BODY_BYTES - len("payload=") + 1)
    answer = bot.slack.post(body, content_type="application/x-www-form-urlencoded", signed=signed)
    assert (answer.status, answer.body) == (413, "request body too large\n")
    with bot.runtime.db.read() as session:
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 0


def test_a_body_of_exactly_one_megabyte_still_reaches_the_signature_check(bot):
    body = "x" * MAX_BODY_BYTES
    answer = bot.slack.post(body, content_type="application/json", signed=False)
    assert answer.status == 401


class _Unreadable(io.RawIOBase):
    def read(self, *_args: object) -> bytes:
        raise AssertionError("the body of an oversized request was read")


def test_an_oversized_body_is_not_read_at_all(bot):
    wsgi = make_wsgi(bot.runtime.app, bot.runtime.db, signing_secret="secret")
    statuses: list[str] = []
    answer = wsgi({"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "CONTENT_LENGTH": str(MAX_BODY_BYTES + 1),
                   "CONTENT_TYPE": "application/json", "wsgi.input": _Unreadable()},
                  lambda status, _headers: statuses.append(status))
    assert (statuses, list(answer)) == (["413 Content Too Large"], [b"request body too large\n"])


# Pruning sent outbox rows -------------------------------------------------------------------

def _rows(bot: ServedBot) -> dict[int, str]:
    with bot.runtime.db.read() as session:
        return {row.id: row.state for row in session.exec(select(OutboxMessage)).all()}


def test_sent_rows_are_pruned_after_outbox_keep_and_refused_ones_are_kept(bot):
    bot.slack.command("/recovery new Parcel lost", channel="C1")
    bot.settle()
    bot.fake.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.slack.command("/recovery new Wrong size", channel="C1")
    bot.settle()
    first = _rows(bot)
    assert sorted(first.values()).count("dead") == 1 and "sent" in first.values()

    bot.clock.advance(timedelta(days=7) - timedelta(seconds=1))
    assert bot.runtime.ticker.tick().pruned == 0, "kept for OUTBOX_KEEP, to the second"
    bot.clock.advance(timedelta(seconds=2))
    pruned_now = {row_id for row_id, state in first.items() if state == "sent"}
    assert bot.runtime.ticker.tick().pruned == len(pruned_now)
    left = _rows(bot)
    assert not pruned_now & left.keys()
    assert {row_id: state for row_id, state in left.items() if row_id in first} == {
        row_id: "dead" for row_id, state in first.items() if state == "dead"}, "the refused card is kept"


def test_pruning_goes_in_bounded_batches(bot):
    now = bot.clock.now()
    with bot.runtime.db.transaction() as session:
        for n in range(2500):
            outbox_store.enqueue(session, workspace_id="T1", kind="post", now=now, channel="C1",
                                 payload={"text": f"old {n}"})
        session.connection().execute(OutboxMessage.__table__.update().values(state="sent", sent_at=now))
    later = now + timedelta(days=8)
    with bot.runtime.db.transaction() as session:
        assert outbox_store.prune_sent(session, before=later, limit=1000) == 1000
    bot.clock.advance(timedelta(days=8))
    assert bot.runtime.ticker.tick().pruned == 1500
    assert _rows(bot) == {}


# Need help and the escalation tick ----------------------------------------------------------

@contextmanager
def _need_help_once_the_tick_holds_the_incident(bot: ServedBot, prompt: Message,
                                                answers: list[Answer]) -> Iterator[None]:
    """Press Need help from another thread just after the tick has locked the incident to escalate
    it, and give the click a second to get as far as it can meanwhile. In the old order the click
    wrote its escalation claim, then waited for the tick's lock, while the tick waited on that claim."""
    engines = bot.runtime.db.engines
    fired = threading.Lock()
    ticking = threading.current_thread()
    rival = threading.Thread(target=lambda: answers.append(bot.slack.click(prompt, "Need help", user=OWNER)),
                             name="need-help")

    def after_execute(_conn, _cursor, statement: str, *_args: object) -> None:  # noqa: ANN001
        # The tick's first read of a whole incident is repository.lock (FOR UPDATE on PostgreSQL;
        # on SQLite the tick holds the write lock from its BEGIN IMMEDIATE already).
        if threading.current_thread() is ticking and statement.startswith("SELECT incident.id, incident.workspace_id") \
                and fired.acquire(blocking=False):
            rival.start()
            rival.join(timeout=1.0)

    for engine in engines:
        event.listen(engine, "after_cursor_execute", after_execute)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "after_cursor_execute", after_execute)
        rival.join(timeout=30)
    assert fired.locked(), "the tick never locked the incident"


def test_need_help_while_the_tick_escalates_the_same_step_neither_deadlocks_nor_doubles(bot):
    bot.slack.command("/recovery new Customer double charged", channel="C1")
    bot.settle()
    bot.slack.command("/recovery claim 1", user=OWNER)
    bot.settle()
    bot.clock.advance(timedelta(minutes=16))
    assert bot.runtime.ticker.tick().alerts == 1, "the step's nudge"
    bot.settle()
    bot.clock.advance(timedelta(hours=3))  # the escalation is due
    prompt = [m for m in bot.thread(bot.card(1)) if "[Done]" in m.plain()][-1]
    answers: list[Answer] = []
    with _need_help_once_the_tick_holds_the_incident(bot, prompt, answers):
        assert bot.runtime.ticker.tick().alerts == 1, "the tick escalated, without a deadlock"
    assert [answer.status for answer in answers] == [200]
    bot.settle()
    thread = [m.text for m in bot.thread(bot.card(1))]
    assert [text[0] for text in thread if text.startswith(("⏰", "🚨"))] == ["⏰", "🚨"]
    assert sum("asked the leads for help" in text for text in thread) == 1, "Need help went through as well"
    with bot.runtime.db.read() as session:
        kinds = session.exec(select(Notification.kind).where(Notification.incident_id == 1)).all()
    assert sorted(kinds) == ["escalation", "nudge"], "one escalation claim, the tick's"


# Migrations at once -------------------------------------------------------------------------

def test_replicas_migrating_at_once_all_start_and_the_schema_is_right(database_url):
    databases = [Database.from_url(database_url) for _ in range(3)]
    start = threading.Barrier(len(databases))
    failures: list[BaseException] = []

    def migrate(db: Database) -> None:
        start.wait()
        try:
            upgrade(db.engine)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    threads = [threading.Thread(target=migrate, args=(db,)) for db in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert failures == []
        head = ScriptDirectory.from_config(alembic_config(databases[0].engine)).get_current_head()
        with databases[0].engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (head,)
            assert schema_differences(connection) == []
    finally:
        for db in databases:
            db.dispose()
