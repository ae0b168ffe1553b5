"""`python -m bot run` in Socket Mode, end to end: a real bot process connected to the Socket
Mode double over a real WebSocket, its Web API calls answered by the Web API double, on both
databases. What Slack does to Socket Mode apps in production is done to it here: refreshes,
silent drops, deaf connections, too_many_websockets, and a second process on the same token."""
from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.devkit.processes import SocketModeBotProcess
from bot.devkit.slack_double import FakeSlack, Message
from bot.devkit.socket_double import SocketModeDouble
from bot.devkit.socket_driver import SocketDriver
from bot.settings import Settings
from bot.socket_mode import STEADY_SECONDS, ReconnectPace
from tests.conftest import ServedBot

pytestmark = [pytest.mark.wall_clock, pytest.mark.processes]

RECONNECT_WITHIN_SECONDS = 20.0


@pytest.fixture
def socket_slack(fake_slack: FakeSlack) -> Iterator[SocketModeDouble]:
    with SocketModeDouble(fake_slack) as double:
        yield double


@pytest.fixture
def start_bot(settings: Settings, socket_slack: SocketModeDouble, tmp_path: Path) -> Iterator[Callable[..., SocketModeBotProcess]]:
    """Start `run` processes on the test's database; each is stopped (SIGTERM) at the end."""
    started: list[SocketModeBotProcess] = []

    def start(name: str = "bot", *, ping: str = "5s", connected: bool = True, **env: str) -> SocketModeBotProcess:
        before = socket_slack.live_count()
        process = SocketModeBotProcess(settings, app_token=socket_slack.app_token, log=tmp_path / f"{name}.log",
                                       ping=ping, env=env)
        started.append(process)
        process.wait_healthy()
        if connected:
            assert socket_slack.wait_for(lambda: socket_slack.live_count() > before, timeout=15), _log(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def slack(socket_slack: SocketModeDouble) -> SocketDriver:
    return SocketDriver(socket_slack)


def _log(process: SocketModeBotProcess) -> str:
    return process.log_path.read_text(errors="replace")


def _cards(fake: FakeSlack) -> list[Message]:
    return [m for m in fake.all_messages() if m.text.startswith("Recovery #") and m.thread_ts in (None, m.ts)]


def _card(fake: FakeSlack, number: int) -> Message:
    [card] = [m for m in _cards(fake) if m.text.startswith(f"Recovery #{number}:")]
    return card


def _flag(fake: FakeSlack, slack: SocketDriver, text: str, **options: object) -> Message:
    complaint = fake.add_user_message("C1", user="UCUST", text=text)
    assert slack.react(channel="C1", ts=complaint.ts, **options).status == 200
    return complaint


def _numbers(fake: FakeSlack) -> Counter:
    return Counter(int(re.match(r"Recovery #(\d+):", m.text).group(1)) for m in _cards(fake))


def test_every_intake_route_commands_buttons_and_forms_work_over_socket_mode(start_bot, slack, fake_slack):
    process = start_bot()

    _flag(fake_slack, slack, "The parcel came two weeks late")
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 1, timeout=10), _log(process)

    complaint = fake_slack.add_user_message("C1", user="UCUST", text="Wrong size delivered")
    assert slack.shortcut(callback_id="recovery.flag_message", channel="C1", message=complaint).status == 200
    assert fake_slack.wait_for(lambda: len(fake_slack.views()) == 1, timeout=10)
    submitted = slack.submit(fake_slack.views()[0], {"summary": "Wrong size, customer upset"})
    assert (submitted.status, submitted.body) == (200, "")

    answer = slack.command("/recovery new Customer waited 3 weeks for a refund", channel="C1")
    assert answer.status == 200 and "Flagged as #3" in answer.text, "a command is answered in its ack"
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 3, timeout=10), _log(process)
    assert "Wrong size, customer upset" in _card(fake_slack, 2).plain()
    assert "#1" in slack.command("/recovery list").text

    assert slack.click(_card(fake_slack, 1), "Claim", user="U2").status == 200
    assert fake_slack.wait_for(lambda: "<@U2>" in _card(fake_slack, 1).plain(), timeout=10)
    assert fake_slack.wait_for(lambda: len(fake_slack.thread("C1", _card(fake_slack, 1).ts)) == 1, timeout=10)
    [prompt] = fake_slack.thread("C1", _card(fake_slack, 1).ts)
    assert "Acknowledge and take ownership" in prompt.plain()
    assert slack.click(prompt, "Done", user="U2").status == 200
    assert fake_slack.wait_for(lambda: "Apologize" in _card(fake_slack, 1).plain(), timeout=10), \
        _card(fake_slack, 1).plain()

    views = len(fake_slack.views())
    assert slack.command("/recovery new", channel="C1").status == 200
    assert fake_slack.wait_for(lambda: len(fake_slack.views()) == views + 1, timeout=10)
    refused = slack.submit(fake_slack.views()[-1], {})
    assert refused.status == 200
    assert refused.json()["response_action"] == "errors" and "summary" in refused.json()["errors"], refused.body
    assert _numbers(fake_slack) == Counter({1: 1, 2: 1, 3: 1}), "the refused form opened nothing"
    assert "Traceback" not in _log(process)


