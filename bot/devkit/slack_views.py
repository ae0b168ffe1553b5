"""Modals as Slack holds them: what views.open, views.push and views.update refuse, the hash a
view gets on each change, and what a person has typed into it.

Apart from the methods (slack_methods.py) so that each file has one job: here, the rules of
one view; there, which call does what with them.

Slack refuses a view it cannot draw with ``invalid_arguments``. The double refuses the same
for the elements whose rules are cheap to state and easy to get wrong: a ``number_input``
without ``is_decimal_allowed``, with a bound or initial value that is not a number (a whole
one when decimals are not allowed), a minimum above its maximum or an initial value outside
them; a select whose ``initial_option`` is not one of its options; a modal with inputs but
no submit button.

What a person types is kept by Slack, not sent by the app: ``type_into`` records it in the
view's ``state``, and an update keeps each value whose input (block id, action id and element
type) is still there, as Slack does; the others are dropped.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

from bot.devkit.slack_protocol import ApiError, JsonDict

_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def check_view(view: object) -> JsonDict:
    """The view as sent, or ``invalid_arguments`` if Slack would refuse to draw it."""
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments")
    blocks = view.get("blocks") or []
    inputs = [block for block in blocks if isinstance(block, dict) and block.get("type") == "input"]
    if inputs and view.get("type") == "modal" and not view.get("submit"):
        raise ApiError("invalid_arguments")
    for block in inputs:
        element = block.get("element")
        if not isinstance(element, dict):
            raise ApiError("invalid_arguments")
        if element.get("type") == "number_input":
            _check_number_input(element)
        if element.get("type") == "static_select" and "initial_option" in element:
            if element["initial_option"] not in (element.get("options") or []):
                raise ApiError("invalid_arguments")
        # A text input may not start longer than it may hold.
        value, limit = element.get("initial_value"), element.get("max_length")
        if element.get("type") == "plain_text_input" and isinstance(value, str) and isinstance(limit, int) \
                and len(value) > limit:
            raise ApiError("invalid_arguments")
    return view


def _check_number_input(element: JsonDict) -> None:
    decimals = element.get("is_decimal_allowed")
    if not isinstance(decimals, bool):
        raise ApiError("invalid_arguments")
    pattern = _DECIMAL if decimals else _WHOLE
    numbers: dict[str, Decimal] = {}
    for field in ("min_value", "max_value", "initial_value"):
        if field in element:
            value = element[field]
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ApiError("invalid_arguments")
            numbers[field] = Decimal(value)
    low, high, initial = (numbers.get(field) for field in ("min_value", "max_value", "initial_value"))
    if low is not None and high is not None and low > high:
        raise ApiError("invalid_arguments")
    if initial is not None and ((low is not None and initial < low) or (high is not None and initial > high)):
        raise ApiError("invalid_arguments")


def _inputs(view: JsonDict) -> dict[tuple[str, str], str]:
    """(block id, action id) -> element type, of every input of the view."""
    found = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if isinstance(element, dict) and block.get("block_id") and element.get("action_id"):
            found[(block["block_id"], element["action_id"])] = element.get("type", "")
    return found


def kept_state(old: JsonDict, new: JsonDict) -> JsonDict:
    """The typed values of ``old`` that survive its update to ``new``."""
    inputs = _inputs(new)
    values: JsonDict = {}
    for block_id, actions in ((old.get("state") or {}).get("values") or {}).items():
        for action_id, state in actions.items():
            if inputs.get((block_id, action_id)) == state.get("type"):
                values.setdefault(block_id, {})[action_id] = state
    return {"values": values}


def type_into(view: JsonDict, block_id: str, state: JsonDict) -> tuple[str, bool]:
    """Record a person's entry in an input of ``view``: (its action id, whether its block
    dispatches a block_actions payload for it). Raises AssertionError for an input the view
    does not have: a test typing into nothing is a broken test."""
    for block in view.get("blocks") or []:
        if block.get("type") == "input" and block.get("block_id") == block_id:
            action_id = block["element"]["action_id"]
            assert state.get("type") == block["element"]["type"], f"{block_id} is a {block['element']['type']}"
            view.setdefault("state", {"values": {}})["values"].setdefault(block_id, {})[action_id] = state
            return action_id, bool(block.get("dispatch_action"))
    raise AssertionError(f"no input {block_id!r} in view {view.get('id')}")


# A Home tab holds at most 100 blocks; views.publish refuses a view over 250 kB
# (docs.slack.dev, Block Kit reference and views.publish's errors).
HOME_BLOCKS = 100
HOME_BYTES = 250_000
_TEXT_LIMITS = {"header": 150, "section": 3000}


def check_home(view: JsonDict) -> None:
    """What views.publish refuses with ``invalid_arguments``: a view that is not a Home, more
    than 100 blocks, two blocks with one block_id, and the Block Kit lengths a Home most easily
    outgrows (a header's 150 characters, a section's 3000, a button's text and accessibility
    label 75, its value 2000, an actions block's 25 elements, a context's 10); and
    ``view_too_large`` past 250 kB of JSON."""
    if len(json.dumps(view).encode()) > HOME_BYTES:
        raise ApiError("view_too_large")
    blocks = view.get("blocks") or []
    if view.get("type") != "home" or not isinstance(blocks, list) or len(blocks) > HOME_BLOCKS:
        raise ApiError("invalid_arguments")
    block_ids = [block.get("block_id") for block in blocks if isinstance(block, dict) and block.get("block_id")]
    if len(block_ids) != len(set(block_ids)):
        raise ApiError("invalid_arguments")
    for block in blocks:
        if not isinstance(block, dict):
            raise ApiError("invalid_arguments")
        text = (block.get("text") or {}).get("text", "")
        if len(text) > _TEXT_LIMITS.get(block.get("type"), 3000):
            raise ApiError("invalid_arguments")
        elements = block.get("elements") or []
        if len(elements) > (25 if block.get("type") == "actions" else 10):
            raise ApiError("invalid_arguments")
        for element in [*elements, block.get("accessory") or {}]:
            if element.get("type") == "button" and (
                    len(element["text"]["text"]) > 75 or len(element.get("accessibility_label") or "") > 75
                    or len(element.get("value") or "") > 2000):
                raise ApiError("invalid_arguments")
