"""A local double of the Slack Web API over real HTTP, for the offline demo, the tests and the benchmarks.

It speaks HTTP on 127.0.0.1 so that the real ``WebClient``, its retry handlers and Bolt run
unchanged against it: what passes here went through the same code as in production.
Failures are switched on by the caller, never chosen by the text of a token or a message.

Failure switches (``heal()`` stops them all and keeps messages and calls):
- ``fail_next(method, status=, retry_after=, error=, count=)``: scripted failures.
- ``stall(method, seconds)`` / ``unstall()``: hold answers; a client that times out first cannot
  know whether its call took effect.
- ``drop_connections(count)``: close the socket before the call is read; nothing happens.
- ``drop_after_answer(method, count=1)``: the call takes effect (stored, in ``calls()``) but the
  socket closes before the answer is written: the caller cannot know it did.
- ``set_down(True)``: every request gets a 503, as during a Slack outage.

``message_clock`` (Unix seconds, the wall clock unless given): message ts follow it, as
Slack's follow its wall clock, so that a search with ``oldest`` computed from the bot's clock
finds what the double holds. A bot on a FakeClock needs the double on the same clock; a bot
process on the system clock, the default.

Strictness switches, off by default so that tests need not register every channel and token;
each is a constructor keyword and a keyword of ``strict(...)`` on a running double:
- ``strict_channels``: channels are registered with ``add_channel``; chat.postMessage,
  chat.update, chat.postEphemeral, chat.getPermalink, reactions.*, conversations.history/replies
  and files.completeUploadExternal answer ``channel_not_found`` for an unknown channel,
  ``is_archived`` (writes) for an archived one, ``not_in_channel`` when the bot has not joined
  (``add_bot_to_channel`` joins it and returns the member_joined_channel event to send the bot);
  chat.postEphemeral answers ``user_not_in_channel`` when the person is not a member;
  conversations.info answers ``channel_not_found`` for unknown channels and private ones the
  bot is not in; a ts the double does not hold is ``message_not_found`` (chat.getPermalink,
  reactions.add) or ``thread_not_found`` (conversations.replies). DMs (a user id as channel, or
  a ``D…`` id) are always allowed. Lenient: unregistered channels are public channels the bot
  is in, and unknown ts are people's messages the double never saw.
- ``uninstall_app(team)`` / ``revoke_bot_token(team)``: the workspace's tokens answer
  ``invalid_auth`` / ``token_revoked`` (in either mode) until ``add_workspace`` gives it a
  new one; each returns the app_uninstalled / tokens_revoked event to send the bot
  (``SlackDriver.uninstall`` / ``revoke_tokens`` do both).
- ``strict_tokens``: a token no workspace owns (``add_workspace``) is ``invalid_auth``.
  Lenient: any token speaks for the first workspace. In either mode a token of workspace T2
  never sees a registered channel of T1 (``channel_not_found``), and a rotated token past its
  12 hours is ``token_expired``.
- ``rate_limits``: Slack's published limits as token buckets on ``clock`` (see slack_limits):
  429 with ``Retry-After`` in whole seconds and ``{"ok": false, "error": "ratelimited"}``;
  ``rate_limited()`` counts them per method.
  ``channel_posts`` and ``workspace_posts`` (constructor only) change chat.postMessage's
  rates, to run a benchmark faster than Slack's 1 a second per channel.
- ``unlisted_app``: the 2025 limits of commercially distributed apps outside the Marketplace:
  conversations.history/replies pages hold at most 15 messages (also the default) and each
  method takes 1 request per minute.
- ``register_oauth_app(client_id=, client_secret=, redirect_uri=)``: oauth.v2.access checks the
  app's credentials and redirect URL as Slack does; ``approve_install(authorize_url, team_id=)``
  plays Slack's consent page (Allow) and gives the URL back with a one-time code and the state.
- ``home_tab_off`` (``strict`` only): the app's Home tab is not enabled; views.publish answers
  ``not_enabled``.
Always, as Slack: files.completeUploadExternal takes only a conversation id (``C…``, ``G…``,
``D…``) where the file is shared; a user id is ``invalid_arguments`` (open the DM first).
"""

from __future__ import annotations

import copy
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from bot.devkit.slack_history import Message
from bot.devkit.slack_limits import POSTS_PER_CHANNEL, POSTS_PER_WORKSPACE, UNLISTED_APP_METHODS, Rate, RateLimiter
from bot.devkit.slack_methods import AppHandler, Strictness, WebApi
from bot.devkit.slack_protocol import JsonDict, conversation_id, decode_params
from bot.devkit.slack_views import type_into
from bot.devkit.slack_workspaces import Channel, ConsentRefused, OAuthApp, Workspace

