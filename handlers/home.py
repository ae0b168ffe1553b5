"""The Home tab opened: remember the person and publish their Home through the outbox.

Acked at once: the event only writes two rows (the viewer, the publish); the view is built
and published by the sender, from the database as it is then.
"""
from __future__ import annotations

from slack_bolt import App

from bot import home_refresh
from bot.service import RecoveryService
from handlers.payload import slack_id, text, workspace_of


def register(app: App, service: RecoveryService) -> None:
    def on_home_opened(body: dict, event: dict) -> None:
        """Only the Home tab: opening the Messages tab (the DM with the bot) sends the same event."""
        user, workspace = slack_id(event, "user"), workspace_of(body)
        if text(event, "tab") != "home" or not (user and workspace):
            return
        with service.db.transaction() as session:
            home_refresh.opened(session, workspace_id=workspace, user_id=user, now=service.clock.now())
        service.notify_sender()

    app.event("app_home_opened")(on_home_opened)
