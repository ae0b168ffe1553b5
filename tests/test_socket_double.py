"""The Socket Mode double speaks to slack_sdk's own SocketModeClient (and Bolt's handler) as
Slack does: it pushes envelopes shaped like the real ones, retries events and only events,
holds them while no socket is open, and plays the failures production meets. A raw socket
stands in where the client cannot show the wire (a reused ticket, an ignored disconnect)."""
from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.devkit.slack_double import FakeSlack
from bot.devkit.socket_double import Lost, SocketModeDouble
from bot.devkit.socket_driver import SocketDriver
from bot.devkit.websocket_frames import (
    Frame,
    FrameReader,
    Opcode,
    accept_key,
    close_code,
    encode_frame,
    new_key,
    parse_head,
    read_head,
)

PING_INTERVAL = 0.5
# Key orders of the real frames in shared/slack/payloads/ (socket_mode_hello.json,
# app_mention_socket_mode_envelope.json, slash_command_socket_mode_envelope.json,
# block_actions_message_button_socket_mode_envelope.json,
# socket_mode_disconnect_too_many_websockets.json).
HELLO_KEYS = ["type", "num_connections", "debug_info", "connection_info"]
HELLO_DEBUG_KEYS = ["host", "build_number", "approximate_connection_time"]
EVENTS_KEYS = ["envelope_id", "payload", "type", "accepts_response_payload", "retry_attempt", "retry_reason"]
EVENT_CALLBACK_KEYS = ["token", "team_id", "api_app_id", "event", "type", "event_id", "event_time",
                       "authorizations", "is_ext_shared_channel", "event_context"]
SLASH_KEYS = ["envelope_id", "payload", "type", "accepts_response_payload"]
INTERACTIVE_KEYS = ["envelope_id", "payload", "type", "accepts_response_payload"]
TOO_MANY_KEYS = ["type", "reason", "num_connections", "debug_info", "connection_info"]

REACTION = {"type": "reaction_added", "user": "U1", "reaction": "sos", "item_user": "UCUST",
            "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"}, "event_ts": "1700000001.000200"}
COMMAND = {"token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/recovery",
           "text": "list", "api_app_id": "A1", "response_url": "https://hooks.slack.test/commands/1",
           "trigger_id": "1.trigger"}
CLICK = {"type": "block_actions", "user": {"id": "U1", "team_id": "T1"}, "api_app_id": "A1",
         "actions": [{"action_id": "claim", "block_id": "b", "value": "1", "type": "button"}]}
SUBMISSION = {"type": "view_submission", "user": {"id": "U1"}, "view": {"id": "V1", "callback_id": "new"}}


# A client of slack_sdk's, with every frame it received -------------------------------------


@dataclass
class Client:
    sdk: SocketModeClient
    received: list[dict]
    double: SocketModeDouble

    def envelopes(self, envelope_id: str | None = None) -> list[dict]:
        return [m for m in self.received if "envelope_id" in m
                and (envelope_id is None or m["envelope_id"] == envelope_id)]


def acking(client: SocketModeClient, request: SocketModeRequest) -> None:
    """Acks as Bolt does: events bare, commands with an answer."""
    payload = {"text": f"got {request.payload['text']}"} if request.type == "slash_commands" else None
    client.send_socket_mode_response(SocketModeResponse(request.envelope_id, payload))


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def make_double(fake: FakeSlack) -> Iterator[Callable[..., SocketModeDouble]]:
    made: list[SocketModeDouble] = []

    def make(**options: Any) -> SocketModeDouble:
        made.append(SocketModeDouble(fake, **options).start())
        return made[-1]

    yield make
    for double in made:
        double.stop()


@pytest.fixture
def double(make_double: Callable[..., SocketModeDouble]) -> SocketModeDouble:
    return make_double(ack_timeout=0.3, grace=0.5)


