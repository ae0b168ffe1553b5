"""The last line of defence: no traceback ever reaches a person.

An event that failed because the database did not answer gets a 500 so Slack delivers it
again (nothing acknowledged is lost); one that can never succeed (a malformed payload,
a value the database refuses) is logged and acknowledged, since a redelivery would fail
the same way. A failed command, click or modal answers 200 with one polite line and an
id to quote: a command and a modal in the answer itself, a click (whose answer Slack does
not show) through its response_url, right after the ack.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.webhook import WebhookClient
from sqlalchemy import exc as db_errors

log = logging.getLogger("recovery.errors")
RESPONSE_URL_TIMEOUT_SECONDS = 10


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
    if kind in ("block_actions", "message_action") and _may_pass(error):  # "try again" helps only then
        _tell_after_ack(body.get("response_url"), sorry(reference))
    return BoltResponse(status=200, body="")


def _tell_after_ack(response_url: object, text: str) -> None:
    """The outbox lives in the database that just failed, so this one message goes straight to
    Slack, from a thread, so as not to hold the ack."""
    if not (isinstance(response_url, str) and response_url.startswith(("https://", "http://"))):
        return

    def send() -> None:
        try:
            WebhookClient(response_url, timeout=RESPONSE_URL_TIMEOUT_SECONDS).send(
                text=text, response_type="ephemeral", replace_original=False)
        except Exception:  # noqa: BLE001 - Slack unreachable too: the log has the reference
            log.warning("could not tell the person through response_url", exc_info=True)

    threading.Thread(target=send, name="tell-after-error", daemon=True).start()


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
