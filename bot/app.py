"""create_app: one Bolt App, built from settings, with every listener registered.

process_before_response=True makes Bolt answer only after our listener returns. Our
listeners touch nothing but the database (Slack calls go to the outbox, modals to lazy
listeners), so this costs little, skips Bolt's 10 ms ack poll, and means an event is
stored before Slack gets its 200.

Requests are authorized from the workspace's token as known (bot/tokens.py: SLACK_BOT_TOKEN
and the bot's identity, or the workspace's install), never by asking Slack: Bolt's own way
calls auth.test when the App is built, which would keep the bot from starting while Slack's
Web API is down. With installs, the App also serves the OAuth flow (bot/oauth.py).
"""
from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_bolt.oauth import OAuthFlow
from slack_sdk import WebClient

import handlers
from bot.admins import Admins
from bot.service import RecoveryService
from bot.tokens import Tokens, TokensAuthorize
from handlers.payload import workspace_of


def create_app(*, service: RecoveryService, client: WebClient, signing_secret: str, tokens: Tokens,
               admins: Admins, oauth_flow: OAuthFlow | None = None) -> App:
    """``client``: the Web API's address and retries; each request's token comes from ``tokens``."""
    app = App(
        # The same client but for the token, which Bolt takes from authorize (and warns about, given both).
        client=WebClient(base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers,
                         logger=client.logger),
        signing_secret=signing_secret,
        authorize=TokensAuthorize(tokens),
        oauth_flow=oauth_flow,
        process_before_response=True,
        listener_executor=_ContextCopying(max_workers=5),
        logger=logging.getLogger("recovery.bolt"),
    )
    app.use(_InWorkspace(service))
    handlers.register(app, service, admins)
    return app


class _InWorkspace(Middleware):
    """The request's workspace's own settings in force while it is handled
    (bot/workspace_scope.py); the lazy listeners it starts get them too (_ContextCopying).
    Bolt runs the listeners after the middleware returns, not inside next(), so the context
    is set for the rest of the request rather than around a block. A Middleware, not a
    function: Bolt calls a function middleware through its argument injection, which builds
    every argument a listener could ask for on each request."""

    def __init__(self, service: RecoveryService) -> None:
        self._service = service

    def process(self, *, req: BoltRequest, resp: BoltResponse,
                next: Callable[[], BoltResponse]) -> BoltResponse | None:  # noqa: A002 - Bolt's name
        self._service.workspaces.enter(workspace_of(req.body))
        return next()


class _ContextCopying(ThreadPoolExecutor):
    """Bolt's listener executor, running each task in a copy of the submitter's context: a
    lazy listener (a modal opened after the ack) keeps its request's workspace."""

    def submit(self, fn: Callable[..., object], /, *args: object, **kwargs: object) -> Future:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
