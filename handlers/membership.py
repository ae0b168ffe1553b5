"""The bot joining a channel: what was parked there for want of it goes out now."""
from __future__ import annotations

from slack_bolt import App, BoltContext

from bot.service import RecoveryService
from handlers.payload import slack_id, workspace_of


def register(app: App, service: RecoveryService) -> None:
    def on_member_joined(body: dict, event: dict, context: BoltContext) -> None:
        """Someone else joining changes nothing for the bot; only its own arrival unparks. While
        the bot's user id is not known yet (bot/identity.py), any arrival does: Slack only tells
        the bot about channels it is in, and a wrong guess costs one refused call per row."""
        channel, user, workspace = slack_id(event, "channel"), slack_id(event, "user"), workspace_of(body)
        if channel and workspace and user and context.bot_user_id in (user, None):
            service.bot_joined(workspace_id=workspace, channel=channel)

    app.event("member_joined_channel")(on_member_joined)