def test_a_retried_event_makes_no_second_incident(start_bot, slack, fake_slack, socket_slack):
    process = start_bot()
    complaint = _flag(fake_slack, slack, "Charged twice", event_id="EvSame")
    assert slack.react(channel="C1", ts=complaint.ts, event_id="EvSame", retry=1).status == 200
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 1, timeout=10), _log(process)
    time.sleep(1.5)  # a second card would be posted within a tick and a send
    assert _numbers(fake_slack) == Counter({1: 1})


def test_after_a_refresh_and_a_silent_drop_the_bot_is_back_and_handles_what_came_meanwhile_once(
        start_bot, slack, fake_slack, socket_slack):
    process = start_bot()
    _flag(fake_slack, slack, "First")
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 1, timeout=10)

    opened = socket_slack.connection_opens()
    started = time.monotonic()
    socket_slack.disconnect("refresh_requested")
    assert socket_slack.wait_for(lambda: socket_slack.connection_opens() == opened + 1 and socket_slack.live_count() == 1,
                 timeout=RECONNECT_WITHIN_SECONDS), _log(process)
    refreshed = time.monotonic() - started
    _flag(fake_slack, slack, "After the refresh")
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 2, timeout=10), _log(process)

    started = time.monotonic()
    socket_slack.drop()
    complaint = fake_slack.add_user_message("C1", user="UCUST", text="While it was away")
    envelope = socket_slack.send_event({"type": "reaction_added", "user": "U1", "reaction": "sos",
                                        "item_user": "UCUST", "item": {"type": "message", "channel": "C1",
                                                                        "ts": complaint.ts},
                                        "event_ts": f"{time.time():.6f}"})
    assert socket_slack.wait_for(lambda: socket_slack.live_count() == 1 and socket_slack.connection_opens() == opened + 2,
                 timeout=RECONNECT_WITHIN_SECONDS), _log(process)
    dropped = time.monotonic() - started
    assert socket_slack.wait_ack(envelope, timeout=10) is not None, "the queued event reached the bot"
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 3, timeout=10), _log(process)
    time.sleep(1.5)
    assert _numbers(fake_slack) == Counter({1: 1, 2: 1, 3: 1}), "each flag once"
    assert "While it was away" in _card(fake_slack, 3).plain()
    log = _log(process)
    assert "Slack asked for a new connection (refresh_requested)" in log
    assert "Socket Mode: the connection is gone" in log or "reconnecting in" in log, log
    state = process.socket_state()
    assert state["connected"] is True and state["reconnects"] == 2 and state["last_disconnect"] == "refresh_requested"
    print(f"\nreconnected after a refresh in {refreshed:.2f} s, after a silent drop in {dropped:.2f} s")


def test_a_deaf_connection_is_replaced_and_its_event_handled_once(start_bot, slack, fake_slack, socket_slack):
    process = start_bot(ping="1s")
    opened = socket_slack.connection_opens()
    started = time.monotonic()
    socket_slack.deafen()
    _flag(fake_slack, slack, "Sent into a deaf connection")
    assert socket_slack.wait_for(lambda: socket_slack.connection_opens() == opened + 1 and socket_slack.live_count() >= 1,
                 timeout=RECONNECT_WITHIN_SECONDS), _log(process)
    replaced = time.monotonic() - started
    assert fake_slack.wait_for(lambda: len(_cards(fake_slack)) == 1, timeout=15), _log(process)
    time.sleep(1.5)
    assert _numbers(fake_slack) == Counter({1: 1})
    assert "stale" in _log(process)
    print(f"\na deaf connection (ping 1 s) was replaced after {replaced:.2f} s")


def test_too_many_websockets_makes_the_bot_back_off_not_loop(start_bot, socket_slack):
    process = start_bot()
    socket_slack.refuse_connections("too_many_websockets")
    opened = socket_slack.connection_opens()
    socket_slack.disconnect("refresh_requested")
    time.sleep(5)
    tries = socket_slack.connection_opens() - opened
    # Paced 1 s, 2 s, 4 s apart (with jitter) after the first: 3 tries in 5 s (a loop makes hundreds).
    assert 2 <= tries <= 4, f"{tries} connections in 5 s"
    socket_slack.accept_connections()
    assert socket_slack.wait_for(lambda: socket_slack.live_count() == 1, timeout=RECONNECT_WITHIN_SECONDS), _log(process)
    log = _log(process)
    assert "Slack refused another connection (too_many_websockets)" in log
    assert "Socket Mode: reconnecting in" in log


