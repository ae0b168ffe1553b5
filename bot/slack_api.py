"""The doors to Slack's Web API: base URL from settings, retries chosen per kind of call.

Reads and chat.update are safe to repeat, so their client retries connection errors and
5xx in place (slack_sdk's handlers, kept short). Not 429: slack_sdk's handler sleeps
Retry-After in the calling thread, which would hold an outbox sender (and every row
behind it) for as long as Slack asks; the outbox reschedules the row instead.
chat.postMessage is not safe to repeat: a retried timeout can post twice, so its client
never retries and the outbox decides, after looking for the message in Slack first.

Each workspace has its own bot token (bot/tokens.py): ``Clients`` keeps the two clients of
each token it was asked for, so a token is not given a new connection pool per call.

Connections are kept open between calls (``KeptAliveClient``): slack_sdk's urllib opens one
per call, a TCP (and, to Slack, a TLS) handshake each time.
"""
from __future__ import annotations

import io
import select
import threading
from collections import OrderedDict
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from bot.settings import Settings

REQUEST_TIMEOUT_SECONDS = 10
# Tokens whose clients are kept: every workspace a busy replica sends to, and a rotated
# token's predecessor until it falls out.
CLIENTS_KEPT = 256


class KeptAliveClient(WebClient):
    """A WebClient whose calls reuse an open connection (one per thread and host; HTTP/1.1
    keep-alive), where slack_sdk opens one per call. Under the ack benchmark the outbox
    sender's calls were a quarter of its CPU, most of it opening connections (issue 17).

    Everything else is slack_sdk's: its retry handlers and its reading of what came back see
    what urllib would have given them (a status outside 2xx as an HTTPError, a failure to
    send as a URLError). A connection the server has closed meanwhile is seen before reuse
    (its socket reads as hung up) and replaced; one closed while a call is on it fails that
    call as a dropped connection fails it, and the outbox looks before sending again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept = threading.local()

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        parts = urlsplit(url)
        if self.proxy is not None or parts.scheme not in ("http", "https"):
            return super()._perform_urllib_http_request_internal(url, req)
        key = (parts.scheme, parts.netloc)
        connection = self._connection(key)
        try:
            try:
                connection.request(req.get_method(), req.selector, body=req.data, headers=dict(req.header_items()))
            except OSError as error:
                raise URLError(error) from error
            response = connection.getresponse()
            body = response.read()
        except BaseException:
            self._drop(key)
            raise
        if response.will_close:
            self._drop(key)
        if not 200 <= response.status < 300:
            raise HTTPError(url, response.status, response.reason, response.headers, io.BytesIO(body))
        if response.headers.get_content_type() == "application/gzip":
            return {"status": response.status, "headers": response.headers, "body": body}
        return {"status": response.status, "headers": response.headers,
                "body": body.decode(response.headers.get_content_charset() or "utf-8")}

    def _connection(self, key: tuple[str, str]) -> HTTPConnection:
        kept: dict[tuple[str, str], HTTPConnection] = self._kept.__dict__.setdefault("connections", {})
        connection = kept.get(key)
        if connection is not None and connection.sock is not None and _hung_up(connection.sock):
            self._drop(key)
            connection = None
        if connection is None:
            scheme, netloc = key
            connection = kept[key] = (HTTPSConnection(netloc, timeout=self.timeout, context=self.ssl)
                                      if scheme == "https" else HTTPConnection(netloc, timeout=self.timeout))
        return connection

    def _drop(self, key: tuple[str, str]) -> None:
        connection = self._kept.__dict__.get("connections", {}).pop(key, None)
        if connection is not None:
            connection.close()


def _hung_up(sock: Any) -> bool:
    """An idle kept connection has nothing to read: anything there is the server's goodbye."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(0))


def make_client(settings: Settings, token: str | None = None) -> WebClient:
    """For Bolt (views.open) and for reads and updates that may be repeated; SLACK_BOT_TOKEN's
    unless ``token``."""
    return KeptAliveClient(
        token=token or settings.slack_bot_token, base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def make_posting_client(settings: Settings, token: str | None = None) -> WebClient:
    """For calls that create messages: one attempt, the outbox owns what happens next."""
    return KeptAliveClient(token=token or settings.slack_bot_token, base_url=settings.slack_api_url,
                           timeout=REQUEST_TIMEOUT_SECONDS, retry_handlers=[])


@dataclass(frozen=True, slots=True)
class TokenClients:
    """One bot token's two clients: ``read`` (reads, updates, publishes) and ``post``."""

    read: WebClient
    post: WebClient


class Clients:
    """The clients of each bot token, the least recently used dropped past CLIENTS_KEPT."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, TokenClients] = OrderedDict()

    def of(self, token: str) -> TokenClients:
        with self._lock:
            found = self._kept.get(token)
            if found is None:
                found = self._kept[token] = TokenClients(read=make_client(self._settings, token),
                                                         post=make_posting_client(self._settings, token))
                while len(self._kept) > CLIENTS_KEPT:
                    self._kept.popitem(last=False)
            else:
                self._kept.move_to_end(token)
            return found
