"""Slack listeners, thin: ack, call the service, answer. Wired by register()."""
from __future__ import annotations

from slack_bolt import App

from bot.admins import Admins
from bot.service import RecoveryService
from handlers import (
    card_menu, claim, commands, errors, health, home, intake, lead_actions, membership, settings, steps,
    workspace_events,
)
from handlers.routes import Routes


def register(app: App, service: RecoveryService, admins: Admins) -> None:
    errors.register(app)
    routes = Routes()
    intake.register(app, routes, service)
    commands.register(app, service)
    membership.register(app, service)
    workspace_events.register(app, service)
    home.register(app, service)
    claim.register(routes, service)
    steps.register(routes, service)
    health.register(routes, service)
    lead_actions.register(routes, service)
    card_menu.register(routes, service)
    settings.register(routes, service, admins)
    routes.wire(app)
