"""The app uninstalled from a workspace, or its bot token revoked: that workspace stops at once.

Slack sends ``app_uninstalled`` when someone removes the app, and ``tokens_revoked`` when
tokens are revoked (only the bot's matters here: a revoked user token leaves the bot
working). Either way every later call with the workspace's bot token would be refused, so
the workspace is paused and its token forgotten in the ack (bot/workspaces.py). Bolt's
built-in revocation listeners are not used: they delete the installation but know nothing
of our outbox and timers.
"""
from __future__ import annotations

from slack_bolt import App

from bot import workspaces
from bot.service import RecoveryService
from handlers.payload import dig, workspace_of


def register(app: App, service: RecoveryService) -> None:
    def uninstall(body: dict) -> None:
        team_id = workspace_of(body)
        if team_id:
            workspaces.uninstalled(service.db, team_id, client_id=service.settings.slack_client_id,
                                   erase=service.settings.uninstall_erase, now=service.clock.now())

    def on_tokens_revoked(body: dict, event: dict) -> None:
        if dig(event, "tokens", "bot"):
            uninstall(body)

    app.event("app_uninstalled")(uninstall)
    app.event("tokens_revoked")(on_tokens_revoked)
