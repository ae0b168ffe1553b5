"""`run` in Socket Mode: one WebSocket to Slack that stays alive, comes back, and never storms.

slack_sdk's built-in client does the protocol (apps.connections.open, hello, acks, pings).
Around it, this module adds what production needs and the client lacks:

- the first connection is retried with backoff while the outbox and the scheduler already
  run (a Slack outage at start-up no longer stops the bot);
- reconnects are paced: the client reconnects at once on every ``disconnect`` message,
  ``too_many_websockets`` included, which turns "too many processes share this app token"
  into a reconnect loop; here a connection that did not last waits 1 s, 2 s, 4 s... first;
- a dead connection is replaced at once and a deaf one soon: the client takes a socket that
  Slack closed without a close frame for an idle one (it spins on it, and notices only after
  five failed pings), and a connection that answers no ping for four (Bolt pings every 10 s:
  40 s deaf). A watchdog looks every second: a socket closed by the other end, or no pong for
  two and a half pings (SOCKET_MODE_PING, 5 s), and the connection is replaced;
- the state (connected, since when, last message, reconnects, Slack's count of this app's
  connections) is logged as it changes and reported by /healthz.
"""
from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from http.client import HTTPException

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.backoff import refusal, retry_with_backoff

log = logging.getLogger(__name__)

# A connection that lasted this long was a good one: the next reconnect goes at once.
STEADY_SECONDS = 60.0
# How long after Slack asks for a new connection the old one may still count in a hello.
REPLACE_OVERLAP_SECONDS = 30.0
# No pong for this many ping intervals: the connection is deaf (one ping may be lost in transit).
DEAF_AFTER_PINGS = 2.5
FIRST_PAUSE_SECONDS = 1.0
MAX_PAUSE_SECONDS = 60.0


class AppTokenRefused(Exception):
    """Slack refused SLACK_APP_TOKEN: no connection will ever open with it."""


class ReconnectPace:
    """How long to wait before the next connection: nothing after a connection that lasted,
    else 1 s, 2 s, 4 s... up to a minute (with some jitter, so that replicas refused together
    do not come back together)."""

    def __init__(self, *, jitter: random.Random | None = None) -> None:
        self._opened_at: float | None = None
        self._pause = FIRST_PAUSE_SECONDS
        self._jitter = jitter or random.Random()

    def opened(self, now: float) -> None:
        self._opened_at = now

    def pause_before_reconnect(self, now: float) -> float:
        if self._opened_at is None or now - self._opened_at >= STEADY_SECONDS:
            self._pause = FIRST_PAUSE_SECONDS
            return 0.0
        pause = self._pause * self._jitter.uniform(0.8, 1.2)
        self._pause = min(self._pause * 2, MAX_PAUSE_SECONDS)
        return pause


@dataclass(frozen=True, slots=True)
class LinkState:
    """What /healthz says of the Socket Mode connection (times are Unix seconds)."""

    connected: bool
    connected_since: float | None
    last_message_at: float | None
    reconnects: int
    slack_connections: int | None
    last_disconnect: str | None

    def report(self, now: float) -> dict[str, object]:
        return {
            "connected": self.connected,
            "connected_seconds": None if self.connected_since is None else round(now - self.connected_since, 1),
            "last_message_seconds_ago": None if self.last_message_at is None else round(now - self.last_message_at, 1),
            "reconnects": self.reconnects,
            "slack_connections": self.slack_connections,
            "last_disconnect": self.last_disconnect,
        }


class _PacedClient(SocketModeClient):
    """The built-in client, with every reconnect asked of the link first."""

    def __init__(self, link: SocketLink, **options: object) -> None:
        self._link = link
        # A refused connection asks twice (its disconnect message, then its close frame): one
        # reconnect at a time, or each would wait out its own pause and double the next.
        self._reconnecting = threading.Lock()
        super().__init__(**options)  # type: ignore[arg-type]

    def connect(self) -> None:
        super().connect()
        self._link.connected()

    def connect_to_new_endpoint(self, force: bool = False) -> None:
        with self._reconnecting:
            # Unforced calls also come from a replaced connection closing: nothing to do then.
            if not force and self.is_connected():
                return
            if self._link.may_reconnect(still_open=self.is_connected()):
                super().connect_to_new_endpoint(force)


