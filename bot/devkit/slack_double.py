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
- ``strict_tokens``: a token no workspace owns (``add_workspace``) is ``invalid_auth``.
  Lenient: any token speaks for the first workspace. In either mode a token of workspace T2
  never sees a registered channel of T1 (``channel_not_found``), and a rotated token past its
  12 hours is ``token_expired``.
- ``rate_limits``: Slack's published limits as token buckets on ``clock`` (see slack_limits):
  429 with ``Retry-After`` in whole seconds and ``{"ok": false, "error": "ratelimited"}``;
  ``rate_limited()`` counts them per method.
- ``unlisted_app``: the 2025 limits of commercially distributed apps outside the Marketplace:
  conversations.history/replies pages hold at most 15 messages (also the default) and each
  method takes 1 request per minute.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count as counter
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from bot.devkit.slack_files import FileStore
from bot.devkit.slack_history import Message, MessageStore, Page, Window, history_page, replies_page
from bot.devkit.slack_limits import UNLISTED_APP_METHODS, RateLimiter
from bot.devkit.slack_protocol import ApiError, JsonDict, channel_param, decode_params, dm_channel, truthy
from bot.devkit.slack_workspaces import Channel, Directory, Workspace

__all__ = ["Call", "Channel", "FakeSlack", "Message", "Workspace"]

_FIRST_TS_MICROS = 1_700_000_000_000_000
_PERMALINK_BASE = "https://fake.slack.test/archives"
# (default, maximum) page sizes: docs.slack.dev conversations.history says 100 and 999; for
# conversations.replies the libraries' 1000 (not confirmed on Slack's page).
_HISTORY_LIMIT = (100, 999)
_REPLIES_LIMIT = (1000, 1000)
_UNLISTED_APP_LIMIT = (15, 15)
# No bot token: a response_url and an upload URL are their own credential; oauth.v2.access
# authenticates the app with its client id and secret.
_NO_TOKEN = frozenset({"response_url", "file_upload", "oauth.v2.access"})

Handler = Callable[[JsonDict, Workspace], JsonDict]


@dataclass(frozen=True, slots=True)
class Call:
    """One Web API request: its method, decoded params, and a monotonic time.

    ``at`` is when it arrived (attempts) or was answered (calls); monotonic, so that tests can
    measure gaps, such as how long a retry waited.
    """

    method: str
    params: JsonDict
    at: float


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: int | None
    error: str | None


