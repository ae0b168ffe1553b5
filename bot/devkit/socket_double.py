"""A local double of Slack's Socket Mode: a WebSocket server on 127.0.0.1 that pushes envelopes.

Slack's own SDKs test Socket Mode with servers that only answer the client, so what breaks in
production (shared/slack/NEXT-WAVE.md §1.3) never runs in a test: events retried after a
missed ack, events held while no socket is open, clicks that are never redelivered, refresh
and drop, too many sockets, a connection that stays open but hears nothing. This double
*pushes*, as Slack does, and keeps the ledger a test needs to see what came of each envelope.

The Web API half lives on the FakeSlack it is given: ``apps.connections.open`` (attached
while the double runs) hands out single-use ticket URLs, so the real ``SocketModeClient`` and
Bolt's ``SocketModeHandler`` connect to it unchanged. The WebSocket protocol is written out
in websocket_frames.py; standard library only.

Delivery, as Slack does it (NEXT-WAVE.md §1.1):
- envelopes go round-robin over the live connections (open and not told to disconnect);
- an ``events_api`` envelope not acked within ``ack_timeout`` is sent again with the same
  envelope_id and payload, ``retry_attempt`` + 1 and ``retry_reason: "timeout"``, up to
  ``max_retries`` times, then it is lost; with no live connection it waits in a queue and goes,
  in order, to the next connection right after its hello, counted as a retry (Slack counted the
  attempt that found no socket);
- ``slash_commands`` and ``interactive`` envelopes are never retried nor queued: with no live
  connection, or no ack within ``ack_timeout``, they are lost (the person saw an error).

Lifecycle switches: ``disconnect(reason)``, ``refuse_connections()`` / ``accept_connections()``
(``heal()``), ``drop()`` (no close frame), ``deafen()`` (the "ghost connection"). A deaf
connection still has its bytes read, and thrown away unheard (no pong, no ack): that keeps
its TCP state true, so the double sees when the client gives up on it.

Every hook reads state under one Condition, as FakeSlack does; times are monotonic.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.devkit.slack_double import FakeSlack
from bot.devkit.slack_protocol import ApiError, JsonDict
from bot.devkit.websocket_frames import (
    FrameReader,
    Opcode,
    ProtocolError,
    accept_key,
    close_code,
    close_payload,
    encode_frame,
    parse_head,
    read_head,
)

__all__ = ["Ack", "ConnectionInfo", "Delivery", "Lost", "SocketModeDouble"]

OPEN_METHOD = "apps.connections.open"
EVENTS, COMMANDS, INTERACTIVE = "events_api", "slash_commands", "interactive"
DISCONNECT_REASONS = frozenset({"refresh_requested", "warning", "too_many_websockets", "link_disabled"})
# After these Slack expects the client to move to a new socket, and closes the old one itself.
_CLOSED_AFTER_GRACE = frozenset({"refresh_requested", "warning"})
# Interactions whose ack may carry an answer (errors, options), as in the real envelopes.
_ANSWERED_INTERACTIONS = frozenset({"view_submission", "block_suggestion"})
_HOST = "applink-1"
_HANDSHAKE_SECONDS = 5.0
_NORMAL_CLOSE, _GOING_AWAY, _PROTOCOL_ERROR = 1000, 1001, 1002


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One WebSocket as Slack sees it. ``hello_num_connections`` is what its hello said."""

    id: int
    opened_at: float
    closed_at: float | None
    open: bool
    deaf: bool
    hello_num_connections: int
    envelopes_delivered: int
    pings_answered: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope written to (or, for a deaf connection, held for) a connection."""

    envelope_id: str
    type: str
    retry_attempt: int
    connection: int
    at: float


@dataclass(frozen=True, slots=True)
class Ack:
    """An ack as received. ``seconds`` runs from the envelope's last delivery (None for an
    envelope the double never sent); ``late`` when the envelope was already lost."""

    envelope_id: str
    payload: Any
    connection: int
    seconds: float | None
    duplicate: bool
    late: bool


@dataclass(frozen=True, slots=True)
class Lost:
    """An envelope Slack gave up on: ``reason`` is "no connection" or "not acked"."""

    envelope_id: str
    type: str
    retry_attempt: int
    reason: str
    at: float


@dataclass(eq=False)
class _Envelope:
    id: str
    type: str
    payload: JsonDict
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    delivered_at: float | None = None
    deadline: float | None = None
    acked: bool = False
    lost: bool = False

    def message(self) -> JsonDict:
        """The envelope on the wire, keys in the order of the real ones (shared/slack/payloads)."""
        body: JsonDict = {"envelope_id": self.id, "payload": self.payload, "type": self.type,
                          "accepts_response_payload": self.accepts_response_payload}
        if self.type == EVENTS:
            body |= {"retry_attempt": self.retry_attempt, "retry_reason": self.retry_reason}
        return body


@dataclass(eq=False)
class _Connection:
    id: int
    sock: socket.socket
    opened_at: float
    hello_num_connections: int
    leaving: bool = False
    deaf: bool = False
    closed_at: float | None = None
    close_at: float | None = None
    delivered: int = 0
    pings_answered: int = 0
    outbox: deque[bytes] = field(default_factory=deque)
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def open(self) -> bool:
        return self.closed_at is None

    @property
    def live(self) -> bool:
        """Envelopes may go here: open and not told to disconnect (deaf ones too: Slack cannot tell)."""
        return self.open and not self.leaving

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(self.id, self.opened_at, self.closed_at, self.open, self.deaf,
                              self.hello_num_connections, self.delivered, self.pings_answered)


def _text(message: JsonDict) -> bytes:
    return encode_frame(Opcode.TEXT, json.dumps(message).encode())


class SocketModeDouble:
    """Slack's Socket Mode for one app, on a free port of 127.0.0.1, beside a FakeSlack."""

    def __init__(
        self,
        slack: FakeSlack,
        *,
        app_id: str = "A1",
        app_token: str = "xapp-1-A1-1-test",
        ack_timeout: float = 3.0,
        max_retries: int = 3,
        max_connections: int = 10,
        grace: float = 1.0,
    ) -> None:
        self.slack = slack
        self.app_id = app_id
        self.app_token = app_token
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self.max_connections = max_connections
        self.grace = grace
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._loops: list[threading.Thread] = []
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._stopping = False
        self._tickets: set[str] = set()
        self._connection_ids = count(1)
        self._connections: dict[int, _Connection] = {}
        self._opens = 0
        self._last_routed = 0
        self._refusing: str | None = None
        self._envelopes: dict[str, _Envelope] = {}
        self._in_flight: dict[str, _Envelope] = {}
        self._waiting: deque[_Envelope] = deque()
        self._deliveries: list[Delivery] = []
        self._acks: list[Ack] = []
        self._first_acks: dict[str, Ack] = {}
        self._lost: list[Lost] = []

    # Life cycle

    def start(self) -> SocketModeDouble:
        """Listen, and let apps.connections.open on the FakeSlack hand out this double's URLs."""
        listener = socket.create_server(("127.0.0.1", 0))
        # A short accept timeout keeps stop() quick: closing a socket does not wake accept().
        listener.settimeout(0.05)
        self._listener = listener
        self._loops = [self._spawn(self._accept_loop, "socket-mode-accept"),
                       self._spawn(self._timer_loop, "socket-mode-timers")]
        self.slack.serve_app_method(OPEN_METHOD, self._open_connection)
        return self

    def stop(self) -> None:
        """Hand out no more URLs, close every socket (a close frame to open connections), join threads."""
        self.slack.serve_app_method(OPEN_METHOD, None)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            connections = [c for c in self._connections.values() if c.open]
        for loop in self._loops:
            loop.join(timeout=2)
        for connection in connections:
            self._close(connection, _GOING_AWAY)
        with self._cond:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            _shutdown(sock)
        for thread in threads:
            thread.join(timeout=2)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> SocketModeDouble:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def address(self) -> str:
        if self._listener is None:
            raise RuntimeError("SocketModeDouble is not started: call start() or use it in a with block.")
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}"

    # Delivery: the double pushes, as Slack does; each returns the envelope_id

    def send_event(self, event: JsonDict, *, event_id: str | None = None, team_id: str = "T1") -> str:
        """An Events API envelope around ``event``, its event_callback shaped like Slack's."""
        channel = event.get("channel") or (event.get("item") or {}).get("channel") or ""
        return self.send_events_payload({
            "token": "legacy", "team_id": team_id, "api_app_id": self.app_id, "event": event,
            "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": self.slack.bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": "-".join(part for part in ("1", event.get("type"), team_id, channel) if part),
        })

    def send_events_payload(self, payload: JsonDict, *, retry_attempt: int = 0) -> str:
        """An Events API envelope around a whole event_callback; ``retry_attempt`` > 0 sends it
        as Slack's retry of an attempt made elsewhere (reason "timeout")."""
        return self._send(_Envelope(str(uuid.uuid4()), EVENTS, payload, False, retry_attempt,
                                    "timeout" if retry_attempt else ""))

    def send_slash_command(self, fields: dict[str, str]) -> str:
        """A slash command: its form fields as the payload; the ack may carry the answer."""
        return self._send(_Envelope(str(uuid.uuid4()), COMMANDS, dict(fields), True))

    def send_interactive(self, payload: JsonDict) -> str:
        """A click, shortcut or form submission."""
        answered = payload.get("type") in _ANSWERED_INTERACTIONS
        return self._send(_Envelope(str(uuid.uuid4()), INTERACTIVE, payload, answered))

    # Lifecycle switches

    def disconnect(self, reason: str, *, connection: int | None = None) -> None:
        """Tell a connection (every open one when None) to go; nothing more is sent to it.

        After refresh_requested and warning the double closes it ``grace`` seconds later if
        the client has not.
        """
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack sends no disconnect reason {reason!r}; one of {sorted(DISCONNECT_REASONS)}")
        message = self._disconnect_message(reason)
        with self._cond:
            targets = self._targets(connection)
            now = time.monotonic()
            for target in targets:
                target.leaving = True
                target.outbox.append(message)
                if reason in _CLOSED_AFTER_GRACE:
                    target.close_at = now + self.grace
            self._cond.notify_all()
        for target in targets:
            self._pump(target)

    def refuse_connections(self, reason: str = "too_many_websockets") -> None:
        """Every new connection gets its hello, then a disconnect with ``reason``, then is closed."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack sends no disconnect reason {reason!r}; one of {sorted(DISCONNECT_REASONS)}")
        with self._cond:
            self._refusing = reason

    def accept_connections(self) -> None:
        with self._cond:
            self._refusing = None

    def heal(self) -> None:
        """Stop refusing connections. A deaf connection stays deaf until it is closed."""
        self.accept_connections()

    def drop(self, connection: int | None = None) -> None:
        """Close the TCP connection (every open one when None) without a close frame."""
        with self._cond:
            targets = self._targets(connection)
        for target in targets:
            self._close(target, None)

    def deafen(self, connection: int | None = None) -> None:
        """Keep the TCP connection open, but hear nothing (no pong, no ack) and write nothing:
        envelopes routed to it are held, so events are retried elsewhere after ack_timeout."""
        with self._cond:
            for target in self._targets(connection):
                target.deaf = True

    # Test hooks

    def connections(self) -> list[ConnectionInfo]:
        with self._cond:
            return [c.info() for c in self._connections.values()]

    def live_count(self) -> int:
        """Connections that envelopes may go to: open, not told to disconnect (deaf ones count)."""
        with self._cond:
            return sum(c.live for c in self._connections.values())

    def connection_opens(self) -> int:
        """WebSocket handshakes that succeeded (refused newcomers included: they got their hello)."""
        with self._cond:
            return self._opens

    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks)

    def lost(self) -> list[Lost]:
        with self._cond:
            return list(self._lost)

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack | None:
        """The first ack of an envelope; None at the timeout, or at once if no ack can come
        (unknown, or lost without ever being delivered)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ack = self._first_acks.get(envelope_id)
                if ack is not None:
                    return ack
                envelope = self._envelopes.get(envelope_id)
                remaining = deadline - time.monotonic()
                if envelope is None or (envelope.lost and envelope.delivered_at is None) or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate`` holds: checked at each of the double's changes and every 20 ms
        (for anything else it looks at, such as a client's state). It runs outside the lock, so
        it may ask the FakeSlack too (whose apps.connections.open takes this lock)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._cond:
                self._cond.wait(min(0.02, remaining))
        return True

    # The Web API half

    def _open_connection(self, token: str) -> JsonDict:
        """apps.connections.open: only this app's app-level token gets a (single-use) URL."""
        if token.startswith(("xoxb-", "xoxp-")):
            raise ApiError("not_allowed_token_type")
        if token != self.app_token:
            raise ApiError("invalid_auth")
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets.add(ticket)
        return {"url": f"{self.address}/link/?ticket={ticket}&app_id={self.app_id}"}

    # Routing, under the lock; the caller pumps the connection returned, outside it

    def _send(self, envelope: _Envelope) -> str:
        with self._cond:
            if self._stopping or self._listener is None:
                raise RuntimeError("SocketModeDouble is not running")
            self._envelopes[envelope.id] = envelope
            target = self._push(envelope, time.monotonic())
        if target is not None:
            self._pump(target)
        return envelope.id

    def _push(self, envelope: _Envelope, now: float) -> _Connection | None:
        """Deliver to the next live connection; with none, queue an event as its next retry
        (or lose it past max_retries), and lose anything else."""
        target = self._next_live()
        if target is not None:
            self._deliver(envelope, target, now)
        elif envelope.type != EVENTS:
            self._lose(envelope, "no connection", now)
        elif envelope.retry_attempt >= self.max_retries:
            self._lose(envelope, "not acked", now)
        else:
            envelope.retry_attempt += 1
            envelope.retry_reason = "timeout"
            self._waiting.append(envelope)
        return target

    def _next_live(self) -> _Connection | None:
        live = [c for c in self._connections.values() if c.live]
        if not live:
            return None
        chosen = next((c for c in live if c.id > self._last_routed), live[0])
        self._last_routed = chosen.id
        return chosen

    def _deliver(self, envelope: _Envelope, target: _Connection, now: float) -> None:
        envelope.delivered_at = now
        envelope.deadline = now + self.ack_timeout
        self._in_flight[envelope.id] = envelope
        target.delivered += 1
        target.outbox.append(_text(envelope.message()))
        self._deliveries.append(Delivery(envelope.id, envelope.type, envelope.retry_attempt, target.id, now))
        self._cond.notify_all()

    def _lose(self, envelope: _Envelope, reason: str, now: float) -> None:
        envelope.lost = True
        self._lost.append(Lost(envelope.id, envelope.type, envelope.retry_attempt, reason, now))
        self._cond.notify_all()

    def _targets(self, connection: int | None) -> list[_Connection]:
        if connection is None:
            return [c for c in self._connections.values() if c.open]
        target = self._connections.get(connection)
        if target is None or not target.open:
            raise ValueError(f"connection {connection} is not open")
        return [target]

    # Timers: ack deadlines and grace closes

    def _timer_loop(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                now = time.monotonic()
                to_pump, to_close = self._expire(now)
                if not to_pump and not to_close:
                    self._cond.wait(self._until_next(now))
                    continue
            for connection in to_pump:
                self._pump(connection)
            for connection in to_close:
                self._close(connection, _NORMAL_CLOSE)

    def _expire(self, now: float) -> tuple[list[_Connection], list[_Connection]]:
        to_pump: list[_Connection] = []
        for envelope in list(self._in_flight.values()):
            if envelope.deadline is None or envelope.deadline > now:
                continue
            del self._in_flight[envelope.id]
            envelope.deadline = None
            if envelope.type == EVENTS and envelope.retry_attempt < self.max_retries:
                envelope.retry_attempt += 1
                envelope.retry_reason = "timeout"
                target = self._push(envelope, now)
                if target is not None:
                    to_pump.append(target)
            else:
                self._lose(envelope, "not acked", now)
        to_close = [c for c in self._connections.values() if c.open and c.close_at is not None and c.close_at <= now]
        for connection in to_close:
            connection.close_at = None
        return to_pump, to_close

    def _until_next(self, now: float) -> float | None:
        deadlines = [e.deadline for e in self._in_flight.values() if e.deadline is not None]
        deadlines += [c.close_at for c in self._connections.values() if c.open and c.close_at is not None]
        return max(0.0, min(deadlines) - now) if deadlines else None

    # Sockets

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._cond:
            # Forget finished ones: a client in a reconnect loop opens thousands of connections.
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return thread

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                if self._stopping:
                    sock.close()
                    return
                self._sockets.add(sock)
            self._spawn(self._serve, "socket-mode-connection", sock)

    def _serve(self, sock: socket.socket) -> None:
        """One client: the handshake, the hello, then its frames until either side closes."""
        connection: _Connection | None = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            opened = self._handshake(sock)
            if opened is not None:
                connection, rest = opened
                self._read(connection, rest)
        except ProtocolError:
            if connection is not None:
                self._close(connection, _PROTOCOL_ERROR)
        except OSError:
            pass
        finally:
            if connection is not None:
                self._mark_closed(connection)
            with self._cond:
                self._sockets.discard(sock)
            sock.close()

    def _handshake(self, sock: socket.socket) -> tuple[_Connection, bytes] | None:
        sock.settimeout(_HANDSHAKE_SECONDS)
        got = read_head(sock)
        if got is None:
            return None
        head, rest = got
        first, headers = parse_head(head)
        method, _, target = first.partition(" ")
        url = urlsplit(target.partition(" ")[0])
        key = headers.get("sec-websocket-key", "")
        if (method != "GET" or url.path.rstrip("/") != "/link" or not key
                or headers.get("upgrade", "").lower() != "websocket"):
            _refuse(sock, "400 Bad Request")
            return None
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._cond:
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            _refuse(sock, "401 Unauthorized")
            return None
        sock.sendall((
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
        ).encode())
        sock.settimeout(None)
        connection, refused = self._admit(sock)
        self._pump(connection)
        if refused:
            self._close(connection, _NORMAL_CLOSE)
        return connection, rest

    def _admit(self, sock: socket.socket) -> tuple[_Connection, bool]:
        """Register a new connection with its hello; over the limit (or while refusing) it also
        gets its disconnect. Otherwise the events waiting for a socket go to it, in order."""
        with self._cond:
            self._opens += 1
            open_count = sum(c.open for c in self._connections.values()) + 1
            refusal = self._refusing or ("too_many_websockets" if open_count > self.max_connections else None)
            now = time.monotonic()
            connection = _Connection(next(self._connection_ids), sock, now, open_count, leaving=refusal is not None)
            self._connections[connection.id] = connection
            connection.outbox.append(_text({
                "type": "hello", "num_connections": open_count,
                "debug_info": {"host": _HOST, "build_number": 10, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }))
            if refusal is not None:
                connection.outbox.append(self._disconnect_message(refusal, open_count=open_count))
            else:
                while self._waiting:
                    self._deliver(self._waiting.popleft(), connection, now)
            self._cond.notify_all()
            return connection, refusal is not None

    def _disconnect_message(self, reason: str, *, open_count: int | None = None) -> bytes:
        """Slack's disconnect; refusing a newcomer for too many websockets, it also says how many
        are open, as the real one does (payloads/socket_mode_disconnect_too_many_websockets.json)."""
        if reason == "too_many_websockets" and open_count is not None:
            return _text({"type": "disconnect", "reason": reason, "num_connections": open_count,
                          "debug_info": {"host": _HOST}, "connection_info": {"app_id": self.app_id}})
        return _text({"type": "disconnect", "reason": reason, "debug_info": {"host": _HOST}})

    def _read(self, connection: _Connection, rest: bytes) -> None:
        reader = FrameReader(connection.sock, rest)
        # The opcode and parts of a fragmented message being received (RFC 6455 §5.4).
        kind: int | None = None
        parts: list[bytes] = []
        while True:
            frame = reader.read()
            if frame is None:
                return
            with self._cond:
                # One lock for hearing and counting: a ping is answered, or the connection is deaf.
                if connection.deaf:
                    continue
                pinged = frame.masked and frame.opcode == Opcode.PING
                if pinged:
                    connection.pings_answered += 1
                    connection.outbox.append(encode_frame(Opcode.PONG, frame.payload))
            if not frame.masked:
                raise ProtocolError("client frames must be masked")
            if pinged:
                self._pump(connection)
            elif frame.opcode == Opcode.CLOSE:
                self._close(connection, close_code(frame.payload) or _NORMAL_CLOSE)
                return
            elif frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION):
                if (frame.opcode == Opcode.CONTINUATION) != (kind is not None):
                    raise ProtocolError("a continuation frame must follow an unfinished message, and only then")
                kind = frame.opcode if kind is None else kind
                parts.append(frame.payload)
                if frame.fin:
                    if kind == Opcode.TEXT:
                        self._received(connection, b"".join(parts))
                    kind, parts = None, []

    def _received(self, connection: _Connection, data: bytes) -> None:
        """A text message from the client: an ack when it names an envelope; anything else is ignored."""
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        envelope_id = str(message["envelope_id"])
        with self._cond:
            envelope = self._envelopes.get(envelope_id)
            at = envelope.delivered_at if envelope is not None else None
            ack = Ack(envelope_id, message.get("payload"), connection.id,
                      None if at is None else time.monotonic() - at,
                      duplicate=envelope_id in self._first_acks, late=envelope is not None and envelope.lost)
            self._acks.append(ack)
            self._first_acks.setdefault(envelope_id, ack)
            if envelope is not None and not envelope.acked:
                envelope.acked = True
                envelope.deadline = None
                self._in_flight.pop(envelope_id, None)
            self._cond.notify_all()

    def _pump(self, connection: _Connection) -> None:
        """Write the connection's outbox in order; one writer at a time, never under the lock
        (a slow reader must not stall the double). A deaf connection's outbox is held."""
        with connection.write_lock:
            while True:
                with self._cond:
                    if connection.deaf or not connection.open or not connection.outbox:
                        return
                    data = connection.outbox.popleft()
                try:
                    connection.sock.sendall(data)
                except OSError:
                    self._mark_closed(connection)
                    return

    def _close(self, connection: _Connection, code: int | None) -> None:
        """Close from Slack's side: a close frame with ``code`` (None: none, an abrupt drop), then
        shut the TCP connection; the reader thread sees the end and releases the socket.

        Recorded as closed before the frame goes, so a client that sees the close finds it in
        ``connections()``."""
        with connection.write_lock:
            with self._cond:
                speak = code is not None and connection.open and not connection.deaf
            self._mark_closed(connection)
            if speak:
                try:
                    connection.sock.sendall(encode_frame(Opcode.CLOSE, close_payload(code)))
                except OSError:
                    pass
            _shutdown(connection.sock)

    def _mark_closed(self, connection: _Connection) -> None:
        with self._cond:
            if connection.open:
                connection.closed_at = time.monotonic()
                connection.outbox.clear()
                self._cond.notify_all()


def _refuse(sock: socket.socket, status: str) -> None:
    sock.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