@pytest.fixture
def connect(fake: FakeSlack) -> Iterator[Callable[..., Client]]:
    """Connects real SocketModeClients; closes them all at the end, side by side (each close
    waits up to a second for the client's own queue)."""
    made: list[Client] = []

    def make(double: SocketModeDouble, *, ack: bool = True, sdk: SocketModeClient | None = None) -> Client:
        sdk = sdk or SocketModeClient(app_token=double.app_token, ping_interval=PING_INTERVAL,
                                      web_client=WebClient(token=None, base_url=fake.api_url))
        client = Client(sdk, [], double)
        sdk.on_message_listeners.append(lambda raw: client.received.append(json.loads(raw)))
        if ack:
            sdk.socket_mode_request_listeners.append(acking)
        live = double.live_count()
        sdk.connect()
        assert double.wait_for(lambda: double.live_count() == live + 1 and bool(client.received))
        made.append(client)
        return client

    yield make
    for client in made:
        client.sdk.auto_reconnect_enabled = False
    for double in {id(c.double): c.double for c in made}.values():
        double.drop()
    closing = [threading.Thread(target=client.sdk.close) for client in made]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join(timeout=10)


def open_url(fake: FakeSlack, token: str | None = "xapp-1-A1-1-test") -> str:
    return WebClient(base_url=fake.api_url, token=token, retry_handlers=[]).api_call("apps.connections.open")["url"]


# A raw WebSocket, for what the client cannot show ---------------------------------------------


