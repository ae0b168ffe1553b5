"""The doors to Slack's Web API: base URL from settings, retries chosen per kind of call.

Reads and chat.update are safe to repeat, so their client retries connection errors, 5xx
and 429 in place (slack_sdk's handlers, kept short). chat.postMessage is not: a retried
timeout can post twice, so its client never retries and the outbox decides instead,
after looking for the message in Slack first.
"""
from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler,
)

from bot.settings import Settings

REQUEST_TIMEOUT_SECONDS = 10


def make_client(settings: Settings) -> WebClient:
    """For Bolt (views.open) and for reads and updates that may be repeated."""
    return WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=REQUEST_TIMEOUT_SECONDS,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=1),
        ],
    )


def make_posting_client(settings: Settings) -> WebClient:
    """For calls that create messages: one attempt, the outbox owns what happens next."""
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     timeout=REQUEST_TIMEOUT_SECONDS, retry_handlers=[])
