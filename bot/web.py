"""The WSGI application: Slack's requests to Bolt, and a health check for load balancers."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import SQLAlchemyError

from bot import parking
from bot.acks_first import AcksInFlight
from storage import workspace_store
from bot.identity import UNCONFIRMED, BotIdentity
from storage.db import Database

log = logging.getLogger("recovery.web")

EVENTS_PATH = "/slack/events"
# Slack's largest payloads (a view submission with every block) are tens of kilobytes.
MAX_BODY_BYTES = 1024 * 1024
WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def make_wsgi(app: App, db: Database, *, signing_secret: str | None = None,
              identity: BotIdentity | None = None, acks: AcksInFlight | None = None) -> WsgiApp:
    """``acks``: counts the Slack requests in flight, for `serve`'s background (bot/acks_first.py)."""
    slack = _FormSafeHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def refuse(body: bytes, environ: dict) -> tuple[str, bytes]:
        """Bolt tripped over a payload's shape before its own signature check: check it here.
        Unsigned: 401 as always. A signed event: 200, since Slack would redeliver a payload
        that can never succeed forever. Anything else signed: 400."""
        headers = {"x-slack-request-timestamp": environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""),
                   "x-slack-signature": environ.get("HTTP_X_SLACK_SIGNATURE", "")}
        try:
            signed = verifier is not None and verifier.is_valid_request(body, headers)
        except (ValueError, TypeError):  # a timestamp header that is not a number
            signed = False
        if not signed:
            return "401 Unauthorized", b"invalid request\n"
        try:
            is_event = json.loads(body).get("type") == "event_callback"
        except (ValueError, AttributeError, RecursionError):
            is_event = False
        return ("200 OK", b"") if is_event else ("400 Bad Request", b"bad request\n")

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            report = health_report(db, identity)
            start_response("200 OK" if report["database"] == "ok" else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [json.dumps(report).encode() + b"\n"]
        if _content_length(environ) > MAX_BODY_BYTES:
            # Refused unread: whoever sends it, nothing parses (or buffers) a body this size.
            start_response("413 Content Too Large", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"request body too large\n"]
        body = _read_body(environ)
        try:
            with acks.answering() if acks is not None else nullcontext():
                return slack(environ, start_response)
        except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as error:
            # Bolt parses the body before it checks the signature; a body it cannot parse
            # (or whose shape it trips over: `"actions": []`, JSON nested too deep) is the
            # sender's fault, whoever the sender is.
            log.warning("unparseable request refused: %s", error.__class__.__name__)
            status, answer = refuse(body, environ)
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [answer]
        except Exception:  # noqa: BLE001 - Bolt failed outside a listener; answer plainly
            log.exception("request failed before reaching a listener")
            start_response("500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"internal error\n"]

    return wsgi


class _FormSafeHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, but a form body that merely contains the word "payload" (a slash
    command typed as `/recovery new the payload was lost`, a channel named #payloads) is
    read as the form it is. Bolt (1.30) takes any form body containing that word for an
    interactive payload, finds no `payload` field and reads it as empty: the command went
    unanswered (404, and Slack shows the person an error). tests/test_bolt_parsing.py fails
    when a Bolt release stops doing so: this class is then obsolete."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        raw = request.get_body()
        bolt = BoltRequest(body=raw, query=request.query_string, headers=request.get_headers())
        if not bolt.body and "payload" in raw and not raw.lstrip().startswith("{"):
            fields = dict(parse_qsl(raw, keep_blank_values=True))
            if "payload" not in fields:
                bolt = FormRequest(fields=fields, raw_body=raw, query=bolt.query, headers=bolt.headers)
        return self.app.dispatch(bolt)


class FormRequest(BoltRequest):
    """A request whose form fields we read ourselves. The raw body stays what Slack signed,
    and is what Bolt checks the signature against. Bolt takes a body already parsed only in
    Socket Mode, and checks signatures only in HTTP mode: so it is built as the one and then
    set to the other."""

    def __init__(self, *, fields: dict[str, str], raw_body: str, query: dict, headers: dict,
                 context: dict | None = None) -> None:
        super().__init__(body=fields, query=query, headers=headers, context=context, mode="socket_mode")
        self.raw_body = raw_body
        self.mode = "http"

    def to_copyable(self) -> BoltRequest:
        """Bolt hands each lazy listener a copy, which it would build by reading the raw body
        again in HTTP mode: empty once more, and `/recovery new` from #payloads opened no form."""
        return FormRequest(fields=dict(self.body), raw_body=self.raw_body, query=self.query, headers=self.headers,
                           context=self.context.to_copyable())


def make_health_wsgi(db: Database, identity: BotIdentity, socket_mode: Callable[[], dict[str, object]]) -> WsgiApp:
    """`run` in Socket Mode has no HTTP server for Slack: this answers GET /healthz alone, with
    the connection's state (bot/socket_mode.py) besides the usual report."""

    def wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz" or environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"only GET /healthz here\n"]
        report = health_report(db, identity) | {"socket_mode": socket_mode()}
        start_response("200 OK" if report["database"] == "ok" else "503 Service Unavailable",
                       [("Content-Type", "application/json")])
        return [json.dumps(report).encode() + b"\n"]

    return wsgi


def health_report(db: Database, identity: BotIdentity | None) -> dict[str, object]:
    """/healthz: 200 while the database answers, whatever Slack does (a Slack outage must not take
    every replica out of the load balancer); ``slack`` says whether Slack confirmed the token;
    ``parked``, ``dead`` and ``pending`` count the outbox's rows (bot/parking.py); ``workspaces``,
    those the app is installed in as far as install and uninstall events have told it."""
    report: dict[str, object] = {"database": "ok" if db.ping() else "unreachable",
                                 "slack": identity.status if identity is not None else UNCONFIRMED}
    if report["database"] == "ok":
        try:
            report |= parking.counts(db)
            with db.read() as session:
                report["workspaces"] = workspace_store.installed_count(session)
        except SQLAlchemyError:  # gone since the ping: the next check says so
            log.warning("outbox counts unavailable", exc_info=True)
    return report


def _content_length(environ: dict) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _read_body(environ: dict) -> bytes:
    """Read the body once and put it back, so both Bolt and a refusal can see it."""
    length = _content_length(environ)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body
