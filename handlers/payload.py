"""Reading Slack payloads defensively: a missing or odd field is None, never a KeyError."""
from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.request.internals import extract_team_id


def dig(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(data, dict) and isinstance(key, str):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def text(data: Any, *path: str | int) -> str | None:
    value = dig(data, *path)
    return value if isinstance(value, str) and value else None


# Slack's ids (T…, U…, W…, C…, G…, D…) are short runs of letters and digits; anything else
# is not an id. Checking here keeps a forged one out of the database (whose columns are
# 32 characters; PostgreSQL refuses longer, and any NUL byte) and out of `<@…>`/`<#…>`.
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
# A message ts (1700000000.000100), and the opaque trigger and view ids.
_TS_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")


def slack_id(data: Any, *path: str | int) -> str | None:
    value = text(data, *path)
    return value if value is not None and _ID_RE.fullmatch(value) else None


def message_ts(data: Any, *path: str | int) -> str | None:
    value = text(data, *path)
    return value if value is not None and _TS_RE.fullmatch(value) else None


def token(data: Any, *path: str | int) -> str | None:
    value = text(data, *path)
    return value if value is not None and _TOKEN_RE.fullmatch(value) else None


def clean(value: str) -> str:
    """Typed text as we store it: without NUL bytes, which PostgreSQL cannot hold."""
    return value.replace("\x00", "")


def workspace_of(body: dict) -> str | None:
    """The workspace Bolt authorized this request for (its own `extract_team_id`, the team its
    `authorize` was asked about, so `context.team_id`), if it is an id. Reading the team from
    the same place as Bolt does, for events, commands, actions and view submissions alike,
    means a request can never be authorized as one workspace and then act on another's rows."""
    team = extract_team_id(body) if isinstance(body, dict) else None
    return team if isinstance(team, str) and _ID_RE.fullmatch(team) else None


def view_value(view: dict, block_id: str, action_id: str) -> str | None:
    """The submitted value of one input, whatever its element type."""
    element = dig(view, "state", "values", block_id, action_id)
    if not isinstance(element, dict):
        return None
    for key in ("value", "selected_user", "selected_date"):
        if isinstance(element.get(key), str):
            return clean(element[key]).strip() or None
    option = element.get("selected_option")
    if isinstance(option, dict) and isinstance(option.get("value"), str):
        return clean(option["value"])
    return None


# Incident ids and step seqs are PostgreSQL `integer`s: a larger number names nothing, and
# must not reach a query (SQLite cannot even bind one above 2**63).
MAX_DB_INT = 2**31 - 1
_INCIDENT_VALUE_RE = re.compile(r"([0-9]{1,10})(?::([0-9]{1,10}))?")


def incident_value(value: Any) -> tuple[int, int | None] | None:
    """(incident id, step seq or None) from a button value `42` or `42:3`, or None if it is
    anything else (ASCII digits only, in range): a forged value is refused, never guessed at."""
    match = _INCIDENT_VALUE_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    incident_id, seq = int(match.group(1)), int(match.group(2)) if match.group(2) is not None else None
    if not 0 < incident_id <= MAX_DB_INT or (seq is not None and seq > MAX_DB_INT):
        return None
    return incident_id, seq


def metadata(view: Any) -> dict:
    """A modal's private_metadata as the object we wrote, or {} if it is anything else."""
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def metadata_int(meta: dict, key: str, *, minimum: int = 0) -> int | None:
    """An integer we wrote into private_metadata (not a bool, a float or a string), in range."""
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_DB_INT:
        return None
    return value
