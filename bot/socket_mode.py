"""`run` in Socket Mode: connect to Slack when it lets us, however long that takes.

Bolt's handler asks Slack for a WebSocket URL (apps.connections.open) and raises when Slack
does not answer, which stopped the bot at start-up during a Slack outage. Here the first
connection is retried with backoff while the outbox and the scheduler already run (flags
cannot arrive before it, but reminders and the outbox's backlog go out as soon as Slack
is back). Once connected, slack_sdk's client reconnects by itself.
"""
from __future__ import annotations

import logging
import threading
from http.client import HTTPException

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError

from bot.backoff import refusal, retry_with_backoff

log = logging.getLogger(__name__)


class AppTokenRefused(Exception):
    """Slack refused SLACK_APP_TOKEN: no connection will ever open with it."""


def connect(handler: SocketModeHandler, *, stop: threading.Event) -> bool:
    """Open the first connection; False if ``stop`` came first. Raises AppTokenRefused."""
    told: list[str] = []

    def attempt() -> bool:
        handler.client.wss_uri = None  # a URL from a failed try may be stale: ask for a new one
        try:
            handler.connect()
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

    return retry_with_backoff(attempt, stop=stop)
