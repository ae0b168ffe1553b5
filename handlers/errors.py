"""The last line of defence: no traceback ever reaches a person.

A failed event answers 500 so Slack delivers it again (nothing acknowledged is lost);
a failed command, click or modal answers 200 with one polite line and an id to quote.
"""
from __future__ import annotations

import json
import logging
import uuid

from slack_bolt import App, BoltRequest, BoltResponse

log = logging.getLogger("recovery.errors")


def sorry(reference: str) -> str:
    return (f"Sorry, that did not go through (reference {reference}). Nothing was changed; "
            "please try again in a moment.")


def handle_error(error: Exception, request: BoltRequest) -> BoltResponse:
    reference = uuid.uuid4().hex[:8]
    log.error("listener failed (reference %s)", reference, exc_info=error)
    body = request.body or {}
    kind = body.get("type")
    if kind == "event_callback":
        return BoltResponse(status=500, body="")
    if kind == "view_submission":
        block_id = _first_input_block(body)
        if block_id:
            payload = {"response_action": "errors", "errors": {block_id: sorry(reference)}}
            return BoltResponse(status=200, body=json.dumps(payload),
                                headers={"content-type": "application/json;charset=utf-8"})
        return BoltResponse(status=200, body="")
    if body.get("command"):
        payload = {"response_type": "ephemeral", "text": sorry(reference)}
        return BoltResponse(status=200, body=json.dumps(payload),
                            headers={"content-type": "application/json;charset=utf-8"})
    return BoltResponse(status=200, body="")


def _first_input_block(body: dict) -> str | None:
    view = body.get("view") or {}
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return block["block_id"]
    return None


def register(app: App) -> None:
    app.error(handle_error)
