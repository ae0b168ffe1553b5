"""What every method of the Slack double shares: its error answer and how parameters arrive.

Kept apart from the methods so that the message index, the workspace directory and the file
store can refuse a call the way Slack does without importing the HTTP server.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

JsonDict = dict[str, Any]

# Slack sends these as JSON strings inside form bodies; decode them so that tests see objects.
JSON_FIELDS = ("blocks", "metadata", "view", "attachments", "files")


class ApiError(Exception):
    """A Slack error code, answered as ``{"ok": false, "error": code}`` with HTTP 200."""


def truthy(value: Any) -> bool:
    """Form bodies carry booleans as "1" or "true"; JSON bodies as true."""
    return value is True or str(value).lower() in ("1", "true")


def channel_param(params: JsonDict) -> str:
    """The channel param; a user id means a DM with that user, as Slack allows for chat.*."""
    channel = str(params.get("channel") or "")
    if not channel:
        raise ApiError("channel_not_found")
    return conversation_id(channel)


def conversation_id(channel: str) -> str:
    """Where a post to ``channel`` lands: a user id stands for the bot's DM with that user."""
    return dm_channel(channel) if channel[:1] in ("U", "W") else channel


def dm_channel(user: str) -> str:
    """The id of the bot's DM with ``user``: one per user, so a post to "U2" lands in "DU2"."""
    return f"D{user}"


def is_dm(channel: str) -> bool:
    return channel.startswith("D")


def decode_params(query: str, body: bytes, content_type: str) -> JsonDict:
    """Merge the query string and a form or JSON body; decode JSON strings found in forms."""
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    if not body:
        return params
    if "json" in content_type:
        params.update(json.loads(body))
        return params
    form: JsonDict = dict(parse_qsl(body.decode(), keep_blank_values=True))
    for name in JSON_FIELDS:
        if isinstance(form.get(name), str) and form[name][:1] in ("[", "{"):
            form[name] = json.loads(form[name])
    params.update(form)
    return params
