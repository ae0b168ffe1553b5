"""Slack listeners, thin: ack, call the service, answer. Wired by register()."""
from __future__ import annotations

from slack_bolt import App

from bot.service import RecoveryService
from handlers import claim, commands, errors, intake, steps


def register(app: App, service: RecoveryService) -> None:
    errors.register(app)
    intake.register(app, service)
    claim.register(app, service)
    steps.register(app, service)
    commands.register(app, service)
