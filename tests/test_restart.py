"""Crashes and replicas with real processes: kill -9 in the middle of a tick, and three
bot processes ticking on one database. Each reminder goes out exactly once."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from bot.devkit.driver import SlackDriver
from bot.web import EVENTS_PATH
from storage.models import Notification
from bot.devkit.processes import BotProcess

INCIDENTS = 40


def _overdue_backlog(bot, count: int) -> None:  # noqa: ANN001
    """Incidents flagged three hours ago (real time) on the bot's clock, never claimed."""
    bot.clock.set(datetime.now(timezone.utc) - timedelta(hours=3))
    for n in range(count):
        bot.slack.command(f"/recovery new Complaint {n}", channel="C1")
    bot.settle()


def _alerts_by_incident(fake) -> Counter:  # noqa: ANN001
    counted = Counter()
    for message in fake.all_messages():
        if message.text.startswith(("⏰", "🚨")):
            counted[(message.thread_ts, message.text[0])] += 1
    return counted


def _wait(predicate, timeout: float = 60) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_kill_in_the_middle_of_a_tick_then_restart_sends_each_alert_once(bot, settings, tmp_path):
    _overdue_backlog(bot, INCIDENTS)
    process = BotProcess(settings, log=tmp_path / "bot.log")
    try:
        assert _wait(lambda: sum(_alerts_by_incident(bot.fake).values()) >= 10), (tmp_path / "bot.log").read_text()
    finally:
        process.kill()
    sent_before_restart = sum(_alerts_by_incident(bot.fake).values())
    assert sent_before_restart < 2 * INCIDENTS, "killed mid-tick, with work left"
    bot.clock.set(datetime.now(timezone.utc) + timedelta(minutes=2))
    bot.runtime.ticker.tick()
    bot.settle()
    alerts = _alerts_by_incident(bot.fake)
    assert len(alerts) == 2 * INCIDENTS and set(alerts.values()) == {1}
    with bot.runtime.db.transaction() as session:
        assert len(session.exec(select(Notification)).all()) == 2 * INCIDENTS


def test_three_bot_processes_on_one_postgresql_send_each_alert_and_digest_once(bot, settings, tmp_path):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several replicas need PostgreSQL")
    _overdue_backlog(bot, INCIDENTS)
    processes = [BotProcess(settings, log=tmp_path / f"bot{n}.log") for n in range(3)]
    try:
        for process in processes:
            process.wait_healthy()
        assert _wait(lambda: sum(_alerts_by_incident(bot.fake).values()) >= 2 * INCIDENTS)
        time.sleep(2.5)
    finally:
        for process in processes:
            process.stop()
    alerts = _alerts_by_incident(bot.fake)
    assert len(alerts) == 2 * INCIDENTS and set(alerts.values()) == {1}
    digests = [m for m in bot.fake.messages("C1") if m.text.startswith("Recovery digest")]
    local_now = datetime.now(timezone.utc)
    assert len(digests) == (1 if local_now.time() >= settings.digest_time else 0)


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


def _post_new(process: BotProcess, settings, fake, summary: str) -> None:  # noqa: ANN001
    driver = SlackDriver(url=process.url + EVENTS_PATH, signing_secret=settings.slack_signing_secret or "", fake=fake)
    assert driver.command(f"/recovery new {summary}", channel="C1").status == 200


def _has_card(fake, summary: str) -> bool:  # noqa: ANN001
    return any(summary in message.text or summary in str(message.blocks) for message in fake.messages("C1"))


def test_serve_sends_from_a_background_process_that_crashes_with_it(bot, settings, tmp_path):
    """The server acks; a forked background posts the card. Killed with the server, it must
    not live on to send anything a restarted server would send again."""
    process = BotProcess(settings, log=tmp_path / "bot.log")
    try:
        process.wait_healthy()
        assert _wait(lambda: len(_children(process.process.pid)) == 1, 10)
        [background] = _children(process.process.pid)
        _post_new(process, settings, bot.fake, "The parcel never came")
        assert _wait(lambda: _has_card(bot.fake, "The parcel never came"), 10), (tmp_path / "bot.log").read_text()
    finally:
        process.kill()
    assert _wait(lambda: _gone(background), 5), "the background outlived its server"


def test_sigterm_stops_server_and_background_in_order(bot, settings, tmp_path):
    process = BotProcess(settings, log=tmp_path / "bot.log")
    process.wait_healthy()
    assert _wait(lambda: len(_children(process.process.pid)) == 1, 10)
    [background] = _children(process.process.pid)
    process.process.terminate()
    assert process.process.wait(timeout=25) == 0
    process.stop()
    assert _gone(background)
    assert "Traceback" not in (tmp_path / "bot.log").read_text()


def test_server_takes_over_when_its_background_dies(bot, settings, tmp_path):
    process = BotProcess(settings, log=tmp_path / "bot.log")
    try:
        process.wait_healthy()
        assert _wait(lambda: len(_children(process.process.pid)) == 1, 10)
        [background] = _children(process.process.pid)
        os.kill(background, signal.SIGKILL)
        assert _wait(lambda: "sends and ticks now" in (tmp_path / "bot.log").read_text(), 10)
        _post_new(process, settings, bot.fake, "Wrong size delivered twice")
        assert _wait(lambda: _has_card(bot.fake, "Wrong size delivered twice"), 10), (tmp_path / "bot.log").read_text()
    finally:
        process.kill()
