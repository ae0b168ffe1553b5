"""Crashes, stops and replicas with real processes: kill -9 in the middle of a tick, SIGTERM
while a Slack call is in hand, and three bot processes ticking on one database. Each
reminder and each digest goes out exactly once."""
from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.devkit.driver import SlackDriver
from bot.devkit.processes import BotProcess
from bot.web import EVENTS_PATH
from storage.models import DigestRun, Notification, OutboxMessage
from tests.conftest import LEAD

pytestmark = [pytest.mark.wall_clock, pytest.mark.processes]

INCIDENTS = 100
ALERTS = 2 * INCIDENTS  # each incident is three hours overdue: a nudge and an escalation


def _overdue_backlog(bot, count: int) -> None:  # noqa: ANN001
    """Incidents flagged three hours ago (real time) on the bot's clock, never claimed."""
    bot.clock.set(datetime.now(timezone.utc) - timedelta(hours=3))
    for n in range(count):
        bot.slack.command(f"/recovery new Complaint {n}", channel="C1")
    bot.settle()


def _alerts_by_incident(fake) -> Counter:  # noqa: ANN001
    """Each incident's reminders in its thread (the leads' DM copies are not thread messages)."""
    counted = Counter()
    for message in fake.all_messages():
        if message.thread_ts and message.text.startswith(("⏰", "🚨")):
            counted[(message.thread_ts, message.text[0])] += 1
    return counted


def _count(bot, table: type) -> int:  # noqa: ANN001
    with bot.runtime.db.read() as session:
        return session.exec(select(func.count()).select_from(table)).one()


def _unsent(bot) -> list[tuple[str, str]]:  # noqa: ANN001
    with bot.runtime.db.read() as session:
        return [(row.kind, row.state) for row in session.exec(select(OutboxMessage)).all() if row.state != "sent"]


