"""Reading Slack payloads defensively: a missing or odd field is None, never a KeyError."""
from __future__ import annotations

from typing import Any


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


def workspace_of(body: dict) -> str | None:
    return text(body, "team_id") or text(body, "team", "id") or text(body, "user", "team_id")


def view_value(view: dict, block_id: str, action_id: str) -> str | None:
    """The submitted value of one input, whatever its element type."""
    element = dig(view, "state", "values", block_id, action_id)
    if not isinstance(element, dict):
        return None
    for key in ("value", "selected_user", "selected_date"):
        if isinstance(element.get(key), str):
            return element[key].strip() or None
    option = element.get("selected_option")
    if isinstance(option, dict) and isinstance(option.get("value"), str):
        return option["value"]
    return None
