"""The doors to Slack's Web API: base URL from settings, retries chosen per kind of call.

Reads and chat.update are safe to repeat, so their client retries connection errors and
5xx in place (slack_sdk's handlers, kept short). Not 429: slack_sdk's handler sleeps
Retry-After in the calling thread, which would hold an outbox sender (and every row
behind it) for as long as Slack asks; the outbox reschedules the row instead.
chat.postMessage is not safe to repeat: a retried timeout can post twice, so its client
never retries and the outbox decides, after looking for the message in Slack first.
"""
from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from bot.settings import Settings

REQUEST_TIMEOUT_SECONDS = 10


def make_client(settings: Settings) -> WebClient:
    """For Bolt (views.open) and for reads and updates that may be repeated."""
    return WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def make_posting_client(settings: Settings) -> WebClient:
    """For calls that create messages: one attempt, the outbox owns what happens next."""
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     timeout=REQUEST_TIMEOUT_SECONDS, retry_handlers=[])
