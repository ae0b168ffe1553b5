"""Slack's permanent refusals, sorted by what has to change before a message can go.

A row refused for one of these reasons is parked, not retried on a timer: trying again
changes nothing until the bot joins the channel (CHANNEL), the bot is restarted with a
fixed token or scopes (CREDENTIALS), or a lead says so in `/recovery health`. Other
permanent refusals (``invalid_blocks``...) are our bug and stay dead.
"""
from __future__ import annotations

from typing import Final

CHANNEL: Final = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
CREDENTIALS: Final = frozenset({"invalid_auth", "missing_scope", "not_authed", "account_inactive", "token_revoked",
                                "token_expired"})
"""``token_expired``: a rotating token Slack refused to refresh (bot/token_rotation.py) waits for a reinstall."""
NOT_INSTALLED: Final = "not_authed"
"""What a row meets in a workspace with no install (no token to send with): Slack's own word
for a call without a token, so it parks with the other credential refusals."""
SHARED_CHANNEL: Final = "shared_channel"
"""Our own refusal: the channel is shared with another organization (item 2 of issue 11)."""
PARKING: Final = CHANNEL | CREDENTIALS | {SHARED_CHANNEL}