_DROP = _Failure(0, None, None)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

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
    ) -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self._clock = clock
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._attempts: list[Call] = []
        self._calls: list[Call] = []
        self._store = MessageStore()
        self._ephemerals: list[Message] = []
        self._views: dict[str, JsonDict] = {}
        self._homes: dict[str, JsonDict] = {}
        self._reactions: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(dict)
        self._files = FileStore()
        self._directory = Directory(team_id=team_id, bot_user_id=bot_user_id)
        self._limiter = RateLimiter(clock)
        self._ts = counter(1)
        self._view_ids = counter(1)
        self._failures: dict[str, deque[_Failure]] = {}
        self._drops_after: dict[str, int] = {}
        self._stalls: dict[str | None, float] = {}
        self._drops = 0
        self._down = False
        self._strict_channels = strict_channels
        self._strict_tokens = strict_tokens
        self._rate_limits = rate_limits
        self._unlisted_app = unlisted_app
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "file_upload": self._file_upload,
            "files.completeUploadExternal": self._files_complete_upload,
            "usergroups.users.list": self._usergroups_users_list,
            "oauth.v2.access": lambda params, _: self._directory.exchange(params, now=self._clock()),
            "response_url": lambda params, _: {},
        }

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
        """A prefix for response_url values; anything appended to it is accepted."""
        return f"{self._base}/response/"

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
    ) -> FakeSlack:
        """Turn Slack's refusals on (or off) on a running double; None leaves a switch as it is."""
        with self._cond:
            self._strict_channels = self._strict_channels if channels is None else channels
            self._strict_tokens = self._strict_tokens if tokens is None else tokens
            self._rate_limits = self._rate_limits if rate_limits is None else rate_limits
            self._unlisted_app = self._unlisted_app if unlisted_app is None else unlisted_app
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

    def add_usergroup(self, usergroup_id: str, users: Iterable[str], *, team_id: str | None = None) -> None:
        with self._cond:
            self._directory.add_usergroup(usergroup_id, list(users), team_id or self.team_id)

    def add_oauth_code(self, code: str, *, team_id: str | None = None, token_rotation: bool = False) -> None:
        """A one-time code oauth.v2.access exchanges for the workspace's bot token (rotating if asked)."""
        with self._cond:
            self._directory.add_oauth_code(code, team_id=team_id or self.team_id, token_rotation=token_rotation)

    # Inspection

    def attempts(self, method: str | None = None) -> list[Call]:
        """Every request that arrived, including those failed, dropped or still stalled."""
        with self._cond:
            return [c for c in self._attempts if method is None or c.method == method]

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls Slack accepted: answered with ``ok: true``."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

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
            self._store.clear()
            self._ephemerals.clear()
            self._views.clear()
            self._homes.clear()
            self._reactions.clear()
            self._files.clear()
            self._limiter.clear()
        self.heal()

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first."""
        with self._cond:
            return self._store.top_level(channel)

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the message ``ts``, oldest first, without the parent."""
        with self._cond:
            return self._store.replies(channel, ts)

    def all_messages(self) -> list[Message]:
        """Every stored message, replies included, in the order they were posted."""
        with self._cond:
            return self._store.all()

    def ephemerals(self, user: str | None = None) -> list[Message]:
        """Ephemeral messages, optionally only those shown to ``user``."""
        with self._cond:
            return [m for m in self._ephemerals if user is None or m.visible_to == user]

    def views(self) -> list[JsonDict]:
        """Opened or pushed views as last updated, each with its ``id``."""
        with self._cond:
            return list(self._views.values())

    def home(self, user: str) -> JsonDict | None:
        """The Home tab last published for ``user``, with its ``hash``."""
        with self._cond:
            return self._homes.get(user)

    def reactions(self, channel: str, ts: str) -> dict[str, list[str]]:
        """Reaction name -> users who added it, on one message."""
        with self._cond:
            return {name: list(users) for name, users in self._reactions.get((channel, ts), {}).items()}

    def files(self) -> list[JsonDict]:
        """Completed and pending uploads: name, title, bytes and the channel shared to."""
        with self._cond:
            return [{"id": f.id, "name": f.name, "title": f.title, "bytes": f.data, "channel": f.channel}
                    for f in self._files.all()]

    def add_user_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> Message:
        """Store a message written by a person, such as the customer complaint that gets flagged."""
        with self._cond:
            message = Message(channel=channel, ts=self._next_ts(), text=text, thread_ts=thread_ts, user=user)
            self._store.add(message)
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
        if url.path.startswith("/api/"):
            method = url.path.removeprefix("/api/")
            params = decode_params(url.query, raw, request.headers.get("Content-Type") or "")
        elif url.path.startswith("/response/"):
            method = "response_url"
            params = decode_params(url.query, raw, request.headers.get("Content-Type") or "")
        elif url.path.startswith("/upload/"):
            method, params = "file_upload", {"file_id": url.path.removeprefix("/upload/"), "data": raw}
        else:
            self._send(request, 404, {"ok": False, "error": "not_found"})
            return
        token = _token(request, params)
        with self._cond:
            self._attempts.append(Call(method, params, time.monotonic()))
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
        self._send(request, 200, body)

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
        if self._rate_limits or (self._unlisted_app and method in UNLISTED_APP_METHODS):
            channel = str(params.get("channel") or "")
            wait = self._limiter.retry_after(
                method, team=self._directory.team_of(token), unlisted_app=self._unlisted_app,
                channel=dm_channel(channel) if channel[:1] in ("U", "W") else channel,
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
            handler = self._methods.get(method)
            if handler is None:
                return {"ok": False, "error": "unknown_method"}
            if not token and method not in _NO_TOKEN:
                return {"ok": False, "error": "not_authed"}
            try:
                workspace = (self._directory.default if method in _NO_TOKEN else
                             self._directory.workspace_for(token, strict=self._strict_tokens, now=self._clock()))
                body = {"ok": True, **handler(params, workspace)}
            except ApiError as e:
                return {"ok": False, "error": str(e)}
            self._calls.append(Call(method, params, time.monotonic()))
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

    # Methods: each runs under the lock and returns the body without "ok", or raises ApiError.

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _as_api(self, message: Message, *, with_metadata: bool) -> JsonDict:
        out: JsonDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        bot_id = self._directory.bot_ids.get(message.user)
        if bot_id:
            out["bot_id"] = bot_id
        if message.thread_ts:
            out["thread_ts"] = message.thread_ts
        replies = self._store.reply_count(message.channel, message.ts)
        if replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = replies
        if message.blocks:
            out["blocks"] = message.blocks
        if message.files:
            out["files"] = [{"id": file_id} for file_id in message.files]
        reactions = self._reactions.get((message.channel, message.ts))
        if reactions:
            out["reactions"] = [{"name": n, "users": u, "count": len(u)} for n, u in reactions.items()]
        if with_metadata and message.metadata:
            out["metadata"] = message.metadata
        return out

    def _render(self, page: Page, params: JsonDict) -> JsonDict:
        with_metadata = truthy(params.get("include_all_metadata"))
        return page.answer([self._as_api(m, with_metadata=with_metadata) for m in page.messages])

    def _check(self, channel: str, workspace: Workspace, *, writing: bool) -> None:
        self._directory.check_channel(channel, workspace, strict=self._strict_channels, writing=writing)

    def _known(self, channel: str, ts: str, error: str = "message_not_found") -> Message | None:
        """The stored message; in strict mode a ts the double does not hold is refused."""
        message = self._store.get(channel, ts)
        if message is None and self._strict_channels:
            raise ApiError(error)
        return message

    def _auth_test(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        return {
            "url": "https://fake.slack.test/",
            "team": workspace.name,
            "user": "recovery-bot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
        }

    def _chat_post_message(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        if not params.get("text") and not params.get("blocks"):
            raise ApiError("no_text")
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text") or "",
            thread_ts=params.get("thread_ts") or None,
            blocks=params.get("blocks") or [],
            metadata=params.get("metadata") or None,
            user=workspace.bot_user_id,
        )
        self._store.add(message)
        return {"channel": channel, "ts": message.ts, "message": self._as_api(message, with_metadata=True)}

    def _chat_update(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Replace only the fields given, as Slack does: an absent field keeps its old value."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        old = self._store.get(channel, str(params.get("ts", "")))
        if old is None:
            raise ApiError("message_not_found")
        new = replace(
            old,
            text=params["text"] if "text" in params else old.text,
            blocks=params["blocks"] if "blocks" in params else old.blocks,
            metadata=(params["metadata"] or None) if "metadata" in params else old.metadata,
        )
        self._store.replace(new)
        return {
            "channel": channel,
            "ts": new.ts,
            "text": new.text,
            "message": self._as_api(new, with_metadata=True),
        }

    def _chat_post_ephemeral(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        user = str(params.get("user") or "")
        self._directory.check_member(channel, user, strict=self._strict_channels)
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text") or "",
            thread_ts=params.get("thread_ts") or None,
            blocks=params.get("blocks") or [],
            user=workspace.bot_user_id,
            visible_to=user or None,
        )
        self._ephemerals.append(message)
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Lenient: any ts, since the flagged message may be a person's that the double never saw."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        ts = str(params.get("message_ts", ""))
        self._known(channel, ts)
        return {"channel": channel, "permalink": f"{_PERMALINK_BASE}/{channel}/p{ts.replace('.', '')}"}

    def _page_limits(self, regular: tuple[int, int]) -> dict[str, int]:
        default, maximum = _UNLISTED_APP_LIMIT if self._unlisted_app else regular
        return {"default_limit": default, "max_limit": maximum}

    def _conversations_history(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        window = Window.read(params, **self._page_limits(_HISTORY_LIMIT))
        return self._render(history_page(self._store, channel, window), params)

    def _conversations_replies(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """The whole thread of ``ts``, even when ``ts`` is a reply: parent first, then replies."""
        channel = channel_param(params)
        self._check(channel, workspace, writing=False)
        ts = str(params.get("ts") or "")
        if not ts:
            raise ApiError("thread_not_found")
        window = Window.read(params, **self._page_limits(_REPLIES_LIMIT))
        page = replies_page(self._store, channel, ts, window)
        if page is None:
            self._known(channel, ts, "thread_not_found")
            page = Page([], None)
        return self._render(page, params)

    def _conversations_info(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        channel = channel_param(params)
        return {"channel": self._directory.channel_info(channel, workspace, strict=self._strict_channels)}

    def _conversations_open(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        first = str(params.get("users") or "").split(",")[0]
        if not first:
            raise ApiError("user_not_found")
        return {"channel": {"id": dm_channel(first)}}

    def _views_open(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        view = {**(params.get("view") or {}), "id": f"V{next(self._view_ids)}", "team_id": workspace.team_id}
        self._views[view["id"]] = view
        return {"view": view}

    def _views_update(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        view_id = params.get("view_id")
        if not view_id:
            external_id = params.get("external_id")
            view_id = next((i for i, v in self._views.items() if v.get("external_id") == external_id), None)
        if view_id not in self._views:
            raise ApiError("not_found")
        view = {**(params.get("view") or {}), "id": view_id, "team_id": workspace.team_id}
        self._views[view_id] = view
        return {"view": view}

    def _views_publish(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """A Home tab per user. A ``hash`` that is not the current view's is stale: ``hash_conflict``."""
        user = str(params.get("user_id") or "")
        if not user or not isinstance(params.get("view"), dict):
            raise ApiError("invalid_arguments")
        current = self._homes.get(user)
        if params.get("hash") and (current is None or current["hash"] != params["hash"]):
            raise ApiError("hash_conflict")
        serial = next(self._view_ids)
        view = {**params["view"], "id": current["id"] if current else f"V{serial}", "team_id": workspace.team_id,
                "hash": f"{_FIRST_TS_MICROS // 1_000_000 + serial}.{serial:08x}"}
        self._homes[user] = view
        return {"view": view}

    def _users_info(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        user = str(params.get("user") or "")
        if not user:
            raise ApiError("user_not_found")
        name = f"User {user}"
        return {
            "user": {
                "id": user,
                "team_id": workspace.team_id,
                "name": user.lower(),
                "real_name": name,
                "tz": "UTC",
                "tz_offset": 0,
                "is_bot": user == workspace.bot_user_id,
                "profile": {"real_name": name, "display_name": name},
            }
        }

    def _reaction_target(self, params: JsonDict, workspace: Workspace) -> tuple[dict[str, list[str]], str]:
        channel = channel_param(params)
        self._check(channel, workspace, writing=True)
        ts, name = str(params.get("timestamp") or ""), str(params.get("name") or "")
        if not ts:
            raise ApiError("no_item_specified")
        if not name:
            raise ApiError("invalid_name")
        self._known(channel, ts)
        return self._reactions[(channel, ts)], name

    def _reactions_add(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        reactions, name = self._reaction_target(params, workspace)
        users = reactions.setdefault(name, [])
        if workspace.bot_user_id in users:
            raise ApiError("already_reacted")
        users.append(workspace.bot_user_id)
        return {}

    def _reactions_remove(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        reactions, name = self._reaction_target(params, workspace)
        users = reactions.get(name, [])
        if workspace.bot_user_id not in users:
            raise ApiError("no_reaction")
        users.remove(workspace.bot_user_id)
        if not users:
            del reactions[name]
        return {}

    def _files_get_upload_url(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        stored = self._files.reserve(params)
        return {"upload_url": f"{self._base}/upload/{stored.id}", "file_id": stored.id}

    def _file_upload(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        self._files.upload(str(params["file_id"]), params["data"])
        return {}

    def _files_complete_upload(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        """Share the files in ``channel_id`` (or the first of ``channels``) as one message, as Slack shows it."""
        target = str(params.get("channel_id") or params.get("channels") or "").split(",")[0] or None
        channel = channel_param({"channel": target}) if target else None
        if channel is not None:
            self._check(channel, workspace, writing=True)
        done = self._files.complete(params, channel=channel)
        if channel is not None:
            self._store.add(Message(
                channel=channel, ts=self._next_ts(), text=params.get("initial_comment") or "",
                thread_ts=params.get("thread_ts") or None, user=workspace.bot_user_id,
                files=tuple(f.id for f in done),
            ))
        return {"files": [f.as_api() for f in done]}

    def _usergroups_users_list(self, params: JsonDict, workspace: Workspace) -> JsonDict:
        return {"users": self._directory.usergroup_users(str(params.get("usergroup") or ""), workspace)}


def _token(request: _Handler, params: JsonDict) -> str | None:
    """The bot token of a request: ``Authorization: Bearer`` or a ``token`` param (Basic is an app's)."""
    header = request.headers.get("Authorization") or ""
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    if header.startswith("Basic "):
        return header
    return str(params.get("token") or "") or None
