"""Fixtures: real databases (SQLite file and PostgreSQL), the fake Slack over HTTP, a
fake clock, and the real bot served over HTTP with signed requests.

Every test that takes ``database_url`` runs twice, once per database. Set
TEST_DATABASE_URL to use an existing PostgreSQL server, or TEST_DATABASES=sqlite to skip
PostgreSQL for a quick local run.
"""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bot.devkit.clock import FakeClock
from bot.devkit.slack_double import FakeSlack, Message
from bot.runtime import Runtime, build
from bot.settings import Settings
from bot.devkit.server import BackgroundServer
from bot.web import make_wsgi
from bot.devkit.postgres import start_throwaway_postgres
from bot.devkit.driver import SlackDriver

SIGNING_SECRET = "test-signing-secret"
LEAD = "ULEAD"


def _databases() -> list[str]:
    chosen = os.environ.get("TEST_DATABASES", "sqlite,postgresql")
    return [name.strip() for name in chosen.split(",") if name.strip()]


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = start_throwaway_postgres(tmp_path_factory.mktemp("pg"))
    try:
        yield server.url
    finally:
        server.stop()


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=_databases())
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # noqa: ANN001
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'recovery.db'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(admin), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_conninfo(admin), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_slack(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[FakeSlack]:
    """Its message ts follow the bot's clock, as Slack's follow the wall clock: the fake clock
    for a bot in this process, the wall clock for tests marked ``wall_clock``, whose bot
    processes run on the system clock (the outbox looks for its uncertain posts from just
    before they were queued, so a double stamping another clock would hide them)."""
    if request.node.get_closest_marker("wall_clock"):
        message_clock = time.time
    else:
        def message_clock() -> float:
            return clock.now().timestamp()
    with FakeSlack(team_id="T1", message_clock=message_clock) as fake:
        yield fake


@pytest.fixture
def settings(database_url: str, fake_slack: FakeSlack) -> Settings:
    return replace(Settings(), slack_bot_token="xoxb-test", slack_signing_secret=SIGNING_SECRET,
                   slack_api_url=fake_slack.api_url, database_url=database_url, lead_user_ids=frozenset({LEAD}),
                   # Tests post many messages in one instant of a clock they move by hand; pacing
                   # to Slack's limits has tests of its own (test_pacing.py) that turn it on.
                   slack_pacing=False)


@dataclass
class ServedBot:
    """The real bot behind a real WSGI server, and handles to drive and inspect it."""

    runtime: Runtime
    fake: FakeSlack
    clock: FakeClock
    slack: SlackDriver
    url: str

    def settle(self) -> int:
        """Send what the outbox owes now (tests run the sender by hand, so they decide when)."""
        return self.runtime.sender.drain()

    def cards(self) -> list[Message]:
        return [message for channel in self._channels() for message in self.fake.messages(channel)
                if message.text.startswith("Recovery #")]

    def card(self, number: int) -> Message:
        found = [card for card in self.cards() if card.text.startswith(f"Recovery #{number}:")]
        assert len(found) == 1, f"expected one card for #{number}, found {len(found)}"
        return found[0]

    def thread(self, card: Message) -> list[Message]:
        return self.fake.thread(card.channel, card.ts)

    def _channels(self) -> list[str]:
        return sorted({message.channel for message in self.fake.all_messages()})


@pytest.fixture
def make_bot(fake_slack: FakeSlack, clock: FakeClock) -> Iterator[callable]:
    """Build and serve a bot from given settings; several may share one database."""
    started: list[tuple[Runtime, callable]] = []

    def make(settings: Settings) -> ServedBot:
        runtime = build(settings, clock=clock)
        server = BackgroundServer(make_wsgi(runtime.app, runtime.db, signing_secret=runtime.settings.slack_signing_secret)).start()
        started.append((runtime, server))
        driver = SlackDriver(url=server.events_url, signing_secret=settings.slack_signing_secret or "",
                             fake=fake_slack)
        return ServedBot(runtime=runtime, fake=fake_slack, clock=clock, slack=driver, url=server.events_url)

    yield make
    for runtime, server in started:
        server.stop()
        runtime.stop()


@pytest.fixture
def bot(make_bot, settings: Settings) -> ServedBot:  # noqa: ANN001
    return make_bot(settings)
