"""The last line of defence: no traceback ever reaches a person.

An event that failed because the database did not answer gets a 500 so Slack delivers it
again (nothing acknowledged is lost); one that can never succeed (a malformed payload,
a value the database refuses) is logged and acknowledged, since a redelivery would fail
the same way. A failed command, click or modal answers 200 with one polite line and an
id to quote.
"""
from __future__ import annotations

import json
import logging
import uuid

from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy import exc as db_errors

log = logging.getLogger("recovery.errors")


def sorry(reference: str) -> str:
    return (f"Sorry, that did not go through (reference {reference}). Nothing was changed; "
            "please try again in a moment.")


def handle_error(error: Exception, request: BoltRequest) -> BoltResponse:
    reference = uuid.uuid4().hex[:8]
    log.error("listener failed (reference %s)", reference, exc_info=error)
    body = request.body if isinstance(request.body, dict) else {}
    kind = body.get("type")
    if kind == "event_callback":
        return BoltResponse(status=500 if _may_pass(error) else 200, body="")
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


def _may_pass(error: Exception) -> bool:
    """Worth Slack's redelivery: the database was down, locked, gone or out of connections."""
    if isinstance(error, db_errors.DataError):
        return False
    return isinstance(error, db_errors.DBAPIError | db_errors.TimeoutError | db_errors.DisconnectionError
                      | OSError | TimeoutError)


def _first_input_block(body: dict) -> str | None:
    view = body.get("view")
    blocks = view.get("blocks") if isinstance(view, dict) else None
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return block["block_id"]
    return None


def register(app: App) -> None:
    app.error(handle_error)
