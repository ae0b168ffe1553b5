"""A local double of the Slack Web API over real HTTP, for the offline demo and the tests.

It speaks HTTP on 127.0.0.1 so that the real ``WebClient``, its retry handlers and Bolt run
unchanged against it: what passes here went through the same code as in production.
Failures are switched on by the caller (``fail_next``, ``stall``, ``drop_connections``,
``set_down``), never chosen by the text of a token or a message.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count as counter
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JsonDict = dict[str, Any]

# Slack sends these as JSON strings inside form bodies; decode them so that tests see objects.
_JSON_FIELDS = ("blocks", "metadata", "view", "attachments")
_FIRST_TS_MICROS = 1_700_000_000_000_000
_PERMALINK_BASE = "https://fake.slack.test/archives"


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
class Message:
    """A message as the fake stores it; a snapshot, so later updates do not change it."""

    channel: str
    ts: str
    text: str = ""
    thread_ts: str | None = None
    blocks: list[JsonDict] = field(default_factory=list)
    metadata: JsonDict | None = None
    user: str = ""
    # Only for ephemerals: the one user who sees it.
    visible_to: str | None = None

    def plain(self) -> str:
        """Text, block text and button labels as readable lines, for transcripts and searches."""
        lines = [self.text] if self.text else []
        for block in self.blocks:
            lines.extend(_block_lines(block))
        return "\n".join(lines)


def _text_of(obj: JsonDict | None) -> str:
    return str(obj.get("text", "")) if obj else ""


def _label(element: JsonDict) -> str:
    return f"[{_text_of(element.get('text'))}]"


def _block_lines(block: JsonDict) -> list[str]:
    kind = block.get("type")
    lines: list[str] = []
    if kind in ("header", "section"):
        lines.append(_text_of(block.get("text")))
        lines.extend(_text_of(f) for f in block.get("fields", []))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            lines.append(_label(accessory))
    elif kind == "context":
        lines.extend(
            _text_of(e) for e in block.get("elements", []) if e.get("type") in ("mrkdwn", "plain_text")
        )
    elif kind == "actions":
        lines.append(" ".join(_label(e) for e in block.get("elements", []) if e.get("type") == "button"))
    return [line for line in lines if line]


@dataclass(frozen=True, slots=True)
class _Failure:
    status: int
    retry_after: int | None
    error: str | None


class _ApiError(Exception):
    """A Slack error code, answered as ``{"ok": false, "error": code}`` with HTTP 200."""


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
    """The Slack Web API double: records every call, stores messages, fails on request."""

    def __init__(self, bot_user_id: str = "UBOT", team_id: str = "T1") -> None:
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._attempts: list[Call] = []
        self._calls: list[Call] = []
        self._messages: list[Message] = []
        self._ephemerals: list[Message] = []
        self._views: dict[str, JsonDict] = {}
        self._ts = counter(1)
        self._view_ids = counter(1)
        self._failures: dict[str, deque[_Failure]] = {}
        self._stalls: dict[str | None, float] = {}
        self._drops = 0
        self._down = False
        self._methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "reactions.add": lambda params: {},
            "response_url": lambda params: {},
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

    # Switches

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

    def set_down(self, down: bool) -> None:
        """While down, every request gets a 503, as during a Slack outage."""
        with self._cond:
            self._down = down

    # Inspection

    def attempts(self, method: str | None = None) -> list[Call]:
        """Every request that arrived, including those failed, dropped or still stalled."""
        with self._cond:
            return [c for c in self._attempts if method is None or c.method == method]

    def calls(self, method: str | None = None) -> list[Call]:
        """The calls Slack accepted: answered with ``ok: true``."""
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget recorded calls, messages, views and pending switches."""
        with self._cond:
            self._attempts.clear()
            self._calls.clear()
            self._messages.clear()
            self._ephemerals.clear()
            self._views.clear()
            self._failures.clear()
            self._drops = 0
            self._down = False
        self.unstall()

    def messages(self, channel: str) -> list[Message]:
        """Top-level messages of a channel, oldest first."""
        with self._cond:
            return [m for m in self._messages if m.channel == channel and _is_top_level(m)]

    def thread(self, channel: str, ts: str) -> list[Message]:
        """Replies under the message ``ts``, oldest first, without the parent."""
        with self._cond:
            return [m for m in self._messages if m.channel == channel and m.thread_ts == ts and m.ts != ts]

    def all_messages(self) -> list[Message]:
        """Every stored message, replies included, in the order they were posted."""
        with self._cond:
            return list(self._messages)

    def ephemerals(self, user: str | None = None) -> list[Message]:
        """Ephemeral messages, optionally only those shown to ``user``."""
        with self._cond:
            return [m for m in self._ephemerals if user is None or m.visible_to == user]

    def views(self) -> list[JsonDict]:
        """Opened or pushed views as last updated, each with its ``id``."""
        with self._cond:
            return list(self._views.values())

    def add_user_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> Message:
        """Store a message written by a person, such as the customer complaint that gets flagged."""
        with self._cond:
            message = Message(channel=channel, ts=self._next_ts(), text=text, thread_ts=thread_ts, user=user)
            self._messages.append(message)
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
        path = urlsplit(request.path).path
        if path.startswith("/api/"):
            method = path.removeprefix("/api/")
        elif path.startswith("/response/"):
            method = "response_url"
        else:
            self._send(request, 404, {"ok": False, "error": "not_found"})
            return
        params = _read_params(request)
        with self._cond:
            self._attempts.append(Call(method, params, time.monotonic()))
            if self._down:
                fault: _Failure | None = _Failure(503, None, "service_unavailable")
            elif self._drops:
                self._drops -= 1
                request.close_connection = True
                return
            else:
                queue = self._failures.get(method)
                fault = queue.popleft() if queue else None
        if fault is not None:
            self._send_failure(request, fault)
            return
        self._send(request, 200, self._answer(method, params, authed=_has_token(request, params)))

    def _answer(self, method: str, params: JsonDict, *, authed: bool) -> JsonDict:
        with self._cond:
            seconds = self._stalls.get(method, self._stalls.get(None))
            if seconds is not None:
                self._cond.wait_for(lambda: not self._is_stalled(method), timeout=seconds)
            handler = self._methods.get(method)
            if handler is None:
                return {"ok": False, "error": "unknown_method"}
            if not authed and method != "response_url":
                return {"ok": False, "error": "not_authed"}
            try:
                body = {"ok": True, **handler(params)}
            except _ApiError as e:
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

    # Methods: each runs under the lock and returns the body without "ok", or raises _ApiError.

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _as_api(self, message: Message, *, with_metadata: bool) -> JsonDict:
        out: JsonDict = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        if message.user == self.bot_user_id:
            out["bot_id"] = "B1"
        if message.thread_ts:
            out["thread_ts"] = message.thread_ts
        replies = sum(1 for m in self._messages if m.thread_ts == message.ts and m.ts != message.ts)
        if replies:
            out["thread_ts"] = message.ts
            out["reply_count"] = replies
        if message.blocks:
            out["blocks"] = message.blocks
        if with_metadata and message.metadata:
            out["metadata"] = message.metadata
        return out

    def _find(self, channel: str, ts: str) -> int:
        for i, m in enumerate(self._messages):
            if m.channel == channel and m.ts == ts:
                return i
        raise _ApiError("message_not_found")

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake Workspace",
            "user": "recovery-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "B1",
        }

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = _channel(params)
        if not params.get("text") and not params.get("blocks"):
            raise _ApiError("no_text")
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=params.get("text") or "",
            thread_ts=params.get("thread_ts") or None,
            blocks=params.get("blocks") or [],
            metadata=params.get("metadata") or None,
            user=self.bot_user_id,
        )
        self._messages.append(message)
        return {"channel": channel, "ts": message.ts, "message": self._as_api(message, with_metadata=True)}

    def _chat_update(self, params: JsonDict) -> JsonDict:
        """Replace only the fields given, as Slack does: an absent field keeps its old value."""
        channel = _channel(params)
        i = self._find(channel, str(params.get("ts", "")))
        old = self._messages[i]
        new = replace(
            old,
            text=params["text"] if "text" in params else old.text,
            blocks=params["blocks"] if "blocks" in params else old.blocks,
            metadata=(params["metadata"] or None) if "metadata" in params else old.metadata,
        )
        self._messages[i] = new
        return {
            "channel": channel,
            "ts": new.ts,
            "text": new.text,
            "message": self._as_api(new, with_metadata=True),
        }

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        message = Message(
            channel=_channel(params),
            ts=self._next_ts(),
            text=params.get("text") or "",
            thread_ts=params.get("thread_ts") or None,
            blocks=params.get("blocks") or [],
            user=self.bot_user_id,
            visible_to=params.get("user"),
        )
        self._ephemerals.append(message)
        return {"message_ts": message.ts}

    def _chat_get_permalink(self, params: JsonDict) -> JsonDict:
        """Answer for any ts: the flagged message may be a person's that the fake never saw."""
        channel = _channel(params)
        ts = str(params.get("message_ts", ""))
        return {"channel": channel, "permalink": f"{_PERMALINK_BASE}/{channel}/p{ts.replace('.', '')}"}

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        channel = _channel(params)
        limit = int(params.get("limit", 100))
        top = [m for m in reversed(self._messages) if m.channel == channel and _is_top_level(m)]
        with_metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._as_api(m, with_metadata=with_metadata) for m in top[:limit]],
            "has_more": len(top) > limit,
        }

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        """The parent (when the fake stored it) and its replies, oldest first."""
        channel = _channel(params)
        ts = str(params.get("ts", ""))
        limit = int(params.get("limit", 1000))
        thread = [m for m in self._messages if m.channel == channel and ts in (m.ts, m.thread_ts)]
        with_metadata = _truthy(params.get("include_all_metadata"))
        return {
            "messages": [self._as_api(m, with_metadata=with_metadata) for m in thread[:limit]],
            "has_more": len(thread) > limit,
        }

    def _conversations_open(self, params: JsonDict) -> JsonDict:
        first = str(params.get("users") or "").split(",")[0]
        if not first:
            raise _ApiError("user_not_found")
        return {"channel": {"id": f"D{first}"}}

    def _views_open(self, params: JsonDict) -> JsonDict:
        view = {**(params.get("view") or {}), "id": f"V{next(self._view_ids)}", "team_id": self.team_id}
        self._views[view["id"]] = view
        return {"view": view}

    def _views_update(self, params: JsonDict) -> JsonDict:
        view_id = params.get("view_id")
        if not view_id:
            external_id = params.get("external_id")
            view_id = next((i for i, v in self._views.items() if v.get("external_id") == external_id), None)
        if view_id not in self._views:
            raise _ApiError("not_found")
        view = {**(params.get("view") or {}), "id": view_id, "team_id": self.team_id}
        self._views[view_id] = view
        return {"view": view}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = str(params.get("user") or "")
        if not user:
            raise _ApiError("user_not_found")
        name = f"User {user}"
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": user.lower(),
                "real_name": name,
                "tz": "UTC",
                "tz_offset": 0,
                "is_bot": user == self.bot_user_id,
                "profile": {"real_name": name, "display_name": name},
            }
        }