def test_sigterm_closes_the_connection_and_exits_cleanly(start_bot, socket_slack):
    process = start_bot()
    # The double counts the connection at its handshake, the bot at Slack's hello just after.
    assert socket_slack.wait_for(lambda: process.health()["socket_mode"]["connected"] is True), _log(process)
    process.process.terminate()
    assert process.process.wait(timeout=15) == 0
    assert socket_slack.wait_for(lambda: socket_slack.live_count() == 0), "the connection was closed"
    assert "Traceback" not in _log(process)


def _overdue(bot: ServedBot, count: int) -> None:
    """Incidents flagged three hours ago, never claimed: each owes a nudge and an escalation."""
    bot.clock.set(datetime.now(timezone.utc) - timedelta(hours=3))
    for n in range(count):
        bot.slack.command(f"/recovery new Overdue {n}", channel="C2")
    bot.settle()


def test_two_run_processes_on_one_postgresql_share_the_app_token(start_bot, slack, fake_slack, socket_slack, bot,
                                                                  settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("several processes need PostgreSQL")
    _overdue(bot, 10)
    first, second = start_bot("first"), start_bot("second")
    assert [c.hello_num_connections for c in socket_slack.connections() if c.open] == [1, 2]

    for n in range(20):
        _flag(fake_slack, slack, f"Complaint {n}")
    assert fake_slack.wait_for(lambda: sum(1 for c in _cards(fake_slack) if c.channel == "C1") == 20, timeout=30)
    handled = Counter(ack.connection for ack in socket_slack.acks())
    assert len(handled) == 2, f"Slack spread the flags over both processes: {handled}"

    card = next(c for c in _cards(fake_slack) if c.channel == "C1")
    barrier, answers = threading.Barrier(4), {}

    def claim(user: str) -> None:
        barrier.wait()
        answers[user] = slack.click(card, "Claim", user=user)

    threads = [threading.Thread(target=claim, args=(f"U{n}",)) for n in range(20, 24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer.status == 200 for answer in answers.values())
    number = int(re.match(r"Recovery #(\d+):", card.text).group(1))
    assert fake_slack.wait_for(lambda: "Claim" not in _card(fake_slack, number).plain(), timeout=10)
    owners = [user for user in answers if f"<@{user}>" in _card(fake_slack, number).plain()]
    assert len(owners) == 1
    losers = set(answers) - set(owners)
    told = lambda: {m.visible_to for m in fake_slack.ephemerals() if "[Add details]" not in m.plain()}  # noqa: E731
    assert fake_slack.wait_for(lambda: told() == losers, timeout=10), "each loser is told who won"
    assert fake_slack.wait_for(lambda: [m.visible_to for m in fake_slack.ephemerals()].count("U1") == 20), \
        "and the flagger was offered Add details once per flag"

    alerts = lambda: Counter((m.thread_ts, m.text[0]) for m in fake_slack.all_messages()  # noqa: E731
                             if m.channel == "C2" and m.text.startswith(("⏰", "🚨")))
    assert fake_slack.wait_for(lambda: sum(alerts().values()) >= 20, timeout=30)
    time.sleep(2.5)  # two more ticks of each process, for a double to show up
    assert len(alerts()) == 20 and set(alerts().values()) == {1}, "each nudge and escalation once"
    assert _numbers(fake_slack) == Counter({n: 1 for n in range(1, 31)}), "every flag one incident"
    assert "Traceback" not in _log(first) + _log(second)


class _NoJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return 1.0


def test_reconnects_wait_longer_each_time_a_connection_does_not_last_and_not_at_all_after_one_that_did():
    pace = ReconnectPace(jitter=_NoJitter())
    assert pace.pause_before_reconnect(now=0.0) == 0.0, "the first connection is not paced"
    pace.opened(now=100.0)
    assert [pace.pause_before_reconnect(now=100.5 + n) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    pace.opened(now=1000.0)
    assert pace.pause_before_reconnect(now=1000.0 + STEADY_SECONDS) == 0.0, "a connection that lasted a minute"
    pace.opened(now=2000.0)
    assert pace.pause_before_reconnect(now=2001.0) == 1.0, "and the pace starts again from 1 s"


def test_the_jitter_keeps_each_pause_within_a_fifth_of_its_step():
    pace = ReconnectPace(jitter=random.Random(7))
    pace.opened(now=0.0)
    pauses = [pace.pause_before_reconnect(now=1.0) for _ in range(5)]
    assert all(0.8 * step <= pause <= 1.2 * step for pause, step in zip(pauses, [1, 2, 4, 8, 16]))