class Raw:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
        key = new_key()
        self.sock.sendall((f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        got = read_head(self.sock)
        assert got is not None
        first, headers = parse_head(got[0])
        self.status = int(first.split()[1])
        self.accepted = headers.get("sec-websocket-accept") == accept_key(key)
        self.reader = FrameReader(self.sock, got[1])

    def frame(self) -> Frame | None:
        return self.reader.read()

    def message(self) -> dict:
        frame = self.frame()
        assert frame is not None and frame.opcode == Opcode.TEXT, frame
        return json.loads(frame.payload)

    def send(self, opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, mask=os.urandom(4) if masked else None, fin=fin))

    def close(self) -> None:
        self.sock.close()


# The Web API half --------------------------------------------------------------------------


def test_only_the_apps_own_app_level_token_opens_a_connection(fake: FakeSlack,
                                                               make_double: Callable[..., SocketModeDouble]) -> None:
    def error(token: str | None) -> str:
        with pytest.raises(SlackApiError) as refused:
            open_url(fake, token)
        return refused.value.response["error"]

    assert error("xapp-1-A1-1-test") == "unknown_method", "no double attached, no Socket Mode"
    double = make_double()

    assert [error(None), error("xoxb-bot"), error("xoxp-person"), error("xapp-1-A9-1-other")] == [
        "not_authed", "not_allowed_token_type", "not_allowed_token_type", "invalid_auth"]
    url = open_url(fake)
    port = double.address.rsplit(":", 1)[1]
    assert re.fullmatch(rf"ws://127\.0\.0\.1:{port}/link/\?ticket=[0-9a-f-]{{36}}&app_id=A1", url), url
    assert len(fake.calls("apps.connections.open")) == 1
    assert len(fake.attempts("apps.connections.open")) == 6


def test_a_second_open_within_a_minute_is_rate_limited_as_tier_1(make_double: Callable[..., SocketModeDouble]) -> None:
    with FakeSlack(rate_limits=True, clock=lambda: 1000.0) as limited:
        double = SocketModeDouble(limited).start()
        try:
            open_url(limited)
            with pytest.raises(SlackApiError) as refused:
                open_url(limited)
        finally:
            double.stop()
    assert refused.value.response.status_code == 429
    assert refused.value.response.headers["Retry-After"] == "60"
    assert refused.value.response["error"] == "ratelimited"
    assert limited.rate_limited() == {"apps.connections.open": 1}


def test_a_ticket_opens_one_connection_only(fake: FakeSlack, double: SocketModeDouble) -> None:
    url = open_url(fake)
    first = Raw(url)
    assert (first.status, first.accepted, first.message()["type"]) == (101, True, "hello")

    again = Raw(url)
    assert again.status == 401
    assert again.frame() is None, "refused and closed"
    assert double.connection_opens() == 1
    first.close()
    again.close()


def test_pings_get_their_data_back_and_unmasked_frames_are_refused(fake: FakeSlack, double: SocketModeDouble) -> None:
    raw = Raw(open_url(fake))
    raw.message()
    raw.send(Opcode.PING, b"session:1700000000.5")
    assert raw.frame() == Frame(Opcode.PONG, b"session:1700000000.5")
    assert double.connections()[0].pings_answered == 1

    raw.send(Opcode.TEXT, b'{"envelope_id": ', fin=False)
    raw.send(Opcode.PING, b"between")
    raw.send(Opcode.CONTINUATION, b'"E1"}')
    assert raw.frame() == Frame(Opcode.PONG, b"between")
    assert double.wait_for(lambda: len(double.acks()) == 1)
    (ack,) = double.acks()
    assert (ack.envelope_id, ack.payload, ack.connection, ack.seconds) == ("E1", None, 1, None), "a fragmented ack"

    raw.send(Opcode.TEXT, b'{"envelope_id": "x"}', masked=False)
    closing = raw.frame()
    assert closing is not None and (closing.opcode, close_code(closing.payload)) == (Opcode.CLOSE, 1002)
    assert double.wait_for(lambda: not double.connections()[0].open)
    assert [a.envelope_id for a in double.acks()] == ["E1"], "the unmasked ack was not taken"
    raw.close()


# Hello and envelopes ------------------------------------------------------------------------


def test_hello_counts_the_apps_open_connections(double: SocketModeDouble, connect: Callable[..., Client]) -> None:
    first, second = connect(double), connect(double)
    hellos = [first.received[0], second.received[0]]

    assert [list(hello) for hello in hellos] == [HELLO_KEYS, HELLO_KEYS]
    assert list(hellos[0]["debug_info"]) == HELLO_DEBUG_KEYS
    assert [(h["type"], h["num_connections"], h["connection_info"]) for h in hellos] == [
        ("hello", 1, {"app_id": "A1"}), ("hello", 2, {"app_id": "A1"})]
    assert [c.hello_num_connections for c in double.connections()] == [1, 2]


def test_each_envelope_type_arrives_shaped_like_slacks(double: SocketModeDouble,
                                                       connect: Callable[..., Client]) -> None:
    client = connect(double)
    large = {**SUBMISSION, "view": {**SUBMISSION["view"], "private_metadata": "x" * 70_000}}
    sent = {
        "event": double.send_event(REACTION, event_id="Ev42"),
        "command": double.send_slash_command(COMMAND),
        "click": double.send_interactive(CLICK),
        "submission": double.send_interactive(large),
    }
    assert double.wait_for(lambda: len(client.envelopes()) == 4)
    event, command, click, submission = (client.envelopes(eid)[0] for eid in sent.values())

    assert list(event) == EVENTS_KEYS and list(event["payload"]) == EVENT_CALLBACK_KEYS
    assert (event["type"], event["accepts_response_payload"], event["retry_attempt"], event["retry_reason"]) == (
        "events_api", False, 0, "")
    callback = event["payload"]
    assert (callback["type"], callback["event_id"], callback["api_app_id"], callback["team_id"]) == (
        "event_callback", "Ev42", "A1", "T1")
    assert callback["event"] == REACTION
    assert callback["authorizations"] == [{"enterprise_id": None, "team_id": "T1", "user_id": "UBOT",
                                           "is_bot": True, "is_enterprise_install": False}]
    assert callback["event_context"] == "1-reaction_added-T1-C1"

    assert list(command) == SLASH_KEYS and (command["type"], command["accepts_response_payload"]) == (
        "slash_commands", True)
    assert command["payload"] == COMMAND
    assert list(click) == INTERACTIVE_KEYS and (click["type"], click["accepts_response_payload"]) == (
        "interactive", False)
    assert (submission["accepts_response_payload"], submission["payload"]) == (True, large)


def test_acks_are_recorded_with_their_payload_and_a_second_ack_is_a_duplicate(
        double: SocketModeDouble, connect: Callable[..., Client]) -> None:
    client = connect(double)
    event, command = double.send_event(REACTION), double.send_slash_command(COMMAND)

    event_ack, command_ack = double.wait_ack(event), double.wait_ack(command)
    assert event_ack is not None and (event_ack.payload, event_ack.connection, event_ack.duplicate) == (None, 1, False)
    assert command_ack is not None and command_ack.payload == {"text": "got list"}
    assert command_ack.seconds is not None and command_ack.seconds >= 0

    client.sdk.send_socket_mode_response(SocketModeResponse(event))
    assert double.wait_for(lambda: len(double.acks()) == 3)
    acks = [(a.envelope_id, a.duplicate) for a in double.acks()]
    assert sorted(acks[:2]) == sorted([(event, False), (command, False)]) and acks[2] == (event, True)
    time.sleep(3 * double.ack_timeout)
    assert [d.retry_attempt for d in double.deliveries()] == [0, 0], "an acked event is not retried"
    assert double.lost() == []


# Retries, the queue, and what is never retried ----------------------------------------------


def test_an_unacked_event_is_retried_with_the_same_id_then_lost(double: SocketModeDouble,
                                                                connect: Callable[..., Client]) -> None:
    client = connect(double, ack=False)
    event = double.send_event(REACTION)

    assert double.wait_for(lambda: len(double.lost()) == 1)
    received = client.envelopes(event)
    assert [(m["retry_attempt"], m["retry_reason"]) for m in received] == [
        (0, ""), (1, "timeout"), (2, "timeout"), (3, "timeout")]
    assert all(m["payload"] == received[0]["payload"] for m in received)
    (lost,) = double.lost()
    assert (lost.envelope_id, lost.type, lost.retry_attempt, lost.reason) == (event, "events_api", 3, "not acked")


def test_events_wait_for_a_socket_and_arrive_as_retries_in_order(fake: FakeSlack, double: SocketModeDouble,
                                                                 connect: Callable[..., Client]) -> None:
    first = double.send_event({**REACTION, "reaction": "one"})
    second = double.send_event({**REACTION, "reaction": "two"})
    assert double.deliveries() == [] and double.lost() == []

    client = connect(double)

    assert double.wait_ack(first) is not None and double.wait_ack(second) is not None
    hello, *envelopes = client.received
    assert hello["type"] == "hello"
    assert [(m["envelope_id"], m["retry_attempt"], m["retry_reason"]) for m in envelopes] == [
        (first, 1, "timeout"), (second, 1, "timeout")]
    assert [m["payload"]["event"]["reaction"] for m in envelopes] == ["one", "two"]


def test_commands_and_clicks_are_never_queued_nor_retried(double: SocketModeDouble,
                                                          connect: Callable[..., Client]) -> None:
    command, click = double.send_slash_command(COMMAND), double.send_interactive(CLICK)
    assert [(x.envelope_id, x.type, x.reason) for x in double.lost()] == [
        (command, "slash_commands", "no connection"), (click, "interactive", "no connection")]
    assert double.wait_ack(command, timeout=5) is None

    deaf_to_envelopes = connect(double, ack=False)
    unanswered = double.send_interactive(CLICK)
    assert double.wait_for(lambda: len(double.lost()) == 3)
    assert double.lost()[2] == Lost(unanswered, "interactive", 0, "not acked", double.lost()[2].at)
    assert [m["type"] for m in deaf_to_envelopes.received] == ["hello", "interactive"], "delivered once, no retry"


def test_envelopes_go_round_robin_over_the_connections(double: SocketModeDouble,
                                                       connect: Callable[..., Client]) -> None:
    first, second = connect(double), connect(double)
    sent = [double.send_event({**REACTION, "reaction": str(n)}) for n in range(4)]

    assert all(double.wait_ack(eid) for eid in sent)
    assert [d.connection for d in double.deliveries()] == [1, 2, 1, 2]
    assert len(first.envelopes()) == len(second.envelopes()) == 2
    assert [c.envelopes_delivered for c in double.connections()] == [2, 2]


# Too many connections -------------------------------------------------------------------------


def test_an_eleventh_connection_gets_hello_then_too_many_websockets_and_is_closed(
        fake: FakeSlack, double: SocketModeDouble) -> None:
    ten = [Raw(open_url(fake)) for _ in range(10)]
    assert [raw.message()["num_connections"] for raw in ten] == list(range(1, 11))

    newcomer = Raw(open_url(fake))
    hello, refusal = newcomer.message(), newcomer.message()
    closing = newcomer.frame()

    assert (hello["type"], hello["num_connections"]) == ("hello", 11)
    assert list(refusal) == TOO_MANY_KEYS
    assert refusal == {"type": "disconnect", "reason": "too_many_websockets", "num_connections": 11,
                       "debug_info": {"host": "applink-1"}, "connection_info": {"app_id": "A1"}}
    assert closing is not None and closing.opcode == Opcode.CLOSE
    assert newcomer.frame() is None
    assert double.live_count() == 10
    assert double.wait_for(lambda: sum(c.open for c in double.connections()) == 10)
    for raw in [*ten, newcomer]:
        raw.close()


def test_refused_connections_until_accepted_again(fake: FakeSlack, double: SocketModeDouble) -> None:
    double.refuse_connections()
    refused = [Raw(open_url(fake)) for _ in range(2)]
    for raw in refused:
        assert [raw.message()["type"], raw.message()["reason"]] == ["hello", "too_many_websockets"]
        closing = raw.frame()
        assert closing is not None and closing.opcode == Opcode.CLOSE

    double.accept_connections()
    welcome = Raw(open_url(fake))
    assert welcome.message()["num_connections"] == 1
    assert double.wait_for(lambda: double.live_count() == 1)
    assert double.connection_opens() == 3
    for raw in [*refused, welcome]:
        raw.close()


# Refresh, drop, deaf ----------------------------------------------------------------------------


def test_refresh_requested_moves_the_client_to_a_new_url(fake: FakeSlack, double: SocketModeDouble,
                                                        connect: Callable[..., Client]) -> None:
    client = connect(double)
    double.disconnect("refresh_requested")

    assert double.wait_for(lambda: double.connection_opens() == 2 and double.live_count() == 1)
    first, second = double.connections()
    assert double.wait_for(lambda: not double.connections()[0].open)
    assert second.open and second.hello_num_connections == 2, "the new socket opened before the old one closed"
    assert len(fake.calls("apps.connections.open")) == 2
    assert {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-1"}} in client.received
    event = double.send_event(REACTION)
    ack = double.wait_ack(event)
    assert ack is not None and ack.connection == 2


def test_a_socket_told_to_refresh_gets_nothing_more_and_is_closed_after_grace(
        fake: FakeSlack, double: SocketModeDouble) -> None:
    raw = Raw(open_url(fake))
    raw.message()
    double.disconnect("refresh_requested")

    assert raw.message() == {"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "applink-1"}}
    assert double.connections()[0].open, "the client has `grace` seconds to move"
    double.send_event(REACTION)
    closing = raw.frame()
    assert closing is not None and closing.opcode == Opcode.CLOSE, "the event was not sent to a leaving socket"
    assert raw.frame() is None
    assert not double.connections()[0].open
    assert [d.connection for d in double.deliveries()] == []
    raw.close()


def test_a_dropped_connection_is_noticed_and_replaced(double: SocketModeDouble,
                                                      connect: Callable[..., Client]) -> None:
    connect(double)
    double.drop()

    assert double.wait_for(lambda: double.live_count() == 1 and double.connection_opens() == 2, timeout=10)
    event = double.send_event(REACTION)
    ack = double.wait_ack(event)
    assert ack is not None and ack.connection == 2


def test_a_deaf_connection_answers_no_ping_and_its_event_is_retried_elsewhere(
        double: SocketModeDouble, connect: Callable[..., Client]) -> None:
    connect(double)
    connect(double)
    double.deafen(1)
    pings = double.connections()[0].pings_answered

    event = double.send_event(REACTION)
    ack = double.wait_ack(event)

    assert ack is not None and ack.connection == 2
    assert [(d.retry_attempt, d.connection) for d in double.deliveries()] == [(0, 1), (1, 2)]
    assert double.wait_for(lambda: not double.connections()[0].open, timeout=10), "the client gave up on it"
    deaf = double.connections()[0]
    assert (deaf.deaf, deaf.pings_answered) == (True, pings)
    assert double.wait_for(lambda: double.live_count() == 2, timeout=10), "and opened another"


# The driver -----------------------------------------------------------------------------------


def test_socket_driver_answers_with_the_ack_of_a_bolt_app(fake: FakeSlack, double: SocketModeDouble,
                                                          connect: Callable[..., Client]) -> None:
    app = App(client=WebClient(token="xoxb-test", base_url=fake.api_url), signing_secret="unused")

    @app.command("/hello")
    def hello(ack: Callable[..., None], command: dict) -> None:
        ack(f"Hello, {command['text']}!")

    driver = SocketDriver(double)
    unheard = driver.command("/hello nobody")
    assert (unheard.status, unheard.body) == (0, ""), "no socket: Slack shows the person an error"

    handler = SocketModeHandler(app, double.app_token, ping_interval=PING_INTERVAL)
    connect(double, ack=False, sdk=handler.client)
    answer = driver.command("/hello world")

    assert (answer.status, answer.json(), answer.text) == (200, {"text": "Hello, world!"}, "Hello, world!")