def _is_top_level(message: Message) -> bool:
    return message.thread_ts is None or message.thread_ts == message.ts


def _channel(params: JsonDict) -> str:
    """The channel param; a user id means a DM with that user, as Slack allows for chat.*."""
    channel = str(params.get("channel") or "")
    if not channel:
        raise _ApiError("channel_not_found")
    return f"D{channel}" if channel[0] in "UW" else channel


def _truthy(value: Any) -> bool:
    """Form bodies carry booleans as "1" or "true"; JSON bodies as true."""
    return value is True or str(value).lower() in ("1", "true")


def _has_token(request: _Handler, params: JsonDict) -> bool:
    return bool(request.headers.get("Authorization") or params.get("token"))


def _read_params(request: _Handler) -> JsonDict:
    """Merge the query string and a form or JSON body; decode JSON strings found in forms."""
    params: JsonDict = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
    length = int(request.headers.get("Content-Length") or 0)
    raw = request.rfile.read(length) if length else b""
    if not raw:
        return params
    if "json" in (request.headers.get("Content-Type") or ""):
        params.update(json.loads(raw))
        return params
    form = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    for name in _JSON_FIELDS:
        if isinstance(form.get(name), str) and form[name][:1] in ("[", "{"):
            form[name] = json.loads(form[name])
    params.update(form)
    return params
