"""The doors to Slack's Web API: base URL from settings, retries chosen per kind of call.

Reads and chat.update are safe to repeat, so their client retries connection errors and
5xx in place (slack_sdk's handlers, kept short). Not 429: slack_sdk's handler sleeps
Retry-After in the calling thread, which would hold an outbox sender (and every row
behind it) for as long as Slack asks; the outbox reschedules the row instead.
chat.postMessage is not safe to repeat: a retried timeout can post twice, so its client
never retries and the outbox decides, after looking for the message in Slack first.

Each workspace has its own bot token (bot/tokens.py): ``Clients`` keeps the two clients of
each token it was asked for, so a token is not given a new connection pool per call.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from bot.settings import Settings

REQUEST_TIMEOUT_SECONDS = 10
# Tokens whose clients are kept: every workspace a busy replica sends to, and a rotated
# token's predecessor until it falls out.
CLIENTS_KEPT = 256


def make_client(settings: Settings, token: str | None = None) -> WebClient:
    """For Bolt (views.open) and for reads and updates that may be repeated; SLACK_BOT_TOKEN's
    unless ``token``."""
    return WebClient(
        token=token or settings.slack_bot_token, base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def make_posting_client(settings: Settings, token: str | None = None) -> WebClient:
    """For calls that create messages: one attempt, the outbox owns what happens next."""
    return WebClient(token=token or settings.slack_bot_token, base_url=settings.slack_api_url,
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
