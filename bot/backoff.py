"""Try something that waits on Slack until Slack answers it, sleeping longer after each miss."""
from __future__ import annotations

import threading
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 60.0


def retry_with_backoff(attempt: Callable[[], bool], *, stop: threading.Event,
                       first: float = FIRST_DELAY_SECONDS, cap: float = MAX_DELAY_SECONDS) -> bool:
    """Call ``attempt`` until it returns True (done, either way) or ``stop`` is set; 1 s, 2 s,
    4 s... up to ``cap`` between tries. A short outage is noticed within seconds of its end,
    a long one costs Slack one call a minute. True when ``attempt`` finished it."""
    delay = first
    while not stop.is_set():
        if attempt():
            return True
        stop.wait(delay)
        delay = min(delay * 2, cap)
    return False


def refusal(error: SlackApiError) -> str | None:
    """Slack's answer when it is one (``invalid_auth``, ``token_revoked``...), or None when Slack
    did not really answer (429, 5xx: an outage), which is worth trying again."""
    status = error.response.status_code
    if status == 429 or status >= 500:
        return None
    return str(error.response.get("error") or f"HTTP {status}")