class SocketLink:
    """The bot's Socket Mode connection: Bolt's app behind a paced, watched client."""

    def __init__(self, app: App, app_token: str, *, ping_seconds: float, stop: threading.Event) -> None:
        self._app = app
        self._stop = stop
        self._lock = threading.Lock()
        self._pace = ReconnectPace()
        self._connected_since: float | None = None
        self._last_message_at: float | None = None
        self._opens = 0
        self._slack_connections: int | None = None
        self._last_disconnect: str | None = None
        self._replace_asked_at: float | None = None
        self._lost_at: float | None = None
        self.client = _PacedClient(
            self, app_token=app_token, logger=logging.getLogger("slack_sdk.socket_mode"), web_client=app.client,
            ping_interval=ping_seconds, on_message_listeners=[self._heard],
        )
        self.client.socket_mode_request_listeners.append(self._handle)
        self._ping_seconds = ping_seconds
        self._watchdog = threading.Thread(target=self._watch, name="socket-mode-watchdog", daemon=True)

    def connect(self) -> bool:
        """Open the first connection; False if ``stop`` came first. Raises AppTokenRefused."""
        told: list[str] = []

        def attempt() -> bool:
            self.client.wss_uri = None  # a URL from a failed try may be stale: ask for a new one
            try:
                self.client.connect()
                return True
            except SlackApiError as error:
                code = refusal(error)
                if code is not None:
                    raise AppTokenRefused(f"Slack refused SLACK_APP_TOKEN ({code}); put a valid app-level token "
                                          "(xapp-, scope connections:write) in SLACK_APP_TOKEN") from None
                why = f"HTTP {error.response.status_code}"
            except (OSError, HTTPException) as error:
                why = error.__class__.__name__
            if not told:
                told.append(why)
                log.warning("Slack does not open a Socket Mode connection yet (%s); trying again in the background",
                            why)
            return False

        connected = retry_with_backoff(attempt, stop=self._stop)
        if connected:
            self._watchdog.start()
        return connected

    def close(self) -> None:
        """Stop reconnecting, close the connection, and let envelopes in hand finish (their acks
        may not reach Slack: Slack redelivers those events, and the database drops the copy)."""
        self._stop.set()
        session = self.client.current_session
        if session is not None and session.sock is not None:
            # Ends the client's read at once: its close() otherwise waits out a read timeout.
            try:
                session.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.client.close()
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=5)

    def state(self) -> LinkState:
        with self._lock:
            return LinkState(connected=self.client.is_connected(), connected_since=self._connected_since,
                             last_message_at=self._last_message_at, reconnects=max(self._opens - 1, 0),
                             slack_connections=self._slack_connections, last_disconnect=self._last_disconnect)

    # Called by the client's threads

    def connected(self) -> None:
        now = time.time()
        with self._lock:
            self._opens += 1
            self._connected_since = now
            self._pace.opened(time.monotonic())
            lost_at, self._lost_at = self._lost_at, None
            opens = self._opens
        if opens == 1:
            log.info("Socket Mode: connected to Slack")
        elif lost_at is not None:
            log.info("Socket Mode: connected again after %.1f s (reconnect %d)", now - lost_at, opens - 1)
        else:
            log.info("Socket Mode: connected again (reconnect %d)", opens - 1)

    def may_reconnect(self, *, still_open: bool) -> bool:
        """Wait out the pace first; False when the bot stops meanwhile."""
        if self._stop.is_set():
            return False
        with self._lock:
            self._lost_at = self._lost_at or time.time()
            pause = self._pace.pause_before_reconnect(time.monotonic())
            lasted = 0.0 if self._connected_since is None else time.time() - self._connected_since
        if pause:
            log.warning("Socket Mode: reconnecting in %.1f s (the last connection lasted %.0f s)", pause, lasted)
            return not self._stop.wait(pause)
        if not still_open:
            log.warning("Socket Mode: the connection is gone (after %.0f s); reconnecting", lasted)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self._ping_seconds / 2)):
            session = self.client.current_session
            if session is None or not session.is_active():
                continue  # the client's own monitor reconnects a connection it closed
            why = self._why_dead(session)
            if why is not None and self.client.current_session is session and not self._stop.is_set():
                log.warning("Socket Mode: %s; replacing the connection", why)
                try:
                    self.client.connect_to_new_endpoint(force=True)
                except Exception as error:  # noqa: BLE001 - Slack unreachable: the next look tries again
                    log.warning("Socket Mode: no new connection yet (%s)", error.__class__.__name__)

    def _why_dead(self, session: object) -> str | None:
        sock = getattr(session, "sock", None)
        if sock is not None and _closed_by_peer(sock):
            return "Slack closed the connection without a word"
        with self._lock:
            since = self._connected_since
        if since is None:
            return None
        # A pong from before this session's start (or none yet) counts from the start.
        heard = max(getattr(session, "last_ping_pong_time", None) or 0.0, since)
        if time.time() - heard > DEAF_AFTER_PINGS * self._ping_seconds:
            return f"no answer to a ping for {time.time() - heard:.0f} s"
        return None

    def _heard(self, raw: str) -> None:
        now = time.time()
        message = _parse(raw)
        kind = message.get("type")
        with self._lock:
            self._last_message_at = now
            # While a connection is replaced, the old one counts in the new one's hello.
            replacing = self._replace_asked_at is not None and now - self._replace_asked_at < REPLACE_OVERLAP_SECONDS
            if kind == "hello":
                self._slack_connections = message.get("num_connections")
            elif kind == "disconnect":
                self._last_disconnect = str(message.get("reason"))
                self._replace_asked_at = now
        if kind == "hello" and (message.get("num_connections") or 0) > 1 and not replacing:
            log.info("Socket Mode: Slack counts %s open connections for this app token and spreads events over "
                     "them; each must be a recovery-bot on this same database (stop any other, like a "
                     "forgotten development copy)", message["num_connections"])
        elif kind == "disconnect":
            reason = message.get("reason")
            if reason == "too_many_websockets":
                log.warning("Socket Mode: Slack refused another connection (too_many_websockets): more than 10 "
                            "processes use this app token; stop the ones you do not need")
            else:
                log.info("Socket Mode: Slack asked for a new connection (%s)", reason)

    def _handle(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        started = time.time()
        send_response(client, request, run_bolt_app(self._app, request), started)


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end closed the TCP connection: a peek at the raw socket (a duplicate
    of its descriptor, so TLS and the client's own reads are untouched) reads end-of-file."""
    try:
        probe = socket.socket(fileno=os.dup(sock.fileno()))
    except OSError:
        return True
    try:
        return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        probe.close()


def _parse(raw: str) -> dict:
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}