def _wait(predicate, timeout: float = 60, every: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return state[state.rindex(")") + 2] == "Z"  # a zombie has stopped; only its exit status waits


def _background_of(process: BotProcess) -> int:
    """The pid of the server's forked background process (the sender and the ticker)."""
    assert _wait(lambda: len(_children(process.process.pid)) == 1, 10)
    [background] = _children(process.process.pid)
    return background


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_kill_in_the_middle_of_a_tick_then_restart_sends_each_alert_once(bot, settings, tmp_path):
    """The tick claims each reminder in its own transaction and the sender posts them as they
    come; the crash lands once the first has reached Slack, with the tick far from done: some
    reminders sent, maybe some claimed and still in the outbox, the rest not yet claimed.
    The restarted bot sends every one, none twice."""
    _overdue_backlog(bot, INCIDENTS)
    first = BotProcess(settings, log=tmp_path / "first.log")
    background = _background_of(first)
    try:
        assert _wait(lambda: _alerts_by_incident(bot.fake), 30, every=0.002), (tmp_path / "first.log").read_text()
    finally:
        first.kill()
        with suppress(ProcessLookupError):  # a crash of the host: neither process finishes anything
            os.kill(background, signal.SIGKILL)
    assert _wait(lambda: _gone(background), 5)
    claimed = _count(bot, Notification)
    sent = sum(_alerts_by_incident(bot.fake).values())
    assert 0 < sent <= claimed < ALERTS, f"the kill landed mid-tick: {sent} sent, {claimed} of {ALERTS} claimed"

    restarted = BotProcess(settings, log=tmp_path / "restarted.log")
    try:
        assert _wait(lambda: sum(_alerts_by_incident(bot.fake).values()) >= ALERTS, 60), \
            (tmp_path / "restarted.log").read_text()
        assert _wait(lambda: _unsent(bot) == [], 30), "what the crash left owed is sent too"
    finally:
        restarted.stop()
    alerts = _alerts_by_incident(bot.fake)
    assert len(alerts) == ALERTS and set(alerts.values()) == {1}, "each reminder once, none lost"
    assert _count(bot, Notification) == ALERTS
    assert _unsent(bot) == []


def _zone_at_midday() -> str:
    """A fixed-offset zone in which it is now between 12:00 and 13:00: past a 10:00 digest
    time whenever the test runs, and hours away from the local midnight that starts a new
    digest day."""
    offset = 12 - datetime.now(timezone.utc).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-3 is UTC+3


def test_three_bot_processes_on_one_postgresql_send_each_alert_and_digest_once(bot, settings, tmp_path):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several replicas need PostgreSQL")
    _overdue_backlog(bot, INCIDENTS)
    # Flagged between 09:00 and 10:00 there: C1's first digest is owed from 10:00.
    digest_due = {"TZ": _zone_at_midday(), "DIGEST_TIME": "10:00"}
    processes = [BotProcess(settings, log=tmp_path / f"bot{n}.log", env=digest_due) for n in range(3)]
    try:
        for process in processes:
            process.wait_healthy()
        assert _wait(lambda: sum(_alerts_by_incident(bot.fake).values()) >= ALERTS)
        assert _wait(lambda: any(m.text.startswith("Recovery digest") for m in bot.fake.messages("C1")))
        assert _wait(lambda: any(m.text.startswith("Leads' roll-up") for m in bot.fake.messages(f"D{LEAD}")))
        time.sleep(2.5)  # two more ticks of every replica, for a double to show up
    finally:
        for process in processes:
            process.stop()
    alerts = _alerts_by_incident(bot.fake)
    assert len(alerts) == ALERTS and set(alerts.values()) == {1}
    digests = [m for m in bot.fake.messages("C1") if m.text.startswith("Recovery digest")]
    rollups = [m for m in bot.fake.messages(f"D{LEAD}") if m.text.startswith("Leads' roll-up")]
    assert len(digests) == 1 and len(rollups) == 1
    assert _count(bot, DigestRun) == 2, "C1's digest and the leads' roll-up, each claimed once"


def _post_new(process: BotProcess, settings, fake, summary: str) -> None:  # noqa: ANN001
    driver = SlackDriver(url=process.url + EVENTS_PATH, signing_secret=settings.slack_signing_secret or "", fake=fake)
    assert driver.command(f"/recovery new {summary}", channel="C1").status == 200


def _cards(fake, summary: str) -> int:  # noqa: ANN001
    return sum(1 for message in fake.messages("C1") if message.text.startswith("Recovery #") and summary in message.text)


def test_serve_sends_from_a_background_process_that_crashes_with_it(bot, settings, tmp_path):
    """The server acks; a forked background posts the card. Killed with the server, it must
    not live on to send anything a restarted server would send again."""
    process = BotProcess(settings, log=tmp_path / "bot.log")
    try:
        process.wait_healthy()
        background = _background_of(process)
        _post_new(process, settings, bot.fake, "The parcel never came")
        assert _wait(lambda: _cards(bot.fake, "The parcel never came") == 1, 10), (tmp_path / "bot.log").read_text()
    finally:
        process.kill()
    assert _wait(lambda: _gone(background), 5), "the background outlived its server"


def test_sigterm_stops_accepting_then_lets_the_background_finish_its_send_then_exits(bot, settings, tmp_path):
    """SIGTERM (docker stop): the server refuses new connections at once; the background
    finishes the Slack call in hand (here held by Slack) and records it as sent; only then
    does the server exit, with status 0."""
    process = BotProcess(settings, log=tmp_path / "bot.log")
    process.wait_healthy()
    background = _background_of(process)
    bot.fake.stall("chat.postMessage", 30)
    _post_new(process, settings, bot.fake, "The parcel never came")
    assert _wait(lambda: len(bot.fake.attempts("chat.postMessage")) == 1, 10), (tmp_path / "bot.log").read_text()

    process.process.terminate()
    assert _wait(lambda: not _accepts_connections(process.port), 5), "still accepting connections after SIGTERM"
    assert not _gone(background) and process.process.poll() is None, "the stop did not wait for the send in hand"
    assert _cards(bot.fake, "The parcel never came") == 0

    bot.fake.unstall()
    assert process.process.wait(timeout=25) == 0
    assert _gone(background)
    process.stop()
    assert _cards(bot.fake, "The parcel never came") == 1
    assert _unsent(bot) == [], "the card in hand was sent and recorded, so a restart will not send it again"
    assert "Traceback" not in (tmp_path / "bot.log").read_text()


def test_server_takes_over_when_its_background_dies(bot, settings, tmp_path):
    process = BotProcess(settings, log=tmp_path / "bot.log")
    try:
        process.wait_healthy()
        background = _background_of(process)
        os.kill(background, signal.SIGKILL)
        assert _wait(lambda: "sends and ticks now" in (tmp_path / "bot.log").read_text(), 10)
        _post_new(process, settings, bot.fake, "Wrong size delivered twice")
        assert _wait(lambda: _cards(bot.fake, "Wrong size delivered twice") == 1, 10), \
            (tmp_path / "bot.log").read_text()
    finally:
        process.kill()
