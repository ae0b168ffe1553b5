"""`serve` starts and works while Slack's Web API is down, and says plainly when Slack refuses
its token: a real bot process against the Slack double."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlmodel import select

from bot import socket_mode
from bot.devkit.driver import SlackDriver
from bot.devkit.processes import BotProcess
from bot.devkit.slack_double import FakeSlack
from bot.web import EVENTS_PATH
from storage.db import Database
from storage.models import Incident

pytestmark = pytest.mark.wall_clock

REFUSED_LINE = "Slack refused SLACK_BOT_TOKEN (invalid_auth)"


def _health(process: BotProcess) -> dict:
    """/healthz's fields about the database and Slack (it counts the outbox's rows too)."""
    with urllib.request.urlopen(process.url + "/healthz", timeout=5) as response:
        assert response.status == 200
        report = json.loads(response.read())
    return {"database": report["database"], "slack": report["slack"]}


def _eventually(predicate: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _incidents(database_url: str) -> list[tuple[int, str]]:
    db = Database.from_url(database_url)
    try:
        with db.read() as session:
            return [(row.number, row.origin_channel) for row in session.exec(select(Incident)).all()]
    finally:
        db.dispose()


def _cards_posted(fake: FakeSlack) -> list[str]:
    return [call.params.get("text", "") for call in fake.calls("chat.postMessage")
            if str(call.params.get("text", "")).startswith("Recovery #")]


def test_bot_starts_stores_and_answers_during_a_slack_outage_then_sends_once_slack_is_back(
        settings, fake_slack, tmp_path):
    fake_slack.set_down(True)
    process = BotProcess(settings, log=tmp_path / "bot.log").wait_healthy()
    try:
        assert _health(process) == {"database": "ok", "slack": "unconfirmed"}
        driver = SlackDriver(url=process.url + EVENTS_PATH, signing_secret=settings.slack_signing_secret or "",
                             fake=fake_slack)
        assert driver.react(channel="C1", ts="1700000000.000100").status == 200
        assert _incidents(settings.database_url) == [(1, "C1")]
        answer = driver.command("/recovery list")
        assert answer.status == 200 and "#1" in answer.text
        assert _eventually(lambda: any(call.method != "auth.test" for call in fake_slack.attempts())), \
            "the outbox never tried to send"
        assert fake_slack.calls() == [], "Slack answered nothing but 503 so far"

        fake_slack.set_down(False)
        assert _eventually(lambda: len(_cards_posted(fake_slack)) == 1), "the card never reached Slack"
        assert _eventually(lambda: _health(process)["slack"] == "ok"), "auth.test was not tried again"
        time.sleep(1.5)  # a second post would come within the outbox's next round
        assert len(_cards_posted(fake_slack)) == 1
    finally:
        process.stop()
    assert "Traceback" not in (tmp_path / "bot.log").read_text()


def test_a_token_slack_refuses_is_one_log_line_and_shown_by_healthz(settings, tmp_path):
    with FakeSlack(team_id="T1", strict_tokens=True) as fake:
        fake.add_workspace("T1", token="xoxb-the-right-one")
        wrong = replace(settings, slack_api_url=fake.api_url, slack_bot_token="xoxb-revoked")
        process = BotProcess(wrong, log=tmp_path / "bot.log").wait_healthy()
        try:
            assert _eventually(lambda: _health(process)["slack"] != "unconfirmed")
            assert _health(process) == {"database": "ok", "slack": "invalid_auth"}
            driver = SlackDriver(url=process.url + EVENTS_PATH,
                                 signing_secret=settings.slack_signing_secret or "", fake=fake)
            assert driver.react(channel="C1", ts="1700000000.000100").status == 200
            assert "#1" in driver.command("/recovery list").text, "flags are stored and commands answered"
        finally:
            process.stop()
    log = (tmp_path / "bot.log").read_text()
    assert sum(REFUSED_LINE in line for line in log.splitlines()) == 1, log
    assert "Traceback" not in log


def test_socket_mode_tries_to_connect_again_while_slack_is_down_and_stops_on_a_refused_app_token(bot):
    stop = threading.Event()
    link = socket_mode.SocketLink(bot.runtime.app, "xapp-1-test", ping_seconds=5, stop=stop)
    bot.fake.set_down(True)
    # Each try is two calls (the client retries a 503 once in place): a third call is a second try.
    stopper = threading.Thread(target=lambda: bot.fake.wait_for(
        lambda: len(bot.fake.attempts("apps.connections.open")) >= 3, timeout=10) and stop.set())
    stopper.start()
    try:
        assert link.connect() is False, "still trying when told to stop"
    finally:
        stopper.join()
        link.close()

    bot.fake.set_down(False)
    bot.fake.fail_next("apps.connections.open", status=200, error="invalid_auth")
    refused = socket_mode.SocketLink(bot.runtime.app, "xapp-1-test", ping_seconds=5, stop=threading.Event())
    try:
        with pytest.raises(socket_mode.AppTokenRefused, match=r"^Slack refused SLACK_APP_TOKEN \(invalid_auth\)"):
            refused.connect()
    finally:
        refused.close()