__all__ = ["Call", "Channel", "ConsentRefused", "FakeSlack", "Message", "Strictness", "Workspace"]


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API request: its method, decoded params, and a monotonic time.

    ``at`` is when it arrived (attempts) or was answered (calls); monotonic, so that tests can
    measure gaps, such as how long a retry waited. ``token``: the credential it came with (a
    bot token, or an app's ``Basic …`` header), so that tests can say whose token spoke.
    """

    method: str
    params: JsonDict
    at: float
    token: str | None = None


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: int | None
    error: str | None


_DROP = _Failure(0, None, None)


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1: a client's connection stays open between calls, as Slack's does. Without
    Nagle's algorithm: an answer is written as its headers then its body, and on a connection
    kept open the body waited for the client's delayed acknowledgement of the headers (40 ms)."""

    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.server.fake._serve(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the calls are recorded, and access lines would bury test output."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def open_connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def hang_up(self) -> None:
        """Close the connections clients keep open: a stopped Slack answers nothing more."""
        with self._open_lock:
            kept = list(self._open)
        for connection in kept:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (one that timed out on a stall); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeSlack:
    """The Slack Web API double: records every call, stores messages, fails and refuses on request."""

    def __init__(
        self,
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
        *,
        strict_channels: bool = False,
        strict_tokens: bool = False,
        rate_limits: bool = False,
        unlisted_app: bool = False,
        clock: Callable[[], float] = time.monotonic,
        message_clock: Callable[[], float] = time.time,
        channel_posts: Rate = POSTS_PER_CHANNEL,
        workspace_posts: Rate = POSTS_PER_WORKSPACE,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._attempts: list[Call] = []
        self._calls: list[Call] = []
        self._strictness = Strictness(channels=strict_channels, tokens=strict_tokens, rate_limits=rate_limits,
                                      unlisted_app=unlisted_app)
        self._api = WebApi(team_id=team_id, bot_user_id=bot_user_id, strictness=self._strictness, clock=clock,
                           base_url=lambda: self._base, message_clock=message_clock)
        self._directory = self._api.directory
        self._limiter = RateLimiter(clock, channel_posts=channel_posts, workspace_posts=workspace_posts)
        self._failures: dict[str, deque[_Failure]] = {}
        self._drops_after: dict[str, int] = {}
        self._stalls: dict[str | None, float] = {}
        self._drops = 0
        self._down = False

    # Life cycle

    def start(self) -> FakeSlack:
        """Listen on a free port, so parallel runs and a local dev server never collide."""
        self._server = _Server(self)
        # A short poll keeps stop() quick: shutdown() waits for the loop's next wake-up.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled answers, then close the port."""
        self.unstall()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.hang_up()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def _base(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started: call start() or use it in a with block.")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The base URL to give to ``WebClient(base_url=...)``."""
        return f"{self._base}/api/"

    @property
    def response_url_base(self) -> str:
        """Where response URLs live; only those handed out by ``response_url`` answer."""
        return f"{self._base}/response/"

    def response_url(self, url_id: str, *, user: str, channel: str) -> str:
        """A response_url for a request ``user`` makes in ``channel``: what is posted to it is
        an ephemeral for them (``ephemerals(user)``), five times at most, for 30 minutes of
        the message clock."""
        with self._cond:
            self._api.issue_response_url(url_id, user=user, channel=channel)
        return self.response_url_base + url_id

    def add_user(self, user_id: str, *, display_name: str = "", real_name: str = "",
                 team_id: str | None = None, role: str | None = None) -> None:
        """A person users.info knows (Slack's display name may be empty; the real name then shows);
        ``role`` "admin" or "owner" makes them a workspace admin or owner."""
        with self._cond:
            self._directory.add_user(user_id, team_id=team_id or self.team_id, display_name=display_name,
                                     real_name=real_name, role=role)

    # Failure switches

    def fail_next(
        self,
        method: str,
        *,
        status: int = 500,
        retry_after: int | None = None,
        error: str | None = None,
        count: int = 1,
    ) -> None:
        """Fail the next ``count`` calls of ``method`` with this HTTP status.

        A 429 always carries Retry-After (1 s unless given), as Slack's does. With status 200
        and an ``error``, the answer is ``{"ok": false, "error": error}``.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._cond:
            queue = self._failures.setdefault(method, deque())
            queue.extend([_Failure(status, retry_after, error)] * count)

    def stall(self, method: str | None, seconds: float) -> None:
        """Hold answers of ``method`` (of every method when None) for ``seconds``, or until unstall().

        A stalled call is accepted only when answered, so a client that times out first does
        not know whether it was posted: the case the outbox must survive.
        """
        with self._cond:
            self._stalls[method] = seconds

    def unstall(self) -> None:
        """Answer every held call now and stop holding new ones."""
        with self._cond:
            self._stalls.clear()
            self._cond.notify_all()

    def drop_connections(self, count: int) -> None:
        """Close the socket without an answer for the next ``count`` requests."""
        with self._cond:
            self._drops += count

    def close_idle_connections(self) -> None:
        """Close every connection a client keeps open between calls, as Slack does to idle
        ones: a client must notice before its next call, not lose that call to it."""
        if self._server is None:
            return
        self._server.hang_up()
        deadline = time.monotonic() + 5
        while self._server.open_connections() and time.monotonic() < deadline:
            time.sleep(0.01)

    def drop_after_answer(self, method: str, count: int = 1) -> None:
        """Let the next ``count`` calls of ``method`` take effect, then close without answering."""
        with self._cond:
            self._drops_after[method] = self._drops_after.get(method, 0) + count

    def set_down(self, down: bool) -> None:
        """While down, every request gets a 503, as during a Slack outage."""
        with self._cond:
            self._down = down

    def heal(self) -> None:
        """Stop every failure switch (scripted failures, drops, outage, stalls); keep messages and calls.

        Strictness switches stay as they are: they are how Slack behaves, not a fault.
        """
        with self._cond:
            self._failures.clear()
            self._drops_after.clear()
            self._drops = 0
            self._down = False
        self.unstall()

    # Strictness switches and what they check against

    def strict(
        self,
        *,
        channels: bool | None = None,
        tokens: bool | None = None,
        rate_limits: bool | None = None,
        unlisted_app: bool | None = None,
        home_tab_off: bool | None = None,
    ) -> FakeSlack:
        """Turn Slack's refusals on (or off) on a running double; None leaves a switch as it is."""
        wanted = {"channels": channels, "tokens": tokens, "rate_limits": rate_limits, "unlisted_app": unlisted_app,
                  "home_tab_off": home_tab_off}
        with self._cond:
            for name, on in wanted.items():
                if on is not None:
                    setattr(self._strictness, name, on)
        return self

    def add_workspace(
        self, team_id: str, *, token: str, bot_user_id: str | None = None, name: str | None = None
    ) -> Workspace:
        """Register a workspace and its bot token (the first workspace, ``team_id``, may get its token here)."""
        with self._cond:
            return self._directory.add_workspace(team_id, token=token, bot_user_id=bot_user_id, name=name)

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        members: Iterable[str] = (),
        team_id: str | None = None,
        is_private: bool = False,
        is_im: bool = False,
        is_archived: bool = False,
        is_shared: bool = False,
        is_ext_shared: bool = False,
        is_org_shared: bool = False,
    ) -> Channel:
        """Register a channel of a workspace (the first one unless ``team_id``); the bot is in it only if a member."""
        channel = Channel(
            channel_id, team_id or self.team_id, name or channel_id.lower(), set(members), is_private=is_private,
            is_im=is_im, is_archived=is_archived, is_shared=is_shared, is_ext_shared=is_ext_shared,
            is_org_shared=is_org_shared,
        )
        with self._cond:
            return self._directory.add_channel(channel)

    def add_bot_to_channel(self, channel_id: str, *, inviter: str = "U1") -> JsonDict:
        """Make the bot a member of a registered channel; returns the member_joined_channel event
        payload Slack would send, for ``SlackDriver.send_json``."""
        with self._cond:
            return self._directory.member_joined(channel_id, inviter=inviter)

    def uninstall_app(self, team_id: str | None = None) -> JsonDict:
        """The app is removed from the workspace: its tokens answer ``invalid_auth`` from now on;
        returns the app_uninstalled event payload Slack sends, for ``SlackDriver.send_json``."""
        team_id = team_id or self.team_id
        with self._cond:
            self._directory.revoke(team_id, error="invalid_auth")
            return self._directory.lifecycle_event(team_id, "app_uninstalled")

    def revoke_bot_token(self, team_id: str | None = None) -> JsonDict:
        """The workspace revokes the bot's token: it answers ``token_revoked`` from now on;
        returns the tokens_revoked event payload Slack sends."""
        team_id = team_id or self.team_id
        with self._cond:
            self._directory.revoke(team_id, error="token_revoked")
            return self._directory.lifecycle_event(team_id, "tokens_revoked")

    def add_usergroup(self, usergroup_id: str, users: Iterable[str], *, team_id: str | None = None) -> None:
        with self._cond:
            self._directory.add_usergroup(usergroup_id, list(users), team_id or self.team_id)

    def serve_app_method(self, method: str, handler: AppHandler | None) -> None:
        """Answer ``method`` with ``handler``, which authenticates an app-level token (None stops).

        The Socket Mode double attaches apps.connections.open here while it runs, so that the
        call is recorded, failed and rate-limited like any other; with no double attached it
        is ``unknown_method``, so a test cannot believe it connected to nothing.
        """
        with self._cond:
            if handler is None:
                self._api.app_handlers.pop(method, None)
            else:
                self._api.app_handlers[method] = handler

    def add_oauth_code(self, code: str, *, team_id: str | None = None, token_rotation: bool = False) -> None:
        """A one-time code oauth.v2.access exchanges for the workspace's bot token (rotating if asked)."""
        with self._cond:
            self._directory.add_oauth_code(code, team_id=team_id or self.team_id, token_rotation=token_rotation)

    def register_oauth_app(self, *, client_id: str, client_secret: str, redirect_uri: str) -> None:
        """The app's credentials and redirect URL: from now on oauth.v2.access checks them as
        Slack does (``invalid_client_id``, ``bad_client_secret``, ``bad_redirect_uri``)."""
        with self._cond:
            self._directory.oauth_app = OAuthApp(client_id, client_secret, redirect_uri)

    def approve_install(self, authorize_url: str, *, team_id: str, org_wide: bool = False,
                        token_rotation: bool = False) -> str:
        """Someone of ``team_id`` presses Allow on the consent page ``authorize_url`` opens (an
        organization's admin for ``org_wide``): the URL the browser goes back to, with a one-time
        code and the state. Raises ConsentRefused where Slack's page shows an error instead."""
        with self._cond:
            return self._directory.approve(authorize_url, team_id=team_id, org_wide=org_wide,
                                           token_rotation=token_rotation)

    # Inspection

    def attempts(self, method: str | None = None) -> list[Call]:
        """Every request that arrived, including those failed, dropped or still stalled."""
        with self._cond:
            return [c for c in self._attempts if method is None or c.method == method]

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls Slack accepted: answered with ``ok: true``."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    @property
    def methods(self) -> frozenset[str]:
        """Every Web API method the double answers."""
        return self._api.methods

    def rate_limited(self) -> dict[str, int]:
        """429s served by the rate limits (not by ``fail_next``), per method."""
        with self._cond:
            return dict(self._limiter.limited)

    def clear(self) -> None:
        """Forget recorded calls, messages, views, reactions, files, rate buckets and failure switches.

        Registered workspaces, channels and user groups stay: they are the test's setup.
        """
        with self._cond:
            self._attempts.clear()
            self._calls.clear()
            self._api.clear()
            self._limiter.clear()
        self.heal()

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first."""
        with self._cond:
            return self._api.store.top_level(channel)

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the message ``ts``, oldest first, without the parent."""
        with self._cond:
            return self._api.store.replies(channel, ts)

    def all_messages(self) -> list[Message]:
        """Every stored message, replies included, in the order they were posted."""
        with self._cond:
            return self._api.store.all()

    def ephemerals(self, user: str | None = None) -> list[Message]:
        """Ephemeral messages, optionally only those shown to ``user``."""
        with self._cond:
            return [m for m in self._api.ephemerals if user is None or m.visible_to == user]

    def views(self) -> list[JsonDict]:
        """Opened or pushed views as last updated, each with its ``id``."""
        with self._cond:
            return list(self._api.views.values())

    def type_into_view(self, view_id: str, block_id: str, state: JsonDict) -> tuple[JsonDict, str, bool]:
        """A person types into (or picks in) an input of an open view: Slack keeps the entry in
        the view's ``state``. Returns a copy of the view as it is then, the input's action id
        and whether its block dispatches a block_actions payload (``dispatch_action``)."""
        with self._cond:
            view = self._api.views[view_id]
            action_id, dispatches = type_into(view, block_id, state)
            return copy.deepcopy(view), action_id, dispatches

    def home(self, user: str) -> JsonDict | None:
        """The Home tab last published for ``user``, with its ``hash``."""
        with self._cond:
            return self._api.homes.get(user)

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        """Reaction name -> users who added it, on one message."""
        with self._cond:
            return {name: list(users) for name, users in self._api.reactions.get((channel, ts), {}).items()}

    def files(self) -> list[JsonDict]:
        """Completed and pending uploads: name, title, bytes, the channel shared to and the
        image's description."""
        with self._cond:
            return [{"id": f.id, "name": f.name, "title": f.title, "bytes": f.data, "channel": f.channel,
                     "alt_txt": f.alt_txt}
                    for f in self._api.files.all()]

    def add_user_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> Message:
        """Store a message written by a person, such as the customer complaint that gets flagged."""
        with self._cond:
            message = Message(channel=channel, ts=self._api.next_ts(), text=text, thread_ts=thread_ts, user=user)
            self._api.store.add(message)
            return message

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll ``predicate`` every 10 ms, for work done by a background sender."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # HTTP

    def _serve(self, request: _Handler) -> None:
        url = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if url.path.startswith("/upload/"):
            method, params = "file_upload", {"file_id": url.path.removeprefix("/upload/"), "data": raw}
        elif url.path.startswith(("/api/", "/response/")):
            method = url.path.removeprefix("/api/") if url.path.startswith("/api/") else "response_url"
            params = decode_params(url.query, raw, request.headers.get("Content-Type") or "")
            if method == "response_url":
                params = {**params, "url_id": url.path.removeprefix("/response/")}
        else:
            self._send(request, 404, {"ok": False, "error": "not_found"})
            return
        token = _token(request, params)
        with self._cond:
            self._attempts.append(Call(method, params, time.monotonic(), token))
            fault = self._fault(method, params, token)
            dropped_after = self._take_drop_after(method) if fault is None else False
        if fault is _DROP:
            request.close_connection = True
            return
        if fault is not None:
            self._send_failure(request, fault)
            return
        body = self._answer(method, params, token=token)
        if dropped_after:
            request.close_connection = True
            return
        # A response URL is a webhook: it says no with an HTTP status, not an ok:false body.
        self._send(request, 404 if method == "response_url" and not body["ok"] else 200, body)

    def _fault(self, method: str, params: JsonDict, token: str | None) -> _Failure | None:
        """What goes wrong with this request before it is answered, in Slack's order of things."""
        if self._down:
            return _Failure(503, None, "service_unavailable")
        if self._drops:
            self._drops -= 1
            return _DROP
        queue = self._failures.get(method)
        if queue:
            return queue.popleft()
        strictness = self._strictness
        if strictness.rate_limits or (strictness.unlisted_app and method in UNLISTED_APP_METHODS):
            wait = self._limiter.retry_after(
                method, team=self._directory.team_of(token), unlisted_app=strictness.unlisted_app,
                channel=conversation_id(str(params.get("channel") or "")),
            )
            if wait is not None:
                return _Failure(429, wait, "ratelimited")
        return None

    def _take_drop_after(self, method: str) -> bool:
        left = self._drops_after.get(method, 0)
        if left:
            self._drops_after[method] = left - 1
        return bool(left)

    def _answer(self, method: str, params: JsonDict, *, token: str | None) -> JsonDict:
        with self._cond:
            seconds = self._stalls.get(method, self._stalls.get(None))
            if seconds is not None:
                self._cond.wait_for(lambda: not self._is_stalled(method), timeout=seconds)
            body = self._api.answer(method, params, token=token)
            if body["ok"]:
                self._calls.append(Call(method, params, time.monotonic(), token))
            return body

    def _is_stalled(self, method: str) -> bool:
        return method in self._stalls or None in self._stalls

    def _send_failure(self, request: _Handler, fault: _Failure) -> None:
        default = "ratelimited" if fault.status == 429 else "fatal_error"
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        self._send(request, fault.status, {"ok": False, "error": fault.error or default}, headers)

    @staticmethod
    def _send(request: _Handler, status: int, body: JsonDict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(data)


def _token(request: _Handler, params: JsonDict) -> str | None:
    """The bot token of a request: ``Authorization: Bearer`` or a ``token`` param (Basic is an app's)."""
    header = request.headers.get("Authorization") or ""
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    if header.startswith("Basic "):
        return header
    return str(params.get("token") or "") or None
